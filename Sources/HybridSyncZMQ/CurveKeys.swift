import CZeroMQ
import HybridSyncCore
import HybridSyncCrypto

/// A Curve25519 (X25519) key pair, each key as 40 Z85 characters (the text form CurveZMQ also uses).
package struct CurveKeyPair: Sendable, Hashable {
    /// The public key: safe to share.
    package let publicKey: String
    /// The secret key: stays with its owner.
    package let secretKey: String

    /// A key pair from two Z85 keys; throws `invalidArgument` unless each is 40 Z85 characters and the
    /// public key is the secret key's.
    package init(publicKey: String, secretKey: String) throws {
        guard CurveKeyPair.isKey(publicKey), let secret = z85Decode(secretKey) else {
            throw HybridSyncError.invalidArgument(.configuration, "a key is 40 Z85 characters")
        }
        guard try X25519Key(secret: secret).publicKey == z85Decode(publicKey) else {
            throw HybridSyncError.invalidArgument(.configuration, "the public key is not the secret key's")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random key pair (OpenSSL's generator).
    package static func generate() throws -> CurveKeyPair {
        let key = try X25519Key.generate()
        return try CurveKeyPair(publicKey: z85Encode(key.publicKey), secretKey: z85Encode(key.secret))
    }

    /// Whether `key` is 40 characters of the Z85 alphabet.
    package static func isKey(_ key: String) -> Bool {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
        return key.utf8.count == 40 && key.utf8.allSatisfy(alphabet.contains)
    }
}

/// What a node needs to take part in a secured job: the key pair every listening socket of the job
/// serves with (connecting nodes pin its public key), this node's own key pair, and the job's members:
/// every node public key allowed in, with the identity it is known by.
package struct CurveSetup: Sendable {
    /// The job's listening key pair (shared by the job's scheduler and servers).
    package var server: CurveKeyPair
    /// This node's key pair, with which it opens connections.
    package var client: CurveKeyPair
    /// Public key -> identity, for every member of the job.
    package var members: [String: String]

    package init(server: CurveKeyPair, client: CurveKeyPair, members: [String: String]) {
        self.server = server
        self.client = client
        self.members = members
    }

    /// The same keys as the secure channel takes them.
    package func channelKeys() throws -> ChannelKeys {
        guard let own = z85Decode(client.secretKey), let listening = z85Decode(server.secretKey) else {
            throw HybridSyncError.invalidArgument(.configuration, "a key is 40 Z85 characters")
        }
        var byKey: [[UInt8]: String] = [:]
        for (key, identity) in members {
            if let raw = z85Decode(key) { byKey[raw] = identity }
        }
        return ChannelKeys(own: try X25519Key(secret: own), listening: try X25519Key(secret: listening), members: byKey)
    }
}

/// The 32 bytes of a 40-character Z85 key; nil if it is not one.
func z85Decode(_ key: String) -> [UInt8]? {
    guard CurveKeyPair.isKey(key) else { return nil }
    var out = [UInt8](repeating: 0, count: 32)
    let ok = key.withCString { zmq_z85_decode(&out, $0) != nil }
    return ok ? out : nil
}

/// The 40 Z85 characters of a 32-byte key.
func z85Encode(_ key: [UInt8]) -> String {
    var text = [CChar](repeating: 0, count: 41)
    _ = zmq_z85_encode(&text, key, key.count)
    return String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
