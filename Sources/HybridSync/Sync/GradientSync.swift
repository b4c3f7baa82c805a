import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// One gradient-sync call per step over both paths.
///
/// ```
/// let sync = try GradientSync(runtime: runtime, calibrate: true)
/// try sync.register([Parameter(.dense(w1, optimizer: .adam(...))), Parameter(.embedding(spec))])
/// for step in ... {
///     let rows = try sync.pull("wide", ids: batchIds)           // embedding rows this batch needs
///     ... forward, backward ...
///     try sync.prefetch("wide", ids: nextBatchIds)             // optional: pulled as this step ends
///     try sync.step(dense: [w1Grad], sparse: [SparseRows(table: "wide", ids: batchIds, values: g)])
/// }
/// ```
///
/// `step` averages dense gradients over the workers' ring (fused, agreed across ranks) and applies each
/// dense parameter's optimizer in place; pushes sparse gradients (scaled by 1/workers, so both paths
/// apply the average gradient) to the servers, whose optimizers update the rows; then ends this
/// worker's step on the servers, so the next `pull` waits as the table's consistency model says. After
/// `replanAfterSteps` steps the planner re-routes embedding tables from the density every worker
/// observed (averaged over the workers, so all agree); a table whose gradients turn out dense moves to
/// the ring at that step boundary, on every worker together.
///
/// Threading: one thread (the training loop), on every worker, in the same order.
public final class GradientSync {
    public let runtime: HybridRuntime
    package let strategy: Strategy
    package internal(set) var planner: Planner
    /// Steps completed.
    public internal(set) var stepCount = 0
    /// Step after which the plan is revised from observations (0: never).
    package var replanAfterSteps: Int
    /// The registered parameters: dense ones in registration order (the order every worker reduces
    /// and checkpoints them in), tables by name.
    var dense: [DenseParameter] = []
    var denseNamed: [String: DenseParameter] = [:]
    var tables: [String: TableParameter] = [:]
    /// Bytes of the last step by route, counted by the transports from the end of the step before: ring
    /// = bytes this worker sent over MPI; ps = bytes it sent to and received from the servers over
    /// ZeroMQ. The step's pulls, `pushSparse` and `ready` are in it.
    public private(set) var lastStepBytes: [Route: Int] = [:]
    /// The transports' counters when the last step (or the registration) ended.
    var bytesAtStepEnd = (ring: 0, ps: 0)
    var byteCounters: (ring: Int, ps: Int) {
        (runtime.dense.communicator.bytesSent, runtime.kv.bytesSent + runtime.kv.bytesReceived)
    }
    /// The dense buckets reduced while backward goes on (`planOverlap`).
    var overlap: OverlapBuckets?
    /// A step's sparse gradients sent early by `pushSparse`, for `step` to finish.
    private var early: (handle: PSHandle?, endsStep: Bool, densified: [(LocalTable, Tensor)])?
    /// Rows named by `prefetch` for the next step, by table; `step` sends their pulls.
    var prefetchWanted: [String: [UInt64]] = [:]
    /// Pulls `step` sent for the step after it, by table, for `pull` to take.
    var prefetched: [String: (ids: [UInt64], handle: PSHandle)] = [:]
    /// Pulls answered from a prefetch (tests).
    package internal(set) var prefetchesTaken = 0
    /// The checkpoint in flight (`checkpointInBackground`): worker 0 holds its completion.
    var pendingCheckpoint: (root: String, step: Int, completion: CheckpointCompletion?)?
    /// The probe's result, if `calibrate` was asked for.
    package private(set) var calibration: Calibration?

    /// Creates the sync for `runtime`'s workers. The planner uses `model` if given; otherwise, with
    /// `calibrate`, a probe of both paths by message size (`Calibration.probe`: collective, about half a
    /// second on one host; `Docs/Hybrid.md`); otherwise defaults.
    public convenience init(runtime: HybridRuntime, strategy: Strategy = .hybrid, calibrate: Bool = false, replanAfterSteps: Int = 5) throws {
        try self.init(runtime: runtime, strategy: strategy, model: nil, calibrate: calibrate, replanAfterSteps: replanAfterSteps)
    }

