#if canImport(Glibc)
    import Glibc
#endif

/// Writes one line to standard output (or `fd`) unbuffered in one write, so lines of several ranks
/// never interleave mid-line (the command-line tools' result lines, the error a rank exits with).
package func emit(_ line: String, to fd: Int32 = 1) {
    let data = Array((line + "\n").utf8)
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
