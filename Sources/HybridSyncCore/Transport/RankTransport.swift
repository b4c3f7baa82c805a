/// Names one transfer posted on a `RankTransport`, until it completes or is cancelled.
package struct TransferID: Hashable, Sendable {
    package let raw: Int
    package init(_ raw: Int) { self.raw = raw }
}

/// Rank-addressed, nonblocking transfer of byte ranges: the only thing the dense path's algorithms (the
/// ring, broadcast, all-gather, negotiation) see of the network. The shape of gloo's
/// `transport::Pair`: post receives and sends of raw memory, then wait for them under a deadline.
///
/// Open MPI implements it for real jobs (`MPITransport`); an in-memory implementation runs ranks as
/// threads of one process (the test kit). Transfers between one pair of ranks with one tag are matched
/// in the order they were posted, as in MPI.
///
/// Memory contract: a buffer handed to `postReceive` or `postSend` must stay valid until the transfer
/// has completed (`wait` said so) or `cancel` has confirmed it. A transfer that `cancel` could not
/// confirm may still touch its buffer at any later time: its owner must never reuse or free that memory
/// (the collectives quarantine it and mark the communicator unusable).
///
/// Threading: one thread at a time per transport object (the rank's own), as for an MPI communicator.
package protocol RankTransport: AnyObject {
    /// This rank, in `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// A short name for logs and errors ("MPI", "memory").
    var kind: String { get }
    /// Asked while waiting: an error here (a peer the parameter server declared dead) ends the wait at
    /// once with it, instead of at the deadline.
    var interrupter: (@Sendable () -> HybridSyncError?)? { get set }

    /// Posts a receive of exactly `buffer.count` bytes from `peer`.
    func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int32) throws -> TransferID
    /// Posts a send of `buffer` to `peer`.
    func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws -> TransferID
    /// Waits until every transfer of `ids` has completed or `deadline` passes. Completed transfers are
    /// forgotten. Returns the positions in `ids` still outstanding (empty: all done).
    func wait(_ ids: [TransferID], deadline: Deadline) throws -> [Int]
    /// Cancels outstanding transfers and returns those it could not confirm (whose buffers may still be
    /// touched). Never throws: it runs on error paths.
    func cancel(_ ids: [TransferID]) -> [TransferID]
    /// Waits until a whole message of any length up to `maxBytes` from one of `peers` with `tag` has
    /// arrived, or `deadline` passes (nil). Used for negotiation, whose messages vary in size.
    func receiveMessage(fromAnyOf peers: [Int], tag: Int32, maxBytes: Int, deadline: Deadline) throws -> (peer: Int, bytes: [UInt8])?
    /// A transport over the ranks that pass the same `color`, ordered by `key`. Collective.
    func split(color: Int, key: Int) throws -> any RankTransport
}
