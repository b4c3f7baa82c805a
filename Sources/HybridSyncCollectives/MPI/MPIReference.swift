import CMPI
import HybridSyncCore

/// Open MPI's own `MPI_Allreduce`, as the reference the ring is tested and benchmarked against.
package enum MPIReference {
    /// `MPI_Allreduce` in place on `count` elements of `dtype`. `average` is `MPI_SUM` then a division.
    /// Throws `invalidArgument` for `float16`, which Open MPI 4.1 cannot reduce.
    package static func allreduce(
        _ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, op: ReduceOp,
        comm: Communicator
    ) throws {
        try comm.checkUsable()
        guard let mpi = comm.transport as? MPITransport else {
            throw HybridSyncError.invalidArgument(.unsupported, "MPI_Allreduce needs a communicator over MPI, not over \(comm.transport.kind)")
        }
        let type: MPI_Datatype
        switch dtype {
        case .float32: type = hs_mpi_float()
        case .float64: type = hs_mpi_double()
        case .int32: type = hs_mpi_int32()
        case .int64: type = hs_mpi_int64()
        case .float16: throw HybridSyncError.invalidArgument(.unsupported, "MPI_Allreduce has no float16 type in Open MPI 4.1")
        }
        let mpiOp: MPI_Op
        switch op {
        case .sum, .average: mpiOp = hs_mpi_op_sum()
        case .min: mpiOp = hs_mpi_op_min()
        case .max: mpiOp = hs_mpi_op_max()
        }
        guard count > 0 else { return }
        guard count <= Int(Int32.max) else { throw HybridSyncError.invalidArgument(.limit, "MPI_Allreduce count \(count) exceeds Int32") }
        try mpiCheck(MPI_Allreduce(hs_mpi_in_place(), buffer, Int32(count), type, mpiOp, mpi.handle), "MPI_Allreduce")
        if op == .average {
            ReductionKernels.finishAverage(dtype: dtype, buffer, count: count, ranks: comm.size)
        }
    }
}
