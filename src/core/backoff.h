/*
 * backoff.h — when to restart a process that keeps dying: exponential backoff with a cap, a
 * reset once the process has stayed up for a while, and a give-up rule for crash loops.
 *
 * Pure bookkeeping over caller-supplied monotonic times (milliseconds): it never sleeps,
 * starts or signals anything, so a supervisor owns the processes and a test can walk the
 * policy through hours in microseconds. Used by `agora localnet` (docs/multi-validator.md).
 *
 *   ag_backoff b;  ag_backoff_init(&b);          defaults below
 *   ag_backoff_started(&b, now);                 the process was (re)started at now
 *   if (ag_backoff_failed(&b, now, &wait) == 0)  it died at now: restart it after wait ms
 *   else                                         too many restarts: leave it down
 */
#ifndef AG_BACKOFF_H
#define AG_BACKOFF_H

#include <stdint.h>

#define AG_BACKOFF_MIN_MS 1000u        /* first wait */
#define AG_BACKOFF_MAX_MS 60000u       /* the wait doubles up to this */
#define AG_BACKOFF_STABLE_MS 60000u    /* up this long: the next wait is the first one again */
#define AG_BACKOFF_WINDOW_MS 600000u   /* give up after ... */
#define AG_BACKOFF_MAX_RESTARTS 10     /* ... this many restarts within the window */

typedef struct {
  uint64_t min_ms, max_ms, stable_ms, window_ms; /* policy (set by init; tests may change) */
  int max_restarts;                              /* 1..AG_BACKOFF_MAX_RESTARTS */
  uint64_t wait_ms;                              /* the wait before the next restart */
  uint64_t started_at;                           /* when it was last (re)started, mono ms */
  uint64_t restarts[AG_BACKOFF_MAX_RESTARTS];    /* times of the latest restarts, oldest first */
  int nrestarts;                                 /* entries in restarts[] */
} ag_backoff;

/* The default policy, with no restart recorded. */
void ag_backoff_init(ag_backoff *b);
/* Forgets the restarts and the current wait (an operator started the process by hand). */
void ag_backoff_reset(ag_backoff *b);
/* The process was started at now (a restart if it follows ag_backoff_failed). */
void ag_backoff_started(ag_backoff *b, uint64_t now);
/* The process died at now. Returns 0 with *wait_ms set: restart it after that long (the wait
 * doubles each time, from min_ms to max_ms, and falls back to min_ms when the process had been
 * up for stable_ms). Returns 1 when max_restarts restarts already happened within window_ms
 * before now: give up (leave it down and say so). Counts the restart it allows. */
int ag_backoff_failed(ag_backoff *b, uint64_t now, uint64_t *wait_ms);

#endif
