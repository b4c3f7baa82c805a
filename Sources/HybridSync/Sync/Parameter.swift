import HybridSyncCollectives
import HybridSyncCore

/// A model parameter registered with `GradientSync`.
public struct Parameter {
    /// What the parameter is.
    public enum Kind {
        /// A dense tensor, held by the caller and updated in place by `GradientSync` with `optimizer`.
        case dense(Tensor, optimizer: OptimizerSpec)
        /// An embedding table of `rows` rows (ids `0 ..< rows`): rows live on the servers (or, if the
        /// planner routes it to the ring, in a local dense copy on every worker).
        case embedding(TableSpec, rows: Int)
    }

    package var kind: Kind
    /// A route the planner must use.
    package var pin: Route?

    /// A parameter of `kind`; `pin` forces its route (nil: the planner decides).
    public init(_ kind: Kind, pin: Route? = nil) {
        self.kind = kind
        self.pin = pin
    }

    package var name: String {
        switch kind {
        case .dense(let t, _): return t.name
        case .embedding(let s, _): return s.name
        }
    }
}

/// Which paths a job uses.
public enum Strategy: String, Sendable, CaseIterable {
    /// The planner decides per parameter.
    case hybrid
    /// Everything over the ring; embedding tables densified (a full copy on every worker).
    case allreduce
    /// Everything through the parameter servers, dense tensors too.
    case ps
}
