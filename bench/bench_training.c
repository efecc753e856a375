/*
 * bench_training.c — the training subnet's numbers on `nano` from scratch, without processes
 * (the network adds only transfers): 4 honest trainers, H inner steps per round, R rounds.
 *
 *   training.compression_ratio  fp32 pseudo-gradient bytes / published blob bytes
 *   training.loss_gap           final validation loss of compressed training (pgrad top-k with
 *                               error feedback, the subnet's aggregation) / that of uncompressed
 *                               DiLoCo with the same trainers, steps, data and outer step
 *   training.validator_eval_s   seconds to score one submission (apply + 2 shards × 2 batches),
 *                               beside one inner training step as the comparison point
 * It also prints the scores of an honest trainer, a copier (another's blob, evaluated on its
 * own shard), a scaled copy, and noise, with index overlaps: what the scoring rule separates.
 * Environment: AGORA_TRAIN_ROUNDS (16), AGORA_TRAIN_K (48), AGORA_TRAIN_OLR (1.0),
 * AGORA_TRAIN_MU (0.5), AGORA_TRAIN_STEPS (8).
 */
#include "bench.h"

#include "core/err.h"
#include "core/util.h"
#include "subnets/diloco.h"

#include <math.h>
#include <string.h>

#define K_TRAINERS 4
#define WINDOW 8192

static double envf(const char *name, double dflt) {
  const char *s = getenv(name);
  return s && *s ? atof(s) : dflt;
}

static void die(int rc, const char *what) {
  if (!rc) return;
  fprintf(stderr, "bench_training: %s: %s\n", what, ag_errmsg(rc));
  exit(1);
}

static float *params_of(ag_model *m) {
  size_t n;
  return ag_model_params(m, &n);
}

static const uint8_t *hk(int i) {
  static uint8_t keys[8][32];
  memset(keys[i], 0, 32);
  keys[i][0] = (uint8_t)(i + 1);
  return keys[i];
}

/* One run; compressed = 0 aggregates the exact pseudo-gradients. Returns the final val loss. */
static double run(const ag_model *init, const ag_diloco_data *d, int rounds, int steps, int k,
                  float olr, float mu, int compressed, int calibrate, double *ratio, double *eval_s,
                  double *step_s) {
  ag_model *ckpt;
  die(ag_model_to_f32(init, &ckpt), "copy");
  size_t n;
  ag_model_params(ckpt, &n);
  ag_dworker *w[K_TRAINERS];
  for (int i = 0; i < K_TRAINERS; i++) die(ag_dworker_open(ckpt, 1, (uint64_t)i + 1, &w[i]), "worker");
  float *mom = calloc(n, sizeof(float)), *a = calloc(n, sizeof(float));
  ag_buf blob[K_TRAINERS];
  for (int i = 0; i < K_TRAINERS; i++) ag_buf_init(&blob[i]);
  double loss = 0, eval_total = 0;
  int evals = 0;
  for (int r = 0; r < rounds; r++) {
    ag_pgrad_hdr h = {.netuid = 1, .chunk = AG_PGRAD_CHUNK, .k = (uint32_t)k, .round = (uint64_t)r, .n = n};
    memcpy(h.base, ckpt->id, 32);
    ag_tokens shard[K_TRAINERS + 1];
    for (int i = 0; i <= K_TRAINERS; i++) {
      size_t off = ag_diloco_shard(d, 1, (uint64_t)r, hk(i), WINDOW);
      shard[i] = (ag_tokens){d->train + off, WINDOW};
    }
    double t0 = bench_now();
    for (int i = 0; i < K_TRAINERS; i++) {
      ag_buf_reset(&blob[i]);
      double l;
      die(ag_dworker_round(w[i], ckpt, &shard[i], steps, &h, &blob[i], &l), "round");
    }
    if (step_s) *step_s = (bench_now() - t0) / (K_TRAINERS * steps);
    *ratio = (double)(n * sizeof(float)) / (double)blob[0].len;
    if (compressed || calibrate) { /* score every submission as a validator would */
      ag_dscorer *sc;
      die(ag_dscorer_open(ckpt, 1, &sc), "scorer");
      uint8_t bh[32] = {(uint8_t)r, 7};
      size_t roff = ag_diloco_random_shard(d, 1, (uint64_t)r, bh, WINDOW);
      ag_tokens rnd = {d->train + roff, WINDOW};
      double rb;
      die(ag_dscorer_base_loss(sc, &rnd, 99, &rb), "base");
      for (int i = 0; i < K_TRAINERS + (calibrate ? 3 : 0); i++) {
        ag_dscore s = {0};
        ag_buf extra;
        ag_buf_init(&extra);
        const ag_buf *b = i < K_TRAINERS ? &blob[i] : &extra;
        const ag_tokens *own = i < K_TRAINERS ? &shard[i] : &shard[K_TRAINERS];
        const char *what = i < K_TRAINERS ? "honest" : i == K_TRAINERS ? "copier" : i == K_TRAINERS + 1 ? "scaled" : "noise";
        if (i == K_TRAINERS) ag_buf_put(&extra, blob[0].data, blob[0].len);
        if (i == K_TRAINERS + 1) { /* re-encode 1.3 × trainer 0's transmitted values */
          float *e = calloc(n, sizeof(float));
          ag_pgrad_apply(blob[0].data, blob[0].len, &h, 1.3f, e);
          ag_pgrad_encode(&h, e, &extra);
          free(e);
        }
        if (i == K_TRAINERS + 2) {
          float *e = calloc(n, sizeof(float));
          uint64_t x = 88172645463325252ull + (uint64_t)r;
          for (size_t j = 0; j < n; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            e[j] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5) * 0.02f;
          }
          ag_pgrad_encode(&h, e, &extra);
          free(e);
        }
        die(ag_dscorer_base_loss(sc, own, 99, &s.own_before), "base");
        s.rnd_before = rb;
        double e0 = bench_now();
        die(ag_dscorer_score(sc, b->data, b->len, &h, own, &rnd, 99, &s), "score");
        eval_total += bench_now() - e0;
        evals++;
        if (calibrate)
          printf("  round %d %-7s own %+.4f rnd %+.4f score %8llu overlap(0) %.2f\n", r, what, s.own_gain,
                 s.rnd_gain, (unsigned long long)s.score,
                 ag_pgrad_overlap(b->data, b->len, blob[0].data, blob[0].len));
        ag_buf_free(&extra);
      }
      ag_dscorer_close(sc);
    }
    ag_model *next;
    if (compressed) {
      const uint8_t *bp[K_TRAINERS];
      size_t bl[K_TRAINERS];
      for (int i = 0; i < K_TRAINERS; i++) bp[i] = blob[i].data, bl[i] = blob[i].len;
      ag_buf file;
      ag_buf_init(&file);
      uint8_t id[32], fh[32];
      die(ag_diloco_aggregate(ckpt, mom, bp, bl, K_TRAINERS, &h, olr, mu, &file, id, fh), "aggregate");
      ag_train_state ts;
      die(ag_model_load_mem(file.data, file.len, &next, &ts), "reload");
      memcpy(mom, ts.mom, n * sizeof(float));
      ag_buf_free(&file);
    } else { /* the same outer step on the exact mean */
      die(ag_model_to_f32(ckpt, &next), "copy");
      float *p = params_of(next);
      memset(a, 0, n * sizeof(float));
      for (int i = 0; i < K_TRAINERS; i++) {
        const float *dl = ag_dworker_delta(w[i], NULL);
        for (size_t j = 0; j < n; j++) a[j] += dl[j] * (1.0f / K_TRAINERS);
      }
      for (size_t j = 0; j < n; j++) {
        mom[j] = mu * mom[j] + a[j];
        p[j] -= olr * (a[j] + mu * mom[j]);
      }
      ag_model_compute_id(next);
    }
    ag_model_close(ckpt);
    ckpt = next;
    die(ag_diloco_val_loss(ckpt, d, 8, 1, &loss), "val");
    printf("  %s round %d: validation loss %.4f\n", compressed ? "compressed" : "exact", r, loss);
  }
  if (eval_s) *eval_s = evals ? eval_total / evals : 0;
  for (int i = 0; i < K_TRAINERS; i++) {
    ag_dworker_close(w[i]);
    ag_buf_free(&blob[i]);
  }
  free(mom);
  free(a);
  ag_model_close(ckpt);
  return loss;
}

