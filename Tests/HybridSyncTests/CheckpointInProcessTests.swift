import Foundation
import HybridSync
import HybridSyncTestKit
import XCTest

/// Checkpoint and resume of whole in-process jobs (ring over memory, servers over memory, files on disk).
final class CheckpointInProcessTests: XCTestCase {
    var root = ""

    override func setUp() {
        root = NSTemporaryDirectory() + "hybridsync-ckpt-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func run(
        servers: Int, from: Int, to: Int, checkpoint: String? = nil, resume: String? = nil, backgroundAt: Int? = nil,
        config: PSConfig = PSConfig()
    ) throws -> [UInt32] {
        let outcome = try TestKit.hybridJob(servers: servers, workers: 2, config: config) { runtime in
            try HybridChecks.durable(runtime, from: from, to: to, checkpoint: checkpoint, resume: resume, backgroundAt: backgroundAt)
        }
        for (node, failure) in outcome.nodes { XCTAssertNil(failure, "\(node)") }
        let results = try outcome.workers.map { try $0.get() }
        XCTAssertEqual(results[0], results[1], "both workers hold the same parameters")
        return results[0]
    }

    /// 2N steps on 2 servers equal N steps, a checkpoint, a new job on 3 servers resuming from it, and N
    /// more steps: bit for bit (Adagrad table on the servers, Adam dense layer on the ring, BSP).
    func testResumeIsBitIdenticalWithAnotherServerCount() throws {
        let straight = try run(servers: 2, from: 0, to: 8)
        _ = try run(servers: 2, from: 0, to: 4, checkpoint: root)
        let resumed = try run(servers: 3, from: 4, to: 8, resume: root)
        XCTAssertEqual(resumed, straight)
        let half = try run(servers: 2, from: 0, to: 4)
        XCTAssertNotEqual(half, straight, "the second half changed the parameters")
    }

    /// A checkpoint taken in the background at step 3 while the job trains on to step 8, the servers
    /// writing nothing for its first 0.3 s, then one row per poll: its files are byte for byte those of a checkpoint of step 3 written
    /// with nothing going on, and a job resuming from it ends bit-identical to the uninterrupted run.
    func testABackgroundCheckpointHoldsItsStepWhileTrainingGoesOn() throws {
        var slow = PSConfig()
        slow.checkpointSliceRows = 1
        slow.checkpointWriteDelay = 0.3
        let straight = try run(servers: 2, from: 0, to: 8)
        XCTAssertEqual(try run(servers: 2, from: 0, to: 8, checkpoint: root + "/bg", backgroundAt: 3, config: slow), straight)
        _ = try run(servers: 2, from: 0, to: 3, checkpoint: root + "/quiet")
        let files = ["manifest.json", "server-0.shard", "server-1.shard", "worker.state"]
        for f in files {
            let bg = FileManager.default.contents(atPath: root + "/bg/step-3/" + f), quiet = FileManager.default.contents(atPath: root + "/quiet/step-3/" + f)
            XCTAssertNotNil(bg, f)
            XCTAssertEqual(bg, quiet, "\(f) holds step 3")
        }
        XCTAssertEqual(try run(servers: 3, from: 3, to: 8, resume: root + "/bg"), straight)
    }

    /// A flipped byte in any file of the checkpoint is refused, naming the file; nothing is restored.
    func testAFlippedByteIsRefusedNamingTheFile() throws {
        _ = try run(servers: 2, from: 0, to: 2, checkpoint: root)
        let dir = root + "/step-2"
        for name in ["server-1.shard", "worker.state"] {
            let path = dir + "/" + name
            var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
            let saved = bytes
            bytes[bytes.count / 2] ^= 0x10
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            XCTAssertThrowsError(try run(servers: 2, from: 2, to: 3, resume: root)) { e in
                guard case .checkpoint(.damaged, let file, let reason)? = e as? HybridSyncError else { return XCTFail("\(e)") }
                XCTAssertEqual(file, path)
                XCTAssertTrue(reason.contains("damaged"), reason)
            }
            _ = FileManager.default.createFile(atPath: path, contents: Data(saved))
        }
        XCTAssertNoThrow(try run(servers: 2, from: 2, to: 3, resume: root), "the repaired checkpoint loads")
    }

