import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// One frame of an outgoing multipart message.
public enum OutgoingFrame: @unchecked Sendable {
    /// Bytes copied into the message.
    case bytes([UInt8])
    /// Memory handed to ZeroMQ without a copy; it must come from `malloc` (or Swift's `allocate`, which
    /// uses it) and ZeroMQ frees it with `free` once sent. The sender must not touch it afterwards.
    case owned(UnsafeMutableRawPointer, count: Int)

    /// Bytes of the frame.
    public var count: Int {
        switch self {
        case .bytes(let b): return b.count
        case .owned(_, let n): return n
        }
    }
}

/// A received frame, read without a copy: it owns the `zmq_msg_t` and closes it when released.
public final class ReceivedFrame: @unchecked Sendable {
    let message: UnsafeMutablePointer<zmq_msg_t>

    init() {
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
    }

    deinit {
        zmq_msg_close(message)
        message.deallocate()
    }

    /// Bytes of the frame.
    public var count: Int { zmq_msg_size(message) }

    /// Calls `body` with the frame's bytes, valid only inside the call.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: count))
    }

    /// A copy of the bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// The free function ZeroMQ calls for `OutgoingFrame.owned` memory.
let zmqFreeOwned: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { data, _ in
    free(data)
}
