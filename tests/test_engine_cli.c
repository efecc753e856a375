/*
 * test_engine_cli.c — `agora model` end to end on a tiny corpus: train (twice, and resumed:
 * same model id), info --json, generate with the same seed (same text) and --commit, verify
 * (honest passes, a tampered receipt fails with exit 1), eval, export --gguf / import (same id),
 * and clean errors for bad input (corrupt model, bad sampling parameters, context overflow).
 */
#include "test.h"

#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[1024];

/* Runs an agora command line; returns its exit status and its stdout in out (if not NULL). */
static int run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t cap, const char *fmt, ...) {
  char args[3072], cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "cd '%s' && AGORA_HOME='%s/home' '%s' %s 2>>'%s/stderr.log'", dir, dir, AGORA_BIN, args, dir);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = 0;
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p)) > 0)
    if (out && n + k < cap) {
      memcpy(out + n, buf, k);
      n += k;
    }
  if (out) out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void json_field(const char *json, const char *key, char *out, size_t cap) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\": \"", key);
  const char *p = strstr(json, pat);
  out[0] = 0;
  if (!p) return;
  p += strlen(pat);
  size_t i = 0;
  while (p[i] && p[i] != '"' && i + 1 < cap) {
    out[i] = p[i];
    i++;
  }
  out[i] = 0;
}

static const char *TRAIN = "model train --preset tiny --text corpus.txt --vocab 300 --steps 6 "
                           "--batch 2 --seq 16 --eval-every 3 --save-every 3 --warmup 2";

TEST(cli_train_generate_verify_export) {
  snprintf(dir, sizeof dir, "%s/engine_cli_%d", AGORA_BUILD_DIR, (int)getpid());
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  CHECK_EQ(system(cmd), 0);
  char path[1200];
  snprintf(path, sizeof path, "%s/corpus.txt", dir);
  FILE *f = fopen(path, "w");
  for (int i = 0; i < 60; i++)
    fprintf(f, "Fortune %d: a penny saved is a penny earned; the early bird gets the worm.\n\n", i);
  fclose(f);
  static char out[1 << 16];
  char id1[80], id2[80], id3[80], idq[80];
  CHECK_EQ(run(out, sizeof out, "--json %s -o a -t 1", TRAIN), 0);
  json_field(out, "model_id", id1, sizeof id1);
  json_field(out, "model_q8_id", idq, sizeof idq);
  CHECK(strlen(id1) == 64);
  /* same command, 2 threads, fresh folder: same id */
  CHECK_EQ(run(out, sizeof out, "--json %s -o b -t 2", TRAIN), 0);
  json_field(out, "model_id", id2, sizeof id2);
  CHECK_STR(id1, id2);
  /* interrupted after 3 steps, resumed: same id */
  CHECK_EQ(run(out, sizeof out, "--json %s -o c --steps 3", TRAIN), 0);
  CHECK_EQ(run(out, sizeof out, "--json %s -o c --resume", TRAIN), 0);
  json_field(out, "model_id", id3, sizeof id3);
  CHECK_STR(id1, id3);
  /* info */
  CHECK_EQ(run(out, sizeof out, "--json model info a/model-q8.bin"), 0);
  CHECK(strstr(out, idq) != NULL && strstr(out, "\"weights\": \"q8\"") != NULL);
  /* generate: same seed, same text */
  char g1[4096], g2[4096];
  CHECK_EQ(run(g1, sizeof g1, "model generate -m a/model.bin -p Fortune -n 12 --seed 5 --temp 1"), 0);
  CHECK_EQ(run(g2, sizeof g2, "model generate -m a/model.bin -p Fortune -n 12 --seed 5 --temp 1 -t 1"), 0);
  CHECK_STR(g1, g2);
  /* receipts */
  CHECK_EQ(run(out, sizeof out, "model generate -m a/model-q8.bin -p penny -n 10 --seed 3 --commit r.bin"), 0);
  CHECK_EQ(run(out, sizeof out, "--json model verify r.bin -m a/model-q8.bin"), 0);
  CHECK(strstr(out, "\"ok\": true") != NULL);
  snprintf(cmd, sizeof cmd, "cd '%s' && cp r.bin bad.bin && printf '\\377' | dd of=bad.bin bs=1 seek=80 conv=notrunc 2>/dev/null", dir);
  CHECK_EQ(system(cmd), 0);
  CHECK_EQ(run(out, sizeof out, "--json model verify bad.bin -m a/model-q8.bin"), 1);
  CHECK(strstr(out, "\"ok\": false") != NULL);
  CHECK_EQ(run(out, sizeof out, "model verify r.bin -m a/model.bin"), 1); /* another model */
  /* eval */
  CHECK_EQ(run(out, sizeof out, "--json model eval -m a/model.bin"), 0);
  CHECK(strstr(out, "\"perplexity\"") != NULL);
  /* GGUF round trip */
  CHECK_EQ(run(out, sizeof out, "model export -m a/model-q8.bin --gguf m.gguf"), 0);
  CHECK_EQ(run(out, sizeof out, "--json model import m.gguf -o back.bin"), 0);
  char idb[80];
  json_field(out, "model_id", idb, sizeof idb);
  CHECK_STR(idb, idq);
  /* bad input: clean errors, never a crash */
  snprintf(cmd, sizeof cmd, "cd '%s' && head -c 1000 a/model.bin > trunc.bin && echo nonsense > junk.gguf", dir);
  CHECK_EQ(system(cmd), 0);
  CHECK_EQ(run(out, sizeof out, "--json model info trunc.bin"), 1);
  CHECK(strstr(out, "model_truncated") != NULL);
  CHECK_EQ(run(out, sizeof out, "--json model import junk.gguf -o x.bin"), 1);
  CHECK(strstr(out, "gguf_bad_magic") != NULL);
  CHECK_EQ(run(out, sizeof out, "--json model generate -m a/model.bin --temp -1"), 1);
  CHECK(strstr(out, "engine_bad_sampling") != NULL);
  CHECK_EQ(run(out, sizeof out, "--json model generate -m a/model.bin -n 100"), 1);
  CHECK(strstr(out, "engine_context_overflow") != NULL);
  CHECK_EQ(run(out, sizeof out, "model generate --help"), 0);
  CHECK(strstr(out, "--top-p") != NULL);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (!test_failed_checks) CHECK_EQ(system(cmd), 0);
}

TEST_MAIN(cli_train_generate_verify_export)