    /// The same, with a given cost model (benchmarks and tests).
    package init(
        runtime: HybridRuntime, strategy: Strategy = .hybrid, model: CostModel?, calibrate: Bool = false,
        replanAfterSteps: Int = 5
    ) throws {
        self.runtime = runtime
        self.strategy = strategy
        let p = runtime.dense.communicator.size
        planner = Planner(model: model ?? CostModel(workers: p, servers: runtime.kv.serverCount))
        if model == nil && calibrate {
            let c = try Calibration.probe(runtime)
            planner.model = c.ring
            planner.psModel = c.ps
            calibration = c
        }
        self.replanAfterSteps = replanAfterSteps
    }

    var workers: Int { runtime.dense.communicator.size }

    /// The current plan.
    public var plan: [PlanEntry] { planner.plan() }

    /// Whether rows touched are still counted: only until the one re-plan that uses them.
    var observingDensity: Bool { strategy == .hybrid && stepCount < replanAfterSteps }

    /// This worker's row in the timeline.
    var row: String { "worker \(runtime.dense.communicator.rank)" }

    // MARK: - Per step

    /// The rows of `table` for `ids` (any order, repeats allowed), as of this worker's clock.
    public func pull(_ table: String, ids: [UInt64]) throws -> PulledRows {
        guard let t = tables[table] else { throw HybridSyncError.unknownTable(table) }
        if observingDensity { t.touchedThisStep.formUnion(ids) }
        if let local = t.local { return try local.rows(ids) }
        if let rows = try takePrefetched(table, ids: ids) { return rows }
        return try Timeline.span("pull", row: row, detail: "\(table): \(ids.count) rows") {
            try runtime.kv.pull([RowQuery(table: table, keys: ids)])[0]
        }
    }

    /// Starts this step's sparse pushes now, so they travel while the caller computes the rest of its
    /// backward pass (the overlap PyTorch DDP gives its buckets, for the sparse path); `step` then takes
    /// `sparse: []` and finishes the step. The rows are checked here as `step` checks them. When no
    /// dense parameter goes to the servers, the step ends on the servers with these rows.
    ///
    /// The dense gradients are checked later, in `step`: a non-finite one found there throws after these
    /// rows were sent (the error says so), where a plain `step` throws before anything is sent. Likewise
    /// any error `step` throws comes after these rows (and, with them, possibly the step's end) reached
    /// the servers.
    public func pushSparse(_ given: [SparseRows]) throws {
        guard early == nil else { throw HybridSyncError.invalidArgument(.order, "pushSparse was already called for this step") }
        let (pushes, densified) = try sparseWork(try checkFinite([], given))
        let endsStep = !pushes.isEmpty && !dense.contains { $0.route == .ps }
        let handle = try Timeline.span("push sent", row: row, detail: "\(pushes.reduce(0) { $0 + $1.keys.count }) rows, early") {
            pushes.isEmpty ? nil : endsStep ? try runtime.kv.endStep(pushing: pushes) : try runtime.kv.pushAsync(pushes)
        }
        early = (handle, endsStep, densified)
    }

    /// Syncs one step's gradients: dense ones averaged over the ring (or pushed to the servers, per the
    /// plan) and applied; sparse ones pushed (or densified and averaged) and applied. Collective over the
    /// workers. `dense` must hold one gradient per registered dense parameter, with the same name.
    /// After `pushSparse`, `sparse` must be empty.
    public func step(dense grads: [Tensor], sparse given: [SparseRows]) throws {
        let early = self.early
        self.early = nil
        defer {
            let now = byteCounters
            lastStepBytes = [.ring: now.ring - bytesAtStepEnd.ring, .ps: now.ps - bytesAtStepEnd.ps]
            bytesAtStepEnd = now
        }
        let wanted = prefetchWanted
        prefetchWanted = [:]
        do {
            try syncStep(dense: grads, sparse: given, early: early)
        } catch {
            if overlap != nil { try? finishOverlap() }
            throw error
        }
        sendPrefetches(wanted)
    }

