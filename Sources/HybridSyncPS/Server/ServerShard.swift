import HybridSyncCore

/// One server's shard: its tables, the push handler, pulls held back by the consistency model. No I/O:
/// events in, directives out.
///
/// Every request is validated completely before anything is applied, so a bad request changes nothing
/// and is answered with an `error` message naming what was wrong.
final class ServerShard {
    let id: NodeID
    var tables: [String: RowStore] = [:]
    var clocks: ClockTable
    let workers: Int
    /// BSP pushes held until every worker has finished their step: step -> pushes in arrival order.
    var heldPushes: [Int: [HeldPush]] = [:]
    /// Keys in `heldPushes` (rows they may create once released; the capacity check counts them).
    var heldKeys = 0
    /// Bytes of the rows `heldPushes` may create once released, each at its own table's row size.
    var heldRowBytes = 0
    var waitingPulls: [WaitingPull] = []
    var appliedPushes = 0
    /// Bytes received from and sent to workers.
    var bytesIn = 0
    var bytesOut = 0
    /// Requests refused with an error reply.
    var refused = 0
    /// Per worker, the requests already handled (see `ReplyWindow`).
    var windows: [Int: ReplyWindow] = [:]
    /// Repeats of handled requests (resends, duplicated messages) answered without applying again.
    var duplicates = 0
    /// Gradient rows left out because they held a NaN or an infinity (tables with `skipRow`).
    var nonFiniteRowsSkipped = 0
    /// The server holding this shard, and the live copies of it in that server's view (stats).
    var host = 0
    var copies = 1
    /// The shard being written, if a checkpoint is in progress (`ServerShard+Checkpoint.swift`).
    var checkpointJob: CheckpointJob?
    /// How the last checkpoint written here ended (answers a late request for it).
    var lastCheckpoint: CheckpointOutcome?
    /// Rows of a checkpoint written per slice, between two polls of the server's shell.
    let checkpointSliceRows: Int
    static let defaultCheckpointSliceRows = 16_384
    /// Seconds between a checkpoint's snapshot and its first slice (`PSConfig.checkpointWriteDelay`).
    let checkpointWriteDelay: Double

    /// Counts a message refused before it reached the shard (failed the wire checks).
    func noteRefused() { refused += 1 }

    struct HeldPush {
        let worker: Int
        /// The request's sequence number: a worker's pushes of one step are applied in the order it
        /// sent them, whatever order they arrived in.
        let seq: UInt64
        let section: SectionInfo
        let keys: [UInt64]
        let grads: [Float]
    }

    struct WaitingPull {
        let peer: Peer
        let header: MessageHeader
        /// Each section's keys, decoded once.
        let keys: [[UInt64]]
        let staleness: Int
        /// When it arrived, if the timeline is recording (a held pull's wait is drawn).
        var arrived: Double?
    }

    /// Benchmark mode: requests are validated and answered but rows are neither stored nor updated
    /// (pulls return zeros), like the do-nothing handler ps-lite is usually measured with.
    let discardsData: Bool
    /// The zeros a discarding server answers pulls with, grown as needed.
    var zeroBuffer = SharedBytes(copying: UnsafeRawBufferPointer(start: nil, count: 0))

    /// Connections the transport refused at the handshake (shared with the node's transport).
    var handshakesRefused = HandshakeRefusals()

    /// What this server takes before it refuses.
    let limits: ServerLimits
    /// Largest reply a worker accepts (the job's message limit).
    let maxReplyBytes: Int

    /// Where this shard's timeline spans go (its shell's choice).
    let spans: SpanRecorder

    init(
        id: NodeID, workers: Int, discardsData: Bool = false, limits: ServerLimits = ServerLimits(),
        maxReplyBytes: Int = WireCodec.defaultMaxMessageBytes, checkpointSliceRows: Int = ServerShard.defaultCheckpointSliceRows,
        checkpointWriteDelay: Double = 0,
        spans: SpanRecorder = .off
    ) {
        self.id = id
        self.checkpointSliceRows = Swift.max(1, checkpointSliceRows)
        self.checkpointWriteDelay = checkpointWriteDelay
        self.spans = spans
        self.discardsData = discardsData
        self.limits = limits
        self.maxReplyBytes = maxReplyBytes
        self.workers = workers
        clocks = ClockTable(workers: workers)
    }

    // MARK: - Events

