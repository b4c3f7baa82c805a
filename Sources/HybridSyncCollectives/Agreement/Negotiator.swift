import CMPI
import HybridSyncCore
#if canImport(Glibc)
import Glibc
#endif

/// What to do when a rank has not submitted its tensors in time.
public enum StallAction: Sendable {
    /// Every waiting rank throws `HybridSyncError.stalled`.
    case raise
    /// Log a warning naming the missing ranks every `stallSeconds`, keep waiting until `timeoutSeconds`.
    case log
}

/// Runs one negotiation round: every rank sends its descriptor list to the coordinator (rank 0), which
/// checks them with `Agreement.check` and answers every rank with the same `Verdict`.
///
/// The coordinator knows who has not arrived, so a stall names the missing ranks. If the coordinator
/// itself does not answer, the others name rank 0.
struct Negotiator {
    var stallSeconds: Double
    var stallAction: StallAction
    var timeoutSeconds: Double
    static let requestTag: Int32 = 11
    static let verdictTag: Int32 = 12
    /// Extra time non-coordinators wait past the stall time for the coordinator's verdict.
    static let graceSeconds = 2.0

    /// Returns the agreed batch (sorted by name) or throws the verdict's error on every rank.
    func negotiate(_ mine: [TensorDescriptor], comm: Communicator) throws -> [TensorDescriptor] {
        try comm.checkUsable()
        if comm.size == 1 {
            return try Agreement.check([mine]).get()
        }
        let label = mine.map(\.name).sorted().prefix(3).joined(separator: ", ") + (mine.count > 3 ? ", ..." : "")
        let verdict: Verdict
        if comm.rank == 0 {
            verdict = try coordinate(mine, label: label, comm: comm)
        } else {
            verdict = try participate(mine, label: label, comm: comm)
        }
        switch verdict {
        case .agreed:
            return try Agreement.check([mine]).get()
        case .failed(let error):
            if case .stalled = error { comm.markFailed(error) }
            throw error
        }
    }

    private func coordinate(_ mine: [TensorDescriptor], label: String, comm: Communicator) throws -> Verdict {
        var lists: [[TensorDescriptor]?] = Array(repeating: nil, count: comm.size)
        lists[0] = mine
        var missing = Set(1..<comm.size)
        let start = ContinuousClock.now
        var nextWarning = stallSeconds
        var poller = Poller()
        var verdict: Verdict?
        while !missing.isEmpty {
            var progressed = false
            for r in missing.sorted() {
                guard let bytes = try probeReceive(from: r, comm: comm) else { continue }
                progressed = true
                missing.remove(r)
                do {
                    lists[r] = try TensorDescriptor.decode(bytes, from: "rank \(r)")
                } catch let e as HybridSyncError {
                    verdict = .failed(e)
                }
            }
            if progressed { continue }
            let waited = secondsSince(start)
            if waited >= nextWarning {
                let stalled = HybridSyncError.stalled(tensor: label, missingRanks: missing.sorted(), seconds: waited)
                if stallAction == .raise || waited >= timeoutSeconds {
                    verdict = .failed(stalled)
                    break
                }
                logWarning("rank 0: \(stalled)")
                nextWarning += stallSeconds
            }
            poller.pause()
        }
        if verdict == nil {
            switch Agreement.check(lists.map { $0 ?? [] }) {
            case .success: verdict = .agreed
            case .failure(let e): verdict = .failed(e)
            }
        }
        let answer = verdict!.encode()
        var pending = PendingRequests(comm, capacity: comm.size)
        try answer.withUnsafeBytes { raw in
            for r in 1..<comm.size where !missing.contains(r) {
                try pending.send(raw.baseAddress!, bytes: raw.count, to: r, tag: Self.verdictTag)
            }
            try pending.waitAll(deadline: .after(seconds: timeoutSeconds), operation: "sending the negotiation verdict")
        }
        return verdict!
    }

    private func participate(_ mine: [TensorDescriptor], label: String, comm: Communicator) throws -> Verdict {
        let request = TensorDescriptor.encode(mine)
        var pending = PendingRequests(comm, capacity: 1)
        let limit = stallAction == .raise ? stallSeconds + Self.graceSeconds : timeoutSeconds + Self.graceSeconds
        let start = ContinuousClock.now
        return try request.withUnsafeBytes { raw in
            try pending.send(raw.baseAddress!, bytes: raw.count, to: 0, tag: Self.requestTag)
            var poller = Poller()
            while true {
                if let bytes = try probeReceive(from: 0, tag: Self.verdictTag, comm: comm) {
                    try pending.waitAll(deadline: .after(seconds: timeoutSeconds), operation: "sending tensor list to rank 0")
                    return try Verdict.decode(bytes, from: "rank 0")
                }
                if secondsSince(start) >= limit {
                    let error = HybridSyncError.timeout(operation: "negotiation of '\(label)'",
                                                        waitingFor: "rank 0 (the coordinator)", seconds: limit)
                    comm.markFailed(error)
                    throw error
                }
                poller.pause()
            }
        }
    }

    /// Receives a pending message of any size from `peer` if one has arrived.
    private func probeReceive(from peer: Int, tag: Int32 = Negotiator.requestTag, comm: Communicator) throws -> [UInt8]? {
        var flag: Int32 = 0
        var status = MPI_Status()
        try mpiCheck(MPI_Iprobe(Int32(peer), tag, comm.handle, &flag, &status), "MPI_Iprobe")
        guard flag != 0 else { return nil }
        var count: Int32 = 0
        try mpiCheck(MPI_Get_count(&status, hs_mpi_byte(), &count), "MPI_Get_count")
        guard count >= 0, count <= 64 << 20 else {
            throw HybridSyncError.oversizeMessage(bytes: Int(count), limit: 64 << 20)
        }
        var bytes = [UInt8](repeating: 0, count: Int(count))
        try bytes.withUnsafeMutableBytes { raw in
            try mpiCheck(MPI_Recv(raw.baseAddress, count, hs_mpi_byte(), Int32(peer), tag, comm.handle, hs_mpi_status_ignore()), "MPI_Recv")
        }
        return bytes
    }
}

/// Writes a warning line to standard error.
func logWarning(_ text: String) {
    let line = "hybridsync warning: \(text)\n"
    _ = line.withCString { fputs($0, stderrStream()) }
}

func stderrStream() -> UnsafeMutablePointer<FILE> { fdopenStderr.stream }

private struct StderrHolder: @unchecked Sendable { let stream: UnsafeMutablePointer<FILE> }
private let fdopenStderr = StderrHolder(stream: fdopen(2, "w"))
