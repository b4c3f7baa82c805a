import Foundation
import HybridSyncCore
import HybridSyncZMQ

/// Raw ZeroMQ request/reply over loopback tcp, no HybridSync protocol: the ceiling `bench ps` compares with.
enum RawZMQ {
    /// Median round trip of a request of `requestBytes` answered by `replyBytes`.
    static func roundTrip(requestBytes: Int, replyBytes: Int, seconds: Double) throws -> Double {
        let routerContext = try ZMQContext()
        let router = try ZMQSocket(routerContext, kind: .router)
        let endpoint = try router.bind("tcp://127.0.0.1:0")
        let stop = Locked(false)
        let reply = [UInt8](repeating: 7, count: replyBytes)
        let box = Handover((routerContext, router))
        let echo = Thread {
            guard let (_, router) = box.take() else { return }
            while !stop.current {
                guard let ready = try? ZMQSocket.poll([router], fd: nil, timeoutMs: 5), !ready.ready.isEmpty else { continue }
                while let msg = try? router.receive() { try? router.send([.bytes(msg[0].bytes), .bytes(reply)]) }
            }
        }
        echo.start()
        defer { stop.current = true; while echo.isExecuting { usleep(1000) } }
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.connect(endpoint)
        var times: [Double] = []
        let deadline = Deadline.after(seconds: seconds)
        var it = 0
        while it < 5 || (!deadline.hasPassed && it < 5000) {
            let payload = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, requestBytes), alignment: 16)
            payload.initializeMemory(as: UInt8.self, repeating: 1, count: Swift.max(1, requestBytes))
            let t0 = ContinuousClock.now
            try dealer.send([.owned(payload, count: requestBytes)])
            while try dealer.receive() == nil { _ = try ZMQSocket.poll([dealer], fd: nil, timeoutMs: 100) }
            if it > 0 { times.append(secondsSince(t0)) }
            it += 1
        }
        return median(times)
    }
}
