/*
 * bench_models.c — the engine on real published GGUF files against llama.cpp on the same file,
 * the same machine, the same thread count, in the same run (make bench; llama.cpp's own
 * llama-bench built by `scripts/bootstrap llamacpp-tools` from the llama-cpp-python 0.3.36
 * sdist, outside the repository):
 *   engine.decode_vs_llamacpp.smollm2_q4_1.t1|t2   our decode tok/s / llama-bench tg tok/s
 *   engine.prefill_vs_llamacpp.smollm2_q4_1.t1|t2  our prefill tok/s / llama-bench pp tok/s
 *   engine.{decode,prefill}_vs_llamacpp.smollm2_q8_0  the same on a Q8_0 file llama-quantize
 *                                                  makes from the Q4_1 one
 *   engine.decode_vs_llamacpp.smollm2_q4_1.d2048.t1|t2  decode after 2048 tokens in the context
 *                                                  (a long conversation) / llama-bench tg at -d 2048
 *                                                  (BENCH_DEPTH=N: after N tokens, figure .dN)
 *   engine.gemma3_decode_vs_llamacpp.t1|t2         the same for Gemma 3 270M Q4_K_M
 *   engine.decode_bandwidth_fraction.smollm2_q4_1  weight bytes read per token x tok/s (1 thread)
 *                                                  / a streaming read loop's bytes/s (1 thread)
 *   engine.verify_vs_generate.smollm2_q4_1         verifying a 64-token answer / generating it
 *   engine.decode_peak_mb.smollm2_q4_1             peak RSS decoding, against file x 1.2 + KV
 *   engine.top_p_vs_greedy.gemma3                  generating with top_p 0.9 and no top_k (the whole
 *                                                  vocabulary ranked every token) / greedy, 1 thread
 *   engine.penalties_vs_none.gemma3                the same with frequency and presence penalties 0.5
 *                                                  / without, 1 thread
 *   engine.prefill_fma_fraction.smollm2_q8_0       the prefill's matrix flops per second (1 thread)
 *                                                  / a loop of independent fp32 FMAs on the same
 *                                                  vectors (1 thread): how near the arithmetic peak
 *                                                  the exact fp32 definition of the kernels runs
 * Decode: 64 tokens after a 16-token prompt (llama-bench: -p 0 -n 64); prefill: 128 tokens
 * (-p 128 -n 0) on a warm state, as llama-bench times its context (a warm-up pass, then the KV
 * cache cleared), with the figure on a fresh state in the note. Best of 3 on both sides: the
 * machine is shared and noisy.
 */
#include "bench.h"

#include "core/util.h"
#include "engine/engine.h"
#include "engine/kernels.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MODELS AGORA_SRC_DIR "/.cache/models"
#define LLAMA_BENCH AGORA_SRC_DIR "/.cache/llamacpp/bin/llama-bench"
#define LLAMA_QUANTIZE AGORA_SRC_DIR "/.cache/llamacpp/bin/llama-quantize"

/* llama-bench's mean tokens/s for one test (pp P or tg N, after depth tokens already in the
 * context), best of its repetitions' mean (3; 2 with a depth, whose context it fills each time). */
static double llama_bench_d(const char *file, int threads, int pp, int tg, int depth) {
  char cmd[1500];
  snprintf(cmd, sizeof cmd, "'%s' -m '%s' -t %d -p %d -n %d -d %d -r %d -o json 2>/dev/null", LLAMA_BENCH, file, threads,
           pp, tg, depth, depth ? 2 : 3);
  FILE *f = popen(cmd, "r");
  if (!f) return 0;
  ag_buf b;
  ag_buf_init(&b);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) ag_buf_put(&b, chunk, n);
  pclose(f);
  json_t *j = json_loadb(b.data ? (const char *)b.data : "", b.len, 0, NULL);
  ag_buf_free(&b);
  double v = 0;
  for (size_t i = 0; i < json_array_size(j); i++) {
    json_t *samples = json_object_get(json_array_get(j, i), "samples_ts");
    for (size_t k = 0; k < json_array_size(samples); k++) v = fmax(v, json_number_value(json_array_get(samples, k)));
    if (!json_array_size(samples)) v = fmax(v, json_number_value(json_object_get(json_array_get(j, i), "avg_ts")));
  }
  json_decref(j);
  return v;
}

