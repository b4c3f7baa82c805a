import HybridSyncCore

/// A row as a checkpoint holds it: where it lives, its update count, its values then each optimizer
/// state slot (`length(ofPiece:)` floats each).
package struct CheckpointRow: Sendable {
    package let key: UInt64
    package let piece: Int
    package let step: Int32
    package let data: [Float]
}

extension KVWorker {
    /// Asks every server to write its shard into `directory` (a step boundary: every worker has
    /// clocked the step). Returns, by server, the file written, its size and CRC-32C. Servers write in
    /// slices and keep answering heartbeats meanwhile; the wait is at least an hour, since a shard of
    /// many gigabytes takes minutes.
    package func checkpointServers(into directory: String, timeout: Double? = nil) throws -> [(file: String, size: Int, crc: UInt32)] {
        let handle = broadcast(kind: .checkpoint, body: .checkpoint(directory: directory), label: "checkpoint into \(directory)",
                               timeout: timeout ?? Swift.max(config.requestTimeout, 3600))
        try handle.wait()
        return try (0..<serverCount).map { s in
            guard let frames = handle.reply(of: s), frames.count >= 2 else { throw HybridSyncError.malformedMessage("no checkpoint reply from server \(s)") }
            let (file, size, crc) = try MessageBody.checkpointWritten(frames[1], server: s)
            return (file, Int(size), crc)
        }
    }

    /// Sets `rows` of `table` on the servers that hold them now (placement by this job's consistent
    /// hash, so the server count may differ from the checkpoint's), and every worker's clock on every
    /// server to `clock`.
    package func restore(table spec: TableSpec, rows: [CheckpointRow], clock: Int, timeout: Double? = nil) throws {
        // (server, piece) -> rows
        var groups: [Int: [Int: [Int]]] = [:]
        for (i, r) in rows.enumerated() {
            groups[server(of: r.key, piece: r.piece, table: spec.name), default: [:]][r.piece, default: []].append(i)
        }
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        var parts: [(WorkerRequest.Target, OutboundMessage)] = []
        for s in 0..<serverCount {
            var sections: [SectionInfo] = []
            var payload: [OutgoingFrame] = []
            for (piece, members) in (groups[s] ?? [:]).sorted(by: { $0.key < $1.key }) {
                let n = spec.length(ofPiece: piece)
                let width = 1 + n * (1 + OptimizerKernel(spec: spec.optimizer).stateSlots)
                var keys = [UInt8](); keys.reserveCapacity(members.count * 8)
                var values = [Float](); values.reserveCapacity(members.count * width)
                for i in members {
                    let r = rows[i]
                    guard r.data.count == width - 1 else {
                        throw HybridSyncError.shapeMismatch(what: "checkpoint row \(r.key) of '\(spec.name)'", expected: "\(width - 1) floats", got: "\(r.data.count)")
                    }
                    withUnsafeBytes(of: r.key.littleEndian) { keys.append(contentsOf: $0) }
                    values.append(Float(bitPattern: UInt32(bitPattern: r.step)))
                    values += r.data
                }
                sections.append(SectionInfo(table: spec.name, piece: piece, rowLength: width, keyCount: members.count, hasValues: true))
                payload.append(.bytes(keys))
                payload.append(.bytes(values.withUnsafeBytes { Array($0) }))
            }
            let h = MessageHeader(kind: .restore, sender: id, seq: 0, clock: Int64(clock), sections: sections)
            parts.append((.server(s), OutboundMessage(h, .restore(clock: Int64(clock)), payload: payload)))
        }
        let handle = PSHandle(parts: Set(0..<serverCount), plan: nil, deadline: deadline, label: "restore of '\(spec.name)'")
        link.submit(WorkerRequest(id: link.makeID(), parts: parts, deadline: deadline), handle: handle)
        try handle.wait()
    }

    /// Sets this worker's clock (resuming from a checkpoint taken at `clock`).
    package func restoreClock(_ clock: Int) { clockValue.store(clock, ordering: .relaxed) }
}
