import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit

/// `hybridsync ps ...`: run parameter-server roles standalone (configured by `HYBRIDSYNC_*` variables or
/// flags), or a whole local job in one process tree.
struct PSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "Parameter-server roles: scheduler, server, or a local job with all of them.",
        subcommands: [PSScheduler.self, PSServer.self, PSLocal.self, PSBenchWorker.self]
    )
}

/// `hybridsync keys --out DIR`: keys for a job run without mpirun (under mpirun the runtime makes
/// a job's keys itself).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Write keys for a parameter-server job run without mpirun.")
    @Option(help: "Directory to write (created, mode 0700).") var out: String
    @Option(help: "Servers of the job.") var servers = 1
    @Option(help: "Workers of the job.") var workers = 1
    @Option(help: "Keys per rank for an mpirun job of this many ranks (run it with HYBRIDSYNC_KEYS=DIR) instead of per node.") var ranks: Int?

    func run() throws {
        try KeyDirectory.write(to: out, servers: servers, workers: workers, ranks: ranks)
        if let ranks {
            emit("wrote keys for \(ranks) ranks to \(out); run the mpirun job with HYBRIDSYNC_KEYS=\(out) (-x HYBRIDSYNC_KEYS across hosts)")
        } else {
            emit(
                "wrote keys for the scheduler, \(servers) server(s) and \(workers) worker(s) to \(out); give each node HYBRIDSYNC_KEYS=\(out) and HYBRIDSYNC_MEMBER=<its name>"
            )
        }
    }
}

/// Flags shared by the roles; each overrides the matching `HYBRIDSYNC_*` variable.
struct PSOptions: ParsableArguments {
    @Option(help: "Scheduler host:port (HYBRIDSYNC_SCHEDULER).") var scheduler: String?
    @Option(help: "Number of servers (HYBRIDSYNC_NUM_SERVERS).") var servers: Int?
    @Option(help: "Number of workers (HYBRIDSYNC_NUM_WORKERS).") var workers: Int?
    @Option(help: "Address to bind and advertise (HYBRIDSYNC_BIND).") var bind: String?
    @Option(help: "Heartbeat timeout in seconds (HYBRIDSYNC_HEARTBEAT_TIMEOUT).") var heartbeatTimeout: Double?

    func config() throws -> PSConfig {
        var env = ProcessInfo.processInfo.environment
        if let scheduler { env["HYBRIDSYNC_SCHEDULER"] = scheduler }
        if let servers { env["HYBRIDSYNC_NUM_SERVERS"] = "\(servers)" }
        if let workers { env["HYBRIDSYNC_NUM_WORKERS"] = "\(workers)" }
        if let bind { env["HYBRIDSYNC_BIND"] = bind }
        if let heartbeatTimeout { env["HYBRIDSYNC_HEARTBEAT_TIMEOUT"] = "\(heartbeatTimeout)" }
        return try TestSwitches.apply(env, to: secured(PSConfig.fromEnvironment(env), env))
    }
}

/// `config` if it has keys; with `HYBRIDSYNC_INSECURE=1` also without, after a warning; else an
/// error saying how to get keys.
func secured(_ config: PSConfig, _ env: [String: String]) throws -> PSConfig {
    if config.curve != nil { return config }
    guard env["HYBRIDSYNC_INSECURE"] == "1" else {
        throw HybridSyncError.invalidArgument(
            .configuration,
            "no keys: set HYBRIDSYNC_KEYS=DIR (written by `hybridsync keys`) and HYBRIDSYNC_MEMBER, or HYBRIDSYNC_INSECURE=1 for plain TCP")
    }
    FileHandle.standardError.write(Data("warning: HYBRIDSYNC_INSECURE=1: parameter-server links are plain TCP, unauthenticated and unencrypted\n".utf8))
    return config
}

struct PSScheduler: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Run the scheduler until every worker finished.")
    @OptionGroup var options: PSOptions

    func run() throws {
        let node = try SchedulerNode(config: try options.config())
        emit("scheduler listening on \(node.endpoint)")
        try node.run()
    }
}

struct PSServer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "Run a server until the scheduler ends the job.")
    @OptionGroup var options: PSOptions
    @Flag(help: "Join a running job as a spare: replace a server that died (or the next one to die) and take copies of its shards.")
    var join = false

    func run() throws {
        var config = try options.config()
        config.spare = join
        try ServerNode(config: config).run()
    }
}
