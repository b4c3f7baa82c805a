/// Where a state machine's timeline spans go, handed to it by its shell: the process's `Timeline`, or
/// nowhere. A machine built with `.off` (its tests, the fuzzer) never reads a clock.
package struct SpanRecorder: Sendable {
    /// Spans go to the process's `Timeline` (recorded when it is on).
    package static let process = SpanRecorder(on: true)
    /// No spans, no clock.
    package static let off = SpanRecorder(on: false)

    private let on: Bool

    /// The start of a span, or nil when not recording.
    @inline(__always)
    package func begin() -> Double? { on ? Timeline.begin() : nil }

    /// Ends the span begun at `start` (nothing when `start` is nil); the strings are only evaluated when
    /// recording.
    package func end(
        _ start: Double?, _ name: @autoclosure () -> String, row: @autoclosure () -> String, detail: @autoclosure () -> String = ""
    ) {
        guard on, let start else { return }
        Timeline.end(start, name(), row: row(), detail: detail())
    }
}
