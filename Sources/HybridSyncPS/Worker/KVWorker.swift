import HybridSyncCore
import HybridSyncZMQ
import Synchronization

/// A worker's view of the parameter server: declare tables, push gradient rows, pull rows.
///
/// Keys may come in any order and repeat (they are sorted, deduplicated, and duplicate gradients summed
/// here). Rows longer than a table's piece length are cut into pieces spread over servers. Every call
/// has a deadline (`PSConfig.requestTimeout` unless given) and its error names the server or scheduler
/// that did not answer. Blocking, non-blocking (`PSHandle`) and `async` forms exist for each request.
///
/// Thread-safe: any thread may call; the sockets belong to the worker's I/O thread.
public final class KVWorker: Sendable {
    /// This worker's id (`worker i`).
    package let id: NodeID
    /// This worker's index among the job's workers.
    public var index: Int { id.index }
    /// Workers in the job.
    public let workerCount: Int
    /// Servers in the job.
    public let serverCount: Int
    /// The servers' endpoints, by index (from the scheduler's address book).
    public let serverAddresses: [String]
    private let io: WorkerIO
    private let config: PSConfig
    private let placement: ConsistentHash
    private let specs = Mutex<[String: TableSpec]>([:])
    private let clockValue = Atomic<Int>(0)
    private let finished = Atomic<Bool>(false)

    /// Connects to the scheduler, registers, and waits for every node to join (up to `startTimeout`).
    public init(config: PSConfig) throws {
        try config.validate()
        self.config = config
        io = try WorkerIO(config: config)
        let (id, workers, servers) = try io.start()
        self.id = id
        workerCount = workers
        serverCount = servers.count
        serverAddresses = servers
        placement = ConsistentHash(servers: servers.count)
    }

    deinit { io.stop() }

    /// Bytes this worker has sent to servers and received from them over ZeroMQ (all frames, counted).
    public var bytesSent: Int { io.bytesSent.load(ordering: .relaxed) }
    public var bytesReceived: Int { io.bytesReceived.load(ordering: .relaxed) }

    /// This worker's clock: the number of `advanceClock` calls (completed steps).
    public var clock: Int { clockValue.load(ordering: .relaxed) }

    /// The server that holds piece `piece` of `key` in `table`.
    public func server(of key: UInt64, piece: Int = 0, table: String) -> Int {
        placement.server(key: key, piece: piece, tableSalt: tableSalt(table))
    }

    // MARK: - Tables

    /// Declares tables on every server. Idempotent for identical specs; a different spec for an existing
    /// name throws `invalidArgument` (from the servers).
    public func declare(_ tables: [TableSpec], timeout: Double? = nil) throws {
        for t in tables { try t.validate() }
        var w = ByteWriter()
        w.u32(UInt32(tables.count))
        for t in tables { t.encode(into: &w) }
        try broadcast(kind: .declare, meta: w.bytes, label: "declare of \(tables.map(\.name))", timeout: timeout).wait()
        specs.withLock { for t in tables { $0[t.name] = t } }
    }

    private func spec(_ name: String) throws -> TableSpec {
        guard let s = specs.withLock({ $0[name] }) else { throw HybridSyncError.unknownTable(name) }
        return s
    }

    // MARK: - Push and pull

    /// Starts a push of gradient rows; returns at once.
    public func pushAsync(_ rows: [SparseRows], timeout: Double? = nil) throws -> PSHandle {
        try request(.push, tables: rows.map(\.table), keys: rows.map(\.keys), rows: rows, timeout: timeout, wantRows: false)
    }

    /// Starts a pull; `wait()` on the handle returns the rows in query order.
    public func pullAsync(_ queries: [RowQuery], timeout: Double? = nil) throws -> PSHandle {
        try request(.pull, tables: queries.map(\.table), keys: queries.map(\.keys), rows: nil, timeout: timeout, wantRows: true)
    }

    /// Starts a push of `rows` and a pull of the same keys' updated values, in one round trip.
    public func pushPullAsync(_ rows: [SparseRows], timeout: Double? = nil) throws -> PSHandle {
        try request(.pushPull, tables: rows.map(\.table), keys: rows.map(\.keys), rows: rows, timeout: timeout, wantRows: true)
    }

    /// Pushes gradient rows and waits for every server's acknowledgement.
    public func push(_ rows: [SparseRows], timeout: Double? = nil) throws { try pushAsync(rows, timeout: timeout).wait() }

    /// Pulls rows, waiting as the tables' consistency model requires.
    public func pull(_ queries: [RowQuery], timeout: Double? = nil) throws -> [PulledRows] { try pullAsync(queries, timeout: timeout).wait() }

    /// Pushes rows and pulls their new values in one round trip.
    public func pushPull(_ rows: [SparseRows], timeout: Double? = nil) throws -> [PulledRows] { try pushPullAsync(rows, timeout: timeout).wait() }

    /// `async` push.
    public func push(_ rows: [SparseRows], timeout: Double? = nil) async throws { _ = try await pushAsync(rows, timeout: timeout).value }

