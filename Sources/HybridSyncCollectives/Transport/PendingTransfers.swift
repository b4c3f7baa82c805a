import HybridSyncCore

/// The transfers of one step of a collective, each labelled with the peer rank it involves, completed
/// under a deadline.
///
/// On timeout every outstanding transfer is cancelled; if the transport cannot confirm a cancellation
/// the communicator is marked as having abandoned transfers, and the collective quarantines the memory
/// involved (it is never freed or handed back to the caller). Either way the communicator becomes
/// unusable and the error names the ranks still outstanding.
struct PendingTransfers {
    private var ids: [TransferID] = []
    private var peers: [Int] = []
    private let comm: Communicator

    init(_ comm: Communicator, capacity: Int = 8) {
        self.comm = comm
        ids.reserveCapacity(capacity)
        peers.reserveCapacity(capacity)
    }

    var isEmpty: Bool { ids.isEmpty }

    /// Posts a receive of `buffer.count` bytes from `peer` into `buffer`; returns its position.
    @discardableResult
    mutating func receive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int32) throws -> Int {
        ids.append(try comm.transport.postReceive(into: buffer, from: peer, tag: tag))
        peers.append(peer)
        comm.count(received: buffer.count)
        return ids.count - 1
    }

    /// Posts a send of `buffer` to `peer`.
    mutating func send(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws {
        ids.append(try comm.transport.postSend(buffer, to: peer, tag: tag))
        peers.append(peer)
        comm.count(sent: buffer.count)
    }

    /// Waits for the transfer at `index` only.
    mutating func wait(_ index: Int, deadline: Deadline, operation: @autoclosure () -> String) throws {
        let left = try interruptible { try comm.transport.wait([ids[index]], deadline: deadline) }
        if !left.isEmpty { try fail(operation: operation(), deadline: deadline, outstanding: [index]) }
    }

    /// Waits for every transfer; on timeout cancels them and throws naming the ranks still outstanding.
    mutating func waitAll(deadline: Deadline, operation: @autoclosure () -> String) throws {
        guard !ids.isEmpty else { return }
        let left = try interruptible { try comm.transport.wait(ids, deadline: deadline) }
        if !left.isEmpty { try fail(operation: operation(), deadline: deadline, outstanding: left) }
        ids.removeAll(keepingCapacity: true)
        peers.removeAll(keepingCapacity: true)
    }

    /// Tests every transfer once, without waiting, and forgets those completed. Returns whether none is
    /// left (a started bucket's round, `StartedReduction.advance`).
    mutating func poll() throws -> Bool {
        guard !ids.isEmpty else { return true }
        let left = try interruptible { try comm.transport.wait(ids, deadline: .after(seconds: 0)) }
        if left.count < ids.count {
            ids = left.map { ids[$0] }
            peers = left.map { peers[$0] }
        }
        return ids.isEmpty
    }

    /// Cancels every transfer still posted (on another bucket's failure) and forgets them. Returns
    /// false if the transport could not confirm every cancellation.
    mutating func cancelAll() -> Bool {
        let unconfirmed = comm.transport.cancel(ids)
        ids.removeAll()
        peers.removeAll()
        return unconfirmed.isEmpty
    }

    /// Runs a wait; if it throws (the transport's interrupter: a peer declared dead), every transfer of
    /// this step is cancelled and the communicator marked failed before the error goes on.
    private func interruptible(_ body: () throws -> [Int]) throws -> [Int] {
        do {
            return try body()
        } catch {
            let e = error as? HybridSyncError ?? .unusable("\(error)")
            let unconfirmed = comm.transport.cancel(ids)
            comm.markFailed(e, abandoned: !unconfirmed.isEmpty)
            throw e
        }
    }

    private func fail(operation: String, deadline: Deadline, outstanding: [Int]) throws -> Never {
        let waiting = Set(outstanding.map { peers[$0] }).sorted()
        let error = HybridSyncError.timeout(
            operation: operation,
            waitingFor: "rank " + waiting.map(String.init).joined(separator: ", rank "),
            seconds: deadline.budgetSeconds)
        // Cancel everything of this step, not only the late ones: nothing may touch memory afterwards.
        let unconfirmed = comm.transport.cancel(ids)
        comm.markFailed(error, abandoned: !unconfirmed.isEmpty)
        throw error
    }
}
