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
            try message[message.count - 1].withUnsafeBytes { try session.open(header: h, pieces: buffers, tag: $0) }
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
