import HybridSyncCore

/// The parameter-server wire format, version 4. All integers little-endian.
///
/// A message is a multipart ZeroMQ message:
/// - frame 0, header: magic `u32 0x53505348` ("HSPS"), version `u8`, kind `u8`, flags `u16`, sender
///   `u32` (`role << 24 | index`), incarnation `u32` (a worker's, new each time it starts; 0 otherwise),
///   shard `u32`, epoch `u32`, log index `u64` (replication), seq `u64`, clock `i64`, section count `u32`, then for
///   each section: table name (`u32` length + UTF-8), piece `u32`, row length `u32`, row encoding `u8` (1 float32, 3 float16, 6 bfloat16),
///   has-values `u8`, key count `u64`;
/// - frame 1, meta: kind-specific fields (see `Docs/ParameterServer.md`);
/// - then for each section a keys frame (`u64` per key) and a values frame (row-major elements, empty
///   when the section carries no values).
/// The decoder checks every length against the frames and the size limit and throws
/// `malformedMessage` or `oversizeMessage`; it never traps.
package enum WireCodec {
    /// The first four bytes of every header ("HSPS" read little-endian).
    package static let magic: UInt32 = 0x5350_5348
    /// The wire version this build speaks; others are rejected.
    package static let version: UInt8 = 4
    /// Most sections one message may carry.
    package static let maxSections = 4096
    /// Default upper bound on a whole message: 512 MiB.
    package static let defaultMaxMessageBytes = 512 << 20

    /// Encodes the header frame.
    package static func encodeHeader(_ h: MessageHeader) -> [UInt8] {
        var w = ByteWriter(capacity: 40 + h.sections.count * 40)
        w.u32(magic)
        w.u8(version)
        w.u8(h.kind.rawValue)
        w.u16(h.flags)
        w.u32(h.sender.raw)
        w.u32(h.incarnation)
        w.u32(UInt32(truncatingIfNeeded: h.shard))
        w.u32(h.epoch)
        w.u64(h.logIndex)
        w.u64(h.seq)
        w.i64(h.clock)
        w.u32(UInt32(h.sections.count))
        for s in h.sections {
            w.string(s.table)
            w.u32(UInt32(s.piece))
            w.u32(UInt32(s.rowLength))
            w.u8(s.encoding.rawValue)
            w.u8(s.hasValues ? 1 : 0)
            w.u64(UInt64(s.keyCount))
        }
        return w.bytes
    }

    /// Decodes the header frame alone (used first, so a reply can name the sender even if the rest is bad).
    package static func decodeHeader(_ frame: some ByteFrame) throws -> MessageHeader {
        try frame.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: "message header")
            let m = try r.u32("magic")
            guard m == magic else { throw HybridSyncError.malformedMessage(.format, "bad magic 0x\(String(m, radix: 16)): not a HybridSync message") }
            let v = try r.u8("version")
            guard v == version else { throw HybridSyncError.malformedMessage(.format, "unsupported wire version \(v) (this build speaks \(version))") }
            let k = try r.u8("kind")
            guard let kind = MessageKind(rawValue: k) else { throw HybridSyncError.malformedMessage(.kind, "unknown message kind \(k)") }
            let flags = try r.u16("flags")
            let rawSender = try r.u32("sender")
            guard let sender = NodeID(raw: rawSender) else { throw HybridSyncError.malformedMessage(.field, "bad sender id 0x\(String(rawSender, radix: 16))") }
            let incarnation = try r.u32("incarnation")
            let shard = try r.u32("shard")
            guard shard < 4096 else { throw HybridSyncError.malformedMessage(.field, "shard \(shard) is beyond the limit of 4096 servers") }
            let epoch = try r.u32("epoch")
            let logIndex = try r.u64("log index")
            let seq = try r.u64("seq")
            let clock = try r.i64("clock")
            let n = Int(try r.u32("section count"))
            guard n <= maxSections else { throw HybridSyncError.malformedMessage(.frames, "\(n) sections exceed the limit of \(maxSections)") }
            var sections: [SectionInfo] = []
            sections.reserveCapacity(n)
            for _ in 0..<n {
                let table = try r.string("table name", maxLength: 256)
                let piece = Int(try r.u32("piece"))
                let rowLength = Int(try r.u32("row length"))
                let d = try r.u8("row encoding")
                guard let encoding = RowEncoding(rawValue: d) else {
                    throw HybridSyncError.malformedMessage(.field, "table '\(table)': unknown row encoding code \(d)")
                }
                let hv = try r.u8("has values")
                guard hv <= 1 else { throw HybridSyncError.malformedMessage(.field, "table '\(table)': bad has-values flag \(hv)") }
                let keys = try r.u64("key count")
                guard keys <= UInt64(Int32.max) else { throw HybridSyncError.malformedMessage(.field, "table '\(table)': key count \(keys) too large") }
                sections.append(SectionInfo(table: table, piece: piece, rowLength: rowLength, encoding: encoding, keyCount: Int(keys), hasValues: hv == 1))
            }
            try r.expectEnd()
            var h = MessageHeader(kind: kind, sender: sender, seq: seq, clock: clock, flags: flags, sections: sections)
            h.incarnation = incarnation
            h.shard = Int(shard)
            h.epoch = epoch
            h.logIndex = logIndex
            return h
        }
    }

    /// Checks that `frames` (header, meta, then keys and values per section) agree with the header and
    /// the size limit. Returns the header.
    package static func validate(_ frames: [any ByteFrame], maxMessageBytes: Int) throws -> MessageHeader {
        let total = frames.reduce(0) { $0 + $1.count }
        guard total <= maxMessageBytes else { throw HybridSyncError.oversizeMessage(bytes: total, limit: maxMessageBytes) }
        guard frames.count >= 2 else {
            throw HybridSyncError.malformedMessage(.frames, "\(frames.count) frames; a message has at least a header and a meta frame")
        }
        let header = try decodeHeader(frames[0])
        guard (header.logIndex == 0) == (header.flags & MessageFlags.replicated == 0) else {
            throw HybridSyncError.malformedMessage(
                .field,
                "log index \(header.logIndex) \(header.logIndex == 0 ? "missing from" : "on") a message \(header.logIndex == 0 ? "" : "not ")forwarded between servers"
            )
        }
        guard frames.count == FrameLayout.frameCount(sections: header.sections.count) else {
            throw HybridSyncError.malformedMessage(
                .frames, "\(frames.count) frames for \(header.sections.count) sections (expected \(FrameLayout.frameCount(sections: header.sections.count)))")
        }
        for (i, s) in header.sections.enumerated() {
            let (rowBytes, overflow) = s.rowLength.multipliedReportingOverflow(by: s.encoding.byteWidth)
            guard !overflow, s.rowLength >= 1 || s.keyCount == 0 else {
                throw HybridSyncError.malformedMessage(.field, "table '\(s.table)': bad row length \(s.rowLength)")
            }
            let keysOmitted = header.flags & MessageFlags.keysOmitted != 0
            guard frames[keysOf: i].count == (keysOmitted ? 0 : s.keyBytes) else {
                throw HybridSyncError.malformedMessage(
                    .frames, "table '\(s.table)': keys frame has \(frames[keysOf: i].count) bytes, header says \(s.keyCount) keys (\(s.keyBytes) bytes)")
            }
            let expected = s.hasValues ? s.keyCount.multipliedReportingOverflow(by: rowBytes) : (partialValue: 0, overflow: false)
            guard !expected.overflow, frames[valuesOf: i].count == expected.partialValue else {
                throw HybridSyncError.malformedMessage(
                    .frames,
                    "table '\(s.table)': values frame has \(frames[valuesOf: i].count) bytes, header says \(s.keyCount) rows x \(s.rowLength) \(s.encoding)")
            }
        }
        return header
    }
}
