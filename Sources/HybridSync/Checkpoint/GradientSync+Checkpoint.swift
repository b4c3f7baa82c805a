import Foundation
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

extension GradientSync {
    /// Writes a checkpoint of the whole job at this step boundary into `root/step-N`: every server's
    /// shard (rows, optimizer state, per-row steps, table specs, clocks), and from worker 0 the dense
    /// parameters and their optimizer state, the plan (routes, observed densities), the tables held on
    /// the ring, and the step; then a manifest naming every file with its size and CRC-32C. Returns when
    /// the checkpoint is complete; `checkpointInBackground` returns as soon as it is taken.
    ///
    /// Collective over the workers, between two `step`s. Written into a temporary directory, fsynced,
    /// then renamed: a crash in the middle leaves the previous checkpoint whole. The newest `keep` are
    /// kept. Servers write their shards themselves, so `root` must be reachable at the same path from
    /// every server (one host, or a shared file system). Throws on every worker if any part failed.
    public func checkpoint(to root: String, keep: Int = 3) throws {
        try checkpointInBackground(to: root, keep: keep)
        try finishCheckpoint()
    }

    /// Takes the checkpoint `checkpoint(to:keep:)` writes, and returns as soon as every part is
    /// snapshotted: the servers write their shards from copy-on-write snapshots while they go on
    /// applying pushes, and worker 0 fsyncs the parts, writes the manifest and moves the checkpoint in
    /// place on a thread of its own, while training continues. The checkpoint is complete (loadable)
    /// only when all of that is done.
    ///
    /// Collective over the workers, between two `step`s. One checkpoint is in flight at a time: this
    /// call and `checkpoint` first finish the one before (`finishCheckpoint`), so a failure of a
    /// background checkpoint is thrown on every worker at the next of these calls, always as
    /// `HybridSyncError.checkpoint` (a caller may train on: the previous complete checkpoint stays). Call
    /// `finishCheckpoint` before the job ends; a job that ends or dies first leaves the previous
    /// complete checkpoint in place.
    public func checkpointInBackground(to root: String, keep: Int = 3) throws {
        try finishCheckpoint()
        let rank = runtime.dense.communicator.rank, step = stepCount
        try Timeline.span("checkpoint", row: "worker \(rank)", detail: "step \(step)") {
            // Every server has every worker's last clock (so the step's BSP pushes are applied) once each
            // worker has its acknowledgements and all have met at the barrier.
            try runtime.kv.barrier()
            var failure: (any Error)?
            var completion: CheckpointCompletion?
            if rank == 0 {
                do { completion = try startCheckpoint(root: CheckpointDirectory.absolute(root), keep: keep) } catch { failure = error }
            }
            // No worker goes on to the next step before every server has its snapshot.
            try agreeOnOutcome(failure.map { Self.asCheckpointError($0, root) }, what: "take the checkpoint of step \(step) in \(root)")
            pendingCheckpoint = (root, step, completion)
        }
    }

    /// Waits until the checkpoint `checkpointInBackground` started is complete; throws on every worker
    /// if it failed. Returns at once when none is in flight. Collective over the workers.
    public func finishCheckpoint() throws {
        guard let pending = pendingCheckpoint else { return }
        pendingCheckpoint = nil
        try Timeline.span("checkpoint finish", row: row, detail: "step \(pending.step)") {
            let failure = pending.completion?.wait().map { Self.asCheckpointError($0, pending.root) }
            try agreeOnOutcome(failure, what: "write the checkpoint of step \(pending.step) in \(pending.root)")
        }
    }

    /// Continues from the checkpoint at `path` (a `step-N` directory, or the root holding them: then the
    /// newest complete one). Call after `register` with the same parameters. Every file is checked
    /// against the manifest first, so a damaged checkpoint is refused before anything changes. The
    /// server count may differ from the checkpoint's (rows are placed by this job's consistent hash);
    /// the worker count must be the same. Collective over the workers.
    ///
    /// Resume before the first step: a job that has stepped holds rows the checkpoint does not know
    /// (made since it was taken), which a resume would leave in place, so it throws
    /// `invalidArgument(.order, ...)` instead. To go back, start the job anew and resume.
    public func resume(from path: String) throws {
        guard stepCount == 0 else {
            throw HybridSyncError.invalidArgument(
                .order,
                "resume after \(stepCount) steps: rows made since the checkpoint would survive it; start the job anew and resume before its first step")
        }
        let dir = try CheckpointDirectory.resolve(CheckpointDirectory.absolute(path))
        let manifest = try CheckpointManifest.read(directory: dir)
        guard manifest.workers == workers else {
            throw HybridSyncError.checkpoint(
                .incompatible, file: dir, reason: "taken with \(manifest.workers) workers; this job has \(workers) (resume needs the same worker count)")
        }
        try manifest.verify(directory: dir)
        try readWorkerState(dir + "/worker.state")
        var failure: (any Error)?
        if runtime.dense.communicator.rank == 0 {
            do {
                // Two chunks in flight: the servers set one while the next is read and sent.
                var pending: [PSHandle] = []
                for f in manifest.files where f.name.hasSuffix(".shard") {
                    _ = try ShardFile.read(path: dir + "/" + f.name) { spec, rows in
                        guard !rows.isEmpty else { return }
                        pending.append(try runtime.kv.startRestore(table: spec, rows: rows, clock: manifest.step))
                        if pending.count > 2 { _ = try pending.removeFirst().wait() }
                    }
                }
                for h in pending { _ = try h.wait() }
                // Every server's clocks, also on servers that got no rows.
                try runtime.kv.restore(table: TableSpec(name: "", dimension: 1), rows: CheckpointRows(), clock: manifest.step)
            } catch { failure = error }
        }
        try agreeOnOutcome(failure, what: "restore the servers from \(dir)")
        runtime.kv.restoreClock(manifest.step)
        try runtime.kv.barrier()
    }

