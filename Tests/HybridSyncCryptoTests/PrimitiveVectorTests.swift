import HybridSyncCrypto
import XCTest

/// The primitives against the published test vectors of their standards.
final class PrimitiveVectorTests: XCTestCase {
    func testX25519MatchesRFC7748() throws {
        let alice = try X25519Key(secret: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        let bob = try X25519Key(secret: hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
        XCTAssertEqual(alice.publicKey, hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
        XCTAssertEqual(bob.publicKey, hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        XCTAssertEqual(try alice.sharedSecret(with: bob.publicKey), shared)
        XCTAssertEqual(try bob.sharedSecret(with: alice.publicKey), shared)
        // A low-order point gives the all-zero secret, which is refused.
        XCTAssertThrowsError(try alice.sharedSecret(with: [UInt8](repeating: 0, count: 32)))
        XCTAssertThrowsError(try alice.sharedSecret(with: [1, 2, 3]))
    }

    func testHKDFMatchesRFC5869CaseOne() throws {
        let okm = try SHA256.hkdf(
            secret: [UInt8](repeating: 0x0b, count: 22), salt: Array(0...12), infos: [Array(0xf0...0xf9)], count: 42)
        XCTAssertEqual(okm, [hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")])
    }

    func testAESGCMMatchesTheGCMSpecCasesThirteenAndFourteen() throws {
        // McGrew and Viega's test cases 13 and 14: a zero 256-bit key, a zero 96-bit IV (this type's
        // nonce 0), no additional data; an empty plaintext, then 16 zero bytes.
        let key = [UInt8](repeating: 0, count: 32)
        let sealer = try AESGCM(key: key, sealing: true)
        let opener = try AESGCM(key: key, sealing: false)
        var tag = [UInt8](repeating: 0, count: 16)
        try tag.withUnsafeMutableBytes { try sealer.seal(nonce: 0, aad: UnsafeRawBufferPointer(start: nil, count: 0), pieces: [], tag: $0.baseAddress!) }
        XCTAssertEqual(tag, hex("530f8afbc74536b9a963b4f1c4cb738b"))

        var text = [UInt8](repeating: 0, count: 16)
        try text.withUnsafeMutableBytes { p in
            try tag.withUnsafeMutableBytes {
                try sealer.seal(
                    nonce: 0, aad: UnsafeRawBufferPointer(start: nil, count: 0),
                    pieces: [AESGCM.Piece(input: p.baseAddress, output: p.baseAddress, count: 16)], tag: $0.baseAddress!)
            }
        }
        XCTAssertEqual(text, hex("cea7403d4d606b6e074ec5d3baf39d18"))
        XCTAssertEqual(tag, hex("d0d1c8a799996bf0265b98b5d48ab919"))

        // Opening restores the plaintext; one flipped bit anywhere fails.
        func opens(_ text: [UInt8], _ tag: [UInt8]) throws -> (Bool, [UInt8]) {
            var t = text
            let ok = try t.withUnsafeMutableBytes { p in
                try tag.withUnsafeBytes {
                    try opener.open(
                        nonce: 0, aad: UnsafeRawBufferPointer(start: nil, count: 0),
                        pieces: [AESGCM.Piece(input: p.baseAddress, output: p.baseAddress, count: 16)], tag: $0)
                }
            }
            return (ok, t)
        }
        let (ok, plain) = try opens(text, tag)
        XCTAssertTrue(ok)
        XCTAssertEqual(plain, [UInt8](repeating: 0, count: 16))
        var bad = text
        bad[7] ^= 0x10
        XCTAssertFalse(try opens(bad, tag).0)
        var badTag = tag
        badTag[15] ^= 1
        XCTAssertFalse(try opens(text, badTag).0)
    }
}

/// Bytes from hexadecimal digits.
func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.makeIterator()
    while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
    return out
}
