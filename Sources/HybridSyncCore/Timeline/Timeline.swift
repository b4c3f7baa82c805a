import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The process's recorder of spans for the job timeline (`--timeline FILE`: a Chrome-trace JSON that
/// Perfetto and chrome://tracing open). Off unless `start(writingTo:)` was called; when off, `begin()`
/// is one relaxed atomic load and nothing else runs.
///
/// Spans carry the row they belong to ("worker 0", "server 1", "scheduler"), so one process that
/// holds several nodes draws one row per node. Times are microseconds of `CLOCK_REALTIME`, the one
/// clock every process of a host reads, so the parts of a job's ranks merge onto one time axis
/// (`TimelineFile`). Across hosts that is as good as their clock synchronisation.
///
/// Usage, at a place worth a bar in the picture:
///
///     let t = Timeline.begin()
///     ...
///     Timeline.end(t, "ring bucket", row: "worker \(rank)", detail: "\(bytes) bytes")
public enum Timeline {
    /// One finished span.
    package struct Span: Sendable {
        package let name: String
        package let row: String
        /// Microseconds since the epoch.
        package let start: Double
        package let duration: Double
        /// Shown in the viewer's details pane (sizes, counts); may be empty.
        package let detail: String
    }

    private static let recording = Atomic<Bool>(false)
    private static let state = Mutex<(path: String?, spans: [Span])>((nil, []))
    /// Spans kept at most (about 200 MB of JSON); later ones are dropped and counted.
    package static let capacity = 1_000_000
    private static let dropped = Atomic<Int>(0)

    /// Starts recording; the job's merged trace goes to `path` (see `TimelineFile`).
    public static func start(writingTo path: String) {
        state.withLock { $0.path = path }
        recording.store(true, ordering: .relaxed)
    }

    /// Stops recording and forgets what was recorded (tests; a job records until it ends).
    package static func stop() {
        recording.store(false, ordering: .relaxed)
        _ = drain()
        state.withLock { $0.path = nil }
    }

    /// The file `start(writingTo:)` named, if recording.
    package static var path: String? { recording.load(ordering: .relaxed) ? state.withLock { $0.path } : nil }

    /// The start of a span, or nil when not recording.
    @inline(__always)
    public static func begin() -> Double? { recording.load(ordering: .relaxed) ? now() : nil }

    /// Ends the span begun at `start` (nothing when `start` is nil). The name, row and detail are only
    /// evaluated when recording.
    public static func end(
        _ start: Double?, _ name: @autoclosure () -> String, row: @autoclosure () -> String,
        detail: @autoclosure () -> String = ""
    ) {
        guard let start else { return }
        let span = Span(name: name(), row: row(), start: start, duration: now() - start, detail: detail())
        state.withLock {
            if $0.spans.count < capacity { $0.spans.append(span) } else { dropped.add(1, ordering: .relaxed) }
        }
    }

    /// Records `body` as a span.
    @inline(__always) @discardableResult
    public static func span<T>(
        _ name: @autoclosure () -> String, row: @autoclosure () -> String,
        detail: @autoclosure () -> String = "", _ body: () throws -> T
    ) rethrows -> T {
        let t = begin()
        defer { end(t, name(), row: row(), detail: detail()) }
        return try body()
    }

    /// Takes the spans recorded so far, and how many were dropped for lack of room.
    package static func drain() -> (spans: [Span], dropped: Int) {
        let spans = state.withLock { s in
            defer { s.spans = [] }
            return s.spans
        }
        return (spans, dropped.exchange(0, ordering: .relaxed))
    }

    /// Microseconds of `CLOCK_REALTIME`.
    package static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
    }
}
