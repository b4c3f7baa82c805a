import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
import XCTest

/// The server's state machine driven directly through the codec: no sockets, no clock.
final class ServerMachineTests: XCTestCase {
    /// A server that has joined a job of `workers` workers.
    func joinedServer(workers: Int) throws -> ServerMachine {
        var config = PSConfig()
        config.workers = workers
        var s = ServerMachine(config: config, endpoint: "memory://s0")
        _ = s.start(now: 0)
        try TestKit.join(&s, workers: workers)
        return s
    }

    func request(_ kind: MessageKind, seq: UInt64, clock: Int64, _ body: MessageBody = .empty, sections: [SectionInfo] = [], payload: [OutgoingFrame] = [])
        -> OutboundMessage
    {
        OutboundMessage(MessageHeader(kind: kind, sender: NodeID(.worker, 0), seq: seq, clock: clock, sections: sections), body, payload: payload)
    }

    func replies(_ d: [NodeDirective]) -> [OutboundMessage] { d.compactMap(\.sent).map(\.message) }

    /// A push flagged `endsStep` advances its sender's clock once it is held: the BSP step's pushes of
    /// both workers are applied when the second one arrives, a pull of the next step is held until then
    /// and then sees both, and a resend of the flagged push applies nothing and moves no clock again.
    func testAPushThatEndsTheStepAdvancesTheClock() throws {
        var s = try joinedServer(workers: 2)
        let peers = [Peer.routed([7]), Peer.routed([8])]
        func message(
            _ kind: MessageKind, worker: Int, seq: UInt64, clock: Int64, flags: UInt16 = 0, _ body: MessageBody = .empty,
            sections: [SectionInfo] = [], payload: [OutgoingFrame] = []
        ) -> OutboundMessage {
            OutboundMessage(
                MessageHeader(kind: kind, sender: NodeID(.worker, worker), seq: seq, clock: clock, flags: flags, sections: sections),
                body, payload: payload)
        }
        func send(_ m: OutboundMessage, worker: Int) throws -> [OutboundMessage] { replies(s.onMessage(try TestKit.envelope(from: peers[worker], m), now: 1)) }
        _ = try send(
            message(.declare, worker: 0, seq: 2, clock: 0, .declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate, consistency: .bsp)])), worker: 0
        )
        let key = withUnsafeBytes(of: UInt64(3).littleEndian) { Array($0) }
        let section = SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 1, hasValues: true)
        func push(worker: Int, _ values: [Float]) -> OutboundMessage {
            message(
                .push, worker: worker, seq: 5, clock: 0, flags: MessageFlags.endsStep, sections: [section],
                payload: [.bytes(key), .bytes(values.withUnsafeBytes { Array($0) })])
        }
        XCTAssertEqual(try send(push(worker: 0, [1, 2]), worker: 0).map(\.header.kind), [.reply])
        var pullSection = section
        pullSection.hasValues = false
        let pull = message(.pull, worker: 0, seq: 6, clock: 1, sections: [pullSection], payload: [.bytes(key), .bytes([])])
        XCTAssertEqual(try send(pull, worker: 0).map(\.header.kind), [.held], "worker 1 has not ended step 0")
        let out = try send(push(worker: 1, [10, 20]), worker: 1)
        XCTAssertEqual(out.map(\.header.kind), [.reply, .reply], "the push's reply, then the held pull's answer")
        let rows = out.last?.payload.last.map { f in f.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
        out.forEach { $0.payload.forEach { $0.discard() } }
        XCTAssertEqual(rows, [11, 22])
        let again = try send(push(worker: 1, [10, 20]), worker: 1)
        XCTAssertEqual(again.map(\.header.kind), [.reply], "a resend is answered, not applied")
        let second = message(.pull, worker: 1, seq: 7, clock: 1, sections: [pullSection], payload: [.bytes(key), .bytes([])])
        let answer = try send(second, worker: 1)
        XCTAssertEqual(answer.first?.payload.last.map { f in f.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }, [11, 22])
        answer.forEach { $0.payload.forEach { $0.discard() } }
        let ahead = message(.pull, worker: 1, seq: 8, clock: 2, sections: [pullSection], payload: [.bytes(key), .bytes([])])
        XCTAssertEqual(try send(ahead, worker: 1).map(\.header.kind), [.held], "clocks are at 1, not 2")
    }

    /// Clocks at the extremes (negative, Int64.min, Int64.max, past Int32.max) are refused with a typed
    /// error, never trapped on, and the server goes on answering well-formed requests.
    func testExtremeClocksAreRefusedWithoutATrap() throws {
        var s = try joinedServer(workers: 1)
        let w = Peer.routed([7])
        let declare = request(.declare, seq: 2, clock: 0, .declare([TableSpec(name: "t", dimension: 2, consistency: .ssp(staleness: 1))]))
        XCTAssertEqual(replies(s.onMessage(try TestKit.envelope(from: w, declare), now: 1)).first?.header.kind, .reply)
        let section = SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 1, hasValues: false)
        let key = withUnsafeBytes(of: UInt64(5).littleEndian) { Array($0) }
        var seq: UInt64 = 10
        for clock in [Int64.min, -1, Int64.max, Int64(Int32.max) + 1] {
            seq += 1
            let pull = request(.pull, seq: seq, clock: clock, sections: [section], payload: [.bytes(key), .bytes([])])
            let out = replies(s.onMessage(try TestKit.envelope(from: w, pull), now: 2))
            guard case .error(let e)? = out.first?.body else { return XCTFail("clock \(clock): \(out)") }
            XCTAssertTrue("\(e)".contains("invalid argument (range): clock \(clock) is outside"), "\(e)")
        }
        let fine = request(.pull, seq: 99, clock: 0, sections: [section], payload: [.bytes(key), .bytes([])])
        let out = replies(s.onMessage(try TestKit.envelope(from: w, fine), now: 3))
        XCTAssertEqual(out.first?.header.kind, .reply, "the server goes on serving")
        XCTAssertEqual(out.first?.header.sections.first?.keyCount, 1)
    }

    /// A push holding a NaN or an infinity is refused naming the table, the row and the element, and
    /// nothing of it is applied: the finite rows of the same push are not applied either.
    func testNonFiniteGradientsAreRefusedWhole() throws {
        var s = try joinedServer(workers: 1)
        let w = Peer.routed([7])
        let declare = request(.declare, seq: 2, clock: 0, .declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate)]))
        _ = s.onMessage(try TestKit.envelope(from: w, declare), now: 1)
        let keys = [UInt64(3), 5].flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }
        for (seq, bad) in [(UInt64(3), Float.nan), (4, .infinity), (5, -.infinity)] {
            let values = [Float(1), 2, 3, bad].withUnsafeBytes { Array($0) }
            let push = request(
                .push, seq: seq, clock: 0, sections: [SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 2, hasValues: true)],
                payload: [.bytes(keys), .bytes(values)])
            let out = replies(s.onMessage(try TestKit.envelope(from: w, push), now: 2))
            guard case .error(let e)? = out.first?.body else { return XCTFail("\(bad): \(out)") }
            XCTAssertTrue("\(e)".contains("invalid argument (nonFinite): non-finite gradient in table 't', row 5, element 1"), "\(e)")
        }
        let pull = request(
            .pull, seq: 9, clock: 0, sections: [SectionInfo(table: "t", piece: 0, rowLength: 2, keyCount: 2, hasValues: false)],
            payload: [.bytes(keys), .bytes([])])
        let answer = s.onMessage(try TestKit.envelope(from: w, pull), now: 3).compactMap(\.sent).first?.message
        let rows = answer?.payload.last.map { f in f.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
        answer?.payload.forEach { $0.discard() }
        XCTAssertEqual(rows, [0, 0, 0, 0], "rows 3 and 5 untouched")
    }

    /// Per-table policies: `reject` refuses the push, `skipRow` applies every other row and counts the
    /// dropped one, `allow` stores the NaN.
    func testNonFinitePoliciesPerTable() throws {
        var s = try joinedServer(workers: 1)
        let w = Peer.routed([7])
        let specs = [
            TableSpec(name: "r", dimension: 2, optimizer: .accumulate),
            TableSpec(name: "s", dimension: 2, optimizer: .accumulate, nonFinite: .skipRow),
            TableSpec(name: "a", dimension: 2, optimizer: .accumulate, nonFinite: .allow),
        ]
        _ = s.onMessage(try TestKit.envelope(from: w, request(.declare, seq: 2, clock: 0, .declare(specs))), now: 1)
        let keys = [UInt64(3), 5].flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }
        let values = [Float(1), 2, .nan, 4].withUnsafeBytes { Array($0) }
        var seq: UInt64 = 10
        func push(_ table: String) throws -> MessageBody? {
            seq += 1
            let m = request(
                .push, seq: seq, clock: 0, sections: [SectionInfo(table: table, piece: 0, rowLength: 2, keyCount: 2, hasValues: true)],
                payload: [.bytes(keys), .bytes(values)])
            return replies(s.onMessage(try TestKit.envelope(from: w, m), now: 2)).first?.body
        }
        func pull(_ table: String) throws -> [Float] {
            seq += 1
            let m = request(
                .pull, seq: seq, clock: 0, sections: [SectionInfo(table: table, piece: 0, rowLength: 2, keyCount: 2, hasValues: false)],
                payload: [.bytes(keys), .bytes([])])
            let answer = s.onMessage(try TestKit.envelope(from: w, m), now: 3).compactMap(\.sent).first?.message
            defer { answer?.payload.forEach { $0.discard() } }
            return answer?.payload.last.map { f in f.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } } ?? []
        }
        guard case .error(let e)? = try push("r") else { return XCTFail("reject let a NaN in") }
        XCTAssertTrue("\(e)".contains("invalid argument (nonFinite): non-finite gradient in table 'r', row 5"), "\(e)")
        XCTAssertEqual(try pull("r"), [0, 0, 0, 0])
        if case .error(let e)? = try push("s") { XCTFail("skipRow refused the push: \(e)") }
        XCTAssertEqual(try pull("s"), [1, 2, 0, 0], "row 3 applied, row 5 (the NaN) left out")
        if case .error(let e)? = try push("a") { XCTFail("allow refused the push: \(e)") }
        let allowed = try pull("a")
        XCTAssertEqual(Array(allowed.prefix(2)), [1, 2])
        XCTAssertTrue(allowed[2].isNaN, "allow stores the NaN")
        seq += 1
        let stats = s.onMessage(try TestKit.envelope(from: w, request(.stats, seq: seq, clock: 0)), now: 4).compactMap(\.sent).first?.message.body
        guard case .stats(let st)? = stats else { return XCTFail("no stats") }
        XCTAssertEqual(st.nonFiniteRowsSkipped, 1)
    }
}
