import Foundation
import HybridSyncCore

/// A directory of keys for a parameter-server job run without mpirun (`hybridsync keys --out DIR`):
///
/// - `server.key`: the key pair every listening node of the job serves with (`PUBLIC SECRET`);
/// - `NODE.key` for `scheduler`, `server-N`, `worker-N`: that node's own key pair;
/// - `members`: one line per node, `PUBLIC NODE` (public keys only; what a listener checks a hello against).
///
/// Key files are written with mode 0600. A node loads `server.key`, its own key and `members`.
///
/// For an mpirun job (`ranks:`), the keys are per rank instead: `rank-R.key`, and `members` names
/// `rank-R`; the runtime maps each rank to the nodes its layout gives it (`loadRank`).
package enum KeyDirectory {
    /// Writes fresh keys for a job of `servers` servers and `workers` workers into `directory`, or, with
    /// `ranks`, for an mpirun job of that many ranks.
    package static func write(to directory: String, servers: Int, workers: Int, ranks: Int? = nil) throws {
        guard servers >= 1, workers >= 1, servers <= 4096, workers <= 65_536, (ranks ?? 1) >= 1, (ranks ?? 1) <= 1 << 20 else {
            throw HybridSyncError.invalidArgument(.configuration, "keys for \(servers) servers and \(workers) workers")
        }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let names =
            ranks.map { n in (0..<n).map { "rank-\($0)" } }
            ?? ([NodeID.scheduler] + (0..<servers).map { NodeID(.server, $0) } + (0..<workers).map { NodeID(.worker, $0) }).map(Membership.name(of:))
        try save(try CurveKeyPair.generate(), to: directory + "/server.key")
        var members = ""
        for name in names {
            let pair = try CurveKeyPair.generate()
            try save(pair, to: directory + "/\(name).key")
            members += "\(pair.publicKey) \(name)\n"
        }
        try write(members, to: directory + "/members", mode: 0o644)
    }

    /// What node `member` (`scheduler`, `server-N`, `worker-N`) needs from `directory`.
    package static func load(_ directory: String, member: String) throws -> CurveSetup {
        guard !Membership.nodes(of: member).isEmpty, !member.contains(",") else {
            throw HybridSyncError.invalidArgument(.configuration, "'\(member)' is not a node name (scheduler, server-N, worker-N)")
        }
        return CurveSetup(
            server: try pair(directory + "/server.key"), client: try pair(directory + "/\(member).key"),
            members: try members(directory) { $0 })
    }

    /// What rank `rank` of an mpirun job needs from a directory written with `ranks:`; `identity` gives
    /// the member identity (its nodes) of each rank.
    package static func loadRank(_ directory: String, rank: Int, identity: (Int) -> String?) throws -> CurveSetup {
        let members = try members(directory) { name in
            guard name.hasPrefix("rank-"), let r = Int(name.dropFirst(5)) else { return nil }
            return identity(r)
        }
        return CurveSetup(server: try pair(directory + "/server.key"), client: try pair(directory + "/rank-\(rank).key"), members: members)
    }

    /// `members`, each name mapped through `rename` (nil: left out).
    private static func members(_ directory: String, rename: (String) -> String?) throws -> [String: String] {
        var members: [String: String] = [:]
        for line in try read(directory + "/members").split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 2, CurveKeyPair.isKey(parts[0]) else {
                throw HybridSyncError.invalidArgument(.configuration, "\(directory)/members: a line is not 'PUBLIC-KEY NODE'")
            }
            if let name = rename(parts[1]) { members[parts[0]] = name }
        }
        return members
    }

    private static func pair(_ path: String) throws -> CurveKeyPair {
        let parts = try read(path).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard parts.count == 2 else { throw HybridSyncError.invalidArgument(.configuration, "\(path) is not 'PUBLIC-KEY SECRET-KEY'") }
        do { return try CurveKeyPair(publicKey: parts[0], secretKey: parts[1]) } catch {
            throw HybridSyncError.invalidArgument(.configuration, "\(path): \(error)")
        }
    }

    private static func save(_ pair: CurveKeyPair, to path: String) throws {
        try write("\(pair.publicKey) \(pair.secretKey)\n", to: path, mode: 0o600)
    }

    private static func write(_ text: String, to path: String, mode: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw HybridSyncError.invalidArgument(.io, "cannot write \(path)")
        }
    }

    private static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 24 else {
            throw HybridSyncError.invalidArgument(.io, "cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
