import HybridSyncCore
import HybridSyncZMQ
import Logging

/// A server process: listens for workers, registers with the scheduler, serves its shard until the
/// scheduler says the job is over. `run` occupies the calling thread (the node shell's).
///
/// Bad requests are answered with an `error` message and change nothing; the server keeps serving.
public final class ServerNode {
    private let config: PSConfig
    private let transport: any MessageTransport
    private let logger: Logger
    /// The endpoint workers connect to.
    package let endpoint: String

    /// A server over ZeroMQ, bound to `tcp://bindHost:<free port>`.
    public convenience init(config: PSConfig, logger: Logger = Logger(label: "hybridsync.server")) throws {
        // libzmq drops a peer whose single frame exceeds twice the limit; smaller oversize messages are
        // answered with a typed error by the codec.
        let refusals = HandshakeRefusals()
        var transport: any MessageTransport = try ZMQMessageTransport(
            maxFrameBytes: 2 * config.maxMessageBytes, curve: config.curve,
            onRefused: refusalLogger(logger, refusals))
        if var plan = config.faults {
            plan.seed = plan.seed &* 1000 &+ UInt64(max(0, config.preferredIndex)) &+ 500
            transport = FaultyMessageTransport(transport, plan: plan) {
                if case .routed = $0 { return true }; return false
            }
        }
        try self.init(config: config, transport: transport, logger: logger, handshakesRefused: refusals)
    }

    private let handshakesRefused: HandshakeRefusals

    /// Called (on the server's thread) for each death of another server this server's job went on
    /// through (its shards moved to their backups).
    package var onAbsorbed: @Sendable () -> Void = {}

    /// A server over `transport` (the test kit passes an in-memory one).
    package init(
        config: PSConfig, transport: any MessageTransport, logger: Logger,
        handshakesRefused: HandshakeRefusals = HandshakeRefusals()
    ) throws {
        try config.validate()
        self.config = config
        self.transport = transport
        self.handshakesRefused = handshakesRefused
        endpoint = try transport.listen(config.serverListenEndpoint)
        var l = logger
        l[metadataKey: "node"] = "server \(config.preferredIndex >= 0 ? "\(config.preferredIndex)" : "?")"
        self.logger = l
    }

    /// Registers, serves, and returns when told to shut down. Throws if the scheduler is not reachable
    /// before `startTimeout` or goes silent for `heartbeatTimeout`.
    public func run() throws {
        try NodeShell(
            machine: ServerMachine(config: config, endpoint: endpoint, handshakesRefused: handshakesRefused, spans: .process), transport: transport,
            commands: CommandQueue(),
            maxMessageBytes: config.maxMessageBytes, tickSeconds: Swift.min(0.02, config.heartbeatInterval / 2),
            logger: logger,
            onCount: { [self] name, _ in
                if name == "absorbed" { onAbsorbed() }
            }
        ).run()
    }
}
