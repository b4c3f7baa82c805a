/*
 * The C ABI from a C program, under mpirun (1 dedicated server, the other ranks workers):
 *   abi_check          ring results against closed forms, a sparse pull/push round, a gradient-sync step,
 *                      and the error paths; prints "ABI OK worker N" on success, exits 0.
 *   abi_check mismatch workers all-reduce different counts: every worker gets HS_MISMATCH naming the
 *                      tensor, then HS_UNUSABLE; prints "MISMATCH OK worker N", ends failed, exits 3.
 */
#include <hybridsync.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static int me = -1;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            fprintf(stderr, "worker %d: %s:%d: ", me, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                         \
            fprintf(stderr, "\n");                                \
            failures++;                                           \
        }                                                         \
    } while (0)

#define OK(call) CHECK((call) == HS_OK, "%s failed: %s", #call, hs_last_message())

/* The status and, when given, the code of the last error. */
static void expect_error(hs_status got, hs_status want, int code, const char *what) {
    CHECK(got == want, "%s: status %s, want %s (%s)", what, hs_status_name(got), hs_status_name(want), hs_last_message());
    CHECK(hs_last_status() == want, "%s: hs_last_status %s", what, hs_status_name(hs_last_status()));
    if (code) CHECK(hs_last_code() == code, "%s: code %d, want %d", what, hs_last_code(), code);
    CHECK(strlen(hs_last_message()) > 0, "%s: empty message", what);
}

/* Rank-valued input: worker w holds (w + 1) * (i % 7 + 1) at element i. */
static void dense_checks(hs_job *job, int w, int p) {
    enum { N = 1000 };
    float f[N];
    double d[N];
    int32_t n[N];
    for (int op = HS_SUM; op <= HS_MAX; op++) {
        for (int i = 0; i < N; i++) {
            f[i] = (float)((w + 1) * (i % 7 + 1));
            d[i] = f[i];
            n[i] = (w + 1) * (i % 7 + 1);
        }
        OK(hs_allreduce(job, "f", f, N, HS_FLOAT32, (hs_op)op));
        OK(hs_allreduce(job, "d", d, N, HS_FLOAT64, (hs_op)op));
        OK(hs_allreduce(job, "n", n, N, HS_INT32, (hs_op)op));
        int bad = 0;
        for (int i = 0; i < N; i++) {
            double k = i % 7 + 1, want;
            switch (op) {
            case HS_SUM: want = k * p * (p + 1) / 2; break;
            case HS_AVERAGE: want = k * (p + 1) / 2.0; break;
            case HS_MIN: want = k; break;
            default: want = k * p; break;
            }
            int32_t iwant = op == HS_AVERAGE ? (int32_t)(k * p * (p + 1) / 2) / p : (int32_t)want;
            if (f[i] != (float)want || d[i] != want || n[i] != iwant) bad++;
        }
        CHECK(bad == 0, "op %d: %d elements differ from the closed form", op, bad);
    }
    double b[3] = {w, w * 10.0, -1};
    OK(hs_broadcast(job, "b", b, 3, HS_FLOAT64, 1));
    CHECK(b[0] == 1 && b[1] == 10 && b[2] == -1, "broadcast from worker 1: %g %g %g", b[0], b[1], b[2]);
    int64_t mine[2] = {w, 100 + w};
    int64_t all[16];
    OK(hs_allgather(job, "g", mine, 2, HS_INT64, all, (size_t)(2 * p)));
    for (int r = 0; r < p; r++) CHECK(all[2 * r] == r && all[2 * r + 1] == 100 + r, "allgather slot %d", r);
}

/* A table that sums what is pushed (HS_ACCUMULATE): after every worker's push and a barrier, row k
   holds the sum over workers, repeated keys counted as often as they were pushed. */
