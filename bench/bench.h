/*
 * bench.h — how benchmarks report. Each figure is printed as one line
 *   name  value unit   [vs baseline: value unit, ratio R]
 * and appended as one JSON object per line to $AGORA_BENCH_OUT (scripts/bench gathers them
 * into build/bench/results.json). A figure is always shown next to a comparison point
 * measured in the same run, so that ratios survive a noisy machine.
 */
#ifndef AG_BENCH_H
#define AG_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* note may be NULL; it is free text (e.g. "target >= 0.6"). */
static inline void bench_report(const char *name, double value, const char *unit,
                                const char *note) {
  printf("%-34s %14.3f %-10s %s\n", name, value, unit, note ? note : "");
  fflush(stdout);
  const char *path = getenv("AGORA_BENCH_OUT");
  if (!path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "{\"name\":\"%s\",\"value\":%.6g,\"unit\":\"%s\",\"note\":\"%s\"}\n", name, value,
          unit, note ? note : "");
  fclose(f);
}

#endif
