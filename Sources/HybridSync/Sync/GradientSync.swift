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
///     try sync.step(dense: [w1Grad], sparse: [SparseGradient(table: "wide", ids: batchIds, values: g)])
/// }
/// ```
///
/// `step` averages dense gradients over the workers' ring (fused, agreed across ranks) and applies each
/// dense parameter's optimizer in place; pushes sparse gradients (scaled by 1/workers, so both paths
/// apply the average gradient) to the servers, whose optimizers update the rows; then advances this
/// worker's clock, so the next `pull` waits as the table's consistency model says. After
/// `replanAfterSteps` steps the planner re-routes embedding tables from the density every worker
/// observed (averaged over the workers, so all agree); a table whose gradients turn out dense moves to
/// the ring at that step boundary, on every worker together.
///
/// Threading: one thread (the training loop), on every worker, in the same order.
public final class GradientSync {
    public let runtime: HybridRuntime
    public let strategy: Strategy
    package internal(set) var planner: Planner
    /// Steps completed.
    public internal(set) var stepCount = 0
    /// Step after which the plan is revised from observations (0: never).
    public var replanAfterSteps: Int
    var dense: [String: (Tensor, OptimizerKernel, state: [Float])] = [:]
    var denseOrder: [String] = []
    var tables: [String: TableSpec] = [:]
    /// Tables routed to the ring: a full local copy, its optimizer state and per-row steps.
    var localTables: [String: LocalTable] = [:]
    /// Rows touched in the current step, and summed over the completed steps.
    private var touched: [String: Set<UInt64>] = [:]
    var touchedRows: [String: Int] = [:]
    /// Whether rows touched are still counted: only until the one re-plan that uses them.
    private var observingDensity: Bool { strategy == .hybrid && stepCount < replanAfterSteps }
    /// Bytes of the last step by route, counted by the transports from the end of the step before: ring
    /// = bytes this worker sent over MPI; ps = bytes it sent to and received from the servers over
    /// ZeroMQ. The step's pulls, `pushSparse` and `ready` are in it.
    public private(set) var lastStepBytes: [Route: Int] = [:]
    /// The transports' counters when the last step (or the registration) ended.
    private var bytesAtStepEnd = (ring: 0, ps: 0)
    private var byteCounters: (ring: Int, ps: Int) {
        (runtime.dense.communicator.bytesSent, runtime.kv.bytesSent + runtime.kv.bytesReceived)
    }

    /// Creates the sync for `runtime`'s workers. The planner uses `model` if given; otherwise, with
    /// `calibrate`, a probe of both paths by message size (`Calibration.probe`: collective, about half a
    /// second on one host; `Docs/Hybrid.md`); otherwise defaults.
    public convenience init(runtime: HybridRuntime, strategy: Strategy = .hybrid, calibrate: Bool = false, replanAfterSteps: Int = 5) throws {
        try self.init(runtime: runtime, strategy: strategy, model: nil, calibrate: calibrate, replanAfterSteps: replanAfterSteps)
    }

