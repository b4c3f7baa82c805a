@testable import HybridSyncCollectives
import HybridSyncCore
import HybridSyncTestKit
import XCTest

/// The small-message path: recursive doubling (every rank ends with the same bits, within float
/// summation error of a Double reference, at ranks that are and are not powers of two) and the negotiation cache (a repeated batch
/// skips the full negotiation; a changed one on a single rank still raises the same error everywhere).
final class SmallMessageTests: XCTestCase {
    /// Rank r's element i: not exactly representable sums, so the order of additions shows in the bits.
    static func value(rank: Int, _ i: Int) -> Float { Float(sin(Double(i * 31 + rank * 7)) * 1000 + 1e-3 * Double(rank + 1)) }

    func testRecursiveDoublingGivesEveryRankTheSameBitsNearTheDoubleSum() throws {
        for p in [2, 3, 5, 6, 7, 8] {
            let count = 3001
            let outcomes = TestKit.spawn(ranks: p) { comm -> [UInt32] in
                var config = DenseSyncConfig()
                config.timeoutSeconds = 30
                config.recursiveDoublingBytes = 1 << 20
                let dense = DenseSync(communicator: comm, config: config)
                let t = try Tensor(name: "g", values: (0..<count).map { Self.value(rank: comm.rank, $0) })
                try dense.allreduce([t], op: .sum)
                return try t.values(as: Float.self).map(\.bitPattern)
            }
            let results = try outcomes.map { try $0.get() }
            for r in 1..<p { XCTAssertEqual(results[r], results[0], "rank \(r) of \(p) differs from rank 0") }
            // Float summation of p terms: error at most (p - 1) units of 2^-24 of the sum of magnitudes.
            var worst = 0.0
            for i in 0..<count {
                let terms = (0..<p).map { Double(Self.value(rank: $0, i)) }
                let exact = terms.reduce(0, +), bound = Double(p - 1) * 0x1p-24 * terms.reduce(0) { $0 + abs($1) }
                worst = max(worst, abs(Double(Float(bitPattern: results[0][i])) - exact) / bound)
            }
            XCTAssertLessThanOrEqual(worst, 1, "\(p) ranks: error \(worst) of the float summation bound")
        }
    }

    func testARepeatedBatchSkipsTheNegotiationAndAChangedOneStillFailsOnEveryRank() throws {
        let p = 3
        let outcomes = TestKit.spawn(ranks: p) { comm -> [String] in
            var config = DenseSyncConfig()
            config.timeoutSeconds = 30
            let dense = DenseSync(communicator: comm, config: config)
            var log: [String] = []
            let a = try Tensor(name: "a", dtype: .float32, count: 10), b = try Tensor(name: "b", dtype: .float32, count: 300)
            for round in 0..<3 {
                try a.assign([Float](repeating: Float(comm.rank + round), count: 10))
                try b.assign([Float](repeating: 1, count: 300))
                try dense.allreduce([b, a], op: .sum)
                log.append("round \(round): a \(try a.values(as: Float.self)[0]) b \(try b.values(as: Float.self)[299]) full \(dense.fullNegotiations)")
            }
            // The last rank changes b's length: everyone must get the mismatch, none may use the cache.
            let changed = comm.rank == p - 1 ? try Tensor(name: "b", dtype: .float32, count: 301) : b
            do {
                try dense.allreduce([a, changed], op: .sum)
                log.append("changed: no error")
            } catch let HybridSyncError.mismatch(tensor, field, _, _, _, _) {
                log.append("changed: mismatch \(tensor) \(field)")
            }
            try dense.allreduce([a, b], op: .sum)
            log.append("after: full \(dense.fullNegotiations)")
            return log
        }
        for (rank, outcome) in outcomes.enumerated() {
            XCTAssertEqual(try outcome.get(), [
                "round 0: a 3.0 b 3.0 full 1",
                "round 1: a 6.0 b 3.0 full 1",
                "round 2: a 9.0 b 3.0 full 1",
                "changed: mismatch b element count",
                // The failed negotiation counted; the cache still holds [a, b], so this one is cached.
                "after: full 2",
            ], "rank \(rank)")
        }
    }
}
