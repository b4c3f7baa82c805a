import Foundation
import HybridSyncCore
import Synchronization

/// Frames that arrived over the in-memory network: plain bytes.
struct MemoryFrame: ByteFrame {
    let bytes: [UInt8]
    var count: Int { bytes.count }
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try bytes.withUnsafeBytes(body) }
}

/// A network of parameter-server nodes inside one process: each node's `MemoryMessageTransport` has an
/// inbox; endpoints are names (`memory://server-1`) registered when a node listens. Messages on one
/// connection arrive in order. A closed node's inbox refuses further messages (they are lost, as to a
/// dead process).
package final class MemoryNetwork: Sendable {
    struct Letter {
        let from: Peer
        let frames: [[UInt8]]
    }

    final class Inbox: Sendable {
        let condition = NSCondition()
        let letters = Mutex<(queue: [Letter], woken: Bool, closed: Bool)>(([], false, false))

        func post(_ letter: Letter) {
            condition.lock()
            letters.withLock { if !$0.closed { $0.queue.append(letter) } }
            condition.broadcast()
            condition.unlock()
        }

        func wake() {
            condition.lock()
            letters.withLock { $0.woken = true }
            condition.broadcast()
            condition.unlock()
        }

        func take(until deadline: Deadline) -> [Letter] {
            condition.lock()
            defer { condition.unlock() }
            while true {
                let got = letters.withLock { s -> [Letter]? in
                    if s.queue.isEmpty && !s.woken { return nil }
                    defer { s.queue.removeAll(); s.woken = false }
                    return s.queue
                }
                if let got { return got }
                let left = deadline.remainingSeconds
                if left <= 0 { return [] }
                _ = condition.wait(until: Date(timeIntervalSinceNow: left))
            }
        }
    }

    struct Registry {
        var listeners: [String: Inbox] = [:]
        /// Connection routes: route id -> (the connecting node's inbox, its link index there).
        var routes: [[UInt8]: (Inbox, Int)] = [:]
        var nextRoute: UInt32 = 1
    }

    let registry = Mutex(Registry())

    package init() {}

    /// A new node's transport on this network.
    package func transport() -> MemoryMessageTransport { MemoryMessageTransport(network: self) }
}

/// One node's end of a `MemoryNetwork`.
package final class MemoryMessageTransport: MessageTransport {
    private let network: MemoryNetwork
    private let inbox = MemoryNetwork.Inbox()
    private var listening: String?
    /// Per link: the listener's inbox and this link's route id there.
    private var links: [(MemoryNetwork.Inbox, [UInt8])] = []

    init(network: MemoryNetwork) { self.network = network }

    package func listen(_ endpoint: String) throws -> String {
        // A TCP endpoint on any port, or a same-host ipc:// endpoint, gets a fresh name of its own.
        let name =
            endpoint.hasSuffix(":0") || endpoint.hasPrefix("ipc://") || endpoint.isEmpty
            ? "memory://node-\(UInt(bitPattern: ObjectIdentifier(self).hashValue))" : endpoint
        try network.registry.withLock { r in
            guard r.listeners[name] == nil else { throw HybridSyncError.invalidArgument(.configuration, "\(name) is already bound") }
            r.listeners[name] = inbox
        }
        listening = name
        return name
    }

    package func connect(_ endpoint: String) throws -> Int {
        let index = links.count
        let me = inbox
        let (target, route) = try network.registry.withLock { r -> (MemoryNetwork.Inbox, [UInt8]) in
            guard let target = r.listeners[endpoint] else {
                throw HybridSyncError.timeout(operation: "connect", waitingFor: "nothing listens at \(endpoint)", seconds: 0)
            }
            let id = r.nextRoute
            r.nextRoute += 1
            let route = withUnsafeBytes(of: id.littleEndian) { Array($0) }
            r.routes[route] = (me, index)
            return (target, route)
        }
        links.append((target, route))
        return index
    }

    package func send(_ frames: [OutgoingFrame], to peer: Peer) throws {
        let copies = frames.map { f -> [UInt8] in
            defer { f.discard() }
            return f.withUnsafeBytes { Array($0) }
        }
        switch peer {
        case .link(let i):
            guard links.indices.contains(i) else { throw HybridSyncError.invalidArgument(.range, "no connection \(i)") }
            links[i].0.post(.init(from: .routed(links[i].1), frames: copies))
        case .routed(let route):
            guard let (target, link) = network.registry.withLock({ $0.routes[route] }) else {
                return  // like a ROUTER: an unknown route drops the message
            }
            target.post(.init(from: .link(link), frames: copies))
        }
    }

    package func receive(until deadline: Deadline) throws -> [InboundMessage] {
        inbox.take(until: deadline).map { InboundMessage(from: $0.from, frames: $0.frames.map(MemoryFrame.init)) }
    }

    package var waker: @Sendable () -> Void {
        let i = inbox
        return { i.wake() }
    }

    package func close(lingerSeconds: Double) {
        inbox.letters.withLock {
            $0.closed = true; $0.queue.removeAll()
        }
        if let listening { _ = network.registry.withLock { $0.listeners.removeValue(forKey: listening) } }
        listening = nil
    }
}
