import CHybridSync
import Foundation
import HybridSync

/// A `GradientSync` behind an `hs_sync` handle. Dense parameters live in library tensors (the
/// optimizer updates them in place); after every step and resume their values are written into the
/// caller's buffers, which `hs_sync_register` recorded. Gradient tensors are kept per parameter and
/// refilled each step, so a step allocates nothing for them.
final class Sync {
    struct DenseParam {
        let tensor: Tensor
        let gradient: Tensor
        let caller: UnsafeMutablePointer<Float>
    }

    let job: Job
    let sync: GradientSync
    var dense: [String: DenseParam] = [:]
    var order: [String] = []
    var dimensions: [String: Int] = [:]

    init(job: Job, sync: GradientSync) {
        self.job = job
        self.sync = sync
    }

    static func from(_ handle: OpaquePointer?) throws -> Sync { try Handles.shared.get(handle, as: Sync.self, what: "sync") }

    /// Writes every dense parameter's values into its caller's buffer.
    func publish() {
        for name in order {
            guard let p = dense[name] else { continue }
            p.caller.update(from: p.tensor.rawPointer.assumingMemoryBound(to: Float.self), count: p.tensor.count)
        }
    }

    func register(_ params: [hs_param]) throws {
        var list: [Parameter] = []
        var added: [String: DenseParam] = [:]
        var addedOrder: [String] = []
        var addedTables: [String: Int] = [:]
        for p in params {
            let pin: Route? = p.pin == HS_ROUTE_RING ? .ring : p.pin == HS_ROUTE_PS ? .ps : nil
            guard p.pin == HS_ROUTE_AUTO || pin != nil else { throw ABIError.argument(HS_ARG_RANGE, "pin \(p.pin.rawValue) is not an hs_route") }
            switch p.kind {
            case HS_PARAM_DENSE:
                let name = try Arguments.string(p.name, "dense parameter name")
                let values = try Arguments.array(p.data.map { UnsafePointer($0) }, p.count, "dense parameter '\(name)'")
                guard let caller = p.data, !values.isEmpty else {
                    throw ABIError.argument(HS_ARG_SHAPE, "dense parameter '\(name)' has no elements", subject: name)
                }
                guard dense[name] == nil, added[name] == nil else {
                    throw ABIError.argument(HS_ARG_NAME, "dense parameter '\(name)' is registered twice", subject: name)
                }
                let t = try Tensor(name: name, values: values)
                added[name] = DenseParam(tensor: t, gradient: try Tensor(name: name, dtype: .float32, count: values.count), caller: caller)
                addedOrder.append(name)
                list.append(Parameter(.dense(t, optimizer: try Arguments.optimizer(p.optimizer)), pin: pin))
            case HS_PARAM_TABLE:
                let spec = try Arguments.table(p.table)
                guard p.rows > 0, p.rows <= UInt64(Int.max / Swift.max(spec.dimension, 1)) else {
                    throw ABIError.argument(HS_ARG_RANGE, "table '\(spec.name)': rows \(p.rows) is out of range", subject: spec.name)
                }
                addedTables[spec.name] = spec.dimension
                list.append(Parameter(.embedding(spec, rows: Int(p.rows)), pin: pin))
            default:
                throw ABIError.argument(HS_ARG_RANGE, "parameter kind \(p.kind.rawValue) is not an hs_param_kind")
            }
        }
        try sync.register(list)
        dense.merge(added) { a, _ in a }
        order += addedOrder
        dimensions.merge(addedTables) { a, _ in a }
        publish()
    }

    func sparse(_ grads: [hs_sparse_grad]) throws -> [SparseRows] {
        try grads.map { g in
            let name = try Arguments.string(g.table, "table name")
            let ids = try Arguments.array(g.ids, g.nids, "ids of table '\(name)'")
            guard let dim = dimensions[name] else { throw HybridSyncError.unknownTable(name) }
            guard g.nvalues == ids.count * dim else {
                throw HybridSyncError.shapeMismatch(
                    what: "gradient rows of table '\(name)' (\(ids.count) ids x \(dim) floats)", expected: "\(ids.count * dim)", got: "\(g.nvalues)")
            }
            return SparseRows(table: name, ids: ids, values: try Arguments.array(g.values, g.nvalues, "gradient rows of table '\(name)'"))
        }
    }

