import Foundation
import XCTest

/// The hybrid path under real mpirun, ZeroMQ and Open MPI.
final class HybridProcessTests: XCTestCase {
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
    /// The test-jobs binary (`HYBRIDSYNC_TESTJOBS_BIN`, set by Launch/test; else the debug build).
    static var binary: String {
        ProcessInfo.processInfo.environment["HYBRIDSYNC_TESTJOBS_BIN"] ?? root.appendingPathComponent(".build/debug/hybridsync-testjobs").path
    }

    /// The user's tool (`HYBRIDSYNC_BIN`, set by Launch/test; else the debug build).
    static var tool: String { ProcessInfo.processInfo.environment["HYBRIDSYNC_BIN"] ?? root.appendingPathComponent(".build/debug/hybridsync").path }

    /// Runs `Launch/mpirun -np N PROGRAM ARGS` (the test-jobs binary unless given); returns the exit
    /// status and the merged output.
    static func mpirun(_ np: Int, _ args: [String], program: String = binary, env: [String: String] = [:]) throws -> (Int32, String) {
        try run(Self.root.appendingPathComponent("Launch/mpirun").path, ["-np", "\(np)", program] + args, env: env)
    }

    /// Runs `executable` with `args` (and `env` over this process's environment); returns its exit
    /// status and its standard output and error, merged.
    static func run(_ executable: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    func expectExact(np: Int, workers: Int, _ extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let (status, out) = try Self.mpirun(np, ["self-test-hybrid", "--case", "exact"] + extra)
        XCTAssertEqual(status, 0, out, file: file, line: line)
        let ok = out.split(separator: "\n").filter { $0.contains("RESULT exact ok") && $0.contains("wrong=0") }
        XCTAssertEqual(ok.count, workers, out, file: file, line: line)
        return out
    }

    /// A BSP hybrid run on 2 and 4 workers produces exactly the serial reference's parameters, for every
    /// strategy; on 2 workers the planner moves the table to the ring mid-run and it stays exact.
    func testHybridBSPIsExactOnTwoAndFourWorkers() throws {
        let two = try expectExact(np: 2, workers: 2, [])
        XCTAssertTrue(two.contains("emb route ps->ring"), two)
        _ = try expectExact(np: 4, workers: 4, [])
        _ = try expectExact(np: 2, workers: 2, ["--strategy", "allreduce"])
        _ = try expectExact(np: 4, workers: 4, ["--strategy", "ps"])
    }

    /// Dense buckets started during backward (`GradientSync.ready`, each worker on steps of its own
    /// choosing) over real Open MPI at 4 workers, a ring bucket and a recursive-doubling one, next to the
    /// parameter servers: exactly the serial reference's parameters.
    func testDenseBucketsStartedDuringBackwardAreExactUnderMPI() throws {
        _ = try expectExact(np: 4, workers: 4, ["--overlap"])
    }

    /// The cost probe over real MPI and ZeroMQ gives both workers the same, well-formed measurements.
    func testCalibrationProbeGivesEveryWorkerTheSameModel() throws {
        let (status, out) = try Self.mpirun(2, ["self-test-hybrid", "--case", "calibrate"])
        XCTAssertEqual(status, 0, out)
        XCTAssertEqual(out.split(separator: "\n").filter { $0.contains("RESULT calibrate ok") }.count, 2, out)
    }

    /// Dedicated and colocated server layouts start, run, and exit 0.
    func testLayoutsStartAndExitCleanly() throws {
        _ = try expectExact(np: 4, workers: 2, ["--placement", "dedicated", "--servers", "2"])
        _ = try expectExact(np: 4, workers: 4, ["--placement", "colocated", "--servers", "1"])
    }

    /// A rank registering a different shape or an extra table gets the same error on every worker.
    func testMismatchedRegistrationRaisesTheSameErrorEverywhere() throws {
        for c in ["mismatch-shape", "mismatch-extra"] {
            let (status, out) = try Self.mpirun(4, ["self-test-hybrid", "--case", c, "--placement", "dedicated"])
            XCTAssertEqual(status, 0, out)
            let lines = out.split(separator: "\n").filter { $0.contains("RESULT \(c) ok") }
            XCTAssertEqual(lines.count, 2, out)
            let texts = Set(lines.map { $0.split(separator: " ", maxSplits: 4).last ?? "" })
            XCTAssertEqual(texts.count, 1, "same error on every worker: \(lines)")
        }
    }

    /// A server stopped with SIGSTOP (never resumed) under mpirun, without replication: every worker
    /// ends with a typed error naming it, the other server rank too, and the job exits non-zero within
    /// the heartbeat timeout (set through HYBRIDSYNC_HEARTBEAT_TIMEOUT, so the variable takes effect
    /// under mpirun) plus 30 s. (With replication the job goes on: `FailoverProcessTests`.)
    func testStoppedServerEndsTheJobNamingIt() throws {
        let start = Date()
        let (status, out) = try Self.mpirun(
            4,
            [
                "self-test-hybrid", "--case", "stop-rank", "--placement", "dedicated",
                "--servers", "2", "--victim", "1", "--stop-after", "1",
            ],
            env: ["HYBRIDSYNC_HEARTBEAT_TIMEOUT": "2", "HYBRIDSYNC_REPLICATION": "0"])
        XCTAssertNotEqual(status, 0, out)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2 + 30, out)
        // Each rank names the stopped server as soon as the scheduler reports it, and Launch/mpirun ends
        // the stopped rank once the others have failed.
        for (node, rank) in [("worker 0", 2), ("worker 1", 3), ("server 0", 0)] {
            XCTAssertTrue(out.contains("node=\(node) rank=\(rank) [HybridSyncPS] the scheduler reports server 1 dead"), "\(node): \(out)")
        }
        let results = out.split(separator: "\n").filter { $0.contains("RESULT stop-rank") }
        XCTAssertFalse(results.isEmpty, out)
        XCTAssertEqual(results.count, 2, "both workers end with their own error: \(out)")
        for w in results { XCTAssertTrue(w.contains("peer server 1") && w.contains("died"), String(w)) }
        XCTAssertTrue(out.contains("rank(s) 1 still running; ending the job"), out)
        XCTAssertTrue(out.contains("timeout 2000 ms"), "the heartbeat timeout from the environment took effect: \(out)")
    }

