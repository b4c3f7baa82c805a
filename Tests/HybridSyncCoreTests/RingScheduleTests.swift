import HybridSyncCore
import XCTest

final class RingScheduleTests: XCTestCase {
    /// Chunks tile the buffer exactly, and lengths differ by at most one.
    func testChunksTileTheBuffer() throws {
        for p in 1...9 {
            for n in [0, 1, p - 1, p, p + 1, 17, 4913] where n >= 0 {
                let s = try RingSchedule(rank: 0, ranks: p, count: n)
                var next = 0
                var lengths: [Int] = []
                for c in 0..<p {
                    XCTAssertEqual(s.chunk(c).lowerBound, next)
                    next = s.chunk(c).upperBound
                    lengths.append(s.chunk(c).count)
                }
                XCTAssertEqual(next, n)
                XCTAssertLessThanOrEqual(lengths.max()! - lengths.min()!, 1)
            }
        }
    }

    /// Simulates the whole ring in memory, step by step, with the schedule's send/receive chunks:
    /// every rank must end with the serial sum. A wrong step formula breaks this.
    func testSimulatedRingProducesTheSum() throws {
        for p in 1...7 {
            for n in [0, 1, p - 1, 10, 101] where n >= 0 {
                var data = (0..<p).map { r in (0..<n).map { Int64(r * 1000 + $0) } }
                let expected = (0..<n).map { i in (0..<p).reduce(Int64(0)) { $0 + Int64($1 * 1000 + i) } }
                let schedules = try (0..<p).map { try RingSchedule(rank: $0, ranks: p, count: n) }
                for step in 0..<(p - 1) {
                    let sent = schedules.map { s in Array(data[s.rank][s.chunk(s.reduceScatterStep(step).send)]) }
                    for s in schedules {
                        let range = s.chunk(s.reduceScatterStep(step).receive)
                        XCTAssertEqual(range, s.chunk(schedules[s.left].reduceScatterStep(step).send))
                        for (k, i) in range.enumerated() { data[s.rank][i] += sent[s.left][k] }
                    }
                }
                for s in schedules {
                    let owned = s.chunk(s.ownedChunk)
                    XCTAssertEqual(Array(data[s.rank][owned]), Array(expected[owned]), "p=\(p) n=\(n) rank \(s.rank)")
                }
                for step in 0..<(p - 1) {
                    let sent = schedules.map { s in Array(data[s.rank][s.chunk(s.allGatherStep(step).send)]) }
                    for s in schedules {
                        let range = s.chunk(s.allGatherStep(step).receive)
                        XCTAssertEqual(range, s.chunk(schedules[s.left].allGatherStep(step).send))
                        for (k, i) in range.enumerated() { data[s.rank][i] = sent[s.left][k] }
                    }
                }
                for r in 0..<p { XCTAssertEqual(data[r], expected, "p=\(p) n=\(n) rank \(r)") }
            }
        }
    }

    /// Each rank sends 2 (p - 1) / p of the buffer (exactly, up to the rounding of uneven chunks).
    func testBytesOnTheWire() throws {
        let n = 1_000_000
        for p in 2...8 {
            let total = try (0..<p).map { try RingSchedule(rank: $0, ranks: p, count: n).elementsSent }.reduce(0, +)
            XCTAssertEqual(total, 2 * (p - 1) * n)
        }
    }

    func testRejectsBadArguments() {
        XCTAssertThrowsError(try RingSchedule(rank: 3, ranks: 3, count: 1))
        XCTAssertThrowsError(try RingSchedule(rank: 0, ranks: 0, count: 1))
        XCTAssertThrowsError(try RingSchedule(rank: 0, ranks: 2, count: -1))
    }

    func testSegmentationCoversEachRangeOnce() {
        let seg = Segmentation(segmentBytes: 40, elementWidth: 4)
        XCTAssertEqual(seg.maxLength, 10)
        let range = 5..<38
        XCTAssertEqual(seg.segmentCount(range), 4)
        let pieces = (0..<seg.segmentCount(range)).map { seg.segment($0, of: range) }
        XCTAssertEqual(pieces, [5..<15, 15..<25, 25..<35, 35..<38])
        XCTAssertEqual(seg.segmentCount(3..<3), 0)
        XCTAssertEqual(Segmentation(segmentBytes: 1, elementWidth: 8).maxLength, 1)
    }
}
