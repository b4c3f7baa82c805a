import Synchronization

/// Large message buffers kept for reuse, by power-of-two size class.
///
/// A push of a million rows gathers megabytes into fresh buffers per server and per call; malloc hands
/// such sizes out as new mappings (or trims them off the heap once freed), so each call paid a page
/// fault and a kernel zeroing per 4 KiB before its first copy. Buffers freed here (by whichever thread
/// drops the last reference: often the transport's I/O thread once the bytes are sent) are handed out
/// again with their pages mapped. Small sizes go straight to `allocate`; at most `maxCachedBytes` are
/// kept idle, and a size class keeps at most `perClass` buffers.
package final class BufferPool: Sendable {
    /// The process's pool.
    package static let shared = BufferPool()

    /// Below this, buffers come from `allocate` and are not pooled.
    package static let smallest = 64 * 1024

    private struct Idle {
        /// Free buffers' addresses (as integers: the pool never reads them), by capacity.
        var free: [Int: [UInt]] = [:]
        var bytes = 0
    }

    private let idle = Mutex(Idle())
    private let maxCachedBytes: Int
    private let perClass: Int

    package init(maxCachedBytes: Int = 256 << 20, perClass: Int = 8) {
        self.maxCachedBytes = maxCachedBytes
        self.perClass = perClass
    }

    /// A buffer of at least `bytes` bytes, and its capacity (0 when it is not pooled: free it with
    /// `deallocate`).
    package func take(bytes: Int) -> (UnsafeMutableRawPointer, capacity: Int) {
        guard bytes >= Self.smallest else { return (.allocate(byteCount: Swift.max(1, bytes), alignment: 16), 0) }
        let capacity = 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount)
        let reused = idle.withLock { idle -> UInt? in
            guard let address = idle.free[capacity]?.popLast() else { return nil }
            idle.bytes -= capacity
            return address
        }
        if let reused, let p = UnsafeMutableRawPointer(bitPattern: reused) { return (p, capacity) }
        return (.allocate(byteCount: capacity, alignment: 64), capacity)
    }

    /// Gives back a buffer `take` returned with this capacity.
    package func give(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        let kept = idle.withLock { idle -> Bool in
            guard idle.bytes + capacity <= maxCachedBytes, idle.free[capacity, default: []].count < perClass else { return false }
            idle.free[capacity, default: []].append(UInt(bitPattern: pointer))
            idle.bytes += capacity
            return true
        }
        if !kept { pointer.deallocate() }
    }

    /// Bytes idle in the pool.
    package var idleBytes: Int { idle.withLock { $0.bytes } }
}
