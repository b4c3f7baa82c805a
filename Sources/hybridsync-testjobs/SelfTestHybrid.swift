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

/// `hybridsync self-test hybrid`: checks of the hybrid path under mpirun.
/// - `exact`: a BSP job whose parameters (dense and embedding) must equal a serial reference exactly,
///   whatever the strategy and layout, including a re-plan that moves the table to the ring mid-run.
/// - `mismatch`: the last worker registers a different shape (or an extra table); every worker must
///   report the same error, and the job must still end cleanly.
struct SelfTestHybrid: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "self-test-hybrid")

    enum Case: String, ExpressibleByArgument {
        case exact, mismatchShape = "mismatch-shape", mismatchExtra = "mismatch-extra"
        /// World rank `--victim` stops itself (SIGSTOP, never resumed) after `--stop-after` seconds; the
        /// workers train until the job fails and report the error they got.
        case stopRank = "stop-rank"
    }

    @Option var `case`: Case = .exact
    @Option var servers = 2
    @Option var placement: HybridLayout.Placement = .colocated
    @Option var strategy: Strategy = .hybrid
    @Option var steps = 8
    @Option var victim = 1
    @Option var stopAfter = 2.0

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
                    (ok, details) = try HybridChecks.exact(runtime, strategy: strategy, servers: servers, steps: steps, layout: placement.rawValue)
                case .mismatchShape, .mismatchExtra:
                    (ok, details) = try HybridChecks.mismatch(runtime, strategy: strategy, extraTable: `case` == .mismatchExtra)
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
