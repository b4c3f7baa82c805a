import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

extension TestKit {
    /// A whole hybrid job in this process: the parameter-server job of `psJob` plus a ring over an
    /// in-memory fabric among the workers. `body` runs on every worker with a `HybridRuntime` (as
    /// `HybridRuntime.launch` would give a worker rank under mpirun).
    package static func hybridJob<R: Sendable>(
        servers: Int, workers: Int, config: PSConfig = PSConfig(),
        _ body: @escaping @Sendable (HybridRuntime) throws -> R
    ) throws -> PSJobOutcome<R> {
        let fabric = MemoryRankFabric(size: workers)
        return try psJob(servers: servers, workers: workers, config: config) { kv in
            let comm = Communicator(transport: fabric.transport(rank: kv.index))
            var dense = DenseSyncConfig()
            dense.timeoutSeconds = 60
            return try body(HybridRuntime(world: comm, kv: kv, dense: DenseSync(communicator: comm, config: dense)))
        }
    }
}
