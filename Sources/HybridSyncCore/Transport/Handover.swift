import Synchronization

/// Moves a non-`Sendable` value (a node holding a C socket) to the one thread that will use it: put in
/// on the creating thread, taken out exactly once on the running thread. After `take` the creator has
/// no access left, so the value is never used by two threads at once.
package final class Handover<Value>: @unchecked Sendable {
    private let slot: Mutex<Value?>

    package init(_ value: sending Value) { slot = Mutex(value) }

    /// The value, the first time; nil afterwards.
    package func take() -> Value? {
        slot.withLock { v in
            defer { v = nil }; return v
        }
    }
}
