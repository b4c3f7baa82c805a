import HybridSyncCollectives
import HybridSyncCore
import HybridSyncTestKit
import XCTest

/// The ring at 1-16 ranks as threads over the in-memory transport: counts {0, 1, ranks-1, 17^3,
/// 100_003} x every dtype x every op, each element checked against a closed-form value. The ring is
/// forced for every count (small buckets would otherwise go by recursive doubling); recursive doubling
/// has a sweep of its own over the same ranks.
///
/// Rank r holds, at element i, `s(i) * (r + 1) * k(i)` with `k(i) = i % 7 + 1` and `s(i) = ±1` by the
/// parity of i. So over p ranks: sum = s k p(p+1)/2; min = k or -p k; max = p k or -k; average = sum / p
/// (exact for floats; integer division truncating toward zero for integers). Every partial sum is an
/// integer below 2^11, so float16 is exact too.
final class RingInProcessTests: XCTestCase {
    static func input<T: ReducibleElement>(_: T.Type, rank: Int, count: Int) -> [T] {
        // Fourteen distinct values repeat; a loop over them, not a closure per element (debug builds).
        let cycle = (0..<14).map { i in T(exactly: (i % 2 == 0 ? 1 : -1) * (rank + 1) * (i % 7 + 1)) }
        var out: [T] = []
        out.reserveCapacity(count)
        while out.count + 14 <= count { out += cycle }
        out += cycle.prefix(count - out.count)
        return out
    }

    static func expected<T: ReducibleElement>(_: T.Type, ranks p: Int, count: Int, op: ReduceOp) -> [T] {
        (0..<count).map { i in
            let k = i % 7 + 1, positive = i % 2 == 0
            let sum = (positive ? 1 : -1) * k * p * (p + 1) / 2
            switch op {
            case .sum: return T(exactly: sum)
            case .min: return T(exactly: positive ? k : -p * k)
            case .max: return T(exactly: positive ? p * k : -k)
            case .average:
                if T.dtype.isExact { return T(exactly: sum / p) }
                // sum / p = s k (p+1)/2: a multiple of 1/2, exact in every float type.
                return half(T(exactly: sum * 2 / p))
            }
        }
    }

    /// x / 2 for float types, exactly.
    static func half<T: ReducibleElement>(_ x: T) -> T {
        switch x {
        case let v as Float: return (v / 2) as! T
        case let v as Double: return (v / 2) as! T
        case let v as Float16: return (v / 2) as! T
        default: return x
        }
    }

    /// Wrong elements across the whole sweep for `ranks`, by case label.
    func sweep(ranks: Int, doubling: Bool = false) throws {
        let counts = doubling ? [1, ranks - 1, 4913] : [0, 1, ranks - 1, 4913, 100_003]
        let ops = [ReduceOp.sum, .average, .min, .max]
        // The closed-form results, worked out once here for every rank to compare with.
        var wants: [String: any Sendable] = [:]
        func want<T: ReducibleElement>(_: T.Type, _ count: Int, _ op: ReduceOp) {
            wants["\(T.dtype)/\(op)/\(count)"] = Self.expected(T.self, ranks: ranks, count: count, op: op)
        }
        for count in counts {
            for op in ops {
                want(Float.self, count, op); want(Double.self, count, op); want(Float16.self, count, op); want(Int32.self, count, op);
                want(Int64.self, count, op)
            }
        }
        let expected = wants
        let outcomes = TestKit.spawn(ranks: ranks) { comm -> [String] in
            var config = DenseSyncConfig()
            config.timeoutSeconds = 60
            // Every bucket by the ring, or (`doubling`) every one by recursive doubling.
            config.recursiveDoublingBytes = doubling ? Int.max : -1
            let dense = DenseSync(communicator: comm, config: config)
            var wrong: [String] = []
            func check<T: ReducibleElement>(_: T.Type, _ count: Int, _ op: ReduceOp) throws {
                wrong += try Self.check(T.self, count: count, op: op, dense: dense, want: expected["\(T.dtype)/\(op)/\(count)"] as? [T])
            }
            for count in counts {
                for op in ops {
                    try check(Float.self, count, op)
                    try check(Double.self, count, op)
                    try check(Float16.self, count, op)
                    try check(Int32.self, count, op)
                    try check(Int64.self, count, op)
                }
            }
            return wrong
        }
        for (rank, outcome) in outcomes.enumerated() {
            let wrong = try outcome.get()
            XCTAssertEqual(wrong, [], "rank \(rank) of \(ranks): \(wrong.prefix(5))")
        }
    }

    /// Reduces rank-valued input of `count` elements with `op` and compares with `want` (the closed form,
    /// computed here when not given).
    static func check<T: ReducibleElement>(_: T.Type, count: Int, op: ReduceOp, dense: DenseSync, want given: [T]? = nil) throws -> [String] {
        let p = dense.communicator.size
        let t = try Tensor(name: "g.\(T.dtype).\(op).\(count)", values: input(T.self, rank: dense.communicator.rank, count: count))
        try dense.allreduce([t], op: op)
        let got = try t.values(as: T.self)
        let want = given ?? expected(T.self, ranks: p, count: count, op: op)
        if got == want { return [] }
        guard got.count == want.count else { return ["\(T.dtype) \(op) count \(count): \(got.count) elements"] }
        guard let bad = got.indices.first(where: { got[$0] != want[$0] }) else { return [] }
        return ["\(T.dtype) \(op) count \(count): element \(bad) is \(got[bad]), expected \(want[bad])"]
    }

    func testRanks1to4() throws { for p in 1...4 { try sweep(ranks: p) } }
    func testRanks5to8() throws { for p in 5...8 { try sweep(ranks: p) } }
    func testRanks9to12() throws { for p in 9...12 { try sweep(ranks: p) } }
    func testRanks13to16() throws { for p in 13...16 { try sweep(ranks: p) } }
    func testRecursiveDoublingRanks1to16() throws { for p in 1...16 { try sweep(ranks: p, doubling: true) } }

    /// Tiny segments: many segments per chunk, each reduced as it arrives.
    func testSmallSegments() throws {
        let outcomes = TestKit.spawn(ranks: 3) { comm -> [String] in
            var config = DenseSyncConfig()
            config.segmentBytes = 64
            let dense = DenseSync(communicator: comm, config: config)
            return try Self.check(Float.self, count: 4913, op: .sum, dense: dense)
                + Self.check(Int64.self, count: 4913, op: .max, dense: dense)
        }
        for o in outcomes { XCTAssertEqual(try o.get(), []) }
    }
}
