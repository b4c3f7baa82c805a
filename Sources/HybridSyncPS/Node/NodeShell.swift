import HybridSyncCore
import Logging
import Synchronization

/// The one I/O loop of every parameter-server node: it owns the transport and the clock, feeds the
/// node's state machine its events (messages, time, its user's commands) and carries out the
/// directives it returns. Scheduler, server and worker differ only in their machine.
///
/// Threading: `run` occupies the calling thread until the machine stops. Commands may be submitted
/// from any thread through `CommandQueue`.
package final class NodeShell<Machine: NodeMachine> {
    private var machine: Machine
    private let transport: any MessageTransport
    private let commands: CommandQueue<Machine.Command>
    private let maxMessageBytes: Int
    private let tickSeconds: Double
    private let logger: Logger
    private let onResolve: (Int, Int, Result<[any ByteFrame], HybridSyncError>) -> Void
    private let onCount: (String, Int) -> Void
    private let onFault: (HybridSyncError) -> Void
    private var links = 0
    private var outcome: HybridSyncError??

    /// - Parameters:
    ///   - tickSeconds: longest time between two `onTick` events.
    ///   - onResolve: called on this thread for every `resolve` directive.
    ///   - onCount: called on this thread for every `count` directive.
    package init(
        machine: Machine, transport: any MessageTransport, commands: CommandQueue<Machine.Command>,
        maxMessageBytes: Int, tickSeconds: Double, logger: Logger,
        onResolve: @escaping (Int, Int, Result<[any ByteFrame], HybridSyncError>) -> Void = { _, _, _ in },
        onCount: @escaping (String, Int) -> Void = { _, _ in },
        onFault: @escaping (HybridSyncError) -> Void = { _ in }
    ) {
        self.machine = machine
        self.transport = transport
        self.commands = commands
        self.maxMessageBytes = maxMessageBytes
        self.tickSeconds = tickSeconds
        self.logger = logger
        self.onResolve = onResolve
        self.onCount = onCount
        self.onFault = onFault
    }

    /// Runs until the machine stops; throws the failure it stopped with. Closes the transport (with a
    /// short linger so final messages leave) in every case.
    package func run() throws {
        defer { transport.close(lingerSeconds: 1) }
        commands.attach(transport.waker)
        execute(machine.start(now: monotonicSeconds()))
        var nextTick = monotonicSeconds() + tickSeconds
        while outcome == nil {
            for c in commands.drain() where outcome == nil {
                execute(machine.onCommand(c, now: monotonicSeconds()))
            }
            if outcome != nil { break }
            let wait = machine.hasBackgroundWork ? 0 : Swift.max(0, nextTick - monotonicSeconds())
            let inbound: [InboundMessage]
            do {
                inbound = try transport.receive(until: .after(seconds: wait))
            } catch let e as HybridSyncError {
                logger.error("transport failed", metadata: ["error": "\(e)"])
                execute([.stop(e)])
                break
            }
            for m in inbound where outcome == nil {
                switch InboundEnvelope.open(m, maxMessageBytes: maxMessageBytes) {
                case .success(let envelope): execute(machine.onMessage(envelope, now: monotonicSeconds()))
                case .failure(let rejection): execute(machine.onRejected(rejection, now: monotonicSeconds()))
                }
            }
            let now = monotonicSeconds()
            if now >= nextTick {
                execute(machine.onTick(now: now))
                nextTick = now + tickSeconds
            }
            if machine.hasBackgroundWork && outcome == nil { execute(machine.onIdle(now: monotonicSeconds())) }
        }
        commands.close()
        if case .some(.some(let failure)) = outcome { throw failure }
    }

    private func execute(_ directives: [NodeDirective]) {
        var queue = directives[...]
        while let d = queue.popFirst() {
            switch d {
            case let .send(peer, message):
                do {
                    try transport.send(message.frames(), to: peer)
                } catch {
                    let e = error as? HybridSyncError ?? .transport(library: "transport", call: "send", code: -1, message: "\(error)")
                    logger.warning("send failed", metadata: ["peer": "\(peer)", "kind": "\(message.header.kind)", "error": "\(e)"])
                    queue += machine.onSendFailed(to: peer, seq: message.header.seq, error: e, now: monotonicSeconds())
                }
            case .connect(let endpoint):
                do {
                    _ = try transport.connect(endpoint)
                    links += 1
                } catch {
                    let e = error as? HybridSyncError ?? .invalidArgument(.configuration, "cannot connect to \(endpoint): \(error)")
                    queue.append(.stop(e))
                }
            case let .resolve(request, part, result):
                onResolve(request, part, result)
            case let .log(level, text):
                logger.log(level: level, "\(text)")
            case let .count(name, amount):
                onCount(name, amount)
            case .fault(let e):
                onFault(e)
            case .stop(let failure):
                if outcome == nil { outcome = .some(failure) }
            }
        }
    }
}

/// Commands for a node shell from its user's threads: a short queue under a `Mutex`, and the
/// transport's waker so the shell sees them at once.
package final class CommandQueue<Command: Sendable>: Sendable {
    private struct State {
        var items: [Command] = []
        var waker: (@Sendable () -> Void)?
        var closed = false
    }
    private let state = Mutex(State())

    package init() {}

    /// Queues `command`; false if the shell has stopped (the command will never run).
    @discardableResult
    package func submit(_ command: Command) -> Bool {
        let waker = state.withLock { s -> (@Sendable () -> Void)?? in
            guard !s.closed else { return nil }
            s.items.append(command)
            return .some(s.waker)
        }
        guard let w = waker else { return false }
        w?()
        return true
    }

    func attach(_ waker: @escaping @Sendable () -> Void) {
        let pending = state.withLock { s -> Bool in
            s.waker = waker; return !s.items.isEmpty
        }
        if pending { waker() }
    }

    func drain() -> [Command] {
        state.withLock { s in
            defer { s.items.removeAll(keepingCapacity: true) }; return s.items
        }
    }

    /// Refuses further commands and returns those never run.
    @discardableResult
    package func close() -> [Command] {
        state.withLock { s in
            s.closed = true; defer { s.items.removeAll() }; return s.items
        }
    }
}
