import HybridSyncCore

/// The standby scheduler: the primary's side (sending its state) and the standby's (keeping it, taking
/// over when the primary falls silent, letting the nodes register again).
extension SchedulerMachine {
    /// The primary's connection to its standby (the first and only one it opens).
    static let standbyLink = Peer.link(0)

    /// The primary: its state to the standby, after a change or once a tenth of the heartbeat timeout
    /// has passed (`force`: now). A standby that stops answering is given up, once, with a warning.
    mutating func replicate(now: Double, force: Bool = false) -> [NodeDirective] {
        guard let standby, !standingBy, !standbyLost else { return [] }
        if now - standbyHeard > heartbeatTimeout {
            standbyLost = true
            return [
                .log(.warning, "the standby scheduler at \(standby) is silent: this job has no standby scheduler now"),
                // Launch/mpirun reads this line: the rank that held the standby may end, the job goes on.
                .log(.warning, "hybridsync-absorbed node=standby"),
            ]
        }
        guard force || stateChanged || now - stateSent >= heartbeatTimeout / 10 else { return [] }
        stateChanged = false
        stateSent = now
        let state = SchedulerState(
            nodes: nodes.values.sorted { $0.id.raw < $1.id.raw }.map { n in
                .init(
                    id: n.id, address: n.address, silentMillis: UInt32(clamping: Int(((now - n.lastSeen) * 1000).rounded())), alive: n.alive,
                    finished: n.finished)
            },
            view: view, absorbed: absorbed.sorted { $0.raw < $1.raw }, ended: shutdownSent)
        return [.send(Self.standbyLink, message(.schedulerState, seq: 0, .schedulerState(state)))]
    }

    /// The standby before it takes over: it keeps the primary's latest state and answers it (so the
    /// primary knows it has a standby); a node asking to rejoin this early asks again at its next beat.
    mutating func onMessageStandingBy(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        switch m.body {
        case .schedulerState(let state) where m.header.sender == .scheduler:
            standbyState = state
            stateArrived = now
            if state.ended { return [.log(.debug, "the job has ended; the standby scheduler stops"), .stop(nil)] }
            return [.send(m.from, message(.heartbeat, seq: m.header.seq))]
        case .register where m.header.flags & MessageFlags.rejoin != 0:
            // The node found the scheduler silent: once this standby has heard nothing for half the
            // timeout either, it takes over now rather than at its own timeout.
            guard let state = standbyState, now - stateArrived > heartbeatTimeout / 2 else {
                return [.log(.debug, "\(m.header.sender) asks the standby to take over while the scheduler still sends its state")]
            }
            let out = takeOver(state, now: now)
            return standingBy ? out : out + onRejoin(m, now: now)
        case _ where [.heartbeat, .barrier, .finished, .copied].contains(m.header.kind):
            // A node that has moved here sends what it waits for again once it has registered again.
            return []
        default:
            return refuse(m.from, seq: m.header.seq, .invalidArgument(.membership, "a standby scheduler takes no \(m.header.kind) messages"))
        }
    }

    /// After a takeover: a message from a node of the job over a connection it has not registered
    /// again on yet is left unanswered (it registers first, then sends again).
    func isFromNodeNotBackYet(_ m: InboundEnvelope) -> Bool {
        tookOver && nodes[m.header.sender].map { $0.alive && $0.peer != m.from } == true
    }

    /// The standby's clock: it takes over once the primary has been silent for the heartbeat timeout.
    mutating func onTickStandingBy(now: Double) -> [NodeDirective] {
        guard let state = standbyState else {
            guard now - startedAt > startTimeout + heartbeatTimeout else { return [] }
            let e = HybridSyncError.timeout(operation: "standby scheduler", waitingFor: "the scheduler's first state", seconds: now - startedAt)
            return [.log(.error, "\(e)"), .stop(e)]
        }
        guard now - stateArrived > heartbeatTimeout else { return [] }
        return takeOver(state, now: now)
    }

    /// Becomes the scheduler with the primary's last state. Every node that was alive gets a grace (a
    /// quarter of the heartbeat timeout, at least 1.5 s) to register again, then is dead as a silent node is;
    /// the view's epoch jumps past any the silent scheduler may have sent after its last state.
    private mutating func takeOver(_ state: SchedulerState, now: Double) -> [NodeDirective] {
        standingBy = false
        tookOver = true
        let silence = Int((now - stateArrived) * 1000)
        guard !state.nodes.isEmpty else {
            let e = HybridSyncError.peerDied(peer: "scheduler", reason: "silent for \(silence) ms before the job started")
            return [.log(.error, "\(e)"), .stop(e)]
        }
        started = true
        view = state.view
        view.epoch &+= 16
        absorbed = Set(state.absorbed)
        let grace = Swift.max(1.5, heartbeatTimeout / 4)
        for n in state.nodes {
            nodes[n.id] = Node(id: n.id, peer: nil, address: n.address, lastSeen: now - heartbeatTimeout + grace, alive: n.alive, finished: n.finished)
        }
        stateChanged = true
        return [
            .log(.warning, "the standby scheduler takes over: the scheduler was silent for \(silence) ms (view epoch \(view.epoch))"),
            // Launch/mpirun reads this line: the rank that held the scheduler ended, and the job survived it.
            .log(.warning, "hybridsync-absorbed node=scheduler"),
        ] + (shutdownSent ? [] : checkEndAfterTakeover())
    }

    /// After a takeover with every worker already finished, the job ends at once.
    private mutating func checkEndAfterTakeover() -> [NodeDirective] {
        guard nodes.values.allSatisfy({ $0.id.role != .worker || !$0.alive || $0.finished }) else { return [] }
        return [.log(.warning, "every worker had finished before the scheduler fell silent")] + endJob()
    }

    /// A node registers again after a takeover, on a new connection, with the id it has.
    mutating func onRejoin(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        let h = m.header
        guard case let .register(role, _, preferred) = m.body, h.sender == NodeID(role, preferred), let node = nodes[h.sender], node.alive else {
            return refuse(m.from, seq: h.seq, .invalidArgument(.membership, "\(h.sender) cannot register again: not a live node of this job"))
        }
        if let old = node.peer, old != m.from { byPeer.removeValue(forKey: old) }
        nodes[h.sender]?.peer = m.from
        nodes[h.sender]?.lastSeen = now
        byPeer[m.from] = h.sender
        return [
            .log(.info, "\(h.sender) registered again with the standby scheduler"),
            .send(m.from, message(.view, seq: 0, .view(view, note: "the standby scheduler took over"))),
        ]
    }
}
