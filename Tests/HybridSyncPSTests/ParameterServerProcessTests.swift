import Foundation
import XCTest

/// The parameter server as real processes over real ZeroMQ on loopback.
final class ParameterServerProcessTests: XCTestCase {
    /// Push/pull of duplicated, unordered keys (and rows cut into pieces) equal the exact sums, for
    /// 1-3 servers x 1-4 workers.
    func testPushPullAcrossServerAndWorkerCounts() throws {
        for (s, w) in [(1, 1), (1, 4), (2, 2), (3, 3), (3, 1), (2, 4)] {
            try PSJob.expectOK("push-pull", servers: s, workers: w)
        }
    }

    /// BSP: at every step the pulled rows equal the serial sum of all earlier pushes, exactly.
    func testBSPIsExact() throws {
        try PSJob.expectOK("bsp", servers: 2, workers: 3)
        try PSJob.expectOK("bsp", servers: 1, workers: 4, checkArgs: ["--steps", "6"])
    }

    /// Adagrad and lazy Adam on the servers equal a serial reference within 1e-4.
    func testOptimizersMatchSerialReference() throws {
        try PSJob.expectOK("optimizers", servers: 2, workers: 2)
    }

    /// SSP(2) with a slow worker: the largest clock gap the servers measured never exceeds 2 (and is
    /// reached); ASP lets it grow past 2.
    func testSSPBoundsTheClockGapAndASPDoesNot() throws {
        let ssp = try PSJob.expectOK("ssp", servers: 2, workers: 3, checkArgs: ["--staleness", "2"])
        XCTAssertTrue(ssp.results("ssp").allSatisfy { $0.contains("largest clock gap 2,") || $0.contains("largest clock gap 1,") }, ssp.output)
        try PSJob.expectOK("asp", servers: 2, workers: 3, checkArgs: ["--staleness", "2"])
    }

    func testBarrier() throws {
        try PSJob.expectOK("barrier", servers: 2, workers: 3)
    }

