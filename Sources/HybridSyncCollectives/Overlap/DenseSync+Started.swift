import HybridSyncCore

/// A bucket started ahead of the flush: its reduction, its tensors, and whether it was copied into a
/// fusion buffer (to be copied back when done).
struct StartedBucket {
    let index: Int
    let reduction: StartedReduction
    let tensors: [Tensor]
    let fused: Bool
}

extension DenseSync {
    /// Bucket indices `start` takes are below this (each started bucket has its own message tag).
    package static let maxStartedBuckets = 4096
    private static let firstStartedTag: Int32 = 1000

    /// Starts reducing `tensors` with `op` as bucket `index` now, and returns without waiting (PyTorch
    /// DDP's buckets, started while backward goes on): one tensor is reduced in place; several are
    /// copied into this bucket's own fusion buffer. `advanceStarted` moves it on without blocking;
    /// `finishStarted` waits for it (and copies a fused bucket back).
    ///
    /// Every rank must start the same buckets (same index, same tensors' sizes and dtypes in the same
    /// order), in any order: it is not negotiated, so the caller derives the buckets from something
    /// already agreed (`GradientSync` from its registration). A rank that never starts a bucket is named
    /// by the others' `finishStarted` when their wait runs out (the negotiation's stall limit).
    /// The tensors must not be read or written until `finishStarted` returns.
    package func start(bucket index: Int, _ tensors: [Tensor], op: ReduceOp) throws {
        guard (0..<Self.maxStartedBuckets).contains(index) else {
            throw HybridSyncError.invalidArgument(.range, "bucket index \(index) is outside 0..<\(Self.maxStartedBuckets)")
        }
        try launch(index, tensors, op: op)
    }

    func launch(_ index: Int, _ tensors: [Tensor], op: ReduceOp) throws {
        guard !started.contains(where: { $0.index == index }) else {
            throw HybridSyncError.invalidArgument(.order, "bucket \(index) was already started")
        }
        guard let dtype = tensors.first?.dtype, tensors.allSatisfy({ $0.dtype == dtype }) else {
            throw HybridSyncError.invalidArgument(.dtype, "bucket \(index) needs tensors of one dtype")
        }
        let count = tensors.reduce(0) { $0 + $1.count }
        guard count > 0 else { return }
        let buffers = startedBuffers[index] ?? (ScratchBuffer(), ScratchBuffer())
        startedBuffers[index] = buffers
        let fused = tensors.count > 1
        let memory: UnsafeMutableRawPointer
        if fused {
            memory = buffers.fusion.reserve(count * dtype.byteWidth)
            pack(tensors, into: memory)
        } else {
            memory = tensors[0].rawPointer
        }
        let t0 = Timeline.begin()
        let reduction: StartedReduction
        do {
            reduction = try StartedReduction(
                memory, incoming: buffers.incoming.reserve(count * dtype.byteWidth), count: count,
                dtype: dtype, op: op, tag: Self.firstStartedTag + Int32(index), comm: communicator,
                config: config, label: "started bucket \(index)")
        } catch {
            // The buckets already in flight cannot finish without this one on every rank.
            abandonStarted(error)
            throw error
        }
        started.append(StartedBucket(index: index, reduction: reduction, tensors: tensors, fused: fused))
        Timeline.end(t0, "start bucket \(index)", row: row, detail: "\(tensors.count) tensors, \(count * dtype.byteWidth) bytes")
    }

    /// Moves every started bucket on as far as its messages have arrived, without waiting.
    package func advanceStarted() throws {
        do {
            for b in started { try b.reduction.advance() }
        } catch {
            abandonStarted(error)
            throw error
        }
    }

    /// Waits for every started bucket to finish, copies fused ones back into their tensors, and forgets
    /// them. It moves all of them on in turn: ranks may have started them in different orders. When
    /// none has moved for the negotiation's stall limit (a rank that did not start a bucket, a dead
    /// peer), it throws the timeout naming the ranks waited for; every started bucket is then cancelled
    /// and the communicator becomes unusable.
    package func finishStarted() throws {
        let limit = NegotiationCache.checkSeconds(config)
        do {
            try Timeline.span("finish buckets", row: row, detail: "\(started.count) started") {
                var backoff = Backoff()
                var lastMove = ContinuousClock.now
                var progress = started.map(\.reduction.progress)
                while true {
                    for b in started { try b.reduction.advance() }
                    let now = started.map(\.reduction.progress)
                    if started.allSatisfy(\.reduction.isDone) { break }
                    if now != progress {
                        (progress, lastMove, backoff) = (now, .now, Backoff())
                    } else if secondsSince(lastMove) > limit, let stuck = started.first(where: { !$0.reduction.isDone }) {
                        try stuck.reduction.expire(after: limit)
                    } else {
                        try backoff.pause(checking: communicator.transport.interrupter)
                    }
                }
            }
        } catch {
            abandonStarted(error)
            throw error
        }
        for b in started where b.fused { unpack(from: startedBuffers[b.index]!.fusion.pointer, into: b.tensors) }
        started.removeAll(keepingCapacity: true)
    }

    /// Whether a bucket is started and not yet finished.
    package var hasStartedBuckets: Bool { !started.isEmpty }

    /// After a failure: cancels every started bucket and marks the communicator failed (messages of the
    /// buckets are half exchanged); if a cancellation could not be confirmed, their memory is abandoned
    /// (buffers leaked, tensors reduced in place quarantined).
    private func abandonStarted(_ error: Error) {
        var confirmed = true
        for b in started { confirmed = b.reduction.cancel() && confirmed }
        communicator.markFailed(error as? HybridSyncError ?? .unusable("\(error)"), abandoned: !confirmed)
        if communicator.hasAbandonedTransfers {
            for b in started {
                startedBuffers[b.index]?.fusion.leak()
                startedBuffers[b.index]?.incoming.leak()
                if !b.fused { b.tensors.forEach { $0.quarantineStorage() } }
            }
        }
        started.removeAll()
    }
}
