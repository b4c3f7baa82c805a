import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
import XCTest

/// Hostile messages fed to the server's and the scheduler's state machines through the codec, as the
/// node shell feeds them: every one is refused with a typed error and counted, nothing traps, the
/// node's state is unchanged, and it goes on serving.
final class HostileInputTests: XCTestCase {
    static let worker = Peer.routed([7])
    static let keys = [UInt64(3), 5].flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }

    /// A valid push of rows 3 and 5 (two floats each) to table `t`, as frames.
    static func validPush(seq: UInt64, values: [Float] = [0.5, 1, 1.5, 2]) -> [[UInt8]] {
        let h = MessageHeader(
            kind: .push, sender: NodeID(.worker, 0), seq: seq, clock: 0,
            sections: [SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 2, hasValues: true)])
        return [WireCodec.encodeHeader(h), [], keys, values.withUnsafeBytes { Array($0) }]
    }

    /// Offsets of the header's numeric fields in `validPush` (the layout in `WireCodec`): fixed part,
    /// then the one section after its name ("t": a u32 length and one byte).
    enum Field: CaseIterable {
        case magic, version, kind, flags, sender, incarnation, shard, epoch, logIndex, seq, clock, sections, nameLength, piece, rowLength, dtype, hasValues,
            keyCount
        var range: Range<Int> {
            switch self {
            case .magic: return 0..<4
            case .version: return 4..<5
            case .kind: return 5..<6
            case .flags: return 6..<8
            case .sender: return 8..<12
            case .incarnation: return 12..<16
            case .shard: return 16..<20
            case .epoch: return 20..<24
            case .logIndex: return 24..<32
            case .seq: return 32..<40
            case .clock: return 40..<48
            case .sections: return 48..<52
            case .nameLength: return 52..<56
            case .piece: return 57..<61
            case .rowLength: return 61..<65
            case .dtype: return 65..<66
            case .hasValues: return 66..<67
            case .keyCount: return 67..<75
            }
        }
    }

    static func patch(_ header: inout [UInt8], _ field: Field, _ value: UInt64) {
        for (i, at) in field.range.enumerated() { header[at] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// A server that joined a one-worker job, declared `t` and took one push.
    func preparedServer() throws -> ServerMachine {
        var config = PSConfig()
        config.workers = 1
        var s = ServerMachine(config: config, endpoint: "memory://s0")
        _ = s.start(now: 0)
        try TestKit.join(&s, workers: 1)
        let declare = OutboundMessage(
            MessageHeader(kind: .declare, sender: NodeID(.worker, 0), seq: 1), .declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate)]))
        _ = s.onMessage(try TestKit.envelope(from: Self.worker, declare), now: 1)
        let first = feed(&s, Self.validPush(seq: 2))
        XCTAssertEqual(first, .accepted)
        return s
    }

    enum Outcome: Equatable { case accepted, refused(String) }

    /// Feeds `frames` as the node shell would; the outcome is what the sender hears.
    @discardableResult
    func feed(_ s: inout ServerMachine, _ frames: [[UInt8]], limit: Int = 1 << 20) -> Outcome {
        let directives: [NodeDirective]
        switch InboundEnvelope.open(InboundMessage(from: Self.worker, frames: frames), maxMessageBytes: limit) {
        case .success(let e): directives = s.onMessage(e, now: 2)
        case .failure(let r): directives = s.onRejected(r, now: 2)
        }
        let sent = directives.compactMap(\.sent).map(\.message)
        sent.forEach { $0.payload.forEach { $0.discard() } }
        if case .error(let e)? = sent.first?.body { return .refused("\(e)") }
        return .accepted
    }

    /// Rows 3 and 5 of `t` as bytes, the server's row and push counts: the state the tests compare.
    func state(_ s: inout ServerMachine, seq: UInt64) throws -> ([UInt8], Int, Int) {
        let pull = OutboundMessage(
            MessageHeader(
                kind: .pull, sender: NodeID(.worker, 0), seq: seq, clock: 0,
                sections: [SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 2, hasValues: false)]),
            .empty, payload: [.bytes(Self.keys), .bytes([])])
        let answer = s.onMessage(try TestKit.envelope(from: Self.worker, pull), now: 3).compactMap(\.sent).first?.message
        let bytes = answer?.payload.last.map { f in f.withUnsafeBytes { Array($0) } } ?? []
        answer?.payload.forEach { $0.discard() }
        let stats = s.onMessage(
            try TestKit.envelope(from: Self.worker, OutboundMessage(MessageHeader(kind: .stats, sender: NodeID(.worker, 0), seq: seq + 1), .empty)), now: 3
        )
        .compactMap(\.sent).first?.message
        guard case .stats(let st)? = stats?.body else { throw HybridSyncError.malformedMessage(.kind, "no stats") }
        return (bytes, st.rows, st.pushes)
    }

    /// Every numeric header field at 0, -1 (all ones), Int64.min, Int64.max and UInt32.max (truncated to
    /// the field's width) on an otherwise valid push: no trap, and a typed refusal, except where any
    /// value is legal (a sequence number, an incarnation, the view a request was routed by: a server
    /// that leads the shard serves it whatever view the worker had).
    func testEveryHeaderFieldAtItsExtremesIsRefusedWithoutATrap() throws {
        var s = try preparedServer()
        let before = try state(&s, seq: 1_000)
        let extremes: [UInt64] = [0, UInt64.max, UInt64(bitPattern: Int64.min), UInt64(Int64.max), UInt64(UInt32.max)]
        var seq: UInt64 = 10
        var accepted: [String] = []
        for field in Field.allCases {
            for value in extremes {
                seq += 1
                var frames = Self.validPush(seq: seq)
                let original = frames[0]
                Self.patch(&frames[0], field, value)
                if frames[0] == original { continue }  // the value (at the field's width) is the valid message's own
                if case .accepted = feed(&s, frames) { accepted.append("\(field)=\(value)") }
            }
        }
        // A sequence number, an incarnation and an epoch may be anything; those pushes are valid and applied once.
        XCTAssertEqual(Set(accepted.map { $0.split(separator: "=")[0] }), ["seq", "incarnation", "epoch"], "\(accepted)")
        let after = try state(&s, seq: 2_000)
        XCTAssertEqual(after.2 - before.2, accepted.count, "exactly the accepted pushes were applied")
        XCTAssertEqual(after.1, before.1, "no row was created")
    }

    /// 1,000,000 hostile messages (700,000 to a server, 300,000 to the scheduler): random frames,
    /// truncated and oversize messages, wrong magic, version, kind, sender, counts and lengths, huge
    /// declared sizes, unknown tables, bad pieces and dtypes, extreme clocks, non-finite values. Each is
    /// refused with a typed error and counted; the server's rows are byte-identical afterwards and it
    /// answers a valid request; the scheduler's refusal count grows by exactly the number sent.
    func testAMillionHostileMessagesAreAllRefusedAndChangeNothing() throws {
        var rng = SplitMix64(seed: 0x5EED)
        var s = try preparedServer()
        let before = try state(&s, seq: 1_000)
        let oversize = [UInt8](repeating: 0, count: 5_000)
        var refused = 0, categories = [Int](repeating: 0, count: 20)
        var seq: UInt64 = 10_000
        func message(_ category: Int) -> [[UInt8]] {
            seq += 1
            var f = Self.validPush(seq: seq)
            let r = rng.next()
            switch category {
            case 0:  // random frames
                return (0..<Int(r % 6)).map { _ in (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
            case 1: f[0] = Array(f[0].prefix(Int(r % UInt64(f[0].count))))  // truncated header
            case 2: Self.patch(&f[0], .version, r % 2 == 0 ? r % 3 : 4 + r % 252)  // any version but this build's (3)
            case 3: f[0][Int(r % 4)] ^= UInt8(1) << UInt8((r >> 8) % 8)  // magic
            case 4: Self.patch(&f[0], .kind, [0, 9, 19, 28, 39, 42 + r % 200, 43][Int(r % 7)] & 0xFF)
            case 5: if r % 2 == 0 { f.removeLast() } else { f.append([]) }  // frame count
            case 6: Self.patch(&f[0], .keyCount, [0, 1, 3, UInt64.max, UInt64(Int32.max) + 1, 3 + r % 1_000_000][Int(r % 6)])
            case 7: Self.patch(&f[0], .rowLength, [0, 1, 3, UInt64(UInt32.max), 3 + r % 1_000_000][Int(r % 5)])
            case 8: f[2] = Array(f[2].prefix(Int(r % 16)))  // keys frame short
            case 9: f[3] += [UInt8(truncatingIfNeeded: r)]  // values frame long
            case 10: Self.patch(&f[0], .piece, 1 + r % UInt64(UInt32.max))
            case 11: Self.patch(&f[0], .sender, r % 2 == 0 ? UInt64((4 + r % 252) << 24) : UInt64(3 << 24 | (1 + r % 0xFFFFFE)))
            case 12: Self.patch(&f[0], .clock, [UInt64(bitPattern: Int64.min), UInt64.max, UInt64(Int64.max), UInt64(Int32.max) + 1 + r % 1000][Int(r % 4)])
            case 13: f[0][56] = UInt8(ascii: "a") + UInt8(r % 19)  // another (unknown) table name
            case 14: f[3] = oversize  // past the limit
            case 15: f = Self.validPush(seq: seq, values: [1, [Float.nan, .infinity, -.infinity][Int(r % 3)], 2, 3])
            case 16: Self.patch(&f[0], .dtype, 8 + r % 248)
            case 17: Self.patch(&f[0], .hasValues, 2 + r % 254)
            case 18: Self.patch(&f[0], .sections, [0, 2, UInt64(UInt32.max), 4097][Int(r % 4)])
            default: Self.patch(&f[0], .nameLength, [0, 257, UInt64(UInt32.max), 2][Int(r % 4)])
            }
            return f
        }
        for i in 0..<700_000 {
            let category = i % 20
            let outcome = feed(&s, message(category), limit: 4_096)
            if case .refused = outcome {
                refused += 1; categories[category] += 1
            } else {
                return XCTFail("message \(i) (category \(category)) was accepted")
            }
        }
        XCTAssertEqual(refused, 700_000)
        XCTAssertEqual(categories, [Int](repeating: 35_000, count: 20))
        let after = try state(&s, seq: 3_000_000)
        XCTAssertEqual(after.0, before.0, "rows byte-identical")
        XCTAssertEqual(after.1, before.1)
        XCTAssertEqual(after.2, before.2, "no push applied")
        XCTAssertEqual(feed(&s, Self.validPush(seq: 3_000_010)), .accepted, "the server goes on serving")

        // The scheduler of a started job (one server, one worker registered).
        var sched = SchedulerMachine(servers: 1, workers: 1, heartbeatTimeout: 1000, startTimeout: 1000)
        _ = sched.start(now: 0)
        for (peer, role) in [(Peer.routed([1]), Role.server), (.routed([2]), .worker)] {
            let reg = OutboundMessage(
                MessageHeader(kind: .register, sender: .unassigned(role), seq: 1), .register(role: role, address: "memory://x", preferredIndex: -1))
            _ = sched.onMessage(try TestKit.envelope(from: peer, reg), now: 0)
        }
        let rejectedBefore = sched.rejected
        for i in 0..<300_000 {
            let frames = message(i % 20)
            let d: [NodeDirective]
            switch InboundEnvelope.open(InboundMessage(from: .routed([9, UInt8(i % 200)]), frames: frames), maxMessageBytes: 4_096) {
            case .success(let e): d = sched.onMessage(e, now: 1)
            case .failure(let r): d = sched.onRejected(r, now: 1)
            }
            guard case .error? = d.compactMap(\.sent).first?.message.body else { return XCTFail("scheduler: message \(i) not refused") }
        }
        XCTAssertEqual(sched.rejected - rejectedBefore, 300_000, "every one counted")
        let beat = OutboundMessage(MessageHeader(kind: .heartbeat, sender: NodeID(.worker, 0), seq: 5), .empty)
        let answer = sched.onMessage(try TestKit.envelope(from: .routed([2]), beat), now: 2)
        XCTAssertFalse(
            answer.contains {
                if case .error? = $0.sent?.message.body { return true }; return false
            }, "the registered worker is still served")
    }
}
