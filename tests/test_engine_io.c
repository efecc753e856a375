#define _GNU_SOURCE
/*
 * test_engine_io.c — files and protocols of the engine: checkpoint round trip and model id,
 * corrupt checkpoints, training reproducibility (1 vs 2 threads, resume), generation with the
 * same seed, receipts (honest passes; altered token, logit, seed or commitment fails), frequency
 * and presence penalties (the rule, their receipts and verification), GGUF
 * export/import round trips and corrupt GGUF files, invalid sampling parameters.
 */
#include "test.h"
#include "testutil.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "engine/engine.h"

#include <math.h>
#include <unistd.h>
#include <zlib.h>

static ag_tokenizer *small_tok(int vocab) {
  ag_buf corpus;
  ag_buf_init(&corpus);
  for (int i = 0; i < 40; i++)
    ag_buf_puts(&corpus, "The quick brown fox jumps over the lazy dog. A stitch in time saves nine.\n"
                         "Fortune favours the bold; the bold favour fortune. 42 is the answer.\n\n");
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_train(corpus.data, corpus.len, vocab, &t));
  ag_buf_free(&corpus);
  return t;
}

static ag_model *tiny(uint64_t seed) {
  ag_tokenizer *t = small_tok(320);
  ag_model_config cfg;
  ag_model_preset("tiny", &cfg);
  cfg.vocab_size = ag_tok_vocab(t);
  ag_model *m = NULL;
  CHECK_OK(ag_model_create(&cfg, seed, t, &m));
  ag_model_compute_id(m);
  return m;
}

static void tmp_path(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/engine_test_%d_%s", AGORA_BUILD_DIR, (int)getpid(), name);
}

TEST(checkpoint_round_trip_and_id) {
  ag_model *m = tiny(3);
  char p[1024];
  tmp_path(p, sizeof p, "m.bin");
  CHECK_OK(ag_model_save(m, p, NULL));
  ag_model *l = NULL;
  CHECK_OK(ag_model_load(p, &l, NULL));
  CHECK_MEM(l->id, m->id, AG_HASH_LEN);
  CHECK(l->blob_len == m->blob_len && !memcmp(l->blob, m->blob, m->blob_len));
  CHECK_EQ(ag_tok_vocab(l->tok), ag_tok_vocab(m->tok));
  /* q8 save/load keeps the id and the weights */
  ag_model *q = NULL, *lq = NULL;
  CHECK_OK(ag_model_quantize(m, &q));
  CHECK_OK(ag_model_save(q, p, NULL));
  CHECK_OK(ag_model_load(p, &lq, NULL));
  CHECK_MEM(lq->id, q->id, AG_HASH_LEN);
  CHECK(memcmp(q->id, m->id, AG_HASH_LEN) != 0);
  /* a training section does not change the id */
  size_t nf = m->blob_len / 4;
  float *mom = ag_xcalloc(nf, 4), *vel = ag_xcalloc(nf, 4);
  mom[3] = 1.5f;
  ag_train_state ts = {1, 7, {0}, mom, vel};
  ag_train_defaults(&ts.tc);
  ts.tc.seq = 16;
  CHECK_OK(ag_model_save(m, p, &ts));
  ag_model *lt = NULL;
  ag_train_state ts2;
  CHECK_OK(ag_model_load(p, &lt, &ts2));
  CHECK_MEM(lt->id, m->id, AG_HASH_LEN);
  CHECK(ts2.present && ts2.step == 7 && ts2.mom[3] == 1.5f && ts2.tc.seq == 16);
  unlink(p);
  free(mom), free(vel);
  ag_model_close(l), ag_model_close(q), ag_model_close(lq), ag_model_close(lt), ag_model_close(m);
}

