import HybridSyncCore
import HybridSyncZMQ

/// The scheduler process: binds a ROUTER, runs `SchedulerState`, and returns when every worker has
/// finished (or throws if the nodes do not all register before `startTimeout`).
public final class SchedulerNode: @unchecked Sendable {
    private let config: PSConfig
    private let context: ZMQContext
    private let socket: ZMQSocket
    /// The endpoint bound (useful with port 0).
    public let endpoint: String

    /// Binds `tcp://bindHost:schedulerPort` (port 0 picks a free port; see `endpoint`).
    public init(config: PSConfig) throws {
        try config.validate()
        self.config = config
        context = try ZMQContext()
        socket = try ZMQSocket(context, kind: .router)
        try socket.setMaxFrameBytes(1 << 20)
        endpoint = try socket.bind("tcp://\(config.bindHost):\(config.schedulerPort)")
    }

    /// The bound port.
    public var port: Int { Int(endpoint.split(separator: ":").last ?? "0") ?? 0 }

    /// Serves until the job ends. Throws `timeout` naming the missing roles if registration stalls.
    public func run() throws {
        var state = SchedulerState(servers: config.servers, workers: config.workers, heartbeatTimeout: config.heartbeatTimeout)
        let start = monotonicSeconds()
        var registered: [Role: Int] = [:]
        while true {
            let now = monotonicSeconds()
            if !state.started && now - start > config.startTimeout {
                throw HybridSyncError.timeout(operation: "scheduler rendezvous",
                                              waitingFor: "\(config.servers - (registered[.server] ?? 0)) server(s) and \(config.workers - (registered[.worker] ?? 0)) worker(s) to register",
                                              seconds: config.startTimeout)
            }
            let ready = try ZMQSocket.poll([socket], fd: nil, timeoutMs: 20)
            var directives = state.onTick(now: monotonicSeconds())
            if !ready.ready.isEmpty {
                while let raw = try socket.receive() {
                    switch Envelope.open(raw, routed: true, maxMessageBytes: 1 << 20) {
                    case .failure(let rejected):
                        directives.append(.send(route: rejected.route, kind: .error, seq: rejected.header?.seq ?? 0,
                                                meta: ErrorCodec.encode(rejected.error)))
                    case .success(let env):
                        directives += handle(env, &state, &registered)
                    }
                }
            }
            for d in directives {
                switch d {
                case let .send(route, kind, seq, meta):
                    let h = MessageHeader(kind: kind, sender: .scheduler, seq: seq)
                    try? socket.send([.bytes(route)] + messageFrames(h, meta: meta))
                case .exit:
                    // Let the shutdown messages leave before the socket closes.
                    try socket.setLinger(milliseconds: 1000)
                    socket.close()
                    context.terminate()
                    return
                }
            }
        }
    }

    private func handle(_ env: Envelope, _ state: inout SchedulerState, _ registered: inout [Role: Int]) -> [SchedulerState.Directive] {
        let now = monotonicSeconds()
        let h = env.header
        switch h.kind {
        case .register:
            let parsed: (Role, String, Int)? = try? env.frames[1].withUnsafeBytes { raw in
                var r = ByteReader(raw, context: "register")
                guard let role = Role(rawValue: try r.u8("role")), role != .scheduler else { return nil }
                let address = try r.string("address")
                let preferred = Int(Int32(bitPattern: try r.u32("preferred index")))
                return (role, address, preferred)
            }
            guard let (role, address, preferred) = parsed else {
                return [.send(route: env.route, kind: .error, seq: h.seq, meta: ErrorCodec.encode(.malformedMessage("bad register message")))]
            }
            registered[role, default: 0] += 1
            return state.onRegister(route: env.route, role: role, address: address, preferredIndex: preferred, seq: h.seq, now: now)
        case .heartbeat:
            state.onHeard(h.sender, now: now)
            return [.send(route: env.route, kind: .heartbeat, seq: h.seq, meta: [])]
        case .barrier:
            guard let g = env.frames[1].bytes.first.flatMap(BarrierGroup.init(rawValue:)), state.nodes[h.sender] != nil else {
                return [.send(route: env.route, kind: .error, seq: h.seq, meta: ErrorCodec.encode(.invalidArgument("barrier from an unregistered node or with a bad group")))]
            }
            return state.onBarrier(h.sender, group: g, seq: h.seq, now: now)
        case .finished:
            return state.onFinished(h.sender, now: now)
        default:
            state.onHeard(h.sender, now: now)
            return [.send(route: env.route, kind: .error, seq: h.seq, meta: ErrorCodec.encode(.malformedMessage("the scheduler does not accept \(h.kind) messages")))]
        }
    }
}
