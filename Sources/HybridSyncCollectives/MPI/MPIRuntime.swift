import CMPI
import HybridSyncCore
import Synchronization

/// Starting and stopping the MPI library for this process.
///
/// Under `mpirun` each process is one rank; run directly, a binary is a singleton job of size 1.
public enum MPIRuntime {
    /// Whether this process's MPI was initialised here (not by its host program, such as mpi4py):
    /// only then does `finalize` finalise it.
    static let initialisedHere = Atomic<Bool>(false)

    /// Initialises MPI (with `MPI_THREAD_MULTIPLE` when granted) unless it already is (then the host
    /// program, such as mpi4py, owns it and finalises it), and sets
    /// `MPI_ERRORS_RETURN` on the world communicator so failures come back as thrown errors.
    /// - Returns: the world communicator.
    package static func initialize() throws -> Communicator {
        var flag: Int32 = 0
        try mpiCheck(MPI_Initialized(&flag), "MPI_Initialized")
        if flag == 0 {
            var provided: Int32 = 0
            try mpiCheck(MPI_Init_thread(nil, nil, hs_mpi_thread_multiple(), &provided), "MPI_Init_thread")
            initialisedHere.store(true, ordering: .relaxed)
        }
        try mpiCheck(MPI_Comm_set_errhandler(hs_mpi_comm_world(), hs_mpi_errors_return()), "MPI_Comm_set_errhandler")
        return Communicator(transport: try MPITransport(handle: hs_mpi_comm_world(), owned: false))
    }

    /// Runs `body` as one MPI rank: initialises MPI, and always finalises it, also when `body` throws.
    public static func run<R>(_ body: (Communicator) throws -> R) throws -> R {
        defer { finalize() }
        return try body(try initialize())
    }

    /// Finalises MPI if `initialize` initialised it and it is not yet finalised.
    package static func finalize() {
        guard initialisedHere.load(ordering: .relaxed) else { return }
        var initialized: Int32 = 0, finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 { MPI_Finalize() }
    }

    /// Wall-clock seconds as MPI measures them (`MPI_Wtime`).
    package static func wallTime() -> Double { MPI_Wtime() }
}
