import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore
import HybridSyncZMQ

/// `hybridsync bench ps`: push, pull and push+pull latency (p50, p99) and throughput over real ZeroMQ
/// for several shapes, at 1 server + 1 worker and 2 servers + 2 workers, with servers that discard the
/// data and with Adagrad applied; and, in the same run, raw ZeroMQ request/reply of the same message
/// sizes as the ceiling.
///
/// By default it measures what a user gets: sealed links (the secure channel), replication as `train` sets it (a
/// backup of every shard with 2+ servers), Unix sockets between processes of one host; and the same
/// jobs with plain links (`HYBRIDSYNC_INSECURE=1`), alternated, with the encryption's ratio side by
/// side. Each alternative is a flag.
struct BenchPS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "Parameter-server latency and throughput versus raw ZeroMQ.")
    static let defaultShapes = "1x1,100x64,10000x64,1000000x1,16x262144"

    @Option(help: "Comma-separated shapes KEYSxFLOATS.") var shapes = BenchPS.defaultShapes
    @Option(help: "Seconds per shape and operation.") var seconds = 1.0
    @Option(help: "Topologies SERVERSxWORKERS.") var topologies = "1x1,2x2"
    @Option(help: "Append JSON lines to this file.") var json: String?
    @Option(help: "Extra copies of each shard (0: none, as ps-lite; 1: every change also goes to a backup server; default: as train, 1 with 2+ servers).")
    var replication: Int?
    @Option(help: "Requests in flight per worker for the throughput table (1: skip it).") var inFlight = 4
    @Option(help: "Transports, each measured in turn: ipc (Unix sockets, servers on this host: the default) and/or tcp.") var transports = "ipc"
    @Option(help: "Links: default (sealed, as the library), plain, or both, one job after the other (default: both; plain if HYBRIDSYNC_INSECURE=1).")
    var links: String?
    @Option(help: "Server modes, each a job: none (rows not kept), adagrad, sgd, adam.") var serverModes = "none,adagrad"

    struct Shape { let keys: Int; let floats: Int }

    /// `--links`, or its default: both, unless the environment asks for plain links.
    var linkChoice: String { links ?? (ProcessInfo.processInfo.environment["HYBRIDSYNC_INSECURE"] == "1" ? "plain" : "both") }

    static func parseShapes(_ s: String) -> [Shape] {
        s.split(separator: ",").compactMap { part in
            let xs = part.split(separator: "x").compactMap { Int($0) }
            return xs.count == 2 ? Shape(keys: xs[0], floats: xs[1]) : nil
        }
    }

    func run() throws {
        var out = JSONLines(path: json)
        guard replication.map({ (0...1).contains($0) }) ?? true else { throw ValidationError("--replication must be 0 or 1") }
        guard ["default", "plain", "both"].contains(linkChoice) else { throw ValidationError("--links takes default, plain or both") }
        let kinds = transports.split(separator: ",").map(String.init)
        guard !kinds.isEmpty, kinds.allSatisfy({ $0 == "ipc" || $0 == "tcp" }) else { throw ValidationError("--transports takes ipc, tcp or both") }
        guard serverModes.split(separator: ",").allSatisfy({ ["none", "adagrad", "sgd", "adam"].contains($0) }) else {
            throw ValidationError("--server-modes takes none, adagrad, sgd, adam")
        }
        for transport in kinds { try measure(transport: transport, out: &out) }
        try out.write()
    }

    /// Every table of the run over one transport: `ipc` (Unix sockets, what servers on this host use)
    /// or `tcp` (loopback TCP, what servers on other hosts use).
    private func measure(transport: String, out: inout JSONLines) throws {
        let shapeList = Self.parseShapes(shapes)
        var config = try PSConfig.fromEnvironment(ProcessInfo.processInfo.environment)
        config.sameHostIPC = transport == "ipc"
        let copies = replication.map(String.init) ?? "as train (0 with 1 server, 1 with 2+)"
        emit("# hybridsync bench ps: one request in flight per worker, loopback \(transport), medians (p50) and p99 in us; replication \(copies)")
        emit("# raw ZeroMQ ceiling (the library's transport and frame layout, no protocol; same bytes each way, measured in this run)")
        var ceiling: [String: (Double, Double)] = [:]
        for shape in shapeList {
            let keyBytes = shape.keys * 8, valueBytes = shape.keys * shape.floats * 4
            let push = try RawZMQ.roundTrip(keyBytes: keyBytes, valueBytes: valueBytes, replyBytes: 0, seconds: seconds / 2, config: config)
            let pull = try RawZMQ.roundTrip(keyBytes: keyBytes, valueBytes: 0, replyBytes: valueBytes, seconds: seconds / 2, config: config)
            ceiling["\(shape.keys)x\(shape.floats)"] = (push, pull)
            emit(
                "#   \(shape.keys) x \(shape.floats): push-sized \(String(format: "%.0f", push * 1e6)) us, pull-sized \(String(format: "%.0f", pull * 1e6)) us")
            out.add([
                "bench": "ps", "kind": "zmq", "transport": transport, "keys": shape.keys, "floats": shape.floats, "push_rtt_us": push * 1e6,
                "pull_rtt_us": pull * 1e6,
            ])
        }
        emit(
            [
                pad("keys x floats", 16), pad("S+W", 4), pad("server", 8), pad("links", 8), pad("push p50", 10), pad("p99", 9), pad("pull p50", 10),
                pad("p99", 9), pad("pp p50", 10), pad("p99", 9), pad("push MB/s", 10), pad("push/zmq", 9), pad("pull/zmq", 9),
            ].joined(separator: " "))
        var pipelinedLines: [String] = [], ratioLines: [String] = []
        for topo in topologies.split(separator: ",") {
            let parts = topo.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("bad topology \(topo)") }
            for mode in serverModes.split(separator: ",").map(String.init) {
                // Encrypted and plain jobs one after the other, so both see the machine alike.
                let kinds = linkChoice == "both" ? ["default", "plain"] : [linkChoice]
                let byLinks = try kinds.map {
                    (
                        $0 == "plain" ? "plain" : "sealed",
                        try runJob(servers: parts[0], workers: parts[1], mode: mode, transport: transport, plain: $0 == "plain")
                    )
                }
                let job = Job(servers: parts[0], workers: parts[1], mode: mode, transport: transport, replication: replication ?? (parts[0] >= 2 ? 1 : 0))
                for shape in shapeList {
                    let (zPush, zPull) = ceiling["\(shape.keys)x\(shape.floats)"]!
                    for (security, rows) in byLinks {
                        report(Result(job: job, shape: shape, links: security, rows: rows), zmq: (zPush, zPull), out: &out, pipelined: &pipelinedLines)
                    }
                    if byLinks.count == 2 {
                        let (curve, plain) = (
                            Result(job: job, shape: shape, links: "sealed", rows: byLinks[0].1),
                            Result(job: job, shape: shape, links: "plain", rows: byLinks[1].1)
                        )
                        let r = ["push", "pull", "pushpull"].map { op in pad(String(format: "%.2f", curve.stat(op, "p50_us") / plain.stat(op, "p50_us")), 9) }
                        ratioLines.append(
                            ([pad("\(shape.keys) x \(shape.floats)", 16), pad("\(parts[0])+\(parts[1])", 4), pad(mode, 8)] + r).joined(separator: " "))
                    }
                }
            }
        }
        if !ratioLines.isEmpty {
            emit("# the encryption's cost: p50 with sealed links over p50 with plain links, same build, the jobs one after the other")
            emit([pad("keys x floats", 16), pad("S+W", 4), pad("server", 8), pad("push", 9), pad("pull", 9), pad("push+pull", 9)].joined(separator: " "))
            ratioLines.forEach { emit($0) }
        }
        if inFlight > 1 {
            emit("# throughput, requests per second over all workers: 1 in flight against \(inFlight) in flight per worker")
            emit(
                [
                    pad("keys x floats", 16), pad("S+W", 4), pad("server", 8), pad("links", 8), pad("push 1", 10), pad("push \(inFlight)", 10),
                    pad("gain", 8), pad("pull 1", 10), pad("pull \(inFlight)", 10), pad("gain", 8),
                ].joined(separator: " "))
            pipelinedLines.forEach { emit($0) }
        }
    }

    /// One bench job: its topology, server mode, transport and replication.
    struct Job {
        let servers: Int, workers: Int, mode: String, transport: String, replication: Int
    }

    /// One shape's records from one job, over links `links` (curve or plain).
    struct Result {
        let job: Job, shape: Shape, links: String, rows: [[String: Any]]

        func matching(_ op: String) -> [[String: Any]] {
            rows.filter { $0["keys"] as? Int == shape.keys && $0["floats"] as? Int == shape.floats && $0["op"] as? String == op }
        }

        /// The mean over workers of `key` for `op`.
        func stat(_ op: String, _ key: String) -> Double {
            let xs = matching(op).compactMap { $0[key] as? Double }
            return xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
        }

        var cells: [String] { [pad("\(shape.keys) x \(shape.floats)", 16), pad("\(job.servers)+\(job.workers)", 4), pad(job.mode, 8), pad(links, 8)] }

        /// The fields every JSON record of this result starts with, then `more`.
        func record(_ more: [(String, Any)]) -> [(String, Any)] {
            [
                ("bench", "ps"), ("transport", job.transport), ("servers", job.servers), ("workers", job.workers), ("server_mode", job.mode),
                ("replication", job.replication), ("links", links), ("keys", shape.keys), ("floats", shape.floats),
            ] + more
        }
    }

    /// One result's line of the latency table, its throughput line, and its JSON records.
    private func report(_ r: Result, zmq: (push: Double, pull: Double), out: inout JSONLines, pipelined: inout [String]) {
        let pushP50 = r.stat("push", "p50_us"), pullP50 = r.stat("pull", "p50_us")
        let bytes = Double(r.shape.keys * r.shape.floats * 4)
        let f = { (x: Double) in pad(String(format: "%.0f", x), 9) }
        emit(
            (r.cells + [
                f(pushP50) + " ", f(r.stat("push", "p99_us")), f(pullP50) + " ", f(r.stat("pull", "p99_us")),
                f(r.stat("pushpull", "p50_us")) + " ", f(r.stat("pushpull", "p99_us")), pad(String(format: "%.0f", bytes / (pushP50 / 1e6) / 1e6), 10),
                pad(String(format: "%.2f", pushP50 / (zmq.push * 1e6)), 9), pad(String(format: "%.2f", pullP50 / (zmq.pull * 1e6)), 9),
            ]).joined(separator: " "))
        if inFlight > 1 {
            var cells = r.cells
            for op in ["push", "pull"] {
                // Requests per second over all workers: one in flight (1 / p50 each) and `inFlight`.
                let one = r.matching(op).compactMap { $0["p50_us"] as? Double }.reduce(0) { $0 + 1e6 / $1 }
                let many = r.matching(op + "-pipelined").compactMap { $0["ops_per_s"] as? Double }.reduce(0, +)
                cells += [pad(String(format: "%.0f", one), 10), pad(String(format: "%.0f", many), 10), pad(String(format: "%.2f", many / one), 8)]
                out.add(r.record([("kind", "pipelined"), ("op", op), ("in_flight", inFlight), ("ops_per_s", many), ("one_in_flight_ops_per_s", one)]))
            }
            pipelined.append(cells.joined(separator: " "))
        }
        for op in ["push", "pull", "pushpull"] {
            out.add(
                r.record([
                    ("kind", "ps"), ("op", op), ("p50_us", r.stat(op, "p50_us")), ("p99_us", r.stat(op, "p99_us")),
                    ("value_mb_per_s", bytes / (r.stat(op, "p50_us") / 1e6) / 1e6), ("zmq_rtt_us", (op == "pull" ? zmq.pull : zmq.push) * 1e6),
                ]))
        }
    }

    /// Runs `ps local` with bench workers and returns their BENCH records.
    private func runJob(servers: Int, workers: Int, mode: String, transport: String, plain: Bool) throws -> [[String: Any]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments =
            ["ps", "local", "--servers", "\(servers)", "--workers", "\(workers)", "--timeout", "600"]
            + (mode == "none" ? ["--discard-data"] : [])
            + ["--", "ps", "bench-worker", "--shapes", shapes, "--mode", mode, "--seconds", "\(seconds)", "--in-flight", "\(inFlight)"]
        var env = ProcessInfo.processInfo.environment.merging(["HYBRIDSYNC_TRANSPORT": transport, "HYBRIDSYNC_INSECURE": plain ? "1" : "0"]) { $1 }
        // Unset: `ps local` replicates as `train` does (1 with 2+ servers).
        if let replication { env["HYBRIDSYNC_REPLICATION"] = "\(replication)" } else { env.removeValue(forKey: "HYBRIDSYNC_REPLICATION") }
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("bench job \(servers)x\(workers) \(mode) failed:\n\(text)") }
        return text.split(separator: "\n").filter { $0.hasPrefix("BENCH ") }.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
        }.map { d in
            var r: [String: Any] = [:]
            for (k, v) in d {
                if let n = v as? NSNumber {
                    r[k] = (k == "keys" || k == "floats" || k == "worker" || k == "iters") ? n.intValue as Any : n.doubleValue as Any
                } else {
                    r[k] = v
                }
            }
            return r
        }
    }
}
