import HybridSync
import ArgumentParser
import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
#if canImport(Glibc)
import Glibc
#endif

/// `hybridsync-testjobs ps-check --case NAME`: a worker that exercises one property of the parameter server over
/// real ZeroMQ and prints `worker i RESULT <case> ok|FAIL <details>`. Run inside `hybridsync ps local -- <this binary> ps-check ...`.
struct PSCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps-check", abstract: "A worker that checks one property (used by the tests).")

    enum Case: String, ExpressibleByArgument, CaseIterable {
        case pushPull = "push-pull", bsp, optimizers, ssp, asp, kill, badInput = "bad-input", barrier, exactlyOnce = "exactly-once"
    }

    @Option(help: "What to check: \(Case.allCases.map(\.rawValue).joined(separator: ", ")).") var `case`: Case
    @Option(help: "Steps for the clocked checks.") var steps = 12
    @Option(help: "Staleness bound for the ssp check.") var staleness = 2

    func run() throws {
        let config = try PSConfig.fromEnvironment(ProcessInfo.processInfo.environment)
        let worker = try KVWorker(config: config)
        let me = worker.id.index
        var ok = true
        var details = ""
        do {
            switch `case` {
            case .pushPull: (ok, details) = try PSChecks.pushPull(worker)
            case .bsp: (ok, details) = try PSChecks.bsp(worker, steps: steps)
            case .optimizers: (ok, details) = try PSChecks.optimizers(worker, steps: steps)
            case .ssp: (ok, details) = try PSChecks.gap(worker, consistency: .ssp(staleness: staleness), steps: steps, staleness: staleness)
            case .asp: (ok, details) = try PSChecks.gap(worker, consistency: .asp, steps: steps, staleness: staleness)
            case .kill: (ok, details) = try checkKill(worker)
            case .badInput: (ok, details) = try BadInputCheck(worker: worker, config: config).run()
            case .barrier: (ok, details) = try PSChecks.barrier(worker)
            case .exactlyOnce:
                // FNV-1a over the final rows' bits: the test compares it with a fault-free run's.
                let bits = try PSChecks.bspAdagradBits(worker, steps: steps)
                let hash = bits.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
                (ok, details) = (true, "bits=\(String(hash, radix: 16)) resends=\(worker.resends)")
            }
        } catch {
            ok = false
            details = "threw \(error)"
        }
        emit("worker \(me) RESULT \(`case`.rawValue) \(ok ? "ok" : "FAIL") \(details)")
        worker.finish()
        if !ok { throw ExitCode(1) }
    }

    /// BSP with 3+ workers; the last worker kills itself with SIGKILL at step 3. The others' next pull
    /// must fail naming it, within the heartbeat timeout.
    private func checkKill(_ worker: KVWorker) throws -> (Bool, String) {
        let spec = TableSpec(name: "k", dimension: 4, optimizer: .sgd(learningRate: 1), consistency: .bsp)
        try worker.declare([spec])
        let me = worker.id.index, victim = worker.workerCount - 1
        for t in 0..<10 {
            if t == 3 && me == victim { kill(getpid(), SIGKILL) }
            let start = Date()
            do {
                _ = try worker.pull([RowQuery(table: "k", keys: [1, 2])], timeout: 30)
            } catch let e as HybridSyncError {
                let ms = Int(Date().timeIntervalSince(start) * 1000)
                if case .peerDied(let peer, _) = e, peer == "worker \(victim)" {
                    return (true, "step \(t): \(e) after \(ms) ms")
                }
                return (false, "step \(t): unexpected \(e)")
            }
            try worker.push([SparseRows(table: "k", keys: [1, 2], values: [Float](repeating: 1, count: 8))])
            try worker.advanceClock()
        }
        return (false, "no error although worker \(victim) died")
    }

}
