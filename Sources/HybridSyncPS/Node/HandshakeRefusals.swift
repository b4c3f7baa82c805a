import HybridSyncZMQ
import Logging
import Synchronization

/// What a node's transport refused before the node saw it, counted on the I/O thread and read by the
/// server's stats: connections refused at the handshake, and sealed messages refused on an open
/// connection.
package final class HandshakeRefusals: Sendable {
    private let count = Atomic<Int>(0)
    private let messages = Atomic<Int>(0)

    package init() {}

    /// Counts one.
    package func note(_ refusal: TransportRefusal) {
        switch refusal {
        case .handshake: count.wrappingAdd(1, ordering: .relaxed)
        case .message: messages.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// Connections refused at the handshake so far.
    package var value: Int { count.load(ordering: .relaxed) }
    /// Sealed messages refused so far.
    package var sealedMessages: Int { messages.load(ordering: .relaxed) }
}

/// The transport's `onRefused` for a node: logs the refusal and counts it.
package func refusalLogger(_ logger: Logger, _ refusals: HandshakeRefusals) -> (TransportRefusal) -> Void {
    { refusal in
        refusals.note(refusal)
        logger.warning("\(refusal)")
    }
}
