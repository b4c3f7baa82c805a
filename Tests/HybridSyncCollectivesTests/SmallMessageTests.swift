import HybridSyncCore
import HybridSyncTestKit
import XCTest

@testable import HybridSyncCollectives

/// The small-message path: recursive doubling (every rank ends with the same bits, within float
/// summation error of a Double reference, at ranks that are and are not powers of two) and the negotiation cache (a repeated batch
/// skips the full negotiation; a changed one on a single rank still raises the same error everywhere).
final class SmallMessageTests: XCTestCase {
    /// Rank r's element i: not exactly representable sums, so the order of additions shows in the bits.
    static func value(rank: Int, _ i: Int) -> Float { Float(sin(Double(i * 31 + rank * 7)) * 1000 + 1e-3 * Double(rank + 1)) }

    /// Runs `body` on `ranks` in-process ranks, each with a `DenseSync` (30 s deadlines), and checks that
    /// every rank's log is `expected`.
    static func expectLogs(
        ranks: Int, _ expected: [String], file: StaticString = #filePath, line: UInt = #line,
        _ body: @escaping @Sendable (Communicator, DenseSync) throws -> [String]
    ) {
        let outcomes = TestKit.spawn(ranks: ranks) { comm -> [String] in
            var config = DenseSyncConfig()
            config.timeoutSeconds = 30
            return try body(comm, DenseSync(communicator: comm, config: config))
        }
        for (rank, outcome) in outcomes.enumerated() {
            XCTAssertEqual(try outcome.get(), expected, "rank \(rank)", file: file, line: line)
        }
    }

