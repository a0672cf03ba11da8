/* A small pthread pool for data-parallel loops: ct_threadpool_run() splits [0, n) into a few
 * chunks per thread, which the threads take in turn, and returns when every chunk is done.
 * The calling thread works too, so a pool of N threads starts N-1 workers; a worker that is
 * slow to start (preempted by another process) leaves its chunks to the others. Workers
 * spin for a bounded time between jobs (a forward pass issues hundreds of short jobs per
 * token) and then sleep on a condition variable, so an idle pool costs no CPU. */
#ifndef CT_CORE_THREADPOOL_H
#define CT_CORE_THREADPOOL_H

#include <stdint.h>

#include "core/status.h"

typedef struct ct_threadpool ct_threadpool;

/* fn(arg, begin, end, thread_index) handles items [begin, end); thread_index < n_threads,
 * and no two concurrent calls share one (for per-thread scratch buffers). A thread may be
 * called for several ranges of one job. */
typedef void (*ct_parallel_fn)(void *arg, int64_t begin, int64_t end, int thread_index);

/* n_threads >= 1; 1 means everything runs on the caller. */
ct_status ct_threadpool_create(int n_threads, ct_threadpool **out);
void ct_threadpool_free(ct_threadpool *pool);
int ct_threadpool_size(const ct_threadpool *pool);

/* Run fn over [0, n) split across the pool; ranges are rounded to multiples of `grain`
 * (>= 1) so that, e.g., each thread gets whole blocks. Not reentrant: one job at a time. */
void ct_threadpool_run(ct_threadpool *pool, int64_t n, int64_t grain, ct_parallel_fn fn, void *arg);

/* Number of online CPU cores (at least 1). */
int ct_cpu_count(void);

#endif
