import Foundation
import XCTest

/// Every disagreement between ranks raises the same error on every rank, in bounded time, under mpirun.
final class AgreementProcessTests: XCTestCase {
    private func errors(_ c: String, np: Int = 3) throws -> (MPIJob.Result, [Int: String]) {
        let result = try MPIJob.run(np: np, ["self-test-agreement", "--case", c], timeout: 60)
        var byRank: [Int: String] = [:]
        for line in result.lines where line.hasPrefix("RANK ") {
            let parts = line.split(separator: " ", maxSplits: 2)
            if parts.count == 3, let r = Int(parts[1]) { byRank[r] = String(parts[2]) }
        }
        return (result, byRank)
    }

    private func assertSameErrorEverywhere(_ c: String, contains needles: [String]) throws {
        for np in [2, 3] {
            let (result, byRank) = try errors(c, np: np)
            XCTAssertEqual(result.status, 0, "\(c): \(result.stdout) \(result.stderr.suffix(1000))")
            XCTAssertEqual(byRank.count, np, "\(c): every rank reports: \(result.stdout)")
            XCTAssertEqual(Set(byRank.values).count, 1, "\(c): same error on every rank: \(byRank)")
            let text = byRank[0] ?? ""
            XCTAssertTrue(text.hasPrefix("ERROR mismatched"), text)
            for n in needles { XCTAssertTrue(text.contains(n), "\(c): '\(n)' missing from \(text)") }
            XCTAssertLessThan(result.seconds, 30)
        }
    }

    func testNameMismatch() throws { try assertSameErrorEverywhere("name", contains: ["grad.c", "no such tensor"]) }
    func testDtypeMismatch() throws { try assertSameErrorEverywhere("dtype", contains: ["grad.b", "float32", "float64"]) }
    func testCountMismatch() throws { try assertSameErrorEverywhere("count", contains: ["grad.b", "20", "21"]) }
    func testOpMismatch() throws { try assertSameErrorEverywhere("op", contains: ["op", "sum", "max"]) }
    func testExtraTensor() throws { try assertSameErrorEverywhere("extra", contains: ["grad.z"]) }
    func testMissingTensor() throws { try assertSameErrorEverywhere("missing", contains: ["grad.b", "no such tensor"]) }
    func testDuplicateName() throws { try assertSameErrorEverywhere("duplicate", contains: ["duplicate name", "grad.a"]) }

    /// The last rank arrives 4 s late with a 1 s stall time: the others raise `stalled` naming it.
    func testStallRaisesNamingTheMissingRank() throws {
        let (result, byRank) = try errors("stall", np: 3)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr.suffix(1000))
        XCTAssertTrue(byRank[0]?.contains("stalled: ranks [2]") == true, "\(byRank)")
        XCTAssertTrue(byRank[1]?.contains("stalled: ranks [2]") == true, "\(byRank)")
        XCTAssertTrue(byRank[2]?.contains("rank 0") == true, "\(byRank)")
        XCTAssertLessThan(result.seconds, 30)
    }

    /// With `.log`, the wait goes on, warnings name the missing rank, and the reduction completes.
    func testStallLogWarnsAndCompletes() throws {
        let (result, byRank) = try errors("stall-log", np: 3)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertEqual(byRank.count, 3)
        XCTAssertTrue(byRank.values.allSatisfy { $0.hasPrefix("NO-ERROR") }, "\(byRank)")
        XCTAssertTrue(result.stderr.contains("stalled: ranks [2]"), result.stderr)
    }
}
