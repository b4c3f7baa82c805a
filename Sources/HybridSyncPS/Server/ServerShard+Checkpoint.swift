import HybridSyncCore

/// Checkpoints of a server's shard: a copy-on-write snapshot at the step boundary, written in slices
/// between polls while pushes go on being applied; restored row by row.
extension ServerShard {
    /// A shard being written: the snapshot of each table, the writer, where it is (table, index
    /// bucket), and whom to answer when it is written.
    struct CheckpointJob {
        let writer: CheckpointWriter
        let directory: String
        let name: String
        let tableNames: [String]
        let snapshots: [RowSnapshot]
        var table = 0
        var bucket = 0
        var headerWritten = false
        /// When the first slice may be written (set at the first chance, `checkpointWriteDelay` on).
        var notBefore: Double?
        /// Workers' requests for the outcome (`MessageFlags.awaitsWrite`), answered when it is written.
        var waiters: [(peer: Peer, request: MessageHeader)] = []
        /// When writing began, for the job's timeline (nil when not recording).
        let began: Double?
    }

    /// How the last checkpoint written here ended: its directory and the answer it got.
    struct CheckpointOutcome {
        let directory: String
        let kind: MessageKind
        let body: MessageBody
    }

    /// Whether a checkpoint is being written.
    var isWritingCheckpoint: Bool { checkpointJob != nil }

    /// Snapshots this shard (every table's rows, optimizer state and per-row steps, the table specs,
    /// every worker's clock) and starts writing it to `directory/server-<index>.shard`, unsynced (the
    /// worker that makes the checkpoint complete fsyncs every part). Only at a step boundary: no push
    /// held for a step and no pull waiting. The snapshot is copy-on-write (`RowSnapshot`): pushes that
    /// arrive while it is written are applied and do not reach the file.
    func startCheckpoint(into directory: String) throws {
        guard checkpointJob == nil else { throw HybridSyncError.invalidArgument(.order, "a checkpoint is already being written") }
        guard heldPushes.isEmpty, waitingPulls.isEmpty else {
            throw HybridSyncError.invalidArgument(
                .order, "checkpoint asked for in the middle of a step (\(heldPushes.count) held steps, \(waitingPulls.count) waiting pulls)")
        }
        let name = "server-\(id.index).shard"
        let w = try CheckpointWriter(path: directory + "/" + name)
        try w.write(CheckpointFormat.magic)
        try w.write(CheckpointFormat.version)
        try w.write(CheckpointFormat.serverShard)
        try w.write(UInt32(id.index))
        try w.write(UInt32(workers))
        for k in 0..<workers { try w.write(Int64(clocks.clock(of: k))) }
        try w.write(UInt32(tables.count))
        let names = tables.keys.sorted()
        checkpointJob = CheckpointJob(
            writer: w, directory: directory, name: name, tableNames: names, snapshots: names.map { tables[$0]!.takeSnapshot() },
            began: spans.begin())
    }

    /// A worker asks how the checkpoint into `directory` ended: held until it is written, answered at
    /// once if it has been, refused if none was started there.
    func awaitCheckpoint(into directory: String, for peer: Peer, _ request: MessageHeader) throws -> [NodeDirective] {
        if checkpointJob?.directory == directory {
            checkpointJob!.waiters.append((peer, request))
            return [reply(peer, request, kind: .held)]
        }
        guard let done = lastCheckpoint, done.directory == directory else {
            throw HybridSyncError.invalidArgument(.order, "no checkpoint into \(directory) was started on \(id)")
        }
        return [reply(peer, request, kind: done.kind, body: done.body)]
    }

    /// Whether `request` is a repeat of a request for the outcome of the checkpoint being written.
    func isAwaitingCheckpoint(_ request: MessageHeader) -> Bool {
        checkpointJob?.waiters.contains { $0.request.sender == request.sender && $0.request.seq == request.seq } ?? false
    }

