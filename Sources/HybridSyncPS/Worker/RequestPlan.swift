import HybridSyncCore

/// How one push/pull request is cut into per-server messages and how the replies are put back together.
/// Keys are sorted and deduplicated here, for the caller (ps-lite leaves that to its users).
struct RequestPlan: Sendable {
    struct Table: Sendable {
        let spec: TableSpec
        /// Sorted, unique keys.
        let unique: [UInt64]
        /// For each queried key, its position in `unique`; nil when the query was already sorted and unique.
        let userToUnique: [Int]?

        /// Positions in `unique` of the queried keys, in query order.
        func position(_ i: Int) -> Int { userToUnique?[i] ?? i }
    }

    struct Section: Sendable {
        let table: Int
        let piece: Int
        /// Positions in the table's `unique` keys.
        let positions: Positions
    }

    /// Positions of a section's keys in its table's unique keys: every one of them in order (one server
    /// holds them all: nothing to list), or a slice of the counting sort's array.
    struct Positions: Sendable {
        private let list: ArraySlice<Int>?
        let count: Int

        static func all(_ count: Int) -> Positions { Positions(list: nil, count: count) }
        init(_ list: ArraySlice<Int>) { self.init(list: list, count: list.count) }
        private init(list: ArraySlice<Int>?, count: Int) {
            self.list = list
            self.count = count
        }

        /// The `j`-th position.
        @inline(__always)
        subscript(j: Int) -> Int { list.map { $0[$0.startIndex + j] } ?? j }
        var isEmpty: Bool { count == 0 }
    }

    let tables: [Table]
    /// Sections per server, in the order they are sent.
    let perServer: [[Section]]

    init(tables specs: [TableSpec], keys: [[UInt64]], placement: ConsistentHash) {
        var tables: [Table] = []
        var perServer = Array(repeating: [Section](), count: placement.servers)
        for (t, spec) in specs.enumerated() {
            let (unique, map) = Self.sortAndDeduplicate(keys[t])
            tables.append(Table(spec: spec, unique: unique, userToUnique: map))
            let salt = tableSalt(spec.name)
            for piece in 0..<spec.pieceCount {
                if placement.servers == 1 {
                    if !unique.isEmpty { perServer[0].append(Section(table: t, piece: piece, positions: .all(unique.count))) }
                    continue
                }
                for (s, positions) in Self.split(unique, piece: piece, salt: salt, placement: placement).enumerated() where !positions.isEmpty {
                    perServer[s].append(Section(table: t, piece: piece, positions: Positions(positions)))
                }
            }
        }
        self.tables = tables
        self.perServer = perServer
    }

    /// The positions of `keys` each server holds (for piece `piece`), in key order: slices of one array,
    /// made by a counting sort (each key's server and the count per server, then every position
    /// written at its server's next place). No growing arrays, and no branch on the server, which
    /// hashing makes a coin toss the processor mispredicts half the time.
    static func split(_ keys: [UInt64], piece: Int, salt: UInt64, placement: ConsistentHash) -> [ArraySlice<Int>] {
        var counts = [Int](repeating: 0, count: placement.servers)
        let owners = [Int32](unsafeUninitializedCapacity: keys.count) { owners, initialized in
            for (i, k) in keys.enumerated() {
                let s = placement.server(key: k, piece: piece, tableSalt: salt)
                owners[i] = Int32(s)
                counts[s] += 1
            }
            initialized = keys.count
        }
        var starts = [0]
        for c in counts.dropLast() { starts.append(starts[starts.count - 1] + c) }
        var next = starts
        let sorted = [Int](unsafeUninitializedCapacity: keys.count) { positions, initialized in
            next.withUnsafeMutableBufferPointer { next in
                for (i, o) in owners.enumerated() {
                    positions[next[Int(o)]] = i
                    next[Int(o)] += 1
                }
            }
            initialized = keys.count
        }
        return counts.indices.map { s in sorted[starts[s]..<(starts[s] + counts[s])] }
    }

    /// Sorted unique keys and, unless the input already was sorted and unique, each input key's position.
    static func sortAndDeduplicate(_ keys: [UInt64]) -> ([UInt64], [Int]?) {
        var sortedUnique = true
        for i in keys.indices.dropFirst() where keys[i] <= keys[i - 1] { sortedUnique = false; break }
        if sortedUnique { return (keys, nil) }
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        var unique: [UInt64] = []
        unique.reserveCapacity(keys.count)
        var map = [Int](repeating: 0, count: keys.count)
        for i in order {
            if unique.last != keys[i] { unique.append(keys[i]) }
            map[i] = unique.count - 1
        }
        return (unique, map)
    }