static double llama_bench(const char *file, int threads, int pp, int tg) { return llama_bench_d(file, threads, pp, tg, 0); }

/* Seconds to decode n tokens greedily from the logits l (of V) the state s left. */
static double greedy_s(ag_infer *s, float *l, int V, int n) {
  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    uint32_t t = 0;
    for (int v = 1; v < V; v++)
      if (l[v] > l[t]) t = (uint32_t)v;
    ag_infer_forward(s, &t, 1, l, NULL, NULL);
  }
  return bench_now() - t0;
}

/* Decode of n tokens after depth tokens already in the cache (a long conversation): the cache is
 * filled once, then each of 3 runs starts again from depth (ag_infer_rewind); the best. */
static double decode_deep(const ag_model *m, int threads, int depth, int n) {
  ag_infer *s;
  if (ag_infer_open(m, 256, threads, &s)) return 0;
  uint32_t *prompt = malloc(sizeof(uint32_t) * (size_t)depth);
  for (int i = 0; i < depth; i++) prompt[i] = (uint32_t)(100 + 37 * i) % (uint32_t)m->cfg.vocab_size;
  float *l = malloc(sizeof(float) * (size_t)m->cfg.vocab_size), *l0 = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
  ag_infer_forward(s, prompt, depth, l0, NULL, NULL);
  double best = 0;
  for (int r = 0; r < 3; r++) {
    ag_infer_rewind(s, depth);
    memcpy(l, l0, sizeof(float) * (size_t)m->cfg.vocab_size);
    best = fmax(best, n / greedy_s(s, l, m->cfg.vocab_size, n));
  }
  free(prompt), free(l), free(l0);
  ag_infer_close(s);
  return best;
}

static double decode_once(const ag_model *m, int threads, int n) {
  ag_infer *s;
  if (ag_infer_open(m, 16, threads, &s)) return 0;
  uint32_t prompt[16];
  for (int i = 0; i < 16; i++) prompt[i] = (uint32_t)(100 + 37 * i) % (uint32_t)m->cfg.vocab_size;
  float *l = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
  ag_infer_forward(s, prompt, 16, l, NULL, NULL);
  double el = greedy_s(s, l, m->cfg.vocab_size, n);
  free(l);
  ag_infer_close(s);
  return n / el;
}

/* Generation of n tokens after a 16-token prompt with the receipt, as a miner serves it. */
static double generate_once(const ag_model *m, int threads, int n, float temperature, float top_p, int top_k,
                            float penalty) {
  uint32_t prompt[16], *out = malloc(sizeof(uint32_t) * (size_t)n);
  for (int i = 0; i < 16; i++) prompt[i] = (uint32_t)(100 + 37 * i) % (uint32_t)m->cfg.vocab_size;
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  sp.stop = -1, sp.temperature = temperature, sp.top_p = top_p, sp.top_k = top_k;
  sp.frequency_penalty = sp.presence_penalty = penalty;
  ag_buf rec;
  ag_buf_init(&rec);
  int got = 0;
  double t0 = bench_now();
  int rc = ag_engine_generate(m, prompt, 16, n, &sp, threads, out, &got, &rec);
  double el = bench_now() - t0;
  ag_buf_free(&rec);
  free(out);
  return rc || got != n ? 0 : n / el;
}
static double greedy_once(const ag_model *m, int th, int n) { return generate_once(m, th, n, 0.0f, 1.0f, 0, 0); }
/* top_p without top_k, as an OpenAI client asks (its API has no top_k) */
static double top_p_once(const ag_model *m, int th, int n) { return generate_once(m, th, n, 0.8f, 0.9f, 0, 0); }
/* the same with OpenAI's penalties (each output token's row copied and penalized first) */
static double top_p_pen_once(const ag_model *m, int th, int n) { return generate_once(m, th, n, 0.8f, 0.9f, 0, 0.5f); }