    /// A sound checkpoint resumed by a job whose dense parameter has another size is refused as
    /// `incompatible`, naming the parameter, on every worker (not as a damaged or foreign file).
    func testACheckpointOfAnotherModelIsIncompatible() throws {
        _ = try run(servers: 1, from: 0, to: 1, checkpoint: root)
        let root = self.root
        let outcome = try TestKit.hybridJob(servers: 1, workers: 2) { runtime -> String in
            let sync = try GradientSync(runtime: runtime, strategy: .hybrid, replanAfterSteps: 0)
            let w = try Tensor(name: "mlp.w", values: [Float](repeating: 0, count: HybridChecks.denseCount + 1))
            try sync.register([
                Parameter(.dense(w, optimizer: .sgd(learningRate: 1))),
                Parameter(.embedding(TableSpec(name: "emb", dimension: HybridChecks.dim), rows: HybridChecks.rows)),
            ])
            do {
                try sync.resume(from: root)
                return "resumed"
            } catch HybridSyncError.checkpoint(let code, _, let reason) {
                return "\(code): \(reason)"
            }
        }
        for r in outcome.workers { XCTAssertEqual(try r.get(), "incompatible: dense parameter 'mlp.w' has another size") }
    }

    /// A checkpoint of another format version is refused with a message saying which.
    func testAnotherFormatVersionIsRefused() throws {
        _ = try run(servers: 1, from: 0, to: 1, checkpoint: root)
        let path = root + "/step-1/manifest.json"
        let text = String(decoding: FileManager.default.contents(atPath: path)!, as: UTF8.self)
        let current = "\"format\" : \(CheckpointFormat.version)"
        XCTAssertTrue(text.contains(current), text)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.replacingOccurrences(of: current, with: "\"format\" : 1").utf8))
        XCTAssertThrowsError(try run(servers: 1, from: 1, to: 2, resume: root)) { e in
            guard case .checkpoint(.format, _, _)? = e as? HybridSyncError else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("format version 1; this build reads version \(CheckpointFormat.version)"), "\(e)")
        }
    }

    /// A checkpoint left half written (its temporary directory, no manifest) is ignored: resuming from the
    /// root takes the newest complete one.
    func testAnUnfinishedCheckpointIsIgnored() throws {
        let first = try run(servers: 2, from: 0, to: 3, checkpoint: root)
        try FileManager.default.createDirectory(atPath: root + "/.step-5.tmp", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/.step-5.tmp/server-0.shard", contents: Data([1, 2, 3]))
        let resumed = try run(servers: 2, from: 3, to: 3, resume: root)
        XCTAssertEqual(resumed, first)
    }
}

/// `hybridsync checkpoint inspect` and `export` on a checkpoint of an in-process job; NumPy reads the
/// export and finds the rows the workers pulled.
final class CheckpointToolTests: XCTestCase {
    static func tool(_ args: [String]) throws -> (Int32, String) { try HybridProcessTests.run(HybridProcessTests.tool, args) }

    /// Runs a Python snippet (`python3 -c`) with `args`; returns its standard output.
    static func python(_ code: String, _ args: [String]) throws -> String {
        let (status, out) = try HybridProcessTests.run("/usr/bin/env", ["python3", "-c", code] + args)
        XCTAssertEqual(status, 0, out)
        return out
    }

    func testInspectAndExportForNumPy() throws {
        let root = NSTemporaryDirectory() + "hybridsync-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outcome = try TestKit.hybridJob(servers: 2, workers: 2) { runtime in
            try HybridChecks.durable(runtime, from: 0, to: 3, checkpoint: root)
        }
        let bits = try outcome.workers[0].get()
        let (status, text) = try Self.tool(["checkpoint", "inspect", root])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("step 3, 2 workers, 2 servers"), text)
        XCTAssertTrue(text.contains("table emb: \(HybridChecks.rows) rows x \(HybridChecks.dim)"), text)
        XCTAssertEqual(text.components(separatedBy: "checksum ok").count - 1, 3, text)

        let npy = root + "/emb.npy"
        let (s2, t2) = try Self.tool(["checkpoint", "export", root, "--table", "emb", "--out", npy])
        XCTAssertEqual(s2, 0, t2)
        let lines = try Self.python(
            "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype); print(' '.join(str(int(v)) for v in a.view(numpy.uint32).ravel()))", [npy]
        ).split(separator: "\n")
        XCTAssertEqual(lines.first.map(String.init), "(\(HybridChecks.rows), \(HybridChecks.dim)) float32")
        let exported = lines.dropFirst().first.map { $0.split(separator: " ").compactMap { UInt32($0) } } ?? []
        XCTAssertEqual(exported, Array(bits.suffix(HybridChecks.rows * HybridChecks.dim)), "numpy sees the rows the workers pulled")
    }
}
