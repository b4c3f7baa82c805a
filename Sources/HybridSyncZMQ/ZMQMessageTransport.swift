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
/// With a `CurveSetup` every link is a secure channel (`SecureLinks`; `Docs/Security.md`): each
/// connection starts with a handshake that admits only the job's members and pins the job's listening
/// key, then every message is sealed with AES-256-GCM under that connection's keys, and each message the
/// listening socket receives carries the member's identity. A peer speaking CURVE or another ZeroMQ
/// security mechanism fails at libzmq's own handshake (seen by a socket monitor); one speaking plain
/// ZeroMQ gets no answer.
package final class ZMQMessageTransport: MessageTransport {
    private let context: ZMQContext
    private var router: ZMQSocket?
    private var links: [ZMQSocket] = []
    private let wakeup: Wakeup
    private let maxFrameBytes: Int
    private let channel: SecureLinks?
    /// Reads the listening socket's failed ZeroMQ handshakes (a peer speaking CURVE or PLAIN).
    private var monitor: ZMQSocket?
    private let onRefused: (TransportRefusal) -> Void
    /// The Unix socket file of an `ipc://` listening endpoint, removed on close.
    private var ipcPath: String?

    /// - Parameter onRefused: called on the I/O thread for every connection refused at the handshake
    ///   (not a member of the job) and every sealed message refused (replayed, reordered, altered).
    package init(maxFrameBytes: Int, curve: CurveSetup? = nil, onRefused: @escaping (TransportRefusal) -> Void = { _ in }) throws {
        context = try ZMQContext()
        wakeup = try Wakeup()
        self.maxFrameBytes = maxFrameBytes
        self.onRefused = onRefused
        channel = try curve.map { SecureLinks(keys: try $0.channelKeys(), onRefused: onRefused) }
    }

    /// Fingerprints of the sessions open on the listening socket (tests check they differ).
    package var sessionFingerprints: [[UInt8]] { channel?.routeFingerprints ?? [] }

    package func listen(_ endpoint: String) throws -> String {
        let socket = try ZMQSocket(context, kind: .router)
        try socket.setMaxFrameBytes(maxFrameBytes)
        if channel != nil {
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
        try socket.connect(endpoint)
        links.append(socket)
        if let channel { try socket.send(try channel.opened(links.count - 1)) }
        return links.count - 1
    }

    package func send(_ frames: [OutgoingFrame], to peer: Peer) throws {
        switch peer {
        case .routed(let route):
            guard let router else {
                frames.forEach { $0.discard() }
                throw HybridSyncError.invalidArgument(.order, "no listening socket to reply to \(peer) on")
            }
            try router.send([.bytes(route)] + (try channel?.outgoing(frames, to: route) ?? frames))
        case .link(let i):
            guard links.indices.contains(i) else {
                frames.forEach { $0.discard() }
                throw HybridSyncError.invalidArgument(.range, "no connection \(i)")
            }
            if let channel {
                if let sealed = try channel.outgoing(frames, on: i) { try links[i].send(sealed) }
            } else {
                try links[i].send(frames)
            }
        }
    }

    package func receive(until deadline: Deadline) throws -> [InboundMessage] {
        // Connections first: a server must read the scheduler's address book before requests that
        // arrived with it.
        var sockets = links
        if let router { sockets.append(router) }
        if let monitor { sockets.append(monitor) }
        let ms = Int((deadline.remainingSeconds * 1000).rounded(.up))
        let ready = try ZMQSocket.poll(sockets, fd: wakeup.fd, timeoutMs: ms)
        if ready.fdReady { wakeup.drain() }
        var out: [InboundMessage] = []
        if let channel {
            for (link, hello) in try channel.retryHandshakes() { try? links[link].send(hello) }
        }
        for index in ready.ready {
            let socket = sockets[index]
            if let monitor, socket === monitor {
                // Each event: a frame of (u16 event, u32 value), then the peer's address.
                while let event = try monitor.receive() {
                    let peer = event.count >= 2 ? String(decoding: event[1].bytes, as: UTF8.self) : "the listening socket"
                    onRefused(.handshake(peer: peer, why: "a client speaking another ZeroMQ security mechanism (CURVE or PLAIN)"))
                }
                continue
            }
            let routed = index == links.count
            while let raw = try socket.receive() {
                if routed {
                    guard raw.count >= 2 else { continue }
                    if let message = try routedMessage(raw) { out.append(message) }
                } else if let channel {
                    let (deliver, send) = try channel.incoming(raw, on: index)
                    for m in send { try? socket.send(m) }
                    if let deliver { out.append(InboundMessage(from: .link(index), frames: deliver.map { $0 as any ByteFrame })) }
                } else {
                    out.append(InboundMessage(from: .link(index), frames: raw.map { $0 as any ByteFrame }))
                }
            }
        }
        return out
    }

    /// A message from the listening socket (`raw[0]` is its routing id), opened by the channel; nil
    /// when it was a handshake step or refused.
    private func routedMessage(_ raw: [ReceivedFrame]) throws -> InboundMessage? {
        let route = raw[0].bytes
        let frames = Array(raw.dropFirst())
        guard let channel else { return InboundMessage(from: .routed(route), frames: frames.map { $0 as any ByteFrame }) }
        let (deliver, reply) = try channel.incoming(frames, from: route)
        if let reply, let router { try? router.send([.bytes(route)] + reply) }
        guard let deliver else { return nil }
        return InboundMessage(from: .routed(route), frames: deliver.frames.map { $0 as any ByteFrame }, identity: deliver.identity)
    }

    package var waker: @Sendable () -> Void {
        let w = wakeup
        return { w.signal() }
    }

    package func close(lingerSeconds: Double) {
        let ms = Int32(Swift.max(0, Swift.min(lingerSeconds, 60)) * 1000)
        channel?.close()
        for s in [router, monitor].compactMap({ $0 }) + links {
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
