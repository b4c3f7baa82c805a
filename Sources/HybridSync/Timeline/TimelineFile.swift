import Foundation
import HybridSyncCore

/// The job's timeline on disk: every rank writes its spans to `FILE.rank-N.part` when it ends, and
/// rank 0 merges the parts into `FILE`, a Chrome-trace JSON (`{"traceEvents": [...]}`) with a process
/// per rank and a row per node it held (worker, server, scheduler). The parts share one clock (see
/// `Timeline`). The merge needs the ranks' parts on one file system (one host, or a shared folder).
package enum TimelineFile {
    /// The part file of `rank`.
    static func partPath(_ path: String, rank: Int) -> String { "\(path).rank-\(rank).part" }

    /// Writes this process's spans (if `Timeline` is recording) as rank `rank`'s part; on rank 0, then
    /// waits up to `timeout` seconds for the other ranks' parts and merges them into the trace file.
    /// Returns the ranks whose part never came (their rows are missing from the trace), or nil when
    /// nothing was recorded. Throws `invalidArgument` naming the file it could not write.
    @discardableResult
    package static func finish(rank: Int, ranks: Int, timeout: Double = 15) throws -> [Int]? {
        guard let path = Timeline.path else { return nil }
        try writePart(path, rank: rank)
        guard rank == 0 else { return [] }
        return try merge(path, ranks: ranks, timeout: timeout)
    }

    /// Writes the spans recorded so far as `rank`'s part: JSON objects, one per line.
    static func writePart(_ path: String, rank: Int) throws {
        let (spans, dropped) = Timeline.drain()
        var rows: [String: Int] = [:]
        var lines: [String] = ["{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":\(rank),\"args\":{\"name\":\"rank \(rank)\"}}"]
        for s in spans {
            let tid: Int
            if let known = rows[s.row] {
                tid = known
            } else {
                tid = rows.count + 1
                rows[s.row] = tid
                lines.append("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":\(rank),\"tid\":\(tid),\"args\":{\"name\":\(quoted(s.row))}}")
            }
            let detail = s.detail.isEmpty ? "" : ",\"args\":{\"detail\":\(quoted(s.detail))}"
            lines.append(
                String(
                    format: "{\"name\":%@,\"ph\":\"X\",\"ts\":%.1f,\"dur\":%.1f,\"pid\":%d,\"tid\":%d%@}",
                    quoted(s.name), s.start, s.duration, rank, tid, detail))
        }
        if dropped > 0 {
            lines.append(
                "{\"name\":\"\(dropped) spans dropped (timeline full)\",\"ph\":\"i\",\"s\":\"p\",\"ts\":\(spans.last?.start ?? 0),\"pid\":\(rank),\"tid\":0}")
        }
        let part = partPath(path, rank: rank)
        do {
            try (lines.joined(separator: "\n") + "\n").write(toFile: part, atomically: true, encoding: .utf8)
        } catch {
            throw HybridSyncError.invalidArgument(.io, "could not write the timeline part \(part): \(error)")
        }
    }

    /// Merges the ranks' parts into `path`, waiting up to `timeout` seconds for them; removes the parts.
    static func merge(_ path: String, ranks: Int, timeout: Double) throws -> [Int] {
        let deadline = Deadline.after(seconds: timeout)
        var missing = Array(0..<ranks)
        while true {
            missing = missing.filter { !FileManager.default.fileExists(atPath: partPath(path, rank: $0)) }
            if missing.isEmpty || deadline.hasPassed { break }
            usleep(20_000)
        }
        var events: [Substring] = []
        for r in 0..<ranks where !missing.contains(r) {
            let part = partPath(path, rank: r)
            guard let text = try? String(contentsOfFile: part, encoding: .utf8) else { continue }
            events += text.split(separator: "\n")
            try? FileManager.default.removeItem(atPath: part)
        }
        let body = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n" + events.joined(separator: ",\n") + "\n]}\n"
        do {
            try body.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw HybridSyncError.invalidArgument(.io, "could not write the timeline \(path): \(error)")
        }
        return missing
    }

    /// `s` as a JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
