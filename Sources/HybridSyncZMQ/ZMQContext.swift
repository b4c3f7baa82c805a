import CZeroMQ
import HybridSyncCore

/// A ZeroMQ context (`zmq_ctx_new`): owns the library's I/O threads; sockets are made from it.
package final class ZMQContext {
    let handle: UnsafeMutableRawPointer

    /// Creates a context. Throws `transport` if libzmq cannot.
    package init() throws {
        guard let h = zmq_ctx_new() else {
            throw HybridSyncError.transport(library: "ZeroMQ", call: "zmq_ctx_new", code: zmq_errno(), message: "cannot create a context")
        }
        handle = h
    }

    private var terminated = false

    /// Terminates the context: waits (up to each socket's linger) for queued messages to leave. Every
    /// socket of the context must be closed first. Idempotent.
    package func terminate() {
        if !terminated { zmq_ctx_term(handle); terminated = true }
    }

    deinit { terminate() }
}
