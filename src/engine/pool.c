/* pool.c — persistent worker threads with a spin-then-sleep handoff (see pool.h). */
#include "engine/pool.h"

#include "core/err.h"
#include "core/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define POOL_MAX 64
#define SPIN_ITERS 200000

struct ag_pool {
  int n;
  pthread_t th[POOL_MAX];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_ulong gen;
  atomic_int pending;
  atomic_int sleeping;
  atomic_int stop;
  ag_pool_fn fn;
  void *ctx;
  size_t items, grain;
  atomic_size_t next; /* next unclaimed item of the current job */
  int active;         /* threads taking part in the current job */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Dynamic scheduling: participants claim chunks of `grain` items until none are left, so a
 * late or slower thread (or costlier items, as causal attention rows) cannot stall the job.
 * Which thread computes an item never changes what is computed. */
static void drain(ag_pool *p) {
  for (;;) {
    size_t b = atomic_fetch_add_explicit(&p->next, p->grain, memory_order_relaxed);
    if (b >= p->items) return;
    p->fn(p->ctx, b, AG_MIN(p->items, b + p->grain));
  }
}

static void *worker(void *arg) {
  ag_pool *p = ((void **)arg)[0];
  int tid = (int)(intptr_t)((void **)arg)[1];
  free(arg);
  unsigned long seen = 0;
  for (;;) {
    unsigned long g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (int i = 0; i < SPIN_ITERS && g == seen && !atomic_load(&p->stop); i++) {
      cpu_relax();
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    if (g == seen && !atomic_load(&p->stop)) {
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleeping, 1);
      while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleeping, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    if (tid < p->active) drain(p);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
  }
}

int ag_pool_open(ag_pool **out, int threads) {
  *out = NULL;
  if (threads < 1 || threads > POOL_MAX)
    return ag_fail(AG_E_INVALID, "threads must be in 1..%d", POOL_MAX);
  ag_pool *p = ag_xcalloc(1, sizeof *p);
  p->n = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  atomic_init(&p->gen, 0);
  atomic_init(&p->pending, 0);
  atomic_init(&p->sleeping, 0);
  atomic_init(&p->stop, 0);
  atomic_init(&p->next, 0);
  for (int i = 1; i < threads; i++) {
    void **a = ag_xmalloc(2 * sizeof(void *));
    a[0] = p;
    a[1] = (void *)(intptr_t)i;
    if (pthread_create(&p->th[i], NULL, worker, a) != 0) {
      free(a);
      break;
    }
    p->n++;
  }
  *out = p;
  return 0;
}

void ag_pool_close(ag_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

int ag_pool_threads(const ag_pool *p) { return p ? p->n : 1; }

void ag_pool_run(ag_pool *p, size_t n, size_t grain, ag_pool_fn fn, void *ctx) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  if (!p || p->n == 1 || n <= grain) {
    fn(ctx, 0, n);
    return;
  }
  size_t useful = (n + grain - 1) / grain;
  p->active = (int)AG_MIN((size_t)p->n, useful);
  /* chunks: at least grain, about 8 per thread */
  size_t chunk = (n + (size_t)p->active * 8 - 1) / ((size_t)p->active * 8);
  chunk = (AG_MAX(chunk, grain) + grain - 1) / grain * grain;
  p->fn = fn;
  p->ctx = ctx;
  p->items = n;
  p->grain = chunk;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store(&p->pending, p->n - 1);
  atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with the sleeping counter below */
  if (atomic_load(&p->sleeping) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  drain(p);
  while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) cpu_relax();
}