TEST(checkpoint_corruption_is_an_error) {
  ag_model *m = tiny(3);
  ag_buf b;
  ag_buf_init(&b);
  ag_model_encode(m, NULL, &b);
  ag_model *l = NULL;
  CHECK_OK(ag_model_load_mem(b.data, b.len, &l, NULL));
  ag_model_close(l);
  uint8_t *c = ag_xmalloc(b.len + 16);
  struct {
    size_t off;
    uint8_t v;
    int want;
  } cases[] = {{0, 'X', AG_E_MODEL_MAGIC},  {8, 9, AG_E_MODEL_VERSION},   {12, 7, AG_E_MODEL_TYPE},
               {16, 0, AG_E_MODEL_CONFIG},  {19, 0x7f, AG_E_MODEL_CONFIG}, {24, 5, AG_E_MODEL_CONFIG},
               {36, 1, AG_E_MODEL_TOKENIZER}, {56, 0xff, AG_E_MODEL_TOKENIZER}};
  for (size_t i = 0; i < AG_ARRAY_LEN(cases); i++) {
    memcpy(c, b.data, b.len);
    c[cases[i].off] = cases[i].v;
    int rc = ag_model_load_mem(c, b.len, &l, NULL);
    if (rc != cases[i].want) fprintf(stderr, "  case %zu: got %s\n", i, ag_err_name(rc));
    CHECK_EQ(rc, cases[i].want);
    CHECK(l == NULL);
  }
  /* truncation at every interesting length, and trailing bytes */
  size_t lens[] = {0, 4, 63, 64, 100, b.len / 2, b.len - 1};
  for (size_t i = 0; i < AG_ARRAY_LEN(lens); i++) {
    int rc = ag_model_load_mem(b.data, lens[i], &l, NULL);
    CHECK(rc == AG_E_MODEL_TRUNCATED || rc == AG_E_MODEL_MAGIC || rc == AG_E_MODEL_TOKENIZER);
  }
  memcpy(c, b.data, b.len);
  memset(c + b.len, 0, 16);
  CHECK_EQ(ag_model_load_mem(c, b.len + 16, &l, NULL), AG_E_TRAILING);
  CHECK_EQ(ag_model_load("/nonexistent/model.bin", &l, NULL), AG_E_NOTFOUND);
  free(c);
  ag_buf_free(&b);
  ag_model_close(m);
}

static void train_run(int threads, int steps, int resume_at, uint8_t hash[AG_HASH_LEN]) {
  ag_model *m = tiny(5);
  uint16_t toks[4000];
  for (int i = 0; i < 4000; i++) toks[i] = (uint16_t)ag_philox_below(77, (uint64_t)i, 0, (uint64_t)m->cfg.vocab_size);
  ag_tokens d = {toks, 4000};
  ag_train_config tc;
  ag_train_defaults(&tc);
  tc.batch = 2, tc.seq = 16, tc.accum = 2, tc.steps = steps, tc.warmup = 2, tc.seed = 9;
  ag_trainer *t = NULL;
  CHECK_OK(ag_trainer_open(m, &tc, threads, &t));
  double loss, first = 0;
  float gn;
  for (int s = 0; s < steps; s++) {
    if (resume_at && s == resume_at) {
      /* checkpoint, reload, continue with a fresh trainer */
      char p[1024];
      tmp_path(p, sizeof p, "resume.bin");
      ag_train_state st = {1, ag_trainer_step_count(t), tc, ag_trainer_moment(t, 0), ag_trainer_moment(t, 1)};
      CHECK_OK(ag_model_save(m, p, &st));
      ag_trainer_close(t);
      ag_model_close(m);
      ag_train_state ts;
      CHECK_OK(ag_model_load(p, &m, &ts));
      CHECK_OK(ag_trainer_open(m, &ts.tc, threads, &t));
      memcpy(ag_trainer_moment(t, 0), ts.mom, m->blob_len);
      memcpy(ag_trainer_moment(t, 1), ts.vel, m->blob_len);
      ag_trainer_set_step_count(t, ts.step);
      unlink(p);
    }
    CHECK_OK(ag_trainer_step(t, &d, &loss, &gn));
    if (s == 0) first = loss;
  }
  CHECK(loss < first);
  ag_buf b;
  ag_buf_init(&b);
  ag_train_state st = {1, ag_trainer_step_count(t), tc, ag_trainer_moment(t, 0), ag_trainer_moment(t, 1)};
  ag_model_encode(m, &st, &b);
  ag_hash("test", b.data, b.len, hash);
  ag_buf_free(&b);
  ag_trainer_close(t);
  ag_model_close(m);
}

