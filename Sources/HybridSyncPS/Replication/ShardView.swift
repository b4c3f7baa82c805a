import HybridSyncCore

/// Which servers hold each shard, as the scheduler last decided: one chain per shard, its primary
/// first, then its backups. Shards are the consistent hash's partitions (`ConsistentHash` places every
/// row on shard 0 ..< S); at the start shard s is led by server s and backed up by the next `r`
/// servers in index order (`initial`). When a server dies the scheduler moves to a new view with a
/// higher `epoch` (`removing`): every shard it led is taken over by its first backup, which holds the
/// same rows, clocks and exactly-once state.
///
/// A shard whose chain is empty has lost every copy: its rows are gone, and the job must resume from
/// its last checkpoint.
package struct ShardView: Sendable, Equatable {
    /// Increases with every change; requests and forwards carry the epoch their sender routed by.
    package var epoch: UInt32
    /// Per shard: the servers holding it, primary first.
    package var chains: [[Int]]

    package init(epoch: UInt32, chains: [[Int]]) {
        self.epoch = epoch
        self.chains = chains
    }

    /// The first view of a job of `servers` servers keeping `replication` extra copies of each shard.
    package static func initial(servers: Int, replication: Int) -> ShardView {
        let copies = Swift.min(servers, 1 + Swift.max(0, replication))
        return ShardView(epoch: 1, chains: (0..<servers).map { s in (0..<copies).map { (s + $0) % servers } })
    }

    /// The server leading `shard`, nil if every copy is lost.
    package func primary(of shard: Int) -> Int? { chains.indices.contains(shard) ? chains[shard].first : nil }

    /// The servers backing `shard` up.
    package func backups(of shard: Int) -> [Int] { chains.indices.contains(shard) ? Array(chains[shard].dropFirst()) : [] }

    /// Shards that have lost every copy.
    package var lostShards: [Int] { chains.indices.filter { chains[$0].isEmpty } }

    /// The next view without `server`: its place in every chain goes, so each shard it led is led by
    /// its first backup.
    package func removing(_ server: Int) -> ShardView {
        ShardView(epoch: epoch &+ 1, chains: chains.map { $0.filter { $0 != server } })
    }

    /// Whether `server` holds any shard.
    package func holds(_ server: Int) -> Bool { chains.contains { $0.contains(server) } }

    func encode(into w: inout ByteWriter) {
        w.u32(epoch)
        w.u32(UInt32(chains.count))
        for c in chains {
            w.u8(UInt8(truncatingIfNeeded: c.count))
            for s in c { w.u32(UInt32(truncatingIfNeeded: s)) }
        }
    }

    static func decode(from r: inout ByteReader) throws -> ShardView {
        let epoch = try r.u32("epoch")
        let n = Int(try r.u32("shard count"))
        guard n <= 4096 else { throw HybridSyncError.malformedMessage("a view of \(n) shards") }
        var chains: [[Int]] = []
        for _ in 0..<n {
            let k = Int(try r.u8("chain length"))
            var c: [Int] = []
            for _ in 0..<k {
                let s = Int(try r.u32("server"))
                guard s < n else { throw HybridSyncError.malformedMessage("a view names server \(s) of \(n)") }
                c.append(s)
            }
            chains.append(c)
        }
        return ShardView(epoch: epoch, chains: chains)
    }
}
