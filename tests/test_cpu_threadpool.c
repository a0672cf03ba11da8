/* The thread pool under the patterns that expose lost wake-ups and races:
 *   - long runs of tiny jobs back to back (workers never sleep; generation handover);
 *   - jobs separated by pauses longer than the pool's spin time (workers fall asleep and must
 *     be woken for every job);
 *   - a mix of both with uneven job sizes.
 * Every job must cover each item exactly once, on grain boundaries, with no thread index in
 * use by two calls at once. A lost wake-up shows as a hang: the alarm turns it into a
 * failure (SIGALRM kills the test). */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "test_util.h"

enum { MAX_N = 257, MAX_THREADS = 4 };

typedef struct {
    atomic_int hits[MAX_N];
    atomic_int busy[MAX_THREADS]; /* calls in progress per thread index */
    int64_t grain;
    atomic_int bad;
} job;

static void task(void *arg, int64_t b, int64_t e, int thread) {
    job *j = arg;
    if (thread < 0 || thread >= MAX_THREADS || atomic_fetch_add(&j->busy[thread], 1) != 0) atomic_store(&j->bad, 1);
    if (b % j->grain != 0 || b >= e) atomic_store(&j->bad, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&j->hits[i], 1);
    if (thread >= 0 && thread < MAX_THREADS) atomic_fetch_sub(&j->busy[thread], 1);
}

static void sleep_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static int run_jobs(ct_threadpool *pool, int n_jobs, long pause_us, unsigned seed) {
    int ok = 1;
    static job j;
    for (int r = 0; r < n_jobs; r++) {
        seed = seed * 1103515245u + 12345u;
        int64_t n = 1 + (seed >> 8) % MAX_N, grain = 1 + (seed >> 20) % 7;
        memset(&j, 0, sizeof j);
        j.grain = grain;
        ct_threadpool_run(pool, n, grain, task, &j);
        for (int64_t i = 0; i < n; i++) ok &= atomic_load(&j.hits[i]) == 1;
        for (int64_t i = n; i < MAX_N; i++) ok &= atomic_load(&j.hits[i]) == 0;
        ok &= !atomic_load(&j.bad);
        if (pause_us && (pause_us > 0 || (seed >> 4) % 8 == 0)) sleep_us(pause_us > 0 ? pause_us : 300);
    }
    return ok;
}

int main(void) {
    alarm(120);
    for (int nt = 2; nt <= MAX_THREADS; nt++) {
        ct_threadpool *pool;
        CHECK_OK(ct_threadpool_create(nt, &pool));
        if (!pool) continue;
        CHECK_MSG(run_jobs(pool, 20000, 0, 1u + (unsigned)nt), "%d threads: back-to-back jobs", nt);
        /* 400 us > the 200 us spin: the workers sleep between these jobs */
        CHECK_MSG(run_jobs(pool, 60, 400, 7u), "%d threads: jobs after the workers fell asleep", nt);
        CHECK_MSG(run_jobs(pool, 3000, -1, 99u), "%d threads: mixed pauses", nt);
        ct_threadpool_free(pool);
    }
    /* a pool freed right after creation (workers not yet started) and one freed while asleep */
    ct_threadpool *pool;
    CHECK_OK(ct_threadpool_create(3, &pool));
    ct_threadpool_free(pool);
    CHECK_OK(ct_threadpool_create(3, &pool));
    sleep_us(1000);
    ct_threadpool_free(pool);
    return ct_test_finish("test_cpu_threadpool");
}
