import HybridSyncCore

/// Reads a server's checkpoint shard (written by `ServerShard`): header, every worker's clock, then per
/// table its spec and its rows. The caller verifies the file's checksum first (`CheckpointReader.verify`).
package enum ShardFile {
    /// What a shard's header says.
    package struct Header: Sendable {
        package let server: Int
        package let clocks: [Int64]
    }

    /// Streams the shard at `path`: `body` gets each table's spec and its rows, `chunkRows` at a time,
    /// so no table is held whole. Throws `checkpoint(file:reason:)` naming the file for any format error.
    package static func read(
        path: String, chunkRows: Int = 65_536,
        _ body: (TableSpec, CheckpointRows) throws -> Void
    ) throws -> Header {
        let r = try CheckpointReader(path: path)
        guard try r.read(UInt32.self) == CheckpointFormat.magic else {
            throw HybridSyncError.checkpoint(.format, file: path, reason: "not a HybridSync checkpoint file")
        }
        let version = try r.read(UInt32.self)
        guard version == CheckpointFormat.version else {
            throw HybridSyncError.checkpoint(.format, file: path, reason: "format version \(version); this build reads version \(CheckpointFormat.version)")
        }
        guard try r.read(UInt8.self) == CheckpointFormat.serverShard else {
            throw HybridSyncError.checkpoint(.format, file: path, reason: "not a server shard")
        }
        let server = Int(try r.read(UInt32.self))
        let workers = Int(try r.read(UInt32.self))
        guard workers <= 65_536 else { throw HybridSyncError.checkpoint(.damaged, file: path, reason: "\(workers) workers") }
        var clocks: [Int64] = []
        for _ in 0..<workers { clocks.append(try r.read(Int64.self)) }
        let tables = Int(try r.read(UInt32.self))
        guard tables <= 4096 else { throw HybridSyncError.checkpoint(.damaged, file: path, reason: "\(tables) tables") }
        for _ in 0..<tables {
            let specBytes = Int(try r.read(UInt32.self))
            guard specBytes <= 1 << 16 else { throw HybridSyncError.checkpoint(.damaged, file: path, reason: "table spec of \(specBytes) bytes") }
            let raw = try r.read(specBytes)
            let spec = try raw.withUnsafeBytes { b -> TableSpec in
                var br = ByteReader(b, context: "table spec in \(path)")
                return try TableSpec.decode(from: &br)
            }
            let slots = OptimizerKernel(spec: spec.optimizer).stateSlots
            guard let rows = Int(exactly: try r.read(UInt64.self)) else {
                throw HybridSyncError.checkpoint(.damaged, file: path, reason: "row count of '\(spec.name)' out of range")
            }
            let widest = (0..<spec.pieceCount).map { spec.length(ofPiece: $0) }.max() ?? 0
            var chunk = CheckpointRows(reservingRows: Swift.min(rows, chunkRows), floats: Swift.min(rows, chunkRows) * widest * (1 + slots))
            for _ in 0..<rows {
                let key = try r.read(UInt64.self)
                let piece = Int(try r.read(UInt32.self))
                guard piece < spec.pieceCount else {
                    throw HybridSyncError.checkpoint(.damaged, file: path, reason: "row \(key) of '\(spec.name)' has piece \(piece)")
                }
                let step = try r.read(Int32.self)
                let n = spec.length(ofPiece: piece) * (1 + slots)
                try chunk.append(key: key, piece: piece, step: step, width: n) { try r.read(floats: $0.baseAddress!, count: n) }
                if chunk.count == chunkRows {
                    try body(spec, chunk)
                    chunk.removeAll()
                }
            }
            if !chunk.isEmpty || rows == 0 { try body(spec, chunk) }
        }
        return Header(server: server, clocks: clocks)
    }
}
