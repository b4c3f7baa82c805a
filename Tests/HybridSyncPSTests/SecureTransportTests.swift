import Foundation
import HybridSyncCore
import HybridSyncCrypto
import HybridSyncPS
import HybridSyncZMQ
import Synchronization
import XCTest

/// The secure channel over real libzmq: only members get in, every message carries its member's
/// identity, and a member claiming another node's id is refused.
final class SecureTransportTests: XCTestCase {
    func testMembersGetInTheirMessagesAreBoundToTheirNodesAndOthersAreRefused() throws {
        let server = try CurveKeyPair.generate()
        let worker0 = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let members = [worker0.publicKey: "worker-0"]
        let refused = Mutex<[String]>([])
        let listener = try ZMQMessageTransport(
            maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: server, members: members),
            onRefused: { refusal in refused.withLock { $0.append("\(refusal)") } })
        let endpoint = try listener.listen("tcp://127.0.0.1:0")
        let member = try ZMQMessageTransport(maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: worker0, members: members))
        let outsider = try ZMQMessageTransport(maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: stranger, members: [:]))
        let plain = try ZMQMessageTransport(maxFrameBytes: 1 << 20)
        defer { [listener, member, outsider, plain].forEach { $0.close(lingerSeconds: 0) } }

        func message(from sender: NodeID, seq: UInt64) -> [OutgoingFrame] {
            OutboundMessage(MessageHeader(kind: .stats, sender: sender, seq: seq), .empty).frames()
        }
        let m = try member.connect(endpoint), o = try outsider.connect(endpoint), p = try plain.connect(endpoint)
        try outsider.send(message(from: NodeID(.worker, 0), seq: 1), to: .link(o))
        try plain.send(message(from: NodeID(.worker, 0), seq: 4), to: .link(p))
        try member.send(message(from: NodeID(.worker, 0), seq: 2), to: .link(m))
        try member.send(message(from: NodeID(.worker, 1), seq: 3), to: .link(m))

        var got: [InboundMessage] = []
        let deadline = Deadline.after(seconds: 10)
        // Every node polls its transport: the connecting side finishes its handshake there.
        func poll() throws {
            got += try listener.receive(until: .after(seconds: 0.05))
            for t in [member, outsider, plain] { _ = try t.receive(until: .after(seconds: 0.01)) }
        }
        while got.count < 2 && !deadline.hasPassed { try poll() }
        // Give the outsider's message time to arrive, were it let in.
        for _ in 0..<5 { try poll() }
        XCTAssertEqual(got.count, 2, "only the member's two messages arrive")
        XCTAssertEqual(got.map(\.identity), ["worker-0", "worker-0"])
        let reports = refused.withLock { $0 }
        XCTAssertEqual(reports.filter { $0.contains("not a member") }.count, 1, "the outsider's key was refused at the handshake and reported: \(reports)")
        XCTAssertGreaterThanOrEqual(reports.filter { $0.contains("without the secure channel") }.count, 1, "the plain client was reported: \(reports)")

        guard got.count == 2 else { return }
        let own = InboundEnvelope.open(got[0], maxMessageBytes: 1 << 20)
        XCTAssertNoThrow(try own.get(), "a member speaking for its own node")
        switch InboundEnvelope.open(got[1], maxMessageBytes: 1 << 20) {
        case .success: XCTFail("worker 0 posing as worker 1 was let through")
        case .failure(let r):
            guard case let .forgedSender(who, claimed) = r.error else { return XCTFail("\(r.error)") }
            XCTAssertEqual(who, "worker-0")
            XCTAssertEqual(claimed, "worker 1")
        }
    }

    /// A member's own DEALER, driving the handshake and sealing by hand, sends sealed messages again, out
    /// of order and altered: the listener refuses and reports each of those and delivers the rest.
    func testReplayedReorderedAndAlteredSealedMessagesAreRefusedAndReported() throws {
        let server = try CurveKeyPair.generate(), worker0 = try CurveKeyPair.generate()
        let setup = CurveSetup(server: server, client: worker0, members: [worker0.publicKey: "worker-0"])
        let refused = Mutex<[String]>([])
        let listener = try ZMQMessageTransport(
            maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: server, members: setup.members),
            onRefused: { refusal in refused.withLock { $0.append("\(refusal)") } })
        defer { listener.close(lingerSeconds: 0) }
        let endpoint = try listener.listen("tcp://127.0.0.1:0")
        let context = try ZMQContext()
        let raw = try ZMQSocket(context, kind: .dealer)
        defer { raw.close() }
        try raw.setLinger(milliseconds: 0)
        try raw.connect(endpoint)

        var got: [InboundMessage] = []
        let deadline = Deadline.after(seconds: 10)
        func reply() throws -> [ReceivedFrame]? {
            while !deadline.hasPassed {
                got += try listener.receive(until: .after(seconds: 0.02))
                if let frames = try raw.receive() { return frames }
            }
            return nil
        }
        let initiator = try ChannelInitiator(keys: setup.channelKeys())
        try raw.send([.bytes(initiator.hello)])
        let welcome = try XCTUnwrap(try reply(), "no welcome")
        let (session, confirm) = try welcome[0].withUnsafeBytes { try initiator.finish(welcome: $0) }
        try raw.send([.bytes(confirm)])

        func sealed(seq: UInt64) throws -> [[UInt8]] {
            let frames = try session.seal(OutboundMessage(MessageHeader(kind: .stats, sender: NodeID(.worker, 0), seq: seq), .empty).frames())
            defer { frames.forEach { $0.discard() } }
            return frames.map { $0.withUnsafeBytes { Array($0) } }
        }
        let m1 = try sealed(seq: 1), m2 = try sealed(seq: 2)
        var m3 = try sealed(seq: 3)
        let m4 = try sealed(seq: 4)
        m3[1][m3[1].count / 2] ^= 0x40
        for m in [m1, m2, m2, m1, m3, m4] { try raw.send(m.map { .bytes($0) }) }
        while got.count < 3 && !deadline.hasPassed { got += try listener.receive(until: .after(seconds: 0.05)) }
        for _ in 0..<5 { got += try listener.receive(until: .after(seconds: 0.02)) }

        let seqs = got.compactMap { try? InboundEnvelope.open($0, maxMessageBytes: 1 << 20).get().header.seq }
        XCTAssertEqual(seqs, [1, 2, 4], "the first copy of each intact message, in order")
        let reports = refused.withLock { $0 }
        XCTAssertEqual(reports.filter { $0.contains("replayed or reordered") }.count, 2, "\(reports)")
        XCTAssertEqual(reports.filter { $0.contains("does not verify") }.count, 1, "\(reports)")
        XCTAssertEqual(listener.sessionFingerprints, [session.fingerprint])
    }

    /// Each connection, and each connection after a listener's restart, has keys of its own.
    func testSessionKeysDifferPerConnectionAndPerRestart() throws {
        let server = try CurveKeyPair.generate(), worker0 = try CurveKeyPair.generate()
        let members = [worker0.publicKey: "worker-0"]
        var seen: [[UInt8]] = []
        for _ in 0..<2 {
            let listener = try ZMQMessageTransport(maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: server, members: members))
            let endpoint = try listener.listen("tcp://127.0.0.1:0")
            let member = try ZMQMessageTransport(maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: worker0, members: members))
            defer { [listener, member].forEach { $0.close(lingerSeconds: 0) } }
            for seq in 1...2 {
                let link = try member.connect(endpoint)
                try member.send(OutboundMessage(MessageHeader(kind: .stats, sender: NodeID(.worker, 0), seq: UInt64(seq)), .empty).frames(), to: .link(link))
            }
            var got = 0
            let deadline = Deadline.after(seconds: 10)
            while got < 2 && !deadline.hasPassed {
                got += try listener.receive(until: .after(seconds: 0.05)).count
                _ = try member.receive(until: .after(seconds: 0.01))
            }
            XCTAssertEqual(got, 2)
            XCTAssertEqual(listener.sessionFingerprints.count, 2)
            seen += listener.sessionFingerprints
        }
        XCTAssertEqual(Set(seen).count, 4, "two connections, twice, all with keys of their own")
    }

    func testMembershipNamesAndRegistrations() throws {
        let identity = Membership.identity([.scheduler, NodeID(.server, 0), NodeID(.worker, 3)])
        XCTAssertEqual(identity, "scheduler,server-0,worker-3")
        XCTAssertEqual(Membership.nodes(of: identity), [.scheduler, NodeID(.server, 0), NodeID(.worker, 3)])
        XCTAssertEqual(Membership.nodes(of: "worker--1,server-x,root,worker-99999999"), [], "malformed names give nothing")
        let register = { (index: Int) in
            try Membership.check(
                identity: identity, header: MessageHeader(kind: .register, sender: .unassigned(.worker), seq: 1),
                body: .register(role: .worker, address: "", preferredIndex: index))
        }
        XCTAssertNoThrow(try register(3))
        XCTAssertThrowsError(try register(4), "registering as another worker")
        XCTAssertThrowsError(
            try Membership.check(
                identity: identity, header: MessageHeader(kind: .heartbeat, sender: NodeID(.server, 1), seq: 1),
                body: .empty), "a heartbeat for another server")
    }

    /// A same-host server's Unix socket file is there while it listens and gone once it closes.
    func testAnIPCListenerRemovesItsSocketFile() throws {
        var config = PSConfig()
        config.bindHost = "127.0.0.1"
        let endpoint = config.serverListenEndpoint
        XCTAssertTrue(endpoint.hasPrefix("ipc://"), endpoint)
        let transport = try ZMQMessageTransport(maxFrameBytes: 1 << 20)
        let bound = try transport.listen(endpoint)
        let path = String(bound.dropFirst("ipc://".count))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), path)
        transport.close(lingerSeconds: 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "left behind: \(path)")
        config.sameHostIPC = false
        XCTAssertTrue(config.serverListenEndpoint.hasPrefix("tcp://127.0.0.1:"), "HYBRIDSYNC_TRANSPORT=tcp")
    }
}
