import HybridSyncCore
import XCTest

final class AgreementTests: XCTestCase {
    let a = TensorDescriptor(name: "a", dtype: .float32, count: 10, op: .sum)
    let b = TensorDescriptor(name: "b", dtype: .int64, count: 3, op: .average)

    func testSameBatchInAnyOrderAgrees() throws {
        let agreed = try Agreement.check([[a, b], [b, a], [a, b]]).get()
        XCTAssertEqual(agreed, [a, b])
    }

    func testEachFieldMismatchNamesTensorRanksAndValues() {
        let cases: [(TensorDescriptor, String, String, String)] = [
            (TensorDescriptor(name: "b", dtype: .int32, count: 3, op: .average), "dtype", "int64", "int32"),
            (TensorDescriptor(name: "b", dtype: .int64, count: 4, op: .average), "element count", "3", "4"),
            (TensorDescriptor(name: "b", dtype: .int64, count: 3, op: .max), "op", "average", "max"),
        ]
        for (odd, field, v0, v2) in cases {
            XCTAssertEqual(
                Agreement.check([[a, b], [a, b], [a, odd]]),
                .failure(.mismatch(tensor: "b", field: field, rankA: 0, valueA: v0, rankB: 2, valueB: v2)))
        }
    }

    func testMissingExtraAndDuplicate() {
        guard case .failure(.mismatch(let t1, "tensor list", 0, _, 1, "no such tensor")) = Agreement.check([[a, b], [a]]) else {
            return XCTFail("missing tensor not reported")
        }
        XCTAssertEqual(t1, "b")
        let z = TensorDescriptor(name: "z", dtype: .float32, count: 1, op: .sum)
        guard case .failure(.mismatch("z", "tensor list", 0, "no such tensor", 1, _)) = Agreement.check([[a], [a, z]]) else {
            return XCTFail("extra tensor not reported")
        }
        guard case .failure(.mismatch("a", "duplicate name", 1, _, 1, _)) = Agreement.check([[a], [a, a]]) else {
            return XCTFail("duplicate not reported")
        }
    }

    func testDescriptorCodecRoundTripAndCorruptInput() throws {
        let list = [a, b, TensorDescriptor(name: "ünïcode/é", dtype: .float16, count: 0, op: .min)]
        let bytes = TensorDescriptor.encode(list)
        XCTAssertEqual(try TensorDescriptor.decode(bytes, from: "test"), list)
        // Every truncation is rejected with an error, never a trap.
        for cut in 0..<bytes.count {
            XCTAssertThrowsError(try TensorDescriptor.decode(Array(bytes[0..<cut]), from: "test"))
        }
        var bad = bytes
        bad[4 + 4 + 1] = 99  // dtype code of the first tensor
        XCTAssertThrowsError(try TensorDescriptor.decode(bad, from: "test")) { error in
            guard case .malformedMessage(.field, let text)? = error as? HybridSyncError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("unknown dtype code 99"), text)
        }
        XCTAssertThrowsError(try TensorDescriptor.decode(bytes + [0], from: "test"))
        XCTAssertThrowsError(try TensorDescriptor.decode([0xFF, 0xFF, 0xFF, 0x7F], from: "test"))
    }

    func testVerdictCodecRoundTrip() throws {
        let verdicts: [Verdict] = [
            .agreed,
            .failed(.mismatch(tensor: "x", field: "dtype", rankA: 0, valueA: "float32", rankB: 3, valueB: "int32")),
            .failed(.stalled(tensor: "y", missingRanks: [2, 5], seconds: 1.5)),
        ]
        for v in verdicts { XCTAssertEqual(try Verdict.decode(v.encode(), from: "t"), v) }
        XCTAssertThrowsError(try Verdict.decode([7], from: "t"))
        XCTAssertThrowsError(try Verdict.decode([], from: "t"))
    }
}