TEST(training_bit_identical_threads_paths_resume) {
  uint8_t h1[32], h2[32], h3[32], h4[32];
  train_run(1, 6, 0, h1);
  train_run(2, 6, 0, h2);
  CHECK_MEM(h1, h2, 32);
  train_run(2, 6, 3, h3);
  CHECK_MEM(h1, h3, 32);
  int best = ag_simd_best();
  for (int l = AG_SIMD_SCALAR; l < best; l++) { /* every other path this CPU has */
    ag_simd_set(l);
    train_run(2, 6, 0, h4);
    CHECK_MEM(h1, h4, 32);
  }
  ag_simd_set(best);
  CHECK(test_pinned("6 training steps of the tiny model", h1,
                    "e302cfa5ac30a83f34aca18e1a74686a35aaa8e55958c05e63f98b55ff3e17b3"));
}

/* The committed demo model (an 8-bit file) and a sampled answer with its receipt: one digest
 * each, the same on every path and thread count, and for the file as loaded and widened to
 * fp32 as miners load it (ag_model_prefer_f32), and pinned. */
static void nano_digests(const ag_model *m, int threads, uint8_t logits_h[32], uint8_t receipt_h[32]) {
  static const char text[] = "The old man looked at the sea and said: \"Tomorrow, the fish will come back.\"";
  uint32_t *ids;
  size_t n;
  CHECK_OK(ag_engine_encode(m, text, strlen(text), &ids, &n));
  int V = m->cfg.vocab_size;
  test_logits a = {ag_xcalloc(n * (size_t)V, sizeof(float)), V};
  ag_infer *s;
  CHECK_OK(ag_infer_open(m, (int)n, threads, &s));
  CHECK_OK(ag_infer_forward(s, ids, (int)n, NULL, test_keep_logits, &a));
  ag_hash("agora/test", a.all, n * (size_t)V * sizeof(float), logits_h);
  ag_infer_close(s);
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  sp.stop = -1;
  sp.seed = 7;
  sp.presence_penalty = 0.25f;
  uint32_t out[48];
  int n_out = 0;
  ag_buf r;
  ag_buf_init(&r);
  CHECK_OK(ag_engine_generate(m, ids, (int)n, 48, &sp, threads, out, &n_out, &r));
  CHECK_EQ(n_out, 48);
  ag_hash("agora/test", r.data, r.len, receipt_h);
  ag_buf_free(&r);
  free(a.all);
  free(ids);
}

TEST(demo_model_results_are_pinned) {
  char path[1024];
  snprintf(path, sizeof path, "%s/models/agora-nano.bin", AGORA_SRC_DIR);
  ag_model *m = NULL, *w = NULL;
  CHECK_OK(ag_model_load(path, &m, NULL));
  CHECK_OK(ag_model_load(path, &w, NULL));
  if (!m || !w) return;
  CHECK(m->wq[0].type != AG_DT_F32);
  ag_model_prefer_f32(&w, AG_PREFER_F32_MAX);
  CHECK(w->wq[0].type == AG_DT_F32);
  static const char *const want[2] = {"dc9ff7056e523945236af6bb51cd8ea14229516e849325674064abca973c0cb7",
                                      "f386eff162935e23bc6f1be8e41ee3c65a3a27d153ebc48b36554198159bb852"};
  const ag_model *both[2] = {m, w};
  int best = ag_simd_best();
  for (int k = 0; k < 2; k++)
    for (int l = AG_SIMD_SCALAR; l <= best; l++)
      for (int th = 1; th <= 3; th++) { /* 3: rows and tokens split unevenly */
        ag_simd_set(l);
        uint8_t lh[32], rh[32];
        nano_digests(both[k], th, lh, rh);
        char what[160];
        snprintf(what, sizeof what, "agora-nano%s logits, %s path, %d thread(s)", k ? " widened" : "",
                 ag_simd_name(l), th);
        CHECK(test_pinned(what, lh, want[0]));
        snprintf(what, sizeof what, "agora-nano%s sampled receipt, %s path, %d thread(s)", k ? " widened" : "",
                 ag_simd_name(l), th);
        CHECK(test_pinned(what, rh, want[1]));
      }
  ag_simd_set(best);
  ag_model_close(w);
  ag_model_close(m);
}