    /// Handles one request from a worker (already validated against the wire format), exactly once:
    /// a repeat of a (worker, incarnation, sequence) already handled is answered with the original reply
    /// (pulls: read again, without applying a push+pull's rows again) and changes nothing.
    func handle(_ m: InboundEnvelope) -> [NodeDirective] {
        let h = m.header
        guard h.sender.role == .worker, h.sender.index < workers else { return process(m) }
        let w = h.sender.index
        if windows[w]?.incarnation != h.incarnation { windows[w] = ReplyWindow(incarnation: h.incarnation) }
        if h.kind == .checkpoint && isAwaitingCheckpoint(h) {
            duplicates += 1
            return [reply(m.from, h, kind: .held)]
        }
        if let entry = windows[w]!.entry(h.seq) {
            duplicates += 1
            var out: [NodeDirective] = [.count("duplicates", 1), .log(.debug, "\(id): repeat of \(h.kind) \(h.seq) from \(h.sender) answered, not applied")]
            switch entry {
            case .reply(let reply):
                out.append(.send(m.from, reply))
            case .pull:
                // Still waiting for its clock: say so again (the answer follows). Else read the rows again.
                if waitingPulls.contains(where: { $0.header.sender == h.sender && $0.header.seq == h.seq }) {
                    out.append(reply(m.from, h, kind: .held))
                } else {
                    out += process(m, applyingPush: false)
                }
            }
            return out
        }
        let out = process(m)
        let isReply = { (d: NodeDirective) -> OutboundMessage? in
            if case let .send(p, msg) = d, p == m.from, msg.header.seq == h.seq, msg.payload.isEmpty { return msg }
            return nil
        }
        if h.kind == .checkpoint && isAwaitingCheckpoint(h) {
            // Answered when the shard is written (recorded then).
        } else if (h.kind == .pull || h.kind == .pushPull) && !out.contains(where: { isReply($0)?.header.kind == .error }) {
            windows[w]!.record(h.seq, .pull)
        } else if let reply = out.lazy.compactMap(isReply).first {
            windows[w]!.record(h.seq, .reply(reply))
        }
        return out
    }

    /// Handles one request; `applyingPush: false` answers a push+pull's pull without its push.
    private func process(_ m: InboundEnvelope, applyingPush: Bool = true) -> [NodeDirective] {
        let header = m.header, frames = m.frames, peer = m.from
        bytesIn += m.byteCount
        do {
            if checkpointJob != nil, [.declare, .restore].contains(header.kind) {
                throw HybridSyncError.invalidArgument(.order, "\(header.kind) while a checkpoint is being written")
            }
            switch header.kind {
            case .declare:
                guard case .declare(let specs) = m.body else { throw HybridSyncError.malformedMessage(.kind, "declare without tables") }
                try declare(specs)
                return [reply(peer, header, kind: .reply)]
            case .push:
                try checkSections(header, needValues: true)
                let frames = floatRows(header, frames)
                let skips = try checkFinite(header, frames)
                let keys = discardsData ? [] : decodeKeys(header, frames)
                if !discardsData { try checkCapacity(header, keys: keys) }
                try checkClockLead(header)
                let endsStep = header.flags & MessageFlags.endsStep != 0
                let worker = endsStep ? try workerIndex(header) : 0
                let t = spans.begin()
                applyPush(header, frames, keys: keys, skipping: skips)
                spans.end(t, "push", row: "\(id)", detail: "\(header.sender), \(keys.reduce(0) { $0 + $1.count }) keys")
                guard endsStep else { return [reply(peer, header, kind: .reply)] }
                return [reply(peer, header, kind: .reply)] + (try advanceClock(worker: worker, to: Int(header.clock) + 1))
            case .pull, .pushPull:
                try checkSections(header, needValues: header.kind == .pushPull)
                let staleness = header.sections.map { tables[$0.table]!.spec.consistency.staleness }.min() ?? Int.max
                // Refuse before applying anything: a push+pull is applied whole or not at all.
                try checkAnswerable(clock: Int(header.clock), staleness: staleness)
                let frames = floatRows(header, frames)
                let skips = header.kind == .pushPull ? try checkFinite(header, frames) : [:]
                try checkReplySize(header)
                let keys = decodeKeys(header, frames)
                if !discardsData { try checkCapacity(header, keys: keys) }
                if header.kind == .pushPull { try checkClockLead(header) }
                if header.kind == .pushPull && applyingPush { applyPush(header, frames, keys: keys, skipping: skips) }
                let answered = answerOrHold(WaitingPull(peer: peer, header: header, keys: keys, staleness: staleness, arrived: spans.begin()))
                guard answered.isEmpty else { return answered }
                return [
                    .log(.trace, "\(id) holds pull \(header.seq) of \(header.sender) at clock \(header.clock) (slowest worker at \(clocks.minClock))"),
                    reply(peer, header, kind: .held),
                ]
            case .clock:
                let released = try advanceClock(worker: try workerIndex(header), to: Int(header.clock))
                return [reply(peer, header, kind: .reply)] + released
            case .checkpoint:
                guard case .checkpoint(let directory) = m.body else { throw HybridSyncError.malformedMessage(.kind, "checkpoint without a directory") }
                _ = try workerIndex(header)
                if header.flags & MessageFlags.awaitsWrite != 0 { return try awaitCheckpoint(into: directory, for: peer, header) }
                // Snapshotted now, written in slices between polls while pushes go on.
                try startCheckpoint(into: directory)
                return [reply(peer, header, kind: .reply)]
            case .restore:
                guard case .restore(let clock) = m.body else { throw HybridSyncError.malformedMessage(.kind, "restore without a clock") }
                try restore(header, frames, clock: Int(clock))
                return [reply(peer, header, kind: .reply)]
            case .stats:
                let stats = ServerStats(
                    server: id.index, largestAnsweredGap: clocks.largestAnsweredGap, pushes: appliedPushes,
                    rows: tables.values.reduce(0) { $0 + $1.rowCount }, waitingPulls: waitingPulls.count,
                    bytesIn: bytesIn, bytesOut: bytesOut, duplicates: duplicates, refused: refused + handshakesRefused.sealedMessages,
                    handshakesRefused: handshakesRefused.value, nonFiniteRowsSkipped: nonFiniteRowsSkipped,
                    host: host, copies: copies)
                return [reply(peer, header, kind: .reply, body: .stats(stats))]
            default:
                throw HybridSyncError.malformedMessage(.kind, "a server does not accept \(header.kind) messages")
            }
        } catch let e as HybridSyncError {
            refused += 1
            return [.log(.warning, "\(id) refused \(header.kind) \(header.seq) from \(header.sender): \(e)"), errorReply(peer, header, e)]
        } catch {
            refused += 1
            return [errorReply(peer, header, .remote(peer: "\(id)", message: "\(error)"))]
        }
    }

