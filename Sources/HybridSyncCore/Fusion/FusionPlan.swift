/// Groups tensors into fusion buckets, as a pure function.
///
/// Tensors are taken in the given (agreed) order and grouped by element type and op; each group is cut
/// into buckets of at most `thresholdBytes`. A tensor of at least `inPlaceBytes` (or larger than the
/// threshold) forms a bucket of its own and is reduced in place, without a copy: fusing it would save
/// one message's latency and cost two copies of its bytes.
package struct FusionBucket: Sendable, Equatable {
    /// Indices into the descriptor list, in packing order.
    package var members: [Int]
    /// Element type shared by the members.
    package let dtype: DType
    /// Op shared by the members.
    package let op: ReduceOp
    /// Total elements of the bucket.
    package var count: Int

    /// Bytes of the bucket's data.
    package var byteCount: Int { count * dtype.byteWidth }
}

/// Plans fusion buckets (see `FusionBucket`).
package enum FusionPlan {
    /// Default fusion threshold: 64 MiB.
    package static let defaultThresholdBytes = 64 << 20

    /// Plans buckets for `descriptors`. Zero-length tensors are skipped.
    package static func buckets(for descriptors: [TensorDescriptor], thresholdBytes: Int, inPlaceBytes: Int = .max) -> [FusionBucket] {
        var open: [String: FusionBucket] = [:]
        var done: [FusionBucket] = []
        var keyOrder: [String] = []
        for (i, d) in descriptors.enumerated() where d.count > 0 {
            if d.byteCount >= thresholdBytes || d.byteCount >= inPlaceBytes {
                done.append(FusionBucket(members: [i], dtype: d.dtype, op: d.op, count: d.count))
                continue
            }
            let key = "\(d.dtype.rawValue)/\(d.op.rawValue)"
            if var b = open[key] {
                if b.byteCount + d.byteCount > thresholdBytes {
                    done.append(b)
                    b = FusionBucket(members: [], dtype: d.dtype, op: d.op, count: 0)
                }
                b.members.append(i)
                b.count += d.count
                open[key] = b
            } else {
                open[key] = FusionBucket(members: [i], dtype: d.dtype, op: d.op, count: d.count)
                keyOrder.append(key)
            }
        }
        for key in keyOrder { if let b = open[key] { done.append(b) } }
        return done
    }
}
