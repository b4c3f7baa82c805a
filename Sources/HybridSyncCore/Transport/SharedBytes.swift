/// Immutable bytes shared between a pending request (kept for resending) and the transport sending it
/// without a copy: released when the last holder lets go. (`@unchecked Sendable`: the memory is never
/// written after it is handed over, so sharing its pointer is safe.)
package final class SharedBytes: ByteFrame, @unchecked Sendable {
    /// Where the bytes live and who gives them back.
    private enum Storage {
        /// From `allocate`; freed with this object.
        case owned
        /// Another object's (an array's buffer, a larger `SharedBytes`), kept alive by this reference.
        case borrowed(Any)
        /// A buffer of `pool` with this capacity, given back to it.
        case pooled(capacity: Int, pool: BufferPool)
    }

    /// The bytes' start (valid for the life of this object).
    package let pointer: UnsafeMutableRawPointer
    /// How many bytes.
    package let count: Int
    private let storage: Storage

    private init(pointer: UnsafeMutableRawPointer, count: Int, storage: Storage) {
        self.pointer = pointer
        self.count = count
        self.storage = storage
    }

    /// Takes ownership of `pointer` (from `allocate`), which must hold `count` initialised bytes.
    package convenience init(owning pointer: UnsafeMutableRawPointer, count: Int) {
        self.init(pointer: pointer, count: count, storage: .owned)
    }

    /// A copy of `bytes`.
    package convenience init(copying bytes: UnsafeRawBufferPointer) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, bytes.count), alignment: 16)
        if let base = bytes.baseAddress, bytes.count > 0 { p.copyMemory(from: base, byteCount: bytes.count) }
        self.init(owning: p, count: bytes.count)
    }

    /// `count` bytes written by `fill` into a buffer from `pool` (the process's by default): a large
    /// message's buffer is reused, its pages already mapped, instead of being allocated, faulted in and
    /// zeroed by the kernel on every call. `fill` must write all `count` bytes.
    package static func pooled(count: Int, from pool: BufferPool = .shared, _ fill: (UnsafeMutableRawPointer) -> Void) -> SharedBytes {
        let (p, capacity) = pool.take(bytes: count)
        fill(p)
        return SharedBytes(pointer: p, count: count, storage: capacity > 0 ? .pooled(capacity: capacity, pool: pool) : .owned)
    }

    /// The elements of `array` as they lie in memory, without a copy. The array's buffer is held for
    /// the life of this object, so it stays where it is and stays unchanged: the caller's array is one
    /// more holder, and a later change to it copies the buffer first (copy on write).
    package static func viewing<T: BitwiseCopyable>(_ array: [T]) -> SharedBytes {
        let bytes = array.count * MemoryLayout<T>.stride
        guard bytes > 0 else { return SharedBytes(copying: UnsafeRawBufferPointer(start: nil, count: 0)) }
        let start = array.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        return SharedBytes(pointer: start, count: bytes, storage: .borrowed(array))
    }

    /// The first `count` bytes of `self`, without a copy (they keep `self` alive).
    package func prefix(_ count: Int) -> SharedBytes {
        SharedBytes(pointer: pointer, count: Swift.min(count, self.count), storage: .borrowed(self))
    }

    /// Calls `body` with the bytes (a `ByteFrame`, as a decoded copy of a received frame).
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    deinit {
        switch storage {
        case .owned: pointer.deallocate()
        case .borrowed: break
        case let .pooled(capacity, pool): pool.give(pointer, capacity: capacity)
        }
    }
}
