/// Something the transport refused before any node saw it, reported to the node (which logs and counts
/// it).
package enum TransportRefusal: Sendable, CustomStringConvertible {
    /// A connection refused at the handshake: a client without the secure channel, or without a
    /// member's key. `peer` names where it came from, `why` what was wrong.
    case handshake(peer: String, why: String)
    /// A sealed message refused on an established connection: replayed, reordered, altered, malformed,
    /// or on no session.
    case message(peer: String, why: String)

    package var description: String {
        switch self {
        case .handshake(let peer, let why): return "refused a connection at the channel handshake from \(peer): \(why)"
        case .message(let peer, let why): return "refused a message from \(peer): \(why)"
        }
    }
}
