/*
 * pool.h — a persistent pthread pool for the engine's kernels.
 *
 * ag_pool_run(p, n, grain, fn, ctx) hands the item range [0, n) out in chunks (multiples of
 * grain) to whichever thread is free, and returns when all are done. Callers only ever hand it independent outputs (rows of a
 * matmul, heads, sequences), never parts of one reduction, so the thread count can change the
 * speed but never a bit of the result (DESIGN.md §5). Workers spin briefly between jobs (decode
 * issues ~50 small jobs per token) and then sleep on a condition variable.
 * Not reentrant: one job at a time per pool; fn must not call ag_pool_run on the same pool.
 */
#ifndef AG_ENGINE_POOL_H
#define AG_ENGINE_POOL_H

#include <stddef.h>

typedef struct ag_pool ag_pool;
typedef void (*ag_pool_fn)(void *ctx, size_t begin, size_t end);

/* threads >= 1 (the caller counts as one). *out is owned by the caller: ag_pool_close. */
int ag_pool_open(ag_pool **out, int threads);
void ag_pool_close(ag_pool *p); /* accepts NULL */
int ag_pool_threads(const ag_pool *p); /* 1 for NULL */
/* Runs fn over [0, n). p may be NULL (runs inline). Slices are at least grain items. */
void ag_pool_run(ag_pool *p, size_t n, size_t grain, ag_pool_fn fn, void *ctx);

#endif
