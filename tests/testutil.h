/* testutil.h — helpers shared by tests: temp folders, deterministic keys. */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

#include "core/codec.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh folder under $TMPDIR (or /tmp); removed by test_rmdir. */
static inline char *test_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  char tmpl[512];
  snprintf(tmpl, sizeof tmpl, "%s/agora-%s-XXXXXX", base && *base ? base : "/tmp", tag);
  char *d = mkdtemp(tmpl);
  if (!d) {
    perror("mkdtemp");
    exit(2);
  }
  return strdup(d);
}

/* A digest of results the engine's definition fixes (docs/engine.md): the same on every
 * machine, path and thread count, so pinned here as hex. A mismatch means receipts and
 * checkpoints made by other builds or machines no longer verify against this one. */
static inline int test_pinned(const char *what, const uint8_t got[32], const char *want_hex) {
  char hex[65];
  ag_hex_encode(got, 32, hex);
  if (!strcmp(hex, want_hex)) return 1;
  fprintf(stderr,
          "  %s: the engine computed %s where its definition pins %s. Results differ from those of"
          " earlier builds (or of another machine): their receipts would not verify here. If the"
          " definition changed on purpose, docs/engine.md says so and this pin moves with it.\n",
          what, hex, want_hex);
  return 0;
}

/* Every position's logits of a forward pass, as ag_infer_forward's fn: row pos of all (V each). */
typedef struct {
  float *all;
  int V;
} test_logits;

static inline int test_keep_logits(void *ctx, int pos, const float *logits) {
  test_logits *t = ctx;
  memcpy(t->all + (size_t)pos * (size_t)t->V, logits, sizeof(float) * (size_t)t->V);
  return 0;
}

static inline void test_rmdir(char *dir) {
  if (ag_rm_tree(dir)) fprintf(stderr, "could not remove %s\n", dir);
  free(dir);
}

#ifdef AGORA_SRC_DIR
/* Whether data, as hex, is the frozen vector tests/vectors/NAME (trailing blanks aside: a change
 * there is a consensus change). When it is not, or the file is missing, prints this run's hex. */
static inline int test_frozen_hex(const char *name, const uint8_t *data, size_t len) {
  char path[512], *hex = malloc(2 * len + 1);
  snprintf(path, sizeof path, "%s/tests/vectors/%s", AGORA_SRC_DIR, name);
  ag_hex_encode(data, len, hex);
  uint8_t *want = NULL;
  size_t wlen = 0;
  int same = 0;
  if (ag_read_file(path, 1 << 20, &want, &wlen) == 0) {
    while (wlen && (want[wlen - 1] == '\n' || want[wlen - 1] == ' ')) wlen--;
    same = wlen == 2 * len && !memcmp(want, hex, wlen);
    free(want);
  }
  if (!same) fprintf(stderr, "  %s differs or is missing; this run's bytes:\n%s\n", path, hex);
  free(hex);
  return same;
}
#endif

/* Key number i, the same in every run. */
static inline void test_key(ag_keypair *k, unsigned i) {
  uint8_t seed[32] = {0};
  seed[0] = (uint8_t)i;
  seed[1] = (uint8_t)(i >> 8);
  seed[31] = 0x5a;
  ag_key_from_seed(k, seed);
}

/* xorshift64*: reproducible pseudo-random numbers for property tests. */
static inline uint64_t test_rand(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

#endif