    /// A worker died: it no longer holds others back, and pulls that were waiting for it fail naming it.
    func workerDied(_ worker: Int, name: String) -> [NodeDirective] {
        clocks.markDead(worker)
        let waiting = waitingPulls
        waitingPulls.removeAll()
        return waiting.map { errorReply($0.peer, $0.header, .peerDied(peer: name, reason: "missed its heartbeats while this pull waited for its clock")) }
    }

    // MARK: - Push

    /// Each section's keys, decoded once per request.
    func decodeKeys(_ header: MessageHeader, _ frames: [any ByteFrame]) -> [[UInt64]] {
        header.sections.indices.map { i in frames[keysOf: i].withUnsafeBytes { readKeys($0) } }
    }

    private func applyPush(
        _ header: MessageHeader, _ frames: [any ByteFrame], keys sectionKeys: [[UInt64]],
        skipping skips: [Int: Set<Int>] = [:]
    ) {
        appliedPushes += 1
        if discardsData { return }
        let worker = header.sender.index
        for (i, s) in header.sections.enumerated() {
            let store = tables[s.table]!
            let n = s.rowLength
            var keys = sectionKeys[i]
            // Rows of a `skipRow` table holding a NaN or an infinity are left out (a copy without them);
            // otherwise the frame's values are used in place.
            var kept: [Float]?
            if let skip = skips[i] {
                nonFiniteRowsSkipped += skip.count
                let rows = keys.indices.filter { !skip.contains($0) }
                keys = rows.map { keys[$0] }
                kept = frames[valuesOf: i].withUnsafeBytes { raw in
                    let f = raw.bindMemory(to: Float.self)
                    return rows.flatMap { f[($0 * n)..<(($0 + 1) * n)] }
                }
            }
            if store.spec.consistency == .bsp {
                let grads = kept ?? frames[valuesOf: i].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                hold(HeldPush(worker: worker, seq: header.seq, section: s, keys: keys, grads: grads), step: Int(header.clock))
            } else if let kept {
                kept.withUnsafeBufferPointer { g in
                    if let base = g.baseAddress { apply(store, piece: s.piece, keys: keys, grads: base, rowLength: n) }
                }
            } else {
                frames[valuesOf: i].withUnsafeBytes { raw in
                    apply(store, piece: s.piece, keys: keys, grads: raw.bindMemory(to: Float.self).baseAddress!, rowLength: n)
                }
            }
        }
    }

