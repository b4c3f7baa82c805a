/// An all-reduce written as rounds, without any I/O, so a shell can start it, post one round's
/// transfers, go back to other work, and combine and post the next round when they have completed (the
/// dense path's buckets started during backward, `DenseSync+Started.swift`).
///
/// A round lists receives (into the bucket or into a same-sized `incoming` area, at the same element
/// offsets) and sends (always from the bucket); once every transfer of the round has completed, the
/// listed ranges of `incoming` are combined into the bucket (`bucket = bucket op incoming`), then the
/// listed ranges are averaged (divided by the rank count) when the op is `average`. The rounds are
/// those of the blocking algorithms, combining in the same order, so the bits are the same:
/// `recursiveDoubling` mirrors `RecursiveDoubling` (MPICH's fold-in for ranks beyond a power of two),
/// `ring` mirrors `RingAllreduce` (reduce-scatter, then all-gather, per `RingSchedule`).
package struct ReductionRound: Sendable, Equatable {
    /// Where a receive lands.
    package enum Target: Sendable, Equatable { case bucket, incoming }

    /// Receives: from `peer`, the elements `range`, into `target`.
    package var receives: [(peer: Int, range: Range<Int>, target: Target)] = []
    /// Sends: to `peer`, the bucket's elements `range`.
    package var sends: [(peer: Int, range: Range<Int>)] = []
    /// Ranges of `incoming` combined into the bucket once the round's transfers are done.
    package var combine: [Range<Int>] = []
    /// Ranges divided by the rank count after combining, when the op is `average`.
    package var average: [Range<Int>] = []

    package init() {}

    package static func == (a: ReductionRound, b: ReductionRound) -> Bool {
        a.receives.elementsEqual(b.receives) { $0.peer == $1.peer && $0.range == $1.range && $0.target == $1.target }
            && a.sends.elementsEqual(b.sends) { $0.peer == $1.peer && $0.range == $1.range }
            && a.combine == b.combine && a.average == b.average
    }
}

/// The two algorithms as rounds (see `ReductionRound`).
package enum ReductionRounds {
    /// Recursive doubling over `ranks` for `count` elements, as rank `rank` runs it: ceil(log2 p) rounds,
    /// plus one before and one after for the ranks folded in when p is not a power of two.
    package static func recursiveDoubling(rank: Int, ranks p: Int, count: Int) -> [ReductionRound] {
        guard p > 1 else { return [] }
        let all = 0..<count
        var powerOfTwo = 1
        while powerOfTwo * 2 <= p { powerOfTwo *= 2 }
        let extra = p - powerOfTwo
        var rounds: [ReductionRound] = []
        var virtualRank = rank - extra
        if rank < 2 * extra {
            var r = ReductionRound()
            if rank % 2 == 0 {
                r.sends = [(rank + 1, all)]
                virtualRank = -1
            } else {
                r.receives = [(rank - 1, all, .incoming)]
                r.combine = [all]
                virtualRank = rank / 2
            }
            rounds.append(r)
        }
        if virtualRank >= 0 {
            var mask = 1
            while mask < powerOfTwo {
                let v = virtualRank ^ mask
                let partner = v < extra ? 2 * v + 1 : v + extra
                var r = ReductionRound()
                r.receives = [(partner, all, .incoming)]
                r.sends = [(partner, all)]
                r.combine = [all]
                rounds.append(r)
                mask <<= 1
            }
        }
        if rank < 2 * extra {
            var r = ReductionRound()
            if rank % 2 == 1 { r.sends = [(rank - 1, all)] } else { r.receives = [(rank + 1, all, .bucket)] }
            rounds.append(r)
        }
        rounds[rounds.count - 1].average = [all]
        return rounds
    }

    /// The ring over `ranks` for `count` elements, as rank `rank` runs it: p - 1 reduce-scatter rounds,
    /// the owned chunk averaged after the last, then p - 1 all-gather rounds.
    package static func ring(rank: Int, ranks p: Int, count: Int) throws -> [ReductionRound] {
        guard p > 1 else { return [] }
        let schedule = try RingSchedule(rank: rank, ranks: p, count: count)
        var rounds: [ReductionRound] = []
        for s in 0..<schedule.stepsPerPhase {
            let (send, receive) = schedule.reduceScatterStep(s)
            var r = ReductionRound()
            r.receives = [(schedule.left, schedule.chunk(receive), .incoming)]
            r.sends = [(schedule.right, schedule.chunk(send))]
            r.combine = [schedule.chunk(receive)]
            rounds.append(r)
        }
        rounds[rounds.count - 1].average = [schedule.chunk(schedule.ownedChunk)]
        for s in 0..<schedule.stepsPerPhase {
            let (send, receive) = schedule.allGatherStep(s)
            var r = ReductionRound()
            r.receives = [(schedule.left, schedule.chunk(receive), .bucket)]
            r.sends = [(schedule.right, schedule.chunk(send))]
            rounds.append(r)
        }
        return rounds
    }
}
