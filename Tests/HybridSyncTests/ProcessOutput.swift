import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child's output, collected on a thread of its own (so a full pipe never blocks the child), that a
/// test can wait on: `wait(until:)` wakes on each chunk as it arrives, not on a timer.
final class ProcessOutput: Sendable {
    private struct State {
        var data = Data()
        var closed = false
    }
    private let state = Mutex(State())
    private let arrived = NSCondition()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                arrived.lock()
                state.withLock {
                    if chunk.isEmpty { $0.closed = true } else { $0.data.append(chunk) }
                }
                arrived.broadcast()
                arrived.unlock()
                if chunk.isEmpty { break }
            }
        }
    }

    /// What has arrived so far.
    func current() -> String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }

    /// Waits until `done(output so far)` holds, the child closes its output, or `deadline` passes (nil:
    /// no deadline); returns whether `done` held.
    @discardableResult
    func wait(until deadline: Date?, _ done: (String) -> Bool) -> Bool {
        arrived.lock()
        defer { arrived.unlock() }
        while true {
            let (text, closed) = state.withLock { (String(decoding: $0.data, as: UTF8.self), $0.closed) }
            if done(text) { return true }
            if closed { return false }
            if let deadline {
                if !arrived.wait(until: deadline) { return false }
            } else {
                arrived.wait()
            }
        }
    }

    /// Everything, once the child has closed its output.
    func text() -> String {
        wait(until: nil) { _ in false }
        return current()
    }
}

/// Waits for a name to appear in a directory, woken by inotify (Linux) rather than a timer.
enum DirectoryWatch {
    /// Returns once `directory` holds `name` (created or renamed into it), or false when `deadline`
    /// passes or `stillWaiting()` turns false (checked at each event and at least every second).
    static func wait(for name: String, in directory: String, until deadline: Date, while stillWaiting: () -> Bool) -> Bool {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard inotify_add_watch(fd, directory, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !FileManager.default.fileExists(atPath: directory + "/" + name) {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, stillWaiting() else { return false }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Int32(min(left, 1) * 1000))
            _ = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        }
        return true
    }
}
