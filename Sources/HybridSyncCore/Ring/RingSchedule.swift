/// The schedule of a ring all-reduce, without any I/O.
///
/// The buffer of `count` elements is cut into `ranks` chunks whose lengths differ by at most one.
/// Reduce-scatter runs `ranks - 1` steps: at step `s` rank `r` sends chunk `(r - s) mod p` to its right
/// neighbour and receives chunk `(r - s - 1) mod p` from its left neighbour, which it reduces into its
/// own copy. Rank `r` then owns the fully reduced chunk `(r + 1) mod p`. All-gather runs `ranks - 1`
/// more steps: at step `s` rank `r` sends chunk `(r + 1 - s) mod p` and receives chunk `(r - s) mod p`,
/// which it stores. Each rank sends `2 (p - 1) / p * count` elements in all.
package struct RingSchedule: Sendable, Equatable {
    /// This rank, in `0..<ranks`.
    package let rank: Int
    /// The number of ranks in the ring.
    package let ranks: Int
    /// The number of elements in the buffer.
    package let count: Int

    /// Creates the schedule. Throws `invalidArgument` if `rank` is outside `0..<ranks` or a value is negative.
    package init(rank: Int, ranks: Int, count: Int) throws {
        guard ranks >= 1, (0..<ranks).contains(rank), count >= 0 else {
            throw HybridSyncError.invalidArgument(
                .range, "ring schedule needs 0 <= rank < ranks and count >= 0; got rank \(rank), ranks \(ranks), count \(count)")
        }
        self.rank = rank
        self.ranks = ranks
        self.count = count
    }

    /// The left neighbour (the one this rank receives from).
    package var left: Int { (rank - 1 + ranks) % ranks }
    /// The right neighbour (the one this rank sends to).
    package var right: Int { (rank + 1) % ranks }
    /// Steps in each of the two phases.
    package var stepsPerPhase: Int { ranks - 1 }

    /// The element range of chunk `c`.
    package func chunk(_ c: Int) -> Range<Int> {
        let base = count / ranks, extra = count % ranks
        let start = c * base + Swift.min(c, extra)
        return start..<(start + base + (c < extra ? 1 : 0))
    }

    /// Chunks sent and received at reduce-scatter step `s`.
    package func reduceScatterStep(_ s: Int) -> (send: Int, receive: Int) {
        (mod(rank - s), mod(rank - s - 1))
    }

    /// Chunks sent and received at all-gather step `s`.
    package func allGatherStep(_ s: Int) -> (send: Int, receive: Int) {
        (mod(rank + 1 - s), mod(rank - s))
    }

    /// The chunk this rank holds fully reduced after reduce-scatter.
    package var ownedChunk: Int { mod(rank + 1) }

    /// Elements this rank sends over the whole all-reduce.
    package var elementsSent: Int {
        var total = 0
        for s in 0..<stepsPerPhase {
            total += chunk(reduceScatterStep(s).send).count + chunk(allGatherStep(s).send).count
        }
        return total
    }

    private func mod(_ x: Int) -> Int { ((x % ranks) + ranks) % ranks }
}

/// Cuts a range into segments of at most `maxLength` elements, so that reduction of one segment can
/// overlap the transfer of the next.
package struct Segmentation: Sendable, Equatable {
    /// Largest segment, in elements (at least 1).
    package let maxLength: Int

    /// Creates a segmentation of at most `maxLength` elements a segment (clamped to at least 1).
    package init(maxLength: Int) { self.maxLength = Swift.max(1, maxLength) }

    /// Creates a segmentation from a byte size and an element width.
    package init(segmentBytes: Int, elementWidth: Int) {
        self.init(maxLength: segmentBytes / Swift.max(1, elementWidth))
    }

    /// The number of segments of `range`.
    package func segmentCount(_ range: Range<Int>) -> Int {
        (range.count + maxLength - 1) / maxLength
    }

    /// Segment `i` of `range`.
    package func segment(_ i: Int, of range: Range<Int>) -> Range<Int> {
        let start = range.lowerBound + i * maxLength
        return start..<Swift.min(range.upperBound, start + maxLength)
    }
}