    /// Continues from the newest complete checkpoint under `root` when this job is a relaunch of one
    /// that failed (`Launch/mpirun --max-restarts N` sets `HYBRIDSYNC_RESTART` to the launch's number)
    /// and such a checkpoint exists; returns the step it resumed at. Returns nil, changing nothing, on
    /// a first launch or when no checkpoint completed before the failure (the job then starts over).
    /// Call where `resume` would be called. Collective over the workers: if they see different newest
    /// checkpoints (a directory not shared between their hosts), every worker throws
    /// `checkpoint(.incompatible, ...)`.
    public func resumeIfRelaunched(from root: String) throws -> Int? {
        guard LaunchEnvironment().restart > 0 else { return nil }
        let newest = CheckpointDirectory.complete(in: CheckpointDirectory.absolute(root)).last?.step ?? -1
        let seen = try Tensor(name: "hybridsync.relaunch", values: [Int32(clamping: newest), Int32(clamping: -newest)])
        try runtime.dense.allreduce([seen], op: .max)
        let steps = try seen.values(as: Int32.self)
        guard steps[0] == -steps[1] else {
            throw HybridSyncError.checkpoint(
                .incompatible, file: root,
                reason: "workers see different newest checkpoints (steps \(-steps[1]) to \(steps[0]); -1: none): the directory must be shared")
        }
        guard newest >= 0 else { return nil }
        try resume(from: root)
        return stepCount
    }

    /// A checkpoint's failure on worker 0 as the `checkpoint` error every other worker throws for it
    /// (a server's refusal, a lost server, a file system error alike), so every worker can tell a failed
    /// checkpoint from a failed step the same way.
    private static func asCheckpointError(_ e: any Error, _ root: String) -> HybridSyncError {
        if let e = e as? HybridSyncError, case .checkpoint = e { return e }
        return .checkpoint(.io, file: root, reason: "\(e)")
    }

    /// Every worker learns whether worker 0 succeeded; worker 0 throws its own error, the others a
    /// checkpoint error naming what failed.
    private func agreeOnOutcome(_ failure: (any Error)?, what: String) throws {
        let status = try Tensor(name: "hybridsync.checkpoint", values: [Int32(failure == nil ? 0 : 1)])
        try runtime.dense.allreduce([status], op: .max)
        if let failure { throw failure }
        if try status.values(as: Int32.self)[0] != 0 {
            throw HybridSyncError.checkpoint(.io, file: "(worker 0)", reason: "worker 0 could not \(what)")
        }
    }

