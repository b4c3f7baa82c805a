/// Finds a batch's distinct wide-table rows in one pass, without sorting or hashing: a stamp per row
/// of the table says whether the row was already seen in this batch (stamps of earlier batches are
/// stale by construction), and where it sits among the distinct ones. 8 bytes a table row, allocated
/// once; a batch costs one random access per feature.
public struct DistinctRows: Sendable {
    private var stamp: [UInt32]
    private var position: [Int32]
    private var batch: UInt32 = 0

    /// Stamps for a table of `tableRows` rows.
    public init(tableRows: Int) {
        stamp = [UInt32](repeating: 0, count: tableRows)
        position = [Int32](repeating: 0, count: tableRows)
    }

    /// The distinct ids of `all` in order of first appearance, and for each of `all`'s features its
    /// position among them. Every id must be below the table's row count.
    public mutating func callAsFunction(_ all: [UInt64]) -> (unique: [UInt64], slot: [Int]) {
        batch &+= 1
        if batch == 0 {
            // 2^32 batches later: forget every stamp once rather than mistake an old one for this batch's.
            for i in stamp.indices { stamp[i] = 0 }
            batch = 1
        }
        var unique: [UInt64] = []
        unique.reserveCapacity(all.count)
        var slot = [Int](repeating: 0, count: all.count)
        let now = batch
        stamp.withUnsafeMutableBufferPointer { st in
            position.withUnsafeMutableBufferPointer { pos in
                for (j, id) in all.enumerated() {
                    let i = Int(id)
                    if st[i] != now {
                        st[i] = now
                        pos[i] = Int32(unique.count)
                        unique.append(id)
                    }
                    slot[j] = Int(pos[i])
                }
            }
        }
        return (unique, slot)
    }
}
