import Foundation

/// Draws a line chart of `values` (x = index) into an RGB PNG with axes and grid lines. The PNG is
/// written with stored (uncompressed) deflate blocks: no zlib needed.
enum PNGPlot {
    static func write(_ values: [Double], to path: String, width: Int = 640, height: Int = 360) throws {
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
        }
        let left = 50, right = width - 20, top = 20, bottom = height - 40
        let finite = values.filter { $0.isFinite }
        let maxV = (finite.max() ?? 1) * 1.05, minV = min(0, finite.min() ?? 0)
        // Grid every quarter, axes in black.
        for q in 0...4 {
            let y = bottom - (bottom - top) * q / 4
            for x in left...right { set(x, y, q == 0 ? (0, 0, 0) : (220, 220, 220)) }
        }
        for y in top...bottom { set(left, y, (0, 0, 0)) }
        // Tick marks along x every tenth of the run.
        for t in 0...10 { let x = left + (right - left) * t / 10; for d in 0..<5 { set(x, bottom + d, (0, 0, 0)) } }
        guard values.count > 1 else { return try encode(pixels, width, height, path) }
        func point(_ i: Int) -> (Int, Int) {
            let x = left + (right - left) * i / (values.count - 1)
            let y = bottom - Int(Double(bottom - top) * (values[i] - minV) / max(1e-12, maxV - minV))
            return (x, y)
        }
        for i in 1..<values.count {
            let (x0, y0) = point(i - 1), (x1, y1) = point(i)
            let n = max(abs(x1 - x0), abs(y1 - y0), 1)
            for s in 0...n {
                let x = x0 + (x1 - x0) * s / n, y = y0 + (y1 - y0) * s / n
                for d in 0..<2 { set(x, y + d, (200, 40, 40)) }
            }
        }
        try encode(pixels, width, height, path)
    }

    private static func encode(_ rgb: [UInt8], _ width: Int, _ height: Int, _ path: String) throws {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: rgb[(y * width * 3)..<((y + 1) * width * 3)])
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
        z += be32(b << 16 | a)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", z)
        png += chunk("IEND", [])
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