    /// A job killed (its server rank, SIGKILL) while a checkpoint is being written leaves the previous
    /// checkpoint whole: `hybridsync checkpoint inspect` finds it and every checksum matches.
    func testKilledWhileCheckpointingLeavesThePreviousOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-ckloop-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = Self.root.appendingPathComponent("Launch/mpirun")
        p.arguments = [
            "-np", "3", Self.binary, "self-test-hybrid", "--case", "checkpoint-loop", "--placement", "dedicated",
            "--servers", "1", "--rows", "300000", "--directory", dir,
        ]
        p.environment = ProcessInfo.processInfo.environment.merging(["HYBRIDSYNC_HEARTBEAT_TIMEOUT": "2"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Step 1's checkpoint is renamed into place whole, then step 2's is begun in `.step-2.tmp`.
        let deadline = Date().addingTimeInterval(120)
        let fm = FileManager.default
        _ = DirectoryWatch.wait(for: "step-1", in: dir, until: deadline) { p.isRunning }
        _ = DirectoryWatch.wait(for: ".step-2.tmp", in: dir, until: deadline) { p.isRunning }
        var killed = false
        for pid in ProcessTree.ranks(0, named: "hybridsync-test", under: p.processIdentifier) {
            kill(pid, SIGKILL)
            killed = true
        }
        p.waitUntilExit()
        XCTAssertTrue(killed)
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertFalse(fm.fileExists(atPath: dir + "/step-2/manifest.json"), "the second checkpoint was cut short")
        let (status, text) = try CheckpointToolTests.tool(["checkpoint", "inspect", dir])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("step-1: step 1") && text.contains("table big: 300000 rows x 16"), text)
        XCTAssertEqual(text.components(separatedBy: "checksum ok").count - 1, 2, text)
    }
}
