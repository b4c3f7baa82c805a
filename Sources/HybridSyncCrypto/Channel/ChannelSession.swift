import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// One secure link's session: an AES-256-GCM key per direction and a counter per direction, the counter
/// being the nonce. Sealing numbers messages 1, 2, 3, ...; opening takes only a counter above the last
/// one opened, so a replayed or reordered message is refused (a lost one leaves a gap, which the
/// protocol above recovers from as from any loss). Counter 0 is the handshake's tag. A message over
/// `ChannelSegments.parallelAbove` bytes is sealed and opened in segments on several cores at once.
package final class ChannelSession {
    /// One sealing context a lane, all under the sending key.
    private let sealers: [AESGCM]
    /// One opening context a lane, all under the receiving key.
    private let openers: [AESGCM]
    private let transcript: [UInt8]
    /// The counter of the last message sealed.
    private var sent: UInt64 = 0
    /// The counter of the last message opened.
    private var received: UInt64 = 0
    /// SHA-256 of both directions' keys: differs for every session (tests and logs compare it; it
    /// reveals nothing of the keys).
    package let fingerprint: [UInt8]

    init(send: [UInt8], receive: [UInt8], transcript: [UInt8]) throws {
        sealers = try (0..<ChannelSegments.lanes).map { _ in try AESGCM(key: send, sealing: true) }
        openers = try (0..<ChannelSegments.lanes).map { _ in try AESGCM(key: receive, sealing: false) }
        self.transcript = transcript
        fingerprint = try SHA256.hash([send, receive].sorted { $0.lexicographicallyPrecedes($1) })
    }

    /// The tag that ends this side's handshake frame.
    func handshakeTag() throws -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: AESGCM.tagBytes)
        try transcript.withUnsafeBytes { aad in
            try tag.withUnsafeMutableBytes { try sealers[0].seal(nonce: 0, aad: aad, pieces: [], tag: $0.baseAddress!) }
        }
        return tag
    }

    /// Whether `tag` is the peer's handshake tag.
    func checkHandshakeTag(_ tag: UnsafeRawBufferPointer) throws -> Bool {
        try transcript.withUnsafeBytes { try openers[0].open(nonce: 0, aad: $0, pieces: [], tag: tag) }
    }

    /// Seals one message: a header frame, each frame encrypted (in place for `owned` memory, which this
    /// session owns from here on; into a new buffer otherwise, the one pass a copy would make), and a
    /// frame of the segments' tags. Frees `owned` memory if it throws.
    package func seal(_ frames: [OutgoingFrame]) throws -> [OutgoingFrame] {
        guard frames.count <= ChannelFrame.maxPieces else {
            frames.forEach { $0.discard() }
            throw HybridSyncError.invalidArgument(.range, "a message of \(frames.count) frames; a secure link carries at most \(ChannelFrame.maxPieces)")
        }
        sent += 1
        let cut = ChannelSegments(sending: frames.reduce(0) { $0 + $1.count })
        var header = ChannelFrame.make(.sealed)
        withUnsafeBytes(of: sent.littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt32(frames.count).littleEndian) { header += $0 }
        withUnsafeBytes(of: UInt64(cut.length).littleEndian) { header += $0 }
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
        var tags = [UInt8](repeating: 0, count: cut.count * AESGCM.tagBytes)
        do {
            try withExtendedLifetime(frames) {
                try header.withUnsafeBytes { aad in
                    try tags.withUnsafeMutableBytes { t in
                        try cut.forEach(lanes: sealers) { s, sealer in
                            try sealer.seal(
                                nonce: sent, segment: UInt32(s), aad: aad, pieces: cut.pieces(s, of: pieces), tag: t.baseAddress! + s * AESGCM.tagBytes)
                        }
                    }
                }
            }
        } catch {
            out.forEach { $0.discard() }
            throw error
        }
        out.append(.bytes(tags))
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
    /// last, `tags` the last. On success the pieces hold the plaintext; on a refusal nothing is to be
    /// used and the session is unchanged.
    package func open(header: UnsafeRawBufferPointer, pieces: [UnsafeMutableRawBufferPointer], tags: UnsafeRawBufferPointer) throws -> Refusal? {
        let fixed = 25
        guard header.count >= fixed, ChannelFrame.kind(of: header) == .sealed else { return .malformed("no sealed header") }
        let counter = header.le(5, as: UInt64.self)
        let n = Int(header.le(13, as: UInt32.self))
        guard n == pieces.count, header.count == fixed + 8 * n else { return .malformed("its header names \(n) frames, it has \(pieces.count)") }
        for (i, p) in pieces.enumerated() where header.le(fixed + 8 * i, as: UInt64.self) != UInt64(p.count) {
            return .malformed("frame \(i) is \(p.count) bytes, its header says \(header.le(fixed + 8 * i, as: UInt64.self))")
        }
        let segment = header.le(17, as: UInt64.self)
        guard let cut = ChannelSegments(received: segment, total: pieces.reduce(0) { $0 + $1.count }) else {
            return .malformed("segments of \(segment) bytes (zero, or more than \(ChannelSegments.maxSegments) segments)")
        }
        guard tags.count == cut.count * AESGCM.tagBytes else {
            return .malformed("\(tags.count) bytes of tags for \(cut.count) segments")
        }
        guard counter > received else { return .replayed(counter: counter, last: received) }
        let all = pieces.map { AESGCM.Piece(input: $0.baseAddress, output: $0.baseAddress, count: $0.count) }
        let verified = UnsafeMutableBufferPointer<Bool>.allocate(capacity: cut.count)
        verified.initialize(repeating: false)
        defer { verified.deallocate() }
        try cut.forEach(lanes: openers) { s, opener in
            let tag = UnsafeRawBufferPointer(rebasing: tags[(s * AESGCM.tagBytes)..<((s + 1) * AESGCM.tagBytes)])
            verified[s] = try opener.open(nonce: counter, segment: UInt32(s), aad: header, pieces: cut.pieces(s, of: all), tag: tag)
        }
        guard verified.allSatisfy({ $0 }) else { return .forged }
        received = counter
        return nil
    }
}
