import Foundation
import HybridSyncCore
import HybridSyncPS
import XCTest

final class WireCodecTests: XCTestCase {
    let sections = [
        SectionInfo(table: "emb", piece: 0, rowLength: 4, keyCount: 3, hasValues: true),
        SectionInfo(table: "wide/é", piece: 2, rowLength: 100, encoding: .float32, keyCount: 0, hasValues: false),
    ]

    func frames() -> [[UInt8]] {
        let h = MessageHeader(kind: .pushPull, sender: NodeID(.worker, 7), seq: 123_456_789_012, clock: -3, sections: sections)
        return [WireCodec.encodeHeader(h), [1, 2], [UInt8](repeating: 1, count: 24), [UInt8](repeating: 2, count: 48), [], []]
    }

    /// The committed fuzz seeds (`Tests/Fuzz/corpus`, written by an ordinary build of `hybridsync-fuzz`)
    /// are messages of this build's wire version: seeds of an older version would stop the fuzzer at
    /// the version byte. A seed is a frame count, then each frame as a little-endian u16 length and
    /// its bytes; its first frame is the header.
    func testTheCommittedFuzzSeedsAreOfThisWireVersion() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertGreaterThanOrEqual(seeds.count, 10)
        for name in seeds {
            let b = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            guard b.count >= 3, b.count >= 3 + (Int(b[1]) | Int(b[2]) << 8) else { XCTFail("\(name): cut short"); continue }
            XCTAssertNoThrow(try WireCodec.decodeHeader(Array(b[3..<(3 + (Int(b[1]) | Int(b[2]) << 8))])), name)
        }
    }

    func testRoundTrip() throws {
        let h = try WireCodec.validate(frames(), maxMessageBytes: 1 << 20)
        XCTAssertEqual(h.kind, .pushPull)
        XCTAssertEqual(h.sender, NodeID(.worker, 7))
        XCTAssertEqual(h.seq, 123_456_789_012)
        XCTAssertEqual(h.clock, -3)
        XCTAssertEqual(h.sections, sections)
    }

    func testLittleEndianLayout() {
        let header = frames()[0]
        XCTAssertEqual(Array(header[0..<4]), [0x48, 0x53, 0x50, 0x53])  // "HSPS"
        XCTAssertEqual(header[4], WireCodec.version)
        XCTAssertEqual(header[5], MessageKind.pushPull.rawValue)
        XCTAssertEqual(Array(header[8..<12]), [7, 0, 0, 3])  // worker 7: role 3 in the top byte
    }

    /// Every truncation and every single-byte corruption of the header is rejected or decoded, never a trap.
    func testCorruptInputNeverTraps() {
        let good = frames()
        for cut in 0..<good[0].count {
            var f = good
            f[0] = Array(good[0].prefix(cut))
            XCTAssertThrowsError(try WireCodec.validate(f, maxMessageBytes: 1 << 20), "cut \(cut)")
        }
        for i in 0..<good[0].count {
            for v: UInt8 in [0, 0x7F, 0xFF] {
                var f = good
                f[0][i] = v
                _ = try? WireCodec.validate(f, maxMessageBytes: 1 << 20)
            }
        }
        var f = good
        f[3].removeLast()
        XCTAssertThrowsError(try WireCodec.validate(f, maxMessageBytes: 1 << 20)) {
            guard case .malformedMessage(.frames, let text)? = $0 as? HybridSyncError else { return XCTFail("\($0)") }
            XCTAssertTrue(text.contains("values frame"), text)
        }
        XCTAssertThrowsError(try WireCodec.validate(Array(good.dropLast()), maxMessageBytes: 1 << 20))
        XCTAssertThrowsError(try WireCodec.validate(good, maxMessageBytes: 50)) {
            guard case HybridSyncError.oversizeMessage = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try WireCodec.validate([[UInt8]](), maxMessageBytes: 100))
    }

    func testErrorCodecRoundTrip() {
        let errors: [HybridSyncError] = [
            .unknownTable("t"), .shapeMismatch(what: "w", expected: "4", got: "5"),
            .malformedMessage(.frames, "m"), .oversizeMessage(bytes: 10, limit: 5),
            .peerDied(peer: "worker 2", reason: "r"), .invalidArgument(.shape, "a"),
            .checkpoint(.incompatible, file: "f", reason: "r"), .dataLost(shards: [1, 3], reason: "r"),
        ]
        for e in errors { XCTAssertEqual(ErrorCodec.decode(ErrorCodec.encode(e), from: "s"), e) }
        XCTAssertEqual(ErrorCodec.decode([UInt8](), from: "s"), .remote(peer: "s", message: "unreadable error message"))
    }

    /// Every code of every coded family reaches the receiver as the same code; a code this build does
    /// not know makes the error unreadable rather than another code.
    func testEveryErrorCodeCrossesTheWire() {
        var errors: [HybridSyncError] = HybridSyncError.ArgumentCode.allCases.map { .invalidArgument($0, "a") }
        errors += HybridSyncError.MessageCode.allCases.map { .malformedMessage($0, "m") }
        errors += HybridSyncError.CheckpointCode.allCases.map { .checkpoint($0, file: "f", reason: "r") }
        XCTAssertEqual(errors.count, 22)
        for e in errors { XCTAssertEqual(ErrorCodec.decode(ErrorCodec.encode(e), from: "s"), e) }
        var unknown = ErrorCodec.encode(.invalidArgument(.shape, "a"))
        unknown[1] = 200
        XCTAssertEqual(ErrorCodec.decode(unknown, from: "s"), .remote(peer: "s", message: "unreadable error message"))
    }

    func testTableSpecRoundTrip() throws {
        let specs = [
            TableSpec(
                name: "a", dimension: 300_000, initializer: .uniform(scale: 0.1),
                optimizer: .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8), consistency: .ssp(staleness: 3)),
            TableSpec(
                name: "b", dimension: 1, initializer: .constant(2), optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-6, initialAccumulator: 0.1),
                consistency: .bsp),
        ]
        var w = ByteWriter()
        for s in specs { s.encode(into: &w) }
        let decoded: [TableSpec] = try w.bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "t")
            return try specs.map { _ in try TableSpec.decode(from: &r) }
        }
        XCTAssertEqual(decoded, specs)
        XCTAssertEqual(specs[0].pieceCount, 5)
        XCTAssertEqual(specs[0].length(ofPiece: 4), 300_000 - 4 * 65_536)
    }

    /// Found by the fuzzer (`Launch/fuzz`): an error reply declaring an oversize message of more than
    /// Int.max bytes trapped converting the count. Now the counts are clamped.
    func testAnErrorReplyWithHugeCountsDoesNotTrap() {
        var bytes: [UInt8] = [4]
        bytes += [UInt8](repeating: 0xFF, count: 16)
        guard case let .oversizeMessage(b, limit) = ErrorCodec.decode(bytes, from: "server 0") else { return XCTFail("not decoded") }
        XCTAssertEqual(b, Int.max)
        XCTAssertEqual(limit, Int.max)
    }
}
