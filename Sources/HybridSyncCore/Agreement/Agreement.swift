/// Cross-rank agreement on a batch of tensors, as a pure function.
///
/// The coordinator gathers each rank's descriptor list and calls `check`. Every rank then receives the
/// same verdict, so a mismatch raises the same error everywhere instead of a hang or a wrong sum.
package enum Agreement {
    /// Returns the agreed batch sorted by name, or the first disagreement found.
    ///
    /// Checks, in this order: duplicate names within a rank; the set of names (a tensor some rank did
    /// not submit); then for each tensor its element type, element count and op. The error names the
    /// tensor, the field, the lowest rank that differs from rank 0, and both values.
    /// - Parameter lists: `lists[r]` is rank `r`'s submission, in any order.
    package static func check(_ lists: [[TensorDescriptor]]) -> Result<[TensorDescriptor], HybridSyncError> {
        guard let first = lists.first else { return .success([]) }
        var sorted: [[TensorDescriptor]] = []
        sorted.reserveCapacity(lists.count)
        for (rank, list) in lists.enumerated() {
            let s = list.sorted { $0.name < $1.name }
            for i in s.indices.dropFirst() where s[i].name == s[i - 1].name {
                return .failure(
                    .mismatch(
                        tensor: s[i].name, field: "duplicate name", rankA: rank,
                        valueA: s[i - 1].description, rankB: rank, valueB: "\(s[i]) a second time"))
            }
            sorted.append(s)
        }
        let reference = sorted[0]
        let referenceNames = Set(first.map(\.name))
        for rank in 1..<lists.count {
            let other = sorted[rank]
            let names = Set(other.map(\.name))
            if names != referenceNames {
                if let extra = other.first(where: { !referenceNames.contains($0.name) }) {
                    return .failure(
                        .mismatch(
                            tensor: extra.name, field: "tensor list", rankA: 0,
                            valueA: "no such tensor", rankB: rank, valueB: extra.description))
                }
                let missing = reference.first(where: { !names.contains($0.name) })!
                return .failure(
                    .mismatch(
                        tensor: missing.name, field: "tensor list", rankA: 0,
                        valueA: missing.description, rankB: rank, valueB: "no such tensor"))
            }
            for (a, b) in zip(reference, other) {
                if a.dtype != b.dtype {
                    return .failure(.mismatch(tensor: a.name, field: "dtype", rankA: 0, valueA: "\(a.dtype)", rankB: rank, valueB: "\(b.dtype)"))
                }
                if a.count != b.count {
                    return .failure(.mismatch(tensor: a.name, field: "element count", rankA: 0, valueA: "\(a.count)", rankB: rank, valueB: "\(b.count)"))
                }
                if a.op != b.op {
                    return .failure(.mismatch(tensor: a.name, field: "op", rankA: 0, valueA: "\(a.op)", rankB: rank, valueB: "\(b.op)"))
                }
            }
        }
        return .success(reference)
    }
}