    /// Reduces `tensors`, which must fail with a mismatch: "changed: mismatch TENSOR FIELD".
    static func mismatch(_ dense: DenseSync, _ tensors: [Tensor]) throws -> String {
        do {
            try dense.allreduce(tensors, op: .sum)
            return "changed: no error"
        } catch let HybridSyncError.mismatch(tensor, field, _, _, _, _) {
            return "changed: mismatch \(tensor) \(field)"
        }
    }

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
        Self.expectLogs(
            ranks: p,
            [
                "round 0: a 3.0 b 3.0 full 1",
                "round 1: a 6.0 b 3.0 full 1",
                "round 2: a 9.0 b 3.0 full 1",
                "changed: mismatch b element count",
                // The failed negotiation counted; the cache still holds [a, b], so this one is cached.
                "after: full 2",
            ]
        ) { comm, dense in
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
            log.append(try Self.mismatch(dense, [a, changed]))
            try dense.allreduce([a, b], op: .sum)
            log.append("after: full \(dense.fullNegotiations)")
            return log
        }
    }

    /// The cached check folded into the small bucket's exchange: a repeated batch (small tensors fused,
    /// a large one reduced in place after them) is exact with one exchange for the check and the data; a
    /// batch changed on one rank raises the same mismatch everywhere and leaves every rank's tensors as
    /// they were; a batch changed alike everywhere is negotiated, then folded again.
    func testAFoldedCheckIsExactAndAChangedBatchLeavesTheTensorsAlone() throws {
        let p = 3
        Self.expectLogs(
            ranks: p,
            [
                "round 0: a 3.0 b 3.0 big exact full 1 folded 0",
                "round 1: a 6.0 b 3.0 big exact full 1 folded 1",
                "round 2: a 9.0 b 3.0 big exact full 1 folded 2",
                "changed: mismatch b element count; a untouched",
                // Every rank's batch changed alike: the folded check fails everywhere, the batch is negotiated.
                "with c: a 3.0 b 3.0 big exact c 6.0 full 3 folded 2",
                "with c: a 6.0 b 3.0 big exact c 6.0 full 3 folded 3",
            ]
        ) { comm, dense in
            var log: [String] = []
            let a = try Tensor(name: "a", dtype: .float32, count: 10), b = try Tensor(name: "b", dtype: .float32, count: 300)
            let big = try Tensor(name: "big", dtype: .float32, count: 20_000), c = try Tensor(name: "c", dtype: .float32, count: 5)
            func fill(_ round: Int) throws {
                try a.assign([Float](repeating: Float(comm.rank + round), count: 10))
                try b.assign([Float](repeating: 1, count: 300))
                try big.assign((0..<20_000).map { Float($0 % 7 + comm.rank) })
                try c.assign([Float](repeating: 2, count: 5))
            }
            // Sums over the 3 ranks: a = 3 round + 3, b = 3, big[i] = 3 (i % 7) + 3, c = 6.
            func sums() throws -> String {
                let g = try big.values(as: Float.self)
                let bigExact = g.indices.allSatisfy { g[$0] == Float(3 * ($0 % 7) + 3) }
                return "a \(try a.values(as: Float.self)[0]) b \(try b.values(as: Float.self)[299]) big \(bigExact ? "exact" : "WRONG")"
            }
            for round in 0..<3 {
                try fill(round)
                try dense.allreduce([b, big, a], op: .sum)
                log.append("round \(round): \(try sums()) full \(dense.fullNegotiations) folded \(dense.foldedChecks)")
            }
            try fill(10)
            let changed = comm.rank == p - 1 ? try Tensor(name: "b", dtype: .float32, count: 301) : b
            let untouched =
                try Self.mismatch(dense, [a, big, changed]) + (try a.values(as: Float.self)[0] == Float(comm.rank + 10) ? "; a untouched" : "; a WRITTEN")
            log.append(untouched)
            for round in 0..<2 {
                try fill(round)
                try dense.allreduce([a, b, big, c], op: .sum)
                log.append("with c: \(try sums()) c \(try c.values(as: Float.self)[4]) full \(dense.fullNegotiations) folded \(dense.foldedChecks)")
            }
            return log
        }
    }

    /// At 2 ranks the check rides beside a single tensor reduced in place (no bucket copy): exact when
    /// the batch repeats, and when it changed on one rank the mismatch is raised on both and neither
    /// tensor is written.
    func testATwoRankFoldReducesASingleTensorInPlace() throws {
        Self.expectLogs(
            ranks: 2,
            [
                "round 0: exact full 1 folded 0",
                "round 1: exact full 1 folded 1",
                "round 2: exact full 1 folded 2",
                "changed: mismatch solo element count; untouched",
                "after: exact full 2 folded 3",
            ]
        ) { comm, dense in
            var log: [String] = []
            let solo = try Tensor(name: "solo", dtype: .float32, count: 10_000)
            func fill(_ round: Int) throws { try solo.assign((0..<10_000).map { Float($0 % 5 + comm.rank + round) }) }
            // Sum over the 2 ranks: 2 (i % 5) + 1 + 2 round.
            func exact(_ round: Int) throws -> String {
                let v = try solo.values(as: Float.self)
                return v.indices.allSatisfy { v[$0] == Float(2 * ($0 % 5) + 1 + 2 * round) } ? "exact" : "WRONG"
            }
            for round in 0..<3 {
                try fill(round)
                try dense.allreduce([solo], op: .sum)
                log.append("round \(round): \(try exact(round)) full \(dense.fullNegotiations) folded \(dense.foldedChecks)")
            }
            try fill(7)
            let changed = comm.rank == 1 ? try Tensor(name: "solo", dtype: .float32, count: 10_001) : solo
            let line = try Self.mismatch(dense, [changed])
            let v = try solo.values(as: Float.self)
            log.append(line + (v.indices.allSatisfy { v[$0] == Float($0 % 5 + comm.rank + 7) } ? "; untouched" : "; WRITTEN"))
            try fill(1)
            try dense.allreduce([solo], op: .sum)
            log.append("after: \(try exact(1)) full \(dense.fullNegotiations) folded \(dense.foldedChecks)")
            return log
        }
    }
}
