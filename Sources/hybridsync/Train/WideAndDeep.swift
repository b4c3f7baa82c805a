import HybridSyncCollectives
import HybridSyncCore

/// A wide-and-deep classifier for 28x28 images, 10 classes.
///
/// - wide: hashed crossed pixel features (unigrams of a 14x14, 4-level quantisation and crosses of
///   horizontally and vertically adjacent cells) into a table of `wideRows` rows x 10 logits;
/// - deep: an MLP 784 -> `hidden` (ReLU) -> 10.
/// logits = wide + deep; softmax cross-entropy.
struct WideAndDeep {
    static let classes = 10
    let hidden: Int
    let wideRows: Int
    let w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor

    init(hidden: Int, wideRows: Int, seed: UInt64) throws {
        self.hidden = hidden
        self.wideRows = wideRows
        func uniform(_ n: Int, _ scale: Float, _ salt: UInt64) -> [Float] {
            (0..<n).map { Float(Double(splitMix64(seed ^ salt &+ UInt64($0)) >> 11) * 0x1p-53 * 2 - 1) * scale }
        }
        w1 = try Tensor(name: "deep.w1", values: uniform(784 * hidden, (6 / Float(784 + hidden)).squareRoot(), 1 << 40))
        b1 = try Tensor(name: "deep.b1", values: [Float](repeating: 0, count: hidden))
        w2 = try Tensor(name: "deep.w2", values: uniform(hidden * 10, (6 / Float(hidden + 10)).squareRoot(), 2 << 40))
        b2 = try Tensor(name: "deep.b2", values: [Float](repeating: 0, count: 10))
    }

    /// The wide feature ids of one image (may repeat).
    func features(_ image: UnsafeBufferPointer<UInt8>) -> [UInt64] {
        var level = [UInt8](repeating: 0, count: 196)
        for y in 0..<14 {
            for x in 0..<14 {
                let s = Int(image[(2 * y) * 28 + 2 * x]) + Int(image[(2 * y) * 28 + 2 * x + 1])
                    + Int(image[(2 * y + 1) * 28 + 2 * x]) + Int(image[(2 * y + 1) * 28 + 2 * x + 1])
                level[y * 14 + x] = UInt8(min(3, s / 256))
            }
        }
        var out: [UInt64] = []
        out.reserveCapacity(400)
        let mask = UInt64(wideRows - 1)
        for c in 0..<196 where level[c] > 0 { out.append(splitMix64(UInt64(c) << 8 | UInt64(level[c])) & mask) }
        for y in 0..<14 {
            for x in 0..<14 {
                let c = y * 14 + x
                if x < 13 && (level[c] | level[c + 1]) > 0 {
                    out.append(splitMix64(1 << 32 | UInt64(c) << 8 | UInt64(level[c]) << 4 | UInt64(level[c + 1])) & mask)
                }
                if y < 13 && (level[c] | level[c + 14]) > 0 {
                    out.append(splitMix64(2 << 32 | UInt64(c) << 8 | UInt64(level[c]) << 4 | UInt64(level[c + 14])) & mask)
                }
            }
        }
        return out
    }

    struct Gradients {
        let w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor
        var wideIds: [UInt64] = []
        var wideValues: [Float] = []
    }

    func makeGradients() throws -> Gradients {
        Gradients(w1: try Tensor(name: "deep.w1", dtype: .float32, count: w1.count), b1: try Tensor(name: "deep.b1", dtype: .float32, count: hidden),
                  w2: try Tensor(name: "deep.w2", dtype: .float32, count: w2.count), b2: try Tensor(name: "deep.b2", dtype: .float32, count: 10))
    }

    /// Logits of one image. `wide` holds the sum of the image's pulled wide rows (10 logits).
    ///
    /// Written the way a fast step is: every loop runs over raw buffer pointers (no per-element array
    /// uniqueness or bounds checks), and the inner loops are plain `a[j] += v * b[j]` over contiguous
    /// rows, which the compiler vectorises. The arithmetic and its order are the scalar version's, so
    /// results are bit-for-bit the same.
    func forward(_ x: UnsafeBufferPointer<UInt8>, wide: [Float], h: inout [Float]) throws -> [Float] {
        var logits = wide
        let n = hidden
        try w1.withElements(as: Float.self) { w in
            try b1.withElements(as: Float.self) { b in
                h.withUnsafeMutableBufferPointer { hb in
                    let hp = hb.baseAddress!, wp = w.baseAddress!
                    hp.update(from: b.baseAddress!, count: n)
                    for i in 0..<784 where x[i] != 0 {
                        let v = Float(x[i]) / 255
                        let row = wp + i * n
                        for j in 0..<n { hp[j] += v * row[j] }
                    }
                    for j in 0..<n where hp[j] < 0 { hp[j] = 0 }
                }
            }
        }
        try w2.withElements(as: Float.self) { w in
            try b2.withElements(as: Float.self) { b in
                h.withUnsafeBufferPointer { hb in
                    logits.withUnsafeMutableBufferPointer { lb in
                        let hp = hb.baseAddress!, wp = w.baseAddress!
                        for k in 0..<10 {
                            var s = b[k]
                            for j in 0..<n { s += hp[j] * wp[j * 10 + k] }
                            lb[k] += s
                        }
                    }
                }
            }
        }
        return logits
    }

    /// Softmax probabilities and the loss of `label`.
    static func softmax(_ logits: [Float], label: Int) -> ([Float], Float) {
        let m = logits.max()!
        var p = logits.map { expf($0 - m) }
        let s = p.reduce(0, +)
        for k in p.indices { p[k] /= s }
        return (p, -logf(max(p[label], 1e-12)))
    }

    /// Accumulates the gradient of one sample (scaled by `scale`) into `g`; returns d(logits). Raw
    /// pointers throughout, as in `forward`, with the same arithmetic in the same order.
    func backward(_ x: UnsafeBufferPointer<UInt8>, h: [Float], dlogits: [Float], scale: Float, into g: Gradients) throws {
        let n = hidden
        var dh = [Float](repeating: 0, count: n)
        try dh.withUnsafeMutableBufferPointer { dhb in
            let dp = dhb.baseAddress!
            try h.withUnsafeBufferPointer { hb in
                try dlogits.withUnsafeBufferPointer { db in
                    let hp = hb.baseAddress!, dl = db.baseAddress!
                    try w2.withElements(as: Float.self) { w in
                        try g.w2.withElements(as: Float.self) { gw in
                            try g.b2.withElements(as: Float.self) { gb in
                                let wp = w.baseAddress!, gwp = gw.baseAddress!
                                for k in 0..<10 { gb[k] += dl[k] * scale }
                                for j in 0..<n where hp[j] > 0 {
                                    var d: Float = 0
                                    for k in 0..<10 {
                                        gwp[j * 10 + k] += hp[j] * dl[k] * scale
                                        d += wp[j * 10 + k] * dl[k]
                                    }
                                    dp[j] = d * scale
                                }
                            }
                        }
                    }
                }
            }
            try g.w1.withElements(as: Float.self) { gw in
                try g.b1.withElements(as: Float.self) { gb in
                    let gbp = gb.baseAddress!, gwp = gw.baseAddress!
                    for j in 0..<n { gbp[j] += dp[j] }
                    for i in 0..<784 where x[i] != 0 {
                        let v = Float(x[i]) / 255
                        let row = gwp + i * n
                        for j in 0..<n { row[j] += v * dp[j] }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
