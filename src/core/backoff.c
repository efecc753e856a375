/* backoff.c — restart policy bookkeeping (backoff.h). */
#include "core/backoff.h"

#include <string.h>

void ag_backoff_init(ag_backoff *b) {
  memset(b, 0, sizeof *b);
  b->min_ms = AG_BACKOFF_MIN_MS;
  b->max_ms = AG_BACKOFF_MAX_MS;
  b->stable_ms = AG_BACKOFF_STABLE_MS;
  b->window_ms = AG_BACKOFF_WINDOW_MS;
  b->max_restarts = AG_BACKOFF_MAX_RESTARTS;
  b->wait_ms = b->min_ms;
}

void ag_backoff_reset(ag_backoff *b) {
  b->wait_ms = b->min_ms;
  b->nrestarts = 0;
}

void ag_backoff_started(ag_backoff *b, uint64_t now) { b->started_at = now; }

int ag_backoff_failed(ag_backoff *b, uint64_t now, uint64_t *wait_ms) {
  if (now - b->started_at >= b->stable_ms) b->wait_ms = b->min_ms;
  int keep = 0; /* drop restarts older than the window */
  for (int i = 0; i < b->nrestarts; i++)
    if (now - b->restarts[i] < b->window_ms) b->restarts[keep++] = b->restarts[i];
  b->nrestarts = keep;
  int cap = b->max_restarts < 1 || b->max_restarts > AG_BACKOFF_MAX_RESTARTS ? AG_BACKOFF_MAX_RESTARTS
                                                                                : b->max_restarts;
  if (b->nrestarts >= cap) return 1;
  b->restarts[b->nrestarts++] = now;
  *wait_ms = b->wait_ms;
  b->wait_ms = b->wait_ms > b->max_ms / 2 ? b->max_ms : b->wait_ms * 2;
  if (b->wait_ms < b->min_ms) b->wait_ms = b->min_ms;
  return 0;
}
