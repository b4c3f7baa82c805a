/// How a fuzz input becomes a message's frames: byte 0 is the frame count (mod 8); then each frame is
/// a little-endian u16 length followed by that many bytes (cut short at the input's end). Any byte
/// string is a valid input.
enum FuzzInput {
    static func frames(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
        guard let first = bytes.first else { return [] }
        let count = Int(first % 8)
        var at = 1
        var out: [[UInt8]] = []
        for _ in 0..<count {
            guard at + 2 <= bytes.count else { out.append([]); continue }
            let n = Int(bytes[at]) | Int(bytes[at + 1]) << 8
            at += 2
            let end = Swift.min(bytes.count, at + n)
            out.append(Array(bytes[at..<end]))
            at = end
        }
        return out
    }

    /// The input that `frames` decodes back to `frames`.
    static func encode(_ frames: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [UInt8(frames.count % 8)]
        for f in frames.prefix(7) {
            let n = Swift.min(f.count, 0xFFFF)
            out += [UInt8(n & 0xFF), UInt8(n >> 8)]
            out += f.prefix(n)
        }
        return out
    }
}
