import CMPI
import HybridSyncCore

/// Turns an MPI return code into a thrown `HybridSyncError.transport`. Every MPI call goes through here.
///
/// - Parameter call: the C function's name, for the message.
@inline(__always)
func mpiCheck(_ rc: Int32, _ call: @autoclosure () -> String) throws {
    if rc != hs_mpi_success() {
        throw HybridSyncError.transport(library: "MPI", call: call(), code: rc, message: mpiErrorString(rc))
    }
}

func mpiErrorString(_ rc: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(hs_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(rc, &buffer, &length) == hs_mpi_success() else { return "unknown MPI error" }
    let bytes = buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