    /// Writes the next slice of the shard; when it is done, answers the waiting workers with the file's
    /// name, size and CRC-32C (kept for repeats and for later requests). A failure answers with the
    /// error naming the file.
    func continueCheckpoint(now: Double) -> [NodeDirective] {
        guard var job = checkpointJob else { return [] }
        if checkpointWriteDelay > 0 {
            let start = job.notBefore ?? now + checkpointWriteDelay
            job.notBefore = start
            checkpointJob = job
            guard now >= start else { return [] }
        }
        let outcome: CheckpointOutcome
        var out: [NodeDirective] = []
        do {
            var budget = checkpointSliceRows
            while budget > 0 && job.table < job.tableNames.count {
                let store = tables[job.tableNames[job.table]]!, snapshot = job.snapshots[job.table]
                if !job.headerWritten {
                    var spec = ByteWriter()
                    store.spec.encode(into: &spec)
                    try job.writer.write(UInt32(spec.bytes.count))
                    try job.writer.write(spec.bytes)
                    try job.writer.write(UInt64(snapshot.rows))
                    job.headerWritten = true
                }
                let (next, written) = try snapshot.write(to: job.writer, fromBucket: job.bucket, rows: budget)
                if let next {
                    // The slice's rows are spent (some may have been rows made since the snapshot).
                    job.bucket = next
                    budget = 0
                } else {
                    budget -= written
                    job.table += 1
                    job.bucket = 0
                    job.headerWritten = false
                }
            }
            if job.table < job.tableNames.count {
                checkpointJob = job
                return []
            }
            let (size, crc) = try job.writer.finish(durable: false)
            spans.end(job.began, "checkpoint written", row: "\(id)", detail: "\(job.name), \(size) bytes")
            outcome = CheckpointOutcome(
                directory: job.directory, kind: .reply, body: .checkpointWritten(file: job.name, size: UInt64(size), crc: crc))
        } catch {
            let e = error as? HybridSyncError ?? .checkpoint(.io, file: job.name, reason: "\(error)")
            out.append(.log(.error, "\(id) could not write its checkpoint: \(e)"))
            outcome = CheckpointOutcome(directory: job.directory, kind: .error, body: .error(e))
        }
        checkpointJob = nil
        for name in job.tableNames { tables[name]?.endSnapshot() }
        lastCheckpoint = outcome
        for (peer, request) in job.waiters {
            let answer = OutboundMessage(MessageHeader(kind: outcome.kind, sender: id, seq: request.seq, clock: request.clock), outcome.body)
            windows[request.sender.index]?.record(request.seq, .reply(answer))
            out.append(.send(peer, answer))
        }
        return out
    }

    /// Sets rows exactly as a checkpoint holds them (each row: its step as the bits of a float, its
    /// values, then each optimizer state slot), and every worker's clock to `clock`. Everything is
    /// checked before anything is set.
    func restore(_ header: MessageHeader, _ frames: [any ByteFrame], clock: Int) throws {
        _ = try workerIndex(header)
        guard clock >= 0, clock < Int(Int32.max) else { throw HybridSyncError.invalidArgument(.range, "restore to clock \(clock)") }
        try checkRowSections(header)
        setRows(header, frames)
        for k in 0..<workers { clocks.advance(worker: k, to: clock) }
    }

    /// Throws unless every section holds rows of a known table in the restore layout.
    func checkRowSections(_ header: MessageHeader) throws {
        for s in header.sections {
            guard let store = tables[s.table] else { throw HybridSyncError.unknownTable(s.table) }
            guard s.piece < store.spec.pieceCount, s.hasValues, s.encoding == .float32 else {
                throw HybridSyncError.malformedMessage(.field, "restore of '\(s.table)': bad section (piece \(s.piece))")
            }
            let n = store.spec.length(ofPiece: s.piece)
            guard s.rowLength == 1 + n * (1 + store.stateSlots) else {
                throw HybridSyncError.shapeMismatch(
                    what: "restored row of '\(s.table)' (piece \(s.piece))",
                    expected: "\(1 + n * (1 + store.stateSlots)) floats", got: "\(s.rowLength)")
            }
        }
    }

    /// Sets the rows of `frames` (checked: restore layout, known tables) as they are.
    func setRows(_ header: MessageHeader, _ frames: [any ByteFrame]) {
        let keys = decodeKeys(header, frames)
        for (i, s) in header.sections.enumerated() {
            let store = tables[s.table]!
            frames[valuesOf: i].withUnsafeBytes { raw in
                guard let f = raw.bindMemory(to: Float.self).baseAddress else { return }
                for (j, k) in keys[i].enumerated() {
                    let row = f + j * s.rowLength
                    store.restore(key: k, piece: s.piece, step: Int32(bitPattern: row[0].bitPattern), data: row + 1)
                }
            }
        }
    }
}
