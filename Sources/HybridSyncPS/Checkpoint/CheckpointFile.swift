import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// A checkpoint file written in a stream: bytes go through a buffer to the file while their CRC-32C and
/// count are kept, so a table of any size is written without being held twice in memory. `finish`
/// flushes and fsyncs. Every failure throws `checkpoint(file:reason:)` naming the file.
package final class CheckpointWriter {
    package let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var crc = CRC32C()
    private(set) package var size = 0
    private static let flushAt = 1 << 20

    /// Creates (truncates) `path`.
    package init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "cannot create: \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(Self.flushAt + 4096)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends raw bytes. (The checksum is taken a buffer at a time, when the buffer goes out.)
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        size += bytes.count
        if bytes.count >= Self.flushAt {
            try flush()
            crc.update(bytes)
            try writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.flushAt { try flush() }
    }

    package func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    // One overload per integer type, not a generic: these run per row, across modules.
    package func write(_ v: UInt8) throws { try integer(v) }
    package func write(_ v: UInt32) throws { try integer(v) }
    package func write(_ v: Int32) throws { try integer(v) }
    package func write(_ v: UInt64) throws { try integer(v) }
    package func write(_ v: Int64) throws { try integer(v) }

    @inline(__always)
    private func integer<T: FixedWidthInteger>(_ v: T) throws {
        size += MemoryLayout<T>.size
        buffer.appendLittleEndian(v)
        if buffer.count >= Self.flushAt { try flush() }
    }
    package func write(floats p: UnsafePointer<Float>, count: Int) throws {
        try write(UnsafeRawBufferPointer(start: p, count: count * 4))
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes {
            crc.update($0)
            try writeAll($0)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "write failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Flushes and fsyncs (unless `durable` is false: whoever completes the checkpoint syncs the file
    /// later); returns (size, CRC-32C).
    package func finish(durable: Bool = true) throws -> (size: Int, crc: UInt32) {
        try flush()
        guard !durable || fsync(fd) == 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
        return (size, crc.value)
    }
}

/// A checkpoint file read in a stream, checked against the size and CRC-32C its manifest gives:
/// `verify` reads it whole first, so nothing of a damaged file is ever applied.
package final class CheckpointReader {
    package let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0

    package init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Reads the whole file once and throws unless its size and CRC-32C are `size` and `crc`.
    package static func verify(path: String, size: Int, crc: UInt32) throws {
        let r = try CheckpointReader(path: path)
        var c = CRC32C(), total = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(r.fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "read failed: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            chunk.withUnsafeBytes { c.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += n
        }
        guard total == size else { throw HybridSyncError.checkpoint(.damaged, file: path, reason: "\(total) bytes where the manifest says \(size)") }
        guard c.value == crc else {
            throw HybridSyncError.checkpoint(.damaged, file: path, reason: "checksum \(hex(c.value)) where the manifest says \(hex(crc)): the file is damaged")
        }
    }

    /// Makes at least `count` unread bytes available in the buffer (compacting it first).
    private func fill(_ count: Int) throws {
        guard buffer.count - position < count else { return }
        if position > 0 {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        let want = Swift.max(1 << 20, count - buffer.count)
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: want))
        var got = 0
        while old + got < count || got == 0 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + old + got, want - got) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                buffer.removeSubrange((old + got)...)
                throw HybridSyncError.checkpoint(.damaged, file: path, reason: "ends early (wanted \(count) more bytes)")
            }
            got += n
            if got == want { break }
        }
        buffer.removeSubrange((old + got)...)
    }

    /// Exactly `count` bytes, or throws naming the file.
    package func read(_ count: Int) throws -> [UInt8] {
        try fill(count)
        defer { position += count }
        return Array(buffer[position..<(position + count)])
    }

    @inline(__always)
    private func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let n = MemoryLayout<T>.size
        try fill(n)
        defer { position += n }
        return buffer.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: position, as: T.self) }
    }

    // One overload per integer type, not a generic: these run per row, across modules.
    package func read(_: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    package func read(_: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    package func read(_: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    package func read(_: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }
    package func read(_: Int64.Type) throws -> Int64 { try integer(Int64.self) }

    /// `count` floats into `p`.
    package func read(floats p: UnsafeMutablePointer<Float>, count: Int) throws {
        var done = 0
        while done < count {
            let n = Swift.min(count - done, 1 << 18)
            try fill(n * 4)
            buffer.withUnsafeBytes { UnsafeMutableRawPointer(p + done).copyMemory(from: $0.baseAddress! + position, byteCount: n * 4) }
            position += n * 4
            done += n
        }
    }
}

/// `0x`-prefixed eight hex digits.
package func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
