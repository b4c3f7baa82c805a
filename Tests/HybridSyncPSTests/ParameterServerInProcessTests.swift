import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncTestKit
import Logging
import XCTest

/// Whole parameter-server jobs in this process over the in-memory network: scheduler, servers and
/// workers as threads, driven by the same node shell and state machines as the real processes.
/// Each property is checked against an oracle computed in `PSChecks` (closed-form integer sums, a
/// Double serial reference), not with the server's own code.
final class ParameterServerInProcessTests: XCTestCase {
    /// Runs `check` on every worker of a `servers` x `workers` job; every worker must report ok and
    /// every node must end cleanly.
    func expectOK(
        servers: Int, workers: Int, config: PSConfig = PSConfig(), network: JobNetwork = .memory,
        file: StaticString = #filePath, line: UInt = #line,
        _ check: @escaping @Sendable (KVWorker) throws -> (Bool, String)
    ) throws {
        let outcome = try TestKit.psJob(servers: servers, workers: workers, config: config, network: network, check)
        for (w, r) in outcome.workers.enumerated() {
            let (ok, details) = try r.get()
            XCTAssertTrue(ok, "\(servers)x\(workers) worker \(w): \(details)", file: file, line: line)
        }
        for (node, failure) in outcome.nodes { XCTAssertNil(failure, "\(node)", file: file, line: line) }
    }

    func testPushPullAcrossServerAndWorkerCounts() throws {
        for (s, w) in [(1, 1), (1, 4), (2, 2), (3, 4), (3, 1), (2, 3)] {
            try expectOK(servers: s, workers: w) { try PSChecks.pushPull($0) }
        }
    }

    /// Over real ZeroMQ (where frames leave without a copy): rows sent straight from the caller's array
    /// (one server) and rows gathered into pooled buffers (two servers, rows cut into pieces) arrive as
    /// they were when the push started, though the caller overwrites its array at once.
    func testPushedRowsAreTheCallersAtTheTimeOfThePush() throws {
        for (s, w) in [(1, 2), (2, 2)] {
            try expectOK(servers: s, workers: w, network: .zeroMQ) { try PSChecks.rowsInFlight($0) }
        }
    }

    /// Rows sent as float16 and bfloat16: exact for small integers, rounded once each way otherwise,
    /// half the bytes of float32, with one and three servers.
    func testSixteenBitRowsOnTheWire() throws {
        for (s, w) in [(1, 2), (3, 2)] {
            try expectOK(servers: s, workers: w) { try PSChecks.rowEncodings($0) }
        }
    }

    func testBSPIsExactWithThreeServersAndFourWorkers() throws {
        try expectOK(servers: 3, workers: 4) { try PSChecks.bsp($0, steps: 10) }
        try expectOK(servers: 3, workers: 4, network: .zeroMQ) { try PSChecks.bsp($0, steps: 10) }
    }

    func testOptimizersMatchDoubleReference() throws {
        try expectOK(servers: 3, workers: 4) { try PSChecks.optimizers($0, steps: 10) }
    }

    func testSSPBoundsTheGapAndASPDoesNot() throws {
        try expectOK(servers: 2, workers: 3) { try PSChecks.gap($0, consistency: .ssp(staleness: 2), steps: 10, staleness: 2) }
        try expectOK(servers: 2, workers: 3) { try PSChecks.gap($0, consistency: .asp, steps: 10, staleness: 2) }
    }

    func testBarrier() throws {
        try expectOK(servers: 2, workers: 3) { try PSChecks.barrier($0) }
    }

    /// 5% of worker <-> server messages dropped, nothing resent: some pull times out, its error names
    /// the server it waited for, it fails within its deadline, and the job still ends (no hang).
    func testDroppedMessagesMakeAPullTimeOutNamingTheServer() throws {
        try dropFivePercent(.memory, endpointPrefix: "memory://")
    }

    /// The same fault injection wrapped around real ZeroMQ sockets in this process (every node on one
    /// host: the servers listen on Unix sockets, `ipc://`).
    func testDroppedMessagesOverZeroMQ() throws {
        try dropFivePercent(.zeroMQ, endpointPrefix: "ipc://")
    }

