/*
 * test_pgrad.c — the compressed pseudo-gradient (src/engine/pgrad.h): the selection against a
 * sort-based reference, quantization error and error feedback, the exact size and the
 * compression ratio of the defaults, a golden blob, every decoder refusal with its code (and
 * the accumulator left alone), and the overlap used to spot copied submissions.
 */
#include "test.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/pgrad.h"

#include <float.h>
#include <math.h>
#include <time.h>

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Roughly bell-shaped values in (-3, 3), with 24 bits of precision. */
static void fill(float *x, uint64_t n, uint64_t seed) {
  for (uint64_t i = 0; i < n; i++) {
    float s = 0;
    for (int j = 0; j < 3; j++) s += (float)(rng_next(&seed) >> 40) / 16777216.0f * 2 - 1;
    x[i] = s;
  }
}

static ag_pgrad_hdr hdr(uint64_t n, uint32_t chunk, uint32_t k) {
  ag_pgrad_hdr h = {.netuid = 3, .chunk = chunk, .k = k, .round = 11, .n = n};
  for (int i = 0; i < 32; i++) h.base[i] = (uint8_t)(0xA0 + i);
  return h;
}

static float *dup_floats(const float *x, uint64_t n) {
  float *y = malloc(n * sizeof *y + 1);
  memcpy(y, x, n * sizeof *y);
  return y;
}

/* Reference selection: sort a chunk's indices by (|x| desc, index asc), keep the first kc. */
static const float *ref_x;
static int ref_cmp(const void *a, const void *b) {
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  float fi = fabsf(ref_x[i]), fj = fabsf(ref_x[j]);
  if (fi != fj) return fi > fj ? -1 : 1;
  return i < j ? -1 : 1;
}

/* Encodes x (n floats), applies the blob into zeros and checks selection, quantization and
 * error feedback chunk by chunk against the reference. */
static void round_trip(const float *x, uint64_t n, uint32_t chunk, uint32_t k) {
  ag_pgrad_hdr h = hdr(n, chunk, k);
  float *e = dup_floats(x, n), *acc = calloc(n, sizeof *acc);
  uint8_t *sel = calloc(n, 1);
  ag_buf out;
  ag_buf_init(&out);
  ag_buf_put(&out, "xy", 2); /* encode appends */
  CHECK_OK(ag_pgrad_encode(&h, e, &out));
  CHECK_EQ(out.len, 2 + ag_pgrad_size(n, chunk, k));
  CHECK_MEM(out.data, "xy", 2);
  ag_pgrad_hdr got;
  CHECK_OK(ag_pgrad_check(out.data + 2, out.len - 2, &h, out.len - 2, &got));
  CHECK(got.n == n && got.chunk == chunk && got.k == k && got.round == 11 && got.netuid == 3);
  CHECK_OK(ag_pgrad_apply(out.data + 2, out.len - 2, &h, 1.0f, acc));
  float *half = calloc(n, sizeof *half);
  CHECK_OK(ag_pgrad_apply(out.data + 2, out.len - 2, &h, 0.5f, half));
  int bad_alpha = 0;
  for (uint64_t i = 0; i < n; i++) bad_alpha += half[i] != 0.5f * acc[i];
  CHECK_OK(ag_pgrad_apply(out.data + 2, out.len - 2, NULL, -2.0f, half));
  for (uint64_t i = 0; i < n; i++) bad_alpha += half[i] != -1.5f * acc[i];
  CHECK_EQ(bad_alpha, 0);
  free(half);
  uint32_t *order = malloc(chunk * sizeof *order);
  int bad_sel = 0, bad_q = 0, bad_fb = 0;
  for (uint64_t c0 = 0; c0 < n; c0 += chunk) {
    uint32_t len = (uint32_t)AG_MIN((uint64_t)chunk, n - c0), kc = AG_MIN(k, len);
    for (uint32_t j = 0; j < len; j++) order[j] = j;
    ref_x = x + c0;
    qsort(order, len, sizeof *order, ref_cmp);
    float maxabs = 0;
    for (uint32_t j = 0; j < kc; j++) {
      sel[c0 + order[j]] = 1;
      maxabs = AG_MAX(maxabs, fabsf(x[c0 + order[j]]));
    }
    float scale = maxabs / 127.0f;
    for (uint32_t j = 0; j < len; j++) {
      uint64_t i = c0 + j;
      if (sel[i]) {
        if (fabsf(acc[i] - x[i]) > scale * 0.5f * 1.0001f) bad_q++;
        if (e[i] != x[i] - acc[i]) bad_fb++; /* decoded + residual = original */
        if (x[i] != 0 && fabsf(x[i]) >= scale && acc[i] == 0) bad_sel++;
      } else {
        if (acc[i] != 0) bad_sel++;
        if (e[i] != x[i]) bad_fb++; /* untouched */
      }
    }
  }
  if (bad_sel || bad_q || bad_fb)
    fprintf(stderr, "  n=%llu chunk=%u k=%u: %d selection, %d quantization, %d feedback errors\n",
            (unsigned long long)n, chunk, k, bad_sel, bad_q, bad_fb);
  CHECK_EQ(bad_sel, 0);
  CHECK_EQ(bad_q, 0);
  CHECK_EQ(bad_fb, 0);
  free(order);
  free(sel);
  free(e);
  free(acc);
  ag_buf_free(&out);
}

