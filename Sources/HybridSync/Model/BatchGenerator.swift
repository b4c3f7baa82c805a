import HybridSyncCore

/// Draws embedding ids with a Zipf popularity (rank k has weight 1 / k^s), scattered over the table
/// by a fixed permutation so popular rows are not neighbours. Deterministic for a seed.
package struct ZipfSampler: Sendable {
    private let cdf: [Double]
    private let rows: Int
    private let salt: UInt64
    private var state: UInt64

    package init(rows: Int, exponent: Double, seed: UInt64, table: String) {
        self.rows = rows
        // The CDF over at most 2^20 popularity ranks; beyond that, ranks are spread uniformly in the tail.
        let ranks = Swift.min(rows, 1 << 20)
        var c = [Double](repeating: 0, count: ranks)
        var acc = 0.0
        for k in 0..<ranks { acc += 1 / pow(Double(k + 1), exponent); c[k] = acc }
        for k in 0..<ranks { c[k] /= acc }
        cdf = c
        salt = tableSalt(table)
        state = seed ^ salt
    }

    private mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Double(splitMix64(state) >> 11) * 0x1p-53
    }

    /// The next id in `0 ..< rows`.
    package mutating func next() -> UInt64 {
        let u = uniform()
        var lo = 0, hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        var rank = UInt64(lo)
        if rows > cdf.count {
            // Spread each rank over the rows that share it.
            let spread = UInt64(rows / cdf.count)
            rank = rank * spread + UInt64(uniform() * Double(spread))
        }
        return splitMix64(rank ^ salt) % UInt64(rows)
    }

    /// Ids for `samples` samples of `lookups` each.
    package mutating func batch(samples: Int, lookups: Int) -> [UInt64] {
        (0..<(samples * lookups)).map { _ in next() }
    }
}

extension ModelSpec {
    /// The mean fraction of each table's rows one worker's batch touches, by drawing `steps` batches.
    package func measuredDensity(steps: Int = 3, seed: UInt64 = 1) -> [String: Double] {
        var out: [String: Double] = [:]
        for t in tables {
            var z = ZipfSampler(rows: t.rows, exponent: t.zipf, seed: seed, table: t.name)
            var total = 0
            for _ in 0..<steps { total += Set(z.batch(samples: batch, lookups: t.lookups)).count }
            out[t.name] = Double(total) / Double(steps) / Double(t.rows)
        }
        return out
    }

    /// The parameters for a `Planner`, with each table's density observed from the generator.
    package func planner(model: CostModel) throws -> Planner {
        var p = Planner(model: model)
        try p.add(
            dense.map { PlannedParameter(name: $0.name, rows: 1, columns: $0.parameters, isEmbedding: false) }
                + tables.map { PlannedParameter(name: $0.name, rows: $0.rows, columns: $0.dimension, isEmbedding: true) })
        for (name, d) in measuredDensity() { p.setObservedDensity(name, d) }
        return p
    }
}

#if canImport(Glibc)
    import Glibc
#endif
