/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of checkpoint files: software,
/// slicing by one byte with a 256-entry table. `CRC32C.of("123456789".utf8) == 0xE3069283`.
package struct CRC32C: Sendable {
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    private var state: UInt32 = 0xFFFF_FFFF

    package init() {}

    /// Adds `bytes` to the checksum.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = state
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
    }

    /// The checksum of everything added so far.
    package var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The checksum of `bytes`.
    package static func of<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c = CRC32C()
        let a = Array(bytes)
        a.withUnsafeBytes { c.update($0) }
        return c.value
    }
}