/* A prefill of n tokens on a warm state, as llama-bench times it (a warm-up pass, then the KV
 * cache cleared): the state's pages are touched by the warm-up, and a server reuses its state
 * between requests. With cold set, on a fresh state (its first touch of the KV cache and
 * scratch pages timed too). */
static double prefill_run(const ag_model *m, int threads, int n, int cold) {
  ag_infer *s;
  if (ag_infer_open(m, n, threads, &s)) return 0;
  uint32_t *p = malloc(sizeof(uint32_t) * (size_t)n);
  for (int i = 0; i < n; i++) p[i] = (uint32_t)(100 + 37 * i) % (uint32_t)m->cfg.vocab_size;
  float *l = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
  if (!cold) {
    ag_infer_forward(s, p, n, l, NULL, NULL);
    ag_infer_reset(s);
  }
  double t0 = bench_now();
  ag_infer_forward(s, p, n, l, NULL, NULL);
  double el = bench_now() - t0;
  free(p);
  free(l);
  ag_infer_close(s);
  return n / el;
}

static double prefill_once(const ag_model *m, int threads, int n) { return prefill_run(m, threads, n, 0); }
static double prefill_cold(const ag_model *m, int threads, int n) { return prefill_run(m, threads, n, 1); }

static double best3(double (*f)(const ag_model *, int, int), const ag_model *m, int th, int n) {
  double b = 0;
  for (int i = 0; i < 3; i++) b = fmax(b, f(m, th, n));
  return b;
}

/* Bytes of every matrix the decode of one token reads (the tied output is token_embd again). */
static double weight_bytes(const ag_model *m) {
  double b = 0;
  const ag_mat *all[] = {m->wq, m->wk, m->wv, m->wo, m->w1, m->w2, m->w3};
  for (int k = 0; k < 7; k++)
    for (int l = 0; l < m->cfg.n_layers; l++)
      b += (double)ag_mat_bytes(all[k][l].type, (size_t)all[k][l].rows, (size_t)all[k][l].cols);
  b += (double)ag_mat_bytes(m->out.type, (size_t)m->out.rows, (size_t)m->out.cols);
  return b;
}

/* Multiply-adds of every matrix one token passes through (x 2: flops). */
static double matrix_flops(const ag_model *m) {
  double f = 0;
  const ag_mat *all[] = {m->wq, m->wk, m->wv, m->wo, m->w1, m->w2, m->w3};
  for (int k = 0; k < 7; k++)
    for (int l = 0; l < m->cfg.n_layers; l++) f += 2.0 * all[k][l].rows * all[k][l].cols;
  return f + 2.0 * m->out.rows * m->out.cols;
}

#if defined(__x86_64__)
/* The fp32 FMA peak of one thread: 16 independent chains of fused multiply-adds on the vectors
 * the engine's kernels use (16 lanes with AVX-512, 8 with AVX2), flops/s, best of 3. */
#define FMA_PEAK(name, attr, V, W, set1, fmadd, add, store)                                       \
  attr static double name(long iters) {                                                          \
    double best = 0;                                                                             \
    for (int r = 0; r < 3; r++) {                                                                \
      V a[16], x = set1(0.999999f), y = set1(1e-7f);                                             \
      _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) a[i] = set1((float)i);               \
      double t0 = bench_now();                                                                   \
      for (long k = 0; k < iters; k++)                                                           \
        _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) a[i] = fmadd(a[i], x, y);          \
      double el = bench_now() - t0;                                                              \
      V s = a[0];                                                                                \
      _Pragma("GCC unroll 16") for (int i = 1; i < 16; i++) s = add(s, a[i]);                    \
      float out[W];                                                                              \
      store(out, s);                                                                             \
      volatile float sink = out[0];                                                              \
      (void)sink;                                                                                \
      best = fmax(best, 16.0 * W * 2 * (double)iters / el);                                     \
    }                                                                                            \
    return best;                                                                                 \
  }
