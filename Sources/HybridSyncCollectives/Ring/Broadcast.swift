import HybridSyncCore

/// Binomial-tree broadcast over point-to-point messages: `ceil(log2 p)` rounds, each rank receives the
/// buffer once and forwards it to at most `log2 p` children.
struct TreeBroadcast {
    var timeoutSeconds: Double = 60
    static let tag: Int32 = 103

    func run(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int, comm: Communicator) throws {
        try comm.checkUsable()
        let p = comm.size
        guard p > 1, bytes > 0 else { return }
        guard (0..<p).contains(root) else {
            throw HybridSyncError.invalidArgument(.range, "broadcast root \(root) is not a rank of a group of \(p)")
        }
        let relative = (comm.rank - root + p) % p
        let deadline = Deadline.after(seconds: timeoutSeconds)
        var pending = PendingTransfers(comm)
        // Receive from the parent: clear the lowest set bit of the relative rank.
        var mask = 1
        while mask < p {
            if relative & mask != 0 {
                let parent = (relative - mask + root) % p
                try pending.receive(into: .init(start: buffer, count: bytes), from: parent, tag: Self.tag)
                try pending.waitAll(deadline: deadline, operation: "broadcast from root \(root)")
                break
            }
            mask <<= 1
        }
        // Forward to children relative + m for each m below the bit we received on.
        mask >>= 1
        while mask > 0 {
            if relative + mask < p {
                try pending.send(.init(start: buffer, count: bytes), to: (relative + mask + root) % p, tag: Self.tag)
            }
            mask >>= 1
        }
        try pending.waitAll(deadline: deadline, operation: "broadcast from root \(root)")
    }
}
