import HybridSyncCore

/// Which servers hold each shard, as the scheduler last decided: one chain per shard, its primary
/// first, then its backups. Shards are the consistent hash's partitions (`ConsistentHash` places every
/// row on shard 0 ..< S); at the start shard s is led by server s and backed up by the next `r`
/// servers in index order (`initial`). When a server dies the scheduler moves to a new view with a
/// higher `epoch` (`removing`): every shard it led is taken over by its first backup, which holds the
/// same rows, clocks and exactly-once state.
///
/// After a death the scheduler also gives each shard left with too few copies a new backup, which the
/// primary streams a copy to while training goes on (re-replication): until the primary reports the
/// copy complete it sits at the end of the chain outside `complete`, receives changes, but cannot
/// take over.
///
/// A shard whose chain is empty has lost every copy: its rows are gone, and the job must resume from
/// its last checkpoint.
package struct ShardView: Sendable, Equatable {
    /// Increases with every change; requests and forwards carry the epoch their sender routed by.
    package var epoch: UInt32
    /// Per shard: the servers holding it, primary first.
    package var chains: [[Int]]
    /// Per shard: how many of the chain's first servers hold a complete copy (the others are being
    /// sent one).
    package var complete: [Int]
    /// Every server's endpoint, by index (a replacement that joined has its own; empty: unchanged).
    package var addresses: [String] = []

    package init(epoch: UInt32, chains: [[Int]], complete: [Int]? = nil) {
        self.epoch = epoch
        self.chains = chains
        self.complete = complete ?? chains.map(\.count)
    }

    /// The first view of a job of `servers` servers keeping `replication` extra copies of each shard.
    package static func initial(servers: Int, replication: Int) -> ShardView {
        let copies = Swift.min(servers, 1 + Swift.max(0, replication))
        return ShardView(epoch: 1, chains: (0..<servers).map { s in (0..<copies).map { (s + $0) % servers } })
    }

    /// The server leading `shard`, nil if every copy is lost.
    package func primary(of shard: Int) -> Int? { chains.indices.contains(shard) ? chains[shard].first : nil }

    /// The servers backing `shard` up (complete or not).
    package func backups(of shard: Int) -> [Int] { chains.indices.contains(shard) ? Array(chains[shard].dropFirst()) : [] }

    /// Whether `server`'s copy of `shard` is complete.
    package func isComplete(_ server: Int, of shard: Int) -> Bool {
        guard chains.indices.contains(shard), let at = chains[shard].firstIndex(of: server) else { return false }
        return at < complete[shard]
    }

    /// Shards that have lost every copy.
    package var lostShards: [Int] { chains.indices.filter { chains[$0].isEmpty } }

    /// The next view without `server`: its place in every chain goes, so each shard it led is led by
    /// its first backup. A shard left without a complete copy is lost (its chain empties), even if a
    /// copy of it was being made.
    package func removing(_ server: Int) -> ShardView {
        var next = self
        next.epoch &+= 1
        for s in chains.indices {
            guard let at = chains[s].firstIndex(of: server) else { continue }
            next.chains[s].remove(at: at)
            if at < complete[s] { next.complete[s] -= 1 }
            if next.complete[s] == 0 { next.chains[s] = [] }
        }
        return next
    }

    /// Shards with fewer copies (complete or being made) than `1 + replication` get a new backup: of
    /// the live servers not holding the shard, the one holding the fewest shards (then the next after
    /// the shard's primary in index order). The epoch stays: the caller moves to the next one.
    package func replenished(replication: Int, live: Set<Int>) -> ShardView {
        var next = self
        let servers = chains.count
        for s in chains.indices where !chains[s].isEmpty && chains[s].count < 1 + replication {
            var load: [Int: Int] = [:]
            for c in next.chains { for m in c { load[m, default: 0] += 1 } }
            let primary = chains[s][0]
            let candidates = (1..<Swift.max(1, servers)).map { (primary + $0) % servers }
                .filter { live.contains($0) && !next.chains[s].contains($0) }
            guard let pick = candidates.min(by: { (load[$0] ?? 0) < (load[$1] ?? 0) }) else { continue }
            next.chains[s].append(pick)
        }
        return next
    }

    /// The next view with `server`'s copy of `shard` complete (it must be the first incomplete one).
    package func completing(_ server: Int, of shard: Int) -> ShardView? {
        guard chains.indices.contains(shard), complete[shard] < chains[shard].count, chains[shard][complete[shard]] == server else { return nil }
        var next = self
        next.epoch &+= 1
        next.complete[shard] += 1
        return next
    }

    /// Whether `server` holds any shard.
    package func holds(_ server: Int) -> Bool { chains.contains { $0.contains(server) } }

    func encode(into w: inout ByteWriter) {
        w.u32(epoch)
        w.u32(UInt32(chains.count))
        for (c, done) in zip(chains, complete) {
            w.u8(UInt8(truncatingIfNeeded: c.count))
            w.u8(UInt8(truncatingIfNeeded: done))
            for s in c { w.u32(UInt32(truncatingIfNeeded: s)) }
        }
        w.u32(UInt32(addresses.count))
        for a in addresses { w.string(a) }
    }

    static func decode(from r: inout ByteReader) throws -> ShardView {
        let epoch = try r.u32("epoch")
        let n = Int(try r.u32("shard count"))
        guard n <= 4096 else { throw HybridSyncError.malformedMessage(.field, "a view of \(n) shards") }
        var chains: [[Int]] = [], complete: [Int] = []
        for _ in 0..<n {
            let k = Int(try r.u8("chain length"))
            let done = Int(try r.u8("complete copies"))
            guard done <= k, (done == 0) == (k == 0) else {
                throw HybridSyncError.malformedMessage(.field, "a chain of \(k) servers with \(done) complete copies")
            }
            complete.append(done)
            var c: [Int] = []
            for _ in 0..<k {
                let s = Int(try r.u32("server"))
                guard s < n, !c.contains(s) else { throw HybridSyncError.malformedMessage(.field, "a view names server \(s) of \(n) twice or past the end") }
                c.append(s)
            }
            chains.append(c)
        }
        var view = ShardView(epoch: epoch, chains: chains, complete: complete)
        let a = Int(try r.u32("addresses"))
        guard a == 0 || a == n else { throw HybridSyncError.malformedMessage(.field, "a view of \(n) shards with \(a) addresses") }
        view.addresses = try (0..<a).map { _ in try r.string("address") }
        return view
    }
}
