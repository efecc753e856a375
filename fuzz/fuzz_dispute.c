/*
 * fuzz_dispute.c — dispute evidence from the chain, judged by a committee member: the bytes a
 * dispute carries (ag_evidence_decode), and the member's vote on them (ag_inf_dispute_vote:
 * the request body parsed and re-executed with the nano model, models/agora-nano.bin, as
 * validators run it).
 *
 * The first input byte picks the mode:
 *   < 64    raw evidence bytes;
 *   else    evidence the harness builds (ag_evidence_encode) from fuzzed parts: the request
 *           body (one of five honest requests answered in LLVMFuzzerInitialize, a valid one
 *           built from fuzzed fields, or bytes from the input), the provider's hotkey or
 *           another, the payment receipt's fields, the text (honest or from the input), and
 *           the receipt (left out, an honest one, an honest one with fuzzed byte edits, or
 *           bytes from the input); signed by the provider when asked, as the chain checks.
 * What must hold: evidence that decodes encodes back to the same bytes (the chain keeps them
 * and the case id is theirs), and what the harness encoded decodes; the provider's signatures
 * verify for its own hotkey and no other; the vote returns 0 or a negative code; the vote and the digest are all zeros
 * together; running it twice on the same evidence gives the same code, vote and digest (the
 * committee's members must agree); for a seeded or greedy request, the evidence without its
 * receipt (only its hash) gets the same vote and digest; an honest answer's evidence (one of
 * the five requests from the provider, with its receipt, or without it when seeded or greedy)
 * gets the honest text's hash as the vote; a sampled request without a seed whose receipt is
 * left out is refused.
 *
 * A vote is a generation and a pass over prompt and answer (about 15 ms for a short prompt and
 * 4 tokens in the sanitizer build, 0.4 s for a prompt that fills the context), so the harness
 * only votes on evidence whose request asks for at most MAX_GEN tokens (after the cap by the
 * context) with a prompt of at most MAX_PROMPT tokens, or whose prompt does not fit the context
 * at all (a vote of zeros, without generating); bodies it builds ask for 1..MAX_GEN. Votes are kept by what a vote reads of the evidence (body,
 * hotkey, channel, seq, receipt): evidence the same in all that as evidence of an earlier
 * input is voted on once more and compared with that vote, which is the second vote (and
 * checks too that the payment fields, text, commitment and signatures do not move the vote);
 * other evidence is voted on twice here. Not reached for that cost: a prompt so long that the
 * vote cuts the answer at the end of the context.
 *
 * AGORA_FUZZ_STATS=1 prints at exit how far inputs got.
 */
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "economy/economy.h"
#include "engine/engine.h"
#include "subnets/inference.h"

#include "fuzz_input.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GEN 6
#define MAX_PROMPT 48

static ag_model *model;
static ag_infer *state;
static ag_keypair provider;
static char model_name[32];

/* Honest answers, made once: the request, and what the provider answered and proved. */
#define NHONEST 5
static struct {
  char *body;
  ag_buf receipt;
  uint8_t receipt_hash[32], commitment[32];
  ag_buf text;
  uint8_t vote[32]; /* BLAKE2b-256("agora/inftext", text) */
  int lean_ok;      /* seeded or greedy: judged the same without the receipt */
} honest[NHONEST];

static struct {
  int on;
  unsigned long raw, decoded, made, costly, voted, again, zeros, abstained, honest, lean;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_dispute: %lu raw inputs (%lu decoded), %lu made; %lu too costly to vote on; %lu votes (%lu on "
            "evidence voted on before): %lu zeros (a body no miner may answer), %lu abstained; %lu honest answers "
            "checked, %lu judged without their receipt too\n",
            stats.raw, stats.decoded, stats.made, stats.costly, stats.voted, stats.again, stats.zeros,
            stats.abstained, stats.honest, stats.lean);
  for (int i = 0; i < NHONEST; i++) {
    free(honest[i].body);
    ag_buf_free(&honest[i].receipt);
    ag_buf_free(&honest[i].text);
  }
  ag_infer_close(state);
  ag_model_close(model);
}

/* As the vote reads a body: chat when it is an object with messages. */
static int parse_body(const uint8_t *body, size_t len, ag_inf_request *r) {
  json_t *o = json_loadb((const char *)body, len, 0, NULL);
  bool chat = json_is_object(o) && json_object_get(o, "messages") != NULL;
  json_decref(o);
  const char *param;
  return ag_inf_request_parse(chat, body, len, r, &param);
}

/* The provider answers body honestly (as a miner: a seeded request with its bound seed, else a
 * seed of its own, here fixed). */
