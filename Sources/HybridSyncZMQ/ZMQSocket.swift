import CZeroMQ
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// A ZeroMQ socket. ZeroMQ sockets are not thread-safe: a socket is used by one thread at a time (the
/// node's I/O thread); it may be created on another thread and handed over.
package final class ZMQSocket {
    /// Socket kinds HybridSync uses.
    package enum Kind: Sendable {
        case router, dealer, rep, pair

        var raw: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .rep: return ZMQ_REP
            case .pair: return ZMQ_PAIR
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    private var closed = false
    /// Held so the context outlives the socket (terminating a context waits for its sockets to close).
    private let context: ZMQContext

    /// Creates a socket of `kind` in `context` with linger 0 (closing never blocks).
    package init(_ context: ZMQContext, kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else {
            throw HybridSyncError.transport(
                library: "ZeroMQ", call: "zmq_socket", code: zmq_errno(),
                message: String(cString: zmq_strerror(zmq_errno())))
        }
        handle = h
        self.context = context
        try setOption(ZMQ_LINGER, 0)
    }

    deinit { close() }

    /// Closes the socket (idempotent).
    package func close() {
        if !closed { zmq_close(handle); closed = true }
    }

    /// Sets an integer option (`zmq_setsockopt`).
    package func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        _ = try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) }
    }

    /// Sets a 64-bit option such as `ZMQ_MAXMSGSIZE`.
    package func setOption64(_ option: Int32, _ value: Int64) throws {
        var v = value
        _ = try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) }
    }

    /// Sets a string option.
    package func setOption(_ option: Int32, _ value: String) throws {
        _ = try value.withCString { p in
            try zmqCall("zmq_setsockopt(\(option))") { zmq_setsockopt(handle, option, p, value.utf8.count) }
        }
    }

    /// How long closing waits for unsent messages (`ZMQ_LINGER`, milliseconds).
    package func setLinger(milliseconds: Int32) throws { try setOption(ZMQ_LINGER, milliseconds) }

    /// Largest frame this socket accepts; a peer sending a larger one is disconnected by libzmq.
    package func setMaxFrameBytes(_ bytes: Int) throws { try setOption64(ZMQ_MAXMSGSIZE, Int64(bytes)) }

    /// Binds to `endpoint` (e.g. `tcp://127.0.0.1:0` for any free port) and returns the bound endpoint.
    package func bind(_ endpoint: String) throws -> String {
        _ = try zmqCall("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        _ = try zmqCall("zmq_getsockopt(ZMQ_LAST_ENDPOINT)") { zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Connects to `endpoint`; ZeroMQ reconnects in the background.
    package func connect(_ endpoint: String) throws {
        _ = try zmqCall("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    /// Sends a multipart message without blocking: a full queue (the peer's high-water mark) throws
    /// before anything is sent. ZeroMQ takes the rest of a message whose first frame it accepted; should
    /// a later frame fail anyway, the message is ended with an empty frame (so the peer's codec rejects
    /// it rather than joining it to the next message) and the error is thrown. `owned` memory is freed
    /// in every case.
    package func send(_ frames: [OutgoingFrame]) throws {
        for (i, frame) in frames.enumerated() {
            let more = i + 1 < frames.count
            let flags = (more ? ZMQ_SNDMORE : 0) | (i == 0 ? ZMQ_DONTWAIT : 0)
            do {
                let sent: Int32?
                switch frame {
                case .bytes(let b):
                    sent = try b.withUnsafeBytes { raw in
                        try zmqCall("zmq_send") { zmq_send(handle, raw.baseAddress, raw.count, flags) }
                    }
                case .owned(let pointer, let count):
                    var msg = zmq_msg_t()
                    _ = try zmqCall("zmq_msg_init_data") { zmq_msg_init_data(&msg, pointer, count, zmqFreeOwned, nil) }
                    sent = try sendMessage(&msg, flags)
                case .shared(let bytes):
                    // Zero copy: ZeroMQ holds a reference until it has sent the bytes.
                    var msg = zmq_msg_t()
                    let hint = Unmanaged.passRetained(bytes).toOpaque()
                    guard zmq_msg_init_data(&msg, bytes.pointer, bytes.count, zmqReleaseShared, hint) == 0 else {
                        Unmanaged<SharedBytes>.fromOpaque(hint).release()
                        throw HybridSyncError.transport(
                            library: "ZeroMQ", call: "zmq_msg_init_data", code: zmq_errno(),
                            message: String(cString: zmq_strerror(zmq_errno())))
                    }
                    sent = try sendMessage(&msg, flags)
                }
                if sent == nil {
                    throw HybridSyncError.transport(
                        library: "ZeroMQ", call: "zmq_send", code: EAGAIN,
                        message: "the peer's queue is full (high-water mark)")
                }
            } catch {
                for rest in frames.dropFirst(i + 1) { rest.discard() }
                if i > 0 { _ = zmq_send(handle, nil, 0, 0) }
                throw error
            }
        }
    }

    /// Sends an initialised message; closes it (releasing its data) unless ZeroMQ took it. Nil when
    /// the queue is full.
    private func sendMessage(_ msg: inout zmq_msg_t, _ flags: Int32) throws -> Int32? {
        let sent: Int32?
        do {
            sent = try zmqCall("zmq_msg_send") { zmq_msg_send(&msg, handle, flags) }
        } catch {
            zmq_msg_close(&msg)
            throw error
        }
        if sent == nil { zmq_msg_close(&msg) }
        return sent
    }

    /// Publishes this socket's handshake failures (protocol and unspecified: a peer speaking another
    /// security mechanism) on the inproc endpoint `address`, for a PAIR socket to read.
    package func monitorHandshakeFailures(on address: String) throws {
        _ = try zmqCall("zmq_socket_monitor") {
            zmq_socket_monitor(handle, address, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        }
    }

    /// Receives one whole multipart message if one is waiting; `nil` otherwise (never blocks).
    package func receive() throws -> [ReceivedFrame]? {
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
    package static func poll(_ sockets: [ZMQSocket], fd: Int32?, timeoutMs: Int) throws -> (ready: [Int], fdReady: Bool) {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        if let fd { items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)) }
        guard try zmqCall("zmq_poll", { zmq_poll(&items, Int32(items.count), timeoutMs) }) != nil else { return ([], false) }
        var ready: [Int] = []
        for i in sockets.indices where items[i].revents & Int16(ZMQ_POLLIN) != 0 { ready.append(i) }
        let fdReady = fd != nil && items[sockets.count].revents & Int16(ZMQ_POLLIN) != 0
        return (ready, fdReady)
    }
}
