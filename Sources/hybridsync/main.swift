import ArgumentParser
import HybridSync

// `--log-level LEVEL` (trace, debug, info, notice, warning, error, critical) may stand anywhere.
tuneMallocForLargeMessages()
do {
    HybridSyncCommand.main(Array(try bootstrapLogging(Array(CommandLine.arguments.dropFirst()))))
} catch {
    HybridSyncCommand.exit(withError: error)
}
