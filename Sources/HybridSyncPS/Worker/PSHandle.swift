import Dispatch
import HybridSyncCore
import Synchronization

/// A request in flight: returned by the non-blocking forms of `KVWorker`; `wait()` blocks (with the
/// request's deadline), `value` awaits.
///
/// Completed by the worker's I/O thread when every server involved has answered, or failed with the
/// first error (an error reply, the deadline, a server declared dead).
public final class PSHandle: Sendable {
    private struct State {
        var remaining: Set<Int>
        var replies: [Int: [any ByteFrame]] = [:]
        var error: HybridSyncError?
        var done = false
        var continuation: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>
    private let semaphore = DispatchSemaphore(value: 0)
    private let plan: RequestPlan?
    private let deadline: Deadline
    private let label: String

    init(parts: Set<Int>, plan: RequestPlan?, deadline: Deadline, label: String) {
        state = Mutex(State(remaining: parts))
        self.plan = plan
        self.deadline = deadline
        self.label = label
        if parts.isEmpty { finish() }
    }

    /// Records the reply of `part` (a server index, or -1 for the scheduler).
    func complete(part: Int, frames: [any ByteFrame]) {
        let finished = state.withLock { s -> Bool in
            guard !s.done, s.remaining.remove(part) != nil else { return false }
            s.replies[part] = frames
            return s.remaining.isEmpty
        }
        if finished { finish() }
    }

    /// Fails the request (first error wins).
    func fail(_ error: HybridSyncError) {
        let first = state.withLock { s -> Bool in
            guard !s.done else { return false }
            s.error = error
            return true
        }
        if first { finish() }
    }

    private func finish() {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.done = true
            defer { s.continuation = nil }
            return s.continuation
        }
        semaphore.signal()
        c?.resume()
    }

    /// Whether the request has completed (successfully or not).
    public var isDone: Bool { state.withLock { $0.done } }

    /// Blocks until done. Returns pulled rows (empty for a push). Throws the request's error.
    @discardableResult
    public func wait() throws -> [PulledRows] {
        // The I/O thread enforces the deadline; the extra second is a backstop should it be stuck.
        if semaphore.wait(timeout: .now() + .milliseconds(Int(deadline.remainingSeconds * 1000) + 1000)) == .timedOut {
            throw HybridSyncError.timeout(operation: label, waitingFor: "the worker's I/O thread", seconds: deadline.budgetSeconds)
        }
        semaphore.signal()
        return try result()
    }

    /// Awaits completion without blocking a thread.
    public var value: [PulledRows] {
        get async throws {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.done { return true }
                    s.continuation = c
                    return false
                }
                if resumeNow { c.resume() }
            }
            return try result()
        }
    }

    private func result() throws -> [PulledRows] {
        let (error, replies) = state.withLock { ($0.error, $0.replies) }
        if let error { throw error }
        guard let plan else { return [] }
        return try plan.assemble(replies: replies)
    }

    /// The scheduler's or a server's raw reply (stats, barrier).
    func reply(of part: Int) -> [any ByteFrame]? { state.withLock { $0.replies[part] } }
}
