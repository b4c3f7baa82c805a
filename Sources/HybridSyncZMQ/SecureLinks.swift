import HybridSyncCore
import HybridSyncCrypto

/// The secure channel's shell on one node's transport: the state of every connection this node
/// opened (handshaking, with the messages sent meanwhile queued, or open) and of every connection made
/// to its listening socket (welcomed, or confirmed). It turns outgoing messages into sealed ones and
/// incoming frames into opened messages or handshake replies; the handshake and the sealing are
/// `ChannelInitiator`, `ChannelResponder` and `ChannelSession`. Used on the transport's thread only.
final class SecureLinks {
    private let keys: ChannelKeys
    private let onRefused: (TransportRefusal) -> Void

    private enum LinkState {
        case handshaking(ChannelInitiator, queued: [[OutgoingFrame]], since: Deadline)
        case open(ChannelSession)
    }
    private enum RouteState {
        case welcomed(ChannelResponder)
        case open(ChannelSession, identity: String)
    }
    private var links: [Int: LinkState] = [:]
    private var routes: [[UInt8]: RouteState] = [:]

    /// Messages a connection queues while its handshake runs; more fail like a full queue.
    static let maxQueued = 4096
    /// A handshake without a welcome this long starts again with a new ephemeral key (the hello, or the
    /// welcome, was lost to a reconnection).
    static let helloRetrySeconds = 1.0
    /// Connections to the listening socket remembered at most (the oldest half is forgotten past it;
    /// a forgotten one is told to handshake again).
    static let maxRoutes = 1 << 16

    init(keys: ChannelKeys, onRefused: @escaping (TransportRefusal) -> Void) {
        self.keys = keys
        self.onRefused = onRefused
    }

    // MARK: connections this node opened

    /// Starts the handshake of a new connection; returns the hello to send.
    func opened(_ link: Int) throws -> [OutgoingFrame] {
        let initiator = try ChannelInitiator(keys: keys)
        links[link] = .handshaking(initiator, queued: [], since: .after(seconds: SecureLinks.helloRetrySeconds))
        return [.bytes(initiator.hello)]
    }

    /// What to send for `frames` on `link` now: sealed, or nothing (queued until the handshake ends).
    func outgoing(_ frames: [OutgoingFrame], on link: Int) throws -> [OutgoingFrame]? {
        switch links[link] {
        case .open(let session): return try session.seal(frames)
        case .handshaking(let initiator, var queued, let since):
            guard queued.count < SecureLinks.maxQueued else {
                frames.forEach { $0.discard() }
                throw HybridSyncError.transport(
                    library: "ZeroMQ", call: "send", code: 11, message: "link \(link) is still in its handshake and its queue is full")
            }
            queued.append(frames)
            links[link] = .handshaking(initiator, queued: queued, since: since)
            return nil
        case nil:
            frames.forEach { $0.discard() }
            throw HybridSyncError.invalidArgument(.range, "no connection \(link)")
        }
    }

    /// Handles a message that arrived on `link`: returns its plaintext frames to hand up, and messages to
    /// send on the link (a confirm and the queue, or a new hello).
    func incoming(_ frames: [ReceivedFrame], on link: Int) throws -> (deliver: [ReceivedFrame]?, send: [[OutgoingFrame]]) {
        guard let first = frames.first, let kind = first.withUnsafeBytes({ ChannelFrame.kind(of: $0) }) else {
            onRefused(.message(peer: "link \(link)", why: "not a secure-channel frame"))
            return (nil, [])
        }
        switch (kind, links[link]) {
        case (.welcome, .handshaking(let initiator, let queued, _)):
            let finished: (session: ChannelSession, confirm: [UInt8])
            do {
                finished = try first.withUnsafeBytes { try initiator.finish(welcome: $0) }
            } catch {
                // A welcome of an earlier hello of ours, or not from the job's listening key.
                onRefused(.handshake(peer: "link \(link)", why: "\(error)"))
                return (nil, [])
            }
            links[link] = .open(finished.session)
            var send: [[OutgoingFrame]] = [[.bytes(finished.confirm)]]
            for q in queued { send.append(try finished.session.seal(q)) }
            return (nil, send)
        case (.reset, .open), (.reset, .handshaking):
            // The listener lost this connection's session (it reconnected, or restarted): handshake again.
            return (nil, [try restart(link)])
        case (.sealed, .open(let session)):
            return (try open(frames, session, peer: "link \(link)"), [])
        default:
            onRefused(.message(peer: "link \(link)", why: "an unexpected \(kind) frame"))
            return (nil, [])
        }
    }

