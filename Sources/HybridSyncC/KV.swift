import CHybridSync
import HybridSync

/// The parameter server on C buffers, one table per call.
enum KVCalls {
    static func rows(
        _ j: Job, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ nvalues: Int
    ) throws -> (table: String, keys: [UInt64]) {
        try Arguments.rows(table, keys, nkeys, nvalues, dimensions: j.dimensions)
    }

    static func push(
        _ j: Job, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafePointer<Float>?, _ nvalues: Int
    ) throws -> SparseRows {
        let (name, ks) = try rows(j, table, keys, nkeys, nvalues)
        return SparseRows(table: name, keys: ks, values: try Arguments.array(values, nvalues, "values of table '\(name)'"))
    }

    static func write(_ rows: PulledRows, to values: UnsafeMutablePointer<Float>?, _ nvalues: Int) throws {
        let out = try Arguments.buffer(values, nvalues, "rows of table '\(rows.table)'")
        guard rows.values.count == out.count else {
            throw HybridSyncError.shapeMismatch(what: "rows of table '\(rows.table)' (floats)", expected: "\(rows.values.count)", got: "\(out.count)")
        }
        _ = out.update(fromContentsOf: rows.values)
    }
}

/// An asynchronous request: the handle and, for a pull, where its rows go.
final class Request {
    let job: Job
    let handle: PSHandle
    let output: (values: UnsafeMutablePointer<Float>?, count: Int)?

    init(job: Job, handle: PSHandle, output: (UnsafeMutablePointer<Float>?, Int)?) {
        self.job = job
        self.handle = handle
        self.output = output
    }
}

@_cdecl("hs_optimizer_make")
public func hsOptimizerMake(_ kind: hs_optimizer_kind, _ learningRate: Float) -> hs_optimizer {
    hs_optimizer(kind: kind, learning_rate: learningRate, epsilon: 1e-8, initial_accumulator: 0.1, beta1: 0.9, beta2: 0.999)
}

@_cdecl("hs_table_make")
public func hsTableMake(_ name: UnsafePointer<CChar>?, _ dimension: Int32) -> hs_table {
    hs_table(
        name: name, dimension: dimension, optimizer: hsOptimizerMake(HS_SGD, 0.01), consistency: HS_ASP, staleness: 0,
        initializer: HS_INIT_ZEROS, init_value: 0, row_encoding: HS_ROWS_FLOAT32)
}

@_cdecl("hs_kv_declare")
public func hsKVDeclare(_ job: OpaquePointer?, _ tables: UnsafePointer<hs_table>?, _ count: Int) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        let specs = try Arguments.array(tables, count, "tables").map(Arguments.table)
        try j.call { runtime in
            try runtime.kv.declare(specs)
            for s in specs { j.dimensions[s.name] = s.dimension }
        }
    }
}

@_cdecl("hs_kv_push")
public func hsKVPush(
    _ job: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafePointer<Float>?,
    _ nvalues: Int
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        try j.call { try $0.kv.push([try KVCalls.push(j, table, keys, nkeys, values, nvalues)]) }
    }
}

@_cdecl("hs_kv_pull")
public func hsKVPull(
    _ job: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafeMutablePointer<Float>?,
    _ nvalues: Int
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        try j.call { runtime in
            let (name, ks) = try KVCalls.rows(j, table, keys, nkeys, nvalues)
            _ = try Arguments.buffer(values, nvalues, "rows of table '\(name)'")
            try KVCalls.write(try runtime.kv.pull([RowQuery(table: name, keys: ks)])[0], to: values, nvalues)
        }
    }
}

@_cdecl("hs_kv_push_pull")
public func hsKVPushPull(
    _ job: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafeMutablePointer<Float>?,
    _ nvalues: Int
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        try j.call { runtime in
            let rows = try KVCalls.push(j, table, keys, nkeys, values.map { UnsafePointer($0) }, nvalues)
            try KVCalls.write(try runtime.kv.pushPull([rows])[0], to: values, nvalues)
        }
    }
}

@_cdecl("hs_kv_end_step")
public func hsKVEndStep(
    _ job: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafePointer<Float>?,
    _ nvalues: Int
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        try j.call { runtime in
            let rows = nkeys == 0 && table == nil ? [] : [try KVCalls.push(j, table, keys, nkeys, values, nvalues)]
            try runtime.kv.endStep(pushing: rows).wait()
        }
    }
}

@_cdecl("hs_kv_barrier")
public func hsKVBarrier(_ job: OpaquePointer?) -> hs_status {
    abiCall { try Job.from(job).call { try $0.kv.barrier() } }
}

@_cdecl("hs_kv_clock")
public func hsKVClock(_ job: OpaquePointer?, _ clock: UnsafeMutablePointer<Int64>?) -> hs_status {
    abiCall {
        let value = try Job.from(job).call { $0.kv.clock }
        guard let clock else { throw ABIError.argument(HS_ARG_HANDLE, "hs_kv_clock needs a place for the clock") }
        clock.pointee = Int64(value)
    }
}

@_cdecl("hs_kv_push_async")
public func hsKVPushAsync(
    _ job: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafePointer<Float>?,
    _ nvalues: Int, _ request: UnsafeMutablePointer<OpaquePointer?>?
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        guard let request else { throw ABIError.argument(HS_ARG_HANDLE, "hs_kv_push_async needs a place for the request") }
        let handle = try j.call { try $0.kv.pushAsync([try KVCalls.push(j, table, keys, nkeys, values, nvalues)]) }
        request.pointee = Handles.shared.add(Request(job: j, handle: handle, output: nil))
    }
}

@_cdecl("hs_kv_pull_async")
public func hsKVPullAsync(
    _ job: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ values: UnsafeMutablePointer<Float>?,
    _ nvalues: Int, _ request: UnsafeMutablePointer<OpaquePointer?>?
) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        guard let request else { throw ABIError.argument(HS_ARG_HANDLE, "hs_kv_pull_async needs a place for the request") }
        let handle = try j.call { runtime in
            let (name, ks) = try KVCalls.rows(j, table, keys, nkeys, nvalues)
            _ = try Arguments.buffer(values, nvalues, "rows of table '\(name)'")
            return try runtime.kv.pullAsync([RowQuery(table: name, keys: ks)])
        }
        request.pointee = Handles.shared.add(Request(job: j, handle: handle, output: (values, nvalues)))
    }
}

@_cdecl("hs_request_wait")
public func hsRequestWait(_ request: OpaquePointer?) -> hs_status {
    abiCall {
        let r = try Handles.shared.get(request, as: Request.self, what: "request")
        Handles.shared.remove(request)
        do {
            let rows = try r.handle.wait()
            if let (values, count) = r.output { try KVCalls.write(rows[0], to: values, count) }
        } catch {
            let e = ABIError(error)
            if e.failsJob {
                r.job.lock.lock()
                if r.job.failure == nil { r.job.failure = e.message }
                r.job.lock.unlock()
            }
            throw error
        }
    }
}
