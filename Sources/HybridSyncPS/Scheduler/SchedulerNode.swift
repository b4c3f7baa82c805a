import HybridSyncCore
import HybridSyncZMQ
import Logging

/// The scheduler process: listens, runs `SchedulerMachine` in a `NodeShell`, and returns when every
/// worker has finished (or throws if the nodes do not all register before `startTimeout`).
public final class SchedulerNode {
    private let config: PSConfig
    private let transport: any MessageTransport
    private let logger: Logger
    /// The endpoint bound (useful with port 0).
    package let endpoint: String
    /// This node is the job's standby scheduler.
    private let standingBy: Bool

    /// Binds `tcp://bindHost:schedulerPort` over ZeroMQ (port 0 picks a free port; see `endpoint`).
    public convenience init(config: PSConfig, logger: Logger = Logger(label: "hybridsync.scheduler")) throws {
        try self.init(
            config: config,
            transport: ZMQMessageTransport(
                maxFrameBytes: 1 << 20, curve: config.curve,
                onRefused: refusalLogger(logger, HandshakeRefusals())),
            logger: logger)
    }

    /// The job's standby scheduler, listening at `listen` over ZeroMQ (port 0 picks a free port); the
    /// nodes and the scheduler find it at `config.standbyAddress`, set to `endpoint`.
    package convenience init(standbyFor config: PSConfig, listen: String, logger: Logger) throws {
        try self.init(
            config: config,
            transport: ZMQMessageTransport(maxFrameBytes: 1 << 20, curve: config.curve, onRefused: refusalLogger(logger, HandshakeRefusals())),
            logger: logger, standbyListening: listen)
    }

    /// Listens on `transport` (the test kit passes an in-memory one); with `standbyListening`, as the
    /// job's standby scheduler at that endpoint.
    package init(config: PSConfig, transport: any MessageTransport, logger: Logger, standbyListening: String? = nil) throws {
        try config.validate()
        self.config = config
        self.transport = transport
        standingBy = standbyListening != nil
        var l = logger
        l[metadataKey: "node"] = standingBy ? "standby scheduler" : "scheduler"
        self.logger = l
        endpoint = try transport.listen(standbyListening ?? config.schedulerListenEndpoint)
    }

    /// The bound port.
    package var port: Int { Int(endpoint.split(separator: ":").last ?? "0") ?? 0 }

    /// Serves until the job ends. Throws `timeout` naming the missing roles if registration stalls.
    public func run() throws {
        let machine = SchedulerMachine(
            servers: config.servers, workers: config.workers,
            heartbeatTimeout: config.heartbeatTimeout, startTimeout: config.startTimeout,
            replication: config.effectiveReplication, standby: standingBy ? nil : config.standbyAddress, standingBy: standingBy)
        try NodeShell(
            machine: machine, transport: transport, commands: CommandQueue(), maxMessageBytes: 1 << 20,
            tickSeconds: Swift.min(0.02, config.heartbeatInterval / 2), logger: logger
        ).run()
    }
}
