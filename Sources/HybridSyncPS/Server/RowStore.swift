import HybridSyncCore

/// The rows of one table on one server: values and optimizer state in contiguous arenas, a hash index
/// from (key, piece) to slot, rows created lazily on first touch with a deterministic initialiser.
///
/// No allocation per row: arenas double when full. Each slot is `pieceLength` floats wide; the last
/// piece of a long row uses only its first `length(ofPiece:)` floats. Used only by the server's I/O thread.
final class RowStore {
    /// A row piece's identity (BSP accumulation keys on it).
    struct RowKey: Hashable {
        let key: UInt64
        let piece: UInt32
    }

    let spec: TableSpec
    let salt: UInt64
    private let width: Int
    private let kernel: OptimizerKernel
    private let stateWidth: Int
    private var index = RowIndex()
    private var values: UnsafeMutablePointer<Float>
    private var state: UnsafeMutablePointer<Float>
    private var steps: UnsafeMutablePointer<Int32>
    private var capacity = 0
    /// Rows stored.
    private(set) var rowCount = 0
    /// The snapshot being written, if any: told before a row it holds changes.
    private var snapshot: RowSnapshot?

    init(spec: TableSpec) {
        self.spec = spec
        salt = tableSalt(spec.name)
        width = spec.pieceLength
        kernel = OptimizerKernel(spec: spec.optimizer)
        stateWidth = kernel.stateSlots * spec.pieceLength
        values = .allocate(capacity: 1)
        state = .allocate(capacity: 1)
        steps = .allocate(capacity: 1)
    }

    deinit {
        values.deallocate()
        state.deallocate()
        steps.deallocate()
    }

