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
        let (status, text) = try HybridProcessTests.mpirun(3, ["train", "--servers", "1", "--placement", "dedicated",
            "--epochs", "1", "--train-limit", "2560", "--test-limit", "300", "--hidden", "32", "--wide-rows", "65536", "--batch", "16", "--out", out],
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

    /// `--epochs 1 --checkpoint-dir D` then `--epochs 2 --resume --checkpoint-dir D` ends with the same
    /// parameters, bit for bit, as one `--epochs 2` run (BSP, hybrid strategy, real mpirun).
    func testResumedDemoEqualsAnUninterruptedRun() throws {
        let dataset = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataset), "dataset-fashion-mnist is not installed (Launch/test installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-resume-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["train", "--servers", "1", "--placement", "dedicated", "--train-limit", "640", "--test-limit", "100",
                      "--hidden", "16", "--wide-rows", "4096", "--batch", "16", "--checksum", "--out", dir + "/out"]
        func params(_ extra: [String]) throws -> String {
            let (status, text) = try HybridProcessTests.mpirun(3, common + extra, program: HybridProcessTests.tool)
            XCTAssertEqual(status, 0, text)
            // Progress lines (carriage returns, on the same pipe) may stand before it on its line.
            guard let r = text.range(of: "PARAMS crc32c") else { return "none: \(text)" }
            return String(text[r.lowerBound...].prefix { $0 != "\n" })
        }
        let straight = try params(["--epochs", "2"])
        let first = try params(["--epochs", "1", "--checkpoint-dir", dir + "/ckpt"])
        let resumed = try params(["--epochs", "2", "--resume", "--checkpoint-dir", dir + "/ckpt"])
        XCTAssertTrue(straight.hasSuffix("after step 40"), straight)
        XCTAssertEqual(resumed, straight)
        XCTAssertNotEqual(first, straight)
    }
}
