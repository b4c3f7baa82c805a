/// Rows as a checkpoint holds them, a chunk at a time, in flat arrays (no array per row): for row i its
/// key, piece, update count, and `data(of: i)`: its values then each optimizer state slot
/// (`length(ofPiece:)` floats each).
package struct CheckpointRows: Sendable {
    package private(set) var keys: [UInt64] = []
    package private(set) var pieces: [Int] = []
    package private(set) var steps: [Int32] = []
    /// Where row i's data starts in `floats`; one more entry than rows.
    private var starts: [Int] = [0]
    /// Every row's data, one after another.
    package private(set) var floats: [Float] = []

    package init(reservingRows rows: Int = 0, floats: Int = 0) {
        keys.reserveCapacity(rows)
        pieces.reserveCapacity(rows)
        steps.reserveCapacity(rows)
        starts.reserveCapacity(rows + 1)
        self.floats.reserveCapacity(floats)
    }

    /// Rows held.
    package var count: Int { keys.count }
    package var isEmpty: Bool { keys.isEmpty }

    /// Row i's values then its optimizer state.
    package func data(of i: Int) -> ArraySlice<Float> { floats[starts[i]..<starts[i + 1]] }

    /// Appends a row of `width` floats, which `fill` writes into the new space.
    package mutating func append(
        key: UInt64, piece: Int, step: Int32, width: Int,
        _ fill: (UnsafeMutableBufferPointer<Float>) throws -> Void
    ) rethrows {
        let start = floats.count
        floats.append(contentsOf: repeatElement(0, count: width))
        try floats.withUnsafeMutableBufferPointer { try fill(UnsafeMutableBufferPointer(rebasing: $0[start..<(start + width)])) }
        keys.append(key)
        pieces.append(piece)
        steps.append(step)
        starts.append(floats.count)
    }

    /// Appends a row whose data is `data`.
    package mutating func append(key: UInt64, piece: Int, step: Int32, data: [Float]) {
        append(key: key, piece: piece, step: step, width: data.count) { _ = $0.update(fromContentsOf: data) }
    }

    package mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        pieces.removeAll(keepingCapacity: true)
        steps.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
        floats.removeAll(keepingCapacity: true)
    }
}
