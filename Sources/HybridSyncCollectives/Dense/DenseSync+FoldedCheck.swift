import HybridSyncCore

extension DenseSync {
    /// Flushes a repeat of the batch last agreed with the negotiation cache's check folded into the
    /// first small bucket's exchange: one recursive doubling carries the bucket's data and the check's
    /// two words (`NegotiationCache.checkWords`, under `max`), where the plain cached path makes one
    /// exchange for the check and one for the data.
    ///
    /// Every rank holding the cache takes this path with the cached plan's sizes, whatever its own
    /// batch is: a rank whose fingerprint differs sends zeros, so the messages still match. The bucket
    /// is reduced in the fusion buffer and copied back only if the check passed on every rank (it passes
    /// or fails everywhere alike); otherwise no tensor was written and it returns false, and `flush`
    /// negotiates as usual (raising the same `mismatch` on every rank when the batches differ).
    /// Returns false, sending nothing, when there is no cache or no bucket fit to carry the check.
    func flushFoldingTheCheck(_ batch: [(Tensor, ReduceOp)]) throws -> Bool {
        guard config.negotiationCache, communicator.size > 1, let cached = negotiations.cachedBatch,
            let plan = lastPlan, plan.agreed == cached.agreed,
            let lead = plan.buckets.firstIndex(where: carriesTheCheck)
        else { return false }
        let fingerprint = negotiations.fingerprint(of: batch.map { $0.0.descriptor(op: $0.1) })
        var tensors: [Tensor] = []
        if fingerprint == cached.fingerprint {
            var byName: [String: Tensor] = [:]
            for (t, _) in batch { byName[t.name] = t }
            tensors = cached.agreed.compactMap { byName[$0.name] }
        }
        let bucket = plan.buckets[lead]
        // Only a rank that will copy the result back reads its tensors; the others send zeros.
        let mine = tensors.count == cached.agreed.count
        let words = NegotiationCache.checkWords(mine ? fingerprint : ~cached.fingerprint)
        let checked = RecursiveDoubling(stepTimeoutSeconds: NegotiationCache.checkSeconds(config))
        if communicator.size == 2 && bucket.members.count == 1 {
            // In place: the partner's half is combined only once its words are seen to agree.
            let zeros = mine ? nil : fusion.reserve(bucket.byteCount)
            zeros?.initializeMemory(as: UInt8.self, repeating: 0, count: bucket.byteCount)
            let target = zeros ?? tensors[bucket.members[0]].rawPointer
            var agreed = false
            try Timeline.span("reduce bucket, check folded in", row: row, detail: "1 tensor, \(bucket.byteCount) bytes") {
                try guarding(mine ? [tensors[bucket.members[0]]] : []) {
                    agreed = try checked.exchangeChecked(
                        target, count: bucket.count, dtype: bucket.dtype, op: bucket.op,
                        words: words, comm: communicator, scratch: scratch)
                }
            }
            guard mine, agreed else { return false }
            return try finishFolded(plan.buckets, lead: lead, tensors: tensors)
        }
        let trailer = RecursiveDoubling.trailerOffset(bucket.byteCount)
        let buffer = fusion.reserve(trailer + 16)
        let members = mine ? bucket.members.map { tensors[$0] } : []
        if mine { pack(members, into: buffer) } else { buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bucket.byteCount) }
        let check = (buffer + trailer).assumingMemoryBound(to: Int64.self)
        (check[0], check[1]) = words
        do {
            try Timeline.span("reduce bucket, check folded in", row: row, detail: "\(bucket.members.count) tensors, \(bucket.byteCount) bytes") {
                try checked.run(buffer, count: bucket.count, dtype: bucket.dtype, op: bucket.op, comm: communicator, scratch: scratch, maxWords: 2)
            }
        } catch {
            fusion.leak()
            throw error
        }
        guard mine, (check[0], check[1]) == words else { return false }
        unpack(from: buffer, into: members)
        return try finishFolded(plan.buckets, lead: lead, tensors: tensors)
    }

    /// After the bucket that carried the check: the others, as a plain flush reduces them.
    private func finishFolded(_ buckets: [FusionBucket], lead: Int, tensors: [Tensor]) throws -> Bool {
        lastBuckets = buckets.count
        foldedChecks += 1
        for (i, other) in buckets.enumerated() where i != lead {
            try Timeline.span("reduce bucket", row: row, detail: "\(other.members.count) tensors, \(other.byteCount) bytes") {
                try reduce(other, tensors: tensors)
            }
        }
        return true
    }

    /// A bucket fit to carry the check: any that goes by recursive doubling. At 2 ranks a single tensor
    /// carries it in place (`exchangeChecked`); otherwise the bucket is copied, which costs less than
    /// the `lg p` exchanges it saves (4 ranks, alternated 3x: 32 KiB 1.08-1.12 -> 0.86-0.99 of
    /// `MPI_Allreduce`, 64 KiB 1.12-1.20 -> 1.02-1.12).
    private func carriesTheCheck(_ bucket: FusionBucket) -> Bool {
        bucket.byteCount <= config.recursiveDoublingBytes
    }
}
