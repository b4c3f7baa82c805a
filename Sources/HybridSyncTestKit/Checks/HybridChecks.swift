import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// Properties of `GradientSync` checked from a worker against a serial reference computed here: run
/// in process by the test kit's hybrid jobs and under mpirun by `hybridsync-testjobs
/// self-test-hybrid`. Each returns (ok, details).
package enum HybridChecks {
    /// A BSP job whose parameters (dense and embedding) must equal a serial reference exactly, whatever
    /// the strategy and layout, including a re-plan that moves the table to the ring mid-run.
    package static let rows = 48, dim = 4, denseCount = 10, overlapCount = 20_000

    static func ids(_ w: Int, _ t: Int) -> [UInt64] { (0..<24).map { UInt64(($0 * 5 + w * 7 + t * 3) % rows) } }
    static func sparseGrad(_ w: Int, _ t: Int, _ id: UInt64, _ e: Int) -> Float { Float(Int((id + UInt64(e + w + 2 * t)) % 5) - 2) }
    static func denseGrad(_ w: Int, _ t: Int, _ i: Int) -> Float { Float((i + w * 3 + t) % 7 - 3) }

    /// With `overlap`, a second dense parameter `dense.v` of `overlapCount` floats (a ring bucket) joins
    /// `dense.w`, both in `planOverlap` groups; each worker gives them to `ready` on steps of its own
    /// choosing (`v` alone, both, or neither, by step and rank), so ranks start buckets in different
    /// places and `step` starts the rest.
    package static func exact(
        _ runtime: HybridRuntime, strategy: Strategy, servers: Int, steps: Int = 8, layout: String = "in-process",
        early: Bool = false, overlap: Bool = false, prefetch: Bool = false
    ) throws -> (Bool, String) {
        let comm = runtime.dense.communicator
        let p = comm.size, me = comm.rank
        let sync = try GradientSync(runtime: runtime, strategy: strategy, model: CostModel(workers: p, servers: servers), replanAfterSteps: 4)
        let w = try Tensor(name: "dense.w", values: (0..<Self.denseCount).map { Float(me == 0 ? $0 : 100) })
        let v = try Tensor(name: "dense.v", values: (0..<Self.overlapCount).map { Float(me == 0 ? $0 % 13 : 100) })
        let spec = TableSpec(name: "emb", dimension: Self.dim, initializer: .constant(1), optimizer: .sgd(learningRate: 1), consistency: .bsp)
        var params = [Parameter(.dense(w, optimizer: .sgd(learningRate: 1))), Parameter(.embedding(spec, rows: Self.rows))]
        if overlap { params.append(Parameter(.dense(v, optimizer: .sgd(learningRate: 1)))) }
        try sync.register(params)
        if overlap { try sync.planOverlap([["dense.v"], ["dense.w"]]) }
        var refV = (0..<Self.overlapCount).map { Float($0 % 13) }
        var refDense = (0..<Self.denseCount).map { Float($0) }
        var refEmb = [Float](repeating: 1, count: Self.rows * Self.dim)
        var wrong = 0
        let startRoute = sync.plan.first { $0.name == "emb" }!.route
        for t in 0..<steps {
            let myIds = Self.ids(me, t)
            let pulled = try sync.pull("emb", ids: myIds)
            for (i, id) in myIds.enumerated() {
                for e in 0..<Self.dim where pulled.values[i * Self.dim + e] != refEmb[Int(id) * Self.dim + e] { wrong += 1 }
            }
            for i in 0..<Self.denseCount where try w.values(as: Float.self)[i] != refDense[i] { wrong += 1 }
            let g = try Tensor(name: "dense.w", values: (0..<Self.denseCount).map { Self.denseGrad(me, t, $0) })
            let values = myIds.flatMap { id in (0..<Self.dim).map { Self.sparseGrad(me, t, id, $0) } }
            let sparse = [SparseRows(table: "emb", ids: myIds, values: values)]
            var dense = [g]
            if overlap {
                wrong += zip(try v.values(as: Float.self), refV).filter { $0 != $1 }.count
                let gv = try Tensor(name: "dense.v", values: (0..<Self.overlapCount).map { Self.denseGrad(me, t, $0) })
                switch (t + me) % 3 {
                case 0: try sync.ready([gv])
                case 1: try sync.ready([gv]); try sync.ready([g])
                default: break
                }
                dense.append(gv)
                for i in 0..<Self.overlapCount { refV[i] -= (0..<p).reduce(Float(0)) { $0 + Self.denseGrad($1, t, i) } / Float(p) }
            }
            // `prefetch`: the next step's rows are named before this step; every third time other rows
            // than the next step pulls (its pull then settles that prefetch and pulls anew).
            if prefetch && t + 1 < steps { try sync.prefetch("emb", ids: Self.ids(me, t % 3 == 2 ? t + 2 : t + 1)) }
            // `early`: every other step sends its sparse rows before the dense gradient exists.
            if early && t % 2 == 0 {
                try sync.pushSparse(sparse)
                try sync.step(dense: dense, sparse: [])
            } else {
                try sync.step(dense: dense, sparse: sparse)
            }
            for i in 0..<Self.denseCount { refDense[i] -= (0..<p).reduce(Float(0)) { $0 + Self.denseGrad($1, t, i) } / Float(p) }
            for worker in 0..<p {
                for id in Self.ids(worker, t) {
                    for e in 0..<Self.dim { refEmb[Int(id) * Self.dim + e] -= Self.sparseGrad(worker, t, id, e) / Float(p) }
                }
            }
        }
        let all = try sync.pull("emb", ids: (0..<UInt64(Self.rows)).map { $0 })
        wrong += zip(all.values, refEmb).filter { $0 != $1 }.count
        wrong += zip(try w.values(as: Float.self), refDense).filter { $0 != $1 }.count
        if overlap { wrong += zip(try v.values(as: Float.self), refV).filter { $0 != $1 }.count }
        let endRoute = sync.plan.first { $0.name == "emb" }!.route
        return (
            wrong == 0,
            "strategy=\(strategy.rawValue) layout=\(layout) wrong=\(wrong) emb route \(startRoute)->\(endRoute) prefetched \(sync.prefetchesTaken)"
        )
    }

    /// The last worker registers a different shape (or an extra table): every worker must get the same
    /// `mismatch` error.
    package static func mismatch(_ runtime: HybridRuntime, strategy: Strategy, extraTable: Bool) throws -> (Bool, String) {
        let comm = runtime.dense.communicator
        let odd = comm.rank == comm.size - 1
        let sync = try GradientSync(runtime: runtime, strategy: strategy)
        let w = try Tensor(name: "dense.w", dtype: .float32, count: odd && !extraTable ? 11 : 10)
        var params = [
            Parameter(.dense(w, optimizer: .sgd(learningRate: 1))),
            Parameter(.embedding(TableSpec(name: "emb", dimension: 4), rows: 10)),
        ]
        if odd && extraTable { params.append(Parameter(.embedding(TableSpec(name: "extra", dimension: 2), rows: 5))) }
        do {
            try sync.register(params)
            return (false, "no error")
        } catch let e as HybridSyncError {
            guard case .mismatch = e else { return (false, "unexpected \(e)") }
            return (true, "\(e)")
        }
    }

    /// Trains steps `from ..< to` of a small hybrid model under BSP: an Adagrad embedding table (on the
    /// servers) and an Adam dense layer (on the ring), integer-valued gradients from (worker, step).
    /// Resumes from `resume` first, checkpoints into `checkpoint` at the end, if given. Returns the bit
    /// patterns of the dense layer and of every table row, the same on every worker.
    /// With `backgroundAt`, the checkpoint is taken in the background at that step
    /// (`checkpointInBackground`) and the job trains on to `to` while it is written.
    package static func durable(
        _ runtime: HybridRuntime, from: Int, to: Int, checkpoint: String? = nil, resume: String? = nil, backgroundAt: Int? = nil
    ) throws -> [UInt32] {
        let comm = runtime.dense.communicator
        let me = comm.rank
        let sync = try GradientSync(runtime: runtime, strategy: .hybrid, replanAfterSteps: 0)
        let w = try Tensor(name: "mlp.w", values: (0..<denseCount).map { Float($0) / 8 })
        let spec = TableSpec(
            name: "emb", dimension: dim, initializer: .uniform(scale: 0.5),
            optimizer: .adagrad(learningRate: 0.05, epsilon: 1e-8, initialAccumulator: 0.1), consistency: .bsp)
        try sync.register([
            Parameter(.dense(w, optimizer: .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8))),
            Parameter(.embedding(spec, rows: rows)),
        ])
        if let resume { try sync.resume(from: resume) }
        guard sync.stepCount == from else { throw HybridSyncError.invalidArgument(.order, "at step \(sync.stepCount), expected \(from)") }
        for t in from..<to {
            if let checkpoint, t == backgroundAt { try sync.checkpointInBackground(to: checkpoint) }
            let myIds = ids(me, t)
            _ = try sync.pull("emb", ids: myIds)
            let g = try Tensor(name: "mlp.w", values: (0..<denseCount).map { denseGrad(me, t, $0) })
            let values = myIds.flatMap { id in (0..<dim).map { sparseGrad(me, t, id, $0) } }
            try sync.step(dense: [g], sparse: [SparseRows(table: "emb", ids: myIds, values: values)])
        }
        if backgroundAt != nil {
            try sync.finishCheckpoint()
        } else if let checkpoint {
            try sync.checkpoint(to: checkpoint)
        }
        let all = try sync.pull("emb", ids: (0..<UInt64(rows)).map { $0 })
        return try w.values(as: Float.self).map(\.bitPattern) + all.values.map(\.bitPattern)
    }
    /// The cost probe over real transports: the ring's curve at its sizes, ascending and never faster for
    /// more bytes; every fitted cost finite and non-negative; and every worker holding the same numbers
    /// (the planner's routes depend on them, so they must agree bit for bit).
    package static func calibration(_ runtime: HybridRuntime) throws -> (Bool, String) {
        let c = try Calibration.probe(runtime)
        guard let curve = c.ring.ringCurve, let pull = c.ps.pullCost, let push = c.ps.pushCost else { return (false, "the probe left a cost unmeasured") }
        var problems: [String] = []
        if curve.bytes != Calibration.ringProbeBytes.map({ Double($0) }) { problems.append("curve sizes \(curve.bytes)") }
        if zip(curve.seconds, curve.seconds.dropFirst()).contains(where: { $0 > $1 }) { problems.append("curve falls: \(curve.seconds)") }
        let all = curve.seconds + [pull.latency, pull.perKey, pull.perByte, push.latency, push.perKey, push.perByte, c.ps.localPass]
        if !all.allSatisfy({ $0.isFinite && $0 >= 0 }) { problems.append("a cost negative or not finite: \(all)") }
        if c.ps.localPass <= 0 { problems.append("no memory pass measured") }
        let lo = try Tensor(name: "check.calibration.min", values: all), hi = try Tensor(name: "check.calibration.max", values: all)
        try runtime.dense.allreduce([lo], op: .min)
        try runtime.dense.allreduce([hi], op: .max)
        if try lo.values(as: Double.self) != hi.values(as: Double.self) { problems.append("workers disagree") }
        return (
            problems.isEmpty,
            problems.isEmpty
                ? String(
                    format: "ring 8 MiB %.0f us, pull %.0f us + %.3f ns/B", curve.seconds(Double(8 << 20)) * 1e6,
                    pull.latency * 1e6, pull.perByte * 1e9) : problems.joined(separator: "; ")
        )
    }
}
