import HybridSyncCollectives
import HybridSyncCore
import HybridSyncTestKit
import XCTest

/// The hierarchical all-reduce over in-memory fabrics, one per host plus one for the hosts' leaders:
/// closed-form results for every op (the same oracle as the ring's sweep) for small buckets (flat
/// recursive doubling) and large ones (the hierarchy, with the ring on both levels), with hosts of
/// equal and unequal sizes and interleaved ranks,
/// and the same bits on every rank for sums that are not exact.
final class HierarchicalTests: XCTestCase {
    /// Runs `body` on `hostOfRank.count` ranks whose `DenseSync` is grouped by `hostOfRank`; `lossyLocal`
    /// drops the ring's messages sent by that rank on its host's level.
    func run<R: Sendable>(
        _ hostOfRank: [Int], lossyLocal: Int? = nil, timeout: Double = 30,
        _ body: @escaping @Sendable (DenseSync) throws -> R
    ) throws -> [R] {
        let p = hostOfRank.count
        let world = MemoryRankFabric(size: p)
        let hostIDs = Array(Set(hostOfRank)).sorted()
        let members = hostIDs.map { h in (0..<p).filter { hostOfRank[$0] == h } }
        let locals = members.map { MemoryRankFabric(size: $0.count) }
        let leaders = MemoryRankFabric(size: hostIDs.count)
        let outcomes = TestKit.runThreads(p) { rank -> R in
            var config = DenseSyncConfig()
            config.timeoutSeconds = timeout
            let dense = DenseSync(communicator: Communicator(transport: world.transport(rank: rank)), config: config)
            let host = hostIDs.firstIndex(of: hostOfRank[rank])!
            let localRank = members[host].firstIndex(of: rank)!
            let local: any RankTransport =
                rank == lossyLocal
                ? FaultyRankTransport(locals[host].transport(rank: localRank), dropTags: [101, 102])
                : locals[host].transport(rank: localRank)
            dense.useHosts(
                local: Communicator(transport: local),
                leaders: localRank == 0 ? Communicator(transport: leaders.transport(rank: host)) : nil)
            return try body(dense)
        }
        return try outcomes.map { try $0.get() }
    }

    func testClosedFormResultsOnEveryLayout() throws {
        for layout in [[0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [5, 5, 9, 9, 2, 2]] {
            let wrong = try run(layout) { dense -> [String] in
                var wrong: [String] = []
                for count in [1, 4913, 30_000, 100_003] {
                    for op in [ReduceOp.sum, .average, .min, .max] {
                        wrong += try RingInProcessTests.check(Float.self, count: count, op: op, dense: dense)
                        wrong += try RingInProcessTests.check(Int32.self, count: count, op: op, dense: dense)
                    }
                }
                return wrong
            }
            for (rank, w) in wrong.enumerated() { XCTAssertEqual(w, [], "layout \(layout), rank \(rank): \(w.prefix(3))") }
        }
    }

    func testEveryRankGetsTheSameBits() throws {
        let results = try run([0, 0, 0, 1, 1]) { dense -> [UInt32] in
            let r = dense.communicator.rank
            let t = try Tensor(name: "g", values: (0..<70_001).map { Float(sin(Double($0 * 13 + r * 5)) * 100) })
            try dense.allreduce([t], op: .average)
            return try t.values(as: Float.self).map(\.bitPattern)
        }
        for r in 1..<results.count { XCTAssertEqual(results[r], results[0], "rank \(r) differs from rank 0") }
    }

    /// A level that times out leaves the whole `DenseSync` unusable on the ranks it failed on, so the
    /// next all-reduce throws at once there instead of sending the others into a level that can never
    /// complete.
    func testAFailedLevelMakesTheJobsCommunicatorUnusable() throws {
        let outcomes = try run([0, 0, 1, 1], lossyLocal: 3, timeout: 0.5) { dense -> String in
            let t = try Tensor(name: "g", values: [Float](repeating: 1, count: 100_003))
            do {
                try dense.allreduce([t], op: .sum)
                return "first: no error"
            } catch HybridSyncError.timeout {
            } catch {
                return "first: \(error)"
            }
            let began = ContinuousClock.now
            do {
                try dense.allreduce([t], op: .sum)
                return "second: no error"
            } catch HybridSyncError.unusable {
                return secondsSince(began) < 0.2 ? "unusable at once" : "unusable after \(secondsSince(began)) s"
            } catch {
                return "second: \(error)"
            }
        }
        // Host 1's ranks time out within the host; host 0's leader then waits across hosts in vain.
        XCTAssertEqual(outcomes[2], "unusable at once")
        XCTAssertEqual(outcomes[3], "unusable at once")
        XCTAssertEqual(outcomes[0], "unusable at once")
    }

    /// One host, or one rank a host: nothing to group, the all-reduce stays flat.
    func testGroupingNeedsTwoHostsAndASharedOne() {
        let outcomes = TestKit.spawn(ranks: 2) { comm -> [Bool] in
            let dense = DenseSync(communicator: comm)
            return [try dense.groupByHost([7, 7]), try dense.groupByHost([1, 2])]
        }
        for o in outcomes { XCTAssertEqual(try o.get(), [false, false]) }
    }
}
