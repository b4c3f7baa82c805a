import HybridSyncCore

/// The meta frame of a message, typed: what the state machines produce and consume. Only the codec
/// (`encode`, `decode`) knows the bytes.
package enum MessageBody: Sendable {
    /// Nothing (heartbeats, clocks, finished, shutdown, plain replies, row requests).
    case empty
    /// A node asks to join.
    case register(role: Role, address: String, preferredIndex: Int)
    /// The scheduler's answer to every node once all have joined.
    case addressBook(id: NodeID, servers: [String], workers: Int)
    /// A barrier (or its release) of a group: the sender's `generation`-th barrier of it (from 1), so a
    /// standby scheduler that takes over in the middle of one knows who has passed it.
    case barrier(BarrierGroup, generation: UInt64)
    /// The scheduler's latest shard map, and why it changed (empty at the start).
    case view(ShardView, note: String)
    /// A part of a shard's copy taken at log index `index`: part 0 carries the state (`state`), the
    /// others rows in their sections; `last` marks the final part.
    case copy(index: UInt64, state: [UInt8], last: Bool)
    /// A primary reports `server`'s copy of its shard complete.
    case copied(server: Int)
    /// Meta bytes kept as they were (a reply recorded by another server, carried in a copy).
    case raw([UInt8])
    /// The scheduler's state, to its standby.
    case schedulerState(SchedulerState)
    /// The scheduler names a node that missed its heartbeats.
    case nodeDead(NodeID, reason: String)
    /// A request failed; nothing of it was applied.
    case error(HybridSyncError)
    /// Tables to declare on a server.
    case declare([TableSpec])
    /// A server's statistics.
    case stats(ServerStats)
    /// Write a checkpoint shard into this directory.
    case checkpoint(directory: String)
    /// The shard written: its file name (inside the directory), size and CRC-32C.
    case checkpointWritten(file: String, size: UInt64, crc: UInt32)
    /// Rows restored from a checkpoint (in the sections) and every worker's clock, taken at `clock`.
    case restore(clock: Int64)

    /// The meta frame's bytes.
    package func encode() -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .empty: break
        case let .register(role, address, preferred):
            w.u8(role.rawValue)
            w.string(address)
            w.u32(UInt32(bitPattern: Int32(truncatingIfNeeded: preferred)))
        case let .addressBook(id, servers, workers):
            w.u32(id.raw)
            w.u32(UInt32(servers.count))
            w.u32(UInt32(workers))
            for s in servers { w.string(s) }
        case let .barrier(g, generation):
            w.u8(g.rawValue)
            w.u64(generation)
        case .schedulerState(let s): s.encode(into: &w)
        case let .view(v, note):
            v.encode(into: &w)
            w.string(note)
        case let .copy(index, state, last):
            w.u64(index)
            w.u8(last ? 1 : 0)
            state.withUnsafeBytes { w.raw($0) }
        case .copied(let server): w.u32(UInt32(truncatingIfNeeded: server))
        case .raw(let bytes): return bytes
        case let .nodeDead(id, reason):
            w.u32(id.raw)
            w.string(reason)
        case .error(let e): return ErrorCodec.encode(e)
        case .declare(let specs):
            w.u32(UInt32(specs.count))
            for t in specs { t.encode(into: &w) }
        case .checkpoint(let d): w.string(d)
        case let .checkpointWritten(file, size, crc):
            w.string(file)
            w.u64(size)
            w.u32(crc)
        case .restore(let clock): w.i64(clock)
        case .stats(let s):
            w.i64(Int64(s.largestAnsweredGap))
            for v in [
                s.pushes, s.rows, s.waitingPulls, s.bytesIn, s.bytesOut, s.duplicates, s.refused, s.handshakesRefused, s.nonFiniteRowsSkipped, s.host, s.copies,
            ] { w.u64(UInt64(v)) }
        }
        return w.bytes
    }

    /// Reads the meta frame of a message of `kind` from `peer`. Replies are read as `empty` (their
    /// meaning depends on the request; `stats(from:)` reads a stats reply). Throws `malformedMessage`.
    package static func decode(kind: MessageKind, _ frame: any ByteFrame, from peer: String) throws -> MessageBody {
        try frame.withUnsafeBytes { raw -> MessageBody in
            var r = ByteReader(raw, context: "\(kind) from \(peer)")
            let body: MessageBody
            switch kind {
            case .register:
                guard let role = Role(rawValue: try r.u8("role")), role != .scheduler else {
                    throw HybridSyncError.malformedMessage(.field, "register from \(peer): unknown role")
                }
                let address = try r.string("address")
                body = .register(role: role, address: address, preferredIndex: Int(Int32(bitPattern: try r.u32("preferred index"))))
            case .addressBook:
                guard let id = NodeID(raw: try r.u32("id")) else { throw HybridSyncError.malformedMessage(.field, "address book: bad id") }
                let s = Int(try r.u32("servers")), w = Int(try r.u32("workers"))
                guard s <= 4096, w <= 65536 else { throw HybridSyncError.malformedMessage(.field, "address book lists \(s) servers, \(w) workers") }
                var servers: [String] = []
                for _ in 0..<s { servers.append(try r.string("server address")) }
                body = .addressBook(id: id, servers: servers, workers: w)
            case .barrier, .barrierRelease:
                guard let g = BarrierGroup(rawValue: try r.u8("group")) else {
                    throw HybridSyncError.malformedMessage(.field, "\(kind) from \(peer): unknown group")
                }
                body = .barrier(g, generation: try r.u64("generation"))
            case .schedulerState:
                body = .schedulerState(try SchedulerState.decode(from: &r))
            case .copy:
                let index = try r.u64("log index")
                let last = try r.u8("last")
                guard last <= 1 else { throw HybridSyncError.malformedMessage(.field, "copy: bad last flag \(last)") }
                return .copy(index: index, state: Array(try r.raw(r.remaining, "state")), last: last == 1)
            case .copied:
                body = .copied(server: Int(try r.u32("server")))
            case .view:
                let v = try ShardView.decode(from: &r)
                body = .view(v, note: try r.string("note", maxLength: 4096))
            case .nodeDead:
                guard let id = NodeID(raw: try r.u32("id")) else { throw HybridSyncError.malformedMessage(.field, "node-dead: bad id") }
                body = .nodeDead(id, reason: try r.string("reason"))
            case .error:
                return .error(ErrorCodec.decode(frame, from: peer))
            case .declare:
                let n = Int(try r.u32("table count"))
                guard n <= 4096 else { throw HybridSyncError.malformedMessage(.field, "\(n) tables in one declaration") }
                var specs: [TableSpec] = []
                for _ in 0..<n { specs.append(try TableSpec.decode(from: &r)) }
                body = .declare(specs)
            case .checkpoint:
                body = .checkpoint(directory: try r.string("directory"))
            case .restore:
                body = .restore(clock: try r.i64("clock"))
            case .reply:
                return .empty
            default:
                body = .empty
            }
            try r.expectEnd()
            return body
        }
    }

    /// Reads the meta frame of a checkpoint reply.
    package static func checkpointWritten(_ frame: any ByteFrame, server: Int) throws -> (file: String, size: UInt64, crc: UInt32) {
        try frame.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "checkpoint reply from server \(server)")
            return (try r.string("file"), try r.u64("size"), try r.u32("crc"))
        }
    }

    /// Reads the meta frame of a stats reply from server `server`.
    package static func stats(_ frame: any ByteFrame, server: Int) throws -> ServerStats {
        try frame.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "stats from server \(server)")
            var stats = ServerStats(
                server: server, largestAnsweredGap: Int(truncatingIfNeeded: try r.i64("gap")),
                pushes: Int(truncatingIfNeeded: try r.u64("pushes")), rows: Int(truncatingIfNeeded: try r.u64("rows")),
                waitingPulls: Int(truncatingIfNeeded: try r.u64("waiting")),
                bytesIn: Int(truncatingIfNeeded: try r.u64("bytes in")), bytesOut: Int(truncatingIfNeeded: try r.u64("bytes out")),
                duplicates: Int(truncatingIfNeeded: try r.u64("duplicates")),
                refused: Int(truncatingIfNeeded: try r.u64("refused")),
                handshakesRefused: Int(truncatingIfNeeded: try r.u64("handshakes refused")),
                nonFiniteRowsSkipped: Int(truncatingIfNeeded: try r.u64("non-finite rows skipped")))
            stats.host = Int(truncatingIfNeeded: try r.u64("host"))
            stats.copies = Int(truncatingIfNeeded: try r.u64("copies"))
            return stats
        }
    }
}

