import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncZMQ

/// A bare connection to server 0 for sending hand-made frames (the bad-input check), over the secure
/// channel with the worker's own key when the job has keys.
struct RawProbe {
    let transport: ZMQMessageTransport

    init(address: String, curve: CurveSetup?) throws {
        transport = try ZMQMessageTransport(maxFrameBytes: 1 << 30, curve: curve)
        _ = try transport.connect(address)
    }

    /// Sends `frames` and returns the error the server answered with (nil if it answered without one).
    func roundTrip(_ frames: [[UInt8]]) throws -> HybridSyncError? {
        try transport.send(frames.map { .bytes($0) }, to: .link(0))
        let deadline = Deadline.after(seconds: 10)
        while !deadline.hasPassed {
            for reply in try transport.receive(until: .after(seconds: 0.05)) {
                guard reply.frames.count >= 1, let header = try? reply.frames[0].withUnsafeBytes({ try WireCodec.decodeHeader(Array($0)) }) else {
                    return .malformedMessage(.kind, "unreadable reply")
                }
                return header.kind == .error && reply.frames.count > 1 ? reply.frames[1].withUnsafeBytes { ErrorCodec.decode(Array($0), from: "server") } : nil
            }
        }
        throw HybridSyncError.timeout(operation: "bad-input probe", waitingFor: "server", seconds: 10)
    }
}