FMA_PEAK(fma_peak_512, __attribute__((target("avx512f"))), __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps,
         _mm512_add_ps, _mm512_storeu_ps)
FMA_PEAK(fma_peak_256, __attribute__((target("avx2,fma"))), __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps,
         _mm256_add_ps, _mm256_storeu_ps)
#endif

static double fma_peak(void) {
#if defined(__x86_64__)
  if (ag_simd_get() == AG_SIMD_AVX512) return fma_peak_512(20000000);
  if (ag_simd_get() == AG_SIMD_AVX2) return fma_peak_256(20000000);
#endif
  return 0;
}

/* A streaming read of 512 MiB, one thread: bytes/s, best of 3. */
static double read_bandwidth(void) {
  size_t n = (size_t)512 << 20;
  uint64_t *a = malloc(n);
  memset(a, 1, n);
  double best = 0;
  for (int r = 0; r < 3; r++) {
    double t0 = bench_now();
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) s0 += a[i], s1 += a[i + 1], s2 += a[i + 2], s3 += a[i + 3];
    double el = bench_now() - t0;
    volatile uint64_t sink = s0 + s1 + s2 + s3;
    (void)sink;
    best = fmax(best, (double)n / el);
  }
  free(a);
  return best;
}

static int peak_child(const char *path) {
  ag_model *m;
  if (ag_model_load(path, &m, NULL)) return 1;
  decode_once(m, 1, 64);
  ag_model_close(m);
  return 0;
}

