import Foundation
import XCTest

/// A short run of the demo (`hybridsync train`) under mpirun on real Fashion-MNIST: the loss must fall
/// and the run must end cleanly with its outputs written.
final class DemoProcessTests: XCTestCase {
    func testShortDemoRunLossFalls() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-demo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (status, text) = try HybridProcessTests.mpirun(
            3,
            [
                "train", "--servers", "1", "--placement", "dedicated",
                "--epochs", "1", "--train-limit", "2560", "--test-limit", "300", "--hidden", "32", "--wide-rows", "65536", "--batch", "16", "--out", out,
            ],
            program: HybridProcessTests.tool)
        XCTAssertEqual(status, 0, text)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("LOSS first") }) else { return XCTFail(text) }
        let parts = line.split(separator: " ")
        let first = Double(parts[2])!, last = Double(parts[4])!
        XCTAssertLessThan(last, first * 0.8, line.description)
        XCTAssertTrue(text.contains("test accuracy"), text)
        XCTAssertTrue(text.contains("route"), "the plan is printed: \(text)")
        let png = try Data(contentsOf: URL(fileURLWithPath: out + "/loss.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    /// `--epochs 1 --checkpoint-dir D` on 2 servers, then `--epochs 2 --resume` on 3 servers, ends with
    /// the same parameters, bit for bit, as one `--epochs 2` run (BSP, hybrid strategy: an Adagrad table
    /// on the servers, Adam dense layers on the ring; real mpirun). Then `hybridsync checkpoint inspect`
    /// and `export` read the demo's checkpoint and NumPy loads the table.
    func testResumedDemoEqualsAnUninterruptedRun() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-resume-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = [
            "train", "--placement", "dedicated", "--train-limit", "640", "--test-limit", "100",
            "--hidden", "16", "--wide-rows", "4096", "--batch", "16", "--checksum", "--no-calibrate", "--out", dir + "/out",
        ]
        func params(servers: Int, _ extra: [String]) throws -> String {
            let (status, text) = try HybridProcessTests.mpirun(servers + 2, common + ["--servers", "\(servers)"] + extra, program: HybridProcessTests.tool)
            XCTAssertEqual(status, 0, text)
            // Progress lines (carriage returns, on the same pipe) may stand before it on its line.
            guard let r = text.range(of: "PARAMS crc32c") else { return "none: \(text)" }
            return String(text[r.lowerBound...].prefix { $0 != "\n" })
        }
        let straight = try params(servers: 2, ["--epochs", "2"])
        let first = try params(servers: 2, ["--epochs", "1", "--checkpoint-dir", dir + "/ckpt", "--timeline", dir + "/timeline.json"])
        let resumed = try params(servers: 3, ["--epochs", "2", "--resume", "--checkpoint-dir", dir + "/ckpt"])
        XCTAssertTrue(straight.hasSuffix("after step 40"), straight)
        XCTAssertEqual(resumed, straight)
        XCTAssertNotEqual(first, straight)
        // The timeline shows both paths of a step, the overlap's buckets, and the checkpoint on the
        // workers and on the servers.
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/timeline.json"))) as? [String: Any]
        let names = Set((trace?["traceEvents"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        for name in ["pull", "push sent", "start bucket 0", "finish buckets", "apply held pushes", "checkpoint", "checkpoint written"] {
            XCTAssertTrue(names.contains(name), "no '\(name)' span in the timeline: \(names.sorted())")
        }

        let (s1, inspect) = try CheckpointToolTests.tool(["checkpoint", "inspect", dir + "/ckpt"])
        XCTAssertEqual(s1, 0, inspect)
        XCTAssertTrue(inspect.contains("step 40, 2 workers, 3 servers") && inspect.contains("table wide:"), inspect)
        let npy = dir + "/wide.npy"
        let (s2, export) = try CheckpointToolTests.tool(["checkpoint", "export", dir + "/ckpt", "--table", "wide", "--out", npy])
        XCTAssertEqual(s2, 0, export)
        let out = try CheckpointToolTests.python(
            "import numpy, sys, os; a = numpy.load(sys.argv[1]); print(a.shape[1], a.dtype, os.path.exists(sys.argv[1][:-4] + '.ids.npy') or a.shape[0] <= 4096)",
            [npy])
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "10 float32 True", "numpy reads the demo's wide table")
    }

    // Both comparisons run with --no-calibrate: a calibrated cost model is measured anew in every run,
    // so two runs could re-plan a table differently at step 5 and legitimately differ.

    /// A worker killed (SIGKILL) mid-training under `Launch/mpirun --max-restarts 2` (recovery mode):
    /// the other worker raises a typed error naming it, the server hears of it from the scheduler,
    /// `Launch/mpirun` names the killed rank and relaunches the job, which resumes by itself from the
    /// last checkpoint within the heartbeat timeout plus 30 s, exits 0 and ends with the same final
    /// parameters as a run that was never interrupted.
    func testKilledWorkerRestartsByItselfAndEqualsAnUninterruptedRun() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-kill-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = [
            "train", "--servers", "1", "--placement", "dedicated", "--train-limit", "6400", "--test-limit", "100",
            "--hidden", "16", "--wide-rows", "4096", "--batch", "16", "--checksum", "--no-calibrate", "--epochs", "1", "--out", dir + "/out",
        ]
        func params(_ text: String) -> String {
            guard let r = text.range(of: "PARAMS crc32c") else { return "none: \(text.suffix(2000))" }
            return String(text[r.lowerBound...].prefix { $0 != "\n" })
        }
        let (s0, straight) = try HybridProcessTests.mpirun(3, common, program: HybridProcessTests.tool)
        XCTAssertEqual(s0, 0, straight)

        // The same run, checkpointing as soon as it looks (every 20 steps, by the time cadence); worker 1
        // (world rank 2) is killed after step 40.
        let ckpt = dir + "/ckpt"
        let p = Process()
        p.executableURL = HybridProcessTests.root.appendingPathComponent("Launch/mpirun")
        p.arguments =
            ["--max-restarts", "2", "-np", "3", HybridProcessTests.tool] + common + ["--checkpoint-dir", ckpt, "--checkpoint-every-seconds", "0.001"]
        p.environment = ProcessInfo.processInfo.environment.merging(["HYBRIDSYNC_HEARTBEAT_TIMEOUT": "3"]) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let output = ProcessOutput(pipe.fileHandleForReading)
        try p.run()
        output.wait(until: Date().addingTimeInterval(120)) { $0.contains("checkpoint of step 40 in") }
        XCTAssertTrue(output.current().contains("checkpoint of step 20 in"), "the time cadence checkpoints at the first look")
        var killed = false
        for pid in ProcessTree.ranks(2, named: "hybridsync", under: p.processIdentifier) {
            kill(pid, SIGKILL)
            killed = true
        }
        let killedAt = Date()
        XCTAssertTrue(killed, "found the worker to kill")
        let resumedInTime = output.wait(until: killedAt.addingTimeInterval(3 + 30)) { $0.contains("resumed from \(ckpt) at step 40") }
        let resumedAfter = Date().timeIntervalSince(killedAt)
        p.waitUntilExit()
        let text = output.text()
        XCTAssertTrue(resumedInTime, "training again \(resumedAfter) s after the kill: \(text.suffix(2000))")
        XCTAssertEqual(p.terminationStatus, 0, String(text.suffix(3000)))
        XCTAssertTrue(text.contains("rank 2 (pid") && text.contains("was killed by signal 9"), "Launch/mpirun names the killed rank: \(text.suffix(1500))")
        XCTAssertTrue(text.contains("Error: peer worker 1 died"), "the surviving worker names it: \(text.suffix(1500))")
        XCTAssertTrue(text.contains("node=server 0 rank=0 [HybridSyncPS] the scheduler reports worker 1 dead"), "so does the server: \(text.suffix(1500))")
        XCTAssertTrue(text.contains("was killed by signal 9") && text.contains("restart 1 of 2"), "the relaunch names its cause: \(text.suffix(1500))")
        XCTAssertFalse(text.contains("restart 2 of 2"), String(text.suffix(1500)))
        XCTAssertEqual(params(text), params(straight), "bit-identical to the run without the death")
    }

    /// A job that fails the same way every time (a bad option) under `--max-restarts 2`: relaunched
    /// twice, then given up with its status and the cause named.
    func testARestartLoopGivesUpAfterItsCountNamingTheCause() throws {
        let p = Process()
        p.executableURL = HybridProcessTests.root.appendingPathComponent("Launch/mpirun")
        p.arguments = ["--max-restarts", "2", "-np", "2", HybridProcessTests.tool, "train", "--wide-rows", "3", "--epochs", "1"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let output = ProcessOutput(pipe.fileHandleForReading)
        try p.run()
        p.waitUntilExit()
        let text = output.text()
        XCTAssertEqual(p.terminationStatus, 64, text)
        XCTAssertTrue(text.contains("restart 1 of 2") && text.contains("restart 2 of 2"), text)
        XCTAssertFalse(text.contains("restart 3 of"), text)
        guard let last = text.components(separatedBy: "\n").first(where: { $0.contains("giving up") }) else { return XCTFail("gave up: \(text)") }
        XCTAssertTrue(last.contains("after 2 restart(s)") && last.contains("--wide-rows must be a power of") && last.contains("exited with status 64"), last)
    }
}
