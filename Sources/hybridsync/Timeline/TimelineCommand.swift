import ArgumentParser
import Foundation
import HybridSync

/// `hybridsync timeline FILE --png OUT`: draws a window of a job timeline (the Chrome trace `train
/// --timeline` writes) as a PNG: one row per worker and server, spans coloured by kind, nested spans
/// below their parent. For docs and quick looks; Perfetto or chrome://tracing open the trace itself.
struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "timeline", abstract: "Draw a window of a job timeline as a PNG.")

    @Argument(help: "The trace (train --timeline FILE).") var trace: String
    @Option(help: "PNG to write.") var png = "timeline.png"
    @Option(help: "Start at worker 0's N-th span named --step-span (a step's first span).") var step = 50
    @Option(help: "The span that starts a step on worker 0.") var stepSpan = "features"
    @Option(help: "Milliseconds shown.") var windowMs = 25.0
    @Option(help: "Image width in pixels.") var width = 1400

    struct Span { let row: String; let name: String; let start: Double; let duration: Double }

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: trace))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let events = root["traceEvents"] as? [[String: Any]]
        else { throw ValidationError("\(trace) is not a Chrome trace") }
        var rowNames: [String: String] = [:]
        for e in events where (e["ph"] as? String) == "M" && (e["name"] as? String) == "thread_name" {
            if let pid = e["pid"] as? Int, let tid = e["tid"] as? Int, let args = e["args"] as? [String: Any], let name = args["name"] as? String {
                rowNames["\(pid)/\(tid)"] = name
            }
        }
        let spans: [Span] = events.compactMap { e in
            guard (e["ph"] as? String) == "X", let pid = e["pid"] as? Int, let tid = e["tid"] as? Int, let name = e["name"] as? String,
                let ts = (e["ts"] as? NSNumber)?.doubleValue, let dur = (e["dur"] as? NSNumber)?.doubleValue
            else { return nil }
            return Span(row: rowNames["\(pid)/\(tid)"] ?? "rank \(pid)", name: name, start: ts, duration: dur)
        }
        let starts = spans.filter { $0.row == "worker 0" && $0.name == stepSpan }.map(\.start).sorted()
        guard !starts.isEmpty else { throw ValidationError("no '\(stepSpan)' spans on worker 0 in \(trace)") }
        let t0 = starts[min(step, starts.count - 1)], t1 = t0 + windowMs * 1000
        let shown = spans.filter { $0.start < t1 && $0.start + $0.duration > t0 }
        let rows = Set(shown.map(\.row)).sorted { Self.order($0) < Self.order($1) }
        try draw(shown, rows: rows, from: t0, to: t1)
        emit("wrote \(png): \(rows.count) rows, \(shown.count) spans, \(windowMs) ms from worker 0's '\(stepSpan)' #\(step)")
    }

    /// Workers first, then servers and what they hold, each by number.
    static func order(_ row: String) -> (Int, Int, String) {
        let parts = row.split(separator: " ")
        let kind = parts.first == "worker" ? 0 : parts.first == "server" ? 1 : 2
        return (kind, parts.count > 1 ? Int(parts[1]) ?? 0 : 0, row)
    }

    static let palette: [(String, Canvas.Color)] = [
        ("features", (150, 150, 150)), ("forward", (90, 90, 90)), ("backward", (60, 60, 60)),
        ("pull", (66, 133, 244)), ("push", (52, 168, 83)), ("all-reduce", (234, 67, 53)), ("negotiate", (251, 188, 5)),
        ("reduce", (200, 80, 60)), ("fuse", (255, 140, 0)), ("unfuse", (255, 140, 0)), ("apply", (142, 68, 173)),
        ("clock", (0, 172, 193)), ("held", (173, 216, 230)), ("answer", (66, 133, 244)),
        ("start bucket", (0, 121, 107)), ("finish buckets", (183, 28, 28)), ("checkpoint", (121, 85, 72)),
    ]

    static func color(_ name: String) -> Canvas.Color {
        if name.hasPrefix("reduce-scatter") || name.hasPrefix("all-gather") { return (240, 128, 128) }
        if name.contains("held for") { return (173, 216, 230) }
        if name == "apply held pushes" { return (142, 68, 173) }
        if name == "pull answer" { return (66, 133, 244) }
        return palette.first { name.hasPrefix($0.0) }?.1 ?? (120, 120, 120)
    }

    private func draw(_ spans: [Span], rows: [String], from t0: Double, to t1: Double) throws {
        let lane = 14, lanes = 3, rowHeight = lane * lanes + 8, left = 170, top = 40
        let legendTop = top + rows.count * rowHeight + 30
        let columns = max(1, (width - left) / 190)
        var canvas = Canvas(width: width, height: legendTop + 20 * ((Self.palette.count + columns - 1) / columns) + 20)
        let scale = Double(width - left - 20) / (t1 - t0)
        func x(_ t: Double) -> Int { left + Int((min(max(t, t0), t1) - t0) * scale) }
        canvas.text("timeline: \(String(format: "%.0f", windowMs)) ms of the demo (train --timeline), one row per worker and server", left, 10, scale: 2)
        for ms in stride(from: 0.0, through: windowMs, by: windowMs > 20 ? 5 : 1) {
            let px = x(t0 + ms * 1000)
            canvas.line(px, top - 6, px, top + rows.count * rowHeight, (225, 225, 225))
            canvas.text("\(Int(ms)) ms", px + 2, top - 14)
        }
        for (r, row) in rows.enumerated() {
            let y0 = top + r * rowHeight
            canvas.text(row, 6, y0 + rowHeight / 2 - 4, scale: 1)
            canvas.line(left, y0 + rowHeight - 2, width - 20, y0 + rowHeight - 2, (235, 235, 235))
            // Depth of each span: how many spans of the row contain it.
            let mine = spans.filter { $0.row == row }.sorted { ($0.start, -$0.duration) < ($1.start, -$1.duration) }
            var open: [Double] = []
            for s in mine {
                open.removeAll { $0 <= s.start }
                let depth = min(open.count, lanes - 1)
                open.append(s.start + s.duration)
                let c = Self.color(s.name)
                let ya = y0 + 2 + depth * lane, xa = x(s.start), xb = max(x(s.start + s.duration), xa + 1)
                for yy in ya..<(ya + lane - 2) { canvas.line(xa, yy, xb, yy, c) }
                let label = s.name
                if xb - xa > Canvas.textWidth(label) + 4 { canvas.text(label, xa + 2, ya + 3, (255, 255, 255)) }
            }
        }
        for (i, (name, c)) in Self.palette.enumerated() {
            let lx = left + (i % columns) * 190, ly = legendTop + (i / columns) * 20
            for yy in ly..<(ly + 10) { canvas.line(lx, yy, lx + 20, yy, c) }
            canvas.text(name, lx + 26, ly + 2)
        }
        try canvas.writePNG(png)
    }
}
