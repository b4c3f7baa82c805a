import Foundation

/// The processes a test started: descendants of a process it launched, read from `/proc`, so a test
/// signals only its own job's ranks, never another process that happens to share a name.
enum ProcessTree {
    /// The descendants of `root` whose command name is `name` and whose Open MPI rank is `rank`.
    static func ranks(_ rank: Int, named name: String, under root: Int32) -> [Int32] {
        descendants(of: root).filter { pid in
            command(of: pid) == name && environment(of: pid)["OMPI_COMM_WORLD_RANK"] == "\(rank)"
        }
    }

    /// Every process whose chain of parents reaches `root` (not `root` itself).
    static func descendants(of root: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var parent: [Int32: Int32] = [:]
        for pid in entries.compactMap(Int32.init) { if let pp = parentOf(pid) { parent[pid] = pp } }
        return parent.keys.filter { pid in
            var p = parent[pid]
            var hops = 0
            while let q = p, q > 1, hops < 64 {
                if q == root { return true }
                p = parent[q]
                hops += 1
            }
            return false
        }
    }

    /// The parent from `/proc/PID/stat` ("pid (comm) state ppid ..."; the name may hold spaces).
    private static func parentOf(_ pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    private static func command(of pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func environment(of pid: Int32) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [:] }
        var env: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let s = String(decoding: entry, as: UTF8.self)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        }
        return env
    }
}
