/* bench_yuma.c — one Yuma epoch at Bittensor's subnet size (256 uids, 64 validators) and 16x
 * larger (4096 uids, 256 validators), every validator with a full weight row and a full bond
 * row (a steady state reached by warm-up epochs). Default variant: Yuma3 without liquid alpha
 * (what a new subnet gets); classic and liquid-alpha variants are printed too.
 *
 * Comparison point, measured in the same run on the same data: one I32F32 row-normalization
 * pass over the weight rows (the least work any epoch must do: read every weight once and
 * divide it), so the ratio says how many such passes an epoch costs. Also: set_weights
 * max-upscaling of 256-entry rows against a memcpy of the same rows. */
#include "bench.h"
#include "incentive/fixed.h"
#include "incentive/yuma.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint64_t rnd(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

typedef struct {
  uint32_t n, v;
  ag_yuma_params p;
  uint64_t *stake, *lu, *reg, *commit;
  bool *permit;
  ag_yuma_entry *we, *be; /* v rows of n entries each: only validators have rows */
  ag_yuma_row *w, *b;
} net;

static void net_make(net *t, uint32_t n, uint32_t v) {
  memset(t, 0, sizeof *t);
  t->n = n;
  t->v = v;
  ag_yuma_params_default(&t->p);
  t->p.max_allowed_validators = (uint16_t)v;
  t->p.emission = 1000000000ULL * 360; /* a tempo's worth at 1 unit per block */
  t->stake = calloc(n, sizeof *t->stake);
  t->lu = calloc(n, sizeof *t->lu);
  t->reg = calloc(n, sizeof *t->reg);
  t->commit = calloc(n, sizeof *t->commit);
  t->permit = calloc(n, sizeof *t->permit);
  t->we = calloc((size_t)v * n, sizeof *t->we);
  t->be = calloc((size_t)v * n, sizeof *t->be);
  t->w = calloc(n, sizeof *t->w);
  t->b = calloc(n, sizeof *t->b);
  uint16_t *raw = calloc(n, sizeof *raw), *up = calloc(n, sizeof *up);
  for (uint32_t i = 0; i < n; i++) {
    t->lu[i] = 10000;
    t->reg[i] = 1;
    t->commit[i] = UINT64_MAX;
    if (i < v) {
      t->w[i].e = t->we + (size_t)i * n;
      t->b[i].e = t->be + (size_t)i * n;
      t->stake[i] = 1000000000000ULL + rnd() % 100000000000000ULL;
      t->permit[i] = true;
      for (uint32_t j = 0; j < n; j++) raw[j] = (uint16_t)(rnd() % 65536);
      ag_yuma_weights_upscale(raw, n, up);
      for (uint32_t j = 0; j < n; j++) t->we[(size_t)i * n + j] = (ag_yuma_entry){(uint16_t)j, up[j]};
      t->w[i].len = n;
    } else {
      t->stake[i] = rnd() % 1000000000ULL; /* miners hold a little stake */
    }
  }
  free(raw);
  free(up);
}

static void net_free(net *t) {
  free(t->stake);
  free(t->lu);
  free(t->reg);
  free(t->commit);
  free(t->permit);
  free(t->we);
  free(t->be);
  free(t->w);
  free(t->b);
}

static int net_epoch(net *t, uint64_t block, ag_yuma_output *o) {
  ag_yuma_input in = {.n = t->n, .block = block, .stake = t->stake, .last_update = t->lu,
                      .block_at_registration = t->reg, .validator_permit = t->permit,
                      .weights = t->w, .bonds = t->b, .commit_block = t->commit};
  return ag_yuma_epoch(&t->p, &in, o);
}

/* Warm-up epochs so that bonds rows are populated as in a running subnet. */
static void net_warm(net *t, int epochs) {
  for (int e = 0; e < epochs; e++) {
    ag_yuma_output o;
    if (net_epoch(t, 10001 + e, &o)) abort();
    for (uint32_t i = 0; i < t->n; i++) {
      uint32_t len = o.bond_off[i + 1] - o.bond_off[i];
      if (len && i >= t->v) abort(); /* only validators hold permits here */
      if (len) memcpy(t->be + (size_t)i * t->n, o.bond + o.bond_off[i], len * sizeof *o.bond);
      t->b[i].len = len;
      t->permit[i] = o.validator_permit[i];
    }
    ag_yuma_output_free(&o);
  }
}

/* Every validator sets new random weights: the epoch after, no weight equals its bond, and
 * under liquid alpha every entry whose bond now exceeds its weight (about half) needs its own
 * alpha (an exp), where a steady state needs almost none. */
