import HybridSyncCore
import XCTest

@testable import HybridSyncPS

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

    /// Placement is the textbook rule: the first of the servers' 160 points each at or after the
    /// piece's hash, wrapping round (a plain linear search over the sorted points is the oracle for the
    /// lookup tables that make it fast). Hashes are drawn everywhere, and also right on the points and
    /// next to them, where the tables' buckets are not direct.
    func testPlacementIsTheFirstPointAtOrAfterTheHash() {
        for servers in 1...5 {
            let ring = ConsistentHash(servers: servers)
            var points: [(UInt64, Int)] = []
            for s in 0..<servers {
                for v in 0..<160 { points.append((mix64(UInt64(s) << 32 | UInt64(v) ^ 0x5EED_0000_0000), s)) }
            }
            points.sort { $0.0 < $1.0 }
            func oracle(_ h: UInt64) -> Int { points.first { $0.0 >= h }?.1 ?? points[0].1 }
            var hashes = (0..<20_000).map { mix64(UInt64($0) &* 0x9E37_79B9) }
            for (p, _) in points { hashes += [p, p &- 1, p &+ 1] }
            hashes += [0, UInt64.max]
            let wrong = hashes.filter { ring.serverFor(hash: $0) != oracle($0) }.count
            XCTAssertEqual(wrong, 0, "\(servers) servers")
        }
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
