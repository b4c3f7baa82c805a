import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One `Launch/mpirun` run of the soak: its output, how it ended, and what it reported.
struct SoakJob {
    let root: URL
    let np: Int
    let log: String

    struct Outcome {
        let status: Int32
        let text: String
        /// The ranks killed, in order.
        let killed: [Int]
        /// Per world rank of the last launch: RSS (bytes) after warm-up (half its life) and at
        /// the end.
        let rss: [Int: (Int, Int)]
        /// Relaunches `Launch/mpirun --max-restarts` made: the largest k of its "restart k of N" lines
        /// (a rank's logged cause may quote such a line again).
        var restarts: Int {
            lines("; restart ").compactMap { l in
                l.range(of: "; restart ").flatMap { r in Int(l[r.upperBound...].prefix { $0.isNumber }) }
            }.max() ?? 0
        }
        /// Times the standby scheduler took over from a dead scheduler.
        var takeovers: Int { lines("the standby scheduler takes over").count }

        var tail: String { String(text.suffix(3000)) }
        var params: String? { line("PARAMS crc32c ").map { String($0.split(separator: " ")[2]) } }
        var resends: Int { lines("RESENDS worker ").compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +) }
        var duplicates: Int { line("SERVERS duplicates=").flatMap { Int($0.split(separator: " ")[1].dropFirst("duplicates=".count)) } ?? 0 }
        /// Faults injected, summed over ranks ("FAULTS rank R kind=n ...").
        var faults: [String: Int] {
            var out: [String: Int] = [:]
            for l in lines("FAULTS rank ") {
                for part in l.split(separator: " ").dropFirst(3) {
                    let kv = part.split(separator: "=")
                    if kv.count == 2, let n = Int(kv[1]) { out[String(kv[0]), default: 0] += n }
                }
            }
            return out
        }
        /// Seconds per `steps` steps, from the run's closing line ("N steps in S s").
        func seconds(per steps: Int) -> Double? {
            guard let l = line("test accuracy "), let r = l.range(of: " steps in ") else { return nil }
            let n = Double(l[..<r.lowerBound].split(separator: " ").last ?? "")
            let s = Double(l[r.upperBound...].split(separator: " ").first ?? "")
            guard let n, let s, n > 0 else { return nil }
            return s / n * Double(steps)
        }
        private func lines(_ prefix: String) -> [Substring] {
            text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).compactMap { l in l.range(of: prefix).map { l[$0.lowerBound...] } }
        }
        private func line(_ prefix: String) -> Substring? { lines(prefix).last }
    }

    /// Runs `hybridsync ARGS` on `np` ranks (`launch` goes to `Launch/mpirun` first, e.g.
    /// `--max-restarts N`). `kills` are killed (SIGKILL) one after another, each once `due(k)` holds
    /// (k: the kills so far); with `sampleRSS` every rank's RSS is read twice a second.
    func run(
        _ args: [String], env: [String: String] = [:], launch: [String] = [], kills: [Int] = [], due: (Int) -> Bool = { _ in false },
        sampleRSS: Bool = false
    ) throws -> Outcome {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? out.close() }
        let p = Process()
        p.executableURL = root.appendingPathComponent("Launch/mpirun")
        p.arguments = launch + ["-np", "\(np)", URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path] + args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = out
        p.standardError = out
        let start = Date()
        try p.run()
        var killed: [Int] = []
        // (seconds since start, pid, rank, RSS)
        var samples: [(Double, Int32, Int, Int)] = []
        var lastSample = -1.0
        while p.isRunning {
            if killed.count < kills.count, due(killed.count) {
                let victim = kills[killed.count]
                for (pid, rank) in ranks(under: p.processIdentifier) where rank == victim { kill(pid, SIGKILL) }
                killed.append(victim)
            }
            let now = Date().timeIntervalSince(start)
            if sampleRSS && now - lastSample >= 0.5 {
                lastSample = now
                for (pid, rank) in ranks(under: p.processIdentifier) { if let r = rss(pid) { samples.append((now, pid, rank, r)) } }
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        // The last launch's processes: each rank's newest pid, warm after half its life. (A server's
        // exactly-once windows, 4,096 replies per worker, fill over the first ~1,600 steps: about
        // 80 s of the soak's faulty job, whose memory rises ~15% meanwhile and is flat after.)
        var rssByRank: [Int: (Int, Int)] = [:]
        for rank in Set(samples.map(\.2)) {
            guard let newest = samples.last(where: { $0.2 == rank })?.1 else { continue }
            let mine = samples.filter { $0.1 == newest }
            guard let first = mine.first, let e = mine.last else { continue }
            let warm = first.0 + (e.0 - first.0) / 2
            if let s = mine.first(where: { $0.0 >= warm }) { rssByRank[rank] = (s.3, e.3) }
        }
        return Outcome(status: p.terminationStatus, text: text, killed: killed, rss: rssByRank)
    }

    /// (pid, world rank) of every rank of the job started as `root`: `hybridsync` processes descended
    /// from it with a rank in their environment (other jobs on the machine are left alone).
    private func ranks(under root: Int32) -> [(Int32, Int)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { descends($0, from: root) }.compactMap { pid in
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard comm == "hybridsync", let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
            for entry in env.split(separator: 0) where entry.starts(with: Array("OMPI_COMM_WORLD_RANK=".utf8)) {
                return Int(String(decoding: entry.dropFirst("OMPI_COMM_WORLD_RANK=".utf8.count), as: UTF8.self)).map { (pid, $0) }
            }
            return nil
        }
    }

    /// Whether `pid`'s chain of parents reaches `root`.
    private func descends(_ pid: Int32, from root: Int32) -> Bool {
        var p = pid
        for _ in 0..<16 {
            guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
            // Fields after the command: state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]) else { return false }
            if parent == root { return true }
            if parent <= 1 { return false }
            p = parent
        }
        return false
    }

    /// Resident memory of `pid` in bytes (`VmRSS` in /proc/PID/status).
    private func rss(_ pid: Int32) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kb * 1024
    }
}
