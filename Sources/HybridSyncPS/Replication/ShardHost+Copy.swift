import HybridSyncCore

/// A primary sending a copy of its shard to a new backup, up to `window` parts in flight, so the backup
/// installs one part while the next ones travel. The backup takes parts in order only and acknowledges
/// each it took, so an acknowledgement covers every part before it; unacknowledged parts are sent again.
struct CopySender {
    /// Parts in flight at most.
    static let window = 4
    let target: Int
    let index: UInt64
    let parts: [OutboundMessage]
    /// The first part not acknowledged.
    var next = 0
    /// Parts sent so far (`next ..< sent` are in flight).
    var sent = 0
    var sentAt = 0.0
    let startedAt: Double
    let bytes: Int
}

/// A backup receiving a copy: the shard rebuilt so far and the part it expects next.
struct CopyReceiver {
    let index: UInt64
    let shard: ServerShard
    var next = 1
}

/// Re-replication: after a death the scheduler gives a shard left with one copy a new backup; its
/// primary takes a copy of the shard at its current log index and streams it, while training goes on
/// and the changes after that index are kept for the new backup. The backup rebuilds the shard from the
/// copy, then applies those changes like any backup; its first acknowledgement makes it a full backup
/// (answers wait for it from then on) and the primary tells the scheduler, whose next view counts the
/// copy as complete.
extension ShardHost {
    /// Starts sending shard `s` to server `b`.
    func startCopy(of s: Int, to b: Int, now: Double) -> [NodeDirective] {
        guard var log = primaries[s], let shard = shards[s], let link = links[b] else { return [] }
        let index = log.startCopy(to: b)
        primaries[s] = log
        let epoch = view?.epoch ?? 0
        func header(_ part: Int, sections: [SectionInfo] = []) -> MessageHeader {
            var h = MessageHeader(kind: .copy, sender: NodeID(.server, me), seq: UInt64(part), sections: sections)
            h.shard = s
            h.epoch = epoch
            return h
        }
        let rows = shard.copyRows(maxBytes: copyPartBytes)
        var parts = [OutboundMessage(header(0), .copy(index: index, state: shard.copyState(), last: rows.isEmpty))]
        for (i, part) in rows.enumerated() {
            parts.append(
                OutboundMessage(
                    header(i + 1, sections: part.sections), .copy(index: index, state: [], last: i == rows.count - 1),
                    payload: part.payload))
        }
        let bytes = parts.reduce(0) { $0 + $1.payload.reduce(0) { $0 + $1.count } }
        let first = Swift.min(CopySender.window, parts.count)
        sending[s] = CopySender(target: b, index: index, parts: parts, sent: first, sentAt: now, startedAt: now, bytes: bytes)
        return [
            .log(
                .warning,
                "\(name) sends a copy of shard \(s) (\(shard.tables.values.reduce(0) { $0 + $1.rowCount }) rows, \(bytes) bytes in \(parts.count) parts, at change \(index)) to server \(b)"
            )
        ] + parts[0..<first].map { .send(link, $0) }
    }

    /// Parts in flight and not acknowledged within a while, sent again.
    func resendCopies(now: Double) -> [NodeDirective] {
        var out: [NodeDirective] = []
        for s in sending.keys.sorted() {
            guard var c = sending[s], now - c.sentAt >= 4 * resendAfter, let link = links[c.target] else { continue }
            c.sentAt = now
            sending[s] = c
            out += c.parts[c.next..<c.sent].map { .send(link, $0) }
        }
        return out
    }

    /// The backup acknowledged parts up to `seq` of shard `header.shard`'s copy: the window moves on.
    func onCopyAck(_ m: InboundEnvelope, now: Double) -> [NodeDirective] {
        let s = m.header.shard
        guard var c = sending[s], m.header.sender == NodeID(.server, c.target), links[c.target] == m.from,
            m.header.seq >= UInt64(c.next), m.header.seq < UInt64(c.sent)
        else { return [] }
        c.next = Int(m.header.seq) + 1
        guard c.next < c.parts.count else {
            // The last part is acknowledged once the copy is installed: the server is a backup at the
            // copy's index from now on.
            sending.removeValue(forKey: s)
            let seconds = Swift.max(1e-6, now - c.startedAt)
            return [
                .log(
                    .warning,
                    "\(name) sent its copy of shard \(s) to server \(c.target): \(c.bytes) bytes in \(String(format: "%.3f", seconds)) s (\(Int(Double(c.bytes) / seconds / 1e6)) MB/s)"
                )
            ]
                + acknowledged(shard: s, backup: c.target, through: c.index)
        }
        let more = c.sent..<Swift.min(c.next + CopySender.window, c.parts.count)
        c.sent = Swift.max(c.sent, more.upperBound)
        c.sentAt = now
        sending[s] = c
        return more.map { .send(m.from, c.parts[$0]) }
    }

    /// A part of a copy of shard `header.shard` for this server. Parts are taken in order (one after a
    /// gap is dropped, and comes again); a repeat is acknowledged again; the last installs the shard as
    /// a backup at the copy's index and acknowledges that index (which makes this server a full backup
    /// at the primary).
    func onCopy(_ m: InboundEnvelope) -> [NodeDirective] {
        let h = m.header, s = h.shard
        guard case let .copy(index, state, last) = m.body, let view, view.backups(of: s).contains(me), !view.isComplete(me, of: s) else {
            return [reply(m, kind: .error, .error(.invalidArgument(.membership, "\(name) is not receiving a copy of shard \(h.shard)")))]
        }
        let ack = { [me] (seq: UInt64) -> NodeDirective in
            var a = MessageHeader(kind: .copyAck, sender: NodeID(.server, me), seq: seq)
            a.shard = s
            return .send(m.from, OutboundMessage(a))
        }
        if backups[s] != nil { return [ack(h.seq)] }  // installed already: the last part again
        do {
            if h.seq == 0 {
                if let r = receiving[s], r.index == index { return [ack(0)] }
                receiving[s] = CopyReceiver(index: index, shard: try shardFromCopy(s, state))
            } else {
                guard var r = receiving[s], r.index == index else { return [] }
                if h.seq < UInt64(r.next) { return [ack(h.seq)] }
                guard h.seq == UInt64(r.next) else { return [] }
                try r.shard.checkRowSections(h)
                r.shard.setRows(h, m.frames)
                r.next += 1
                receiving[s] = r
            }
        } catch {
            receiving.removeValue(forKey: s)
            return [.log(.error, "\(name) could not read part \(h.seq) of its copy of shard \(s): \(error)")]
        }
        guard last, let r = receiving.removeValue(forKey: s) else { return [ack(h.seq)] }
        r.shard.host = me
        r.shard.copies = view.complete[s]
        shards[s] = r.shard
        backups[s] = BackupLog(applied: r.index)
        var applied = MessageHeader(kind: .replicaAck, sender: NodeID(.server, me), seq: r.index)
        applied.shard = s
        applied.epoch = view.epoch
        return [.log(.debug, "\(name) installed its copy of shard \(s) at change \(r.index)"), ack(h.seq), .send(m.from, OutboundMessage(applied))]
    }
}
