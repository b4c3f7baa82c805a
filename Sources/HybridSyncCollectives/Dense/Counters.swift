import HybridSyncCore

extension Communicator {
    /// Sums small non-negative counters across ranks (test and benchmark bookkeeping): with
    /// `MPI_Allreduce` when the transport is MPI, else over the ring. Collective.
    package func sumAcrossRanks(_ values: [Int]) throws -> [Int] {
        let t = try Tensor(name: "hybridsync.counters", values: values.map { Int64(Swift.max($0, 0)) })
        if transport is MPITransport {
            try MPIReference.allreduce(t.rawPointer, count: values.count, dtype: .int64, op: .sum, comm: self)
        } else {
            try DenseSync(communicator: self).allreduce([t], op: .sum)
        }
        return try t.values(as: Int64.self).map { Int($0) }
    }
}
