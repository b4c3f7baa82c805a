import Foundation
import HybridSyncCore
import HybridSyncPS
import HybridSyncZMQ

/// The ceiling `bench ps` compares with: request/reply through the library's own ZeroMQ transport
/// (a ROUTER listening where a server would, on `ipc://` or TCP as `PSConfig` chooses; a DEALER
/// connecting; the same socket options and poll loop), with a PS message's frame layout (a header
/// frame, a keys frame and a values frame, sent without a copy), but no protocol: no codec, no
/// placement, no server logic.
enum RawZMQ {
    /// Median round trip of a request carrying `keyBytes` of keys and `valueBytes` of values, answered
    /// with `replyBytes` of values.
    static func roundTrip(keyBytes: Int, valueBytes: Int, replyBytes: Int, seconds: Double, config: PSConfig) throws -> Double {
        let limit = Swift.max(config.maxMessageBytes, keyBytes + valueBytes + replyBytes + 4096)
        let server = try ZMQMessageTransport(maxFrameBytes: limit)
        let endpoint = try server.listen(config.serverListenEndpoint)
        let stop = Locked(false)
        let box = Handover(server)
        let echo = Thread {
            guard let server = box.take() else { return }
            defer { server.close(lingerSeconds: 0) }
            let reply = SharedBytes.viewing([UInt8](repeating: 7, count: replyBytes))
            let header = [UInt8](repeating: 2, count: 48)
            while !stop.current {
                guard let messages = try? server.receive(until: .after(seconds: 0.05)) else { continue }
                for m in messages { try? server.send([.bytes(header), .bytes([]), .shared(reply)], to: m.from) }
            }
        }
        echo.start()
        defer { stop.current = true; while echo.isExecuting { usleep(1000) } }
        let client = try ZMQMessageTransport(maxFrameBytes: limit)
        defer { client.close(lingerSeconds: 0) }
        let link = try client.connect(endpoint)
        let header = [UInt8](repeating: 1, count: 48)
        let keys = SharedBytes.viewing([UInt8](repeating: 1, count: keyBytes))
        let values = SharedBytes.viewing([UInt8](repeating: 1, count: valueBytes))
        var times: [Double] = []
        let deadline = Deadline.after(seconds: seconds)
        var it = 0
        while it < 5 || (!deadline.hasPassed && it < 5000) {
            let t0 = ContinuousClock.now
            try client.send([.bytes(header), .shared(keys), .shared(values)], to: .link(link))
            let answerBy = Deadline.after(seconds: 30)
            while try client.receive(until: answerBy).isEmpty {
                guard !answerBy.hasPassed else { throw HybridSyncError.timeout(operation: "raw ZeroMQ round trip", waitingFor: endpoint, seconds: 30) }
            }
            if it > 0 { times.append(secondsSince(t0)) }
            it += 1
        }
        return median(times)
    }
}
