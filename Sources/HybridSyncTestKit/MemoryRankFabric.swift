import Foundation
import HybridSyncCore
import Synchronization

/// The in-memory network of a group of ranks running as threads of one process. A send copies into a
/// matching posted receive, or queues a copy (eager, like MPI's small messages) until a receive is
/// posted. Transfers between one pair of ranks with one tag match in posting order.
///
/// Waits block on a condition variable with the caller's deadline: nothing polls.
package final class MemoryRankFabric: Sendable {
    struct Route: Hashable {
        let from: Int, to: Int, tag: Int32
    }

    struct PostedReceive {
        let rank: Int
        let id: Int
        /// The receive buffer (an address: raw pointers are not `Sendable`).
        let address: UInt
        let count: Int
    }

    struct State {
        var posted: [Route: [PostedReceive]] = [:]
        var queued: [Route: [[UInt8]]] = [:]
        /// Outstanding transfers per rank (ids); a completed one is removed.
        var outstanding: [Set<Int>]
        /// Transfers that failed (size mismatch), per rank and id.
        var failed: [Int: [Int: HybridSyncError]] = [:]
    }

    /// The number of ranks.
    package let size: Int
    let condition = NSCondition()
    let state: Mutex<State>

    /// A fabric of `size` ranks.
    package init(size: Int) {
        self.size = size
        state = Mutex(State(outstanding: Array(repeating: [], count: size)))
    }

    /// The transport of `rank` (one per rank; use it from that rank's thread only).
    package func transport(rank: Int) -> MemoryRankTransport {
        MemoryRankTransport(fabric: self, rank: rank)
    }

    /// Runs `body` under the fabric's lock, then wakes every waiter.
    func mutate<R>(_ body: (inout State) throws -> R) rethrows -> R {
        condition.lock()
        defer { condition.broadcast(); condition.unlock() }
        return try state.withLock { try body(&$0) }
    }

    /// Waits until `ready` holds or `deadline` passes; returns whether it held.
    func waitUntil(_ deadline: Deadline, _ ready: (inout State) -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if state.withLock({ ready(&$0) }) { return true }
            let left = deadline.remainingSeconds
            if left <= 0 { return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: left))
        }
    }
}

/// One rank's view of a `MemoryRankFabric`.
package final class MemoryRankTransport: RankTransport {
    let fabric: MemoryRankFabric
    package let rank: Int
    package var size: Int { fabric.size }
    package var kind: String { "memory" }
    package var interrupter: (@Sendable () -> HybridSyncError?)?
    private var nextID = 0

    init(fabric: MemoryRankFabric, rank: Int) {
        self.fabric = fabric
        self.rank = rank
    }

    private func check(_ peer: Int) throws {
        guard (0..<size).contains(peer) else {
            throw HybridSyncError.invalidArgument(.range, "rank \(peer) is not in a group of \(size)")
        }
    }

    package func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int32) throws -> TransferID {
        try check(peer)
        nextID += 1
        let id = nextID, me = rank
        let address = UInt(bitPattern: buffer.baseAddress), count = buffer.count
        fabric.mutate { s in
            let route = MemoryRankFabric.Route(from: peer, to: me, tag: tag)
            if var q = s.queued[route], !q.isEmpty {
                let bytes = q.removeFirst()
                s.queued[route] = q
                Self.deliver(bytes, into: address, count: count, rank: me, id: id, from: peer, &s)
            } else {
                s.outstanding[me].insert(id)
                s.posted[route, default: []].append(.init(rank: me, id: id, address: address, count: count))
            }
        }
        return TransferID(id)
    }

    package func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws -> TransferID {
        try check(peer)
        nextID += 1
        let bytes = Array(buffer)
        let me = rank
        fabric.mutate { s in
            let route = MemoryRankFabric.Route(from: me, to: peer, tag: tag)
            if var q = s.posted[route], !q.isEmpty {
                let r = q.removeFirst()
                s.posted[route] = q
                s.outstanding[peer].remove(r.id)
                Self.deliver(bytes, into: r.address, count: r.count, rank: peer, id: r.id, from: me, &s)
            } else {
                s.queued[route, default: []].append(bytes)
            }
        }
        return TransferID(nextID)
    }

    /// Copies a message into a receive buffer; a length other than the buffer's fails the receive.
    private static func deliver(
        _ bytes: [UInt8], into address: UInt, count: Int, rank: Int, id: Int, from peer: Int,
        _ s: inout MemoryRankFabric.State
    ) {
        guard bytes.count == count else {
            s.failed[rank, default: [:]][id] = .malformedMessage(.length, "rank \(peer) sent \(bytes.count) bytes to a receive of \(count)")
            return
        }
        if count > 0, let dst = UnsafeMutableRawPointer(bitPattern: address) {
            bytes.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: count) }
        }
    }

    package func wait(_ ids: [TransferID], deadline: Deadline) throws -> [Int] {
        let me = rank
        var outstanding: [Int] = []
        var failure: HybridSyncError?
        _ = try interruptibleWait(deadline) { s in
            if let f = s.failed[me], let hit = ids.first(where: { f[$0.raw] != nil }) {
                failure = f[hit.raw]
                return true
            }
            outstanding = ids.indices.filter { s.outstanding[me].contains(ids[$0].raw) }
            return outstanding.isEmpty
        }
        if let failure { throw failure }
        return outstanding
    }

    /// Waits in slices of 50 ms so that `interrupter` is asked while waiting.
    private func interruptibleWait(_ deadline: Deadline, _ ready: (inout MemoryRankFabric.State) -> Bool) throws -> Bool {
        guard let interrupter else { return fabric.waitUntil(deadline, ready) }
        while true {
            let slice = Swift.min(deadline, Deadline.after(seconds: 0.05))
            if fabric.waitUntil(slice, ready) { return true }
            if let e = interrupter() { throw e }
            if deadline.hasPassed { return false }
        }
    }

    package func cancel(_ ids: [TransferID]) -> [TransferID] {
        let me = rank
        let cancelled = Set(ids.map(\.raw))
        fabric.mutate { s in
            for (route, q) in s.posted where route.to == me {
                s.posted[route] = q.filter { !cancelled.contains($0.id) }
            }
            s.outstanding[me].subtract(cancelled)
        }
        return []
    }

    package func receiveMessage(fromAnyOf peers: [Int], tag: Int32, maxBytes: Int, deadline: Deadline) throws -> (peer: Int, bytes: [UInt8])? {
        let me = rank
        var got: (Int, [UInt8])?
        _ = try interruptibleWait(deadline) { s in
            for p in peers {
                let route = MemoryRankFabric.Route(from: p, to: me, tag: tag)
                if var q = s.queued[route], !q.isEmpty {
                    got = (p, q.removeFirst())
                    s.queued[route] = q
                    return true
                }
            }
            return false
        }
        guard let (peer, bytes) = got else { return nil }
        guard bytes.count <= maxBytes else { throw HybridSyncError.oversizeMessage(bytes: bytes.count, limit: maxBytes) }
        return (peer, bytes)
    }

    package func split(color: Int, key: Int) throws -> any RankTransport {
        throw HybridSyncError.invalidArgument(.unsupported, "the in-memory transport has no sub-groups; make a fabric per group")
    }
}
