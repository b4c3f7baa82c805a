import HybridSyncCore

/// Kinds of parameter-server messages. The raw value is the wire code.
package enum MessageKind: UInt8, Sendable, CustomStringConvertible {
    case register = 1, addressBook, barrier, barrierRelease, heartbeat, nodeDead, finished, shutdown
    /// The scheduler's map of which servers hold each shard (`ShardView`), sent at the start and after
    /// every server death.
    case view = 9
    /// The scheduler's state, to its standby (`SchedulerState`), every heartbeat interval and after
    /// every change.
    case schedulerState = 10
    case declare = 20, push, pull, pushPull, clock, stats
    /// Write this server's shard into a checkpoint directory; restore rows from one.
    case checkpoint = 26, restore
    case reply = 40, error
    /// A server holds a pull for its consistency model; the answer follows (the worker stops resending
    /// it at the fast pace).
    case held = 42
    /// A backup has applied its shard's forwarded changes up to the log index in `seq`.
    case replicaAck = 43
    /// The server does not lead the request's shard in its view: ask the scheduler's latest view.
    case redirect = 44
    /// A part of a primary's copy of its shard for a new backup (`seq` numbers the parts), its
    /// acknowledgement, and the primary's report to the scheduler that the copy is complete.
    case copy = 45, copyAck, copied

    package var description: String {
        switch self {
        case .register: return "register"
        case .addressBook: return "address-book"
        case .barrier: return "barrier"
        case .barrierRelease: return "barrier-release"
        case .heartbeat: return "heartbeat"
        case .nodeDead: return "node-dead"
        case .finished: return "finished"
        case .shutdown: return "shutdown"
        case .declare: return "declare"
        case .push: return "push"
        case .pull: return "pull"
        case .pushPull: return "push-pull"
        case .clock: return "clock"
        case .stats: return "stats"
        case .checkpoint: return "checkpoint"
        case .restore: return "restore"
        case .reply: return "reply"
        case .error: return "error"
        case .held: return "held"
        case .view: return "view"
        case .schedulerState: return "scheduler-state"
        case .replicaAck: return "replica-ack"
        case .redirect: return "redirect"
        case .copy: return "copy"
        case .copyAck: return "copy-ack"
        case .copied: return "copied"
        }
    }
}

/// One group of rows in a message: rows of one table and piece, all `rowLength` long.
package struct SectionInfo: Sendable, Equatable {
    /// The table the rows belong to.
    package var table: String
    /// Which piece of each row (0 unless rows are longer than the table's piece length).
    package var piece: Int
    package var rowLength: Int
    /// How the values frame holds the rows (the table's `rowEncoding`; float32 for checkpoint restores).
    package var encoding: RowEncoding
    package var keyCount: Int
    /// Whether the values frame carries `keyCount * rowLength` elements (false for pull requests).
    package var hasValues: Bool

    package init(table: String, piece: Int, rowLength: Int, encoding: RowEncoding = .float32, keyCount: Int, hasValues: Bool) {
        self.table = table
        self.piece = piece
        self.rowLength = rowLength
        self.encoding = encoding
        self.keyCount = keyCount
        self.hasValues = hasValues
    }

    /// Bytes of the keys frame.
    package var keyBytes: Int { keyCount * 8 }
    /// Bytes of the values frame.
    package var valueBytes: Int { hasValues ? keyCount * rowLength * encoding.byteWidth : 0 }
}

/// The fixed part of every message: who sent it, its sequence number, the sender's clock and the
/// directory of row sections that follow.
package struct MessageHeader: Sendable, Equatable {
    package var kind: MessageKind
    package var flags: UInt16
    package var sender: NodeID
    /// Per-sender sequence number: replies carry the request's, so a resend can be recognised.
    package var seq: UInt64
    /// The sending worker's incarnation (random, fixed for the life of a `KVWorker`; 0 from other
    /// nodes): a restarted worker's sequence numbers start again without being taken for duplicates.
    package var incarnation: UInt32 = 0
    /// The sender's clock (workers: completed steps).
    package var clock: Int64
    /// The shard a request is for (replies and acknowledgements: the shard they answer for). Shards are
    /// the consistent hash's partitions; the view says which server leads each.
    package var shard: Int = 0
    /// The view (`ShardView.epoch`) the sender routed by.
    package var epoch: UInt32 = 0
    /// A change forwarded by a shard's primary to its backups: its place in the shard's log (1, 2, ...);
    /// 0 otherwise.
    package var logIndex: UInt64 = 0
    /// Row sections that follow the meta frame.
    package var sections: [SectionInfo]

    package init(kind: MessageKind, sender: NodeID, seq: UInt64, clock: Int64 = 0, flags: UInt16 = 0, sections: [SectionInfo] = []) {
        self.kind = kind
        self.flags = flags
        self.sender = sender
        self.seq = seq
        self.clock = clock
        self.sections = sections
    }
}

/// Header flag bits.
package enum MessageFlags {
    /// The keys frames are empty: the receiver knows the keys (a pull reply echoes its request's order).
    package static let keysOmitted: UInt16 = 1
    /// A worker's request forwarded by the shard's primary to a backup (sender, sequence number and
    /// incarnation are the worker's; `logIndex` orders it).
    package static let replicated: UInt16 = 2
    /// A server's registration as a spare: it waits, and replaces the first server that dies (or one
    /// that died before it came) instead of counting as one of the job's servers.
    package static let spare: UInt16 = 4
    /// A push that ends its sender's step: once it is applied (or held, under BSP) the server advances
    /// the sender's clock to the header's clock + 1, as a `clock` message would, and its reply
    /// acknowledges both. Saves a round trip a step, and lets the servers release a BSP step's pushes
    /// while the workers are still in the ring.
    package static let endsStep: UInt16 = 8
    /// A `checkpoint` request for the outcome of the shard write started into its directory: answered
    /// when the shard is written (`checkpointWritten`, or the error), not a new checkpoint.
    package static let awaitsWrite: UInt16 = 16
    /// A node's `register` with the standby scheduler that took over: it asks back for the id it has
    /// (its `sender`), on this new connection.
    package static let rejoin: UInt16 = 32
}
