import Logging
import Synchronization

/// Connections a node's transport refused at the CURVE handshake: counted on the I/O thread, read by
/// the server's stats.
package final class HandshakeRefusals: Sendable {
    private let count = Atomic<Int>(0)

    package init() {}

    /// Counts one.
    package func note() { count.wrappingAdd(1, ordering: .relaxed) }

    /// How many so far.
    package var value: Int { count.load(ordering: .relaxed) }
}

/// The transport's `onRefused` for a node: logs the refused peer and counts it.
package func refusalLogger(_ logger: Logger, _ refusals: HandshakeRefusals) -> (String) -> Void {
    { address in
        refusals.note()
        logger.warning("refused a connection at the CURVE handshake: not a member of this job", metadata: ["peer": "\(address)"])
    }
}
