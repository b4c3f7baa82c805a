/// A bucket's bytes as the consecutive regions they live in: one contiguous buffer, or the members'
/// own tensors back to back (a fused bucket reduced without copying it into a fusion buffer). Every
/// rank lays out a bucket's members alike, so cutting a byte range at the regions' edges gives the
/// same pieces on every rank, and a message sent from one region lands in one region.
struct BucketMemory {
    private let bases: [UnsafeMutableRawPointer]
    /// Byte offset of each region in the bucket, and the total after the last.
    private let starts: [Int]

    /// The bucket as `regions` (pointer, bytes), in order.
    init(_ regions: [(UnsafeMutableRawPointer, Int)]) {
        bases = regions.map(\.0)
        var starts = [0]
        for (_, bytes) in regions { starts.append(starts[starts.count - 1] + bytes) }
        self.starts = starts
    }

    /// The bucket's bytes `range`, cut at the regions' edges: each span's offset in the bucket, its
    /// memory and its length.
    func spans(_ range: Range<Int>) -> [(offset: Int, pointer: UnsafeMutableRawPointer, count: Int)] {
        if bases.count == 1 { return range.isEmpty ? [] : [(range.lowerBound, bases[0] + range.lowerBound, range.count)] }
        var out: [(offset: Int, pointer: UnsafeMutableRawPointer, count: Int)] = []
        // The region holding range.lowerBound: the last start at or before it.
        var lo = 0, hi = bases.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= range.lowerBound { lo = mid } else { hi = mid - 1 }
        }
        var offset = range.lowerBound
        var region = lo
        while offset < range.upperBound && region < bases.count {
            let end = Swift.min(range.upperBound, starts[region + 1])
            if end > offset { out.append((offset, bases[region] + (offset - starts[region]), end - offset)) }
            offset = end
            region += 1
        }
        return out
    }
}
