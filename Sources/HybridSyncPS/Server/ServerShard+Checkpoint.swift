import HybridSyncCore

/// Checkpoints of a server's shard: written in slices between polls, and restored row by row.
extension ServerShard {
    /// A shard being written: the writer, where it is (table, index bucket), and whom to answer.
    struct CheckpointJob {
        let writer: CheckpointWriter
        let name: String
        let peer: Peer
        let request: MessageHeader
        let tableNames: [String]
        var table = 0
        var bucket = 0
        var headerWritten = false
        /// When writing began, for the job's timeline (nil when not recording).
        let began: Double?
    }

    /// Rows written per slice (between two polls of the server's shell).
    static let checkpointSlice = 65_536

    /// Whether a checkpoint is being written.
    var isWritingCheckpoint: Bool { checkpointJob != nil }

    /// Starts writing this shard (every table's rows, optimizer state and per-row steps, the table
    /// specs, every worker's clock) to `directory/server-<index>.shard`. Only at a step boundary: no
    /// push held for a step and no pull waiting.
    func startCheckpoint(into directory: String, for peer: Peer, _ request: MessageHeader) throws {
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
        checkpointJob = CheckpointJob(
            writer: w, name: name, peer: peer, request: request, tableNames: tables.keys.sorted(), began: spans.begin())
    }

    /// Writes the next slice of the shard; when it is done, answers the requester with the file's name,
    /// size and CRC-32C (and keeps that answer for a repeat of the request). A failure answers with the
    /// error naming the file.
    func continueCheckpoint() -> [NodeDirective] {
        guard var job = checkpointJob else { return [] }
        do {
            var budget = Self.checkpointSlice
            while budget > 0 && job.table < job.tableNames.count {
                let store = tables[job.tableNames[job.table]]!
                if !job.headerWritten {
                    var spec = ByteWriter()
                    store.spec.encode(into: &spec)
                    try job.writer.write(UInt32(spec.bytes.count))
                    try job.writer.write(spec.bytes)
                    try job.writer.write(UInt64(store.rowCount))
                    job.headerWritten = true
                }
                let (next, written) = try store.write(to: job.writer, fromBucket: job.bucket, rows: budget)
                budget -= written
                if let next {
                    job.bucket = next
                } else {
                    job.table += 1
                    job.bucket = 0
                    job.headerWritten = false
                }
            }
            if job.table < job.tableNames.count {
                checkpointJob = job
                return []
            }
            checkpointJob = nil
            let (size, crc) = try job.writer.finish()
            spans.end(job.began, "checkpoint written", row: "\(id)", detail: "\(job.name), \(size) bytes")
            let done = OutboundMessage(
                MessageHeader(kind: .reply, sender: id, seq: job.request.seq, clock: job.request.clock),
                .checkpointWritten(file: job.name, size: UInt64(size), crc: crc))
            windows[job.request.sender.index]?.record(job.request.seq, .reply(done))
            return [.send(job.peer, done)]
        } catch {
            checkpointJob = nil
            let e = error as? HybridSyncError ?? .checkpoint(.io, file: job.name, reason: "\(error)")
            return [.log(.error, "\(id) could not write its checkpoint: \(e)"), errorReply(job.peer, job.request, e)]
        }
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
