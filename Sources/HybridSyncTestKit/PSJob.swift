import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncZMQ
import Logging

/// Which node of an in-process parameter-server job.
package enum JobNode: Sendable, Hashable, CustomStringConvertible {
    case scheduler, server(Int), worker(Int)
    /// The standby scheduler (`psJob(standby: true)`).
    case standby
    /// A spare server (`PSConfig.spare`), by its order among the spares.
    case spare(Int)

    package var description: String {
        switch self {
        case .scheduler: return "scheduler"
        case .standby: return "standby scheduler"
        case .server(let i): return "server \(i)"
        case .worker(let i): return "worker \(i)"
        case .spare(let i): return "spare \(i)"
        }
    }
}

/// What carries an in-process job's messages.
package enum JobNetwork: Sendable {
    /// The in-memory network.
    case memory
    /// Real ZeroMQ sockets over loopback TCP (each node its own context), in this one process.
    case zeroMQ
}

/// The outcome of an in-process parameter-server job.
package struct PSJobOutcome<R: Sendable>: Sendable {
    /// Each worker's result, by worker index (the order the scheduler assigned).
    package let workers: [Result<R, any Error>]
    /// How the scheduler and the servers ended (nil: cleanly).
    package let nodes: [JobNode: String?]
}

enum JobThreadOutcome<R: Sendable>: Sendable {
    case node(JobNode, String?)
    case worker(Int, Result<R, any Error>)
}

extension TestKit {
    /// Runs a whole parameter-server job in this process: a scheduler, `servers` servers and `workers`
    /// workers, each on its own thread over one `MemoryNetwork`. `body` runs on every worker's thread
    /// with its `KVWorker`; the worker then finishes, which ends the job. `wrap` may decorate any node's
    /// transport (fault injection). With `standby`, a standby scheduler runs too, and every node knows it.
    package static func psJob<R: Sendable>(
        servers: Int, workers: Int, spares: Int = 0, standby: Bool = false, config base: PSConfig = PSConfig(), network kind: JobNetwork = .memory,
        logLevel: Logger.Level = .warning,
        wrap: @escaping @Sendable (JobNode, any MessageTransport) -> any MessageTransport = { $1 },
        _ body: @escaping @Sendable (KVWorker) throws -> R
    ) throws -> PSJobOutcome<R> {
        let network = MemoryNetwork()
        let maxFrame = 2 * base.maxMessageBytes
        let makeTransport: @Sendable () throws -> any MessageTransport = {
            switch kind {
            case .memory: return network.transport()
            case .zeroMQ: return try ZMQMessageTransport(maxFrameBytes: maxFrame)
            }
        }
        var config = base
        config.servers = servers
        config.workers = workers
        config.bindHost = "127.0.0.1"
        config.schedulerAddress = kind == .memory ? "memory://scheduler" : "tcp://127.0.0.1:0"
        var logger = Logger(label: "hybridsync.testkit")
        logger.logLevel = logLevel
        // Nodes that listen are made first, so that connections find them.
        let standbyNode =
            try standby
            ? SchedulerNode(
                config: config, transport: wrap(.standby, try makeTransport()), logger: logger,
                standbyListening: kind == .memory ? "memory://standby" : "tcp://127.0.0.1:0")
            : nil
        config.standbyAddress = standbyNode?.endpoint
        let standbyRun = Handover(standbyNode)
        let schedulerNode = try SchedulerNode(config: config, transport: wrap(.scheduler, try makeTransport()), logger: logger)
        config.schedulerAddress = schedulerNode.endpoint
        let scheduler = Handover(schedulerNode)
        let serverNodes = try (0..<servers).map { s in
            var c = config
            c.preferredIndex = s
            return Handover(try ServerNode(config: c, transport: wrap(.server(s), try makeTransport()), logger: logger))
        }
        let spareNodes = try (0..<spares).map { i in
            var c = config
            c.spare = true
            return Handover(try ServerNode(config: c, transport: wrap(.spare(i), try makeTransport()), logger: logger))
        }
        let (jobConfig, jobLogger) = (config, logger)
        let runs = runThreads(1 + servers + workers + spares + (standby ? 1 : 0)) { i -> JobThreadOutcome<R> in
            if i == 1 + servers + workers + spares {
                do { try standbyRun.take()??.run(); return .node(.standby, nil) } catch { return .node(.standby, "\(error)") }
            }
            if i >= 1 + servers + workers {
                let k = i - 1 - servers - workers
                do { try spareNodes[k].take()?.run(); return .node(.spare(k), nil) } catch { return .node(.spare(k), "\(error)") }
            }
            if i == 0 {
                do { try scheduler.take()?.run(); return .node(.scheduler, nil) } catch { return .node(.scheduler, "\(error)") }
            }
            if i <= servers {
                do { try serverNodes[i - 1].take()?.run(); return .node(.server(i - 1), nil) } catch { return .node(.server(i - 1), "\(error)") }
            }
            let w = i - 1 - servers
            var c = jobConfig
            c.preferredIndex = w
            let result = Result<R, any Error> {
                let kv = try KVWorker(config: c, logger: jobLogger) { wrap(.worker(w), try makeTransport()) }
                defer { kv.finish() }
                return try body(kv)
            }
            return .worker(w, result)
        }
        var byWorker: [Int: Result<R, any Error>] = [:]
        var nodes: [JobNode: String?] = [:]
        for case let r in runs {
            switch try r.get() {
            case let .node(n, failure): nodes[n] = failure
            case let .worker(w, result): byWorker[w] = result
            }
        }
        return PSJobOutcome(workers: (0..<workers).map { byWorker[$0]! }, nodes: nodes)
    }
}
