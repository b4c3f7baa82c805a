import HybridSyncCore
import Logging

/// The dense path: named tensors queued, agreed on across ranks, fused and reduced (by recursive
/// doubling up to `recursiveDoublingBytes`, else over the ring; hierarchically when ranks share hosts).
///
/// Usage per step: `enqueue` each gradient, then `flush(op:)`; or `allreduce(_:op:)` for both at once.
/// Every rank must call `flush` the same number of times; the tensors it carries are checked across
/// ranks first (name, dtype, count, op), so a mismatch throws the same `HybridSyncError.mismatch` on every
/// rank and a missing rank throws `stalled` naming it.
///
/// Threading: one thread at a time.
public final class DenseSync {
    /// The ranks this object reduces over.
    public let communicator: Communicator
    /// The settings in force.
    package let config: DenseSyncConfig
    private var queue: [(Tensor, ReduceOp)] = []
    let fusion = ScratchBuffer()
    let scratch = ScratchBuffer()
    /// Statistics of the last flush, for benchmarks and the timeline.
    package internal(set) var lastBuckets = 0
    /// The batch last agreed, to agree on a repeat of it cheaply (`DenseSyncConfig.negotiationCache`).
    var negotiations = NegotiationCache()
    /// Flushes agreed by the full negotiation (the others were agreed by the cached check).
    package var fullNegotiations: Int { negotiations.fullNegotiations }
    /// Flushes whose cached check rode in a bucket's exchange (`flushFoldingTheCheck`).
    package internal(set) var foldedChecks = 0
    /// Buckets started ahead of the flush (`DenseSync+Started.swift`), and each index's buffers.
    var started: [StartedBucket] = []
    var startedBuffers: [Int: (fusion: ScratchBuffer, incoming: ScratchBuffer)] = [:]
    /// The last agreed batch and its buckets (a repeated batch reuses them).
    var lastPlan: (agreed: [TensorDescriptor], buckets: [FusionBucket])?

    /// Creates the dense path over `communicator`.
    public init(communicator: Communicator, config: DenseSyncConfig = DenseSyncConfig()) {
        self.communicator = communicator
        self.config = config
    }

    private var ring: RingAllreduce {
        RingAllreduce(segmentBytes: config.segmentBytes, stepTimeoutSeconds: config.timeoutSeconds)
    }

    /// Reduces one bucket's buffer: hierarchically when ranks share hosts (`groupByHost`) and the bucket
    /// is larger than `recursiveDoublingBytes`, else flat (small buckets are latency-bound, and flat
    /// recursive doubling has fewer rounds than the three levels).
    private func allreduce(_ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp) throws {
        guard let hosts, count * dtype.byteWidth > config.recursiveDoublingBytes else {
            return try flat(buffer, count: count, dtype: dtype, op: op, comm: communicator)
        }
        // Sums within the host, then across the leaders, then the leader's bits to its host; an average
        // divides once, at the end, by the whole job's rank count (as the flat algorithms do).
        let partial: ReduceOp = op == .average ? .sum : op
        do {
            try Timeline.span("within the host", row: row) { try flat(buffer, count: count, dtype: dtype, op: partial, comm: hosts.local) }
            if let leaders = hosts.leaders {
                try Timeline.span("across hosts", row: row) { try flat(buffer, count: count, dtype: dtype, op: partial, comm: leaders) }
            }
            try Timeline.span("host broadcast", row: row) {
                try TreeBroadcast(timeoutSeconds: config.timeoutSeconds).run(buffer, bytes: count * dtype.byteWidth, root: 0, comm: hosts.local)
            }
        } catch {
            // A level that failed leaves the job's communicator unusable too, as a flat failure would.
            communicator.markFailed(
                error as? HybridSyncError ?? .unusable("\(error)"),
                abandoned: [hosts.local, hosts.leaders].contains { $0?.hasAbandonedTransfers == true })
            throw error
        }
        if op == .average { ReductionKernels.finishAverage(dtype: dtype, buffer, count: count, ranks: communicator.size) }
    }

    /// One level's all-reduce, by the algorithm the size calls for.
    private func flat(_ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp, comm: Communicator) throws {
        if count * dtype.byteWidth <= config.recursiveDoublingBytes {
            try RecursiveDoubling(stepTimeoutSeconds: config.timeoutSeconds)
                .run(buffer, count: count, dtype: dtype, op: op, comm: comm, scratch: scratch)
        } else {
            try ring.run(buffer, count: count, dtype: dtype, op: op, comm: comm, scratch: scratch)
        }
    }

    /// The hierarchical all-reduce's two levels, when ranks share hosts (`DenseSync+Hosts.swift`).
    var hosts: HostGroups?

    /// Queues `tensor` for the next `flush`.
    public func enqueue(_ tensor: Tensor, op: ReduceOp = .average) {
        queue.append((tensor, op))
    }

