import Foundation
import HybridSyncCore
import HybridSyncPS

/// The seed corpus: one well-formed message of each kind the nodes take, so the fuzzer starts past the
/// magic and the version and mutates real structure.
enum FuzzSeeds {
    static let tables = [
        TableSpec(name: "t", dimension: 4, optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-8, initialAccumulator: 0.1)),
        TableSpec(name: "b", dimension: 2, optimizer: .sgd(learningRate: 1), consistency: .bsp, nonFinite: .skipRow),
        TableSpec(name: "h", dimension: 4, optimizer: .accumulate, rowEncoding: .float16),
    ]

    static func all() -> [[UInt8]] {
        let keys = [UInt64(1), 9].flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }
        func rows(_ n: Int) -> [UInt8] { [Float](repeating: 0.5, count: n).withUnsafeBytes { Array($0) } }
        let w0 = NodeID(.worker, 0)
        let messages: [OutboundMessage] = [
            OutboundMessage(
                MessageHeader(kind: .push, sender: w0, seq: 2, sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: true)]),
                .empty, payload: [.bytes(keys), .bytes(rows(8))]),
            OutboundMessage(
                MessageHeader(kind: .pull, sender: w0, seq: 3, sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: false)]),
                .empty, payload: [.bytes(keys), .bytes([])]),
            OutboundMessage(
                MessageHeader(kind: .pushPull, sender: w0, seq: 4, sections: [SectionInfo(table: "b", piece: 0, rowLength: 2, keyCount: 2, hasValues: true)]),
                .empty, payload: [.bytes(keys), .bytes(rows(4))]),
            OutboundMessage(MessageHeader(kind: .declare, sender: w0, seq: 5), .declare(tables)),
            OutboundMessage(
                MessageHeader(
                    kind: .push, sender: w0, seq: 11,
                    sections: [SectionInfo(table: "h", piece: 0, rowLength: 4, encoding: .float16, keyCount: 2, hasValues: true)]),
                .empty, payload: [.bytes(keys), .bytes([UInt8](repeating: 0x3C, count: 16))]),
            OutboundMessage(MessageHeader(kind: .clock, sender: w0, seq: 6, clock: 1), .empty),
            OutboundMessage(MessageHeader(kind: .stats, sender: w0, seq: 7), .empty),
            OutboundMessage(MessageHeader(kind: .heartbeat, sender: w0, seq: 8), .empty),
            OutboundMessage(MessageHeader(kind: .barrier, sender: w0, seq: 9), .barrier(.workers, generation: 1)),
            OutboundMessage(MessageHeader(kind: .finished, sender: w0, seq: 10), .empty),
            OutboundMessage(
                MessageHeader(kind: .register, sender: .unassigned(.worker), seq: 1), .register(role: .worker, address: "tcp://h:1", preferredIndex: 0)),
            OutboundMessage(
                MessageHeader(
                    kind: .reply, sender: NodeID(.server, 0), seq: 3, flags: MessageFlags.keysOmitted,
                    sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: true)]),
                .empty, payload: [.bytes([]), .bytes(rows(8))]),
            OutboundMessage(MessageHeader(kind: .nodeDead, sender: .scheduler, seq: 2), .nodeDead(NodeID(.server, 0), reason: "silent")),
            OutboundMessage(MessageHeader(kind: .view, sender: .scheduler, seq: 0), .view(.initial(servers: 2, replication: 1), note: "")),
            forwarded, ack(.replicaAck), ack(.copyAck), ack(.redirect),
            OutboundMessage(copyHeader, .copy(index: 3, state: [], last: true)),
            OutboundMessage(MessageHeader(kind: .copied, sender: NodeID(.server, 0), seq: 0), .copied(server: 1)),
        ]
        return messages.map { m in FuzzInput.encode(m.frames().map { f in f.withUnsafeBytes { Array($0) } }) }
    }

    /// A push forwarded by shard 1's primary to its backup (the fuzzed server backs shard 1 up).
    static var forwarded: OutboundMessage {
        let keys = [UInt64(1), 9].flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }
        var h = MessageHeader(
            kind: .push, sender: NodeID(.worker, 1), seq: 2, flags: MessageFlags.replicated,
            sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: true)])
        h.shard = 1
        h.epoch = 1
        h.logIndex = 1
        return OutboundMessage(h, .empty, payload: [.bytes(keys), .bytes([Float](repeating: 0.5, count: 8).withUnsafeBytes { Array($0) })])
    }

    /// A server's acknowledgement (of a change, of a copy's part) or redirect, for shard 0.
    static func ack(_ kind: MessageKind) -> OutboundMessage {
        var h = MessageHeader(kind: kind, sender: NodeID(.server, 1), seq: 1)
        h.epoch = 1
        return OutboundMessage(h)
    }

    /// A copy's last part for shard 1.
    static var copyHeader: MessageHeader {
        var h = MessageHeader(kind: .copy, sender: NodeID(.server, 1), seq: 1)
        h.shard = 1
        h.epoch = 1
        return h
    }

    static func write(to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, seed) in all().enumerated() {
            try Data(seed).write(to: URL(fileURLWithPath: dir).appendingPathComponent(String(format: "seed-%02d", i)))
        }
    }
}
