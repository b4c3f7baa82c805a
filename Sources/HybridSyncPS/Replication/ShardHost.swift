import HybridSyncCore

/// The shards one server holds under the scheduler's view, and the replication between servers; no
/// I/O. For a shard it leads, it hands workers' requests to the shard's `ServerShard`, forwards each
/// change to the backups and holds answers until they have it (`PrimaryLog`). For a shard it backs
/// up, it applies the primary's changes in order (`BackupLog`) and acknowledges them. When a view makes
/// it the primary of a shard it backed up, it takes over with the same rows, clocks, held pushes and
/// exactly-once windows, and workers' resends of what the dead primary never answered are applied
/// once.
///
/// A request for a shard this server does not lead is answered with `redirect` (the worker waits for
/// the scheduler's newer view); one stamped with a view newer than this server's waits for that view.
final class ShardHost {
    /// This server's index.
    let me: Int
    /// Servers' endpoints, by index (from the address book, then the views).
    private var addresses: [String]
    private let makeShard: (Int) -> ServerShard
    let resendAfter: Double
    private(set) var view: ShardView?
    var shards: [Int: ServerShard] = [:]
    var primaries: [Int: PrimaryLog] = [:]
    var backups: [Int: BackupLog] = [:]
    /// Connections this server opened to other servers (link 0 is the scheduler).
    var links: [Int: Peer] = [:]
    private var nextLink = 1
    /// The scheduler's connection (a standby's, once the server has moved to it).
    var scheduler = Peer.link(0)
    /// Requests stamped with a view this server has not received yet.
    private var early: [InboundEnvelope] = []
    private static let maxEarly = 4096
    /// Copies this server is sending, by shard (`ShardHost+Copy.swift`).
    var sending: [Int: CopySender] = [:]
    /// Copies this server is receiving, by shard.
    var receiving: [Int: CopyReceiver] = [:]
    /// Makes a shard from the first part of a copy.
    let shardFromCopy: (Int, any ByteFrame) throws -> ServerShard
    /// Largest row part of a copy this server sends.
    let copyPartBytes: Int
    /// Bytes of a copy's part at most: small enough that several are in flight and the backup installs
    /// one while the next travel (`CopySender.window`).
    static let copyPartLimit = 4 << 20

    init(
        me: Int, addresses: [String], resendAfter: Double, copyPartBytes: Int = 32 << 20, makeShard: @escaping (Int) -> ServerShard,
        shardFromCopy: @escaping (Int, any ByteFrame) throws -> ServerShard
    ) {
        self.me = me
        self.addresses = addresses
        self.resendAfter = resendAfter
        self.copyPartBytes = copyPartBytes
        self.makeShard = makeShard
        self.shardFromCopy = shardFromCopy
    }

    var name: String { "server \(me)" }

    /// A connection to open outside the servers (to the standby scheduler), numbered in the same
    /// sequence as the links to other servers; the caller connects it at once.
    func openLink() -> Peer {
        defer { nextLink += 1 }
        return .link(nextLink)
    }

    /// Whether any shard here is writing a checkpoint.
    var isWritingCheckpoint: Bool { shards.values.contains { $0.isWritingCheckpoint } }

    /// One slice of every checkpoint being written.
    func continueCheckpoints(now: Double) -> [NodeDirective] {
        shards.values.flatMap { $0.isWritingCheckpoint ? $0.continueCheckpoint(now: now) : [] }
    }

    /// A message refused at the wire checks, counted on every shard here.
    func noteRefused() { for s in shards.values { s.noteRefused() } }

    /// A worker died: every shard here stops waiting for it.
    func workerDied(_ worker: Int, name: String) -> [NodeDirective] {
        shards.keys.sorted().flatMap { s -> [NodeDirective] in
            let out = shards[s]!.workerDied(worker, name: name)
            return primaries[s] != nil ? out : []
        }
    }

    // MARK: - Views