static void sparse_checks(hs_job *job, int w, int p) {
    hs_table t = hs_table_make("t", 4);
    t.optimizer = hs_optimizer_make(HS_ACCUMULATE, 0);
    OK(hs_kv_declare(job, &t, 1));
    uint64_t keys[3] = {5, 1000003, 5};
    float grads[12];
    for (int i = 0; i < 12; i++) grads[i] = (float)(w + 1);
    OK(hs_kv_push(job, "t", keys, 3, grads, 12));
    OK(hs_kv_barrier(job));
    float rows[8];
    uint64_t pulled[2] = {1000003, 5};
    OK(hs_kv_pull(job, "t", pulled, 2, rows, 8));
    float s = (float)(p * (p + 1) / 2);
    for (int j = 0; j < 4; j++) CHECK(rows[j] == s && rows[4 + j] == 2 * s, "pulled row values %g %g, want %g %g", rows[j], rows[4 + j], s, 2 * s);
    OK(hs_kv_barrier(job)); /* every worker has read them before anyone pushes again */

    hs_request *push, *pull;
    OK(hs_kv_push_async(job, "t", keys, 1, grads, 4, &push));
    OK(hs_request_wait(push));
    OK(hs_kv_barrier(job));
    OK(hs_kv_pull_async(job, "t", keys, 1, rows, 4, &pull));
    OK(hs_request_wait(pull));
    CHECK(rows[0] == 3 * s, "after the async push row 5 holds %g, want %g", rows[0], 3 * s);
    expect_error(hs_request_wait(pull), HS_INVALID_ARGUMENT, HS_ARG_HANDLE, "a request waited twice");

    /* Bad input: refused, nothing applied. */
    expect_error(hs_kv_push(job, "nope", keys, 1, grads, 4), HS_UNKNOWN_TABLE, 0, "unknown table");
    CHECK(strcmp(hs_last_subject(), "nope") == 0, "subject '%s'", hs_last_subject());
    expect_error(hs_kv_push(job, "t", keys, 3, grads, 11), HS_SHAPE_MISMATCH, 0, "short values");
    expect_error(hs_kv_push(job, "t", keys, 3, NULL, 12), HS_INVALID_ARGUMENT, HS_ARG_SHAPE, "NULL values");
    expect_error(hs_kv_push(job, NULL, keys, 3, grads, 12), HS_INVALID_ARGUMENT, HS_ARG_NAME, "NULL table");
    OK(hs_kv_barrier(job));
    OK(hs_kv_pull(job, "t", keys, 1, rows, 4));
    CHECK(rows[0] == 3 * s, "refused pushes changed row 5: %g", rows[0]);
    OK(hs_kv_barrier(job));
}

/* One gradient-sync step: a dense parameter (SGD 0.5) starting at 1 with gradient w + 1 on worker w
   ends at 1 - 0.5 * (p + 1) / 2 everywhere; a table (SGD 1) row moves by minus the workers' mean
   gradient, -(p + 1) / 2, as dense parameters do. */
static void sync_checks(hs_job *job, int w, int p) {
    hs_sync *sync;
    OK(hs_sync_create(job, HS_HYBRID, &sync));
    float weights[8];
    for (int i = 0; i < 8; i++) weights[i] = w == 0 ? 1.0f : 99.0f;  /* worker 0's values win */
    hs_param params[2];
    memset(params, 0, sizeof params);
    params[0].kind = HS_PARAM_DENSE;
    params[0].name = "w";
    params[0].data = weights;
    params[0].count = 8;
    params[0].optimizer = hs_optimizer_make(HS_SGD, 0.5f);
    params[1].kind = HS_PARAM_TABLE;
    params[1].table = hs_table_make("emb", 2);
    params[1].table.optimizer = hs_optimizer_make(HS_SGD, 1.0f);
    params[1].table.consistency = HS_BSP;
    params[1].rows = 1000;
    params[1].pin = HS_ROUTE_PS;
    OK(hs_sync_register(sync, params, 2));
    CHECK(weights[0] == 1.0f, "registration broadcast worker 0's values: %g", weights[0]);
    /* A first launch (no HYBRIDSYNC_RESTART) has nothing to resume, whatever the folder holds. */
    int64_t resumed = 0;
    OK(hs_sync_resume_if_relaunched(sync, "/nonexistent", &resumed));
    CHECK(resumed == -1, "a first launch resumes nothing: %lld", (long long)resumed);
    expect_error(hs_sync_resume_if_relaunched(sync, "/nonexistent", NULL), HS_INVALID_ARGUMENT, HS_ARG_HANDLE, "no place for the step");

    float g[8], rows[2] = {(float)(w + 1), (float)(w + 1)};
    for (int i = 0; i < 8; i++) g[i] = (float)(w + 1);
    uint64_t id = 7;
    hs_dense_grad dg = {"w", g, 8};
    hs_sparse_grad sg = {"emb", &id, 1, rows, 2};

    /* A NaN gradient is refused before anything is sent, on every worker alike. */
    g[3] = NAN;
    expect_error(hs_sync_step(sync, &dg, 1, &sg, 1), HS_INVALID_ARGUMENT, HS_ARG_NON_FINITE, "NaN gradient");
    CHECK(weights[3] == 1.0f, "a refused step changed the parameter: %g", weights[3]);
    g[3] = (float)(w + 1);
    hs_dense_grad wrong = {"w", g, 7};
    expect_error(hs_sync_step(sync, &wrong, 1, &sg, 1), HS_SHAPE_MISMATCH, 0, "short gradient");
    hs_sparse_grad unknown = {"nope", &id, 1, rows, 2};
    expect_error(hs_sync_step(sync, &dg, 1, &unknown, 1), HS_UNKNOWN_TABLE, 0, "gradient of an unknown table");

    expect_error(hs_sync_prefetch(sync, "nope", &id, 1), HS_UNKNOWN_TABLE, 0, "prefetch of an unknown table");
    OK(hs_sync_prefetch(sync, "emb", &id, 1)); /* the pull after the step takes it */
    OK(hs_sync_step(sync, &dg, 1, &sg, 1));
    float want = 1.0f - 0.5f * (float)(p + 1) / 2.0f;
    for (int i = 0; i < 8; i++) CHECK(fabsf(weights[i] - want) < 1e-6f, "weights[%d] = %g, want %g", i, weights[i], want);
    float row[2];
    OK(hs_sync_pull(sync, "emb", &id, 1, row, 2));
    float rwant = -(float)(p + 1) / 2.0f;
    CHECK(row[0] == rwant && row[1] == rwant, "table row %g %g, want %g", row[0], row[1], rwant);
    int64_t steps = 0;
    OK(hs_sync_step_count(sync, &steps));
    CHECK(steps == 1, "step count %lld", (long long)steps);

    size_t needed = 0;
    OK(hs_sync_plan(sync, NULL, 0, &needed));
    char *plan = malloc(needed);
    OK(hs_sync_plan(sync, plan, needed, &needed));
    CHECK(strstr(plan, "\"name\":\"emb\"") && strstr(plan, "\"route\":\"ps\""), "plan: %s", plan);
    free(plan);

    OK(hs_sync_free(sync));
    expect_error(hs_sync_step(sync, &dg, 1, &sg, 1), HS_INVALID_ARGUMENT, HS_ARG_HANDLE, "a freed sync");
}