    func dropFivePercent(_ network: JobNetwork, endpointPrefix: String) throws {
        let start = ContinuousClock.now
        let outcome = try TestKit.psJob(
            servers: 3, workers: 4, network: network,
            wrap: { node, t in
                switch node {
                case .worker(let w):
                    // Only the links to servers (link 0 is the scheduler).
                    return FaultyMessageTransport(t, plan: FaultPlan(drop: 0.05, seed: UInt64(w + 1))) { peer in
                        if case .link(let l) = peer { return l >= 1 }
                        return false
                    }
                case .server(let s):
                    return FaultyMessageTransport(t, plan: FaultPlan(drop: 0.05, seed: UInt64(100 + s))) { peer in
                        if case .routed = peer { return true }
                        return false
                    }
                case .scheduler, .standby, .spare:
                    return t
                }
            }
        ) { kv -> String in
            // Declaring is idempotent, so a declare that lost a message is simply sent again.
            var declared = false
            for _ in 0..<20 where !declared {
                declared = (try? kv.declare([TableSpec(name: "t", dimension: 4, optimizer: .accumulate, consistency: .asp)], timeout: 0.3)) != nil
            }
            guard declared else { return "could not declare" }
            for i in 0..<400 {
                let began = ContinuousClock.now
                do {
                    _ = try kv.pull([RowQuery(table: "t", keys: (0..<30).map { UInt64($0 * 7 + i) })], timeout: 0.3)
                } catch let e as HybridSyncError {
                    let took = secondsSince(began)
                    guard case let .timeout(operation, waitingFor, seconds) = e else { return "unexpected error \(e)" }
                    guard waitingFor.hasPrefix("server "), waitingFor.contains(" at \(endpointPrefix)") else { return "names \(waitingFor)" }
                    guard seconds == 0.3, took < 0.3 + 0.5 else { return "took \(took) s for a deadline of \(seconds) s" }
                    return "ok: \(operation) -> \(waitingFor)"
                }
            }
            return "no pull failed in 400 tries"
        }
        for (w, r) in outcome.workers.enumerated() {
            let text = try r.get()
            XCTAssertTrue(text.hasPrefix("ok"), "worker \(w): \(text)")
        }
        XCTAssertLessThan(secondsSince(start), 60, "the job ended")
    }
}

/// Registration failures reach the worker as the scheduler's typed error, at once, not as a timeout.
final class RegistrationInProcessTests: XCTestCase {
    func testAnExtraWorkerGetsTheSchedulersRefusal() throws {
        let network = MemoryNetwork()
        var config = PSConfig()
        config.servers = 1
        config.workers = 1
        config.startTimeout = 20
        config.schedulerAddress = "memory://scheduler"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let scheduler = Handover(try SchedulerNode(config: config, transport: network.transport(), logger: logger))
        let server = Handover(try ServerNode(config: config, transport: network.transport(), logger: logger))
        let (c, l) = (config, logger)
        let outcomes = TestKit.runThreads(4) { i -> String in
            switch i {
            case 0: try scheduler.take()?.run(); return "scheduler ended"
            case 1: try server.take()?.run(); return "server ended"
            case 2:
                let kv = try KVWorker(config: c, logger: l) { network.transport() }
                Thread.sleep(forTimeInterval: 0.3)
                kv.finish()
                return "worker ok"
            default:
                Thread.sleep(forTimeInterval: 0.1)
                let began = ContinuousClock.now
                do {
                    _ = try KVWorker(config: c, logger: l) { network.transport() }
                    return "the extra worker was let in"
                } catch let e as HybridSyncError {
                    let took = secondsSince(began)
                    guard case .invalidArgument(.membership, let why) = e,
                        why.contains("registration after the job started") || why.contains("all have registered")
                    else {
                        return "unexpected \(e)"
                    }
                    return took < 5 ? "refused" : "refused only after \(took) s"
                }
            }
        }
        XCTAssertEqual(try outcomes.map { try $0.get() }, ["scheduler ended", "server ended", "worker ok", "refused"])
    }
}

/// Exactly-once under message loss: resends with the same sequence number, applied once by the servers.
final class ExactlyOnceInProcessTests: XCTestCase {
    static func run(network: JobNetwork = .memory, plan: FaultPlan?, steps: Int) throws -> (bits: [UInt32], resends: Int, duplicates: Int) {
        var config = PSConfig()
        config.resendAfter = 0.005
        config.maxAttempts = 30
        config.requestTimeout = 60
        let outcome = try TestKit.psJob(
            servers: 3, workers: 4, config: config, network: network,
            wrap: { node, t in
                guard var plan else { return t }
                switch node {
                case .worker(let w):
                    plan.seed = 1000 + UInt64(w)
                    return FaultyMessageTransport(t, plan: plan) {
                        if case .link(let l) = $0 { return l >= 1 }; return false
                    }
                case .server(let s):
                    plan.seed = 2000 + UInt64(s)
                    return FaultyMessageTransport(t, plan: plan) {
                        if case .routed = $0 { return true }; return false
                    }
                case .scheduler, .standby, .spare:
                    return t
                }
            }
        ) { kv -> ([UInt32], Int, Int) in
            let bits = try PSChecks.bspAdagradBits(kv, steps: steps)
            let duplicates = kv.index == 0 ? try kv.serverStats().map(\.duplicates).reduce(0, +) : 0
            return (bits, kv.resends, duplicates)
        }
        let results = try outcome.workers.map { try $0.get() }
        for r in results { XCTAssertEqual(r.0, results[0].0, "every worker pulls the same final rows") }
        for (node, failure) in outcome.nodes { XCTAssertNil(failure, "\(node)") }
        return (results[0].0, results.map(\.1).reduce(0, +), results[0].2)
    }

