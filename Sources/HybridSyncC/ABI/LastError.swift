import CHybridSync
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// The calling thread's last error, as `hs_last_*` report it. The strings are kept as NUL-terminated
/// C buffers owned by the thread's record, valid until its next call.
final class LastError {
    var status: hs_status = HS_OK
    var code: Int32 = 0
    private(set) var message: UnsafeMutablePointer<CChar> = strdup("")!
    private(set) var subject: UnsafeMutablePointer<CChar> = strdup("")!

    func set(_ status: hs_status, code: Int32, message text: String, subject about: String) {
        self.status = status
        self.code = code
        free(message)
        free(subject)
        message = strdup(text) ?? strdup("")!
        subject = strdup(about) ?? strdup("")!
    }

    func clear() {
        guard status != HS_OK else { return }
        set(HS_OK, code: 0, message: "", subject: "")
    }

    deinit {
        free(message)
        free(subject)
    }

    /// This thread's record (made on first use, freed when the thread ends).
    static var current: LastError {
        if let raw = pthread_getspecific(key) { return Unmanaged<LastError>.fromOpaque(raw).takeUnretainedValue() }
        let record = LastError()
        pthread_setspecific(key, Unmanaged.passRetained(record).toOpaque())
        return record
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { raw in
            if let raw { Unmanaged<LastError>.fromOpaque(raw).release() }
        }
        return k
    }()
}
