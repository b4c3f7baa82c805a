import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// Alpha, beta and gamma of each path, measured on the job's own network by a short probe.
package struct Calibration: Sendable {
    /// The ring's cost model.
    package let ring: CostModel
    /// The parameter servers' cost model.
    package let ps: CostModel

    /// Probes both paths (collective over the workers; about a hundred milliseconds): a ring all-reduce
    /// of 4 KiB and 8 MiB, a push+pull of 1 and 8,192 rows of 64 floats, and a float32 sum on this core.
    /// Every worker gets worker 0's numbers, so plans agree.
    package static func probe(_ runtime: HybridRuntime) throws -> Calibration {
        let comm = runtime.dense.communicator
        let p = comm.size, s = runtime.kv.serverCount
        // gamma: seconds per byte of a float32 sum over 8 MiB.
        let n = 2 << 20
        var a = [Float](repeating: 1, count: n), b = [Float](repeating: 2, count: n)
        var gammas: [Double] = []
        for _ in 0..<5 {
            let t0 = ContinuousClock.now
            a.withUnsafeMutableBufferPointer { pa in b.withUnsafeMutableBufferPointer { pb in
                ReductionKernels.accumulate(pa.baseAddress!, pb.baseAddress!, count: n, op: .sum) } }
            gammas.append(secondsSince(t0) / Double(n * 4))
        }
        let gamma = gammas.sorted()[gammas.count / 2]
        func timeRing(_ count: Int) throws -> Double {
            let t = try Tensor(name: "hybridsync.calib.\(count)", dtype: .float32, count: count)
            var times: [Double] = []
            for _ in 0..<5 { try comm.barrier(); let t0 = ContinuousClock.now; try runtime.dense.allreduce([t]); times.append(secondsSince(t0)) }
            return times.sorted()[times.count / 2]
        }
        let small = 1024, large = 2 << 20
        let rs = try timeRing(small), rl = try timeRing(large)
        let factor = p > 1 ? 2 * Double(p - 1) / Double(p) : 1
        let moved = factor * Double((large - small) * 4)
        let ringAlpha = p > 1 ? max(1e-7, rs / Double(2 * (p - 1))) : 1e-6
        let ringBeta = max(1e-12, (rl - rs - gamma * moved / 2) / moved)
        try runtime.kv.declare([TableSpec(name: "hybridsync.calib", dimension: 64, optimizer: .sgd(learningRate: 0), consistency: .asp)])
        func timePS(_ rows: Int) throws -> Double {
            let keys = (0..<UInt64(rows)).map { $0 }
            let values = [Float](repeating: 0, count: rows * 64)
            var times: [Double] = []
            for _ in 0..<5 {
                try comm.barrier()
                let t0 = ContinuousClock.now
                _ = try runtime.kv.pushPull([SparseRows(table: "hybridsync.calib", keys: keys, values: values)])
                times.append(secondsSince(t0))
            }
            return times.sorted()[times.count / 2]
        }
        let ps1 = try timePS(1), psN = try timePS(8192)
        let load = max(1, Double(p) / Double(s))
        let bytes = Double(8192 * 64 * 4) * 2 * load
        let psAlpha = max(1e-7, ps1 / 2)
        let psBeta = max(1e-12, (psN - ps1 - gamma * Double(8192 * 64 * 4) * load) / bytes)
        let v = try Tensor(name: "hybridsync.calib.values", values: [ringAlpha, ringBeta, psAlpha, psBeta, gamma])
        try runtime.dense.broadcast(v, root: 0)
        let c = try v.values(as: Double.self)
        return Calibration(ring: CostModel(alpha: c[0], beta: c[1], gamma: c[4], workers: p, servers: s),
                           ps: CostModel(alpha: c[2], beta: c[3], gamma: c[4], workers: p, servers: s))
    }
}