TEST(round_trip_keeps_the_top_k_and_feeds_back_the_rest) {
  uint64_t n = 3 * 4096 + 1000;
  float *x = malloc(n * sizeof *x);
  fill(x, n, 1);
  /* chunk 1: a third of the entries tie at the largest magnitude, so the index rule decides */
  for (uint64_t i = 4096; i < 2 * 4096; i += 3) x[i] = (i & 1) ? 7.0f : -7.0f;
  /* chunk 2: all zero (scale 0) */
  memset(x + 2 * 4096, 0, 4096 * sizeof *x);
  round_trip(x, n, 4096, 32);
  round_trip(x, n, 256, 5);
  round_trip(x, n, 512, 256);
  round_trip(x, 10, 256, 32); /* n < k: everything is sent */
  round_trip(x, 1, 4096, 32);
  free(x);
}

TEST(error_feedback_loses_nothing_over_rounds) {
  /* e_0 = x, later deltas 0: everything sent plus what is left equals x */
  uint64_t n = 1000;
  float *x = malloc(n * sizeof *x), *e = malloc(n * sizeof *e), *acc = calloc(n, sizeof *acc);
  fill(x, n, 2);
  memcpy(e, x, n * sizeof *e);
  ag_pgrad_hdr h = hdr(n, 256, 8);
  ag_buf out;
  ag_buf_init(&out);
  double before = 0, after = 0;
  for (uint64_t i = 0; i < n; i++) before += fabs(x[i]);
  for (int r = 0; r < 60; r++) {
    ag_buf_reset(&out);
    CHECK_OK(ag_pgrad_encode(&h, e, &out));
    CHECK_OK(ag_pgrad_apply(out.data, out.len, &h, 1.0f, acc));
  }
  int bad = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (fabsf(acc[i] + e[i] - x[i]) > 1e-5f) bad++;
    after += fabs(e[i]);
  }
  CHECK_EQ(bad, 0);
  CHECK(after < before * 0.05); /* 60 rounds x 8 of 256 entries: most mass has been sent */
  free(x);
  free(e);
  free(acc);
  ag_buf_free(&out);
}

