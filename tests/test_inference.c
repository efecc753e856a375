/*
 * test_inference.c — the inference subnet's protocol without processes: request parsing and
 * its errors, the chat template, the text rule (stop token, UTF-8 repair, stop strings), the
 * checks on an answer (each failure with its code, the early-stop rule), and that q8 and fp32
 * copies of the shipped model produce and accept each other's receipts.
 */
#include "test.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "engine/engine.h"
#include "subnets/inference.h"

#include <jansson.h>
#include <math.h>

static ag_model *load_q8(void) {
  ag_model *m = NULL;
  CHECK_OK(ag_model_load(AGORA_SRC_DIR "/models/agora-nano.bin", &m, NULL));
  return m;
}

static int parse(bool chat, const char *body, ag_inf_request *r, const char **param) {
  return ag_inf_request_parse(chat, (const uint8_t *)body, strlen(body), r, param);
}

TEST(requests_parse_with_defaults_and_precise_errors) {
  ag_inf_request r;
  const char *param;
  CHECK_OK(parse(false, "{\"model\":\"m\",\"prompt\":\"hi\",\"unknown\":[1,2]}", &r, &param));
  CHECK_STR(r.prompt, "hi");
  CHECK_EQ(r.max_tokens, 16);
  CHECK(r.temperature == 1.0 && r.top_p == 1.0 && r.top_k == 0 && !r.has_seed && !r.stream);
  ag_inf_request_free(&r);
  CHECK_OK(parse(false, "{\"model\":\"m\",\"prompt\":[\"a b\"],\"max_tokens\":5,\"seed\":9,\"stop\":[\"x\",\"\",\"yz\"],"
                        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"top_k\":7}", &r, &param));
  CHECK_STR(r.prompt, "a b");
  CHECK(r.max_tokens == 5 && r.has_seed && r.seed == 9 && r.stream && r.include_usage && r.top_k == 7);
  CHECK_EQ(r.nstop, 2); /* empty stops are dropped */
  ag_inf_request_free(&r);
  /* OpenAI's penalties; -0 is 0 (receipts compare the parameters' bits) */
  CHECK_OK(parse(false, "{\"model\":\"m\",\"prompt\":\"x\",\"frequency_penalty\":1.25,\"presence_penalty\":-0.0}", &r, &param));
  CHECK(r.frequency_penalty == 1.25 && r.presence_penalty == 0 && !signbit(r.presence_penalty));
  ag_inf_request_free(&r);
  /* parameters that miners do not serve pass at their neutral values */
  CHECK_OK(parse(true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":false,"
                       "\"logit_bias\":{},\"response_format\":{\"type\":\"text\"},\"tools\":[],\"tool_choice\":\"none\","
                       "\"top_logprobs\":null,\"user\":\"u\",\"metadata\":{\"a\":\"b\"}}", &r, &param));
  ag_inf_request_free(&r);
  CHECK_OK(parse(false, "{\"model\":\"m\",\"prompt\":\"x\",\"echo\":false,\"best_of\":1,\"suffix\":null,\"logprobs\":0}", &r, &param));
  ag_inf_request_free(&r);
  struct {
    bool chat;
    const char *body, *param;
    int code;
  } bad[] = {
      {false, "[1]", NULL, AG_E_BAD_JSON},
      {false, "{\"prompt\":\"x\"}", "model", AG_E_INVALID},
      {false, "{\"model\":\"m\"}", "prompt", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":2.5}", "temperature", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":0}", "top_p", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":1.5}", "max_tokens", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":2}", "n", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":\"s\"}", "seed", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[1]}", "stop", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"frequency_penalty\":2.5}", "frequency_penalty", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"presence_penalty\":\"a lot\"}", "presence_penalty", AG_E_INVALID},
      /* what would change the answer but is not served is refused, not ignored */
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":{\"50256\":-100}}", "logit_bias", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":5}", "logprobs", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}", "echo", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":3}", "best_of", AG_E_INVALID},
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"end\"}", "suffix", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}", "logprobs", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", "top_logprobs", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}", "response_format", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}", "tools", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", "tool_choice", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"functions\":[{}]}", "functions", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"audio\":{\"voice\":\"alloy\"}}", "audio", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[]}", "messages", AG_E_INVALID},
      /* a body is for one route only: a dispute re-reads it without knowing the route */
      {false, "{\"model\":\"m\",\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "messages", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "prompt", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", NULL, AG_E_BAD_JSON},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens", AG_E_INVALID},
      {true, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":-1}", "max_completion_tokens", AG_E_INVALID},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    param = NULL;
    int rc = parse(bad[i].chat, bad[i].body, &r, &param);
    CHECK_EQ(rc, bad[i].code);
    if (bad[i].param) CHECK_STR(param, bad[i].param);
    if (rc != bad[i].code) fprintf(stderr, "  case %zu: %s\n", i, bad[i].body);
  }
}

