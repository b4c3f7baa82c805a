import ArgumentParser
import HybridSync

/// `hybridsync checkpoint inspect|export`: read a checkpoint without a running job.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Look into a checkpoint: its tables, rows and checksums; export a table for NumPy.",
        subcommands: [CheckpointInspect.self, CheckpointExport.self]
    )
}

struct CheckpointInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print what a checkpoint holds and verify every checksum.")
    @Argument(help: "A checkpoint directory (step-N), or the directory holding them (the newest is read).") var path: String

    func run() throws {
        let s = try CheckpointSummary.read(path)
        emit("checkpoint \(s.directory): step \(s.step), \(s.workers) workers, \(s.servers) servers")
        for t in s.tables {
            emit("  table \(t.spec.name): \(t.rows) rows x \(t.spec.dimension), \(t.spec.optimizer), \(t.spec.consistency)")
        }
        var damaged = 0
        for f in s.files {
            emit("  file \(f.name): \(f.size) bytes, " + (f.ok == nil ? "checksum ok" : "DAMAGED (\(f.ok!))"))
            if f.ok != nil { damaged += 1 }
        }
        if damaged > 0 { throw ExitCode(1) }
    }
}

struct CheckpointExport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write a table as a NumPy .npy file (row i = id i).")
    @Argument(help: "A checkpoint directory, or the directory holding them.") var path: String
    @Option(help: "The table to export.") var table: String
    @Option(help: "The .npy file to write.") var out: String

    func run() throws {
        let (rows, dim, ids) = try CheckpointSummary.export(path, table: table, to: out)
        emit("wrote \(out): \(rows) x \(dim) float32" + (ids.map { "; ids in \($0)" } ?? "; row i is id i"))
    }
}
