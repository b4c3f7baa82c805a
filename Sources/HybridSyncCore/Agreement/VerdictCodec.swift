/// The coordinator's answer to a negotiation round, and its wire form.
package enum Verdict: Sendable, Equatable {
    /// Every rank submitted the same batch.
    case agreed
    /// The batch cannot be reduced; every rank throws this error.
    case failed(HybridSyncError)

    /// Encodes the verdict. Errors other than mismatch and stall travel as their text.
    package func encode() -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .agreed:
            w.u8(0)
        case .failed(.mismatch(let tensor, let field, let rankA, let valueA, let rankB, let valueB)):
            w.u8(1)
            w.string(tensor); w.string(field)
            w.u32(UInt32(rankA)); w.string(valueA)
            w.u32(UInt32(rankB)); w.string(valueB)
        case .failed(.stalled(let tensor, let missing, let seconds)):
            w.u8(2)
            w.string(tensor)
            w.f64(seconds)
            w.u32(UInt32(missing.count))
            for r in missing { w.u32(UInt32(r)) }
        case .failed(let other):
            w.u8(3)
            w.string(other.description)
        }
        return w.bytes
    }

    /// Decodes what `encode` wrote; throws `malformedMessage` otherwise.
    package static func decode(_ bytes: [UInt8], from peer: String) throws -> Verdict {
        try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "verdict from \(peer)")
            let kind = try r.u8("kind")
            let v: Verdict
            switch kind {
            case 0:
                v = .agreed
            case 1:
                let tensor = try r.string("tensor"), field = try r.string("field")
                let ra = Int(try r.u32("rank")), va = try r.string("value")
                let rb = Int(try r.u32("rank")), vb = try r.string("value")
                v = .failed(.mismatch(tensor: tensor, field: field, rankA: ra, valueA: va, rankB: rb, valueB: vb))
            case 2:
                let tensor = try r.string("tensor")
                let seconds = try r.f64("seconds")
                let n = Int(try r.u32("missing count"))
                guard n <= r.remaining / 4 else { throw HybridSyncError.malformedMessage(.length, "verdict from \(peer): \(n) ranks do not fit") }
                var missing: [Int] = []
                for _ in 0..<n { missing.append(Int(try r.u32("rank"))) }
                v = .failed(.stalled(tensor: tensor, missingRanks: missing, seconds: seconds))
            case 3:
                v = .failed(.remote(peer: peer, message: try r.string("message", maxLength: 65536)))
            default:
                throw HybridSyncError.malformedMessage(.field, "verdict from \(peer): unknown kind \(kind)")
            }
            try r.expectEnd()
            return v
        }
    }
}
