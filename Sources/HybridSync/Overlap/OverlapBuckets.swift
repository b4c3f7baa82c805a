import HybridSyncCore

/// Which dense gradients form which started bucket, and which are ready this step, without any I/O.
///
/// Built from the groups `GradientSync.planOverlap` agreed on: each group is cut into fusion buckets as
/// the dense path cuts a batch (`FusionPlan`: small tensors fused, large ones in place), numbered in
/// group order. A bucket is due once every one of its gradients is ready; `GradientSync` then starts it.
struct OverlapBuckets {
    /// Each bucket's gradient names, in packing order.
    let buckets: [[String]]
    /// The bucket of each planned name.
    let bucketOf: [String: Int]
    /// Gradients marked ready this step, and buckets already started.
    private(set) var ready: Set<String> = []
    private(set) var started: Set<Int> = []

    /// Cuts `groups` (names with their descriptors) into buckets.
    init(groups: [[TensorDescriptor]], thresholdBytes: Int, inPlaceBytes: Int) {
        var buckets: [[String]] = []
        for group in groups {
            for b in FusionPlan.buckets(for: group, thresholdBytes: thresholdBytes, inPlaceBytes: inPlaceBytes) {
                buckets.append(b.members.map { group[$0].name })
            }
        }
        self.buckets = buckets
        var bucketOf: [String: Int] = [:]
        for (i, names) in buckets.enumerated() { for n in names { bucketOf[n] = i } }
        self.bucketOf = bucketOf
    }

    /// Marks `names` ready; returns the buckets that became due (all their gradients ready), in order.
    mutating func markReady(_ names: [String]) -> [Int] {
        ready.formUnion(names)
        let due = Set(names.compactMap { bucketOf[$0] }).sorted().filter { b in !started.contains(b) && buckets[b].allSatisfy(ready.contains) }
        started.formUnion(due)
        return due
    }

    /// Buckets not started yet (at `step`, which starts them with the gradients it was given).
    mutating func startRest() -> [Int] {
        let rest = buckets.indices.filter { !started.contains($0) }
        started.formUnion(rest)
        return rest
    }

    /// Forgets this step's readiness.
    mutating func reset() {
        ready.removeAll(keepingCapacity: true)
        started.removeAll(keepingCapacity: true)
    }
}
