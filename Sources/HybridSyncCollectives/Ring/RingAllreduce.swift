import HybridSyncCore

/// Ring all-reduce over a `RankTransport`: reduce-scatter, then all-gather.
///
/// Each step posts its receives before its sends and cuts the chunk into segments, so the reduction of
/// one segment overlaps the transfer of the next. The receive scratch is preallocated and reused.
/// Every wait has a deadline; on timeout the error names the neighbour that did not deliver. The rounds
/// are defined once, in `ReductionRounds.ring`; this blocking shell and `StartedReduction` both run them.
struct RingAllreduce {
    /// Bytes per segment (default 256 KiB).
    var segmentBytes: Int = 256 << 10
    /// Seconds a single step may wait for a neighbour.
    var stepTimeoutSeconds: Double = 60

    static let reduceScatterTag: Int32 = 101
    static let allGatherTag: Int32 = 102

    /// Reduces `count` elements of `dtype` at `buffer` in place across every rank of `comm`.
    func run(
        _ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp,
        comm: Communicator, scratch: ScratchBuffer
    ) throws {
        try comm.checkUsable()
        let p = comm.size
        guard p > 1, count > 0 else { return }
        let schedule = try RingSchedule(rank: comm.rank, ranks: p, count: count)
        let w = dtype.byteWidth
        let segments = Segmentation(segmentBytes: segmentBytes, elementWidth: w)
        // All-gather needs no reduction, so it moves larger pieces (bounded to keep MPI's int counts safe).
        let gatherSegments = Segmentation(segmentBytes: 64 << 20, elementWidth: w)
        let recvScratch = scratch.reserve(schedule.chunk(0).count * w)
        var pending = PendingTransfers(comm, capacity: 2 * segments.segmentCount(schedule.chunk(0)) + 2)
        do {
            // The rounds are `ReductionRounds.ring`'s: p - 1 that receive a chunk into the scratch and
            // combine it (reduce-scatter), the owned chunk averaged after the last, then p - 1 that receive
            // a chunk in place (all-gather). A reduce-scatter round combines segment by segment as each
            // arrives, so the reduction of one overlaps the transfer of the next.
            for (i, r) in try ReductionRounds.ring(rank: comm.rank, ranks: p, count: count).enumerated() {
                let reducing = !r.combine.isEmpty
                let (peer, recvRange, _) = r.receives[0]
                let (to, sendRange) = r.sends[0]
                let cut = reducing ? segments : gatherSegments
                let step = reducing ? i : i - schedule.stepsPerPhase
                let name = reducing ? "reduce-scatter" : "all-gather"
                let deadline = Deadline.after(seconds: stepTimeoutSeconds)
                let t = Timeline.begin()
                defer { Timeline.end(t, "\(name) \(step)", row: "worker \(comm.rank)", detail: "\(recvRange.count * w) bytes from rank \(peer)") }
                // Reducing, a segment lands in the scratch at its offset within the chunk; gathering, in place.
                func landing(_ seg: Range<Int>) -> UnsafeMutableRawPointer {
                    reducing ? recvScratch + (seg.lowerBound - recvRange.lowerBound) * w : buffer + seg.lowerBound * w
                }
                let recvSegments = cut.segmentCount(recvRange)
                for k in 0..<recvSegments {
                    let seg = cut.segment(k, of: recvRange)
                    try pending.receive(
                        into: .init(start: landing(seg), count: seg.count * w), from: peer, tag: reducing ? Self.reduceScatterTag : Self.allGatherTag)
                }
                for k in 0..<cut.segmentCount(sendRange) {
                    let seg = cut.segment(k, of: sendRange)
                    try pending.send(
                        .init(start: buffer + seg.lowerBound * w, count: seg.count * w), to: to, tag: reducing ? Self.reduceScatterTag : Self.allGatherTag)
                }
                if reducing {
                    for k in 0..<recvSegments {
                        try pending.wait(k, deadline: deadline, operation: "ring reduce-scatter step \(step)")
                        let seg = cut.segment(k, of: recvRange)
                        ReductionKernels.accumulate(dtype: dtype, buffer + seg.lowerBound * w, landing(seg), count: seg.count, op: op)
                    }
                }
                try pending.waitAll(deadline: deadline, operation: "ring \(name) step \(step)")
                if op == .average {
                    for a in r.average { ReductionKernels.finishAverage(dtype: dtype, buffer + a.lowerBound * w, count: a.count, ranks: p) }
                }
            }
        } catch {
            // A timed-out receive may still land in the scratch: abandon it rather than reuse it.
            scratch.leak()
            throw error
        }
    }
}
