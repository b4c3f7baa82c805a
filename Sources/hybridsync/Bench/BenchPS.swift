import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore
import HybridSyncZMQ

/// `hybridsync bench ps`: push, pull and push+pull latency (p50, p99) and throughput over real ZeroMQ
/// for several shapes, at 1 server + 1 worker and 2 servers + 2 workers, with servers that discard the
/// data and with Adagrad applied; and, in the same run, raw ZeroMQ request/reply of the same message
/// sizes as the ceiling.
struct BenchPS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "Parameter-server latency and throughput versus raw ZeroMQ.")
    static let defaultShapes = "1x1,100x64,10000x64,1000000x1,16x262144"

    @Option(help: "Comma-separated shapes KEYSxFLOATS.") var shapes = BenchPS.defaultShapes
    @Option(help: "Seconds per shape and operation.") var seconds = 1.0
    @Option(help: "Topologies SERVERSxWORKERS.") var topologies = "1x1,2x2"
    @Option(help: "Append JSON lines to this file.") var json: String?
    @Option(help: "Extra copies of each shard (0: none, as ps-lite; 1: every change also goes to a backup server). Applies with 2+ servers.")
    var replication = 0
    @Option(help: "Requests in flight per worker for the throughput table (1: skip it).") var inFlight = 4
    @Option(help: "Transports, each measured in turn: ipc (Unix sockets, servers on this host) and/or tcp.") var transports = "ipc,tcp"
    @Option(help: "Server modes, each a job: none (rows not kept), adagrad, sgd, adam.") var serverModes = "none,adagrad"

    struct Shape { let keys: Int; let floats: Int }

    static func parseShapes(_ s: String) -> [Shape] {
        s.split(separator: ",").compactMap { part in
            let xs = part.split(separator: "x").compactMap { Int($0) }
            return xs.count == 2 ? Shape(keys: xs[0], floats: xs[1]) : nil
        }
    }

    func run() throws {
        var out = JSONLines(path: json)
        guard (0...1).contains(replication) else { throw ValidationError("--replication must be 0 or 1") }
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
        emit("# hybridsync bench ps: one request in flight per worker, loopback \(transport), medians (p50) and p99 in us; replication \(replication)")
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
                pad("keys x floats", 16), pad("S+W", 4), pad("server", 8), pad("push p50", 10), pad("p99", 9), pad("pull p50", 10), pad("p99", 9),
                pad("pp p50", 10), pad("p99", 9), pad("push MB/s", 10), pad("push/zmq", 9), pad("pull/zmq", 9),
            ].joined(separator: " "))
        var pipelinedLines: [String] = []
        for topo in topologies.split(separator: ",") {
            let parts = topo.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("bad topology \(topo)") }
            for mode in serverModes.split(separator: ",").map(String.init) {
                let rows = try runJob(servers: parts[0], workers: parts[1], mode: mode, transport: transport)
                for shape in shapeList {
                    func stat(_ op: String, _ key: String) -> Double {
                        let xs = rows.filter { $0["keys"] as? Int == shape.keys && $0["floats"] as? Int == shape.floats && $0["op"] as? String == op }
                            .compactMap { $0[key] as? Double }
                        return xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
                    }
                    let (zPush, zPull) = ceiling["\(shape.keys)x\(shape.floats)"]!
                    let pushP50 = stat("push", "p50_us"), pullP50 = stat("pull", "p50_us")
                    let mbps = Double(shape.keys * shape.floats * 4) / (pushP50 / 1e6) / 1e6
                    let f = { (x: Double) in pad(String(format: "%.0f", x), 9) }
                    emit(
                        [
                            pad("\(shape.keys) x \(shape.floats)", 16), pad("\(parts[0])+\(parts[1])", 4), pad(mode, 8),
                            f(pushP50) + " ", f(stat("push", "p99_us")), f(pullP50) + " ", f(stat("pull", "p99_us")),
                            f(stat("pushpull", "p50_us")) + " ", f(stat("pushpull", "p99_us")), pad(String(format: "%.0f", mbps), 10),
                            pad(String(format: "%.2f", pushP50 / (zPush * 1e6)), 9), pad(String(format: "%.2f", pullP50 / (zPull * 1e6)), 9),
                        ].joined(separator: " "))
                    if inFlight > 1 {
                        var cells = [pad("\(shape.keys) x \(shape.floats)", 16), pad("\(parts[0])+\(parts[1])", 4), pad(mode, 8)]
                        for op in ["push", "pull"] {
                            // Requests per second over all workers: one in flight (1 / p50 each) and `inFlight`.
                            let one = rows.filter { $0["keys"] as? Int == shape.keys && $0["floats"] as? Int == shape.floats && $0["op"] as? String == op }
                                .compactMap { $0["p50_us"] as? Double }.reduce(0) { $0 + 1e6 / $1 }
                            let many = rows.filter {
                                $0["keys"] as? Int == shape.keys && $0["floats"] as? Int == shape.floats && $0["op"] as? String == op + "-pipelined"
                            }
                            .compactMap { $0["ops_per_s"] as? Double }.reduce(0, +)
                            cells += [pad(String(format: "%.0f", one), 10), pad(String(format: "%.0f", many), 10), pad(String(format: "%.2f", many / one), 8)]
                            out.add([
                                "bench": "ps", "kind": "pipelined", "transport": transport, "servers": parts[0], "workers": parts[1], "server_mode": mode,
                                "replication": replication,
                                "keys": shape.keys, "floats": shape.floats, "op": op, "in_flight": inFlight, "ops_per_s": many, "one_in_flight_ops_per_s": one,
                            ])
                        }
                        pipelinedLines.append(cells.joined(separator: " "))
                    }
                    for op in ["push", "pull", "pushpull"] {
                        out.add([
                            "bench": "ps", "kind": "ps", "transport": transport, "servers": parts[0], "workers": parts[1], "server_mode": mode,
                            "replication": replication,
                            "keys": shape.keys, "floats": shape.floats, "op": op, "p50_us": stat(op, "p50_us"), "p99_us": stat(op, "p99_us"),
                            "value_mb_per_s": Double(shape.keys * shape.floats * 4) / (stat(op, "p50_us") / 1e6) / 1e6,
                            "zmq_rtt_us": (op == "pull" ? zPull : zPush) * 1e6,
                        ])
                    }
                }
            }
        }
        if inFlight > 1 {
            emit("# throughput, requests per second over all workers: 1 in flight against \(inFlight) in flight per worker")
            emit(
                [
                    pad("keys x floats", 16), pad("S+W", 4), pad("server", 8), pad("push 1", 10), pad("push \(inFlight)", 10), pad("gain", 8),
                    pad("pull 1", 10), pad("pull \(inFlight)", 10), pad("gain", 8),
                ].joined(separator: " "))
            pipelinedLines.forEach { emit($0) }
        }
    }

    /// Runs `ps local` with bench workers and returns their BENCH records.
    private func runJob(servers: Int, workers: Int, mode: String, transport: String) throws -> [[String: Any]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments =
            ["ps", "local", "--servers", "\(servers)", "--workers", "\(workers)", "--timeout", "600"]
            + (mode == "none" ? ["--discard-data"] : [])
            + ["--", "ps", "bench-worker", "--shapes", shapes, "--mode", mode, "--seconds", "\(seconds)", "--in-flight", "\(inFlight)"]
        p.environment = ProcessInfo.processInfo.environment.merging(["HYBRIDSYNC_REPLICATION": "\(replication)", "HYBRIDSYNC_TRANSPORT": transport]) { $1 }
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
