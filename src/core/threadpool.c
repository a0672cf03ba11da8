/* Thread pool: one job at a time.
 *
 * Synchronisation, all through one atomic word `state` = generation (high 32 bits) | CLOSED
 * (bit 31) | number of workers inside the job (low 31 bits):
 *   - the caller writes the job's fields, resets the chunk counter, then stores
 *     state = (generation + 1) << 32 (release): the job is published, open, nobody inside;
 *   - a worker that sees a generation it has not handled joins by CAS-incrementing the
 *     count while the job is still open (if it is closed, or a newer one is published, it
 *     only remembers the generation: it never reads a job it did not join);
 *   - everyone inside, the caller included, takes chunks from an atomic counter until none
 *     is left, so a thread that is slow to start (preempted, asleep) costs nothing once the
 *     others have done its share;
 *   - the caller then closes the job (sets CLOSED: nobody can join any more) and waits for
 *     the count to reach zero (workers leave with a release decrement); after that no thread
 *     touches the job, and the next one may be written.
 * Idle workers spin for a bounded time (CT_SPIN_NS: a forward pass issues hundreds of short
 * jobs per token, microseconds apart) and then sleep on a condition variable. Wake-ups are
 * not lost: a worker registers in `sleepers` and re-checks the generation under the mutex
 * before waiting; the caller stores the new generation and then reads `sleepers` (both
 * sequentially consistent, so at least one of them sees the other's write), and if anyone
 * sleeps it broadcasts under the same mutex. */
#define _POSIX_C_SOURCE 200809L
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* How long an idle worker polls before sleeping: covers the gaps between the ops of a forward
 * pass (norms, rope: microseconds) and between decoded tokens (sampling: tens of
 * microseconds), and no more, so idle workers do not take cores from other processes. */
#define CT_SPIN_NS 200000
/* How long the caller polls for workers still inside a job before yielding its core (a
 * worker that was preempted mid-chunk needs the core more than the caller does). */
#define CT_CALLER_SPIN_NS 50000
/* Chunks per thread: small enough that threads finishing early take over the rest of a
 * slow one's share, large enough that the chunk counter is touched rarely. */
#define CT_CHUNKS_PER_THREAD 4

#define STATE_CLOSED ((uint64_t)1 << 31)
#define STATE_COUNT_MASK (STATE_CLOSED - 1)

typedef struct {
    ct_threadpool *pool;
    int index;
    pthread_t thread;
} ct_worker;

struct ct_threadpool {
    int n_threads;
    ct_worker *workers; /* n_threads - 1 of them */

    /* the current job (written by the caller only while no worker is inside) */
    ct_parallel_fn fn;
    void *arg;
    int64_t n, chunk, n_chunks;
    atomic_int_fast64_t next_chunk;

    atomic_uint_fast64_t state; /* generation << 32 | CLOSED | workers inside */
    atomic_int sleepers;
    atomic_bool stop;

    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

static uint32_t state_generation(uint64_t s) { return (uint32_t)(s >> 32); }

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Take chunks until none is left. */
static void run_chunks(ct_threadpool *pool, int index) {
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&pool->next_chunk, 1, memory_order_relaxed);
        if (c >= pool->n_chunks) return;
        int64_t begin = c * pool->chunk, end = begin + pool->chunk;
        if (end > pool->n) end = pool->n;
        pool->fn(pool->arg, begin, end, index);
    }
}

/* Wait until the published generation differs from seen (or stop); returns the state. */
static uint64_t wait_for_job(ct_threadpool *pool, uint32_t seen) {
    int64_t deadline = 0;
    for (unsigned spins = 0;; spins++) {
        uint64_t s = atomic_load_explicit(&pool->state, memory_order_acquire);
        if (state_generation(s) != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed)) return s;
        cpu_relax();
        if ((spins & 63) != 63) continue;
        int64_t t = now_ns();
        if (!deadline) deadline = t + CT_SPIN_NS;
        if (t < deadline) continue;
        pthread_mutex_lock(&pool->mutex);
        atomic_fetch_add(&pool->sleepers, 1);
        while (state_generation(atomic_load(&pool->state)) == seen && !atomic_load(&pool->stop))
            pthread_cond_wait(&pool->wake, &pool->mutex);
        atomic_fetch_sub(&pool->sleepers, 1);
        pthread_mutex_unlock(&pool->mutex);
        deadline = 0;
    }
}

static void *worker_main(void *p) {
    ct_worker *w = p;
    ct_threadpool *pool = w->pool;
    uint32_t seen = 0; /* the generation at creation: a job published before this thread ran still counts */
    for (;;) {
        uint64_t s = wait_for_job(pool, seen);
        if (atomic_load(&pool->stop)) return NULL;
        /* join the job unless it is already closed (or replaced by a newer one: then retry) */
        bool joined = false;
        while (!(s & STATE_CLOSED)) {
            if (atomic_compare_exchange_weak_explicit(&pool->state, &s, s + 1, memory_order_acquire,
                                                      memory_order_acquire)) {
                joined = true;
                break;
            }
        }
        seen = state_generation(s);
        if (!joined) continue;
        run_chunks(pool, w->index);
        atomic_fetch_sub_explicit(&pool->state, 1, memory_order_release);
    }
}

ct_status ct_threadpool_create(int n_threads, ct_threadpool **out) {
    *out = NULL;
    if (n_threads < 1) return ct_fail(CT_ERR_INVALID_ARGUMENT, "thread count %d: must be at least 1", n_threads);
    ct_threadpool *pool = ct_calloc_array(1, sizeof *pool, "thread pool");
    if (!pool) return CT_ERR_OUT_OF_MEMORY;
    pool->n_threads = n_threads;
    atomic_init(&pool->next_chunk, 0);
    atomic_init(&pool->state, STATE_CLOSED); /* generation 0: nothing to join */
    atomic_init(&pool->sleepers, 0);
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
    int64_t chunk = (n + (int64_t)nt * CT_CHUNKS_PER_THREAD - 1) / ((int64_t)nt * CT_CHUNKS_PER_THREAD);
    chunk = (chunk + grain - 1) / grain * grain;
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunk = chunk;
    pool->n_chunks = (n + chunk - 1) / chunk;
    atomic_store_explicit(&pool->next_chunk, 0, memory_order_relaxed);

    /* publish (the previous job is closed and empty: only the generation changes) */
    uint64_t s = atomic_load_explicit(&pool->state, memory_order_relaxed);
    atomic_store(&pool->state, (uint64_t)(state_generation(s) + 1) << 32);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }

    run_chunks(pool, 0);

    /* close, then wait for the workers inside to leave */
    s = atomic_fetch_or_explicit(&pool->state, STATE_CLOSED, memory_order_acq_rel) | STATE_CLOSED;
    int64_t deadline = 0;
    for (unsigned spins = 0; s & STATE_COUNT_MASK; spins++) {
        cpu_relax();
        if ((spins & 63) == 63) {
            int64_t t = now_ns();
            if (!deadline) deadline = t + CT_CALLER_SPIN_NS;
            if (t >= deadline) sched_yield();
        }
        s = atomic_load_explicit(&pool->state, memory_order_acquire);
    }
}

int ct_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}
