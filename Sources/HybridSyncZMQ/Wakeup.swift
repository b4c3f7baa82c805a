import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// A non-blocking pipe that any thread can signal and an I/O thread can poll alongside its sockets: the
/// way user code hands work to the I/O thread without touching a socket.
package final class Wakeup: @unchecked Sendable {
    /// The read end, to poll.
    package let fd: Int32
    private let writeFD: Int32

    package init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw HybridSyncError.transport(library: "libc", call: "pipe", code: errno, message: "cannot create a wakeup pipe")
        }
        for f in fds { _ = fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK) }
        fd = fds[0]
        writeFD = fds[1]
    }

    deinit {
        Glibc.close(fd)
        Glibc.close(writeFD)
    }

    /// Wakes the poller (thread-safe; a full pipe already means "wake up").
    package func signal() {
        var one: UInt8 = 1
        _ = Glibc.write(writeFD, &one, 1)
    }

    /// Clears pending signals (called by the I/O thread).
    package func drain() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while Glibc.read(fd, &buffer, buffer.count) > 0 {}
    }
}
