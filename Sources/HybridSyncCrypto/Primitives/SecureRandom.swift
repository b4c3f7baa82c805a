import COpenSSL
import HybridSyncCore

/// Bytes from OpenSSL's CSPRNG (`RAND_bytes`, seeded by the kernel).
package enum SecureRandom {
    /// `count` random bytes; throws `transport` if the generator cannot deliver.
    package static func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try openSSLCall("RAND_bytes") { RAND_bytes(&out, Int32(count)) }
        return out
    }
}
