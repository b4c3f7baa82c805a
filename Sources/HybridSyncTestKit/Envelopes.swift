import HybridSyncCore
import HybridSyncPS

extension TestKit {
    /// `message` as a node would receive it from `peer`: encoded to frames, then validated and decoded
    /// as the node shell does. For driving state machines directly in tests.
    package static func envelope(from peer: Peer, _ message: OutboundMessage) throws -> InboundEnvelope {
        let frames = message.frames().map { f in f.withUnsafeBytes { Array($0) } }
        switch InboundEnvelope.open(InboundMessage(from: peer, frames: frames), maxMessageBytes: 1 << 30) {
        case .success(let e): return e
        case .failure(let r): throw r.error
        }
    }
}

extension TestKit {
    /// Drives `server` (started) through joining a job as server `index` of `servers` with `workers`
    /// workers: the scheduler's address book, then its first view (`replication` extra copies).
    package static func join(_ server: inout ServerMachine, index: Int = 0, servers: Int = 1, workers: Int, replication: Int = 0) throws {
        let addresses = (0..<servers).map { "memory://s\($0)" }
        let book = OutboundMessage(
            MessageHeader(kind: .addressBook, sender: .scheduler, seq: 1),
            .addressBook(id: NodeID(.server, index), servers: addresses, workers: workers))
        _ = server.onMessage(try envelope(from: .link(0), book), now: 0)
        let view = OutboundMessage(
            MessageHeader(kind: .view, sender: .scheduler, seq: 0),
            .view(.initial(servers: servers, replication: replication), note: ""))
        _ = server.onMessage(try envelope(from: .link(0), view), now: 0)
    }
}

extension NodeDirective {
    /// The message of a `send` directive and its peer, or nil.
    package var sent: (peer: Peer, message: OutboundMessage)? {
        if case let .send(p, m) = self { return (p, m) }
        return nil
    }
}