TEST(training_loss_matches_inference_logits) {
  /* the training forward and the KV-cache inference path produce the same logits */
  ag_model *m = tiny(8);
  ag_train_config tc;
  ag_train_defaults(&tc);
  tc.batch = 1, tc.seq = 12;
  ag_trainer *t;
  CHECK_OK(ag_trainer_open(m, &tc, 2, &t));
  uint32_t in[12], tgt[12];
  for (int i = 0; i < 12; i++) in[i] = tgt[i] = (uint32_t)(i * 7 % m->cfg.vocab_size);
  double loss;
  CHECK_OK(ag_trainer_loss(t, in, tgt, &loss));
  ag_infer *s;
  CHECK_OK(ag_infer_open(m, 1, 1, &s));
  int V = m->cfg.vocab_size;
  float *lg = ag_xmalloc(sizeof(float) * V);
  for (int p = 0; p < 12; p++) {
    CHECK_OK(ag_infer_forward(s, in + p, 1, lg, NULL, NULL));
    CHECK_MEM(lg, ag_trainer_logits(t) + (size_t)p * V, sizeof(float) * V);
  }
  free(lg);
  ag_infer_close(s);
  ag_trainer_close(t);
  ag_model_close(m);
}

static int gen(const ag_model *m, const ag_sampling *sp, int threads, uint32_t *out, ag_buf *rc_buf) {
  uint32_t prompt[3] = {AG_TOK_EOT, 'T', 'h'};
  int n = 0;
  CHECK_OK(ag_engine_generate(m, prompt, 3, 20, sp, threads, out, &n, rc_buf));
  return n;
}

TEST(generation_same_seed_same_tokens) {
  ag_model *m = tiny(4);
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  sp.stop = -1;
  sp.temperature = 1.0f;
  uint32_t a[20], b[20], c[20];
  int na = gen(m, &sp, 1, a, NULL), nb = gen(m, &sp, 2, b, NULL);
  CHECK(na == 20 && nb == 20);
  CHECK_MEM(a, b, sizeof a);
  sp.seed = 2;
  gen(m, &sp, 1, c, NULL);
  CHECK(memcmp(a, c, sizeof a) != 0);
  /* top-p only, greedy and top-k only paths run and are deterministic */
  ag_sampling v[3] = {sp, sp, sp};
  v[0].top_k = 0, v[1].temperature = 0, v[2].top_p = 1.0f;
  for (int i = 0; i < 3; i++) {
    gen(m, &v[i], 1, a, NULL);
    gen(m, &v[i], 2, b, NULL);
    CHECK_MEM(a, b, sizeof a);
  }
  /* invalid parameters */
  ag_sampling bad = sp;
  bad.temperature = -1;
  CHECK_EQ(ag_sampling_check(&bad, 300), AG_E_ENGINE_SAMPLING);
  bad = sp, bad.top_p = 0;
  CHECK_EQ(ag_sampling_check(&bad, 300), AG_E_ENGINE_SAMPLING);
  bad = sp, bad.top_k = 301;
  CHECK_EQ(ag_sampling_check(&bad, 300), AG_E_ENGINE_SAMPLING);
  bad = sp, bad.temperature = NAN;
  CHECK_EQ(ag_sampling_check(&bad, 300), AG_E_ENGINE_SAMPLING);
  uint32_t prompt[40] = {0};
  int n;
  CHECK_EQ(ag_engine_generate(m, prompt, 30, 10, &sp, 1, a, &n, NULL), AG_E_ENGINE_CONTEXT);
  ag_model_close(m);
}

