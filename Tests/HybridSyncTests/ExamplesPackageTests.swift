import Foundation
import XCTest

/// The example programs (`Sources/Examples`) are a package of their own that depends on HybridSync by
/// path, as a user's package does: a `package` or internal symbol in them fails this build. Two of
/// them then run: the README's loop under mpirun (its loss falls) and the ps-lite-style worker under
/// `hybridsync ps local` (every pushed value summed exactly once).
final class ExamplesPackageTests: XCTestCase {
    static let scratch = HybridProcessTests.root.appendingPathComponent(".build-examples").path

    func testTheExamplesBuildAsAnOutsidePackageAndRun() throws {
        let (status, text) = try HybridProcessTests.run(
            "/usr/bin/env",
            [
                "swift", "build", "--package-path",
                HybridProcessTests.root.appendingPathComponent("Sources/Examples").path,
                "--scratch-path", Self.scratch,
            ])
        XCTAssertEqual(status, 0, String(text.suffix(4000)))
        guard status == 0 else { return }
        for program in ["readme-loop", "ps-worker", "wide-and-deep"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.scratch + "/debug/" + program), program)
        }

        let (s1, loop) = try HybridProcessTests.mpirun(4, [], program: Self.scratch + "/debug/readme-loop")
        XCTAssertEqual(s1, 0, loop)
        let losses = loop.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "mean loss ") else { return nil }
            return Double(line[r.upperBound...])
        }
        XCTAssertEqual(losses.count, 6, loop)
        if let first = losses.first, let last = losses.last { XCTAssertLessThan(last, first * 0.8, "the README's loop learns: \(loop)") }

        let (s2, ps) = try HybridProcessTests.run(
            HybridProcessTests.tool,
            [
                "ps", "local", "--servers", "2", "--workers", "3", "--",
                Self.scratch + "/debug/ps-worker",
            ])
        XCTAssertEqual(s2, 0, ps)
        XCTAssertEqual(ps.components(separatedBy: "1000 rows pulled, all equal to 60.0").count - 1, 3, ps)
    }
}
