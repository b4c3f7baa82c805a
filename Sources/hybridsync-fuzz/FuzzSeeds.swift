import Foundation
import HybridSyncCore
import HybridSyncPS

/// The seed corpus: one well-formed message of each kind the nodes take, so the fuzzer starts past the
/// magic and the version and mutates real structure.
enum FuzzSeeds {
    static let tables = [TableSpec(name: "t", dimension: 4, optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-8, initialAccumulator: 0.1)),
                         TableSpec(name: "b", dimension: 2, optimizer: .sgd(learningRate: 1), consistency: .bsp, nonFinite: .skipRow)]

    static func all() -> [[UInt8]] {
        let keys = [UInt64(1), 9].flatMap { k in withUnsafeBytes(of: k.littleEndian) { Array($0) } }
        func rows(_ n: Int) -> [UInt8] { [Float](repeating: 0.5, count: n).withUnsafeBytes { Array($0) } }
        let w0 = NodeID(.worker, 0)
        let messages: [OutboundMessage] = [
            OutboundMessage(MessageHeader(kind: .push, sender: w0, seq: 2, sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: true)]),
                            .empty, payload: [.bytes(keys), .bytes(rows(8))]),
            OutboundMessage(MessageHeader(kind: .pull, sender: w0, seq: 3, sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: false)]),
                            .empty, payload: [.bytes(keys), .bytes([])]),
            OutboundMessage(MessageHeader(kind: .pushPull, sender: w0, seq: 4, sections: [SectionInfo(table: "b", piece: 0, rowLength: 2, keyCount: 2, hasValues: true)]),
                            .empty, payload: [.bytes(keys), .bytes(rows(4))]),
            OutboundMessage(MessageHeader(kind: .declare, sender: w0, seq: 5), .declare(tables)),
            OutboundMessage(MessageHeader(kind: .clock, sender: w0, seq: 6, clock: 1), .empty),
            OutboundMessage(MessageHeader(kind: .stats, sender: w0, seq: 7), .empty),
            OutboundMessage(MessageHeader(kind: .heartbeat, sender: w0, seq: 8), .empty),
            OutboundMessage(MessageHeader(kind: .barrier, sender: w0, seq: 9), .barrier(.workers)),
            OutboundMessage(MessageHeader(kind: .finished, sender: w0, seq: 10), .empty),
            OutboundMessage(MessageHeader(kind: .register, sender: .unassigned(.worker), seq: 1), .register(role: .worker, address: "tcp://h:1", preferredIndex: 0)),
            OutboundMessage(MessageHeader(kind: .reply, sender: NodeID(.server, 0), seq: 3, flags: MessageFlags.keysOmitted,
                                          sections: [SectionInfo(table: "t", piece: 0, rowLength: 4, keyCount: 2, hasValues: true)]),
                            .empty, payload: [.bytes([]), .bytes(rows(8))]),
            OutboundMessage(MessageHeader(kind: .nodeDead, sender: .scheduler, seq: 2), .nodeDead(NodeID(.server, 0), reason: "silent")),
        ]
        return messages.map { m in FuzzInput.encode(m.frames().map { f in f.withUnsafeBytes { Array($0) } }) }
    }

    static func write(to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, seed) in all().enumerated() {
            try Data(seed).write(to: URL(fileURLWithPath: dir).appendingPathComponent(String(format: "seed-%02d", i)))
        }
    }
}
