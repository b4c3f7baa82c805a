import HybridSyncCollectives
import HybridSyncCore

/// Dense gradients reduced while backward goes on (PyTorch DDP's buckets).
///
/// ```
/// try sync.planOverlap([["head.w", "head.b"], ["body.w", "body.b"]])   // once, after register
/// for step in ... {
///     ... backward of the head ...
///     try sync.ready([headW, headB])         // their bucket starts now
///     ... backward of the body ...
///     try sync.step(dense: [bodyW, bodyB, headW, headB], sparse: sparse)   // waits, then applies
/// }
/// ```
extension GradientSync {
    /// Declares the order in which backward produces the dense gradients: `groups` of parameter names,
    /// each group's gradients ready together, groups in the order they become ready. Each group is cut
    /// into buckets as a flush cuts its batch (small gradients fused, those of at least
    /// `DenseSyncConfig.fusionInPlaceBytes` reduced in place). Collective over the workers: every
    /// worker must pass the same groups, or every worker throws the same `mismatch`. Parameters routed
    /// to the servers, and those in no group, are synchronised by `step` as before. Calling it again
    /// replaces the plan (between steps).
    public func planOverlap(_ groups: [[String]]) throws {
        guard !runtime.dense.hasStartedBuckets, !dense.contains(where: { $0.readied != nil }) else {
            throw HybridSyncError.invalidArgument(.order, "planOverlap between ready and step: finish the step first")
        }
        var seen: Set<String> = []
        var agreed: [TensorDescriptor] = []
        var planned: [[TensorDescriptor]] = []
        for (k, group) in groups.enumerated() {
            var descriptors: [TensorDescriptor] = []
            for name in group {
                guard let t = denseNamed[name]?.tensor else {
                    throw HybridSyncError.invalidArgument(.name, "planOverlap: '\(name)' is not a registered dense parameter")
                }
                guard seen.insert(name).inserted else { throw HybridSyncError.invalidArgument(.name, "planOverlap: '\(name)' is in two groups") }
                agreed.append(TensorDescriptor(name: "overlap.\(k)." + name, dtype: t.dtype, count: t.count, op: .average))
                if denseNamed[name]?.route == .ring { descriptors.append(t.descriptor(op: .average)) }
            }
            planned.append(descriptors)
        }
        try runtime.dense.agree(agreed)
        let config = runtime.dense.config
        let plan = OverlapBuckets(groups: planned, thresholdBytes: config.fusionThresholdBytes, inPlaceBytes: config.fusionInPlaceBytes)
        guard plan.buckets.count <= DenseSync.maxStartedBuckets else {
            throw HybridSyncError.invalidArgument(.limit, "planOverlap: \(plan.buckets.count) buckets, more than \(DenseSync.maxStartedBuckets)")
        }
        overlap = plan
    }

    /// Says that backward has finished `gradients` for this step: every bucket whose gradients are now
    /// all ready starts reducing at once, and buckets started earlier move on, without waiting. `step`
    /// then takes the same tensors, finishes what is left and applies. Each gradient is checked here as
    /// `step` checks it (a registered dense parameter, its shape and dtype, finite), before anything is
    /// sent; one given twice in a step is refused. The tensors must not be written until `step` returns.
    /// A gradient in no group of `planOverlap` is only checked; `step` synchronises it.
    public func ready(_ gradients: [Tensor]) throws {
        guard var plan = overlap else { throw HybridSyncError.invalidArgument(.order, "ready before planOverlap") }
        for g in gradients {
            try checkDenseGradient(g)
            guard denseNamed[g.name]?.readied == nil, gradients.filter({ $0.name == g.name }).count == 1 else {
                throw HybridSyncError.invalidArgument(.order, "the gradient of '\(g.name)' was already given to ready in this step")
            }
        }
        _ = try checkFinite(gradients, [])
        for g in gradients { denseNamed[g.name]?.readied = g }
        let due = plan.markReady(gradients.map(\.name))
        overlap = plan
        for b in due { try startBucket(b, plan) { self.denseNamed[$0]!.readied! } }
        try runtime.dense.advanceStarted()
    }

    /// Starts bucket `b` with the tensors `tensor` gives for its names.
    func startBucket(_ b: Int, _ plan: OverlapBuckets, _ tensor: (String) -> Tensor) throws {
        try runtime.dense.start(bucket: b, plan.buckets[b].map(tensor), op: .average)
    }

    /// In `step`: checks that a gradient given to `ready` is the tensor `step` got, starts the buckets
    /// not started yet, and returns the names the overlap carries (the flush leaves them out).
    func startTheRest(_ byName: [String: Tensor]) throws -> Set<String> {
        guard var plan = overlap else { return [] }
        for p in dense where p.readied != nil && byName[p.name] !== p.readied {
            throw HybridSyncError.invalidArgument(.order, "step got another tensor for '\(p.name)' than the one given to ready")
        }
        for b in plan.startRest() { try startBucket(b, plan) { byName[$0]! } }
        overlap = plan
        return Set(plan.bucketOf.keys)
    }

    /// Ends the step's overlap: waits for the started buckets and forgets the readiness (also when the
    /// wait throws). `step` calls it after an error too, so every rank leaves the step with nothing in flight.
    func finishOverlap() throws {
        defer {
            for p in dense { p.readied = nil }
            overlap?.reset()
        }
        try runtime.dense.finishStarted()
    }
}
