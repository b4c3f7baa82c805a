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
    package func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int,
        state: UnsafeMutablePointer<Float>, step t: Int
    ) {
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
    package func apply(
        rows: Int, length n: Int, gradients g: UnsafePointer<Float>, gradientRows: UnsafePointer<Int>? = nil,
        slots: UnsafePointer<Int>, values: UnsafeMutablePointer<Float>, width: Int,
        state: UnsafeMutablePointer<Float>, stateWidth: Int, steps: UnsafeMutablePointer<Int32>
    ) {
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
            // Bias corrections depend only on the row's step count; rows pushed together mostly share
            // it, so the two `pow` calls run once per distinct count in a run of rows, not once a row.
            var memo = (step: -1, c1: Float(0), c2: Float(0))
            for r in 0..<rows {
                let s = slots[r]
                steps[s] += 1
                let t = Int(steps[s])
                if t != memo.step { memo = (t, Self.adamCorrection(b1, t), Self.adamCorrection(b2, t)) }
                Self.adam(
                    values + s * width, state + s * stateWidth, gradient(r), n,
                    lr: Float(lr), b1: Float(b1), b2: Float(b2), eps: Float(eps), c1: memo.c1, c2: memo.c2)
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
    package static func adagrad(
        _ w: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ gi: UnsafePointer<Float>,
        _ n: Int, _ a: Float, _ ep: Float
    ) {
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

    /// Adam's bias correction `1 - beta^t`, in Double, as a Float.
    @inlinable
    package static func adamCorrection(_ beta: Double, _ t: Int) -> Float { 1 - Float(pow(beta, Double(t))) }

    /// Lazy Adam on one row: the two moments side by side in `state`; bias corrections `c1`, `c2` for
    /// the row's step (`adamCorrection`). Eight lanes at a time, then the tail, lane for lane the
    /// scalar formula's operations in its order (same bits):
    /// `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g; w -= a (m / c1) / (sqrt(v / c2) + eps)`.
    @inlinable @inline(__always)
    package static func adam(
        _ w: UnsafeMutablePointer<Float>, _ state: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int,
        lr a: Float, b1: Float, b2: Float, eps: Float, c1: Float, c2: Float
    ) {
        let m = state, v = state + n
        let k1 = 1 - b1, k2 = 1 - b2
        var i = 0
        while i + 8 <= n {
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            var mv = UnsafeRawPointer(m + i).loadUnaligned(as: SIMD8<Float>.self)
            var vv = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<Float>.self)
            var wv = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self)
            mv = b1 * mv + k1 * gv
            vv = b2 * vv + k2 * gv * gv
            let q = vv / c2
            // v is never negative, so |v / c2| has the same root; as in `adagrad`, this one compiles
            // to `sqrtps` where the plain root is eight errno-guarded scalar calls.
            var root = SIMD8<Float>()
            for j in 0..<8 { root[j] = q[j].magnitude.squareRoot() }
            wv -= a * (mv / c1) / (root + eps)
            UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(w + i).storeBytes(of: wv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            m[i] = b1 * m[i] + k1 * g[i]
            v[i] = b2 * v[i] + k2 * g[i] * g[i]
            w[i] -= a * (m[i] / c1) / ((v[i] / c2).magnitude.squareRoot() + eps)
            i += 1
        }
    }
}
