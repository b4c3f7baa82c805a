import COpenSSL
import HybridSyncCore

/// An X25519 private key (RFC 7748) and its public key, 32 bytes each, through OpenSSL's EVP. The same
/// Curve25519 keys CurveZMQ uses, so a job's key files serve both.
package struct X25519Key: Sendable {
    /// The 32-byte secret scalar (clamped by OpenSSL when used).
    package let secret: [UInt8]
    /// The 32-byte public point.
    package let publicKey: [UInt8]

    /// The key whose secret is `secret` (32 bytes); throws `invalidArgument` otherwise.
    package init(secret: [UInt8]) throws {
        guard secret.count == 32 else { throw HybridSyncError.invalidArgument(.configuration, "an X25519 secret key is 32 bytes, not \(secret.count)") }
        self.secret = secret
        let key = try X25519Key.privateKey(secret)
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: 32)
        var n = 32
        try openSSLCall("EVP_PKEY_get_raw_public_key") { EVP_PKEY_get_raw_public_key(key, &out, &n) }
        publicKey = out
    }

    /// A fresh random key.
    package static func generate() throws -> X25519Key { try X25519Key(secret: SecureRandom.bytes(32)) }

    /// The shared secret with `peer`'s 32-byte public key. Throws `transport` for a point that gives the
    /// all-zero secret (a low-order point: OpenSSL refuses it), `invalidArgument` for a wrong length.
    package func sharedSecret(with peer: [UInt8]) throws -> [UInt8] {
        guard peer.count == 32 else { throw HybridSyncError.invalidArgument(.configuration, "an X25519 public key is 32 bytes, not \(peer.count)") }
        let mine = try X25519Key.privateKey(secret)
        defer { EVP_PKEY_free(mine) }
        guard let theirs = EVP_PKEY_new_raw_public_key(hs_ossl_pkey_x25519(), nil, peer, 32) else {
            throw openSSLError("EVP_PKEY_new_raw_public_key")
        }
        defer { EVP_PKEY_free(theirs) }
        guard let ctx = EVP_PKEY_CTX_new(mine, nil) else { throw openSSLError("EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try openSSLCall("EVP_PKEY_derive_init") { EVP_PKEY_derive_init(ctx) }
        try openSSLCall("EVP_PKEY_derive_set_peer") { EVP_PKEY_derive_set_peer(ctx, theirs) }
        var out = [UInt8](repeating: 0, count: 32)
        var n = 32
        try openSSLCall("EVP_PKEY_derive") { EVP_PKEY_derive(ctx, &out, &n) }
        guard n == 32, out.contains(where: { $0 != 0 }) else { throw openSSLError("EVP_PKEY_derive (all-zero secret)") }
        return out
    }

    private static func privateKey(_ secret: [UInt8]) throws -> OpaquePointer {
        guard let key = EVP_PKEY_new_raw_private_key(hs_ossl_pkey_x25519(), nil, secret, 32) else {
            throw openSSLError("EVP_PKEY_new_raw_private_key")
        }
        return key
    }
}
