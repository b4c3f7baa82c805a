import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore

/// `hybridsync bench allreduce`: the ring versus MPI_Allreduce as Open MPI picks it, interleaved in one
/// run, every result validated; nccl-tests columns plus ring/MPI; memcpy bandwidth of this machine; and
/// two fusion cases (200 tensors of 4-256 KiB and 1,000 of 256 B-4 KiB, fused, versus one MPI_Allreduce
/// per tensor).
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allreduce")

    @Option(help: "Comma-separated sizes in bytes (default 4 KiB to 64 MiB, powers of 4).")
    var sizes = "4096,16384,65536,262144,1048576,4194304,16777216,67108864"
    @Option(help: "Measured iterations per size and algorithm (0: automatic, fewer for large sizes).")
    var iterations = 0
    @Option(help: "Ring segment size in bytes.")
    var segmentBytes = 1 << 20
    @Option(help: "Buckets up to this many bytes go by recursive doubling (0: ring only; default: the library's).")
    var recursiveDoublingBytes = DenseSyncConfig().recursiveDoublingBytes
    @Option(help: "Tensors of at least this many bytes are reduced in place, not fused (default: the library's).")
    var fusionInPlaceBytes = DenseSyncConfig().fusionInPlaceBytes
    @Flag(help: "Reduce hierarchically when ranks share hosts (within the host, across hosts, broadcast).")
    var hierarchical = false
    @Option(help: "Append JSON lines to this file.")
    var json: String?

    func run() throws {
        try MPIRuntime.run { world in
            var config = DenseSyncConfig()
            config.segmentBytes = segmentBytes
            config.recursiveDoublingBytes = recursiveDoublingBytes
            config.fusionInPlaceBytes = fusionInPlaceBytes
            let dense = DenseSync(communicator: world, config: config)
            let levels = hierarchical ? try dense.groupByHost(named: LaunchEnvironment().hostIdentity) : false
            var out = JSONLines(path: world.rank == 0 ? json : nil)
            let p = world.size
            let memcpy = measureMemcpy()
            if world.rank == 0 {
                emit("# hybridsync bench allreduce: \(p) ranks, float32 sum, ring segment \(formatBytes(segmentBytes))")
                emit("# memcpy bandwidth (64 MiB, this run): \(String(format: "%.2f", memcpy)) GB/s")
                if hierarchical {
                    emit(levels ? "# hierarchical: within each host, then across hosts" : "# hierarchical asked, but no host holds two ranks: flat")
                }
                emit(header)
                out.add(["bench": "allreduce", "kind": "memcpy", "ranks": p, "bytes": 64 << 20, "gbps": memcpy])
            }
            for size in sizes.split(separator: ",").compactMap({ Int($0) }) {
                let row = try measure(bytes: size, dense: dense)
                if world.rank == 0 {
                    emit(row.line(ranks: p))
                    for (algo, t, wrong) in [("ring", row.ring, row.ringWrong), ("mpi", row.mpi, row.mpiWrong)] {
                        out.add([
                            "bench": "allreduce", "kind": "size", "ranks": p, "bytes": size, "algo": algo,
                            "time_us": t * 1e6, "algbw_gbps": Double(size) / t / 1e9,
                            "busbw_gbps": Double(size) / t / 1e9 * busFactor(p), "wrong": wrong,
                            "ratio_ring_over_mpi": row.ring / row.mpi, "memcpy_gbps": memcpy,
                        ])
                    }
                }
            }
            // 200 tensors of 4-256 KiB, then 1,000 small ones of 256 B-4 KiB (a model's biases and norms).
            let mixes = [
                ("200 tensors of 4-256 KiB", (0..<200).map { 1024 * (1 + ($0 * 37) % 64) }),
                ("1000 tensors of 256 B-4 KiB", (0..<1000).map { 64 * (1 + ($0 * 37) % 16) }),
            ]
            for (label, counts) in mixes {
                let fusion = try measureFusion(counts: counts, dense: dense)
                if world.rank == 0 {
                    emit(
                        "# fusion: \(label) (\(formatBytes(fusion.bytes)) in all): fused \(String(format: "%.0f", fusion.fused * 1e6)) us, one MPI_Allreduce per tensor \(String(format: "%.0f", fusion.perTensor * 1e6)) us, speedup \(String(format: "%.2f", fusion.perTensor / fusion.fused))x, wrong \(fusion.wrong)"
                    )
                    out.add([
                        "bench": "allreduce", "kind": "fusion", "ranks": p, "tensors": counts.count, "bytes": fusion.bytes,
                        "fused_us": fusion.fused * 1e6, "per_tensor_mpi_us": fusion.perTensor * 1e6,
                        "speedup": fusion.perTensor / fusion.fused, "wrong": fusion.wrong,
                    ])
                }
            }
            if world.rank == 0 { try out.write() }
        }
    }

    private var header: String {
        [
            pad("size", 8), pad("count", 10), pad("ring us", 11), pad("algbw", 8), pad("busbw", 8), pad("wrong", 6),
            pad("mpi us", 11), pad("algbw", 8), pad("busbw", 8), pad("wrong", 6), pad("ring/mpi", 9),
        ].joined(separator: " ")
    }

    private func busFactor(_ p: Int) -> Double { p > 1 ? 2 * Double(p - 1) / Double(p) : 1 }

    struct Row {
        let bytes: Int
        let ring: Double, mpi: Double
        let ringWrong: Int, mpiWrong: Int

        func line(ranks p: Int) -> String {
            let f = p > 1 ? 2 * Double(p - 1) / Double(p) : 1
            func cols(_ t: Double, _ w: Int) -> [String] {
                let alg = Double(bytes) / t / 1e9
                return [
                    pad(String(format: "%.1f", t * 1e6), 11), pad(String(format: "%.2f", alg), 8),
                    pad(String(format: "%.2f", alg * f), 8), pad("\(w)", 6),
                ]
            }
            return
                ([pad(formatBytes(bytes), 8), pad("\(bytes / 4)", 10)] + cols(ring, ringWrong) + cols(mpi, mpiWrong)
                + [pad(String(format: "%.2f", ring / mpi), 9)]).joined(separator: " ")
        }
    }

    /// Median time of the slowest rank, ring and MPI alternating, each result checked.
    private func measure(bytes: Int, dense: DenseSync) throws -> Row {
        let comm = dense.communicator
        let count = bytes / 4
        let template = (0..<count).map { Float((comm.rank + 1) * ($0 % 13 + 1)) }
        let tensor = try Tensor(name: "bench.\(bytes)", values: template)
        let factor = Float(comm.size * (comm.size + 1) / 2)
        let iters = iterations > 0 ? iterations : max(5, min(60, (256 << 20) / max(bytes, 1)))
        var ringTimes: [Double] = [], mpiTimes: [Double] = []
        var ringWrong = 0, mpiWrong = 0
        for it in -2..<iters {
            for algo in (it % 2 == 0 ? [0, 1] : [1, 0]) {
                try tensor.assign(template)
                try comm.barrier()
                let t0 = MPIRuntime.wallTime()
                if algo == 0 {
                    try dense.allreduce([tensor], op: .sum)
                } else {
                    try MPIReference.allreduce(tensor.rawPointer, count: count, dtype: .float32, op: .sum, comm: comm)
                }
                let t = MPIRuntime.wallTime() - t0
                let wrong = try tensor.withElements(as: Float.self) { v in
                    var w = 0
                    for i in 0..<count where v[i] != factor * Float(i % 13 + 1) { w += 1 }
                    return w
                }
                if it >= 0 {
                    if algo == 0 { ringTimes.append(t); ringWrong += wrong } else { mpiTimes.append(t); mpiWrong += wrong }
                }
            }
        }
        let stats = try Tensor(name: "stats", values: [median(ringTimes), median(mpiTimes)])
        try MPIReference.allreduce(stats.rawPointer, count: 2, dtype: .float64, op: .max, comm: comm)
        let wrong = try comm.sumAcrossRanks([ringWrong, mpiWrong])
        let t = try stats.values(as: Double.self)
        return Row(bytes: bytes, ring: t[0], mpi: t[1], ringWrong: wrong[0], mpiWrong: wrong[1])
    }

    /// Bytes copied per second by `memcpy` of 64 MiB (median of 7).
    private func measureMemcpy() -> Double {
        let n = 64 << 20
        let a = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        defer { a.deallocate(); b.deallocate() }
        memset(a, 1, n); memset(b, 2, n)
        var times: [Double] = []
        for _ in 0..<7 {
            let t0 = MPIRuntime.wallTime()
            memcpy(b, a, n)
            times.append(MPIRuntime.wallTime() - t0)
        }
        return Double(n) / median(times) / 1e9
    }

    /// Tensors of `counts` float32 elements: one fused `allreduce` call versus one `MPI_Allreduce` call
    /// per tensor.
    private func measureFusion(counts: [Int], dense: DenseSync) throws -> (fused: Double, perTensor: Double, wrong: Int, bytes: Int) {
        let comm = dense.communicator
        let templates = counts.enumerated().map { i, c in (0..<c).map { Float((comm.rank + 1) * (($0 + i) % 7 + 1)) } }
        let tensors = try counts.indices.map { try Tensor(name: String(format: "layer%03d", $0), values: templates[$0]) }
        let factor = Float(comm.size * (comm.size + 1) / 2)
        var fused: [Double] = [], perTensor: [Double] = []
        var wrong = 0
        for it in -2..<15 {
            for algo in (it % 2 == 0 ? [0, 1] : [1, 0]) {
                for (t, v) in zip(tensors, templates) { try t.assign(v) }
                try comm.barrier()
                let t0 = MPIRuntime.wallTime()
                if algo == 0 {
                    try dense.allreduce(tensors, op: .sum)
                } else {
                    for t in tensors { try MPIReference.allreduce(t.rawPointer, count: t.count, dtype: .float32, op: .sum, comm: comm) }
                }
                let elapsed = MPIRuntime.wallTime() - t0
                if it >= 0 { if algo == 0 { fused.append(elapsed) } else { perTensor.append(elapsed) } }
                for (i, t) in tensors.enumerated() {
                    wrong += try t.withElements(as: Float.self) { v in
                        (0..<t.count).filter { v[$0] != factor * Float(($0 + i) % 7 + 1) }.count
                    }
                }
            }
        }
        let stats = try Tensor(name: "stats", values: [median(fused), median(perTensor)])
        try MPIReference.allreduce(stats.rawPointer, count: 2, dtype: .float64, op: .max, comm: comm)
        let t = try stats.values(as: Double.self)
        return (t[0], t[1], try comm.sumAcrossRanks([wrong])[0], counts.reduce(0, +) * 4)
    }
}
