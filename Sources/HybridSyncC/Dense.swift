import CHybridSync
import HybridSync

/// The dense collectives on C buffers. The buffer is copied into a library tensor (64-byte aligned,
/// the library's own, so a transfer cut short by a failure can never write into the caller's memory
/// afterwards) and the result copied back: one memory pass each way.
enum DenseCalls {
    static func tensor(_ name: UnsafePointer<CChar>?, _ data: UnsafeRawPointer?, _ count: Int, _ dtype: hs_dtype) throws -> Tensor {
        let name = try Arguments.string(name, "tensor name")
        let type = try Arguments.dtype(dtype)
        let bytes = try Arguments.bytes(data, count, type, "tensor '\(name)' data")
        let t = try Tensor(name: name, dtype: type, count: count)
        if let base = bytes.baseAddress { t.rawPointer.copyMemory(from: base, byteCount: bytes.count) }
        return t
    }

    static func copy(_ t: Tensor, to data: UnsafeMutableRawPointer?) {
        if let data, t.byteCount > 0 { data.copyMemory(from: t.rawPointer, byteCount: t.byteCount) }
    }
}

@_cdecl("hs_allreduce")
public func hsAllreduce(
    _ job: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafeMutableRawPointer?, _ count: Int, _ dtype: hs_dtype, _ op: hs_op
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        let t = try DenseCalls.tensor(name, data, count, dtype)
        let reduce = try Arguments.op(op)
        try j.call { try $0.dense.allreduce([t], op: reduce) }
        DenseCalls.copy(t, to: data)
    }
}

@_cdecl("hs_broadcast")
public func hsBroadcast(
    _ job: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafeMutableRawPointer?, _ count: Int, _ dtype: hs_dtype, _ root: Int32
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        let t = try DenseCalls.tensor(name, data, count, dtype)
        try j.call { runtime in
            let size = runtime.dense.communicator.size
            guard (0..<size).contains(Int(root)) else {
                throw ABIError.argument(HS_ARG_RANGE, "broadcast of '\(t.name)': root \(root) is not a worker (0 ..< \(size))", subject: t.name)
            }
            try runtime.dense.broadcast(t, root: Int(root))
        }
        DenseCalls.copy(t, to: data)
    }
}

@_cdecl("hs_allgather")
public func hsAllgather(
    _ job: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafeRawPointer?, _ count: Int, _ dtype: hs_dtype,
    _ out: UnsafeMutableRawPointer?, _ outCount: Int
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        let t = try DenseCalls.tensor(name, data, count, dtype)
        try j.call { runtime in
            let want = count * runtime.dense.communicator.size
            guard outCount == want else {
                throw HybridSyncError.shapeMismatch(what: "all-gather output of '\(t.name)' (elements)", expected: "\(want)", got: "\(outCount)")
            }
            _ = try Arguments.bytes(out, outCount, t.dtype, "all-gather output of '\(t.name)'")
            DenseCalls.copy(try runtime.dense.allgather(t), to: out)
        }
    }
}
