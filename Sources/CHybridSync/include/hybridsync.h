/*
 * hybridsync.h: HybridSync's C ABI (libhybridsync.so).
 *
 * One rank of a hybrid job under mpirun: embedding rows through parameter servers, dense tensors
 * through a ring all-reduce, and one gradient-sync call per training step over both.
 *
 *   hs_job_options o; hs_job_options_init(&o); o.servers = 2;
 *   hs_job *job;
 *   if (hs_job_start(&o, &job) != HS_OK) { fprintf(stderr, "%s\n", hs_last_message()); return 1; }
 *   hs_job_info info; hs_job_get_info(job, &info);
 *   int failed = 0;
 *   if (info.is_worker) failed = train(job) != HS_OK;   // server ranks served inside hs_job_start
 *   if (hs_job_end(job, failed) != HS_OK || failed) return 1;   // exit non-zero: mpirun ends the job
 *
 * Rules every call follows:
 * - Every call returns an hs_status. On anything but HS_OK, the calling thread's last error holds the
 *   status, a code within the status's family, a message naming what was wrong, and the name of the
 *   tensor, table, peer or file involved: hs_last_status(), hs_last_code(), hs_last_message(),
 *   hs_last_subject(). The strings stay valid until the thread's next call into the library.
 * - Nothing traps on bad input: null or stale handles, null buffers with a non-zero count, counts that
 *   do not match, unknown tables and names, calls in the wrong order and calls after the job failed
 *   each return an error status, and nothing is applied.
 * - A failure of the job itself (a peer died, a timeout, ranks that disagree, lost data) marks the job
 *   failed: every later call on it returns HS_UNUSABLE naming the first failure. End it with
 *   hs_job_end(job, 1) and exit non-zero; Launch/mpirun then ends the other ranks. Bad input does not
 *   fail the job: fix the call and go on.
 * - Buffers are plain pointers with element counts (not bytes). The library reads and writes them only
 *   during the call, except where a function says otherwise (asynchronous requests, dense parameters
 *   registered with a gradient sync).
 *
 * Threading: a job and everything made from it may be called from any thread, one call at a time (calls
 * on one job are serialised by the library; a call made while another runs waits for it). The last
 * error is per thread. hs_request_wait may be called while other calls on the job run.
 *
 * Environment: the HYBRIDSYNC_* variables of Docs/Launch.md (timeouts, keys, HYBRIDSYNC_INSECURE, the
 * timeline) apply as they do to Swift programs.
 */
#ifndef HYBRIDSYNC_H
#define HYBRIDSYNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this ABI; hs_abi_version() returns the library's. */
#define HS_ABI_VERSION 1

/** What a call ended with. Each non-zero status is one family of HybridSyncError (Docs/Errors.md). */
typedef enum hs_status {
    HS_OK = 0,
    /** A bad argument; hs_last_code() is an hs_argument_code. The job goes on. */
    HS_INVALID_ARGUMENT = 1,
    /** A buffer of the wrong length or element type. The job goes on. */
    HS_SHAPE_MISMATCH = 2,
    /** A table that was never declared or registered. The job goes on. */
    HS_UNKNOWN_TABLE = 3,
    /** Ranks disagree on a collective (name, dtype, count, op); the subject names the tensor. */
    HS_MISMATCH = 4,
    /** A collective waited past its stall limit for ranks that never joined. */
    HS_STALLED = 5,
    /** A wait passed its deadline; the message names whom it waited for. */
    HS_TIMEOUT = 6,
    /** A peer of the job died; the subject names it. */
    HS_PEER_DIED = 7,
    /** Every copy of a shard is gone; resume from a checkpoint. */
    HS_DATA_LOST = 8,
    /** The job failed earlier; the message names that failure. */
    HS_UNUSABLE = 9,
    /** MPI or ZeroMQ failed. */
    HS_TRANSPORT = 10,
    /** A message that does not decode; hs_last_code() is an hs_message_code. */
    HS_MALFORMED_MESSAGE = 11,
    /** A message past the size limit. */
    HS_OVERSIZE_MESSAGE = 12,
    /** A message whose sender is not who its key says. */
    HS_FORGED_SENDER = 13,
    /** A peer refused the request; the message is the peer's. */
    HS_REMOTE = 14,
    /** A checkpoint could not be written or read; hs_last_code() is an hs_checkpoint_code. */
    HS_CHECKPOINT = 15,
    /** A failure outside HybridSync's own errors (a bug: please report the message). */
    HS_INTERNAL = 16
} hs_status;

