import CHybridSync
import HybridSyncCore

/// The C status, family code and subject of an error.
struct ABIError {
    var status: hs_status
    var code: Int32 = 0
    var subject = ""
    var message: String

    init(_ error: any Error) {
        if let a = error as? ABIError {
            self = a
            return
        }
        guard let e = error as? HybridSyncError else {
            self.init(status: HS_INTERNAL, message: "\(error)")
            return
        }
        let (status, code, subject) = Self.parts(e)
        self.init(status: status, code: code, subject: subject, message: e.description)
    }

    /// The status, family code and subject of a library error.
    private static func parts(_ e: HybridSyncError) -> (hs_status, Int32, String) {
        switch e {
        case .invalidArgument(let c, _): return (HS_INVALID_ARGUMENT, Int32(c.rawValue), "")
        case .shapeMismatch(let what, _, _): return (HS_SHAPE_MISMATCH, 0, what)
        case .unknownTable(let t): return (HS_UNKNOWN_TABLE, 0, t)
        case .mismatch(let tensor, _, _, _, _, _): return (HS_MISMATCH, 0, tensor)
        case .stalled(let tensor, _, _): return (HS_STALLED, 0, tensor)
        case .timeout(_, let waitingFor, _): return (HS_TIMEOUT, 0, waitingFor)
        case .peerDied(let peer, _): return (HS_PEER_DIED, 0, peer)
        case .dataLost(let shards, _): return (HS_DATA_LOST, 0, shards.map { "\($0)" }.joined(separator: ","))
        case .unusable: return (HS_UNUSABLE, 0, "")
        case .transport(let library, _, let c, _): return (HS_TRANSPORT, c, library)
        case .malformedMessage(let c, _): return (HS_MALFORMED_MESSAGE, Int32(c.rawValue), "")
        case .oversizeMessage: return (HS_OVERSIZE_MESSAGE, 0, "")
        case .forgedSender(let member, _): return (HS_FORGED_SENDER, 0, member)
        case .remote(let peer, _): return (HS_REMOTE, 0, peer)
        case .checkpoint(let c, let file, _): return (HS_CHECKPOINT, Int32(c.rawValue), file)
        }
    }

    init(status: hs_status, code: Int32 = 0, subject: String = "", message: String) {
        self.status = status
        self.code = code
        self.subject = subject
        self.message = message
    }

    /// A bad handle or argument the C layer itself found (never a HybridSyncError's own code space:
    /// `HS_ARG_HANDLE` is the ABI's addition).
    static func argument(_ code: hs_argument_code, _ message: String, subject: String = "") -> ABIError {
        ABIError(status: HS_INVALID_ARGUMENT, code: Int32(code.rawValue), subject: subject, message: "invalid argument: \(message)")
    }

    /// Whether the error ends the job (every later call is `HS_UNUSABLE`): a failure of the job itself,
    /// not of the caller's input.
    var failsJob: Bool {
        switch status {
        case HS_INVALID_ARGUMENT, HS_SHAPE_MISMATCH, HS_UNKNOWN_TABLE, HS_CHECKPOINT, HS_OK: return false
        default: return true
        }
    }
}

extension ABIError: Error {}

/// Runs one C call: clears the thread's last error, runs `body`, and turns what it throws into a
/// status and the thread's last error. Nothing escapes as a trap.
func abiCall(_ body: () throws -> Void) -> hs_status {
    let last = LastError.current
    last.clear()
    do {
        try body()
        return HS_OK
    } catch {
        let e = ABIError(error)
        last.set(e.status, code: e.code, message: e.message, subject: e.subject)
        return e.status
    }
}