TEST(size_is_exact_and_the_defaults_compress_over_100x) {
  CHECK_EQ(ag_pgrad_size(4194304, 4096, 32), 72 + 1024 * (4 + 48 + 32));
  CHECK_EQ(ag_pgrad_size(1000, 256, 3), 72 + 4 * (4 + 5 + 3));
  CHECK_EQ(ag_pgrad_size(1000, 256, 128), 72 + 4 * (4 + 192 + 128));
  CHECK_EQ(ag_pgrad_size(868, 256, 128), 72 + 3 * (4 + 192 + 128) + (4 + 150 + 100));
  CHECK_EQ(ag_pgrad_size(263, 256, 128), 72 + (4 + 192 + 128) + (4 + 9 + 2 + 7));
  CHECK_EQ(ag_pgrad_size(1, 256, 1), 72 + 4 + 2 + 1);
  CHECK_EQ(ag_pgrad_size(0, 256, 1), 0);
  CHECK_EQ(ag_pgrad_size(100, 8192, 32), 0);
  CHECK_EQ(ag_pgrad_size(100, 300, 32), 0);
  CHECK_EQ(ag_pgrad_size(100, 128, 32), 0);
  CHECK_EQ(ag_pgrad_size(100, 256, 0), 0);
  CHECK_EQ(ag_pgrad_size(100, 256, 129), 0);
  CHECK_EQ(ag_pgrad_size(UINT64_MAX, 256, 128), 0);

  uint64_t n = 4u << 20;
  double ratio = 4.0 * (double)n / (double)ag_pgrad_size(n, AG_PGRAD_CHUNK, AG_PGRAD_K);
  printf("     defaults, n = %llu: %zu bytes, ratio %.1f\n", (unsigned long long)n,
         ag_pgrad_size(n, AG_PGRAD_CHUNK, AG_PGRAD_K), ratio);
  CHECK(ratio >= 100);
  float *e = malloc(n * sizeof *e);
  fill(e, n, 3);
  ag_pgrad_hdr h = hdr(n, AG_PGRAD_CHUNK, AG_PGRAD_K);
  ag_buf out;
  ag_buf_init(&out);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK_OK(ag_pgrad_encode(&h, e, &out));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("     encode of 4M floats: %.3f s (this build)\n",
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
  CHECK_EQ(out.len, ag_pgrad_size(n, AG_PGRAD_CHUNK, AG_PGRAD_K));
  CHECK_OK(ag_pgrad_check(out.data, out.len, &h, out.len, NULL));
  free(e);
  ag_buf_free(&out);

  h = hdr(100, 8192, 32);
  float z[100] = {0};
  CHECK_EQ(ag_pgrad_encode(&h, z, &out), AG_E_INVALID);
  h = hdr(100, 256, 0);
  CHECK_EQ(ag_pgrad_encode(&h, z, &out), AG_E_INVALID);
  CHECK_EQ(out.len, 0);
}

TEST(encoding_is_deterministic_and_matches_the_golden_blob) {
  uint64_t n = 3 * 4096 + 1000;
  float *x = malloc(n * sizeof *x), *e1 = malloc(n * sizeof *x), *e2 = malloc(n * sizeof *x);
  fill(x, n, 4);
  memcpy(e1, x, n * sizeof *x);
  memcpy(e2, x, n * sizeof *x);
  ag_pgrad_hdr h = hdr(n, 4096, 32);
  ag_buf a, b;
  ag_buf_init(&a);
  ag_buf_init(&b);
  CHECK_OK(ag_pgrad_encode(&h, e1, &a));
  CHECK_OK(ag_pgrad_encode(&h, e2, &b));
  CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
  CHECK_MEM(e1, e2, n * sizeof *x);
  free(x);
  free(e1);
  free(e2);

  /* by hand: 1.0 and -1.0 tie at the top (both kept), 0.5 beats 0.25; indices 0,1,3 as a
   * 3-byte pair (0 | 1 << 12) and a 2-byte tail (3); scale 1/127; 0.5/scale = 63.5 -> 64 */
  float g[5] = {0.5f, -1.0f, 0.25f, 1.0f, 0.0f};
  h = hdr(5, 256, 3);
  ag_buf_reset(&a);
  CHECK_OK(ag_pgrad_encode(&h, g, &a));
  static const uint8_t golden[] = {
      'A', 'G', 'P', 'G', 'R', 'A', 'D', '1', 3, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
      11, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
      0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF,
      0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF,
      0x04, 0x02, 0x01, 0x3C,  /* scale = 1/127 as f32 */
      0x00, 0x10, 0x00, 0x03, 0x00,  /* indices 0, 1 | 3 */
      64, (uint8_t)-127, 127};
  CHECK_EQ(a.len, sizeof golden);
  CHECK(a.len == sizeof golden && memcmp(a.data, golden, sizeof golden) == 0);
  float scale = 1.0f / 127.0f;
  CHECK(g[0] == 0.5f - scale * 64 && g[1] == -1.0f + scale * 127 && g[2] == 0.25f &&
        g[3] == 1.0f - scale * 127 && g[4] == 0);
  ag_buf_free(&a);
  ag_buf_free(&b);
}

TEST(encode_refuses_nonfinite_input_and_changes_nothing) {
  float x[300];
  fill(x, 300, 5);
  ag_pgrad_hdr h = hdr(300, 256, 4);
  ag_buf out;
  ag_buf_init(&out);
  for (int t = 0; t < 4; t++) {
    x[290] = t == 0 ? NAN : t == 1 ? INFINITY : t == 2 ? -INFINITY : -FLT_MAX;
    float keep[300];
    memcpy(keep, x, sizeof x);
    CHECK_EQ(ag_pgrad_encode(&h, x, &out), AG_E_PG_NONFINITE);
    CHECK_EQ(out.len, 0);
    CHECK_MEM(x, keep, sizeof x);
  }
  /* large but safe: the scale times 127 stays finite, and the blob decodes */
  x[290] = -1e38f;
  CHECK_OK(ag_pgrad_encode(&h, x, &out));
  CHECK_OK(ag_pgrad_check(out.data, out.len, &h, 0, NULL));
  ag_buf_free(&out);
}

/* A valid blob for the refusal tests: n = 612 (chunks of 256, 256 and 100), k = 5, so each
 * chunk is 4 + 6 + 2 + 5 = 17 bytes: scale at 0, the index pairs at 4 and 7, the tail index
 * at 10, the values at 12. */
#define BN 612
#define CHUNK_OFF(c) (72 + 17 * (c))

static void blob(ag_buf *out) {
  float x[BN];
  fill(x, BN, 6);
  ag_pgrad_hdr h = hdr(BN, 256, 5);
  ag_buf_reset(out);
  if (ag_pgrad_encode(&h, x, out)) abort();
}

/* check and (without max_bytes) apply both refuse with code, with a detailed message; acc
 * stays as it was */
static void refused(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, size_t max,
                    int code, const char *what) {
  static float acc[BN], keep[BN];
  for (int i = 0; i < BN; i++) acc[i] = keep[i] = (float)i * 0.25f;
  ag_pgrad_hdr h;
  int rc1 = ag_pgrad_check(b, len, expect, max, &h);
  int rc2 = max ? code : ag_pgrad_apply(b, len, expect, 0.5f, acc);
  if (rc1 != code || rc2 != code)
    fprintf(stderr, "  %s: got %d/%d, want %d (%s)\n", what, rc1, rc2, code, ag_errmsg(rc1));
  CHECK_EQ(rc1, code);
  CHECK_EQ(rc2, code);
  CHECK(strcmp(ag_errmsg(code), ag_strerror(code)) != 0);
  CHECK_MEM(acc, keep, sizeof acc);
}

TEST(decoder_refuses_bad_blobs_with_precise_codes) {
  ag_buf ok, m;
  ag_buf_init(&ok);
  ag_buf_init(&m);
  blob(&ok);
  ag_pgrad_hdr h = hdr(BN, 256, 5);
  CHECK_EQ(ok.len, ag_pgrad_size(BN, 256, 5));
  CHECK_EQ(ok.len, CHUNK_OFF(3));
  CHECK_OK(ag_pgrad_check(ok.data, ok.len, &h, ok.len, NULL));
  CHECK_OK(ag_pgrad_check(ok.data, ok.len, NULL, 0, NULL));

#define MUTATE(stmt, exp, code, what)                                                           \
  do {                                                                                          \
    ag_buf_reset(&m);                                                                           \
    ag_buf_put(&m, ok.data, ok.len);                                                            \
    uint8_t *p = m.data;                                                                        \
    (void)p;                                                                                    \
    stmt;                                                                                       \
    refused(m.data, m.len, exp, 0, code, what);                                                 \
  } while (0)

  for (size_t len = 0; len < ok.len; len++) {
    refused(len ? ok.data : NULL, len, NULL, 0, AG_E_PG_MALFORMED, "truncated");
    refused(ok.data, len, &h, 0, AG_E_PG_MALFORMED, "truncated, with expect");
  }
  MUTATE(ag_buf_put_u8(&m, 0), &h, AG_E_PG_MALFORMED, "one extra byte");
  MUTATE(p[7] = '2', &h, AG_E_PG_MALFORMED, "bad magic");
  MUTATE(p[20] = 1, &h, AG_E_PG_MALFORMED, "reserved");
  MUTATE(p[23] = 0x80, NULL, AG_E_PG_MALFORMED, "reserved, top bit");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(1), 0x7FC00000), &h, AG_E_PG_NONFINITE, "NaN scale");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(1), 0xFFC00001), &h, AG_E_PG_NONFINITE, "negative NaN scale");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(2), 0x7F800000), &h, AG_E_PG_NONFINITE, "Inf scale");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(2), 0xFF800000), &h, AG_E_PG_NONFINITE, "-Inf scale");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(1), 0x7F000000), &h, AG_E_PG_NONFINITE, "scale 1.7e38: x127 overflows");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(0), 0xBF000000), &h, AG_E_PG_MALFORMED, "negative scale");
  MUTATE(ag_put_u32le(p + CHUNK_OFF(0), 0x80000000), &h, AG_E_PG_MALFORMED, "-0 scale");
  /* the last chunk holds 100 entries: its largest (tail) index may be 99, not 100 */
  MUTATE(ag_put_u16le(p + CHUNK_OFF(2) + 10, 100), &h, AG_E_PG_MALFORMED, "index = len of the last chunk");
  MUTATE(ag_put_u16le(p + CHUNK_OFF(2) + 10, 4095), &h, AG_E_PG_MALFORMED, "index 4095 in the last chunk");
  MUTATE(ag_put_u16le(p + CHUNK_OFF(0) + 10, (uint16_t)(0x1000 | ag_get_u16le(p + CHUNK_OFF(0) + 10))), &h,
         AG_E_PG_MALFORMED, "tail index with high bits");
  /* pair (5, 5) then whatever: not strictly increasing; pair (9, 4): decreasing */
  MUTATE((p[CHUNK_OFF(0) + 4] = 5, p[CHUNK_OFF(0) + 5] = 0x50, p[CHUNK_OFF(0) + 6] = 0), &h,
         AG_E_PG_MALFORMED, "equal indices");
  MUTATE((p[CHUNK_OFF(1) + 4] = 9, p[CHUNK_OFF(1) + 5] = 0x40, p[CHUNK_OFF(1) + 6] = 0), &h,
         AG_E_PG_MALFORMED, "decreasing indices");
  /* second pair's first index equal to the first pair's second one */
  MUTATE((p[CHUNK_OFF(1) + 7] = (uint8_t)(p[CHUNK_OFF(1) + 5] >> 4 | p[CHUNK_OFF(1) + 6] << 4),
          p[CHUNK_OFF(1) + 8] = (uint8_t)((p[CHUNK_OFF(1) + 8] & 0xF0) | p[CHUNK_OFF(1) + 6] >> 4)),
         &h, AG_E_PG_MALFORMED, "repeated index across pairs");
  MUTATE(p[CHUNK_OFF(2) + 12 + 4] = 0x80, &h, AG_E_PG_MALFORMED, "value -128");
  MUTATE(ag_put_u32le(p + 12, 8192), NULL, AG_E_PG_MALFORMED, "chunk 8192");
  MUTATE(ag_put_u32le(p + 12, 384), NULL, AG_E_PG_MALFORMED, "chunk not a power of two");
  MUTATE(ag_put_u32le(p + 12, 128), NULL, AG_E_PG_MALFORMED, "chunk 128");
  MUTATE(ag_put_u32le(p + 16, 0), NULL, AG_E_PG_MALFORMED, "k 0");
  MUTATE(ag_put_u32le(p + 16, 129), NULL, AG_E_PG_MALFORMED, "k > chunk/2");
  MUTATE(ag_put_u64le(p + 32, 0), NULL, AG_E_PG_MALFORMED, "n 0");
  MUTATE(ag_put_u64le(p + 32, 2 * 256 + 3), NULL, AG_E_PG_MALFORMED, "n with a smaller last chunk");
  MUTATE(ag_put_u64le(p + 32, UINT64_MAX), NULL, AG_E_PG_MALFORMED, "n huge");
  /* what the encoder never writes but decodes: 127, -127, scale 0 with values, and n + 1
   * (the last chunk grows from 100 to 101 entries, the size stays) */
  ag_buf_reset(&m);
  ag_buf_put(&m, ok.data, ok.len);
  ag_put_u64le(m.data + 32, BN + 1);
  CHECK_OK(ag_pgrad_check(m.data, m.len, NULL, 0, NULL));
  ag_put_u64le(m.data + 32, BN);
  m.data[CHUNK_OFF(0) + 12] = 127;
  m.data[CHUNK_OFF(0) + 13] = (uint8_t)-127;
  ag_put_u32le(m.data + CHUNK_OFF(1), 0);
  CHECK_OK(ag_pgrad_check(m.data, m.len, &h, 0, NULL));

  struct {
    const char *what;
    ag_pgrad_hdr x;
  } shapes[] = {{"round", hdr(BN, 256, 5)}, {"netuid", hdr(BN, 256, 5)}, {"base", hdr(BN, 256, 5)},
                {"n", hdr(BN - 1, 256, 5)}, {"chunk", hdr(BN, 512, 5)},  {"k", hdr(BN, 256, 4)}};
  shapes[0].x.round++;
  shapes[1].x.netuid = 4;
  shapes[2].x.base[31] ^= 1;
  for (size_t i = 0; i < AG_ARRAY_LEN(shapes); i++)
    refused(ok.data, ok.len, &shapes[i].x, 0, AG_E_PG_SHAPE, shapes[i].what);
  /* the blob of another n: well formed, wrong shape */
  float x[BN] = {0};
  ag_pgrad_hdr h2 = hdr(BN - 100, 256, 5);
  ag_buf_reset(&m);
  CHECK_OK(ag_pgrad_encode(&h2, x, &m));
  refused(m.data, m.len, &h, 0, AG_E_PG_SHAPE, "blob of another n");

  refused(ok.data, ok.len, &h, ok.len - 1, AG_E_PG_TOO_LARGE, "max_bytes");
  refused(ok.data, ok.len, NULL, 80, AG_E_PG_TOO_LARGE, "max_bytes, no expect");
  refused(ok.data, ok.len - 1, &h, 10, AG_E_PG_TOO_LARGE, "max_bytes is checked first");
  CHECK_OK(ag_pgrad_check(ok.data, ok.len, &h, ok.len, NULL));
