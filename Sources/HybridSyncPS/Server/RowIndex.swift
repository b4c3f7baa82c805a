/// An open-addressing hash index from (key, piece) to a row slot, linear probing, power-of-two capacity.
///
/// Faster than `Dictionary` on this hot path (no per-lookup SipHash, no bounds checks) and never
/// allocates per row: the tables double when the load passes 1/2. Used by one thread (the server's).
final class RowIndex {
    private var keys: UnsafeMutablePointer<UInt64>
    private var pieces: UnsafeMutablePointer<UInt32>
    /// Slot + 1; 0 marks an empty bucket.
    private var slots: UnsafeMutablePointer<Int32>
    private var capacity: Int
    private var mask: Int
    private(set) var count = 0

    init(capacity requested: Int = 1024) {
        var c = 16
        while c < requested * 2 { c <<= 1 }
        capacity = c
        mask = c - 1
        keys = .allocate(capacity: c)
        pieces = .allocate(capacity: c)
        slots = .allocate(capacity: c)
        slots.initialize(repeating: 0, count: c)
    }

    deinit {
        keys.deallocate()
        pieces.deallocate()
        slots.deallocate()
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
            let s = slots[b]
            if s == 0 { return nil }
            if keys[b] == key && pieces[b] == piece { return Int(s - 1) }
            b = (b + 1) & mask
        }
    }

    /// Records (key, piece) -> slot; the pair must not be present.
    func insert(_ key: UInt64, _ piece: UInt32, slot: Int) {
        if (count + 1) * 2 > capacity { grow() }
        var b = Self.bucket(key, piece, mask)
        while slots[b] != 0 { b = (b + 1) & mask }
        keys[b] = key
        pieces[b] = piece
        slots[b] = Int32(slot + 1)
        count += 1
    }

    /// Calls `body` with (key, piece, slot) for at most `limit` entries from bucket `from` on, in bucket
    /// order; returns the bucket to continue from, or nil when the end was reached.
    func forEach(from: Int, limit: Int, _ body: (UInt64, UInt32, Int) throws -> Void) rethrows -> Int? {
        var done = 0, i = from
        while i < capacity {
            if slots[i] != 0 {
                if done == limit { return i }
                try body(keys[i], pieces[i], Int(slots[i] - 1))
                done += 1
            }
            i += 1
        }
        return nil
    }

    private func grow() {
        let (oldKeys, oldPieces, oldSlots, oldCapacity) = (keys, pieces, slots, capacity)
        capacity *= 2
        mask = capacity - 1
        keys = .allocate(capacity: capacity)
        pieces = .allocate(capacity: capacity)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        count = 0
        for i in 0..<oldCapacity where oldSlots[i] != 0 { insert(oldKeys[i], oldPieces[i], slot: Int(oldSlots[i] - 1)) }
        oldKeys.deallocate()
        oldPieces.deallocate()
        oldSlots.deallocate()
    }
}