static void handle_checks(void) {
    hs_job_info info;
    expect_error(hs_job_get_info(NULL, &info), HS_INVALID_ARGUMENT, HS_ARG_HANDLE, "a NULL job");
    expect_error(hs_allreduce((hs_job *)(uintptr_t)0xdeadbeef, "x", NULL, 0, HS_FLOAT32, HS_SUM), HS_INVALID_ARGUMENT, HS_ARG_HANDLE,
                 "a made-up job");
    CHECK(strcmp(hs_status_name(HS_PEER_DIED), "HS_PEER_DIED") == 0, "status name");
    CHECK(strcmp(hs_status_name(999), "HS_UNKNOWN_STATUS") == 0, "unknown status name");
    CHECK(hs_abi_version() == HS_ABI_VERSION, "ABI version %d", hs_abi_version());
}

int main(int argc, char **argv) {
    int mismatch = argc > 1 && strcmp(argv[1], "mismatch") == 0;
    handle_checks();
    hs_job_options o;
    hs_job_options_init(&o);
    hs_job *job;
    if (hs_job_start(&o, &job) != HS_OK) {
        fprintf(stderr, "hs_job_start: %s\n", hs_last_message());
        return 1;
    }
    hs_job_info info;
    OK(hs_job_get_info(job, &info));
    if (!info.is_worker) {
        float x = 0;
        expect_error(hs_allreduce(job, "x", &x, 1, HS_FLOAT32, HS_SUM), HS_INVALID_ARGUMENT, HS_ARG_ORDER, "a collective on a server rank");
        return hs_job_end(job, 0) == HS_OK && failures == 0 ? 0 : 1;
    }
    me = info.worker;
    int p = info.workers;
    float x[4] = {1, 2, 3, 4};
    expect_error(hs_allreduce(job, "x", x, 4, (hs_dtype)42, HS_SUM), HS_INVALID_ARGUMENT, HS_ARG_DTYPE, "an unknown dtype");
    expect_error(hs_allreduce(job, "x", NULL, 4, HS_FLOAT32, HS_SUM), HS_INVALID_ARGUMENT, HS_ARG_SHAPE, "NULL data");
    if (mismatch) {
        hs_status s = hs_allreduce(job, "m", x, (size_t)(me == 0 ? 3 : 4), HS_FLOAT32, HS_SUM);
        expect_error(s, HS_MISMATCH, 0, "counts that differ");
        CHECK(strcmp(hs_last_subject(), "m") == 0, "mismatch subject '%s'", hs_last_subject());
        expect_error(hs_allreduce(job, "x", x, 4, HS_FLOAT32, HS_SUM), HS_UNUSABLE, 0, "a call after the failure");
        if (failures == 0) printf("MISMATCH OK worker %d\n", me);
        hs_job_end(job, 1);
        return 3;
    }
    dense_checks(job, me, p);
    sparse_checks(job, me, p);
    sync_checks(job, me, p);
    OK(hs_job_end(job, failures != 0));
    expect_error(hs_job_end(job, 0), HS_INVALID_ARGUMENT, HS_ARG_HANDLE, "a job ended twice");
    if (failures == 0) printf("ABI OK worker %d\n", me);
    return failures == 0 ? 0 : 1;
}
