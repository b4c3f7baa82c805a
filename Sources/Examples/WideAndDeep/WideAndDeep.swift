import HybridSync

/// A wide-and-deep classifier for 28x28 images, 10 classes.
///
/// - wide: hashed crossed pixel features (unigrams of a 14x14, 4-level quantisation and crosses of
///   horizontally and vertically adjacent cells) into a table of `wideRows` rows x 10 logits;
/// - deep: an MLP 784 -> `hidden` (ReLU) -> 10.
/// logits = wide + deep; softmax cross-entropy.
public struct WideAndDeep {
    /// Output classes.
    public static let classes = 10
    /// Hidden units of the MLP.
    public let hidden: Int
    /// Rows of the wide table (a power of two).
    public let wideRows: Int
    /// The MLP's parameters (`deep.w1`, `deep.b1`, `deep.w2`, `deep.b2`).
    public let w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor

    /// A model with seeded Glorot-uniform weights and zero biases.
    public init(hidden: Int, wideRows: Int, seed: UInt64) throws {
        self.hidden = hidden
        self.wideRows = wideRows
        func uniform(_ n: Int, _ scale: Float, _ salt: UInt64) -> [Float] {
            (0..<n).map { Float(Double(mix64(seed ^ salt &+ UInt64($0)) >> 11) * 0x1p-53 * 2 - 1) * scale }
        }
        w1 = try Tensor(name: "deep.w1", values: uniform(784 * hidden, (6 / Float(784 + hidden)).squareRoot(), 1 << 40))
        b1 = try Tensor(name: "deep.b1", values: [Float](repeating: 0, count: hidden))
        w2 = try Tensor(name: "deep.w2", values: uniform(hidden * 10, (6 / Float(hidden + 10)).squareRoot(), 2 << 40))
        b2 = try Tensor(name: "deep.b2", values: [Float](repeating: 0, count: 10))
    }

    /// The wide feature ids of one image (may repeat).
    public func features(_ image: UnsafeBufferPointer<UInt8>) -> [UInt64] {
        var level = [UInt8](repeating: 0, count: 196)
        for y in 0..<14 {
            for x in 0..<14 {
                let s =
                    Int(image[(2 * y) * 28 + 2 * x]) + Int(image[(2 * y) * 28 + 2 * x + 1])
                    + Int(image[(2 * y + 1) * 28 + 2 * x]) + Int(image[(2 * y + 1) * 28 + 2 * x + 1])
                level[y * 14 + x] = UInt8(min(3, s / 256))
            }
        }
        var out: [UInt64] = []
        out.reserveCapacity(400)
        let mask = UInt64(wideRows - 1)
        for c in 0..<196 where level[c] > 0 { out.append(mix64(UInt64(c) << 8 | UInt64(level[c])) & mask) }
        for y in 0..<14 {
            for x in 0..<14 {
                let c = y * 14 + x
                if x < 13 && (level[c] | level[c + 1]) > 0 {
                    out.append(mix64(1 << 32 | UInt64(c) << 8 | UInt64(level[c]) << 4 | UInt64(level[c + 1])) & mask)
                }
                if y < 13 && (level[c] | level[c + 14]) > 0 {
                    out.append(mix64(2 << 32 | UInt64(c) << 8 | UInt64(level[c]) << 4 | UInt64(level[c + 14])) & mask)
                }
            }
        }
        return out
    }

    /// The MLP's gradients, one tensor per parameter, named as the parameters.
    public struct Gradients {
        public let w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor
    }

    /// Zero gradients of the MLP's shapes.
    public func makeGradients() throws -> Gradients {
        Gradients(
            w1: try Tensor(name: "deep.w1", dtype: .float32, count: w1.count), b1: try Tensor(name: "deep.b1", dtype: .float32, count: hidden),
            w2: try Tensor(name: "deep.w2", dtype: .float32, count: w2.count), b2: try Tensor(name: "deep.b2", dtype: .float32, count: 10))
    }

    /// One batch's inputs and activations, kept from `forward` to `backward`. Pixels are stored
    /// pixel-major (`x[i * count + b]`, scaled to [0, 1]), so each row of `w1` and of its gradient is
    /// read once per batch, for all the batch's images, instead of once per image: the 400 KB of `w1`
    /// would not stay in cache across 32 images, the batch's 16 KB of hidden units do.
    public struct Batch {
        /// Images in the batch.
        public private(set) var count = 0

        /// An empty batch (`load` fills it).
        public init() {}
        fileprivate var x: [Float] = []
        fileprivate var h: [Float] = []
        fileprivate var logits: [Float] = []

        /// Loads `count` images (the `image(b)` pixels) and the sums of their pulled wide rows (`wide`,
        /// `count` x 10 logits).
        public mutating func load(count: Int, hidden: Int, image: (Int) -> UnsafeBufferPointer<UInt8>, wide: [Float]) {
            self.count = count
            if x.count < 784 * count { x = [Float](repeating: 0, count: 784 * count) }
            if h.count < hidden * count { h = [Float](repeating: 0, count: hidden * count) }
            logits = wide
            x.withUnsafeMutableBufferPointer { xb in
                for b in 0..<count {
                    let img = image(b)
                    for i in 0..<784 { xb[i * count + b] = Float(img[i]) / 255 }
                }
            }
        }

        /// The logits of image `b` (valid after `forward`).
        public func logits(of b: Int) -> ArraySlice<Float> { logits[(b * 10)..<(b * 10 + 10)] }
    }

