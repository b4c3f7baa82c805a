import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// How a sealed message is cut into segments. Each segment is sealed on its own (its own nonce, the
/// segment's index beside the message's counter, and its own tag), so the segments of a large message
/// are sealed and opened on several cores at once. Every segment but the last has `length` bytes of
/// the message's frames taken end to end; a segment may span frames and a frame several segments.
struct ChannelSegments: Equatable {
    /// Messages up to this many bytes are one segment: below it, handing work to other cores costs
    /// more than it saves.
    static let parallelAbove = 1 << 20
    /// Most segments a message may have (the tag frame holds one tag a segment).
    static let maxSegments = 64
    /// Lanes of this process: the cores it may seal or open on at once, at most 4.
    static let lanes = Swift.max(1, Swift.min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    /// Bytes of every segment but the last.
    let length: Int
    /// Segments of the message.
    let count: Int

    /// The sender's cut of `total` bytes: one segment up to `parallelAbove`, else one a lane (page
    /// multiples).
    init(sending total: Int, lanes: Int = ChannelSegments.lanes) {
        guard total > Self.parallelAbove, lanes > 1 else {
            length = Swift.max(total, 1)
            count = 1
            return
        }
        length = ((total + lanes - 1) / lanes + 4095) & ~4095
        count = (total + length - 1) / length
    }

    /// The cut a received header names: `length` bytes a segment over `total`; nil if it is zero or
    /// makes more than `maxSegments` segments.
    init?(received length: UInt64, total: Int) {
        guard length > 0 else { return nil }
        let whole = UInt64(total) / length, rest = UInt64(total) % length
        let count = Swift.max(1, whole + (rest == 0 ? 0 : 1))
        guard count <= UInt64(Self.maxSegments) else { return nil }
        self.length = Int(Swift.min(length, UInt64(Int.max)))
        self.count = Int(count)
    }

    /// The parts of `pieces` that segment `s` covers, in order.
    func pieces(_ s: Int, of pieces: [AESGCM.Piece]) -> [AESGCM.Piece] {
        let lo = s * length
        let hi = s == count - 1 ? Int.max : lo + length
        var out: [AESGCM.Piece] = []
        var at = 0
        for p in pieces {
            defer { at += p.count }
            let from = Swift.max(lo, at), to = Swift.min(hi, at + p.count)
            guard from < to, let input = p.input, let output = p.output else { continue }
            out.append(AESGCM.Piece(input: input + (from - at), output: output + (from - at), count: to - from))
        }
        return out
    }

    /// Calls `body(segment, lane)` once for every segment, on up to `lanes.count` cores at once; `lane`
    /// is the index of the cipher context that call may use, never used by two calls at once. Rethrows
    /// the first error any call threw, after all calls ended.
    func forEach<Lane>(lanes: [Lane], _ body: (Int, Lane) throws -> Void) throws {
        let n = Swift.min(lanes.count, count)
        if n <= 1 {
            for s in 0..<count { try body(s, lanes[0]) }
            return
        }
        let errors = UnsafeMutableBufferPointer<(any Error)?>.allocate(capacity: n)
        errors.initialize(repeating: nil)
        defer {
            errors.deinitialize()
            errors.deallocate()
        }
        withoutActuallyEscaping(body) { body in
            // The calls run on other threads while this one waits for all of them: every lane has its
            // own cipher context and error slot, and segments are disjoint memory, so nothing is shared
            // that the type system could check.
            nonisolated(unsafe) let body = body, lanes = lanes, errors = errors
            DispatchQueue.concurrentPerform(iterations: n) { lane in
                do {
                    for s in stride(from: lane, to: count, by: n) { try body(s, lanes[lane]) }
                } catch {
                    errors[lane] = error
                }
            }
        }
        if let error = errors.lazy.compactMap({ $0 }).first { throw error }
    }
}
