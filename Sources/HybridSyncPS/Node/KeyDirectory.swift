import Foundation
import HybridSyncCore

/// A directory of CURVE keys for a parameter-server job run without mpirun (`hybridsync keys --out DIR`):
///
/// - `server.key`: the key pair every listening node of the job serves with (`PUBLIC SECRET`);
/// - `NODE.key` for `scheduler`, `server-N`, `worker-N`: that node's own key pair;
/// - `members`: one line per node, `PUBLIC NODE` (public keys only; what a ZAP handler checks).
///
/// Key files are written with mode 0600. A node loads `server.key`, its own key and `members`.
package enum KeyDirectory {
    /// Writes fresh keys for a job of `servers` servers and `workers` workers into `directory`.
    package static func write(to directory: String, servers: Int, workers: Int) throws {
        guard servers >= 1, workers >= 1, servers <= 4096, workers <= 65_536 else {
            throw HybridSyncError.invalidArgument("keys for \(servers) servers and \(workers) workers")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let nodes = [NodeID.scheduler] + (0..<servers).map { NodeID(.server, $0) } + (0..<workers).map { NodeID(.worker, $0) }
        try save(try CurveKeyPair.generate(), to: directory + "/server.key")
        var members = ""
        for node in nodes {
            let name = Membership.name(of: node)
            let pair = try CurveKeyPair.generate()
            try save(pair, to: directory + "/\(name).key")
            members += "\(pair.publicKey) \(name)\n"
        }
        try write(members, to: directory + "/members", mode: 0o644)
    }

    /// What node `member` (`scheduler`, `server-N`, `worker-N`) needs from `directory`.
    package static func load(_ directory: String, member: String) throws -> CurveSetup {
        guard !Membership.nodes(of: member).isEmpty, !member.contains(",") else {
            throw HybridSyncError.invalidArgument("'\(member)' is not a node name (scheduler, server-N, worker-N)")
        }
        var members: [String: String] = [:]
        for line in try read(directory + "/members").split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 2, CurveKeyPair.isKey(parts[0]) else {
                throw HybridSyncError.invalidArgument("\(directory)/members: a line is not 'PUBLIC-KEY NODE'")
            }
            members[parts[0]] = parts[1]
        }
        return CurveSetup(server: try pair(directory + "/server.key"), client: try pair(directory + "/\(member).key"), members: members)
    }

    private static func pair(_ path: String) throws -> CurveKeyPair {
        let parts = try read(path).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard parts.count == 2 else { throw HybridSyncError.invalidArgument("\(path) is not 'PUBLIC-KEY SECRET-KEY'") }
        do { return try CurveKeyPair(publicKey: parts[0], secretKey: parts[1]) } catch {
            throw HybridSyncError.invalidArgument("\(path): \(error)")
        }
    }

    private static func save(_ pair: CurveKeyPair, to path: String) throws {
        try write("\(pair.publicKey) \(pair.secretKey)\n", to: path, mode: 0o600)
    }

    private static func write(_ text: String, to path: String, mode: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw HybridSyncError.invalidArgument("cannot write \(path)")
        }
    }

    private static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 24 else {
            throw HybridSyncError.invalidArgument("cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
