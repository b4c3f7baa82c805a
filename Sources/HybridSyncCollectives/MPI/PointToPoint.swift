import CMPI
import HybridSyncCore
#if canImport(Glibc)
import Glibc
#endif

/// A set of outstanding nonblocking requests, each labelled with the peer rank it involves, completed
/// under a deadline.
///
/// The buffers behind the requests must stay valid until `waitAll` returns (or forever, if it throws:
/// the communicator is then marked unusable and the buffers are never reused for other data).
struct PendingRequests {
    private(set) var requests: [MPI_Request?] = []
    private(set) var peers: [Int] = []
    private let comm: Communicator

    init(_ comm: Communicator, capacity: Int = 8) {
        self.comm = comm
        requests.reserveCapacity(capacity)
        peers.reserveCapacity(capacity)
    }

    var isEmpty: Bool { requests.isEmpty }
    var count: Int { requests.count }

    /// Posts a receive of `bytes` bytes from `peer` into `buffer`.
    mutating func receive(into buffer: UnsafeMutableRawPointer, bytes: Int, from peer: Int, tag: Int32) throws {
        try Self.checkCount(bytes)
        var r: MPI_Request? = nil
        try mpiCheck(MPI_Irecv(buffer, Int32(bytes), hs_mpi_byte(), Int32(peer), tag, comm.handle, &r), "MPI_Irecv")
        comm.bytesReceived += bytes
        requests.append(r)
        peers.append(peer)
    }

    /// Posts a send of `bytes` bytes to `peer` from `buffer`.
    mutating func send(_ buffer: UnsafeRawPointer, bytes: Int, to peer: Int, tag: Int32) throws {
        try Self.checkCount(bytes)
        var r: MPI_Request? = nil
        try mpiCheck(MPI_Isend(buffer, Int32(bytes), hs_mpi_byte(), Int32(peer), tag, comm.handle, &r), "MPI_Isend")
        comm.bytesSent += bytes
        requests.append(r)
        peers.append(peer)
    }

    /// MPI counts are 32-bit: larger messages must be cut by the caller (the ring segments them).
    static func checkCount(_ bytes: Int) throws {
        guard bytes >= 0, bytes <= Int(Int32.max) else {
            throw HybridSyncError.invalidArgument("a single MPI message of \(bytes) bytes exceeds 2 GiB; cut it into pieces")
        }
    }

    /// Waits for request `index` only.
    mutating func wait(_ index: Int, deadline: Deadline, operation: String) throws {
        var poller = Poller()
        while true {
            var done: Int32 = 0
            try mpiCheck(MPI_Test(&requests[index], &done, hs_mpi_status_ignore()), "MPI_Test")
            if done != 0 { return }
            if deadline.hasPassed {
                let error = HybridSyncError.timeout(operation: operation, waitingFor: "rank \(peers[index])", seconds: deadline.budgetSeconds)
                comm.markFailed(error)
                throw error
            }
            poller.pause()
        }
    }

    /// Waits for every request; on timeout throws naming the ranks still outstanding.
    mutating func waitAll(deadline: Deadline, operation: String) throws {
        guard !requests.isEmpty else { return }
        var poller = Poller()
        let n = Int32(requests.count)
        while true {
            var done: Int32 = 0
            try mpiCheck(MPI_Testall(n, &requests, &done, hs_mpi_statuses_ignore()), "MPI_Testall")
            if done != 0 { break }
            if deadline.hasPassed {
                let error = HybridSyncError.timeout(operation: operation, waitingFor: describeOutstanding(), seconds: deadline.budgetSeconds)
                comm.markFailed(error)
                throw error
            }
            poller.pause()
        }
        requests.removeAll(keepingCapacity: true)
        peers.removeAll(keepingCapacity: true)
    }

    private mutating func describeOutstanding() -> String {
        var waiting = Set<Int>()
        for i in requests.indices {
            var done: Int32 = 0
            if MPI_Test(&requests[i], &done, hs_mpi_status_ignore()) != hs_mpi_success() || done == 0 {
                waiting.insert(peers[i])
            }
        }
        return waiting.isEmpty ? "no rank" : "rank " + waiting.sorted().map(String.init).joined(separator: ", rank ")
    }
}

/// Spins briefly, then yields, then sleeps with growing pauses (up to 1 ms) so that waiting ranks do not
/// starve an oversubscribed peer of the core it needs.
struct Poller {
    private var spins = 0

    mutating func pause() {
        spins += 1
        if spins < 200 { return }
        if spins < 2000 { sched_yield(); return }
        let micros = Swift.min(1000, (spins - 2000) / 10 + 20)
        usleep(UInt32(micros))
    }
}
