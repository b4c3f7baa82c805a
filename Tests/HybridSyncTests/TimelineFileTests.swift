import HybridSyncCore
import XCTest

@testable import HybridSync

/// The merge of the ranks' timeline parts.
final class TimelineFileTests: XCTestCase {
    /// A part that never comes: rank 0 waits up to its deadline, writes the trace from the parts it has,
    /// names the rank that is missing, and removes the parts it merged.
    func testAMissingPartIsNamedAndTheOthersAreMerged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("timeline-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/trace.json"
        Timeline.start(writingTo: path)
        defer { Timeline.stop() }
        // Rank 2's part, as rank 2 writes it; rank 1 never writes one.
        Timeline.span("two's span", row: "worker 1") {}
        try TimelineFile.writePart(path, rank: 2)
        Timeline.span("zero's span", row: "worker 0") {}
        let began = ContinuousClock.now
        let missing = try TimelineFile.finish(rank: 0, ranks: 3, timeout: 0.3)
        let waited = ContinuousClock.now - began
        XCTAssertEqual(missing, [1])
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(300), "it waited its deadline for rank 1")
        XCTAssertLessThan(waited, .seconds(10))
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        let events = try XCTUnwrap(trace?["traceEvents"] as? [[String: Any]])
        let spans = events.filter { $0["ph"] as? String == "X" }.map { "\($0["name"]!) pid \($0["pid"]!)" }.sorted()
        XCTAssertEqual(spans, ["two's span pid 2", "zero's span pid 0"])
        XCTAssertFalse(events.contains { $0["pid"] as? Int == 1 }, "no row of the missing rank")
        for r in [0, 2] { XCTAssertFalse(FileManager.default.fileExists(atPath: TimelineFile.partPath(path, rank: r)), "part \(r) removed") }
    }
}
