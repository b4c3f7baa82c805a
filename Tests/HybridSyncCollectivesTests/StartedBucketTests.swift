import HybridSyncCollectives
import HybridSyncCore
import HybridSyncTestKit
import XCTest

/// Buckets started ahead of the flush (`DenseSync.start`, the overlap with backward) as threads over the
/// in-memory transport: exact against closed-form sums, bit for bit the blocking path's result, in any
/// start order per rank, and a rank that never starts a bucket named by the others.
final class StartedBucketTests: XCTestCase {
    /// Bucket 0: 3,001 floats in place (recursive doubling, in pieces); bucket 1: 40,000 floats in place
    /// (the ring); bucket 2: two tensors fused (recursive doubling). Each rank starts them in its own
    /// order, moving them on between starts, and checks sum and average against closed form.
    func testStartedBucketsAreExactInAnyStartOrder() throws {
        for p in [1, 2, 3, 4, 5, 8] {
            let outcomes = TestKit.spawn(ranks: p) { comm -> [String] in
                let dense = DenseSync(communicator: comm)
                var wrong: [String] = []
                for op in [ReduceOp.sum, .average] {
                    let sizes = [[3001], [40_000], [17, 900]]
                    let tensors = try sizes.enumerated().map { b, counts in
                        try counts.enumerated().map { k, n in
                            try Tensor(name: "b\(b).\(k)", values: RingInProcessTests.input(Float.self, rank: comm.rank, count: n))
                        }
                    }
                    var order = Array(0..<3)
                    for _ in 0..<comm.rank { order.append(order.removeFirst()) }
                    for b in order {
                        try dense.start(bucket: b, tensors[b], op: op)
                        try dense.advanceStarted()
                    }
                    try dense.finishStarted()
                    for t in tensors.joined() {
                        let want = RingInProcessTests.expected(Float.self, ranks: p, count: t.count, op: op)
                        if try t.values(as: Float.self) != want { wrong.append("\(t.name) \(op) at \(p) ranks") }
                    }
                }
                return wrong
            }
            for (rank, outcome) in outcomes.enumerated() { XCTAssertEqual(try outcome.get(), [], "rank \(rank) of \(p)") }
        }
    }

    /// On values whose sums round, a started bucket gives the same bits as the blocking all-reduce
    /// (`allreduce`, which this does not use), for both algorithms: the overlap changes no result.
    func testStartedBucketsMatchTheBlockingPathBitForBit() throws {
        for p in [3, 4, 5] {
            let outcomes = TestKit.spawn(ranks: p) { comm -> Int in
                let dense = DenseSync(communicator: comm)
                var differing = 0
                for count in [1000, 30_000] {
                    var rng = SplitMix64(seed: UInt64(comm.rank * 7919 + count))
                    let values = (0..<count).map { _ in Float(Double(rng.next() % 1_000_000) / 7.3 - 60_000) }
                    let started = try Tensor(name: "s\(count)", values: values)
                    let blocking = try Tensor(name: "b\(count)", values: values)
                    try dense.start(bucket: 0, [started], op: .average)
                    try dense.finishStarted()
                    try dense.allreduce([blocking], op: .average)
                    differing += zip(try started.values(as: Float.self), try blocking.values(as: Float.self)).filter { $0.bitPattern != $1.bitPattern }.count
                }
                return differing
            }
            for (rank, outcome) in outcomes.enumerated() { XCTAssertEqual(try outcome.get(), 0, "rank \(rank) of \(p)") }
        }
    }

    /// Rank 2 of 3 starts bucket 0 but never bucket 1 (the ring): once the stall limit has passed, rank 0,
    /// which receives from it, throws a timeout naming rank 2; rank 1, which waits on rank 0 in turn,
    /// throws one naming whom it waited for. Both communicators then refuse further use.
    func testARankThatNeverStartsABucketIsNamed() throws {
        let outcomes = TestKit.spawn(ranks: 3) { comm -> String in
            var config = DenseSyncConfig()
            config.stallSeconds = 0.3
            let dense = DenseSync(communicator: comm, config: config)
            let a = try Tensor(name: "a", values: [Float](repeating: 1, count: 10))
            let b = try Tensor(name: "b", values: [Float](repeating: 1, count: 20_000))
            try dense.start(bucket: 0, [a], op: .sum)
            if comm.rank == 2 {
                try dense.finishStarted()
                return "a=\(try a.values(as: Float.self)[0])"
            }
            try dense.start(bucket: 1, [b], op: .sum)
            do {
                try dense.finishStarted()
                return "no error"
            } catch let e as HybridSyncError {
                let refused = (try? dense.allreduce([a])) == nil
                return "\(e) refused=\(refused)"
            }
        }
        XCTAssertEqual(try outcomes[2].get(), "a=3.0")
        let first = try outcomes[0].get(), second = try outcomes[1].get()
        XCTAssertTrue(first.hasPrefix("timeout: started bucket 1") && first.contains("for rank 2") && first.contains("refused=true"), first)
        XCTAssertTrue(second.hasPrefix("timeout: started bucket 1") && second.contains("refused=true"), second)
    }

    /// A peer declared dead while buckets are in flight (the transport's interrupter, as the parameter
    /// server's heartbeats set it): `finishStarted` ends at once with that error, long before the stall
    /// limit, and the communicator refuses further use.
    func testAPeerDeclaredDeadEndsTheWaitAtOnce() throws {
        let outcomes = TestKit.spawn(ranks: 2) { comm -> String in
            guard comm.rank == 0 else { return "silent" }
            let dense = DenseSync(communicator: comm)
            let t = try Tensor(name: "t", values: [Float](repeating: 1, count: 30_000))
            try dense.start(bucket: 0, [t], op: .sum)
            comm.transport.interrupter = { .peerDied(peer: "rank 1", reason: "missed its heartbeats") }
            let began = ContinuousClock.now
            do {
                try dense.finishStarted()
                return "no error"
            } catch {
                let refused = (try? dense.allreduce([t])) == nil
                return "\(error) after \(ContinuousClock.now - began < .seconds(10) ? "under" : "over") 10 s, refused=\(refused)"
            }
        }
        let text = try outcomes[0].get()
        XCTAssertTrue(text.contains("rank 1") && text.contains("missed its heartbeats") && text.contains("under 10 s") && text.contains("refused=true"), text)
    }
}
