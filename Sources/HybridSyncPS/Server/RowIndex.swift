/// An open-addressing hash index from (key, piece) to a row slot, linear probing, power-of-two capacity.
///
/// Faster than `Dictionary` for this hot path (no per-lookup SipHash, no boxing) and never allocates per
/// row: the three arrays double when the load passes 1/2.
struct RowIndex {
    private var keys: [UInt64]
    private var pieces: [UInt32]
    /// Slot + 1; 0 marks an empty bucket.
    private var slots: [Int32]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        keys = Array(repeating: 0, count: c)
        pieces = Array(repeating: 0, count: c)
        slots = Array(repeating: 0, count: c)
        mask = c - 1
    }

    @inline(__always)
    private static func bucket(_ key: UInt64, _ piece: UInt32, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: mix64(key ^ (UInt64(piece) &* 0xD6E8_FEB8_6659_FD93))) & mask
    }

    /// The slot of (key, piece), or nil.
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
    mutating func insert(_ key: UInt64, _ piece: UInt32, slot: Int) {
        if (count + 1) * 2 > slots.count { grow() }
        var b = Self.bucket(key, piece, mask)
        while slots[b] != 0 { b = (b + 1) & mask }
        keys[b] = key
        pieces[b] = piece
        slots[b] = Int32(slot + 1)
        count += 1
    }

    private mutating func grow() {
        let old = (keys, pieces, slots)
        let c = slots.count * 2
        keys = Array(repeating: 0, count: c)
        pieces = Array(repeating: 0, count: c)
        slots = Array(repeating: 0, count: c)
        mask = c - 1
        count = 0
        for i in old.2.indices where old.2[i] != 0 { insert(old.0[i], old.1[i], slot: Int(old.2[i] - 1)) }
    }
}
