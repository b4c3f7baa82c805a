import Foundation
import HybridSyncCore
import HybridSyncPS

/// Sends bad requests to a server over a raw socket (unknown table, wrong row length, wrong element
/// type, malformed and oversize frames) and checks each gets the right typed error while the server
/// keeps serving this worker's ordinary requests.
struct BadInputCheck {
    let worker: KVWorker
    let config: PSConfig

    func run() throws -> (Bool, String) {
        try worker.declare([TableSpec(name: "good", dimension: 4, optimizer: .accumulate)])
        try worker.push([SparseRows(table: "good", keys: [1], values: [1, 2, 3, 4])])
        let probe = try RawProbe(address: worker.serverAddresses[0], curve: worker.config.curve)
        var results: [String] = []
        var ok = true
        func expect(_ label: String, _ frames: [[UInt8]], _ matches: (HybridSyncError) -> Bool) throws {
            let error = try probe.roundTrip(frames)
            let good = error.map(matches) ?? false
            ok = ok && good
            results.append("\(label):\(good ? "ok" : "FAIL(\(error.map { "\($0)" } ?? "no error"))")")
            // The server still serves ordinary requests.
            let row = try worker.pull([RowQuery(table: "good", keys: [1])])[0].values
            if row != [1, 2, 3, 4] { ok = false; results.append("after \(label): row \(row)") }
        }
        func request(_ table: String, rowLength: Int, encoding: RowEncoding = .float32, keys: Int = 1, valueBytes: Int? = nil) -> [[UInt8]] {
            let s = SectionInfo(table: table, piece: 0, rowLength: rowLength, encoding: encoding, keyCount: keys, hasValues: true)
            let h = MessageHeader(kind: .push, sender: worker.id, seq: 77, sections: [s])
            return [
                WireCodec.encodeHeader(h), [], [UInt8](repeating: 0, count: keys * 8),
                [UInt8](repeating: 0, count: valueBytes ?? keys * rowLength * encoding.byteWidth),
            ]
        }
        try expect("unknown-table", request("nope", rowLength: 4)) {
            if case .unknownTable("nope") = $0 { return true }; return false
        }
        try expect("row-length", request("good", rowLength: 5)) {
            if case .shapeMismatch(let w, "4", "5") = $0 { return w.contains("row length") }; return false
        }
        try expect("dtype", request("good", rowLength: 4, encoding: .float16)) {
            if case .shapeMismatch(let w, "float32", "float16") = $0 { return w.contains("element type") }; return false
        }
        try expect("values-frame", request("good", rowLength: 4, valueBytes: 3)) {
            if case .malformedMessage(.frames, _) = $0 { return true }; return false
        }
        try expect("garbage", [[1, 2, 3], [], [9]]) {
            if case .malformedMessage(.length, _) = $0 { return true }; return false
        }
        var truncated = request("good", rowLength: 4)
        truncated[0] = Array(truncated[0].prefix(20))
        try expect("truncated-header", truncated) {
            if case .malformedMessage(.length, _) = $0 { return true }; return false
        }
        var badVersion = request("good", rowLength: 4)
        badVersion[0][4] = 9
        try expect("version", badVersion) {
            if case .malformedMessage(.format, let m) = $0 { return m.contains("version 9") }; return false
        }
        let big = config.maxMessageBytes / 4 + 16
        try expect("oversize", request("good", rowLength: big, keys: 1)) {
            if case .oversizeMessage = $0 { return true }; return false
        }
        return (ok, results.joined(separator: " "))
    }
}
