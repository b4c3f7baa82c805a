import COpenSSL
import HybridSyncCore

/// AES-256-GCM under one key, in one direction, through OpenSSL's EVP (AES-NI and VAES where the CPU
/// has them). The key schedule is set once; each message takes a 12-byte nonce built from a 64-bit
/// number and a 32-bit segment index, a pair the caller never reuses under this key.
///
/// A message is any number of pieces, each encrypted or decrypted from its input to its output (the same
/// memory is allowed), so the bytes are touched once wherever they already are. Not thread-safe: one
/// thread uses it at a time.
package final class AESGCM {
    /// Bytes of the authentication tag.
    package static let tagBytes = 16
    private let ctx: OpaquePointer
    private let sealing: Bool

    /// A sealer (`sealing`) or an opener under the 32-byte `key`.
    package init(key: [UInt8], sealing: Bool) throws {
        guard key.count == 32 else { throw HybridSyncError.invalidArgument(.configuration, "an AES-256 key is 32 bytes, not \(key.count)") }
        guard let c = EVP_CIPHER_CTX_new() else { throw openSSLError("EVP_CIPHER_CTX_new") }
        ctx = c
        self.sealing = sealing
        do {
            if sealing {
                try openSSLCall("EVP_EncryptInit_ex") { EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nil, key, nil) }
            } else {
                try openSSLCall("EVP_DecryptInit_ex") { EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nil, key, nil) }
            }
        } catch {
            EVP_CIPHER_CTX_free(c)
            throw error
        }
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    /// One piece of a message: `count` bytes read at `input`, written at `output` (may be `input`).
    package struct Piece {
        package let input: UnsafeRawPointer?
        package let output: UnsafeMutableRawPointer?
        package let count: Int
        package init(input: UnsafeRawPointer?, output: UnsafeMutableRawPointer?, count: Int) {
            self.input = input
            self.output = output
            self.count = count
        }
    }

    /// Encrypts `pieces` in order as one message authenticated with `aad`, and writes its tag (16
    /// bytes) at `tag`.
    package func seal(
        nonce: UInt64, segment: UInt32 = 0, aad: UnsafeRawBufferPointer, pieces: [Piece], tag: UnsafeMutableRawPointer
    ) throws {
        precondition(sealing, "seal on an opener")  // a programming error, never input
        try begin(nonce, segment, aad)
        try run(pieces, encrypt: true)
        var n: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)
        try openSSLCall("EVP_EncryptFinal_ex") { EVP_EncryptFinal_ex(ctx, &scratch, &n) }
        try openSSLCall("EVP_CIPHER_CTX_ctrl(GET_TAG)") { EVP_CIPHER_CTX_ctrl(ctx, hs_ossl_gcm_get_tag(), Int32(AESGCM.tagBytes), tag) }
    }

    /// Decrypts `pieces` as one message authenticated with `aad` and `tag`. Returns false if the tag
    /// does not verify: the outputs then hold garbage and must not be used.
    package func open(
        nonce: UInt64, segment: UInt32 = 0, aad: UnsafeRawBufferPointer, pieces: [Piece], tag: UnsafeRawBufferPointer
    ) throws -> Bool {
        precondition(!sealing, "open on a sealer")  // a programming error, never input
        guard tag.count == AESGCM.tagBytes else { return false }
        try begin(nonce, segment, aad)
        try run(pieces, encrypt: false)
        try openSSLCall("EVP_CIPHER_CTX_ctrl(SET_TAG)") {
            EVP_CIPHER_CTX_ctrl(ctx, hs_ossl_gcm_set_tag(), Int32(AESGCM.tagBytes), UnsafeMutableRawPointer(mutating: tag.baseAddress))
        }
        var n: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)
        let ok = EVP_DecryptFinal_ex(ctx, &scratch, &n) == 1
        if !ok { ERR_clear_error() }
        return ok
    }

    /// The nonce is the segment index (4 bytes) then the number (8 bytes), little-endian.
    private func begin(_ nonce: UInt64, _ segment: UInt32, _ aad: UnsafeRawBufferPointer) throws {
        var iv = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: segment.littleEndian) { for i in 0..<4 { iv[i] = $0[i] } }
        withUnsafeBytes(of: nonce.littleEndian) { for i in 0..<8 { iv[4 + i] = $0[i] } }
        if sealing {
            try openSSLCall("EVP_EncryptInit_ex") { EVP_EncryptInit_ex(ctx, nil, nil, nil, iv) }
        } else {
            try openSSLCall("EVP_DecryptInit_ex") { EVP_DecryptInit_ex(ctx, nil, nil, nil, iv) }
        }
        var n: Int32 = 0
        if aad.count > 0 {
            let p = aad.baseAddress!.assumingMemoryBound(to: UInt8.self)
            try openSSLCall("EVP_CipherUpdate(aad)") { EVP_CipherUpdate(ctx, nil, &n, p, Int32(aad.count)) }
        }
    }

    /// Runs the cipher over every piece, in slices OpenSSL's `int` lengths can hold.
    private func run(_ pieces: [Piece], encrypt: Bool) throws {
        let slice = 1 << 30
        for piece in pieces where piece.count > 0 {
            guard let input = piece.input, let output = piece.output else { continue }
            var done = 0
            while done < piece.count {
                let n = Swift.min(slice, piece.count - done)
                var written: Int32 = 0
                let i = (input + done).assumingMemoryBound(to: UInt8.self)
                let o = (output + done).assumingMemoryBound(to: UInt8.self)
                try openSSLCall("EVP_CipherUpdate") { EVP_CipherUpdate(ctx, o, &written, i, Int32(n)) }
                done += n
            }
        }
    }
}
