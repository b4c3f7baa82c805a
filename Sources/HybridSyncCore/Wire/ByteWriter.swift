/// Appends little-endian values to a byte array.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func f64(_ v: Double) { u64(v.bitPattern) }
    /// A string as a u32 length then UTF-8 bytes.
    public mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }
    public mutating func raw(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
}

/// Reads little-endian values from bytes, throwing `malformedMessage` past the end instead of trapping.
public struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    /// Offset of the next byte to read.
    public private(set) var offset = 0
    /// What is being decoded, for error messages.
    public let context: String

    /// Reads `bytes`, which must stay valid while the reader is used.
    public init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.context = context
    }

    /// Bytes not yet read.
    public var remaining: Int { bytes.count - offset }

    private mutating func take(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw HybridSyncError.malformedMessage("\(context): \(what) needs \(n) bytes at offset \(offset), only \(remaining) left")
        }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let b = try take(MemoryLayout<T>.size, what)
        var v = T.zero
        withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: b) }
        return T(littleEndian: v)
    }

    public mutating func u8(_ what: String) throws -> UInt8 { try integer(UInt8.self, what) }
    public mutating func u16(_ what: String) throws -> UInt16 { try integer(UInt16.self, what) }
    public mutating func u32(_ what: String) throws -> UInt32 { try integer(UInt32.self, what) }
    public mutating func u64(_ what: String) throws -> UInt64 { try integer(UInt64.self, what) }
    public mutating func i64(_ what: String) throws -> Int64 { Int64(bitPattern: try u64(what)) }
    public mutating func f64(_ what: String) throws -> Double { Double(bitPattern: try u64(what)) }

    /// A u32-length-prefixed UTF-8 string of at most `maxLength` bytes.
    public mutating func string(_ what: String, maxLength: Int = 4096) throws -> String {
        let n = Int(try u32("\(what) length"))
        guard n <= maxLength else {
            throw HybridSyncError.malformedMessage("\(context): \(what) length \(n) exceeds \(maxLength)")
        }
        let b = try take(n, what)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw HybridSyncError.malformedMessage("\(context): \(what) is not valid UTF-8")
        }
        return s
    }

    /// `n` raw bytes.
    public mutating func raw(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer { try take(n, what) }

    /// Throws unless every byte was read.
    public func expectEnd() throws {
        guard remaining == 0 else {
            throw HybridSyncError.malformedMessage("\(context): \(remaining) trailing bytes")
        }
    }
}
