import HybridSyncCore

/// Per-worker clocks as a server sees them, and the rule of when a pull may be answered. No I/O.
///
/// A worker's clock is the number of steps it has completed (it sends `clock` after its pushes of a
/// step). A pull from a worker at clock `c` on tables with staleness `s` may be answered once the slowest
/// live worker has reached `c - s`. BSP is `s = 0`; ASP never waits.
package struct ClockTable: Sendable {
    private var clocks: [Int]
    private var dead: Set<Int> = []
    /// Largest `c - minClock` at the moment a pull was answered (any consistency model).
    package private(set) var largestAnsweredGap = 0

    package init(workers: Int) { clocks = Array(repeating: 0, count: Swift.max(0, workers)) }

    /// A table with these clocks, dead workers and recorded gap (a copy of another server's).
    package init(clocks: [Int], dead: Set<Int>, largestAnsweredGap: Int) {
        self.clocks = clocks
        self.dead = dead
        self.largestAnsweredGap = largestAnsweredGap
    }

    /// The slowest clock among live workers (`Int.max` if none).
    package var minClock: Int {
        var m = Int.max
        for (w, c) in clocks.enumerated() where !dead.contains(w) { m = Swift.min(m, c) }
        return m
    }

    /// Records that `worker` reached `clock` (clocks never go back). Returns whether the minimum rose.
    @discardableResult
    package mutating func advance(worker: Int, to clock: Int) -> Bool {
        guard clocks.indices.contains(worker), clock > clocks[worker] else { return false }
        let before = minClock
        clocks[worker] = clock
        return minClock > before
    }

    /// Marks `worker` dead; it no longer holds the others back, but waiting pulls are failed by the shell.
    package mutating func markDead(_ worker: Int) { dead.insert(worker) }

    /// Dead workers.
    package var deadWorkers: Set<Int> { dead }

    /// The clock of `worker`.
    package func clock(of worker: Int) -> Int { clocks.indices.contains(worker) ? clocks[worker] : 0 }

    /// Whether a pull at `clock` with `staleness` may be answered now.
    package func mayAnswer(clock: Int, staleness: Int) -> Bool {
        staleness == Int.max || minClock >= clock - staleness
    }

    /// Records the gap of a pull answered now (for the SSP bound check).
    package mutating func noteAnswered(clock: Int) {
        let m = minClock
        if m != Int.max { largestAnsweredGap = Swift.max(largestAnsweredGap, clock - m) }
    }
}
