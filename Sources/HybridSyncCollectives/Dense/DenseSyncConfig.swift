import HybridSyncCore
import Logging

/// Settings of the dense path.
public struct DenseSyncConfig: Sendable {
    /// Tensors are packed into fusion buckets of at most this many bytes (default 64 MiB).
    public var fusionThresholdBytes: Int = FusionPlan.defaultThresholdBytes
    /// Tensors of at least this many bytes are reduced in place, each on its own, instead of being
    /// copied into a fusion bucket and back (the copies cost more than the message latency they save).
    /// `Int.max` fuses everything below `fusionThresholdBytes`. The default, 64 KiB, is measured by
    /// `hybridsync bench allreduce --fusion-in-place-bytes` on the project's machine (Docs/Benchmarks.md).
    package var fusionInPlaceBytes: Int = 64 << 10
    /// Ring segment size in bytes (default 1 MiB, the best of 64 KiB-4 MiB measured here).
    public var segmentBytes: Int = 1 << 20
    /// Buckets of at most this many bytes are reduced by recursive doubling (log2 p latencies) instead
    /// of the ring (2(p - 1) latencies); 0 turns recursive doubling off. The default is the crossover
    /// measured by `hybridsync bench allreduce` on the project's machine (Docs/Benchmarks.md).
    public var recursiveDoublingBytes: Int = 64 << 10
    /// Whether a batch identical to the last agreed one is agreed by one small all-reduce of its
    /// fingerprint instead of the full negotiation (Horovod's response cache; default on). A batch
    /// that differs anywhere falls back to the full negotiation, which raises the same error on every
    /// rank.
    package var negotiationCache = true
    /// Seconds after which a rank that has not submitted a batch is reported (default 60, as Horovod).
    public var stallSeconds: Double = 60
    /// Whether a stall raises on the waiting ranks or is logged (default: raise).
    public var stallAction: StallAction = .raise
    /// Longest any single wait may last, whatever `stallAction` says (default 600 s).
    public var timeoutSeconds: Double = 600
    /// Where stalls, timeouts and rejected messages are logged (label `hybridsync.dense`; the level is
    /// the logging system's, `info` unless the program set another).
    public var logger = Logger(label: "hybridsync.dense")

    public init() {}
}
