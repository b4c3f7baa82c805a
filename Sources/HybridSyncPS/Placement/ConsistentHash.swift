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
    /// `ownerOf[b]` for the top 16 bits of a hash: the owning server when no ring point falls inside
    /// bucket b (every hash there goes to the same next point), else -1 (search). With 160 points per
    /// server nearly every bucket is direct, so most lookups are one load and no branch on the hash.
    private let ownerOf: [Int32]
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
        var direct = [Int32](repeating: -1, count: 1 << 16)
        var p = 0
        for b in 0..<(1 << 16) {
            let low = UInt64(b) << 48, high = low | (1 << 48 - 1)
            while p < ring.count && ring[p].0 < low { p += 1 }
            // No point inside [low, high]: all of it belongs to the next point (the first, past the end).
            if p == ring.count || ring[p].0 > high { direct[b] = Int32(ring[p == ring.count ? 0 : p].1) }
        }
        ownerOf = direct
    }

    /// The server that owns piece `piece` of `key` in the table with hash `tableSalt`.
    @inlinable
    package func server(key: UInt64, piece: Int, tableSalt: UInt64) -> Int {
        serverFor(hash: mix64(key ^ tableSalt &+ UInt64(piece) &* 0x9E37_79B9_7F4A_7C15))
    }

    @usableFromInline
    func serverFor(hash h: UInt64) -> Int {
        let owner = ownerOf[Int(h >> 48)]
        if owner >= 0 { return Int(owner) }
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
