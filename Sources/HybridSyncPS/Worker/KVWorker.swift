import HybridSyncCore
import HybridSyncZMQ
import Logging
import Synchronization

/// A worker's view of the parameter server: declare tables, push gradient rows, pull rows.
///
/// Keys may come in any order and repeat (they are sorted, deduplicated, and duplicate gradients summed
/// here). Rows longer than a table's piece length are cut into pieces spread over servers. Every call
/// has a deadline (`PSConfig.requestTimeout` unless given) and its error names the server or scheduler
/// that did not answer. Blocking, non-blocking (`PSHandle`) and `async` forms exist for each request.
///
/// Thread-safe: any thread may call; the transport belongs to the worker's I/O thread (its node shell).
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
    package let serverAddresses: [String]
    let link: WorkerLink
    package let config: PSConfig
    private let placement: ConsistentHash
    private let specs = Mutex<[String: TableSpec]>([:])
    let clockValue = Atomic<Int>(0)
    private let logger: Logger
    /// The last `endStep`'s handle, until the worker has settled it.
    private let unsettledClock = Mutex<PSHandle?>(nil)
    private let finished = Atomic<Bool>(false)

    /// Connects to the scheduler over ZeroMQ, registers, and waits for every node to join (up to
    /// `startTimeout`). Throws the scheduler's refusal, or a timeout naming the scheduler.
    public convenience init(config: PSConfig, logger: Logger = Logger(label: "hybridsync.worker")) throws {
        try self.init(config: config, logger: logger) {
            let zmq = try ZMQMessageTransport(maxFrameBytes: 2 * config.maxMessageBytes, curve: config.curve)
            guard var plan = config.faults else { return zmq }
            plan.seed = plan.seed &* 1000 &+ UInt64(max(0, config.preferredIndex))
            return FaultyMessageTransport(zmq, plan: plan) {
                if case .link(let l) = $0 { return l >= 1 }; return false
            }
        }
    }

    /// A worker over the transport `makeTransport` returns (made on the worker's I/O thread).
    package init(config: PSConfig, logger: Logger, makeTransport: @escaping @Sendable () throws -> any MessageTransport) throws {
        try config.validate()
        self.config = config
        var l = logger
        l[metadataKey: "node"] = "worker \(config.preferredIndex >= 0 ? "\(config.preferredIndex)" : "?")"
        self.logger = l
        let registration = PSHandle(parts: [-1], plan: nil, deadline: .after(seconds: config.startTimeout), label: "worker registration")
        link = WorkerLink(config: config, logger: l, registration: registration, makeTransport: makeTransport)
        let book: MessageBody
        do {
            try registration.wait()
            guard let frames = registration.reply(of: -1), frames.count >= 2 else {
                throw HybridSyncError.malformedMessage(.kind, "registration answered without an address book")
            }
            book = try MessageBody.decode(kind: .addressBook, frames[FrameLayout.meta], from: "scheduler")
        } catch {
            link.finish(waitingUpTo: 1)
            throw error
        }
        guard case let .addressBook(me, servers, workers) = book else {
            link.finish(waitingUpTo: 1)
            throw HybridSyncError.malformedMessage(.kind, "registration answered without an address book")
        }
        id = me
        workerCount = workers
        serverCount = servers.count
        serverAddresses = servers
        placement = ConsistentHash(servers: servers.count)
    }

    deinit { link.finish(waitingUpTo: 2) }

    /// Bytes this worker has sent to servers and received from them (all row frames, counted).
    package var bytesSent: Int { link.bytesSent.load(ordering: .relaxed) }
    /// Bytes of the servers' replies this worker has received.
    package var bytesReceived: Int { link.bytesReceived.load(ordering: .relaxed) }

    /// Requests this worker sent again because their reply was late (exactly-once keeps them harmless).
    package var resends: Int { link.resends.load(ordering: .relaxed) }

    /// Views received after the first: nonzero once a server died and the job went on without it (its
    /// shards' backups took over, `PSConfig.replication`), since only that changes the view.
    package var viewChanges: Int { link.absorbed.load(ordering: .relaxed) }

    /// The first node the job lost (as the scheduler reported it), if any: a job that lost a node
    /// cannot finish its collective steps.
    package var jobFailure: HybridSyncError? { link.fault.withLock { $0 } }

    /// This worker's clock: the number of `advanceClock` calls (completed steps).
    public var clock: Int { clockValue.load(ordering: .relaxed) }

    /// The server that holds piece `piece` of `key` in `table`.
    package func server(of key: UInt64, piece: Int = 0, table: String) -> Int {
        placement.server(key: key, piece: piece, tableSalt: tableSalt(table))
    }

    // MARK: - Tables

    /// Declares tables on every server. Idempotent for identical specs; a different spec for an existing
    /// name throws `invalidArgument` (from the servers).
    public func declare(_ tables: [TableSpec], timeout: Double? = nil) throws {
        for t in tables { try t.validate() }
        try broadcast(kind: .declare, body: .declare(tables), label: "declare of \(tables.map(\.name))", timeout: timeout).wait()
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

    /// Pulls rows, waiting as the tables' consistency model requires. The answer implies the servers
    /// have this worker's last clock, so the pull also settles `endStep`'s handle (throwing its error).
    public func pull(_ queries: [RowQuery], timeout: Double? = nil) throws -> [PulledRows] {
        let rows = try pullAsync(queries, timeout: timeout).wait()
        try settleClock()
        return rows
    }

    /// Pushes rows and pulls their new values in one round trip.
    public func pushPull(_ rows: [SparseRows], timeout: Double? = nil) throws -> [PulledRows] { try pushPullAsync(rows, timeout: timeout).wait() }

    private func request(
        _ kind: MessageKind, tables names: [String], keys: [[UInt64]], rows: [SparseRows]?,
        timeout: Double?, wantRows: Bool, endingStep: Bool = false
    ) throws -> PSHandle {
        guard !finished.load(ordering: .relaxed) else { throw HybridSyncError.unusable("worker has finished") }
        guard Set(names).count == names.count else {
            throw HybridSyncError.invalidArgument(.name, "a table appears twice in one request: \(names)")
        }
        // A push never overtakes the end of the step before it (so a resend cannot land after it).
        if rows != nil { try settleClock() }
        let tableSpecs = try names.map(spec)
        let plan = RequestPlan(tables: tableSpecs, keys: keys, placement: placement)
        let gradients = try rows.map { try plan.summedGradients($0) }
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        let servers = plan.perServer.indices.filter { !plan.perServer[$0].isEmpty }
        var outgoing: [(Int, MessageHeader, [OutgoingFrame])] = []
        let flags = endingStep ? MessageFlags.endsStep : 0
        for s in servers {
            let (sections, payload) = plan.frames(server: s, gradients: gradients)
            outgoing.append((s, MessageHeader(kind: kind, sender: id, seq: 0, clock: Int64(clock), flags: flags, sections: sections), payload))
        }
        var parts = outgoing.map { s, header, payload in (WorkerRequest.Target.server(s), OutboundMessage(header, payload: payload)) }
        // A step's end reaches every server: those the push does not reach get the clock alone.
        let clockOnly = endingStep ? (0..<serverCount).filter { !servers.contains($0) } : []
        for s in clockOnly { parts.append(bare(.clock, clock: clock + 1, to: s)) }
        let handle = PSHandle(
            parts: Set(servers + clockOnly), plan: wantRows ? plan : nil, deadline: deadline,
            label: "\(kind) of \(keys.reduce(0) { $0 + $1.count }) keys" + (endingStep ? " ending step \(clock)" : ""))
        link.submit(WorkerRequest(id: link.makeID(), parts: parts, deadline: deadline), handle: handle)
        return handle
    }

    // MARK: - Clocks, barriers, stats

    /// Ends this worker's step, the one way to: the servers apply `rows` (the step's last pushes, if
    /// any) and then advance this worker's clock, in one message each (servers the rows do not reach
    /// get the clock alone; after this worker's earlier pushes, which travel on the same connections).
    /// Returns at once: requests made after this carry the new clock, and a server that has not seen
    /// it yet holds them as the consistency model says. The handle completes when every server has
    /// acknowledged. The worker settles it itself, throwing the clock's error there, before its next
    /// push, end of step, barrier or `finish`, and after its next blocking `pull` (whose answer implies
    /// it), so a caller need not wait on it; `finish` thereby gets the last step's clock (which
    /// releases its BSP pushes) to the servers before they are told to stop.
    @discardableResult
    public func endStep(pushing rows: [SparseRows] = [], timeout: Double? = nil) throws -> PSHandle {
        try settleClock()
        let handle: PSHandle
        if rows.isEmpty {
            handle = broadcast(kind: .clock, clock: clock + 1, label: "clock \(clock + 1)", timeout: timeout)
        } else {
            handle = try request(
                .push, tables: rows.map(\.table), keys: rows.map(\.keys), rows: rows, timeout: timeout, wantRows: false,
                endingStep: true)
        }
        clockValue.store(clock + 1, ordering: .relaxed)
        unsettledClock.withLock { $0 = handle }
        return handle
    }

    /// `endStep()`, waiting for every server's acknowledgement.
    package func advanceClock(timeout: Double? = nil) throws { try endStep(timeout: timeout).wait() }

    /// Waits for the acknowledgements of the last `endStep`, if not yet settled.
    private func settleClock() throws {
        try unsettledClock.withLock { h -> PSHandle? in
            defer { h = nil }; return h
        }?.wait()
    }

    /// Waits until every worker has entered the barrier (after settling the last `endStep`). Throws
    /// `peerDied` naming a worker the scheduler declared dead.
    public func barrier(timeout: Double? = nil) throws { try barrier(.workers, timeout: timeout) }

    /// Waits until every member of `group` has entered the barrier.
    package func barrier(_ group: BarrierGroup, timeout: Double? = nil) throws {
        try settleClock()
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        let handle = PSHandle(parts: [-1], plan: nil, deadline: deadline, label: "barrier of \(group)")
        let h = MessageHeader(kind: .barrier, sender: id, seq: 0, clock: Int64(clock))
        // (The worker's machine numbers its barriers: the generation it sends replaces this 0.)
        let part = OutboundMessage(h, .barrier(group, generation: 0))
        link.submit(WorkerRequest(id: link.makeID(), parts: [(.scheduler, part)], deadline: deadline), handle: handle)
        try handle.wait()
    }

    /// Asks every server for its statistics.
    public func serverStats(timeout: Double? = nil) throws -> [ServerStats] {
        let handle = broadcast(kind: .stats, label: "stats", timeout: timeout)
        try handle.wait()
        return try (0..<serverCount).map { s in
            guard let frames = handle.reply(of: s), frames.count >= 2 else { throw HybridSyncError.malformedMessage(.kind, "no stats from server \(s)") }
            return try MessageBody.stats(frames[FrameLayout.meta], server: s)
        }
    }

    /// Tells the scheduler this worker is done and stops the I/O thread. When every worker has finished,
    /// the servers and the scheduler exit.
    public func finish() {
        guard !finished.exchange(true, ordering: .relaxed) else { return }
        do {
            try settleClock()
        } catch {
            logger.error("the last clock was not acknowledged by every server", metadata: ["error": "\(error)"])
        }
        link.finish(waitingUpTo: 2)
    }

    /// A message of `kind` with no rows for server `s`.
    private func bare(_ kind: MessageKind, body: MessageBody = .empty, flags: UInt16 = 0, clock c: Int, to s: Int) -> (WorkerRequest.Target, OutboundMessage) {
        (.server(s), OutboundMessage(MessageHeader(kind: kind, sender: id, seq: 0, clock: Int64(c), flags: flags), body))
    }

    func broadcast(
        kind: MessageKind, body: MessageBody = .empty, flags: UInt16 = 0, clock c: Int? = nil, label: String, timeout: Double?
    ) -> PSHandle {
        let deadline = Deadline.after(seconds: timeout ?? config.requestTimeout)
        let handle = PSHandle(parts: Set(0..<serverCount), plan: nil, deadline: deadline, label: label)
        let parts = (0..<serverCount).map { bare(kind, body: body, flags: flags, clock: c ?? clock, to: $0) }
        link.submit(WorkerRequest(id: link.makeID(), parts: parts, deadline: deadline), handle: handle)
        return handle
    }
}
