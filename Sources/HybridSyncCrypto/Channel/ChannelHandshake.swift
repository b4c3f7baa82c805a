import HybridSyncCore

/// The handshake of a secure link, as an I/O-free exchange of three frames (`ChannelFrame`): a Noise
/// KK-style pattern over X25519 in which both sides know the other's static key (the initiator pins the
/// job's listening key; the responder looks the initiator's static key up among the members).
///
///     hello    -> e_i, s_i                 (s_i in the clear: it names the member, it is not secret)
///     welcome  <- e_r, tag_r               (proves the responder holds the listening secret)
///     confirm  -> tag_i                    (proves the initiator holds s_i's secret)
///
/// Both sides compute ee = DH(e_i, e_r), es = DH(e_i, S), se = DH(s_i, e_r), ss = DH(s_i, S) and
/// h = SHA-256("HybridSync channel 1" | e_i | s_i | S | e_r), then with HKDF-SHA-256 (salt h, input
/// ee | es | se | ss) one AES-256-GCM key per direction. The ephemeral keys make every session's keys
/// new (forward secrecy, and no nonce can repeat under a key across reconnects or restarts); tag_r and
/// tag_i are AES-GCM tags over h under the responder's and the initiator's keys at nonce 0.
package enum ChannelHandshake {
    static let protocolName = Array("HybridSync channel 1".utf8)

    /// Derives the session from the four shared secrets.
    static func session(ikm: [UInt8], transcript: [UInt8], initiator: Bool) throws -> ChannelSession {
        let k = try SHA256.hkdf(secret: ikm, salt: transcript, infos: [Array("initiator to responder".utf8), Array("responder to initiator".utf8)])
        return try ChannelSession(send: initiator ? k[0] : k[1], receive: initiator ? k[1] : k[0], transcript: transcript)
    }

    static func transcript(_ ei: [UInt8], _ si: [UInt8], _ server: [UInt8], _ er: [UInt8]) throws -> [UInt8] {
        try SHA256.hash([protocolName, ei, si, server, er])
    }
}

/// The initiator's side: made when a node connects, finished by the responder's welcome.
package struct ChannelInitiator {
    private let keys: ChannelKeys
    private let ephemeral: X25519Key

    /// A handshake with a fresh ephemeral key.
    package init(keys: ChannelKeys) throws {
        self.keys = keys
        ephemeral = try X25519Key.generate()
    }

    /// The hello frame to send first.
    package var hello: [UInt8] { ChannelFrame.make(.hello, ephemeral.publicKey + keys.own.publicKey) }

    /// Checks the welcome frame; returns the session and the confirm frame to send before anything
    /// sealed. Throws `malformedMessage(.channel)` for a welcome that is not from the job's listening key
    /// (or not for this handshake).
    package func finish(welcome: UnsafeRawBufferPointer) throws -> (session: ChannelSession, confirm: [UInt8]) {
        guard welcome.count == ChannelFrame.welcomeBytes, ChannelFrame.kind(of: welcome) == .welcome else {
            throw HybridSyncError.malformedMessage(.channel, "a welcome frame is \(ChannelFrame.welcomeBytes) bytes")
        }
        let er = Array(welcome[5..<37])
        let server = keys.listening.publicKey
        let ikm =
            try ephemeral.sharedSecret(with: er) + ephemeral.sharedSecret(with: server)
            + keys.own.sharedSecret(with: er) + keys.own.sharedSecret(with: server)
        let h = try ChannelHandshake.transcript(ephemeral.publicKey, keys.own.publicKey, server, er)
        let session = try ChannelHandshake.session(ikm: ikm, transcript: h, initiator: true)
        guard try session.checkHandshakeTag(UnsafeRawBufferPointer(rebasing: welcome[37..<53])) else {
            throw HybridSyncError.malformedMessage(.channel, "the welcome does not verify: the peer does not hold the job's listening key")
        }
        return (session, ChannelFrame.make(.confirm, try session.handshakeTag()))
    }
}

/// The responder's side, between its welcome and the initiator's confirm.
package struct ChannelResponder {
    /// The session, usable once `confirm` has verified.
    package let session: ChannelSession
    /// The member the initiator's static key belongs to.
    package let identity: String
    /// The welcome frame to send back.
    package let welcome: [UInt8]

    /// Answers `hello`. Throws `malformedMessage(.channel)` for a malformed hello or one whose static key
    /// is not a member's: nothing is sent back then.
    package init(hello: UnsafeRawBufferPointer, keys: ChannelKeys) throws {
        guard hello.count == ChannelFrame.helloBytes, ChannelFrame.kind(of: hello) == .hello else {
            throw HybridSyncError.malformedMessage(.channel, "a hello frame is \(ChannelFrame.helloBytes) bytes")
        }
        let ei = Array(hello[5..<37]), si = Array(hello[37..<69])
        guard let identity = keys.members[si] else { throw HybridSyncError.malformedMessage(.channel, "not a member of this job") }
        let ephemeral = try X25519Key.generate()
        let ikm =
            try ephemeral.sharedSecret(with: ei) + keys.listening.sharedSecret(with: ei)
            + ephemeral.sharedSecret(with: si) + keys.listening.sharedSecret(with: si)
        let h = try ChannelHandshake.transcript(ei, si, keys.listening.publicKey, ephemeral.publicKey)
        session = try ChannelHandshake.session(ikm: ikm, transcript: h, initiator: false)
        self.identity = identity
        welcome = ChannelFrame.make(.welcome, ephemeral.publicKey + (try session.handshakeTag()))
    }

    /// Whether `confirm` proves the initiator holds its static secret.
    package func confirm(_ frame: UnsafeRawBufferPointer) throws -> Bool {
        guard frame.count == ChannelFrame.confirmBytes, ChannelFrame.kind(of: frame) == .confirm else { return false }
        return try session.checkHandshakeTag(UnsafeRawBufferPointer(rebasing: frame[5..<21]))
    }
}
