import COpenSSL
import HybridSyncCore

/// Runs one libcrypto call that returns 1 on success; anything else throws `transport` naming the call
/// and OpenSSL's reason. The only place HybridSync reads OpenSSL's error queue.
func openSSLCall(_ call: String, _ body: () -> Int32) throws {
    let result = body()
    guard result == 1 else { throw openSSLError(call) }
}

/// The `transport` error for a failed libcrypto call, with the oldest queued reason (the queue is
/// cleared).
func openSSLError(_ call: String) -> HybridSyncError {
    let code = ERR_get_error()
    ERR_clear_error()
    var text = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &text, text.count)
    let message = code == 0 ? "failed" : String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return .transport(library: "OpenSSL", call: call, code: Int32(truncatingIfNeeded: code), message: message)
}
