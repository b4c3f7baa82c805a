import CZeroMQ
import HybridSyncCore
#if canImport(Glibc)
import Glibc
#endif

/// A ZeroMQ socket. ZeroMQ sockets are not thread-safe: a socket is used by one thread at a time (the
/// node's I/O thread); it may be created on another thread and handed over.
public final class ZMQSocket: @unchecked Sendable {
    /// Socket kinds HybridSync uses.
    public enum Kind: Sendable {
        case router, dealer

        var raw: Int32 { self == .router ? ZMQ_ROUTER : ZMQ_DEALER }
    }

    let handle: UnsafeMutableRawPointer
    private var closed = false
    /// Held so the context outlives the socket (terminating a context waits for its sockets to close).
    private let context: ZMQContext

    /// Creates a socket of `kind` in `context` with linger 0 (closing never blocks).
    public init(_ context: ZMQContext, kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else {
            throw HybridSyncError.transport(library: "ZeroMQ", call: "zmq_socket", code: zmq_errno(),
                                            message: String(cString: zmq_strerror(zmq_errno())))
        }
        handle = h
        self.context = context
        try setOption(ZMQ_LINGER, 0)
    }

    deinit { close() }

    /// Closes the socket (idempotent).
    public func close() {
        if !closed { zmq_close(handle); closed = true }
    }

    /// Sets an integer option (`zmq_setsockopt`).
    public func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        _ = try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) }
    }

    /// Sets a 64-bit option such as `ZMQ_MAXMSGSIZE`.
    public func setOption64(_ option: Int32, _ value: Int64) throws {
        var v = value
        _ = try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) }
    }

    /// How long closing waits for unsent messages (`ZMQ_LINGER`, milliseconds).
    public func setLinger(milliseconds: Int32) throws { try setOption(ZMQ_LINGER, milliseconds) }

    /// Largest frame this socket accepts; a peer sending a larger one is disconnected by libzmq.
    public func setMaxFrameBytes(_ bytes: Int) throws { try setOption64(ZMQ_MAXMSGSIZE, Int64(bytes)) }

    /// Binds to `endpoint` (e.g. `tcp://127.0.0.1:0` for any free port) and returns the bound endpoint.
    public func bind(_ endpoint: String) throws -> String {
        _ = try zmqCall("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        _ = try zmqCall("zmq_getsockopt(ZMQ_LAST_ENDPOINT)") { zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Connects to `endpoint`; ZeroMQ reconnects in the background.
    public func connect(_ endpoint: String) throws {
        _ = try zmqCall("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    /// Sends a multipart message. Blocks only while the peer's queue is full (high-water mark).
    public func send(_ frames: [OutgoingFrame]) throws {
        for (i, frame) in frames.enumerated() {
            let flags = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            switch frame {
            case .bytes(let b):
                _ = try b.withUnsafeBytes { raw in
                    try zmqCall("zmq_send") { zmq_send(handle, raw.baseAddress, raw.count, flags) }
                }
            case .owned(let pointer, let count):
                var msg = zmq_msg_t()
                _ = try zmqCall("zmq_msg_init_data") { zmq_msg_init_data(&msg, pointer, count, zmqFreeOwned, nil) }
                do {
                    _ = try zmqCall("zmq_msg_send") { zmq_msg_send(&msg, handle, flags) }
                } catch {
                    zmq_msg_close(&msg)
                    throw error
                }
            }
        }
    }

    /// Receives one whole multipart message if one is waiting; `nil` otherwise (never blocks).
    public func receive() throws -> [ReceivedFrame]? {
        var frames: [ReceivedFrame] = []
        while true {
            let frame = ReceivedFrame()
            let flags = frames.isEmpty ? ZMQ_DONTWAIT : 0
            guard try zmqCall("zmq_msg_recv", { zmq_msg_recv(frame.message, handle, flags) }) != nil else {
                return nil
            }
            frames.append(frame)
            if zmq_msg_more(frame.message) == 0 { return frames }
        }
    }

    /// Waits up to `timeoutMs` for any of `sockets` to be readable or `fd` (an eventfd) to be signalled.
    /// Returns the indices of the readable sockets and whether `fd` fired.
    public static func poll(_ sockets: [ZMQSocket], fd: Int32?, timeoutMs: Int) throws -> (ready: [Int], fdReady: Bool) {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        if let fd { items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)) }
        guard try zmqCall("zmq_poll", { zmq_poll(&items, Int32(items.count), timeoutMs) }) != nil else { return ([], false) }
        var ready: [Int] = []
        for i in sockets.indices where items[i].revents & Int16(ZMQ_POLLIN) != 0 { ready.append(i) }
        let fdReady = fd != nil && items[sockets.count].revents & Int16(ZMQ_POLLIN) != 0
        return (ready, fdReady)
    }
}