    private func grow() {
        let newCapacity = Swift.max(64, capacity * 2)
        // A snapshot reading these arenas keeps them (and frees them); otherwise they go.
        let keep = snapshot.map { !$0.ownsArenas } ?? false
        func move<T>(_ old: UnsafeMutablePointer<T>, _ perRow: Int) -> UnsafeMutablePointer<T> {
            let fresh = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, newCapacity * perRow))
            fresh.initialize(from: old, count: rowCount * perRow)
            if !keep { old.deallocate() }
            return fresh
        }
        values = move(values, width)
        state = move(state, stateWidth)
        steps = move(steps, 1)
        capacity = newCapacity
        if keep { snapshot?.adoptArenas() }
    }

    /// A copy-on-write snapshot of the rows as they are now, for a checkpoint written while pushes go
    /// on being applied; `endSnapshot` lets it go. One at a time: while one is open it is returned again.
    func takeSnapshot() -> RowSnapshot {
        if let snapshot { return snapshot }
        let s = RowSnapshot(spec: spec, stateSlots: kernel.stateSlots, rows: rowCount, index: index, values: values, state: state, steps: steps)
        snapshot = s
        return s
    }

    /// The snapshot is written (or abandoned): rows change without copies again.
    func endSnapshot() { snapshot = nil }

    /// Whether (key, piece) has a row.
    func contains(key: UInt64, piece: Int) -> Bool { index.find(key, UInt32(piece)) != nil }

    /// Bytes one row takes: values, optimizer state, update count, and its index entry.
    var bytesPerRow: Int { (width + stateWidth) * 4 + 4 + 16 }

    /// Bytes of the rows stored.
    var bytes: Int { rowCount * bytesPerRow }

    /// The slot of (key, piece), created and initialised on first touch.
    @inline(__always)
    func slot(key: UInt64, piece: Int) -> Int {
        if let s = index.find(key, UInt32(piece)) { return s }
        return create(key: key, piece: piece)
    }

    /// A new row for (key, piece): initialised, unless its contents are about to be set (`restore`).
    private func create(key: UInt64, piece: Int, initialize: Bool = true) -> Int {
        if rowCount == capacity { grow() }
        // The snapshot goes on reading the index it was taken with: a full one is copied, not rehashed.
        if let snapshot, snapshot.index === index, index.isFull { index = index.grown() }
        let s = rowCount
        rowCount += 1
        index.insert(key, UInt32(piece), slot: s)
        steps[s] = 0
        guard initialize else { return s }
        let row = values + s * width
        let base = piece * width
        for e in 0..<width { row[e] = spec.initializer.value(tableSalt: salt, key: key, element: base + e) }
        if stateWidth > 0 {
            for j in 0..<kernel.stateSlots {
                (state + s * stateWidth + j * width).initialize(repeating: kernel.initialState(j), count: width)
            }
        }
        return s
    }

    /// The slots of `keys`' rows (piece `piece`), in order, each created and initialised on first touch
    /// (in the order of `keys`, as one lookup at a time would).
    func slots(keys: [UInt64], piece: Int) -> [Int32] {
        [Int32](unsafeUninitializedCapacity: keys.count) { slots, initialized in
            keys.withUnsafeBufferPointer { k in
                guard let base = slots.baseAddress else { return }
                index.find(k, UInt32(piece), into: base)
                for i in k.indices where base[i] < 0 { base[i] = Int32(slot(key: k[i], piece: piece)) }
            }
            initialized = keys.count
        }
    }

    /// Writes the first `n` floats of each of `keys`' rows (piece `piece`) to `dst` in `encoding`, one
    /// row after another (`n * encoding.byteWidth` bytes a row), straight from the store.
    func read(keys: [UInt64], piece: Int, as encoding: RowEncoding, into dst: UnsafeMutableRawPointer, count n: Int) {
        let rowBytes = n * encoding.byteWidth
        for (j, s) in slots(keys: keys, piece: piece).enumerated() {
            encoding.encode(values + Int(s) * width, count: n, into: dst + j * rowBytes)
        }
    }

    /// Applies one gradient row per key (`keys[i]`'s row at `g + i * n`); keys must be unique. Rows are
    /// created on first touch. The slots are looked up first, a group at a time; the optimizer's branch
    /// is taken once per call, with `OptimizerKernel`'s row arithmetic: the same code the workers'
    /// local tables and dense parameters run.
    func apply(keys: [UInt64], piece: Int, gradients g: UnsafePointer<Float>, rowLength n: Int) {
        let slots = slots(keys: keys, piece: piece)
        snapshot?.willChange(slots: slots)
        switch kernel.spec {
        case .accumulate:
            for (i, s) in slots.enumerated() {
                steps[Int(s)] += 1
                OptimizerKernel.accumulate(values + Int(s) * width, g + i * n, n)
            }
        case .sgd(let lr):
            let a = Float(lr)
            for (i, s) in slots.enumerated() {
                steps[Int(s)] += 1
                OptimizerKernel.sgd(values + Int(s) * width, g + i * n, n, a)
            }
        case let .adagrad(lr, eps, _):
            let a = Float(lr), ep = Float(eps)
            for (i, s) in slots.enumerated() {
                steps[Int(s)] += 1
                OptimizerKernel.adagrad(values + Int(s) * width, state + Int(s) * stateWidth, g + i * n, n, a, ep)
            }
        case .adam:
            // One call for every row, so the kernel computes the bias corrections (two `pow`) once per
            // distinct step count rather than once a row; it counts the steps.
            let rows = slots.map { Int($0) }
            rows.withUnsafeBufferPointer { r in
                guard let first = r.baseAddress else { return }
                kernel.apply(
                    rows: r.count, length: n, gradients: g, slots: first, values: values, width: width,
                    state: state, stateWidth: stateWidth, steps: steps)
            }
        }
    }

    /// Optimizer state slots per element of this table.
    var stateSlots: Int { kernel.stateSlots }

    /// Up to `limit` rows from index bucket `fromBucket`, each handed to `body` as its key, piece and
    /// the restore layout: its step as a float's bits, its values, then each state slot (`1 + n * (1 +
    /// stateSlots)` floats for a piece of length n). Returns the bucket to continue from (nil: done).
    func export(fromBucket: Int, limit: Int, _ body: (UInt64, Int, UnsafeBufferPointer<Float>) -> Void) -> Int? {
        var row = [Float](repeating: 0, count: 1 + width * (1 + kernel.stateSlots))
        return index.forEach(from: fromBucket, limit: limit) { key, piece, s in
            let n = spec.length(ofPiece: Int(piece))
            row.withUnsafeMutableBufferPointer { r in
                r[0] = Float(bitPattern: UInt32(bitPattern: steps[s]))
                (r.baseAddress! + 1).update(from: values + s * width, count: n)
                for j in 0..<kernel.stateSlots { (r.baseAddress! + 1 + (1 + j) * n).update(from: state + s * stateWidth + j * width, count: n) }
                body(key, Int(piece), UnsafeBufferPointer(rebasing: r[0..<(1 + n * (1 + kernel.stateSlots))]))
            }
        }
    }

    /// Sets one row exactly as a checkpoint holds it (values, optimizer state, step), creating it if
    /// needed. `data` holds the values, then each state slot, `length(ofPiece:)` floats each.
    func restore(key: UInt64, piece: Int, step: Int32, data: UnsafePointer<Float>) {
        let s = index.find(key, UInt32(piece)) ?? create(key: key, piece: piece, initialize: false)
        snapshot?.willChange(slot: s)
        let n = spec.length(ofPiece: piece)
        steps[s] = step
        (values + s * width).update(from: data, count: n)
        for j in 0..<kernel.stateSlots { (state + s * stateWidth + j * width).update(from: data + (1 + j) * n, count: n) }
    }
}
