import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// Which path a parameter's gradients take.
public enum Route: String, Sendable, CaseIterable {
    /// Dense all-reduce over the workers' ring.
    case ring
    /// Push and pull of touched rows through the parameter servers.
    case ps
}

/// What the planner knows of one parameter.
package struct PlannedParameter: Sendable, Equatable {
    package var name: String
    /// Rows (1 for a vector) and elements per row.
    package var rows: Int
    package var columns: Int
    package var dtype: DType
    /// Declared as an embedding table (row-sparse gradients expected).
    package var isEmbedding: Bool
    /// A route the user fixed, if any.
    package var pinned: Route?

    package init(name: String, rows: Int, columns: Int, dtype: DType = .float32, isEmbedding: Bool, pinned: Route? = nil) {
        self.name = name
        self.rows = rows
        self.columns = columns
        self.dtype = dtype
        self.isEmbedding = isEmbedding
        self.pinned = pinned
    }

    package var bytes: Int { rows * columns * dtype.byteWidth }
    package var rowBytes: Int { columns * dtype.byteWidth }
}

/// One line of the plan: where a parameter goes, what it is predicted to cost, and why.
public struct PlanEntry: Sendable, Equatable {
    public let name: String
    public let bytes: Int
    /// Fraction of rows touched per step (observed, or the prior before observation).
    public let density: Double
    public let route: Route
    /// Bytes one worker puts on the wire per step on this route.
    package let predictedBytes: Double
    package let predictedSeconds: Double
    /// Seconds it would take on the other route.
    package let alternativeSeconds: Double
    public let reason: String
}

/// Routes every parameter to the ring or the parameter servers, by cost, from its shape and the
/// gradient density observed in the first steps. Pure: no I/O. All ranks feed it the same (averaged)
/// observations, so every rank computes the same plan.
package struct Planner: Sendable {
    package private(set) var parameters: [PlannedParameter] = []
    /// The ring's cost model (also the PS's unless `psModel` is set).
    package var model: CostModel
    /// The parameter servers' cost model, when calibrated separately.
    package var psModel: CostModel?
    private var densitySum: [String: Double] = [:]
    private var observations: [String: Int] = [:]
    /// Density assumed for embeddings before any observation.
    package var embeddingPrior = 0.01

    package init(model: CostModel) { self.model = model }

    /// Adds parameters (names must be new).
    package mutating func add(_ p: [PlannedParameter]) throws {
        for x in p {
            guard !parameters.contains(where: { $0.name == x.name }) else {
                throw HybridSyncError.invalidArgument(.name, "parameter '\(x.name)' registered twice")
            }
            guard x.rows >= 1, x.columns >= 1 else { throw HybridSyncError.invalidArgument(.shape, "parameter '\(x.name)' has an empty shape") }
        }
        parameters += p
    }

    /// Records that a step touched `rowsTouched` rows of `name`.
    package mutating func observe(_ name: String, rowsTouched: Int) {
        guard let p = parameters.first(where: { $0.name == name }) else { return }
        densitySum[name, default: 0] += Double(rowsTouched) / Double(p.rows)
        observations[name, default: 0] += 1
    }

    /// Observed mean density of `name` (nil before the first observation).
    package func observedDensity(_ name: String) -> Double? {
        guard let n = observations[name], n > 0 else { return nil }
        return densitySum[name, default: 0] / Double(n)
    }

    /// Replaces the observations with cross-rank averages (call with the same values on every rank).
    package mutating func setObservedDensity(_ name: String, _ density: Double) {
        densitySum[name] = density
        observations[name] = 1
    }

    /// The plan for every parameter.
    package func plan() -> [PlanEntry] {
        parameters.map { p in
            let observed = observedDensity(p.name)
            let density = observed ?? (p.isEmbedding ? embeddingPrior : 1)
            let rows = Swift.max(1, density * Double(p.rows))
            let ps = psModel ?? model
            let ringT = model.ringSeconds(p.bytes), psT = ps.psSeconds(rows: rows, rowBytes: p.rowBytes)
            let ringB = model.ringBytes(p.bytes), psB = ps.psBytes(rows: rows, rowBytes: p.rowBytes)
            let basis = observed == nil ? (p.isEmbedding ? "assumed density \(fmt(density))" : "dense") : "observed density \(fmt(density))"
            if let pin = p.pinned {
                return PlanEntry(
                    name: p.name, bytes: p.bytes, density: density, route: pin,
                    predictedBytes: pin == .ring ? ringB : psB, predictedSeconds: pin == .ring ? ringT : psT,
                    alternativeSeconds: pin == .ring ? psT : ringT, reason: "pinned by the user")
            }
            if !p.isEmbedding && observed == nil {
                return PlanEntry(
                    name: p.name, bytes: p.bytes, density: 1, route: .ring, predictedBytes: ringB, predictedSeconds: ringT,
                    alternativeSeconds: psT, reason: "dense tensor: ring all-reduce")
            }
            let route: Route = psT < ringT ? .ps : .ring
            let why =
                route == .ps
                ? "\(basis): PS \(fmtT(psT)) < ring \(fmtT(ringT))"
                : "\(basis): ring \(fmtT(ringT)) <= PS \(fmtT(psT))"
            return PlanEntry(
                name: p.name, bytes: p.bytes, density: density, route: route,
                predictedBytes: route == .ring ? ringB : psB, predictedSeconds: Swift.min(psT, ringT),
                alternativeSeconds: Swift.max(psT, ringT), reason: why)
        }
    }

    /// The route of `name` in the current plan.
    package func route(of name: String) -> Route? { plan().first { $0.name == name }?.route }

    /// Groups the ring-routed dense parameters into fusion buckets of at most `thresholdBytes`.
    package func ringBuckets(thresholdBytes: Int, op: ReduceOp = .average) -> [[String]] {
        let ring = plan().filter { $0.route == .ring }.map(\.name)
        let ps = parameters.filter { ring.contains($0.name) }
        let descriptors = ps.map { TensorDescriptor(name: $0.name, dtype: $0.dtype, count: $0.rows * $0.columns, op: op) }
        return FusionPlan.buckets(for: descriptors, thresholdBytes: thresholdBytes).map { $0.members.map { ps[$0].name } }
    }
}

private func fmt(_ d: Double) -> String {
    let digits = d >= 0.1 ? 2 : d >= 0.001 ? 4 : 6
    let scaled = (d * pow(10, Double(digits))).rounded()
    return "0." + String(repeating: "0", count: max(0, digits - String(Int(scaled)).count)) + String(Int(scaled))
}
private func fmtT(_ s: Double) -> String { s >= 1e-3 ? "\(Int((s * 1e3).rounded())) ms" : "\(Int((s * 1e6).rounded())) us" }