TEST(receipts_honest_pass_altered_fail) {
  ag_model *m = tiny(4), *q = NULL;
  CHECK_OK(ag_model_quantize(m, &q));
  ag_model_compute_id(q);
  ag_model *models[2] = {m, q};
  for (int k = 0; k < 2; k++) {
    ag_sampling sp;
    ag_sampling_defaults(&sp);
    sp.stop = -1;
    sp.temperature = 1.0f;
    ag_buf r;
    ag_buf_init(&r);
    uint32_t out[20];
    int n = gen(models[k], &sp, 1, out, &r);
    CHECK_EQ(n, 20);
    ag_verify_report rep;
    CHECK_OK(ag_receipt_verify(models[k], r.data, r.len, 2, &rep));
    CHECK_EQ(rep.checked, 20);
    ag_infer *vs;
    CHECK_OK(ag_infer_open(models[k], 7, 2, &vs)); /* a validator's long-lived state, odd batch */
    CHECK_OK(ag_receipt_verify_state(vs, r.data, r.len, &rep));
    CHECK_OK(ag_receipt_verify_state(vs, r.data, r.len, &rep));
    ag_infer_close(vs);
    ag_receipt rc;
    CHECK_OK(ag_receipt_parse(r.data, r.len, &rc));
    uint8_t *c = ag_xmalloc(r.len);
    size_t out_off = (size_t)(rc.out - r.data), ent_off = (size_t)(rc.entries - r.data);
    /* one altered output token */
    memcpy(c, r.data, r.len);
    c[out_off + 4 * 5] ^= 1;
    CHECK_EQ(ag_receipt_verify(models[k], c, r.len, 1, &rep), AG_E_RECEIPT_TOKEN);
    CHECK_EQ(rep.first_bad, 5);
    /* one altered logit (lowest mantissa bit of entry 3 at output 7) */
    memcpy(c, r.data, r.len);
    c[ent_off + 8 * (size_t)rc.commit_k * 7 + 8 * 3 + 4] ^= 1;
    CHECK_EQ(ag_receipt_verify(models[k], c, r.len, 1, &rep), AG_E_RECEIPT_LOGITS);
    /* altered seed */
    memcpy(c, r.data, r.len);
    c[40] ^= 1;
    int e = ag_receipt_verify(models[k], c, r.len, 1, &rep);
    CHECK(e == AG_E_RECEIPT_TOKEN || e == AG_E_RECEIPT_COMMIT);
    /* altered commitment */
    memcpy(c, r.data, r.len);
    c[r.len - 1] ^= 1;
    CHECK_EQ(ag_receipt_verify(models[k], c, r.len, 1, &rep), AG_E_RECEIPT_COMMIT);
    /* altered prompt token */
    memcpy(c, r.data, r.len);
    c[76 + 4] ^= 2;
    e = ag_receipt_verify(models[k], c, r.len, 1, &rep);
    CHECK(e == AG_E_RECEIPT_LOGITS || e == AG_E_RECEIPT_TOKEN || e == AG_E_RECEIPT_COMMIT);
    /* another model */
    CHECK_EQ(ag_receipt_verify(models[1 - k], r.data, r.len, 1, &rep), AG_E_RECEIPT_MODEL);
    /* truncated / malformed */
    CHECK_EQ(ag_receipt_verify(models[k], r.data, r.len - 1, 1, &rep), AG_E_RECEIPT_FORMAT);
    CHECK_EQ(ag_receipt_verify(models[k], r.data, 10, 1, &rep), AG_E_RECEIPT_FORMAT);
    free(c);
    ag_buf_free(&r);
  }
  ag_model_close(q);
  ag_model_close(m);
}

/* Greedy decoding with OpenAI's penalties, written plainly: count each token among the
 * outputs so far, (l - c * f) - p, the first maximal logit. */
static void ref_penalized_greedy(const ag_model *m, const ag_sampling *sp, int n, uint32_t *out) {
  int V = m->cfg.vocab_size;
  uint32_t prompt[3] = {AG_TOK_EOT, 'T', 'h'};
  float *lg = ag_xmalloc(sizeof(float) * (size_t)V);
  ag_infer *s;
  CHECK_OK(ag_infer_open(m, 32, 1, &s));
  CHECK_OK(ag_infer_forward(s, prompt, 3, lg, NULL, NULL));
  for (int i = 0; i < n; i++) {
    for (int t = 0; t < V; t++) {
      uint32_t c = 0;
      for (int j = 0; j < i; j++) c += out[j] == (uint32_t)t;
      if (c) lg[t] = (lg[t] - (float)c * sp->frequency_penalty) - sp->presence_penalty;
    }
    uint32_t best = 0;
    for (int t = 1; t < V; t++)
      if (lg[t] > lg[best]) best = (uint32_t)t;
    out[i] = best;
    CHECK_OK(ag_infer_forward(s, &best, 1, lg, NULL, NULL));
  }
  ag_infer_close(s);
  free(lg);
}

