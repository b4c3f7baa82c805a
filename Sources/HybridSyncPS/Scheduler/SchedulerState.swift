import HybridSyncCore

/// What a standby scheduler needs to take over: every node with its address, how long ago the
/// scheduler last heard from it, whether it is alive and finished; the shard map; the deaths the job
/// absorbed; whether the job has ended. The scheduler sends it to its standby every heartbeat
/// interval and after every change. Barriers are not in it: nodes resend the barrier they wait in to
/// the new scheduler, and barrier generations tell it who has already passed.
package struct SchedulerState: Sendable, Equatable {
    package struct Node: Sendable, Equatable {
        package let id: NodeID
        package let address: String
        /// Milliseconds since the scheduler last heard from the node, when it sent this state.
        package let silentMillis: UInt32
        package let alive: Bool
        package let finished: Bool
    }

    package var nodes: [Node]
    package var view: ShardView
    package var absorbed: [NodeID]
    /// The job has ended (every worker finished): the standby stops too.
    package var ended: Bool

    func encode(into w: inout ByteWriter) {
        w.u32(UInt32(nodes.count))
        for n in nodes {
            w.u32(n.id.raw)
            w.string(n.address)
            w.u32(n.silentMillis)
            w.u8((n.alive ? 1 : 0) | (n.finished ? 2 : 0))
        }
        view.encode(into: &w)
        w.u32(UInt32(absorbed.count))
        for a in absorbed { w.u32(a.raw) }
        w.u8(ended ? 1 : 0)
    }

    static func decode(from r: inout ByteReader) throws -> SchedulerState {
        let count = Int(try r.u32("node count"))
        guard count <= 1 << 17 else { throw HybridSyncError.malformedMessage(.field, "scheduler state of \(count) nodes") }
        var nodes: [Node] = []
        for _ in 0..<count {
            guard let id = NodeID(raw: try r.u32("node")), id.role != .scheduler else {
                throw HybridSyncError.malformedMessage(.field, "scheduler state: bad node id")
            }
            let address = try r.string("address"), silent = try r.u32("silence")
            let flags = try r.u8("flags")
            guard flags <= 3 else { throw HybridSyncError.malformedMessage(.field, "scheduler state: flags \(flags)") }
            nodes.append(Node(id: id, address: address, silentMillis: silent, alive: flags & 1 != 0, finished: flags & 2 != 0))
        }
        let view = try ShardView.decode(from: &r)
        let n = Int(try r.u32("absorbed count"))
        guard n <= count else { throw HybridSyncError.malformedMessage(.field, "scheduler state: \(n) absorbed of \(count) nodes") }
        var absorbed: [NodeID] = []
        for _ in 0..<n {
            guard let id = NodeID(raw: try r.u32("absorbed node")) else { throw HybridSyncError.malformedMessage(.field, "scheduler state: bad absorbed id") }
            absorbed.append(id)
        }
        let ended = try r.u8("ended")
        guard ended <= 1 else { throw HybridSyncError.malformedMessage(.field, "scheduler state: ended \(ended)") }
        return SchedulerState(nodes: nodes, view: view, absorbed: absorbed, ended: ended == 1)
    }
}
