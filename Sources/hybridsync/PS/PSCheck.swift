import ArgumentParser
import Foundation
import HybridSyncCore
import HybridSyncPS
#if canImport(Glibc)
import Glibc
#endif

/// `hybridsync ps check --case NAME`: a worker that exercises one property of the parameter server over
/// real ZeroMQ and prints `worker i RESULT <case> ok|FAIL <details>`. Run inside `ps local`.
struct PSCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "A worker that checks one property (used by the tests).")

    enum Case: String, ExpressibleByArgument, CaseIterable {
        case pushPull = "push-pull", bsp, optimizers, ssp, asp, kill, badInput = "bad-input", barrier
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
            case .pushPull: (ok, details) = try checkPushPull(worker)
            case .bsp: (ok, details) = try checkBSP(worker)
            case .optimizers: (ok, details) = try checkOptimizers(worker)
            case .ssp: (ok, details) = try checkGap(worker, consistency: .ssp(staleness: staleness))
            case .asp: (ok, details) = try checkGap(worker, consistency: .asp)
            case .kill: (ok, details) = try checkKill(worker)
            case .badInput: (ok, details) = try BadInputCheck(worker: worker, config: config).run()
            case .barrier: (ok, details) = try checkBarrier(worker)
            }
        } catch {
            ok = false
            details = "threw \(error)"
        }
        emit("worker \(me) RESULT \(`case`.rawValue) \(ok ? "ok" : "FAIL") \(details)")
        worker.finish()
        if !ok { throw ExitCode(1) }
    }

    /// Integer value pushed by worker `w` for row `key`, element `e`, at step `t`.
    static func grad(_ w: Int, _ key: UInt64, _ e: Int, _ t: Int) -> Float {
        Float(Int((key &* 7 &+ UInt64(e * 3 + w * 5 + t)) % 11) - 5)
    }

    /// Every worker pushes rows (duplicates, any order, two tables, one with rows cut into pieces across
    /// servers); after a barrier everyone pulls and must see the exact sum of all pushes.
    private func checkPushPull(_ worker: KVWorker) throws -> (Bool, String) {
        let wide = TableSpec(name: "wide", dimension: 1000, optimizer: .accumulate, consistency: .asp, pieceLength: 256)
        let small = TableSpec(name: "small", dimension: 4, optimizer: .accumulate, consistency: .asp)
        try worker.declare([wide, small])
        let n = worker.workerCount, me = worker.id.index
        func keys(_ w: Int) -> [UInt64] { (0..<40).map { UInt64(($0 * 7 + w * 3) % 25) }.reversed() }
        func rows(_ w: Int, _ spec: TableSpec) -> SparseRows {
            let k = keys(w)
            return SparseRows(table: spec.name, keys: k, values: k.flatMap { key in (0..<spec.dimension).map { Self.grad(w, key, $0, 0) } })
        }
        try worker.push([rows(me, wide), rows(me, small)])
        try worker.barrier()
        let query: [UInt64] = [3, 0, 24, 3, 17, 99]
        let pulled = try worker.pull([RowQuery(table: "wide", keys: query), RowQuery(table: "small", keys: query)])
        var wrong = 0
        for (t, spec) in [wide, small].enumerated() {
            for (i, key) in query.enumerated() {
                for e in 0..<spec.dimension {
                    var expected: Float = 0
                    for w in 0..<n { for k in keys(w) where k == key { expected += Self.grad(w, key, e, 0) } }
                    if pulled[t].row(i)[pulled[t].row(i).startIndex + e] != expected { wrong += 1 }
                }
            }
        }
        let piecesOn = Set((0..<wide.pieceCount).map { worker.server(of: 3, piece: $0, table: "wide") })
        let spread = worker.serverCount == 1 || piecesOn.count > 1
        try worker.barrier()
        return (wrong == 0 && spread, "wrong=\(wrong) pieces of one wide row on \(piecesOn.count) of \(worker.serverCount) servers")
    }

    /// BSP with SGD (lr 1, w -= g) on integer gradients: at every step the pulled rows must equal the
    /// serial result of all workers' pushes of the earlier steps, exactly. Worker 0 is slow.
    private func checkBSP(_ worker: KVWorker) throws -> (Bool, String) {
        let spec = TableSpec(name: "bsp", dimension: 16, initializer: .constant(100), optimizer: .sgd(learningRate: 1), consistency: .bsp)
        try worker.declare([spec])
        let n = worker.workerCount, me = worker.id.index
        let keys: [UInt64] = (0..<30).map { UInt64($0 * 13) }
        var wrong = 0
        for t in 0..<steps {
            let pulled = try worker.pull([RowQuery(table: "bsp", keys: keys)])[0]
            for (i, key) in keys.enumerated() {
                for e in 0..<16 {
                    var expected: Float = 100
                    for s in 0..<t { for w in 0..<n { expected -= Self.grad(w, key, e, s) } }
                    if pulled.values[i * 16 + e] != expected { wrong += 1 }
                }
            }
            if me == 0 { usleep(20_000) }
            try worker.push([SparseRows(table: "bsp", keys: keys, values: keys.flatMap { k in (0..<16).map { Self.grad(me, k, $0, t) } })])
            try worker.advanceClock()
        }
        return (wrong == 0, "steps=\(steps) wrong=\(wrong)")
    }

    /// Adagrad and Adam under BSP against a serial reference computed here in Double.
    private func checkOptimizers(_ worker: KVWorker) throws -> (Bool, String) {
        let ada = TableSpec(name: "adagrad", dimension: 8, initializer: .uniform(scale: 0.5),
                            optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-8, initialAccumulator: 0.1), consistency: .bsp)
        let adam = TableSpec(name: "adam", dimension: 8, initializer: .uniform(scale: 0.5),
                             optimizer: .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8), consistency: .bsp)
        try worker.declare([ada, adam])
        let n = worker.workerCount, me = worker.id.index
        let keys: [UInt64] = [1, 5, 9, 1000, 77]
        // Step 0's pull gives the deterministic initial values (the same on every run and server).
        let initial = try worker.pull([RowQuery(table: "adagrad", keys: keys), RowQuery(table: "adam", keys: keys)])
        var refAda = initial[0].values.map(Double.init), refAdam = initial[1].values.map(Double.init)
        var h = [Double](repeating: 0.1, count: refAda.count)
        var m = [Double](repeating: 0, count: refAdam.count), v = m
        for t in 0..<steps {
            // Only some keys are touched each step (lazy Adam counts per-row steps).
            let touched = keys.enumerated().filter { ($0.offset + t) % 3 != 0 }
            let values = touched.flatMap { k in (0..<8).map { Self.grad(me, k.element, $0, t) / 4 } }
            try worker.push([SparseRows(table: "adagrad", keys: touched.map(\.element), values: values),
                             SparseRows(table: "adam", keys: touched.map(\.element), values: values)])
            try worker.advanceClock()
            for (i, key) in touched {
                for e in 0..<8 {
                    let g = (0..<n).reduce(0.0) { $0 + Double(Self.grad($1, key, e, t) / 4) }
                    let j = i * 8 + e
                    h[j] += g * g
                    refAda[j] -= 0.1 * g / (h[j].squareRoot() + 1e-8)
                }
            }
            for (i, key) in touched {
                let rowSteps = (0...t).filter { (i + $0) % 3 != 0 }.count
                for e in 0..<8 {
                    let g = (0..<n).reduce(0.0) { $0 + Double(Self.grad($1, key, e, t) / 4) }
                    let j = i * 8 + e
                    m[j] = 0.9 * m[j] + 0.1 * g
                    v[j] = 0.999 * v[j] + 0.001 * g * g
                    let mh = m[j] / (1 - pow(0.9, Double(rowSteps))), vh = v[j] / (1 - pow(0.999, Double(rowSteps)))
                    refAdam[j] -= 0.01 * mh / (vh.squareRoot() + 1e-8)
                }
            }
        }
        let final = try worker.pull([RowQuery(table: "adagrad", keys: keys), RowQuery(table: "adam", keys: keys)])
        let errAda = zip(final[0].values, refAda).map { abs(Double($0) - $1) }.max() ?? 0
        let errAdam = zip(final[1].values, refAdam).map { abs(Double($0) - $1) }.max() ?? 0
        let moved = zip(final[0].values, initial[0].values).contains { $0 != $1 }
        return (errAda < 1e-4 && errAdam < 1e-4 && moved, "max |server - serial| adagrad=\(errAda) adam=\(errAdam)")
    }

    /// Worker 0 is slow; the others run ahead as far as the model lets them. Reports the largest clock
    /// gap the servers measured when answering pulls.
    private func checkGap(_ worker: KVWorker, consistency: Consistency) throws -> (Bool, String) {
        let spec = TableSpec(name: "gap", dimension: 4, optimizer: .sgd(learningRate: 0.1), consistency: consistency)
        try worker.declare([spec])
        try worker.barrier()
        let me = worker.id.index
        for t in 0..<steps {
            _ = try worker.pull([RowQuery(table: "gap", keys: [1, 2, 3])])
            if me == 0 { usleep(40_000) }
            try worker.push([SparseRows(table: "gap", keys: [1, 2, 3], values: [Float](repeating: Float(t), count: 12))])
            try worker.advanceClock()
        }
        let gap = try worker.serverStats().map(\.largestAnsweredGap).max() ?? -1
        try worker.barrier()
        switch consistency {
        case .ssp(let s): return (gap <= s && gap >= 1, "largest clock gap \(gap), bound \(s)")
        default: return (gap > staleness, "largest clock gap \(gap) (asp: expected above \(staleness))")
        }
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

    /// Barrier: each worker records when it left; all must leave after the last one entered.
    private func checkBarrier(_ worker: KVWorker) throws -> (Bool, String) {
        try worker.declare([TableSpec(name: "b", dimension: 1, optimizer: .accumulate)])
        if worker.id.index == 0 { usleep(300_000) }
        let before = Date()
        try worker.barrier()
        let waited = Date().timeIntervalSince(before)
        // Everyone pushes 1 after the barrier, then a second barrier; the sum must be the worker count.
        try worker.push([SparseRows(table: "b", keys: [7], values: [1])])
        try worker.barrier()
        let sum = try worker.pull([RowQuery(table: "b", keys: [7])])[0].values[0]
        let ok = sum == Float(worker.workerCount) && (worker.id.index == 0 || waited > 0.2)
        return (ok, "waited \(Int(waited * 1000)) ms, sum \(sum)")
    }
}
