import HybridSyncCore
import Logging

/// What a node's state machine asks its shell to do.
package enum NodeDirective {
    /// Send a message to a peer.
    case send(Peer, OutboundMessage)
    /// Open the next connection (`Peer.link(n)` for the n-th connect, counting from 0).
    case connect(String)
    /// A request of the node's user is over (worker only): `part` answered with `frames`, or failed.
    case resolve(request: Int, part: Int, Result<[any ByteFrame], HybridSyncError>)
    /// Log a line (the shell adds the node's metadata).
    case log(Logger.Level, String)
    /// Add `amount` to the node's counter `name` (resends, duplicates, refusals).
    case count(String, Int)
    /// The job has lost a node: the node's user learns it at once (a worker's ring waits end with it).
    case fault(HybridSyncError)
    /// The node is done: nil for a clean end, or the failure that ends it.
    case stop(HybridSyncError?)
}

/// The protocol logic of one parameter-server node (scheduler, server or worker), without I/O or clocks:
/// events in, with the time passed in (seconds on a monotonic clock); directives out. The `NodeShell`
/// owns the transport, the clock, polling and wake-ups, and carries the directives out.
package protocol NodeMachine {
    /// A request from the node's user (worker: push, pull, ...); `Never` for nodes without users.
    associatedtype Command: Sendable
    /// Called once, before any other event.
    mutating func start(now: Double) -> [NodeDirective]
    /// A message that passed the wire format's checks.
    mutating func onMessage(_ message: InboundEnvelope, now: Double) -> [NodeDirective]
    /// A message that did not.
    mutating func onRejected(_ rejection: Rejection, now: Double) -> [NodeDirective]
    /// Time passed (at least every `tickSeconds`).
    mutating func onTick(now: Double) -> [NodeDirective]
    /// A request from the node's user.
    mutating func onCommand(_ command: Command, now: Double) -> [NodeDirective]
    /// A send to `peer` of the message with `seq` failed.
    mutating func onSendFailed(to peer: Peer, seq: UInt64, error: HybridSyncError, now: Double) -> [NodeDirective]
    /// Whether the machine has work to do in slices between polls (a server writing a checkpoint).
    var hasBackgroundWork: Bool { get }
    /// Do one slice of that work; called between polls while `hasBackgroundWork`, so the node keeps
    /// answering heartbeats and requests.
    mutating func onIdle(now: Double) -> [NodeDirective]
}

extension NodeMachine {
    package var hasBackgroundWork: Bool { false }
    package mutating func onIdle(now: Double) -> [NodeDirective] { [] }
}
