import Foundation

/// An RGB raster with lines and 5x7 text, written as PNG (stored deflate blocks: no zlib needed).
struct Canvas {
    typealias Color = (UInt8, UInt8, UInt8)
    let width: Int, height: Int
    private(set) var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    mutating func set(_ x: Int, _ y: Int, _ c: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: Color, thickness: Int = 1) {
        let n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in 0...n {
            let x = x0 + (x1 - x0) * s / n, y = y0 + (y1 - y0) * s / n
            for dx in 0..<thickness { for dy in 0..<thickness { set(x + dx, y + dy, c) } }
        }
    }

    /// Draws `text` with its top-left corner at (x, y), `scale` pixels per font pixel.
    mutating func text(_ s: String, _ x: Int, _ y: Int, _ c: Color = (0, 0, 0), scale: Int = 1, vertical: Bool = false) {
        var cx = 0
        for ch in s {
            if let g = Font5x7.glyph(ch) {
                for (row, bits) in g.enumerated() {
                    for col in 0..<5 where bits & (0x10 >> UInt8(col)) != 0 {
                        for a in 0..<scale {
                            for b in 0..<scale {
                                if vertical {
                                    set(x + row * scale + a, y - (cx + col * scale + b), c)
                                } else {
                                    set(x + cx + col * scale + a, y + row * scale + b, c)
                                }
                            }
                        }
                    }
                }
            }
            cx += 6 * scale
        }
    }

    static func textWidth(_ s: String, scale: Int = 1) -> Int { s.count * 6 * scale }

    func writePNG(_ path: String) throws {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var z: [UInt8] = [0x78, 0x01]
        var offset = 0
        while offset < raw.count {
            let n = min(65535, raw.count - offset)
            z.append(offset + n == raw.count ? 1 : 0)
            z += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z += raw[offset..<(offset + n)]
            offset += n
        }
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        z += Self.be32(b << 16 | a)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += Self.chunk("IHDR", Self.be32(UInt32(width)) + Self.be32(UInt32(height)) + [8, 2, 0, 0, 0])
        png += Self.chunk("IDAT", z)
        png += Self.chunk("IEND", [])
        try Data(png).write(to: URL(fileURLWithPath: path))
    }

    private static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        return be32(UInt32(data.count)) + t + data + be32(crc32(t + data))
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
}
