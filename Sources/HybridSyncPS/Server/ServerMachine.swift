import HybridSyncCore

/// A server's protocol logic, without I/O or clocks: it registers with the scheduler (connection 0),
/// sends heartbeats, learns its id from the address book and its shards from the scheduler's views,
/// hands workers' requests, other servers' forwarded changes and their acknowledgements to its
/// `ShardHost`, fails pulls held for a worker the scheduler declares dead, and stops when told to shut
/// down or when the scheduler goes silent.
package struct ServerMachine: NodeMachine {
    package typealias Command = Never

    private let config: PSConfig
    private let endpoint: String
    private(set) var host: ShardHost?
    private var startedAt = 0.0
    private var lastHeard = 0.0
    private var lastBeat = 0.0
    /// A spare the scheduler told to wait for a server to replace.
    private var waitingAsSpare = false
    /// Requests that arrived before this server's own address book (a worker can learn the book first):
    /// served, in order, once the server has joined; at most `maxEarly`, refused beyond.
    private var early: [InboundEnvelope] = []
    /// The first node the scheduler reported dead: the job ends in failure.
    private var lost: HybridSyncError?
    private static let maxEarly = 4096
    /// The scheduler's connection: link 0, or the standby's once this server has moved to it.
    private var scheduler = Peer.link(0)
    /// Whether this server has moved to the standby scheduler, and whether the standby has answered.
    private var onStandby = false, rejoined = false

    /// Connections refused at the handshake, counted by the transport.
    private let handshakesRefused: HandshakeRefusals

    /// Where the shards' timeline spans go (`.process` from the node shell; `.off` in tests).
    private let spans: SpanRecorder

    /// A server listening at `endpoint` (the address workers will be given).
    package init(
        config: PSConfig, endpoint: String, handshakesRefused: HandshakeRefusals = HandshakeRefusals(), spans: SpanRecorder = .off
    ) {
        self.config = config
        self.spans = spans
        self.endpoint = endpoint
        self.handshakesRefused = handshakesRefused
    }

    private var id: NodeID { host.map { NodeID(.server, $0.me) } ?? .unassigned(.server) }

    package mutating func start(now: Double) -> [NodeDirective] {
        startedAt = now
        lastHeard = now
        let h = MessageHeader(kind: .register, sender: .unassigned(.server), seq: 1, flags: config.spare ? MessageFlags.spare : 0)
        return [
            .connect(config.schedulerEndpoint),
            .send(scheduler, OutboundMessage(h, .register(role: .server, address: endpoint, preferredIndex: config.preferredIndex))),
            .log(.debug, "server at \(endpoint) registering with the scheduler at \(config.schedulerEndpoint)"),
        ]
    }

    package mutating func onTick(now: Double) -> [NodeDirective] {
        guard let host else {
            if waitingAsSpare {
                // A spare waits as long as the scheduler is alive (it sends the spare heartbeats).
                guard now - lastHeard > config.heartbeatTimeout else { return [] }
                let e = HybridSyncError.peerDied(
                    peer: "scheduler at \(config.schedulerEndpoint)", reason: "silent for \(Int(config.heartbeatTimeout * 1000)) ms while this spare waited")
                return [.log(.error, "\(e)"), .stop(e)]
            }
            guard now - startedAt > config.startTimeout else { return [] }
            let e = HybridSyncError.timeout(
                operation: "server registration", waitingFor: "the scheduler at \(config.schedulerEndpoint)", seconds: config.startTimeout)
            return [.log(.error, "\(e)"), .stop(e)]
        }
        if now - lastHeard > config.heartbeatTimeout {
            if let standby = config.standbyAddress, !onStandby {
                // The scheduler fell silent: register again with its standby, over a new connection.
                onStandby = true
                scheduler = host.openLink()
                host.scheduler = scheduler
                lastHeard = now
                lastBeat = now
                return [
                    .log(.warning, "\(id): the scheduler at \(config.schedulerEndpoint) is silent; registering again with its standby at \(standby)"),
                    .connect(standby), .send(scheduler, rejoin),
                ]
            }
            let at = onStandby ? config.standbyAddress ?? "" : config.schedulerEndpoint
            let e = HybridSyncError.peerDied(peer: "scheduler at \(at)", reason: "silent for \(Int(config.heartbeatTimeout * 1000)) ms")
            return [.log(.error, "\(e)"), .stop(e)]
        }
        let resends = host.onTick(now: now)
        guard now - lastBeat >= config.heartbeatInterval else { return resends }
        lastBeat = now
        let beat = onStandby && !rejoined ? rejoin : OutboundMessage(MessageHeader(kind: .heartbeat, sender: id, seq: 0))
        return resends + [.send(scheduler, beat)]
    }

    /// This server's registration again, with its id, with a standby that took over.
    private var rejoin: OutboundMessage {
        OutboundMessage(
            MessageHeader(kind: .register, sender: id, seq: 0, flags: MessageFlags.rejoin),
            .register(role: .server, address: endpoint, preferredIndex: id.index))
    }

    package mutating func onMessage(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        if m.from == scheduler { return fromScheduler(m, now: now) }
        guard let host else {
            guard early.count < Self.maxEarly else {
                return [
                    .send(
                        m.from,
                        OutboundMessage(
                            MessageHeader(kind: .error, sender: id, seq: m.header.seq),
                            .error(.invalidArgument(.membership, "server has not joined the job yet"))))
                ]
            }
            early.append(m)
            return []
        }
        // A connection this server opened goes to a backup: only its acknowledgements come back on it
        // (anything else is dropped unanswered, so two servers never answer each other's errors).
        if case .link = m.from {
            switch m.header.kind {
            case .replicaAck: return host.onAck(m)
            case .copyAck: return host.onCopyAck(m, now: now)
            default: return [.log(.debug, "\(id) ignored \(m.header.kind) from \(m.from)")]
            }
        }
        if m.header.flags & MessageFlags.replicated != 0 { return host.onForward(m) }
        if m.header.kind == .copy { return host.onCopy(m) }
        return host.onWorkerRequest(m, now: now)
    }

    private mutating func fromScheduler(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        lastHeard = now
        rejoined = rejoined || onStandby
        switch m.body {
        case let .addressBook(me, servers, workers) where host == nil:
            let (config, refusals, spans) = (config, handshakesRefused, spans)
            let partBytes = config.copyPartBytes ?? Swift.max(1 << 16, Swift.min(ShardHost.copyPartLimit, config.maxMessageBytes / 4))
            let joined = ShardHost(
                me: me.index, addresses: servers, resendAfter: config.resendAfter, copyPartBytes: partBytes,
                makeShard: { s in
                    let shard = ServerShard(
                        id: NodeID(.server, s), workers: workers, discardsData: config.discardData, limits: config.limits,
                        maxReplyBytes: config.maxMessageBytes, checkpointSliceRows: config.checkpointSliceRows,
                        checkpointWriteDelay: config.checkpointWriteDelay, spans: spans)
                    shard.handshakesRefused = refusals
                    return shard
                },
                shardFromCopy: { s, state in
                    let shard = try ServerShard.fromCopy(
                        state, id: NodeID(.server, s), discardsData: config.discardData, limits: config.limits,
                        maxReplyBytes: config.maxMessageBytes, checkpointSliceRows: config.checkpointSliceRows,
                        checkpointWriteDelay: config.checkpointWriteDelay, spans: spans)
                    shard.handshakesRefused = refusals
                    return shard
                })
            host = joined
            defer { early.removeAll() }
            // Requests wait in the host until the first view says which shards are here.
            return [.log(.debug, "joined the job as \(me) (\(workers) workers)")] + early.flatMap { joined.onWorkerRequest($0, now: now) }
        case let .view(view, note):
            guard let host else { return [] }
            var out: [NodeDirective] = note.isEmpty ? [] : [.log(.warning, "view \(view.epoch): \(note)")]
            if !view.lostShards.isEmpty {
                if lost == nil { lost = .dataLost(shards: view.lostShards, reason: note) }
            } else if host.view != nil {
                out.append(.count("absorbed", 1))
            }
            return out + host.install(view, now: now)
        case let .nodeDead(dead, reason):
            var out: [NodeDirective] = [.log(.error, "the scheduler reports \(dead) dead: \(reason)")]
            if lost == nil { lost = .peerDied(peer: "\(dead)", reason: reason) }
            if dead.role == .worker, let host { out += host.workerDied(dead.index, name: "\(dead)") }
            return out
        case .error(let e):
            return [.log(.error, "the scheduler refused this server: \(e)"), .stop(e)]
        default:
            if m.header.kind == .held && host == nil && config.spare {
                waitingAsSpare = true
                return [.log(.info, "spare server at \(endpoint) waits for a server to replace")]
            }
            if m.header.kind == .shutdown { return [.log(.debug, "\(id) shutting down"), .stop(lost)] }
            return []
        }
    }

    package mutating func onRejected(_ r: Rejection, now: Double) -> [NodeDirective] {
        host?.noteRefused()
        let h = MessageHeader(kind: .error, sender: id, seq: r.header?.seq ?? 0)
        var out: [NodeDirective] = [.log(.warning, "\(id) rejected a message from \(r.from): \(r.error)")]
        if r.from != scheduler { out.append(.send(r.from, OutboundMessage(h, .error(r.error)))) }
        return out
    }

    package mutating func onCommand(_ command: Never, now: Double) -> [NodeDirective] {}

    package var hasBackgroundWork: Bool { host?.isWritingCheckpoint ?? false }

    package mutating func onIdle(now: Double) -> [NodeDirective] { host?.continueCheckpoints(now: now) ?? [] }

    package mutating func onSendFailed(to peer: Peer, seq: UInt64, error: HybridSyncError, now: Double) -> [NodeDirective] {
        [.log(.warning, "\(id) could not answer request \(seq) of \(peer): \(error)")]
    }
}