    /// `async` pull.
    public func pull(_ queries: [RowQuery], timeout: Double? = nil) async throws -> [PulledRows] {
        try await pullAsync(queries, timeout: timeout).value
    }

    private func request(_ kind: MessageKind, tables names: [String], keys: [[UInt64]], rows: [SparseRows]?,
                         timeout: Double?, wantRows: Bool) throws -> PSHandle {
        guard !finished.load(ordering: .relaxed) else { throw HybridSyncError.unusable("worker has finished") }
        guard Set(names).count == names.count else {
            throw HybridSyncError.invalidArgument("a table appears twice in one request: \(names)")
        }
        let tableSpecs = try names.map(spec)
        let plan = RequestPlan(tables: tableSpecs, keys: keys, placement: placement)
        let gradients = try rows.map { try plan.summedGradients($0) }
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        let servers = plan.perServer.indices.filter { !plan.perServer[$0].isEmpty }
        var total = 0
        var outgoing: [(Int, MessageHeader, [OutgoingFrame])] = []
        for s in servers {
            let (sections, payload) = plan.frames(server: s, gradients: gradients)
            total += payload.reduce(0) { $0 + $1.count }
            outgoing.append((s, MessageHeader(kind: kind, sender: id, seq: 0, clock: Int64(clock), sections: sections), payload))
        }
        let handle = PSHandle(parts: Set(servers), plan: wantRows ? plan : nil, deadline: deadline,
                              label: "\(kind) of \(keys.reduce(0) { $0 + $1.count }) keys")
        io.submit(outgoing.map { s, header, payload in
            var h = header
            h.seq = io.makeSeq()
            return WorkerIO.Outgoing(target: s, seq: h.seq, frames: messageFrames(h, payload: payload), handle: handle, deadline: deadline)
        })
        return handle
    }

    // MARK: - Clocks, barriers, stats

    /// Ends this worker's step: its clock advances and every server learns it (after this worker's
    /// pushes of the step, which travel on the same connections). Waits for the acknowledgements.
    public func advanceClock(timeout: Double? = nil) throws {
        let c = clockValue.add(1, ordering: .relaxed).newValue
        try broadcast(kind: .clock, meta: [], clock: c, label: "clock \(c)", timeout: timeout).wait()
    }

    /// Waits until every member of `group` has entered the barrier. Throws `peerDied` naming a member
    /// the scheduler declared dead.
    public func barrier(_ group: BarrierGroup = .workers, timeout: Double? = nil) throws {
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        let handle = PSHandle(parts: [-1], plan: nil, deadline: deadline, label: "barrier of \(group)")
        let seq = io.makeSeq()
        let h = MessageHeader(kind: .barrier, sender: id, seq: seq, clock: Int64(clock))
        io.submit([WorkerIO.Outgoing(target: -1, seq: seq, frames: messageFrames(h, meta: [group.rawValue]), handle: handle, deadline: deadline)])
        try handle.wait()
    }

    /// Asks every server for its statistics.
    public func serverStats(timeout: Double? = nil) throws -> [ServerStats] {
        let handle = broadcast(kind: .stats, meta: [], label: "stats", timeout: timeout)
        try handle.wait()
        return try (0..<serverCount).map { s in
            guard let frames = handle.reply(of: s) else { throw HybridSyncError.malformedMessage("no stats from server \(s)") }
            return try frames[1].withUnsafeBytes { raw in
                var r = ByteReader(raw, context: "stats from server \(s)")
                return ServerStats(server: s, largestAnsweredGap: Int(try r.i64("gap")), pushes: Int(try r.u64("pushes")),
                                   rows: Int(try r.u64("rows")), waitingPulls: Int(try r.u64("waiting")),
                                   bytesIn: Int(try r.u64("bytes in")), bytesOut: Int(try r.u64("bytes out")))
            }
        }
    }

    /// Tells the scheduler this worker is done and stops the I/O thread. When every worker has finished,
    /// the servers and the scheduler exit.
    public func finish() {
        guard !finished.exchange(true, ordering: .relaxed) else { return }
        let seq = io.makeSeq()
        io.submit([WorkerIO.Outgoing(target: -1, seq: seq, frames: messageFrames(MessageHeader(kind: .finished, sender: id, seq: seq)),
                                     handle: nil, deadline: .after(seconds: 1))])
        io.stop()
    }

    private func broadcast(kind: MessageKind, meta: [UInt8], clock c: Int? = nil, label: String, timeout: Double?) -> PSHandle {
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        let handle = PSHandle(parts: Set(0..<serverCount), plan: nil, deadline: deadline, label: label)
        io.submit((0..<serverCount).map { s in
            let seq = io.makeSeq()
            let h = MessageHeader(kind: kind, sender: id, seq: seq, clock: Int64(c ?? clock))
            return WorkerIO.Outgoing(target: s, seq: seq, frames: messageFrames(h, meta: meta), handle: handle, deadline: deadline)
        })
        return handle
    }
}
