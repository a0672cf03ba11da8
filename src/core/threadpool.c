/* Thread pool: one job at a time, published by bumping a generation counter. */
#define _POSIX_C_SOURCE 200809L
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"

/* How long an idle worker polls before sleeping, and how long the caller polls before
 * yielding its core: long enough to cover the gap between the ops of one forward pass. */
#define CT_SPIN_ITERS 20000

typedef struct {
    ct_threadpool *pool;
    int index;
    pthread_t thread;
} ct_worker;

struct ct_threadpool {
    int n_threads;
    ct_worker *workers; /* n_threads - 1 of them */

    /* the current job */
    ct_parallel_fn fn;
    void *arg;
    int64_t n, chunk;

    atomic_uint generation; /* bumped once per job */
    atomic_int pending;     /* workers still running the current job */
    atomic_bool stop;

    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

static void run_share(ct_threadpool *pool, int index) {
    int64_t begin = (int64_t)index * pool->chunk;
    int64_t end = begin + pool->chunk;
    if (end > pool->n) end = pool->n;
    if (begin < end) pool->fn(pool->arg, begin, end, index);
}

static void *worker_main(void *p) {
    ct_worker *w = p;
    ct_threadpool *pool = w->pool;
    unsigned seen = 0; /* the generation at creation: a job published before this thread ran still counts */
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop)) {
            if (++spins < CT_SPIN_ITERS) continue;
            pthread_mutex_lock(&pool->mutex);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = gen;
        run_share(pool, w->index);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

ct_status ct_threadpool_create(int n_threads, ct_threadpool **out) {
    *out = NULL;
    if (n_threads < 1) return ct_fail(CT_ERR_INVALID_ARGUMENT, "thread count %d: must be at least 1", n_threads);
    ct_threadpool *pool = ct_calloc_array(1, sizeof *pool, "thread pool");
    if (!pool) return CT_ERR_OUT_OF_MEMORY;
    pool->n_threads = n_threads;
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->stop, false);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    if (n_threads > 1) {
        pool->workers = ct_calloc_array((size_t)n_threads - 1, sizeof *pool->workers, "thread pool workers");
        if (!pool->workers) {
            ct_threadpool_free(pool);
            return CT_ERR_OUT_OF_MEMORY;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            ct_worker *w = &pool->workers[i];
            w->pool = pool;
            w->index = i + 1;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                pool->n_threads = i + 1; /* only join those started */
                ct_threadpool_free(pool);
                return ct_fail(CT_ERR_OUT_OF_MEMORY, "thread pool: could not start thread %d of %d", i + 2,
                               n_threads);
            }
        }
    }
    *out = pool;
    return CT_OK;
}

void ct_threadpool_free(ct_threadpool *pool) {
    if (!pool) return;
    if (pool->workers) {
        pthread_mutex_lock(&pool->mutex);
        atomic_store(&pool->stop, true);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
        for (int i = 0; i < pool->n_threads - 1; i++) pthread_join(pool->workers[i].thread, NULL);
    }
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

int ct_threadpool_size(const ct_threadpool *pool) { return pool ? pool->n_threads : 1; }

void ct_threadpool_run(ct_threadpool *pool, int64_t n, int64_t grain, ct_parallel_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int nt = pool ? pool->n_threads : 1;
    /* one thread when the job is too small to split */
    if (nt == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    int64_t chunk = (n + nt - 1) / nt;
    chunk = (chunk + grain - 1) / grain * grain;
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunk = chunk;
    atomic_store(&pool->pending, nt - 1);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    run_share(pool, 0);

    int spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
        if (++spins > CT_SPIN_ITERS) sched_yield();
}

int ct_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}
