/// An open-addressing hash index from (key, piece) to a row slot, linear probing, power-of-two capacity.
///
/// Faster than `Dictionary` on this hot path (no per-lookup SipHash, no bounds checks) and never
/// allocates per row: the table doubles when the load passes 1/2. A bucket's key, piece and slot sit
/// together in one 16-byte entry, so a lookup of a cold key costs one cache miss, not one per field
/// (a quarter of a cache line: four buckets of a probe run share a line). Used by one thread (the server's).
final class RowIndex {
    /// One bucket; `slotPlusOne == 0` marks it empty.
    private struct Entry {
        var key: UInt64
        var piece: UInt32
        var slotPlusOne: Int32
    }

    private var entries: UnsafeMutablePointer<Entry>
    private var capacity: Int
    private var mask: Int
    private(set) var count = 0

    init(capacity requested: Int = 1024) {
        var c = 16
        while c < requested * 2 { c <<= 1 }
        capacity = c
        mask = c - 1
        entries = Self.emptyTable(c)
    }

    deinit { entries.deallocate() }

    private static func emptyTable(_ capacity: Int) -> UnsafeMutablePointer<Entry> {
        let p = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        p.initialize(repeating: Entry(key: 0, piece: 0, slotPlusOne: 0), count: capacity)
        return p
    }

    @inline(__always)
    private static func bucket(_ key: UInt64, _ piece: UInt32, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: mix64(key ^ (UInt64(piece) &* 0xD6E8_FEB8_6659_FD93))) & mask
    }

    /// The slot of (key, piece), or nil.
    @inline(__always)
    func find(_ key: UInt64, _ piece: UInt32) -> Int? {
        var b = Self.bucket(key, piece, mask)
        while true {
            let e = entries[b]
            if e.slotPlusOne == 0 { return nil }
            if e.key == key && e.piece == piece { return Int(e.slotPlusOne - 1) }
            b = (b + 1) & mask
        }
    }

    /// The slot of each of `keys` (piece `piece`) into `slots`, -1 where there is none.
    ///
    /// Looked up in groups of 16: the group's buckets are loaded first, 16 independent loads the memory
    /// system serves at once, then each key is resolved from cache. One key at a time, a cold table
    /// costs a full memory latency per key; the loop around the lookup is too long for the processor to
    /// run far enough ahead on its own.
    func find(_ keys: UnsafeBufferPointer<UInt64>, _ piece: UInt32, into slots: UnsafeMutablePointer<Int32>) {
        var touched: UInt64 = 0
        var start = 0
        while start < keys.count {
            let end = Swift.min(start + 16, keys.count)
            for i in start..<end { touched &+= entries[Self.bucket(keys[i], piece, mask)].key }
            for i in start..<end { slots[i] = find(keys[i], piece).map { Int32($0) } ?? -1 }
            start = end
        }
        warmed = touched
    }

    /// Where `find(_:_:into:)` leaves what its first loads read, so they are not optimised away.
    private var warmed: UInt64 = 0

    /// Records (key, piece) -> slot; the pair must not be present.
    func insert(_ key: UInt64, _ piece: UInt32, slot: Int) {
        if (count + 1) * 2 > capacity { grow() }
        var b = Self.bucket(key, piece, mask)
        while entries[b].slotPlusOne != 0 { b = (b + 1) & mask }
        entries[b] = Entry(key: key, piece: piece, slotPlusOne: Int32(slot + 1))
        count += 1
    }

    /// Calls `body` with (key, piece, slot) for at most `limit` entries from bucket `from` on, in bucket
    /// order; returns the bucket to continue from, or nil when the end was reached.
    func forEach(from: Int, limit: Int, _ body: (UInt64, UInt32, Int) throws -> Void) rethrows -> Int? {
        var done = 0, i = from
        while i < capacity {
            let e = entries[i]
            if e.slotPlusOne != 0 {
                if done == limit { return i }
                try body(e.key, e.piece, Int(e.slotPlusOne - 1))
                done += 1
            }
            i += 1
        }
        return nil
    }

    /// Whether the next `insert` doubles the table (rehashing every entry).
    var isFull: Bool { (count + 1) * 2 > capacity }

    /// A copy of this index at twice its capacity; this one is left as it is (a snapshot of the rows
    /// goes on reading it while the store inserts into the copy).
    func grown() -> RowIndex {
        let copy = RowIndex(capacity: capacity)
        copy.insertAll(from: entries, capacity: capacity)
        return copy
    }

    private func grow() {
        let (old, oldCapacity) = (entries, capacity)
        capacity *= 2
        mask = capacity - 1
        entries = Self.emptyTable(capacity)
        count = 0
        insertAll(from: old, capacity: oldCapacity)
        old.deallocate()
    }

    private func insertAll(from table: UnsafeMutablePointer<Entry>, capacity n: Int) {
        for i in 0..<n where table[i].slotPlusOne != 0 { insert(table[i].key, table[i].piece, slot: Int(table[i].slotPlusOne - 1)) }
    }
}
