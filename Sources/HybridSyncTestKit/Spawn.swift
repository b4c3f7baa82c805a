import Foundation
import HybridSyncCollectives
import HybridSyncCore
import Synchronization

/// Runs groups of ranks as threads of this process over in-memory transports: gloo's
/// `spawn(transport, size, fn)` for HybridSync.
package enum TestKit {
    /// Runs `body` on `ranks` threads, each with a communicator over one `MemoryRankFabric`, and returns
    /// every rank's outcome in rank order. `wrap` may decorate each rank's transport (fault injection).
    /// Returns when every thread has returned; a body that never returns hangs the caller, so bodies
    /// use deadlines (every collective has one).
    package static func spawn<R: Sendable>(
        ranks: Int,
        wrap: @escaping @Sendable (_ rank: Int, _ transport: any RankTransport) -> any RankTransport = { $1 },
        _ body: @escaping @Sendable (Communicator) throws -> R
    ) -> [Result<R, any Error>] {
        let fabric = MemoryRankFabric(size: ranks)
        return runThreads(ranks) { rank in
            try body(Communicator(transport: wrap(rank, fabric.transport(rank: rank))))
        }
    }

    /// Runs `body(i)` for `i` in `0..<count`, each on its own thread (not a pool: ranks block on one
    /// another, so they need as many threads as there are ranks), and returns the outcomes in order.
    package static func runThreads<R: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> R) -> [Result<R, any Error>] {
        let results = Mutex<[Int: Result<R, any Error>]>([:])
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            let t = Thread {
                let r = Result { try body(i) }
                results.withLock { $0[i] = r }
                group.leave()
            }
            t.stackSize = 4 << 20
            t.name = "testkit-\(i)"
            t.start()
        }
        group.wait()
        return results.withLock { r in (0..<count).map { r[$0]! } }
    }
}
