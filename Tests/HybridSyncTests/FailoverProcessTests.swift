import Foundation
import Synchronization
import XCTest

/// Replicated shards under real mpirun, ZeroMQ and Open MPI: the demo's hybrid job (3 dedicated
/// servers, r = 1, BSP Adagrad table on the parameter server, Adam dense layers on the ring) with server
/// ranks killed by SIGKILL mid-training.
final class FailoverProcessTests: XCTestCase {
    static let common = [
        "train", "--servers", "3", "--placement", "dedicated", "--replication", "1", "--train-limit", "4800",
        "--test-limit", "100", "--hidden", "16", "--wide-rows", "4096", "--batch", "16", "--checksum",
        "--no-calibrate", "--epochs", "2",
    ]

    static func params(_ text: String) -> String {
        guard let r = text.range(of: "PARAMS crc32c") else { return "none: \(text.suffix(2000))" }
        return String(text[r.lowerBound...].prefix { $0 != "\n" })
    }

    /// Starts the job checkpointing every 50 steps (worker 0 prints each one, which says how far it
    /// got); kills world rank `rank` once step `step`'s checkpoint is complete, for each pair in turn. Returns the exit status,
    /// the output, and when each kill happened.
    static func runKilling(
        _ kills: [(rank: Int, step: Int)], dir: String, args: [String] = common,
        before: (Int) -> [String] = { _ in [] }
    ) throws -> (Int32, String, [Date]) {
        let ckpt = dir + "/ckpt"
        let p = Process()
        p.executableURL = HybridProcessTests.root.appendingPathComponent("Launch/mpirun")
        p.arguments = ["-np", "5", HybridProcessTests.tool] + args + ["--out", dir + "/out", "--checkpoint-dir", ckpt, "--checkpoint-every", "50"]
        p.environment = ProcessInfo.processInfo.environment.merging(["HYBRIDSYNC_HEARTBEAT_TIMEOUT": "3"]) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        // Read while the job runs, so a full pipe never blocks it.
        let output = ProcessOutput(pipe.fileHandleForReading)
        try p.run()
        var killedAt: [Date] = []
        for (i, (rank, step)) in kills.enumerated() {
            // Until the checkpoint is printed and, if asked, the output holds every one of these lines.
            let needles = before(i) + ["checkpoint of step \(step) in"]
            output.wait(until: Date().addingTimeInterval(120)) { text in needles.allSatisfy(text.contains) }
            for pid in ProcessTree.ranks(rank, named: "hybridsync", under: p.processIdentifier) {
                kill(pid, SIGKILL)
                killedAt.append(Date())
            }
        }
        p.waitUntilExit()
        return (p.terminationStatus, output.text(), killedAt)
    }

    /// Against one run in which nothing dies:
    /// - server 1 killed at step 100: the job finishes with exit 0 and bit-identical parameters; its
    ///   shard moved to its backup, and Launch/mpirun names the dead rank as absorbed;
    /// - server 1 killed at step 100, then (once the two shards it left with one copy have new
    ///   backups, which the scheduler logs) server 2 at step 200: the same;
    /// - rank 0, the scheduler and server 0, killed at step 100: the standby scheduler on rank 1 takes
    ///   over, every node registers again with it, server 0's shard moves to its backup, and the job
    ///   finishes the same, with no relaunch.
    func testKilledServersLoseNoUpdateAndTheJobExitsZero() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-failover-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (s0, straight) = try HybridProcessTests.mpirun(5, Self.common + ["--out", dir + "/straight"], program: HybridProcessTests.tool)
        XCTAssertEqual(s0, 0, straight)

        let (status, text, killed) = try Self.runKilling([(1, 100)], dir: dir + "/once")
        XCTAssertEqual(killed.count, 1, "found server 1's rank")
        XCTAssertEqual(status, 0, String(text.suffix(3000)))
        XCTAssertEqual(Self.params(text), Self.params(straight), "bit-identical to the run without the death")
        XCTAssertTrue(text.contains("shard 1 to server 2;") && text.contains("the job goes on"), String(text.suffix(3000)))
        XCTAssertTrue(text.contains("server 2 takes over shard 1 at change"), String(text.suffix(3000)))
        XCTAssertTrue(text.contains("hybridsync: rank 1 (pid") && text.contains("the job went on without it"), String(text.suffix(3000)))

