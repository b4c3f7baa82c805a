import Foundation
import XCTest

/// The parameter server's links under real mpirun, ZeroMQ and a rogue pyzmq client.
final class SecurityProcessTests: XCTestCase {
    /// Starts the `rogue` case (2 servers, 2 workers), runs the rogue client against it once the job
    /// prints its endpoints, lets the job go on, and returns the job's status and output and the client's
    /// JSON line.
    private func runRogue(env: [String: String], clientArgs: [String]) throws -> (Int32, String, [String: Any]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-rogue-\(getpid())-\(env.keys.sorted().joined())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = HybridProcessTests.root.appendingPathComponent("Launch/mpirun")
        p.arguments = [
            "-np", "4", HybridProcessTests.binary, "self-test-hybrid", "--case", "rogue", "--placement", "dedicated",
            "--servers", "2", "--directory", dir,
        ]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let output = ProcessOutput(pipe.fileHandleForReading)
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        func endpoints(_ text: String) -> String? { text.split(separator: "\n").first { $0.hasPrefix("ENDPOINTS ") }.map(String.init) }
        output.wait(until: Date().addingTimeInterval(60)) { endpoints($0) != nil }
        guard let line = endpoints(output.current()) else {
            throw XCTSkip("the job never printed its endpoints: \(output.current())")
        }
        var fields: [String: String] = [:]
        for part in line.split(separator: " ").dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { fields[kv[0]] = kv[1] }
        }
        let script = HybridProcessTests.root.appendingPathComponent("Tests/Scripts/rogue_client.py").path
        let (status, json) = try HybridProcessTests.run(
            "/usr/bin/env",
            [
                "python3", script, "--scheduler", fields["scheduler"] ?? "",
                "--servers", fields["servers"] ?? "",
                // One argument: a Z85 key may begin with "-".
                "--server-key=" + (fields["serverkey"] ?? ""),
            ] + clientArgs)
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        let text = output.text()
        p.waitUntilExit()
        XCTAssertEqual(status, 0, json)
        let parsed = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        return (p.terminationStatus, text, parsed)
    }

    /// A client that knows the ports and the job's (public) server key but holds no member key gets no
    /// answer to register, declare, push, pull, stats, finished, clock or heartbeat messages, plain or
    /// over CURVE (which the secure channel does not speak); the servers count its refused handshakes;
    /// the job's result is exact.
    func testARogueClientGetsNothingAndChangesNothing() throws {
        try XCTSkipUnless(pythonHasZMQ(), "pyzmq is not installed (Launch/test installs it)")
        let (status, text, result) = try runRogue(env: [:], clientArgs: [])
        XCTAssertEqual(status, 0, text)
        let replies = result["replies"] as? [String: Int] ?? [:]
        XCTAssertEqual(replies.count, 6, "3 targets, plain and CURVE: \(result)")
        for (target, n) in replies { XCTAssertEqual(n, 0, "\(target) answered the rogue client") }
        XCTAssertEqual((result["kinds"] as? [String])?.count, 8)
        let ok = text.split(separator: "\n").filter { $0.contains("RESULT rogue ok") && $0.contains("wrong=0") }
        XCTAssertEqual(ok.count, 2, "both workers end exact: \(text)")
        let stats = text.split(separator: "\n").filter { $0.hasPrefix("STATS server=") }
        XCTAssertEqual(stats.count, 2, text)
        for s in stats {
            let n = Int(s.split(separator: "=").last ?? "") ?? 0
            XCTAssertGreaterThanOrEqual(n, 2, "the plain and the CURVE attempts were both counted: \(s)")
        }
        XCTAssertTrue(text.contains("refused a connection at the channel handshake"), "and logged")
    }

    /// The control: with `HYBRIDSYNC_INSECURE=1` the same client reading stats gets answers (so the test
    /// above would fail without the secure channel), and the job warns that its links are open.
    func testWithoutCurveTheSameClientGetsIn() throws {
        try XCTSkipUnless(pythonHasZMQ(), "pyzmq is not installed (Launch/test installs it)")
        let (status, text, result) = try runRogue(env: ["HYBRIDSYNC_INSECURE": "1"], clientArgs: ["--only-stats"])
        XCTAssertEqual(status, 0, text)
        let replies = result["replies"] as? [String: Int] ?? [:]
        XCTAssertGreaterThan(replies.filter { $0.key.contains("plain") }.values.reduce(0, +), 0, "\(result)")
        XCTAssertTrue(text.contains("HYBRIDSYNC_INSECURE=1: parameter-server links are plain TCP"), text)
    }

    /// Keys given to an mpirun job (`hybridsync keys --ranks 4`, `HYBRIDSYNC_KEYS=DIR`) are the ones it
    /// uses: its servers serve with the directory's server key, the rogue client still gets nothing,
    /// and the job's result is exact.
    func testGivenKeysAreUsedUnderMpirun() throws {
        try XCTSkipUnless(pythonHasZMQ(), "pyzmq is not installed (Launch/test installs it)")
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-given-keys-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: keys) }
        let (made, text) = try HybridProcessTests.run(HybridProcessTests.tool, ["keys", "--out", keys, "--ranks", "4"])
        XCTAssertEqual(made, 0, text)
        let serverKey = String((try String(contentsOfFile: keys + "/server.key", encoding: .utf8)).prefix(40))
        let (status, out, result) = try runRogue(env: ["HYBRIDSYNC_KEYS": keys], clientArgs: [])
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("serverkey=\(serverKey)"), "the job served with the given key: \(out)")
        for (target, n) in result["replies"] as? [String: Int] ?? [:] { XCTAssertEqual(n, 0, "\(target) answered the rogue client") }
        XCTAssertEqual(out.split(separator: "\n").filter { $0.contains("RESULT rogue ok") && $0.contains("wrong=0") }.count, 2, out)
    }

    private func pythonHasZMQ() -> Bool {
        (try? HybridProcessTests.run("/usr/bin/env", ["python3", "-c", "import zmq"]).0) == 0
    }
}