TEST(chat_template) {
  ag_inf_request r;
  const char *param;
  CHECK_OK(parse(true, "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\",\"text\":\"there\"}]},"
                       "{\"role\":\"assistant\",\"content\":null},{\"role\":\"tool\",\"content\":\"42\"}]}", &r, &param));
  CHECK_STR(r.prompt, "System: Be brief.\nUser: Hi there\nAssistant: \nTool: 42\nAssistant:");
  CHECK_EQ(r.max_tokens, 128);
  ag_inf_request_free(&r);
}

/* ids of bytes: the tokenizer's first 256 ids are the bytes */
static int text_of(const ag_model *m, const char *stops_json, const uint32_t *t, int n, int partial,
                   char *out, size_t cap, int *stopped) {
  char body[256];
  snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":%s}", stops_json);
  ag_inf_request r;
  const char *param;
  if (parse(false, body, &r, &param)) return -1;
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_inf_text(m, t, n, &r, partial, &b, stopped);
  snprintf(out, cap, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
  ag_buf_free(&b);
  ag_inf_request_free(&r);
  return rc;
}

TEST(the_text_of_output_tokens) {
  ag_model *m = load_q8();
  if (!m) return;
  char s[64];
  int stopped;
  uint32_t ab[] = {'a', 'b', AG_TOK_EOT};
  CHECK_OK(text_of(m, "null", ab, 3, 0, s, sizeof s, &stopped));
  CHECK_STR(s, "ab");
  CHECK_EQ(stopped, 0);
  uint32_t bad[] = {'a', 0xff, 0, 'b'}; /* an invalid byte and a NUL become U+FFFD */
  CHECK_OK(text_of(m, "null", bad, 4, 0, s, sizeof s, &stopped));
  CHECK_STR(s, "a\xef\xbf\xbd\xef\xbf\xbd" "b");
  uint32_t euro[] = {'x', 0xe2, 0x82}; /* "€" cut short: held back while partial */
  CHECK_OK(text_of(m, "null", euro, 3, 1, s, sizeof s, &stopped));
  CHECK_STR(s, "x");
  CHECK_OK(text_of(m, "null", euro, 3, 0, s, sizeof s, &stopped));
  CHECK_STR(s, "x\xef\xbf\xbd\xef\xbf\xbd");
  uint32_t st[] = {'h', 'i', '\n', 'y', 'o', '\n', 'z'};
  CHECK_OK(text_of(m, "[\"o\\n\",\"\\n\"]", st, 7, 0, s, sizeof s, &stopped));
  CHECK_STR(s, "hi");
  CHECK_EQ(stopped, 1);
  ag_model_close(m);
}

/* ---- answers --------------------------------------------------------------------------------- */

/* What a miner returns for body: generate max_new tokens (which may be fewer than the request
 * asks, to test the early-stop rule) and sign. */
static int drop_penalties; /* answer as a miner that ignores the request's penalties */

