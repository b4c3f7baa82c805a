import HybridSyncCore

/// The alpha-beta-gamma cost model the planner routes by (Thakur, Rabenseifner and Gropp 2005):
///
/// - ring all-reduce of `n` bytes over `p` workers: `2 (p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma`;
///   with `g = ranksPerHost > 1` workers a host, the hierarchical all-reduce instead: a ring within the
///   host over shared memory (`localAlpha`, `localBeta`), a ring across the `H = ceil(p / g)` hosts'
///   leaders, and a binomial broadcast within the host: `T_ring(g; local) + T_ring(H) + ceil(lg g)
///   (localAlpha + n localBeta)`;
/// - parameter server, a worker touching `r` rows of `b` bytes with `S` servers: the worker sends and
///   receives `2 r b` bytes, each server carries `p r b 2 / S` and applies `p r b / S` bytes of
///   gradients, so `2 alpha + max(2 r b, 2 p r b / S) beta + p r b / S gamma`.
///
/// Calibrated on a job's own network (`Calibration.probe`), the model is per message-size regime
/// instead: the ring's time is a curve measured at several bucket sizes (`CostCurve`), a pull's and a
/// push's a latency plus a per-row and a per-byte term fitted to several probes (`RequestCost`), both
/// measured with every worker at it, so they include the servers' load and the cores' sharing.
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
    /// Workers a host (1: every worker on its own host, the flat ring).
    package var ranksPerHost = 1
    /// Seconds per message and per byte between ranks of one host (shared memory).
    package var localAlpha = 5e-6
    package var localBeta = 1.0 / 10e9
    /// The ring's measured seconds by bucket size (`Calibration.probe`); when set, it prices the ring
    /// instead of alpha, beta and gamma.
    package var ringCurve: CostCurve?
    /// A pull's and a push's measured cost (`Calibration.probe`); when set, they price the parameter
    /// servers instead of alpha, beta and gamma.
    package var pullCost: RequestCost?
    package var pushCost: RequestCost?
    /// Seconds per byte of one pass over memory too large for the caches (a parameter's local update
    /// reads and writes it a few times a step).
    package var localPass = 0.1e-9

    package init(alpha: Double = 50e-6, beta: Double = 1.0 / 1.0e9, gamma: Double = 0.1e-9, workers: Int, servers: Int) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.workers = Swift.max(1, workers)
        self.servers = Swift.max(1, servers)
    }

    /// Bytes one worker sends in a ring all-reduce of `bytes`.
    package func ringBytes(_ bytes: Int) -> Double { Self.moved(bytes, ranks: workers) }

    /// Bytes each of `p` ranks sends in a ring all-reduce of `bytes`: `2 (p-1)/p n`.
    static func moved(_ bytes: Int, ranks p: Int) -> Double { p > 1 ? 2 * Double(p - 1) / Double(p) * Double(bytes) : 0 }

    /// Seconds of a ring all-reduce of `bytes` (hierarchical when workers share hosts).
    package func ringSeconds(_ bytes: Int) -> Double {
        if let ringCurve { return ringCurve.seconds(Double(bytes)) }
        guard ranksPerHost > 1, workers > ranksPerHost else { return Self.ring(bytes, ranks: workers, alpha, beta, gamma) }
        let g = ranksPerHost, hosts = (workers + g - 1) / g
        let broadcastRounds = Double(Int.bitWidth - (g - 1).leadingZeroBitCount)
        return Self.ring(bytes, ranks: g, localAlpha, localBeta, gamma) + Self.ring(bytes, ranks: hosts, alpha, beta, gamma)
            + broadcastRounds * (localAlpha + Double(bytes) * localBeta)
    }

    /// `2 (p-1) a + 2 (p-1)/p n b + (p-1)/p n c`.
    static func ring(_ bytes: Int, ranks p: Int, _ a: Double, _ b: Double, _ c: Double) -> Double {
        guard p > 1 else { return 0 }
        let moved = moved(bytes, ranks: p)
        return 2 * Double(p - 1) * a + moved * b + moved / 2 * c
    }

    /// Bytes one worker sends and receives to push and pull `rows` rows of `rowBytes`.
    package func psBytes(rows: Double, rowBytes: Int) -> Double { 2 * rows * Double(rowBytes) }

    /// Seconds of a push and pull of `rows` rows, the busiest of worker link and server links.
    package func psSeconds(rows: Double, rowBytes: Int) -> Double {
        if let pullCost, let pushCost {
            let bytes = rows * Double(rowBytes)
            return pullCost.seconds(keys: rows, bytes: bytes) + pushCost.seconds(keys: rows, bytes: bytes)
        }
        let worker = psBytes(rows: rows, rowBytes: rowBytes)
        let server = worker * Double(workers) / Double(servers)
        return 2 * alpha + Swift.max(worker, server) * beta + server / 2 * gamma
    }
}
