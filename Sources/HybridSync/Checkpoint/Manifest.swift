import Foundation
import HybridSyncCore
import HybridSyncPS

/// The table of contents of one checkpoint: its format version, the step it was taken at, the job's
/// shape, and every file with its size and CRC-32C. Written last, so a directory without one is not a
/// checkpoint (a crash while writing leaves only a temporary directory, which resume ignores).
struct CheckpointManifest: Codable, Equatable, Sendable {
    struct File: Codable, Equatable, Sendable {
        let name: String
        let size: Int
        let crc32c: UInt32
    }

    let format: UInt32
    let step: Int
    let workers: Int
    let servers: Int
    let files: [File]

    /// Reads `directory/manifest.json`; refuses another format version with a clear message.
    static func read(directory: String) throws -> CheckpointManifest {
        let path = directory + "/" + CheckpointFormat.manifestName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HybridSyncError.checkpoint(.missing, file: path, reason: "missing: not a complete checkpoint")
        }
        struct Version: Decodable { let format: UInt32 }
        guard let v = try? JSONDecoder().decode(Version.self, from: data) else {
            throw HybridSyncError.checkpoint(.format, file: path, reason: "not a HybridSync checkpoint manifest")
        }
        guard v.format == CheckpointFormat.version else {
            throw HybridSyncError.checkpoint(
                .format, file: path, reason: "checkpoint format version \(v.format); this build reads version \(CheckpointFormat.version) only")
        }
        do {
            return try JSONDecoder().decode(CheckpointManifest.self, from: data)
        } catch {
            throw HybridSyncError.checkpoint(.damaged, file: path, reason: "unreadable manifest: \(error)")
        }
    }

    /// Checks every file's size and CRC-32C; throws naming the first damaged one.
    func verify(directory: String) throws {
        for f in files { try CheckpointReader.verify(path: directory + "/" + f.name, size: f.size, crc: f.crc32c) }
    }

    /// Writes `directory/manifest.json` and fsyncs it.
    func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let w = try CheckpointWriter(path: directory + "/" + CheckpointFormat.manifestName)
        try w.write(Array(try encoder.encode(self)))
        _ = try w.finish()
    }
}

/// Checkpoint directories under a root: `step-N` for complete checkpoints, `.step-N.tmp` while one is
/// written.
enum CheckpointDirectory {
    /// The complete checkpoints under `root` (those with a manifest), oldest first, with their steps.
    static func complete(in root: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("step-"), let step = Int(n.dropFirst(5)) else { return nil }
            let path = root + "/" + n
            guard FileManager.default.fileExists(atPath: path + "/" + CheckpointFormat.manifestName) else { return nil }
            return (step, path)
        }.sorted { $0.0 < $1.0 }
    }

    /// `path` itself if it holds a manifest, else the newest complete checkpoint under it.
    static func resolve(_ path: String) throws -> String {
        if FileManager.default.fileExists(atPath: path + "/" + CheckpointFormat.manifestName) { return path }
        guard let newest = complete(in: path).last else {
            throw HybridSyncError.checkpoint(.missing, file: path, reason: "no complete checkpoint here")
        }
        return newest.path
    }

    /// An absolute path (servers write into the directory from their own working directories).
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// fsyncs the file at `path` (written by this process or a server's), throwing naming it.
    static func makeDurable(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw HybridSyncError.checkpoint(.io, file: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
    }

    /// Makes the finished checkpoint `tmp` (its files durable, its manifest written) the complete
    /// `root/step-N`, durably, and removes all but the newest `keep` complete ones.
    static func moveInPlace(_ tmp: String, root: String, step: Int, keep: Int) throws {
        let fm = FileManager.default, final = root + "/step-\(step)"
        sync(tmp)
        do {
            // A checkpoint of the same step again: the old one moves aside first and goes only once the
            // new one is in place, so a crash in between still leaves a complete one (the aside copy is
            // an ordinary `.step-N.old` directory, ignored by resume, removed on the next success).
            let aside = root + "/.step-\(step).old"
            if fm.fileExists(atPath: aside) { try fm.removeItem(atPath: aside) }
            if fm.fileExists(atPath: final) { try fm.moveItem(atPath: final, toPath: aside) }
            try fm.moveItem(atPath: tmp, toPath: final)
            if fm.fileExists(atPath: aside) { try fm.removeItem(atPath: aside) }
        } catch {
            throw HybridSyncError.checkpoint(.io, file: final, reason: "cannot move the finished checkpoint in place: \(error.localizedDescription)")
        }
        sync(root)
        for old in complete(in: root).dropLast(Swift.max(1, keep)) { try? fm.removeItem(atPath: old.path) }
    }

    /// fsyncs a directory, so a rename in it is durable.
    static func sync(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
