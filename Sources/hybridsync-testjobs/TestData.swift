import HybridSyncCore

/// Deterministic test inputs: small integers (-8...8), so sums over up to 5 ranks are exact in every
/// element type, float16 included.
enum TestData {
    static func value(rank: Int, index: Int, salt: Int) -> Int {
        ((rank &* 131 &+ index &* 31 &+ salt &* 7) % 17 + 17) % 17 - 8
    }

    static func input<T: ReducibleElement>(_: T.Type, rank: Int, count: Int, salt: Int) -> [T] {
        (0..<count).map { T(exactly: value(rank: rank, index: $0, salt: salt)) }
    }

    /// The serial reference: the inputs of ranks 0..<ranks reduced in rank order.
    static func reference<T: ReducibleElement>(_: T.Type, ranks: Int, count: Int, salt: Int, op: ReduceOp) -> [T] {
        var acc = input(T.self, rank: 0, count: count, salt: salt)
        for r in 1..<max(ranks, 1) {
            let x = input(T.self, rank: r, count: count, salt: salt)
            acc.withUnsafeMutableBufferPointer { a in
                x.withUnsafeBufferPointer { b in
                    guard let ab = a.baseAddress, let bb = b.baseAddress else { return }
                    ReductionKernels.accumulate(ab, bb, count: count, op: op)
                }
            }
        }
        if op == .average {
            acc.withUnsafeMutableBufferPointer { a in
                if let ab = a.baseAddress { ReductionKernels.finishAverage(ab, count: count, ranks: ranks) }
            }
        }
        return acc
    }

    /// Elements where `a` and `b` differ.
    static func mismatches<T: ReducibleElement>(_ a: [T], _ b: [T]) -> Int {
        guard a.count == b.count else { return max(a.count, b.count) }
        var n = 0
        for i in a.indices where a[i] != b[i] { n += 1 }
        return n
    }
}
