import HybridSyncCore
import XCTest

final class CRC32CTests: XCTestCase {
    /// The standard check value of CRC-32C, and the published vectors of RFC 3720 (iSCSI), B.4.
    func testKnownValues() {
        XCTAssertEqual(CRC32C.of(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.of([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.of([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.of((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.of((0..<32).map { UInt8(31 - $0) }), 0x113F_DB5C)
    }

    /// Fed in pieces of any size, the checksum is the same as in one piece (the eight-byte path and
    /// the tail agree).
    func testPiecesAgreeWithTheWhole() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        let whole = CRC32C.of(data)
        for cut in [1, 3, 7, 8, 9, 100, 999] {
            var c = CRC32C()
            data[..<cut].withUnsafeBytes { c.update($0) }
            data[cut...].withUnsafeBytes { c.update($0) }
            XCTAssertEqual(c.value, whole, "cut at \(cut)")
        }
    }
}
