import Foundation
import HybridSyncCore
import Synchronization

@_exported import struct HybridSyncZMQ.CurveKeyPair
@_exported import struct HybridSyncZMQ.CurveSetup

#if canImport(Glibc)
    import Glibc
#endif

/// How a parameter-server node finds the others and how long it waits.
///
/// From the environment (`fromEnvironment`), as ps-lite's DMLC_* variables but with deadlines:
/// `HYBRIDSYNC_SCHEDULER` (`host:port`), `HYBRIDSYNC_NUM_SERVERS`, `HYBRIDSYNC_NUM_WORKERS`,
/// `HYBRIDSYNC_BIND` (address to bind and advertise), `HYBRIDSYNC_INDEX` (preferred index within the
/// role), `HYBRIDSYNC_HEARTBEAT_TIMEOUT` (seconds), `HYBRIDSYNC_REQUEST_TIMEOUT` (seconds),
/// `HYBRIDSYNC_RESEND_AFTER` (seconds), `HYBRIDSYNC_MAX_ATTEMPTS`, `HYBRIDSYNC_MAX_MESSAGE_BYTES`,
/// `HYBRIDSYNC_REPLICATION`, `HYBRIDSYNC_MAX_ROWS`, `HYBRIDSYNC_MAX_BYTES`, `HYBRIDSYNC_MAX_TABLES`, `HYBRIDSYNC_MAX_KEYS` (`ServerLimits`),
/// `HYBRIDSYNC_KEYS` (a `hybridsync keys` directory: secure links on) with `HYBRIDSYNC_MEMBER` (this node's name
/// in it: `scheduler`, `server-N`, `worker-N`).
public struct PSConfig: Sendable {
    /// Where the scheduler listens.
    public var schedulerHost = "127.0.0.1"
    public var schedulerPort = 9091
    /// Servers and workers the job waits for before it starts.
    public var servers = 1
    public var workers = 1
    /// The address this node binds and advertises (servers and the scheduler).
    public var bindHost = "127.0.0.1"
    /// Preferred index within the role (`-1`: any).
    package var preferredIndex = -1
    /// Seconds between heartbeats.
    public var heartbeatInterval = 0.5
    /// A node silent for this long is declared dead.
    public var heartbeatTimeout = 5.0
    /// Longest wait for a request's reply, resends included.
    public var requestTimeout = 60.0
    /// A request not answered within this many seconds is sent again (same sequence number, so a
    /// server applies it once); each further wait doubles, up to `maxAttempts` sends in all.
    package var resendAfter = 1.0
    /// Sends of one request before it fails with a timeout naming the server (1: never resend).
    package var maxAttempts = 6
    /// Longest wait for every node to register.
    public var startTimeout = 60.0
    /// Largest message a node accepts.
    public var maxMessageBytes = WireCodec.defaultMaxMessageBytes
    /// What a server stores and takes per request before it refuses.
    package var limits = ServerLimits()
    /// Faults to inject into this node's worker <-> server messages (tests and the soak set it; the
    /// library never reads it from the environment). Nil in real jobs.
    package var faults: FaultPlan?

    /// The job's keys and members: every link encrypted, only members let in, and each message
    /// checked against the nodes its member holds. Nil: plain TCP (`HybridRuntime.launch` makes keys
    /// for every job unless `HYBRIDSYNC_INSECURE=1`).
    package var curve: CurveSetup?

    /// A server started as a spare (`ps server --join`, a spare rank under mpirun): it does not count
    /// as one of the job's servers; it waits, and replaces the first server whose death the job absorbs
    /// (or one that died before it came), taking that server's index and new copies of the shards left
    /// with too few.
    package var spare = false

    /// Extra copies of every shard, kept on the next servers in index order (`ShardView`): a server can
    /// die without losing an acknowledged update as long as one copy of each of its shards lives. Nil
    /// (the default): 1 when there are at least 2 servers, else 0. Only 0 and 1 are supported.
    /// `HYBRIDSYNC_REPLICATION`; the scheduler's value decides.
    public var replication: Int?

    /// The replication factor in effect: `replication`, or its default for `servers`.
    package var effectiveReplication: Int { replication ?? (servers >= 2 ? 1 : 0) }

