import CMPI
import HybridSyncCore
#if canImport(Glibc)
import Glibc
#endif

/// A group of ranks that can talk to one another: a thin owner of an `MPI_Comm`.
///
/// Threading: a communicator is used by one thread at a time (its collectives are called in the same
/// order on every rank, as MPI requires). After a wait passes its deadline the communicator is marked
/// unusable and every later call throws `HybridSyncError.unusable`, because messages of the abandoned
/// operation may still be in flight.
public final class Communicator: @unchecked Sendable {
    let handle: MPI_Comm
    private let owned: Bool
    /// This process's rank in the group.
    public let rank: Int
    /// The number of ranks in the group.
    public let size: Int
    private(set) var failure: HybridSyncError?
    /// Bytes this rank has handed to MPI point-to-point sends on this communicator (counted, not estimated).
    public internal(set) var bytesSent = 0
    /// Bytes this rank has posted receives for on this communicator.
    public internal(set) var bytesReceived = 0

    init(handle: MPI_Comm, owned: Bool) throws {
        self.handle = handle
        self.owned = owned
        var r: Int32 = 0, s: Int32 = 0
        try mpiCheck(MPI_Comm_rank(handle, &r), "MPI_Comm_rank")
        try mpiCheck(MPI_Comm_size(handle, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
    }

    deinit {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if owned && finalized == 0 {
            var h: MPI_Comm? = handle
            MPI_Comm_free(&h)
        }
    }

    /// Splits into sub-communicators: ranks passing the same `color` form one group, ordered by `key`.
    /// Collective over this communicator.
    public func split(color: Int, key: Int) throws -> Communicator {
        try checkUsable()
        var out: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_split(handle, Int32(color), Int32(key), &out), "MPI_Comm_split")
        guard let h = out else { throw HybridSyncError.transport(library: "MPI", call: "MPI_Comm_split", code: -1, message: "returned no communicator") }
        MPI_Comm_set_errhandler(h, hs_mpi_errors_return())
        return try Communicator(handle: h, owned: true)
    }

    /// `MPI_Barrier`. Used only where no deadline is needed (benchmarks).
    public func barrier() throws {
        try checkUsable()
        try mpiCheck(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Throws `unusable` if an earlier wait on this communicator failed.
    func checkUsable() throws {
        if let f = failure { throw HybridSyncError.unusable(f.description) }
    }

    /// Records a failure that leaves messages in flight; later calls throw `unusable`.
    func markFailed(_ error: HybridSyncError) {
        if failure == nil { failure = error }
    }
}
