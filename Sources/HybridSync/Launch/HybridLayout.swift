import HybridSyncCore

/// How the ranks of an `mpirun` job split into workers, servers and the scheduler.
///
/// - `dedicated`: ranks `0 ..< servers` are servers (rank 0 also hosts the scheduler), the rest are
///   workers. Needs more ranks than servers.
/// - `colocated`: every rank is a worker; ranks `0 ..< servers` also run a server thread, rank 0 the
///   scheduler thread.
public struct HybridLayout: Sendable, Equatable {
    public enum Placement: String, Sendable, CaseIterable {
        case dedicated, colocated
    }

    public var servers: Int
    public var placement: Placement

    public init(servers: Int, placement: Placement) {
        self.servers = servers
        self.placement = placement
    }

    /// What one rank does.
    package struct RankRole: Sendable, Equatable {
        /// Index among workers, if this rank is a worker.
        package let worker: Int?
        /// Index among servers, if this rank runs a server.
        package let server: Int?
        /// Whether this rank runs the scheduler.
        package let scheduler: Bool

        package init(worker: Int?, server: Int?, scheduler: Bool) {
            self.worker = worker
            self.server = server
            self.scheduler = scheduler
        }
    }

    /// The role of every rank of a job of `size` ranks; throws `invalidArgument` if the layout cannot fit.
    package func roles(worldSize size: Int) throws -> [RankRole] {
        guard servers >= 1 else { throw HybridSyncError.invalidArgument("a hybrid job needs at least one server, got \(servers)") }
        switch placement {
        case .dedicated:
            guard size > servers else {
                throw HybridSyncError.invalidArgument("\(size) ranks cannot hold \(servers) dedicated servers and at least one worker; start more ranks or use --placement colocated")
            }
            return (0..<size).map { r in
                r < servers ? RankRole(worker: nil, server: r, scheduler: r == 0) : RankRole(worker: r - servers, server: nil, scheduler: false)
            }
        case .colocated:
            guard size >= servers else {
                throw HybridSyncError.invalidArgument("\(size) ranks cannot host \(servers) colocated servers")
            }
            return (0..<size).map { r in RankRole(worker: r, server: r < servers ? r : nil, scheduler: r == 0) }
        }
    }

    /// Workers in a job of `size` ranks.
    package func workers(worldSize size: Int) -> Int { placement == .dedicated ? size - servers : size }
}