    /// Servers validate and answer requests but keep no rows (benchmark baselines set it; the library
    /// never reads it from the environment).
    package var discardData = false

    /// Rows of a checkpoint a server writes between two polls (its messages wait at most one slice).
    package var checkpointSliceRows = ServerShard.defaultCheckpointSliceRows
    /// Where the job's standby scheduler listens (nil: none). Nodes move to it when the scheduler has
    /// been silent for the heartbeat timeout, instead of failing.
    package var standbyAddress: String?
    /// Seconds a server waits after a checkpoint's snapshot before writing it (tests: the job trains on
    /// while the snapshot is still unwritten). Never read from the environment.
    package var checkpointWriteDelay = 0.0
    /// Largest row part of a shard's copy (re-replication); nil: `maxMessageBytes / 4`, between 64 KiB
    /// and `ShardHost.copyPartLimit`. Tests set it small so that a copy has many parts in flight.
    package var copyPartBytes: Int?

    public init() {}

    /// Where the scheduler listens, overriding host and port (the test kit's `memory://scheduler`).
    package var schedulerAddress: String?

    /// The scheduler's endpoint, as nodes connect to it.
    package var schedulerEndpoint: String { schedulerAddress ?? "tcp://\(schedulerHost):\(schedulerPort)" }
    /// The endpoint the scheduler binds.
    package var schedulerListenEndpoint: String { schedulerAddress ?? "tcp://\(bindHost):\(schedulerPort)" }
    /// How a server listens when its bind address is a loopback one (every peer is on this host):
    /// ZeroMQ's `ipc://` (a Unix socket: no TCP stack) unless `HYBRIDSYNC_TRANSPORT=tcp`.
    package var sameHostIPC = true

    /// The endpoint a server binds: a Unix socket in the temporary directory when every peer is on this
    /// host (a loopback bind address) and `sameHostIPC`, else TCP on any free port.
    package var serverListenEndpoint: String {
        guard sameHostIPC, bindHost.hasPrefix("127.") || bindHost == "localhost" else { return "tcp://\(bindHost):0" }
        let tmp = FileManager.default.temporaryDirectory.path
        let dir = tmp.hasSuffix("/") ? String(tmp.dropLast()) : tmp
        let path = "\(dir)/hybridsync-\(getpid())-\(Self.nextSocket.wrappingAdd(1, ordering: .relaxed).newValue).sock"
        // A Unix socket's path has room for 107 bytes; a longer temporary directory means TCP.
        return path.utf8.count <= 100 ? "ipc://" + path : "tcp://\(bindHost):0"
    }
    private static let nextSocket = Atomic<Int>(0)

    /// Throws `invalidArgument` if a value cannot work.
    package func validate() throws {
        guard servers >= 1, servers <= 4096 else { throw HybridSyncError.invalidArgument(.configuration, "servers must be 1...4096, got \(servers)") }
        guard workers >= 1, workers <= 65536 else { throw HybridSyncError.invalidArgument(.configuration, "workers must be 1...65536, got \(workers)") }
        guard heartbeatInterval > 0, heartbeatTimeout > heartbeatInterval else {
            throw HybridSyncError.invalidArgument(.configuration, "heartbeat timeout \(heartbeatTimeout) s must exceed the interval \(heartbeatInterval) s")
        }
        guard resendAfter > 0, (1...100).contains(maxAttempts) else {
            throw HybridSyncError.invalidArgument(
                .configuration, "resend after \(resendAfter) s must be positive and max attempts \(maxAttempts) within 1...100")
        }
        if let r = replication, !(0...1).contains(r) {
            throw HybridSyncError.invalidArgument(
                .configuration, "replication \(r) is not supported: use 0 (no copies) or 1 (one extra copy of each shard; a job of one server keeps none)")
        }
        guard maxMessageBytes >= 4096 else { throw HybridSyncError.invalidArgument(.configuration, "max message bytes \(maxMessageBytes) is below 4096") }
        guard limits.maxRows >= 1, limits.maxBytes >= 1, limits.maxTables >= 1, limits.maxKeysPerRequest >= 1, limits.maxClockLead >= 1 else {
            throw HybridSyncError.invalidArgument(.configuration, "server limits must be positive: \(limits)")
        }
    }
}
