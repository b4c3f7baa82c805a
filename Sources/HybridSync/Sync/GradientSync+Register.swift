import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

extension GradientSync {
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
        var newDense: [DenseParameter] = []
        var newTables: [TableParameter] = []
        for p in params {
            let pin = p.pin ?? (strategy == .allreduce ? .ring : strategy == .ps ? .ps : nil)
            switch p.kind {
            case .dense(let t, let optimizer):
                guard t.dtype == .float32 else { throw HybridSyncError.invalidArgument(.dtype, "dense parameter '\(t.name)' must be float32") }
                newDense.append(DenseParameter(t, optimizer: optimizer))
                planned.append(PlannedParameter(name: t.name, rows: 1, columns: t.count, isEmbedding: false, pinned: pin))
            case .embedding(let s, let rows):
                try s.validate()
                newTables.append(TableParameter(s, rows: rows))
                planned.append(PlannedParameter(name: s.name, rows: rows, columns: s.dimension, isEmbedding: true, pinned: pin))
            }
        }
        try planner.add(planned)
        dense += newDense
        for p in newDense { denseNamed[p.name] = p }
        for t in newTables { tables[t.name] = t }
        refreshRoutes()
        // Dense parameters start equal everywhere.
        for p in dense { try runtime.dense.broadcast(p.tensor, root: 0) }
        // Tables on the servers are declared; tables on the ring get their local copy.
        var psTables = tables.values.filter { $0.route == .ps }.map(\.spec).sorted { $0.name < $1.name }
        for p in dense where p.route == .ps {
            psTables.append(TableSpec(name: p.name, dimension: p.tensor.count, optimizer: p.kernel.spec, consistency: .bsp))
        }
        if !psTables.isEmpty { try runtime.kv.declare(psTables) }
        for t in tables.values where t.route == .ring {
            t.local = try LocalTable(spec: t.spec, rows: t.rows, fill: nil)
        }
        try seedDenseOnServers()
        bytesAtStepEnd = byteCounters
    }

    /// Every parameter's route, from the plan; called when the plan changes (register, re-plan).
    func refreshRoutes() {
        for e in planner.plan() {
            if let p = denseNamed[e.name] { p.route = e.route }
            tables[e.name]?.route = e.route
        }
    }

    /// Each parameter's route by name.
    var routes: [String: Route] {
        var r: [String: Route] = [:]
        for p in dense { r[p.name] = p.route }
        for t in tables.values { r[t.name] = t.route }
        return r
    }

    // MARK: - Dense parameters on the servers (strategy ps)

    private func seedDenseOnServers() throws {
        let onServers = dense.filter { $0.route == .ps }
        guard !onServers.isEmpty else { return }
        // The servers' copy starts at zero and receives the updates; the parameter is the broadcast
        // starting value plus that copy. Exact, since SGD, Adagrad and Adam updates do not depend on w.
        for p in onServers { p.serverOffset = try p.tensor.values(as: Float.self) }
        try refreshDenseFromServers()
    }

    /// Sets each dense parameter on the servers to its starting value plus the servers' copy.
    func refreshDenseFromServers() throws {
        let onServers = dense.filter { $0.route == .ps }
        guard !onServers.isEmpty else { return }
        let rows = try runtime.kv.pull(onServers.map { RowQuery(table: $0.name, keys: [0]) })
        for (p, r) in zip(onServers, rows) {
            try p.tensor.assign(zip(p.serverOffset ?? [], r.values).map { $0 + $1 })
        }
    }
}
