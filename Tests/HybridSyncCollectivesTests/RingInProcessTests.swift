import HybridSyncCollectives
import HybridSyncCore
import HybridSyncTestKit
import XCTest

/// The ring at 1-16 ranks as threads over the in-memory transport: counts {0, 1, ranks-1, 17^3,
/// 100_003} x every dtype x every op, each element checked against a closed-form value.
///
/// Rank r holds, at element i, `s(i) * (r + 1) * k(i)` with `k(i) = i % 7 + 1` and `s(i) = ±1` by the
/// parity of i. So over p ranks: sum = s k p(p+1)/2; min = k or -p k; max = p k or -k; average = sum / p
/// (exact for floats; integer division truncating toward zero for integers). Every partial sum is an
/// integer below 2^11, so float16 is exact too.
final class RingInProcessTests: XCTestCase {
    static func input<T: ReducibleElement>(_: T.Type, rank: Int, count: Int) -> [T] {
        (0..<count).map { i in T(exactly: (i % 2 == 0 ? 1 : -1) * (rank + 1) * (i % 7 + 1)) }
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
    func sweep(ranks: Int) throws {
        let counts = [0, 1, ranks - 1, 4913, 100_003]
        let outcomes = TestKit.spawn(ranks: ranks) { comm -> [String] in
            var config = DenseSyncConfig()
            config.timeoutSeconds = 60
            let dense = DenseSync(communicator: comm, config: config)
            var wrong: [String] = []
            for count in counts {
                for op in [ReduceOp.sum, .average, .min, .max] {
                    wrong += try Self.check(Float.self, count: count, op: op, dense: dense)
                    wrong += try Self.check(Double.self, count: count, op: op, dense: dense)
                    wrong += try Self.check(Float16.self, count: count, op: op, dense: dense)
                    wrong += try Self.check(Int32.self, count: count, op: op, dense: dense)
                    wrong += try Self.check(Int64.self, count: count, op: op, dense: dense)
                }
            }
            return wrong
        }
        for (rank, outcome) in outcomes.enumerated() {
            let wrong = try outcome.get()
            XCTAssertEqual(wrong, [], "rank \(rank) of \(ranks): \(wrong.prefix(5))")
        }
    }

    static func check<T: ReducibleElement>(_: T.Type, count: Int, op: ReduceOp, dense: DenseSync) throws -> [String] {
        let p = dense.communicator.size
        let t = try Tensor(name: "g.\(T.dtype).\(op).\(count)", values: input(T.self, rank: dense.communicator.rank, count: count))
        try dense.allreduce([t], op: op)
        let got = try t.values(as: T.self)
        let want = expected(T.self, ranks: p, count: count, op: op)
        guard got.count == want.count else { return ["\(T.dtype) \(op) count \(count): \(got.count) elements"] }
        guard let bad = got.indices.first(where: { got[$0] != want[$0] }) else { return [] }
        return ["\(T.dtype) \(op) count \(count): element \(bad) is \(got[bad]), expected \(want[bad])"]
    }

    func testRanks1to4() throws { for p in 1...4 { try sweep(ranks: p) } }
    func testRanks5to8() throws { for p in 5...8 { try sweep(ranks: p) } }
    func testRanks9to12() throws { for p in 9...12 { try sweep(ranks: p) } }
    func testRanks13to16() throws { for p in 13...16 { try sweep(ranks: p) } }

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