    /// Runs `ps-check --case CASE` on 2 servers and 3 workers whose last worker dies or stops (heartbeat
    /// timeout 2 s); checks that the job failed naming worker 2 on the scheduler and that both other
    /// workers ended with the case's expected error. Returns their result lines and the job's output.
    private func loseWorker2(_ name: String, timeout: Int) throws -> ([String], String) {
        let r = try PSJob.run([
            "--servers", "2", "--workers", "3", "--heartbeat-timeout", "2", "--expect-killed", "2",
            "--timeout", "\(timeout)", "--", PSJob.testJobs, "ps-check", "--case", name,
        ])
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("LOCAL JOB FAILED: scheduler: peer worker 2 died"), r.output)
        let results = r.results(name)
        XCTAssertEqual(results.count, 2, r.output)
        for l in results { XCTAssertTrue(l.contains("RESULT \(name) ok") && l.contains("worker 2"), l) }
        return (results, r.output)
    }

    /// A worker killed with SIGKILL is reported to the others by name within the heartbeat timeout, and
    /// the job (which lost a node) ends non-zero with the servers and the scheduler naming it.
    func testKilledWorkerIsReportedByName() throws {
        let start = Date()
        let (results, output) = try loseWorker2("kill", timeout: 60)
        XCTAssertTrue(output.contains("LOCAL JOB FAILED: server 0 exited with status"), output)
        for l in results {
            // "... after N ms": within the heartbeat timeout (2 s) plus two seconds of slack for a loaded machine.
            if let ms = l.split(separator: " ").reversed().dropFirst().first.flatMap({ Int($0) }) { XCTAssertLessThan(ms, 4000, l) }
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    /// `ps local --max-restarts 1`: the same killed worker fails the first launch, naming it; the
    /// relaunch (a new scheduler, servers and workers, HYBRIDSYNC_RESTART=1, where nobody dies) runs its
    /// 10 BSP steps on every worker and the job exits 0.
    func testAKilledWorkerUnderMaxRestartsIsRelaunchedAndTheJobSucceeds() throws {
        let r = try PSJob.run([
            "--servers", "2", "--workers", "3", "--heartbeat-timeout", "2", "--expect-killed", "2", "--max-restarts", "1",
            "--timeout", "60", "--", PSJob.testJobs, "ps-check", "--case", "kill",
        ])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("LOCAL JOB FAILED: scheduler: peer worker 2 died"), r.output)
        XCTAssertTrue(r.output.contains("LOCAL JOB RESTART 1 of 1: ") && r.output.contains("LOCAL JOB OK"), r.output)
        let relaunched = r.results("kill").filter { $0.contains("relaunch 1: 10 steps, nobody died") }
        XCTAssertEqual(relaunched.count, 3, r.output)
        XCTAssertTrue(relaunched.allSatisfy { $0.contains("RESULT kill ok") }, r.output)
    }

    /// A worker stopped with SIGSTOP (never resumed): the servers go on serving the other workers (ASP)
    /// until the heartbeat timeout, then every other worker's request fails naming it, and `ps local`
    /// kills the stopped process and names it instead of waiting for the job's timeout.
    func testStoppedWorkerDoesNotStopTheServersUntilItsDeadline() throws {
        let start = Date()
        let (_, output) = try loseWorker2("stop", timeout: 120)
        XCTAssertTrue(output.contains("worker 2 still running 7 s after the job failed: killed"), output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60, "ended long before the job's timeout")
    }

    /// Unknown table, wrong row length, wrong dtype, malformed and oversize frames: each gets its typed
    /// error, and the server keeps serving ordinary requests between them.
    func testBadInputGetsTypedErrorsAndTheServerKeepsServing() throws {
        let r = try PSJob.expectOK("bad-input", servers: 1, workers: 1, extra: ["--max-message-bytes", "1048576"])
        for label in ["unknown-table", "row-length", "dtype", "values-frame", "garbage", "truncated-header", "version", "oversize"] {
            XCTAssertTrue(r.output.contains("\(label):ok"), "\(label): \(r.output)")
        }
    }

    /// Exactly-once over real processes and real ZeroMQ: a BSP job (3 servers x 4 workers, 200 steps,
    /// Adagrad) whose workers and servers lose, duplicate and reorder 5% each of their messages ends with
    /// rows bit-identical to the fault-free run's.
    func testFaultyMessagesEndBitIdenticalToTheFaultFreeRun() throws {
        func hashes(_ env: [String: String]) throws -> (Set<String>, Int) {
            let r = try PSJob.run(
                [
                    "--servers", "3", "--workers", "4", "--timeout", "240", "--",
                    PSJob.testJobs, "ps-check", "--case", "exactly-once", "--steps", "200",
                ],
                env: ["HYBRIDSYNC_RESEND_AFTER": "0.01", "HYBRIDSYNC_MAX_ATTEMPTS": "40"].merging(env) { $1 })
            XCTAssertEqual(r.status, 0, r.output)
            let lines = r.results("exactly-once")
            XCTAssertEqual(lines.count, 4, r.output)
            let bits = Set(lines.compactMap { $0.split(separator: " ").first { $0.hasPrefix("bits=") }.map(String.init) })
            let resends = lines.compactMap { $0.split(separator: " ").first { $0.hasPrefix("resends=") }.flatMap { Int($0.dropFirst(8)) } }.reduce(0, +)
            return (bits, resends)
        }
        let clean = try hashes([:])
        let faulty = try hashes(["HYBRIDSYNC_FAULTS": "drop=0.05,duplicate=0.05,reorder=0.05,seed=11"])
        XCTAssertEqual(clean.0.count, 1, "every worker pulls the same rows")
        XCTAssertEqual(faulty.0, clean.0)
        // (The fault-free run may resend too, when a loaded machine answers later than 10 ms: harmless.)
        XCTAssertGreaterThan(faulty.1, clean.1, "the faults were there")
    }
}
