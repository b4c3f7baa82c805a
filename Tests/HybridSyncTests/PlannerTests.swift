import HybridSync
import HybridSyncCore
import XCTest

final class PlannerTests: XCTestCase {
    let model = CostModel(alpha: 50e-6, beta: 1e-9, workers: 4, servers: 2)

    func testDenseGoesToRingAndSparseEmbeddingToPS() throws {
        var p = Planner(model: model)
        try p.add([
            PlannedParameter(name: "mlp", rows: 1, columns: 1_000_000, isEmbedding: false),
            PlannedParameter(name: "emb", rows: 1_000_000, columns: 32, isEmbedding: true),
        ])
        let plan = p.plan()
        XCTAssertEqual(plan.map(\.route), [.ring, .ps])
        XCTAssertEqual(plan[0].predictedBytes, 1.5 * 4_000_000, accuracy: 1)
        // 1% of a million rows of 128 B, pushed and pulled: 2 * 10,000 * 128.
        XCTAssertEqual(plan[1].predictedBytes, 2_560_000, accuracy: 1)
        XCTAssertTrue(plan[1].reason.contains("PS"), plan[1].reason)
    }

    /// An embedding whose gradients turn out dense moves to the ring; a sparse one stays.
    func testReplanFromObservedDensity() throws {
        var p = Planner(model: model)
        try p.add([
            PlannedParameter(name: "a", rows: 1000, columns: 64, isEmbedding: true),
            PlannedParameter(name: "b", rows: 1_000_000, columns: 16, isEmbedding: true),
        ])
        XCTAssertEqual(p.route(of: "a"), .ps)
        for _ in 0..<5 { p.observe("a", rowsTouched: 900); p.observe("b", rowsTouched: 100) }
        XCTAssertEqual(p.observedDensity("a")!, 0.9, accuracy: 1e-12)
        XCTAssertEqual(p.route(of: "a"), .ring)
        XCTAssertEqual(p.route(of: "b"), .ps)
        XCTAssertTrue(p.plan()[0].reason.contains("observed density"))
    }

    func testPinningWins() throws {
        var p = Planner(model: model)
        try p.add([
            PlannedParameter(name: "mlp", rows: 1, columns: 100, isEmbedding: false, pinned: .ps),
            PlannedParameter(name: "emb", rows: 1_000_000, columns: 8, isEmbedding: true, pinned: .ring),
        ])
        XCTAssertEqual(p.plan().map(\.route), [.ps, .ring])
        XCTAssertTrue(p.plan().allSatisfy { $0.reason == "pinned by the user" })
        XCTAssertThrowsError(try p.add([PlannedParameter(name: "mlp", rows: 1, columns: 1, isEmbedding: false)]))
    }

    func testRingBucketsGroupDenseTensors() throws {
        var p = Planner(model: model)
        try p.add(
            (0..<10).map { PlannedParameter(name: "l\($0)", rows: 1, columns: 1000, isEmbedding: false) }
                + [PlannedParameter(name: "emb", rows: 1_000_000, columns: 8, isEmbedding: true)])
        let buckets = p.ringBuckets(thresholdBytes: 12_000)
        XCTAssertEqual(buckets.map(\.count), [3, 3, 3, 1])
        XCTAssertFalse(buckets.joined().contains("emb"))
    }

    func testCostModelFormulas() {
        let m = CostModel(alpha: 1e-5, beta: 1e-9, gamma: 2e-10, workers: 4, servers: 2)
        // 2(p-1) alpha + 2(p-1)/p n beta + (p-1)/p n gamma
        XCTAssertEqual(m.ringSeconds(1_000_000), 6 * 1e-5 + 1.5e6 * 1e-9 + 0.75e6 * 2e-10, accuracy: 1e-12)
        // Server load dominates with 4 workers on 2 servers: 2 * 100 * 64 * 4 / 2 bytes.
        XCTAssertEqual(m.psSeconds(rows: 100, rowBytes: 64), 2e-5 + 25_600 * 1e-9 + 12_800 * 2e-10, accuracy: 1e-12)
    }

    func testLayouts() throws {
        let d = try HybridLayout(servers: 2, placement: .dedicated).roles(worldSize: 5)
        XCTAssertEqual(d.map(\.server), [0, 1, nil, nil, nil])
        XCTAssertEqual(d.map(\.worker), [nil, nil, 0, 1, 2])
        XCTAssertEqual(d.map(\.scheduler), [true, false, false, false, false])
        let c = try HybridLayout(servers: 2, placement: .colocated).roles(worldSize: 3)
        XCTAssertEqual(c.map(\.worker), [0, 1, 2])
        XCTAssertEqual(c.map(\.server), [0, 1, nil])
        XCTAssertThrowsError(try HybridLayout(servers: 2, placement: .dedicated).roles(worldSize: 2))
        XCTAssertThrowsError(try HybridLayout(servers: 0, placement: .colocated).roles(worldSize: 2))
        // Spare servers are the last ranks, neither workers nor servers until one replaces a dead server.
        let spare = HybridLayout(servers: 2, placement: .dedicated, spares: 1)
        let sp = try spare.roles(worldSize: 5)
        XCTAssertEqual(sp.map(\.spare), [false, false, false, false, true])
        XCTAssertEqual(sp.map(\.worker), [nil, nil, 0, 1, nil])
        XCTAssertEqual(spare.workers(worldSize: 5), 2)
        XCTAssertEqual(HybridLayout(servers: 1, placement: .colocated, spares: 1).workers(worldSize: 3), 2)
        XCTAssertThrowsError(try HybridLayout(servers: 2, placement: .dedicated, spares: 3).roles(worldSize: 5))
    }
}
