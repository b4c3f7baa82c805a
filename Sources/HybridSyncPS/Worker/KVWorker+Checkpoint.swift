import HybridSyncCore

extension KVWorker {
    /// Asks every server to snapshot its shard now (a step boundary: every worker has clocked the step)
    /// and write it into `directory` while it goes on serving; returns once every server has its
    /// snapshot, so the next step's pushes reach none of them.
    package func startCheckpointServers(into directory: String, timeout: Double? = nil) throws {
        try broadcast(kind: .checkpoint, body: .checkpoint(directory: directory), label: "checkpoint snapshot into \(directory)", timeout: timeout).wait()
    }

    /// Waits until every server has written the shard `startCheckpointServers(into: directory)`
    /// started. Returns, by server, the file written, its size and CRC-32C. Servers write in slices and
    /// keep answering meanwhile; the wait is at least an hour, since a shard of many gigabytes takes
    /// minutes. Safe to call from another thread than the one stepping.
    package func awaitCheckpointServers(into directory: String, timeout: Double? = nil) throws -> [(file: String, size: Int, crc: UInt32)] {
        let handle = broadcast(
            kind: .checkpoint, body: .checkpoint(directory: directory), flags: MessageFlags.awaitsWrite, label: "checkpoint into \(directory)",
            timeout: timeout ?? Swift.max(config.requestTimeout, 3600))
        try handle.wait()
        return try (0..<serverCount).map { s in
            guard let frames = handle.reply(of: s), frames.count >= 2 else {
                throw HybridSyncError.malformedMessage(.kind, "no checkpoint reply from server \(s)")
            }
            let (file, size, crc) = try MessageBody.checkpointWritten(frames[FrameLayout.meta], server: s)
            return (file, Int(size), crc)
        }
    }

    /// Sets `rows` of `table` on the servers that hold them now (placement by this job's consistent
    /// hash, so the server count may differ from the checkpoint's), and every worker's clock on every
    /// server to `clock`. Returns at once; the handle's `wait` tells when every server has them, so a
    /// caller can read the next rows meanwhile.
    package func startRestore(table spec: TableSpec, rows: CheckpointRows, clock: Int, timeout: Double? = nil) throws -> PSHandle {
        let slots = OptimizerKernel(spec: spec.optimizer).stateSlots
        let width = { (piece: Int) in 1 + spec.length(ofPiece: piece) * (1 + slots) }
        // Rows by (server, piece), in file order.
        var groups: [Int: [Int: [Int]]] = [:]
        for i in 0..<rows.count {
            guard rows.data(of: i).count == width(rows.pieces[i]) - 1 else {
                throw HybridSyncError.shapeMismatch(
                    what: "checkpoint row \(rows.keys[i]) of '\(spec.name)'", expected: "\(width(rows.pieces[i]) - 1) floats",
                    got: "\(rows.data(of: i).count)")
            }
            groups[server(of: rows.keys[i], piece: rows.pieces[i], table: spec.name), default: [:]][rows.pieces[i], default: []].append(i)
        }
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        var parts: [(WorkerRequest.Target, OutboundMessage)] = []
        for s in 0..<serverCount {
            var sections: [SectionInfo] = []
            var payload: [OutgoingFrame] = []
            for (piece, members) in (groups[s] ?? [:]).sorted(by: { $0.key < $1.key }) {
                let w = width(piece)
                // Keys, then each row as its step (the bits of an Int32 in a float's place) and its data,
                // written straight into the frames' memory.
                let keys = UnsafeMutableRawPointer.allocate(byteCount: members.count * 8, alignment: 8)
                let values = UnsafeMutableRawPointer.allocate(byteCount: members.count * w * 4, alignment: 4)
                let k = keys.bindMemory(to: UInt64.self, capacity: members.count)
                let v = values.bindMemory(to: Float.self, capacity: members.count * w)
                rows.floats.withUnsafeBufferPointer { all in
                    for (j, i) in members.enumerated() {
                        k[j] = rows.keys[i].littleEndian
                        let row = v + j * w
                        row[0] = Float(bitPattern: UInt32(bitPattern: rows.steps[i]))
                        let data = rows.data(of: i)
                        (row + 1).update(from: all.baseAddress! + data.startIndex, count: w - 1)
                    }
                }
                sections.append(SectionInfo(table: spec.name, piece: piece, rowLength: w, keyCount: members.count, hasValues: true))
                payload.append(.shared(SharedBytes(owning: keys, count: members.count * 8)))
                payload.append(.shared(SharedBytes(owning: values, count: members.count * w * 4)))
            }
            let h = MessageHeader(kind: .restore, sender: id, seq: 0, clock: Int64(clock), sections: sections)
            parts.append((.server(s), OutboundMessage(h, .restore(clock: Int64(clock)), payload: payload)))
        }
        let handle = PSHandle(parts: Set(0..<serverCount), plan: nil, deadline: deadline, label: "restore of '\(spec.name)'")
        link.submit(WorkerRequest(id: link.makeID(), parts: parts, deadline: deadline), handle: handle)
        return handle
    }

    /// `startRestore`, waiting until every server has the rows.
    package func restore(table spec: TableSpec, rows: CheckpointRows, clock: Int, timeout: Double? = nil) throws {
        _ = try startRestore(table: spec, rows: rows, clock: clock, timeout: timeout).wait()
    }

    /// Sets this worker's clock (resuming from a checkpoint taken at `clock`).
    package func restoreClock(_ clock: Int) { clockValue.store(clock, ordering: .relaxed) }
}
