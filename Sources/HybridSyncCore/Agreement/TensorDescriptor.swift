/// What a rank says about one tensor it submits for reduction: name, element type, count and op.
package struct TensorDescriptor: Sendable, Hashable, CustomStringConvertible {
    package let name: String
    package let dtype: DType
    package let count: Int
    package let op: ReduceOp

    package init(name: String, dtype: DType, count: Int, op: ReduceOp) {
        self.name = name
        self.dtype = dtype
        self.count = count
        self.op = op
    }

    /// Bytes of the tensor's data.
    package var byteCount: Int { count * dtype.byteWidth }

    package var description: String { "\(name)[\(count) x \(dtype), \(op)]" }
}

extension TensorDescriptor {
    /// Longest tensor name accepted on the wire.
    package static let maxNameBytes = 1024

    /// Encodes a list of descriptors (u32 count, then name, dtype, op, count for each).
    package static func encode(_ list: [TensorDescriptor]) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + list.count * 32)
        w.u32(UInt32(truncatingIfNeeded: list.count))
        for d in list {
            w.string(d.name)
            w.u8(d.dtype.rawValue)
            w.u8(d.op.rawValue)
            w.u64(UInt64(d.count))
        }
        return w.bytes
    }

    /// Decodes what `encode` wrote; throws `malformedMessage` on anything else.
    package static func decode(_ bytes: [UInt8], from peer: String) throws -> [TensorDescriptor] {
        try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "tensor list from \(peer)")
            let n = Int(try r.u32("tensor count"))
            guard n <= r.remaining / 14 else {
                throw HybridSyncError.malformedMessage(.length, "tensor list from \(peer): \(n) tensors cannot fit in \(r.remaining) bytes")
            }
            var out: [TensorDescriptor] = []
            out.reserveCapacity(n)
            for _ in 0..<n {
                let name = try r.string("tensor name", maxLength: maxNameBytes)
                let code = try r.u8("dtype")
                guard let dtype = DType(rawValue: code) else {
                    throw HybridSyncError.malformedMessage(.field, "tensor list from \(peer): unknown dtype code \(code) for '\(name)'")
                }
                let opCode = try r.u8("op")
                guard let op = ReduceOp(rawValue: opCode) else {
                    throw HybridSyncError.malformedMessage(.field, "tensor list from \(peer): unknown op code \(opCode) for '\(name)'")
                }
                let count = try r.u64("count")
                guard count <= UInt64(Int.max / 8) else {
                    throw HybridSyncError.malformedMessage(.field, "tensor list from \(peer): count \(count) of '\(name)' is too large")
                }
                out.append(TensorDescriptor(name: name, dtype: dtype, count: Int(count), op: op))
            }
            try r.expectEnd()
            return out
        }
    }
}
