import HybridSyncCore

/// Ring all-gather: rank `r`'s block of `blockBytes` sits at offset `r * blockBytes` of `buffer`; after
/// `p - 1` steps every rank holds every block. Each rank sends `(p - 1) * blockBytes`.
struct RingAllgather {
    var timeoutSeconds: Double = 60
    static let tag: Int32 = 104

    func run(_ buffer: UnsafeMutableRawPointer, blockBytes: Int, comm: Communicator) throws {
        try comm.checkUsable()
        let p = comm.size, r = comm.rank
        guard p > 1, blockBytes > 0 else { return }
        let left = (r - 1 + p) % p, right = (r + 1) % p
        var pending = PendingTransfers(comm)
        for s in 0..<(p - 1) {
            let sendBlock = (r - s + p) % p, recvBlock = (r - s - 1 + p) % p
            let deadline = Deadline.after(seconds: timeoutSeconds)
            try pending.receive(into: .init(start: buffer + recvBlock * blockBytes, count: blockBytes), from: left, tag: Self.tag)
            try pending.send(.init(start: buffer + sendBlock * blockBytes, count: blockBytes), to: right, tag: Self.tag)
            try pending.waitAll(deadline: deadline, operation: "ring all-gather step \(s)")
        }
    }
}
