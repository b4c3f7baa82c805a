import Foundation
import HybridSyncCore
import HybridSyncPS

/// What a checkpoint holds, read from its files without a running job (`hybridsync checkpoint`).
package struct CheckpointSummary: Sendable {
    package struct Table: Sendable {
        package let spec: TableSpec
        package var rows: Int
    }
    package let directory: String
    package let step: Int
    package let workers: Int
    package let servers: Int
    /// Each file with its size and whether its checksum matched.
    package let files: [(name: String, size: Int, ok: String?)]
    package let tables: [Table]

    /// Reads the manifest of `path` (a checkpoint, or a root: the newest), checks every file, and counts
    /// each table's rows over the shards. Throws for a missing manifest or another format version.
    package static func read(_ path: String) throws -> CheckpointSummary {
        let dir = try CheckpointDirectory.resolve(path)
        let m = try CheckpointManifest.read(directory: dir)
        var files: [(String, Int, String?)] = []
        var tables: [String: Table] = [:]
        for f in m.files {
            do {
                try CheckpointReader.verify(path: dir + "/" + f.name, size: f.size, crc: f.crc32c)
                files.append((f.name, f.size, nil))
            } catch {
                files.append((f.name, f.size, "\(error)"))
                continue
            }
            guard f.name.hasSuffix(".shard") else { continue }
            _ = try ShardFile.read(path: dir + "/" + f.name) { spec, rows in
                tables[spec.name, default: Table(spec: spec, rows: 0)].rows += rows.pieces.lazy.filter { $0 == 0 }.count
            }
        }
        return CheckpointSummary(
            directory: dir, step: m.step, workers: m.workers, servers: m.servers, files: files,
            tables: tables.values.sorted { $0.spec.name < $1.spec.name })
    }

    /// Bytes of every file of the checkpoint at `path` (or the newest under it), as its manifest says.
    package static func bytes(_ path: String) throws -> Int {
        try CheckpointManifest.read(directory: CheckpointDirectory.resolve(path)).files.reduce(0) { $0 + $1.size }
    }

    /// Writes table `name`'s rows as a NumPy `.npy` file of float32, shape (rows, dimension): row i is
    /// id i when the ids are exactly 0 ..< rows; otherwise rows in ascending id order, and the ids
    /// (uint64) in `<out without .npy>.ids.npy`. Returns (rows, dimension, ids file or nil). The table
    /// is gathered in memory, one copy.
    package static func export(_ path: String, table name: String, to out: String) throws -> (Int, Int, String?) {
        let dir = try CheckpointDirectory.resolve(path)
        let m = try CheckpointManifest.read(directory: dir)
        try m.verify(directory: dir)
        var dimension = 0, found = false
        var rows: [UInt64: [Float]] = [:]
        for f in m.files where f.name.hasSuffix(".shard") {
            _ = try ShardFile.read(path: dir + "/" + f.name) { spec, chunk in
                guard spec.name == name else { return }
                found = true
                dimension = spec.dimension
                for i in 0..<chunk.count {
                    let piece = chunk.pieces[i], key = chunk.keys[i]
                    let n = spec.length(ofPiece: piece), start = piece * spec.pieceLength
                    var row = rows[key] ?? [Float](repeating: 0, count: spec.dimension)
                    row.replaceSubrange(start..<(start + n), with: chunk.data(of: i).prefix(n))
                    rows[key] = row
                }
            }
        }
        guard found else { throw HybridSyncError.unknownTable(name) }
        let ids = rows.keys.sorted()
        var values: [Float] = []
        values.reserveCapacity(ids.count * dimension)
        for id in ids { values += rows[id]! }
        try NumPyFile.write(out, descr: "<f4", shape: [ids.count, dimension], values.withUnsafeBytes { Array($0) })
        let dense = ids.enumerated().allSatisfy { UInt64($0.offset) == $0.element }
        if dense { return (ids.count, dimension, nil) }
        let idsPath = (out.hasSuffix(".npy") ? String(out.dropLast(4)) : out) + ".ids.npy"
        try NumPyFile.write(idsPath, descr: "<u8", shape: [ids.count], ids.withUnsafeBytes { Array($0) })
        return (ids.count, dimension, idsPath)
    }
}

/// The NumPy `.npy` format, version 1.0: magic, a header dict padded to 64 bytes, then the raw data
/// (little-endian, C order).
enum NumPyFile {
    static func write(_ path: String, descr: String, shape: [Int], _ data: [UInt8]) throws {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let n = UInt16(header.utf8.count)
        bytes += [UInt8(n & 0xFF), UInt8(n >> 8)]
        bytes += Array(header.utf8)
        bytes += data
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw HybridSyncError.checkpoint(.io, file: path, reason: "cannot write the export")
        }
    }
}
