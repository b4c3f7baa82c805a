/// The first frame of every message on a secure link says what the message is. Layouts (integers
/// little-endian):
///
///     hello    magic u32 | kind u8 | initiator's ephemeral key (32) | initiator's static key (32)
///     welcome  magic u32 | kind u8 | responder's ephemeral key (32) | tag (16)
///     confirm  magic u32 | kind u8 | tag (16)
///     sealed   magic u32 | kind u8 | counter u64 | pieces u32 | segment length u64 |
///              length u64 per piece; then the pieces (ciphertext, one frame each), then a frame of
///              the tags, 16 bytes a segment (`ChannelSegments`)
///     reset    magic u32 | kind u8      (a responder without a session for this connection)
///
/// A sealed message's header frame is the additional authenticated data of each of its segments, so
/// the counter, the number of frames, the cut into segments and each frame's length are authenticated
/// with the bytes.
package enum ChannelFrame {
    /// "HSC1".
    package static let magic: UInt32 = 0x3143_5348
    /// Most frames one sealed message may carry.
    package static let maxPieces = 4096

    /// What a channel frame is.
    package enum Kind: UInt8, Sendable {
        case hello = 1, welcome = 2, confirm = 3, sealed = 4, reset = 5
    }

    static let helloBytes = 5 + 64
    static let welcomeBytes = 5 + 32 + 16
    static let confirmBytes = 5 + 16

    /// The kind of the channel frame `header`, or nil if it is not one.
    package static func kind(of header: UnsafeRawBufferPointer) -> Kind? {
        guard header.count >= 5, header.loadUnaligned(as: UInt32.self).littleEndian == magic else { return nil }
        return Kind(rawValue: header[4])
    }

    /// A frame of `kind` followed by `body`.
    static func make(_ kind: Kind, _ body: [UInt8] = []) -> [UInt8] {
        var out = withUnsafeBytes(of: magic.littleEndian) { Array($0) }
        out.append(kind.rawValue)
        return out + body
    }

    /// The reset frame.
    package static let reset = make(.reset)
}

extension UnsafeRawBufferPointer {
    /// The little-endian integer at `offset` (the caller checked the bounds).
    func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
