import Foundation

/// The environment of a HybridSync process, read once: what `HybridRuntime.launch` and the tools take
/// from `HYBRIDSYNC_*` beyond the parameter server's own settings (`PSConfig.fromEnvironment`, which
/// gets `psVariables`). `Docs/Launch.md` lists every variable.
package struct LaunchEnvironment: Sendable {
    /// `HYBRIDSYNC_SUPERVISED=1`: `Launch/mpirun` runs the job, so a rank says which nodes it holds
    /// (a killed rank whose servers the job absorbed is then not a failure).
    package var supervised: Bool
    /// `HYBRIDSYNC_INSECURE=1`: parameter-server links in plain TCP (logged as a warning).
    package var insecure: Bool
    /// `HYBRIDSYNC_KEYS`: a `hybridsync keys --ranks N` directory, the job's per-rank keys.
    package var keys: String?
    /// `HYBRIDSYNC_HIERARCHICAL=0`: a flat all-reduce even when workers share hosts.
    package var hierarchical: Bool
    /// `HYBRIDSYNC_BIND`: the address this rank binds and advertises (multi-homed hosts).
    package var bind: String?
    /// `HYBRIDSYNC_HOST`: what names this rank's host for the hierarchical all-reduce.
    package var host: String?
    /// `HYBRIDSYNC_LOG_LEVEL`: the tools' log level.
    package var logLevel: String?
    /// `HYBRIDSYNC_STANDBY=0`: no standby scheduler (by default the last rank runs one in a job of two
    /// or more ranks).
    package var standby: Bool
    /// `HYBRIDSYNC_RESTART`: which launch of the job this is (0 the first; `Launch/mpirun
    /// --max-restarts` counts its relaunches).
    package var restart: Int
    /// The variables for `PSConfig.fromEnvironment` (timeouts, limits, ...). `HYBRIDSYNC_KEYS` is left
    /// out: under mpirun it means per-rank keys, read by the launch itself.
    package var psVariables: [String: String]

    /// Reads `env` (the process's environment unless given).
    package init(_ env: [String: String] = ProcessInfo.processInfo.environment) {
        supervised = env["HYBRIDSYNC_SUPERVISED"] == "1"
        insecure = env["HYBRIDSYNC_INSECURE"] == "1"
        keys = env["HYBRIDSYNC_KEYS"]
        hierarchical = env["HYBRIDSYNC_HIERARCHICAL"] != "0"
        standby = env["HYBRIDSYNC_STANDBY"] != "0"
        bind = env["HYBRIDSYNC_BIND"]
        host = env["HYBRIDSYNC_HOST"]
        logLevel = env["HYBRIDSYNC_LOG_LEVEL"]
        restart = max(0, Int(env["HYBRIDSYNC_RESTART"] ?? "") ?? 0)
        psVariables = env.filter { $0.key != "HYBRIDSYNC_KEYS" }
    }

    /// What names this rank's host: `host`, else the address it binds (one per emulated host in
    /// `Launch/cluster`), else the host name.
    package var hostIdentity: String { host ?? bind ?? ProcessInfo.processInfo.hostName }
}
