import Foundation
import HybridSyncCore
import HybridSyncZMQ
import Synchronization

/// The worker's I/O thread: it alone owns the sockets (a DEALER to the scheduler and one per server).
/// User threads hand it messages through a short queue and a wakeup pipe; it matches replies to
/// requests by sequence number, enforces every request's deadline, sends heartbeats, and fails
/// requests that wait on a node the scheduler declared dead.
final class WorkerIO: @unchecked Sendable {
    struct Outgoing {
        /// Server index, or -1 for the scheduler.
        let target: Int
        let seq: UInt64
        let frames: [OutgoingFrame]
        let handle: PSHandle?
        let deadline: Deadline
    }

    private struct Pending {
        let handle: PSHandle
        let target: Int
        let deadline: Deadline
    }

    private let config: PSConfig
    private let context: ZMQContext
    private let schedulerSocket: ZMQSocket
    private var serverSockets: [ZMQSocket] = []
    private(set) var serverAddresses: [String] = []
    private let wakeup: Wakeup
    private let outbox = Mutex<[Outgoing]>([])
    private let stopFlag = Mutex(false)
    private let nextSeq = Atomic<UInt64>(2)
    private var pending: [UInt64: Pending] = [:]
    private var thread: Thread?
    private let startState = Mutex<Result<(NodeID, Int, [String]), HybridSyncError>?>(nil)
    private let started = DispatchSemaphore(value: 0)
    private var id: NodeID = .unassigned(.worker)
    private var dead: [Int: String] = [:]
    /// Bytes of every frame sent to and received from servers (counted by the I/O thread).
    let bytesSent = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)

    init(config: PSConfig) throws {
        self.config = config
        context = try ZMQContext()
        schedulerSocket = try ZMQSocket(context, kind: .dealer)
        // A short linger so the final `finished` message leaves before the socket closes.
        try schedulerSocket.setLinger(milliseconds: 1000)
        try schedulerSocket.connect(config.schedulerEndpoint)
        wakeup = try Wakeup()
    }

    /// A fresh sequence number.
    func makeSeq() -> UInt64 { nextSeq.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Starts the I/O thread, registers, and waits for the address book. Returns (id, workers, servers).
    func start() throws -> (NodeID, Int, [String]) {
        var w = ByteWriter()
        w.u8(Role.worker.rawValue)
        w.string("")
        w.u32(UInt32(bitPattern: Int32(config.preferredIndex)))
        try schedulerSocket.send(messageFrames(MessageHeader(kind: .register, sender: .unassigned(.worker), seq: 1), meta: w.bytes))
        let t = Thread { [self] in loop() }
        t.name = "hybridsync-worker-io"
        thread = t
        t.start()
        if started.wait(timeout: .now() + .milliseconds(Int(config.startTimeout * 1000) + 500)) == .timedOut {
            stop()
            throw HybridSyncError.timeout(operation: "worker registration", waitingFor: "the scheduler at \(config.schedulerEndpoint)", seconds: config.startTimeout)
        }
        switch startState.withLock({ $0 })! {
        case .success(let v): return v
        case .failure(let e): throw e
        }
    }

    /// Queues messages for the I/O thread (thread-safe).
    func submit(_ items: [Outgoing]) {
        outbox.withLock { $0.append(contentsOf: items) }
        wakeup.signal()
    }

    /// Stops the I/O thread; pending requests fail.
    func stop() {
        stopFlag.withLock { $0 = true }
        wakeup.signal()
        while thread?.isExecuting == true { usleep(1000) }
    }

    // MARK: - The I/O thread

    private func loop() {
        let start = monotonicSeconds()
        var lastBeat = start, lastHeard = start
        var registered = false
        while !stopFlag.withLock({ $0 }) {
            do {
                let now = monotonicSeconds()
                if !registered && now - start > config.startTimeout {
                    startState.withLock { $0 = .failure(.timeout(operation: "worker registration", waitingFor: "the scheduler at \(config.schedulerEndpoint)", seconds: config.startTimeout)) }
                    started.signal()
                    return
                }
                if registered && now - lastBeat >= config.heartbeatInterval {
                    try schedulerSocket.send(messageFrames(MessageHeader(kind: .heartbeat, sender: id, seq: 0)))
                    lastBeat = now
                }
                if registered && now - lastHeard > config.heartbeatTimeout {
                    failAll(.peerDied(peer: "scheduler at \(config.schedulerEndpoint)", reason: "silent for \(Int(config.heartbeatTimeout * 1000)) ms"))
                    lastHeard = now
                }
                expireDeadlines()
                let sockets = [schedulerSocket] + serverSockets
                let ready = try ZMQSocket.poll(sockets, fd: wakeup.fd, timeoutMs: 10)
                if ready.fdReady { wakeup.drain() }
                let items = outbox.withLock { q -> [Outgoing] in defer { q.removeAll(keepingCapacity: true) }; return q }
                for item in items { send(item) }
                for index in ready.ready {
                    while let raw = try sockets[index].receive() {
                        if index == 0 {
                            lastHeard = monotonicSeconds()
                            if try schedulerMessage(raw) { registered = true }
                        } else {
                            serverMessage(raw, server: index - 1)
                        }
                    }
                }
            } catch let e as HybridSyncError {
                failAll(e)
            } catch {
                failAll(.remote(peer: "worker I/O", message: "\(error)"))
            }
        }
        for item in outbox.withLock({ q -> [Outgoing] in defer { q.removeAll() }; return q }) where item.handle == nil {
            send(item)
        }
        failAll(.unusable("the worker was stopped"))
        for socket in serverSockets { socket.close() }
        schedulerSocket.close()
        context.terminate()
    }

    private func send(_ item: Outgoing) {
        if item.target >= 0, let reason = dead[item.target] {
            item.handle?.fail(.peerDied(peer: "server \(item.target)", reason: reason))
            return
        }
        guard item.target < serverSockets.count else {
            item.handle?.fail(.invalidArgument("no server \(item.target)"))
            return
        }
        let socket = item.target < 0 ? schedulerSocket : serverSockets[item.target]
        do {
            try socket.send(item.frames)
            if item.target >= 0 { bytesSent.add(item.frames.reduce(0) { $0 + $1.count }, ordering: .relaxed) }
            if let h = item.handle { pending[item.seq] = Pending(handle: h, target: item.target, deadline: item.deadline) }
        } catch let e as HybridSyncError {
            item.handle?.fail(e)
        } catch {
            item.handle?.fail(.remote(peer: "zmq", message: "\(error)"))
        }
    }

    /// Returns true when the address book arrived.
    private func schedulerMessage(_ raw: [ReceivedFrame]) throws -> Bool {
        guard case .success(let env) = Envelope.open(raw, routed: false, maxMessageBytes: 1 << 20) else { return false }
        switch env.header.kind {
        case .addressBook:
            let (me, workers, servers) = try env.frames[1].withUnsafeBytes { raw -> (NodeID, Int, [String]) in
                var r = ByteReader(raw, context: "address book")
                let me = NodeID(raw: try r.u32("id")) ?? .unassigned(.worker)
                let s = Int(try r.u32("servers")), w = Int(try r.u32("workers"))
                guard s <= 4096 else { throw HybridSyncError.malformedMessage("address book lists \(s) servers") }
                var addresses: [String] = []
                for _ in 0..<s { addresses.append(try r.string("server address")) }
                return (me, w, addresses)
            }
            id = me
            for address in servers {
                let socket = try ZMQSocket(context, kind: .dealer)
                try socket.setMaxFrameBytes(2 * config.maxMessageBytes)
                try socket.connect(address)
                serverSockets.append(socket)
            }
            serverAddresses = servers
            startState.withLock { $0 = .success((me, workers, servers)) }
            started.signal()
            return true
        case .nodeDead:
            let (node, reason) = try env.frames[1].withUnsafeBytes { raw -> (NodeID?, String) in
                var r = ByteReader(raw, context: "node dead")
                return (NodeID(raw: try r.u32("id")), try r.string("reason"))
            }
            if let node, node.role == .server {
                dead[node.index] = reason
                for (seq, p) in pending where p.target == node.index {
                    p.handle.fail(.peerDied(peer: "\(node) at \(serverAddresses[node.index])", reason: reason))
                    pending.removeValue(forKey: seq)
                }
            }
            return false
        case .error:
            let error = ErrorCodec.decode(env.frames[1], from: "scheduler")
            if env.header.seq == 1 {
                startState.withLock { $0 = .failure(error) }
                started.signal()
            }
            pending.removeValue(forKey: env.header.seq)?.handle.fail(error)
            return false
        default:
            pending.removeValue(forKey: env.header.seq)?.handle.complete(part: -1, frames: env.frames)
            return false
        }
    }

    private func serverMessage(_ raw: [ReceivedFrame], server: Int) {
        bytesReceived.add(raw.reduce(0) { $0 + $1.count }, ordering: .relaxed)
        switch Envelope.open(raw, routed: false, maxMessageBytes: config.maxMessageBytes) {
        case .failure(let rejected):
            if let seq = rejected.header?.seq { pending.removeValue(forKey: seq)?.handle.fail(rejected.error) }
        case .success(let env):
            guard let p = pending.removeValue(forKey: env.header.seq) else { return }
            if env.header.kind == .error {
                p.handle.fail(ErrorCodec.decode(env.frames[1], from: "server \(server)"))
            } else {
                p.handle.complete(part: server, frames: env.frames)
            }
        }
    }

    private func expireDeadlines() {
        guard !pending.isEmpty else { return }
        for (seq, p) in pending where p.deadline.hasPassed {
            let who = p.target < 0 ? "the scheduler at \(config.schedulerEndpoint)" : "server \(p.target) at \(serverAddresses[p.target])"
            p.handle.fail(.timeout(operation: "request \(seq)", waitingFor: who, seconds: p.deadline.budgetSeconds))
            pending.removeValue(forKey: seq)
        }
    }

    private func failAll(_ error: HybridSyncError) {
        for (_, p) in pending { p.handle.fail(error) }
        pending.removeAll()
        for item in outbox.withLock({ q -> [Outgoing] in defer { q.removeAll() }; return q }) { item.handle?.fail(error) }
    }
}
