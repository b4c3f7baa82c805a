import HybridSyncCore

/// What a server checks before it changes anything: declarations, sections against their tables,
/// 16-bit rows widened, non-finite values, capacity, clock lead and reply size. A request that fails
/// any of these is refused whole.
extension ServerShard {
    func declare(_ specs: [TableSpec]) throws {
        for spec in specs {
            if let existing = tables[spec.name]?.spec, existing != spec {
                // Name the fields that differ, not their values: a peer learns no more than it needs.
                var differ: [String] = []
                if existing.dimension != spec.dimension { differ.append("dimension") }
                if existing.dtype != spec.dtype { differ.append("element type") }
                if existing.rowEncoding != spec.rowEncoding { differ.append("row encoding") }
                if existing.optimizer != spec.optimizer { differ.append("optimizer") }
                if existing.consistency != spec.consistency { differ.append("consistency") }
                if existing.pieceLength != spec.pieceLength { differ.append("piece length") }
                throw HybridSyncError.invalidArgument(
                    .name, "table '\(spec.name)' is already declared with another \(differ.isEmpty ? "spec" : differ.joined(separator: ", "))")
            }
        }
        let fresh = Set(specs.map(\.name)).filter { tables[$0] == nil }.count
        guard tables.count + fresh <= limits.maxTables else {
            throw HybridSyncError.invalidArgument(
                .limit, "declaring \(fresh) more table(s) would pass this server's limit of \(limits.maxTables) tables (HYBRIDSYNC_MAX_TABLES)")
        }
        for spec in specs where tables[spec.name] == nil { tables[spec.name] = RowStore(spec: spec) }
    }

    func checkSections(_ header: MessageHeader, needValues: Bool) throws {
        _ = try workerIndex(header)
        for s in header.sections {
            guard let spec = tables[s.table]?.spec else { throw HybridSyncError.unknownTable(s.table) }
            guard s.encoding == spec.rowEncoding else {
                throw HybridSyncError.shapeMismatch(
                    what: "element type (row encoding) of table '\(s.table)'", expected: "\(spec.rowEncoding)", got: "\(s.encoding)")
            }
            guard s.piece < spec.pieceCount else {
                throw HybridSyncError.shapeMismatch(what: "piece of table '\(s.table)'", expected: "below \(spec.pieceCount)", got: "\(s.piece)")
            }
            guard s.rowLength == spec.length(ofPiece: s.piece) else {
                throw HybridSyncError.shapeMismatch(
                    what: "row length of table '\(s.table)' (piece \(s.piece))",
                    expected: "\(spec.length(ofPiece: s.piece))", got: "\(s.rowLength)")
            }
            guard s.hasValues == needValues else {
                throw HybridSyncError.malformedMessage(.field, "table '\(s.table)': \(needValues ? "push without" : "pull with") values")
            }
        }
    }

    /// The request's frames with every values frame as float32: 16-bit rows (a table's `rowEncoding`)
    /// are widened once here, so everything after (the non-finite check, the optimizer, held BSP
    /// pushes) reads float32. Sizes were checked by the codec.
    func floatRows(_ header: MessageHeader, _ frames: [any ByteFrame]) -> [any ByteFrame] {
        guard header.sections.contains(where: { $0.hasValues && $0.encoding != .float32 }) else { return frames }
        var out = frames
        for (i, s) in header.sections.enumerated() where s.hasValues && s.encoding != .float32 {
            let count = s.keyCount * s.rowLength
            out[valuesOf: i] = frames[valuesOf: i].withUnsafeBytes { raw in
                SharedBytes.pooled(count: count * 4) { p in
                    if let source = raw.baseAddress { s.encoding.decode(source, count: count, into: p.bindMemory(to: Float.self, capacity: count)) }
                }
            }
        }
        return out
    }

