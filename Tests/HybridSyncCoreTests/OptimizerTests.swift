import Foundation
import HybridSyncCore
import XCTest

/// The servers' row arithmetic against a plain scalar reference, and the hyperparameters it refuses.
final class OptimizerTests: XCTestCase {
    /// Adagrad over rows of every length from 1 to 40 (eight-lane blocks and the tail) gives exactly the
    /// bits of the scalar formula with libm's `sqrtf`, applied three times to the same row.
    func testAdagradLanesMatchTheScalarFormulaBitForBit() {
        var mismatches = 0
        for n in 1...40 {
            var w = (0..<n).map { Float($0) * 0.37 - 3 }, h = (0..<n).map { _ in Float(0.1) }
            var rw = w, rh = h
            for step in 0..<3 {
                let g = (0..<n).map { Float(($0 * 7 + step * 3) % 11) * 0.25 - 1.2 }
                OptimizerKernel.adagrad(&w, &h, g, n, 0.05, 1e-8)
                for e in 0..<n {
                    rh[e] += g[e] * g[e]
                    rw[e] -= 0.05 * g[e] / (sqrtf(rh[e]) + 1e-8)
                }
            }
            mismatches += zip(w + h, rw + rh).filter { $0.bitPattern != $1.bitPattern }.count
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// Adam over rows of every length from 1 to 40, three steps, through the kernel's row loop (two rows
    /// with different step counts, so the bias-correction memo must follow each row's own count): the
    /// exact bits of the scalar formula (bias corrections by Double `pow`, roots by libm's `sqrtf`).
    func testAdamLanesMatchTheScalarFormulaBitForBit() {
        let kernel = OptimizerKernel(spec: .adam(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8))
        var mismatches = 0
        for n in 1...40 {
            // Two rows in slots 0 and 1; row 1 starts two steps ahead.
            var values = (0..<(2 * n)).map { Float($0) * 0.37 - 3 }, state = [Float](repeating: 0, count: 4 * n)
            var steps: [Int32] = [0, 2]
            var ref = values, refState = state, refSteps = [0, 2]
            for step in 0..<3 {
                let g = (0..<(2 * n)).map { Float(($0 * 7 + step * 3) % 11) * 0.25 - 1.2 }
                let slots = [0, 1]
                kernel.apply(rows: 2, length: n, gradients: g, slots: slots, values: &values, width: n, state: &state, stateWidth: 2 * n, steps: &steps)
                for r in 0..<2 {
                    refSteps[r] += 1
                    let c1 = 1 - Float(pow(0.9, Double(refSteps[r]))), c2 = 1 - Float(pow(0.999, Double(refSteps[r])))
                    for e in 0..<n {
                        let gi = g[r * n + e], m = r * 2 * n + e, v = m + n
                        refState[m] = Float(0.9) * refState[m] + (1 - Float(0.9)) * gi
                        refState[v] = Float(0.999) * refState[v] + (1 - Float(0.999)) * gi * gi
                        ref[r * n + e] -= Float(1e-3) * (refState[m] / c1) / (sqrtf(refState[v] / c2) + Float(1e-8))
                    }
                }
            }
            mismatches += zip(values + state, ref + refState).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(steps, [3, 5])
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// Hyperparameters out of range are refused naming the table and the setting.
    func testOutOfRangeHyperparametersAreRefused() {
        let bad: [(OptimizerSpec, String)] = [
            (.adagrad(learningRate: 0.1, epsilon: 1e-8, initialAccumulator: -1), "initial accumulator"),
            (.adagrad(learningRate: .nan, epsilon: 1e-8, initialAccumulator: 0.1), "learning rate"),
            (.adagrad(learningRate: 0.1, epsilon: -1, initialAccumulator: 0.1), "epsilon"),
            (.adam(learningRate: 0.1, beta1: 1, beta2: 0.999, epsilon: 1e-8), "beta1"),
            (.adam(learningRate: 0.1, beta1: 0.9, beta2: .infinity, epsilon: 1e-8), "beta2"),
            (.sgd(learningRate: .infinity), "learning rate"),
        ]
        for (optimizer, what) in bad {
            XCTAssertThrowsError(try TableSpec(name: "emb", dimension: 4, optimizer: optimizer).validate()) { error in
                guard case .invalidArgument(.range, let text)? = error as? HybridSyncError else { return XCTFail("\(error)") }
                XCTAssertTrue(text.contains("emb") && text.contains(what), text)
            }
        }
        XCTAssertNoThrow(try TableSpec(name: "emb", dimension: 4, optimizer: .adagrad(learningRate: 0.1, epsilon: 0, initialAccumulator: 0)).validate())
        XCTAssertNoThrow(try TableSpec(name: "emb", dimension: 4, optimizer: .adam(learningRate: 0.1, beta1: 0, beta2: 0.999, epsilon: 1e-8)).validate())
    }
}
