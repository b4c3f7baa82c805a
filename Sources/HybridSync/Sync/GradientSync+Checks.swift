import HybridSyncCollectives
import HybridSyncCore
import HybridSyncPS

extension GradientSync {
    /// The step's dense gradients by name, after checking there is one per registered dense parameter,
    /// each of its parameter's count and dtype.
    func gradientsByName(_ grads: [Tensor]) throws -> [String: Tensor] {
        let byName = Dictionary(grads.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for p in dense where byName[p.name] == nil {
            throw HybridSyncError.invalidArgument(.name, "step is missing the gradient of dense parameter '\(p.name)'")
        }
        for g in grads { try checkDenseGradient(g) }
        return byName
    }

    /// Throws unless `g` is the gradient of a registered dense parameter, of its count and dtype.
    func checkDenseGradient(_ g: Tensor) throws {
        guard let p = denseNamed[g.name] else { throw HybridSyncError.invalidArgument(.name, "gradient for unknown dense parameter '\(g.name)'") }
        guard g.count == p.tensor.count, g.dtype == p.tensor.dtype else {
            throw HybridSyncError.shapeMismatch(
                what: "gradient of '\(g.name)'", expected: "\(p.tensor.count) x \(p.tensor.dtype)", got: "\(g.count) x \(g.dtype)")
        }
    }

    /// Throws, before anything is sent or applied, if a gradient holds a NaN or an infinity: naming the
    /// dense tensor and this worker's rank, or the table, the row id and this rank. A table declared
    /// with `NonFinitePolicy.skipRow` loses such rows instead (returned without them), one with `allow`
    /// keeps them.
    func checkFinite(_ grads: [Tensor], _ sparse: [SparseRows], sparseSent: Bool = false) throws -> [SparseRows] {
        let rank = runtime.dense.communicator.rank
        for g in grads where g.dtype == .float32 {
            if let i = try g.withElements(as: Float.self, { $0.firstIndex { !$0.isFinite } }) {
                let outcome =
                    sparseSent
                    ? "this step's sparse rows or started buckets were already sent (pushSparse, ready); nothing of it was applied"
                    : "nothing of this step was applied"
                throw HybridSyncError.invalidArgument(.nonFinite, "non-finite gradient of '\(g.name)' at element \(i) on rank \(rank): \(outcome)")
            }
        }
        var out: [SparseRows] = []
        for s in sparse {
            guard let i = s.values.firstIndex(where: { !$0.isFinite }) else { out.append(s); continue }
            let spec = tables[s.table]?.spec
            let d = max(1, spec?.dimension ?? 1)
            switch spec?.nonFinite ?? .reject {
            case .allow:
                out.append(s)
            case .skipRow where s.values.count == s.keys.count * d:
                let kept = s.keys.indices.filter { r in s.values[(r * d)..<((r + 1) * d)].allSatisfy(\.isFinite) }
                out.append(SparseRows(table: s.table, keys: kept.map { s.keys[$0] }, values: kept.flatMap { s.values[($0 * d)..<(($0 + 1) * d)] }))
            default:
                let id = s.keys.indices.contains(i / d) ? "\(s.keys[i / d])" : "?"
                throw HybridSyncError.invalidArgument(
                    .nonFinite, "non-finite gradient in table '\(s.table)', row \(id) on rank \(rank): nothing of this step was applied")
            }
        }
        return out
    }
}