static json_t *answer(const ag_model *m, const ag_keypair *k, const char *body, int max_new,
                      float temp_override) {
  ag_inf_request r;
  const char *param;
  if (parse(false, body, &r, &param)) return NULL;
  ag_sampling sp;
  ag_inf_sampling(m, &r, &sp);
  uint8_t reqh[32], msg[32], sig[64];
  ag_inf_request_hash(body, strlen(body), reqh);
  if (r.has_seed) sp.seed = ag_inf_bound_seed(k->pk, r.seed); /* as a miner does */
  if (temp_override >= 0) sp.temperature = temp_override;
  if (drop_penalties) sp.frequency_penalty = sp.presence_penalty = 0;
  uint32_t *ids;
  size_t n;
  ag_engine_encode(m, r.prompt, strlen(r.prompt), &ids, &n);
  uint32_t toks[256];
  int n_out = 0;
  ag_buf rec;
  ag_buf_init(&rec);
  CHECK_OK(ag_engine_generate(m, ids, (int)n, max_new, &sp, 1, toks, &n_out, &rec));
  ag_buf text;
  ag_buf_init(&text);
  ag_inf_text(m, toks, n_out, &r, 0, &text, NULL);
  ag_receipt rc;
  CHECK_OK(ag_receipt_parse(rec.data, rec.len, &rc));
  ag_inf_sig_message(k->pk, reqh, text.data, text.len, rc.commitment, rec.data, rec.len, msg);
  ag_sign(k, msg, 32, sig);
  char *b64 = malloc(ag_b64_len(rec.len));
  ag_b64_encode(rec.data, rec.len, b64);
  char hk[AG_ADDR_MAX], h1[65], h2[65], h3[129];
  ag_addr_encode(k->pk, hk);
  ag_hex_encode(reqh, 32, h1);
  ag_hex_encode(rc.commitment, 32, h2);
  ag_hex_encode(sig, 64, h3);
  json_t *o = json_pack("{s:[{s:s%}], s:{s:s, s:s, s:s, s:s, s:s}}", "choices", "text",
                        text.data ? (const char *)text.data : "", text.len, "agora", "request_hash", h1,
                        "receipt", b64, "commitment", h2, "hotkey", hk, "signature", h3);
  free(b64);
  free(ids);
  ag_buf_free(&text);
  ag_buf_free(&rec);
  ag_inf_request_free(&r);
  return o;
}

/* The answer with its proof re-signed by k, as a relaying miner would send it. */
static json_t *resign(json_t *ans, const ag_keypair *k) {
  json_t *t = json_deep_copy(ans), *ag = json_object_get(t, "agora");
  const char *text = json_string_value(json_object_get(json_array_get(json_object_get(t, "choices"), 0), "text"));
  const char *rb64 = json_string_value(json_object_get(ag, "receipt"));
  uint8_t reqh[32], commit[32], msg[32], sig[64], *rec = NULL;
  size_t rlen = 0;
  ag_hex_decode(json_string_value(json_object_get(ag, "request_hash")), 64, reqh, 32);
  ag_hex_decode(json_string_value(json_object_get(ag, "commitment")), 64, commit, 32);
  ag_b64_decode_alloc(rb64, strlen(rb64), 1 << 24, &rec, &rlen);
  ag_inf_sig_message(k->pk, reqh, text, strlen(text), commit, rec, rlen, msg);
  ag_sign(k, msg, 32, sig);
  char hk[AG_ADDR_MAX], hs[129];
  ag_addr_encode(k->pk, hk);
  ag_hex_encode(sig, 64, hs);
  json_object_set_new(ag, "hotkey", json_string(hk));
  json_object_set_new(ag, "signature", json_string(hs));
  free(rec);
  return t;
}

static int check(ag_infer *st, const ag_model *m, const char *body, json_t *resp, const ag_keypair *k) {
  ag_inf_request r;
  const char *param;
  if (parse(false, body, &r, &param)) return -1;
  ag_inf_verdict v;
  int rc = ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &r, resp, k->pk, &v);
  CHECK_EQ(v.ok, rc == 0);
  ag_inf_request_free(&r);
  return rc;
}

static uint8_t last_case[32]; /* the case id of the last vote_with */

typedef struct {
  ag_hasher h;
  int from, V;
} logit_hash;

static int hash_logits(void *ctx, int pos, const float *logits) {
  logit_hash *c = ctx;
  if (pos >= c->from) ag_hasher_update(&c->h, logits, sizeof(float) * (size_t)c->V);
  return 0;
}

/* The work the spec defines for an honest answer (docs/economy.md "Votes"), computed here from
 * its receipt's tokens: BLAKE2b-256("agora/dwork", case | every logit of every position that
 * chose an output token), little-endian f32 (this host's order). */