TEST(penalties_follow_the_rule_and_are_verified) {
  ag_model *m = tiny(4);
  int V = m->cfg.vocab_size;
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  sp.stop = -1;
  sp.temperature = 0;
  uint32_t plain[20], a[20], b[20], want[20];
  gen(m, &sp, 1, plain, NULL);
  sp.frequency_penalty = 0.08f; /* small beside the tiny model's logits (a spread of about 1), */
  sp.presence_penalty = 0.15f;  /* so that each term decides some tokens */
  CHECK_EQ(gen(m, &sp, 1, a, NULL), 20);
  ref_penalized_greedy(m, &sp, 20, want);
  CHECK_MEM(a, want, sizeof a);
  CHECK(memcmp(a, plain, sizeof a) != 0); /* the penalties changed the answer */
  /* sampled, ranked over the whole vocabulary: 1 and 2 threads, and ag_sample replaying it */
  sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 0.9f, sp.presence_penalty = -0.75f;
  ag_buf r;
  ag_buf_init(&r);
  CHECK_EQ(gen(m, &sp, 1, a, &r), 20);
  gen(m, &sp, 2, b, NULL);
  CHECK_MEM(a, b, sizeof a);
  {
    uint32_t prompt[3] = {AG_TOK_EOT, 'T', 'h'};
    float *lg = ag_xmalloc(sizeof(float) * (size_t)V);
    ag_sample_scratch sc;
    ag_sample_scratch_init(&sc, V);
    ag_infer *s;
    CHECK_OK(ag_infer_open(m, 32, 1, &s));
    CHECK_OK(ag_infer_forward(s, prompt, 3, lg, NULL, NULL));
    for (int i = 0; i < 20; i++) {
      CHECK_EQ(ag_sample(lg, V, &sp, (uint64_t)i, a, &sc), a[i]);
      CHECK_OK(ag_infer_forward(s, &a[i], 1, lg, NULL, NULL));
    }
    ag_infer_close(s);
    ag_sample_scratch_free(&sc);
    free(lg);
  }
  CHECK_MEM(r.data, AG_RECEIPT_MAGIC_PEN, 8);
  ag_verify_report rep;
  CHECK_OK(ag_receipt_verify(m, r.data, r.len, 2, &rep));
  CHECK_EQ(rep.checked, 20);
  ag_infer *vs;
  CHECK_OK(ag_infer_open(m, 7, 2, &vs)); /* batches of 7: each thread's counts span batches */
  CHECK_OK(ag_receipt_verify_state(vs, r.data, r.len, &rep));
  CHECK_OK(ag_receipt_verify_state(vs, r.data, r.len, &rep));
  ag_infer_close(vs);
  uint8_t *c = ag_xmalloc(r.len);
  /* another frequency penalty (its lowest mantissa bit): the commitment's h_0 covers it */
  memcpy(c, r.data, r.len);
  c[64] ^= 1;
  int e = ag_receipt_verify(m, c, r.len, 1, &rep);
  CHECK(e == AG_E_RECEIPT_TOKEN || e == AG_E_RECEIPT_COMMIT);
  /* an AGRCPT02 receipt without penalties has no meaning: one encoding per sampling */
  memcpy(c, r.data, r.len);
  memset(c + 64, 0, 8);
  CHECK_EQ(ag_receipt_verify(m, c, r.len, 1, &rep), AG_E_RECEIPT_FORMAT);
  /* the penalties dropped (rewritten as AGRCPT01): the outputs no longer follow */
  ag_buf v1;
  ag_buf_init(&v1);
  ag_buf_put(&v1, AG_RECEIPT_MAGIC, 8);
  ag_buf_put(&v1, r.data + 8, 56);
  ag_buf_put(&v1, r.data + 72, r.len - 72);
  e = ag_receipt_verify(m, v1.data, v1.len, 1, &rep);
  CHECK(e == AG_E_RECEIPT_TOKEN || e == AG_E_RECEIPT_COMMIT);
  ag_buf_free(&v1);
  /* out of range */
  ag_sampling bad = sp;
  bad.frequency_penalty = 2.5f;
  CHECK_EQ(ag_sampling_check(&bad, V), AG_E_ENGINE_SAMPLING);
  bad = sp, bad.presence_penalty = NAN;
  CHECK_EQ(ag_sampling_check(&bad, V), AG_E_ENGINE_SAMPLING);
  free(c);
  ag_buf_free(&r);
  ag_model_close(m);
}

