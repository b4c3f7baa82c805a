import HybridSyncCore
import Synchronization

/// A group of ranks that can talk to one another, over a `RankTransport` (Open MPI in real jobs, memory
/// in the test kit).
///
/// Threading: a communicator is used by one thread at a time (its collectives are called in the same
/// order on every rank, as MPI requires). After a wait passes its deadline the communicator is marked
/// unusable and every later call throws `HybridSyncError.unusable`, because messages of the abandoned
/// operation may still be in flight.
public final class Communicator {
    /// The first failure, and whether it abandoned transfers (the byte counters are atomics: a monitor
    /// may read them while the collectives run).
    private struct State {
        var failure: HybridSyncError?
        var abandonedTransfers = false
    }

    private let state = Mutex(State())
    private let sent = Atomic<Int>(0)
    private let received = Atomic<Int>(0)
    /// The transport (used by the collectives; one thread at a time).
    package let transport: any RankTransport
    /// This process's rank in the group.
    public let rank: Int
    /// The number of ranks in the group.
    public let size: Int

    /// Wraps `transport`; its rank and size become the communicator's.
    package init(transport: any RankTransport) {
        self.transport = transport
        rank = transport.rank
        size = transport.size
    }

    /// Bytes this rank has handed to point-to-point sends on this communicator (counted, not estimated).
    package var bytesSent: Int { sent.load(ordering: .relaxed) }
    /// Bytes this rank has posted receives for on this communicator.
    package var bytesReceived: Int { received.load(ordering: .relaxed) }

    func count(sent: Int = 0, received: Int = 0) {
        if sent > 0 { self.sent.add(sent, ordering: .relaxed) }
        if received > 0 { self.received.add(received, ordering: .relaxed) }
    }

    /// Splits into sub-communicators: ranks passing the same `color` form one group, ordered by `key`.
    /// Collective over this communicator.
    package func split(color: Int, key: Int) throws -> Communicator {
        try checkUsable()
        return Communicator(transport: try transport.split(color: color, key: key))
    }

    /// A dissemination barrier: `ceil(log2 p)` rounds of one-byte messages, under `timeoutSeconds`.
    public func barrier(timeoutSeconds: Double = 600) throws {
        try checkUsable()
        // Heap bytes, not stack: a transfer may outlive this frame if it cannot be cancelled.
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 1)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        var k = 1
        do {
            while k < size {
                var pending = PendingTransfers(self)
                try pending.receive(into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<1]), from: (rank - k + size) % size, tag: 105)
                try pending.send(UnsafeRawBufferPointer(rebasing: bytes[1..<2]), to: (rank + k) % size, tag: 105)
                try pending.waitAll(deadline: .after(seconds: timeoutSeconds), operation: "barrier round \(k)")
                k <<= 1
            }
        } catch {
            if !hasAbandonedTransfers { bytes.deallocate() }
            throw error
        }
        bytes.deallocate()
    }

    /// Throws `unusable` if an earlier wait on this communicator failed.
    func checkUsable() throws {
        if let f = state.withLock({ $0.failure }) { throw HybridSyncError.unusable(f.description) }
    }

    /// Records a failure that leaves messages in flight; later calls throw `unusable`. `abandoned` says
    /// that some transfer could not be cancelled, so its memory must never be reused.
    func markFailed(_ error: HybridSyncError, abandoned: Bool = false) {
        state.withLock {
            if $0.failure == nil { $0.failure = error }
            if abandoned { $0.abandonedTransfers = true }
        }
    }

    /// Whether a failed operation left transfers that could not be cancelled.
    var hasAbandonedTransfers: Bool { state.withLock { $0.abandonedTransfers } }
}
