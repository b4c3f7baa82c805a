import HybridSyncCore

extension SparseRows {
    /// Throws `shapeMismatch` naming the table unless `values` holds `keys.count * dimension` floats.
    package func checkShape(dimension: Int) throws {
        guard values.count == keys.count * dimension else {
            throw HybridSyncError.shapeMismatch(
                what: "gradient of table '\(table)'", expected: "\(keys.count * dimension) elements",
                got: "\(values.count)")
        }
    }

    /// Adds row `i` of `values` into row `slots[i]` of `out` (rows of `dimension` floats), so the
    /// gradients of a key given several times are summed. The one place duplicate keys are summed on a
    /// worker. `slots` holds one in-range row index of `out` per key; `checkShape` has passed.
    package func sumRows(into out: UnsafeMutableBufferPointer<Float>, slots: [Int], dimension: Int) {
        guard let dst = out.baseAddress else { return }
        values.withUnsafeBufferPointer { v in
            guard let src = v.baseAddress else { return }
            for (i, u) in slots.enumerated() {
                let d = dst + u * dimension, s = src + i * dimension
                for e in 0..<dimension { d[e] += s[e] }
            }
        }
    }
}
