import COpenSSL
import HybridSyncCore

/// SHA-256, HMAC-SHA-256 and HKDF-SHA-256 (RFC 5869) from OpenSSL's digests.
package enum SHA256 {
    /// The digest of the concatenated `parts`.
    package static func hash(_ parts: [[UInt8]]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw openSSLError("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        try openSSLCall("EVP_DigestInit_ex") { EVP_DigestInit_ex(ctx, EVP_sha256(), nil) }
        for p in parts { try openSSLCall("EVP_DigestUpdate") { EVP_DigestUpdate(ctx, p, p.count) } }
        var out = [UInt8](repeating: 0, count: 32)
        var n: UInt32 = 32
        try openSSLCall("EVP_DigestFinal_ex") { EVP_DigestFinal_ex(ctx, &out, &n) }
        return out
    }

    /// HMAC-SHA-256 of `data` under `key`.
    package static func hmac(key: [UInt8], _ data: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var n: UInt32 = 32
        guard HMAC(EVP_sha256(), key, Int32(key.count), data, data.count, &out, &n) != nil, n == 32 else { throw openSSLError("HMAC") }
        return out
    }

    /// HKDF-SHA-256: extract with `salt`, then expand to `count` bytes for each of `infos`.
    package static func hkdf(secret: [UInt8], salt: [UInt8], infos: [[UInt8]], count: Int = 32) throws -> [[UInt8]] {
        let prk = try hmac(key: salt, secret)
        return try infos.map { info in
            var out: [UInt8] = [], block: [UInt8] = []
            var i: UInt8 = 1
            while out.count < count {
                block = try hmac(key: prk, block + info + [i])
                out += block
                i += 1
            }
            return Array(out.prefix(count))
        }
    }
}
