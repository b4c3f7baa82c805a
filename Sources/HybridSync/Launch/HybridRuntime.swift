import Foundation
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a hybrid job inside `mpirun`: every rank learns its role from the layout, rank 0 starts the
/// scheduler and tells the others its address over MPI (nobody sets addresses or ports), servers
/// serve, and workers get a `KVWorker` plus a `DenseSync` on the workers' own sub-communicator.
///
/// On a dedicated server rank `launch` serves until every worker has finished and returns nil.
/// Workers call `finish()` at the end. Call from the main thread (it makes MPI calls).
public final class HybridRuntime {
    /// All ranks.
    package let world: Communicator
    /// This rank's role.
    package let role: HybridLayout.RankRole
    /// The parameter-server client (workers only).
    public let kv: KVWorker
    /// The dense path over the workers' sub-communicator.
    public let dense: DenseSync
    private let background: [BackgroundNode]

    private init(world: Communicator, role: HybridLayout.RankRole, kv: KVWorker, dense: DenseSync, background: [BackgroundNode]) {
        self.world = world
        self.role = role
        self.kv = kv
        self.dense = dense
        self.background = background
    }

    /// A logger for one of this rank's nodes, with the rank as metadata.
    private static func rankLogger(_ label: String, _ world: Communicator) -> Logger {
        var l = Logger(label: label)
        l[metadataKey: "rank"] = "\(world.rank)"
        return l
    }

    /// A runtime over parts made elsewhere (the test kit's in-process jobs): this rank is worker
    /// `dense.communicator.rank`, with no server or scheduler of its own.
    package convenience init(world: Communicator, kv: KVWorker, dense: DenseSync) {
        self.init(
            world: world, role: HybridLayout.RankRole(worker: dense.communicator.rank, server: nil, scheduler: false),
            kv: kv, dense: dense, background: [])
    }

