/// Seconds as a function of a message's bytes, measured at a few sizes: one latency and one bandwidth
/// per message-size regime instead of one alpha and one beta for all sizes.
///
/// Between two measured sizes the time is linear; below the smallest it is the smallest's time (the
/// latency floor); above the largest it grows with the last regime's slope. An empty message costs
/// nothing. More bytes never cost less: a measured time below a smaller size's is raised to it.
package struct CostCurve: Sendable, Equatable {
    /// The measured sizes, ascending.
    package let bytes: [Double]
    /// The seconds at each size, non-decreasing.
    package let seconds: [Double]

    /// A curve through `samples` (any order; at least one).
    package init(_ samples: [(bytes: Double, seconds: Double)]) {
        let sorted = samples.sorted { $0.bytes < $1.bytes }
        bytes = sorted.map(\.bytes)
        var floor = 0.0
        seconds = sorted.map {
            floor = Swift.max(floor, $0.seconds); return floor
        }
    }

    /// The predicted seconds of a message of `n` bytes.
    package func seconds(_ n: Double) -> Double {
        guard n > 0, let first = bytes.first else { return 0 }
        guard bytes.count > 1 else { return seconds[0] * Swift.max(1, n / first) }
        if n <= first { return seconds[0] }
        var i = 1
        while i < bytes.count - 1 && bytes[i] < n { i += 1 }
        let slope = (seconds[i] - seconds[i - 1]) / (bytes[i] - bytes[i - 1])
        return seconds[i - 1] + slope * (n - bytes[i - 1])
    }
}
