// The demo's trainer as a program of your own: wide-and-deep on Fashion-MNIST, the wide table on
// the parameter servers, the MLP on the ring.
//
//   Launch/mpirun -np 6 .build/release/wide-and-deep [epochs]    # 4 workers + 2 dedicated servers
import Foundation
import HybridSync
import WideAndDeepExample

var options = TrainerOptions()
options.epochs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 1

try HybridRuntime.run(layout: HybridLayout(servers: 2, placement: .dedicated)) { runtime in
    let trainer = try WideAndDeepTrainer(runtime: runtime, options: options)
    let lead = runtime.dense.communicator.rank == 0
    let result = try trainer.train(afterStep: { report in
        if lead, let loss = report.loss, report.step % 200 == 0 { print("step \(report.step)/\(report.totalSteps): loss \(loss)") }
    })
    let accuracy = try trainer.evaluate()
    if lead { print(String(format: "test accuracy %.2f%% after %d steps in %.1f s", accuracy * 100, result.lastStep, result.seconds)) }
}
