// The byte order of every message and every checkpoint file: integers least significant byte first,
// floats as their IEEE bit patterns. `ByteWriter` and `ByteReader` use these on bytes in memory; the
// checkpoint files' streams use them on their buffers.

extension Array where Element == UInt8 {
    /// Appends `v`'s bytes, least significant first.
    @inlinable @inline(__always)
    package mutating func appendLittleEndian<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    /// The `T` whose bytes, least significant first, start at `offset` (any alignment). The caller has
    /// checked that they are in bounds.
    @inlinable @inline(__always)
    package func loadLittleEndian<T: FixedWidthInteger>(fromByteOffset offset: Int, as _: T.Type) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