    /// The header sections and payload frames for `server`. `gradients[t]` holds the summed rows of the
    /// table's unique keys (`unique.count * dimension`), or is nil for a pull.
    func frames(server: Int, gradients: [[Float]]?) -> ([SectionInfo], [OutgoingFrame]) {
        var infos: [SectionInfo] = []
        var payload: [OutgoingFrame] = []
        for s in perServer[server] {
            let table = tables[s.table]
            let n = table.spec.length(ofPiece: s.piece)
            let encoding = table.spec.rowEncoding
            infos.append(
                SectionInfo(
                    table: table.spec.name, piece: s.piece, rowLength: n, encoding: encoding,
                    keyCount: s.positions.count, hasValues: gradients != nil))
            let whole = s.positions.count == table.unique.count
            payload.append(.shared(whole ? Self.wireView(table.unique) : Self.gather(table.unique, s.positions)))
            if let gradients {
                let dim = table.spec.dimension, offset = s.piece * table.spec.pieceLength
                if n == dim && whole && encoding == .float32 {
                    // The rows as they are (the caller's array when it came sorted and unique): no copy.
                    payload.append(.shared(Self.wireView(gradients[s.table])))
                    continue
                }
                let width = encoding.byteWidth
                payload.append(
                    .shared(
                        SharedBytes.pooled(count: s.positions.count * n * width) { values in
                            gradients[s.table].withUnsafeBufferPointer { g in
                                for j in 0..<s.positions.count {
                                    encoding.encode(g.baseAddress! + s.positions[j] * dim + offset, count: n, into: values + j * n * width)
                                }
                            }
                        }))
            } else {
                payload.append(.bytes([]))
            }
        }
        return (infos, payload)
    }

    /// Copies one reply section's rows to their places among the table's unique rows.
    private func place(_ frame: any ByteFrame, of s: Section, from server: Int, into u: UnsafeMutableBufferPointer<Float>) throws {
        let table = tables[s.table]
        let dim = table.spec.dimension, n = table.spec.length(ofPiece: s.piece), offset = s.piece * table.spec.pieceLength
        let encoding = table.spec.rowEncoding, width = encoding.byteWidth
        guard frame.count == s.positions.count * n * width else {
            throw HybridSyncError.malformedMessage(.frames, "server \(server) sent \(frame.count) bytes for \(s.positions.count) rows of '\(table.spec.name)'")
        }
        frame.withUnsafeBytes { raw in
            guard let source = raw.baseAddress, let base = u.baseAddress else { return }
            if n == dim && s.positions.count == table.unique.count {
                encoding.decode(source, count: s.positions.count * n, into: base)
                return
            }
            for j in 0..<s.positions.count {
                encoding.decode(source + j * n * width, count: n, into: base + s.positions[j] * dim + offset)
            }
        }
    }

    /// `keys` in wire order (little-endian): shared without a copy where that is the host's order.
    static func wireView(_ keys: [UInt64]) -> SharedBytes {
        #if _endian(little)
            return SharedBytes.viewing(keys)
        #else
            return gather(keys, .all(keys.count))
        #endif
    }

    /// Values go as the host holds them (as they always have), shared without a copy.
    static func wireView(_ values: [Float]) -> SharedBytes { SharedBytes.viewing(values) }

    /// `keys[p]` for each of `positions`, little-endian, in a buffer of their own.
    static func gather(_ keys: [UInt64], _ positions: Positions) -> SharedBytes {
        SharedBytes.pooled(count: positions.count * 8) { buffer in
            keys.withUnsafeBufferPointer { k in
                for j in 0..<positions.count { buffer.storeBytes(of: k[positions[j]].littleEndian, toByteOffset: j * 8, as: UInt64.self) }
            }
        }
    }

    /// Sums each table's rows onto its unique keys (duplicates added). Throws `shapeMismatch` if a
    /// table's values are not `keys.count * dimension` long.
    func summedGradients(_ rows: [SparseRows]) throws -> [[Float]] {
        try zip(tables, rows).map { table, r in
            let dim = table.spec.dimension
            try r.checkShape(dimension: dim)
            guard let map = table.userToUnique else { return r.values }
            var out = [Float](repeating: 0, count: table.unique.count * dim)
            out.withUnsafeMutableBufferPointer { r.sumRows(into: $0, slots: map, dimension: dim) }
            return out
        }
    }

    /// Puts the servers' replies back in the order of the query.
    func assemble(replies: [Int: [any ByteFrame]]) throws -> [PulledRows] {
        for (server, sections) in perServer.enumerated() where !sections.isEmpty {
            guard let frames = replies[server], frames.count == FrameLayout.frameCount(sections: sections.count) else {
                throw HybridSyncError.malformedMessage(.frames, "reply of server \(server) has the wrong number of sections")
            }
        }
        // Every (row, piece) of every table is in exactly one section of one server, so each table's
        // rows are all written below and need no zeroing first.
        let unique = try tables.indices.map { t in
            try [Float](unsafeUninitializedCapacity: tables[t].unique.count * tables[t].spec.dimension) { u, initialized in
                for (server, sections) in perServer.enumerated() {
                    for (i, s) in sections.enumerated() where s.table == t {
                        try place(replies[server]![valuesOf: i], of: s, from: server, into: u)
                    }
                }
                initialized = u.count
            }
        }
        return tables.enumerated().map { t, table in
            let dim = table.spec.dimension
            guard let map = table.userToUnique else {
                return PulledRows(table: table.spec.name, keys: table.unique, dimension: dim, values: unique[t])
            }
            var values = [Float](repeating: 0, count: map.count * dim)
            values.withUnsafeMutableBufferPointer { v in
                unique[t].withUnsafeBufferPointer { u in
                    for (i, p) in map.enumerated() {
                        (v.baseAddress! + i * dim).update(from: u.baseAddress! + p * dim, count: dim)
                    }
                }
            }
            return PulledRows(table: table.spec.name, keys: map.map { table.unique[$0] }, dimension: dim, values: values)
        }
    }
}
