import HybridSyncCore
import Synchronization

/// Recursive-doubling all-reduce, the latency-optimal algorithm for small buffers: log2(p) rounds in
/// each of which a rank swaps its whole buffer with the rank whose index differs from its own in one
/// bit, and reduces. Cost: ceil(log2 p) message latencies and n log2(p) bytes sent per rank, against
/// the ring's 2(p - 1) latencies and 2 n (p - 1) / p bytes; `DenseSync` picks it up to
/// `DenseSyncConfig.recursiveDoublingBytes`.
///
/// Ranks beyond the largest power of two below p fold in first (MPICH's scheme): of the first
/// 2 (p - 2^k) ranks, each even one hands its buffer to the odd one after it, which takes part in the
/// rounds for both and hands the result back at the end (two more latencies). The rounds are defined
/// once, in `ReductionRounds.recursiveDoubling`; this blocking shell and `StartedReduction` both run them.
///
/// Every rank ends with the same bits: at each round the two partners combine the same two partial
/// results, `a op b` on one side and `b op a` on the other, and every supported op is commutative.
struct RecursiveDoubling {
    /// Seconds a single round may wait for its partner.
    var stepTimeoutSeconds: Double = 60

    static let tag: Int32 = 105
    /// Buffers up to `piecesUpTo` bytes (of payload; the `maxWords` ride along) travel in pieces of at
    /// most `pieceBytes`. Open MPI's shared memory sends a message of up to 4 KiB (its
    /// `btl_vader_eager_limit`, header included) in one copy through a shared queue, and a larger one by
    /// a rendezvous and a `process_vm_readv` call. At 2 ranks a 4 KiB buffer took 6.2 us whole and 3.8 us
    /// as two pieces, 8 KiB 7.2 and 5.2 us, 16 KiB 8.7 and 7.6 us; from 32 KiB on the single copy wins.
    static let pieceBytes = 4000
    static let piecesUpTo = 16 << 10

    /// Reduces `count` elements of `dtype` at `buffer` in place across every rank of `comm`; and, when
    /// `maxWords` > 0, as many `Int64` words after them (at the next multiple of 8 bytes) under `max`,
    /// in the same messages (`DenseSync` folds its agreement check into a bucket this way).
    func run(
        _ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp,
        comm: Communicator, scratch: ScratchBuffer, maxWords: Int = 0
    ) throws {
        try comm.checkUsable()
        let p = comm.size, rank = comm.rank
        guard p > 1, count > 0 || maxWords > 0 else { return }
        let payload = count * dtype.byteWidth, trailer = Self.trailerOffset(payload)
        let bytes = maxWords > 0 ? trailer + 8 * maxWords : payload
        func combine(_ incoming: UnsafeMutableRawPointer) {
            ReductionKernels.accumulate(dtype: dtype, buffer, incoming, count: count, op: op)
            if maxWords > 0 { ReductionKernels.accumulate(dtype: .int64, buffer + trailer, incoming + trailer, count: maxWords, op: .max) }
        }
        let incoming = scratch.reserve(bytes)
        let pieces = pieces(bytes, payload: payload)
        var pending = PendingTransfers(comm, capacity: 2 * pieces.count)
        // The rounds (fold-in, the swaps, fold-out) are `ReductionRounds.recursiveDoubling`'s, over the
        // whole message as one unit: each receive takes the message piece by piece into `incoming` (or,
        // folding out, into `buffer`), each send gives `buffer`; pieces of one pair keep their order.
        let rounds = Self.rounds(rank: rank, ranks: p)
        do {
            for (i, r) in rounds.enumerated() {
                for (peer, _, target) in r.receives {
                    let to = target == .bucket ? buffer : incoming
                    for c in pieces { _ = try pending.receive(into: .init(start: to + c.lowerBound, count: c.count), from: peer, tag: Self.tag) }
                }
                for (peer, _) in r.sends {
                    for c in pieces { try pending.send(.init(start: buffer + c.lowerBound, count: c.count), to: peer, tag: Self.tag) }
                }
                try pending.waitAll(deadline: .after(seconds: stepTimeoutSeconds), operation: "recursive doubling: round \(i + 1) of \(rounds.count)")
                if !r.combine.isEmpty { combine(incoming) }
            }
        } catch {
            // A timed-out receive may still land in the scratch: abandon it rather than reuse it.
            scratch.leak()
            throw error
        }
        if op == .average { ReductionKernels.finishAverage(dtype: dtype, buffer, count: count, ranks: p) }
    }

