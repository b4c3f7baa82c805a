import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncZMQ
import Synchronization
import XCTest

/// CURVE over real libzmq: only members get in, every message carries its member's identity, and a
/// member claiming another node's id is refused.
final class CurveTransportTests: XCTestCase {
    func testMembersGetInTheirMessagesAreBoundToTheirNodesAndOthersAreRefused() throws {
        let server = try CurveKeyPair.generate()
        let worker0 = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let members = [worker0.publicKey: "worker-0"]
        let refused = Mutex<[String]>([])
        let listener = try ZMQMessageTransport(
            maxFrameBytes: 1 << 20, curve: CurveSetup(server: server, client: server, members: members),
            onRefused: { address in refused.withLock { $0.append(address) } })
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
        while got.count < 2 && !deadline.hasPassed {
            got += try listener.receive(until: .after(seconds: 0.1))
        }
        // Give the outsider's message time to arrive, were it let in.
        for _ in 0..<5 { got += try listener.receive(until: .after(seconds: 0.1)) }
        XCTAssertEqual(got.count, 2, "only the member's two messages arrive")
        XCTAssertEqual(got.map(\.identity), ["worker-0", "worker-0"])
        let reports = refused.withLock { $0 }
        XCTAssertEqual(reports.filter { !$0.contains("without CURVE") }.count, 1, "the outsider's key was refused by ZAP and reported: \(reports)")
        XCTAssertGreaterThanOrEqual(reports.filter { $0.contains("without CURVE") }.count, 1, "the plain client's handshake was reported: \(reports)")

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
