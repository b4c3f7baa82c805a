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
        guard fd >= 0 else { throw HybridSyncError.checkpoint(file: path, reason: "cannot create: \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(Self.flushAt + 4096)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends raw bytes.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        crc.update(bytes)
        size += bytes.count
        if bytes.count >= Self.flushAt {
            try flush()
            try writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.flushAt { try flush() }
    }

    package func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    package func write<T: FixedWidthInteger>(_ v: T) throws { try withUnsafeBytes(of: v.littleEndian) { try write($0) } }
    package func write(floats p: UnsafePointer<Float>, count: Int) throws {
        try write(UnsafeRawBufferPointer(start: p, count: count * 4))
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HybridSyncError.checkpoint(file: path, reason: "write failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Flushes, fsyncs and closes; returns (size, CRC-32C).
    package func finish() throws -> (size: Int, crc: UInt32) {
        try flush()
        guard fsync(fd) == 0 else { throw HybridSyncError.checkpoint(file: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
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
        guard fd >= 0 else { throw HybridSyncError.checkpoint(file: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
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
            guard n >= 0 else { throw HybridSyncError.checkpoint(file: path, reason: "read failed: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            chunk.withUnsafeBytes { c.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += n
        }
        guard total == size else { throw HybridSyncError.checkpoint(file: path, reason: "\(total) bytes where the manifest says \(size)") }
        guard c.value == crc else {
            throw HybridSyncError.checkpoint(file: path, reason: "checksum \(hex(c.value)) where the manifest says \(hex(crc)): the file is damaged")
        }
    }

    /// Exactly `count` bytes, or throws naming the file.
    package func read(_ count: Int) throws -> [UInt8] {
        while buffer.count - position < count {
            if position > 0 { buffer.removeFirst(position); position = 0 }
            var chunk = [UInt8](repeating: 0, count: Swift.max(1 << 20, count))
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HybridSyncError.checkpoint(file: path, reason: "ends early (wanted \(count) more bytes)") }
            buffer.append(contentsOf: chunk[0..<n])
        }
        defer { position += count }
        return Array(buffer[position..<(position + count)])
    }

    package func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let b = try read(MemoryLayout<T>.size)
        return b.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }

    /// `count` floats into `p`.
    package func read(floats p: UnsafeMutablePointer<Float>, count: Int) throws {
        let b = try read(count * 4)
        b.withUnsafeBytes { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: count * 4) }
    }
}

/// `0x`-prefixed eight hex digits.
package func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
