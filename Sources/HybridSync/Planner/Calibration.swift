import Foundation
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// The cost of each path, measured on the job's own network, by message-size regime, by a short probe.
package struct Calibration: Sendable {
    /// The ring's cost model. Both models carry every measurement (the ring's curve, the pull's and the
    /// push's cost, the memory pass) and price with them; they differ in the alpha and beta read off
    /// the measurements for the simulator and the reports.
    package let ring: CostModel
    /// The parameter servers' cost model.
    package let ps: CostModel

    /// Bucket sizes the ring is timed at: the recursive-doubling regime, its crossover, the ring's
    /// bandwidth regime within the caches, and beyond them (32 MiB: a densified table's size).
    package static let ringProbeBytes = [4 << 10, 64 << 10, 1 << 20, 8 << 20, 32 << 20]
    /// (rows, floats a row) the pulls and pushes are timed at: latency, rows and bytes told apart by
    /// 1,024 rows of 64 floats against 8,192 of 8 (the same bytes, 8x the rows).
    package static let psProbes = [(1, 64), (1024, 64), (8192, 8), (8192, 64)]

    /// Probes both paths, collective over the workers (under half a second on loopback; a few seconds on
    /// 1 gbit links): a float32 sum over 32 MB on every worker at once (one memory pass), ring
    /// all-reduces at `ringProbeBytes`, and pulls and pushes at `psProbes` by every worker at once.
    /// Medians of 3-5 tries each. Every worker gets worker 0's numbers, so plans agree.
    package static func probe(_ runtime: HybridRuntime) throws -> Calibration {
        let comm = runtime.dense.communicator
        let p = comm.size, s = runtime.kv.serverCount
        func median(_ times: Int = 5, _ body: () throws -> Void) throws -> Double {
            var t: [Double] = []
            for _ in 0..<times { try comm.barrier(); let t0 = ContinuousClock.now; try body(); t.append(secondsSince(t0)) }
            return t.sorted()[t.count / 2]
        }
        // One memory pass: seconds per byte of a float32 sum over arrays larger than the caches.
        let n = 8 << 20
        var a = [Float](repeating: 1, count: n), b = [Float](repeating: 2, count: n)
        let pass =
            try median(3) {
                a.withUnsafeMutableBufferPointer { pa in
                    b.withUnsafeMutableBufferPointer { pb in
                        ReductionKernels.accumulate(dtype: .float32, pa.baseAddress!, pb.baseAddress!, count: n, op: .sum)
                    }
                }
            } / Double(n * 4)
        a = []; b = []
        var ringSamples: [(bytes: Double, seconds: Double)] = []
        for bytes in ringProbeBytes {
            let t = try Tensor(name: "hybridsync.calib.\(bytes)", dtype: .float32, count: bytes / 4)
            ringSamples.append((Double(bytes), try median(bytes > 1 << 20 ? 3 : 5) { try runtime.dense.allreduce([t]) }))
        }
        let dims = Set(psProbes.map(\.1)).sorted()
        try runtime.kv.declare(dims.map { TableSpec(name: "hybridsync.calib.\($0)", dimension: $0, optimizer: .sgd(learningRate: 0), consistency: .asp) })
        var pulls: [(keys: Double, bytes: Double, seconds: Double)] = [], pushes = pulls
        for (rows, d) in psProbes {
            let table = "hybridsync.calib.\(d)", keys = (0..<UInt64(rows)).map { $0 }
            let values = [Float](repeating: 0, count: rows * d)
            let (k, bytes) = (Double(rows), Double(rows * d * 4))
            pushes.append((k, bytes, try median { try runtime.kv.push([SparseRows(table: table, keys: keys, values: values)]) }))
            pulls.append((k, bytes, try median { _ = try runtime.kv.pull([RowQuery(table: table, keys: keys)]) }))
        }
        let pull = RequestCost(fitting: pulls), push = RequestCost(fitting: pushes)
        let v = try Tensor(
            name: "hybridsync.calib.values",
            values: ringSamples.map(\.seconds)
                + [pull.latency, pull.perKey, pull.perByte, push.latency, push.perKey, push.perByte, pass])
        try runtime.dense.broadcast(v, root: 0)
        let c = try v.values(as: Double.self), r = ringProbeBytes.count
        return Calibration(
            curve: CostCurve(zip(ringProbeBytes, c[0..<r]).map { (Double($0), $1) }),
            pull: RequestCost(latency: c[r], perKey: c[r + 1], perByte: c[r + 2]),
            push: RequestCost(latency: c[r + 3], perKey: c[r + 4], perByte: c[r + 5]), pass: c[r + 6], workers: p, servers: s)
    }

    /// Both models from the measurements. The alpha, beta and gamma the simulator and the reports use are
    /// read off them: the ring's alpha from its smallest bucket, its beta from its largest regime (less the
    /// reduction); the PS's from the pull and the push.
    init(curve: CostCurve, pull: RequestCost, push: RequestCost, pass: Double, workers p: Int, servers s: Int) {
        let factor = p > 1 ? 2 * Double(p - 1) / Double(p) : 1
        let (b, t) = (curve.bytes, curve.seconds)
        let slope = b.count > 1 ? (t[t.count - 1] - t[t.count - 2]) / (b[b.count - 1] - b[b.count - 2]) : 0
        let ring = CostModel(
            alpha: p > 1 ? max(1e-7, (t.first ?? 0) / Double(2 * (p - 1))) : 1e-6,
            beta: max(1e-12, slope / factor - pass / 2), gamma: pass, workers: p, servers: s)
        let ps = CostModel(
            alpha: max(1e-7, (pull.latency + push.latency) / 2), beta: max(1e-12, (pull.perByte + push.perByte) / 2),
            gamma: pass, workers: p, servers: s)
        func measured(_ model: CostModel) -> CostModel {
            var m = model
            (m.ringCurve, m.pullCost, m.pushCost, m.localPass) = (curve, pull, push, pass)
            return m
        }
        self.ring = measured(ring)
        self.ps = measured(ps)
    }

    /// One line for logs: the ring's time at each probed size, the pull's and the push's terms, the pass.
    package var summary: String {
        let curve =
            ring.ringCurve.map { c in zip(c.bytes, c.seconds).map { String(format: "%.0f KiB %.0f us", $0 / 1024, $1 * 1e6) }.joined(separator: ", ") } ?? "-"
        func request(_ r: RequestCost?) -> String {
            r.map { String(format: "%.0f us + %.3f us/row + %.3f ns/B", $0.latency * 1e6, $0.perKey * 1e6, $0.perByte * 1e9) } ?? "-"
        }
        return "ring \(curve); pull \(request(ps.pullCost)); push \(request(ps.pushCost))" + String(format: "; memory pass %.3f ns/B", ps.localPass * 1e9)
    }
}
