import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCollectives
import HybridSyncCore

/// Checks the ring against a serial reference and against MPI_Allreduce for every element type, op and
/// count given; then fusion of 120 mixed tensors, broadcast and all-gather. Exits non-zero on any wrong
/// element. Prints one JSON line per case from rank 0 and a closing `CASES n WRONG m` line.
struct SelfTestAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "self-test-allreduce")

    @Option(help: "Comma-separated counts; 'r-1' means ranks - 1.")
    var counts = "0,1,r-1,4913,1000003"
    @Option(help: "Comma-separated element types.")
    var dtypes = "float32,float64,float16,int32,int64"
    @Option(help: "Comma-separated ops.")
    var ops = "sum,average,min,max"
    @Option(help: "Ring segment size in bytes.")
    var segmentBytes = 256 << 10
    @Option(help: "Emulate this many hosts (rank r on host r % N) and reduce hierarchically (0: flat).")
    var hosts = 0

    func run() throws {
        var failed = false
        try MPIRuntime.run { world in
            var config = DenseSyncConfig()
            config.segmentBytes = segmentBytes
            config.stallSeconds = 120
            let dense = DenseSync(communicator: world, config: config)
            let p = world.size
            if hosts > 0 {
                let grouped = try dense.groupByHost((0..<p).map { $0 % hosts })
                if world.rank == 0 { emit("HIERARCHICAL \(grouped)") }
            }
            var cases = 0, wrongCases = 0
            let countList = counts.split(separator: ",").map { $0 == "r-1" ? p - 1 : Int($0) ?? 0 }
            for count in countList {
                for name in dtypes.split(separator: ",") {
                    guard let dtype = DType(name: String(name)) else { throw ValidationError("unknown dtype \(name)") }
                    for opName in ops.split(separator: ",") {
                        guard let op = ReduceOp(name: String(opName)) else { throw ValidationError("unknown op \(opName)") }
                        let salt = cases
                        let (vsSerial, vsMPI) = try check(dtype: dtype, count: count, op: op, salt: salt, dense: dense)
                        let totals = try world.sumAcrossRanks([vsSerial, vsMPI])
                        cases += 1
                        if totals[0] != 0 || totals[1] > 0 { wrongCases += 1 }
                        if world.rank == 0 {
                            emit(
                                "{\"case\":\"allreduce\",\"ranks\":\(p),\"count\":\(count),\"dtype\":\"\(dtype)\",\"op\":\"\(op)\",\"wrong_vs_serial\":\(totals[0]),\"wrong_vs_mpi\":\(vsMPI < 0 ? -1 : totals[1])}"
                            )
                        }
                    }
                }
            }
            for (label, wrong) in try [
                ("fusion", checkFusion(dense)), ("random_float32", checkRandomFloat(dense)),
                ("broadcast", checkBroadcast(dense)), ("allgather", checkAllgather(dense)),
            ] {
                let total = try world.sumAcrossRanks([wrong])[0]
                cases += 1
                if total != 0 { wrongCases += 1 }
                if world.rank == 0 { emit("{\"case\":\"\(label)\",\"ranks\":\(p),\"wrong\":\(total)}") }
            }
            if world.rank == 0 { emit("CASES \(cases) WRONG \(wrongCases)") }
            failed = wrongCases > 0
        }
        if failed { throw ExitCode(1) }
    }

    /// Wrong elements of the ring versus the serial reference and versus MPI_Allreduce (-1: no MPI type).
    private func check(dtype: DType, count: Int, op: ReduceOp, salt: Int, dense: DenseSync) throws -> (Int, Int) {
        switch dtype {
        case .float32: return try checkTyped(Float.self, count: count, op: op, salt: salt, dense: dense)
        case .float64: return try checkTyped(Double.self, count: count, op: op, salt: salt, dense: dense)
        case .float16: return try checkTyped(Float16.self, count: count, op: op, salt: salt, dense: dense)
        case .int32: return try checkTyped(Int32.self, count: count, op: op, salt: salt, dense: dense)
        case .int64: return try checkTyped(Int64.self, count: count, op: op, salt: salt, dense: dense)
        }
    }

    private func checkTyped<T: ReducibleElement>(_: T.Type, count: Int, op: ReduceOp, salt: Int, dense: DenseSync) throws -> (Int, Int) {
        let comm = dense.communicator
        let input = TestData.input(T.self, rank: comm.rank, count: count, salt: salt)
        let tensor = try Tensor(name: "t\(salt)", values: input)
        try dense.allreduce([tensor], op: op)
        let ring = try tensor.values(as: T.self)
        let serial = TestData.reference(T.self, ranks: comm.size, count: count, salt: salt, op: op)
        var vsMPI = -1
        if T.dtype != .float16 {
            let viaMPI = try Tensor(name: "m\(salt)", values: input)
            try MPIReference.allreduce(viaMPI.rawPointer, count: count, dtype: T.dtype, op: op, comm: comm)
            vsMPI = TestData.mismatches(ring, try viaMPI.values(as: T.self))
        }
        return (TestData.mismatches(ring, serial), vsMPI)
    }

    /// 120 tensors of mixed sizes, element types and ops, with a small threshold so several buckets form.
    private func checkFusion(_ dense: DenseSync) throws -> Int {
        var config = dense.config
        config.fusionThresholdBytes = 256 << 10
        let fused = DenseSync(communicator: dense.communicator, config: config)
        let comm = dense.communicator
        var tensors: [(Tensor, () throws -> Int)] = []
        for i in 0..<120 {
            let count = [1, 7, 100, 1000, 5000, 70_000][i % 6] + i
            let op: ReduceOp = i % 3 == 0 ? .average : .sum
            func make<T: ReducibleElement>(_: T.Type) throws -> (Tensor, () throws -> Int) {
                let t = try Tensor(name: "fusion.\(i)", values: TestData.input(T.self, rank: comm.rank, count: count, salt: i))
                fused.enqueue(t, op: op)
                let expected = TestData.reference(T.self, ranks: comm.size, count: count, salt: i, op: op)
                return (t, { TestData.mismatches(try t.values(as: T.self), expected) })
            }
            switch i % 4 {
            case 0: tensors.append(try make(Float.self))
            case 1: tensors.append(try make(Int64.self))
            case 2: tensors.append(try make(Double.self))
            default: tensors.append(try make(Int32.self))
            }
        }
        try fused.flush()
        guard fused.lastBuckets > 4 else { return 1_000_000 }
        return try tensors.reduce(0) { $0 + (try $1.1()) }
    }

    /// Random float32 values: ring within 4 p eps sum|x| of the serial sum (rounding order differs).
    private func checkRandomFloat(_ dense: DenseSync) throws -> Int {
        let comm = dense.communicator, count = 1_000_003
        func data(_ r: Int) -> [Float] {
            var state = UInt64(r + 1) &* 0x9E37_79B9_7F4A_7C15
            return (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 20)
            }
        }
        let t = try Tensor(name: "random", values: data(comm.rank))
        try dense.allreduce([t], op: .sum)
        let ring = try t.values(as: Float.self)
        var exact = [Double](repeating: 0, count: count), magnitude = [Double](repeating: 0, count: count)
        for r in 0..<comm.size {
            for (i, x) in data(r).enumerated() { exact[i] += Double(x); magnitude[i] += abs(Double(x)) }
        }
        let bound = 4 * Double(comm.size) * Double(Float.ulpOfOne)
        return ring.indices.filter { abs(Double(ring[$0]) - exact[$0]) > bound * magnitude[$0] }.count
    }

    private func checkBroadcast(_ dense: DenseSync) throws -> Int {
        let comm = dense.communicator
        let root = comm.size - 1
        let count = 300_001
        let t = try Tensor(name: "bcast", values: TestData.input(Int64.self, rank: comm.rank, count: count, salt: 99))
        try dense.broadcast(t, root: root)
        return TestData.mismatches(try t.values(as: Int64.self), TestData.input(Int64.self, rank: root, count: count, salt: 99))
    }

    private func checkAllgather(_ dense: DenseSync) throws -> Int {
        let comm = dense.communicator
        let count = 1001
        let t = try Tensor(name: "gather", values: TestData.input(Int32.self, rank: comm.rank, count: count, salt: 5))
        let all = try dense.allgather(t).values(as: Int32.self)
        let expected = (0..<comm.size).flatMap { TestData.input(Int32.self, rank: $0, count: count, salt: 5) }
        return TestData.mismatches(all, expected)
    }
}
