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
}