static void net_reweigh(net *t) {
  uint16_t *raw = calloc(t->n, sizeof *raw), *up = calloc(t->n, sizeof *up);
  for (uint32_t i = 0; i < t->v; i++) {
    for (uint32_t j = 0; j < t->n; j++) raw[j] = (uint16_t)(rnd() % 65536);
    ag_yuma_weights_upscale(raw, t->n, up);
    for (uint32_t j = 0; j < t->n; j++) t->we[(size_t)i * t->n + j].value = up[j];
  }
  free(raw);
  free(up);
}

/* Median time of reps epochs, in ms. */
static double time_epoch(net *t, int reps) {
  double best[64];
  for (int r = 0; r < reps; r++) {
    ag_yuma_output o;
    double t0 = bench_now();
    if (net_epoch(t, 10010, &o)) abort();
    best[r] = (bench_now() - t0) * 1e3;
    ag_yuma_output_free(&o);
  }
  for (int i = 1; i < reps; i++) /* insertion sort: reps is small */
    for (int j = i; j > 0 && best[j] < best[j - 1]; j--) {
      double x = best[j];
      best[j] = best[j - 1];
      best[j - 1] = x;
    }
  return best[reps / 2];
}

/* Baseline: one I32F32 row normalization of every weight row (read, sum, divide, write). */
static volatile ag_fx sink;
static double time_baseline(const net *t, int reps) {
  ag_fx *out = malloc((size_t)t->n * sizeof *out);
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now();
    for (uint32_t i = 0; i < t->n; i++) {
      const ag_yuma_row *row = &t->w[i];
      ag_fx s = 0;
      for (uint32_t k = 0; k < row->len; k++) s = ag_fx_add(s, (ag_fx)row->e[k].value << 32);
      for (uint32_t k = 0; k < row->len; k++) out[k] = ag_fx_safe_div((ag_fx)row->e[k].value << 32, s);
      sink = out[row->len ? row->len - 1 : 0];
    }
    double dt = (bench_now() - t0) * 1e3;
    if (dt < best) best = dt;
  }
  free(out);
  return best;
}

static void bench_size(uint32_t n, uint32_t v, int reps, double target) {
  net t;
  net_make(&t, n, v);
  const char *variants[4] = {"", "_classic", "_liquid", "_liquid_churn"};
  for (int k = 0; k < 4; k++) {
    t.p.yuma3 = k != 1;
    t.p.liquid_alpha = k >= 2;
    /* fresh bonds for each variant (their formats differ) */
    for (uint32_t i = 0; i < n; i++) t.b[i].len = 0;
    net_warm(&t, 3);
    if (k == 3) net_reweigh(&t); /* last: the weights stay re-drawn */
    double ms = time_epoch(&t, reps);
    double base = time_baseline(&t, reps);
    char name[64], note[160];
    snprintf(name, sizeof name, "yuma.epoch_ms_%ux%u%s", n, v, variants[k]);
    snprintf(note, sizeof note, "%svs one normalize pass over the weights: %.3f ms, ratio %.0f",
             k == 0 ? (target <= 5 ? "target <= 5 ms; " : "target <= 100 ms; ") : "", base,
             ms / base);
    bench_report(name, ms, "ms", note);
  }
  net_free(&t);
}

static void bench_upscale(void) {
  enum { ROWS = 20000, LEN = 256 };
  uint16_t *in = malloc((size_t)ROWS * LEN * sizeof *in), *out = malloc((size_t)ROWS * LEN * sizeof *out);
  for (size_t i = 0; i < (size_t)ROWS * LEN; i++) in[i] = (uint16_t)(rnd() % 65536);
  double t0 = bench_now();
  for (int r = 0; r < ROWS; r++) ag_yuma_weights_upscale(in + (size_t)r * LEN, LEN, out + (size_t)r * LEN);
  double up = bench_now() - t0;
  t0 = bench_now();
  for (int r = 0; r < ROWS; r++) memcpy(out + (size_t)r * LEN, in + (size_t)r * LEN, LEN * sizeof *in);
  double cp = bench_now() - t0;
  sink = out[ROWS * LEN - 1];
  char note[128];
  snprintf(note, sizeof note, "vs memcpy of the rows: %.0f rows/s, ratio %.1f", ROWS / cp, up / cp);
  bench_report("yuma.weights_upscale_rows_per_s", ROWS / up, "rows/s", note);
  free(in);
  free(out);
}

int main(void) {
  bench_size(256, 64, 21, 5);
  bench_size(4096, 256, 5, 100);
  bench_upscale();
  return 0;
}