    /// Agrees on the queued tensors with every rank, reduces them in fused buckets, and empties the queue.
    /// Collective: every rank must call it. Throws `mismatch`, `stalled`, `timeout` or `transport`.
    public func flush() throws {
        let batch = queue
        queue.removeAll(keepingCapacity: true)
        if try flushFoldingTheCheck(batch) { return }
        let agreed = try Timeline.span("negotiate", row: row, detail: "\(batch.count) tensors") {
            try negotiations.agree(batch.map { $0.0.descriptor(op: $0.1) }, comm: communicator, config: config, scratch: scratch)
        }
        var byName: [String: Tensor] = [:]
        for (t, _) in batch { byName[t.name] = t }
        let tensors = agreed.map { byName[$0.name]! }
        let buckets: [FusionBucket]
        if let plan = lastPlan, plan.agreed == agreed {
            buckets = plan.buckets
        } else {
            buckets = FusionPlan.buckets(for: agreed, thresholdBytes: config.fusionThresholdBytes, inPlaceBytes: config.fusionInPlaceBytes)
            lastPlan = (agreed, buckets)
        }
        lastBuckets = buckets.count
        for bucket in buckets {
            try Timeline.span("reduce bucket", row: row, detail: "\(bucket.members.count) tensors, \(bucket.byteCount) bytes") {
                try reduce(bucket, tensors: tensors)
            }
        }
    }

    /// This rank's row in the timeline.
    var row: String { "worker \(communicator.rank)" }

    /// Checks that every rank passes the same descriptors (any order): throws the same `mismatch` on
    /// every rank otherwise. Collective; used to agree on registrations before anything is sent.
    package func agree(_ descriptors: [TensorDescriptor]) throws {
        let negotiator = Negotiator(config: config)
        _ = try negotiator.negotiate(descriptors, comm: communicator)
    }

    /// Reduces `tensors` in place with `op`: `enqueue` each, then `flush`.
    public func allreduce(_ tensors: [Tensor], op: ReduceOp = .average) throws {
        for t in tensors { enqueue(t, op: op) }
        try flush()
    }

    func reduce(_ bucket: FusionBucket, tensors: [Tensor]) throws {
        if bucket.members.count == 1 {
            let t = tensors[bucket.members[0]]
            try guarding([t]) {
                try allreduce(t.rawPointer, count: t.count, dtype: t.dtype, op: bucket.op)
            }
            return
        }
        let members = bucket.members.map { tensors[$0] }
        let buffer = fusion.reserve(bucket.byteCount)
        pack(members, into: buffer)
        do {
            try allreduce(buffer, count: bucket.count, dtype: bucket.dtype, op: bucket.op)
        } catch {
            fusion.leak()
            throw error
        }
        unpack(from: buffer, into: members)
    }

    /// Copies a fused bucket's members, in order, into `buffer`.
    func pack(_ members: [Tensor], into buffer: UnsafeMutableRawPointer) {
        let t0 = Timeline.begin()
        var offset = 0
        for t in members {
            (buffer + offset).copyMemory(from: t.rawPointer, byteCount: t.byteCount)
            offset += t.byteCount
        }
        Timeline.end(t0, "fuse", row: row)
    }

    /// Copies a reduced bucket back into its members.
    func unpack(from buffer: UnsafeMutableRawPointer, into members: [Tensor]) {
        let t0 = Timeline.begin()
        var offset = 0
        for t in members {
            t.rawPointer.copyMemory(from: buffer + offset, byteCount: t.byteCount)
            offset += t.byteCount
        }
        Timeline.end(t0, "unfuse", row: row)
    }

    /// Copies `tensor` from `root` to every rank (initial parameter sync). Collective.
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        let negotiator = Negotiator(config: config)
        _ = try negotiator.negotiate([tensor.descriptor(op: .sum)], comm: communicator)
        guard tensor.byteCount <= Int(Int32.max) else {
            throw HybridSyncError.invalidArgument(.limit, "broadcast of '\(tensor.name)': \(tensor.byteCount) bytes exceeds 2 GiB")
        }
        try guarding([tensor]) {
            try TreeBroadcast(timeoutSeconds: config.timeoutSeconds)
                .run(tensor.rawPointer, bytes: tensor.byteCount, root: root, comm: communicator)
        }
    }

    /// Gathers every rank's `tensor` into a new tensor of `size * count` elements, rank order. Collective.
    public func allgather(_ tensor: Tensor) throws -> Tensor {
        let negotiator = Negotiator(config: config)
        _ = try negotiator.negotiate([tensor.descriptor(op: .sum)], comm: communicator)
        let out = try Tensor(name: tensor.name, dtype: tensor.dtype, count: tensor.count * communicator.size)
        (out.rawPointer + communicator.rank * tensor.byteCount).copyMemory(from: tensor.rawPointer, byteCount: tensor.byteCount)
        try guarding([out]) {
            try RingAllgather(timeoutSeconds: config.timeoutSeconds)
                .run(out.rawPointer, blockBytes: tensor.byteCount, comm: communicator)
        }
        return out
    }

    /// Runs a collective on `tensors`' memory; if it fails leaving transfers the transport could not
    /// cancel, their storage is quarantined so no late receive can write into memory the caller gets back.
    func guarding(_ tensors: [Tensor], _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            let levels = [hosts?.local, hosts?.leaders].compactMap { $0 }
            if communicator.hasAbandonedTransfers || levels.contains(where: \.hasAbandonedTransfers) {
                for t in tensors { t.quarantineStorage() }
                config.logger.error(
                    "collective abandoned transfers that could not be cancelled; tensor storage quarantined",
                    metadata: ["tensors": "\(tensors.map(\.name))"])
            }
            throw error
        }
    }
}
