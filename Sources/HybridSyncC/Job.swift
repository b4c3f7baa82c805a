import CHybridSync
import Foundation
import HybridSync
import Logging

/// One rank's job behind an `hs_job` handle: the runtime (nil on a dedicated server rank), the first
/// failure that ended it, and what was made from it.
final class Job {
    let runtime: HybridRuntime?
    let info: hs_job_info
    /// Serialises the calls on this job (C may call from any thread).
    let lock = NSLock()
    /// The first failure of the job itself; every later call is refused naming it.
    var failure: String?
    /// Table dimensions this worker declared through `hs_kv_declare`, to check buffers before sending.
    var dimensions: [String: Int] = [:]
    /// Handles made from this job (gradient syncs), freed with it.
    var children: [OpaquePointer] = []

    init(runtime: HybridRuntime?, info: hs_job_info) {
        self.runtime = runtime
        self.info = info
    }

    /// Runs `body` on this worker's runtime, one call at a time: refused after a failure of the job,
    /// and a failure of the job (not of the caller's input) recorded for every later call.
    func call<R>(_ body: (HybridRuntime) throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw HybridSyncError.unusable(failure) }
        guard let runtime else {
            throw ABIError.argument(HS_ARG_ORDER, "this rank is a dedicated server: it has no worker calls (hs_job_get_info's is_worker is 0)")
        }
        do {
            return try body(runtime)
        } catch {
            let e = ABIError(error)
            if e.failsJob { failure = e.message }
            throw error
        }
    }

    static func from(_ handle: OpaquePointer?) throws -> Job { try Handles.shared.get(handle, as: Job.self, what: "job") }
}

@_cdecl("hs_job_options_init")
public func hsJobOptionsInit(_ o: UnsafeMutablePointer<hs_job_options>?) {
    o?.pointee = hs_job_options(servers: 1, dedicated: 1, spares: 0)
}

@_cdecl("hs_job_start")
public func hsJobStart(_ options: UnsafePointer<hs_job_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> hs_status {
    abiCall {
        guard let options, let out else { throw ABIError.argument(HS_ARG_HANDLE, "hs_job_start needs options and a place for the job") }
        let o = options.pointee
        guard o.servers >= 1, o.spares >= 0, o.dedicated == 0 || o.dedicated == 1 else {
            throw ABIError.argument(HS_ARG_CONFIGURATION, "servers \(o.servers) (at least 1), spares \(o.spares), dedicated \(o.dedicated) (0 or 1)")
        }
        let layout = HybridLayout(servers: Int(o.servers), placement: o.dedicated == 1 ? .dedicated : .colocated, spares: Int(o.spares))
        let (runtime, rank, size) = try HybridRuntime.begin(layout: layout)
        let info = hs_job_info(
            rank: Int32(rank), world: Int32(size), is_worker: runtime == nil ? 0 : 1,
            worker: Int32(runtime?.dense.communicator.rank ?? -1), workers: Int32(layout.workers(worldSize: size)),
            servers: o.servers)
        out.pointee = Handles.shared.add(Job(runtime: runtime, info: info))
    }
}

@_cdecl("hs_job_get_info")
public func hsJobGetInfo(_ job: OpaquePointer?, _ info: UnsafeMutablePointer<hs_job_info>?) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        guard let info else { throw ABIError.argument(HS_ARG_HANDLE, "hs_job_get_info needs a place for the info") }
        info.pointee = j.info
    }
}

@_cdecl("hs_job_end")
public func hsJobEnd(_ job: OpaquePointer?, _ failed: Int32) -> hs_status {
    abiCall {
        let j = try Job.from(job)
        // A failed rank does not wait for a call another thread is still inside (a wait with its own
        // deadline): it leaves that thread and the runtime as they are, for the process to exit.
        if failed != 0, !j.lock.try() {
            Handles.shared.remove(job)
            return
        } else if failed == 0 {
            j.lock.lock()
        }
        defer { j.lock.unlock() }
        Handles.shared.remove(job)
        for child in j.children { Handles.shared.remove(child) }
        try j.runtime?.end(failed: failed != 0 || j.failure != nil, logger: Logger(label: "hybridsync.c"))
    }
}