    /// 20% of worker <-> server messages lost in both directions, 120 BSP steps of Adagrad on 3 servers
    /// x 4 workers: the final rows are bit-identical to the fault-free run.
    func testTwentyPercentLossIsBitIdenticalToTheFaultFreeRun() throws {
        let clean = try Self.run(plan: nil, steps: 120)
        let lossy = try Self.run(plan: FaultPlan(drop: 0.2), steps: 120)
        // (The fault-free run may resend too, when a loaded machine answers later than 5 ms: harmless.)
        XCTAssertGreaterThan(lossy.resends, clean.resends + 100, "the faults were there")
        XCTAssertEqual(lossy.bits, clean.bits)
        XCTAssertGreaterThan(lossy.duplicates, 0, "some resends repeated requests the servers had handled")
    }

    /// Lost, duplicated and reordered messages over real ZeroMQ sockets in this process.
    func testDropsDuplicatesAndReorderingOverZeroMQ() throws {
        let clean = try Self.run(network: .zeroMQ, plan: nil, steps: 100)
        let faulty = try Self.run(network: .zeroMQ, plan: FaultPlan(drop: 0.05, duplicate: 0.05, reorder: 0.05), steps: 100)
        XCTAssertEqual(faulty.bits, clean.bits)
        XCTAssertGreaterThan(faulty.duplicates, 0)
    }
}

/// The fault switch: a node killed while the job runs is declared dead and named to the workers; a
/// partition between a worker and a server makes that worker's requests to it time out, naming it.
final class FaultSwitchInProcessTests: XCTestCase {
    /// Without replication (with it, see `FailoverInProcessTests`).
    func testAKilledServerIsNamedToTheWorkers() throws {
        var config = PSConfig()
        config.replication = 0
        config.heartbeatTimeout = 1
        config.heartbeatInterval = 0.2
        let victim = FaultSwitch()
        let began = ContinuousClock.now
        let outcome = try TestKit.psJob(
            servers: 2, workers: 2, config: config,
            wrap: { node, t in
                node == .server(1) ? FaultyMessageTransport(t, plan: FaultPlan(), faults: victim) : t
            }
        ) { kv -> String in
            try kv.declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate)])
            for i in 0..<10_000 {
                if i == 5 && kv.index == 0 { victim.kill() }
                do {
                    _ = try kv.pull([RowQuery(table: "t", keys: (0..<16).map { UInt64($0) })], timeout: 10)
                } catch HybridSyncError.peerDied(let peer, _) {
                    return peer
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return "never failed"
        }
        for r in outcome.workers {
            let peer = try r.get()
            XCTAssertTrue(peer.hasPrefix("server 1 at memory://"), peer)
        }
        XCTAssertLessThan(secondsSince(began), 1 + 5, "named within the heartbeat timeout plus slack")
        XCTAssertNotNil(outcome.nodes[.scheduler] ?? nil, "the job that lost a node ends in failure")
    }

    func testAPartitionTimesOutNamingTheServer() throws {
        let cut = FaultSwitch()
        let outcome = try TestKit.psJob(
            servers: 2, workers: 1,
            wrap: { node, t in
                node == .worker(0) ? FaultyMessageTransport(t, plan: FaultPlan(), faults: cut) : t
            }
        ) { kv -> String in
            try kv.declare([TableSpec(name: "t", dimension: 2, optimizer: .accumulate)])
            cut.partition([.link(2)])  // server 1 (link 0 is the scheduler)
            defer { cut.heal() }
            do {
                _ = try kv.pull([RowQuery(table: "t", keys: (0..<64).map { UInt64($0) })], timeout: 0.5)
                return "no error"
            } catch let e as HybridSyncError {
                return "\(e)"
            }
        }
        let text = try outcome.workers[0].get()
        XCTAssertTrue(text.hasPrefix("timeout") && text.contains("server 1 at memory://"), text)
        XCTAssertNil(outcome.nodes[.server(0)] ?? nil, "the rest of the job is unaffected")
    }
}
