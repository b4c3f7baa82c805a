import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// `hybridsync bench hybrid --spec FILE`: sync time per step of one model spec under the three
/// strategies (hybrid, allreduce with embeddings densified, ps for everything), measured in one run
/// under mpirun, with bytes per worker per step counted beside the cost model's prediction.
struct BenchHybrid: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hybrid", abstract: "Hybrid vs allreduce vs ps on a model spec (run under mpirun).")

    @Option(help: "Model spec (JSON).") var spec = "Benchmarks/specs/dlrm-sparse.json"
    @Option(help: "Servers.") var servers = 2
    @Option(help: "Server placement.") var placement: HybridLayout.Placement = .dedicated
    @Option(help: "Measured steps per strategy (after one warm-up step).") var steps = 3
    @Option(help: "Comma-separated strategies.") var strategies = "hybrid,allreduce,ps"
    @Option(help: "Append JSON lines to this file.") var json: String?

    func run() throws {
        let model = try ModelSpec.load(spec)
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: placement)) { runtime in try measureAll(model, runtime) }
    }

    private func measureAll(_ model: ModelSpec, _ runtime: HybridRuntime) throws {
        let comm = runtime.dense.communicator
        let lead = comm.rank == 0
        var out = JSONLines(path: lead ? json : nil)
        if lead {
            emit(
                "# hybridsync bench hybrid: \(model.name), \(comm.size) workers, \(runtime.kv.serverCount) servers (\(placement.rawValue)), batch \(model.batch) per worker"
            )
            emit(
                [
                    pad("strategy", 10), pad("sync ms/step", 13), pad("dense ms", 9), pad("sparse ms", 10), pad("ring MB", 9), pad("ps MB", 8),
                    pad("model MB", 9),
                    pad("model ms", 9), pad("error", 7), pad("vs hybrid", 10),
                ].joined(separator: " "))
        }
        let calib = try Calibration.probe(runtime)
        let curve = calib.ring.ringCurve, pull = calib.ps.pullCost, push = calib.ps.pushCost
        if lead {
            emit("# calibrated: \(calib.summary)")
        }
        let calibration: KeyValuePairs<String, Any> = [
            "ring_alpha_us": calib.ring.alpha * 1e6, "ring_beta_ns": calib.ring.beta * 1e9,
            "ring_curve_bytes": curve?.bytes ?? [], "ring_curve_us": (curve?.seconds ?? []).map { $0 * 1e6 },
            "pull_us": (pull?.latency ?? 0) * 1e6, "pull_us_per_row": (pull?.perKey ?? 0) * 1e6, "pull_ns_per_byte": (pull?.perByte ?? 0) * 1e9,
            "push_us": (push?.latency ?? 0) * 1e6, "push_us_per_row": (push?.perKey ?? 0) * 1e6, "push_ns_per_byte": (push?.perByte ?? 0) * 1e9,
            "ps_alpha_us": calib.ps.alpha * 1e6, "ps_beta_ns": calib.ps.beta * 1e9, "memory_pass_ns": calib.ps.localPass * 1e9,
        ]
        if lead { out.add([("bench", "hybrid"), ("kind", "calibration")] + calibration.map { ($0.key, $0.value) }) }
        var hybridTime = Double.nan
        for name in strategies.split(separator: ",") {
            guard let strategy = Strategy(rawValue: String(name)) else { throw ValidationError("unknown strategy \(name)") }
            let r = try measure(strategy, model, runtime, calib)
            if strategy == .hybrid { hybridTime = r.seconds }
            if lead {
                emit(
                    [
                        pad(strategy.rawValue, 10), pad(String(format: "%.1f", r.seconds * 1e3), 13), pad(String(format: "%.1f", r.dense * 1e3), 9),
                        pad(String(format: "%.1f", r.sparse * 1e3), 10), pad(String(format: "%.2f", r.ringBytes / 1e6), 9),
                        pad(String(format: "%.2f", r.psBytes / 1e6), 8), pad(String(format: "%.2f", r.predicted / 1e6), 9),
                        pad(String(format: "%.1f", r.predictedSeconds * 1e3), 9),
                        pad(String(format: "%.0f%%", 100 * abs(r.predictedSeconds - r.seconds) / r.seconds), 7),
                        pad(String(format: "%.2fx", r.seconds / hybridTime), 10),
                    ].joined(separator: " "))
                let row: KeyValuePairs<String, Any> = [
                    "bench": "hybrid", "spec": model.name, "strategy": strategy.rawValue, "workers": comm.size, "servers": runtime.kv.serverCount,
                    "sync_ms": r.seconds * 1e3, "dense_ms": r.dense * 1e3, "sparse_ms": r.sparse * 1e3,
                    "ring_bytes_per_worker": r.ringBytes, "ps_bytes_per_worker": r.psBytes, "predicted_bytes_per_worker": r.predicted,
                    "predicted_ms": r.predictedSeconds * 1e3, "server_bytes_per_step": r.serverBytes,
                    "predicted_pulls_ms": (r.parts?.pulls ?? 0) * 1e3, "predicted_ring_ms": (r.parts?.ring ?? 0) * 1e3,
                    "predicted_local_ms": (r.parts?.local ?? 0) * 1e3, "predicted_push_ms": (r.parts?.push ?? 0) * 1e3,
                    "predicted_refresh_ms": (r.parts?.refresh ?? 0) * 1e3, "pull_rows": r.load.pulls.reduce(0) { $0 + $1.keys },
                    "pull_bytes": r.load.pulls.reduce(0) { $0 + $1.bytes }, "push_rows": r.load.push.keys, "push_bytes": r.load.push.bytes,
                    "ratio_to_hybrid": r.seconds / hybridTime,
                ]
                // The calibration beside each row, so `bench scaling`'s rows carry what priced them.
                out.add(row.map { ($0.key, $0.value) } + calibration.map { ("calibration_" + $0.key, $0.value) })
            }
        }
        try out.write()
    }

    struct Result {
        var seconds = 0.0, dense = 0.0, sparse = 0.0, ringBytes = 0.0, psBytes = 0.0, predicted = 0.0, predictedSeconds = 0.0, parts: StepSeconds?,
            load = StepLoad(), serverBytes = 0.0
    }

    private func measure(_ strategy: Strategy, _ model: ModelSpec, _ runtime: HybridRuntime, _ calib: Calibration) throws -> Result {
        let comm = runtime.dense.communicator
        let prefix = strategy.rawValue + "."
        let sync = try GradientSync(runtime: runtime, strategy: strategy, replanAfterSteps: 0)
        var params: [Parameter] = []
        var denseGrads: [Tensor] = []
        for d in model.dense {
            params.append(Parameter(.dense(try Tensor(name: prefix + d.name, dtype: .float32, count: d.parameters), optimizer: .sgd(learningRate: 0.01))))
            denseGrads.append(try Tensor(name: prefix + d.name, values: [Float](repeating: 0.001, count: d.parameters)))
        }
        for t in model.tables {
            params.append(
                Parameter(
                    .embedding(TableSpec(name: prefix + t.name, dimension: t.dimension, optimizer: .sgd(learningRate: 0.01), consistency: .bsp), rows: t.rows)))
        }
        try sync.register(params)
        var samplers = model.tables.map { ZipfSampler(rows: $0.rows, exponent: $0.zipf, seed: UInt64(comm.rank + 1), table: $0.name) }
        let (predicted, load) = predict(model, routes: { sync.planner.route(of: prefix + $0) }, workers: comm.size, servers: runtime.kv.serverCount)
        let parts = calib.ps.seconds(of: load)
        var r = Result(predicted: predicted, predictedSeconds: parts.total, parts: parts, load: load)
        let serverBytes0 = try runtime.kv.serverStats().reduce(0) { $0 + $1.bytesIn + $1.bytesOut }
        for step in -1..<steps {
            var batches: [(String, [UInt64])] = []
            for (i, t) in model.tables.enumerated() {
                batches.append((prefix + t.name, Array(Set(samplers[i].batch(samples: model.batch, lookups: t.lookups))).sorted()))
            }
            try comm.barrier()
            let t0 = ContinuousClock.now
            for (table, ids) in batches { _ = try sync.pull(table, ids: ids) }
            let tPull = secondsSince(t0)
            let sparse = zip(batches, model.tables).map { b, t in
                SparseRows(table: b.0, ids: b.1, values: [Float](repeating: 0.001, count: b.1.count * t.dimension))
            }
            let t1 = ContinuousClock.now
            try sync.step(dense: denseGrads, sparse: sparse)
            let tStep = secondsSince(t1)
            if step >= 0 {
                r.seconds += (tPull + tStep) / Double(steps)
                r.sparse += tPull / Double(steps)
                r.dense += tStep / Double(steps)
                r.ringBytes += Double(sync.lastStepBytes[.ring] ?? 0) / Double(steps)
                r.psBytes += Double(sync.lastStepBytes[.ps] ?? 0) / Double(steps)
            }
        }
        r.serverBytes =
            Double(try runtime.kv.serverStats().reduce(0) { $0 + $1.bytesIn + $1.bytesOut } - serverBytes0) / Double(steps + 1)
            / Double(max(1, runtime.kv.serverCount))
        let stats = try Tensor(name: "bench.stats", values: [r.seconds, r.dense, r.sparse])
        try runtime.dense.allreduce([stats], op: .max)
        let s = try stats.values(as: Double.self)
        r.seconds = s[0]; r.dense = s[1]; r.sparse = s[2]
        return r
    }

    /// What the cost model expects of one step, from the routes the planner chose and the densities this
    /// generator produces: bytes per worker, and the step's load for the calibrated model to price (a
    /// pull per PS table; then the all-reduces, local updates, push and read-back of PS-routed tensors).
    private func predict(_ model: ModelSpec, routes: (String) -> Route?, workers: Int, servers: Int) -> (bytes: Double, load: StepLoad) {
        let densities = model.measuredDensity()
        let cost = CostModel(workers: workers, servers: servers)
        var bytes = 0.0, load = StepLoad()
        for d in model.dense {
            let n = d.parameters * 4
            if routes(d.name) == .ps {
                bytes += cost.psBytes(rows: 1, rowBytes: n)
                load.push.keys += 1; load.push.bytes += Double(n)
                load.refresh.keys += 1; load.refresh.bytes += Double(n)
            } else {
                bytes += cost.ringBytes(n)
                load.ringTensors.append(n); load.localBytes += n
            }
        }
        for t in model.tables {
            let n = t.rows * t.dimension * 4, rows = densities[t.name]! * Double(t.rows), rowBytes = t.dimension * 4
            if routes(t.name) == .ring {
                bytes += cost.ringBytes(n)
                load.ringTensors.append(n); load.localBytes += n; load.localReads += rows * Double(rowBytes)
            } else {
                bytes += cost.psBytes(rows: rows, rowBytes: rowBytes)
                load.pulls.append((rows, rows * Double(rowBytes)))
                load.push.keys += rows; load.push.bytes += rows * Double(rowBytes)
            }
        }
        return (bytes, load)
    }
}
