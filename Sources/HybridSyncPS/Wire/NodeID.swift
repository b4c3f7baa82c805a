import HybridSyncCore

/// The role of a node in a parameter-server job.
package enum Role: UInt8, Sendable, CustomStringConvertible {
    case scheduler = 1, server = 2, worker = 3

    package var description: String {
        switch self {
        case .scheduler: return "scheduler"
        case .server: return "server"
        case .worker: return "worker"
        }
    }
}

/// A node's identity: role and index within the role. On the wire, `role << 24 | index`.
package struct NodeID: Sendable, Hashable, CustomStringConvertible {
    /// The node's role.
    package let role: Role
    /// Index within the role, `0 ..< count of that role`.
    package let index: Int

    package init(_ role: Role, _ index: Int) {
        self.role = role
        self.index = index
    }

    /// The scheduler (there is one).
    package static let scheduler = NodeID(.scheduler, 0)
    /// A node that has not been assigned an id yet.
    package static func unassigned(_ role: Role) -> NodeID { NodeID(role, 0xFFFFFF) }

    /// The wire form.
    package var raw: UInt32 { UInt32(role.rawValue) << 24 | UInt32(index & 0xFFFFFF) }

    /// Reads the wire form; nil for an unknown role.
    package init?(raw: UInt32) {
        guard let role = Role(rawValue: UInt8(raw >> 24)) else { return nil }
        self.init(role, Int(raw & 0xFFFFFF))
    }

    package var description: String { role == .scheduler ? "scheduler" : "\(role) \(index)" }
}

/// Groups a barrier can span.
package enum BarrierGroup: UInt8, Sendable, CustomStringConvertible {
    case workers = 1, servers = 2, all = 3

    package var description: String {
        switch self {
        case .workers: return "workers"
        case .servers: return "servers"
        case .all: return "all"
        }
    }

    /// Whether a node of `role` belongs to the group.
    package func includes(_ role: Role) -> Bool {
        switch self {
        case .workers: return role == .worker
        case .servers: return role == .server
        case .all: return role != .scheduler
        }
    }
}