TEST(gguf_round_trip_same_id_and_logits) {
  ag_model *m = tiny(6), *q = NULL;
  CHECK_OK(ag_model_quantize(m, &q));
  ag_model_compute_id(q);
  struct {
    ag_model *src;
    int type;
  } cases[] = {{m, AG_GGUF_F32}, {q, AG_GGUF_Q8_0}};
  for (int k = 0; k < 2; k++) {
    ag_buf g;
    ag_buf_init(&g);
    CHECK_OK(ag_gguf_export(cases[k].src, cases[k].type, &g));
    ag_model *back = NULL;
    int irc = ag_gguf_import(g.data, g.len, &back);
    if (irc) fprintf(stderr, "  import: %s\n", ag_errmsg(irc));
    CHECK_OK(irc);
    if (irc) continue;
    CHECK_MEM(back->id, cases[k].src->id, AG_HASH_LEN);
    CHECK(back->tok != NULL);
    /* same logits */
    uint32_t toks[8] = {256, 1, 2, 3, 70, 80, 90, 100};
    int V = m->cfg.vocab_size;
    float *a = ag_xmalloc(sizeof(float) * V), *b = ag_xmalloc(sizeof(float) * V);
    ag_infer *s1, *s2;
    CHECK_OK(ag_infer_open(cases[k].src, 8, 1, &s1));
    CHECK_OK(ag_infer_open(back, 8, 1, &s2));
    CHECK_OK(ag_infer_forward(s1, toks, 8, a, NULL, NULL));
    CHECK_OK(ag_infer_forward(s2, toks, 8, b, NULL, NULL));
    CHECK_MEM(a, b, sizeof(float) * V);
    ag_infer_close(s1), ag_infer_close(s2);
    free(a), free(b);
    /* corruption: every prefix must fail cleanly; flipped header bytes too */
    size_t step = g.len / 97 + 1;
    for (size_t n = 0; n < g.len; n += step) {
      ag_model *x = NULL;
      int rc = ag_gguf_import(g.data, n, &x);
      CHECK(rc != 0 && x == NULL);
    }
    uint8_t *c = ag_xmalloc(g.len);
    memcpy(c, g.data, g.len);
    c[0] = 'X';
    ag_model *x = NULL;
    CHECK_EQ(ag_gguf_import(c, g.len, &x), AG_E_GGUF_MAGIC);
    memcpy(c, g.data, g.len);
    c[4] = 2;
    CHECK_EQ(ag_gguf_import(c, g.len, &x), AG_E_GGUF_VERSION);
    free(c);
    ag_model_close(back);
    ag_buf_free(&g);
  }
  /* F16: lossy, but import -> export is stable */
  ag_buf g1, g2;
  ag_buf_init(&g1), ag_buf_init(&g2);
  CHECK_OK(ag_gguf_export(m, AG_GGUF_F16, &g1));
  ag_model *h = NULL;
  CHECK_OK(ag_gguf_import(g1.data, g1.len, &h));
  CHECK_OK(ag_gguf_export(h, AG_GGUF_F16, &g2));
  CHECK(g1.len == g2.len && !memcmp(g1.data, g2.data, g1.len));
  ag_buf_free(&g1), ag_buf_free(&g2);
  ag_model_close(h);
  ag_model_close(q);
  ag_model_close(m);
}

TEST(gguf_unsupported_arch_and_type) {
  ag_model *m = tiny(6);
  ag_buf g;
  ag_buf_init(&g);
  CHECK_OK(ag_gguf_export(m, AG_GGUF_F32, &g));
  /* the value of general.architecture (the first "llama" in the file) -> "llamb" */
  uint8_t *p = memmem(g.data, g.len, "llama", 5);
  CHECK(p != NULL);
  ag_model *x = NULL;
  if (p) {
    p[4] = 'b';
    CHECK_EQ(ag_gguf_import(g.data, g.len, &x), AG_E_GGUF_ARCH);
    p[4] = 'a';
  }
  /* tensor type of token_embd -> IQ2_XXS (16), a type the engine does not compute */
  p = memmem(g.data, g.len, "token_embd.weight", 17);
  CHECK(p != NULL);
  if (p) {
    uint8_t *ty = p + 17 + 4 + 16; /* n_dims, ne0, ne1 */
    ty[0] = 16;
    CHECK_EQ(ag_gguf_import(g.data, g.len, &x), AG_E_GGUF_TYPE);
  }
  ag_buf_free(&g);
  ag_model_close(m);
}

