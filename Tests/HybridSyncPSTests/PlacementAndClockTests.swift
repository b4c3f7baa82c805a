@testable import HybridSyncPS
import HybridSyncCore
import XCTest

final class PlacementAndClockTests: XCTestCase {
    /// Keys spread evenly, and adding a server moves about 1/(S+1) of them (fixed ranges would move more).
    func testConsistentHashBalanceAndStability() {
        let four = ConsistentHash(servers: 4), five = ConsistentHash(servers: 5)
        let salt = tableSalt("emb")
        var load = [Int](repeating: 0, count: 4)
        var moved = 0
        let n = 100_000
        for k in 0..<UInt64(n) {
            let a = four.server(key: k, piece: 0, tableSalt: salt)
            load[a] += 1
            if a != five.server(key: k, piece: 0, tableSalt: salt) { moved += 1 }
        }
        XCTAssertLessThan(Double(load.max()!) / Double(n / 4), 1.2, "\(load)")
        XCTAssertLessThan(Double(moved) / Double(n), 0.3, "moved \(moved)")
        XCTAssertGreaterThan(Double(moved) / Double(n), 0.1)
    }

    /// Consecutive ids (a hot range) do not land on one server.
    func testHotRangeSpreads() {
        let ring = ConsistentHash(servers: 3)
        let servers = Set((0..<UInt64(30)).map { ring.server(key: $0, piece: 0, tableSalt: tableSalt("t")) })
        XCTAssertEqual(servers.count, 3)
    }

    func testClockTableRules() {
        var c = ClockTable(workers: 3)
        XCTAssertTrue(c.mayAnswer(clock: 0, staleness: 0))
        XCTAssertFalse(c.mayAnswer(clock: 1, staleness: 0))
        XCTAssertTrue(c.mayAnswer(clock: 2, staleness: 2))
        XCTAssertFalse(c.mayAnswer(clock: 3, staleness: 2))
        XCTAssertTrue(c.mayAnswer(clock: 100, staleness: Int.max))
        XCTAssertFalse(c.advance(worker: 0, to: 1))
        c.advance(worker: 1, to: 1)
        XCTAssertTrue(c.advance(worker: 2, to: 1))
        XCTAssertEqual(c.minClock, 1)
        XCTAssertFalse(c.advance(worker: 2, to: 0), "clocks never go back")
        c.markDead(0)
        XCTAssertEqual(c.minClock, 1)
        c.noteAnswered(clock: 3)
        XCTAssertEqual(c.largestAnsweredGap, 2)
    }

    func testSchedulerRendezvousBarrierAndDeath() {
        var s = SchedulerState(servers: 1, workers: 2, heartbeatTimeout: 1)
        XCTAssertEqual(s.onRegister(route: [1], role: .worker, address: "", preferredIndex: -1, seq: 1, now: 0), [])
        XCTAssertEqual(s.onRegister(route: [2], role: .server, address: "tcp://x:1", preferredIndex: -1, seq: 1, now: 0), [])
        let book = s.onRegister(route: [3], role: .worker, address: "", preferredIndex: 0, seq: 1, now: 0)
        XCTAssertEqual(book.count, 3, "everyone gets the address book once all registered")
        XCTAssertEqual(s.nodes[NodeID(.worker, 0)]?.route, [3], "preferred index honoured")
        XCTAssertEqual(s.onBarrier(NodeID(.worker, 0), group: .workers, seq: 5, now: 0.1), [])
        XCTAssertEqual(s.onBarrier(NodeID(.worker, 1), group: .workers, seq: 6, now: 0.1).count, 2)
        // Worker 1 goes silent; worker 0 waits in a barrier and is told who died.
        XCTAssertEqual(s.onBarrier(NodeID(.worker, 0), group: .workers, seq: 7, now: 0.5), [])
        s.onHeard(NodeID(.worker, 0), now: 1.2)
        s.onHeard(NodeID(.server, 0), now: 1.2)
        let out = s.onTick(now: 1.3)
        let errors = out.filter { if case .send(_, .error, 7, let meta) = $0 { return ErrorCodec.decode(meta, from: "s") == .peerDied(peer: "worker 1", reason: "missed its heartbeats; barrier of workers cannot complete") }; return false }
        XCTAssertEqual(errors.count, 1, "\(out)")
        XCTAssertTrue(out.contains { if case .send(_, .nodeDead, _, _) = $0 { return true }; return false })
    }
}
