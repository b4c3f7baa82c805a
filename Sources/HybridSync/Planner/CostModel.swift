import HybridSyncCore

/// The alpha-beta-gamma cost model the planner routes by (Thakur, Rabenseifner and Gropp 2005):
///
/// - ring all-reduce of `n` bytes over `p` workers: `2 (p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma`;
/// - parameter server, a worker touching `r` rows of `b` bytes with `S` servers: the worker sends and
///   receives `2 r b` bytes, each server carries `p r b 2 / S` and applies `p r b / S` bytes of
///   gradients, so `2 alpha + max(2 r b, 2 p r b / S) beta + p r b / S gamma`.
package struct CostModel: Sendable, Equatable {
    /// Seconds per message (latency).
    package var alpha: Double
    /// Seconds per byte on the wire.
    package var beta: Double
    /// Seconds per byte reduced or applied (memory-bound arithmetic).
    package var gamma: Double
    /// Workers in the ring.
    package var workers: Int
    /// Parameter servers.
    package var servers: Int

    package init(alpha: Double = 50e-6, beta: Double = 1.0 / 1.0e9, gamma: Double = 0.1e-9, workers: Int, servers: Int) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.workers = Swift.max(1, workers)
        self.servers = Swift.max(1, servers)
    }

    /// Bytes one worker sends in a ring all-reduce of `bytes`.
    package func ringBytes(_ bytes: Int) -> Double {
        workers > 1 ? 2 * Double(workers - 1) / Double(workers) * Double(bytes) : 0
    }

    /// Seconds of a ring all-reduce of `bytes`.
    package func ringSeconds(_ bytes: Int) -> Double {
        workers > 1 ? 2 * Double(workers - 1) * alpha + ringBytes(bytes) * beta + ringBytes(bytes) / 2 * gamma : 0
    }

    /// Bytes one worker sends and receives to push and pull `rows` rows of `rowBytes`.
    package func psBytes(rows: Double, rowBytes: Int) -> Double { 2 * rows * Double(rowBytes) }

    /// Seconds of a push and pull of `rows` rows, the busiest of worker link and server links.
    package func psSeconds(rows: Double, rowBytes: Int) -> Double {
        let worker = psBytes(rows: rows, rowBytes: rowBytes)
        let server = worker * Double(workers) / Double(servers)
        return 2 * alpha + Swift.max(worker, server) * beta + server / 2 * gamma
    }
}
