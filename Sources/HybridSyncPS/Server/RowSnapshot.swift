import HybridSyncCore

/// A copy-on-write snapshot of a `RowStore`'s rows at one moment (a checkpoint's step boundary), read
/// while the store goes on changing: the server keeps applying pushes while it writes the snapshot.
///
/// Taking it copies nothing. Before the store changes a row the snapshot still needs, the snapshot
/// copies that row's page (`pageRows` rows of values, optimizer state and update counts); rows made
/// after the snapshot are not in it. When the store outgrows its arenas or its index, the snapshot
/// keeps the old ones instead of letting them be freed, and from then on nothing more is copied. So
/// the cost is one copy of each page touched while the snapshot is being written, at most one copy
/// of the table. Used only by the server's I/O thread, like the store.
final class RowSnapshot {
    /// Rows per copied page.
    static let pageRows = 64

    /// Rows the store held at the snapshot; slots from here on were made after it.
    let rows: Int
    /// The store's index at the snapshot (entries it gained later point at slots >= `rows`).
    let index: RowIndex
    private let spec: TableSpec
    private let width: Int
    private let stateSlots: Int
    private let stateWidth: Int
    private let values: UnsafeMutablePointer<Float>
    private let state: UnsafeMutablePointer<Float>
    private let steps: UnsafeMutablePointer<Int32>
    /// Whether the store has moved to new arenas, leaving these to the snapshot.
    private(set) var ownsArenas = false
    private var saved: [Page?]

    /// A page's rows as they were, copied before the store changed one of them.
    private final class Page {
        let values: UnsafeMutablePointer<Float>
        let state: UnsafeMutablePointer<Float>
        let steps: UnsafeMutablePointer<Int32>

        init(rows: Int, width: Int, stateWidth: Int) {
            values = .allocate(capacity: Swift.max(1, rows * width))
            state = .allocate(capacity: Swift.max(1, rows * stateWidth))
            steps = .allocate(capacity: Swift.max(1, rows))
        }

        deinit {
            values.deallocate()
            state.deallocate()
            steps.deallocate()
        }
    }

    init(
        spec: TableSpec, stateSlots: Int, rows: Int, index: RowIndex, values: UnsafeMutablePointer<Float>,
        state: UnsafeMutablePointer<Float>, steps: UnsafeMutablePointer<Int32>
    ) {
        self.spec = spec
        self.rows = rows
        self.index = index
        width = spec.pieceLength
        self.stateSlots = stateSlots
        stateWidth = stateSlots * spec.pieceLength
        self.values = values
        self.state = state
        self.steps = steps
        saved = Array(repeating: nil, count: (rows + Self.pageRows - 1) / Self.pageRows)
    }

    deinit {
        guard ownsArenas else { return }
        values.deallocate()
        state.deallocate()
        steps.deallocate()
    }

    /// The store is about to change the row in `slot`: its page is copied first if the snapshot still
    /// reads it from the store.
    @inline(__always)
    func willChange(slot: Int) {
        guard !ownsArenas, slot < rows, saved[slot / Self.pageRows] == nil else { return }
        save(page: slot / Self.pageRows)
    }

    /// `willChange(slot:)` for each of `slots`.
    func willChange(slots: [Int32]) {
        guard !ownsArenas else { return }
        for s in slots where Int(s) < rows && saved[Int(s) / Self.pageRows] == nil { save(page: Int(s) / Self.pageRows) }
    }

    /// The store has moved its rows to new arenas: the old ones, still holding every page not copied,
    /// are the snapshot's now (freed with it).
    func adoptArenas() { ownsArenas = true }

    private func save(page p: Int) {
        let first = p * Self.pageRows, n = Swift.min(Self.pageRows, rows - first)
        let page = Page(rows: n, width: width, stateWidth: stateWidth)
        page.values.initialize(from: values + first * width, count: n * width)
        page.state.initialize(from: state + first * stateWidth, count: n * stateWidth)
        page.steps.initialize(from: steps + first, count: n)
        saved[p] = page
    }

    /// Row `slot` as it was at the snapshot: its values, its optimizer state, its update count.
    @inline(__always)
    private func row(_ slot: Int) -> (values: UnsafePointer<Float>, state: UnsafePointer<Float>, step: Int32) {
        let p = slot / Self.pageRows
        if let page = saved[p] {
            let o = slot - p * Self.pageRows
            return (UnsafePointer(page.values + o * width), UnsafePointer(page.state + o * stateWidth), page.steps[o])
        }
        return (UnsafePointer(values + slot * width), UnsafePointer(state + slot * stateWidth), steps[slot])
    }

    /// Writes up to `rows` rows starting at index bucket `fromBucket`: key, piece, step, values (its
    /// piece's length), then each state slot. Returns the bucket to continue from (nil: all written)
    /// and how many rows it wrote.
    func write(to w: CheckpointWriter, fromBucket: Int, rows limit: Int) throws -> (Int?, Int) {
        var written = 0
        let next = try index.forEach(from: fromBucket, limit: limit) { key, piece, s in
            guard s < rows else { return }
            let n = spec.length(ofPiece: Int(piece))
            let r = row(s)
            try w.write(key)
            try w.write(piece)
            try w.write(r.step)
            try w.write(floats: r.values, count: n)
            for j in 0..<stateSlots { try w.write(floats: r.state + j * width, count: n) }
            written += 1
        }
        return (next, written)
    }
}
