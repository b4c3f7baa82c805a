import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncZMQ

/// A bare DEALER socket to server 0 for sending hand-made frames (the bad-input check), over CURVE with
/// the worker's own key when the job has keys.
struct RawProbe {
    let context: ZMQContext
    let socket: ZMQSocket

    init(address: String, curve: CurveSetup?) throws {
        context = try ZMQContext()
        socket = try ZMQSocket(context, kind: .dealer)
        if let curve { try socket.useCurve(curve.client, serverKey: curve.server.publicKey) }
        try socket.connect(address)
    }

    /// Sends `frames` and returns the error the server answered with (nil if it answered without one).
    func roundTrip(_ frames: [[UInt8]]) throws -> HybridSyncError? {
        try socket.send(frames.map { .bytes($0) })
        let deadline = Deadline.after(seconds: 10)
        while !deadline.hasPassed {
            _ = try ZMQSocket.poll([socket], fd: nil, timeoutMs: 50)
            if let reply = try socket.receive() {
                guard let header = try? WireCodec.decodeHeader(reply[0]) else { return .malformedMessage(.kind, "unreadable reply") }
                return header.kind == .error ? ErrorCodec.decode(reply[1].bytes, from: "server") : nil
            }
        }
        throw HybridSyncError.timeout(operation: "bad-input probe", waitingFor: "server", seconds: 10)
    }
}
