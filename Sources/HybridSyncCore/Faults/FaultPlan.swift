import Synchronization

/// What a fault-injecting transport does to the messages it carries: each message independently, with
/// the given probabilities, from a seeded generator (the same seed gives the same faults for the same
/// sequence of sends).
package struct FaultPlan: Sendable {
    /// Probability a message is lost.
    package var drop = 0.0
    /// Probability a message is delivered twice.
    package var duplicate = 0.0
    /// Probability a message is held for `delaySeconds` before it is sent.
    package var delay = 0.0
    package var delaySeconds = 0.02
    /// Probability a message is held back and sent after the next one to the same peer.
    package var reorder = 0.0
    /// Seed of the generator.
    package var seed: UInt64 = 1

    package init(drop: Double = 0, duplicate: Double = 0, delay: Double = 0, reorder: Double = 0, seed: UInt64 = 1) {
        self.drop = drop
        self.duplicate = duplicate
        self.delay = delay
        self.reorder = reorder
        self.seed = seed
    }
}

extension FaultPlan {
    /// Reads `drop=P,duplicate=P,delay=P,reorder=P,seed=N` (any subset, any order). Throws
    /// `invalidArgument` naming a bad entry.
    package init(parsing text: String) throws {
        self.init()
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw HybridSyncError.invalidArgument(.configuration, "fault plan entry '\(part)' is not name=value") }
            if kv[0] == "seed" {
                guard let v = UInt64(kv[1]) else { throw HybridSyncError.invalidArgument(.configuration, "fault plan seed '\(kv[1])' is not a whole number") }
                seed = v
                continue
            }
            guard let p = Double(kv[1]), (0...1).contains(p) else {
                throw HybridSyncError.invalidArgument(.configuration, "fault plan '\(kv[0])=\(kv[1])': not a probability")
            }
            switch kv[0] {
            case "drop": drop = p
            case "duplicate": duplicate = p
            case "delay": delay = p
            case "reorder": reorder = p
            default: throw HybridSyncError.invalidArgument(.configuration, "fault plan: unknown fault '\(kv[0])'")
            }
        }
    }
}

/// SplitMix64: a small, fast, seedable generator (Steele, Lea and Flood 2014) for reproducible faults.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        // `splitMix64` adds the increment itself: the standard sequence mix(s + g), mix(s + 2g), ...
        defer { state &+= 0x9E37_79B9_7F4A_7C15 }
        return splitMix64(state)
    }
    /// A uniform value in [0, 1).
    package mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Switches a test flips while a job runs: kill a node (everything it sends or receives is lost), or
/// cut it off from some peers. Shared by the test and the node's transport; thread-safe.
package final class FaultSwitch: Sendable {
    private let state = Mutex<(killed: Bool, partitioned: Set<Peer>)>((false, []))
    package init() {}
    /// From now on the node neither sends nor receives anything, as if its process had died.
    package func kill() { state.withLock { $0.killed = true } }
    /// Messages to and from these peers are lost.
    package func partition(_ peers: Set<Peer>) { state.withLock { $0.partitioned = peers } }
    /// Heals a partition.
    package func heal() { state.withLock { $0.partitioned = [] } }
    package var isKilled: Bool { state.withLock { $0.killed } }
    package func isCut(_ peer: Peer) -> Bool { state.withLock { $0.killed || $0.partitioned.contains(peer) } }
}

/// Counts of what a fault-injecting transport did.
package final class FaultCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    package init() {}
    /// This process's counters: every faulty transport made without its own counts here.
    package static let process = FaultCounters()
    func add(_ what: String) { counts.withLock { $0[what, default: 0] += 1 } }
    /// Faults injected, by kind ("dropped", "duplicated", "delayed", "reordered", "cut").
    package var snapshot: [String: Int] { counts.withLock { $0 } }
}
