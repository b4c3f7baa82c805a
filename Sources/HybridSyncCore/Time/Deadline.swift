/// A point in monotonic time after which a wait gives up.
public struct Deadline: Sendable, Comparable {
    /// The instant on the continuous clock.
    public let instant: ContinuousClock.Instant
    /// The length of the wait this deadline was made for, for error messages.
    public let budgetSeconds: Double

    /// A deadline `seconds` from now.
    public static func after(seconds: Double) -> Deadline {
        let clamped = Swift.max(0, Swift.min(seconds, 1e9))
        return Deadline(instant: .now + .nanoseconds(Int64(clamped * 1e9)), budgetSeconds: clamped)
    }

    /// Whether the deadline is behind us.
    public var hasPassed: Bool { ContinuousClock.now >= instant }

    /// Seconds left (never negative).
    public var remainingSeconds: Double {
        let d = instant - ContinuousClock.now
        let (s, atto) = d.components
        return Swift.max(0, Double(s) + Double(atto) / 1e18)
    }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.instant < b.instant }
}

/// Seconds elapsed since `start` on the continuous clock.
public func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let (s, atto) = (ContinuousClock.now - start).components
    return Double(s) + Double(atto) / 1e18
}
