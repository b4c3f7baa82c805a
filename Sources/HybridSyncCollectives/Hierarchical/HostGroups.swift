import HybridSyncCore

/// The two levels of the hierarchical all-reduce (Horovod's hierarchical allreduce): the ranks on this
/// rank's host, and the hosts' leaders (the lowest rank of each host).
///
/// A bucket is all-reduced within the host (shared memory), then across the leaders (one rank per host
/// on the network, so the cross-host ring has `2 (H - 1)` latencies for H hosts instead of `2 (p - 1)`),
/// then broadcast within the host from its leader. Cost, for g ranks a host:
/// `T_local(g) + T_flat(H) + ceil(lg g) (a_local + n w b_local)`, where the cross-host part moves
/// `2 (H-1)/H n w` bytes per host instead of per rank. Every rank ends with the leader's bits.
struct HostGroups {
    /// The ranks of this host.
    let local: Communicator
    /// The hosts' leaders; nil on the other ranks.
    let leaders: Communicator?

    /// Whether grouping pays, from every rank's host id (`hostOfRank[r]`, the same list on every rank):
    /// only with two hosts or more and some host holding two ranks or more (otherwise one level is the
    /// whole job and the flat algorithms are the same thing).
    static func worthGrouping(_ hostOfRank: [Int]) -> Bool {
        var counts: [Int: Int] = [:]
        for h in hostOfRank { counts[h, default: 0] += 1 }
        return counts.count >= 2 && (counts.values.max() ?? 0) >= 2
    }
}
