/// Element-wise reduction kernels used by the ring and by the parameter server.
///
/// They work on unsafe buffers that the caller keeps alive for the duration of the call.
package enum ReductionKernels {
    /// `dst[i] = op(dst[i], src[i])` for `i < count`. For `average`, this accumulates the sum; call
    /// `finishAverage` once all contributions are in.
    @inlinable
    package static func accumulate<T: ReducibleElement>(
        _ dst: UnsafeMutablePointer<T>, _ src: UnsafePointer<T>, count: Int, op: ReduceOp
    ) {
        switch op {
        case .sum, .average:
            for i in 0..<count { dst[i] = T.reduceAdd(dst[i], src[i]) }
        case .min:
            for i in 0..<count where src[i] < dst[i] { dst[i] = src[i] }
        case .max:
            for i in 0..<count where src[i] > dst[i] { dst[i] = src[i] }
        }
    }

    /// Divides each of `count` elements by `ranks` (the final step of `average`).
    @inlinable
    package static func finishAverage<T: ReducibleElement>(_ dst: UnsafeMutablePointer<T>, count: Int, ranks: Int) {
        guard ranks > 1 else { return }
        for i in 0..<count { dst[i] = T.divide(dst[i], by: ranks) }
    }

    /// Dispatches `accumulate` on a runtime `DType` over raw bytes.
    ///
    /// `count` is in elements; both pointers must hold `count * dtype.byteWidth` bytes.
    package static func accumulate(
        dtype: DType, _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, count: Int, op: ReduceOp
    ) {
        switch dtype {
        case .float32: accumulate(dst.assumingMemoryBound(to: Float.self), src.assumingMemoryBound(to: Float.self), count: count, op: op)
        case .float64: accumulate(dst.assumingMemoryBound(to: Double.self), src.assumingMemoryBound(to: Double.self), count: count, op: op)
        case .float16: accumulate(dst.assumingMemoryBound(to: Float16.self), src.assumingMemoryBound(to: Float16.self), count: count, op: op)
        case .int32: accumulate(dst.assumingMemoryBound(to: Int32.self), src.assumingMemoryBound(to: Int32.self), count: count, op: op)
        case .int64: accumulate(dst.assumingMemoryBound(to: Int64.self), src.assumingMemoryBound(to: Int64.self), count: count, op: op)
        }
    }

    /// Dispatches `finishAverage` on a runtime `DType` over raw bytes.
    package static func finishAverage(dtype: DType, _ dst: UnsafeMutableRawPointer, count: Int, ranks: Int) {
        switch dtype {
        case .float32: finishAverage(dst.assumingMemoryBound(to: Float.self), count: count, ranks: ranks)
        case .float64: finishAverage(dst.assumingMemoryBound(to: Double.self), count: count, ranks: ranks)
        case .float16: finishAverage(dst.assumingMemoryBound(to: Float16.self), count: count, ranks: ranks)
        case .int32: finishAverage(dst.assumingMemoryBound(to: Int32.self), count: count, ranks: ranks)
        case .int64: finishAverage(dst.assumingMemoryBound(to: Int64.self), count: count, ranks: ranks)
        }
    }
}
