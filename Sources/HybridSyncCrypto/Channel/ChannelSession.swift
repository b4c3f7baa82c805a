import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// One secure link's session: an AES-256-GCM key per direction and a counter per direction, the counter
/// being the nonce. Sealing numbers messages 1, 2, 3, ...; opening takes only a counter above the last
/// one opened, so a replayed or reordered message is refused (a lost one leaves a gap, which the
/// protocol above recovers from as from any loss). Counter 0 is the handshake's tag.
package final class ChannelSession {
    private let sealer: AESGCM
    private let opener: AESGCM
    private let transcript: [UInt8]
    /// The counter of the last message sealed.
    private var sent: UInt64 = 0
    /// The counter of the last message opened.
    private var received: UInt64 = 0
    /// SHA-256 of both directions' keys: differs for every session (tests and logs compare it; it
    /// reveals nothing of the keys).
    package let fingerprint: [UInt8]

    init(send: [UInt8], receive: [UInt8], transcript: [UInt8]) throws {
        sealer = try AESGCM(key: send, sealing: true)
        opener = try AESGCM(key: receive, sealing: false)
        self.transcript = transcript
        fingerprint = try SHA256.hash([send, receive].sorted { $0.lexicographicallyPrecedes($1) })
    }

    /// The tag that ends this side's handshake frame.
    func handshakeTag() throws -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: AESGCM.tagBytes)
        try transcript.withUnsafeBytes { aad in
            try tag.withUnsafeMutableBytes { try sealer.seal(nonce: 0, aad: aad, pieces: [], tag: $0.baseAddress!) }
        }
        return tag
    }

    /// Whether `tag` is the peer's handshake tag.
    func checkHandshakeTag(_ tag: UnsafeRawBufferPointer) throws -> Bool {
        try transcript.withUnsafeBytes { try opener.open(nonce: 0, aad: $0, pieces: [], tag: tag) }
    }

    /// Seals one message: a header frame, each frame encrypted (in place for `owned` memory, which this
    /// session owns from here on; into a new buffer otherwise, the one pass a copy would make), and the
    /// tag. Frees `owned` memory if it throws.
    package func seal(_ frames: [OutgoingFrame]) throws -> [OutgoingFrame] {
        guard frames.count <= ChannelFrame.maxPieces else {
            frames.forEach { $0.discard() }
            throw HybridSyncError.invalidArgument(.range, "a message of \(frames.count) frames; a secure link carries at most \(ChannelFrame.maxPieces)")
        }
        sent += 1
        var header = ChannelFrame.make(.sealed)
        withUnsafeBytes(of: sent.littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt32(frames.count).littleEndian) { header += $0 }
        for f in frames { withUnsafeBytes(of: UInt64(f.count).littleEndian) { header += $0 } }
        var out: [OutgoingFrame] = [.bytes(header)]
        var pieces: [AESGCM.Piece] = []
        for f in frames {
            switch f {
            case .owned(let p, let n):
                pieces.append(AESGCM.Piece(input: p, output: p, count: n))
                out.append(f)
            case .bytes, .shared:
                let n = f.count
                let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(n, 1), alignment: 64)
                f.withUnsafeBytes { pieces.append(AESGCM.Piece(input: $0.baseAddress, output: p, count: n)) }
                out.append(.owned(p, count: n))
            }
        }
        var tag = [UInt8](repeating: 0, count: AESGCM.tagBytes)
        do {
            try withExtendedLifetime(frames) {
                try header.withUnsafeBytes { aad in
                    try tag.withUnsafeMutableBytes { try sealer.seal(nonce: sent, aad: aad, pieces: pieces, tag: $0.baseAddress!) }
                }
            }
        } catch {
            out.forEach { $0.discard() }
            throw error
        }
        out.append(.bytes(tag))
        return out
    }

    /// Why a sealed message was refused.
    package enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// Its header or frame sizes do not match.
        case malformed(String)
        /// Its counter is not above the last one opened: a replay or a reordering.
        case replayed(counter: UInt64, last: UInt64)
        /// Its tag does not verify: altered, or not sealed under this session.
        case forged

        package var description: String {
            switch self {
            case .malformed(let why): return "a malformed sealed message: \(why)"
            case .replayed(let c, let last): return "a replayed or reordered sealed message (counter \(c), last opened \(last))"
            case .forged: return "a sealed message that does not verify (altered, or not of this session)"
            }
        }
    }

    /// Opens a sealed message in place: `header` is its first frame, `pieces` the frames after it but the
    /// last, `tag` the last. On success the pieces hold the plaintext; on a refusal nothing is to be
    /// used and the session is unchanged.
    package func open(header: UnsafeRawBufferPointer, pieces: [UnsafeMutableRawBufferPointer], tag: UnsafeRawBufferPointer) throws -> Refusal? {
        guard header.count >= 17, ChannelFrame.kind(of: header) == .sealed else { return .malformed("no sealed header") }
        let counter = header.le(5, as: UInt64.self)
        let n = Int(header.le(13, as: UInt32.self))
        guard n == pieces.count, header.count == 17 + 8 * n else { return .malformed("its header names \(n) frames, it has \(pieces.count)") }
        for (i, p) in pieces.enumerated() where header.le(17 + 8 * i, as: UInt64.self) != UInt64(p.count) {
            return .malformed("frame \(i) is \(p.count) bytes, its header says \(header.le(17 + 8 * i, as: UInt64.self))")
        }
        guard counter > received else { return .replayed(counter: counter, last: received) }
        let ok = try opener.open(
            nonce: counter, aad: header, pieces: pieces.map { AESGCM.Piece(input: $0.baseAddress, output: $0.baseAddress, count: $0.count) }, tag: tag)
        guard ok else { return .forged }
        received = counter
        return nil
    }
}
