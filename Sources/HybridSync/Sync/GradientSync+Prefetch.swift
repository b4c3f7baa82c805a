import HybridSyncCore
import HybridSyncPS

extension GradientSync {
    /// Names rows the next step will `pull`, so that they travel while this step finishes and the
    /// caller prepares the next batch (the prefetch Persia and Monolith do). Call it before `step`:
    /// `step` sends the pull right after it ends the step on the servers, so the pull carries the new
    /// clock and the servers answer it exactly as they would answer the same pull made after `step`
    /// (under BSP, once every worker's step is applied); the next `pull` of `table` with the same `ids`
    /// takes that answer. A `pull` of other ids first settles the prefetch (throwing its error, if
    /// any), then pulls anew. A table held locally (on the ring) ignores it. A second call for the same
    /// table in one step replaces the first.
    public func prefetch(_ table: String, ids: [UInt64]) throws {
        guard tables[table] != nil else { throw HybridSyncError.unknownTable(table) }
        prefetchWanted[table] = ids
    }

    /// Sends the pulls `prefetch` named, for tables still on the servers (a re-plan at this step may
    /// have moved one to the ring). The step has completed when this runs, so it does not throw: a
    /// pull that cannot be sent is not prefetched, and the next `pull` makes it and throws there.
    func sendPrefetches(_ wanted: [String: [UInt64]]) {
        for (table, ids) in wanted.sorted(by: { $0.key < $1.key }) where tables[table]?.local == nil {
            let handle = Timeline.span("prefetch sent", row: row, detail: "\(table): \(ids.count) rows") {
                try? runtime.kv.pullAsync([RowQuery(table: table, keys: ids)])
            }
            if let handle { prefetched[table] = (ids, handle) }
        }
    }

    /// The prefetched rows of `table` if they are for `ids`; nil otherwise, after settling a prefetch
    /// for other ids.
    func takePrefetched(_ table: String, ids: [UInt64]) throws -> PulledRows? {
        guard let p = prefetched.removeValue(forKey: table) else { return nil }
        let rows = try Timeline.span("pull", row: row, detail: "\(table): \(p.ids.count) rows, prefetched") { try p.handle.wait()[0] }
        guard p.ids == ids else { return nil }
        prefetchesTaken += 1
        return rows
    }
}