/** Codes of HS_INVALID_ARGUMENT. */
typedef enum hs_argument_code {
    HS_ARG_SHAPE = 1, HS_ARG_DTYPE = 2, HS_ARG_NAME = 3, HS_ARG_RANGE = 4, HS_ARG_NON_FINITE = 5,
    HS_ARG_ORDER = 6, HS_ARG_LIMIT = 7, HS_ARG_CONFIGURATION = 8, HS_ARG_MEMBERSHIP = 9,
    HS_ARG_UNSUPPORTED = 10, HS_ARG_IO = 11, HS_ARG_HANDLE = 12
} hs_argument_code;

/** Codes of HS_MALFORMED_MESSAGE. */
typedef enum hs_message_code {
    HS_MSG_FORMAT = 1, HS_MSG_KIND = 2, HS_MSG_FIELD = 3, HS_MSG_FRAMES = 4, HS_MSG_LENGTH = 5, HS_MSG_CHANNEL = 6
} hs_message_code;

/** Codes of HS_CHECKPOINT. */
typedef enum hs_checkpoint_code {
    HS_CKPT_IO = 1, HS_CKPT_DAMAGED = 2, HS_CKPT_FORMAT = 3, HS_CKPT_MISSING = 4, HS_CKPT_INCOMPATIBLE = 5
} hs_checkpoint_code;

/** Element types of dense buffers. */
typedef enum hs_dtype { HS_FLOAT32 = 0, HS_FLOAT64 = 1, HS_FLOAT16 = 2, HS_INT32 = 3, HS_INT64 = 4 } hs_dtype;

/** Reductions. HS_AVERAGE truncates toward zero for integers. */
typedef enum hs_op { HS_SUM = 0, HS_AVERAGE = 1, HS_MIN = 2, HS_MAX = 3 } hs_op;

/** The calling thread's last error (HS_OK if the last call succeeded). */
hs_status hs_last_status(void);
/** The last error's code within its family (hs_argument_code, ...), 0 if the family has none. */
int hs_last_code(void);
/** The last error's message ("" after success). */
const char *hs_last_message(void);
/** The tensor, table, peer or file the last error names ("" if none). */
const char *hs_last_subject(void);
/** A status's name ("HS_PEER_DIED"); "HS_UNKNOWN_STATUS" for other values. Never null. */
const char *hs_status_name(int status);
/** The library's ABI version (HS_ABI_VERSION when built from this header). */
int hs_abi_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* The job                                                                                          */

typedef struct hs_job hs_job;

typedef struct hs_job_options {
    /** Parameter servers (at least 1). */
    int servers;
    /** 1: servers on ranks of their own (the first ranks); 0: each on a worker's rank. */
    int dedicated;
    /** Spare server ranks (dedicated only) that replace a dead server. */
    int spares;
} hs_job_options;

/** Fills o with the defaults: 1 dedicated server, no spares. */
void hs_job_options_init(hs_job_options *o);

/**
 * Starts this rank of the job (initialising MPI unless the program already has). Collective over
 * every rank of mpirun's world. On a dedicated server rank it serves until every worker has ended the
 * job, then returns a job whose info says is_worker = 0; pass it to hs_job_end.
 */
hs_status hs_job_start(const hs_job_options *options, hs_job **job);

typedef struct hs_job_info {
    int rank, world;       /* this rank in mpirun's world */
    int is_worker;         /* 0 on a dedicated server rank */
    int worker, workers;   /* this worker's index and the count (the dense ring's rank and size) */
    int servers;
} hs_job_info;

hs_status hs_job_get_info(const hs_job *job, hs_job_info *info);

/**
 * Ends this rank: a worker tells the servers it is done and waits for the rank's own server and
 * scheduler threads. failed = 0 after a clean run finalises MPI if hs_job_start initialised it (a
 * program that initialised MPI first, such as one using mpi4py, keeps it); failed = 1 (or a job that failed)
 * leaves MPI as it is, and the program must exit non-zero. Frees the job and all that was made from it.
 * With failed = 1 it never waits for a call another thread is still inside: it returns at once and
 * leaves that call to its deadline (the process is about to exit).
 */
hs_status hs_job_end(hs_job *job, int failed);

/* ---------------------------------------------------------------------------------------------- */
/* The dense path: collectives over the workers, in place. Every worker calls with the same name,     */
/* count, dtype and op, in the same order; a difference is HS_MISMATCH on every worker.               */