    /// Moves to `next`: shards this server now leads are served (a backup taking over keeps its copy),
    /// backups that are gone no longer hold answers back, and requests that waited for this view go on.
    func install(_ next: ShardView, now: Double) -> [NodeDirective] {
        if let view, next.epoch <= view.epoch { return [] }
        let first = view == nil
        view = next
        var out: [NodeDirective] = []
        // A server replaced by a spare has a new endpoint: connect again when it is next needed.
        if next.addresses.count == addresses.count {
            for i in addresses.indices where next.addresses[i] != addresses[i] { links.removeValue(forKey: i) }
            addresses = next.addresses
        }
        for s in next.chains.indices {
            let chain = next.chains[s]
            if chain.first == me {
                let followers = Array(chain.dropFirst())
                let complete = followers.filter { next.isComplete($0, of: s) }
                for b in followers { out += connect(b) }
                if var log = primaries[s] {
                    out += log.setBackups(complete, all: followers)
                    primaries[s] = log
                } else if let copy = backups.removeValue(forKey: s) {
                    var log = PrimaryLog(last: copy.applied, backups: [])
                    out += log.setBackups(complete, all: followers)
                    primaries[s] = log
                    out.append(.log(.warning, "\(name) takes over shard \(s) at change \(copy.applied) (epoch \(next.epoch))"))
                } else if first && next.isComplete(me, of: s) {
                    shards[s] = makeShard(s)
                    primaries[s] = PrimaryLog(last: 0, backups: followers)
                } else {
                    out.append(.log(.error, "\(name) is to lead shard \(s) but holds no copy of it"))
                }
                // A copy to a server that left the chain stops; new backups without a copy get one
                // (one copy of a shard at a time).
                if let sender = sending[s], !followers.contains(sender.target) { sending.removeValue(forKey: s) }
                if let log = primaries[s] {
                    for b in followers where !complete.contains(b) && log.acked[b] == nil && log.copying[b] == nil && sending[s] == nil {
                        out += startCopy(of: s, to: b, now: now)
                    }
                }
            } else if chain.contains(me) {
                // (At the start every copy is complete and empty; a spare that joins later waits for
                // its copies.)
                if first && next.isComplete(me, of: s) {
                    shards[s] = makeShard(s)
                    backups[s] = BackupLog()
                }
            } else {
                receiving.removeValue(forKey: s)
                sending.removeValue(forKey: s)
                if shards.removeValue(forKey: s) != nil {
                    primaries.removeValue(forKey: s)
                    backups.removeValue(forKey: s)
                    out.append(.log(.warning, "\(name) no longer holds shard \(s) (epoch \(next.epoch))"))
                }
            }
            if let shard = shards[s] {
                shard.host = me
                shard.copies = next.complete[s]
            }
        }
        let waiting = early
        early.removeAll()
        for m in waiting { out += onWorkerRequest(m, now: now) }
        return out
    }

    func connect(_ server: Int) -> [NodeDirective] {
        guard links[server] == nil, addresses.indices.contains(server) else { return [] }
        links[server] = .link(nextLink)
        nextLink += 1
        return [.connect(addresses[server])]
    }

    // MARK: - Workers' requests

    /// Kinds that change a shard: forwarded to its backups.
    private static func changesState(_ kind: MessageKind) -> Bool {
        switch kind {
        case .push, .pushPull, .clock, .declare, .restore: return true
        default: return false
        }
    }

    /// A worker's request for shard `header.shard`.
    func onWorkerRequest(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        let h = m.header
        guard let view, view.primary(of: h.shard) == me, let shard = shards[h.shard], primaries[h.shard] != nil else {
            if view == nil || h.epoch > view!.epoch {
                guard early.count < Self.maxEarly else {
                    return [reply(m, kind: .error, .error(.invalidArgument(.membership, "\(name) has not received view \(h.epoch) yet")))]
                }
                early.append(m)
                return []
            }
            return [reply(m, kind: .redirect)]
        }
        let repeats = shard.duplicates
        let out = shard.handle(m)
        // (No other copy, whole or being made: nothing to forward or hold.)
        guard primaries[h.shard]!.isReplicating else { return out }
        let fresh = shard.duplicates == repeats && Self.changesState(h.kind) && !Self.refused(out, m)
        // The log is changed in place (no copy of its entries per request).
        return withLog(h.shard) { log in
            var result: [NodeDirective] = []
            if fresh {
                var header = h
                header.flags |= MessageFlags.replicated
                header.epoch = view.epoch
                let payload = m.frames.dropFirst(2).map { f in f.withUnsafeBytes { OutgoingFrame.shared(SharedBytes(copying: $0)) } }
                let change = log.append(OutboundMessage(header, m.body, payload: payload), now: now)
                for b in log.acked.keys { if let link = links[b] { result.append(.send(link, change)) } }
            }
            for d in out {
                guard case let .send(peer, message) = d, case .routed = peer else { result.append(d); continue }
                if let now = log.gate(peer, message) { result.append(now) }
            }
            return result
        }
    }

