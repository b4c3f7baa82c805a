import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore

/// `hybridsync plan --spec FILE`: the planner's decision for every parameter of a model spec, with the
/// density measured from the spec's access pattern, the predicted bytes and time per step, and why.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Explain how each parameter of a model spec would be routed.")

    @Option(help: "Model spec (JSON; see Benchmarks/specs).") var spec: String
    @Option(help: "Workers.") var workers = 4
    @Option(help: "Servers.") var servers = 2
    @Option(help: "Seconds per message (alpha).") var alpha = 50e-6
    @Option(help: "Link bandwidth in Gbit/s (beta = 8 / (1e9 * this)).") var gbits = 10.0

    func run() throws {
        let model = try ModelSpec.load(spec)
        let planner = try model.planner(model: CostModel(alpha: alpha, beta: 8 / (gbits * 1e9), workers: workers, servers: servers))
        emit("plan for \(model.name): \(workers) workers, \(servers) servers, alpha \(alpha * 1e6) us, \(gbits) Gbit/s, batch \(model.batch) per worker")
        emit(
            [pad("parameter", 12), pad("bytes", 12), pad("density", 9), pad("route", 6), pad("bytes/step", 12), pad("time/step", 11), "  why"].joined(
                separator: " "))
        var total: [Route: (Double, Double)] = [:]
        for e in planner.plan() {
            emit(
                [
                    pad(e.name, 12), pad("\(e.bytes)", 12), pad(String(format: "%.5f", e.density), 9), pad(e.route.rawValue, 6),
                    pad(String(format: "%.0f", e.predictedBytes), 12), pad(String(format: "%.1f us", e.predictedSeconds * 1e6), 11), "  " + e.reason,
                ].joined(separator: " "))
            total[e.route, default: (0, 0)].0 += e.predictedBytes
            total[e.route, default: (0, 0)].1 += e.predictedSeconds
        }
        for r in Route.allCases {
            if let t = total[r] { emit(String(format: "total %@: %.0f bytes/step per worker, %.1f us/step", r.rawValue, t.0, t.1 * 1e6)) }
        }
    }
}
