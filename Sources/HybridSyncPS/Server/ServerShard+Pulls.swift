import HybridSyncCore

/// Pulls: answered at once when the clocks allow (BSP and SSP bounds), else held until a clock
/// advance releases them; a benchmark server answers zeros.
extension ServerShard {
    /// Throws if a pull at `clock` could never be answered (a worker it would wait for is dead).
    func checkAnswerable(clock: Int, staleness: Int) throws {
        if !clocks.mayAnswer(clock: clock, staleness: staleness), let dead = clocks.deadWorkers.first {
            throw HybridSyncError.peerDied(peer: "worker \(dead)", reason: "it died; this pull would wait for its clock forever")
        }
    }

    func answerOrHold(_ pull: WaitingPull) -> [NodeDirective] {
        if clocks.mayAnswer(clock: Int(pull.header.clock), staleness: pull.staleness) {
            return [answer(pull)]
        }
        waitingPulls.append(pull)
        return []
    }

    func releaseWaitingPulls() throws -> [NodeDirective] {
        var out: [NodeDirective] = []
        var still: [WaitingPull] = []
        for p in waitingPulls {
            if clocks.mayAnswer(clock: Int(p.header.clock), staleness: p.staleness) {
                spans.end(p.arrived, "pull held for the clock", row: "\(id) holding \(p.header.sender)", detail: "clock \(p.header.clock)")
                out.append(answer(p))
            } else {
                still.append(p)
            }
        }
        waitingPulls = still
        return out
    }

    func answer(_ pull: WaitingPull) -> NodeDirective {
        let t = spans.begin()
        defer { spans.end(t, "pull answer", row: "\(id)", detail: "\(pull.header.sender), \(pull.keys.reduce(0) { $0 + $1.count }) keys") }
        clocks.noteAnswered(clock: Int(pull.header.clock))
        var sections: [SectionInfo] = []
        var payload: [OutgoingFrame] = []
        for (i, s) in pull.header.sections.enumerated() {
            let store = tables[s.table]!
            let keys = pull.keys[i]
            let n = s.rowLength
            var info = s
            info.hasValues = true
            sections.append(info)
            payload.append(.bytes([]))
            if discardsData {
                // A benchmark's server: zeros, from one buffer shared by every answer (as ps-lite's do).
                payload.append(.shared(zeros(bytes: keys.count * n * s.encoding.byteWidth)))
                continue
            }
            payload.append(
                .shared(
                    SharedBytes.pooled(count: keys.count * n * s.encoding.byteWidth) { out in
                        store.read(keys: keys, piece: s.piece, as: s.encoding, into: out, count: n)
                    }))
        }
        let h = MessageHeader(
            kind: .reply, sender: id, seq: pull.header.seq, clock: pull.header.clock,
            flags: MessageFlags.keysOmitted, sections: sections)
        let message = OutboundMessage(h, payload: payload)
        bytesOut += message.payload.reduce(0) { $0 + $1.count }
        return .send(pull.peer, message)
    }

    /// `bytes` zero bytes, shared.
    func zeros(bytes: Int) -> SharedBytes {
        if zeroBuffer.count < bytes {
            let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, bytes), alignment: 16)
            p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            zeroBuffer = SharedBytes(owning: p, count: bytes)
        }
        return zeroBuffer.prefix(bytes)
    }
}