    /// Worker 0: makes the temporary directory, has every server snapshot its shard into it, writes its
    /// own part, and leaves the rest to a `CheckpointCompletion`.
    private func startCheckpoint(root: String, keep: Int) throws -> CheckpointCompletion {
        let fm = FileManager.default
        let tmp = root + "/.step-\(stepCount).tmp"
        do {
            try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
            if fm.fileExists(atPath: tmp) { try fm.removeItem(atPath: tmp) }
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        } catch {
            throw HybridSyncError.checkpoint(.io, file: tmp, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        try runtime.kv.startCheckpointServers(into: tmp)
        let (size, crc) = try writeWorkerState(tmp + "/worker.state")
        return CheckpointCompletion(
            kv: runtime.kv, root: root, tmp: tmp, step: stepCount, workers: workers, keep: keep,
            worker: .init(name: "worker.state", size: size, crc32c: crc))
    }

    // MARK: - Worker state

    private func writeWorkerState(_ path: String) throws -> (Int, UInt32) {
        let w = try CheckpointWriter(path: path)
        try w.write(CheckpointFormat.magic)
        try w.write(CheckpointFormat.version)
        try w.write(CheckpointFormat.workerState)
        try w.write(Int64(stepCount))
        try w.write(UInt32(workers))
        try w.write(UInt32(dense.count))
        for p in dense {
            try writeString(w, p.name)
            try w.write(UInt64(p.tensor.count))
            try p.tensor.withElements(as: Float.self) { try w.write(floats: $0.baseAddress!, count: $0.count) }
            try w.write(UInt64(p.state.count))
            try p.state.withUnsafeBufferPointer { if let b = $0.baseAddress { try w.write(floats: b, count: $0.count) } }
            let offset = p.serverOffset ?? []
            try w.write(UInt64(offset.count))
            try offset.withUnsafeBufferPointer { if let b = $0.baseAddress { try w.write(floats: b, count: $0.count) } }
        }
        let names = routes.keys.sorted()
        try w.write(UInt32(names.count))
        for n in names {
            try writeString(w, n)
            try w.write(UInt8(routes[n] == .ring ? 1 : 0))
            try w.write(Int64(tables[n]?.touchedRows ?? 0))
            try w.write((planner.observedDensity(n) ?? -1).bitPattern)
        }
        let local = tables.values.compactMap { t in t.local.map { (t.name, $0) } }.sorted { $0.0 < $1.0 }
        try w.write(UInt32(local.count))
        for (n, table) in local {
            try writeString(w, n)
            try table.write(to: w)
        }
        // Made durable with the other parts, off the training thread.
        let (size, crc) = try w.finish(durable: false)
        return (size, crc)
    }

    private func readWorkerState(_ path: String) throws {
        let r = try CheckpointReader(path: path)
        func bad(_ why: String, _ code: HybridSyncError.CheckpointCode = .format) -> HybridSyncError { .checkpoint(code, file: path, reason: why) }
        guard try r.read(UInt32.self) == CheckpointFormat.magic else { throw bad("not a HybridSync checkpoint file") }
        let version = try r.read(UInt32.self)
        guard version == CheckpointFormat.version else { throw bad("format version \(version); this build reads version \(CheckpointFormat.version)") }
        guard try r.read(UInt8.self) == CheckpointFormat.workerState else { throw bad("not a worker state file") }
        let step = Int(try r.read(Int64.self))
        guard Int(try r.read(UInt32.self)) == workers else { throw bad("taken with another worker count", .incompatible) }
        let denseCount = Int(try r.read(UInt32.self))
        guard denseCount == dense.count else { throw bad("\(denseCount) dense parameters there, \(dense.count) registered here", .incompatible) }
        for _ in 0..<denseCount {
            let name = try readString(r)
            guard let p = denseNamed[name] else { throw bad("dense parameter '\(name)' is not registered here", .incompatible) }
            guard Int(try r.read(UInt64.self)) == p.tensor.count else { throw bad("dense parameter '\(name)' has another size", .incompatible) }
            try p.tensor.withElements(as: Float.self) { try r.read(floats: $0.baseAddress!, count: $0.count) }
            guard Int(try r.read(UInt64.self)) == p.state.count else { throw bad("optimizer state of '\(name)' has another size", .incompatible) }
            try p.state.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { try r.read(floats: b, count: $0.count) } }
            let offsetCount = Int(try r.read(UInt64.self))
            var offset = [Float](repeating: 0, count: offsetCount)
            try offset.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { try r.read(floats: b, count: $0.count) } }
            if offsetCount > 0 { p.serverOffset = offset }
        }
        let routeCount = Int(try r.read(UInt32.self))
        var saved: [String: Route] = [:]
        for _ in 0..<routeCount {
            let n = try readString(r)
            saved[n] = try r.read(UInt8.self) == 1 ? .ring : .ps
            let touched = Int(try r.read(Int64.self))
            tables[n]?.touchedRows = touched
            let d = Double(bitPattern: try r.read(UInt64.self))
            if d >= 0 { planner.setObservedDensity(n, d) }
        }
        guard Set(saved.keys) == Set(routes.keys) else {
            throw bad("the checkpoint's parameters \(saved.keys.sorted()) differ from the registered \(routes.keys.sorted())", .incompatible)
        }
        let localCount = Int(try r.read(UInt32.self))
        for _ in 0..<localCount {
            let n = try readString(r)
            guard let t = tables[n] else { throw bad("table '\(n)' is not registered here", .incompatible) }
            let table = try t.local ?? LocalTable(spec: t.spec, rows: t.rows, fill: nil)
            try table.restore(from: r)
            t.local = table
        }
        for (n, route) in saved where route == .ring && tables[n] != nil && tables[n]?.local == nil {
            throw bad("table '\(n)' was on the ring but its rows are missing", .damaged)
        }
        for (n, route) in saved {
            denseNamed[n]?.route = route
            tables[n]?.route = route
        }
        stepCount = step
    }

    private func writeString(_ w: CheckpointWriter, _ s: String) throws {
        try w.write(UInt32(s.utf8.count))
        try w.write(Array(s.utf8))
    }

    private func readString(_ r: CheckpointReader) throws -> String {
        let n = Int(try r.read(UInt32.self))
        guard n <= 4096 else { throw HybridSyncError.checkpoint(.damaged, file: r.path, reason: "a name of \(n) bytes") }
        return String(decoding: try r.read(n), as: UTF8.self)
    }
}
