import HybridSyncCore

/// A request of the worker's user, as handed to its node shell: one message per server (or one to the
/// scheduler), answered as one. `id` names it in `resolve` directives; `0` is the registration.
package struct WorkerRequest: Sendable {
    /// Who a part goes to.
    package enum Target: Sendable, Hashable {
        case scheduler
        case server(Int)

        /// The part number `resolve` reports (-1 for the scheduler).
        package var part: Int {
            switch self {
            case .scheduler: return -1
            case .server(let s): return s
            }
        }
    }

    package let id: Int
    package let parts: [(target: Target, message: OutboundMessage)]
    package let deadline: Deadline

    package init(id: Int, parts: [(target: Target, message: OutboundMessage)], deadline: Deadline) {
        self.id = id
        self.parts = parts
        self.deadline = deadline
    }
}

/// A worker's protocol logic, without I/O or clocks: registration (connection 0 is the scheduler,
/// connection 1 + s is server s), heartbeats, sequence numbers, matching replies to requests, every
/// request's deadline, and failing requests that wait on a node the scheduler declared dead.
///
/// Standby scheduler: when the scheduler has been silent for the heartbeat timeout and the job has a
/// standby (`PSConfig.standbyAddress`), the worker connects to the standby, registers again with its
/// id, and sends it the barrier it waits in (resent at the slow pace until answered) instead of
/// failing; only a standby that stays silent as long fails the job.
///
/// Shards: `Target.server(s)` names shard s, sent to the server the scheduler's latest `ShardView` says
/// leads it, stamped with the view's epoch. A new view sends every request still waiting on a shard
/// whose leader changed to the new one at once (same sequence number); a `redirect` waits for the
/// next view. A view in which a shard has no copy left fails every request with `dataLost`.
///
/// Exactly once: every message carries (worker, incarnation, sequence). A request to a server that is
/// not answered within `resendAfter` is sent again, unchanged, with the wait doubling each time, up to
/// `maxAttempts` sends; servers apply each sequence number once and answer a repeat with the original
/// reply, so a resend can never apply an update twice. Then it fails with a timeout naming the server.
package struct WorkerMachine: NodeMachine {
    package enum Command: Sendable {
        case request(WorkerRequest)
        /// Tell the scheduler this worker is done, then stop.
        case finish
    }

    private struct Pending {
        let request: Int
        let target: WorkerRequest.Target
        let deadline: Deadline
        /// The message as sent, kept to send again (its row frames are shared, not copied).
        var message: OutboundMessage?
        var attempts = 1
        var nextResend = Double.infinity
        var firstSent = 0.0
        /// The server said it holds the request (a pull waiting for the slowest worker's clock): it is
        /// resent only at the slow pace, to recover a lost answer, and never runs out of attempts.
        var held = false
    }

    private let config: PSConfig
    private var id: NodeID = .unassigned(.worker)
    private var registered = false
    private var servers: [String] = []
    /// The scheduler's latest shard map (before the first: shard s on server s).
    private var view: ShardView?
    /// Connections to servers, by server index (link 0 is the scheduler).
    private var links: [Int: Peer] = [:]
    private var nextLink = 1
    private var dead: [Int: String] = [:]
    /// The first node the scheduler reported dead: the job has failed, and every later request fails
    /// at once naming it (so every worker raises the same error, whatever it does next).
    private var lostNode: HybridSyncError?
    private var pending: [UInt64: Pending] = [:]
    private var nextSeq: UInt64 = 2
    private var startedAt = 0.0, lastHeard = 0.0, lastBeat = 0.0
    /// This worker's incarnation: random and non-zero, new for every `KVWorker`.
    private let incarnation: UInt32
    /// The scheduler's connection: link 0, or the standby's once this worker has moved to it.
    private var scheduler = Peer.link(0)
    /// Whether this worker has moved to the standby scheduler, and whether the standby has answered.
    private var onStandby = false, rejoined = false
    /// Barriers entered so far, by group (the generation of the next is one more).
    private var barriers: [BarrierGroup: UInt64] = [:]
    /// How much longer than `resendAfter` the longest wait between two sends is.
    private static let slowFactor = 8.0

    package init(config: PSConfig, incarnation: UInt32 = UInt32.random(in: 1...UInt32.max)) {
        self.config = config
        self.incarnation = incarnation
    }

    /// The server leading shard `s`, nil if it has no copy left.
    private func leader(_ s: Int) -> Int? { view.map { $0.primary(of: s) } ?? s }

    private func peer(_ t: WorkerRequest.Target) -> Peer {
        switch t {
        case .scheduler: return scheduler
        case .server(let s): return leader(s).flatMap { links[$0] } ?? .link(1 + s)
        }
    }

    private func describe(_ t: WorkerRequest.Target) -> String {
        switch t {
        case .scheduler: return "the scheduler at \(schedulerAddress)"
        case .server(let s):
            let at = leader(s) ?? s
            let name = "server \(at) at \(servers.indices.contains(at) ? servers[at] : "?")"
            return at == s ? name : "\(name) (leading shard \(s))"
        }
    }

    /// `message` stamped for its target: the shard and the view it is routed by.
    private func stamped(_ message: OutboundMessage, _ t: WorkerRequest.Target) -> OutboundMessage {
        guard case .server(let s) = t else { return message }
        var m = message
        m.header.shard = s
        m.header.epoch = view?.epoch ?? 0
        return m
    }

    package mutating func start(now: Double) -> [NodeDirective] {
        startedAt = now
        lastHeard = now
        let h = MessageHeader(kind: .register, sender: .unassigned(.worker), seq: 1)
        pending[1] = Pending(request: 0, target: .scheduler, deadline: .after(seconds: config.startTimeout))
        return [
            .connect(config.schedulerEndpoint),
            .send(scheduler, OutboundMessage(h, .register(role: .worker, address: "", preferredIndex: config.preferredIndex))),
        ]
    }

    package mutating func onCommand(_ command: Command, now: Double) -> [NodeDirective] {
        switch command {
        case .finish:
            var out = failAll(.unusable("the worker has finished"))
            if registered {
                nextSeq += 1
                // Unanswered: to a standby, whose link may lose messages, it goes five times (a repeat
                // changes nothing).
                for _ in 0..<(onStandby ? 5 : 1) {
                    out.append(.send(scheduler, OutboundMessage(MessageHeader(kind: .finished, sender: id, seq: nextSeq))))
                }
            }
            out.append(.stop(nil))
            return out
        case .request(let r):
            if let lostNode {
                return r.parts.map { .resolve(request: r.id, part: $0.0.part, .failure(lostNode)) }
            }
            var out: [NodeDirective] = []
            for (target, message) in r.parts {
                if case .server(let s) = target {
                    guard servers.indices.contains(s) else {
                        out.append(.resolve(request: r.id, part: target.part, .failure(.invalidArgument(.membership, "no server \(s)"))))
                        continue
                    }
                    if let reason = dead[s] {
                        out.append(.resolve(request: r.id, part: target.part, .failure(.peerDied(peer: "server \(s) at \(servers[s])", reason: reason))))
                        continue
                    }
                }
                nextSeq += 1
                var m = message
                m.header.seq = nextSeq
                m.header.sender = id
                m.header.incarnation = incarnation
                if case .barrier(let group, _) = m.body {
                    barriers[group, default: 0] += 1
                    m.body = .barrier(group, generation: barriers[group]!)
                }
                var p = Pending(request: r.id, target: target, deadline: r.deadline)
                if target == .scheduler {
                    // Kept to send again to a standby that takes over.
                    p.message = m
                    if onStandby {
                        p.held = true
                        p.nextResend = now + config.resendAfter * Self.slowFactor
                    }
                }
                if case .server = target, config.maxAttempts > 1 {
                    // Row frames become shared, so the request can be sent again without a copy.
                    m.payload = m.payload.map { f in
                        if case let .owned(pointer, count) = f { return .shared(SharedBytes(owning: pointer, count: count)) }
                        return f
                    }
                    p.message = m
                    p.firstSent = now
                    p.nextResend = now + config.resendAfter
                }
                pending[nextSeq] = p
                out.append(.send(peer(target), stamped(m, target)))
            }
            return out
        }
    }

    package mutating func onMessage(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        if m.from == scheduler {
            lastHeard = now
            rejoined = rejoined || onStandby
            return fromScheduler(m, now: now)
        }
        guard case .link(let l) = m.from, l >= 1 else { return [.log(.warning, "message from an unknown peer \(m.from)")] }
        if m.header.kind == .redirect {
            // The server does not lead the shard in its view: the scheduler's newer view will resend it.
            if var p = pending[m.header.seq] {
                p.nextResend = now + config.resendAfter
                pending[m.header.seq] = p
            }
            return [.log(.debug, "request \(m.header.seq) redirected by server \(m.header.sender.index) (its view \(m.header.epoch))")]
        }
        if m.header.kind == .held {
            if var p = pending[m.header.seq], !p.held {
                p.held = true
                p.nextResend = now + config.resendAfter * Self.slowFactor
                pending[m.header.seq] = p
            }
            return []
        }
        guard let p = pending.removeValue(forKey: m.header.seq) else {
            return [.log(.debug, "late reply \(m.header.seq) from link \(l) dropped")]
        }
        if case .error(let e) = m.body {
            return [.resolve(request: p.request, part: p.target.part, .failure(e))]
        }
        return [.resolve(request: p.request, part: p.target.part, .success(m.frames))]
    }

    private mutating func fromScheduler(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        switch m.body {
        case let .view(next, note):
            guard next.epoch > view?.epoch ?? 0, next.chains.count == servers.count || !registered else { return [] }
            return install(next, note: note, now: now)
        case let .addressBook(me, addresses, _) where !registered:
            registered = true
            id = me
            servers = addresses
            pending.removeValue(forKey: 1)
            for s in addresses.indices { links[s] = .link(1 + s) }
            nextLink = 1 + addresses.count
            var out: [NodeDirective] = addresses.map { .connect($0) }
            out.append(.log(.debug, "joined the job as \(me) with \(addresses.count) server(s)"))
            out.append(.resolve(request: 0, part: -1, .success(m.frames)))
            return out
        case let .nodeDead(node, reason):
            let name = node.role == .server && servers.indices.contains(node.index) ? "\(node) at \(servers[node.index])" : "\(node)"
            var out: [NodeDirective] = [
                .log(.error, "the scheduler reports \(node) dead: \(reason)"),
                .fault(.peerDied(peer: name, reason: reason)),
            ]
            if lostNode == nil { lostNode = .peerDied(peer: name, reason: reason) }
            if node.role == .server {
                dead[node.index] = reason
                let e = HybridSyncError.peerDied(peer: "\(node) at \(servers.indices.contains(node.index) ? servers[node.index] : "?")", reason: reason)
                for (seq, p) in pending where p.target == .server(node.index) {
                    pending.removeValue(forKey: seq)
                    out.append(.resolve(request: p.request, part: p.target.part, .failure(e)))
                }
            }
            return out
        case .error(let e):
            guard let p = pending.removeValue(forKey: m.header.seq) else { return [.log(.warning, "the scheduler reported: \(e)")] }
            var out: [NodeDirective] = [.resolve(request: p.request, part: -1, .failure(e))]
            if p.request == 0 { out.append(.stop(e)) }
            return out
        default:
            guard m.header.kind != .heartbeat, let p = pending.removeValue(forKey: m.header.seq) else { return [] }
            return [.resolve(request: p.request, part: -1, .success(m.frames))]
        }
    }

    /// Moves to the scheduler's view `next`: requests waiting on a shard whose leader changed go to the
    /// new leader now, unchanged (a change the old leader forwarded before it died is answered, not
    /// applied again); lost shards fail the job.
    private mutating func install(_ next: ShardView, note: String, now: Double) -> [NodeDirective] {
        let before = view
        view = next
        var out: [NodeDirective] = note.isEmpty ? [] : [.log(.warning, "view \(next.epoch): \(note)")]
        // A spare that replaced a server listens elsewhere: connect to it.
        if next.addresses.count == servers.count {
            for i in servers.indices where next.addresses[i] != servers[i] {
                servers[i] = next.addresses[i]
                links[i] = .link(nextLink)
                nextLink += 1
                out.append(.connect(next.addresses[i]))
            }
        }
        let lost = next.lostShards
        if !lost.isEmpty {
            let e = HybridSyncError.dataLost(shards: lost, reason: note)
            if lostNode == nil { lostNode = e }
            out.append(.log(.error, "\(e)"))
            out.append(.fault(e))
            out += failAll(e)
            return out
        }
        if before != nil { out.append(.count("absorbed", 1)) }
        for (seq, p) in pending.sorted(by: { $0.key < $1.key }) {
            guard case .server(let s) = p.target, let message = p.message else { continue }
            guard before.map({ $0.primary(of: s) }) ?? s != next.primary(of: s) else { continue }
            var q = p
            q.attempts = 1
            q.held = false
            q.nextResend = now + config.resendAfter
            pending[seq] = q
            out.append(.send(peer(p.target), stamped(message, p.target)))
        }
        return out
    }

    package mutating func onRejected(_ r: Rejection, now: Double) -> [NodeDirective] {
        var out: [NodeDirective] = [.log(.warning, "rejected a message from \(r.from): \(r.error)")]
        if let seq = r.header?.seq, let p = pending.removeValue(forKey: seq) {
            out.append(.resolve(request: p.request, part: p.target.part, .failure(r.error)))
        }
        return out
    }

    package mutating func onTick(now: Double) -> [NodeDirective] {
        var out = resend(now: now)
        for (seq, p) in pending where p.deadline.hasPassed {
            pending.removeValue(forKey: seq)
            let what = p.request == 0 ? "worker registration" : "request \(seq)"
            let e = HybridSyncError.timeout(operation: what, waitingFor: describe(p.target), seconds: p.deadline.budgetSeconds)
            out.append(.log(.error, "\(e)"))
            out.append(.resolve(request: p.request, part: p.target.part, .failure(e)))
            if p.request == 0 { out.append(.stop(e)) }
        }
        guard registered else { return out }
        if now - lastHeard > config.heartbeatTimeout {
            if let standby = config.standbyAddress, !onStandby { return out + moveToStandby(standby, now: now) }
            let e = HybridSyncError.peerDied(peer: "scheduler at \(schedulerAddress)", reason: "silent for \(Int(config.heartbeatTimeout * 1000)) ms")
            out.append(.log(.error, "\(e)"))
            out.append(.fault(e))
            out += failAll(e)
            lastHeard = now
        }
        if now - lastBeat >= config.heartbeatInterval {
            lastBeat = now
            out.append(.send(scheduler, onStandby && !rejoined ? rejoin : OutboundMessage(MessageHeader(kind: .heartbeat, sender: id, seq: 0))))
        }
        return out
    }

    /// Where the scheduler this worker talks to listens.
    private var schedulerAddress: String { onStandby ? config.standbyAddress ?? "" : config.schedulerEndpoint }

    /// This worker's registration again, with its id, with a standby that took over.
    private var rejoin: OutboundMessage {
        OutboundMessage(
            MessageHeader(kind: .register, sender: id, seq: 0, flags: MessageFlags.rejoin),
            .register(role: .worker, address: "", preferredIndex: id.index))
    }

    /// The scheduler fell silent: connect to its standby, register again, and send it what waits for
    /// the scheduler (a barrier), at the slow pace until it answers.
    private mutating func moveToStandby(_ standby: String, now: Double) -> [NodeDirective] {
        onStandby = true
        scheduler = .link(nextLink)
        nextLink += 1
        lastHeard = now
        lastBeat = now
        var out: [NodeDirective] = [
            .log(.warning, "the scheduler at \(config.schedulerEndpoint) is silent; registering again with its standby at \(standby)"),
            .connect(standby),
            .send(scheduler, rejoin),
        ]
        for (seq, p) in pending.sorted(by: { $0.key < $1.key }) where p.target == .scheduler {
            guard let message = p.message else { continue }
            var q = p
            q.held = true
            q.nextResend = now + config.resendAfter * Self.slowFactor
            pending[seq] = q
            out.append(.send(scheduler, message))
        }
        return out
    }

    /// Sends again every request whose wait for a reply ran out; fails those out of attempts.
    private mutating func resend(now: Double) -> [NodeDirective] {
        var out: [NodeDirective] = []
        for (seq, p) in pending where now >= p.nextResend {
            guard let message = p.message else { continue }
            if p.held {
                var q = p
                q.nextResend = now + config.resendAfter * Self.slowFactor
                pending[seq] = q
                out.append(.send(peer(p.target), stamped(message, p.target)))
                continue
            }
            if p.attempts >= config.maxAttempts {
                pending.removeValue(forKey: seq)
                let e = HybridSyncError.timeout(
                    operation: "request \(seq) (\(message.header.kind), sent \(p.attempts) times)",
                    waitingFor: describe(p.target), seconds: now - p.firstSent)
                out.append(.log(.error, "\(e)"))
                out.append(.resolve(request: p.request, part: p.target.part, .failure(e)))
                continue
            }
            var q = p
            q.attempts += 1
            // The wait doubles with each send, up to `slowFactor` times the first.
            q.nextResend = now + config.resendAfter * Swift.min(Double(1 << Swift.min(q.attempts - 1, 20)), Self.slowFactor)
            pending[seq] = q
            out.append(.count("resends", 1))
            out.append(.log(.debug, "resending request \(seq) (\(message.header.kind)) to \(describe(p.target)), send \(q.attempts) of \(config.maxAttempts)"))
            out.append(.send(peer(p.target), stamped(message, p.target)))
        }
        return out
    }

    package mutating func onSendFailed(to peer: Peer, seq: UInt64, error: HybridSyncError, now: Double) -> [NodeDirective] {
        guard let p = pending.removeValue(forKey: seq) else { return [] }
        return [.resolve(request: p.request, part: p.target.part, .failure(error))]
    }

    private mutating func failAll(_ e: HybridSyncError) -> [NodeDirective] {
        defer { pending.removeAll() }
        return pending.values.map { .resolve(request: $0.request, part: $0.target.part, .failure(e)) }
    }
}
