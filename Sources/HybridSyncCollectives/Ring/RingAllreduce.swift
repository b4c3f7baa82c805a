import HybridSyncCore

/// Ring all-reduce over a `RankTransport`: reduce-scatter, then all-gather.
///
/// Each step posts its receives before its sends and cuts the chunk into segments, so the reduction of
/// one segment overlaps the transfer of the next. The receive scratch is preallocated and reused.
/// Every wait has a deadline; on timeout the error names the neighbour that did not deliver.
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
            for s in 0..<schedule.stepsPerPhase {
                let (sendChunk, recvChunk) = schedule.reduceScatterStep(s)
                let sendRange = schedule.chunk(sendChunk), recvRange = schedule.chunk(recvChunk)
                let recvSegments = segments.segmentCount(recvRange)
                let deadline = Deadline.after(seconds: stepTimeoutSeconds)
                let t = Timeline.begin()
                defer { Timeline.end(t, "reduce-scatter \(s)", row: "worker \(comm.rank)", detail: "\(recvRange.count * w) bytes from rank \(schedule.left)") }
                for k in 0..<recvSegments {
                    let seg = segments.segment(k, of: recvRange)
                    try pending.receive(
                        into: .init(start: recvScratch + (seg.lowerBound - recvRange.lowerBound) * w, count: seg.count * w),
                        from: schedule.left, tag: Self.reduceScatterTag)
                }
                for k in 0..<segments.segmentCount(sendRange) {
                    let seg = segments.segment(k, of: sendRange)
                    try pending.send(.init(start: buffer + seg.lowerBound * w, count: seg.count * w), to: schedule.right, tag: Self.reduceScatterTag)
                }
                for k in 0..<recvSegments {
                    try pending.wait(k, deadline: deadline, operation: "ring reduce-scatter step \(s)")
                    let seg = segments.segment(k, of: recvRange)
                    ReductionKernels.accumulate(
                        dtype: dtype, buffer + seg.lowerBound * w,
                        recvScratch + (seg.lowerBound - recvRange.lowerBound) * w,
                        count: seg.count, op: op)
                }
                try pending.waitAll(deadline: deadline, operation: "ring reduce-scatter step \(s)")
            }
            if op == .average {
                let owned = schedule.chunk(schedule.ownedChunk)
                ReductionKernels.finishAverage(dtype: dtype, buffer + owned.lowerBound * w, count: owned.count, ranks: p)
            }
            for s in 0..<schedule.stepsPerPhase {
                let (sendChunk, recvChunk) = schedule.allGatherStep(s)
                let sendRange = schedule.chunk(sendChunk), recvRange = schedule.chunk(recvChunk)
                let deadline = Deadline.after(seconds: stepTimeoutSeconds)
                let t = Timeline.begin()
                defer { Timeline.end(t, "all-gather \(s)", row: "worker \(comm.rank)", detail: "\(recvRange.count * w) bytes from rank \(schedule.left)") }
                for k in 0..<gatherSegments.segmentCount(recvRange) {
                    let seg = gatherSegments.segment(k, of: recvRange)
                    try pending.receive(
                        into: .init(start: buffer + seg.lowerBound * w, count: seg.count * w),
                        from: schedule.left, tag: Self.allGatherTag)
                }
                for k in 0..<gatherSegments.segmentCount(sendRange) {
                    let seg = gatherSegments.segment(k, of: sendRange)
                    try pending.send(
                        .init(start: buffer + seg.lowerBound * w, count: seg.count * w),
                        to: schedule.right, tag: Self.allGatherTag)
                }
                try pending.waitAll(deadline: deadline, operation: "ring all-gather step \(s)")
            }
        } catch {
            // A timed-out receive may still land in the scratch: abandon it rather than reuse it.
            scratch.leak()
            throw error
        }
    }
}
