import CZeroMQ
import HybridSyncCore

/// A CURVE key pair (Curve25519), each key as 40 Z85 characters, as libzmq makes them
/// (`zmq_curve_keypair`, which uses libsodium's random source).
package struct CurveKeyPair: Sendable, Hashable {
    /// The public key: safe to share.
    package let publicKey: String
    /// The secret key: stays with its owner.
    package let secretKey: String

    /// A key pair from two Z85 keys; throws `invalidArgument` unless each is 40 Z85 characters.
    package init(publicKey: String, secretKey: String) throws {
        guard CurveKeyPair.isKey(publicKey), CurveKeyPair.isKey(secretKey) else {
            throw HybridSyncError.invalidArgument(.configuration, "a CURVE key is 40 Z85 characters")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random key pair. Throws `transport` if this libzmq has no CURVE.
    package static func generate() throws -> CurveKeyPair {
        guard zmq_has("curve") == 1 else {
            throw HybridSyncError.transport(library: "ZeroMQ", call: "zmq_has(curve)", code: -1, message: "this libzmq is built without CURVE")
        }
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        _ = try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&pub, &sec) }
        func text(_ c: [CChar]) -> String { String(decoding: c.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return try CurveKeyPair(publicKey: text(pub), secretKey: text(sec))
    }

    /// Whether `key` is 40 characters of the Z85 alphabet.
    package static func isKey(_ key: String) -> Bool {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
        return key.utf8.count == 40 && key.utf8.allSatisfy(alphabet.contains)
    }
}

/// What a node needs to take part in a CURVE-secured job: the key pair every listening socket of the
/// job serves with (clients pin its public key), this node's own client key pair, and the job's members:
/// every client public key allowed in, with the identity it is known by (the ZAP user id).
package struct CurveSetup: Sendable {
    /// The job's listening key pair (shared by the job's scheduler and servers).
    package var server: CurveKeyPair
    /// This node's key pair as a client.
    package var client: CurveKeyPair
    /// Client public key -> identity, for every member of the job.
    package var members: [String: String]

    package init(server: CurveKeyPair, client: CurveKeyPair, members: [String: String]) {
        self.server = server
        self.client = client
        self.members = members
    }
}