    /// Checks a push's values for NaN and infinity, per its table's `NonFinitePolicy`, before anything
    /// of it is applied: `reject` refuses the push naming the table, the row's key and the element;
    /// `skipRow` returns, by section, the rows to leave out; `allow` lets them in. So a server never
    /// stores a non-finite value unless the table allows it.
    func checkFinite(_ header: MessageHeader, _ frames: [any ByteFrame]) throws -> [Int: Set<Int>] {
        var skips: [Int: Set<Int>] = [:]
        for (i, s) in header.sections.enumerated() where s.hasValues {
            let policy = tables[s.table]?.spec.nonFinite ?? .reject
            if policy == .allow { continue }
            let bad: Int? = frames[valuesOf: i].withUnsafeBytes { raw in
                let f = raw.bindMemory(to: Float.self)
                // x - x is 0 for every finite x and NaN for NaN and the infinities; eight lanes at a
                // time, then the tail, then a search only if something was found.
                var acc8 = SIMD8<Float>(repeating: 0)
                var i = 0
                while i + 8 <= f.count {
                    let v = UnsafeRawPointer(f.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self)
                    acc8 += v - v
                    i += 8
                }
                var acc = acc8.sum()
                while i < f.count { acc += f[i] - f[i]; i += 1 }
                guard acc.isNaN else { return nil }
                return f.firstIndex { !$0.isFinite }
            }
            guard let bad else { continue }
            if policy == .skipRow {
                skips[i] = frames[valuesOf: i].withUnsafeBytes { raw in
                    let f = raw.bindMemory(to: Float.self), n = Swift.max(1, s.rowLength)
                    return Set((0..<(f.count / n)).filter { r in !f[(r * n)..<((r + 1) * n)].allSatisfy(\.isFinite) })
                }
                continue
            }
            let row = bad / Swift.max(1, s.rowLength)
            let key: UInt64 = frames[keysOf: i].withUnsafeBytes { raw in
                raw.count >= (row + 1) * 8 ? UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: row * 8, as: UInt64.self)) : 0
            }
            throw HybridSyncError.invalidArgument(
                .nonFinite,
                "non-finite gradient in table '\(s.table)', row \(key), element \(s.piece * (tables[s.table]?.spec.pieceLength ?? 0) + bad % Swift.max(1, s.rowLength)): nothing of this push was applied"
            )
        }
        return skips
    }

    /// Refuses a request that would take this server past its row or byte limit, or that holds too many
    /// keys. Rows of BSP pushes still held count as if new, so the check is conservative; the exact
    /// count of new rows runs only when the quick bound fails.
    func checkCapacity(_ header: MessageHeader, keys: [[UInt64]]) throws {
        guard keys.count == header.sections.count else { return }  // (rows are not kept: benchmark mode)
        let total = keys.reduce(0) { $0 + $1.count }
        guard total <= limits.maxKeysPerRequest else {
            throw HybridSyncError.invalidArgument(
                .limit, "\(total) keys in one request; this server takes at most \(limits.maxKeysPerRequest) (HYBRIDSYNC_MAX_KEYS)")
        }
        let rows = tables.values.reduce(0) { $0 + $1.rowCount } + heldKeys
        let bytes = tables.values.reduce(0) { $0 + $1.bytes } + heldRowBytes
        var newRows = total, newBytes = 0
        for (i, s) in header.sections.enumerated() { newBytes += keys[i].count * tables[s.table]!.bytesPerRow }
        if rows + newRows <= limits.maxRows && bytes + newBytes <= limits.maxBytes { return }
        newRows = 0; newBytes = 0
        for (i, s) in header.sections.enumerated() {
            let store = tables[s.table]!
            let fresh = Set(keys[i]).filter { !store.contains(key: $0, piece: s.piece) }.count
            newRows += fresh
            newBytes += fresh * store.bytesPerRow
        }
        guard rows + newRows <= limits.maxRows else {
            throw HybridSyncError.invalidArgument(
                .limit, "\(newRows) new row(s) would pass this server's limit of \(limits.maxRows) rows (HYBRIDSYNC_MAX_ROWS); nothing was applied")
        }
        guard bytes + newBytes <= limits.maxBytes else {
            throw HybridSyncError.invalidArgument(
                .limit,
                "\(newRows) new row(s) of \(newBytes) bytes would pass this server's limit of \(limits.maxBytes) bytes (HYBRIDSYNC_MAX_BYTES); nothing was applied"
            )
        }
    }

    /// Refuses a push to a BSP table stamped further ahead of the slowest worker than the limit: it would
    /// be held (and its memory kept) until every worker got there.
    func checkClockLead(_ header: MessageHeader) throws {
        guard header.sections.contains(where: { tables[$0.table]?.spec.consistency == .bsp }) else { return }
        let lead = Int(header.clock) - clocks.minClock
        guard lead <= limits.maxClockLead else {
            throw HybridSyncError.invalidArgument(
                .limit,
                "a push stamped with clock \(header.clock), \(lead) steps ahead of the slowest worker; this server holds at most \(limits.maxClockLead) (HYBRIDSYNC_MAX_CLOCK_LEAD)"
            )
        }
    }

    /// Refuses up front a pull whose answer would exceed the message limit the worker accepts.
    func checkReplySize(_ header: MessageHeader) throws {
        var bytes = 64
        for s in header.sections {
            let (rowBytes, o1) = s.rowLength.multipliedReportingOverflow(by: s.encoding.byteWidth)
            let (b, o2) = s.keyCount.multipliedReportingOverflow(by: rowBytes)
            guard !o1, !o2 else { throw HybridSyncError.invalidArgument(.range, "the answer to this pull would overflow") }
            bytes += b + 64 + s.table.utf8.count
        }
        guard bytes <= maxReplyBytes else {
            throw HybridSyncError.oversizeMessage(bytes: bytes, limit: maxReplyBytes)
        }
    }

    /// The sending worker's index; also checks the request's clock, so no arithmetic on it can trap.
    func workerIndex(_ header: MessageHeader) throws -> Int {
        guard header.sender.role == .worker, header.sender.index < workers else {
            throw HybridSyncError.invalidArgument(.membership, "\(header.sender) is not one of the \(workers) workers")
        }
        guard header.clock >= 0, header.clock <= Int64(Int32.max) else {
            throw HybridSyncError.invalidArgument(.range, "clock \(header.clock) is outside 0...\(Int32.max)")
        }
        return header.sender.index
    }
}