        let (status2, text2, killed2) = try Self.runKilling([(1, 100), (2, 200)], dir: dir + "/twice") { i in
            // (The scheduler's lines: both new copies complete.)
            i == 1
                ? [
                    "node=scheduler rank=0 [HybridSyncPS] server 0 holds a complete copy of shard 1 again",
                    "node=scheduler rank=0 [HybridSyncPS] server 2 holds a complete copy of shard 0 again",
                ] : []
        }
        XCTAssertEqual(killed2.count, 2)
        XCTAssertEqual(status2, 0, String(text2.suffix(3000)))
        for (server, shard) in [(0, 1), (2, 0)] {
            XCTAssertEqual(
                text2.components(separatedBy: "[HybridSyncPS] server \(server) holds a complete copy of shard \(shard) again").count - 1, 1,
                String(text2.suffix(3000)))
        }
        XCTAssertEqual(Self.params(text2), Self.params(straight), "bit-identical to the run without deaths")
        for rank in [1, 2] { XCTAssertTrue(text2.contains("hybridsync: rank \(rank) (pid"), String(text2.suffix(3000))) }

        let (status3, text3, killed3) = try Self.runKilling([(0, 100)], dir: dir + "/scheduler")
        XCTAssertEqual(killed3.count, 1, "found the scheduler's rank")
        XCTAssertEqual(status3, 0, String(text3.suffix(3000)))
        XCTAssertEqual(Self.params(text3), Self.params(straight), "bit-identical to the run where nothing died")
        XCTAssertTrue(text3.contains("the standby scheduler takes over"), String(text3.suffix(3000)))
        XCTAssertTrue(text3.contains("shard 0 to server 1;") && text3.contains("hybridsync-absorbed node=server-0"), String(text3.suffix(3000)))
        XCTAssertTrue(text3.contains("hybridsync: rank 0 (pid") && text3.contains("the job went on without it"), String(text3.suffix(3000)))
        XCTAssertFalse(text3.contains("restart 1 of"), "no relaunch")
    }

    /// 2 servers and a spare rank (the job's last): server 1 killed at step 100; the spare takes its
    /// place and gets copies of both shards (the scheduler logs each complete); the job finishes with
    /// exit 0 and the parameters of the same layout's run in which nothing died.
    func testASpareRankReplacesAKilledServer() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-spare-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var args = Self.common
        args[args.firstIndex(of: "--servers")! + 1] = "2"
        args[args.firstIndex(of: "--epochs")! + 1] = "1"
        args += ["--spare-servers", "1"]
        let (s0, straight) = try HybridProcessTests.mpirun(5, args + ["--out", dir + "/straight"], program: HybridProcessTests.tool)
        XCTAssertEqual(s0, 0, straight)
        let (status, text, killed) = try Self.runKilling([(1, 100)], dir: dir, args: args)
        XCTAssertEqual(killed.count, 1)
        XCTAssertEqual(status, 0, String(text.suffix(3000)))
        XCTAssertTrue(text.contains("a spare server at") && text.contains("replaces server 1; new copies of shard(s) 0, 1 to it"), String(text.suffix(3000)))
        for shard in [0, 1] {
            XCTAssertTrue(text.contains("[HybridSyncPS] server 1 holds a complete copy of shard \(shard) again"), String(text.suffix(3000)))
        }
        XCTAssertEqual(Self.params(text), Self.params(straight), "bit-identical to the run without the death")
    }

    /// Servers 1 and 2 killed together, both copies of shard 1: every worker ends with `rows lost`
    /// naming the shard and pointing at --resume, within the heartbeat timeout plus 5 s of the deaths,
    /// and the job exits non-zero.
    func testLosingBothCopiesOfAShardEndsTheJobNamingIt() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-lost-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, text, killed) = try Self.runKilling([(1, 100), (2, 100)], dir: dir)
        XCTAssertEqual(killed.count, 2)
        XCTAssertNotEqual(status, 0, String(text.suffix(3000)))
        let errors = text.split(separator: "\n").filter { $0.contains("[HybridSyncPS] rows lost: every copy of shard(s) 1 is gone") }
        for worker in ["worker 0", "worker 1"] {
            let line = errors.first { $0.contains("node=\(worker) ") }
            XCTAssertNotNil(line, "\(worker) names the lost shard: \(text.suffix(3000))")
            guard let line, let second = killed.last else { continue }
            XCTAssertTrue(line.contains("--resume"), String(line))
            // Log lines carry their time to the second (rounded down).
            let stamp = ISO8601DateFormatter().date(from: String(line.prefix(24))) ?? .distantFuture
            XCTAssertLessThan(stamp.timeIntervalSince(second), 3 + 5, String(line))
        }
        XCTAssertFalse(text.contains("PARAMS crc32c"), "the job did not finish")
    }
}
