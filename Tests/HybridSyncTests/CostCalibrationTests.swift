import XCTest

@testable import HybridSync

/// The per-regime cost model: the measured ring curve, the fitted request cost and a step's price,
/// against values worked out by hand.
final class CostCalibrationTests: XCTestCase {
    /// Exact at the measured sizes, linear between them, the latency floor below, the last regime's
    /// slope above, and never less for more bytes.
    func testCurveInterpolatesByRegime() {
        let c = CostCurve([(bytes: 1_000, seconds: 10e-6), (bytes: 100_000, seconds: 20e-6), (bytes: 1_100_000, seconds: 1_020e-6)])
        XCTAssertEqual(c.seconds(0), 0)
        XCTAssertEqual(c.seconds(10), 10e-6, accuracy: 1e-15)
        XCTAssertEqual(c.seconds(1_000), 10e-6, accuracy: 1e-15)
        XCTAssertEqual(c.seconds(50_500), 15e-6, accuracy: 1e-12)
        XCTAssertEqual(c.seconds(100_000), 20e-6, accuracy: 1e-15)
        // 1 us per kB in the last regime, also beyond it.
        XCTAssertEqual(c.seconds(600_000), 520e-6, accuracy: 1e-12)
        XCTAssertEqual(c.seconds(2_100_000), 2_020e-6, accuracy: 1e-12)
        // A noisy probe that timed a larger size faster is raised to the smaller size's time.
        let noisy = CostCurve([(bytes: 2, seconds: 5), (bytes: 1, seconds: 3), (bytes: 3, seconds: 4)])
        XCTAssertEqual(noisy.bytes, [1, 2, 3])
        XCTAssertEqual(noisy.seconds, [3, 5, 5])
    }

    /// Samples on a known line give back its coefficients; one term the samples push negative is held
    /// at zero and the rest refitted.
    func testRequestCostFitRecoversTheTerms() {
        let truth = RequestCost(latency: 200e-6, perKey: 0.1e-6, perByte: 2e-9)
        let probes: [(Double, Double)] = [(1, 256), (1024, 262_144), (8192, 262_144), (8192, 2_097_152)]
        let fit = RequestCost(fitting: probes.map { (keys: $0.0, bytes: $0.1, seconds: truth.seconds(keys: $0.0, bytes: $0.1)) })
        XCTAssertEqual(fit.latency, truth.latency, accuracy: 1e-12)
        XCTAssertEqual(fit.perKey, truth.perKey, accuracy: 1e-15)
        XCTAssertEqual(fit.perByte, truth.perByte, accuracy: 1e-17)
        // Time falls with keys at fixed bytes: unconstrained, perKey would be negative.
        let odd = RequestCost(fitting: [(keys: 1, bytes: 1000, seconds: 2e-3), (keys: 100, bytes: 1000, seconds: 1e-3), (keys: 1, bytes: 3000, seconds: 4e-3)])
        XCTAssertEqual(odd.perKey, 0)
        // Least squares of time on bytes alone, by hand: Sxy / Sxx = 3,333.3 / 2,666,667 = 1.25 us per
        // byte; the intercept 7/3 ms - 1.25 us x 5,000/3 B = 0.25 ms (squared error 0.5 ms², against
        // 0.545 ms² for bytes without a latency).
        XCTAssertEqual(odd.perByte, 1.25e-6, accuracy: 1e-12)
        XCTAssertEqual(odd.latency, 0.25e-3, accuracy: 1e-9)
    }

    /// A step is priced part by part: small tensors fused into one bucket, large ones alone.
    func testStepIsPricedPartByPart() {
        var m = CostModel(workers: 4, servers: 2)
        m.ringCurve = CostCurve([(bytes: 4096, seconds: 10e-6), (bytes: 1_048_576, seconds: 1e-3)])
        m.pullCost = RequestCost(latency: 100e-6, perKey: 1e-6, perByte: 0)
        m.pushCost = RequestCost(latency: 200e-6, perKey: 0, perByte: 1e-9)
        m.localPass = 1e-10
        XCTAssertEqual(CostModel.ringMessages([1000, 2000, 1 << 20, 70_000]), [1 << 20, 70_000, 3000])
        var load = StepLoad()
        load.pulls = [(keys: 10, bytes: 1280), (keys: 20, bytes: 2560)]
        load.localReads = 1000
        load.ringTensors = [2048, 2048]
        load.localBytes = 4096
        load.push = (keys: 30, bytes: 1_000_000)
        let s = m.seconds(of: load)
        XCTAssertEqual(s.pulls, 2 * 100e-6 + 30e-6 + 1000 * 1e-10, accuracy: 1e-15)
        XCTAssertEqual(s.ring, 10e-6, accuracy: 1e-15)
        XCTAssertEqual(s.local, 3 * 4096 * 1e-10, accuracy: 1e-15)
        XCTAssertEqual(s.push, 200e-6 + 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.refresh, 0)
        XCTAssertEqual(s.total, s.pulls + s.ring + s.local + s.push, accuracy: 1e-15)
        // The planner's per-parameter prices use the same measurements.
        XCTAssertEqual(m.ringSeconds(1 << 20), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(m.psSeconds(rows: 10, rowBytes: 128), (100e-6 + 10e-6) + (200e-6 + 1280e-9), accuracy: 1e-15)
    }

    /// Alpha and beta read off the measurements: alpha from the smallest bucket over 2(p-1) messages,
    /// beta from the last regime's slope over the bytes a rank sends, less half a reduction pass.
    func testAlphaAndBetaReadOffTheCurve() {
        let curve = CostCurve([(bytes: 4096, seconds: 60e-6), (bytes: 1_000_000, seconds: 1e-3), (bytes: 2_000_000, seconds: 2.5e-3)])
        let c = Calibration(
            curve: curve, pull: RequestCost(latency: 1e-4, perKey: 0, perByte: 2e-9),
            push: RequestCost(latency: 3e-4, perKey: 0, perByte: 4e-9), pass: 0.2e-9, workers: 4, servers: 2)
        XCTAssertEqual(c.ring.alpha, 60e-6 / 6, accuracy: 1e-15)
        // slope 1.5 ns/B over 2 (p-1)/p = 1.5: 1 ns/B, less 0.1.
        XCTAssertEqual(c.ring.beta, 0.9e-9, accuracy: 1e-18)
        XCTAssertEqual(c.ps.alpha, 2e-4, accuracy: 1e-15)
        XCTAssertEqual(c.ps.beta, 3e-9, accuracy: 1e-18)
        XCTAssertEqual(c.ring.ringCurve, curve)
        XCTAssertEqual(c.ps.pullCost, c.ring.pullCost)
    }
}