    /// The same, with a given cost model (benchmarks and tests).
    package init(runtime: HybridRuntime, strategy: Strategy = .hybrid, model: CostModel?, calibrate: Bool = false,
                replanAfterSteps: Int = 5) throws {
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

    /// The dense buckets reduced while backward goes on (`planOverlap`), and the gradients `ready` got
    /// this step.
    var overlap: OverlapBuckets?
    var readied: [String: Tensor] = [:]

    /// The probe's result, if `calibrate` was asked for.
    package private(set) var calibration: Calibration?

    var workers: Int { runtime.dense.communicator.size }

    /// The current plan.
    public var plan: [PlanEntry] { planner.plan() }

    /// Each parameter's route, computed when the plan changes (register, re-plan), not per step.
    var routes: [String: Route] = [:]

    private func refreshRoutes() {
        routes = Dictionary(uniqueKeysWithValues: planner.plan().map { ($0.name, $0.route) })
    }

    // MARK: - Registration

    /// Registers parameters on every worker. Collective over the workers: the list is checked across
    /// workers first (a different shape or an extra parameter on one rank throws the same `mismatch` on
    /// every rank); tables are declared on the servers; dense parameters are broadcast from worker 0.
    public func register(_ params: [Parameter]) throws {
        let descriptors = params.map { p -> TensorDescriptor in
            switch p.kind {
            case .dense(let t, _): return TensorDescriptor(name: "param:" + t.name, dtype: t.dtype, count: t.count, op: .average)
            case .embedding(let s, let rows): return TensorDescriptor(name: "table:" + s.name, dtype: s.dtype, count: s.dimension * rows, op: .sum)
            }
        }
        try runtime.dense.agree(descriptors)
        var planned: [PlannedParameter] = []
        for p in params {
            let pin = p.pin ?? (strategy == .allreduce ? .ring : strategy == .ps ? .ps : nil)
            switch p.kind {
            case .dense(let t, let optimizer):
                guard t.dtype == .float32 else { throw HybridSyncError.invalidArgument(.dtype, "dense parameter '\(t.name)' must be float32") }
                let kernel = OptimizerKernel(spec: optimizer)
                dense[t.name] = (t, kernel, Array(repeating: 0, count: kernel.stateSlots * t.count))
                for j in 0..<kernel.stateSlots { for i in 0..<t.count { dense[t.name]!.state[j * t.count + i] = kernel.initialState(j) } }
                denseOrder.append(t.name)
                planned.append(PlannedParameter(name: t.name, rows: 1, columns: t.count, isEmbedding: false, pinned: pin))
            case .embedding(let s, let rows):
                try s.validate()
                tables[s.name] = s
                tableRows[s.name] = rows
                planned.append(PlannedParameter(name: s.name, rows: rows, columns: s.dimension, isEmbedding: true, pinned: pin))
            }
        }
        try planner.add(planned)
        refreshRoutes()
        // Dense parameters start equal everywhere.
        for name in denseOrder { try runtime.dense.broadcast(dense[name]!.0, root: 0) }
        // Tables on the servers are declared; tables on the ring get their local copy.
        var psTables = tables.values.filter { routes[$0.name] == .ps }.sorted { $0.name < $1.name }
        for name in denseOrder where routes[name] == .ps {
            let (t, kernel, _) = dense[name]!
            psTables.append(TableSpec(name: name, dimension: t.count, optimizer: kernel.spec, consistency: .bsp))
        }
        if !psTables.isEmpty { try runtime.kv.declare(psTables) }
        for s in tables.values where routes[s.name] == .ring {
            localTables[s.name] = try LocalTable(spec: s, rows: rowsHint(s), fill: nil)
        }
        try seedDenseOnServers()
        bytesAtStepEnd = byteCounters
    }

    var tableRows: [String: Int] = [:]
    private func rowsHint(_ s: TableSpec) -> Int { tableRows[s.name] ?? 1 }

    // MARK: - Per step

    /// The rows of `table` for `ids` (any order, repeats allowed), as of this worker's clock.
    public func pull(_ table: String, ids: [UInt64]) throws -> PulledRows {
        guard let spec = tables[table] else { throw HybridSyncError.unknownTable(table) }
        if observingDensity { touched[table, default: []].formUnion(ids) }
        if let local = localTables[table] { return try local.rows(ids) }
        let t = Timeline.begin()
        defer { Timeline.end(t, "pull", row: row, detail: "\(table): \(ids.count) rows") }
        return try pullSettling([RowQuery(table: spec.name, keys: ids)])[0]
    }

    /// Pulls, then takes the acknowledgements of the last step's clock (sent without waiting; the pull's
    /// answer came after it on every server the pull reached), throwing the clock's error if any.
    private func pullSettling(_ queries: [RowQuery]) throws -> [PulledRows] {
        let rows = try runtime.kv.pull(queries)
        try runtime.kv.settleClock()
        return rows
    }

    /// This worker's row in the timeline.
    private var row: String { "worker \(runtime.dense.communicator.rank)" }

    /// A step's sparse gradients sent early by `pushSparse`, for `step` to finish.
    private var early: (handle: PSHandle?, endsStep: Bool, densified: [(LocalTable, Tensor)])?

    /// Starts this step's sparse pushes now, so they travel while the caller computes the rest of its
    /// backward pass (the overlap PyTorch DDP gives its buckets, for the sparse path); `step` then takes
    /// `sparse: []` and finishes the step. The rows are checked here as `step` checks them. When no
    /// dense parameter goes to the servers, the step's clock rides with these rows.
    ///
    /// The dense gradients are checked later, in `step`: a non-finite one found there throws after these
    /// rows were sent (the error says so), where a plain `step` throws before anything is sent. Likewise
    /// any error `step` throws comes after these rows (and, with them, possibly the clock) reached the
    /// servers.
    public func pushSparse(_ given: [SparseGradient]) throws {
        guard early == nil else { throw HybridSyncError.invalidArgument(.order, "pushSparse was already called for this step") }
        try runtime.kv.settleClock()
        let (pushes, densified) = try sparseWork(try checkFinite([], given))
        let endsStep = !pushes.isEmpty && !denseOrder.contains { routes[$0] == .ps }
        let handle = try Timeline.span("push sent", row: row, detail: "\(pushes.reduce(0) { $0 + $1.keys.count }) rows, early") {
            pushes.isEmpty ? nil : endsStep ? try runtime.kv.pushEndingStepAsync(pushes) : try runtime.kv.pushAsync(pushes)
        }
        early = (handle, endsStep, densified)
    }

    /// Checks `sparse` against the registered tables and splits it: rows for the servers (scaled by
    /// 1/workers) and tables held locally (densified, for the ring).
    private func sparseWork(_ sparse: [SparseGradient]) throws -> (pushes: [SparseRows], densified: [(LocalTable, Tensor)]) {
        var pushes: [SparseRows] = []
        var densified: [(LocalTable, Tensor)] = []
        let scale = 1 / Float(workers)
        for s in sparse {
            guard let spec = tables[s.table] else { throw HybridSyncError.unknownTable(s.table) }
            try s.checkShape(dimension: spec.dimension)
            if observingDensity { touched[s.table, default: []].formUnion(s.keys) }
            if let local = localTables[s.table] {
                densified.append((local, try local.densify(s)))
            } else {
                pushes.append(SparseRows(table: s.table, keys: s.keys, values: s.values.map { $0 * scale }))
            }
        }
        return (pushes, densified)
    }

    /// Syncs one step's gradients: dense ones averaged over the ring (or pushed to the servers, per the
    /// plan) and applied; sparse ones pushed (or densified and averaged) and applied. Collective over the
    /// workers. `dense` must hold one gradient per registered dense parameter, with the same name.
    /// After `pushSparse`, `sparse` must be empty.
    public func step(dense grads: [Tensor], sparse given: [SparseGradient]) throws {
        do {
            try syncStep(dense: grads, sparse: given)
        } catch {
            if overlap != nil { try? finishOverlap() }
            throw error
        }
    }

    private func syncStep(dense grads: [Tensor], sparse given: [SparseGradient]) throws {
        let early = self.early
        defer { self.early = nil }
        if early != nil && !given.isEmpty {
            throw HybridSyncError.invalidArgument(.order, "step got sparse gradients after pushSparse sent this step's (pass sparse: [])")
        }
        try runtime.kv.settleClock()
        defer {
            let now = byteCounters
            lastStepBytes = [.ring: now.ring - bytesAtStepEnd.ring, .ps: now.ps - bytesAtStepEnd.ps]
            bytesAtStepEnd = now
        }
        let byName = Dictionary(grads.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in denseOrder where byName[name] == nil {
            throw HybridSyncError.invalidArgument(.name, "step is missing the gradient of dense parameter '\(name)'")
        }
        for g in grads { try checkDenseGradient(g) }
        let sparse = try checkFinite(grads.filter { readied[$0.name] == nil }, given, sparseSent: early != nil || !readied.isEmpty)
        var (pushes, densified) = try sparseWork(sparse)
        densified += early?.densified ?? []
        let overlapped = try startTheRest(byName)
        var ringTensors = densified.map(\.1)
        let scale = 1 / Float(workers)
        for name in denseOrder where !overlapped.contains(name) {
            let g = byName[name]!
            if routes[name] == .ps {
                pushes.append(SparseRows(table: name, keys: [0], values: try g.values(as: Float.self).map { $0 * scale }))
            } else {
                ringTensors.append(g)
            }
        }
        // Sparse pushes start first and travel while the ring runs. They end the step on the servers
        // (the clock rides with them), so a BSP step's pushes are applied while the ring runs too. Rows
        // `pushSparse` sent carry the clock themselves, or are acknowledged before the pushes that do
        // (so a resend can never land after the clock).
        let clockSent = early?.endsStep == true
        if !clockSent { try early?.handle?.wait() }
        var handle = clockSent ? early?.handle : nil
        if !clockSent && !pushes.isEmpty {
            handle = try Timeline.span("push sent", row: row, detail: "\(pushes.reduce(0) { $0 + $1.keys.count }) rows") {
                try runtime.kv.pushEndingStepAsync(pushes)
            }
        }
        if overlap != nil { try runtime.dense.advanceStarted() }
        // With the overlap carrying every dense parameter on the ring and no local tables, there is
        // nothing to flush; every rank decides alike (the plan, routes and local tables are agreed).
        if overlap == nil || !localTables.isEmpty || overlapped.count < denseOrder.filter({ routes[$0] == .ring }).count {
            try Timeline.span("all-reduce", row: row, detail: "\(ringTensors.count) tensors") { try runtime.dense.allreduce(ringTensors, op: .average) }
        }
        if overlap != nil { try finishOverlap() }
        try Timeline.span("push acknowledged", row: row) { try handle?.wait() }
        Timeline.span("apply", row: row) {
            for name in denseOrder where routes[name] == .ring { applyDense(name, byName[name]!) }
            for (local, g) in densified { local.apply(g) }
        }
        // Without pushes, the clock goes alone, without waiting for its acknowledgements: the next
        // pull's answer implies them (or the next step settles them first).
        if handle == nil { try Timeline.span("clock", row: row) { try runtime.kv.advanceClockAsync() } }
        try refreshDenseFromServers()
        for (table, ids) in touched { touchedRows[table, default: 0] += ids.count }
        touched.removeAll(keepingCapacity: true)
        stepCount += 1
        if replanAfterSteps > 0 && stepCount == replanAfterSteps && strategy == .hybrid { try replan() }
    }

    /// Throws unless `g` is the gradient of a registered dense parameter, of its count and dtype.
    func checkDenseGradient(_ g: Tensor) throws {
        guard let (param, _, _) = dense[g.name] else { throw HybridSyncError.invalidArgument(.name, "gradient for unknown dense parameter '\(g.name)'") }
        guard g.count == param.count, g.dtype == param.dtype else {
            throw HybridSyncError.shapeMismatch(what: "gradient of '\(g.name)'", expected: "\(param.count) x \(param.dtype)", got: "\(g.count) x \(g.dtype)")
        }
    }

    /// Throws, before anything is sent or applied, if a gradient holds a NaN or an infinity: naming the
    /// dense tensor and this worker's rank, or the table, the row id and this rank. A table declared
    /// with `NonFinitePolicy.skipRow` loses such rows instead (returned without them), one with `allow`
    /// keeps them.
    func checkFinite(_ grads: [Tensor], _ sparse: [SparseGradient], sparseSent: Bool = false) throws -> [SparseGradient] {
        let rank = runtime.dense.communicator.rank
        for g in grads where g.dtype == .float32 {
            if let i = try g.withElements(as: Float.self, { $0.firstIndex { !$0.isFinite } }) {
                let outcome = sparseSent ? "this step's sparse rows or started buckets were already sent (pushSparse, ready); nothing of it was applied"
                                         : "nothing of this step was applied"
                throw HybridSyncError.invalidArgument(.nonFinite, "non-finite gradient of '\(g.name)' at element \(i) on rank \(rank): \(outcome)")
            }
        }
        var out: [SparseGradient] = []
        for s in sparse {
            guard let i = s.values.firstIndex(where: { !$0.isFinite }) else { out.append(s); continue }
            let d = max(1, tables[s.table]?.dimension ?? 1)
            switch tables[s.table]?.nonFinite ?? .reject {
            case .allow:
                out.append(s)
            case .skipRow where s.values.count == s.keys.count * d:
                let kept = s.keys.indices.filter { r in s.values[(r * d)..<((r + 1) * d)].allSatisfy(\.isFinite) }
                out.append(SparseRows(table: s.table, keys: kept.map { s.keys[$0] }, values: kept.flatMap { s.values[($0 * d)..<(($0 + 1) * d)] }))
            default:
                let id = s.keys.indices.contains(i / d) ? "\(s.keys[i / d])" : "?"
                throw HybridSyncError.invalidArgument(.nonFinite, "non-finite gradient in table '\(s.table)', row \(id) on rank \(rank): nothing of this step was applied")
            }
        }
        return out
    }

    private func applyDense(_ name: String, _ g: Tensor) {
        // Taken out of the dictionary so the optimizer state is mutated in place, not copied.
        var entry = dense.removeValue(forKey: name)!
        entry.state.withUnsafeMutableBufferPointer { st in
            entry.0.rawPointer.withMemoryRebound(to: Float.self, capacity: entry.0.count) { w in
                g.rawPointer.withMemoryRebound(to: Float.self, capacity: g.count) { gp in
                    entry.1.apply(w, gp, g.count, state: st.baseAddress ?? w, step: stepCount + 1)
                }
            }
        }
        dense[name] = entry
    }

    // MARK: - Dense parameters on the servers (strategy ps)

    private func seedDenseOnServers() throws {
        let onServers = denseOrder.filter { routes[$0] == .ps }
        guard !onServers.isEmpty else { return }
        // The servers' copy starts at zero and receives the updates; the parameter is the broadcast
        // starting value plus that copy. Exact, since SGD, Adagrad and Adam updates do not depend on w.
        for name in onServers { denseOffsets[name] = try dense[name]!.0.values(as: Float.self) }
        try refreshDenseFromServers()
    }

    var denseOffsets: [String: [Float]] = [:]

    private func refreshDenseFromServers() throws {
        let onServers = denseOrder.filter { routes[$0] == .ps }
        guard !onServers.isEmpty else { return }
        let rows = try pullSettling(onServers.map { RowQuery(table: $0, keys: [0]) })
        for (name, r) in zip(onServers, rows) {
            let offset = denseOffsets[name]!
            try dense[name]!.0.assign(zip(offset, r.values).map { $0 + $1 })
        }
    }

    // MARK: - Re-planning

    /// Averages every worker's observed densities, re-plans, and moves tables whose route changed from
    /// the servers to the ring (their rows are pulled into a local copy).
    private func replan() throws {
        let names = tables.keys.sorted()
        let observed = try Tensor(name: "hybridsync.density", values: names.map { n -> Double in
            Double(touchedRows[n] ?? 0) / Double(max(1, stepCount)) / Double(rowsHint(tables[n]!))
        })
        try runtime.dense.allreduce([observed], op: .average)
        let before = routes
        for (n, d) in zip(names, try observed.values(as: Double.self)) { planner.setObservedDensity(n, d) }
        refreshRoutes()
        // Moving a table from the ring back to the servers is not built: such a table stays local.
        for n in names where before[n] == .ring && routes[n] == .ps { routes[n] = .ring }
        for n in names where before[n] == .ps && routes[n] == .ring {
            let spec = tables[n]!
            let rows = rowsHint(spec)
            var values = [Float](repeating: 0, count: rows * spec.dimension)
            let chunk = max(1, (8 << 20) / (spec.dimension * 4))
            for start in stride(from: 0, to: rows, by: chunk) {
                let keys = (start..<min(rows, start + chunk)).map { UInt64($0) }
                let r = try pullSettling([RowQuery(table: n, keys: keys)])[0]
                values.replaceSubrange((start * spec.dimension)..<((start + keys.count) * spec.dimension), with: r.values)
            }
            localTables[n] = try LocalTable(spec: spec, rows: rows, fill: values)
        }
        touchedRows.removeAll()
    }
}

