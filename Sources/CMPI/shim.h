#ifndef HYBRIDSYNC_CMPI_SHIM_H
#define HYBRIDSYNC_CMPI_SHIM_H
// Open MPI's predefined handles are macros over global structs that Swift cannot import.
// These inline functions hand them to Swift; every symbol is prefixed hs_mpi_.
#include <mpi.h>
#include <stddef.h>

static inline MPI_Comm _Nonnull hs_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm _Nonnull hs_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype _Nonnull hs_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype _Nonnull hs_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype _Nonnull hs_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype _Nonnull hs_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype _Nonnull hs_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype _Nonnull hs_mpi_uint16(void) { return MPI_UINT16_T; }
static inline MPI_Datatype _Nonnull hs_mpi_int(void) { return MPI_INT; }
static inline MPI_Op _Nonnull hs_mpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op _Nonnull hs_mpi_op_min(void) { return MPI_MIN; }
static inline MPI_Op _Nonnull hs_mpi_op_max(void) { return MPI_MAX; }
static inline MPI_Request _Nonnull hs_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline void * _Nonnull hs_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status * _Nullable hs_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status * _Nullable hs_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int hs_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int hs_mpi_success(void) { return MPI_SUCCESS; }
static inline int hs_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int hs_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int hs_mpi_status_source(const MPI_Status * _Nonnull s) { return s->MPI_SOURCE; }
static inline int hs_mpi_status_tag(const MPI_Status * _Nonnull s) { return s->MPI_TAG; }
static inline int hs_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline MPI_Errhandler _Nonnull hs_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
#endif
