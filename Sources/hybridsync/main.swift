import ArgumentParser
import HybridSync

// `--log-level LEVEL` (trace, debug, info, notice, warning, error, critical) may stand anywhere.
tuneMallocForLargeMessages()
do {
    var command = try HybridSyncCommand.parseAsRoot(Array(try bootstrapLogging(Array(CommandLine.arguments.dropFirst()))))
    do {
        try command.run()
    } catch let e as HybridSyncError {
        // One write: the ranks of a failed job often report the same death at once on one pipe.
        emit("Error: \(e)", to: 2)
        HybridSyncCommand.exit(withError: ExitCode.failure)
    }
} catch {
    HybridSyncCommand.exit(withError: error)
}
