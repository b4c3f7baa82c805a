/// Appends little-endian values to a byte array.
package struct ByteWriter: Sendable {
    /// The bytes written so far.
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u16(_ v: UInt16) { bytes.appendLittleEndian(v) }
    package mutating func u32(_ v: UInt32) { bytes.appendLittleEndian(v) }
    package mutating func u64(_ v: UInt64) { bytes.appendLittleEndian(v) }
    package mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    package mutating func f64(_ v: Double) { u64(v.bitPattern) }
    /// A string as a u32 length then UTF-8 bytes.
    package mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }
    package mutating func raw(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
}

/// Reads little-endian values from bytes, throwing `malformedMessage` past the end instead of trapping.
package struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    /// Offset of the next byte to read.
    package private(set) var offset = 0
    /// What is being decoded, for error messages.
    package let context: String

    /// Reads `bytes`, which must stay valid while the reader is used.
    package init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.context = context
    }

    /// Bytes not yet read.
    package var remaining: Int { bytes.count - offset }

    private mutating func take(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw HybridSyncError.malformedMessage(.length, "\(context): \(what) needs \(n) bytes at offset \(offset), only \(remaining) left")
        }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        try take(MemoryLayout<T>.size, what).loadLittleEndian(fromByteOffset: 0, as: T.self)
    }

    package mutating func u8(_ what: String) throws -> UInt8 { try integer(UInt8.self, what) }
    package mutating func u16(_ what: String) throws -> UInt16 { try integer(UInt16.self, what) }
    package mutating func u32(_ what: String) throws -> UInt32 { try integer(UInt32.self, what) }
    package mutating func u64(_ what: String) throws -> UInt64 { try integer(UInt64.self, what) }
    package mutating func i64(_ what: String) throws -> Int64 { Int64(bitPattern: try u64(what)) }
    package mutating func f64(_ what: String) throws -> Double { Double(bitPattern: try u64(what)) }

    /// A u32-length-prefixed UTF-8 string of at most `maxLength` bytes.
    package mutating func string(_ what: String, maxLength: Int = 4096) throws -> String {
        let n = Int(try u32("\(what) length"))
        guard n <= maxLength else {
            throw HybridSyncError.malformedMessage(.length, "\(context): \(what) length \(n) exceeds \(maxLength)")
        }
        let b = try take(n, what)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw HybridSyncError.malformedMessage(.length, "\(context): \(what) is not valid UTF-8")
        }
        return s
    }

    /// `n` raw bytes.
    package mutating func raw(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer { try take(n, what) }

    /// Throws unless every byte was read.
    package func expectEnd() throws {
        guard remaining == 0 else {
            throw HybridSyncError.malformedMessage(.length, "\(context): \(remaining) trailing bytes")
        }
    }
}
