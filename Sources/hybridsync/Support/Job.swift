import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore
import Synchronization

/// Appends JSON lines to a file, if one was named.
struct JSONLines {
    private var lines: [String] = []
    let path: String?

    init(path: String?) { self.path = path }

    /// Adds one record; values are numbers, strings or booleans.
    mutating func add(_ fields: KeyValuePairs<String, Any>) { add(fields.map { ($0.key, $0.value) }) }

    /// Adds one record from fields in order.
    mutating func add(_ fields: [(String, Any)]) {
        var parts: [String] = []
        for (k, v) in fields {
            let value: String
            switch v {
            case let s as String: value = "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\""
            case let d as Double: value = d.isFinite ? String(format: "%.6g", d) : "null"
            case let b as Bool: value = b ? "true" : "false"
            default: value = "\(v)"
            }
            parts.append("\"\(k)\":\(value)")
        }
        lines.append("{" + parts.joined(separator: ",") + "}")
    }

    /// Writes the records to `path` (appending) if set.
    func write() throws {
        guard let path else { return }
        let text = lines.joined(separator: "\n") + "\n"
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(text.data(using: .utf8)!)
            handle.closeFile()
        } else {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}

/// Formats a byte size as 4K, 1M, ...
func formatBytes(_ bytes: Int) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)M" }
    if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10)K" }
    return "\(bytes)"
}

/// Pads `s` on the left to `width`.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

/// The median of a non-empty array.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s[s.count / 2]
}

/// A value shared between threads of the command-line tool, behind a `Mutex`.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }

    var current: Value {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

extension HybridLayout.Placement: ExpressibleByArgument {}
extension Strategy: ExpressibleByArgument {}

/// The package root: the nearest folder above this binary (or the current one) holding Launch/mpirun.
func packageRoot() -> URL {
    var root = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    while root.path != "/" && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Launch/mpirun").path) {
        root = root.deletingLastPathComponent()
    }
    return root.path == "/" ? URL(fileURLWithPath: FileManager.default.currentDirectoryPath) : root
}
