/// Every error HybridSync throws.
///
/// Errors caused by input from outside (a peer, a message, the caller's arguments) are always thrown,
/// never trapped on. Each case names what was wrong and, for waits, who was being waited for. The
/// families whose details are free text carry a code (`ArgumentCode`, `MessageCode`,
/// `CheckpointCode`) that a caller can switch on; `kind` and `code` give every error a stable pair of
/// numbers for other languages. `Docs/Errors.md` lists them with what a caller should do.
public enum HybridSyncError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The caller passed an argument that cannot be used: `code` says what kind of problem, the text
    /// names the argument and why.
    case invalidArgument(ArgumentCode, String)
    /// Ranks disagree on a tensor: `field` (name, dtype, count, op or the tensor list) differs between
    /// `rankA` (value `valueA`) and `rankB` (value `valueB`). Raised identically on every rank.
    case mismatch(tensor: String, field: String, rankA: Int, valueA: String, rankB: Int, valueB: String)
    /// Some ranks did not submit `tensor` within `seconds`.
    case stalled(tensor: String, missingRanks: [Int], seconds: Double)
    /// A wait passed its deadline; `operation` was waiting for `waitingFor` (a rank, node or address).
    case timeout(operation: String, waitingFor: String, seconds: Double)
    /// A call into a C library failed: `library` ("MPI" or "ZeroMQ"), the C function, the code and text.
    case transport(library: String, call: String, code: Int32, message: String)
    /// A message could not be decoded: `code` says which part was wrong, the text what. Nothing was
    /// applied.
    case malformedMessage(MessageCode, String)
    /// A message is larger than the configured bound.
    case oversizeMessage(bytes: Int, limit: Int)
    /// A peer (node, rank) is gone: it missed its heartbeats or its connection failed.
    case peerDied(peer: String, reason: String)
    /// An earlier failure left this communicator or client unusable; the text names that failure.
    case unusable(String)
    /// A table is unknown to the server.
    case unknownTable(String)
    /// A table or tensor was given data of the wrong shape or element type.
    case shapeMismatch(what: String, expected: String, got: String)
    /// The remote side reported an error it could not send as one of these cases; `peer` is who.
    case remote(peer: String, message: String)
    /// A checkpoint could not be written or read, is damaged, of another format, or does not fit this
    /// job: `code` says which, `file` names the file or folder.
    case checkpoint(CheckpointCode, file: String, reason: String)
    /// A message that its authenticated sender may not send (it claims another node's id); `member` is
    /// who the connection was authenticated as.
    case forgedSender(member: String, claimed: String)
    /// Every copy of some rows is gone (each server holding them died): `shards` names the consistent
    /// hash's partitions lost, `reason` the deaths. Training cannot go on without them; resume from the
    /// last checkpoint.
    case dataLost(shards: [Int], reason: String)

    public var description: String {
        switch self {
        case let .invalidArgument(code, s): return "invalid argument (\(code)): \(s)"
        case let .mismatch(tensor, field, rankA, valueA, rankB, valueB):
            return "mismatched \(field) for tensor '\(tensor)': rank \(rankA) sent \(valueA), but rank \(rankB) sent \(valueB)"
        case let .stalled(tensor, missing, seconds):
            return "stalled: ranks \(missing) have not submitted tensor '\(tensor)' within \(formatSeconds(seconds))"
        case let .timeout(operation, waitingFor, seconds):
            return "timeout: \(operation) waited \(formatSeconds(seconds)) for \(waitingFor)"
        case let .transport(library, call, code, message):
            return "\(library) call \(call) failed with code \(code): \(message)"
        case let .malformedMessage(code, s): return "malformed message (\(code)): \(s)"
        case let .oversizeMessage(bytes, limit): return "oversize message: \(bytes) bytes exceeds the limit of \(limit)"
        case let .peerDied(peer, reason): return "peer \(peer) died: \(reason)"
        case .unusable(let s): return "unusable after an earlier failure: \(s)"
        case .unknownTable(let t): return "unknown table '\(t)'"
        case let .shapeMismatch(what, expected, got): return "\(what): expected \(expected), got \(got)"
        case let .remote(peer, message): return "\(peer) reported: \(message)"
        case let .checkpoint(code, file, reason): return "checkpoint file \(file) (\(code)): \(reason)"
        case let .forgedSender(member, claimed): return "a message from member '\(member)' claims to come from \(claimed)"
        case let .dataLost(shards, reason):
            return
                "rows lost: every copy of shard(s) \(shards.map(String.init).joined(separator: ", ")) is gone (\(reason)); restart the job with --resume from its last checkpoint"
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    let ms = (s * 1000).rounded()
    return ms < 10_000 ? "\(Int(ms)) ms" : "\(Int(s.rounded())) s"
}
