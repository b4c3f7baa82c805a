import Foundation
import HybridSyncCore
import HybridSyncPS

/// Properties of the parameter server checked from a worker, each against an oracle computed here
/// (closed-form integer sums, a Double serial reference): run in process by the test kit's jobs and
/// over real ZeroMQ processes by `hybridsync-testjobs ps-check`. Each returns (ok, details).
package enum PSChecks {
    /// Integer value pushed by worker `w` for row `key`, element `e`, at step `t`.
    package static func grad(_ w: Int, _ key: UInt64, _ e: Int, _ t: Int) -> Float {
        Float(Int((key &* 7 &+ UInt64(e * 3 + w * 5 + t)) % 11) - 5)
    }

    /// Every worker pushes rows (duplicates, any order, two tables, one with rows cut into pieces across
    /// servers); after a barrier everyone pulls and must see the exact sum of all pushes.
    package static func pushPull(_ worker: KVWorker) throws -> (Bool, String) {
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

    /// Pushes of sorted, unique keys (sent straight from the caller's arrays on one server; gathered
    /// into reused buffers of 64 KiB and more on several), each pushed twice while the caller's own
    /// array is overwritten as soon as the push has started: after a barrier the rows must be exactly
    /// twice the sum of every worker's original values (integers, so float sums are exact).
    package static func rowsInFlight(_ worker: KVWorker) throws -> (Bool, String) {
        let flat = TableSpec(name: "flat", dimension: 8, optimizer: .accumulate, consistency: .asp)
        let long = TableSpec(name: "long", dimension: 3000, optimizer: .accumulate, consistency: .asp, pieceLength: 1024)
        try worker.declare([flat, long])
        let n = worker.workerCount, me = worker.id.index
        let shapes = [(flat, (0..<5000).map { UInt64($0 * 3) }), (long, (0..<30).map { UInt64($0) })]
        for _ in 0..<2 {
            for (spec, keys) in shapes {
                var values = keys.flatMap { key in (0..<spec.dimension).map { grad(me, key, $0, 0) } }
                let handle = try worker.pushAsync([SparseRows(table: spec.name, keys: keys, values: values)])
                for i in values.indices { values[i] = 1e6 }  // the caller's array, changed while the push is out
                try handle.wait()
            }
        }
        try worker.barrier()
        var wrong = 0
        for (spec, keys) in shapes {
            let pulled = try worker.pull([RowQuery(table: spec.name, keys: keys)])[0]
            for (i, key) in keys.enumerated() {
                for e in 0..<spec.dimension {
                    let expected = 2 * (0..<n).reduce(Float(0)) { $0 + grad($1, key, e, 0) }
                    if pulled.values[i * spec.dimension + e] != expected { wrong += 1 }
                }
            }
        }
        try worker.barrier()
        return (wrong == 0, "wrong=\(wrong)")
    }

    /// Tables whose rows travel as float16 and bfloat16 (one cut into pieces): small integers arrive
    /// and return exactly; a push of 0.1 is stored as 0.1 rounded to 16 bits (Swift's `Float16`, or
    /// bfloat16's 8-bit significand, computed here by hand) and pulled back rounded again; and a
    /// push's bytes are little more than half those of the same push in float32.
    package static func rowEncodings(_ worker: KVWorker) throws -> (Bool, String) {
        let encodings: [RowEncoding] = [.float32, .float16, .bfloat16]
        let flat = encodings.map { TableSpec(name: "flat-\($0)", dimension: 64, optimizer: .accumulate, consistency: .asp, rowEncoding: $0) }
        let long = TableSpec(name: "long", dimension: 3000, optimizer: .accumulate, consistency: .asp, pieceLength: 1024, rowEncoding: .bfloat16)
        let tenths = encodings.map { TableSpec(name: "tenth-\($0)", dimension: 4, optimizer: .accumulate, consistency: .asp, rowEncoding: $0) }
        try worker.declare(flat + [long] + tenths)
        let n = worker.workerCount, me = worker.id.index
        let keys = (0..<500).map { UInt64($0 * 3) }
        var bytes: [Int] = []
        for spec in flat + [long] {
            let before = worker.bytesSent
            try worker.push([SparseRows(table: spec.name, keys: keys, values: keys.flatMap { key in (0..<spec.dimension).map { grad(me, key, $0, 0) } })])
            bytes.append(worker.bytesSent - before)
        }
        for spec in tenths { try worker.push([SparseRows(table: spec.name, keys: [7], values: [Float](repeating: 0.1, count: 4))]) }
        try worker.barrier()
        var wrong = 0
        for spec in flat + [long] {
            let pulled = try worker.pull([RowQuery(table: spec.name, keys: keys)])[0]
            for (i, key) in keys.enumerated() {
                for e in 0..<spec.dimension {
                    let expected = (0..<n).reduce(Float(0)) { $0 + grad($1, key, e, 0) }
                    if pulled.values[i * spec.dimension + e] != expected { wrong += 1 }
                }
            }
        }
        func bfloat16(_ x: Float) -> Float {
            // The nearest of the two bfloat16 values around x, ties to the even one.
            let low = Float(bitPattern: x.bitPattern & 0xFFFF_0000), high = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) + 0x1_0000)
            let dl = Double(x) - Double(low), dh = Double(high) - Double(x)
            return dl < dh || (dl == dh && (low.bitPattern >> 16) & 1 == 0) ? low : high
        }
        let rounders: [(Float) -> Float] = [{ $0 }, { Float(Float16($0)) }, bfloat16]
        for (spec, round) in zip(tenths, rounders) {
            let stored = Float(n) * round(0.1)
            let got = try worker.pull([RowQuery(table: spec.name, keys: [7])])[0].values
            if got != [Float](repeating: round(stored), count: 4) { wrong += 1 }
        }
        let halved = bytes[1] * 100 <= bytes[0] * 55 && bytes[2] * 100 <= bytes[0] * 55
        try worker.barrier()
        return (wrong == 0 && halved, "wrong=\(wrong) push bytes float32/float16/bfloat16/long=\(bytes)")
    }

    /// BSP with SGD (lr 1, w -= g) on integer gradients: at every step the pulled rows must equal the
    /// serial result of all workers' pushes of the earlier steps, exactly. Worker 0 is slow.
    package static func bsp(_ worker: KVWorker, steps: Int = 12) throws -> (Bool, String) {
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
            if me == 0 { Thread.sleep(forTimeInterval: 0.02) }
            try worker.push([SparseRows(table: "bsp", keys: keys, values: keys.flatMap { k in (0..<16).map { Self.grad(me, k, $0, t) } })])
            try worker.advanceClock()
        }
        return (wrong == 0, "steps=\(steps) wrong=\(wrong)")
    }

    /// Adagrad and Adam under BSP against a serial reference computed here in Double.
    package static func optimizers(_ worker: KVWorker, steps: Int = 12) throws -> (Bool, String) {
        let ada = TableSpec(
            name: "adagrad", dimension: 8, initializer: .uniform(scale: 0.5),
            optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-8, initialAccumulator: 0.1), consistency: .bsp)
        let adam = TableSpec(
            name: "adam", dimension: 8, initializer: .uniform(scale: 0.5),
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
            try worker.push([
                SparseRows(table: "adagrad", keys: touched.map(\.element), values: values),
                SparseRows(table: "adam", keys: touched.map(\.element), values: values),
            ])
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
    package static func gap(_ worker: KVWorker, consistency: Consistency, steps: Int = 12, staleness: Int = 2) throws -> (Bool, String) {
        let spec = TableSpec(name: "gap", dimension: 4, optimizer: .sgd(learningRate: 0.1), consistency: consistency)
        try worker.declare([spec])
        try worker.barrier()
        let me = worker.id.index
        for t in 0..<steps {
            _ = try worker.pull([RowQuery(table: "gap", keys: [1, 2, 3])])
            if me == 0 { Thread.sleep(forTimeInterval: 0.04) }
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

    /// Barrier: each worker records when it left; all must leave after the last one entered.
    package static func barrier(_ worker: KVWorker) throws -> (Bool, String) {
        try worker.declare([TableSpec(name: "b", dimension: 1, optimizer: .accumulate)])
        if worker.id.index == 0 { Thread.sleep(forTimeInterval: 0.3) }
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

    /// BSP with Adagrad for `steps` steps (integer gradients of every worker on overlapping keys, some
    /// keys pushed twice in one request): returns the bit patterns of every row at the end, pulled the
    /// same way by every worker. Two runs of a job must give the same bits whatever the faults.
    package static func bspAdagradBits(_ worker: KVWorker, steps: Int, beforeStep: (Int) throws -> Void = { _ in }) throws -> [UInt32] {
        let spec = TableSpec(
            name: "exact", dimension: 8, initializer: .uniform(scale: 0.5),
            optimizer: .adagrad(learningRate: 0.05, epsilon: 1e-8, initialAccumulator: 0.1), consistency: .bsp)
        try worker.declare([spec])
        let me = worker.index
        let all = (0..<UInt64(48)).map { $0 * 7919 }
        for t in 0..<steps {
            try beforeStep(t)
            let keys = (0..<12).map { all[($0 * 5 + me * 3 + t) % all.count] } + [all[t % all.count]]
            _ = try worker.pull([RowQuery(table: "exact", keys: keys)])
            let values = keys.flatMap { k in (0..<8).map { e in grad(me, k, e, t) / 8 } }
            try worker.push([SparseRows(table: "exact", keys: keys, values: values)])
            try worker.advanceClock()
        }
        let final = try worker.pull([RowQuery(table: "exact", keys: all)])[0]
        return final.values.map(\.bitPattern)
    }
}
