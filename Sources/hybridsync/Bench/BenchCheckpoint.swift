import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

/// `hybridsync bench checkpoint`: fills an Adagrad table on the servers, then times a checkpoint
/// (servers stream their shards, fsync, rename) and a resume (verify every checksum, stream the shards,
/// restore the rows), against `dd` writing (with fsync) and reading the same number of bytes in the
/// same run. Run under mpirun with dedicated servers.
struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Checkpoint write and resume throughput against dd (run under mpirun).")

    @Option(help: "Rows of the table (spread over every worker's pushes).") var rows = 1_000_000
    @Option(help: "Floats per row.") var dimension = 16
    @Option(help: "Servers.") var servers = 1
    @Option(help: "Directory for the checkpoints (removed afterwards).") var directory = "out/bench-checkpoint"
    @Option(help: "Append JSON lines to this file.") var json: String?

    func run() throws {
        try HybridRuntime.run(layout: HybridLayout(servers: servers, placement: .dedicated)) { runtime in try measure(runtime) }
    }

    private func measure(_ runtime: HybridRuntime) throws {
        let comm = runtime.dense.communicator
        let lead = comm.rank == 0
        let spec = TableSpec(
            name: "bench.table", dimension: dimension,
            optimizer: .adagrad(learningRate: 0.01, epsilon: 1e-8, initialAccumulator: 0.1), consistency: .asp)
        let sync = try GradientSync(runtime: runtime, strategy: .ps, replanAfterSteps: 0)
        try sync.register([Parameter(.embedding(spec, rows: rows))])
        // Every row touched once, each worker its share, in pushes of 65,536 rows.
        let mine = stride(from: comm.rank, to: rows, by: comm.size).map { UInt64($0) }
        for start in stride(from: 0, to: mine.count, by: 65_536) {
            let keys = Array(mine[start..<min(mine.count, start + 65_536)])
            try runtime.kv.push([SparseRows(table: spec.name, keys: keys, values: [Float](repeating: 0.5, count: keys.count * dimension))])
        }
        try? FileManager.default.removeItem(atPath: directory)
        let t0 = Date()
        try sync.checkpoint(to: directory)
        let write = Date().timeIntervalSince(t0)
        let t1 = Date()
        try sync.resume(from: directory)
        let read = Date().timeIntervalSince(t1)
        guard lead else { return }
        let step = try CheckpointSummary.bytes(directory)
        let (ddWrite, ddDisk, ddRead) = try dd(bytes: step, in: directory)
        let mb = Double(step) / 1e6
        emit("# \(rows) rows x \(dimension) floats, Adagrad (values + accumulators + steps), \(servers) server(s), \(comm.size) workers")
        emit(
            String(
                format: "checkpoint: %.1f MB written in %.3f s = %.0f MB/s; dd with fsync %.0f MB/s (%.0f%%)",
                mb, write, mb / write, mb / ddWrite, 100 * ddWrite / write))
        emit(
            String(
                format:
                    "resume:     %.1f MB verified and restored in %.3f s = %.0f MB/s; dd read from the disk %.0f MB/s (%.0f%%), from the page cache %.0f MB/s (%.0f%%)",
                mb, read, mb / read, mb / ddDisk, 100 * ddDisk / read, mb / ddRead, 100 * ddRead / read))
        var out = JSONLines(path: json)
        out.add([
            "bench": "checkpoint", "rows": rows, "dimension": dimension, "servers": servers, "workers": comm.size,
            "bytes": step, "write_s": write, "resume_s": read, "dd_write_s": ddWrite, "dd_read_direct_s": ddDisk, "dd_read_s": ddRead,
        ])
        try out.write()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Seconds for dd to write `bytes` (fsynced), to read them back from the disk (O_DIRECT, past the
    /// page cache) and to read them from the page cache.
    private func dd(bytes: Int, in directory: String) throws -> (Double, Double, Double) {
        let file = directory + "/dd.bin"
        let count = max(1, bytes >> 20)
        func time(_ args: [String]) throws -> Double {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/dd")
            p.arguments = args
            p.standardError = FileHandle.nullDevice
            let t = Date()
            try p.run()
            p.waitUntilExit()
            return Date().timeIntervalSince(t)
        }
        let w = try time(["if=/dev/zero", "of=\(file)", "bs=1M", "count=\(count)", "conv=fsync"])
        let d = try time(["if=\(file)", "of=/dev/null", "bs=1M", "iflag=direct"])
        let r = try time(["if=\(file)", "of=/dev/null", "bs=1M"])
        try? FileManager.default.removeItem(atPath: file)
        return (w, d, r)
    }
}
