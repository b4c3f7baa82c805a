import HybridSyncCore

/// The rows of one table on one server: values and optimizer state in contiguous arenas, a hash index
/// from (key, piece) to slot, rows created lazily on first touch with a deterministic initialiser.
///
/// No allocation per row: arenas grow geometrically. Each slot is `pieceLength` floats wide; the last
/// piece of a long row uses only its first `length(ofPiece:)` floats.
final class RowStore {
    struct RowKey: Hashable {
        let key: UInt64
        let piece: UInt32
    }

    let spec: TableSpec
    let salt: UInt64
    private let width: Int
    private let kernel: OptimizerKernel
    private var index: [RowKey: Int32] = [:]
    private var values: [Float] = []
    private var state: [Float] = []
    private var steps: [Int32] = []

    init(spec: TableSpec) {
        self.spec = spec
        salt = tableSalt(spec.name)
        width = spec.pieceLength
        kernel = OptimizerKernel(spec: spec.optimizer)
    }

    /// Rows stored.
    var rowCount: Int { steps.count }

    /// The slot of (key, piece), created and initialised on first touch.
    func slot(key: UInt64, piece: Int) -> Int {
        let k = RowKey(key: key, piece: UInt32(piece))
        if let s = index[k] { return Int(s) }
        let s = steps.count
        index[k] = Int32(s)
        steps.append(0)
        let base = piece * width
        switch spec.initializer {
        case .zeros:
            values.append(contentsOf: repeatElement(0, count: width))
        case .constant(let c):
            values.append(contentsOf: repeatElement(Float(c), count: width))
        case .uniform(let scale):
            let seed = mix64(salt ^ mix64(key))
            for e in 0..<width {
                let u = Double(mix64(seed &+ UInt64(base + e)) >> 11) * 0x1p-53
                values.append(Float(scale * (2 * u - 1)))
            }
        }
        let slots = kernel.stateSlots
        for j in 0..<slots { state.append(contentsOf: repeatElement(kernel.initialState(j), count: width)) }
        return s
    }

    /// Copies the first `n` floats of `slot` to `dst`.
    func read(slot: Int, into dst: UnsafeMutablePointer<Float>, count n: Int) {
        values.withUnsafeBufferPointer { v in dst.update(from: v.baseAddress! + slot * width, count: n) }
    }

    /// Applies gradient `g` (`n` floats) to `slot` with the table's optimizer.
    func apply(slot: Int, gradient g: UnsafePointer<Float>, count n: Int) {
        steps[slot] += 1
        let t = Int(steps[slot])
        let slots = kernel.stateSlots
        values.withUnsafeMutableBufferPointer { v in
            state.withUnsafeMutableBufferPointer { st in
                let statePointer = slots == 0 ? v.baseAddress! : st.baseAddress! + slot * width * slots
                kernel.apply(v.baseAddress! + slot * width, g, n, state: statePointer, step: t)
            }
        }
    }
}
