#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to standard output unbuffered, so lines of several ranks never interleave mid-line
/// (the command-line tools' result lines).
package func emit(_ line: String) {
    let data = Array((line + "\n").utf8)
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(1, raw.baseAddress! + offset, raw.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
