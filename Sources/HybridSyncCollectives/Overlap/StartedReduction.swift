import HybridSyncCore

/// One bucket's all-reduce, started and then moved on without blocking: the shell that drives
/// `ReductionRounds` over a `RankTransport`. `advance` tests the current round's transfers and, for as
/// many rounds as have completed, combines what arrived and posts the next. Its owner waits by calling
/// `advance` on every bucket in flight in turn (a rank blocked on one bucket could hold up a round of
/// another that a partner waits for), and calls `expire` when none has moved for its limit.
///
/// Every started bucket has its own tag, so buckets in flight at once never take each other's
/// messages, whatever order ranks start them in. A bucket of at most `DenseSyncConfig.recursiveDoublingBytes`
/// goes by recursive doubling (in pieces of at most `RecursiveDoubling.pieceBytes` up to
/// `RecursiveDoubling.piecesUpTo`, as the blocking path sends), a larger one by the ring, both flat.
///
/// Memory: the bucket (a tensor reduced in place or a fusion buffer) and `incoming` must stay valid until it is done or has thrown; after a failure that
/// left transfers the transport could not cancel (`Communicator.hasAbandonedTransfers`) they must never
/// be reused.
final class StartedReduction {
    private let comm: Communicator
    private let rounds: [ReductionRound]
    private let memory: UnsafeMutableRawPointer
    private let incoming: UnsafeMutableRawPointer
    private let dtype: DType
    private let op: ReduceOp
    private let tag: Int32
    private let pieceBytes: Int
    private let label: String
    private var next = 0
    private var pending: PendingTransfers

    /// Posts the first round of reducing the `count` elements at `memory` (with `incoming` as large)
    /// and returns without waiting.
    init(
        _ memory: UnsafeMutableRawPointer, incoming: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp,
        tag: Int32, comm: Communicator, config: DenseSyncConfig, label: String
    ) throws {
        try comm.checkUsable()
        let bytes = count * dtype.byteWidth
        let doubling = bytes <= config.recursiveDoublingBytes
        rounds =
            doubling
            ? ReductionRounds.recursiveDoubling(rank: comm.rank, ranks: comm.size, count: count)
            : try ReductionRounds.ring(rank: comm.rank, ranks: comm.size, count: count)
        pieceBytes = doubling && bytes <= RecursiveDoubling.piecesUpTo ? RecursiveDoubling.pieceBytes : max(4096, config.segmentBytes)
        (self.comm, self.memory, self.incoming, self.dtype, self.op, self.tag) = (comm, memory, incoming, dtype, op, tag)
        self.label = label
        pending = PendingTransfers(comm, capacity: 2 * (bytes / pieceBytes + 2))
        do {
            try post()
        } catch {
            // Nothing of a round half posted may land later: cancel what was posted.
            if !pending.cancelAll() { comm.markFailed(.unusable("a started bucket's first round could not be cancelled"), abandoned: true) }
            throw error
        }
    }

    /// Whether every round has completed.
    var isDone: Bool { next == rounds.count && pending.isEmpty }

    /// Completes as many rounds as have arrived, without waiting. Returns `isDone`.
    @discardableResult
    func advance() throws -> Bool {
        while !isDone, try pending.poll() { try complete() }
        return isDone
    }

    /// Rounds completed or posted: it grows whenever the reduction moves on.
    var progress: Int { next + (isDone ? 1 : 0) }

    /// Tests once more after its caller has waited `seconds` without progress: throws the timeout
    /// naming the ranks this round still waits for (cancelling the round), or moves on if it came.
    func expire(after seconds: Double) throws {
        try pending.waitAll(deadline: .passed(budgetSeconds: seconds), operation: "\(label), round \(next) of \(rounds.count)")
        try complete()
    }

    /// Cancels whatever is still posted. Returns false if the transport could not confirm every
    /// cancellation (the memory must then never be reused).
    func cancel() -> Bool { pending.cancelAll() }

    /// Combines the round just completed and posts the next one.
    private func complete() throws {
        let r = rounds[next - 1]
        let w = dtype.byteWidth
        for c in r.combine {
            ReductionKernels.accumulate(dtype: dtype, memory + c.lowerBound * w, incoming + c.lowerBound * w, count: c.count, op: op)
        }
        if op == .average {
            for a in r.average { ReductionKernels.finishAverage(dtype: dtype, memory + a.lowerBound * w, count: a.count, ranks: comm.size) }
        }
        if next < rounds.count { try post() }
    }

    /// Posts round `next`'s receives, then its sends, cut into pieces (the same cuts on every rank, so
    /// each message matches one receive), and moves `next` on.
    private func post() throws {
        guard next < rounds.count else { return }
        let r = rounds[next]
        let w = dtype.byteWidth
        for (peer, range, target) in r.receives {
            let base = (target == .bucket ? memory : incoming) + range.lowerBound * w
            for piece in RecursiveDoubling.cut(range.count * w, by: pieceBytes) {
                try pending.receive(into: .init(start: base + piece.lowerBound, count: piece.count), from: peer, tag: tag)
            }
        }
        for (peer, range) in r.sends {
            for piece in RecursiveDoubling.cut(range.count * w, by: pieceBytes) {
                try pending.send(.init(start: memory + range.lowerBound * w + piece.lowerBound, count: piece.count), to: peer, tag: tag)
            }
        }
        next += 1
    }
}
