import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
import XCTest

/// A server's limits: rows, bytes, tables, keys per request, and replies no larger than a worker takes.
/// A request past a limit is refused whole with an error naming the limit; nothing of it is applied.
final class ServerLimitsTests: XCTestCase {
    let worker = Peer.routed([7])
    var seq: UInt64 = 1

    func server(_ limits: ServerLimits, maxMessageBytes: Int = 1 << 20) throws -> ServerMachine {
        var config = PSConfig()
        config.workers = 1
        config.limits = limits
        config.maxMessageBytes = maxMessageBytes
        var s = ServerMachine(config: config, endpoint: "memory://s0")
        _ = s.start(now: 0)
        try TestKit.join(&s, workers: 1)
        return s
    }

    /// The text of the error the server answers `message` with, prefixed by its code (`limit: ...`), or
    /// nil if it answered without one.
    func send(
        _ s: inout ServerMachine, _ kind: MessageKind, _ body: MessageBody = .empty, table: String = "t", keys: [UInt64] = [],
        rowLength: Int = 2, values: Bool = false
    ) throws -> String? {
        seq += 1
        let sections =
            kind == .declare || kind == .stats ? [] : [SectionInfo(table: table, piece: 0, rowLength: rowLength, keyCount: keys.count, hasValues: values)]
        let payload: [OutgoingFrame] =
            sections.isEmpty
            ? []
            : [
                .bytes(keys.flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }),
                .bytes(values ? [UInt8](repeating: 0, count: keys.count * rowLength * 4) : []),
            ]
        let m = OutboundMessage(MessageHeader(kind: kind, sender: NodeID(.worker, 0), seq: seq, sections: sections), body, payload: payload)
        let sent = s.onMessage(try TestKit.envelope(from: worker, m), now: 1).compactMap(\.sent).map(\.message)
        defer { sent.forEach { $0.payload.forEach { $0.discard() } } }
        guard case .error(let e)? = sent.first?.body else { return nil }
        return coded(e)
    }

    /// `code: text` for the families with codes, so the assertions check the code with the text.
    func coded(_ e: HybridSyncError) -> String {
        switch e {
        case let .invalidArgument(code, text): return "\(code): \(text)"
        default: return "\(e)"
        }
    }

    func rows(_ s: inout ServerMachine) throws -> Int {
        seq += 1
        let out = s.onMessage(
            try TestKit.envelope(from: worker, OutboundMessage(MessageHeader(kind: .stats, sender: NodeID(.worker, 0), seq: seq), .empty)), now: 1)
        guard case .stats(let st)? = out.compactMap(\.sent).first?.message.body else { throw HybridSyncError.malformedMessage(.kind, "no stats") }
        return st.rows
    }

    func testPushesAndPullsPastTheRowLimitAreRefusedWhole() throws {
        var limits = ServerLimits()
        limits.maxRows = 10
        var s = try server(limits)
        XCTAssertNil(try send(&s, .declare, .declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate)])))
        XCTAssertNil(try send(&s, .push, keys: Array(0..<8), values: true))
        let refused = try send(&s, .push, keys: Array(6..<13), values: true)
        XCTAssertTrue(refused?.contains("limit: 5 new row(s) would pass this server's limit of 10 rows (HYBRIDSYNC_MAX_ROWS)") == true, refused ?? "accepted")
        XCTAssertEqual(try rows(&s), 8, "nothing of the refused push was applied")
        let pull = try send(&s, .pull, keys: Array(100..<103))
        XCTAssertTrue(pull?.hasPrefix("limit: ") == true && pull?.contains("HYBRIDSYNC_MAX_ROWS") == true, pull ?? "accepted")
        XCTAssertNil(try send(&s, .push, keys: [0, 1, 8, 9], values: true), "up to the limit is fine")
        XCTAssertEqual(try rows(&s), 10)
    }

    /// Held BSP pushes count toward the byte limit at their own table's row size: 100 held keys of a
    /// narrow table beside a table of 65,536-float rows (a dense layer through the servers, as the
    /// `ps` strategy of `bench hybrid` does) leave room for the next wide row, and the limit still
    /// refuses wide rows past it.
    func testHeldPushesCountAtTheirOwnTablesRowSize() throws {
        var limits = ServerLimits()
        limits.maxBytes = 2_000_000
        var s = try server(limits, maxMessageBytes: 4 << 20)
        XCTAssertNil(
            try send(
                &s, .declare,
                .declare([
                    TableSpec(name: "t", dimension: 2, optimizer: .accumulate, consistency: .bsp),
                    TableSpec(name: "wide", dimension: 65_536, optimizer: .accumulate, consistency: .bsp),
                ])))
        XCTAssertNil(try send(&s, .pull, table: "wide", keys: [1], rowLength: 65_536))
        XCTAssertNil(try send(&s, .push, keys: Array(0..<100), values: true), "held until the step ends")
        // Counted at the wide table's row size, the 100 held keys were 26 MB and this pull was refused.
        XCTAssertNil(try send(&s, .pull, table: "wide", keys: [2], rowLength: 65_536))
        let refused = try send(&s, .pull, table: "wide", keys: Array(3..<10), rowLength: 65_536)
        XCTAssertTrue(
            refused?.hasPrefix("limit: ") == true && refused?.contains("HYBRIDSYNC_MAX_BYTES") == true, refused ?? "accepted: 9 wide rows are past 2 MB")
    }

    /// The attack from the security issue, scaled: a table of wide rows (65,536 floats, one piece),
    /// then a pull of many keys. The byte limit refuses it before a row is made, and a reply past the
    /// worker's message limit is refused up front.
    func testHugeRowsArePastTheByteLimitAndRepliesPastTheMessageLimit() throws {
        var limits = ServerLimits()
        limits.maxBytes = 16 << 20
        var s = try server(limits, maxMessageBytes: 64 << 20)
        let wide = 1 << 16
        XCTAssertNil(try send(&s, .declare, .declare([TableSpec(name: "huge", dimension: wide, optimizer: .accumulate)])))
        let bytes = try send(&s, .pull, table: "huge", keys: Array(0..<100), rowLength: wide)
        XCTAssertTrue(
            bytes?.hasPrefix("limit: ") == true && bytes?.contains("would pass this server's limit of 16777216 bytes (HYBRIDSYNC_MAX_BYTES)") == true,
            bytes ?? "accepted")
        XCTAssertEqual(try rows(&s), 0)
        let reply = try send(&s, .pull, table: "huge", keys: Array(0..<300), rowLength: wide)
        XCTAssertTrue(reply?.contains("exceeds the limit of \(64 << 20)") == true, reply ?? "accepted")
        XCTAssertNil(try send(&s, .pull, table: "huge", keys: [1, 2], rowLength: wide), "within both limits")
        XCTAssertEqual(try rows(&s), 2)
    }

    func testTablesAndKeysPerRequestAreCapped() throws {
        var limits = ServerLimits()
        limits.maxTables = 2
        limits.maxKeysPerRequest = 4
        var s = try server(limits)
        XCTAssertNil(try send(&s, .declare, .declare([TableSpec(name: "a", dimension: 2), TableSpec(name: "t", dimension: 2)])))
        let third = try send(&s, .declare, .declare([TableSpec(name: "c", dimension: 2)]))
        XCTAssertTrue(third?.hasPrefix("limit: ") == true && third?.contains("limit of 2 tables (HYBRIDSYNC_MAX_TABLES)") == true, third ?? "accepted")
        XCTAssertNil(try send(&s, .declare, .declare([TableSpec(name: "t", dimension: 2)])), "declaring an existing table again is fine")
        let keys = try send(&s, .pull, keys: Array(0..<5))
        XCTAssertTrue(keys?.contains("limit: 5 keys in one request; this server takes at most 4 (HYBRIDSYNC_MAX_KEYS)") == true, keys ?? "accepted")
        // A conflicting declaration names what differs, not the existing table's settings.
        let conflict = try send(
            &s, .declare, .declare([TableSpec(name: "t", dimension: 3, optimizer: .adagrad(learningRate: 0.5, epsilon: 1e-8, initialAccumulator: 0.1))]))
        XCTAssertEqual(conflict, "name: table 't' is already declared with another dimension, optimizer, piece length")
    }

    /// A push to a BSP table stamped far ahead of the slowest worker is refused instead of held for the
    /// whole job; one within the lead is held as usual.
    func testFarFutureBSPPushesAreRefused() throws {
        var limits = ServerLimits()
        limits.maxClockLead = 16
        var s = try server(limits)
        XCTAssertNil(try send(&s, .declare, .declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate, consistency: .bsp)])))
        seq += 1
        let far = OutboundMessage(
            MessageHeader(
                kind: .push, sender: NodeID(.worker, 0), seq: seq, clock: 1_000_000,
                sections: [SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 1, hasValues: true)]),
            .empty, payload: [.bytes(withUnsafeBytes(of: UInt64(1).littleEndian) { Array($0) }), .bytes([UInt8](repeating: 0, count: 8))])
        let sent = s.onMessage(try TestKit.envelope(from: worker, far), now: 1).compactMap(\.sent).map(\.message)
        guard case .error(let e)? = sent.first?.body else { return XCTFail("held a push a million steps ahead") }
        XCTAssertTrue(
            coded(e).contains(
                "limit: a push stamped with clock 1000000, 1000000 steps ahead of the slowest worker; this server holds at most 16 (HYBRIDSYNC_MAX_CLOCK_LEAD)"),
            "\(e)")
        seq += 1
        let near = OutboundMessage(
            MessageHeader(
                kind: .push, sender: NodeID(.worker, 0), seq: seq, clock: 16,
                sections: [SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 1, hasValues: true)]),
            .empty, payload: [.bytes(withUnsafeBytes(of: UInt64(1).littleEndian) { Array($0) }), .bytes([UInt8](repeating: 0, count: 8))])
        let ok = s.onMessage(try TestKit.envelope(from: worker, near), now: 1).compactMap(\.sent).map(\.message)
        if case .error(let e)? = ok.first?.body { XCTFail("refused a push within the lead: \(e)") }
    }

    /// A server in benchmark mode (rows not kept) answers pushes and pulls with the limits in place (it
    /// once indexed keys it had not decoded).
    func testBenchmarkModeServersAnswer() throws {
        var config = PSConfig()
        config.workers = 1
        config.discardData = true
        var s = ServerMachine(config: config, endpoint: "memory://s0")
        _ = s.start(now: 0)
        try TestKit.join(&s, workers: 1)
        XCTAssertNil(try send(&s, .declare, .declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate)])))
        XCTAssertNil(try send(&s, .push, keys: [1, 2], values: true))
        XCTAssertNil(try send(&s, .pull, keys: [1, 2]))
    }
}