hs_status hs_allreduce(hs_job *job, const char *name, void *data, size_t count, hs_dtype dtype, hs_op op);
/** Overwrites data on every worker with worker root's. */
hs_status hs_broadcast(hs_job *job, const char *name, void *data, size_t count, hs_dtype dtype, int root);
/** out (out_count = count x workers elements) receives every worker's data, in worker order. */
hs_status hs_allgather(
    hs_job *job, const char *name, const void *data, size_t count, hs_dtype dtype, void *out, size_t out_count);

/* ---------------------------------------------------------------------------------------------- */
/* Tables and optimizers                                                                            */

typedef enum hs_optimizer_kind { HS_SGD = 0, HS_ADAGRAD = 1, HS_ADAM = 2, HS_ACCUMULATE = 3 } hs_optimizer_kind;

typedef struct hs_optimizer {
    hs_optimizer_kind kind;
    float learning_rate;
    float epsilon;              /* Adagrad, Adam */
    float initial_accumulator;  /* Adagrad */
    float beta1, beta2;         /* Adam */
} hs_optimizer;

/** SGD, Adagrad and Adam with the usual defaults (epsilon 1e-8, accumulator 0.1, betas 0.9/0.999). */
hs_optimizer hs_optimizer_make(hs_optimizer_kind kind, float learning_rate);

typedef enum hs_consistency { HS_BSP = 0, HS_ASP = 1, HS_SSP = 2 } hs_consistency;
typedef enum hs_initializer { HS_INIT_ZEROS = 0, HS_INIT_CONSTANT = 1, HS_INIT_UNIFORM = 2 } hs_initializer;
typedef enum hs_row_encoding { HS_ROWS_FLOAT32 = 0, HS_ROWS_FLOAT16 = 1, HS_ROWS_BFLOAT16 = 2 } hs_row_encoding;

typedef struct hs_table {
    const char *name;
    int dimension;                 /* floats per row */
    hs_optimizer optimizer;        /* run on the servers */
    hs_consistency consistency;
    int staleness;                 /* HS_SSP */
    hs_initializer initializer;
    float init_value;              /* the constant, or the uniform's scale */
    hs_row_encoding row_encoding;  /* rows on the wire */
} hs_table;

/** A float32 table of dimension floats with the Swift API's defaults: SGD at 0.01, ASP, zero rows, float32 rows. */
hs_table hs_table_make(const char *name, int dimension);

/* ---------------------------------------------------------------------------------------------- */
/* The parameter server alone (ps-lite style): one table per call; keys any order, repeats summed.    */

/** Declares tables on the servers (every worker declares the same ones). */
hs_status hs_kv_declare(hs_job *job, const hs_table *tables, size_t count);
/** Pushes gradients: values holds nkeys x dimension floats, row i for keys[i]. */
hs_status hs_kv_push(hs_job *job, const char *table, const uint64_t *keys, size_t nkeys, const float *values, size_t nvalues);
/** Pulls rows: values receives nkeys x dimension floats. */
hs_status hs_kv_pull(hs_job *job, const char *table, const uint64_t *keys, size_t nkeys, float *values, size_t nvalues);
/** Pushes, then pulls the same rows as they are after the push, in one round trip (values in, rows out). */
hs_status hs_kv_push_pull(hs_job *job, const char *table, const uint64_t *keys, size_t nkeys, float *values, size_t nvalues);
/** Pushes this step's last rows (nkeys may be 0) and ends the worker's step: its clock moves on. */
hs_status hs_kv_end_step(hs_job *job, const char *table, const uint64_t *keys, size_t nkeys, const float *values, size_t nvalues);
/** Waits until every worker has called it. */
hs_status hs_kv_barrier(hs_job *job);
/** This worker's clock (completed steps). */
hs_status hs_kv_clock(hs_job *job, int64_t *clock);

typedef struct hs_request hs_request;

/** Starts a push; the library copies keys and values before returning. */
hs_status hs_kv_push_async(
    hs_job *job, const char *table, const uint64_t *keys, size_t nkeys, const float *values, size_t nvalues, hs_request **request);
/** Starts a pull; values must stay valid until hs_request_wait returns (it is written there). */
hs_status hs_kv_pull_async(
    hs_job *job, const char *table, const uint64_t *keys, size_t nkeys, float *values, size_t nvalues, hs_request **request);
/** Waits for a request (with its deadline) and frees it; a pull's rows are in its buffer on HS_OK. */
hs_status hs_request_wait(hs_request *request);

/* ---------------------------------------------------------------------------------------------- */
/* Gradient sync: one call per step over both paths, routed by the planner.                           */

typedef struct hs_sync hs_sync;

typedef enum hs_strategy { HS_HYBRID = 0, HS_ALLREDUCE_ONLY = 1, HS_PS_ONLY = 2 } hs_strategy;
typedef enum hs_route { HS_ROUTE_AUTO = 0, HS_ROUTE_RING = 1, HS_ROUTE_PS = 2 } hs_route;

