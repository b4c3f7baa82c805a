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
                XCTAssertTrue("\(error)".contains("emb") && "\(error)".contains(what), "\(error)")
            }
        }
        XCTAssertNoThrow(try TableSpec(name: "emb", dimension: 4, optimizer: .adagrad(learningRate: 0.1, epsilon: 0, initialAccumulator: 0)).validate())
        XCTAssertNoThrow(try TableSpec(name: "emb", dimension: 4, optimizer: .adam(learningRate: 0.1, beta1: 0, beta2: 0.999, epsilon: 1e-8)).validate())
    }
}
