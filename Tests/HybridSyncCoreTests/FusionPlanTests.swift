import HybridSyncCore
import XCTest

final class FusionPlanTests: XCTestCase {
    func d(_ name: String, _ dtype: DType, _ count: Int, _ op: ReduceOp = .sum) -> TensorDescriptor {
        TensorDescriptor(name: name, dtype: dtype, count: count, op: op)
    }

    func testGroupsByTypeAndOpAndRespectsThreshold() {
        let list = [
            d("a", .float32, 100), d("b", .float32, 100), d("c", .int64, 10), d("d", .float32, 100),
            d("e", .float32, 100, .max), d("big", .float32, 1000), d("empty", .float32, 0),
        ]
        let buckets = FusionPlan.buckets(for: list, thresholdBytes: 800)
        // float32/sum: a+b = 800 bytes fills a bucket, d starts the next; big (4000 B) goes alone.
        XCTAssertEqual(buckets.map(\.members), [[0, 1], [5], [3], [2], [4]])
        XCTAssertEqual(buckets.first?.count, 200)
        XCTAssertTrue(buckets.allSatisfy { $0.byteCount <= 800 || $0.members.count == 1 })
        XCTAssertFalse(buckets.contains { $0.members.contains(6) }, "empty tensors are skipped")
    }

    /// Tensors at or above `inPlaceBytes` go alone (reduced in place); the smaller ones still fuse.
    func testLargeTensorsAreNotCopiedIntoABucket() {
        let list = [d("w1", .float32, 100_352), d("b1", .float32, 128), d("w2", .float32, 1280), d("b2", .float32, 10)]
        let buckets = FusionPlan.buckets(for: list, thresholdBytes: 64 << 20, inPlaceBytes: 64 << 10)
        XCTAssertEqual(buckets.map(\.members), [[0], [1, 2, 3]])
        XCTAssertEqual(FusionPlan.buckets(for: list, thresholdBytes: 64 << 20).map(\.members), [[0, 1, 2, 3]], "without it, all fuse")
    }

    func testEveryTensorInExactlyOneBucket() {
        let list = (0..<200).map { d("t\($0)", $0 % 3 == 0 ? .float64 : .float32, 1 + ($0 * 37) % 5000) }
        let buckets = FusionPlan.buckets(for: list, thresholdBytes: 64 << 10)
        XCTAssertEqual(buckets.flatMap(\.members).sorted(), Array(0..<200))
        for b in buckets { XCTAssertEqual(b.count, b.members.map { list[$0].count }.reduce(0, +)) }
    }
}
