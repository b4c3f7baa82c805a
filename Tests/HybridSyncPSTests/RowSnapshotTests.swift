import Foundation
import HybridSyncCore
import XCTest

@testable import HybridSyncPS

/// The copy-on-write snapshot of a row store: what it writes is the store as it was when it was taken,
/// however the store changed while it was being written (rows updated before and after the cursor, rows
/// added past a growth of the arenas and of the index).
final class RowSnapshotTests: XCTestCase {
    /// The bytes `body` writes through a `CheckpointWriter`.
    func written(_ body: (CheckpointWriter) throws -> Void) throws -> [UInt8] {
        let path = NSTemporaryDirectory() + "hybridsync-rowsnapshot-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try CheckpointWriter(path: path)
        try body(w)
        _ = try w.finish(durable: false)
        return [UInt8](FileManager.default.contents(atPath: path) ?? Data())
    }

    /// The whole of `store` as a snapshot taken and written with nothing else going on.
    func quietly(_ store: RowStore) throws -> [UInt8] {
        defer { store.endSnapshot() }
        let s = store.takeSnapshot()
        return try written { w in _ = try s.write(to: w, fromBucket: 0, rows: Int.max) }
    }

    func gradients(_ keys: [UInt64], _ n: Int, _ scale: Float) -> [Float] {
        keys.flatMap { k in (0..<n).map { Float(k % 13) * scale + Float($0) * 0.01 } }
    }

    func testASnapshotWritesTheRowsAsTheyWereWhenTaken() throws {
        let optimizers: [OptimizerSpec] = [
            .adagrad(learningRate: 0.1, epsilon: 1e-8, initialAccumulator: 0.1),
            .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8),
        ]
        for optimizer in optimizers {
            let n = 5
            let store = RowStore(spec: TableSpec(name: "t", dimension: n, initializer: .uniform(scale: 0.5), optimizer: optimizer))
            let keys = (0..<1000).map { UInt64($0 * 7) }
            store.apply(keys: keys, piece: 0, gradients: gradients(keys, n, 0.5), rowLength: n)
            let before = try quietly(store)

            let snapshot = store.takeSnapshot()
            var next = 1_000_000 as UInt64
            let during = try written { w in
                var bucket: Int? = 0
                while let from = bucket {
                    bucket = try snapshot.write(to: w, fromBucket: from, rows: 37).0
                    // Every row changes (written ones and ones still to come), and new rows arrive: enough
                    // over the loop to outgrow both the arenas and the index several times.
                    store.apply(keys: keys, piece: 0, gradients: gradients(keys, n, 0.25), rowLength: n)
                    let fresh = (0..<200).map { next + UInt64($0) }
                    next += 200
                    store.apply(keys: fresh, piece: 0, gradients: gradients(fresh, n, 1), rowLength: n)
                }
            }
            store.endSnapshot()
            XCTAssertTrue(during == before, "\(optimizer): the snapshot wrote the rows as they were when it was taken")
            XCTAssertGreaterThan(store.rowCount, 4 * keys.count, "rows were added while it was written")
            XCTAssertTrue(try quietly(store) != before, "\(optimizer): the store itself changed meanwhile")
        }
    }
}
