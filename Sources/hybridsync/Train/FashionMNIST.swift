import Foundation
import HybridSyncCore

/// Fashion-MNIST from IDX files (gzipped or not), as Debian's `dataset-fashion-mnist` installs them.
struct FashionMNIST {
    /// Images as bytes, `count * 784`.
    let images: [UInt8]
    let labels: [UInt8]
    var count: Int { labels.count }

    static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// Loads `train` or `t10k` from `directory`. Throws `invalidArgument` naming a missing or bad file.
    static func load(_ directory: String, split: String) throws -> FashionMNIST {
        let images = try readIDX("\(directory)/\(split)-images-idx3-ubyte", magic: 2051)
        let labels = try readIDX("\(directory)/\(split)-labels-idx1-ubyte", magic: 2049)
        guard images.dims.count == 3, images.dims[1] == 28, images.dims[2] == 28, labels.dims.first == images.dims.first else {
            throw HybridSyncError.invalidArgument(.shape, "\(directory)/\(split): unexpected shapes \(images.dims) and \(labels.dims)")
        }
        return FashionMNIST(images: images.data, labels: labels.data)
    }

    private static func readIDX(_ base: String, magic: UInt32) throws -> (dims: [Int], data: [UInt8]) {
        let bytes: [UInt8]
        if FileManager.default.fileExists(atPath: base) {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base)))
        } else if FileManager.default.fileExists(atPath: base + ".gz") {
            bytes = try gunzip(base + ".gz")
        } else {
            throw HybridSyncError.invalidArgument(.io, "\(base)(.gz) not found: install dataset-fashion-mnist or pass --data")
        }
        return try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, context: base)
            let m = UInt32(bigEndian: try r.u32("magic"))
            guard m == magic else { throw HybridSyncError.malformedMessage(.format, "\(base): magic \(m), expected \(magic)") }
            let nd = magic == 2051 ? 3 : 1
            var dims: [Int] = []
            for _ in 0..<nd { dims.append(Int(UInt32(bigEndian: try r.u32("dimension")))) }
            let n = dims.reduce(1, *)
            return (dims, Array(try r.raw(n, "data")))
        }
    }

    private static func gunzip(_ path: String) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw HybridSyncError.invalidArgument(.io, "gzip -dc \(path) failed") }
        return [UInt8](data)
    }
}
