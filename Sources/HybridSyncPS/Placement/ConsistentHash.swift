import HybridSyncCore

/// Places (table, key, piece) on servers by consistent hashing with virtual nodes.
///
/// Each server owns `virtualNodes` points on a 64-bit ring; a row piece goes to the first point at or
/// after its hash. Hot rows spread because neighbouring keys hash far apart (ps-lite's fixed contiguous
/// ranges put a run of popular ids on one server), and adding or removing a server moves only about
/// `1/S` of the keys. Pieces of one long row hash independently, so a huge value spreads over servers.
package struct ConsistentHash: Sendable {
    private let points: [UInt64]
    private let owners: [Int]
    /// `firstPoint[b]`: index of the first ring point whose top 12 bits are >= b, so a lookup searches
    /// only the few points of its own bucket.
    private let firstPoint: [Int32]
    /// The number of servers.
    package let servers: Int

    /// Builds the ring for `servers` servers (at least 1).
    package init(servers: Int, virtualNodes: Int = 160) {
        self.servers = Swift.max(1, servers)
        var ring: [(UInt64, Int)] = []
        for s in 0..<self.servers {
            for v in 0..<virtualNodes { ring.append((mix64(UInt64(s) << 32 | UInt64(v) ^ 0x5EED_0000_0000), s)) }
        }
        ring.sort { $0.0 < $1.0 }
        points = ring.map(\.0)
        owners = ring.map(\.1)
        var first = [Int32](repeating: Int32(ring.count), count: 4097)
        var i = ring.count
        for b in stride(from: 4095, through: 0, by: -1) {
            while i > 0 && ring[i - 1].0 >> 52 >= UInt64(b) { i -= 1 }
            first[b] = Int32(i)
        }
        firstPoint = first
    }

    /// The server that owns piece `piece` of `key` in the table with hash `tableSalt`.
    @inlinable
    package func server(key: UInt64, piece: Int, tableSalt: UInt64) -> Int {
        serverFor(hash: mix64(key ^ tableSalt &+ UInt64(piece) &* 0x9E37_79B9_7F4A_7C15))
    }

    @usableFromInline
    func serverFor(hash h: UInt64) -> Int {
        let b = Int(h >> 52)
        var lo = Int(firstPoint[b]), hi = Int(firstPoint[b + 1])
        while lo < hi {
            let mid = (lo + hi) / 2
            if points[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        return owners[lo == points.count ? 0 : lo]
    }
}

/// The mixer used for placement (the same as `splitMix64`).
@inlinable
package func mix64(_ x: UInt64) -> UInt64 { splitMix64(x) }
