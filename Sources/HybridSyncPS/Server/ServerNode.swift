import HybridSyncCore
import HybridSyncZMQ

/// A server process: binds a ROUTER for workers, registers with the scheduler, serves its shard until
/// the scheduler says the job is over. One I/O thread (the caller's) owns both sockets and the shard.
///
/// Bad requests are answered with an `error` message and change nothing; the server keeps serving.
public final class ServerNode: @unchecked Sendable {
    private let config: PSConfig
    private let context: ZMQContext
    private let router: ZMQSocket
    private let scheduler: ZMQSocket
    /// The endpoint workers connect to.
    public let endpoint: String

    public init(config: PSConfig) throws {
        try config.validate()
        self.config = config
        context = try ZMQContext()
        router = try ZMQSocket(context, kind: .router)
        // libzmq drops a peer whose single frame exceeds twice the limit; smaller oversize messages are
        // answered with a typed error by the codec.
        try router.setMaxFrameBytes(2 * config.maxMessageBytes)
        endpoint = try router.bind("tcp://\(config.bindHost):0")
        scheduler = try ZMQSocket(context, kind: .dealer)
        try scheduler.connect(config.schedulerEndpoint)
    }

    /// Registers, serves, and returns when told to shut down. Throws if the scheduler is not reachable
    /// before `startTimeout` or goes silent for `heartbeatTimeout`.
    public func run() throws {
        defer {
            router.close()
            scheduler.close()
            context.terminate()
        }
        var w = ByteWriter()
        w.u8(Role.server.rawValue)
        w.string(endpoint)
        w.u32(UInt32(bitPattern: Int32(config.preferredIndex)))
        try scheduler.send(messageFrames(MessageHeader(kind: .register, sender: .unassigned(.server), seq: 1), meta: w.bytes))
        var shard: ServerShard?
        let start = monotonicSeconds()
        var lastHeard = start, lastBeat = start
        while true {
            let now = monotonicSeconds()
            if shard == nil && now - start > config.startTimeout {
                throw HybridSyncError.timeout(operation: "server registration", waitingFor: "the scheduler at \(config.schedulerEndpoint)", seconds: config.startTimeout)
            }
            if shard != nil && now - lastHeard > config.heartbeatTimeout {
                throw HybridSyncError.peerDied(peer: "scheduler at \(config.schedulerEndpoint)", reason: "silent for \(Int(config.heartbeatTimeout)) s")
            }
            if let s = shard, now - lastBeat >= config.heartbeatInterval {
                try scheduler.send(messageFrames(MessageHeader(kind: .heartbeat, sender: s.id, seq: 0)))
                lastBeat = now
            }
            let ready = try ZMQSocket.poll([router, scheduler], fd: nil, timeoutMs: 20)
            if ready.ready.contains(1) {
                while let raw = try scheduler.receive() {
                    lastHeard = monotonicSeconds()
                    guard case .success(let env) = Envelope.open(raw, routed: false, maxMessageBytes: 1 << 20) else { continue }
                    switch env.header.kind {
                    case .addressBook:
                        let (id, workers) = try env.frames[1].withUnsafeBytes { raw -> (NodeID, Int) in
                            var r = ByteReader(raw, context: "address book")
                            let id = NodeID(raw: try r.u32("id")) ?? .unassigned(.server)
                            _ = try r.u32("servers")
                            return (id, Int(try r.u32("workers")))
                        }
                        shard = ServerShard(id: id, workers: workers, discardsData: config.discardData)
                    case .nodeDead:
                        let dead = try env.frames[1].withUnsafeBytes { raw -> NodeID? in
                            var r = ByteReader(raw, context: "node dead")
                            return NodeID(raw: try r.u32("id"))
                        }
                        if let dead, dead.role == .worker, let s = shard {
                            try send(s.workerDied(dead.index, name: "\(dead)"), counting: s)
                        }
                    case .shutdown:
                        return
                    case .error:
                        throw ErrorCodec.decode(env.frames[1], from: "scheduler")
                    default:
                        break
                    }
                }
            }
            if ready.ready.contains(0) {
                while let raw = try router.receive() {
                    switch Envelope.open(raw, routed: true, maxMessageBytes: config.maxMessageBytes) {
                    case .failure(let rejected):
                        let h = MessageHeader(kind: .error, sender: shard?.id ?? .unassigned(.server), seq: rejected.header?.seq ?? 0)
                        try router.send([.bytes(rejected.route)] + messageFrames(h, meta: ErrorCodec.encode(rejected.error)))
                    case .success(let env):
                        guard let s = shard else {
                            let h = MessageHeader(kind: .error, sender: .unassigned(.server), seq: env.header.seq)
                            try router.send([.bytes(env.route)] + messageFrames(h, meta: ErrorCodec.encode(.invalidArgument("server has not joined the job yet"))))
                            continue
                        }
                        s.bytesIn += env.frames.reduce(0) { $0 + $1.count }
                        try send(s.handle(route: env.route, header: env.header, frames: env.frames), counting: s)
                    }
                }
            }
        }
    }

    private func send(_ directives: [ServerDirective], counting shard: ServerShard) throws {
        for case let .reply(route, frames) in directives {
            shard.bytesOut += frames.reduce(0) { $0 + $1.count }
            try router.send([.bytes(route)] + frames)
        }
    }
}
