import HybridSyncCore
import Logging

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
    var logger: Logger
    static let requestTag: Int32 = 11
    static let verdictTag: Int32 = 12
    /// Extra time non-coordinators wait past the stall time for the coordinator's verdict.
    static let graceSeconds = 2.0
    /// Largest negotiation message accepted.
    static let maxMessageBytes = 64 << 20

    init(config: DenseSyncConfig) {
        stallSeconds = config.stallSeconds
        stallAction = config.stallAction
        timeoutSeconds = config.timeoutSeconds
        logger = config.logger
    }

    /// Returns the agreed batch (sorted by name) or throws the verdict's error on every rank.
    func negotiate(_ mine: [TensorDescriptor], comm: Communicator) throws -> [TensorDescriptor] {
        try comm.checkUsable()
        if comm.size == 1 {
            return try Agreement.check([mine]).get()
        }
        let label = mine.map(\.name).sorted().prefix(3).joined(separator: ", ") + (mine.count > 3 ? ", ..." : "")
        let verdict =
            comm.rank == 0
            ? try coordinate(mine, label: label, comm: comm)
            : try participate(mine, label: label, comm: comm)
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
        var verdict: Verdict?
        while !missing.isEmpty {
            let until = Deadline.after(seconds: nextWarning - secondsSince(start))
            if let (peer, bytes) = try comm.transport.receiveMessage(
                fromAnyOf: missing.sorted(), tag: Self.requestTag,
                maxBytes: Self.maxMessageBytes, deadline: until)
            {
                missing.remove(peer)
                do {
                    lists[peer] = try TensorDescriptor.decode(bytes, from: "rank \(peer)")
                } catch let e as HybridSyncError {
                    logger.warning("negotiation: rejected the tensor list of a rank", metadata: ["peer": "\(peer)", "error": "\(e)"])
                    verdict = .failed(e)
                }
                continue
            }
            let waited = secondsSince(start)
            let stalled = HybridSyncError.stalled(tensor: label, missingRanks: missing.sorted(), seconds: waited)
            if stallAction == .raise || waited >= timeoutSeconds {
                logger.error("negotiation stalled", metadata: ["missing": "\(missing.sorted())", "tensor": "\(label)"])
                verdict = .failed(stalled)
                break
            }
            logger.warning("\(stalled)")
            nextWarning += stallSeconds
        }
        if verdict == nil {
            switch Agreement.check(lists.map { $0 ?? [] }) {
            case .success: verdict = .agreed
            case .failure(let e): verdict = .failed(e)
            }
        }
        let decided = verdict ?? .agreed
        let answer = decided.encode()
        var pending = PendingTransfers(comm, capacity: comm.size)
        try answer.withUnsafeBytes { raw in
            for r in 1..<comm.size where !missing.contains(r) {
                try pending.send(raw, to: r, tag: Self.verdictTag)
            }
            try pending.waitAll(deadline: .after(seconds: timeoutSeconds), operation: "sending the negotiation verdict")
        }
        return decided
    }

    private func participate(_ mine: [TensorDescriptor], label: String, comm: Communicator) throws -> Verdict {
        let request = TensorDescriptor.encode(mine)
        var pending = PendingTransfers(comm, capacity: 1)
        let limit = stallAction == .raise ? stallSeconds + Self.graceSeconds : timeoutSeconds + Self.graceSeconds
        return try request.withUnsafeBytes { raw in
            try pending.send(raw, to: 0, tag: Self.requestTag)
            guard
                let (_, bytes) = try comm.transport.receiveMessage(
                    fromAnyOf: [0], tag: Self.verdictTag,
                    maxBytes: Self.maxMessageBytes, deadline: .after(seconds: limit))
            else {
                let error = HybridSyncError.timeout(
                    operation: "negotiation of '\(label)'",
                    waitingFor: "rank 0 (the coordinator)", seconds: limit)
                logger.error("\(error)")
                // Our request may still be unsent: a zero-length wait cancels it before its bytes go away.
                try? pending.waitAll(deadline: .after(seconds: 0), operation: "sending tensor list to rank 0")
                comm.markFailed(error)
                throw error
            }
            try pending.waitAll(deadline: .after(seconds: timeoutSeconds), operation: "sending tensor list to rank 0")
            return try Verdict.decode(bytes, from: "rank 0")
        }
    }
}