    /// Computes the batch's logits (wide + deep) into `batch`.
    ///
    /// Written the way a fast step is: every loop runs over raw buffer pointers (no per-element array
    /// uniqueness or bounds checks), the inner loops are plain `a[j] += v * b[j]` over contiguous rows,
    /// which the compiler vectorises, and the batch is the outer unit of work, so each weight is loaded
    /// once per batch.
    public func forward(_ batch: inout Batch) throws {
        let n = hidden, count = batch.count
        try w1.withElements(as: Float.self) { w in
            try b1.withElements(as: Float.self) { bias in
                batch.x.withUnsafeBufferPointer { xb in
                    batch.h.withUnsafeMutableBufferPointer { hb in
                        let hp = hb.baseAddress!, wp = w.baseAddress!, xp = xb.baseAddress!
                        for b in 0..<count { (hp + b * n).update(from: bias.baseAddress!, count: n) }
                        // h[b] += x[b][i] * w1[i], row i of w1 once for the whole batch.
                        Self.forNonZeroPixels(xp, count: count) { i, b, v in Self.axpy(hp + b * n, v, wp + i * n, n) }
                        for j in 0..<(n * count) where hp[j] < 0 { hp[j] = 0 }
                    }
                }
            }
        }
        try w2.withElements(as: Float.self) { w in
            try b2.withElements(as: Float.self) { bias in
                batch.h.withUnsafeBufferPointer { hb in
                    batch.logits.withUnsafeMutableBufferPointer { lb in
                        let wp = w.baseAddress!
                        for b in 0..<count {
                            let hr = hb.baseAddress! + b * n, l = lb.baseAddress! + b * 10
                            for k in 0..<10 { l[k] += bias[k] }
                            for j in 0..<n where hr[j] > 0 {
                                let v = hr[j], wr = wp + j * 10
                                for k in 0..<10 { l[k] += v * wr[k] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `body(i, b, v)` for every non-zero pixel `v` of the batch's pixel-major `x` (pixel `i` of
    /// image `b`), pixel by pixel, so that whatever `body` reads for pixel `i` stays in cache across the
    /// batch.
    @inline(__always)
    static func forNonZeroPixels(_ x: UnsafePointer<Float>, count: Int, _ body: (Int, Int, Float) -> Void) {
        for i in 0..<784 {
            for b in 0..<count {
                let v = x[i * count + b]
                if v != 0 { body(i, b, v) }
            }
        }
    }

    /// `y[j] += a * x[j]` for `j < n`: a contiguous loop the compiler vectorises.
    @inline(__always)
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        for j in 0..<n { y[j] += a * x[j] }
    }

    /// Softmax probabilities and the loss of `label`.
    public static func softmax(_ logits: ArraySlice<Float>, label: Int) -> ([Float], Float) {
        let m = logits.max()!
        var p = logits.map { expf($0 - m) }
        let s = p.reduce(0, +)
        for k in p.indices { p[k] /= s }
        return (p, -logf(max(p[label], 1e-12)))
    }

    /// Accumulates the batch's gradient into `g`, given d(loss)/d(logits) of every image (`dlogits`,
    /// `count` x 10, already scaled by 1/batch). Raw pointers and batch-outer loops, as in `forward`.
    /// `headDone` is called once `g.w2` and `g.b2` are final, before the first layer's gradients are
    /// computed (where a training loop hands them to `GradientSync.ready`).
    public func backward(_ batch: Batch, dlogits: [Float], into g: Gradients, headDone: () throws -> Void = {}) throws {
        let n = hidden, count = batch.count
        var dh = [Float](repeating: 0, count: n * count)
        try dh.withUnsafeMutableBufferPointer { dhb in
            let dp = dhb.baseAddress!
            try batch.h.withUnsafeBufferPointer { hb in
                try dlogits.withUnsafeBufferPointer { db in
                    try w2.withElements(as: Float.self) { w in
                        try g.w2.withElements(as: Float.self) { gw in
                            try g.b2.withElements(as: Float.self) { gb in
                                let wp = w.baseAddress!, gwp = gw.baseAddress!
                                for b in 0..<count {
                                    let hr = hb.baseAddress! + b * n, dl = db.baseAddress! + b * 10, dr = dp + b * n
                                    for k in 0..<10 { gb[k] += dl[k] }
                                    for j in 0..<n where hr[j] > 0 {
                                        let v = hr[j], wr = wp + j * 10, gr = gwp + j * 10
                                        var d: Float = 0
                                        for k in 0..<10 {
                                            gr[k] += v * dl[k]
                                            d += wr[k] * dl[k]
                                        }
                                        dr[j] = d
                                    }
                                }
                            }
                        }
                    }
                }
            }
            try headDone()
            try g.w1.withElements(as: Float.self) { gw in
                try g.b1.withElements(as: Float.self) { gb in
                    batch.x.withUnsafeBufferPointer { xb in
                        let gbp = gb.baseAddress!, gwp = gw.baseAddress!, xp = xb.baseAddress!
                        for b in 0..<count {
                            let dr = dp + b * n
                            for j in 0..<n { gbp[j] += dr[j] }
                        }
                        // gw1[i] += x[b][i] * dh[b], row i of gw1 once for the whole batch.
                        Self.forNonZeroPixels(xp, count: count) { i, b, v in Self.axpy(gwp + i * n, v, dp + b * n, n) }
                    }
                }
            }
        }
    }
}

/// The splitmix64 finaliser: the model's hash of crossed features and its weight initialisation.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

#if canImport(Glibc)
    import Glibc
#endif