int main(void) {
  ag_model *base, *init;
  die(ag_model_load(AGORA_SRC_DIR "/models/agora-nano.bin", &base, NULL), "load nano");
  ag_diloco_data d;
  die(ag_diloco_data_load(base, &d), "data");
  die(ag_diloco_init_model(base, 1, 0, 0, &init), "init");
  int rounds = (int)envf("AGORA_TRAIN_ROUNDS", 16), steps = (int)envf("AGORA_TRAIN_STEPS", 8);
  int k = (int)envf("AGORA_TRAIN_K", 48);
  float olr = (float)envf("AGORA_TRAIN_OLR", 1.0), mu = (float)envf("AGORA_TRAIN_MU", 0.5);
  int calibrate = getenv("AGORA_TRAIN_CALIBRATE") != NULL;
  printf("nano from scratch: %d trainers, %d rounds of %d steps, k %d/4096, outer lr %.2f, momentum %.2f\n",
         K_TRAINERS, rounds, steps, k, olr, mu);
  double ratio = 0, eval_s = 0, step_s = 0, r2;
  double exact = run(init, &d, rounds, steps, k, olr, mu, 0, 0, &r2, NULL, &step_s);
  double comp = run(init, &d, rounds, steps, k, olr, mu, 1, calibrate, &ratio, &eval_s, NULL);
  char note[200];
  snprintf(note, sizeof note, "vs fp32: %zu bytes per trainer, target >= 100",
           (size_t)0);
  snprintf(note, sizeof note, "target >= 100 (k %d per 4096)", k);
  bench_report("training.compression_ratio", ratio, "x", note);
  snprintf(note, sizeof note, "vs exact DiLoCo: %.4f vs %.4f after %d rounds, target <= 1.03", comp, exact, rounds);
  bench_report("training.loss_gap", comp / exact, "ratio", note);
  snprintf(note, sizeof note, "vs one inner step: %.3f s, ratio %.2f", step_s, eval_s / step_s);
  bench_report("training.validator_eval_s", eval_s, "s", note);
  ag_model_close(init);
  ag_model_close(base);
  ag_diloco_data_free(&d);
  return 0;
}