    /// The step: check everything, start the pushes, reduce on the ring, wait, apply, end the step.
    private func syncStep(
        dense grads: [Tensor], sparse given: [SparseRows],
        early: (handle: PSHandle?, endsStep: Bool, densified: [(LocalTable, Tensor)])?
    ) throws {
        if early != nil && !given.isEmpty {
            throw HybridSyncError.invalidArgument(.order, "step got sparse gradients after pushSparse sent this step's (pass sparse: [])")
        }
        let byName = try gradientsByName(grads)
        let sparse = try checkFinite(
            grads.filter { denseNamed[$0.name]?.readied == nil }, given,
            sparseSent: early != nil || dense.contains { $0.readied != nil })
        var (pushes, densified) = try sparseWork(sparse)
        densified += early?.densified ?? []
        let overlapped = try startTheRest(byName)
        var ringTensors = densified.map(\.1)
        let scale = 1 / Float(workers)
        for p in dense where !overlapped.contains(p.name) {
            let g = byName[p.name]!
            if p.route == .ps {
                pushes.append(SparseRows(table: p.name, keys: [0], values: try g.values(as: Float.self).map { $0 * scale }))
            } else {
                ringTensors.append(g)
            }
        }
        // Sparse pushes start first and travel while the ring runs. They end the step on the servers
        // (the clock rides with them), so a BSP step's pushes are applied while the ring runs too. Rows
        // `pushSparse` sent end the step themselves, or are acknowledged before the pushes that do.
        let clockSent = early?.endsStep == true
        if !clockSent { try early?.handle?.wait() }
        var handle = clockSent ? early?.handle : nil
        if !clockSent && !pushes.isEmpty {
            handle = try Timeline.span("push sent", row: row, detail: "\(pushes.reduce(0) { $0 + $1.keys.count }) rows") {
                try runtime.kv.endStep(pushing: pushes)
            }
        }
        if overlap != nil { try runtime.dense.advanceStarted() }
        // With the overlap carrying every dense parameter on the ring and no local tables, there is
        // nothing to flush; every rank decides alike (the plan, routes and local tables are agreed).
        let hasLocal = tables.values.contains { $0.local != nil }
        if overlap == nil || hasLocal || overlapped.count < dense.filter({ $0.route == .ring }).count {
            try Timeline.span("all-reduce", row: row, detail: "\(ringTensors.count) tensors") { try runtime.dense.allreduce(ringTensors, op: .average) }
        }
        if overlap != nil { try finishOverlap() }
        try Timeline.span("push acknowledged", row: row) { try handle?.wait() }
        Timeline.span("apply", row: row) {
            for p in dense where p.route == .ring { p.apply(byName[p.name]!, step: stepCount + 1) }
            for (local, g) in densified { local.apply(g) }
        }
        // Without pushes, the step ends alone, without waiting for its acknowledgements: the next
        // pull's answer implies them (or the worker settles them before its next push).
        if handle == nil { try Timeline.span("clock", row: row) { try runtime.kv.endStep() } }
        try refreshDenseFromServers()
        for t in tables.values {
            t.touchedRows += t.touchedThisStep.count
            t.touchedThisStep.removeAll(keepingCapacity: true)
        }
        stepCount += 1
        if replanAfterSteps > 0 && stepCount == replanAfterSteps && strategy == .hybrid { try replan() }
    }

    /// Checks `sparse` against the registered tables and splits it: rows for the servers (scaled by
    /// 1/workers) and tables held locally (densified, for the ring).
    private func sparseWork(_ sparse: [SparseRows]) throws -> (pushes: [SparseRows], densified: [(LocalTable, Tensor)]) {
        var pushes: [SparseRows] = []
        var densified: [(LocalTable, Tensor)] = []
        let scale = 1 / Float(workers)
        for s in sparse {
            guard let t = tables[s.table] else { throw HybridSyncError.unknownTable(s.table) }
            try s.checkShape(dimension: t.spec.dimension)
            if observingDensity { t.touchedThisStep.formUnion(s.keys) }
            if let local = t.local {
                densified.append((local, try local.densify(s)))
            } else {
                pushes.append(SparseRows(table: s.table, keys: s.keys, values: s.values.map { $0 * scale }))
            }
        }
        return (pushes, densified)
    }
}
