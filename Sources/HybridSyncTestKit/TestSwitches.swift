import HybridSyncCore
import HybridSyncPS

/// The switches tests and benchmarks set in the environment of the processes they start, read only by
/// the test jobs and the `hybridsync` tool, never by the library:
/// - `HYBRIDSYNC_FAULTS=drop=P,duplicate=P,delay=P,reorder=P,seed=N`: faults injected into this node's
///   worker <-> server messages (`FaultPlan`);
/// - `HYBRIDSYNC_DISCARD_DATA=1`: servers validate and answer but keep no rows (a benchmark baseline).
package enum TestSwitches {
    /// `config` with the switches `env` sets; throws `invalidArgument` for a bad fault plan.
    package static func apply(_ env: [String: String], to config: PSConfig) throws -> PSConfig {
        var c = config
        if env["HYBRIDSYNC_DISCARD_DATA"] == "1" { c.discardData = true }
        if let f = env["HYBRIDSYNC_FAULTS"] { c.faults = try FaultPlan(parsing: f) }
        return c
    }

    /// Whether `env` injects faults (the soak's runs report what they injected).
    package static func injectsFaults(_ env: [String: String]) -> Bool { env["HYBRIDSYNC_FAULTS"] != nil }
}
