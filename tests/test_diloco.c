/*
 * test_diloco.c — a training subnet round's computations (subnets/diloco.h) give the same
 * bytes and scores on every SIMD path and thread count, and the bytes the pins in this file
 * name (tests/testutil.h test_pinned): trainers, validators and the chain's 2/3 agreement on
 * a round's checkpoint all rest on that, across machines. A fresh model of the demo model's
 * tokenizer and synthetic shards (not the corpus, whose Debian package may change), so only
 * the engine's definition can move the pins.
 */
#include "test.h"
#include "testutil.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "engine/detmath.h"
#include "subnets/diloco.h"

#define STEPS 3
#define SHARD 2048

typedef struct {
  uint8_t blob[2][32]; /* two trainers' blobs */
  uint64_t score[2];
  uint8_t file[32]; /* the aggregated checkpoint file */
} round_out;

/* A text a few steps can learn: one 37-token phrase over and over, from a different place in
 * it for each shard (random tokens give no training signal, hence scores of 0). */
static void shard_of(uint16_t *t, size_t n, uint64_t start, int vocab) {
  for (size_t i = 0; i < n; i++) t[i] = (uint16_t)ag_philox_below(42, (start + i) % 37, 0, (uint64_t)vocab);
}

/* Two trainers run a round from m, a validator scores both blobs and aggregates them. */
static void one_round(ag_model *m, int threads, round_out *o) {
  static uint16_t own[2][SHARD], rnd[SHARD];
  int V = m->cfg.vocab_size;
  for (int k = 0; k < 2; k++) shard_of(own[k], SHARD, 5 + 11 * (uint64_t)k, V);
  shard_of(rnd, SHARD, 30, V);
  size_t np = 0;
  ag_model_params(m, &np);
  ag_pgrad_hdr h = {.netuid = 2, .chunk = AG_PGRAD_CHUNK, .k = 32, .round = 1, .n = np};
  memcpy(h.base, m->id, 32);
  ag_buf blob[2];
  for (int k = 0; k < 2; k++) {
    ag_buf_init(&blob[k]);
    ag_dworker *w = NULL;
    CHECK_OK(ag_dworker_open(m, threads, 7 + (uint64_t)k, &w));
    if (!w) return;
    ag_tokens sh = {own[k], SHARD};
    double loss;
    CHECK_OK(ag_dworker_round(w, m, &sh, STEPS, &h, &blob[k], &loss));
    ag_dworker_close(w);
    ag_hash("agora/test", blob[k].data, blob[k].len, o->blob[k]);
  }
  ag_dscorer *sc = NULL;
  CHECK_OK(ag_dscorer_open(m, threads, &sc));
  ag_tokens r = {rnd, SHARD};
  double rnd_before = 0;
  CHECK_OK(ag_dscorer_base_loss(sc, &r, 11, &rnd_before));
  for (int k = 0; k < 2 && sc; k++) {
    ag_tokens sh = {own[k], SHARD};
    ag_dscore s = {0};
    CHECK_OK(ag_dscorer_base_loss(sc, &sh, 11, &s.own_before));
    s.rnd_before = rnd_before;
    CHECK_OK(ag_dscorer_score(sc, blob[k].data, blob[k].len, &h, &sh, &r, 11, &s));
    o->score[k] = s.score;
  }
  ag_dscorer_close(sc);
  const uint8_t *bp[2] = {blob[0].data, blob[1].data};
  size_t bl[2] = {blob[0].len, blob[1].len};
  ag_buf file;
  ag_buf_init(&file);
  uint8_t id[32];
  CHECK_OK(ag_diloco_aggregate(m, NULL, bp, bl, 2, &h, 0.7f, 0.9f, &file, id, o->file));
  ag_buf_free(&file);
  for (int k = 0; k < 2; k++) ag_buf_free(&blob[k]);
}

TEST(a_round_gives_the_pinned_bytes_on_every_path) {
  char path[1024];
  snprintf(path, sizeof path, "%s/models/agora-nano.bin", AGORA_SRC_DIR);
  ag_model *like = NULL, *m = NULL;
  CHECK_OK(ag_model_load(path, &like, NULL));
  if (!like) return;
  CHECK_OK(ag_diloco_init_model(like, 5, 64, 2, &m));
  if (!m) return;
  static const char *const want_blob[2] = {"580c77457b532624917b860119c65a87c1f2a9dc69c95c29c2b9b4490f141247",
                                           "ff8074d030ac42d7d271ff5b97ced153c6cafe5be4910894e32e558affbcfd69"};
  static const char want_file[] = "5f3a0b2225e4283ad9618b309eb25af3b7dc2fc5996eee496f284f739c9538c4";
  static const uint64_t want_score[2] = {107295, 108021}; /* millionths of a nat: both pass the test */
  int best = ag_simd_best();
  for (int l = AG_SIMD_SCALAR; l <= best; l++)
    for (int th = 1; th <= 2 + (l == best); th++) { /* and 3 (uneven splits) on the best path */
      ag_simd_set(l);
      round_out o;
      memset(&o, 0, sizeof o);
      one_round(m, th, &o);
      char what[160];
      for (int k = 0; k < 2; k++) {
        snprintf(what, sizeof what, "trainer %d's blob, %s path, %d thread(s)", k, ag_simd_name(l), th);
        CHECK(test_pinned(what, o.blob[k], want_blob[k]));
        if (o.score[k] != want_score[k])
          fprintf(stderr, "  trainer %d's score, %s path, %d thread(s): %llu where the pin is %llu\n", k,
                  ag_simd_name(l), th, (unsigned long long)o.score[k], (unsigned long long)want_score[k]);
        CHECK_U64(o.score[k], want_score[k]);
      }
      snprintf(what, sizeof what, "the aggregated checkpoint, %s path, %d thread(s)", ag_simd_name(l), th);
      CHECK(test_pinned(what, o.file, want_file));
    }
  ag_simd_set(best);
  ag_model_close(m);
  ag_model_close(like);
}

TEST_MAIN(a_round_gives_the_pinned_bytes_on_every_path)
