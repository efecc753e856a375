/*
 * bench_ask.c — `agora ask`'s figures (docs/benchmarks.md):
 *   agent.ask_latency_s   wall time of `agora ask --dry-run --json` for a typical sentence, on 2
 *                         cores (a fresh process: model load, prompt, constrained decoding, the
 *                         resolver; no node, so no preview), median of 3; beside it the model's
 *                         own greedy generation of as many tokens after the same prompt, in
 *                         process (target <= 1.5 s)
 *   agent.ask_exact_match the sentence suite's exact-match rate (tests/ask/suite.json;
 *                         target >= 0.95)
 */
#include "bench.h"

#include "core/buf.h"
#include "core/err.h"
#include "engine/checkpoint.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "subnets/intent.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

#define MODEL AGORA_SRC_DIR "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define SENTENCE "send 5 AGR to alice"

static double median3(double a, double b, double c) {
  return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

int main(void) {
  if (access(MODEL, R_OK)) {
    fprintf(stderr, "bench_ask: %s is not installed (scripts/bootstrap models)\n", MODEL);
    return 0;
  }
  char home[] = "/tmp/agora-bench-ask-XXXXXX";
  if (!mkdtemp(home)) return 1;
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s --home %s --node http://127.0.0.1:1 --json ask --dry-run --threads 2 --model %s '%s' > %s/out.json 2>/dev/null",
           AGORA_BIN, home, MODEL, SENTENCE, home);
  double t[4]; /* the first run computes the prompt's cache (HOME/cache), the rest load it */
  for (int i = 0; i < 4; i++) {
    double t0 = bench_now();
    if (system(cmd) != 0) fprintf(stderr, "bench_ask: agora ask failed\n");
    t[i] = bench_now() - t0;
  }
  char path[200];
  snprintf(path, sizeof path, "%s/out.json", home);
  json_t *o = json_load_file(path, 0, NULL), *st = json_object_get(o, "stats");
  int out_tokens = (int)(json_integer_value(json_object_get(st, "sampled_tokens")) +
                         json_integer_value(json_object_get(st, "forced_tokens")));
  json_decref(o);
  /* the comparison: the model generating as many tokens after the same prompt, greedy */
  ag_model *m;
  ag_buf text;
  ag_buf_init(&text);
  ag_intent_prompt_text(SENTENCE, &text);
  uint32_t *ids = NULL;
  size_t n = 0;
  double g[3] = {0, 0, 0};
  if (ag_model_load(MODEL, &m, NULL) == 0 && ag_engine_encode(m, (const char *)text.data, text.len, &ids, &n) == 0) {
    uint32_t *toks = calloc((size_t)out_tokens + 1, sizeof *toks);
    ag_sampling sp;
    ag_sampling_defaults(&sp);
    sp.temperature = 0;
    sp.stop = -1;
    for (int i = 0; i < 3; i++) {
      int got = 0;
      double t0 = bench_now();
      ag_engine_generate(m, ids, (int)n, out_tokens, &sp, 2, toks, &got, NULL);
      g[i] = bench_now() - t0;
    }
    free(toks);
    free(ids);
    ag_model_close(m);
  }
  ag_buf_free(&text);
  double lat = median3(t[1], t[2], t[3]), gen = median3(g[0], g[1], g[2]);
  char note[400];
  snprintf(note, sizeof note, "target <= 1.5; '%s', %d output tokens, the prompt's cache loaded (the first run, computing it: %.3f s); the model generating the same tokens after the same %zu-token prompt takes %.3f s in process",
           SENTENCE, out_tokens, t[0], n, gen);
  bench_report("agent.ask_latency_s", lat, "s", note);
  /* the suite, in process */
  snprintf(cmd, sizeof cmd, "%s/tests/test_ask the_suite_is_understood_and_nothing_is_invented 2>&1 | grep ask_exact_match",
           AGORA_BUILD_DIR);
  FILE *p = popen(cmd, "r");
  char line[300] = "";
  if (p && fgets(line, sizeof line, p)) {
    double rate = 0;
    int a = 0, b = 0;
    if (sscanf(line, " agent.ask_exact_match %lf (%d of %d", &rate, &a, &b) == 3) {
      snprintf(note, sizeof note, "target >= 0.95; %d of %d sentences of tests/ask/suite.json", a, b);
      bench_report("agent.ask_exact_match", rate, "ratio", note);
    }
  }
  if (p) pclose(p);
  snprintf(cmd, sizeof cmd, "rm -rf %s", home);
  if (system(cmd) != 0) return 1;
  return 0;
}