/// A message a state machine wants sent: typed header and body, plus row payload frames (keys and
/// values per section, in header order).
package struct OutboundMessage: Sendable {
    package var header: MessageHeader
    package var body: MessageBody
    package var payload: [OutgoingFrame]

    package init(_ header: MessageHeader, _ body: MessageBody = .empty, payload: [OutgoingFrame] = []) {
        self.header = header
        self.body = body
        self.payload = payload
    }

    /// The frames on the wire.
    package func frames() -> [OutgoingFrame] {
        [.bytes(WireCodec.encodeHeader(header)), .bytes(body.encode())] + payload
    }
}

/// A message taken off the transport and checked against the wire format: typed header and body; the
/// row frames stay as received (read in place).
package struct InboundEnvelope {
    package let from: Peer
    package let header: MessageHeader
    package let body: MessageBody
    /// Every frame (header, meta, then keys and values per section).
    package let frames: [any ByteFrame]

    /// Bytes of every frame.
    package var byteCount: Int { frames.reduce(0) { $0 + $1.count } }

    /// Validates and decodes; on failure, the error and whatever of the header could be read. A message
    /// the transport authenticated (the secure channel) must come from a node its member holds (`Membership`).
    package static func open(_ m: InboundMessage, maxMessageBytes: Int) -> Result<InboundEnvelope, Rejection> {
        do {
            let header = try WireCodec.validate(m.frames, maxMessageBytes: maxMessageBytes)
            let body = try MessageBody.decode(kind: header.kind, m.frames[1], from: "\(header.sender)")
            if let identity = m.identity { try Membership.check(identity: identity, header: header, body: body) }
            return .success(InboundEnvelope(from: m.from, header: header, body: body, frames: m.frames))
        } catch {
            let e = error as? HybridSyncError ?? .malformedMessage(.field, "\(error)")
            let partial = m.frames.first.flatMap { try? WireCodec.decodeHeader($0) }
            return .failure(Rejection(from: m.from, error: e, header: partial))
        }
    }
}

/// A message that failed validation: who sent it, why, and the header if it could be read (to address
/// an error reply).
package struct Rejection: Error {
    package let from: Peer
    package let error: HybridSyncError
    package let header: MessageHeader?
}