    /// Keeps a BSP push until every worker has finished step `step`, counted for the capacity check.
    func hold(_ push: HeldPush, step: Int) {
        heldPushes[step, default: []].append(push)
        heldKeys += push.keys.count
        heldRowBytes += rowBytes(of: push)
    }

    /// Bytes of the rows a held push may create: one row of its table per key. (Until this counted
    /// every held key at the largest row of any table, so a job with one table of long rows, a dense
    /// layer through the servers, refused ordinary pulls as soon as a step's embedding pushes were held.)
    private func rowBytes(of push: HeldPush) -> Int { push.keys.count * (tables[push.section.table]?.bytesPerRow ?? 0) }

    /// Applies rows; duplicate keys are summed first so the optimizer sees one gradient per row.
    private func apply(_ store: RowStore, piece: Int, keys: [UInt64], grads: UnsafePointer<Float>, rowLength n: Int) {
        var sortedUnique = true
        for i in keys.indices.dropFirst() where keys[i] <= keys[i - 1] { sortedUnique = false; break }
        if sortedUnique {
            store.apply(keys: keys, piece: piece, gradients: grads, rowLength: n)
            return
        }
        var rows = SummedRows(capacity: keys.count)
        for (r, k) in keys.enumerated() { rows.append(key: k, source: 0, row: r) }
        rows.apply(to: store, piece: piece, rowLength: n) { _, body in body(grads) }
    }

    private func readKeys(_ raw: UnsafeRawBufferPointer) -> [UInt64] {
        [UInt64](unsafeUninitializedCapacity: raw.count / 8) { keys, initialized in
            #if _endian(little)
                if let base = keys.baseAddress, let source = raw.baseAddress {
                    UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: keys.count * 8)
                }
            #else
                for i in keys.indices { keys[i] = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            #endif
            initialized = keys.count
        }
    }

    // MARK: - Clocks and pulls

    private func advanceClock(worker: Int, to clock: Int) throws -> [NodeDirective] {
        clocks.advance(worker: worker, to: clock)
        releaseHeldPushes()
        return try releaseWaitingPulls()
    }

    /// Applies BSP pushes of every step all live workers have finished, in step order, and within a step
    /// in worker order (so float sums are the same every run): per (table, piece), the rows of all the
    /// step's pushes are summed by key in push order (`SummedRows`).
    private func releaseHeldPushes() {
        let done = clocks.minClock
        for step in heldPushes.keys.sorted() where step < done {
            let t = spans.begin()
            defer { spans.end(t, "apply held pushes", row: "\(id)", detail: "step \(step)") }
            let held = heldPushes.removeValue(forKey: step)!
            heldKeys -= held.reduce(0) { $0 + $1.keys.count }
            heldRowBytes -= held.reduce(0) { $0 + rowBytes(of: $1) }
            let pushes = held.enumerated()
                .sorted { ($0.element.worker, $0.element.seq, $0.offset) < ($1.element.worker, $1.element.seq, $1.offset) }.map(\.element)
            var groups: [String: [Int: [Int]]] = [:]
            for (i, p) in pushes.enumerated() { groups[p.section.table, default: [:]][p.section.piece, default: []].append(i) }
            for (table, pieces) in groups {
                for (piece, members) in pieces {
                    var rows = SummedRows(capacity: members.reduce(0) { $0 + pushes[$1].keys.count })
                    for m in members { for (r, k) in pushes[m].keys.enumerated() { rows.append(key: k, source: m, row: r) } }
                    rows.apply(to: tables[table]!, piece: piece, rowLength: pushes[members[0]].section.rowLength) { m, body in
                        pushes[m].grads.withUnsafeBufferPointer { body($0.baseAddress!) }
                    }
                }
            }
        }
    }

    // MARK: - Replies

    func reply(_ peer: Peer, _ request: MessageHeader, kind: MessageKind, body: MessageBody = .empty) -> NodeDirective {
        .send(peer, OutboundMessage(MessageHeader(kind: kind, sender: id, seq: request.seq, clock: request.clock), body))
    }

    func errorReply(_ peer: Peer, _ request: MessageHeader, _ error: HybridSyncError) -> NodeDirective {
        reply(peer, request, kind: .error, body: .error(error))
    }
}
