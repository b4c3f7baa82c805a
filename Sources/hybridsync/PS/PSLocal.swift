import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore
import HybridSyncPS

#if canImport(Glibc)
    import Glibc
#endif

/// `hybridsync ps local`: the scheduler in this process, servers and workers as child processes of it,
/// all on loopback. Every child is killed if the job outlives `--timeout`; the exit status is non-zero
/// if any server or worker failed (a worker listed in `--expect-killed` may die). `--max-restarts N`
/// relaunches the whole job (a new scheduler, servers and workers) up to N times when it fails.
struct PSLocal: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "local", abstract: "Run a whole parameter-server job on this machine.")

    @Option(help: "Servers.") var servers = 2
    @Option(help: "Workers.") var workers = 2
    @Option(help: "Heartbeat timeout in seconds.") var heartbeatTimeout = 5.0
    @Option(help: "Seconds before every process is killed.") var timeout = 120.0
    @Option(help: "Worker index that is expected to be killed (the kill check).") var expectKilled: Int?
    @Option(help: "Largest message the servers accept, in bytes.") var maxMessageBytes: Int?
    @Flag(help: "Servers answer without storing rows (benchmark baseline).") var discardData = false
    @Option(help: "Extra copies of each shard: 0 or 1 (default: HYBRIDSYNC_REPLICATION, else 1 with 2+ servers).") var replication: Int?
    @Option(help: "Keys written by `hybridsync keys` (default: fresh keys for this job, in a temporary directory).") var keys: String?
    @Option(help: "Relaunch the whole job when it fails, up to this many times (its processes see HYBRIDSYNC_RESTART=k).")
    var maxRestarts = 0
    @Argument(
        parsing: .captureForPassthrough,
        help:
            "The worker: a program path and its arguments (it reads HYBRIDSYNC_* and makes a KVWorker), or a subcommand of this tool (default: ps bench-worker)."
    )
    var workerCommand: [String] = []

    func run() throws {
        guard maxRestarts >= 0 else { throw ValidationError("--max-restarts must be 0 or more") }
        for attempt in 0...maxRestarts {
            let problems = try launch(restart: attempt)
            if problems.isEmpty {
                emit("LOCAL JOB OK: \(servers) servers, \(workers) workers")
                return
            }
            for p in problems { emit("LOCAL JOB FAILED: \(p)") }
            let cause = problems.joined(separator: "; ")
            if attempt < maxRestarts {
                emit("LOCAL JOB RESTART \(attempt + 1) of \(maxRestarts): \(cause)")
            } else if maxRestarts > 0 {
                emit("LOCAL JOB GAVE UP after \(maxRestarts) restart(s); last cause: \(cause)")
            }
        }
        throw ExitCode(1)
    }

    /// One launch of the whole job (`restart`: which relaunch); returns what went wrong, nothing when
    /// every process succeeded.
    private func launch(restart: Int) throws -> [String] {
        var config = PSConfig()
        config.servers = servers
        config.workers = workers
        config.schedulerPort = 0
        config.heartbeatTimeout = heartbeatTimeout
        config.heartbeatInterval = min(0.5, heartbeatTimeout / 5)
        var env = ProcessInfo.processInfo.environment
        config.replication =
            try replication
            ?? env["HYBRIDSYNC_REPLICATION"].map {
                guard let r = Int($0) else { throw ValidationError("HYBRIDSYNC_REPLICATION=\($0) is not an integer") }
                return r
            }
        try config.validate()
        // Sealed unless HYBRIDSYNC_INSECURE=1: the given keys, or fresh ones for this job only.
        var madeKeys: String?
        if env["HYBRIDSYNC_INSECURE"] != "1" {
            let dir = keys ?? FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-keys-\(getpid())").path
            if keys == nil {
                try KeyDirectory.write(to: dir, servers: servers, workers: workers)
                madeKeys = dir
            }
            env["HYBRIDSYNC_KEYS"] = dir
            config.curve = try KeyDirectory.load(dir, member: "scheduler")
        }
        defer { if let madeKeys { try? FileManager.default.removeItem(atPath: madeKeys) } }
        config = try secured(config, env)
        let scheduler = try SchedulerNode(config: config)
        let port = scheduler.port
        let failure = Locked<String?>(nil)
        let node = Handover(scheduler)
        let thread = Thread {
            do { try node.take()?.run() } catch { failure.current = "\(error)" }
        }
        thread.start()
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        env["HYBRIDSYNC_SCHEDULER"] = "127.0.0.1:\(port)"
        env["HYBRIDSYNC_NUM_SERVERS"] = "\(servers)"
        env["HYBRIDSYNC_NUM_WORKERS"] = "\(workers)"
        env["HYBRIDSYNC_HEARTBEAT_TIMEOUT"] = "\(heartbeatTimeout)"
        env["HYBRIDSYNC_RESTART"] = "\(restart)"
        if let maxMessageBytes { env["HYBRIDSYNC_MAX_MESSAGE_BYTES"] = "\(maxMessageBytes)" }
        if discardData { env["HYBRIDSYNC_DISCARD_DATA"] = "1" }
        let args = workerCommand.first == "--" ? Array(workerCommand.dropFirst()) : workerCommand
        // A first word with a slash is a program of the user's; anything else is a subcommand of this tool.
        let workerExe = args.first.map { $0.contains("/") } == true ? args[0] : exe
        let workerArgs = args.isEmpty ? ["ps", "bench-worker"] : (workerExe == exe ? args : Array(args.dropFirst()))
        var children: [(String, Process)] = []
        func spawn(_ name: String, _ program: String, _ arguments: [String], index: Int) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: program)
            p.arguments = arguments
            var e = env
            e["HYBRIDSYNC_INDEX"] = "\(index)"
            e["HYBRIDSYNC_MEMBER"] = name.replacingOccurrences(of: " ", with: "-")
            p.environment = e
            try p.run()
            children.append((name, p))
        }
        for i in 0..<servers { try spawn("server \(i)", exe, ["ps", "server"], index: i) }
        for i in 0..<workers { try spawn("worker \(i)", workerExe, workerArgs, index: i) }
        let deadline = Deadline.after(seconds: timeout)
        // Once the scheduler has failed (a node died), the job is over: what still runs after a grace
        // (a stopped or hung node) is killed and named, rather than waited for until the timeout.
        var failedAt: Double?
        let grace = heartbeatTimeout + 5
        while children.contains(where: { $0.1.isRunning }) && !deadline.hasPassed {
            if failedAt == nil, failure.current != nil { failedAt = monotonicSeconds() }
            if let f = failedAt, monotonicSeconds() - f > grace { break }
            usleep(20_000)
        }
        var problems: [String] = []
        for (name, p) in children where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            problems.append(
                failedAt != nil
                    ? "\(name) still running \(Int(grace)) s after the job failed: killed"
                    : "\(name) still running after \(Int(timeout)) s: killed")
        }
        for (name, p) in children {
            p.waitUntilExit()
            let killedAsExpected = expectKilled.map { name == "worker \($0)" } ?? false
            if p.terminationStatus != 0 && !killedAsExpected {
                problems.append("\(name) exited with status \(p.terminationStatus) (\(p.terminationReason == .uncaughtSignal ? "signal" : "exit"))")
            }
        }
        if let f = failure.current { problems.append("scheduler: \(f)") }
        return problems
    }
}
