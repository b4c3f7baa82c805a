import CZeroMQ
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// `MessageTransport` over ZeroMQ: a ROUTER for the listening endpoint, a DEALER per connection, and a
/// wakeup pipe polled with them. The only place the parameter server's nodes touch ZeroMQ.
///
/// Each socket accepts frames of up to `maxFrameBytes`; libzmq disconnects a peer that sends a larger
/// one (smaller oversize messages are answered with a typed error by the codec above).
///
/// With a `CurveSetup` every link is CURVE-encrypted and authenticated: the listening socket serves
/// with the job's key and lets in only the job's members (the context's ZAP handler, polled with the
/// other sockets), each message it receives carries the member's identity, and every connection pins
/// the job's server key.
package final class ZMQMessageTransport: MessageTransport {
    private let context: ZMQContext
    private var router: ZMQSocket?
    private var links: [ZMQSocket] = []
    private let wakeup: Wakeup
    private let maxFrameBytes: Int
    private let curve: CurveSetup?
    private let zap: ZAPHandler?
    /// Reads the listening socket's failed handshakes (a peer without CURVE never reaches ZAP).
    private var monitor: ZMQSocket?
    private let onRefused: (String) -> Void
    /// The Unix socket file of an `ipc://` listening endpoint, removed on close.
    private var ipcPath: String?

    /// - Parameter onRefused: called on the I/O thread with the address of every peer refused at the
    ///   handshake (not a member of the job).
    package init(maxFrameBytes: Int, curve: CurveSetup? = nil, onRefused: @escaping (String) -> Void = { _ in }) throws {
        let context = try ZMQContext()
        self.context = context
        wakeup = try Wakeup()
        self.maxFrameBytes = maxFrameBytes
        self.curve = curve
        self.onRefused = onRefused
        zap = try curve.map { try ZAPHandler(context, members: $0.members, onRefused: onRefused) }
    }

    package func listen(_ endpoint: String) throws -> String {
        let socket = try ZMQSocket(context, kind: .router)
        try socket.setMaxFrameBytes(maxFrameBytes)
        if let curve {
            try socket.serveCurve(curve.server)
            try socket.monitorHandshakeFailures(on: "inproc://hybridsync.handshakes")
            let pair = try ZMQSocket(context, kind: .pair)
            try pair.connect("inproc://hybridsync.handshakes")
            monitor = pair
        }
        let bound = try socket.bind(endpoint)
        router = socket
        if bound.hasPrefix("ipc://") { ipcPath = String(bound.dropFirst("ipc://".count)) }
        return bound
    }

    package func connect(_ endpoint: String) throws -> Int {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.setMaxFrameBytes(maxFrameBytes)
        if let curve { try socket.useCurve(curve.client, serverKey: curve.server.publicKey) }
        try socket.connect(endpoint)
        links.append(socket)
        return links.count - 1
    }

    package func send(_ frames: [OutgoingFrame], to peer: Peer) throws {
        switch peer {
        case .routed(let route):
            guard let router else {
                frames.forEach { $0.discard() }
                throw HybridSyncError.invalidArgument(.order, "no listening socket to reply to \(peer) on")
            }
            try router.send([.bytes(route)] + frames)
        case .link(let i):
            guard links.indices.contains(i) else {
                frames.forEach { $0.discard() }
                throw HybridSyncError.invalidArgument(.range, "no connection \(i)")
            }
            try links[i].send(frames)
        }
    }

    package func receive(until deadline: Deadline) throws -> [InboundMessage] {
        // Connections first: a server must read the scheduler's address book before requests that
        // arrived with it.
        var sockets = links
        if let router { sockets.append(router) }
        if let zap { sockets.append(zap.socket) }
        if let monitor { sockets.append(monitor) }
        let ms = Int((deadline.remainingSeconds * 1000).rounded(.up))
        let ready = try ZMQSocket.poll(sockets, fd: wakeup.fd, timeoutMs: ms)
        if ready.fdReady { wakeup.drain() }
        var out: [InboundMessage] = []
        for index in ready.ready {
            let socket = sockets[index]
            if let zap, socket === zap.socket {
                try zap.serve()
                continue
            }
            if let monitor, socket === monitor {
                // Each event: a frame of (u16 event, u32 value), then the peer's address.
                while let event = try monitor.receive() {
                    onRefused("a client without CURVE on " + (event.count >= 2 ? String(decoding: event[1].bytes, as: UTF8.self) : "the listening socket"))
                }
                continue
            }
            let routed = index == links.count
            let link = index
            while let raw = try socket.receive() {
                if routed {
                    guard raw.count >= 2 else { continue }
                    out.append(
                        InboundMessage(
                            from: .routed(raw[0].bytes), frames: raw.dropFirst().map { $0 as any ByteFrame },
                            identity: ZMQSocket.identity(of: raw[1])))
                } else {
                    out.append(InboundMessage(from: .link(link), frames: raw.map { $0 as any ByteFrame }))
                }
            }
        }
        return out
    }

    package var waker: @Sendable () -> Void {
        let w = wakeup
        return { w.signal() }
    }

    package func close(lingerSeconds: Double) {
        let ms = Int32(Swift.max(0, Swift.min(lingerSeconds, 60)) * 1000)
        for s in [router, zap?.socket, monitor].compactMap({ $0 }) + links {
            try? s.setLinger(milliseconds: ms)
            s.close()
        }
        router = nil
        links = []
        context.terminate()
        if let ipcPath { unlink(ipcPath) }
        ipcPath = nil
    }
}