    func gradients(_ grads: [hs_dense_grad]) throws -> [Tensor] {
        try grads.map { g in
            let name = try Arguments.string(g.name, "gradient name")
            guard let p = dense[name] else {
                throw ABIError.argument(HS_ARG_NAME, "gradient '\(name)' is not a registered dense parameter", subject: name)
            }
            guard g.count == p.gradient.count else {
                throw HybridSyncError.shapeMismatch(what: "gradient of '\(name)' (elements)", expected: "\(p.gradient.count)", got: "\(g.count)")
            }
            guard let data = g.data else { throw ABIError.argument(HS_ARG_SHAPE, "gradient of '\(name)' is NULL", subject: name) }
            p.gradient.rawPointer.copyMemory(from: data, byteCount: g.count * 4)
            return p.gradient
        }
    }

    /// The plan as JSON lines.
    var planText: String {
        sync.plan.map { e in
            let fields: [String: Any] = ["name": e.name, "route": e.route.rawValue, "bytes": e.bytes, "density": e.density, "reason": e.reason]
            let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self)
        }.joined(separator: "\n")
    }
}

@_cdecl("hs_sync_create")
public func hsSyncCreate(_ job: OpaquePointer?, _ strategy: hs_strategy, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        guard let out else { throw ABIError.argument(HS_ARG_HANDLE, "hs_sync_create needs a place for the sync") }
        let s: Strategy
        switch strategy {
        case HS_HYBRID: s = .hybrid
        case HS_ALLREDUCE_ONLY: s = .allreduce
        case HS_PS_ONLY: s = .ps
        default: throw ABIError.argument(HS_ARG_RANGE, "strategy \(strategy.rawValue) is not an hs_strategy")
        }
        let sync = try j.call { try GradientSync(runtime: $0, strategy: s) }
        let handle = Handles.shared.add(Sync(job: j, sync: sync))
        j.lock.lock()
        j.children.append(handle)
        j.lock.unlock()
        out.pointee = handle
    }
}

/// Runs `body` on the sync behind `handle`, under its job's rules (one call at a time, refused after a
/// failure of the job).
private func syncCall(_ handle: OpaquePointer?, _ body: (Sync) throws -> Void) -> hs_status {
    abiCall {
        let s = try Sync.from(handle)
        try s.job.call { _ in try body(s) }
    }
}

@_cdecl("hs_sync_register")
public func hsSyncRegister(_ sync: OpaquePointer?, _ params: UnsafePointer<hs_param>?, _ count: Int) -> hs_status {
    syncCall(sync) { s in try s.register(try Arguments.array(params, count, "parameters")) }
}

@_cdecl("hs_sync_pull")
public func hsSyncPull(
    _ sync: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ ids: UnsafePointer<UInt64>?, _ nids: Int, _ values: UnsafeMutablePointer<Float>?,
    _ nvalues: Int
) -> hs_status {
    syncCall(sync) { s in
        let (name, keys) = try Arguments.rows(table, ids, nids, nvalues, dimensions: s.dimensions)
        _ = try Arguments.buffer(values, nvalues, "rows of table '\(name)'")
        try KVCalls.write(try s.sync.pull(name, ids: keys), to: values, nvalues)
    }
}

@_cdecl("hs_sync_prefetch")
public func hsSyncPrefetch(_ sync: OpaquePointer?, _ table: UnsafePointer<CChar>?, _ ids: UnsafePointer<UInt64>?, _ nids: Int) -> hs_status {
    syncCall(sync) { s in
        let name = try Arguments.string(table, "table name")
        try s.sync.prefetch(name, ids: try Arguments.array(ids, nids, "ids of table '\(name)'"))
    }
}

@_cdecl("hs_sync_push_sparse")
public func hsSyncPushSparse(_ sync: OpaquePointer?, _ sparse: UnsafePointer<hs_sparse_grad>?, _ nsparse: Int) -> hs_status {
    syncCall(sync) { s in try s.sync.pushSparse(try s.sparse(try Arguments.array(sparse, nsparse, "sparse gradients"))) }
}