static double peak_mb(const char *self, const char *path, double *kv_mb) {
  pid_t p = fork();
  if (p == 0) {
    execl(self, self, "--peak-child", path, (char *)NULL);
    _exit(127);
  }
  int st;
  struct rusage ru;
  if (wait4(p, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return 0;
  ag_model *m;
  if (!ag_model_load(path, &m, NULL)) {
    ag_infer *s;
    if (!ag_infer_open(m, 16, 1, &s)) {
      *kv_mb = (double)ag_infer_bytes(s) / 1048576.0;
      ag_infer_close(s);
    }
    ag_model_close(m);
  }
  return (double)ru.ru_maxrss / 1024.0;
}

/* SmolLM2 as Q8_0: no registry package ships one, so llama.cpp's own llama-quantize makes it
 * from the Q4_1 file (--allow-requantize: the weights are the Q4_1 values written as Q8_0,
 * which is all a speed comparison needs), once, beside this binary. NULL when it cannot. */
static const char *smollm2_q8_0(const char *self, const char *q4_1, char *path, size_t cap) {
  const char *slash = strrchr(self, '/');
  snprintf(path, cap, "%.*s/smollm2-135m-instruct.q8_0.gguf", slash ? (int)(slash - self) : 1, slash ? self : ".");
  if (ag_file_exists(path)) return path;
  if (!ag_file_exists(LLAMA_QUANTIZE)) return NULL;
  char cmd[5000];
  snprintf(cmd, sizeof cmd, "'%s' --allow-requantize '%s' '%s.tmp' Q8_0 >/dev/null 2>&1 && mv '%s.tmp' '%s'", LLAMA_QUANTIZE,
           q4_1, path, path, path);
  return system(cmd) == 0 && ag_file_exists(path) ? path : NULL;
}

/* Ours against llama-bench on the same file and threads: decode of 64 tokens (-p 0 -n 64), or
 * with prefill set a prefill of 128 (-p 128 -n 0). */
static void versus_mode(const char *name, const char *file, int threads, int prefill) {
  ag_model *m;
  if (ag_model_load(file, &m, NULL)) return;
  char n1[96], note[300];
  double ours = prefill ? best3(prefill_once, m, threads, 128) : best3(decode_once, m, threads, 64);
  double cold = prefill ? best3(prefill_cold, m, threads, 128) : 0;
  double ref = prefill ? llama_bench(file, threads, 128, 0) : llama_bench(file, threads, 0, 64);
  snprintf(n1, sizeof n1, "engine.%s.t%d", name, threads);
  char extra[80] = "";
  if (prefill) snprintf(extra, sizeof extra, " (on a fresh state %.1f, ratio %.2f)", cold, ref > 0 ? cold / ref : 0);
  snprintf(note, sizeof note, "ours %.1f vs llama.cpp %.1f tok/s %s%s, %d thread(s); target >= 1.0", ours, ref,
           prefill ? "prefill of 128, warm state" : "decode", extra, threads);
  if (ref > 0) bench_report(n1, ours / ref, "ratio", note);
  else printf("%-34s unavailable: no llama-bench at %s\n", n1, LLAMA_BENCH);
  ag_model_close(m);
}

static void versus(const char *name, const char *file, int threads) { versus_mode(name, file, threads, 0); }
static void versus_prefill(const char *name, const char *file, int threads) { versus_mode(name, file, threads, 1); }

/* Decode of 64 tokens after depth in the context, ours against llama-bench (-p 0 -n 64 -d depth):
 * engine.<name>.d<depth>.t<threads>. */
static void versus_deep(const char *name, const char *file, int depth, int threads) {
  ag_model *m;
  if (ag_model_load(file, &m, NULL)) return;
  char n1[96], note[300];
  double ours = decode_deep(m, threads, depth, 64), ref = llama_bench_d(file, threads, 0, 64, depth);
  snprintf(n1, sizeof n1, "engine.%s.d%d.t%d", name, depth, threads);
  snprintf(note, sizeof note, "ours %.1f vs llama.cpp %.1f tok/s decode after %d tokens, %d thread(s)", ours, ref, depth,
           threads);
  if (ref > 0) bench_report(n1, ours / ref, "ratio", note);
  else printf("%-34s unavailable: no llama-bench at %s\n", n1, LLAMA_BENCH);
  ag_model_close(m);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--peak-child")) return peak_child(argv[2]);
  const char *smol = MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf", *gemma = MODELS "/gemma-3-270m-q4_k_m.gguf";
  if (!ag_file_exists(smol) || !ag_file_exists(gemma)) {
    printf("bench_models: the real models are not installed (scripts/bootstrap models)\n");
    return 1;
  }
  printf("SIMD path: %s\n", ag_simd_name(ag_simd_get()));
  char note[300];
  for (int th = 1; th <= 2; th++) versus("decode_vs_llamacpp.smollm2_q4_1", smol, th);
  for (int th = 1; th <= 2; th++) versus_prefill("prefill_vs_llamacpp.smollm2_q4_1", smol, th);
  /* BENCH_DEPTH=N measures after N positions instead (1..4000) */
  const char *dv = getenv("BENCH_DEPTH");
  int depth = dv && atoi(dv) >= 1 && atoi(dv) <= 4000 ? atoi(dv) : 2048;
  for (int th = 1; th <= 2; th++) versus_deep("decode_vs_llamacpp.smollm2_q4_1", smol, depth, th);
  char q8path[1200];
  const char *q8 = smollm2_q8_0(argv[0], smol, q8path, sizeof q8path);
  if (q8) {
    for (int th = 1; th <= 2; th++) versus("decode_vs_llamacpp.smollm2_q8_0", q8, th);
    for (int th = 1; th <= 2; th++) versus_prefill("prefill_vs_llamacpp.smollm2_q8_0", q8, th);
  } else printf("engine.*.smollm2_q8_0 unavailable: no llama-quantize at %s\n", LLAMA_QUANTIZE);
  ag_model *m;
  if (ag_model_load(smol, &m, NULL)) return 1;
  /* bandwidth: what the decode reads per token, against what a read loop achieves */
  {
    double wb = weight_bytes(m), tps = best3(decode_once, m, 1, 64), bw = read_bandwidth();
    snprintf(note, sizeof note, "%.1f MB of weights per token x %.1f tok/s = %.2f GB/s vs a read loop %.2f GB/s (1 thread); target >= 0.7",
             wb / 1e6, tps, wb * tps / 1e9, bw / 1e9);
    bench_report("engine.decode_bandwidth_fraction.smollm2_q4_1", wb * tps / bw, "ratio", note);
  }
  /* verify vs generate: 64 greedy tokens after a 32-token prompt, then the receipt verified */
  {
    uint32_t prompt[32], out[64];
    for (int i = 0; i < 32; i++) prompt[i] = (uint32_t)(200 + 53 * i) % (uint32_t)m->cfg.vocab_size;
    ag_sampling sp;
    ag_sampling_defaults(&sp);
    sp.stop = -1;
    double tg = 1e9, tv = 1e9;
    int bad = 0, n = 0;
    for (int r = 0; r < 3; r++) {
      ag_buf rec;
      ag_buf_init(&rec);
      double t0 = bench_now();
      ag_engine_generate(m, prompt, 32, 64, &sp, 2, out, &n, &rec);
      tg = fmin(tg, bench_now() - t0);
      ag_verify_report rep;
      t0 = bench_now();
      bad |= ag_receipt_verify(m, rec.data, rec.len, 2, &rep) != 0;
      tv = fmin(tv, bench_now() - t0);
      ag_buf_free(&rec);
    }
    snprintf(note, sizeof note, "verify %.3f s vs generate %.3f s (%d tokens, 2 threads, %s); target <= 0.05", tv, tg, n,
             bad ? "FAILED" : "honest");
    bench_report("engine.verify_vs_generate.smollm2_q4_1", tv / tg, "ratio", note);
  }
  ag_model_close(m);
  /* peak memory: the file is mapped, nothing widened */
  {
    double kv = 0, mb = peak_mb(argv[0], smol, &kv);
    double file = 0;
    FILE *f = fopen(smol, "rb");
    if (f) {
      fseek(f, 0, SEEK_END);
      file = (double)ftell(f) / 1048576.0;
      fclose(f);
    }
    snprintf(note, sizeof note, "limit %.1f MB = 1.2 x %.1f MB file + %.1f MB KV cache and scratch; ratio %.2f",
             1.2 * file + kv, file, kv, mb / (1.2 * file + kv));
    bench_report("engine.decode_peak_mb.smollm2_q4_1", mb, "MB", note);
  }
  /* the prefill's arithmetic against the machine's: how near the fp32 peak the exact kernels run */
  if (q8 && !ag_model_load(q8, &m, NULL)) {
    double tps = best3(prefill_once, m, 1, 128), fl = matrix_flops(m), peak = fma_peak();
    snprintf(note, sizeof note, "%.1f Mflop of matrices per token x %.1f tok/s (prefill of 128, 1 thread) = %.1f GFLOP/s vs an FMA loop %.1f GFLOP/s (%s, 1 thread)",
             fl / 1e6, tps, fl * tps / 1e9, peak / 1e9, ag_simd_name(ag_simd_get()));
    if (peak > 0) bench_report("engine.prefill_fma_fraction.smollm2_q8_0", fl * tps / peak, "ratio", note);
    ag_model_close(m);
  }
  for (int th = 1; th <= 2; th++) versus("gemma3_decode_vs_llamacpp", gemma, th);
  /* sampling as OpenAI clients ask: the whole vocabulary ranked for every token */
  if (!ag_model_load(gemma, &m, NULL)) {
    double tp = best3(top_p_once, m, 1, 64), gr = best3(greedy_once, m, 1, 64), pen = best3(top_p_pen_once, m, 1, 64);
    snprintf(note, sizeof note, "generating 64 tokens with top_p 0.9, top_k 0, temperature 0.8: %.1f tok/s vs greedy %.1f tok/s (receipts on both, 1 thread)",
             tp, gr);
    if (gr > 0) bench_report("engine.top_p_vs_greedy.gemma3", tp / gr, "ratio", note);
    snprintf(note, sizeof note, "the same with frequency and presence penalties 0.5: %.1f tok/s vs %.1f tok/s without", pen, tp);
    if (tp > 0) bench_report("engine.penalties_vs_none.gemma3", pen / tp, "ratio", note);
    ag_model_close(m);
  }
  return 0;
}
