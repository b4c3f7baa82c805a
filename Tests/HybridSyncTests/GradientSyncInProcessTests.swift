import HybridSync
import HybridSyncTestKit
import XCTest

/// `GradientSync` in whole hybrid jobs inside this process (ring over the in-memory fabric, parameter
/// server over the in-memory network): exact against a serial reference for the three strategies, and
/// the same registration error on every worker.
final class GradientSyncInProcessTests: XCTestCase {
    func expectExact(
        servers: Int, workers: Int, strategy: Strategy, early: Bool = false, overlap: Bool = false, prefetch: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> [String] {
        let outcome = try TestKit.hybridJob(servers: servers, workers: workers) { runtime in
            try HybridChecks.exact(runtime, strategy: strategy, servers: servers, early: early, overlap: overlap, prefetch: prefetch)
        }
        var details: [String] = []
        for (w, r) in outcome.workers.enumerated() {
            let (ok, text) = try r.get()
            XCTAssertTrue(ok, "worker \(w): \(text)", file: file, line: line)
            details.append(text)
        }
        for (node, failure) in outcome.nodes { XCTAssertNil(failure, "\(node)", file: file, line: line) }
        return details
    }

    func testHybridIsExactAndMovesTheTableToTheRing() throws {
        let two = try expectExact(servers: 2, workers: 2, strategy: .hybrid)
        XCTAssertTrue(two.allSatisfy { $0.contains("emb route ps->ring") }, "\(two)")
        _ = try expectExact(servers: 3, workers: 4, strategy: .hybrid)
    }

    func testAllreduceStrategyIsExact() throws {
        // Power-of-two worker counts: the reference divides each gradient by p, exact only then.
        _ = try expectExact(servers: 1, workers: 4, strategy: .allreduce)
    }

    func testPSStrategyIsExact() throws {
        _ = try expectExact(servers: 3, workers: 4, strategy: .ps)
    }

    /// A registered model of one dense parameter `w` (`denseCount` ones, SGD) and an 8-row table `e` of
    /// dimension 2 (SGD), with no re-plan.
    static func smallModel(_ runtime: HybridRuntime, strategy: Strategy, denseCount: Int) throws -> (GradientSync, Tensor) {
        let sync = try GradientSync(runtime: runtime, strategy: strategy, replanAfterSteps: 0)
        let w = try Tensor(name: "w", values: [Float](repeating: 1, count: denseCount))
        try sync.register([
            Parameter(.dense(w, optimizer: .sgd(learningRate: 1))),
            Parameter(.embedding(TableSpec(name: "e", dimension: 2, optimizer: .sgd(learningRate: 1)), rows: 8)),
        ])
        return (sync, w)
    }

    /// `pushSparse` before `step` (every other step) gives the same values as `step` alone: with the
    /// clock riding on the early rows (hybrid, also after the table moved to the ring), and with the
    /// dense parameter on the servers (ps: the early rows go without the clock, the dense push with it).
    func testSparseRowsPushedBeforeTheStepAreExact() throws {
        let hybrid = try expectExact(servers: 2, workers: 2, strategy: .hybrid, early: true)
        XCTAssertTrue(hybrid.allSatisfy { $0.contains("emb route ps->ring") }, "\(hybrid)")
        _ = try expectExact(servers: 3, workers: 4, strategy: .ps, early: true)
    }

    /// Rows prefetched before each step (sent as the step ends) are exactly what the next step's pull
    /// would get under BSP, every worker's step applied; a prefetch of other rows than the next pull
    /// asks is settled and the pull made anew; after the table moved to the ring, prefetches are
    /// ignored. The ps strategy keeps the table on the servers throughout.
    func testPrefetchedRowsAreTheNextStepsPull() throws {
        let hybrid = try expectExact(servers: 2, workers: 2, strategy: .hybrid, early: true, prefetch: true)
        XCTAssertTrue(hybrid.allSatisfy { $0.contains("emb route ps->ring prefetched 2") }, "steps 1 and 3 taken, 2 missed, then the ring: \(hybrid)")
        let ps = try expectExact(servers: 3, workers: 4, strategy: .ps, prefetch: true)
        XCTAssertTrue(ps.allSatisfy { $0.contains("prefetched 5") }, "7 prefetches, 2 of other rows: \(ps)")
    }

    /// Dense gradients given to `ready` during backward (each worker on steps of its own choosing, so
    /// buckets start in different places on different ranks, `step` starting the rest) give exactly the
    /// serial reference's parameters: a ring bucket and a recursive-doubling one, with the table on the
    /// servers and after it moved to the ring, with early sparse pushes, and with the dense parameters
    /// on the servers (where `ready` only checks them).
    func testDenseBucketsStartedDuringBackwardAreExact() throws {
        let hybrid = try expectExact(servers: 2, workers: 2, strategy: .hybrid, early: true, overlap: true)
        XCTAssertTrue(hybrid.allSatisfy { $0.contains("emb route ps->ring") }, "\(hybrid)")
        _ = try expectExact(servers: 1, workers: 4, strategy: .allreduce, overlap: true)
        _ = try expectExact(servers: 2, workers: 2, strategy: .ps, overlap: true)
    }

    /// `lastStepBytes` holds everything a step moved, also what `pull`, `pushSparse` and `ready` sent
    /// before `step` was called. Oracle: the payload bytes themselves (8 bytes a key and 4 a float for
    /// the rows pushed and pulled; at 2 workers, both the ring and recursive doubling send each rank's
    /// whole tensor once), which the transports' counts can only exceed.
    func testLastStepBytesCountWhatPullPushSparseAndReadySent() throws {
        let (rows, dim, count) = (8, 64, 4096)
        let outcome = try TestKit.hybridJob(servers: 1, workers: 2) { runtime -> [Route: Int] in
            let sync = try GradientSync(runtime: runtime, strategy: .hybrid, replanAfterSteps: 0)
            let w = try Tensor(name: "w", values: [Float](repeating: 1, count: count))
            try sync.register([
                Parameter(.dense(w, optimizer: .sgd(learningRate: 1))),
                Parameter(.embedding(TableSpec(name: "e", dimension: dim, optimizer: .sgd(learningRate: 1)), rows: 1000)),
            ])
            try sync.planOverlap([["w"]])
            let ids = (0..<UInt64(rows)).map { $0 * 7 }
            _ = try sync.pull("e", ids: ids)
            try sync.pushSparse([SparseRows(table: "e", ids: ids, values: [Float](repeating: 0.5, count: rows * dim))])
            let g = try Tensor(name: "w", values: [Float](repeating: 0.25, count: count))
            try sync.ready([g])
            try sync.step(dense: [g], sparse: [])
            return sync.lastStepBytes
        }
        for r in outcome.workers {
            let bytes = try r.get()
            XCTAssertGreaterThanOrEqual(bytes[.ps] ?? 0, 2 * rows * (8 + 4 * dim), "the pull's and the early push's rows: \(bytes)")
            XCTAssertGreaterThanOrEqual(bytes[.ring] ?? 0, 4 * count, "the bucket started by ready: \(bytes)")
        }
    }

    /// `step` refuses sparse rows after `pushSparse` sent the step's, and `pushSparse` twice in a step.
    func testPushSparseIsOncePerStep() throws {
        let outcome = try TestKit.hybridJob(servers: 1, workers: 1) { runtime -> [String] in
            let (sync, _) = try Self.smallModel(runtime, strategy: .ps, denseCount: 2)
            let rows = [SparseRows(table: "e", ids: [1], values: [1, 1])]
            var errors: [String] = []
            try sync.pushSparse(rows)
            do { try sync.pushSparse(rows) } catch { errors.append("\(error)") }
            do { try sync.step(dense: [try Tensor(name: "w", values: [Float](repeating: 0, count: 2))], sparse: rows) } catch { errors.append("\(error)") }
            return errors
        }
        let errors = try outcome.workers[0].get()
        XCTAssertEqual(errors.count, 2, "\(errors)")
        XCTAssertTrue(errors.first?.contains("invalid argument (order): pushSparse was already called") == true, "\(errors)")
        XCTAssertTrue(errors.last?.contains("invalid argument (order): step got sparse gradients after pushSparse") == true, "\(errors)")
    }

    func testMismatchedRegistrationRaisesTheSameErrorEverywhere() throws {
        for extra in [false, true] {
            let outcome = try TestKit.hybridJob(servers: 1, workers: 3) { runtime in
                try HybridChecks.mismatch(runtime, strategy: .hybrid, extraTable: extra)
            }
            let texts = try outcome.workers.map { try $0.get() }
            XCTAssertTrue(texts.allSatisfy(\.0), "\(texts)")
            XCTAssertEqual(Set(texts.map(\.1)).count, 1, "same error on every worker: \(texts)")
        }
    }

    /// Sparse rows whose values do not fill `ids x dimension` are refused, naming the table, before
    /// anything of the step is applied, whether the table is on the servers or held locally (ring).
    func testSparseGradientOfTheWrongLengthIsRefused() throws {
        for strategy in [Strategy.ps, .allreduce] {
            let outcome = try TestKit.hybridJob(servers: 1, workers: 1) { runtime -> [String] in
                let (sync, w) = try Self.smallModel(runtime, strategy: strategy, denseCount: 2)
                let before = try sync.pull("e", ids: [1, 2]).values
                let dense = try Tensor(name: "w", values: [Float](repeating: 1, count: 2))
                var out: [String] = []
                do {
                    try sync.step(dense: [dense], sparse: [SparseRows(table: "e", ids: [1, 2], values: [1, 1, 1])])
                    out.append("no error")
                } catch let HybridSyncError.shapeMismatch(what, expected, got) {
                    out.append("\(what): \(expected), got \(got)")
                }
                out.append("w \(try w.values(as: Float.self)) rows unchanged \(try sync.pull("e", ids: [1, 2]).values == before) steps \(sync.stepCount)")
                return out
            }
            XCTAssertEqual(
                try outcome.workers[0].get(), ["gradient of table 'e': 4 elements, got 3", "w [1.0, 1.0] rows unchanged true steps 0"], "\(strategy)")
        }
    }

    /// A NaN or an infinity in a gradient throws on the worker, naming the tensor (or the table and
    /// row) and the rank, before anything of the step is sent or applied.
    func testNonFiniteGradientsThrowBeforeAnythingIsApplied() throws {
        let outcome = try TestKit.hybridJob(servers: 1, workers: 2) { runtime -> [String] in
            let (sync, w) = try Self.smallModel(runtime, strategy: .hybrid, denseCount: 4)
            var errors: [String] = []
            let bad = try Tensor(name: "w", values: [Float(0), .nan, 0, 0])
            do { try sync.step(dense: [bad], sparse: []) } catch { errors.append("\(error)") }
            let fine = try Tensor(name: "w", values: [Float](repeating: 0, count: 4))
            do {
                try sync.step(dense: [fine], sparse: [SparseRows(table: "e", ids: [2, 6], values: [0, 0, .infinity, 0])])
            } catch { errors.append("\(error)") }
            errors.append("w=\(try w.values(as: Float.self)) steps=\(sync.stepCount)")
            return errors
        }
        for (rank, r) in outcome.workers.enumerated() {
            let e = try r.get()
            XCTAssertEqual(e.count, 3, "\(e)")
            XCTAssertTrue(e[0].contains("invalid argument (nonFinite): non-finite gradient of 'w' at element 1 on rank \(rank)"), e[0])
            XCTAssertTrue(e[1].contains("invalid argument (nonFinite): non-finite gradient in table 'e', row 6 on rank \(rank)"), e[1])
            XCTAssertEqual(e[2], "w=[1.0, 1.0, 1.0, 1.0] steps=0", "nothing applied")
        }
    }

    /// A table declared with `NonFinitePolicy.skipRow`: a step whose gradient has a NaN row applies the
    /// other rows and leaves that one as it was, on both workers.
    func testSkipRowTablesLoseOnlyTheNonFiniteRow() throws {
        let outcome = try TestKit.hybridJob(servers: 1, workers: 2) { runtime -> [Float] in
            let sync = try GradientSync(runtime: runtime, strategy: .ps, replanAfterSteps: 0)
            try sync.register([
                Parameter(
                    .embedding(
                        TableSpec(
                            name: "e", dimension: 2, optimizer: .sgd(learningRate: 1), consistency: .bsp,
                            nonFinite: .skipRow), rows: 8))
            ])
            try sync.step(dense: [], sparse: [SparseRows(table: "e", ids: [2, 6], values: [1, 1, .nan, 1])])
            return try sync.pull("e", ids: [2, 6]).values
        }
        for r in outcome.workers {
            // Row 2: both workers' gradient 1, averaged over two workers, times two: -1 per element with
            // learning rate 1. Row 6: untouched.
            XCTAssertEqual(try r.get(), [-1, -1, 0, 0])
        }
    }
}

/// `ready` and `planOverlap` refuse bad input with a clear error and lose nothing.
final class OverlapInputTests: XCTestCase {
    /// One worker: each misuse throws naming what was wrong; the step after a refused one applies
    /// exactly its own gradient (SGD, learning rate 1: w = 1 - g), so nothing of the refused ones was applied.
    func testReadyRefusesBadInputAndTheNextStepIsExact() throws {
        let outcome = try TestKit.hybridJob(servers: 1, workers: 1) { runtime -> [String] in
            let (sync, w) = try GradientSyncInProcessTests.smallModel(runtime, strategy: .allreduce, denseCount: 3)
            func grad(_ v: Float, count: Int = 3) throws -> Tensor { try Tensor(name: "w", values: [Float](repeating: v, count: count)) }
            var errors: [String] = []
            func refused(_ body: () throws -> Void) { do { try body(); errors.append("no error") } catch { errors.append("\(error)") } }
            refused { try sync.ready([try grad(1)]) }
            refused { try sync.planOverlap([["nope"]]) }
            refused { try sync.planOverlap([["w"], ["w"]]) }
            try sync.planOverlap([["w"]])
            refused { try sync.ready([try grad(1, count: 4)]) }
            refused { try sync.ready([try grad(.nan)]) }
            let g = try grad(2)
            try sync.ready([g])
            refused { try sync.ready([g]) }
            refused { try sync.step(dense: [try grad(2)], sparse: []) }
            let h = try grad(0.5)
            try sync.ready([h])
            try sync.step(dense: [h], sparse: [])
            return errors + ["w=\(try w.values(as: Float.self))"]
        }
        let out = try outcome.workers[0].get()
        let expected = [
            "ready before planOverlap", "'nope' is not a registered dense parameter", "'w' is in two groups",
            "gradient of 'w'", "non-finite gradient of 'w'", "'w' was already given to ready",
            "another tensor for 'w' than the one given to ready", "w=[0.5, 0.5, 0.5]",
        ]
        XCTAssertEqual(out.count, expected.count, "\(out)")
        for (got, want) in zip(out, expected) { XCTAssertTrue(got.contains(want), "\(got) lacks \(want)") }
    }

    /// Workers that declare different groups all get the same `mismatch`.
    func testDifferentGroupsRaiseTheSameErrorEverywhere() throws {
        let outcome = try TestKit.hybridJob(servers: 1, workers: 3) { runtime -> String in
            let sync = try GradientSync(runtime: runtime, strategy: .allreduce, replanAfterSteps: 0)
            let a = try Tensor(name: "a", dtype: .float32, count: 4), b = try Tensor(name: "b", dtype: .float32, count: 4)
            try sync.register([Parameter(.dense(a, optimizer: .sgd(learningRate: 1))), Parameter(.dense(b, optimizer: .sgd(learningRate: 1)))])
            do {
                try sync.planOverlap(runtime.dense.communicator.rank == 2 ? [["a", "b"]] : [["a"], ["b"]])
                return "no error"
            } catch let e as HybridSyncError {
                guard case .mismatch = e else { return "unexpected \(e)" }
                return "\(e)"
            }
        }
        let texts = try outcome.workers.map { try $0.get() }
        XCTAssertTrue(texts.allSatisfy { $0.hasPrefix("mismatch") }, "\(texts)")
        XCTAssertEqual(Set(texts).count, 1, "\(texts)")
    }
}
