/// The role of a node in a parameter-server job.
public enum Role: UInt8, Sendable, CustomStringConvertible {
    case scheduler = 1, server = 2, worker = 3

    public var description: String {
        switch self {
        case .scheduler: return "scheduler"
        case .server: return "server"
        case .worker: return "worker"
        }
    }
}

/// A node's identity: role and index within the role. On the wire, `role << 24 | index`.
public struct NodeID: Sendable, Hashable, CustomStringConvertible {
    /// The node's role.
    public let role: Role
    /// Index within the role, `0 ..< count of that role`.
    public let index: Int

    public init(_ role: Role, _ index: Int) {
        self.role = role
        self.index = index
    }

    /// The scheduler (there is one).
    public static let scheduler = NodeID(.scheduler, 0)
    /// A node that has not been assigned an id yet.
    public static func unassigned(_ role: Role) -> NodeID { NodeID(role, 0xFFFFFF) }

    /// The wire form.
    public var raw: UInt32 { UInt32(role.rawValue) << 24 | UInt32(index & 0xFFFFFF) }

    /// Reads the wire form; nil for an unknown role.
    public init?(raw: UInt32) {
        guard let role = Role(rawValue: UInt8(raw >> 24)) else { return nil }
        self.init(role, Int(raw & 0xFFFFFF))
    }

    public var description: String { role == .scheduler ? "scheduler" : "\(role) \(index)" }
}

/// Groups a barrier can span.
public enum BarrierGroup: UInt8, Sendable, CustomStringConvertible {
    case workers = 1, servers = 2, all = 3

    public var description: String {
        switch self {
        case .workers: return "workers"
        case .servers: return "servers"
        case .all: return "all"
        }
    }

    /// Whether a node of `role` belongs to the group.
    public func includes(_ role: Role) -> Bool {
        switch self {
        case .workers: return role == .worker
        case .servers: return role == .server
        case .all: return role != .scheduler
        }
    }
}
