import HybridSyncCore

/// The scheduler's protocol logic, without I/O or clocks: rendezvous, barriers by group, heartbeats,
/// the shard map (`ShardView`) and failover, and the end of the job. Events in (with the time passed
/// in), directives out.
///
/// Failover: a server that misses its heartbeats while every shard it holds has another live copy is
/// absorbed. The scheduler moves to the next view, where each shard it led is led by its backup, and
/// sends it to every live node; the job goes on and can still end cleanly. A death that leaves a shard
/// without a copy (or any death without replication, or a worker's) fails the job, naming the node and,
/// for lost shards, the rows gone (`dataLost`).
///
/// A message from a node that has not registered, of a kind the scheduler does not take, or that fails
/// the wire checks is answered with an error, logged, and counted (`rejected`); nothing else changes.
///
/// Standby: with `standby` set, the scheduler sends its state (`SchedulerState`) to a standby scheduler
/// every heartbeat interval and after every change. A machine made with `standingBy` is that standby:
/// it only keeps the latest state until the scheduler has been silent for the heartbeat timeout, then
/// takes over (`SchedulerMachine+Standby.swift`): nodes that notice the silence register again with it
/// on a new connection (`MessageFlags.rejoin`), and a node that does not within a short grace is dead,
/// as any silent node is.
package struct SchedulerMachine: NodeMachine {
    package typealias Command = Never

    struct Node {
        let id: NodeID
        /// Its connection (nil after a takeover until it registers again).
        var peer: Peer?
        let address: String
        var lastSeen: Double
        var alive = true
        var finished = false
    }

    struct Registration {
        let role: Role
        let peer: Peer
        let address: String
        let preferred: Int
        let seq: UInt64
    }

    let servers: Int
    let workers: Int
    let heartbeatTimeout: Double
    let startTimeout: Double
    /// Extra copies of each shard (0: a server's death ends the job).
    let replication: Int
    /// Where this scheduler's standby listens (nil: none).
    let standby: String?
    /// This machine is a standby that has not taken over (it keeps `standbyState`).
    var standingBy: Bool
    /// The scheduler's latest state (a standby), and when it came.
    var standbyState: SchedulerState?
    var stateArrived = 0.0
    /// When the state last went to the standby, whether something changed since, and when the standby
    /// last answered (a primary).
    var stateSent = -Double.infinity
    var stateChanged = false
    /// The latest time an event brought.
    var clock = 0.0
    var standbyHeard = 0.0
    var standbyLost = false
    /// This machine was a standby and has taken over.
    var tookOver = false
    /// The shard map every node routes by.
    package internal(set) var view: ShardView
    /// Servers whose death the job survived (their shards' backups took over).
    package internal(set) var absorbed: Set<NodeID> = []
    var nodes: [NodeID: Node] = [:]
    var byPeer: [Peer: NodeID] = [:]
    private var pending: [Registration] = []
    /// Servers registered as spares, waiting to replace one that dies.
    private var spares: [Registration] = []
    private var lastSpareBeat = 0.0
    /// Per group, the nodes waiting in a barrier (id, request, generation), and the newest generation
    /// each node has entered.
    private var barrierWaiters: [BarrierGroup: [(NodeID, UInt64, UInt64)]] = [:]
    private var entered: [BarrierGroup: [NodeID: UInt64]] = [:]
    var started = false
    var shutdownSent = false
    var startedAt = 0.0
    /// Messages refused (malformed, unregistered sender, wrong kind).
    package private(set) var rejected = 0

    package init(
        servers: Int, workers: Int, heartbeatTimeout: Double, startTimeout: Double, replication: Int = 0, standby: String? = nil,
        standingBy: Bool = false
    ) {
        self.replication = replication
        self.standby = standby
        self.standingBy = standingBy
        view = .initial(servers: servers, replication: replication)
        self.servers = servers
        self.workers = workers
        self.heartbeatTimeout = heartbeatTimeout
        self.startTimeout = startTimeout
    }

    package mutating func start(now: Double) -> [NodeDirective] {
        startedAt = now
        standbyHeard = now
        if standingBy { return [.log(.debug, "standby scheduler waiting for the scheduler's state")] }
        return (standby.map { [.connect($0)] } ?? []) + [.log(.debug, "scheduler waiting for \(servers) server(s) and \(workers) worker(s)")]
    }

    func message(_ kind: MessageKind, seq: UInt64, _ body: MessageBody = .empty) -> OutboundMessage {
        OutboundMessage(MessageHeader(kind: kind, sender: .scheduler, seq: seq), body)
    }

    mutating func refuse(_ peer: Peer, seq: UInt64, _ error: HybridSyncError) -> [NodeDirective] {
        rejected += 1
        return [
            .log(.warning, "scheduler refused a message from \(peer): \(error)"),
            .send(peer, message(.error, seq: seq, .error(error))),
        ]
    }

    package mutating func onRejected(_ r: Rejection, now: Double) -> [NodeDirective] {
        refuse(r.from, seq: r.header?.seq ?? 0, r.error)
    }

    package mutating func onMessage(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        clock = now
        if standingBy { return onMessageStandingBy(m, now: now) }
        return receive(m, now: now) + replicate(now: now)
    }

    private mutating func receive(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        let h = m.header
        if m.from == Self.standbyLink {
            standbyHeard = now
            return []
        }
        if case .register = m.body, h.flags & MessageFlags.rejoin != 0 { return onRejoin(m, now: now) }
        if case let .register(role, address, preferred) = m.body {
            if role == .server && h.flags & MessageFlags.spare != 0 {
                return onSpare(Registration(role: role, peer: m.from, address: address, preferred: preferred, seq: h.seq), now: now)
            }
            return onRegister(peer: m.from, role: role, address: address, preferredIndex: preferred, seq: h.seq, now: now)
        }
        // Everything else must come from a registered node, over the connection it registered on.
        guard let id = byPeer[m.from], id == h.sender else {
            if isFromNodeNotBackYet(m) { return [] }
            return refuse(m.from, seq: h.seq, .invalidArgument(.membership, "\(h.kind) from \(h.sender), which is not registered on this connection"))
        }
        nodes[id]?.lastSeen = now
        switch (h.kind, m.body) {
        case (.heartbeat, _):
            return [.send(m.from, message(.heartbeat, seq: h.seq))]
        case (.barrier, .barrier(let g, let generation)):
            return onBarrier(id, group: g, generation: generation, seq: h.seq)
        case (.finished, _):
            nodes[id]?.finished = true
            stateChanged = true
            return checkEnd() + releaseBarriers()
        case (.copied, .copied(let server)):
            // The primary of a shard reports a new backup's copy complete: the next view counts it.
            guard id.role == .server, view.primary(of: h.shard) == id.index, let next = view.completing(server, of: h.shard) else { return [] }
            view = next
            stateChanged = true
            let note = "server \(server) holds a complete copy of shard \(h.shard) again (epoch \(view.epoch))"
            return [.log(.warning, note)] + broadcastView(note: note)
        default:
            return refuse(m.from, seq: h.seq, .malformedMessage(.kind, "the scheduler does not accept \(h.kind) messages"))
        }
    }

    /// A node asks to join. Once every expected node has, each gets its id and the address book.
    private mutating func onRegister(peer: Peer, role: Role, address: String, preferredIndex: Int, seq: UInt64, now: Double) -> [NodeDirective] {
        guard !started else {
            return refuse(
                peer, seq: seq,
                .invalidArgument(.membership, "registration after the job started: all \(servers) servers and \(workers) workers are already registered"))
        }
        guard !pending.contains(where: { $0.peer == peer }) else {
            return refuse(peer, seq: seq, .invalidArgument(.membership, "this connection has already registered"))
        }
        let count = role == .server ? servers : workers
        guard pending.filter({ $0.role == role }).count < count else {
            return refuse(peer, seq: seq, .invalidArgument(.membership, "the job expects \(count) \(role)(s) and all have registered"))
        }
        pending.append(Registration(role: role, peer: peer, address: address, preferred: preferredIndex, seq: seq))
        guard pending.count == servers + workers else { return [] }
        started = true
        for role in [Role.server, .worker] {
            let count = role == .server ? servers : workers
            var free = Set(0..<count)
            var assigned: [Int: Int] = [:]  // registration index -> node index
            for (i, r) in pending.enumerated() where r.role == role && free.contains(r.preferred) {
                assigned[i] = r.preferred
                free.remove(r.preferred)
            }
            var remaining = free.sorted()[...]
            for (i, r) in pending.enumerated() where r.role == role && assigned[i] == nil {
                assigned[i] = remaining.popFirst() ?? 0
            }
            for (i, index) in assigned {
                let r = pending[i]
                let id = NodeID(role, index)
                nodes[id] = Node(id: id, peer: r.peer, address: r.address, lastSeen: now)
                byPeer[r.peer] = id
            }
        }
        let addresses = (0..<servers).map { nodes[NodeID(.server, $0)]?.address ?? "" }
        view.addresses = addresses
        stateChanged = true
        var out: [NodeDirective] = [.log(.debug, "every node registered; the job starts")]
        for node in nodes.values.sorted(by: { $0.id.raw < $1.id.raw }) {
            guard let peer = node.peer else { continue }
            let seq = pending.first { $0.peer == peer }?.seq ?? 0
            out.append(.send(peer, message(.addressBook, seq: seq, .addressBook(id: node.id, servers: addresses, workers: workers))))
            out.append(.send(peer, message(.view, seq: 0, .view(view, note: ""))))
        }
        pending.removeAll()
        return out
    }

    /// `id` enters its `generation`-th barrier of `group`. Generation n is released, to everyone waiting
    /// in it, once every live member that has not finished has entered generation n or a later one (a
    /// member may have passed n under a scheduler that died since). A dead member fails the barrier for
    /// everyone, naming it.
    private mutating func onBarrier(_ id: NodeID, group: BarrierGroup, generation: UInt64, seq: UInt64) -> [NodeDirective] {
        guard let peer = nodes[id]?.peer else { return [] }
        if let dead = nodes.values.first(where: { !$0.alive && group.includes($0.id.role) && !absorbed.contains($0.id) }) {
            return [
                .send(
                    peer,
                    message(.error, seq: seq, .error(.peerDied(peer: "\(dead.id)", reason: "missed its heartbeats; barrier of \(group) cannot complete"))))
            ]
        }
        entered[group, default: [:]][id] = Swift.max(entered[group]?[id] ?? 0, generation)
        if !barrierWaiters[group, default: []].contains(where: { $0.0 == id && $0.1 == seq }) {
            barrierWaiters[group, default: []].append((id, seq, generation))
        }
        return releaseBarriers()
    }

    /// Releases every barrier waiter whose generation every live, unfinished member of its group has
    /// reached.
    mutating func releaseBarriers() -> [NodeDirective] {
        var out: [NodeDirective] = []
        for (group, waiters) in barrierWaiters.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let members = nodes.values.filter { group.includes($0.id.role) && !$0.finished && !absorbed.contains($0.id) }
            let reached = members.map { entered[group]?[$0.id] ?? 0 }.min() ?? UInt64.max
            barrierWaiters[group] = waiters.filter { $0.2 > reached }
            for w in waiters where w.2 <= reached {
                if let peer = nodes[w.0]?.peer { out.append(.send(peer, message(.barrierRelease, seq: w.1, .barrier(group, generation: w.2)))) }
            }
        }
        return out
    }

    private mutating func checkEnd() -> [NodeDirective] {
        guard started, !shutdownSent else { return [] }
        guard nodes.values.allSatisfy({ $0.id.role != .worker || !$0.alive || $0.finished }) else { return [] }
        return endJob()
    }

    /// Every worker has finished: the servers are told to shut down and the scheduler stops.
    mutating func endJob() -> [NodeDirective] {
        shutdownSent = true
        stateChanged = true
        var out: [NodeDirective] = nodes.values.filter { $0.id.role == .server && $0.alive }
            .compactMap { n in n.peer.map { .send($0, message(.shutdown, seq: 0)) } }
        out += spares.map { .send($0.peer, message(.shutdown, seq: 0)) }
        spares.removeAll()
        out.append(.log(.debug, "every worker finished; servers told to shut down"))
        // A job that lost a node ends in failure, naming it.
        let dead = nodes.values.filter { !$0.alive && !absorbed.contains($0.id) }.sorted { $0.id.raw < $1.id.raw }.first
        // The standby learns the job has ended before this scheduler stops.
        out += replicate(now: clock, force: true)
        out.append(.stop(dead.map { .peerDied(peer: "\($0.id)", reason: "missed its heartbeats during the job") }))
        return out
    }

    /// Before the start: the rendezvous deadline. After: nodes silent for longer than the timeout are
    /// declared dead and every live node is told, naming them; barriers waiting on them fail.
    package mutating func onTick(now: Double) -> [NodeDirective] {
        clock = now
        if standingBy { return onTickStandingBy(now: now) }
        return tick(now: now) + replicate(now: now)
    }

    private mutating func tick(now: Double) -> [NodeDirective] {
        guard started else {
            guard now - startedAt > startTimeout else { return [] }
            let s = pending.filter { $0.role == .server }.count, w = pending.filter { $0.role == .worker }.count
            let e = HybridSyncError.timeout(
                operation: "scheduler rendezvous",
                waitingFor: "\(servers - s) server(s) and \(workers - w) worker(s) to register",
                seconds: startTimeout)
            return [.log(.error, "\(e)"), .stop(e)]
        }
        var out: [NodeDirective] = []
        for (id, node) in nodes.sorted(by: { $0.key.raw < $1.key.raw }) where node.alive && !node.finished && now - node.lastSeen > heartbeatTimeout {
            nodes[id]?.alive = false
            stateChanged = true
            let reason = "no heartbeat for \(Int((now - node.lastSeen) * 1000)) ms (timeout \(Int(heartbeatTimeout * 1000)) ms)"
            let name = "\(id) at \(node.address.isEmpty ? node.peer.map { "\($0)" } ?? "no connection" : node.address)"
            if id.role == .server, replication > 0, view.holds(id.index) {
                out += failover(id, name: name, reason: reason, now: now)
                continue
            }
            out.append(.log(.error, "\(name) is dead: \(reason)"))
            for other in nodes.values where other.alive && !other.finished {
                if let peer = other.peer { out.append(.send(peer, message(.nodeDead, seq: 0, .nodeDead(id, reason: reason)))) }
            }
            for group in [BarrierGroup.workers, .servers, .all] where group.includes(id.role) {
                for (waiter, seq, _) in barrierWaiters.removeValue(forKey: group) ?? [] {
                    guard let peer = nodes[waiter]?.peer else { continue }
                    out.append(
                        .send(
                            peer,
                            message(.error, seq: seq, .error(.peerDied(peer: "\(id)", reason: "missed its heartbeats; barrier of \(group) cannot complete")))))
                }
            }
        }
        // Spares have no id to send heartbeats with: the scheduler tells them it is alive.
        var beats: [NodeDirective] = []
        if !spares.isEmpty && now - lastSpareBeat >= heartbeatTimeout / 4 {
            lastSpareBeat = now
            beats = spares.map { .send($0.peer, message(.heartbeat, seq: 0)) }
        }
        return out + (out.isEmpty ? [] : checkEnd()) + beats
    }

    /// A spare server registers: it replaces a server whose death the job absorbed, if one is not
    /// replaced yet, or waits (told so with `held`) for one to die.
    private mutating func onSpare(_ r: Registration, now: Double) -> [NodeDirective] {
        guard !spares.contains(where: { $0.peer == r.peer }), byPeer[r.peer] == nil else {
            return refuse(r.peer, seq: r.seq, .invalidArgument(.membership, "this connection has already registered"))
        }
        if started, let slot = freeSlot() { return replace(slot, with: r, now: now) }
        spares.append(r)
        return [.log(.debug, "a spare server at \(r.address) waits"), .send(r.peer, message(.held, seq: r.seq))]
    }

    /// The lowest server index whose death the job absorbed and that no spare has taken yet.
    private func freeSlot() -> Int? {
        (0..<servers).first { i in absorbed.contains(NodeID(.server, i)) && nodes[NodeID(.server, i)]?.alive == false }
    }

    /// Spare `r` becomes server `slot`: it gets the address book, every node the next view with its
    /// address, and shards left with too few copies get it as their new backup.
    private mutating func replace(_ slot: Int, with r: Registration, now: Double) -> [NodeDirective] {
        let id = NodeID(.server, slot)
        if let old = nodes[id]?.peer { byPeer.removeValue(forKey: old) }
        stateChanged = true
        nodes[id] = Node(id: id, peer: r.peer, address: r.address, lastSeen: now)
        byPeer[r.peer] = id
        view.addresses[slot] = r.address
        view = view.replenished(replication: replication, live: Set(nodes.values.filter { $0.id.role == .server && $0.alive }.map(\.id.index)))
        view.epoch &+= 1
        let added = view.chains.indices.filter { view.chains[$0].contains(slot) }
        let note =
            "a spare server at \(r.address) replaces server \(slot)"
            + (added.isEmpty ? "" : "; new copies of shard(s) \(added.map(String.init).joined(separator: ", ")) to it") + " (epoch \(view.epoch))"
        return [
            .log(.warning, note),
            .send(r.peer, message(.addressBook, seq: r.seq, .addressBook(id: id, servers: view.addresses, workers: workers))),
        ]
            + broadcastView(note: note)
    }

    /// Server `id` died while replication was on: the next view leaves it out. If every shard still has a
    /// copy the death is absorbed; otherwise the lost shards are named to every node and the job fails.
    private mutating func failover(_ id: NodeID, name: String, reason: String, now: Double) -> [NodeDirective] {
        stateChanged = true
        let before = Set(view.lostShards)
        let led = view.chains.indices.filter { view.primary(of: $0) == id.index }
        view = view.removing(id.index)
        let lost = view.lostShards.filter { !before.contains($0) }
        let refilled = view.replenished(
            replication: replication,
            live: Set(nodes.values.filter { $0.id.role == .server && $0.alive }.map(\.id.index)))
        let fresh = lost.isEmpty ? refilled.chains.indices.filter { refilled.chains[$0].count > view.chains[$0].count } : []
        if lost.isEmpty { view = refilled }
        var note = "\(name) died (\(reason))"
        var out: [NodeDirective] = []
        if lost.isEmpty {
            absorbed.insert(id)
            let moves = led.map { "shard \($0) to server \(view.primary(of: $0)!)" }
            note += moves.isEmpty ? "; its copies are gone, its shards' primaries stay" : "; \(moves.joined(separator: ", "))"
            let copies = fresh.map { "shard \($0) to server \(view.chains[$0].last!)" }
            note += copies.isEmpty ? " (epoch \(view.epoch))" : "; new copies: \(copies.joined(separator: ", ")) (epoch \(view.epoch))"
            out.append(.log(.warning, "\(note); the job goes on"))
            // Launch/mpirun reads this line: the rank that held this node ended, and the job survived it.
            out.append(.log(.warning, "hybridsync-absorbed node=\(Membership.name(of: id))"))
        } else {
            note += "; no copy of shard(s) \(lost.map(String.init).joined(separator: ", ")) is left"
            out.append(.log(.error, "\(note): the job cannot go on"))
        }
        out += broadcastView(note: note)
        // A spare waiting takes the dead server's place at once.
        if lost.isEmpty && !spares.isEmpty { out += replace(id.index, with: spares.removeFirst(), now: now) }
        return out
    }

    /// The current view, to every live node.
    func broadcastView(note: String) -> [NodeDirective] {
        nodes.values.filter { $0.alive && !$0.finished }.sorted { $0.id.raw < $1.id.raw }
            .compactMap { n in n.peer.map { .send($0, message(.view, seq: 0, .view(view, note: note))) } }
    }

    package mutating func onCommand(_ command: Never, now: Double) -> [NodeDirective] {}

    package mutating func onSendFailed(to peer: Peer, seq: UInt64, error: HybridSyncError, now: Double) -> [NodeDirective] {
        if peer == Self.standbyLink { return [] }
        return [.log(.warning, "scheduler could not send to \(byPeer[peer].map { "\($0)" } ?? "\(peer)"): \(error)")]
    }
}
