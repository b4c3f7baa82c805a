import ArgumentParser

/// The `hybridsync` command line.
struct HybridSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridsync",
        abstract: "Gradient sync for mixed sparse/dense models: parameter server + ring all-reduce.",
        subcommands: [
            TrainCommand.self, PlanCommand.self, SimulateCommand.self, Bench.self, PSCommand.self, CheckpointCommand.self, KeysCommand.self, SoakCommand.self,
            TimelineCommand.self,
        ]
    )
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (run the release build under mpirun).",
        subcommands: [BenchAllreduce.self, BenchPS.self, BenchHybrid.self, BenchScaling.self, BenchSeed.self, BenchCheckpoint.self]
    )
}
