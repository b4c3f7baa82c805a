import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore

/// `hybridsync bench scaling`: `bench hybrid` for 1, 2, 4 ... workers over loopback and over the
/// emulated cluster (`Launch/cluster`: one namespace per rank, tbf-shaped links), collected into one
/// table, JSON lines and CSV, with samples/s and scaling efficiency per strategy.
struct BenchScaling: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scaling", abstract: "Strategies x workers x network (loopback, emulated cluster).")

    @Option(help: "Comma-separated model specs (a sparse one and one where dense dominates).") var specs =
        "Benchmarks/specs/dlrm-small.json,Benchmarks/specs/dense-small.json"
    @Option(help: "Comma-separated worker counts.") var workers = "1,2,4"
    @Option(help: "Comma-separated server counts; 'auto' is the planner's choice (one per worker).") var servers = "2,auto"
    @Option(help: "Networks: loopback and/or shaped-link rates such as 1gbit.") var networks = "loopback,1gbit"
    @Option(help: "Measured steps per point.") var steps = 5
    @Option(help: "Write JSON lines here.") var json: String?
    @Option(help: "Write CSV here.") var csv: String?
    @Option(help: "Write charts (PNG) into this folder.") var plots: String?
    @Option(help: "Only redraw the charts from the JSON lines of an earlier run.") var replot: String?

    func run() throws {
        if let replot {
            let text = try String(contentsOfFile: replot, encoding: .utf8)
            let rows = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            try drawCharts(rows, into: plots ?? "Docs/plots")
            return
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let root = packageRoot()
        var rows: [[String: Any]] = []
        emit("# hybridsync bench scaling: specs \(specs); dedicated servers \(servers) (auto = one per worker)")
        emit(
            [
                pad("spec", 12), pad("network", 9), pad("workers", 8), pad("servers", 8), pad("strategy", 10), pad("sync ms", 9), pad("dense ms", 9),
                pad("sparse ms", 10),
                pad("samples/s", 10), pad("efficiency", 11), pad("MB/worker", 10), pad("MB/server", 10), pad("model MB", 9), pad("model ms", 9),
                pad("error", 6),
            ].joined(separator: " "))
        var base: [String: Double] = [:]
        for spec in specs.split(separator: ",").map(String.init) {
            let batch = try ModelSpec.load(spec).batch
            let specName = URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent
            for network in networks.split(separator: ",").map(String.init) {
                for serverChoice in servers.split(separator: ",").map(String.init) {
                    for w in workers.split(separator: ",").compactMap({ Int($0) }) {
                        let s = serverChoice == "auto" ? w : (Int(serverChoice) ?? 2)
                        if serverChoice == "auto" && servers.split(separator: ",").contains(Substring("\(w)")) { continue }
                        let np = w + s
                        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("scaling-\(getpid())-\(specName)-\(network)-\(w)-\(s).jsonl")
                            .path
                        defer { try? FileManager.default.removeItem(atPath: tmp) }
                        let benchArgs = [exe.path, "bench", "hybrid", "--spec", spec, "--servers", "\(s)", "--steps", "\(steps)", "--json", tmp]
                        let (launcher, args): (String, [String]) =
                            network == "loopback"
                            ? (root.appendingPathComponent("Launch/mpirun").path, ["-np", "\(np)"] + benchArgs)
                            : (root.appendingPathComponent("Launch/cluster").path, ["run", "\(np)", network, "\(np)", "--"] + benchArgs)
                        let p = Process()
                        p.executableURL = URL(fileURLWithPath: launcher)
                        p.arguments = args
                        p.standardOutput = FileHandle.nullDevice
                        p.standardError = FileHandle.nullDevice
                        try p.run()
                        p.waitUntilExit()
                        guard p.terminationStatus == 0, let text = try? String(contentsOfFile: tmp, encoding: .utf8) else {
                            emit("\(specName) \(network) \(w) workers \(s) servers: the job failed (status \(p.terminationStatus))")
                            continue
                        }
                        for line in text.split(separator: "\n") {
                            guard var r = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                                let strategy = r["strategy"] as? String, let ms = (r["sync_ms"] as? NSNumber)?.doubleValue
                            else { continue }
                            let rate = Double(batch * w) / (ms / 1e3)
                            let predictedMs = (r["predicted_ms"] as? NSNumber)?.doubleValue ?? 0
                            let key = "\(specName)/\(network)/\(serverChoice)/\(strategy)"
                            if base[key] == nil { base[key] = rate / Double(w) }
                            let efficiency = rate / (Double(w) * base[key]!)
                            let bytes =
                                ((r["ring_bytes_per_worker"] as? NSNumber)?.doubleValue ?? 0) + ((r["ps_bytes_per_worker"] as? NSNumber)?.doubleValue ?? 0)
                            let predicted = (r["predicted_bytes_per_worker"] as? NSNumber)?.doubleValue ?? 0
                            let perServer = (r["server_bytes_per_step"] as? NSNumber)?.doubleValue ?? 0
                            emit(
                                [
                                    pad(specName, 12), pad(network, 9), pad("\(w)", 8), pad("\(s)", 8), pad(strategy, 10), pad(String(format: "%.1f", ms), 9),
                                    pad(String(format: "%.1f", (r["dense_ms"] as? NSNumber)?.doubleValue ?? 0), 9),
                                    pad(String(format: "%.1f", (r["sparse_ms"] as? NSNumber)?.doubleValue ?? 0), 10),
                                    pad(String(format: "%.0f", rate), 10), pad(String(format: "%.2f", efficiency), 11),
                                    pad(String(format: "%.2f", bytes / 1e6), 10), pad(String(format: "%.2f", perServer / 1e6), 10),
                                    pad(String(format: "%.2f", predicted / 1e6), 9),
                                    pad(String(format: "%.1f", predictedMs), 9), pad(String(format: "%.0f%%", 100 * abs(predictedMs - ms) / ms), 6),
                                ].joined(separator: " "))
                            r["network"] = network
                            r["spec_file"] = specName
                            r["server_choice"] = serverChoice
                            r["workers_count"] = w
                            r["bytes_per_worker"] = bytes
                            r["samples_per_s"] = rate
                            r["efficiency"] = efficiency
                            rows.append(r)
                        }
                    }
                }
            }
        }
        if let plots { try drawCharts(rows, into: plots) }
        if let json {
            let text =
                rows.compactMap { r in (try? JSONSerialization.data(withJSONObject: r, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } }
                .joined(separator: "\n") + "\n"
            try text.write(toFile: json, atomically: true, encoding: .utf8)
        }
        if let csv {
            let cols = [
                "spec_file", "network", "workers", "servers", "server_choice", "strategy", "sync_ms", "dense_ms", "sparse_ms", "samples_per_s", "efficiency",
                "ring_bytes_per_worker", "ps_bytes_per_worker", "server_bytes_per_step", "predicted_bytes_per_worker", "predicted_ms",
            ]
            let lines = [cols.joined(separator: ",")] + rows.map { r in cols.map { "\(r[$0] ?? "")" }.joined(separator: ",") }
            try (lines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        }
    }
}

extension BenchScaling {
    /// Step time, efficiency and bytes per worker versus workers, and measured versus predicted time.
    func drawCharts(_ rows: [[String: Any]], into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func num(_ r: [String: Any], _ k: String) -> Double { (r[k] as? NSNumber)?.doubleValue ?? (r[k] as? Double) ?? Double(r[k] as? Int ?? 0) }
        // One chart set for the first spec with the first server choice, so the lines stay readable.
        let first = rows.first.map { ($0["spec_file"] as? String ?? "", $0["server_choice"] as? String ?? "") }
        let rows = rows.filter { ($0["spec_file"] as? String ?? "", $0["server_choice"] as? String ?? "") == (first?.0 ?? "", first?.1 ?? "") }
        let keys = Array(Set(rows.map { "\($0["network"]!) \($0["strategy"]!)" })).sorted()
        func chart(_ title: String, _ y: String, _ value: ([String: Any]) -> Double, _ file: String, logY: Bool = false) throws {
            var c = LineChart(title: title, xLabel: "workers", yLabel: y, logX: true, logY: logY)
            for k in keys {
                let pts = rows.filter { "\($0["network"]!) \($0["strategy"]!)" == k }.map { (Double($0["workers_count"] as? Int ?? 0), value($0)) }
                c.series.append(LineChart.Series(label: k, points: pts, dashed: k.hasPrefix("loopback")))
            }
            try c.write("\(folder)/\(file)")
        }
        try chart("sync time per step", "ms", { num($0, "sync_ms") }, "scaling-step-time.png", logY: true)
        try chart("scaling efficiency", "samples/s / (N x 1-worker rate)", { num($0, "efficiency") }, "scaling-efficiency.png")
        try chart("bytes per worker per step", "MB", { num($0, "bytes_per_worker") / 1e6 }, "scaling-bytes.png", logY: true)
        var scatter = LineChart(title: "measured vs predicted sync time", xLabel: "predicted ms", yLabel: "measured ms", logX: true, logY: true)
        scatter.scatterWithDiagonal = true
        for k in keys {
            let pts = rows.filter { "\($0["network"]!) \($0["strategy"]!)" == k && num($0, "predicted_ms") > 0 }.map {
                (num($0, "predicted_ms"), num($0, "sync_ms"))
            }
            scatter.series.append(LineChart.Series(label: k, points: pts))
        }
        try scatter.write("\(folder)/scaling-measured-vs-predicted.png")
    }
}