#undef MUTATE
  ag_buf_free(&ok);
  ag_buf_free(&m);
}

TEST(overlap_spots_copies) {
  uint64_t n = 3 * 4096 + 1000;
  float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
  fill(x, n, 7);
  for (uint64_t i = 0; i < n; i++) y[i] = x[i] * 1.5f;
  fill(z, n, 8);
  ag_pgrad_hdr h = hdr(n, 4096, 32);
  ag_buf a, b, c, d;
  ag_buf_init(&a);
  ag_buf_init(&b);
  ag_buf_init(&c);
  ag_buf_init(&d);
  CHECK_OK(ag_pgrad_encode(&h, x, &a));
  CHECK_OK(ag_pgrad_encode(&h, y, &b));
  CHECK_OK(ag_pgrad_encode(&h, z, &c));
  CHECK(ag_pgrad_overlap(a.data, a.len, a.data, a.len) == 1.0);
  CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) != 0); /* other scales */
  CHECK(ag_pgrad_overlap(a.data, a.len, b.data, b.len) == 1.0);
  double o = ag_pgrad_overlap(a.data, a.len, c.data, c.len);
  printf("     overlap of independent data: %.4f\n", o);
  CHECK(o >= 0 && o < 0.2);
  /* the second round of the same miner sends the next entries: little overlap */
  CHECK_OK(ag_pgrad_encode(&h, x, &d));
  o = ag_pgrad_overlap(a.data, a.len, d.data, d.len);
  CHECK(o >= 0 && o < 0.2);
  /* another shape or a bad blob: -1 */
  ag_pgrad_hdr h2 = hdr(n, 4096, 16);
  ag_buf_reset(&d);
  CHECK_OK(ag_pgrad_encode(&h2, z, &d));
  CHECK(ag_pgrad_overlap(a.data, a.len, d.data, d.len) == -1.0);
  CHECK(ag_pgrad_overlap(a.data, a.len, a.data, a.len - 1) == -1.0);
  CHECK(ag_pgrad_overlap(NULL, 0, a.data, a.len) == -1.0);
  free(x);
  free(y);
  free(z);
  ag_buf_free(&a);
  ag_buf_free(&b);
  ag_buf_free(&c);
  ag_buf_free(&d);
}

TEST_MAIN(round_trip_keeps_the_top_k_and_feeds_back_the_rest, error_feedback_loses_nothing_over_rounds,
          size_is_exact_and_the_defaults_compress_over_100x,
          encoding_is_deterministic_and_matches_the_golden_blob,
          encode_refuses_nonfinite_input_and_changes_nothing, decoder_refuses_bad_blobs_with_precise_codes,
          overlap_spots_copies)
