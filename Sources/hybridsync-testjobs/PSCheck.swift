import ArgumentParser
import Foundation
import HybridSync
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
        case pushPull = "push-pull", bsp, optimizers, ssp, asp, kill, stop, badInput = "bad-input", barrier, exactlyOnce = "exactly-once"
    }

    @Option(help: "What to check: \(Case.allCases.map(\.rawValue).joined(separator: ", ")).") var `case`: Case
    @Option(help: "Steps for the clocked checks.") var steps = 12
    @Option(help: "Staleness bound for the ssp check.") var staleness = 2

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let config = try TestSwitches.apply(env, to: PSConfig.fromEnvironment(env))
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
            case .stop: (ok, details) = try checkStop(worker)
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

    /// ASP with 3+ workers; the last worker stops itself (SIGSTOP, never resumed) at step 3. The others
    /// go on being served while it is stopped, until the scheduler declares it dead after the heartbeat
    /// timeout; then their next request fails naming it.
    private func checkStop(_ worker: KVWorker) throws -> (Bool, String) {
        let spec = TableSpec(name: "s", dimension: 4, optimizer: .sgd(learningRate: 1), consistency: .asp)
        try worker.declare([spec])
        try worker.barrier()
        let me = worker.id.index, victim = worker.workerCount - 1
        var servedAfter = 0
        var stoppedAt: Date?
        for t in 0..<1_000_000 {
            if t == 3 {
                if me == victim { raise(SIGSTOP) }
                stoppedAt = Date()
            }
            do {
                try worker.push([SparseRows(table: "s", keys: [1, 2], values: [Float](repeating: 1, count: 8))])
                _ = try worker.pull([RowQuery(table: "s", keys: [1, 2])], timeout: 30)
                if t >= 3 { servedAfter += 1 }
                Thread.sleep(forTimeInterval: 0.01)
            } catch let e as HybridSyncError {
                let ms = Int(Date().timeIntervalSince(stoppedAt ?? Date()) * 1000)
                if case .peerDied(let peer, _) = e, peer == "worker \(victim)", servedAfter >= 5 {
                    return (true, "served \(servedAfter) requests while worker \(victim) was stopped, then: \(e) after \(ms) ms")
                }
                return (false, "step \(t) (served \(servedAfter) after the stop): unexpected \(e)")
            }
        }
        return (false, "no error although worker \(victim) stopped")
    }

    /// BSP with 3+ workers; the last worker kills itself with SIGKILL at step 3. The others' next pull
    /// must fail naming it, within the heartbeat timeout. In a relaunch (`ps local --max-restarts`,
    /// HYBRIDSYNC_RESTART >= 1) nobody dies and the 10 steps must complete.
    private func checkKill(_ worker: KVWorker) throws -> (Bool, String) {
        let spec = TableSpec(name: "k", dimension: 4, optimizer: .sgd(learningRate: 1), consistency: .bsp)
        try worker.declare([spec])
        let me = worker.id.index, victim = worker.workerCount - 1
        let relaunch = LaunchEnvironment().restart
        for t in 0..<10 {
            if t == 3 && me == victim && relaunch == 0 { kill(getpid(), SIGKILL) }
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
        return relaunch > 0 ? (true, "relaunch \(relaunch): 10 steps, nobody died") : (false, "no error although worker \(victim) died")
    }

}
