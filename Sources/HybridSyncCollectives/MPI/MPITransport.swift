import CMPI
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// `RankTransport` over an MPI communicator: `MPI_Isend`/`MPI_Irecv` of bytes, completed with
/// `MPI_Test`. The only file of the dense path that posts MPI requests.
///
/// Waiting: MPI has no timed wait, so `wait` tests its requests and, between tests, spins, then yields,
/// then sleeps with growing pauses up to 1 ms (so a waiting rank does not starve an oversubscribed peer).
///
/// Cancelling: `MPI_Cancel` then up to one second of `MPI_Test`; a request that neither completes nor
/// reports itself cancelled in that time is returned as unconfirmed.
final class MPITransport: RankTransport {
    let handle: MPI_Comm
    private let owned: Bool
    let rank: Int
    let size: Int
    var kind: String { "MPI" }
    var interrupter: (@Sendable () -> HybridSyncError?)?
    /// Requests by slot (a `TransferID` is a slot index); free slots are reused.
    private var slots: [MPI_Request?] = []
    private var live: [Bool] = []
    private var freeSlots: [Int] = []
    /// Reused by `wait`, so that a poll is one `MPI_Testall` over a contiguous array.
    private var batch: [MPI_Request?] = []

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

    /// MPI counts are 32-bit: larger messages must be cut by the caller (the ring segments them).
    static func checkCount(_ bytes: Int) throws {
        guard bytes >= 0, bytes <= Int(Int32.max) else {
            throw HybridSyncError.invalidArgument(.limit, "a single MPI message of \(bytes) bytes exceeds 2 GiB; cut it into pieces")
        }
    }

    private func remember(_ r: MPI_Request?) -> TransferID {
        if let i = freeSlots.popLast() {
            slots[i] = r
            live[i] = true
            return TransferID(i)
        }
        slots.append(r)
        live.append(true)
        return TransferID(slots.count - 1)
    }

    private func forget(_ i: Int) {
        live[i] = false
        slots[i] = nil
        freeSlots.append(i)
    }

    private func isLive(_ id: TransferID) -> Bool { live.indices.contains(id.raw) && live[id.raw] }

    func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int32) throws -> TransferID {
        try Self.checkCount(buffer.count)
        var r: MPI_Request? = nil
        try mpiCheck(MPI_Irecv(buffer.baseAddress, Int32(buffer.count), hs_mpi_byte(), Int32(peer), tag, handle, &r), "MPI_Irecv")
        return remember(r)
    }

    func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: Int32) throws -> TransferID {
        try Self.checkCount(buffer.count)
        var r: MPI_Request? = nil
        try mpiCheck(MPI_Isend(buffer.baseAddress, Int32(buffer.count), hs_mpi_byte(), Int32(peer), tag, handle, &r), "MPI_Isend")
        return remember(r)
    }

    /// Tests one request; forgets it when done.
    private func test(_ id: TransferID) throws -> Bool {
        guard isLive(id) else { return true }
        var done: Int32 = 0
        try mpiCheck(MPI_Test(&slots[id.raw], &done, hs_mpi_status_ignore()), "MPI_Test")
        if done != 0 { forget(id.raw) }
        return done != 0
    }

    func wait(_ ids: [TransferID], deadline: Deadline) throws -> [Int] {
        // One transfer (the ring waits for each received segment): no array to build.
        if ids.count == 1 {
            var backoff = Backoff()
            while try !test(ids[0]) {
                if deadline.hasPassed { return [0] }
                try backoff.pause(checking: interrupter)
            }
            return []
        }
        let pending = ids.filter(isLive)
        if pending.isEmpty { return [] }
        batch.removeAll(keepingCapacity: true)
        for id in pending { batch.append(slots[id.raw]) }
        var backoff = Backoff()
        while true {
            var done: Int32 = 0
            try mpiCheck(MPI_Testall(Int32(batch.count), &batch, &done, hs_mpi_statuses_ignore()), "MPI_Testall")
            if done != 0 {
                for id in pending { forget(id.raw) }
                return []
            }
            if deadline.hasPassed {
                // Testall changed nothing; find which are still outstanding one by one.
                for (k, id) in pending.enumerated() { slots[id.raw] = batch[k] }
                return try ids.indices.filter { try !test(ids[$0]) }
            }
            do {
                try backoff.pause(checking: interrupter)
            } catch {
                for (k, id) in pending.enumerated() { slots[id.raw] = batch[k] }
                throw error
            }
        }
    }

    func cancel(_ ids: [TransferID]) -> [TransferID] {
        let pending = ids.filter(isLive)
        for id in pending { MPI_Cancel(&slots[id.raw]) }
        let deadline = Deadline.after(seconds: 1)
        var left = pending
        var backoff = Backoff()
        while !left.isEmpty && !deadline.hasPassed {
            left = left.filter { (try? test($0)) != true }
            backoff.pause()
        }
        return left
    }

    func receiveMessage(fromAnyOf peers: [Int], tag: Int32, maxBytes: Int, deadline: Deadline) throws -> (peer: Int, bytes: [UInt8])? {
        var backoff = Backoff()
        while true {
            for peer in peers {
                var flag: Int32 = 0
                var status = MPI_Status()
                try mpiCheck(MPI_Iprobe(Int32(peer), tag, handle, &flag, &status), "MPI_Iprobe")
                guard flag != 0 else { continue }
                var count: Int32 = 0
                try mpiCheck(MPI_Get_count(&status, hs_mpi_byte(), &count), "MPI_Get_count")
                guard count >= 0, Int(count) <= maxBytes else {
                    throw HybridSyncError.oversizeMessage(bytes: Int(count), limit: maxBytes)
                }
                var bytes = [UInt8](repeating: 0, count: Int(count))
                try bytes.withUnsafeMutableBytes { raw in
                    try mpiCheck(MPI_Recv(raw.baseAddress, count, hs_mpi_byte(), Int32(peer), tag, handle, hs_mpi_status_ignore()), "MPI_Recv")
                }
                return (peer, bytes)
            }
            if deadline.hasPassed { return nil }
            try backoff.pause(checking: interrupter)
        }
    }

    func split(color: Int, key: Int) throws -> any RankTransport {
        var out: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_split(handle, Int32(color), Int32(key), &out), "MPI_Comm_split")
        guard let h = out else { throw HybridSyncError.transport(library: "MPI", call: "MPI_Comm_split", code: -1, message: "returned no communicator") }
        MPI_Comm_set_errhandler(h, hs_mpi_errors_return())
        return try MPITransport(handle: h, owned: true)
    }
}

/// Spins briefly, then yields, then sleeps with growing pauses (up to 1 ms): how MPI waits here, since
/// MPI offers no wait with a timeout.
struct Backoff {
    private var spins = 0

    /// Pauses, and every 64 pauses asks `interrupter`, throwing what it returns.
    mutating func pause(checking interrupter: (@Sendable () -> HybridSyncError?)?) throws {
        if spins % 64 == 63, let e = interrupter?() { throw e }
        pause()
    }

    mutating func pause() {
        spins += 1
        if spins < 200 { return }
        if spins < 2000 { sched_yield(); return }
        let micros = Swift.min(1000, (spins - 2000) / 10 + 20)
        var ts = timespec(tv_sec: 0, tv_nsec: micros * 1000)
        nanosleep(&ts, nil)
    }
}
