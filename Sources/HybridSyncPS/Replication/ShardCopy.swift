import HybridSyncCore

/// A shard's whole state as messages, for a new backup (re-replication): part 0 holds everything but
/// the rows (every worker's clock, the dead workers, counters, table specs, held BSP pushes and the
/// exactly-once windows); the other parts hold the rows in the restore layout (step, values, optimizer
/// state), at most `maxBytes` each. Taken at once, at one log index, so the copy plus the changes
/// after that index is the primary's state exactly. (The copy is held in memory while it is sent: a
/// second copy of the shard's size on the primary for that time.)
extension ServerShard {
    /// Part 0's bytes.
    func copyState() -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        w.u32(UInt32(workers))
        for k in 0..<workers { w.i64(Int64(clocks.clock(of: k))) }
        let dead = clocks.deadWorkers.sorted()
        w.u32(UInt32(dead.count))
        for d in dead { w.u32(UInt32(d)) }
        w.i64(Int64(clocks.largestAnsweredGap))
        for v in [appliedPushes, duplicates, refused, nonFiniteRowsSkipped] { w.u64(UInt64(v)) }
        let names = tables.keys.sorted()
        w.u32(UInt32(names.count))
        for n in names { tables[n]!.spec.encode(into: &w) }
        let steps = heldPushes.keys.sorted()
        w.u32(UInt32(steps.count))
        for step in steps {
            let pushes = heldPushes[step]!
            w.i64(Int64(step))
            w.u32(UInt32(pushes.count))
            for p in pushes {
                w.u32(UInt32(p.worker))
                w.u64(p.seq)
                w.string(p.section.table)
                w.u32(UInt32(p.section.piece))
                w.u32(UInt32(p.section.rowLength))
                w.u32(UInt32(p.keys.count))
                for k in p.keys { w.u64(k) }
                w.u32(UInt32(p.grads.count))
                p.grads.withUnsafeBytes { w.raw($0) }
            }
        }
        let ws = windows.keys.sorted()
        w.u32(UInt32(ws.count))
        for k in ws {
            let window = windows[k]!
            let entries = window.recorded
            w.u32(UInt32(k))
            w.u32(window.incarnation)
            w.u32(UInt32(entries.count))
            for (seq, entry) in entries {
                w.u64(seq)
                switch entry {
                case .pull: w.u8(0)
                case .reply(let m):
                    w.u8(1)
                    let h = WireCodec.encodeHeader(m.header), b = m.body.encode()
                    w.u32(UInt32(h.count)); h.withUnsafeBytes { w.raw($0) }
                    w.u32(UInt32(b.count)); b.withUnsafeBytes { w.raw($0) }
                }
            }
        }
        return w.bytes
    }

    /// The row parts: sections of (table, piece) rows in the restore layout, at most about `maxBytes`
    /// of values per part.
    func copyRows(maxBytes: Int) -> [(sections: [SectionInfo], payload: [OutgoingFrame])] {
        var parts: [(sections: [SectionInfo], payload: [OutgoingFrame])] = []
        var sections: [SectionInfo] = [], payload: [OutgoingFrame] = [], bytes = 0
        func flush() {
            if !sections.isEmpty { parts.append((sections, payload)) }
            sections = []; payload = []; bytes = 0
        }
        for name in tables.keys.sorted() {
            let store = tables[name]!
            let pieces = store.spec.pieceCount
            var keys = [[UInt64]](repeating: [], count: pieces), data = [[Float]](repeating: [], count: pieces)
            func emitSections() {
                for piece in 0..<pieces where !keys[piece].isEmpty {
                    let k = keys[piece], d = data[piece]
                    sections.append(SectionInfo(table: name, piece: piece, rowLength: d.count / k.count, keyCount: k.count, hasValues: true))
                    payload.append(Self.frame(k.map(\.littleEndian)))
                    payload.append(Self.frame(d))
                    keys[piece].removeAll(keepingCapacity: true)
                    data[piece].removeAll(keepingCapacity: true)
                }
            }
            // Rows a call: fewer when parts are small (tests), so that a part stays near `maxBytes`.
            let perCall = Swift.max(1, Swift.min(4096, maxBytes / 64))
            var bucket: Int? = 0
            while let from = bucket {
                bucket = store.export(fromBucket: from, limit: perCall) { key, piece, row in
                    keys[piece].append(key)
                    data[piece].append(contentsOf: row)
                    bytes += 8 + row.count * 4
                }
                if bytes >= maxBytes {
                    emitSections()
                    flush()
                }
            }
            emitSections()
        }
        flush()
        return parts
    }

    /// `values`' bytes in a frame of their own (sent without another copy).
    private static func frame<T>(_ values: [T]) -> OutgoingFrame {
        values.withUnsafeBytes { .shared(SharedBytes(copying: $0)) }
    }

    /// A shard rebuilt from part 0 of another server's copy (its rows follow in the other parts:
    /// `checkRowSections`, `setRows`). Throws `malformedMessage` on anything that does not read.
    static func fromCopy(
        _ frame: any ByteFrame, id: NodeID, discardsData: Bool, limits: ServerLimits,
        maxReplyBytes: Int, checkpointSliceRows: Int = ServerShard.defaultCheckpointSliceRows, checkpointWriteDelay: Double = 0,
        spans: SpanRecorder = .off
    ) throws -> ServerShard {
        try frame.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "copy of shard \(id.index)")
            let workers = Int(try r.u32("workers"))
            guard workers <= 65536 else { throw HybridSyncError.malformedMessage(.field, "copy of shard \(id.index): \(workers) workers") }
            let shard = ServerShard(
                id: id, workers: workers, discardsData: discardsData, limits: limits, maxReplyBytes: maxReplyBytes,
                checkpointSliceRows: checkpointSliceRows, checkpointWriteDelay: checkpointWriteDelay, spans: spans)
            let clocks = try (0..<workers).map { _ in Int(try r.i64("clock")) }
            let deadCount = Int(try r.u32("dead workers"))
            guard deadCount <= workers else { throw HybridSyncError.malformedMessage(.field, "copy: \(deadCount) dead workers") }
            let dead = Set(try (0..<deadCount).map { _ in Int(try r.u32("dead worker")) })
            shard.clocks = ClockTable(clocks: clocks, dead: dead, largestAnsweredGap: Int(try r.i64("gap")))
            shard.appliedPushes = Int(clamping: try r.u64("pushes"))
            shard.duplicates = Int(clamping: try r.u64("duplicates"))
            shard.refused = Int(clamping: try r.u64("refused"))
            shard.nonFiniteRowsSkipped = Int(clamping: try r.u64("skipped rows"))
            let tableCount = Int(try r.u32("tables"))
            guard tableCount <= 4096 else { throw HybridSyncError.malformedMessage(.field, "copy: \(tableCount) tables") }
            for _ in 0..<tableCount {
                let spec = try TableSpec.decode(from: &r)
                shard.tables[spec.name] = RowStore(spec: spec)
            }
            let steps = Int(try r.u32("held steps"))
            for _ in 0..<steps {
                let step = Int(try r.i64("step"))
                let count = Int(try r.u32("held pushes"))
                var pushes: [HeldPush] = []
                for _ in 0..<count {
                    let worker = Int(try r.u32("worker")), seq = try r.u64("seq")
                    let table = try r.string("table", maxLength: 256)
                    let piece = Int(try r.u32("piece")), rowLength = Int(try r.u32("row length"))
                    let keyCount = Int(try r.u32("keys"))
                    guard keyCount <= r.remaining / 8 else { throw HybridSyncError.malformedMessage(.field, "copy: \(keyCount) held keys") }
                    let keys = try (0..<keyCount).map { _ in try r.u64("key") }
                    let gradCount = Int(try r.u32("gradients"))
                    // A held push must fit its table, as the push it was once did.
                    guard let spec = shard.tables[table]?.spec, piece < spec.pieceCount, rowLength == spec.length(ofPiece: piece),
                        rowLength >= 1, gradCount == keyCount * rowLength
                    else {
                        throw HybridSyncError.malformedMessage(.field, "copy of shard \(id.index): a held push of '\(table)' that does not fit the table")
                    }
                    let g = try r.raw(gradCount * 4, "gradients")
                    let grads = (0..<gradCount).map { Float(bitPattern: g.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
                    let section = SectionInfo(table: table, piece: piece, rowLength: rowLength, keyCount: keyCount, hasValues: true)
                    pushes.append(HeldPush(worker: worker, seq: seq, section: section, keys: keys, grads: grads))
                }
                for push in pushes { shard.hold(push, step: step) }
            }
            let windowCount = Int(try r.u32("windows"))
            for _ in 0..<windowCount {
                let worker = Int(try r.u32("worker"))
                var window = ReplyWindow(incarnation: try r.u32("incarnation"))
                let entries = Int(try r.u32("entries"))
                for _ in 0..<entries {
                    let seq = try r.u64("seq")
                    if try r.u8("entry") == 0 {
                        window.record(seq, .pull)
                        continue
                    }
                    let h = try r.raw(Int(try r.u32("header length")), "header")
                    let header = try WireCodec.decodeHeader(Array(h))
                    let body = try r.raw(Int(try r.u32("body length")), "body")
                    window.record(seq, .reply(OutboundMessage(header, .raw(Array(body)))))
                }
                shard.windows[worker] = window
            }
            try r.expectEnd()
            return shard
        }
    }
}