typedef enum hs_param_kind { HS_PARAM_DENSE = 0, HS_PARAM_TABLE = 1 } hs_param_kind;

typedef struct hs_param {
    hs_param_kind kind;
    hs_route pin;          /* HS_ROUTE_AUTO: the planner decides */
    /* HS_PARAM_DENSE: a float32 parameter the library updates in place with optimizer. The buffer
       must stay valid until hs_sync_free: after every hs_sync_step and hs_sync_resume the library
       writes the new values into it; it reads it only in hs_sync_register (the initial values, which
       worker 0's overwrite everywhere). */
    const char *name;
    float *data;
    size_t count;
    hs_optimizer optimizer;
    /* HS_PARAM_TABLE: an embedding table of rows rows (ids 0 ..< rows). */
    hs_table table;
    uint64_t rows;
} hs_param;

hs_status hs_sync_create(hs_job *job, hs_strategy strategy, hs_sync **sync);
/** Registers parameters on every worker (collective; the same list everywhere). */
hs_status hs_sync_register(hs_sync *sync, const hs_param *params, size_t count);

typedef struct hs_dense_grad {
    const char *name;
    const float *data;
    size_t count;
} hs_dense_grad;

typedef struct hs_sparse_grad {
    const char *table;
    const uint64_t *ids;
    size_t nids;
    const float *values;   /* nids x dimension */
    size_t nvalues;
} hs_sparse_grad;

/** Rows of a table for ids (any order, repeats allowed): values receives nids x dimension floats. */
hs_status hs_sync_pull(hs_sync *sync, const char *table, const uint64_t *ids, size_t nids, float *values, size_t nvalues);
/** Names rows the next step will pull: hs_sync_step pulls them as it ends the step, and the next
 *  hs_sync_pull of the table with the same ids returns them (as a pull made then would). */
hs_status hs_sync_prefetch(hs_sync *sync, const char *table, const uint64_t *ids, size_t nids);
/** Sends this step's sparse gradients before backward ends; hs_sync_step then gets nsparse = 0. */
hs_status hs_sync_push_sparse(hs_sync *sync, const hs_sparse_grad *sparse, size_t nsparse);
/** One step: a gradient per registered dense parameter (by name) and the sparse rows. Collective. */
hs_status hs_sync_step(hs_sync *sync, const hs_dense_grad *dense, size_t ndense, const hs_sparse_grad *sparse, size_t nsparse);
/** Steps completed. */
hs_status hs_sync_step_count(hs_sync *sync, int64_t *steps);
/** Writes a checkpoint of the whole job under dir (collective), keeping the newest keep. */
hs_status hs_sync_checkpoint(hs_sync *sync, const char *dir, int keep);
/**
 * Takes the same checkpoint and returns once every part is snapshotted; the parts are written while
 * training goes on (collective). Complete only after hs_sync_finish_checkpoint, or the next
 * checkpoint call, which wait for it and report its failure on every worker.
 */
hs_status hs_sync_checkpoint_in_background(hs_sync *sync, const char *dir, int keep);
/** Waits until the checkpoint in flight is complete; HS_OK at once if none is (collective). */
hs_status hs_sync_finish_checkpoint(hs_sync *sync);
/** Resumes from a checkpoint (a step's folder, or dir for its newest complete one); collective. */
hs_status hs_sync_resume(hs_sync *sync, const char *path);
/**
 * In a relaunch of a failed job (Launch/mpirun --max-restarts, HYBRIDSYNC_RESTART >= 1) with a complete
 * checkpoint under dir: resumes from the newest one and sets *step to its step. Otherwise (a first
 * launch, or no checkpoint completed before the failure) changes nothing and sets *step to -1.
 * Collective; HS_ERR_CHECKPOINT on every worker if they see different newest checkpoints.
 */
hs_status hs_sync_resume_if_relaunched(hs_sync *sync, const char *dir, int64_t *step);
/**
 * The plan as JSON lines ({"name":..,"route":"ring"|"ps","bytes":..,"density":..,"reason":..}). Writes
 * at most capacity bytes with a terminating NUL into text; *needed gets the full length plus one.
 */
hs_status hs_sync_plan(hs_sync *sync, char *text, size_t capacity, size_t *needed);
/** Frees a gradient sync (hs_job_end frees any left). */
hs_status hs_sync_free(hs_sync *sync);

#ifdef __cplusplus
}
#endif

#endif /* HYBRIDSYNC_H */