static void expected_work(const ag_model *m, json_t *ans, const uint8_t id[32], uint8_t out[32]) {
  const char *rb64 = json_string_value(json_object_get(json_object_get(ans, "agora"), "receipt"));
  uint8_t *rec = NULL;
  size_t rlen = 0;
  ag_receipt r;
  CHECK_OK(ag_b64_decode_alloc(rb64, strlen(rb64), 1 << 24, &rec, &rlen));
  CHECK_OK(ag_receipt_parse(rec, rlen, &r));
  int n = r.n_prompt + r.n_out - 1;
  uint32_t *t = malloc(sizeof *t * (size_t)(n + 1));
  for (int i = 0; i < r.n_prompt; i++) t[i] = ag_receipt_prompt(&r, i);
  for (int i = 0; i < r.n_out; i++) t[r.n_prompt + i] = ag_receipt_out(&r, i);
  logit_hash c = {.from = r.n_prompt - 1, .V = m->cfg.vocab_size};
  ag_hasher_init(&c.h, "agora/dwork");
  ag_hasher_update(&c.h, id, 32);
  ag_infer *s;
  CHECK_OK(ag_infer_open(m, m->cfg.seq_len, 1, &s));
  CHECK_OK(ag_infer_forward(s, t, n, NULL, hash_logits, &c));
  ag_hasher_final(&c.h, out);
  ag_infer_close(s);
  free(t);
  free(rec);
}

/* The vote a dispute committee member casts on an answer to body (its payment part unused),
 * from evidence with the answer's receipt (keep) or only its hash. */
static int vote_with(ag_infer *st, const ag_model *m, const char *body, json_t *ans, const ag_keypair *k, int keep,
                     uint8_t vote[32], uint8_t work[32], uint8_t claimed[32]) {
  json_t *ag = json_object_get(ans, "agora");
  const char *text = json_string_value(json_object_get(json_array_get(json_object_get(ans, "choices"), 0), "text"));
  const char *rb64 = json_string_value(json_object_get(ag, "receipt"));
  ag_evidence e;
  memset(&e, 0, sizeof e);
  memcpy(e.hotkey, k->pk, 32);
  ag_hex_decode(json_string_value(json_object_get(ag, "commitment")), 64, e.commitment, 32);
  ag_hex_decode(json_string_value(json_object_get(ag, "signature")), 128, e.answer_sig, 64);
  uint8_t *rec = NULL;
  size_t rlen = 0;
  CHECK_OK(ag_b64_decode_alloc(rb64, strlen(rb64), 1 << 24, &rec, &rlen));
  e.body = (const uint8_t *)body;
  e.body_len = (uint32_t)strlen(body);
  e.text = (const uint8_t *)text;
  e.text_len = (uint32_t)strlen(text);
  ag_hash("agora/receipt", rec, rlen, e.receipt_hash);
  if (keep) {
    e.receipt = rec;
    e.receipt_len = (uint32_t)rlen;
  }
  ag_dispute_id(&e, last_case);
  int rc = ag_inf_dispute_vote(st, m, &e, vote, work);
  ag_hash("agora/inftext", text, strlen(text), claimed);
  free(rec);
  return rc;
}

/* Both votes, with and without the receipt: a seeded request is judged the same either way. */
static void vote_on(ag_infer *st, const ag_model *m, const char *body, json_t *ans, const ag_keypair *k,
                    uint8_t vote[32], uint8_t claimed[32]) {
  uint8_t lean[32], lean_work[32], work[32], zero[32] = {0};
  CHECK_OK(vote_with(st, m, body, ans, k, 0, lean, lean_work, claimed));
  CHECK_OK(vote_with(st, m, body, ans, k, 1, vote, work, claimed));
  CHECK_MEM(lean, vote, 32);
  /* the proof of work is the same however the evidence came, and is not nothing */
  CHECK_MEM(lean_work, work, 32);
  CHECK(memcmp(work, zero, 32) != 0);
}

