import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

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
    @Option(help: "Write checkpoints here (also one when training ends).") var checkpointDir: String?
    @Option(help: "Write a checkpoint every this many steps (0: only at the end).") var checkpointEvery = 0
    @Flag(help: "Continue from the newest complete checkpoint in --checkpoint-dir, up to --epochs.") var resume = false
    @Flag(help: "Print a CRC-32C of every parameter at the end (compares runs bit for bit).") var checksum = false
    @Option(help: "CURVE keys written by `hybridsync keys --ranks N` (default: fresh keys for this job, made over MPI).") var keys: String?
    @Option(help: "Write a Chrome-trace timeline of the job here (Perfetto, chrome://tracing): a row per worker and server.")
    var timeline: String?
    @Flag(inversion: .prefixedNo, help: "Overlap synchronisation with backward: push the wide table's gradient before the MLP's backward pass, and start the output layer's bucket before the first layer's gradients are computed.")
    var overlap = true
    @Flag(help: "Overlap on every other step only, and print the median step time with and without it (the overlap's gain, measured in one run).")
    var alternateOverlap = false
    @Flag(help: "Run the same steps' computation with nothing pulled or synchronised (wide rows read as zeros): the step time without synchronisation, to measure its share.")
    var computeOnly = false
    @Flag(inversion: .prefixedNo, help: "Probe both paths at start-up for the planner's cost model (runs that must route alike: --no-calibrate).")
    var calibrate = true

    func run() throws {
        guard let cons = Consistency(name: consistency) else { throw ValidationError("bad consistency \(consistency)") }
        guard let encoding = RowEncoding(name: rowEncoding) else { throw ValidationError("--row-encoding must be float32, float16 or bfloat16") }
        guard wideRows > 0, wideRows <= 1 << 28, wideRows & (wideRows - 1) == 0 else { throw ValidationError("--wide-rows must be a power of two, at most 2^28") }
        if resume && checkpointDir == nil { throw ValidationError("--resume needs --checkpoint-dir") }
        if alternateOverlap && (!overlap || computeOnly) { throw ValidationError("--alternate-overlap needs the overlap on and something to synchronise") }
        if let keys { setenv("HYBRIDSYNC_KEYS", keys, 1) }
        if let replication, !(0...1).contains(replication) { throw ValidationError("--replication must be 0 or 1") }
        var base = PSConfig()
        base.replication = replication
        if let timeline { Timeline.start(writingTo: timeline) }
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: placement, spares: spareServers), base: base) { runtime in
            try train(runtime, consistency: cons, encoding: encoding)
        }
        // With fault injection (HYBRIDSYNC_FAULTS), every rank says what it injected (`hybridsync soak`).
        if ProcessInfo.processInfo.environment["HYBRIDSYNC_FAULTS"] != nil {
            let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "?"
            let counts = FaultCounters.process.snapshot.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            emit("FAULTS rank \(rank) \(counts)")
        }
    }

    private func train(_ runtime: HybridRuntime, consistency: Consistency, encoding: RowEncoding) throws {
        let comm = runtime.dense.communicator
        let me = comm.rank, p = comm.size
        let lead = me == 0
        var trainSet = try FashionMNIST.load(data, split: "train")
        var testSet = try FashionMNIST.load(data, split: "t10k")
        if trainLimit > 0 { trainSet = FashionMNIST(images: Array(trainSet.images.prefix(trainLimit * 784)), labels: Array(trainSet.labels.prefix(trainLimit))) }
        if testLimit > 0 { testSet = FashionMNIST(images: Array(testSet.images.prefix(testLimit * 784)), labels: Array(testSet.labels.prefix(testLimit))) }
        let model = try WideAndDeep(hidden: hidden, wideRows: wideRows, seed: 42)
        let sync = try GradientSync(runtime: runtime, strategy: strategy, calibrate: calibrate)
        let adam = OptimizerSpec.adam(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let wideSpec = TableSpec(name: "wide", dimension: 10, optimizer: .adagrad(learningRate: 0.05, epsilon: 1e-8, initialAccumulator: 0.1),
                                 consistency: consistency, rowEncoding: encoding)
        try sync.register([Parameter(.dense(model.w1, optimizer: adam)), Parameter(.dense(model.b1, optimizer: adam)),
                           Parameter(.dense(model.w2, optimizer: adam)), Parameter(.dense(model.b2, optimizer: adam)),
                           Parameter(.embedding(wideSpec, rows: wideRows))])
        // Backward finishes the output layer first: its bucket starts while the first layer's runs.
        if overlap { try sync.planOverlap([[model.w2.name, model.b2.name], [model.w1.name, model.b1.name]]) }
        if lead, let c = sync.calibration {
            emit("calibrated at start-up: \(c.summary)")
        }
        if resume, let dir = checkpointDir {
            try sync.resume(from: dir)
            if lead { emit("resumed from \(dir) at step \(sync.stepCount)") }
        }
        if lead {
            emit(runtime.encrypted ? "parameter-server links: CURVE (encrypted; only this job's nodes get in)"
                                   : "parameter-server links: plain TCP (HYBRIDSYNC_INSECURE=1; unauthenticated, unencrypted)")
        }
        if lead { printPlan(sync, title: "plan at start (\(p) workers, \(runtime.kv.serverCount) servers, strategy \(strategy.rawValue))") }
        let stepsPerEpoch = trainSet.count / (batch * p)
        let totalSteps = stepsPerEpoch * epochs
        let firstStep = sync.stepCount
        var losses: [Double] = []
        var window: [Double] = []
        let start = Date()
        var batchState = WideAndDeep.Batch()
        var distinct = DistinctRows(tableRows: wideRows)
        let grads = try model.makeGradients()
        var stepSeconds: [[Double]] = [[], []]
        var step = firstStep
        // The data order is keyed by epoch and step, so a resumed run sees the same batches.
        for epoch in (firstStep / max(1, stepsPerEpoch))..<epochs {
            var order = Array(0..<trainSet.count)
            var rng = SplitMixRNG(seed: UInt64(epoch) &* 7919)
            order.shuffle(using: &rng)
            for s in 0..<stepsPerEpoch where epoch * stepsPerEpoch + s >= firstStep {
                let idx = (0..<batch).map { order[(s * p + me) * batch + $0] }
                let overlapped = overlap && (!alternateOverlap || step % 2 == 0)
                let t0 = ContinuousClock.now
                let loss = try trainStep(model, sync, trainSet, idx, grads, &batchState, &distinct, overlap: overlapped)
                stepSeconds[overlapped ? 1 : 0].append(secondsSince(t0))
                window.append(loss)
                step += 1
                if step % 20 == 0 || step == totalSteps {
                    let avg = try allAverage(window.reduce(0, +) / Double(window.count), runtime)
                    losses.append(avg)
                    window.removeAll()
                    if lead {
                        let elapsed = Date().timeIntervalSince(start)
                        let rate = Double((step - firstStep) * batch * p) / elapsed
                        let left = Double(totalSteps - step) * elapsed / Double(max(1, step - firstStep))
                        progress(String(format: "step %d/%d  epoch %d/%d  loss %.4f  %.0f samples/s  %.0f s left", step, totalSteps, epoch + 1, epochs, avg, rate, left))
                    }
                }
                if step == sync.replanAfterSteps && lead && strategy == .hybrid { printPlan(sync, title: "\nplan after observing \(step) steps") }
                if let dir = checkpointDir, checkpointEvery > 0, step % checkpointEvery == 0, step < totalSteps {
                    try sync.checkpoint(to: dir)
                }
            }
        }
        if let dir = checkpointDir, step > firstStep || !resume {
            try sync.checkpoint(to: dir)
            if lead { emit("checkpoint of step \(step) in \(dir)") }
        }
        if ProcessInfo.processInfo.environment["HYBRIDSYNC_FAULTS"] != nil {
            emit("RESENDS worker \(me) \(runtime.kv.resends)")
            if lead {
                let stats = try runtime.kv.serverStats()
                emit("SERVERS duplicates=\(stats.reduce(0) { $0 + $1.duplicates }) refused=\(stats.reduce(0) { $0 + $1.refused })")
            }
        }
        if alternateOverlap {
            // Each worker's median step of each kind, averaged over the workers (collective).
            func median(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.sorted()[x.count / 2] }
            let without = try allAverage(median(stepSeconds[0]), runtime), with = try allAverage(median(stepSeconds[1]), runtime)
            if lead {
                emit(String(format: "OVERLAP median step %.3f ms without, %.3f ms with (%.3fx), %d and %d steps a worker",
                            without * 1e3, with * 1e3, with / max(without, 1e-12), stepSeconds[0].count, stepSeconds[1].count))
            }
        }
        if checksum {
            let all = try sync.pull("wide", ids: (0..<UInt64(wideRows)).map { $0 })
            var crc = CRC32C()
            for t in [model.w1, model.b1, model.w2, model.b2] { try t.withElements(as: Float.self) { crc.update(UnsafeRawBufferPointer($0)) } }
            all.values.withUnsafeBytes { crc.update($0) }
            if lead { emit("PARAMS crc32c \(hex(crc.value)) after step \(step)") }
        }
        let elapsed = Date().timeIntervalSince(start)
        let accuracy = try evaluate(model, sync, testSet, runtime)
        if lead {
            progress("")
            emit("")
            emit(String(format: "test accuracy %.2f%% (%d images), %d steps in %.1f s, %.0f samples/s, %d workers, strategy %@, consistency %@",
                        accuracy * 100, testSet.count, totalSteps - firstStep, elapsed, Double((totalSteps - firstStep) * batch * p) / elapsed, p, strategy.rawValue, consistency.description))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try PNGPlot.write(losses, to: "\(out)/loss.png", every: 20)
            let json = "{\"accuracy\":\(accuracy),\"steps\":\(totalSteps),\"seconds\":\(elapsed),\"workers\":\(p),\"strategy\":\"\(strategy.rawValue)\",\"first_loss\":\(losses.first ?? -1),\"last_loss\":\(losses.last ?? -1)}\n"
            try json.write(toFile: "\(out)/metrics.json", atomically: true, encoding: .utf8)
            emit("loss curve: \(out)/loss.png   metrics: \(out)/metrics.json")
            emit(String(format: "LOSS first %.4f last %.4f", losses.first ?? -1, losses.last ?? -1))
        }
    }

    private func trainStep(_ model: WideAndDeep, _ sync: GradientSync, _ set: FashionMNIST, _ idx: [Int], _ g: WideAndDeep.Gradients,
                           _ batch: inout WideAndDeep.Batch, _ distinct: inout DistinctRows, overlap: Bool) throws -> Double {
        let row = "worker \(sync.runtime.dense.communicator.rank)"
        for t in [g.w1, g.b1, g.w2, g.b2] { memset(t.rawPointer, 0, t.byteCount) }
        // --compute-only: the same arithmetic on rows of zeros, with nothing pulled or synchronised.
        let (unique, slot, starts) = try forward(model, set, idx, &batch, &distinct, row: row) { unique in
            computeOnly ? [Float](repeating: 0, count: unique.count * 10) : try sync.pull("wide", ids: unique).values
        }
        let backward = Timeline.begin()
        var dlogits = [Float](repeating: 0, count: idx.count * 10)
        var wideGrad = [Float](repeating: 0, count: unique.count * 10)
        var loss = 0.0
        let scale = 1 / Float(idx.count)
        for (b, i) in idx.enumerated() {
            var (prob, l) = WideAndDeep.softmax(batch.logits(of: b), label: Int(set.labels[i]))
            loss += Double(l)
            prob[Int(set.labels[i])] -= 1
            for k in 0..<10 { dlogits[b * 10 + k] = prob[k] * scale }
            for j in starts[b]..<starts[b + 1] { let r = slot[j] * 10; for k in 0..<10 { wideGrad[r + k] += prob[k] * scale } }
        }
        // The wide table's gradient is complete here: with --overlap it leaves now and travels while
        // the MLP's backward pass runs, as does the output layer's bucket once backward has finished
        // it; `step` then starts the first layer's bucket, waits and applies.
        let sparse = [SparseGradient(table: "wide", ids: unique, values: wideGrad)]
        let early = overlap && !computeOnly
        if early { try sync.pushSparse(sparse) }
        try model.backward(batch, dlogits: dlogits, into: g) { if early { try sync.ready([g.w2, g.b2]) } }
        Timeline.end(backward, "backward", row: row)
        if !computeOnly { try sync.step(dense: [g.w1, g.b1, g.w2, g.b2], sparse: early ? [] : sparse) }
        return loss / Double(idx.count)
    }

    /// The forward pass of the images `idx` into `batch`: their wide feature ids, the distinct ones
    /// (whose rows `rows` returns, 10 floats each), each image's sum of its rows, then the MLP. Returns
    /// the distinct ids, each feature's position among them, and where each image's features start
    /// (image b's are at `starts[b] ..< starts[b + 1]`), for the wide table's gradient.
    private func forward(_ model: WideAndDeep, _ set: FashionMNIST, _ idx: [Int], _ batch: inout WideAndDeep.Batch,
                         _ distinct: inout DistinctRows, row: String,
                         rows fetch: ([UInt64]) throws -> [Float]) throws -> (unique: [UInt64], slot: [Int], starts: [Int]) {
        let features = Timeline.begin()
        var all: [UInt64] = []
        var starts = [0]
        set.images.withUnsafeBufferPointer { img in
            for i in idx {
                all += model.features(UnsafeBufferPointer(rebasing: img[(i * 784)..<((i + 1) * 784)]))
                starts.append(all.count)
            }
        }
        let (unique, slot) = distinct(all)
        Timeline.end(features, "features", row: row, detail: "\(unique.count) distinct rows")
        let rows = try fetch(unique)
        var wide = [Float](repeating: 0, count: idx.count * 10)
        for b in idx.indices {
            for j in starts[b]..<starts[b + 1] { let r = slot[j] * 10; for k in 0..<10 { wide[b * 10 + k] += rows[r + k] } }
        }
        let forward = Timeline.begin()
        try set.images.withUnsafeBufferPointer { img in
            batch.load(count: idx.count, hidden: hidden, image: { UnsafeBufferPointer(rebasing: img[(idx[$0] * 784)..<((idx[$0] + 1) * 784)]) }, wide: wide)
            try model.forward(&batch)
        }
        Timeline.end(forward, "forward", row: row)
        return (unique, slot, starts)
    }

    /// Accuracy on the test set, each worker scoring its share; summed over the workers.
    private func evaluate(_ model: WideAndDeep, _ sync: GradientSync, _ set: FashionMNIST, _ runtime: HybridRuntime) throws -> Double {
        let comm = runtime.dense.communicator
        var correct = 0, seen = 0
        let share = (set.count + comm.size - 1) / comm.size
        let lo = comm.rank * share, hi = min(set.count, lo + share)
        var batch = WideAndDeep.Batch()
        var distinct = DistinctRows(tableRows: wideRows)
        for chunk in stride(from: lo, to: hi, by: 500) {
            let ids = Array(chunk..<min(hi, chunk + 500))
            _ = try forward(model, set, ids, &batch, &distinct, row: "worker \(comm.rank) evaluating") { try sync.pull("wide", ids: $0).values }
            for (b, i) in ids.enumerated() {
                let logits = batch.logits(of: b)
                if logits.indices.max(by: { logits[$0] < logits[$1] }) == b * 10 + Int(set.labels[i]) { correct += 1 }
                seen += 1
            }
        }
        let totals = try Tensor(name: "eval", values: [Int64(correct), Int64(seen)])
        try runtime.dense.allreduce([totals], op: .sum)
        let t = try totals.values(as: Int64.self)
        return Double(t[0]) / Double(max(1, t[1]))
    }

    private func allAverage(_ x: Double, _ runtime: HybridRuntime) throws -> Double {
        let t = try Tensor(name: "loss", values: [x])
        try runtime.dense.allreduce([t], op: .average)
        return try t.values(as: Double.self)[0]
    }

    private func printPlan(_ sync: GradientSync, title: String) {
        emit(title)
        emit([pad("parameter", 10), pad("bytes", 12), pad("density", 9), pad("route", 6), pad("bytes/step", 12), pad("time/step", 10), "  why"].joined(separator: " "))
        for e in sync.plan {
            emit([pad(e.name, 10), pad("\(e.bytes)", 12), pad(String(format: "%.4f", e.density), 9), pad(e.route.rawValue, 6),
                  pad(String(format: "%.0f", e.predictedBytes), 12), pad(String(format: "%.0f us", e.predictedSeconds * 1e6), 10), "  " + e.reason].joined(separator: " "))
        }
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(("\r" + line + "      ").data(using: .utf8)!)
    }
}

/// A deterministic generator for shuffling (the same order on every worker).
struct SplitMixRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return splitMix64(state)
    }
}
