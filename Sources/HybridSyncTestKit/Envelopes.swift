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

extension NodeDirective {
    /// The message of a `send` directive and its peer, or nil.
    package var sent: (peer: Peer, message: OutboundMessage)? {
        if case let .send(p, m) = self { return (p, m) }
        return nil
    }
}