TEST(answers_are_checked_step_by_step) {
  ag_model *m = load_q8();
  if (!m) return;
  ag_infer *st;
  CHECK_OK(ag_infer_open(m, m->cfg.seq_len, 1, &st));
  /* fixed keys: the miner-bound seed depends on the key, and a random key sometimes samples the
   * stop token at the 10th position, which makes the shortened answer below legitimately short */
  ag_keypair k, other;
  uint8_t ks[AG_SEED_LEN] = {1}, os[AG_SEED_LEN] = {2};
  ag_key_from_seed(&k, ks);
  ag_key_from_seed(&other, os);
  const char *body = "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"seed\":5,\"temperature\":0.9,\"top_k\":40}";
  json_t *ok = answer(m, &k, body, 24, -1);
  CHECK_EQ(check(st, m, body, ok, &k), 0);
  CHECK_EQ(check(st, m, body, ok, &other), AG_E_INF_SIGNATURE);
  /* the same answer for a request that differs only in its bytes */
  const char *body2 = "{\"model\":\"m\", \"prompt\":\"Once upon a time\",\"max_tokens\":24,\"seed\":5,\"temperature\":0.9,\"top_k\":40}";
  CHECK_EQ(check(st, m, body2, ok, &k), AG_E_INF_REQUEST);
  /* signed honestly, but sampled at another temperature than asked */
  json_t *warm = answer(m, &k, body, 24, 0.5f);
  CHECK_EQ(check(st, m, body, warm, &k), AG_E_INF_RECEIPT);
  /* stopping early without a reason saves work: refused even though the receipt re-executes */
  json_t *shortened = answer(m, &k, body, 10, -1);
  CHECK_EQ(check(NULL, m, body, shortened, &k), AG_E_INF_RECEIPT);
  /* relayed: another miner's correct answer to this very request, re-signed by the relayer, is
   * not the relayer's own work (its tokens were sampled with the other miner's seed) */
  json_t *relayed = resign(ok, &other);
  CHECK_EQ(check(st, m, body, relayed, &other), AG_E_INF_RECEIPT);
  json_decref(relayed);
  /* a proof that is not one */
  json_t *t = json_deep_copy(ok);
  json_object_set_new(json_object_get(t, "agora"), "receipt", json_string("!!!"));
  CHECK_EQ(check(st, m, body, t, &k), AG_E_INF_MALFORMED);
  json_decref(t);
  /* a dispute committee's vote is the model's answer: the honest one's own text; for the warm
   * and the shortened ones, not theirs but the honest one's */
  uint8_t vote[32], claimed[32], right[32];
  vote_on(st, m, body, ok, &k, vote, claimed);
  CHECK_MEM(vote, claimed, 32);
  /* the work is the spec's, made of every logit: a commitment to fewer (what an earlier
   * version hashed, and what a receipt can carry) would not match */
  uint8_t work[32], want[32], case_id[32];
  memcpy(case_id, last_case, 32);
  CHECK_OK(vote_with(st, m, body, ok, &k, 1, vote, work, claimed));
  expected_work(m, ok, case_id, want);
  CHECK_MEM(work, want, 32);
  memcpy(right, claimed, 32);
  vote_on(st, m, body, warm, &k, vote, claimed);
  CHECK(memcmp(vote, claimed, 32) != 0);
  CHECK_MEM(vote, right, 32);
  vote_on(st, m, body, shortened, &k, vote, claimed);
  CHECK(memcmp(vote, claimed, 32) != 0);
  CHECK_MEM(vote, right, 32);
  /* sampled without a seed, the seed is the receipt's: without the receipt a member cannot
   * judge (and abstains); with it, it can */
  const char *unseeded = "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0.9}";
  json_t *us = answer(m, &k, unseeded, 24, -1);
  CHECK_EQ(vote_with(st, m, unseeded, us, &k, 0, vote, work, claimed), AG_E_DISPUTE_EVIDENCE);
  CHECK_OK(vote_with(st, m, unseeded, us, &k, 1, vote, work, claimed));
  CHECK_MEM(vote, claimed, 32);
  json_decref(us);
  /* with OpenAI's penalties: the honest answer passes, and its committee vote is its own text;
   * a miner that ignores them (cheaper: its top-k ranking serves sampling too) is caught on the
   * receipt's parameters */
  const char *pen = "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"seed\":5,"
                    "\"temperature\":0.9,\"top_k\":40,\"frequency_penalty\":0.8,\"presence_penalty\":-0.4}";
  json_t *penok = answer(m, &k, pen, 24, -1);
  CHECK_EQ(check(st, m, pen, penok, &k), 0);
  vote_on(st, m, pen, penok, &k, vote, claimed);
  CHECK_MEM(vote, claimed, 32);
  drop_penalties = 1;
  json_t *ignored = answer(m, &k, pen, 24, -1);
  drop_penalties = 0;
  CHECK_EQ(check(st, m, pen, ignored, &k), AG_E_INF_RECEIPT);
  json_decref(penok);
  json_decref(ignored);
  /* a prompt that nearly fills the context: the miner answers what is left of it (max_tokens
   * clipped), and so must the checks and a committee, or an honest answer would be voted
   * wrong and its provider slashed */
  ag_buf lp;
  ag_buf_init(&lp);
  ag_buf_puts(&lp, "{\"model\":\"m\",\"prompt\":\"");
  uint32_t *lids = NULL;
  size_t ln = 0;
  char words[4096] = "";
  while (ln + 12 < (size_t)m->cfg.seq_len) { /* about 10 tokens of room left */
    free(lids);
    strcat(words, "the old man and the sea ");
    ag_engine_encode(m, words, strlen(words), &lids, &ln);
  }
  free(lids);
  ag_buf_printf(&lp, "%s\",\"max_tokens\":24,\"seed\":3,\"temperature\":0.9}", words);
  ag_buf_cstr(&lp);
  const char *longb = (const char *)lp.data;
  int room = m->cfg.seq_len - (int)ln + 1;
  CHECK(room < 24);
  json_t *full = answer(m, &k, longb, room, -1);
  CHECK_EQ(check(st, m, longb, full, &k), 0);
  vote_on(st, m, longb, full, &k, vote, claimed);
  CHECK_MEM(vote, claimed, 32);
  json_decref(full);
  ag_buf_free(&lp);
  json_decref(ok);
  json_decref(warm);
  json_decref(shortened);
  ag_infer_close(st);
  ag_model_close(m);
}

