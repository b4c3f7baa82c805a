import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit

/// `hybridsync self-test hybrid`: checks of the hybrid path under mpirun.
/// - `exact`: a BSP job whose parameters (dense and embedding) must equal a serial reference exactly,
///   whatever the strategy and layout, including a re-plan that moves the table to the ring mid-run.
/// - `mismatch`: the last worker registers a different shape (or an extra table); every worker must
///   report the same error, and the job must still end cleanly.
struct SelfTestHybrid: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "self-test-hybrid")

    enum Case: String, ExpressibleByArgument { case exact, mismatchShape = "mismatch-shape", mismatchExtra = "mismatch-extra" }

    @Option var `case`: Case = .exact
    @Option var servers = 2
    @Option var placement: HybridLayout.Placement = .colocated
    @Option var strategy: Strategy = .hybrid
    @Option var steps = 8

    func run() throws {
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: placement)) { runtime in
            var ok = true, details = ""
            do {
                switch `case` {
                case .exact:
                    (ok, details) = try HybridChecks.exact(runtime, strategy: strategy, servers: servers, steps: steps, layout: placement.rawValue)
                case .mismatchShape, .mismatchExtra:
                    (ok, details) = try HybridChecks.mismatch(runtime, strategy: strategy, extraTable: `case` == .mismatchExtra)
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
