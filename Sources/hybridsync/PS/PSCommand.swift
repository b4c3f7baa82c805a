import HybridSync
import ArgumentParser
import Foundation
import HybridSyncCore
import HybridSyncPS

/// `hybridsync ps ...`: run parameter-server roles standalone (configured by `HYBRIDSYNC_*` variables or
/// flags), or a whole local job in one process tree.
struct PSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "Parameter-server roles: scheduler, server, or a local job with all of them.",
        subcommands: [PSScheduler.self, PSServer.self, PSLocal.self, PSBenchWorker.self]
    )
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
        return try PSConfig.fromEnvironment(env)
    }
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

    func run() throws {
        try ServerNode(config: try options.config()).run()
    }
}
