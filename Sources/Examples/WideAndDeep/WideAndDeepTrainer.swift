import Foundation
import HybridSync

/// Trains `WideAndDeep` on Fashion-MNIST with one `GradientSync.step` per batch: the wide table
/// (hashed crossed-pixel rows) on the parameter servers, the MLP on the ring, as the planner routes
/// them. Every worker rank makes one inside `HybridRuntime.run` and calls `train`, then `evaluate`.
public final class WideAndDeepTrainer {
    /// The model (its dense tensors are the ones `sync` updates in place).
    public let model: WideAndDeep
    /// The job's gradient synchronisation.
    public let sync: GradientSync
    /// The options it was made with.
    public let options: TrainerOptions
    private let trainSet: FashionMNIST
    private let testSet: FashionMNIST
    private let row: String

    /// Loads the data, registers the model's parameters (Adam on the MLP, Adagrad on the wide table),
    /// plans the overlap and, with `options.resume` or in a relaunch of a failed job
    /// (`GradientSync.resumeIfRelaunched`), continues from the newest complete checkpoint.
    public init(runtime: HybridRuntime, options: TrainerOptions) throws {
        let rows = options.wideRows
        guard rows > 0, rows <= 1 << 28, rows & (rows - 1) == 0 else {
            throw HybridSyncError.invalidArgument(.range, "wide rows \(rows): must be a power of two, at most 2^28")
        }
        if options.resume && options.checkpointDirectory == nil {
            throw HybridSyncError.invalidArgument(.configuration, "resuming needs a checkpoint directory")
        }
        self.options = options
        trainSet = try FashionMNIST.load(options.data, split: "train").prefix(options.trainLimit)
        testSet = try FashionMNIST.load(options.data, split: "t10k").prefix(options.testLimit)
        model = try WideAndDeep(hidden: options.hidden, wideRows: rows, seed: 42)
        sync = try GradientSync(runtime: runtime, strategy: options.strategy, calibrate: options.calibrate)
        row = "worker \(runtime.dense.communicator.rank)"
        let adam = OptimizerSpec.adam(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let wide = TableSpec(
            name: "wide", dimension: 10, optimizer: .adagrad(learningRate: 0.05, epsilon: 1e-8, initialAccumulator: 0.1),
            consistency: options.consistency, rowEncoding: options.rowEncoding)
        try sync.register([
            Parameter(.dense(model.w1, optimizer: adam)), Parameter(.dense(model.b1, optimizer: adam)),
            Parameter(.dense(model.w2, optimizer: adam)), Parameter(.dense(model.b2, optimizer: adam)),
            Parameter(.embedding(wide, rows: rows)),
        ])
        // Backward finishes the output layer first: its bucket starts while the first layer's runs.
        if options.overlap { try sync.planOverlap([[model.w2.name, model.b2.name], [model.w1.name, model.b1.name]]) }
        if let dir = options.checkpointDirectory {
            if options.resume { try sync.resume(from: dir) } else { _ = try sync.resumeIfRelaunched(from: dir) }
        }
    }

    /// Steps in one epoch (each worker takes its own batch of every step).
    public var stepsPerEpoch: Int { trainSet.count / (options.batch * sync.runtime.dense.communicator.size) }

    /// Trains to `options.epochs`, checkpointing as the options say. `overlapAt(step)` says whether a
    /// step overlaps (when `options.overlap` is on); `afterStep` sees every step's report. The data
    /// order is keyed by epoch and step, so a resumed run sees the same batches.
    public func train(overlapAt: (Int) -> Bool = { _ in true }, afterStep: (StepReport) throws -> Void = { _ in }) throws -> TrainingResult {
        let comm = sync.runtime.dense.communicator
        let perEpoch = stepsPerEpoch, totalSteps = perEpoch * options.epochs, firstStep = sync.stepCount
        var losses: [Double] = [], window: [Double] = []
        var batch = WideAndDeep.Batch(), distinct = DistinctRows(tableRows: model.wideRows)
        let grads = try model.makeGradients()
        let start = ContinuousClock.now
        var step = firstStep, lastCheckpoint = start
        for epoch in (firstStep / max(1, perEpoch))..<options.epochs {
            var order = Array(0..<trainSet.count)
            var rng = ShuffleRNG(seed: UInt64(epoch) &* 7919)
            order.shuffle(using: &rng)
            for s in 0..<perEpoch where epoch * perEpoch + s >= firstStep {
                let idx = (0..<options.batch).map { order[(s * comm.size + comm.rank) * options.batch + $0] }
                let overlapped = options.overlap && overlapAt(step)
                let t0 = ContinuousClock.now
                window.append(try trainStep(idx, grads, &batch, &distinct, overlap: overlapped))
                let seconds = Self.seconds(since: t0)
                step += 1
                var loss: Double?
                var timeDue = false
                if step % 20 == 0 || step == totalSteps {
                    let due = comm.rank == 0 && options.checkpointEverySeconds > 0 && Self.seconds(since: lastCheckpoint) >= options.checkpointEverySeconds
                    (loss, timeDue) = try averageAndFlag(window.reduce(0, +) / Double(window.count), due)
                    losses.append(loss!)
                    window.removeAll()
                }
                var checkpointed = false
                var failure: String?
                let stepDue = options.checkpointEvery > 0 && step % options.checkpointEvery == 0
                if let dir = options.checkpointDirectory, stepDue || timeDue, step < totalSteps {
                    // A checkpoint that failed (every worker learns it alike) does not end the run.
                    do { try sync.finishCheckpoint() } catch HybridSyncError.checkpoint(_, let file, let reason) { failure = "\(file): \(reason)" }
                    do {
                        try sync.checkpointInBackground(to: dir)
                        checkpointed = true
                    } catch HybridSyncError.checkpoint(_, let file, let reason) {
                        failure = "\(file): \(reason)"
                    }
                    lastCheckpoint = ContinuousClock.now
                }
                let report = StepReport(
                    step: step, totalSteps: totalSteps, epoch: epoch, overlapped: overlapped, seconds: seconds, loss: loss, checkpointed: checkpointed,
                    checkpointFailure: failure)
                try afterStep(report)
            }
        }
        if let dir = options.checkpointDirectory, step > firstStep || firstStep == 0 { try sync.checkpoint(to: dir) }
        try sync.finishCheckpoint()
        return TrainingResult(losses: losses, firstStep: firstStep, lastStep: step, seconds: Self.seconds(since: start))
    }

    /// One batch: forward (pulling the batch's distinct wide rows), softmax cross-entropy, backward,
    /// and the step. Returns the batch's mean loss.
    private func trainStep(
        _ idx: [Int], _ g: WideAndDeep.Gradients, _ batch: inout WideAndDeep.Batch, _ distinct: inout DistinctRows,
        overlap: Bool
    ) throws -> Double {
        for t in [g.w1, g.b1, g.w2, g.b2] { try t.withElements(as: Float.self) { $0.update(repeating: 0) } }
        let (unique, slot, starts) = try forward(trainSet, idx, &batch, &distinct, row: row) { unique in
            options.synchronise ? try sync.pull("wide", ids: unique).values : [Float](repeating: 0, count: unique.count * 10)
        }
        let backward = Timeline.begin()
        var dlogits = [Float](repeating: 0, count: idx.count * 10)
        var wideGrad = [Float](repeating: 0, count: unique.count * 10)
        var loss = 0.0
        let scale = 1 / Float(idx.count)
        for (b, i) in idx.enumerated() {
            let label = Int(trainSet.labels[i])
            var (prob, l) = WideAndDeep.softmax(batch.logits(of: b), label: label)
            loss += Double(l)
            prob[label] -= 1
            for k in 0..<10 { dlogits[b * 10 + k] = prob[k] * scale }
            for j in starts[b]..<starts[b + 1] { let r = slot[j] * 10; for k in 0..<10 { wideGrad[r + k] += prob[k] * scale } }
        }
        // The wide table's gradient is complete here: with the overlap it leaves now and travels while
        // the MLP's backward pass runs, as does the output layer's bucket once backward has finished
        // it; `step` then starts the first layer's bucket, waits and applies.
        let sparse = [SparseRows(table: "wide", ids: unique, values: wideGrad)]
        let early = overlap && options.synchronise
        if early { try sync.pushSparse(sparse) }
        try model.backward(batch, dlogits: dlogits, into: g) { if early { try sync.ready([g.w2, g.b2]) } }
        Timeline.end(backward, "backward", row: row)
        if options.synchronise { try sync.step(dense: [g.w1, g.b1, g.w2, g.b2], sparse: early ? [] : sparse) }
        return loss / Double(idx.count)
    }

    /// The forward pass of the images `idx` into `batch`: their wide feature ids, the distinct ones
    /// (whose rows `fetch` returns, 10 floats each), each image's sum of its rows, then the MLP. Returns
    /// the distinct ids, each feature's position among them, and where each image's features start
    /// (image b's are at `starts[b] ..< starts[b + 1]`), for the wide table's gradient.
    private func forward(
        _ set: FashionMNIST, _ idx: [Int], _ batch: inout WideAndDeep.Batch, _ distinct: inout DistinctRows, row: String,
        rows fetch: ([UInt64]) throws -> [Float]
    ) throws -> (unique: [UInt64], slot: [Int], starts: [Int]) {
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
            batch.load(
                count: idx.count, hidden: model.hidden, image: { UnsafeBufferPointer(rebasing: img[(idx[$0] * 784)..<((idx[$0] + 1) * 784)]) }, wide: wide)
            try model.forward(&batch)
        }
        Timeline.end(forward, "forward", row: row)
        return (unique, slot, starts)
    }

