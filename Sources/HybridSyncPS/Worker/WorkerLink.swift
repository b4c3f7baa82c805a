import Dispatch
import Foundation
import HybridSyncCore
import Logging
import Synchronization

/// The worker's side of its node shell: the I/O thread running `WorkerMachine` over a transport, the
/// table of requests in flight (`PSHandle`s by id), and the byte counters. `KVWorker` builds requests;
/// this hands them over and completes them.
final class WorkerLink: Sendable {
    private let commands = CommandQueue<WorkerMachine.Command>()
    private let handles = Mutex<[Int: PSHandle]>([:])
    private let nextID = Atomic<Int>(1)
    private let ended = DispatchSemaphore(value: 0)
    private let failure = Mutex<HybridSyncError?>(nil)
    /// Bytes of request frames sent to servers and of reply frames received from them.
    let bytesSent = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    /// Requests sent again because their reply was late.
    let resends = Atomic<Int>(0)
    /// Server deaths the job went on through (views that moved shards to their backups).
    let absorbed = Atomic<Int>(0)
    /// The first node loss the scheduler reported (or the scheduler's own silence).
    let fault = Mutex<HybridSyncError?>(nil)

    /// Starts the I/O thread: `makeTransport` runs on it, then the shell registers with the scheduler.
    /// `registration` completes with the address book.
    init(
        config: PSConfig, logger: Logger, registration: PSHandle,
        makeTransport: @escaping @Sendable () throws -> any MessageTransport
    ) {
        handles.withLock { $0[0] = registration }
        let thread = Thread { [self] in
            do {
                let transport = try makeTransport()
                let shell = NodeShell(
                    machine: WorkerMachine(config: config), transport: transport, commands: commands,
                    maxMessageBytes: config.maxMessageBytes, tickSeconds: Swift.min(0.01, config.resendAfter / 2), logger: logger,
                    onResolve: { [self] in resolve($0, $1, $2) },
                    onCount: { [self] name, n in
                        if name == "resends" { resends.add(n, ordering: .relaxed) }
                        if name == "absorbed" { absorbed.add(n, ordering: .relaxed) }
                    },
                    onFault: { [self] e in fault.withLock { if $0 == nil { $0 = e } } })
                try shell.run()
            } catch {
                let e = error as? HybridSyncError ?? .remote(peer: "worker I/O", message: "\(error)")
                failure.withLock { $0 = e }
            }
            // Whatever is still waiting can never be answered now.
            let e = failure.withLock { $0 } ?? .unusable("the worker has finished")
            for c in commands.close() {
                if case .request(let r) = c { handles.withLock { $0.removeValue(forKey: r.id) }?.fail(e) }
            }
            for h in handles.withLock({ t in
                defer { t.removeAll() }; return Array(t.values)
            }) { h.fail(e) }
            ended.signal()
        }
        thread.name = "hybridsync-worker-io"
        thread.start()
    }

    /// A fresh request id.
    func makeID() -> Int { nextID.wrappingAdd(1, ordering: .relaxed).newValue }

    /// Hands a request to the I/O thread; its handle completes when every part has answered.
    func submit(_ request: WorkerRequest, handle: PSHandle) {
        handles.withLock { $0[request.id] = handle }
        bytesSent.add(request.parts.reduce(0) { $0 + ($1.target == .scheduler ? 0 : $1.message.payload.reduce(0) { $0 + $1.count }) }, ordering: .relaxed)
        if !commands.submit(.request(request)) {
            _ = handles.withLock { $0.removeValue(forKey: request.id) }
            handle.fail(failure.withLock { $0 } ?? .unusable("the worker has finished"))
        }
    }

    /// Called on the I/O thread for every `resolve` directive.
    private func resolve(_ request: Int, _ part: Int, _ result: Result<[any ByteFrame], HybridSyncError>) {
        guard let h = handles.withLock({ $0[request] }) else { return }
        switch result {
        case .success(let frames):
            if part >= 0 { bytesReceived.add(frames.reduce(0) { $0 + $1.count }, ordering: .relaxed) }
            h.complete(part: part, frames: frames)
        case .failure(let e):
            h.fail(e)
        }
        if h.isDone { handles.withLock { _ = $0.removeValue(forKey: request) } }
    }

    /// Tells the scheduler this worker is done and waits (up to `seconds`) for the I/O thread to end.
    func finish(waitingUpTo seconds: Double) {
        commands.submit(.finish)
        // The signal is put back, so later callers (deinit after finish) return at once too.
        if ended.wait(timeout: .now() + .milliseconds(Int(seconds * 1000))) == .success { ended.signal() }
    }
}
