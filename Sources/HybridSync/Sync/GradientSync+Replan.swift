import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

extension GradientSync {
    /// Averages every worker's observed densities, re-plans, and moves tables whose route changed from
    /// the servers to the ring (their rows are pulled into a local copy).
    func replan() throws {
        let names = tables.keys.sorted()
        let observed = try Tensor(name: "hybridsync.density", values: names.map { tables[$0]!.density(steps: stepCount) })
        try runtime.dense.allreduce([observed], op: .average)
        let before = routes
        for (n, d) in zip(names, try observed.values(as: Double.self)) { planner.setObservedDensity(n, d) }
        refreshRoutes()
        for n in names {
            let t = tables[n]!
            // Moving a table from the ring back to the servers is not built: such a table stays local.
            if before[n] == .ring && t.route == .ps { t.route = .ring }
            if before[n] == .ps && t.route == .ring { t.local = try LocalTable(spec: t.spec, rows: t.rows, fill: try pullWhole(t)) }
            t.touchedRows = 0
        }
    }

    /// Every row of table `t` from the servers, in chunks of about 8 MB.
    private func pullWhole(_ t: TableParameter) throws -> [Float] {
        let d = t.spec.dimension
        var values = [Float](repeating: 0, count: t.rows * d)
        let chunk = max(1, (8 << 20) / (d * 4))
        for start in stride(from: 0, to: t.rows, by: chunk) {
            let keys = (start..<min(t.rows, start + chunk)).map { UInt64($0) }
            let r = try runtime.kv.pull([RowQuery(table: t.name, keys: keys)])[0]
            values.replaceSubrange((start * d)..<((start + keys.count) * d), with: r.values)
        }
        return values
    }
}
