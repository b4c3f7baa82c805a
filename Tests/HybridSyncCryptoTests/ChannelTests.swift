import HybridSyncCore
import XCTest

@testable import HybridSyncCrypto

/// The handshake and the sessions, I/O-free: who completes a handshake, and what a session opens.
final class ChannelTests: XCTestCase {
    let listening = try! X25519Key.generate()
    let worker = try! X25519Key.generate()
    let stranger = try! X25519Key.generate()

    var responderKeys: ChannelKeys { ChannelKeys(own: listening, listening: listening, members: [worker.publicKey: "worker 0"]) }
    var workerKeys: ChannelKeys { ChannelKeys(own: worker, listening: listening, members: [:]) }

    /// A completed handshake: the initiator's and the responder's sessions.
    func handshake() throws -> (ChannelSession, ChannelSession) {
        let initiator = try ChannelInitiator(keys: workerKeys)
        let responder = try initiator.hello.withUnsafeBytes { try ChannelResponder(hello: $0, keys: responderKeys) }
        XCTAssertEqual(responder.identity, "worker 0")
        let (session, confirm) = try responder.welcome.withUnsafeBytes { try initiator.finish(welcome: $0) }
        XCTAssertTrue(try confirm.withUnsafeBytes { try responder.confirm($0) })
        return (session, responder.session)
    }

    /// A sealed message as plain byte arrays: header, pieces, tag.
    func seal(_ session: ChannelSession, _ pieces: [[UInt8]]) throws -> [[UInt8]] {
        let frames = try session.seal(pieces.map { OutgoingFrame.bytes($0) })
        defer { frames.forEach { $0.discard() } }
        return frames.map { $0.withUnsafeBytes { Array($0) } }
    }

    /// Opens `message`; its plaintext pieces, or the refusal.
    func open(_ session: ChannelSession, _ message: [[UInt8]]) throws -> Result<[[UInt8]], ChannelSession.Refusal> {
        var pieces = Array(message.dropFirst().dropLast())
        let buffers = pieces.indices.map { i in UnsafeMutableRawBufferPointer.allocate(byteCount: pieces[i].count, alignment: 16) }
        defer { buffers.forEach { $0.deallocate() } }
        for (b, p) in zip(buffers, pieces) { p.withUnsafeBytes { b.copyMemory(from: $0) } }
        let refusal = try message[0].withUnsafeBytes { h in
            try message[message.count - 1].withUnsafeBytes { try session.open(header: h, pieces: buffers, tags: $0) }
        }
        if let refusal { return .failure(refusal) }
        pieces = buffers.map { Array(UnsafeRawBufferPointer($0)) }
        return .success(pieces)
    }

    func testMembersCompleteTheHandshakeAndTheirMessagesRoundTripEncrypted() throws {
        let (w, s) = try handshake()
        XCTAssertEqual(w.fingerprint, s.fingerprint)
        let rows = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let sealed = try seal(w, [[1, 2, 3], rows, []])
        XCTAssertEqual(sealed.count, 5)
        XCTAssertNotEqual(sealed[2], rows, "the rows travel encrypted")
        XCTAssertEqual(try open(s, sealed).get(), [[1, 2, 3], rows, []])
        // And the other direction, under the other key.
        let reply = try seal(s, [[9, 9]])
        XCTAssertEqual(try open(w, reply).get(), [[9, 9]])
        let echo = try seal(s, [[8]])
        XCTAssertEqual(try open(s, echo), .failure(.forged), "a direction's key does not open the other direction")
    }

    func testReplayedReorderedAndAlteredMessagesAreRefusedAndLeaveTheSessionAsItWas() throws {
        let (w, s) = try handshake()
        let first = try seal(w, [[1]]), second = try seal(w, [[2]]), third = try seal(w, [[3]])
        XCTAssertEqual(try open(s, second).get(), [[2]])
        XCTAssertEqual(try open(s, second), .failure(.replayed(counter: 2, last: 2)))
        XCTAssertEqual(try open(s, first), .failure(.replayed(counter: 1, last: 2)), "reordered")
        for (frame, byte) in [(0, 6), (1, 0), (2, 3)] {
            var altered = third
            altered[frame][byte] ^= 0x01
            XCTAssertEqual(try open(s, altered), .failure(.forged), "a bit flipped in frame \(frame)")
        }
        var truncated = third
        truncated[1] = []
        guard case .failure(.malformed) = try open(s, truncated) else { return XCTFail("a piece shorter than its header says") }
        XCTAssertEqual(try open(s, third).get(), [[3]], "the refusals changed nothing")
    }

