/// A `MessageTransport` decorator that drops, duplicates, delays and reorders the messages its node
/// sends, as a `FaultPlan` says, and cuts the node off when its `FaultSwitch` says so. Wraps the
/// in-memory transport or the real ZeroMQ one alike.
///
/// Only messages to peers that `applies` selects are touched (say, a worker's links to servers, not
/// to the scheduler); a killed or cut node loses everything in both directions.
package final class FaultyMessageTransport: MessageTransport {
    private let inner: any MessageTransport
    private let plan: FaultPlan
    private var rng: SplitMix64
    private let applies: @Sendable (Peer) -> Bool
    package let faults: FaultSwitch
    package let counters: FaultCounters
    /// Held messages: when they are due, and whether they wait for the next send to the same peer.
    private var held: [(due: Double, peer: Peer, frames: [OutgoingFrame], untilNextSend: Bool)] = []

    package init(
        _ inner: any MessageTransport, plan: FaultPlan, faults: FaultSwitch = FaultSwitch(),
        counters: FaultCounters = .process, applies: @escaping @Sendable (Peer) -> Bool = { _ in true }
    ) {
        self.inner = inner
        self.plan = plan
        rng = SplitMix64(seed: plan.seed)
        self.applies = applies
        self.faults = faults
        self.counters = counters
    }

    package func listen(_ endpoint: String) throws -> String { try inner.listen(endpoint) }
    package func connect(_ endpoint: String) throws -> Int { try inner.connect(endpoint) }
    package var waker: @Sendable () -> Void { inner.waker }
    package func close(lingerSeconds: Double) {
        for h in held { h.frames.forEach { $0.discard() } }
        held.removeAll()
        inner.close(lingerSeconds: lingerSeconds)
    }

    private static func copy(_ frames: [OutgoingFrame]) -> [OutgoingFrame] {
        frames.map { f in .bytes(f.withUnsafeBytes { Array($0) }) }
    }

    package func send(_ frames: [OutgoingFrame], to peer: Peer) throws {
        if faults.isCut(peer) {
            counters.add("cut")
            frames.forEach { $0.discard() }
            return
        }
        guard applies(peer) else {
            try inner.send(frames, to: peer)
            return
        }
        let r = rng.unit()
        var edge = plan.drop
        if r < edge {
            counters.add("dropped")
            frames.forEach { $0.discard() }
            return
        }
        edge += plan.duplicate
        if r < edge {
            counters.add("duplicated")
            try inner.send(Self.copy(frames), to: peer)
            try inner.send(frames, to: peer)
            return
        }
        edge += plan.delay
        if r < edge {
            counters.add("delayed")
            held.append((monotonicSeconds() + plan.delaySeconds, peer, frames, false))
            return
        }
        edge += plan.reorder
        if r < edge {
            counters.add("reordered")
            held.append((.infinity, peer, frames, true))
            return
        }
        try inner.send(frames, to: peer)
        // Messages held back for reordering go out right after the next one to their peer.
        let after = held.indices.filter { held[$0].untilNextSend && held[$0].peer == peer }
        for i in after.reversed() {
            let h = held.remove(at: i)
            try inner.send(h.frames, to: h.peer)
        }
    }

    package func receive(until deadline: Deadline) throws -> [InboundMessage] {
        try releaseDue()
        let nextDue = held.filter { !$0.untilNextSend }.map(\.due).min()
        let until = nextDue.map { Swift.min(deadline, Deadline.after(seconds: $0 - monotonicSeconds())) } ?? deadline
        let got = try inner.receive(until: until)
        try releaseDue()
        if faults.isKilled { return [] }
        return got.filter { m in
            if faults.isCut(m.from) { counters.add("cut"); return false }
            return true
        }
    }

    private func releaseDue() throws {
        let now = monotonicSeconds()
        let due = held.indices.filter { !held[$0].untilNextSend && held[$0].due <= now }
        for i in due.reversed() {
            let h = held.remove(at: i)
            if faults.isCut(h.peer) { h.frames.forEach { $0.discard() } } else { try inner.send(h.frames, to: h.peer) }
        }
    }
}
