// The README's training loop, runnable: a linear model over the sum of a sample's embedding rows,
// the table on the parameter servers, the dense weights on the ring, one `step` per batch.
//
//   Launch/mpirun -np 4 .build/debug/readme-loop     # 2 workers + 2 dedicated servers
import HybridSync

/// y = w . (sum of the rows of the sample's ids); squared loss. The targets come from a hidden
/// "true" table, so the loss can fall to zero.
struct LinearModel {
    static let dimension = 16
    let idsPerSample = 4, rows: UInt64 = 1_000

    /// A batch of `count` samples for `step` of `worker`: ids and targets, the same on every run.
    func batch(step: Int, worker: Int, count: Int) -> (ids: [UInt64], targets: [Float]) {
        var state = UInt64(step) << 32 | UInt64(worker) << 16 | 1
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        let ids = (0..<(count * idsPerSample)).map { _ in next() % rows }
        let targets = (0..<count).map { s in ids[(s * idsPerSample)..<((s + 1) * idsPerSample)].reduce(Float(0)) { $0 + truth($1) } }
        return (ids, targets)
    }

    /// The target contribution of row `id`.
    func truth(_ id: UInt64) -> Float { Float(Int(id % 7) - 3) * 0.25 }

    /// The batch's mean loss and its gradients: d/dw (dense) and d/d(row) for every id in order (a row
    /// per occurrence; `GradientSync` sums repeats).
    func backward(_ ids: [UInt64], _ targets: [Float], w: [Float], rows pulled: [Float]) -> (loss: Float, gW: [Float], gRows: [Float]) {
        let d = Self.dimension, n = targets.count
        var gW = [Float](repeating: 0, count: d), gRows = [Float](repeating: 0, count: ids.count * d), loss: Float = 0
        for s in 0..<n {
            var x = [Float](repeating: 0, count: d)
            for j in (s * idsPerSample)..<((s + 1) * idsPerSample) { for k in 0..<d { x[k] += pulled[j * d + k] } }
            let err = zip(w, x).reduce(0) { $0 + $1.0 * $1.1 } - targets[s]
            loss += err * err / 2 / Float(n)
            for k in 0..<d { gW[k] += err * x[k] / Float(n) }
            for j in (s * idsPerSample)..<((s + 1) * idsPerSample) { for k in 0..<d { gRows[j * d + k] = err * w[k] / Float(n) } }
        }
        return (loss, gW, gRows)
    }
}

// Every rank runs this; server ranks serve inside `run` until the workers finish. `run` always
// finishes the worker and finalises MPI, also when the body throws.
try HybridRuntime.run(layout: HybridLayout(servers: 2, placement: .dedicated)) { runtime in
    let model = LinearModel()
    let me = runtime.dense.communicator.rank
    let sync = try GradientSync(runtime: runtime, calibrate: true)  // probes both paths by message size; the planner routes
    let w = try Tensor(name: "mlp.w", values: [Float](repeating: 0.1, count: LinearModel.dimension))
    let table = TableSpec(
        name: "ads", dimension: LinearModel.dimension, initializer: .uniform(scale: 0.5),
        optimizer: .adagrad(learningRate: 0.2, epsilon: 1e-8, initialAccumulator: 0.1), consistency: .ssp(staleness: 2))
    try sync.register([
        Parameter(.dense(w, optimizer: .sgd(learningRate: 0.1))),
        Parameter(.embedding(table, rows: Int(model.rows))),
    ])
    var losses: [Float] = []
    for step in 1...300 {
        let batch = model.batch(step: step, worker: me, count: 32)
        let rows = try sync.pull("ads", ids: batch.ids)  // any order, repeats allowed
        let (loss, gW, gRows) = model.backward(batch.ids, batch.targets, w: try w.values(as: Float.self), rows: rows.values)
        try sync.step(
            dense: [try Tensor(name: "mlp.w", values: gW)],
            sparse: [SparseRows(table: "ads", ids: batch.ids, values: gRows)])
        losses.append(loss)
        if me == 0 && step % 50 == 0 { print("steps \(step - 49)-\(step): mean loss \(losses.suffix(50).reduce(0, +) / 50)") }
    }
}
