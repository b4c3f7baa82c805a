import HybridSyncCore

/// How the ranks of an `mpirun` job split into workers, servers and the scheduler.
///
/// - `dedicated`: ranks `0 ..< servers` are servers (rank 0 also hosts the scheduler), the rest are
///   workers. Needs more ranks than servers.
/// - `colocated`: every rank is a worker; ranks `0 ..< servers` also run a server thread, rank 0 the
///   scheduler thread.
///
/// In both, the last `spares` ranks are spare servers (`PSConfig.spare`): each waits to replace a
/// server that dies, which restores the shards' copies; with `standby` (and two ranks or more), the
/// last rank before them also runs the standby scheduler, which takes over if the scheduler's rank
/// dies. That rank holds a worker: a worker's death relaunches the job anyway, while a server's death
/// (absorbed) never takes the standby with it.
public struct HybridLayout: Sendable, Equatable {
    /// Where servers run: on ranks of their own, or beside workers.
    public enum Placement: String, Sendable, CaseIterable {
        case dedicated, colocated
    }

    package var servers: Int
    package var placement: Placement
    /// Ranks started as spare servers (the job's last ranks).
    package var spares: Int
    /// Whether the last non-spare rank runs a standby scheduler (`HybridRuntime.launch` sets it from the
    /// environment).
    package var standby = false

    /// `servers` servers placed as `placement`, and `spares` spare servers.
    public init(servers: Int, placement: Placement, spares: Int = 0) {
        self.servers = servers
        self.placement = placement
        self.spares = spares
    }

    /// What one rank does.
    package struct RankRole: Sendable, Equatable {
        /// Index among workers, if this rank is a worker.
        package let worker: Int?
        /// Index among servers, if this rank runs a server.
        package let server: Int?
        /// Whether this rank runs the scheduler.
        package let scheduler: Bool
        /// Whether this rank is a spare server (it may become any server).
        package let spare: Bool
        /// Whether this rank runs the standby scheduler.
        package var standby = false

        package init(worker: Int?, server: Int?, scheduler: Bool, spare: Bool = false) {
            self.worker = worker
            self.server = server
            self.scheduler = scheduler
            self.spare = spare
        }
    }

    /// The role of every rank of a job of `size` ranks; throws `invalidArgument` if the layout cannot fit.
    package func roles(worldSize size: Int) throws -> [RankRole] {
        guard spares >= 0, spares < size else { throw HybridSyncError.invalidArgument(.configuration, "\(spares) spare servers in a job of \(size) ranks") }
        var main = try HybridLayout(servers: servers, placement: placement).placed(worldSize: size - spares)
        if standby && main.count >= 2 { main[main.count - 1].standby = true }
        return main + (0..<spares).map { _ in RankRole(worker: nil, server: nil, scheduler: false, spare: true) }
    }

    private func placed(worldSize size: Int) throws -> [RankRole] {
        guard servers >= 1 else { throw HybridSyncError.invalidArgument(.configuration, "a hybrid job needs at least one server, got \(servers)") }
        switch placement {
        case .dedicated:
            guard size > servers else {
                throw HybridSyncError.invalidArgument(
                    .configuration,
                    "\(size) ranks cannot hold \(servers) dedicated servers and at least one worker; start more ranks or use --placement colocated")
            }
            return (0..<size).map { r in
                r < servers ? RankRole(worker: nil, server: r, scheduler: r == 0) : RankRole(worker: r - servers, server: nil, scheduler: false)
            }
        case .colocated:
            guard size >= servers else {
                throw HybridSyncError.invalidArgument(.configuration, "\(size) ranks cannot host \(servers) colocated servers")
            }
            return (0..<size).map { r in RankRole(worker: r, server: r < servers ? r : nil, scheduler: r == 0) }
        }
    }

    /// Workers in a job of `size` ranks.
    package func workers(worldSize size: Int) -> Int { placement == .dedicated ? size - spares - servers : size - spares }
}
