import HybridSyncCore

/// Horovod's response cache, for whole batches: the batch the full negotiation last agreed on, with a
/// fingerprint of its descriptors. A flush whose batch has that fingerprint on every rank is agreed by
/// one recursive-doubling all-reduce of 16 bytes instead of the coordinator's round.
///
/// Every rank holds the same cache (it is set only by an agreement every rank saw), and every rank
/// sees the same result of the check, so every rank takes the same branch. Any difference falls back
/// to the full negotiation, which raises the same error on every rank. `DenseSync` may fold the check
/// into a small bucket's exchange instead (`DenseSync+FoldedCheck.swift`).
struct NegotiationCache {
    /// The batch last agreed by the full negotiation, and its fingerprint.
    private var cached: (fingerprint: UInt64, agreed: [TensorDescriptor])?
    /// This rank's last batch as it passed it, and its fingerprint: a loop that flushes the same list
    /// every step compares it instead of sorting, encoding and hashing it again.
    private var lastMine: (batch: [TensorDescriptor], fingerprint: UInt64)?
    /// Flushes agreed by the full negotiation (the others were agreed by the cached check).
    private(set) var fullNegotiations = 0

    /// Agrees on one flush's batch: by the cached check when it is the batch last agreed, otherwise by
    /// the full negotiation, whose result becomes the cache.
    mutating func agree(_ mine: [TensorDescriptor], comm: Communicator, config: DenseSyncConfig, scratch: ScratchBuffer) throws -> [TensorDescriptor] {
        let negotiator = Negotiator(config: config)
        guard config.negotiationCache, comm.size > 1 else { return try negotiator.negotiate(mine, comm: comm) }
        let fingerprint = fingerprint(of: mine)
        if let cached, try Self.everyRankHas(fingerprint, comm: comm, config: config, scratch: scratch), fingerprint == cached.fingerprint {
            return cached.agreed
        }
        fullNegotiations += 1
        let agreed = try negotiator.negotiate(mine, comm: comm)
        cached = (fingerprint, agreed)
        return agreed
    }

    /// The batch the cache holds (the same on every rank), if any.
    var cachedBatch: (fingerprint: UInt64, agreed: [TensorDescriptor])? { cached }

    /// This rank's fingerprint of `mine`, remembered for a list passed again unchanged.
    mutating func fingerprint(of mine: [TensorDescriptor]) -> UInt64 {
        if let last = lastMine, last.batch == mine { return last.fingerprint }
        let fingerprint = Self.fingerprint(mine)
        lastMine = (mine, fingerprint)
        return fingerprint
    }

    /// The check's two words for `fingerprint`: reduced under `max` over the ranks they become
    /// (max f, ~min f), which equal these on every rank exactly when every rank passed `fingerprint`.
    static func checkWords(_ fingerprint: UInt64) -> (Int64, Int64) {
        let mine = Int64(bitPattern: fingerprint)
        return (mine, ~mine)
    }

    /// Seconds the check waits for a partner: a negotiation's (the stall limit and its grace).
    static func checkSeconds(_ config: DenseSyncConfig) -> Double {
        config.stallAction == .raise ? config.stallSeconds + Negotiator.graceSeconds : config.timeoutSeconds
    }

    /// FNV-1a of the batch's encoded descriptors in name order (the negotiation accepts any order).
    static func fingerprint(_ batch: [TensorDescriptor]) -> UInt64 { fnv1a(TensorDescriptor.encode(batch.sorted { $0.name < $1.name })) }

    /// 64-bit FNV-1a of `bytes`.
    static func fnv1a<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return h
    }

    /// Whether every rank passed `fingerprint`: one recursive-doubling all-reduce of (f, ~f) under
    /// `max`, which gives (max f, ~min f). Times out like a negotiation, naming the partner it waited for.
    private static func everyRankHas(_ fingerprint: UInt64, comm: Communicator, config: DenseSyncConfig, scratch: ScratchBuffer) throws -> Bool {
        let words = checkWords(fingerprint)
        return try withUnsafeTemporaryAllocation(of: Int64.self, capacity: 2) { pair in
            (pair[0], pair[1]) = words
            try RecursiveDoubling(stepTimeoutSeconds: checkSeconds(config))
                .run(pair.baseAddress!, count: 2, dtype: .int64, op: .max, comm: comm, scratch: scratch)
            return (pair[0], pair[1]) == words
        }
    }
}
