import Foundation
import Logging

/// Sets up logging for a HybridSync command-line tool: standard error, one line at a time (flushed, so
/// lines show under mpirun while the job runs), at the level given by `--log-level LEVEL` anywhere in
/// `arguments` or by `HYBRIDSYNC_LOG_LEVEL` (default `info`). Returns the arguments without the flag.
/// Throws `invalidArgument` for an unknown level.
package func bootstrapLogging(_ arguments: [String]) throws -> [String] {
    var rest: [String] = []
    var name = LaunchEnvironment().logLevel
    var i = 0
    while i < arguments.count {
        if arguments[i] == "--log-level", i + 1 < arguments.count {
            name = arguments[i + 1]
            i += 2
            continue
        }
        if arguments[i].hasPrefix("--log-level=") {
            name = String(arguments[i].dropFirst("--log-level=".count))
            i += 1
            continue
        }
        rest.append(arguments[i])
        i += 1
    }
    var level = Logger.Level.info
    if let name {
        guard let l = Logger.Level(rawValue: name.lowercased()) else {
            throw HybridSyncError.invalidArgument(
                .configuration, "log level '\(name)' is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        level = l
        // Children this process starts (`ps local`) log at the same level.
        setenv("HYBRIDSYNC_LOG_LEVEL", l.rawValue, 1)
    }
    let chosen = level
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = chosen
        return handler
    }
    return rest
}
