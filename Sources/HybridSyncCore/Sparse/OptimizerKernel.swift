
/// Applies a table's optimizer to one row piece, in place. Pure arithmetic on buffers; no I/O. Used by
/// the servers and by workers that hold a table locally (a table the planner moved to the ring).
///
/// Arithmetic is in Float (the table's type); Adam's per-row step count drives bias correction, and
/// advances only for rows that are pushed (lazy Adam).
package struct OptimizerKernel: Sendable {
    package let spec: OptimizerSpec

    package init(spec: OptimizerSpec) { self.spec = spec }

    /// Optimizer state slots per element (0 for SGD, 1 for Adagrad, 2 for Adam).
    package var stateSlots: Int {
        switch spec {
        case .sgd, .accumulate: return 0
        case .adagrad: return 1
        case .adam: return 2
        }
    }

    /// Initial value of state slot `slot`.
    package func initialState(_ slot: Int) -> Float {
        if case .adagrad(_, _, let acc) = spec { return Float(acc) }
        return 0
    }

    /// Updates `w[0..<n]` with gradient `g`, using `state` (`stateSlots * n` floats) and the row's
    /// step count `t` (already incremented for this update).
    package func apply(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int,
               state: UnsafeMutablePointer<Float>, step t: Int) {
        switch spec {
        case .accumulate:
            for i in 0..<n { w[i] += g[i] }
        case .sgd(let lr):
            let a = Float(lr)
            for i in 0..<n { w[i] -= a * g[i] }
        case let .adagrad(lr, eps, _):
            let a = Float(lr), e = Float(eps)
            for i in 0..<n {
                state[i] += g[i] * g[i]
                w[i] -= a * g[i] / (state[i].squareRoot() + e)
            }
        case let .adam(lr, b1, b2, eps):
            let m = state, v = state + n  // the two moments of this piece, side by side
            let fb1 = Float(b1), fb2 = Float(b2), e = Float(eps)
            let c1 = 1 - Float(pow(b1, Double(t))), c2 = 1 - Float(pow(b2, Double(t)))
            let a = Float(lr)
            for i in 0..<n {
                m[i] = fb1 * m[i] + (1 - fb1) * g[i]
                v[i] = fb2 * v[i] + (1 - fb2) * g[i] * g[i]
                w[i] -= a * (m[i] / c1) / ((v[i] / c2).squareRoot() + e)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
