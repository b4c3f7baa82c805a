import HybridSyncCore

/// The scheduler's protocol logic, without I/O or clocks: rendezvous, barriers by group, heartbeats,
/// and the end of the job. Events in (with the time passed in), directives out.
struct SchedulerState {
    enum Directive: Equatable {
        /// Send a message of `kind` with `meta` to the node at `route`.
        case send(route: [UInt8], kind: MessageKind, seq: UInt64, meta: [UInt8])
        /// Every worker finished and every server was told to stop: the scheduler may exit.
        case exit
    }

    struct Node {
        let id: NodeID
        let route: [UInt8]
        let address: String
        var lastSeen: Double
        var alive = true
        var finished = false
    }

    let servers: Int
    let workers: Int
    let heartbeatTimeout: Double
    private(set) var nodes: [NodeID: Node] = [:]
    private var pendingRegistrations: [(role: Role, route: [UInt8], address: String, preferred: Int, seq: UInt64, now: Double)] = []
    private var barrierWaiters: [BarrierGroup: [(NodeID, UInt64)]] = [:]
    private(set) var started = false
    private var shutdownSent = false

    init(servers: Int, workers: Int, heartbeatTimeout: Double) {
        self.servers = servers
        self.workers = workers
        self.heartbeatTimeout = heartbeatTimeout
    }

    /// A node asks to join. Once every expected node has, each gets its id and the address book.
    mutating func onRegister(route: [UInt8], role: Role, address: String, preferredIndex: Int, seq: UInt64, now: Double) -> [Directive] {
        guard !started else {
            return [.send(route: route, kind: .error, seq: seq, meta: ErrorCodec.encode(.invalidArgument("registration after the job started: all \(servers) servers and \(workers) workers are already registered")))]
        }
        pendingRegistrations.append((role, route, address, preferredIndex, seq, now))
        let s = pendingRegistrations.filter { $0.role == .server }.count
        let w = pendingRegistrations.filter { $0.role == .worker }.count
        guard s == servers, w == workers else { return [] }
        started = true
        for role in [Role.server, .worker] {
            let count = role == .server ? servers : workers
            var free = Set(0..<count)
            var assigned: [Int: Int] = [:] // registration index -> node index
            for (i, r) in pendingRegistrations.enumerated() where r.role == role && free.contains(r.preferred) {
                assigned[i] = r.preferred
                free.remove(r.preferred)
            }
            var remaining = free.sorted().makeIterator()
            for (i, r) in pendingRegistrations.enumerated() where r.role == role && assigned[i] == nil {
                assigned[i] = remaining.next()!
            }
            for (i, index) in assigned {
                let r = pendingRegistrations[i]
                let id = NodeID(role, index)
                nodes[id] = Node(id: id, route: r.route, address: r.address, lastSeen: now)
            }
        }
        var book = ByteWriter()
        book.u32(UInt32(servers))
        book.u32(UInt32(workers))
        for i in 0..<servers { book.string(nodes[NodeID(.server, i)]!.address) }
        var out: [Directive] = []
        for node in nodes.values.sorted(by: { $0.id.raw < $1.id.raw }) {
            var w = ByteWriter()
            w.u32(node.id.raw)
            w.raw(book.bytes.withUnsafeBytes { $0 })
            let seq = pendingRegistrations.first { $0.route == node.route }?.seq ?? 0
            out.append(.send(route: node.route, kind: .addressBook, seq: seq, meta: w.bytes))
        }
        pendingRegistrations.removeAll()
        return out
    }

    /// Any message from a node counts as a heartbeat.
    mutating func onHeard(_ id: NodeID, now: Double) {
        nodes[id]?.lastSeen = now
    }

    /// `id` enters a barrier of `group`; when every live member has, all are released. A dead member
    /// fails the barrier for everyone, naming it.
    mutating func onBarrier(_ id: NodeID, group: BarrierGroup, seq: UInt64, now: Double) -> [Directive] {
        onHeard(id, now: now)
        if let dead = nodes.values.first(where: { !$0.alive && group.includes($0.id.role) }) {
            return [.send(route: nodes[id]!.route, kind: .error, seq: seq,
                          meta: ErrorCodec.encode(.peerDied(peer: "\(dead.id)", reason: "missed its heartbeats; barrier of \(group) cannot complete")))]
        }
        barrierWaiters[group, default: []].append((id, seq))
        return releaseBarrier(group)
    }

    private mutating func releaseBarrier(_ group: BarrierGroup) -> [Directive] {
        let members = nodes.values.filter { group.includes($0.id.role) && !$0.finished }
        let waiting = Set(barrierWaiters[group, default: []].map(\.0))
        guard members.allSatisfy({ waiting.contains($0.id) }) else { return [] }
        let released = barrierWaiters.removeValue(forKey: group) ?? []
        var w = ByteWriter(); w.u8(group.rawValue)
        return released.map { .send(route: nodes[$0.0]!.route, kind: .barrierRelease, seq: $0.1, meta: w.bytes) }
    }

    /// A worker is done. When all are, servers are told to shut down and the scheduler exits.
    mutating func onFinished(_ id: NodeID, now: Double) -> [Directive] {
        nodes[id]?.finished = true
        return checkEnd()
    }

    private mutating func checkEnd() -> [Directive] {
        guard started, !shutdownSent else { return [] }
        let workersLeft = nodes.values.filter { $0.id.role == .worker && $0.alive && !$0.finished }
        guard workersLeft.isEmpty else { return [] }
        shutdownSent = true
        var out: [Directive] = nodes.values.filter { $0.id.role == .server && $0.alive }
            .map { .send(route: $0.route, kind: .shutdown, seq: 0, meta: []) }
        out.append(.exit)
        return out
    }

    /// Declares nodes silent for longer than the timeout dead and tells every live node, naming them;
    /// barriers waiting on them fail.
    mutating func onTick(now: Double) -> [Directive] {
        guard started else { return [] }
        var out: [Directive] = []
        for (id, node) in nodes where node.alive && !node.finished && now - node.lastSeen > heartbeatTimeout {
            nodes[id]!.alive = false
            var w = ByteWriter()
            w.u32(id.raw)
            w.string("no heartbeat for \(Int((now - node.lastSeen) * 1000)) ms (timeout \(Int(heartbeatTimeout * 1000)) ms)")
            for other in nodes.values where other.alive && !other.finished {
                out.append(.send(route: other.route, kind: .nodeDead, seq: 0, meta: w.bytes))
            }
            for group in [BarrierGroup.workers, .servers, .all] where group.includes(id.role) {
                for (waiter, seq) in barrierWaiters.removeValue(forKey: group) ?? [] {
                    out.append(.send(route: nodes[waiter]!.route, kind: .error, seq: seq,
                                     meta: ErrorCodec.encode(.peerDied(peer: "\(id)", reason: "missed its heartbeats; barrier of \(group) cannot complete"))))
                }
            }
        }
        return out + (out.isEmpty ? [] : checkEnd())
    }
}
