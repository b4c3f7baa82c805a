import HybridSyncCore
import XCTest

/// The rounds of `ReductionRounds`, run by a small simulator here (a FIFO per ordered pair of ranks, no
/// transport): every message meets a receive of its length in the order posted, and every rank ends with
/// the closed-form sum (rank r holds r + 1 + i at element i) or average, for 1-13 ranks.
final class ReductionRoundsTests: XCTestCase {
    /// Runs every rank's rounds to the end, moving each rank on whenever its current round's receives
    /// have arrived; returns each rank's buffer, or nil if the ranks deadlock or a length differs.
    static func simulate(_ rounds: [[ReductionRound]], count: Int, average: Bool) -> [[Double]]? {
        let p = rounds.count
        var buffers = (0..<p).map { r in (0..<count).map { Double(r + 1 + $0) } }
        var incoming = Array(repeating: [Double](repeating: 0, count: count), count: p)
        var queues: [[Int: [[Double]]]] = Array(repeating: [:], count: p)  // queues[to][from]
        var next = Array(repeating: 0, count: p), posted = Array(repeating: false, count: p)
        var moved = true
        while moved {
            moved = false
            for r in 0..<p where next[r] < rounds[r].count {
                let round = rounds[r][next[r]]
                if !posted[r] {
                    for (peer, range) in round.sends { queues[peer][r, default: []].append(Array(buffers[r][range])) }
                    posted[r] = true
                    moved = true
                }
                guard round.receives.allSatisfy({ !(queues[r][$0.peer] ?? []).isEmpty }) else { continue }
                for (peer, range, target) in round.receives {
                    let message = queues[r][peer]!.removeFirst()
                    guard message.count == range.count else { return nil }
                    if target == .bucket { buffers[r].replaceSubrange(range, with: message) } else { incoming[r].replaceSubrange(range, with: message) }
                }
                for c in round.combine { for i in c { buffers[r][i] += incoming[r][i] } }
                if average { for a in round.average { for i in a { buffers[r][i] /= Double(p) } } }
                next[r] += 1
                posted[r] = false
                moved = true
            }
        }
        return next.enumerated().allSatisfy { $1 == rounds[$0].count } ? buffers : nil
    }

    func testBothAlgorithmsGiveTheClosedFormOnEveryRank() throws {
        for p in 1...13 {
            for count in [1, p, 1000] {
                let want = (0..<count).map { i in Double(p * (p + 1) / 2 + p * i) }
                let doubling = (0..<p).map { ReductionRounds.recursiveDoubling(rank: $0, ranks: p, count: count) }
                let ring = try (0..<p).map { try ReductionRounds.ring(rank: $0, ranks: p, count: count) }
                for (name, rounds) in [("recursive doubling", doubling), ("ring", ring)] {
                    XCTAssertEqual(Self.simulate(rounds, count: count, average: false), Array(repeating: want, count: p), "\(name), \(p) ranks, \(count)")
                    let averaged = Self.simulate(rounds, count: count, average: true)
                    XCTAssertEqual(averaged, Array(repeating: want.map { $0 / Double(p) }, count: p), "\(name) average, \(p) ranks, \(count)")
                }
            }
        }
    }

    /// Round counts are the algorithms' latencies: ceil(lg p) for recursive doubling at a power of two
    /// (two more for the ranks folded in otherwise), 2(p - 1) for the ring.
    func testRoundCountsAreTheAlgorithmsLatencies() throws {
        XCTAssertEqual(ReductionRounds.recursiveDoubling(rank: 0, ranks: 8, count: 10).count, 3)
        XCTAssertEqual(ReductionRounds.recursiveDoubling(rank: 0, ranks: 6, count: 10).count, 2)  // folded in: sends, then receives the result
        XCTAssertEqual(ReductionRounds.recursiveDoubling(rank: 1, ranks: 6, count: 10).count, 4)  // takes part for two
        XCTAssertEqual(try ReductionRounds.ring(rank: 2, ranks: 5, count: 100).count, 8)
        XCTAssertEqual(ReductionRounds.recursiveDoubling(rank: 0, ranks: 1, count: 10).count, 0)
    }
}
