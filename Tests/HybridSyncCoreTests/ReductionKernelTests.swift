import HybridSyncCore
import XCTest

final class ReductionKernelTests: XCTestCase {
    private func apply<T: ReducibleElement>(_ a: [T], _ b: [T], _ op: ReduceOp) -> [T] {
        var out = a
        out.withUnsafeMutableBufferPointer { o in
            b.withUnsafeBufferPointer { ReductionKernels.accumulate(o.baseAddress!, $0.baseAddress!, count: a.count, op: op) }
        }
        return out
    }

    func testOpsOnEveryType() {
        XCTAssertEqual(apply([1, -2, 3] as [Float], [4, 5, -6], .sum), [5, 3, -3])
        XCTAssertEqual(apply([1, -2, 3] as [Double], [4, 5, -6], .min), [1, -2, -6])
        XCTAssertEqual(apply([1, -2, 3] as [Int32], [4, 5, -6], .max), [4, 5, 3])
        XCTAssertEqual(apply([1, -2, 3] as [Int64], [4, 5, -6], .average), [5, 3, -3])
        XCTAssertEqual(apply([1.5, -2, 3] as [Float16], [4, 5, -6], .sum), [5.5, 3, -3])
    }

    func testAverageDividesAndTruncatesIntegers() {
        var ints: [Int32] = [7, -7, 9]
        ints.withUnsafeMutableBufferPointer { ReductionKernels.finishAverage($0.baseAddress!, count: 3, ranks: 2) }
        XCTAssertEqual(ints, [3, -3, 4])
        var floats: [Float] = [3, 1]
        floats.withUnsafeMutableBufferPointer { ReductionKernels.finishAverage($0.baseAddress!, count: 2, ranks: 4) }
        XCTAssertEqual(floats, [0.75, 0.25])
    }

    func testIntegerSumWrapsInsteadOfTrapping() {
        XCTAssertEqual(apply([Int32.max] as [Int32], [1], .sum), [Int32.min])
    }

    func testRawDispatchMatchesTyped() {
        for dtype in DType.allCases {
            var a = [UInt8](repeating: 0, count: 4 * dtype.byteWidth)
            var b = a
            a.withUnsafeMutableBytes { ra in
                b.withUnsafeMutableBytes { rb in
                    func fill<T: ReducibleElement>(_: T.Type) {
                        for i in 0..<4 {
                            ra.storeBytes(of: T(exactly: i), toByteOffset: i * dtype.byteWidth, as: T.self)
                            rb.storeBytes(of: T(exactly: 10 * i), toByteOffset: i * dtype.byteWidth, as: T.self)
                        }
                    }
                    switch dtype {
                    case .float32: fill(Float.self)
                    case .float64: fill(Double.self)
                    case .float16: fill(Float16.self)
                    case .int32: fill(Int32.self)
                    case .int64: fill(Int64.self)
                    }
                    ReductionKernels.accumulate(dtype: dtype, ra.baseAddress!, rb.baseAddress!, count: 4, op: .sum)
                    ReductionKernels.finishAverage(dtype: dtype, ra.baseAddress!, count: 4, ranks: 11)
                }
            }
            // (i + 10 i) / 11 == i for every i.
            let expected: [Double] = [0, 1, 2, 3]
            let got: [Double] = a.withUnsafeBytes { raw in
                (0..<4).map { i in
                    switch dtype {
                    case .float32: return Double(raw.load(fromByteOffset: i * 4, as: Float.self))
                    case .float64: return raw.load(fromByteOffset: i * 8, as: Double.self)
                    case .float16: return Double(Float(raw.load(fromByteOffset: i * 2, as: Float16.self)))
                    case .int32: return Double(raw.load(fromByteOffset: i * 4, as: Int32.self))
                    case .int64: return Double(raw.load(fromByteOffset: i * 8, as: Int64.self))
                    }
                }
            }
            XCTAssertEqual(got, expected, "\(dtype)")
        }
    }
}
