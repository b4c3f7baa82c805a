/// The seconds of one parameter-server request (a pull or a push) as every worker makes it at once:
/// `latency + perKey * keys + perByte * bytes`. The per-key term is the servers' hashing, lookup and
/// optimizer call per row; the per-byte term the wire and the copies.
package struct RequestCost: Sendable, Equatable {
    /// Seconds a request costs whatever it carries.
    package var latency: Double
    /// Seconds per row.
    package var perKey: Double
    /// Seconds per byte of values.
    package var perByte: Double

    package init(latency: Double, perKey: Double, perByte: Double) {
        self.latency = latency
        self.perKey = perKey
        self.perByte = perByte
    }

    /// The predicted seconds of a request of `keys` rows and `bytes` bytes of values.
    package func seconds(keys: Double, bytes: Double) -> Double { latency + perKey * keys + perByte * bytes }

    /// The non-negative least-squares fit to `samples`: of the fits on every subset of the three
    /// terms (the others held at zero), the one with no negative coefficient and the smallest squared
    /// error. Exact when the samples lie on such a line and span its terms.
    package init(fitting samples: [(keys: Double, bytes: Double, seconds: Double)]) {
        let columns: [(Double, Double) -> Double] = [{ _, _ in 1 }, { k, _ in k }, { _, b in b }]
        var best = RequestCost(latency: 0, perKey: 0, perByte: 0), bestError = Double.infinity
        for mask in 1..<8 {
            let used = (0..<3).filter { mask & (1 << $0) != 0 }
            // Each column scaled to at most 1, so keys (thousands) and bytes (millions) condition alike.
            let scale = used.map { i in samples.map { abs(columns[i]($0.keys, $0.bytes)) }.max() ?? 1 }
            guard scale.allSatisfy({ $0 > 0 }) else { continue }
            let rows = samples.map { s in used.indices.map { j in columns[used[j]](s.keys, s.bytes) / scale[j] } }
            guard let x = Self.leastSquares(rows, samples.map(\.seconds)), x.allSatisfy({ $0 >= 0 }) else { continue }
            var c = [0.0, 0.0, 0.0]
            for (j, i) in used.enumerated() { c[i] = x[j] / scale[j] }
            let fit = RequestCost(latency: c[0], perKey: c[1], perByte: c[2])
            let error = samples.reduce(0) { e, s in
                let d = fit.seconds(keys: s.keys, bytes: s.bytes) - s.seconds; return e + d * d
            }
            if error < bestError { best = fit; bestError = error }
        }
        self = best
    }

    /// Solves the normal equations `AᵀA x = Aᵀy` by Gaussian elimination with partial pivoting; nil
    /// when they are singular (the samples do not determine the terms).
    static func leastSquares(_ a: [[Double]], _ y: [Double]) -> [Double]? {
        guard let n = a.first?.count, a.count >= n else { return nil }
        var m = (0..<n).map { i in (0..<n).map { j in zip(a, a).reduce(0) { $0 + $1.0[i] * $1.1[j] } } + [zip(a, y).reduce(0) { $0 + $1.0[i] * $1.1 }] }
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(m[$0][col]) < abs(m[$1][col]) }), abs(m[pivot][col]) > 1e-12 else { return nil }
            m.swapAt(col, pivot)
            for r in 0..<n where r != col {
                let f = m[r][col] / m[col][col]
                for c in col...n { m[r][c] -= f * m[col][c] }
            }
        }
        let x = (0..<n).map { m[$0][n] / m[$0][$0] }
        return x.allSatisfy(\.isFinite) ? x : nil
    }
}
