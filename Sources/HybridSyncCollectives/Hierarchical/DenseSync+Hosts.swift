import HybridSyncCore

/// Grouping a `DenseSync`'s ranks by host, for the hierarchical all-reduce (`HostGroups`).
extension DenseSync {
    /// Whether all-reduces go hierarchically (`groupByHost` found ranks sharing hosts).
    package var isHierarchical: Bool { hosts != nil }

    /// Groups the ranks by host for the hierarchical all-reduce: `hostOfRank[r]` is any id of rank `r`'s
    /// host, the same list on every rank. With two hosts or more and some host holding two ranks or
    /// more, later all-reduces reduce within each host, ring across one leader per host and broadcast
    /// within the host (Horovod's hierarchical allreduce); otherwise nothing changes. Collective: splits
    /// the communicator. Returns whether the all-reduces are now hierarchical.
    @discardableResult
    public func groupByHost(_ hostOfRank: [Int]) throws -> Bool {
        guard hostOfRank.count == communicator.size else {
            throw HybridSyncError.invalidArgument(.shape, "groupByHost needs one host id per rank: \(hostOfRank.count) for \(communicator.size) ranks")
        }
        guard HostGroups.worthGrouping(hostOfRank) else {
            hosts = nil
            return false
        }
        let ids = Array(Set(hostOfRank)).sorted()
        let me = communicator.rank
        let local = try communicator.split(color: ids.firstIndex(of: hostOfRank[me])!, key: me)
        let leaders = try communicator.split(color: local.rank == 0 ? 0 : 1, key: me)
        // A dead peer the job learns about ends these levels' waits too.
        local.transport.interrupter = communicator.transport.interrupter
        leaders.transport.interrupter = communicator.transport.interrupter
        hosts = HostGroups(local: local, leaders: local.rank == 0 ? leaders : nil)
        return true
    }

    /// `groupByHost` over every rank's host name (all-gathered as a 64-bit hash). Collective.
    @discardableResult
    public func groupByHost(named name: String) throws -> Bool {
        let all = try allgather(try Tensor(name: "hybridsync.host", values: [Int64(bitPattern: NegotiationCache.fnv1a(name.utf8))]))
        return try groupByHost(try all.values(as: Int64.self).map { Int($0) })
    }

    /// Uses the given levels (tests: in-memory fabrics have no `split`).
    package func useHosts(local: Communicator, leaders: Communicator?) {
        hosts = HostGroups(local: local, leaders: leaders)
    }
}