    func testLargeMessagesAreSealedInSegmentsThatEachVerify() throws {
        let (w, s) = try handshake()
        // 3 MB in frames that straddle the segments' boundaries.
        let sizes = [5, 1_500_001, 3, 1_645_719]
        let pieces = sizes.enumerated().map { i, n in (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }
        let sealed = try seal(w, pieces)
        let cut = ChannelSegments(sending: sizes.reduce(0, +))
        XCTAssertGreaterThan(cut.count, 1, "a 3 MB message is cut into segments on a machine of \(ChannelSegments.lanes) lanes")
        XCTAssertEqual(sealed.last?.count, cut.count * AESGCM.tagBytes, "one tag a segment")
        XCTAssertEqual(try open(s, sealed).get(), pieces)

        let next = try seal(w, pieces)
        // A bit flipped in the last segment, the segments' tags swapped, a tag dropped, a different cut.
        var flipped = next
        flipped[4][flipped[4].count - 1] ^= 0x80
        XCTAssertEqual(try open(s, flipped), .failure(.forged))
        var swapped = next
        swapped[5] = Array(next[5][16..<32] + next[5][0..<16] + next[5][32...])
        XCTAssertEqual(try open(s, swapped), .failure(.forged))
        var dropped = next
        dropped[5].removeLast(16)
        guard case .failure(.malformed) = try open(s, dropped) else { return XCTFail("a tag missing") }
        var recut = next
        recut[0].withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1 << 21).littleEndian, toByteOffset: 17, as: UInt64.self) }
        XCTAssertNotEqual(try open(s, recut), .success(pieces), "the cut is authenticated")
        XCTAssertEqual(try open(s, next).get(), pieces, "the refusals changed nothing")
    }

    func testSegmentsCoverEveryByteOnceInOrder() {
        for (total, lanes) in [(0, 2), (1, 4), (1 << 20, 2), ((1 << 20) + 1, 2), (3_000_007, 3), (16 << 20, 4)] {
            let cut = ChannelSegments(sending: total, lanes: lanes)
            XCTAssertLessThanOrEqual(cut.count, Swift.max(1, lanes))
            XCTAssertEqual(ChannelSegments(received: UInt64(cut.length), total: total), cut, "the receiver reads the same cut")
            // Three pieces of odd sizes; the segments' parts, end to end, are the pieces' bytes end to end.
            let sizes = [total / 3, total / 5, total - total / 3 - total / 5]
            let base = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(total, 1), alignment: 16)
            defer { base.deallocate() }
            var at = 0
            let pieces = sizes.map { n in
                defer { at += n }
                return AESGCM.Piece(input: base + at, output: base + at, count: n)
            }
            var next = 0
            for s in 0..<cut.count {
                for part in cut.pieces(s, of: pieces) {
                    XCTAssertEqual(part.input.map { $0 - UnsafeRawPointer(base) }, next, "total \(total), segment \(s)")
                    next += part.count
                }
            }
            XCTAssertEqual(next, total)
        }
        XCTAssertNil(ChannelSegments(received: 0, total: 10))
        XCTAssertNil(ChannelSegments(received: 1, total: ChannelSegments.maxSegments + 1), "too many segments")
        XCTAssertNotNil(ChannelSegments(received: .max, total: 10))
    }

    func testANodeWithoutTheJobsKeysCompletesNoHandshake() throws {
        // A stranger's static key is not among the members: no welcome at all.
        let outsider = try ChannelInitiator(keys: ChannelKeys(own: stranger, listening: listening, members: [:]))
        XCTAssertThrowsError(try outsider.hello.withUnsafeBytes { try ChannelResponder(hello: $0, keys: responderKeys) })

        // A forger sends a member's public key with its own secrets: it gets a welcome it cannot finish,
        // and a confirm it makes up does not verify.
        let forged = try ChannelInitiator(keys: workerKeys).hello
        var hello = try ChannelInitiator(keys: ChannelKeys(own: stranger, listening: listening, members: [:])).hello
        hello.replaceSubrange(37..<69, with: worker.publicKey)
        let responder = try hello.withUnsafeBytes { try ChannelResponder(hello: $0, keys: responderKeys) }
        let impostor = try ChannelInitiator(keys: ChannelKeys(own: stranger, listening: listening, members: [:]))
        XCTAssertThrowsError(try responder.welcome.withUnsafeBytes { try impostor.finish(welcome: $0) })
        for guess in [ChannelFrame.make(.confirm, [UInt8](repeating: 0, count: 16)), Array(forged.prefix(21))] {
            XCTAssertFalse(try guess.withUnsafeBytes { try responder.confirm($0) })
        }

        // A listener without the job's listening secret: the member refuses its welcome.
        let rogue = try X25519Key.generate()
        let member = try ChannelInitiator(keys: workerKeys)
        let rogueKeys = ChannelKeys(own: rogue, listening: rogue, members: [worker.publicKey: "worker 0"])
        let rogueResponder = try member.hello.withUnsafeBytes { try ChannelResponder(hello: $0, keys: rogueKeys) }
        XCTAssertThrowsError(try rogueResponder.welcome.withUnsafeBytes { try member.finish(welcome: $0) })
    }

    func testEverySessionHasItsOwnKeys() throws {
        let sessions = try (0..<8).map { _ in try handshake().0 }
        XCTAssertEqual(Set(sessions.map(\.fingerprint)).count, 8)
        // A message of one session does not open under another, even at the counter it expects.
        let (_, other) = try handshake()
        XCTAssertEqual(try open(other, try seal(sessions[0], [[5]])), .failure(.forged))
    }
}
