import Foundation
import XCTest

/// The emulated cluster (`Launch/cluster`): two network namespaces behind tbf-shaped links, a hybrid job
/// across them with `btl tcp,self` and ZeroMQ bound to each namespace's address. The traffic must cross
/// the shaped links and teardown must leave no namespace or link behind.
final class ClusterProcessTests: XCTestCase {
    private func run(_ path: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let errData = LockedBox()
        let errRead = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            errData.data = err.fileHandleForReading.readDataToEndOfFile()
            errRead.signal()
        }
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        errRead.wait()
        return (p.terminationStatus, o, String(decoding: errData.data, as: UTF8.self))
    }

    func testJobAcrossShapedNamespacesAndTeardown() throws {
        try XCTSkipUnless(getuid() == 0 && FileManager.default.fileExists(atPath: "/usr/sbin/ip"), "needs root and iproute2")
        // A sandbox without network namespaces cannot run this; say so instead of failing.
        let (probe, _, probeErr) = try run("/usr/sbin/ip", ["netns", "add", "hstprobe"])
        _ = try run("/usr/sbin/ip", ["netns", "delete", "hstprobe"])
        try XCTSkipUnless(probe == 0, "network namespaces are not available here: \(probeErr)")
        let root = HybridProcessTests.root
        let env = ["HYBRIDSYNC_CLUSTER_PREFIX": "hst"]
        let (status, out, err) = try run(
            root.appendingPathComponent("Launch/cluster").path,
            ["run", "2", "100mbit", "2", "--", HybridProcessTests.binary, "self-test-hybrid"], env: env)
        XCTAssertEqual(status, 0, out + err)
        XCTAssertEqual(out.split(separator: "\n").filter { $0.contains("RESULT exact ok") }.count, 2, out + err)
        // Bytes each host sent over its shaped link (printed by the script before teardown).
        let sent = err.split(separator: "\n").compactMap { line -> Int? in
            let parts = line.split(separator: " ")
            return parts.count == 2 && parts[0].hasPrefix("hst") ? Int(parts[1]) : nil
        }
        XCTAssertEqual(sent.count, 2, err)
        XCTAssertTrue(sent.allSatisfy { $0 > 10_000 }, "traffic crossed both links: \(sent)")
        let (_, namespaces, _) = try run("/usr/sbin/ip", ["netns", "list"])
        XCTAssertFalse(namespaces.contains("hst"), "namespaces left behind: \(namespaces)")
        let (_, links, _) = try run("/usr/sbin/ip", ["-o", "link", "show"])
        XCTAssertFalse(links.contains("hstbr0") || links.contains("hstv"), "links left behind")
    }
}

final class LockedBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Data()
    var data: Data {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