    /// Accuracy on the test set, each worker scoring its share; summed over the workers (collective).
    public func evaluate() throws -> Double {
        let comm = sync.runtime.dense.communicator
        var correct = 0, seen = 0
        let share = (testSet.count + comm.size - 1) / comm.size
        let lo = comm.rank * share, hi = min(testSet.count, lo + share)
        var batch = WideAndDeep.Batch()
        var distinct = DistinctRows(tableRows: model.wideRows)
        for chunk in stride(from: lo, to: hi, by: 500) {
            let ids = Array(chunk..<min(hi, chunk + 500))
            _ = try forward(testSet, ids, &batch, &distinct, row: "\(row) evaluating") { try sync.pull("wide", ids: $0).values }
            for (b, i) in ids.enumerated() {
                let logits = batch.logits(of: b)
                if logits.indices.max(by: { logits[$0] < logits[$1] }) == b * 10 + Int(testSet.labels[i]) { correct += 1 }
                seen += 1
            }
        }
        let totals = try Tensor(name: "eval", values: [Int64(correct), Int64(seen)])
        try sync.runtime.dense.allreduce([totals], op: .sum)
        let t = try totals.values(as: Int64.self)
        return Double(t[0]) / Double(max(1, t[1]))
    }

    /// Test images (each worker scores its share in `evaluate`).
    public var testCount: Int { testSet.count }

    /// The mean of `x` over the workers (collective: every worker calls it with its own value).
    public func allAverage(_ x: Double) throws -> Double { try averageAndFlag(x, false).0 }

    /// The workers' average of `x`, and whether worker 0 raised `flag` (one all-reduce).
    private func averageAndFlag(_ x: Double, _ flag: Bool) throws -> (Double, Bool) {
        let t = try Tensor(name: "loss", values: [x, flag ? 1 : 0])
        try sync.runtime.dense.allreduce([t], op: .average)
        let v = try t.values(as: Double.self)
        return (v[0], v[1] > 0)
    }

    private static func seconds(since t0: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t0
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

/// A deterministic generator for shuffling (the same order on every worker).
struct ShuffleRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix64(state)
    }
}
