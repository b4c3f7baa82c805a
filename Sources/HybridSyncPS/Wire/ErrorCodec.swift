import HybridSyncCore

/// Carries a `HybridSyncError` in an `error` message's meta frame, so the receiver throws the same case.
package enum ErrorCodec {
    /// Encodes `e`: a kind byte, then its fields (a family's code byte first); kinds without a wire form
    /// travel as their text.
    package static func encode(_ e: HybridSyncError) -> [UInt8] {
        var w = ByteWriter()
        switch e {
        case .unknownTable(let t): w.u8(1); w.string(t)
        case let .shapeMismatch(what, expected, got): w.u8(2); w.string(what); w.string(expected); w.string(got)
        case let .malformedMessage(code, s): w.u8(3); w.u8(code.rawValue); w.string(s)
        case let .oversizeMessage(bytes, limit): w.u8(4); w.u64(UInt64(bytes)); w.u64(UInt64(limit))
        case let .peerDied(peer, reason): w.u8(5); w.string(peer); w.string(reason)
        case let .invalidArgument(code, s): w.u8(6); w.u8(code.rawValue); w.string(s)
        case let .checkpoint(code, file, reason): w.u8(7); w.u8(code.rawValue); w.string(file); w.string(reason)
        case let .dataLost(shards, reason):
            w.u8(8); w.u32(UInt32(shards.count)); for s in shards { w.u32(UInt32(truncatingIfNeeded: s)) }; w.string(reason)
        default: w.u8(0); w.string(e.description)
        }
        return w.bytes
    }

    /// Decodes an error sent by `peer`; anything unreadable becomes `remote(peer:message:)`.
    package static func decode(_ bytes: some ByteFrame, from peer: String) -> HybridSyncError {
        let decoded: HybridSyncError? = try? bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "error from \(peer)")
            switch try r.u8("kind") {
            case 1: return .unknownTable(try r.string("table"))
            case 2: return .shapeMismatch(what: try r.string("what"), expected: try r.string("expected"), got: try r.string("got"))
            case 3: return .malformedMessage(try code(&r), try r.string("text", maxLength: 65536))
            case 4: return .oversizeMessage(bytes: Int(clamping: try r.u64("bytes")), limit: Int(clamping: try r.u64("limit")))
            case 5: return .peerDied(peer: try r.string("peer"), reason: try r.string("reason"))
            case 6: return .invalidArgument(try code(&r), try r.string("text", maxLength: 65536))
            case 7: return .checkpoint(try code(&r), file: try r.string("file"), reason: try r.string("reason", maxLength: 65536))
            case 8:
                let n = Int(try r.u32("shard count"))
                guard n <= 4096 else { throw HybridSyncError.malformedMessage(.field, "\(n) lost shards") }
                return .dataLost(shards: try (0..<n).map { _ in Int(try r.u32("shard")) }, reason: try r.string("reason", maxLength: 65536))
            default: return .remote(peer: peer, message: try r.string("text", maxLength: 65536))
            }
        }
        return decoded ?? .remote(peer: peer, message: "unreadable error message")
    }

    /// Reads a family's code byte; an unknown one makes the whole error unreadable.
    private static func code<Code: RawRepresentable<UInt8>>(_ r: inout ByteReader) throws -> Code {
        let raw = try r.u8("code")
        guard let c = Code(rawValue: raw) else { throw HybridSyncError.malformedMessage(.field, "error code \(raw)") }
        return c
    }
}
