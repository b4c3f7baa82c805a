import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// `hybridsync bench seed`: the table of the write-up that started the project, redone on this
/// machine. A "gradient" is one float32 value synchronised: a pushed (and pulled back) row element on
/// the parameter server, a reduced element on the ring. Each worker syncs `gradients` of them per step;
/// latency is the median step, throughput the gradients a worker syncs per second (one step in flight).
struct BenchSeed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Latency and gradients/s of ASP, SSP, BSP, ring and hybrid (run under mpirun).")

    @Option(help: "Gradients per worker per step.") var gradients = 1000
    @Option(help: "Steps measured per mode.") var steps = 200
    @Option(help: "Servers.") var servers = 2
    @Option(help: "Append JSON lines to this file.") var json: String?

    func run() throws {
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: .dedicated)) { runtime in try measureAll(runtime) }
    }

    private func measureAll(_ runtime: HybridRuntime) throws {
        let comm = runtime.dense.communicator
        let lead = comm.rank == 0
        var out = JSONLines(path: lead ? json : nil)
        let modes: [(String, Consistency?)] = [("asp", .asp), ("ssp(2)", .ssp(staleness: 2)), ("bsp", .bsp), ("ring", nil), ("hybrid", .bsp)]
        if lead {
            emit(
                "# \(comm.size) workers, \(runtime.kv.serverCount) servers; a gradient = one float32 value synced (pushed+pulled row element, or reduced element); \(gradients) per worker per step"
            )
            emit([pad("mode", 8), pad("latency ms", 11), pad("p99 ms", 8), pad("gradients/s/worker", 19), pad("gradients/s (all)", 18)].joined(separator: " "))
        }
        for (name, consistency) in modes {
            let table = "seed.\(name)"
            if let consistency { try runtime.kv.declare([TableSpec(name: table, dimension: 1, optimizer: .sgd(learningRate: 0.01), consistency: consistency)]) }
            let keys = (0..<UInt64(gradients)).map { $0 * 7 + UInt64(comm.rank) * 1_000_003 }
            let half = gradients / 2
            let dense = try Tensor(name: "seed.dense", dtype: .float32, count: name == "hybrid" ? gradients - half : gradients)
            var times: [Double] = []
            try comm.barrier()
            for step in -10..<steps {
                let t0 = ContinuousClock.now
                switch name {
                case "ring":
                    try runtime.dense.allreduce([dense])
                case "hybrid":
                    let h = try runtime.kv.pushAsync([SparseRows(table: table, keys: Array(keys.prefix(half)), values: [Float](repeating: 0.001, count: half))])
                    try runtime.dense.allreduce([dense])
                    try h.wait()
                    try runtime.kv.advanceClock()
                    _ = try runtime.kv.pull([RowQuery(table: table, keys: Array(keys.prefix(half)))])
                default:
                    _ = try runtime.kv.pushPull([SparseRows(table: table, keys: keys, values: [Float](repeating: 0.001, count: gradients))])
                    try runtime.kv.advanceClock()
                }
                if step >= 0 { times.append(secondsSince(t0)) }
            }
            times.sort()
            let stats = try Tensor(name: "seed.stats", values: [times[times.count / 2], times[min(times.count - 1, times.count * 99 / 100)]])
            try runtime.dense.allreduce([stats], op: .max)
            let s = try stats.values(as: Double.self)
            if lead {
                let perWorker = Double(gradients) / s[0]
                emit(
                    [
                        pad(name, 8), pad(String(format: "%.3f", s[0] * 1e3), 11), pad(String(format: "%.3f", s[1] * 1e3), 8),
                        pad(String(format: "%.0f", perWorker), 19), pad(String(format: "%.0f", perWorker * Double(comm.size)), 18),
                    ].joined(separator: " "))
                out.add([
                    "bench": "seed", "mode": name, "workers": comm.size, "gradients_per_step": gradients, "latency_ms": s[0] * 1e3,
                    "p99_ms": s[1] * 1e3, "gradients_per_s_per_worker": perWorker, "gradients_per_s_total": perWorker * Double(comm.size),
                ])
            }
        }
        try out.write()
    }
}
