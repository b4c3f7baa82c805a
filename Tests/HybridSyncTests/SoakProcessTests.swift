import Foundation
import XCTest

/// The soak's short form: `hybridsync soak --epochs 2` (two epochs of each run, no probes).
final class SoakProcessTests: XCTestCase {
    /// Drops, duplicates and reordering on every worker-server message, and the scheduler's rank, a
    /// server and a worker killed under `Launch/mpirun --max-restarts`: the final parameters equal the
    /// fault-free run's, each kill happened, the deaths were absorbed or relaunched as they must be,
    /// faults were really injected and repaired (resends, duplicates dropped), and no rank's memory
    /// grows more than 10% after warm-up.
    func testSoakEndsBitIdenticalWithFlatMemory() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let (status, out) = try HybridProcessTests.run(HybridProcessTests.tool, ["soak", "--epochs", "2", "--deaths", "1"])
        func number(after label: String) -> Int {
            guard let r = out.range(of: label) else { return 0 }
            return Int(out[r.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("SOAK OK"), out)
        XCTAssertTrue(out.contains(": equal"), out)
        for kind in ["scheduler (rank 0) after step", "server (rank 1) after step", "worker (rank 3) after step"] {
            XCTAssertTrue(out.contains(kind), "killed \(kind): \(out)")
        }
        // The seed's order is server, scheduler, worker: the server's death is absorbed; the scheduler's
        // rank then holds every copy, so the standby takes over but the job must relaunch; the worker's
        // death relaunches it again.
        XCTAssertEqual(number(after: "relaunches "), 2, out)
        XCTAssertEqual(number(after: "standby scheduler takeovers "), 1, out)
        XCTAssertGreaterThan(number(after: "dropped "), 0, out)
        XCTAssertGreaterThan(number(after: "duplicated "), 0, out)
        XCTAssertGreaterThan(number(after: "resends "), 0, out)
        XCTAssertGreaterThan(number(after: "duplicates dropped by the servers "), 0, out)
        let rssRows = out.split(separator: "\n").filter { $0.components(separatedBy: " MB").count == 3 }
        XCTAssertEqual(rssRows.count, 4, "every rank's memory is reported: \(out)")
    }
}