TEST(q8_and_its_f32_copy_agree_bit_for_bit) {
  ag_model *q = load_q8(), *f = load_q8();
  if (!q || !f) return;
  CHECK_EQ(ag_model_prefer_f32(&f, AG_PREFER_F32_MAX), 1);
  CHECK_EQ(f->wtype, AG_DT_F32);
  CHECK_MEM(f->id, q->id, 32);
  uint32_t *ids;
  size_t n;
  CHECK_OK(ag_engine_encode(q, "The sea", 7, &ids, &n));
  for (int dir = 0; dir < 2; dir++) {
    ag_model *gen = dir ? f : q, *ver = dir ? q : f;
    for (int seed = 1; seed <= 3; seed++) {
      ag_sampling sp;
      ag_sampling_defaults(&sp);
      sp.seed = (uint64_t)seed;
      sp.stop = -1;
      uint32_t toks[200];
      int n_out;
      ag_buf rec;
      ag_buf_init(&rec);
      CHECK_OK(ag_engine_generate(gen, ids, (int)n, 200, &sp, 1, toks, &n_out, &rec));
      ag_verify_report rep;
      CHECK_OK(ag_receipt_verify(ver, rec.data, rec.len, 1, &rep));
      CHECK_EQ(rep.first_bad, -1);
      ag_buf_free(&rec);
    }
  }
  /* a model that is not q8, or too big for the limit, stays as it is */
  CHECK_EQ(ag_model_prefer_f32(&f, AG_PREFER_F32_MAX), 0);
  ag_model *q2 = load_q8();
  CHECK_EQ(ag_model_prefer_f32(&q2, 1024), 0);
  CHECK_EQ(q2->wtype, AG_DT_Q8);
  ag_model_close(q2);
  free(ids);
  ag_model_close(q);
  ag_model_close(f);
}

TEST_MAIN(requests_parse_with_defaults_and_precise_errors, chat_template, the_text_of_output_tokens,
          answers_are_checked_step_by_step, q8_and_its_f32_copy_agree_bit_for_bit)
