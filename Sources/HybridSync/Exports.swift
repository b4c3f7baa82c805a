// `import HybridSync` is enough for a training program: the umbrella re-exports the types its API
// uses (Tensor, MPIRuntime, TableSpec, KVWorker, errors).
@_exported import HybridSyncCollectives
@_exported import HybridSyncCore
@_exported import HybridSyncPS
