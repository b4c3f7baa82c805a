import HybridSyncCore

/// One worker's requests a server has handled, for exactly-once: the last `capacity` sequence numbers
/// of the worker's current incarnation, each with its reply (acknowledgements and errors, a few dozen
/// bytes) or a mark that it was a pull (whose rows are read again rather than kept). A resend or a
/// duplicated message older than the window would be applied again; the worker's bounded resends
/// (`PSConfig.maxAttempts`) keep every repeat far inside it.
struct ReplyWindow {
    enum Entry {
        case reply(OutboundMessage)
        case pull
    }

    let incarnation: UInt32
    private var entries: [UInt64: Entry] = [:]
    private var order: [UInt64] = []
    private var oldest = 0
    static let capacity = 4096

    init(incarnation: UInt32) { self.incarnation = incarnation }

    /// The entries held, oldest first (recording them in this order into a new window rebuilds it).
    var recorded: [(seq: UInt64, entry: Entry)] { order[oldest...].compactMap { seq in entries[seq].map { (seq, $0) } } }

    func entry(_ seq: UInt64) -> Entry? { entries[seq] }

    mutating func record(_ seq: UInt64, _ entry: Entry) {
        entries[seq] = entry
        order.append(seq)
        if order.count - oldest > Self.capacity {
            entries.removeValue(forKey: order[oldest])
            oldest += 1
            if oldest > Self.capacity {
                order.removeFirst(oldest)
                oldest = 0
            }
        }
    }
}
