import HybridSyncCore
import HybridSyncZMQ

/// Builds the frames of a message: header, meta, then (keys, values) per section.
func messageFrames(_ header: MessageHeader, meta: [UInt8] = [], payload: [OutgoingFrame] = []) -> [OutgoingFrame] {
    [.bytes(WireCodec.encodeHeader(header)), .bytes(meta)] + payload
}

extension ReceivedFrame: ByteFrame {}

/// A message taken off a socket: the routing id (ROUTER sockets only) and the frames, checked against the
/// wire format.
struct Envelope {
    let route: [UInt8]
    let frames: [ReceivedFrame]
    let header: MessageHeader

    /// Validates `raw` (after the routing frame, if `routed`). On failure returns the error and whatever
    /// of the header could be read, so the sender can be answered.
    struct Rejected: Error {
        let error: HybridSyncError
        let route: [UInt8]
        /// The header, if it could be read (to address the error reply).
        let header: MessageHeader?
    }

    static func open(_ raw: [ReceivedFrame], routed: Bool, maxMessageBytes: Int) -> Result<Envelope, Rejected> {
        let route = routed && !raw.isEmpty ? raw[0].bytes : []
        let frames = routed ? Array(raw.dropFirst()) : raw
        do {
            let header = try WireCodec.validate(frames, maxMessageBytes: maxMessageBytes)
            return .success(Envelope(route: route, frames: frames, header: header))
        } catch let e as HybridSyncError {
            let partial = frames.first.flatMap { try? WireCodec.decodeHeader($0) }
            return .failure(Rejected(error: e, route: route, header: partial))
        } catch {
            return .failure(Rejected(error: .malformedMessage("\(error)"), route: route, header: nil))
        }
    }
}
