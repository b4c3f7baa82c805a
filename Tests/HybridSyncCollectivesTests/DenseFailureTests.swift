import Dispatch
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncTestKit
import XCTest

/// Failures of the dense path over the in-memory transport with faults injected: every wait ends by its
/// deadline naming the rank it waited for, nothing hangs, and after a timeout no late message can write
/// into memory the caller has got back.
final class DenseFailureTests: XCTestCase {
    /// Rank 1's all-gather messages never arrive, so rank 0's all-gather (which receives straight into
    /// the tensor's memory) times out. Rank 1 then sends garbage with the ring's all-gather tag: it must
    /// not reach rank 0's tensor, and rank 0's communicator refuses further use.
    func testLateMessageAfterATimeoutNeverReachesTheTensor() throws {
        let fabric = MemoryRankFabric(size: 2)
        let failed = DispatchSemaphore(value: 0), sentLate = DispatchSemaphore(value: 0)
        let garbage: Float = 999
        let outcomes = TestKit.runThreads(2) { rank -> String in
            let raw = fabric.transport(rank: rank)
            let transport: any RankTransport = rank == 1 ? FaultyRankTransport(raw, dropTags: [102]) : raw
            let comm = Communicator(transport: transport)
            var config = DenseSyncConfig()
            config.timeoutSeconds = 0.3
            config.stallSeconds = 5
            // The ring's all-gather is under test: no recursive doubling for this small tensor.
            config.recursiveDoublingBytes = 0
            let dense = DenseSync(communicator: comm, config: config)
            let t = try Tensor(name: "g", values: [Float](repeating: Float(rank + 1), count: 1000))
            if rank == 1 {
                try dense.allreduce([t], op: .sum)
                failed.wait()
                // A late all-gather message of the right size, straight to rank 0.
                let bytes = [Float](repeating: garbage, count: 500)
                try bytes.withUnsafeBytes { b in
                    let id = try raw.postSend(b, to: 0, tag: 102)
                    _ = try raw.wait([id], deadline: .after(seconds: 1))
                }
                sentLate.signal()
                return "sent"
            }
            let began = ContinuousClock.now
            do {
                try dense.allreduce([t], op: .sum)
                failed.signal()
                return "rank 0 did not time out"
            } catch let e as HybridSyncError {
                let took = secondsSince(began)
                failed.signal()
                sentLate.wait()
                Thread.sleep(forTimeInterval: 0.05)
                guard case let .timeout(operation, waitingFor, _) = e, waitingFor == "rank 1", operation.contains("all-gather") else {
                    return "unexpected error \(e)"
                }
                guard took < 0.3 + 1 else { return "took \(took) s for a 0.3 s deadline" }
                let values = try t.values(as: Float.self)
                guard !values.contains(garbage) else { return "a late message reached the tensor" }
                do {
                    try dense.allreduce([t], op: .sum)
                    return "the communicator was still usable"
                } catch HybridSyncError.unusable(let why) {
                    return why.contains("rank 1") ? "ok" : "unusable without naming the first failure: \(why)"
                }
            }
        }
        XCTAssertEqual(try outcomes[0].get(), "ok")
        XCTAssertEqual(try outcomes[1].get(), "sent")
    }

    /// One rank never submits: every other rank gets an error naming whom it waited for (the
    /// coordinator names the missing rank; the others name the coordinator), within the deadline.
    func testASilentRankIsNamedOnEveryRank() throws {
        let outcomes = TestKit.spawn(ranks: 3) { comm -> String in
            var config = DenseSyncConfig()
            config.stallSeconds = 0.3
            config.timeoutSeconds = 5
            let dense = DenseSync(communicator: comm, config: config)
            if comm.rank == 2 { Thread.sleep(forTimeInterval: 3); return "silent" }
            let t = try Tensor(name: "g", values: [Float](repeating: 1, count: 10))
            let began = ContinuousClock.now
            do {
                try dense.allreduce([t], op: .sum)
                return "no error"
            } catch let e as HybridSyncError {
                let took = secondsSince(began)
                guard took < 0.3 + Double(2) + 1 else { return "took \(took) s" }
                return "\(e)"
            }
        }
        let texts = try outcomes.map { try $0.get() }
        XCTAssertTrue(texts[0].contains("stalled") && texts[0].contains("[2]"), texts[0])
        XCTAssertTrue(texts[1].contains("[2]"), "the coordinator's verdict names the silent rank here too: \(texts[1])")
        XCTAssertEqual(texts[2], "silent")
    }

    /// 5% of ring messages lost: a run of all-reduces ends with a timeout naming a neighbour on the
    /// rank that waited, within the step deadline; every rank returns.
    func testDroppedRingMessagesTimeOutNamingTheNeighbour() throws {
        let began = ContinuousClock.now
        let outcomes = TestKit.spawn(ranks: 4, wrap: { rank, t in FaultyRankTransport(t, drop: 0.05, seed: UInt64(rank + 7)) }) { comm -> String in
            var config = DenseSyncConfig()
            config.timeoutSeconds = 0.3
            config.stallSeconds = 0.6
            config.segmentBytes = 256
            let dense = DenseSync(communicator: comm, config: config)
            for i in 0..<200 {
                let t = try Tensor(name: "g\(i)", values: [Float](repeating: 1, count: 4096))
                do {
                    try dense.allreduce([t], op: .sum)
                } catch let e as HybridSyncError {
                    return "\(e)"
                }
            }
            return "no failure in 200 all-reduces"
        }
        let texts = try outcomes.map { try $0.get() }
        XCTAssertTrue(texts.contains { $0.hasPrefix("timeout") && $0.contains("rank ") }, "\(texts)")
        XCTAssertTrue(texts.allSatisfy { $0.hasPrefix("timeout") || $0.hasPrefix("stalled") || $0.hasPrefix("unusable") || $0.contains("rank") }, "\(texts)")
        XCTAssertLessThan(secondsSince(began), 30)
    }
}
