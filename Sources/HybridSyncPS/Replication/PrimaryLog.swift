import HybridSyncCore

/// The primary's side of one shard's replication: primary-backup with ordered forwarding.
///
/// Every change the primary applies (a push, push+pull, clock, declaration or restore that was new and
/// accepted) gets the next log index and goes to each backup, which applies the changes in index order
/// through the same `ServerShard` logic, so the copies stay bit-identical. Any message to a worker the
/// primary produces is held until every live backup has acknowledged every change made before it
/// (output commit): a worker never sees, and is never acknowledged, anything the primary's death could
/// take away. Unacknowledged changes are sent again after `resendAfter`; a backup drops what it has.
///
/// Why not chain replication: with one backup the two are the same protocol, and a primary that both
/// forwards and answers keeps the worker's round trip at two hops instead of three.
struct PrimaryLog {
    /// The last index handed out.
    private(set) var last: UInt64
    /// Per backup server: the highest index it has applied.
    private(set) var acked: [Int: UInt64]
    /// Per backup server: when changes were last sent to it.
    private var lastSent: [Int: Double] = [:]
    /// Changes not yet applied by every backup, ascending.
    private var entries: [(index: UInt64, message: OutboundMessage)] = []
    /// Messages to workers waiting for their changes to be everywhere, ascending by index.
    private var outbox: [(index: UInt64, peer: Peer, message: OutboundMessage)] = []
    /// Servers being sent a copy of the shard, with the index it was taken at: they hold nothing back
    /// and get no changes until they have installed it, but the changes after it are kept for them.
    private(set) var copying: [Int: UInt64] = [:]

    /// A log whose changes up to `last` every copy already has, replicated to `backups`.
    init(last: UInt64, backups: [Int]) {
        self.last = last
        acked = Dictionary(uniqueKeysWithValues: backups.map { ($0, last) })
    }

    /// Every change up to this index is on every live copy.
    var committed: UInt64 { acked.values.min() ?? last }

    /// Whether there is another copy (whole or being made) or a message still held: without, requests
    /// need nothing from this log.
    var isReplicating: Bool { !acked.isEmpty || !copying.isEmpty || !outbox.isEmpty }

    /// Records a change; returns its index (stamped in `message`).
    mutating func append(_ message: OutboundMessage, now: Double) -> OutboundMessage {
        last += 1
        var m = message
        m.header.logIndex = last
        entries.append((last, m))
        for b in acked.keys { lastSent[b] = now }
        return m
    }

    /// A message for a worker: back at once if nothing before it awaits a backup, else held.
    mutating func gate(_ peer: Peer, _ message: OutboundMessage) -> NodeDirective? {
        if outbox.isEmpty && committed >= last { return .send(peer, message) }
        outbox.append((last, peer, message))
        return nil
    }

    /// `backup` has applied everything up to `index`; returns the messages that may now go, and whether
    /// this acknowledgement completed its copy (it is a full backup from now on: answers wait for it).
    mutating func acknowledge(backup: Int, through index: UInt64) -> (release: [NodeDirective], copied: Bool) {
        if let taken = copying[backup] {
            guard index >= taken else { return ([], false) }
            copying.removeValue(forKey: backup)
            acked[backup] = Swift.min(index, last)
            return (release(), true)
        }
        guard let known = acked[backup], index > known else { return ([], false) }
        acked[backup] = Swift.min(index, last)
        return (release(), false)
    }

    /// A copy of the shard as it is now is being sent to `backup`; returns the index it is taken at.
    mutating func startCopy(to backup: Int) -> UInt64 {
        copying[backup] = last
        return last
    }

    /// The view changed the shard's backups: those gone no longer hold anything back, and complete
    /// backups this log did not know take part from now on. Returns the messages that may now go.
    mutating func setBackups(_ complete: [Int], all: [Int]) -> [NodeDirective] {
        for b in acked.keys where !all.contains(b) { acked.removeValue(forKey: b); lastSent.removeValue(forKey: b) }
        for b in copying.keys where !all.contains(b) { copying.removeValue(forKey: b) }
        for b in complete where acked[b] == nil && copying[b] == nil { acked[b] = last }
        return release()
    }

    /// Changes to send again: per backup, those it has not acknowledged, if `after` seconds passed
    /// since it was last sent anything.
    mutating func due(now: Double, after: Double) -> [(backup: Int, messages: [OutboundMessage])] {
        var out: [(Int, [OutboundMessage])] = []
        for (b, index) in acked.sorted(by: { $0.key < $1.key }) where index < last && now - (lastSent[b] ?? 0) >= after {
            lastSent[b] = now
            out.append((b, entries.filter { $0.index > index }.map(\.message)))
        }
        return out
    }

    private mutating func release() -> [NodeDirective] {
        let done = committed
        let needed = Swift.min(done, copying.values.min() ?? done)
        entries.removeAll { $0.index <= needed }
        var out: [NodeDirective] = []
        var kept = 0
        while kept < outbox.count, outbox[kept].index <= done {
            out.append(.send(outbox[kept].peer, outbox[kept].message))
            kept += 1
        }
        outbox.removeFirst(kept)
        return out
    }
}

/// A backup's side of one shard's replication: the primary's changes applied in log order, each once.
/// Changes that arrive ahead of a gap wait for it (at most `maxWaiting`; the primary sends them again).
struct BackupLog {
    /// Every change up to this index has been applied.
    private(set) var applied: UInt64
    private var waiting: [UInt64: InboundEnvelope] = [:]
    static let maxWaiting = 4096

    init(applied: UInt64 = 0) { self.applied = applied }

    /// Takes change `m` (its header's `logIndex`); returns the changes to apply now, in order.
    mutating func receive(_ m: InboundEnvelope) -> [InboundEnvelope] {
        let index = m.header.logIndex
        guard index > applied else { return [] }
        if index != applied + 1 {
            if waiting.count < Self.maxWaiting { waiting[index] = m }
            return []
        }
        var ready = [m]
        applied = index
        while let next = waiting.removeValue(forKey: applied + 1) {
            ready.append(next)
            applied += 1
        }
        if !waiting.isEmpty { waiting = waiting.filter { $0.key > applied } }
        return ready
    }
}
