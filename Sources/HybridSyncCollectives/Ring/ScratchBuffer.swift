/// A grow-only, 64-byte aligned byte buffer reused across calls, so steady-state collectives allocate
/// (and page-fault) nothing.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int

    init(initialBytes: Int = 0) {
        capacity = Swift.max(64, initialBytes)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    /// Returns storage of at least `bytes` bytes; contents are not preserved when it grows.
    func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > capacity {
            pointer.deallocate()
            capacity = bytes
            pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
            // Touch every page once now, not inside the first timed reduction.
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        }
        return pointer
    }

    /// Abandons the storage without freeing it (a timed-out request may still write into it).
    func leak() {
        capacity = 64
        pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit { pointer.deallocate() }
}
