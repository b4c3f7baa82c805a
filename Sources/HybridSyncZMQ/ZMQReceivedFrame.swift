import CZeroMQ
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// A received frame, read without a copy: it owns the `zmq_msg_t` and closes it when released.
package final class ReceivedFrame: ByteFrame, @unchecked Sendable {
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
    package var count: Int { zmq_msg_size(message) }

    /// Calls `body` with the frame's bytes, valid only inside the call.
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: count))
    }

    /// The frame's bytes to change in place (the secure channel decrypts there); valid while the frame
    /// lives.
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: zmq_msg_data(message), count: count) }

    /// A copy of the bytes.
    package var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// The free function ZeroMQ calls for `OutgoingFrame.owned` memory.
let zmqFreeOwned: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { data, _ in
    free(data)
}

/// The free function ZeroMQ calls for `OutgoingFrame.shared` bytes: drops its reference.
let zmqReleaseShared: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    if let hint { Unmanaged<SharedBytes>.fromOpaque(hint).release() }
}
