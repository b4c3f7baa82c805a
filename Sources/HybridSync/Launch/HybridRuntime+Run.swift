import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS
import Logging

extension HybridRuntime {
    /// Runs one rank of a hybrid job from start to end. A dedicated server rank serves until the workers
    /// finish and returns; a worker runs `body`, then always calls `finish()` (so the servers and the
    /// scheduler end too). Throws the first failure (of `body`, of launching, or of this rank's
    /// background nodes) after everything is shut down.
    ///
    /// MPI is finalised when the rank succeeded and no rank of the job died. When it failed, it is not:
    /// finalising waits for every rank, and a failed job may have a rank that will never come (killed,
    /// stopped, hung). The caller must then end the process (the `hybridsync` tool exits non-zero), and
    /// mpirun ends the others. Nor is it when a server rank died and the job went on without it
    /// (replicated shards): `MPI_Finalize` would wait for the dead rank forever; the process just exits,
    /// and `Launch/mpirun` reports the dead rank as absorbed.
    public static func run(
        layout: HybridLayout, base: PSConfig = PSConfig(), dense: DenseSyncConfig = DenseSyncConfig(),
        _ body: (HybridRuntime) throws -> Void
    ) throws {
        guard let runtime = try begin(layout: layout, base: base, dense: dense).runtime else { return }
        var failure: (any Error)?
        do {
            try body(runtime)
        } catch {
            failure = error
            if let e = error as? HybridSyncError {
                dense.logger.error("worker failed", metadata: ["rank": "\(runtime.world.rank)", "error": "\(e)"])
            }
        }
        do {
            try runtime.end(failed: failure != nil, logger: dense.logger)
        } catch {
            if failure == nil { failure = error }
        }
        if let failure { throw failure }
    }

    /// `run` in two halves, for callers that cannot pass a closure (the C ABI): launches this rank and
    /// returns its runtime, or nil on a dedicated server rank, which has served until the workers
    /// finished (and finalised MPI as `run` does). Also returns this rank and the world's size.
    package static func begin(
        layout: HybridLayout, base: PSConfig = PSConfig(), dense: DenseSyncConfig = DenseSyncConfig()
    ) throws -> (runtime: HybridRuntime?, rank: Int, worldSize: Int) {
        let world = try MPIRuntime.initialize()
        guard let runtime = try launch(layout: layout, base: base, dense: dense) else {
            if !rankDied.load(ordering: .relaxed) { MPIRuntime.finalize() }
            return (nil, world.rank, world.size)
        }
        return (runtime, world.rank, world.size)
    }

    /// The second half: ends this worker as `run` does after its body (`failed`: the body failed).
    /// Throws what finishing threw; MPI is finalised only after a clean run in which no rank died.
    package func end(failed: Bool, logger: Logger) throws {
        do {
            try finish()
        } catch {
            logger.error("worker could not finish cleanly", metadata: ["rank": "\(world.rank)", "error": "\(error)"])
            if kv.viewChanges > 0 { Self.rankDied.store(true, ordering: .relaxed) }
            throw error
        }
        if kv.viewChanges > 0 { Self.rankDied.store(true, ordering: .relaxed) }
        if failed { return }
        try Self.finishTimeline(world)
        if !Self.rankDied.load(ordering: .relaxed) { MPIRuntime.finalize() }
    }
}
