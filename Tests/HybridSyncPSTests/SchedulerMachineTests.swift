import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
import XCTest

/// The scheduler's state machine driven directly: no sockets, no clock.
final class SchedulerMachineTests: XCTestCase {
    func register(_ s: inout SchedulerMachine, _ peer: Peer, _ role: Role, address: String = "", preferred: Int = -1, now: Double = 0) throws -> [NodeDirective]
    {
        let m = OutboundMessage(
            MessageHeader(kind: .register, sender: .unassigned(role), seq: 1),
            .register(role: role, address: address, preferredIndex: preferred))
        return s.onMessage(try TestKit.envelope(from: peer, m), now: now)
    }

    func send(_ s: inout SchedulerMachine, _ peer: Peer, _ kind: MessageKind, from id: NodeID, seq: UInt64, _ body: MessageBody = .empty, now: Double) throws
        -> [NodeDirective]
    {
        s.onMessage(try TestKit.envelope(from: peer, OutboundMessage(MessageHeader(kind: kind, sender: id, seq: seq), body)), now: now)
    }

    func testRendezvousBarrierAndDeath() throws {
        var s = SchedulerMachine(servers: 1, workers: 2, heartbeatTimeout: 1, startTimeout: 10)
        _ = s.start(now: 0)
        let w1 = Peer.routed([1]), sv = Peer.routed([2]), w0 = Peer.routed([3])
        XCTAssertTrue(try register(&s, w1, .worker).compactMap(\.sent).isEmpty)
        XCTAssertTrue(try register(&s, sv, .server, address: "tcp://x:1").compactMap(\.sent).isEmpty)
        let sent = try register(&s, w0, .worker, preferred: 0).compactMap(\.sent)
        let book = sent.filter { $0.message.header.kind == .addressBook }
        XCTAssertEqual(book.count, 3, "everyone gets the address book once all registered")
        XCTAssertEqual(sent.filter { $0.message.header.kind == .view }.count, 3, "and the first view")
        let toW0 = book.first { $0.peer == w0 }
        guard case let .addressBook(id, servers, workers)? = toW0?.message.body else { return XCTFail("no book for w0") }
        XCTAssertEqual(id, NodeID(.worker, 0), "preferred index honoured")
        XCTAssertEqual(servers, ["tcp://x:1"])
        XCTAssertEqual(workers, 2)

        XCTAssertTrue(try send(&s, w0, .barrier, from: NodeID(.worker, 0), seq: 5, .barrier(.workers, generation: 1), now: 0.1).compactMap(\.sent).isEmpty)
        XCTAssertEqual(try send(&s, w1, .barrier, from: NodeID(.worker, 1), seq: 6, .barrier(.workers, generation: 1), now: 0.1).compactMap(\.sent).count, 2)
        // Worker 1 goes silent; worker 0 waits in a barrier and is told who died.
        XCTAssertTrue(try send(&s, w0, .barrier, from: NodeID(.worker, 0), seq: 7, .barrier(.workers, generation: 2), now: 0.5).compactMap(\.sent).isEmpty)
        _ = try send(&s, w0, .heartbeat, from: NodeID(.worker, 0), seq: 0, now: 1.2)
        _ = try send(&s, sv, .heartbeat, from: NodeID(.server, 0), seq: 0, now: 1.2)
        let out = s.onTick(now: 1.3).compactMap(\.sent)
        let barrierErrors = out.filter {
            if $0.peer == w0, $0.message.header.seq == 7, case .error(let e) = $0.message.body {
                return e == .peerDied(peer: "worker 1", reason: "missed its heartbeats; barrier of workers cannot complete")
            }
            return false
        }
        XCTAssertEqual(barrierErrors.count, 1, "\(out.map(\.message.header))")
        XCTAssertTrue(
            out.contains {
                if case .nodeDead(let who, _) = $0.message.body { return who == NodeID(.worker, 1) }; return false
            })
    }

    func testForgedSenderAndLateRegistrationAreRefused() throws {
        var s = SchedulerMachine(servers: 1, workers: 1, heartbeatTimeout: 1, startTimeout: 10)
        _ = s.start(now: 0)
        _ = try register(&s, .routed([1]), .server, address: "tcp://x:1")
        _ = try register(&s, .routed([2]), .worker)
        // A peer that never registered claims to be worker 0 and says it finished: refused, job goes on.
        let forged = try send(&s, .routed([9]), .finished, from: NodeID(.worker, 0), seq: 3, now: 0.1)
        XCTAssertTrue(
            forged.contains {
                if case .stop = $0 { return true }; return false
            } == false)
        XCTAssertTrue(
            forged.compactMap(\.sent).contains {
                if case .error = $0.message.body { return true }; return false
            })
        // A registration after the start is refused.
        let late = try register(&s, .routed([10]), .server, address: "tcp://y:1")
        XCTAssertTrue(
            late.compactMap(\.sent).contains {
                if case .error = $0.message.body { return true }; return false
            })
        // The real worker finishing ends the job.
        let end = try send(&s, .routed([2]), .finished, from: NodeID(.worker, 0), seq: 4, now: 0.2)
        XCTAssertTrue(
            end.contains {
                if case .stop(nil) = $0 { return true }; return false
            })
    }

    func testRendezvousTimesOutNamingWhoIsMissing() throws {
        var s = SchedulerMachine(servers: 2, workers: 1, heartbeatTimeout: 1, startTimeout: 5)
        _ = s.start(now: 0)
        _ = try register(&s, .routed([1]), .server, address: "tcp://x:1")
        XCTAssertTrue(s.onTick(now: 4).isEmpty)
        let out = s.onTick(now: 6)
        let stop = out.compactMap {
            if case .stop(let e) = $0 { return e }; return nil
        }.first
        XCTAssertEqual(stop, .timeout(operation: "scheduler rendezvous", waitingFor: "1 server(s) and 1 worker(s) to register", seconds: 5))
    }
}
