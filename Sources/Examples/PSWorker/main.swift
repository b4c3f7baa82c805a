// A parameter-server worker in ps-lite's style (its `test_kv_app`): every worker pushes the same keys
// `repeats` times, keeping several pushes in flight and waiting on their handles, then pulls them back
// and checks that the servers summed every push exactly once.
//
// Run a whole job on this machine (a scheduler, 2 servers, 3 copies of this program):
//   hybridsync ps local --servers 2 --workers 3 -- .build/debug/ps-worker
// The job's launcher sets HYBRIDSYNC_* (the scheduler's address, this node's role and keys).
import Foundation
import HybridSyncCore
import HybridSyncPS

let worker = try KVWorker(config: try PSConfig.fromEnvironment(ProcessInfo.processInfo.environment))
defer { worker.finish() }

// `accumulate`: a server adds what is pushed to the row (ps-lite's default server handle); rows start
// at zero. Sparse keys, any order; each row holds `dimension` floats.
let table = TableSpec(name: "counts", dimension: 4, initializer: .zeros, optimizer: .accumulate, consistency: .asp)
try worker.declare([table])
let keys: [UInt64] = (0..<1_000).map { $0 &* 2_654_435_761 % 1_000_000_007 }
let ones = SparseRows(table: "counts", keys: keys, values: [Float](repeating: 1, count: keys.count * table.dimension))

// Pushes in flight, four at a time: each returns a handle at once; `wait` blocks until the servers
// acknowledged it (ps-lite's timestamp and `Wait`).
let repeats = 20
var inFlight: [PSHandle] = []
for _ in 0..<repeats {
    inFlight.append(try worker.pushAsync([ones]))
    if inFlight.count == 4 { try inFlight.removeFirst().wait() }
}
for handle in inFlight { try handle.wait() }

// Once every worker's pushes are in, every row is repeats x workers.
try worker.barrier()
let pulled = try worker.pull([RowQuery(table: "counts", keys: keys)])[0]
let want = Float(repeats * worker.workerCount)
let wrong = pulled.values.filter { $0 != want }.count
print("worker \(worker.index): \(keys.count) rows pulled, \(wrong == 0 ? "all" : "not all") equal to \(want)")
guard wrong == 0 else {
    FileHandle.standardError.write("worker \(worker.index): \(wrong) of \(pulled.values.count) values differ from \(want)\n".data(using: .utf8)!)
    exit(1)
}
