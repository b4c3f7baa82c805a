import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
import WideAndDeep

/// `hybridsync train`: the main job. A wide-and-deep classifier on Fashion-MNIST, the wide table
/// (2^20 hashed crossed-pixel rows) through the parameter servers, the MLP through the ring, one
/// `GradientSync.step` per batch. Run under `Launch/mpirun` (or `./Launch/demo`).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train wide-and-deep on Fashion-MNIST (the demo).")

    @Option(help: "Parameter servers.") var servers = 2
    @Option(help: "dedicated (servers on their own ranks) or colocated.") var placement: HybridLayout.Placement = .dedicated
    @Option(help: "hybrid, allreduce (embeddings densified) or ps.") var strategy: Strategy = .hybrid
    @Option(help: "Consistency of the wide table: bsp, asp or ssp:N.") var consistency = "bsp"
    @Option(help: "How the wide table's rows travel to and from the servers: float32, float16 or bfloat16 (servers keep float32).")
    var rowEncoding = "float32"
    @Option(help: "Extra copies of every parameter-server shard: 1 (default with 2+ servers) survives a server's death, 0 turns copies off.")
    var replication: Int?
    @Option(help: "Ranks started as spare servers (the job's last ranks): each replaces a server that dies and takes copies of its shards.")
    var spareServers = 0
    @Option(help: "Epochs.") var epochs = 8
    @Option(help: "Batch size per worker.") var batch = 32
    @Option(help: "Hidden units of the MLP.") var hidden = 128
    @Option(help: "Rows of the wide table (a power of two).") var wideRows = 1 << 20
    @Option(help: "Use only this many training images (0: all).") var trainLimit = 0
    @Option(help: "Use only this many test images (0: all).") var testLimit = 0
    @Option(help: "Fashion-MNIST directory.") var data = FashionMNIST.defaultDirectory
    @Option(help: "Output folder (loss curve, metrics).") var out = "out"
    @Option(help: "Write checkpoints here (also at the end); a relaunch (Launch/mpirun --max-restarts) resumes.") var checkpointDir: String?
    @Option(help: "Write a checkpoint every this many steps (0: only at the end).") var checkpointEvery = 0
    @Option(help: "Also write one once this many seconds passed since the last (0: off; looked at every 20 steps).")
    var checkpointEverySeconds = 0.0
    @Flag(help: "Continue from the newest complete checkpoint in --checkpoint-dir, up to --epochs.") var resume = false
    @Flag(help: "Print a CRC-32C of every parameter at the end (compares runs bit for bit).") var checksum = false
    @Option(help: "Keys written by `hybridsync keys --ranks N` (default: fresh keys for this job, made over MPI).") var keys: String?
    @Option(help: "Write a Chrome-trace timeline of the job here (Perfetto, chrome://tracing): a row per worker and server.")
    var timeline: String?
    @Flag(
        inversion: .prefixedNo,
        help:
            "Overlap synchronisation with backward: push the wide table's gradient before the MLP's backward pass, and start the output layer's bucket before the first layer's gradients are computed."
    )
    var overlap = true
    @Flag(help: "Overlap on every other step only, and print the median step time with and without it (the overlap's gain, measured in one run).")
    var alternateOverlap = false
    @Flag(
        help:
            "Run the same steps' computation with nothing pulled or synchronised (wide rows read as zeros): the step time without synchronisation, to measure its share."
    )
    var computeOnly = false
    @Flag(inversion: .prefixedNo, help: "Probe both paths at start-up for the planner's cost model (runs that must route alike: --no-calibrate).")
    var calibrate = true

    func run() throws {
        guard let cons = Consistency(name: consistency) else { throw ValidationError("bad consistency \(consistency)") }
        guard let encoding = RowEncoding(name: rowEncoding) else { throw ValidationError("--row-encoding must be float32, float16 or bfloat16") }
        guard wideRows > 0, wideRows <= 1 << 28, wideRows & (wideRows - 1) == 0 else {
            throw ValidationError("--wide-rows must be a power of two, at most 2^28")
        }
        if resume && checkpointDir == nil { throw ValidationError("--resume needs --checkpoint-dir") }
        guard checkpointEverySeconds >= 0, checkpointEverySeconds.isFinite else { throw ValidationError("--checkpoint-every-seconds must be 0 or more") }
        if alternateOverlap && (!overlap || computeOnly) { throw ValidationError("--alternate-overlap needs the overlap on and something to synchronise") }
        if let keys { setenv("HYBRIDSYNC_KEYS", keys, 1) }
        if let replication, !(0...1).contains(replication) { throw ValidationError("--replication must be 0 or 1") }
        var options = TrainerOptions()
        (options.epochs, options.batch, options.hidden, options.wideRows) = (epochs, batch, hidden, wideRows)
        (options.trainLimit, options.testLimit, options.data) = (trainLimit, testLimit, data)
        (options.strategy, options.calibrate, options.consistency, options.rowEncoding) = (strategy, calibrate, cons, encoding)
        (options.overlap, options.synchronise) = (overlap, !computeOnly)
        (options.checkpointDirectory, options.checkpointEvery, options.resume) = (checkpointDir, checkpointEvery, resume)
        options.checkpointEverySeconds = checkpointEverySeconds
        var base = try TestSwitches.apply(ProcessInfo.processInfo.environment, to: PSConfig())
        base.replication = replication
        if let timeline { Timeline.start(writingTo: timeline) }
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: placement, spares: spareServers), base: base) { runtime in
            try train(WideAndDeepTrainer(runtime: runtime, options: options))
        }
        // With fault injection (HYBRIDSYNC_FAULTS), every rank says what it injected (`hybridsync soak`).
        if TestSwitches.injectsFaults(ProcessInfo.processInfo.environment) {
            let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "?"
            let counts = FaultCounters.process.snapshot.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            emit("FAULTS rank \(rank) \(counts)")
        }
    }

    /// The trainer's run, with the demo's extras around it: start-up lines, progress, the plan after
    /// re-planning, fault statistics, the overlap's A/B timing, the parameters' checksum, the loss curve.
    private func train(_ trainer: WideAndDeepTrainer) throws {
        let sync = trainer.sync, runtime = sync.runtime
        let me = runtime.dense.communicator.rank, p = runtime.dense.communicator.size
        let lead = me == 0
        if lead, let c = sync.calibration { emit("calibrated at start-up: \(c.summary)") }
        if let dir = checkpointDir, sync.stepCount > 0, lead { emit("resumed from \(dir) at step \(sync.stepCount)") }
        if lead {
            emit(
                runtime.encrypted
                    ? "parameter-server links: sealed (X25519 handshake, AES-256-GCM; only this job's nodes get in)"
                    : "parameter-server links: plain TCP (HYBRIDSYNC_INSECURE=1; unauthenticated, unencrypted)")
            printPlan(sync, title: "plan at start (\(p) workers, \(runtime.kv.serverCount) servers, strategy \(strategy.rawValue))")
        }
        var stepSeconds: [[Double]] = [[], []]
        let start = Date(), firstStep = sync.stepCount
        let result = try trainer.train(overlapAt: { !alternateOverlap || $0 % 2 == 0 }) { r in
            stepSeconds[r.overlapped ? 1 : 0].append(r.seconds)
            if lead, let loss = r.loss {
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double((r.step - firstStep) * batch * p) / elapsed
                let left = Double(r.totalSteps - r.step) * elapsed / Double(max(1, r.step - firstStep))
                progress(
                    String(
                        format: "step %d/%d  epoch %d/%d  loss %.4f  %.0f samples/s  %.0f s left", r.step, r.totalSteps, r.epoch + 1, epochs, loss, rate, left))
            }
            if let failure = r.checkpointFailure, lead { emit("warning: a checkpoint failed, training goes on: \(failure)") }
            if r.checkpointed && lead { emit("checkpoint of step \(r.step) in \(checkpointDir ?? "")") }
            if r.step == sync.replanAfterSteps && lead && strategy == .hybrid { printPlan(sync, title: "\nplan after observing \(r.step) steps") }
        }
        let step = result.lastStep, steps = result.lastStep - result.firstStep
        if let dir = checkpointDir, step > firstStep || firstStep == 0, lead { emit("checkpoint of step \(step) in \(dir)") }
        if TestSwitches.injectsFaults(ProcessInfo.processInfo.environment) {
            emit("RESENDS worker \(me) \(runtime.kv.resends)")
            if lead {
                let stats = try runtime.kv.serverStats()
                emit("SERVERS duplicates=\(stats.reduce(0) { $0 + $1.duplicates }) refused=\(stats.reduce(0) { $0 + $1.refused })")
            }
        }
        if alternateOverlap {
            // Each worker's median step of each kind, averaged over the workers (collective).
            func median(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.sorted()[x.count / 2] }
            let without = try trainer.allAverage(median(stepSeconds[0])), with = try trainer.allAverage(median(stepSeconds[1]))
            if lead {
                emit(
                    String(
                        format: "OVERLAP median step %.3f ms without, %.3f ms with (%.3fx), %d and %d steps a worker",
                        without * 1e3, with * 1e3, with / max(without, 1e-12), stepSeconds[0].count, stepSeconds[1].count))
            }
        }
        if checksum {
            let model = trainer.model
            let all = try sync.pull("wide", ids: (0..<UInt64(wideRows)).map { $0 })
            var crc = CRC32C()
            for t in [model.w1, model.b1, model.w2, model.b2] { try t.withElements(as: Float.self) { crc.update(UnsafeRawBufferPointer($0)) } }
            all.values.withUnsafeBytes { crc.update($0) }
            if lead { emit("PARAMS crc32c \(hex(crc.value)) after step \(step)") }
        }
        let accuracy = try trainer.evaluate()
        if lead { try report(result, accuracy: accuracy, trainer: trainer, steps: steps, workers: p) }
    }

    private func report(_ result: TrainingResult, accuracy: Double, trainer: WideAndDeepTrainer, steps: Int, workers p: Int) throws {
        let losses = result.losses, elapsed = result.seconds
        progress("")
        emit("")
        emit(
            String(
                format: "test accuracy %.2f%% (%d images), %d steps in %.1f s, %.0f samples/s, %d workers, strategy %@, consistency %@",
                accuracy * 100, trainer.testCount, steps, elapsed, Double(steps * batch * p) / elapsed, p, strategy.rawValue,
                trainer.options.consistency.description))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try PNGPlot.write(losses, to: "\(out)/loss.png", every: 20)
        let json =
            "{\"accuracy\":\(accuracy),\"steps\":\(result.lastStep),\"seconds\":\(elapsed),\"workers\":\(p),\"strategy\":\"\(strategy.rawValue)\",\"first_loss\":\(losses.first ?? -1),\"last_loss\":\(losses.last ?? -1)}\n"
        try json.write(toFile: "\(out)/metrics.json", atomically: true, encoding: .utf8)
        emit("loss curve: \(out)/loss.png   metrics: \(out)/metrics.json")
        emit(String(format: "LOSS first %.4f last %.4f", losses.first ?? -1, losses.last ?? -1))
    }

    private func printPlan(_ sync: GradientSync, title: String) {
        emit(title)
        emit(
            [pad("parameter", 10), pad("bytes", 12), pad("density", 9), pad("route", 6), pad("bytes/step", 12), pad("time/step", 10), "  why"].joined(
                separator: " "))
        for e in sync.plan {
            emit(
                [
                    pad(e.name, 10), pad("\(e.bytes)", 12), pad(String(format: "%.4f", e.density), 9), pad(e.route.rawValue, 6),
                    pad(String(format: "%.0f", e.predictedBytes), 12), pad(String(format: "%.0f us", e.predictedSeconds * 1e6), 10), "  " + e.reason,
                ].joined(separator: " "))
        }
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(("\r" + line + "      ").data(using: .utf8)!)
    }
}
