/// A `RankTransport` decorator for the dense path: drops sends with a probability or by tag (the send completes
/// locally, the peer never gets it, as with a lost packet under a transport that does not resend),
/// and loses everything once its `FaultSwitch` kills the rank.
package final class FaultyRankTransport: RankTransport {
    private let inner: any RankTransport
    private var rng: SplitMix64
    private let dropProbability: Double
    private let dropTags: Set<Int32>
    package let faults: FaultSwitch
    package let counters: FaultCounters
    /// Ids of sends that were dropped (complete at once).
    private var phantom: Set<Int> = []
    private var nextPhantom = -1

    /// - Parameter dropTags: sends with these tags are always dropped (to starve one phase of a collective).
    package init(
        _ inner: any RankTransport, drop: Double = 0, dropTags: Set<Int32> = [], seed: UInt64 = 1,
        faults: FaultSwitch = FaultSwitch(), counters: FaultCounters = FaultCounters()
    ) {
        self.inner = inner
        dropProbability = drop
        self.dropTags = dropTags
        rng = SplitMix64(seed: seed)
        self.faults = faults
        self.counters = counters
    }

    package var rank: Int { inner.rank }
    package var size: Int { inner.size }
    package var kind: String { "faulty \(inner.kind)" }
    package var interrupter: (@Sendable () -> HybridSyncError?)? {
        get { inner.interrupter }
        set { inner.interrupter = newValue }
    }

    package func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int32) throws -> TransferID {
        try inner.postReceive(into: buffer, from: peer, tag: tag)
    }

    package func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws -> TransferID {
        if faults.isKilled || dropTags.contains(tag) || rng.unit() < dropProbability {
            counters.add(faults.isKilled ? "cut" : "dropped")
            nextPhantom -= 1
            phantom.insert(nextPhantom)
            return TransferID(nextPhantom)
        }
        return try inner.postSend(buffer, to: peer, tag: tag)
    }

    package func wait(_ ids: [TransferID], deadline: Deadline) throws -> [Int] {
        let real = ids.indices.filter { !phantom.contains(ids[$0].raw) }
        for id in ids { phantom.remove(id.raw) }
        let left = try inner.wait(real.map { ids[$0] }, deadline: deadline)
        return left.map { real[$0] }
    }

    package func cancel(_ ids: [TransferID]) -> [TransferID] {
        inner.cancel(ids.filter { !phantom.contains($0.raw) })
    }

    package func receiveMessage(fromAnyOf peers: [Int], tag: Int32, maxBytes: Int, deadline: Deadline) throws -> (peer: Int, bytes: [UInt8])? {
        try inner.receiveMessage(fromAnyOf: peers, tag: tag, maxBytes: maxBytes, deadline: deadline)
    }

    package func split(color: Int, key: Int) throws -> any RankTransport {
        try inner.split(color: color, key: key)
    }
}
