/// Bytes of one received frame, read in place.
package protocol ByteFrame: Sendable {
    var count: Int { get }
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ByteFrame where Element == UInt8 {}

/// One frame of an outgoing multipart message.
package enum OutgoingFrame: @unchecked Sendable {
    /// Bytes copied into the message.
    case bytes([UInt8])
    /// Memory handed over without a copy; it must come from `malloc` (Swift's `allocate` uses it) and the
    /// transport frees it with `free` once sent (or on failure). The sender must not touch it afterwards.
    /// (`@unchecked Sendable` because of this pointer: ownership moves with the frame.)
    case owned(UnsafeMutableRawPointer, count: Int)
    /// Bytes shared with whoever else holds them (a worker keeps a request's frames to resend it);
    /// sent without a copy where the transport can.
    case shared(SharedBytes)

    /// Bytes of the frame.
    package var count: Int {
        switch self {
        case .bytes(let b): return b.count
        case .owned(_, let n): return n
        case .shared(let s): return s.count
        }
    }

    /// Calls `body` with the frame's bytes.
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .bytes(let b): return try b.withUnsafeBytes(body)
        case .owned(let p, let n): return try body(UnsafeRawBufferPointer(start: p, count: n))
        case .shared(let s): return try body(UnsafeRawBufferPointer(start: s.pointer, count: s.count))
        }
    }

    /// Frees `owned` memory that will not be sent (a dropped message).
    package func discard() {
        if case .owned(let p, _) = self { p.deallocate() }
    }
}

/// Who a message came from, or goes to, as one node's transport sees it.
package enum Peer: Hashable, Sendable, CustomStringConvertible {
    /// A node that connected to this node's listening endpoint, by its routing id (reply by it).
    case routed([UInt8])
    /// A connection this node opened with `connect`, by its index.
    case link(Int)

    package var description: String {
        switch self {
        case .routed(let r): return "routed peer \(r.map { String($0, radix: 16) }.joined())"
        case .link(let i): return "link \(i)"
        }
    }
}

/// A message taken off a transport.
package struct InboundMessage {
    package let from: Peer
    package let frames: [any ByteFrame]
    /// Who the transport authenticated the sender as (the secure channel: the member's identity); nil when the
    /// transport authenticates nobody, or for replies on a connection this node opened.
    package let identity: String?
    package init(from: Peer, frames: [any ByteFrame], identity: String? = nil) {
        self.from = from
        self.frames = frames
        self.identity = identity
    }
}

/// Node-addressed multipart messages: everything the parameter server's node shell sees of the network.
/// ZeroMQ implements it (ROUTER to listen, one DEALER per connection); an in-memory implementation runs
/// a whole job in one process; a decorator injects faults into either.
///
/// Delivery: messages on one link arrive in order, or not at all (a peer that died, or an injected
/// fault). Nothing here retries; the protocol above does.
///
/// Threading: one thread (the node shell's) calls everything except `waker`, which any thread may call.
package protocol MessageTransport: AnyObject {
    /// Binds the listening endpoint (`tcp://host:0` picks a port) and returns the bound endpoint.
    func listen(_ endpoint: String) throws -> String
    /// Opens a connection; returns its index (`Peer.link`). Connecting never blocks; messages queue.
    func connect(_ endpoint: String) throws -> Int
    /// Sends one multipart message. Never blocks for long: a full queue throws.
    func send(_ frames: [OutgoingFrame], to peer: Peer) throws
    /// Waits until a message arrives, `wake` is called, or `deadline` passes; returns what arrived.
    func receive(until deadline: Deadline) throws -> [InboundMessage]
    /// Makes a `receive` in progress (or the next one) return at once; callable from any thread.
    var waker: @Sendable () -> Void { get }
    /// Closes every socket; `lingerSeconds` lets queued messages leave first.
    func close(lingerSeconds: Double)
}