    /// Hellos to send again on connections whose handshake got no welcome in time.
    func retryHandshakes() throws -> [(link: Int, frames: [OutgoingFrame])] {
        var out: [(Int, [OutgoingFrame])] = []
        for (link, state) in links {
            guard case .handshaking(_, _, let since) = state, since.hasPassed else { continue }
            out.append((link, try restart(link)))
        }
        return out
    }

    /// Starts `link`'s handshake again with a new ephemeral key, keeping what it queues; returns the hello.
    private func restart(_ link: Int) throws -> [OutgoingFrame] {
        guard case .handshaking(_, let queued, _) = links[link] else { return try opened(link) }
        let hello = try opened(link)
        if case .handshaking(let i, _, let since) = links[link] { links[link] = .handshaking(i, queued: queued, since: since) }
        return hello
    }

    /// Discards what every connection still queues (the transport is closing).
    func close() {
        for case .handshaking(_, let queued, _) in links.values { queued.joined().forEach { $0.discard() } }
        links = [:]
        routes = [:]
    }

    // MARK: connections to the listening socket

    /// Seals a reply to `route`; throws if that connection has no session.
    func outgoing(_ frames: [OutgoingFrame], to route: [UInt8]) throws -> [OutgoingFrame] {
        guard case .open(let session, _) = routes[route] else {
            frames.forEach { $0.discard() }
            throw HybridSyncError.invalidArgument(.order, "no secure session with \(Peer.routed(route))")
        }
        return try session.seal(frames)
    }

    /// Handles a message from `route`: its plaintext frames and the member it comes from, or a handshake
    /// reply to send back.
    func incoming(_ frames: [ReceivedFrame], from route: [UInt8]) throws -> (deliver: (frames: [ReceivedFrame], identity: String)?, reply: [OutgoingFrame]?) {
        let peer = "\(Peer.routed(route))"
        guard let first = frames.first, let kind = first.withUnsafeBytes({ ChannelFrame.kind(of: $0) }) else {
            onRefused(.handshake(peer: peer, why: "a client without the secure channel"))
            return (nil, nil)
        }
        switch (kind, routes[route]) {
        case (.hello, _):
            guard frames.count == 1 else {
                onRefused(.handshake(peer: peer, why: "a malformed hello"))
                return (nil, nil)
            }
            let responder: ChannelResponder
            do {
                responder = try first.withUnsafeBytes { try ChannelResponder(hello: $0, keys: keys) }
            } catch let e as HybridSyncError {
                onRefused(.handshake(peer: peer, why: e.description))
                return (nil, nil)
            }
            if routes.count >= SecureLinks.maxRoutes { forgetOldRoutes() }
            routes[route] = .welcomed(responder)
            return (nil, [.bytes(responder.welcome)])
        case (.confirm, .welcomed(let responder)):
            guard frames.count == 1, try first.withUnsafeBytes({ try responder.confirm($0) }) else {
                routes[route] = nil
                onRefused(.handshake(peer: peer, why: "its confirm does not verify: it does not hold a member's secret key"))
                return (nil, nil)
            }
            routes[route] = .open(responder.session, identity: responder.identity)
            return (nil, nil)
        case (.sealed, .open(let session, let identity)):
            guard let opened = try open(frames, session, peer: "\(identity) (\(peer))") else { return (nil, nil) }
            return ((opened, identity), nil)
        case (.sealed, nil):
            // A connection this node has no session for: tell it to handshake again.
            onRefused(.message(peer: peer, why: "a sealed message on no session"))
            return (nil, [.bytes(ChannelFrame.reset)])
        default:
            onRefused(.message(peer: peer, why: "an unexpected \(kind) frame"))
            return (nil, nil)
        }
    }

    /// Fingerprints of the open sessions with connections to the listening socket (tests compare them).
    var routeFingerprints: [[UInt8]] {
        routes.values.compactMap { if case .open(let s, _) = $0 { return s.fingerprint } else { return nil } }
    }

    private func forgetOldRoutes() {
        for key in routes.keys.prefix(routes.count / 2) { routes[key] = nil }
    }

    private func open(_ frames: [ReceivedFrame], _ session: ChannelSession, peer: String) throws -> [ReceivedFrame]? {
        guard frames.count >= 2 else {
            onRefused(.message(peer: peer, why: "a sealed message without its tags"))
            return nil
        }
        let pieces = Array(frames[1..<(frames.count - 1)])
        let refusal = try frames[0].withUnsafeBytes { header in
            try frames[frames.count - 1].withUnsafeBytes { tags in
                try session.open(header: header, pieces: pieces.map { $0.mutableBytes }, tags: tags)
            }
        }
        if let refusal {
            onRefused(.message(peer: peer, why: refusal.description))
            return nil
        }
        return pieces
    }
}
