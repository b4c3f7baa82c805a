/// A point in monotonic time after which a wait gives up.
package struct Deadline: Sendable, Comparable {
    /// The instant on the continuous clock.
    package let instant: ContinuousClock.Instant
    /// The length of the wait this deadline was made for, for error messages.
    package let budgetSeconds: Double

    /// A deadline `seconds` from now.
    package static func after(seconds: Double) -> Deadline {
        let clamped = Swift.max(0, Swift.min(seconds, 1e9))
        return Deadline(instant: .now + .nanoseconds(Int64(clamped * 1e9)), budgetSeconds: clamped)
    }

    /// A deadline already passed, for a wait of `budgetSeconds` that a caller timed itself.
    package static func passed(budgetSeconds: Double) -> Deadline {
        Deadline(instant: .now, budgetSeconds: budgetSeconds)
    }

    /// Whether the deadline is behind us.
    package var hasPassed: Bool { ContinuousClock.now >= instant }

    /// Seconds left (never negative).
    package var remainingSeconds: Double {
        let d = instant - ContinuousClock.now
        let (s, atto) = d.components
        return Swift.max(0, Double(s) + Double(atto) / 1e18)
    }

    package static func < (a: Deadline, b: Deadline) -> Bool { a.instant < b.instant }
}

/// Seconds elapsed since `start` on the continuous clock.
package func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let (s, atto) = (ContinuousClock.now - start).components
    return Double(s) + Double(atto) / 1e18
}

/// Seconds on the continuous clock since an origin fixed for the process: the `now` the node shells
/// pass their state machines, and the clock of held fault-injected messages.
package func monotonicSeconds() -> Double { secondsSince(processOrigin) }

private let processOrigin = ContinuousClock.now