@_cdecl("hs_sync_step")
public func hsSyncStep(
    _ sync: OpaquePointer?, _ dense: UnsafePointer<hs_dense_grad>?, _ ndense: Int, _ sparse: UnsafePointer<hs_sparse_grad>?, _ nsparse: Int
) -> hs_status {
    syncCall(sync) { s in
        let grads = try s.gradients(try Arguments.array(dense, ndense, "dense gradients"))
        let rows = try s.sparse(try Arguments.array(sparse, nsparse, "sparse gradients"))
        try s.sync.step(dense: grads, sparse: rows)
        s.publish()
    }
}

@_cdecl("hs_sync_step_count")
public func hsSyncStepCount(_ sync: OpaquePointer?, _ steps: UnsafeMutablePointer<Int64>?) -> hs_status {
    syncCall(sync) { s in
        guard let steps else { throw ABIError.argument(HS_ARG_HANDLE, "hs_sync_step_count needs a place for the count") }
        steps.pointee = Int64(s.sync.stepCount)
    }
}

@_cdecl("hs_sync_checkpoint")
public func hsSyncCheckpoint(_ sync: OpaquePointer?, _ dir: UnsafePointer<CChar>?, _ keep: Int32) -> hs_status {
    syncCall(sync) { s in
        guard keep >= 1 else { throw ABIError.argument(HS_ARG_RANGE, "keep \(keep): at least 1 checkpoint is kept") }
        try s.sync.checkpoint(to: try Arguments.string(dir, "checkpoint folder"), keep: Int(keep))
    }
}

@_cdecl("hs_sync_checkpoint_in_background")
public func hsSyncCheckpointInBackground(_ sync: OpaquePointer?, _ dir: UnsafePointer<CChar>?, _ keep: Int32) -> hs_status {
    syncCall(sync) { s in
        guard keep >= 1 else { throw ABIError.argument(HS_ARG_RANGE, "keep \(keep): at least 1 checkpoint is kept") }
        try s.sync.checkpointInBackground(to: try Arguments.string(dir, "checkpoint folder"), keep: Int(keep))
    }
}

@_cdecl("hs_sync_finish_checkpoint")
public func hsSyncFinishCheckpoint(_ sync: OpaquePointer?) -> hs_status {
    syncCall(sync) { s in try s.sync.finishCheckpoint() }
}

@_cdecl("hs_sync_resume")
public func hsSyncResume(_ sync: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> hs_status {
    syncCall(sync) { s in
        try s.sync.resume(from: try Arguments.string(path, "checkpoint path"))
        s.publish()
    }
}

@_cdecl("hs_sync_resume_if_relaunched")
public func hsSyncResumeIfRelaunched(_ sync: OpaquePointer?, _ dir: UnsafePointer<CChar>?, _ step: UnsafeMutablePointer<Int64>?) -> hs_status {
    syncCall(sync) { s in
        guard let step else { throw ABIError.argument(HS_ARG_HANDLE, "hs_sync_resume_if_relaunched needs a place for the step") }
        let resumed = try s.sync.resumeIfRelaunched(from: try Arguments.string(dir, "checkpoint folder"))
        if resumed != nil { s.publish() }
        step.pointee = Int64(resumed ?? -1)
    }
}

@_cdecl("hs_sync_plan")
public func hsSyncPlan(_ sync: OpaquePointer?, _ text: UnsafeMutablePointer<CChar>?, _ capacity: Int, _ needed: UnsafeMutablePointer<Int>?) -> hs_status {
    syncCall(sync) { s in
        let utf8 = Array(s.planText.utf8)
        needed?.pointee = utf8.count + 1
        guard capacity > 0 else { return }
        guard let text else { throw ABIError.argument(HS_ARG_SHAPE, "plan text buffer is NULL with capacity \(capacity)") }
        let n = min(utf8.count, capacity - 1)
        utf8.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { UnsafeMutableRawPointer(text).copyMemory(from: base, byteCount: n) }
        }
        text[n] = 0
    }
}

@_cdecl("hs_sync_free")
public func hsSyncFree(_ sync: OpaquePointer?) -> hs_status {
    abiCall {
        _ = try Sync.from(sync)
        Handles.shared.remove(sync)
    }
}
