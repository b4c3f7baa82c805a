import Foundation
import HybridSync

/// Fashion-MNIST from IDX files (gzipped or not), as Debian's `dataset-fashion-mnist` installs them.
public struct FashionMNIST: Sendable {
    /// Images as bytes, `count * 784`.
    public let images: [UInt8]
    /// One label (0-9) per image.
    public let labels: [UInt8]
    /// Images in the set.
    public var count: Int { labels.count }

    /// Where Debian's package puts the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// A set of `images` (`labels.count * 784` bytes) and their labels.
    public init(images: [UInt8], labels: [UInt8]) {
        self.images = images
        self.labels = labels
    }

    /// Loads `train` or `t10k` from `directory`. Throws `invalidArgument` naming a missing or bad file.
    public static func load(_ directory: String, split: String) throws -> FashionMNIST {
        let images = try readIDX("\(directory)/\(split)-images-idx3-ubyte", magic: 2051)
        let labels = try readIDX("\(directory)/\(split)-labels-idx1-ubyte", magic: 2049)
        guard images.dims.count == 3, images.dims[1] == 28, images.dims[2] == 28, labels.dims.first == images.dims.first else {
            throw HybridSyncError.invalidArgument(.shape, "\(directory)/\(split): unexpected shapes \(images.dims) and \(labels.dims)")
        }
        return FashionMNIST(images: images.data, labels: labels.data)
    }

    /// The first `limit` images (all of them when `limit` is 0).
    public func prefix(_ limit: Int) -> FashionMNIST {
        limit <= 0 ? self : FashionMNIST(images: Array(images.prefix(limit * 784)), labels: Array(labels.prefix(limit)))
    }

    /// An IDX file: a big-endian magic, one big-endian 32-bit size per dimension, then the bytes.
    private static func readIDX(_ base: String, magic: UInt32) throws -> (dims: [Int], data: [UInt8]) {
        let bytes: [UInt8]
        if FileManager.default.fileExists(atPath: base) {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base)))
        } else if FileManager.default.fileExists(atPath: base + ".gz") {
            bytes = try gunzip(base + ".gz")
        } else {
            throw HybridSyncError.invalidArgument(.io, "\(base)(.gz) not found: install dataset-fashion-mnist or pass --data")
        }
        func word(_ i: Int) throws -> UInt32 {
            guard bytes.count >= 4 * (i + 1) else { throw HybridSyncError.malformedMessage(.length, "\(base): \(bytes.count) bytes, header cut short") }
            return bytes[(4 * i)..<(4 * i + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        let m = try word(0)
        guard m == magic else { throw HybridSyncError.malformedMessage(.format, "\(base): magic \(m), expected \(magic)") }
        let dims = try (1...(magic == 2051 ? 3 : 1)).map { Int(try word($0)) }
        let start = 4 * (dims.count + 1), n = dims.reduce(1, *)
        guard bytes.count - start >= n else { throw HybridSyncError.malformedMessage(.length, "\(base): \(bytes.count - start) data bytes, expected \(n)") }
        return (dims, Array(bytes[start..<(start + n)]))
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
