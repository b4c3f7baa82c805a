import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// An embedding table held in full on every worker, for tables the planner routes to the ring: sparse
/// gradients are scattered into a dense gradient, averaged over the ring, and applied here with the
/// table's optimizer to every row whose averaged gradient is not zero.
final class LocalTable {
    let spec: TableSpec
    let rows: Int
    private var values: [Float]
    private var state: [Float]
    private var steps: [Int32]
    private let kernel: OptimizerKernel
    /// The densified gradient, reused every step.
    private let gradient: Tensor

    init(spec: TableSpec, rows: Int, fill: [Float]?) throws {
        self.spec = spec
        self.rows = rows
        kernel = OptimizerKernel(spec: spec.optimizer)
        let d = spec.dimension
        if let fill {
            values = fill
        } else {
            let salt = tableSalt(spec.name)
            values = [Float](repeating: 0, count: rows * d)
            for r in 0..<rows { for e in 0..<d { values[r * d + e] = spec.initializer.value(tableSalt: salt, key: UInt64(r), element: e) } }
        }
        // Adagrad's accumulator starts at its initial value; Adam's moments at zero.
        state = [Float](repeating: kernel.initialState(0), count: kernel.stateSlots * rows * d)
        steps = [Int32](repeating: 0, count: rows)
        gradient = try Tensor(name: "table:" + spec.name, dtype: .float32, count: rows * d)
    }

    private func check(_ id: UInt64) throws -> Int {
        guard id < UInt64(rows) else { throw HybridSyncError.invalidArgument(.range, "id \(id) outside table '\(spec.name)' of \(rows) rows") }
        return Int(id)
    }

    func rows(_ ids: [UInt64]) throws -> PulledRows {
        let d = spec.dimension
        let rowIndex = try ids.map(check)
        // A row at a time through buffer pointers: the element loop over the arrays (a class's stored
        // property) paid an exclusivity and a bounds check per float.
        let out = [Float](unsafeUninitializedCapacity: ids.count * d) { out, initialized in
            values.withUnsafeBufferPointer { v in
                for (i, r) in rowIndex.enumerated() {
                    _ = UnsafeMutableBufferPointer(rebasing: out[(i * d)..<((i + 1) * d)]).initialize(fromContentsOf: v[(r * d)..<((r + 1) * d)])
                }
            }
            initialized = ids.count * d
        }
        return PulledRows(table: spec.name, keys: ids, dimension: d, values: out)
    }

    /// Scatters `g` (duplicates summed) into the reusable dense gradient.
    func densify(_ g: SparseRows) throws -> Tensor {
        let d = spec.dimension
        try g.checkShape(dimension: d)
        let rowIndex = try g.keys.map(check)
        try gradient.withElements(as: Float.self) { dst in
            dst.update(repeating: 0)
            g.sumRows(into: dst, slots: rowIndex, dimension: d)
        }
        return gradient
    }

    /// Applies the averaged dense gradient to every row it touches (with the servers' arithmetic:
    /// `OptimizerKernel`, rows in ascending order).
    func apply(_ g: Tensor) {
        let d = spec.dimension, width = kernel.stateSlots * d
        g.rawPointer.withMemoryRebound(to: Float.self, capacity: rows * d) { gp in
            var touched: [Int] = []
            for r in 0..<rows {
                let row = gp + r * d
                for e in 0..<d where row[e] != 0 { touched.append(r); break }
            }
            guard !touched.isEmpty else { return }
            values.withUnsafeMutableBufferPointer { v in
                state.withUnsafeMutableBufferPointer { st in
                    steps.withUnsafeMutableBufferPointer { sp in
                        touched.withUnsafeBufferPointer { t in
                            kernel.apply(
                                rows: t.count, length: d, gradients: gp, gradientRows: t.baseAddress!, slots: t.baseAddress!,
                                values: v.baseAddress!, width: d, state: width == 0 ? v.baseAddress! : st.baseAddress!,
                                stateWidth: width, steps: sp.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    /// Writes values, optimizer state and per-row steps (for a checkpoint).
    func write(to w: CheckpointWriter) throws {
        try w.write(UInt64(rows))
        try values.withUnsafeBufferPointer { try w.write(floats: $0.baseAddress!, count: $0.count) }
        try w.write(UInt64(state.count))
        try state.withUnsafeBufferPointer { if let b = $0.baseAddress { try w.write(floats: b, count: $0.count) } }
        for s in steps { try w.write(s) }
    }

    /// Reads what `write(to:)` wrote, over this table's current contents. Throws if the shapes differ.
    func restore(from r: CheckpointReader) throws {
        let n = Int(try r.read(UInt64.self))
        guard n == rows else { throw HybridSyncError.checkpoint(.incompatible, file: r.path, reason: "table '\(spec.name)' has \(n) rows there, \(rows) here") }
        try values.withUnsafeMutableBufferPointer { try r.read(floats: $0.baseAddress!, count: $0.count) }
        let s = Int(try r.read(UInt64.self))
        guard s == state.count else {
            throw HybridSyncError.checkpoint(.incompatible, file: r.path, reason: "table '\(spec.name)': optimizer state of \(s) floats, \(state.count) here")
        }
        try state.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { try r.read(floats: b, count: $0.count) } }
        for i in 0..<rows { steps[i] = try r.read(Int32.self) }
    }
}