    /// `body` on shard `s`'s log, in place (it must exist).
    private func withLog<R>(_ s: Int, _ body: (inout PrimaryLog) -> R) -> R { body(&primaries[s]!) }

    /// Whether the shard refused the request (answered it with an error: nothing was applied).
    private static func refused(_ out: [NodeDirective], _ m: InboundEnvelope) -> Bool {
        out.contains { d in
            if case let .send(peer, reply) = d, peer == m.from, reply.header.seq == m.header.seq, reply.header.kind == .error { return true }
            return false
        }
    }

    func reply(_ m: InboundEnvelope, kind: MessageKind, _ body: MessageBody = .empty) -> NodeDirective {
        var h = MessageHeader(kind: kind, sender: NodeID(.server, me), seq: m.header.seq, clock: m.header.clock)
        h.shard = m.header.shard
        h.epoch = view?.epoch ?? 0
        return .send(m.from, OutboundMessage(h, body))
    }

    // MARK: - Replication

    /// A change forwarded by the primary of `header.shard`: applied in log order if this server backs
    /// the shard up in the same view, then acknowledged (cumulatively). Anything else is dropped: the
    /// primary sends it again once the views agree.
    func onForward(_ m: InboundEnvelope) -> [NodeDirective] {
        let h = m.header
        guard let view, h.epoch == view.epoch, view.backups(of: h.shard).contains(me),
            var copy = backups[h.shard], let shard = shards[h.shard]
        else {
            // (A primary whose view differs sends it again once the views agree; it drops this answer.)
            let e = HybridSyncError.invalidArgument(.membership, "\(name) does not back up shard \(h.shard) in view \(h.epoch) (its view: \(view?.epoch ?? 0))")
            return [reply(m, kind: .error, .error(e))]
        }
        var out: [NodeDirective] = []
        for change in copy.receive(m) {
            // The answers are the primary's to give; a refusal here would mean the copies differ.
            if Self.refused(shard.handle(change), change) {
                out.append(.log(.error, "\(name) refused change \(change.header.logIndex) of shard \(h.shard), which its primary applied"))
            }
        }
        backups[h.shard] = copy
        var ack = MessageHeader(kind: .replicaAck, sender: NodeID(.server, me), seq: copy.applied)
        ack.shard = h.shard
        ack.epoch = view.epoch
        out.append(.send(m.from, OutboundMessage(ack)))
        return out
    }

    /// A backup's acknowledgement: answers held for it may go. The first from a server that was sent a
    /// copy completes it, which the scheduler is told.
    func onAck(_ m: InboundEnvelope) -> [NodeDirective] {
        let s = m.header.shard, b = m.header.sender.index
        guard m.header.sender.role == .server, links[b] == m.from else { return [] }
        return acknowledged(shard: s, backup: b, through: m.header.seq)
    }

    /// Server `b` has applied shard `s`'s changes up to `index`.
    func acknowledged(shard s: Int, backup b: Int, through index: UInt64) -> [NodeDirective] {
        guard primaries[s] != nil else { return [] }
        var (out, copied) = withLog(s) { $0.acknowledge(backup: b, through: index) }
        if copied {
            var h = MessageHeader(kind: .copied, sender: NodeID(.server, me), seq: 0)
            h.shard = s
            out.append(.log(.warning, "\(name): server \(b) holds a complete copy of shard \(s)"))
            out.append(.send(scheduler, OutboundMessage(h, .copied(server: b))))
        }
        return out
    }

    /// Sends again changes a backup has not acknowledged in time, stamped with the current view, and a
    /// copy's part that was not acknowledged.
    func onTick(now: Double) -> [NodeDirective] {
        guard let view else { return [] }
        var out: [NodeDirective] = resendCopies(now: now)
        for s in primaries.keys.sorted() {
            for (b, changes) in primaries[s]!.due(now: now, after: resendAfter) {
                guard let link = links[b] else { continue }
                for var c in changes {
                    c.header.epoch = view.epoch
                    out.append(.send(link, c))
                }
            }
        }
        return out
    }
}
