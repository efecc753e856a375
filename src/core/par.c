/* par.c — chunked parallel for over pthreads. */
#include "core/par.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
  atomic_size_t next;
  size_t n, chunk;
  void (*fn)(void *, size_t, size_t);
  void *ctx;
} shared;

static void *worker(void *arg) {
  shared *s = arg;
  for (;;) {
    size_t b = atomic_fetch_add(&s->next, s->chunk);
    if (b >= s->n) break;
    size_t e = b + s->chunk < s->n ? b + s->chunk : s->n;
    s->fn(s->ctx, b, e);
  }
  return NULL;
}

void ag_par_for(size_t n, int threads, size_t chunk, void (*fn)(void *, size_t, size_t),
                void *ctx) {
  if (n == 0) return;
  if (chunk == 0) chunk = 1;
  if (threads <= 1 || n <= chunk) {
    fn(ctx, 0, n);
    return;
  }
  if (threads > 64) threads = 64;
  shared s = {0, n, chunk, fn, ctx};
  atomic_init(&s.next, 0);
  pthread_t th[64];
  int started = 0;
  for (int i = 0; i < threads - 1; i++)
    if (pthread_create(&th[started], NULL, worker, &s) == 0) started++;
  worker(&s);
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}
