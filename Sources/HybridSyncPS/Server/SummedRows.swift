/// The rows of one (table, piece) about to be applied, in the order their gradients must be added:
/// rows that share a key are summed in that order, then every key is applied once, in key order, so
/// the optimizer sees one gradient per row and float sums come out the same every run. A sort, not a
/// hash map per row. Both a single push with repeated or unsorted keys and a BSP step's held pushes
/// go through it.
struct SummedRows {
    private var rows: [(key: UInt64, source: Int32, row: Int32)] = []

    init(capacity: Int) { rows.reserveCapacity(capacity) }

    /// Adds row `row` of source `source` (a push) under `key`; sources and rows in adding order.
    mutating func append(key: UInt64, source: Int, row: Int) { rows.append((key, Int32(source), Int32(row))) }

    /// Sorts by key (then source, then row), sums each key's rows in that order and applies them to
    /// `store` in one call. `withSource(s, body)` lends source `s`'s gradients (row r at `r * rowLength`).
    mutating func apply(
        to store: RowStore, piece: Int, rowLength n: Int, withSource: (Int, (UnsafePointer<Float>) -> Void) -> Void
    ) {
        guard !rows.isEmpty else { return }
        rows.sort { ($0.key, $0.source, $0.row) < ($1.key, $1.source, $1.row) }
        var keys: [UInt64] = []
        var flat = [Float]()
        flat.reserveCapacity(rows.count * n)
        for e in rows {
            withSource(Int(e.source)) { base in
                let src = base + Int(e.row) * n
                if keys.last == e.key {
                    flat.withUnsafeMutableBufferPointer { f in
                        let dst = f.baseAddress! + (keys.count - 1) * n
                        for x in 0..<n { dst[x] += src[x] }
                    }
                } else {
                    keys.append(e.key)
                    flat.append(contentsOf: UnsafeBufferPointer(start: src, count: n))
                }
            }
        }
        flat.withUnsafeBufferPointer { store.apply(keys: keys, piece: piece, gradients: $0.baseAddress!, rowLength: n) }
    }
}
