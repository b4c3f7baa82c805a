import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore
import HybridSyncPS

/// `hybridsync ps bench-worker`: one worker's half of `bench ps`. For each shape (keys x floats per key)
/// it times push, pull and push+pull with one request in flight and prints `BENCH {json}` lines.
struct PSBenchWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-worker", abstract: "Worker side of `bench ps`.")

    @Option(help: "Comma-separated shapes KEYSxFLOATS.") var shapes = BenchPS.defaultShapes
    @Option(help: "Optimizer on the servers: none (servers discard data), adagrad, sgd or adam.") var mode = "adagrad"
    @Option(help: "Seconds per shape and operation.") var seconds = 1.0
    @Option(help: "Requests kept in flight for the throughput runs (1: none).") var inFlight = 1

    func run() throws {
        let worker = try KVWorker(config: try PSConfig.fromEnvironment(ProcessInfo.processInfo.environment))
        defer { worker.finish() }
        for shape in BenchPS.parseShapes(shapes) {
            let name = "t\(shape.keys)x\(shape.floats)"
            let optimizer: OptimizerSpec
            switch mode {
            case "adagrad": optimizer = .adagrad(learningRate: 0.01, epsilon: 1e-8, initialAccumulator: 0.1)
            case "adam": optimizer = .adam(learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
            default: optimizer = .sgd(learningRate: 0.01)
            }
            try worker.declare([TableSpec(name: name, dimension: shape.floats, optimizer: optimizer, consistency: .asp)])
            let base = UInt64(worker.id.index) << 40
            // Sorted and unique, as ps-lite requires of its callers, on every worker: spread over the
            // 40 bits below the worker's own (up to 1,000,000 keys).
            let keys = (0..<UInt64(shape.keys)).map { base | ($0 &* 1_000_003) }
            let rows = SparseRows(table: name, keys: keys, values: [Float](repeating: 0.001, count: shape.keys * shape.floats))
            let query = RowQuery(table: name, keys: keys)
            for op in ["push", "pull", "pushpull"] {
                var times: [Double] = []
                let budget = Deadline.after(seconds: seconds)
                var it = 0
                while it < 3 || (!budget.hasPassed && it < 2000) {
                    let t0 = ContinuousClock.now
                    switch op {
                    case "push": try worker.push([rows])
                    case "pull": _ = try worker.pull([query])
                    default: _ = try worker.pushPull([rows])
                    }
                    if it > 0 { times.append(secondsSince(t0)) }
                    it += 1
                }
                times.sort()
                let p50 = times[times.count / 2], p99 = times[min(times.count - 1, Int(Double(times.count) * 0.99))]
                emit(
                    "BENCH {\"worker\":\(worker.id.index),\"keys\":\(shape.keys),\"floats\":\(shape.floats),\"op\":\"\(op)\",\"p50_us\":\(p50 * 1e6),\"p99_us\":\(p99 * 1e6),\"iters\":\(times.count)}"
                )
            }
            if inFlight > 1 {
                for op in ["push", "pull"] {
                    let rate = try pipelined(worker, op: op, rows: rows, query: query)
                    emit(
                        "BENCH {\"worker\":\(worker.id.index),\"keys\":\(shape.keys),\"floats\":\(shape.floats),\"op\":\"\(op)-pipelined\",\"in_flight\":\(inFlight),\"ops_per_s\":\(rate)}"
                    )
                }
            }
            try worker.barrier()
        }
        if worker.index == 0 {
            // (How many live copies each shard had: replication on or off.)
            emit("COPIES \(try worker.serverStats().map(\.copies))")
        }
    }

    /// Requests per second with `inFlight` of them outstanding at any time (ps-lite's timestamps and
    /// `Wait`): a new one starts as soon as the oldest completes.
    private func pipelined(_ worker: KVWorker, op: String, rows: SparseRows, query: RowQuery) throws -> Double {
        func start() throws -> PSHandle { op == "push" ? try worker.pushAsync([rows]) : try worker.pullAsync([query]) }
        var pending: [PSHandle] = try (0..<inFlight).map { _ in try start() }
        for h in pending { try h.wait() }  // warm-up
        pending = try (0..<inFlight).map { _ in try start() }
        let t0 = ContinuousClock.now, budget = Deadline.after(seconds: seconds)
        var done = 0, next = 0
        while done < 20 || (!budget.hasPassed && done < 20_000) {
            try pending[next].wait()
            done += 1
            pending[next] = try start()
            next = (next + 1) % inFlight
        }
        let elapsed = secondsSince(t0)
        for h in pending { try h.wait() }
        return Double(done) / elapsed
    }
}
