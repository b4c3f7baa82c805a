import CZeroMQ
import HybridSyncCore

/// The ZeroMQ authentication handler (ZAP, RFC 27) of one context: libzmq asks it about every peer that
/// connects to a CURVE socket of the context, and it lets in only the job's members, answering with the
/// member's identity as the user id (which then travels with every message of the connection as
/// `User-Id`). Polled by the node's own I/O thread with its other sockets, so no thread of its own.
final class ZAPHandler {
    let socket: ZMQSocket
    private let members: [[UInt8]: String]
    /// Called with the peer's address for every refused handshake.
    private let onRefused: (String) -> Void

    init(_ context: ZMQContext, members: [String: String], onRefused: @escaping (String) -> Void) throws {
        socket = try ZMQSocket(context, kind: .rep)
        _ = try socket.bind("inproc://zeromq.zap.01")
        var byKey: [[UInt8]: String] = [:]
        for (key, identity) in members {
            if let raw = z85Decode(key) { byKey[raw] = identity }
        }
        self.members = byKey
        self.onRefused = onRefused
    }

    /// Answers every waiting request.
    func serve() throws {
        while let request = try socket.receive() {
            // version, request id, domain, address, routing id, mechanism, then the credentials. A REP
            // socket must answer every request, so a short one is refused rather than skipped.
            let f = request.map { $0.bytes }
            guard f.count >= 6 else {
                onRefused("a malformed authentication request")
                try socket.send([
                    .bytes(Array("1.0".utf8)), .bytes(f.count > 1 ? f[1] : []), .bytes(Array("500".utf8)),
                    .bytes(Array("malformed ZAP request".utf8)), .bytes([]), .bytes([]),
                ])
                continue
            }
            let address = String(decoding: f[3], as: UTF8.self)
            let mechanism = String(decoding: f[5], as: UTF8.self)
            var identity: String?
            if mechanism == "CURVE", request.count >= 7 { identity = members[f[6]] }
            if identity == nil { onRefused(address.isEmpty ? "unknown address" : address) }
            let reply: [[UInt8]] = [
                Array("1.0".utf8), f[1],
                Array((identity == nil ? "400" : "200").utf8),
                Array((identity == nil ? "not a member of this job" : "OK").utf8),
                Array((identity ?? "").utf8), [],
            ]
            try socket.send(reply.map { .bytes($0) })
        }
    }
}

/// The 32 bytes of a 40-character Z85 key; nil if it is not one.
func z85Decode(_ key: String) -> [UInt8]? {
    guard key.utf8.count == 40 else { return nil }
    var out = [UInt8](repeating: 0, count: 32)
    let ok = key.withCString { zmq_z85_decode(&out, $0) != nil }
    return ok ? out : nil
}