    /// Launches this rank. `base` supplies timeouts; addresses come from rank 0. `HYBRIDSYNC_BIND`
    /// overrides the address to bind (for multi-homed hosts).
    package static func launch(layout: HybridLayout, base: PSConfig = PSConfig(), dense given: DenseSyncConfig = DenseSyncConfig()) throws -> HybridRuntime? {
        let env = LaunchEnvironment()
        let world = try MPIRuntime.initialize()
        var denseConfig = given
        denseConfig.logger[metadataKey: "rank"] = "\(world.rank)"
        var layout = layout
        layout.standby = env.standby
        let roles = try layout.roles(worldSize: world.size)
        let me = roles[world.rank]
        if env.supervised {
            // Launch/mpirun tells a killed rank whose nodes the job absorbed from a failed one.
            let nodes = Membership.identity(nodes(of: me, servers: layout.servers)) + (me.standby ? ",standby" : "")
            let line = "hybridsync-rank-nodes rank=\(world.rank) pid=\(getpid()) nodes=\(nodes)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        let bootstrap = DenseSync(communicator: world, config: denseConfig)
        var config = try jobConfig(layout: layout, base: base, env: env, roles: roles, world: world, bootstrap: bootstrap)
        var background: [BackgroundNode] = []
        config.standbyAddress = try startStandby(
            me, at: roles.firstIndex { $0.standby }, config: config, world: world, bootstrap: bootstrap, background: &background)
        let endpoint = try startScheduler(me, config: config, world: world, bootstrap: bootstrap, background: &background)
        config.schedulerHost = endpoint.host
        config.schedulerPort = endpoint.port
        let workers = try world.split(color: me.worker == nil ? 1 : 0, key: world.rank)
        if me.spare {
            var sc = config
            sc.spare = true
            let server = try ServerNode(config: sc, logger: rankLogger("hybridsync.server", world))
            server.onAbsorbed = { rankDied.store(true, ordering: .relaxed) }
            try server.run()
            try finishTimeline(world)
            return nil
        }
        if let s = me.server {
            var sc = config
            sc.preferredIndex = s
            let server = try ServerNode(config: sc, logger: rankLogger("hybridsync.server", world))
            server.onAbsorbed = { rankDied.store(true, ordering: .relaxed) }
            if me.worker == nil {
                try server.run()
                for b in background {
                    _ = b.wait(until: .after(seconds: sc.startTimeout + sc.heartbeatTimeout))
                    if let failure = b.failure { throw HybridSyncError.remote(peer: "rank \(world.rank) \(b.name)", message: failure) }
                }
                try finishTimeline(world)
                return nil
            }
            background.append(BackgroundNode(name: "server \(s)", Handover(server)) { try $0.run() })
        }
        var wc = config
        wc.preferredIndex = me.worker!
        let kv = try KVWorker(config: wc, logger: rankLogger("hybridsync.worker", world))
        // A node the scheduler declares dead ends the ring's waits at once, naming it, on every worker.
        let lost: @Sendable () -> HybridSyncError? = { [kv] in kv.jobFailure }
        workers.transport.interrupter = lost
        world.transport.interrupter = lost
        let dense = DenseSync(communicator: workers, config: denseConfig)
        // Workers that share hosts all-reduce hierarchically (HYBRIDSYNC_HIERARCHICAL=0: flat).
        if env.hierarchical { try dense.groupByHost(named: env.hostIdentity) }
        return HybridRuntime(world: world, role: me, kv: kv, dense: dense, background: background)
    }

    /// The job's parameter-server settings: the timeouts users set where they launch
    /// (HYBRIDSYNC_HEARTBEAT_TIMEOUT, _REQUEST_TIMEOUT, _RESEND_AFTER, _MAX_ATTEMPTS, ...) over `base`,
    /// the layout's counts, the bind address, and keys (the job's own, made over MPI, unless
    /// HYBRIDSYNC_KEYS gives per-rank ones or HYBRIDSYNC_INSECURE=1 turns them off).
    private static func jobConfig(
        layout: HybridLayout, base: PSConfig, env: LaunchEnvironment, roles: [HybridLayout.RankRole], world: Communicator, bootstrap: DenseSync
    ) throws -> PSConfig {
        var config = try PSConfig.fromEnvironment(env.psVariables, base: base)
        config.servers = layout.servers
        config.workers = layout.workers(worldSize: world.size)
        config.bindHost = try bindAddress(env, bootstrap: bootstrap)
        if env.insecure {
            if world.rank == 0 {
                rankLogger("hybridsync.runtime", world).warning(
                    "HYBRIDSYNC_INSECURE=1: parameter-server links are plain TCP, unauthenticated and unencrypted; anyone who reaches the ports can read and change the model"
                )
            }
        } else if let dir = env.keys {
            config.curve = try KeyDirectory.loadRank(dir, rank: world.rank) { r in
                roles.indices.contains(r) ? Membership.identity(nodes(of: roles[r], servers: layout.servers)) : nil
            }
        } else {
            config.curve = try makeKeys(roles[world.rank], servers: layout.servers, world: world, bootstrap: bootstrap)
        }
        return config
    }

    /// Starts the standby scheduler on the rank that has it (`rank`; nil: the job has none), as a
    /// background node, and tells every rank its endpoint, before the scheduler starts (which connects
    /// to it). Throws on every rank if it could not start.
    private static func startStandby(
        _ me: HybridLayout.RankRole, at rank: Int?, config: PSConfig, world: Communicator, bootstrap: DenseSync,
        background: inout [BackgroundNode]
    ) throws -> String? {
        guard let rank else { return nil }
        var endpoint = "", failure: Error?
        if me.standby {
            do {
                let standby = try SchedulerNode(
                    standbyFor: config, listen: "tcp://\(config.bindHost):0", logger: rankLogger("hybridsync.scheduler", world))
                endpoint = standby.endpoint
                background.append(BackgroundNode(name: "standby scheduler", Handover(standby)) { try $0.run() })
            } catch { failure = error }
        }
        endpoint = try broadcastString(endpoint, root: rank, bootstrap: bootstrap)
        if let failure { throw failure }
        guard !endpoint.isEmpty else { throw HybridSyncError.invalidArgument(.configuration, "rank \(rank) could not start the standby scheduler") }
        return endpoint
    }

    /// Starts the scheduler on the rank that has it (as a background node) and tells every rank its
    /// endpoint. Throws on every rank if it could not start.
    private static func startScheduler(
        _ me: HybridLayout.RankRole, config: PSConfig, world: Communicator, bootstrap: DenseSync, background: inout [BackgroundNode]
    ) throws -> (host: String, port: Int) {
        var endpoint = ""
        var schedulerError: Error?
        if me.scheduler {
            var sc = config
            sc.schedulerPort = 0
            do {
                let scheduler = try SchedulerNode(config: sc, logger: rankLogger("hybridsync.scheduler", world))
                endpoint = "\(config.bindHost):\(scheduler.port)"
                background.append(BackgroundNode(name: "scheduler", Handover(scheduler)) { try $0.run() })
            } catch { schedulerError = error }
        }
        endpoint = try broadcastString(endpoint, root: 0, bootstrap: bootstrap)
        if let schedulerError { throw schedulerError }
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else {
            throw HybridSyncError.invalidArgument(.configuration, "rank 0 could not start the scheduler")
        }
        return (String(endpoint[..<colon]), port)
    }

    /// Writes this rank's part of the timeline, if one is recording; rank 0 merges the job's parts
    /// and warns naming the ranks whose part did not come.
    static func finishTimeline(_ world: Communicator) throws {
        guard let missing = try TimelineFile.finish(rank: world.rank, ranks: world.size), !missing.isEmpty else { return }
        rankLogger("hybridsync.runtime", world).warning("timeline: no part from ranks \(missing); their rows are missing")
    }

    /// Whether a rank of this process's job died while the job went on (a server whose shards moved to
    /// their backups). MPI is per process, and so is this.
    static let rankDied = Atomic<Bool>(false)

    /// Ends this worker: tells the scheduler, then waits for this rank's server and scheduler threads.
    /// Throws if one of them failed.
    package func finish(timeout: Double = 60) throws {
        kv.finish()
        let deadline = Deadline.after(seconds: timeout)
        for b in background {
            guard b.wait(until: deadline) else {
                throw HybridSyncError.timeout(operation: "finishing rank \(world.rank)", waitingFor: "its \(b.name) to end", seconds: timeout)
            }
            if let failure = b.failure { throw HybridSyncError.remote(peer: "rank \(world.rank) \(b.name)", message: failure) }
        }
    }

    /// The job's keys, made for this job and shared over MPI (the dense path's fabric, which the
    /// job trusts): rank 0 makes the listening key pair and broadcasts it; every rank makes its own
    /// client key pair, whose secret never leaves the process, and all-gathers the public keys with the
    /// nodes each rank holds.
    private static func makeKeys(_ me: HybridLayout.RankRole, servers: Int, world: Communicator, bootstrap: DenseSync) throws -> CurveSetup {
        let pair = world.rank == 0 ? try CurveKeyPair.generate() : nil
        let shared = try broadcastString(pair.map { "\($0.publicKey) \($0.secretKey)" } ?? "", root: 0, bootstrap: bootstrap)
        let parts = shared.split(separator: " ").map(String.init)
        guard parts.count == 2 else { throw HybridSyncError.invalidArgument(.configuration, "rank 0 sent no key pair") }
        let server = try CurveKeyPair(publicKey: parts[0], secretKey: parts[1])
        let client = try CurveKeyPair.generate()
        var members: [String: String] = [:]
        for entry in try allgatherString("\(client.publicKey) \(Membership.identity(nodes(of: me, servers: servers)))", bootstrap: bootstrap) {
            let kv = entry.split(separator: " ", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            members[kv[0]] = kv[1]
        }
        return CurveSetup(server: server, client: client, members: members)
    }

    /// The parameter-server nodes a rank of `role` holds.
    private static func nodes(of role: HybridLayout.RankRole, servers: Int) -> [NodeID] {
        // A spare may become any server.
        if role.spare { return (0..<servers).map { NodeID(.server, $0) } }
        var nodes: [NodeID] = []
        if role.scheduler { nodes.append(.scheduler) }
        if let s = role.server { nodes.append(NodeID(.server, s)) }
        if let w = role.worker { nodes.append(NodeID(.worker, w)) }
        return nodes
    }

    /// Whether the parameter server's links are sealed and members-only.
    package var encrypted: Bool { kv.config.curve != nil }

    /// 127.0.0.1 when every rank runs on this host; otherwise this host's first non-loopback IPv4
    /// address; `HYBRIDSYNC_BIND` overrides both.
    private static func bindAddress(_ env: LaunchEnvironment, bootstrap: DenseSync) throws -> String {
        if let bind = env.bind { return bind }
        let host = ProcessInfo.processInfo.hostName
        let all = try allgatherString(host, bootstrap: bootstrap)
        if Set(all).count == 1 { return "127.0.0.1" }
        return firstIPv4() ?? "127.0.0.1"
    }

    private static func firstIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let cur = p {
            if let addr = cur.pointee.ifa_addr, addr.pointee.sa_family == UInt16(AF_INET) {
                var buffer = [CChar](repeating: 0, count: 64)
                let sin = UnsafeRawPointer(addr).assumingMemoryBound(to: sockaddr_in.self)
                var a = sin.pointee.sin_addr
                inet_ntop(AF_INET, &a, &buffer, 64)
                let s = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !s.hasPrefix("127.") { return s }
            }
            p = cur.pointee.ifa_next
        }
        return nil
    }

    private static let stringSlots = 256

    private static func broadcastString(_ s: String, root: Int, bootstrap: DenseSync) throws -> String {
        let t = try Tensor(name: "hybridsync.bootstrap", values: encode(s))
        try bootstrap.broadcast(t, root: root)
        return decode(try t.values(as: Int32.self))
    }

    private static func allgatherString(_ s: String, bootstrap: DenseSync) throws -> [String] {
        let t = try Tensor(name: "hybridsync.hosts", values: encode(s))
        let all = try bootstrap.allgather(t).values(as: Int32.self)
        return stride(from: 0, to: all.count, by: stringSlots).map { decode(Array(all[$0..<($0 + stringSlots)])) }
    }

    private static func encode(_ s: String) -> [Int32] {
        var v = Array(s.utf8.prefix(stringSlots - 1)).map { Int32($0) }
        v += Array(repeating: 0, count: stringSlots - v.count)
        return v
    }

    private static func decode(_ v: [Int32]) -> String {
        String(decoding: v.prefix { $0 != 0 }.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }
}

/// A node (the scheduler, a colocated server) running on a thread of its own: its end is signalled,
/// and its failure kept, so the rank can wait for it with a deadline.
final class BackgroundNode: Sendable {
    let name: String
    private let ended = DispatchSemaphore(value: 0)
    private let outcome = Outcome()

    private final class Outcome: Sendable {
        let text = Mutex<String?>(nil)
    }

    init<Node>(name: String, _ node: Handover<Node>, run: @escaping @Sendable (Node) throws -> Void) {
        self.name = name
        let thread = Thread { [ended, outcome] in
            do {
                if let n = node.take() { try run(n) }
            } catch {
                outcome.text.withLock { $0 = "\(error)" }
            }
            ended.signal()
        }
        thread.name = "hybridsync-\(name)"
        thread.start()
    }

    /// Waits until the node's thread has ended or `deadline` passes; whether it ended.
    func wait(until deadline: Deadline) -> Bool {
        guard ended.wait(timeout: .now() + .milliseconds(Int(deadline.remainingSeconds * 1000))) == .success else { return false }
        ended.signal()
        return true
    }

    /// How the node failed, if it did.
    var failure: String? { outcome.text.withLock { $0 } }
}