    /// Rank `rank`'s rounds among `ranks`, over one unit (the whole message), made once per pair.
    static func rounds(rank: Int, ranks: Int) -> [ReductionRound] {
        roundsCache.withLock { cache in
            if let r = cache[rank << 32 | ranks] { return r }
            let r = ReductionRounds.recursiveDoubling(rank: rank, ranks: ranks, count: 1)
            cache[rank << 32 | ranks] = r
            return r
        }
    }
    private static let roundsCache = Mutex<[Int: [ReductionRound]]>([:])

    /// The byte ranges a message of `bytes` (`payload` of them data) travels in.
    private func pieces(_ bytes: Int, payload: Int) -> [Range<Int>] {
        payload <= Self.piecesUpTo ? Self.cut(bytes, by: Self.pieceBytes) : [0..<bytes]
    }

    /// `0..<bytes` cut into ranges of at most `size` bytes, in order.
    static func cut(_ bytes: Int, by size: Int) -> [Range<Int>] {
        stride(from: 0, to: bytes, by: size).map { $0..<min(bytes, $0 + size) }
    }

    /// Two ranks only: one exchange of `buffer`'s `count` elements and of the check's two words (a
    /// 16-byte message beside them); the partner's elements are combined into `buffer` only if it sent
    /// the same words, so `buffer` is untouched otherwise. Returns whether the words agreed (on both
    /// ranks alike). `DenseSync` folds its check into a tensor reduced in place this way, without
    /// copying it into a bucket.
    func exchangeChecked(
        _ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp,
        words: (Int64, Int64), comm: Communicator, scratch: ScratchBuffer
    ) throws -> Bool {
        try comm.checkUsable()
        guard comm.size == 2 else { throw HybridSyncError.invalidArgument(.unsupported, "a checked exchange is for 2 ranks, not \(comm.size)") }
        let bytes = count * dtype.byteWidth, trailer = Self.trailerOffset(bytes), partner = 1 - comm.rank
        let incoming = scratch.reserve(trailer + 16)
        let pieces = pieces(bytes, payload: bytes)
        var pending = PendingTransfers(comm, capacity: 2 * pieces.count + 2)
        do {
            return try withUnsafeTemporaryAllocation(of: Int64.self, capacity: 2) { mine in
                (mine[0], mine[1]) = words
                for c in pieces { _ = try pending.receive(into: .init(start: incoming + c.lowerBound, count: c.count), from: partner, tag: Self.tag) }
                _ = try pending.receive(into: .init(start: incoming + trailer, count: 16), from: partner, tag: Self.tag)
                for c in pieces { try pending.send(.init(start: buffer + c.lowerBound, count: c.count), to: partner, tag: Self.tag) }
                try pending.send(.init(mine), to: partner, tag: Self.tag)
                try pending.waitAll(deadline: .after(seconds: stepTimeoutSeconds), operation: "recursive doubling: checked exchange")
                let theirs = (incoming + trailer).assumingMemoryBound(to: Int64.self)
                guard (theirs[0], theirs[1]) == words else { return false }
                ReductionKernels.accumulate(dtype: dtype, buffer, incoming, count: count, op: op)
                if op == .average { ReductionKernels.finishAverage(dtype: dtype, buffer, count: count, ranks: 2) }
                return true
            }
        } catch {
            scratch.leak()
            throw error
        }
    }

    /// Where the `Int64` words after a payload of `bytes` start.
    static func trailerOffset(_ bytes: Int) -> Int { (bytes + 7) & ~7 }
}
