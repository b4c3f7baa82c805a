#if canImport(Glibc)
import Glibc
#endif
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
        var slot = 0, step = Int32(t - 1)
        apply(rows: 1, length: n, gradients: g, slots: &slot, values: w, width: n, state: state, stateWidth: stateSlots * n, steps: &step)
    }

    /// Updates `rows` rows of `n` floats stored in arenas: row `r` lives in slot `slots[r]`, its values at
    /// `values + slot * width`, its optimizer state at `state + slot * stateWidth`, its step count at
    /// `steps[slot]` (incremented here). Its gradient is at `g + r * n`, or at `g + gradientRows[r] * n`
    /// when `gradientRows` is given. The optimizer's branch is taken once per call and the rows are
    /// updated in one loop here. The one implementation of every optimizer's arithmetic: the servers'
    /// row store, the workers' local tables and the dense parameters all call it, so a table gives
    /// bit-identical results wherever it lives.
    package func apply(rows: Int, length n: Int, gradients g: UnsafePointer<Float>, gradientRows: UnsafePointer<Int>? = nil,
                       slots: UnsafePointer<Int>, values: UnsafeMutablePointer<Float>, width: Int,
                       state: UnsafeMutablePointer<Float>, stateWidth: Int, steps: UnsafeMutablePointer<Int32>) {
        @inline(__always) func gradient(_ r: Int) -> UnsafePointer<Float> { g + (gradientRows?[r] ?? r) * n }
        switch spec {
        case .accumulate:
            for r in 0..<rows {
                let s = slots[r]
                steps[s] += 1
                Self.accumulate(values + s * width, gradient(r), n)
            }
        case .sgd(let lr):
            let a = Float(lr)
            for r in 0..<rows {
                let s = slots[r]
                steps[s] += 1
                Self.sgd(values + s * width, gradient(r), n, a)
            }
        case let .adagrad(lr, eps, _):
            let a = Float(lr), ep = Float(eps)
            for r in 0..<rows {
                let s = slots[r]
                steps[s] += 1
                Self.adagrad(values + s * width, state + s * stateWidth, gradient(r), n, a, ep)
            }
        case let .adam(lr, b1, b2, eps):
            for r in 0..<rows {
                let s = slots[r]
                steps[s] += 1
                Self.adam(values + s * width, state + s * stateWidth, gradient(r), n,
                          lr: Float(lr), b1: b1, b2: b2, eps: Float(eps), step: Int(steps[s]))
            }
        }
    }

    /// `w += g` (the `accumulate` optimizer).
    @inlinable @inline(__always)
    package static func accumulate(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int) {
        for e in 0..<n { w[e] += g[e] }
    }

    /// `w -= a * g`.
    @inlinable @inline(__always)
    package static func sgd(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int, _ a: Float) {
        for e in 0..<n { w[e] -= a * g[e] }
    }

    /// `h += g * g; w -= a * g / (sqrt(h) + eps)`, eight lanes at a time (the pointers may alias as far
    /// as the compiler knows, so it would not vectorise this loop itself), then the tail. Lane for lane
    /// the same operations as the scalar loop, so the result is the same bits.
    @inlinable @inline(__always)
    package static func adagrad(_ w: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ gi: UnsafePointer<Float>,
                        _ n: Int, _ a: Float, _ ep: Float) {
        var e = 0
        while e + 8 <= n {
            let gv = UnsafeRawPointer(gi + e).loadUnaligned(as: SIMD8<Float>.self)
            var hv = UnsafeRawPointer(h + e).loadUnaligned(as: SIMD8<Float>.self)
            var wv = UnsafeRawPointer(w + e).loadUnaligned(as: SIMD8<Float>.self)
            hv += gv * gv
            // The square root of |h| (h is never negative: `OptimizerSpec.validate`): a square root the
            // compiler knows cannot set errno, so the eight lanes are two `sqrtps`. Of plain h, Swift's
            // square root compiles to eight errno-guarded scalar roots, and the update ran 2-4x slower.
            var root = SIMD8<Float>()
            for j in 0..<8 { root[j] = hv[j].magnitude.squareRoot() }
            wv -= a * gv / (root + ep)
            UnsafeMutableRawPointer(h + e).storeBytes(of: hv, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(w + e).storeBytes(of: wv, as: SIMD8<Float>.self)
            e += 8
        }
        while e < n {
            h[e] += gi[e] * gi[e]
            w[e] -= a * gi[e] / (h[e].magnitude.squareRoot() + ep)
            e += 1
        }
    }

    /// Lazy Adam on one row: the two moments side by side in `state`; bias correction by the row's step.
    @inlinable
    package static func adam(_ w: UnsafeMutablePointer<Float>, _ state: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int,
                     lr a: Float, b1: Double, b2: Double, eps e: Float, step t: Int) {
        let m = state, v = state + n
        let fb1 = Float(b1), fb2 = Float(b2)
        let c1 = 1 - Float(pow(b1, Double(t))), c2 = 1 - Float(pow(b2, Double(t)))
        for i in 0..<n {
            m[i] = fb1 * m[i] + (1 - fb1) * g[i]
            v[i] = fb2 * v[i] + (1 - fb2) * g[i] * g[i]
            w[i] -= a * (m[i] / c1) / ((v[i] / c2).squareRoot() + e)
        }
    }
}