/* A file as published computes in place; a key or tensor the engine would ignore refuses it. */
TEST(gguf_in_place_refuses_what_it_would_ignore) {
  ag_model *m = tiny(7);
  ag_buf g;
  ag_buf_init(&g);
  CHECK_OK(ag_gguf_export(m, AG_GGUF_F32, &g));
  ag_model *x = NULL;
  CHECK_OK(ag_gguf_open(g.data, g.len, &x));
  CHECK(x && x->gguf);
  /* the same logits as the model it was exported from */
  float la[320], lb[320];
  uint32_t ids[3] = {256, 70, 71};
  ag_infer *sa = NULL, *sb = NULL;
  CHECK_OK(ag_infer_open(m, 4, 1, &sa));
  CHECK_OK(ag_infer_open(x, 4, 1, &sb));
  if (sa && sb) {
    CHECK_OK(ag_infer_forward(sa, ids, 3, la, NULL, NULL));
    CHECK_OK(ag_infer_forward(sb, ids, 3, lb, NULL, NULL));
    CHECK_MEM(la, lb, sizeof la);
  }
  ag_infer_close(sa);
  ag_infer_close(sb);
  ag_model_close(x);
  x = NULL;
  /* an unknown key of the architecture: refused, named */
  uint8_t *p = memmem(g.data, g.len, "llama.rope.freq_base", 20);
  CHECK(p != NULL);
  if (p) {
    p[19] = 'X';
    CHECK_EQ(ag_gguf_open(g.data, g.len, &x), AG_E_GGUF_KEY);
    CHECK(strstr(ag_errmsg(AG_E_GGUF_KEY), "llama.rope.freq_basX") != NULL);
    p[19] = 'e';
  }
  /* a tensor the architecture does not use (a renamed norm: the real one is then missing, so
   * rename output_norm to a bias-like name of the same length) */
  p = memmem(g.data, g.len, "output_norm.weight", 18);
  CHECK(p != NULL);
  if (p) {
    memcpy(p, "output_norm.bias__", 18);
    int rc = ag_gguf_open(g.data, g.len, &x);
    CHECK(rc == AG_E_GGUF_MISSING || rc == AG_E_GGUF_KEY);
    CHECK(x == NULL);
  }
  ag_buf_free(&g);
  ag_model_close(m);
}

/* The default corpus's dictionary is a gzip (dictzip) file read in-process by zlib: a path with
 * a quote in it (which the shell command that read it before broke on) works; a truncated file
 * is an error that adds nothing. */
TEST(dictionary_entries_are_read_from_gzip) {
  char path[600];
  tmp_path(path, sizeof path, "dict's.dz");
  gzFile z = gzopen(path, "wb");
  CHECK(z != NULL);
  if (!z) return;
  gzputs(z, "00-database-info header\n\n");
  for (int i = 0; i < 500; i++) gzprintf(z, "word%d\n   the meaning of word %d, a filler of %08d\n\n", i, i, i * 7919);
  gzclose(z);
  ag_corpus c;
  ag_corpus_init(&c);
  CHECK_OK(ag_corpus_add_gcide(&c, path, 0));
  CHECK_EQ(c.n, 500); /* the header entry is left out */
  ag_buf_put_u8(&c.text, 0);
  CHECK(strstr((const char *)c.text.data, "the meaning of word 499") != NULL);
  c.text.len--;
  size_t n = c.n, len = c.text.len;
  /* cut the file in half: an error, the corpus unchanged */
  uint8_t *d = NULL;
  size_t dl = 0;
  CHECK_OK(ag_read_file(path, 1 << 24, &d, &dl));
  CHECK_OK(ag_write_file_atomic(path, d, dl / 2, 0644));
  free(d);
  CHECK_EQ(ag_corpus_add_gcide(&c, path, 0), AG_E_IO);
  CHECK_EQ(c.n, n);
  CHECK_EQ(c.text.len, len);
  ag_corpus_free(&c);
  unlink(path);
}

TEST_MAIN(checkpoint_round_trip_and_id, checkpoint_corruption_is_an_error,
          training_bit_identical_threads_paths_resume, training_loss_matches_inference_logits,
          generation_same_seed_same_tokens, receipts_honest_pass_altered_fail,
          penalties_follow_the_rule_and_are_verified,
          gguf_round_trip_same_id_and_logits, gguf_unsupported_arch_and_type,
          gguf_in_place_refuses_what_it_would_ignore, dictionary_entries_are_read_from_gzip,
          demo_model_results_are_pinned)
