import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore

/// Makes the last rank disagree with the others (or arrive late) and prints, on every rank, the error it
/// got: `RANK r ERROR <text>` or `RANK r NO-ERROR`. Exits 0 when this rank got an error of the expected kind.
struct SelfTestAgreement: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "self-test-agreement")

    enum Case: String, ExpressibleByArgument, CaseIterable {
        case name, dtype, count, op, extra, missing, duplicate, stall, stallLog = "stall-log"
    }

    @Option(help: "Which disagreement: \(Case.allCases.map(\.rawValue).joined(separator: ", ")).")
    var `case`: Case
    @Option(help: "Stall time in seconds.")
    var stallSeconds = 1.0

    func run() throws {
        var ok = false
        try MPIRuntime.run { world in
            var config = DenseSyncConfig()
            config.stallSeconds = stallSeconds
            config.stallAction = `case` == .stallLog ? .log : .raise
            config.timeoutSeconds = 30
            let dense = DenseSync(communicator: world, config: config)
            let odd = world.rank == world.size - 1
            var tensors = [
                try Tensor(name: "grad.a", dtype: .float32, count: 10),
                try Tensor(name: "grad.b", dtype: .float32, count: 20),
            ]
            var op = ReduceOp.sum
            if odd {
                switch `case` {
                case .name: tensors[1] = try Tensor(name: "grad.c", dtype: .float32, count: 20)
                case .dtype: tensors[1] = try Tensor(name: "grad.b", dtype: .float64, count: 20)
                case .count: tensors[1] = try Tensor(name: "grad.b", dtype: .float32, count: 21)
                case .op: op = .max
                case .extra: tensors.append(try Tensor(name: "grad.z", dtype: .int32, count: 3))
                case .missing: tensors.removeLast()
                case .duplicate: tensors.append(try Tensor(name: "grad.a", dtype: .float32, count: 10))
                case .stall, .stallLog: Thread.sleep(forTimeInterval: stallSeconds * 4)
                }
            }
            let start = Date()
            do {
                try dense.allreduce(tensors, op: op)
                emit("RANK \(world.rank) NO-ERROR after \(Int(Date().timeIntervalSince(start) * 1000)) ms")
                ok = `case` == .stallLog
            } catch let error as HybridSyncError {
                emit("RANK \(world.rank) ERROR \(error)")
                switch (error, `case`) {
                case (.stalled, .stall): ok = true
                case (.timeout, .stall): ok = odd
                case (.mismatch, .stall), (.mismatch, .stallLog), (.stalled, _): ok = false
                case (.mismatch, _): ok = true
                default: ok = false
                }
            }
        }
        if !ok { throw ExitCode(1) }
    }
}