static void answer(int i, const char *body, uint64_t own_seed) {
  ag_inf_request r;
  uint32_t *ids = NULL;
  size_t n = 0;
  if (parse_body((const uint8_t *)body, strlen(body), &r) || ag_inf_prompt_ids(model, &r, &ids, &n)) abort();
  ag_sampling sp;
  ag_inf_sampling(model, &r, &sp);
  sp.seed = r.has_seed ? ag_inf_bound_seed(provider.pk, r.seed) : own_seed;
  ag_gen_out out;
  memset(&out, 0, sizeof out);
  out.tokens = malloc((size_t)r.max_tokens * sizeof *out.tokens);
  ag_buf_init(&honest[i].receipt);
  ag_buf_init(&honest[i].text);
  if (ag_generate(state, ids, (int)n, r.max_tokens, &sp, AG_COMMIT_K_DEFAULT, &out, &honest[i].receipt, NULL, NULL) ||
      ag_inf_text(model, out.tokens, out.n, &r, 0, &honest[i].text, NULL))
    abort();
  honest[i].body = ag_xstrdup(body);
  ag_hash("agora/receipt", honest[i].receipt.data, honest[i].receipt.len, honest[i].receipt_hash);
  memcpy(honest[i].commitment, out.commitment, 32);
  ag_hash("agora/inftext", honest[i].text.data, honest[i].text.len, honest[i].vote);
  honest[i].lean_ok = r.has_seed || sp.temperature == 0;
  free(out.tokens);
  free(ids);
  ag_inf_request_free(&r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  model = fuzz_nano_model(); /* as miners and validators run it */
  if (ag_infer_open(model, model->cfg.seq_len, 1, &state)) abort();
  uint8_t seed[32] = {0x5e, 0x11};
  ag_key_from_seed(&provider, seed);
  ag_inf_model_name(model->id, model_name);
  static const char *const bodies[NHONEST] = {
      /* greedy */
      "{\"model\":\"%s\",\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}",
      /* seeded */
      "{\"model\":\"%s\",\"prompt\":\"The cat sat\",\"max_tokens\":4,\"seed\":7,\"top_k\":40}",
      /* sampled without a seed: judged only with the receipt */
      "{\"model\":\"%s\",\"prompt\":\"Hello\",\"max_tokens\":4,\"temperature\":0.9,\"stop\":[\"\\n\"]}",
      /* chat, seeded, with a penalty */
      "{\"model\":\"%s\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
      "\"content\":\"Hi\"}],\"max_completion_tokens\":4,\"seed\":3,\"frequency_penalty\":0.5}",
      /* chat, sampled without a seed */
      "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}],\"max_tokens\":4,"
      "\"top_p\":0.9,\"presence_penalty\":1}",
  };
  for (int i = 0; i < NHONEST; i++) {
    char b[512];
    snprintf(b, sizeof b, bodies[i], model_name);
    answer(i, b, 1000 + (uint64_t)i);
  }
  atexit(at_exit);
  return 0;
}

static const uint8_t zero32[32];

/* Whether voting on e costs at most a short generation: the body does not parse, its prompt
 * does not fit the context, or it is short and asks for at most MAX_GEN tokens. */
static int affordable(const ag_evidence *e) {
  ag_inf_request r;
  if (parse_body(e->body, e->body_len, &r)) return 1;
  uint32_t *ids = NULL;
  size_t n = 0;
  int ctx = model->cfg.seq_len, ok = 1;
  if (!ag_inf_prompt_ids(model, &r, &ids, &n) && n >= 1 && (int)n < ctx)
    ok = n <= MAX_PROMPT && AG_MIN(r.max_tokens, ctx - (int)n + 1) <= MAX_GEN;
  free(ids);
  ag_inf_request_free(&r);
  return ok;
}

static void fail(const char *what, const ag_evidence *e) {
  fprintf(stderr, "fuzz_dispute: %s\nbody: %.*s\n", what, (int)AG_MIN(e->body_len, 2000u), (const char *)e->body);
  abort();
}

/* Votes by what a vote reads of the evidence (its key): the body, the hotkey, the channel and
 * sequence (the case id) and the receipt (the seed of an unseeded request). Fixed storage:
 * memory held across inputs would make libFuzzer run each input twice to look for leaks. */
#define NVOTES 256
static struct {
  uint8_t key[32], vote[32], digest[32];
  int rc, used;
} votes[NVOTES];
static unsigned votes_next;

static void vote_key(const ag_evidence *e, uint8_t key[32]) {
  ag_hasher h;
  uint8_t b[12];
  ag_hasher_init(&h, "fuzz/vote");
  ag_hasher_update(&h, e->hotkey, 32);
  ag_hasher_update(&h, e->pay.channel, 32);
  ag_put_u64le(b, e->pay.seq);
  ag_put_u32le(b + 8, e->receipt_len);
  ag_hasher_update(&h, b, 12);
  if (e->receipt_len) ag_hasher_update(&h, e->receipt, e->receipt_len);
  ag_hasher_update(&h, e->body, e->body_len);
  ag_hasher_final(&h, key);
}

static int vote_find(const uint8_t key[32]) {
  for (int i = 0; i < NVOTES; i++)
    if (votes[i].used && !memcmp(votes[i].key, key, 32)) return i;
  return -1;
}

static void vote_keep(const uint8_t key[32], int rc, const uint8_t vote[32], const uint8_t digest[32]) {
  int i = (int)(votes_next++ % NVOTES);
  memcpy(votes[i].key, key, 32);
  memcpy(votes[i].vote, vote, 32);
  memcpy(votes[i].digest, digest, 32);
  votes[i].rc = rc;
  votes[i].used = 1;
}

/* The vote on e, and a second one on the same evidence: run here, or when the same evidence
 * (in all a vote reads) was voted on in an earlier input, that vote. */
static int vote_twice(const ag_evidence *e, uint8_t vote[32], uint8_t digest[32]) {
  uint8_t key[32], v2[32], d2[32];
  vote_key(e, key);
  int rc = ag_inf_dispute_vote(state, model, e, vote, digest), rc2, k = vote_find(key);
  stats.voted++;
  if (k >= 0) {
    rc2 = votes[k].rc;
    memcpy(v2, votes[k].vote, 32);
    memcpy(d2, votes[k].digest, 32);
    stats.again++;
  } else {
    rc2 = ag_inf_dispute_vote(state, model, e, v2, d2);
    vote_keep(key, rc, vote, digest);
  }
  if (rc != rc2 || memcmp(vote, v2, 32) || memcmp(digest, d2, 32))
    fail(k >= 0 ? "two votes on the same evidence differ (the other one in an earlier input: the vote read more "
                  "than the body, hotkey, channel, seq and receipt, or the state kept something)"
                : "two votes on the same evidence differ",
         e);
  return rc;
}

/* The vote, twice (and without the receipt when that must not matter); what must hold of it.
 * which: the honest answer the evidence is, or -1. */
static void judge(const ag_evidence *e, int which, int lean) {
  if (!affordable(e)) {
    stats.costly++;
    return;
  }
  uint8_t v1[32], d1[32];
  int rc1 = vote_twice(e, v1, d1);
  if (rc1 > 0) fail("the vote returned a positive code", e);
  if (rc1) {
    stats.abstained++;
    if (memcmp(d1, zero32, 32)) fail("a failed vote has a digest", e);
  } else if (!memcmp(v1, zero32, 32) != !memcmp(d1, zero32, 32)) {
    fail("a vote of zeros with a digest, or a vote without one", e);
  } else if (!memcmp(v1, zero32, 32)) {
    stats.zeros++;
  }
  ag_inf_request r;
  ag_sampling sp; /* the temperature as the engine has it (a float: 1e-50 is greedy) */
  int parsed = parse_body(e->body, e->body_len, &r) == 0;
  if (parsed) ag_inf_sampling(model, &r, &sp);
  int seeded_or_greedy = parsed && (r.has_seed || sp.temperature == 0);
  if (parsed && !seeded_or_greedy && !e->receipt_len) {
    /* the seed is in the receipt left out: refused, unless no miner may answer the body */
    if (rc1 != AG_E_DISPUTE_EVIDENCE && (rc1 || memcmp(v1, zero32, 32)))
      fail("a sampled request without a seed was judged without its receipt", e);
  }
  if (parsed) ag_inf_request_free(&r);
  if (lean && e->receipt_len && seeded_or_greedy) {
    ag_evidence l = *e;
    l.receipt = NULL;
    l.receipt_len = 0;
    uint8_t v3[32], d3[32], key[32];
    vote_key(&l, key);
    int k = vote_find(key), rc3;
    if (k >= 0) {
      rc3 = votes[k].rc;
      memcpy(v3, votes[k].vote, 32);
      memcpy(d3, votes[k].digest, 32);
    } else {
      rc3 = ag_inf_dispute_vote(state, model, &l, v3, d3);
      vote_keep(key, rc3, v3, d3);
    }
    stats.lean++;
    if (rc3 != rc1 || memcmp(v3, v1, 32) || memcmp(d3, d1, 32))
      fail("a seeded or greedy request is judged otherwise without its receipt", e);
  }
  if (which >= 0) {
    stats.honest++;
    if (rc1 || memcmp(v1, honest[which].vote, 32)) {
      fprintf(stderr, "fuzz_dispute: honest answer %d: code %d (%s)\n", which, rc1, rc1 ? ag_errmsg(rc1) : "ok");
      fail("an honest answer's evidence is not voted its text", e);
    }
  }
}

/* A length of up to 2^bits - 1 from the input (low byte first). */
static size_t get_len(in_t *in, int bits) {
  size_t lo = get8(in);
  return (lo | (size_t)get8(in) << 8) & (((size_t)1 << bits) - 1);
}

/* Valid UTF-8 without NUL (as a request may hold): the bytes, or their low 7 bits. */
static json_t *text_json(const uint8_t *p, size_t n) {
  json_t *s = memchr(p, 0, n) ? NULL : json_stringn((const char *)p, n);
  if (s) return s;
  char *a = malloc(n + 1);
  for (size_t i = 0; i < n; i++) a[i] = (char)((p[i] & 0x7f) ? (p[i] & 0x7f) : ' ');
  s = json_stringn(a, n);
  free(a);
  return s;
}

/* A valid request from fuzzed fields, asking for 1..MAX_GEN tokens. */
static char *made_body(in_t *in) {
  uint8_t f = get8(in), g = get8(in), mt = get8(in);
  static const double temps[4] = {0, 0.7, 1.0, 1.5}, pens[4] = {0, 0.5, -1, 2};
  int chat = f & 1;
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(f & 2 ? model_name : "m"));
  json_object_set_new(o, chat && (g & 1) ? "max_completion_tokens" : "max_tokens", json_integer(1 + mt % MAX_GEN));
  if ((f >> 2) & 3 || (g & 2)) json_object_set_new(o, "temperature", json_real(temps[(f >> 2) & 3]));
  if (f & 0x10) json_object_set_new(o, "seed", json_integer(get8(in)));
  if (f & 0x20) json_object_set_new(o, "top_p", json_real(g & 4 ? 0.5 : 0.9));
  if (f & 0x40) json_object_set_new(o, "top_k", json_integer(g & 8 ? 1 : 40));
  if (g & 0x30) json_object_set_new(o, "frequency_penalty", json_real(pens[(g >> 4) & 3]));
  if (g & 0xc0) json_object_set_new(o, "presence_penalty", json_real(pens[g >> 6]));
  if (f & 0x80) {
    char stop[2] = {(char)(0x20 + get8(in) % 95), 0};
    json_object_set_new(o, "stop", json_pack("[s]", stop));
  }
  size_t plen;
  const uint8_t *p = take(in, get8(in) % 49, &plen);
  json_t *prompt = text_json(p, plen);
  if (chat) {
    json_t *msgs = json_array();
    if (mt & 0x80) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", "Be brief."));
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", mt & 0x40 ? "assistant" : "user", "content", prompt));
    json_object_set_new(o, "messages", msgs);
  } else {
    json_object_set_new(o, "prompt", prompt);
  }
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

static void made(in_t *in) {
  uint8_t f = get8(in), h = get8(in);
  ag_evidence e;
  memset(&e, 0, sizeof e);
  /* the body */
  int which = -1, j = h % NHONEST; /* j: the honest answer whose parts are used */
  char *mbody = NULL;
  uint8_t *rbody = NULL;
  switch (f & 3) {
  case 0:
  case 1:
    which = j;
    e.body = (const uint8_t *)honest[j].body;
    e.body_len = (uint32_t)strlen(honest[j].body);
    break;
  case 2:
    mbody = made_body(in);
    e.body = (const uint8_t *)mbody;
    e.body_len = (uint32_t)strlen(mbody);
    break;
  default: {
    size_t n;
    const uint8_t *p = take(in, get_len(in, 11), &n);
    rbody = malloc(n + 1); /* its own allocation, so overreads are seen */
    memcpy(rbody, p, n);
    e.body = rbody;
    e.body_len = (uint32_t)n;
    if (!n) e.body_len = 1, rbody[0] = '{';
  }
  }
  /* the hotkey */
  if (f & 0x10) {
    size_t n;
    const uint8_t *p = take(in, 32, &n);
    memcpy(e.hotkey, p, n);
    which = -1; /* another hotkey samples a seeded request otherwise */
  } else {
    memcpy(e.hotkey, provider.pk, 32);
  }
  /* the payment receipt */
  ag_pay_receipt *pr = &e.pay;
  uint64_t *pv[9] = {&pr->seq, &pr->cumulative, &pr->n_in, &pr->n_out, &pr->price_in,
                     &pr->price_out, &pr->cost, &pr->billed, &pr->height};
  uint8_t pf = get8(in);
  for (int i = 0; i < 9; i++) {
    *pv[i] = pf & (1u << (i % 8)) ? get32(in) : get8(in);
    if (pf & (1u << (i % 8))) *pv[i] |= (uint64_t)get32(in) << 32;
  }
  pr->channel[0] = get8(in);
  memcpy(e.commitment, honest[j].commitment, 32);
  /* the text */
  uint8_t *rtext = NULL;
  if (f & 0x20) {
    size_t n;
    const uint8_t *p = take(in, get8(in), &n);
    rtext = malloc(n + 1);
    memcpy(rtext, p, n);
    e.text = rtext;
    e.text_len = (uint32_t)n;
  } else {
    e.text = honest[j].text.data;
    e.text_len = (uint32_t)honest[j].text.len;
  }
  /* the receipt */
  ag_buf rec;
  ag_buf_init(&rec);
  int rk = (f >> 2) & 3;
  if (rk == 0) { /* left out: its hash */
    memcpy(e.receipt_hash, honest[j].receipt_hash, 32);
    if (which >= 0 && !honest[which].lean_ok) which = -1; /* judged with it only */
  } else if (rk == 1 || rk == 2) {
    ag_buf_put(&rec, honest[j].receipt.data, honest[j].receipt.len);
    int edits = rk == 2 ? 1 + get8(in) % 4 : 0;
    for (int k = 0; k < edits; k++) {
      size_t at = get_len(in, 16);
      rec.data[at % rec.len] ^= (uint8_t)(get8(in) | 1);
    }
    if (edits && which >= 0 && !honest[which].lean_ok) which = -1;
  } else {
    size_t n;
    const uint8_t *p = take(in, get_len(in, 10), &n);
    ag_buf_put(&rec, p, n);
    if (!n) memcpy(e.receipt_hash, zero32, 32);
    if (which >= 0 && !honest[which].lean_ok) which = -1;
  }
  if (rk) {
    e.receipt = rec.len ? rec.data : NULL;
    e.receipt_len = (uint32_t)rec.len;
    if (rec.len) ag_hash("agora/receipt", rec.data, rec.len, e.receipt_hash);
  }
  /* the provider's signatures, as the chain requires */
  if (f & 0x80) {
    uint8_t reqh[32], msg[32];
    ag_answer_request_hash(e.body, e.body_len, reqh);
    ag_pay_receipt_message(e.hotkey, reqh, pr, msg);
    ag_sign(&provider, msg, 32, e.pay_sig);
    ag_answer_message_rh(e.hotkey, reqh, e.text, e.text_len, e.commitment, e.receipt_hash, msg);
    ag_sign(&provider, msg, 32, e.answer_sig);
    if ((ag_evidence_verify(&e) == 0) != !memcmp(e.hotkey, provider.pk, 32))
      fail("the provider's signatures verify for another hotkey, or not for its own", &e);
  }
  /* through the chain's bytes */
  ag_buf enc, enc2;
  ag_buf_init(&enc);
  ag_buf_init(&enc2);
  ag_evidence_encode(&enc, &e);
  ag_evidence d;
  if (ag_evidence_decode(enc.data, enc.len, &d)) fail("evidence the harness encoded does not decode", &e);
  ag_evidence_encode(&enc2, &d);
  if (enc2.len != enc.len || memcmp(enc.data, enc2.data, enc.len) || memcmp(d.receipt_hash, e.receipt_hash, 32))
    fail("evidence does not encode back to its bytes", &e);
  stats.made++;
  judge(&d, which, f & 0x40);
  ag_buf_free(&enc);
  ag_buf_free(&enc2);
  ag_buf_free(&rec);
  free(rtext);
  free(rbody);
  free(mbody);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  if (sel < 64) {
    stats.raw++;
    ag_evidence e;
    if (ag_evidence_decode(data + 1, size - 1, &e) == 0) {
      stats.decoded++;
      ag_buf enc;
      ag_buf_init(&enc);
      ag_evidence_encode(&enc, &e);
      if (enc.len != size - 1 || memcmp(enc.data, data + 1, enc.len))
        fail("evidence does not encode back to its bytes", &e);
      ag_buf_free(&enc);
      judge(&e, -1, sel & 1);
    }
  } else {
    in_t in = {data + 1, size - 1};
    made(&in);
  }
  ag_err_clear();
  return 0;
}
