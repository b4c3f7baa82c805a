import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit

#if canImport(Glibc)
    import Glibc
#endif

/// `hybridsync-testjobs self-test-hybrid`: checks of the hybrid path under mpirun.
/// - `exact`: a BSP job whose parameters (dense and embedding) must equal a serial reference exactly,
///   whatever the strategy and layout, including a re-plan that moves the table to the ring mid-run.
/// - `mismatch-shape`, `mismatch-extra`: the last worker registers a different shape (or an extra
///   table); every worker must report the same error, and the job must still end cleanly.
/// - `stop-rank`: a rank stops itself; the workers report the error they got.
/// - `checkpoint-loop`: fills a table and checkpoints after every step until killed; `fill-loop` only
///   steps (re-replication measurements).
/// - `rogue`: worker 0 prints the job's endpoints and server public key, every worker waits until
///   `--directory/go` exists (a rogue client has had its go), then runs `exact` and worker 0 prints the
///   servers' refusal counts.
struct SelfTestHybrid: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "self-test-hybrid")

    enum Case: String, ExpressibleByArgument {
        case exact, mismatchShape = "mismatch-shape", mismatchExtra = "mismatch-extra"
        /// World rank `--victim` stops itself (SIGSTOP, never resumed) after `--stop-after` seconds; the
        /// workers train until the job fails and report the error they got.
        case stopRank = "stop-rank"
        /// Fills a table of `--rows` rows, then steps forever, each step changing rows while the servers
        /// write the checkpoint taken in the background after the step before, into `--directory` (the
        /// test kills a rank while one is being written).
        case checkpointLoop = "checkpoint-loop"
        /// Like `checkpoint-loop`, but the loop only steps (every 10 ms): a quiet job holding `--rows`
        /// rows, for measuring what happens when a server dies (re-replication).
        case fillLoop = "fill-loop"
        case rogue
        /// Runs the cost probe and checks its result (`HybridChecks.calibration`).
        case calibrate
    }

    @Option var `case`: Case = .exact
    @Option var servers = 2
    @Option var placement: HybridLayout.Placement = .colocated
    @Option var strategy: Strategy = .hybrid
    @Option var steps = 8
    @Option var victim = 1
    @Option var rows = 1_000_000
    @Option var directory = "out/checkpoint-loop"
    @Option var stopAfter = 2.0
    @Flag(help: "Exact case: dense buckets started during backward (GradientSync.ready).") var overlap = false

    func run() throws {
        if `case` == .stopRank, ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] == "\(victim)" {
            let after = stopAfter
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: after)
                emit("RANK \(victim) STOPPING")
                raise(SIGSTOP)
            }
        }
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: placement)) { runtime in
            var ok = true, details = ""
            do {
                switch `case` {
                case .exact:
                    (ok, details) = try HybridChecks.exact(
                        runtime, strategy: strategy, servers: servers, steps: steps, layout: placement.rawValue,
                        overlap: overlap)
                case .rogue:
                    if runtime.kv.index == 0 {
                        emit(
                            "ENDPOINTS scheduler=\(runtime.kv.config.schedulerEndpoint) servers=\(runtime.kv.serverAddresses.joined(separator: ",")) serverkey=\(runtime.kv.config.curve?.server.publicKey ?? "none")"
                        )
                    }
                    let go = Date().addingTimeInterval(120)
                    while !FileManager.default.fileExists(atPath: directory + "/go") {
                        guard Date() < go else { throw HybridSyncError.timeout(operation: "rogue case", waitingFor: "\(directory)/go", seconds: 120) }
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                    (ok, details) = try HybridChecks.exact(
                        runtime, strategy: strategy, servers: servers, steps: steps, layout: placement.rawValue,
                        overlap: overlap)
                    if runtime.kv.index == 0 {
                        for s in try runtime.kv.serverStats() {
                            emit("STATS server=\(s.server) refused=\(s.refused) handshakesRefused=\(s.handshakesRefused)")
                        }
                    }
                case .calibrate:
                    (ok, details) = try HybridChecks.calibration(runtime)
                case .mismatchShape, .mismatchExtra:
                    (ok, details) = try HybridChecks.mismatch(runtime, strategy: strategy, extraTable: `case` == .mismatchExtra)
                case .checkpointLoop, .fillLoop:
                    let sync = try GradientSync(runtime: runtime, strategy: .ps, replanAfterSteps: 0)
                    let spec = TableSpec(name: "big", dimension: 16, optimizer: .adagrad(learningRate: 0.01, epsilon: 1e-8, initialAccumulator: 0.1))
                    try sync.register([Parameter(.embedding(spec, rows: rows))])
                    let comm = runtime.dense.communicator
                    let mine = stride(from: comm.rank, to: rows, by: comm.size).map { UInt64($0) }
                    for start in stride(from: 0, to: mine.count, by: 65_536) {
                        let keys = Array(mine[start..<min(mine.count, start + 65_536)])
                        try runtime.kv.push([SparseRows(table: "big", keys: keys, values: [Float](repeating: 0.25, count: keys.count * 16))])
                    }
                    if `case` == .fillLoop && comm.rank == 0 { emit("FILLED \(rows) rows") }
                    let touched = Array(mine.prefix(4096))
                    while true {
                        if `case` == .fillLoop {
                            try sync.step(dense: [], sparse: [])
                            Thread.sleep(forTimeInterval: 0.01)
                            continue
                        }
                        // Rows change while the servers write the checkpoint taken before this step.
                        try sync.step(dense: [], sparse: [SparseRows(table: "big", ids: touched, values: [Float](repeating: 0.5, count: touched.count * 16))])
                        try sync.checkpointInBackground(to: directory)
                        if comm.rank == 0 { emit("CHECKPOINT step \(sync.stepCount)") }
                    }
                case .stopRank:
                    let began = Date()
                    do {
                        _ = try HybridChecks.durable(runtime, from: 0, to: 1_000_000)
                        (ok, details) = (false, "trained on although rank \(victim) stopped")
                    } catch let e as HybridSyncError {
                        (ok, details) = (false, "error after \(Int(Date().timeIntervalSince(began))) s: \(e)")
                    }
                }
            } catch {
                ok = false
                details = "threw \(error)"
            }
            emit("WORKER \(runtime.dense.communicator.rank) RESULT \(`case`.rawValue) \(ok ? "ok" : "FAIL") \(details)")
            if !ok { throw ExitCode(1) }
        }
    }
}
