import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore

/// `hybridsync simulate`: the cost model extrapolated to many workers for a model spec: sync time per
/// step and weak-scaling efficiency of each strategy with given servers and with the planner's server
/// count, where the parameter servers become the bottleneck, and where the planner would switch a
/// table's route.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "Extrapolate the cost model to 256 workers.")

    @Option(help: "Model spec.") var spec = "Benchmarks/specs/dlrm-sparse.json"
    @Option(help: "Comma-separated worker counts.") var workers = "1,2,4,8,16,32,64,128,256"
    @Option(help: "Given servers (the planner's count is also shown).") var servers = 8
    @Option(help: "Link bandwidths in Gbit/s.") var gbits = "10,1"
    @Option(help: "Seconds per message.") var alpha = 50e-6
    @Option(help: "Compute time per step in ms (weak scaling: fixed per worker).") var computeMs = 20.0
    @Option(help: "Workers a host: above 1, dense tensors go by the hierarchical all-reduce (within the host, across hosts, broadcast).")
    var ranksPerHost = 1
    @Option(help: "Write JSON lines here.") var json: String?
    @Option(help: "Write the chart here (PNG).") var plot: String?

    static func plannerServers(workers n: Int) -> Int { max(1, n) }

    /// Sync seconds per step for a strategy with `s` servers over `n` workers.
    static func syncSeconds(
        _ model: ModelSpec, _ strategy: Strategy, n: Int, s: Int, alpha: Double, beta: Double,
        ranksPerHost: Int = 1
    ) throws -> (Double, [String: Route]) {
        var cost = CostModel(alpha: alpha, beta: beta, workers: n, servers: s)
        cost.ranksPerHost = ranksPerHost
        var planner = try model.planner(model: cost)
        if strategy != .hybrid {
            var pinned = Planner(model: cost)
            try pinned.add(
                planner.parameters.map {
                    var p = $0; p.pinned = strategy == .ps ? .ps : .ring; return p
                })
            for t in model.tables { if let d = planner.observedDensity(t.name) { pinned.setObservedDensity(t.name, d) } }
            planner = pinned
        }
        var ringBytes = 0, ps = 0.0
        var routes: [String: Route] = [:]
        for e in planner.plan() {
            routes[e.name] = e.route
            if e.route == .ring { ringBytes += e.bytes } else { ps += e.predictedSeconds }
        }
        return (cost.ringSeconds(ringBytes) + ps, routes)
    }

    func run() throws {
        let model = try ModelSpec.load(spec)
        let ns = workers.split(separator: ",").compactMap { Int($0) }
        var out = JSONLines(path: json)
        var chart = LineChart(title: "simulated sync time: \(model.name)", xLabel: "workers", yLabel: "sync ms per step", logX: true, logY: true)
        for g in gbits.split(separator: ",").compactMap({ Double($0) }) {
            let beta = 8 / (g * 1e9)
            emit(
                "# \(model.name), \(g) Gbit/s, alpha \(alpha * 1e6) us, \(ranksPerHost > 1 ? "\(ranksPerHost) workers a host (hierarchical all-reduce)" : "one worker a host (flat ring)"), compute \(computeMs) ms/step; weak-scaling efficiency = step(2 workers) / step(N), step = compute + sync"
            )
            emit(
                [pad("workers", 8), pad("strategy", 10), pad("servers", 8), pad("sync ms", 10), pad("efficiency", 11), pad("compute share", 14)].joined(
                    separator: " "))
            var previousRoutes: [String: Route] = [:]
            var psStops: Int?
            for strategy in Strategy.allCases {
                for serverMode in ["given", "planner"] {
                    var points: [(Double, Double)] = []
                    let s2 = serverMode == "given" ? servers : Self.plannerServers(workers: 2)
                    let t2 = try Self.syncSeconds(model, strategy, n: 2, s: s2, alpha: alpha, beta: beta, ranksPerHost: ranksPerHost).0
                    for n in ns {
                        let s = serverMode == "given" ? servers : Self.plannerServers(workers: n)
                        let (t, routes) = try Self.syncSeconds(model, strategy, n: n, s: s, alpha: alpha, beta: beta, ranksPerHost: ranksPerHost)
                        let share = (computeMs / 1e3) / (computeMs / 1e3 + t)
                        let eff = n < 2 ? 1 : (computeMs / 1e3 + t2) / (computeMs / 1e3 + t)
                        points.append((Double(n), t * 1e3))
                        emit(
                            [
                                pad("\(n)", 8), pad(strategy.rawValue, 10), pad("\(s)", 8), pad(String(format: "%.2f", t * 1e3), 10),
                                pad(String(format: "%.2f", eff), 11), pad(String(format: "%.2f", share), 14),
                            ].joined(separator: " "))
                        out.add([
                            "bench": "simulate", "spec": model.name, "gbits": g, "workers": n, "servers": s, "server_mode": serverMode,
                            "strategy": strategy.rawValue, "sync_ms": t * 1e3, "efficiency": eff, "compute_share": share,
                        ])
                        if strategy == .ps && serverMode == "given" && psStops == nil && n >= 2 && eff < 0.5 { psStops = n }
                        if strategy == .hybrid && serverMode == "planner" {
                            for (name, r) in routes where previousRoutes[name] != nil && previousRoutes[name] != r {
                                emit("#   planner switches '\(name)' from \(previousRoutes[name]!) to \(r) at \(n) workers")
                            }
                            previousRoutes = routes
                        }
                    }
                    if g == gbits.split(separator: ",").compactMap({ Double($0) }).first {
                        chart.series.append(
                            LineChart.Series(
                                label: "\(strategy.rawValue) S=\(serverMode == "given" ? "\(servers)" : "N")", points: points, dashed: serverMode == "planner"))
                    }
                }
            }
            emit(
                "# ps with \(servers) given servers: the servers carry N/\(servers) of a worker's bytes, the bottleneck once N > \(servers); "
                    + (psStops.map { "efficiency falls below 50% at \($0) workers" } ?? "efficiency stays above 50% up to \(ns.last ?? 0) workers"))
        }
        try out.write()
        if let plot { try chart.write(plot) }
    }
}
