import CZeroMQ
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// The one place ZeroMQ return codes become thrown errors: retries `EINTR`, reports `EAGAIN` as `nil`
/// (nothing to do without blocking) and throws `HybridSyncError.transport` for everything else.
///
/// - Parameter call: the C function's name, for the message.
@inline(__always)
func zmqCall(_ call: @autoclosure () -> String, _ body: () -> Int32) throws -> Int32? {
    while true {
        let rc = body()
        if rc >= 0 { return rc }
        let code = zmq_errno()
        if code == EINTR { continue }
        if code == EAGAIN { return nil }
        throw HybridSyncError.transport(
            library: "ZeroMQ", call: call(), code: code,
            message: String(cString: zmq_strerror(code)))
    }
}
