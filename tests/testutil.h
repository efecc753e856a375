/* testutil.h — helpers shared by tests: temp folders, deterministic keys. */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

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

static inline void test_rmdir(char *dir) {
  if (ag_rm_tree(dir)) fprintf(stderr, "could not remove %s\n", dir);
  free(dir);
}

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
