import HybridSyncCore

/// Which nodes an authenticated member may speak for. A member's identity (the identity its secure-channel
/// key maps to) lists its nodes: `scheduler`, `server-N`, `worker-N`, comma-separated (a rank of a
/// hybrid job may hold a worker and a server). A message over an authenticated connection must claim
/// one of them as its sender, and a registration must ask for one of them; anything else is forged.
package enum Membership {
    /// The member name of `node`: `scheduler`, `server-N` or `worker-N`.
    package static func name(of node: NodeID) -> String {
        node.role == .scheduler ? "scheduler" : "\(node.role)-\(node.index)"
    }

    /// The identity of a member holding `nodes`.
    package static func identity(_ nodes: [NodeID]) -> String { nodes.map(name(of:)).joined(separator: ",") }

    /// The nodes `identity` may speak for.
    package static func nodes(of identity: String) -> Set<NodeID> {
        var out: Set<NodeID> = []
        for part in identity.split(separator: ",") {
            if part == "scheduler" { out.insert(.scheduler); continue }
            for role in [Role.server, .worker] {
                let prefix = "\(role)-"
                guard part.hasPrefix(prefix) else { continue }
                let digits = part.dropFirst(prefix.count)
                guard !digits.isEmpty, digits.count <= 7, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                    let index = Int(digits), index < 0xFFFFFF
                else { continue }
                out.insert(NodeID(role, index))
            }
        }
        return out
    }

    /// Throws `forgedSender` unless `identity` may send a message with `header` and `body`.
    package static func check(identity: String, header: MessageHeader, body: MessageBody) throws {
        let allowed = nodes(of: identity)
        if case .register(.server, _, _) = body, header.flags & MessageFlags.spare != 0 {
            // A spare takes whichever server's place falls free: its member holds the servers.
            guard allowed.contains(where: { $0.role == .server }) else {
                throw HybridSyncError.forgedSender(member: identity, claimed: "a spare server")
            }
            return
        }
        if case let .register(role, _, preferred) = body, header.sender == .unassigned(role) {
            guard allowed.contains(NodeID(role, preferred)) else {
                throw HybridSyncError.forgedSender(member: identity, claimed: "\(role) \(preferred) (registering)")
            }
            return
        }
        // A primary forwards its workers' requests to its backups under their own sender ids.
        if header.flags & MessageFlags.replicated != 0 {
            guard allowed.contains(where: { $0.role == .server }) else {
                throw HybridSyncError.forgedSender(member: identity, claimed: "a server forwarding \(header.sender)'s request")
            }
            return
        }
        guard allowed.contains(header.sender) else {
            throw HybridSyncError.forgedSender(member: identity, claimed: "\(header.sender)")
        }
    }
}
