import HybridSyncCore
import XCTest

/// 16-bit row encodings against oracles written here: the nearest representable value by exhaustive
/// comparison in Double (bfloat16) and Swift's own `Float16` conversion (float16).
final class RowEncodingTests: XCTestCase {
    func roundTrip(_ encoding: RowEncoding, _ values: [Float]) -> ([Float], [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: values.count * encoding.byteWidth)
        bytes.withUnsafeMutableBytes { b in values.withUnsafeBufferPointer { encoding.encode($0.baseAddress!, count: values.count, into: b.baseAddress!) } }
        var out = [Float](repeating: -1, count: values.count)
        bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { encoding.decode(b.baseAddress!, count: values.count, into: $0.baseAddress!) } }
        return (out, bytes)
    }

    /// bfloat16 is float32's top half, rounded to nearest with ties to even: checked against the
    /// nearer of the two candidates, on random values, on exact ties and on the extremes.
    func testBFloat16RoundsToNearestEven() {
        var rng = SplitMix64(seed: 5)
        var values: [Float] = (0..<20_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }.filter { $0.isFinite }
        values += [
            0, -0.0, 1, -1, 0.1, 3.140625, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), .greatestFiniteMagnitude, .leastNonzeroMagnitude,
        ]
        let (out, _) = roundTrip(.bfloat16, values)
        var wrong = 0
        for (x, y) in zip(values, out) {
            let low = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
            let high = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)
            // Past the largest bfloat16, the next value up counts as 2^128 (IEEE rounds to infinity from halfway there).
            let highValue = high.isInfinite ? (x < 0 ? -0x1p128 : 0x1p128) : Double(high)
            let dl = abs(Double(x) - Double(low)), dh = abs(highValue - Double(x))
            let expected = dl < dh || (dl == dh && (low.bitPattern >> 16) & 1 == 0) ? low : high
            if y.bitPattern != expected.bitPattern { wrong += 1 }
        }
        XCTAssertEqual(wrong, 0)
        XCTAssertTrue(roundTrip(.bfloat16, [.nan]).0[0].isNaN)
        XCTAssertEqual(roundTrip(.bfloat16, [.infinity, -.infinity]).0, [.infinity, -.infinity])
    }

    /// float16 equals Swift's conversion, little-endian on the wire; beyond 65,504 is an infinity.
    func testFloat16MatchesSwiftsConversionAndByteOrder() {
        var rng = SplitMix64(seed: 9)
        let values: [Float] = (0..<20_000).map { _ in Float(Int64(bitPattern: rng.next()) % 2_000_000) / 16 } + [0.1, 65_504, 70_000, -70_000]
        let (out, bytes) = roundTrip(.float16, values)
        XCTAssertEqual(out.map(\.bitPattern), values.map { Float(Float16($0)).bitPattern })
        XCTAssertEqual(Array(bytes.prefix(2)), [UInt8(truncatingIfNeeded: Float16(values[0]).bitPattern), UInt8(Float16(values[0]).bitPattern >> 8)])
        XCTAssertEqual(out.suffix(2), [.infinity, -.infinity])
        XCTAssertEqual(roundTrip(.float32, values).0, values)
        XCTAssertEqual(RowEncoding(name: "bf16"), .bfloat16)
        XCTAssertNil(RowEncoding(name: "int8"))
    }
}
