/*
 * fuzz_inference.c — what the inference subnet parses and checks from the network: OpenAI
 * request bodies (as miners parse them) and miners' answers with their proofs, checked by
 * ag_inf_verify as validators and `agora infer` check them, re-execution included.
 *
 * An answer is worth checking only if it is signed by the miner it names, so the harness is
 * the miner: it holds a fixed test hotkey (as the validator knows the miner's hotkey) and
 * signs what it sends. The first input byte picks the mode:
 *   < 64    a request body, parsed (chat when odd), with its sampling and stop strings;
 *   < 160   an answer the harness makes: a request built from fuzzed fields (completion or
 *           chat, max_tokens 1..8, temperature, top_p, top_k, seed, a stop string, a prompt
 *           of up to 48 bytes), answered honestly with the nano model (models/agora-nano.bin)
 *           and the test hotkey's bound seed, then changed by up to 8 fuzzed edits (receipt
 *           bytes, header fields, output tokens, length, text, request hash, commitment,
 *           keys, fields of the JSON, the body the verifier holds) and signed;
 *   < 224   an answer as fuzzed JSON to a fixed request, which the harness signs as it is
 *           (odd: with the input's own signature; & 2: with the input's own hotkey field);
 *   else    output tokens as text, and raw receipts.
 * What must hold for made answers: an honest one (no edit changed anything) verifies; one
 * whose receipt, text, request hash or commitment differs from the honest one, or that is
 * unsigned, signed by another key or malformed, or relayed by another miner when the request
 * had a seed, never verifies. The cheap checks and re-execution are run both ways (without
 * and with the model's state) and must agree on every cheap failure.
 *
 * Making the honest answer (a generation) and re-executing it cost 10-20 ms each in the
 * sanitizer build (about 1 ms in a release build), so honest answers are kept by request
 * (the fuzzer often edits the same one differently) and a receipt that re-executed once is
 * not re-executed again: re-execution runs for each honest receipt once and for every
 * changed receipt that passes all the cheap checks.
 *
 * AGORA_FUZZ_STATS=1 prints at exit how far answers got: refused before the signature, bad
 * signature, and past it (by verdict), and how many were re-executed.
 */
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "engine/engine.h"
#include "subnets/inference.h"

#include "fuzz_input.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_model *model;
static ag_infer *state;
static ag_keypair key, other; /* the miner's hotkey, and another miner's */
static char model_name[32];
static const char body_fixed[] = "{\"model\":\"agora-baec3a6ba9e5\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"seed\":7}";

static struct {
  int on;
  unsigned long answers, malformed, bad_sig, past_sig, ok, reexec, generated;
  unsigned long by_code[5]; /* stat_codes, then re-execution's codes */
} stats;
static const int stat_codes[4] = {AG_E_INF_REQUEST, AG_E_INF_MALFORMED, AG_E_INF_RECEIPT, AG_E_INF_TEXT};

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_inference: %lu answers: %lu malformed before the signature, %lu bad signature, %lu past "
            "the signature (wrong request %lu, receipt unparsable %lu, wrong receipt %lu, wrong text %lu, "
            "re-execution disagrees %lu, verified %lu); %lu re-executed, %lu honest answers generated\n",
            stats.answers, stats.malformed, stats.bad_sig, stats.past_sig, stats.by_code[0], stats.by_code[1],
            stats.by_code[2], stats.by_code[3], stats.by_code[4], stats.ok, stats.reexec, stats.generated);
  ag_infer_close(state);
  ag_model_close(model);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  model = fuzz_nano_model(); /* as miners and validators run it */
  if (ag_infer_open(model, model->cfg.seq_len, 1, &state)) abort();
  uint8_t seed[32] = {0x1f, 0x2e};
  ag_key_from_seed(&key, seed);
  seed[0] = 0x3d;
  ag_key_from_seed(&other, seed);
  ag_inf_model_name(model->id, model_name);
  atexit(at_exit);
  return 0;
}

/* Checks resp as the answer to body from the miner with hotkey hk, without and then (when
 * the cheap checks pass) with re-execution; the verdicts must agree. known: the receipt is
 * one that re-executed before (re-execution depends on its bytes alone), not run again.
 * Returns the code. */
static int verify(const uint8_t *body, size_t blen, const ag_inf_request *req, json_t *resp,
                  const uint8_t hk[32], int known, ag_inf_verdict *v) {
  ag_inf_verdict cheap;
  int rc = ag_inf_verify(NULL, model, body, blen, req, resp, hk, &cheap);
  if (rc != cheap.code || cheap.ok != (rc == 0)) abort();
  *v = cheap;
  if (rc == 0 && !known) {
    rc = ag_inf_verify(state, model, body, blen, req, resp, hk, v);
    if (rc != v->code || v->ok != (rc == 0)) abort();
    stats.reexec++;
  } else if (rc != 0) {
    ag_inf_verdict full;
    if (ag_inf_verify(state, model, body, blen, req, resp, hk, &full) != rc) abort(); /* no re-execution */
  }
  stats.answers++;
  if (rc == AG_E_INF_SIGNATURE) stats.bad_sig++;
  else if (rc == AG_E_INF_MALFORMED && !strstr(v->why, "receipt does not parse")) stats.malformed++;
  else {
    stats.past_sig++;
    if (rc == 0) stats.ok++;
    else {
      int i = 0;
      while (i < 4 && stat_codes[i] != rc) i++;
      stats.by_code[i]++;
    }
  }
  return rc;
}

/* ---- answers the harness makes ---------------------------------------------------------------- */

/* Valid UTF-8 without NUL (what a request may hold): the bytes as they are when they are
 * that, else their low 7 bits (NUL as a space). */
static json_t *text_json(const uint8_t *p, size_t n) {
  json_t *s = memchr(p, 0, n) ? NULL : json_stringn((const char *)p, n);
  if (s) return s;
  char *a = malloc(n + 1);
  for (size_t i = 0; i < n; i++) a[i] = (char)((p[i] & 0x7f) ? (p[i] & 0x7f) : ' ');
  s = json_stringn(a, n);
  free(a);
  return s;
}

/* The request body from the fuzzed fields (always a valid request). */
static char *make_body(in_t *in, int *chat, int *seeded, uint8_t *seed_byte) {
  uint8_t f = get8(in), mt = get8(in);
  *seed_byte = get8(in);
  *chat = f & 1;
  *seeded = (f >> 1) & 1;
  static const double temps[4] = {0, 0.7, 1.0, 1.5};
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(model_name));
  json_object_set_new(o, *chat ? "max_completion_tokens" : "max_tokens", json_integer(1 + mt % 8));
  if (temps[(f >> 2) & 3] != 1.0 || (f & 0x80)) json_object_set_new(o, "temperature", json_real(temps[(f >> 2) & 3]));
  if (f & 0x40) json_object_set_new(o, "top_p", json_real(0.9));
  if (mt & 0x80) json_object_set_new(o, "top_k", json_integer(mt & 0x40 ? 1 : 5));
  if (*seeded) json_object_set_new(o, "seed", json_integer(*seed_byte));
  if (f & 0x10) {
    char stop[2] = {(char)(0x20 + get8(in) % 95), 0};
    json_object_set_new(o, "stop", json_pack("[s]", stop));
  }
  size_t plen = get8(in) % 49;
  if (plen > in->n) plen = in->n;
  json_t *prompt = text_json(in->p, plen);
  in->p += plen;
  in->n -= plen;
  if (*chat) {
    json_t *msgs = json_array();
    if (f & 0x20) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", "Be brief."));
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", prompt));
    json_object_set_new(o, "messages", msgs);
  } else {
    json_object_set_new(o, "prompt", prompt);
  }
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

/* What the miner sends, piece by piece, before it is JSON. */
typedef struct {
  ag_buf rec, text;
  uint8_t reqh[32], commit[32];
} answer_t;

/* Honest answers by request: making one is most of an input's time (a generation), and the
 * fuzzer often edits the same one differently. Fixed storage: memory held across inputs
 * would make libFuzzer run each input twice to look for leaks. */
#define NCACHE 64
static struct {
  uint8_t id[32]; /* BLAKE2b of the body and the sampling seed */
  uint8_t rec[4096], text[1024], reqh[32], commit[32];
  size_t rec_len, text_len;
  int used, reexecuted; /* reexecuted: its receipt re-executed and verified */
} cache[NCACHE];
static unsigned cache_next;

static void answer_copy(answer_t *d, const answer_t *s) {
  ag_buf_init(&d->rec);
  ag_buf_init(&d->text);
  ag_buf_put(&d->rec, s->rec.data, s->rec.len);
  if (s->text.len) ag_buf_put(&d->text, s->text.data, s->text.len);
  memcpy(d->reqh, s->reqh, 32);
  memcpy(d->commit, s->commit, 32);
}

static int same_answer(const answer_t *a, const answer_t *b) {
  return a->rec.len == b->rec.len && !memcmp(a->rec.data, b->rec.data, a->rec.len) && a->text.len == b->text.len &&
         (!a->text.len || !memcmp(a->text.data, b->text.data, a->text.len)) && !memcmp(a->reqh, b->reqh, 32) &&
         !memcmp(a->commit, b->commit, 32);
}

/* The text of the receipt's output tokens, as the miner computes it; -1 if it does not parse. */
static int retext(answer_t *a, const ag_inf_request *req) {
  ag_receipt r;
  if (ag_receipt_parse(a->rec.data, a->rec.len, &r)) return -1;
  uint32_t *toks = malloc(((size_t)r.n_out + 1) * sizeof *toks);
  for (int i = 0; i < r.n_out; i++) toks[i] = ag_receipt_out(&r, i);
  ag_buf_reset(&a->text);
  int rc = ag_inf_text(model, toks, r.n_out, req, 0, &a->text, NULL);
  free(toks);
  return rc;
}

enum { K_OWN, K_OTHER_SIGNS, K_UNSIGNED, K_RELAYED };

/* The JSON answer: text, proof, signed by the key the edits chose. */
static json_t *answer_json(const answer_t *a, int chat, int keys, uint8_t structure) {
  uint8_t msg[32], sig[64] = {0};
  const ag_keypair *signer = keys == K_OWN ? &key : &other;
  const ag_keypair *named = keys == K_RELAYED ? &other : &key;
  const char *text = a->text.data ? (const char *)a->text.data : "";
  ag_inf_sig_message(signer->pk, a->reqh, text, a->text.len, a->commit, a->rec.data, a->rec.len, msg);
  if (keys != K_UNSIGNED) ag_sign(signer, msg, 32, sig);
  char *b64 = malloc(ag_b64_len(a->rec.len));
  ag_b64_encode(a->rec.data, a->rec.len, b64);
  char hk[AG_ADDR_MAX], h1[65], h2[65], h3[129];
  ag_addr_encode(named->pk, hk);
  ag_hex_encode(a->reqh, 32, h1);
  ag_hex_encode(a->commit, 32, h2);
  ag_hex_encode(sig, 64, h3);
  json_t *t = json_stringn(text, a->text.len);
  if (!t) t = json_string(""); /* edits keep the text UTF-8; this is a harness fault */
  int as_chat = chat ^ (structure == 5);
  json_t *choice = as_chat ? json_pack("{s:{s:s, s:o}}", "message", "role", "assistant", "content", t)
                           : json_pack("{s:o}", "text", t);
  json_t *o = json_pack("{s:[o], s:{s:s, s:s, s:s, s:s, s:s}}", "choices", choice, "agora", "request_hash", h1,
                        "receipt", b64, "commitment", h2, "hotkey", hk, "signature", h3);
  free(b64);
  json_t *ag = json_object_get(o, "agora");
  switch (structure) {
  case 1: json_object_del(ag, "receipt"); break;
  case 2: json_object_set_new(ag, "receipt", json_string("!!!")); break;
  case 3: json_object_del(o, "agora"); break;
  case 4: json_object_set_new(ag, "request_hash", json_string("abcd")); break;
  case 6: json_object_set_new(ag, "signature", json_integer(1)); break;
  default: break;
  }
  return o;
}

static const size_t header_fields[9] = {40, 44, 48, 52, 56, 60, 64, 68, 72};

static void made_answer(in_t *in) {
  int chat, seeded;
  uint8_t seed_byte;
  char *body = make_body(in, &chat, &seeded, &seed_byte);
  ag_inf_request req;
  const char *param;
  int prc = ag_inf_request_parse(chat, (const uint8_t *)body, strlen(body), &req, &param);
  if (prc) {
    fprintf(stderr, "fuzz_inference: a request the harness built does not parse: %s\n%s\n", ag_errmsg(prc), body);
    abort();
  }
  /* the honest answer: the miner samples a seeded request with its bound seed */
  ag_sampling sp;
  ag_inf_sampling(model, &req, &sp);
  sp.seed = seeded ? ag_inf_bound_seed(key.pk, req.seed) : (uint64_t)seed_byte + 1;
  uint8_t id[32], seed8[8];
  ag_hasher hs;
  ag_hasher_init(&hs, "fuzz/honest");
  ag_hasher_update(&hs, body, strlen(body));
  ag_put_u64le(seed8, sp.seed);
  ag_hasher_update(&hs, seed8, 8);
  ag_hasher_final(&hs, id);
  answer_t honest, a;
  ag_buf_init(&honest.rec);
  ag_buf_init(&honest.text);
  int ci = 0;
  while (ci < NCACHE && !(cache[ci].used && !memcmp(cache[ci].id, id, 32))) ci++;
  if (ci < NCACHE) {
    ag_buf_put(&honest.rec, cache[ci].rec, cache[ci].rec_len);
    ag_buf_put(&honest.text, cache[ci].text, cache[ci].text_len);
    memcpy(honest.reqh, cache[ci].reqh, 32);
    memcpy(honest.commit, cache[ci].commit, 32);
  } else {
    answer_t *h = &honest;
    uint32_t *ids = NULL;
    size_t nids = 0;
    ag_gen_out out;
    memset(&out, 0, sizeof out);
    out.tokens = malloc((size_t)req.max_tokens * sizeof *out.tokens);
    if (ag_engine_encode(model, req.prompt, strlen(req.prompt), &ids, &nids) ||
        (int)nids + req.max_tokens - 1 > model->cfg.seq_len ||
        ag_generate(state, ids, (int)nids, req.max_tokens, &sp, AG_COMMIT_K_DEFAULT, &out, &h->rec, NULL, NULL))
      abort(); /* 48 bytes of prompt and 8 tokens fit the context */
    if (ag_inf_text(model, out.tokens, out.n, &req, 0, &h->text, NULL)) abort();
    ag_inf_request_hash(body, strlen(body), h->reqh);
    memcpy(h->commit, out.commitment, 32);
    free(out.tokens);
    free(ids);
    stats.generated++;
    ci = (int)(cache_next++ % NCACHE);
    if (h->rec.len <= sizeof cache[ci].rec && h->text.len <= sizeof cache[ci].text) {
      memcpy(cache[ci].id, id, 32);
      memcpy(cache[ci].rec, h->rec.data, cache[ci].rec_len = h->rec.len);
      if (h->text.len) memcpy(cache[ci].text, h->text.data, h->text.len);
      cache[ci].text_len = h->text.len;
      memcpy(cache[ci].reqh, h->reqh, 32);
      memcpy(cache[ci].commit, h->commit, 32);
      cache[ci].used = 1;
      cache[ci].reexecuted = 0;
    } else {
      cache[ci].used = 0;
      ci = -1;
    }
  }
  /* the edits */
  answer_copy(&a, &honest);
  int keys = K_OWN, unsure = 0, other_body = 0;
  uint8_t structure = 0;
  ag_buf vbody; /* the body the verifier holds */
  ag_buf_init(&vbody);
  ag_buf_puts(&vbody, body);
  ag_inf_request vreq = req;
  int vreq_owned = 0;
  int nops = get8(in) % 9;
  for (int k = 0; k < nops; k++) {
    uint8_t op = get8(in), x = get8(in), y = get8(in), z = get8(in);
    size_t rl = a.rec.len;
    ag_receipt r;
    switch (op % 12) {
    case 0: /* a receipt byte */
      if (rl) a.rec.data[((size_t)x << 8 | y) % rl] ^= (uint8_t)(z | 1);
      break;
    case 1: /* a header field */
      if (rl >= 76) {
        size_t off = header_fields[x % 9];
        uint32_t v = z & 1 ? ag_get_u32le(a.rec.data + off) + (y & 0x7f) - 64 : (uint32_t)y << 24 | (uint32_t)z << 8 | x;
        ag_put_u32le(a.rec.data + off, v);
      }
      break;
    case 2: /* an output token */
      if (ag_receipt_parse(a.rec.data, a.rec.len, &r) == 0 && r.n_out > 0) {
        size_t off = (size_t)(r.out - a.rec.data) + 4 * (size_t)(x % r.n_out);
        uint32_t v = (uint32_t)y << 8 | z;
        ag_put_u32le(a.rec.data + off, x & 0x80 ? v : v % (uint32_t)model->cfg.vocab_size);
      }
      break;
    case 3: /* cut or grow */
      if (x & 1) a.rec.len -= AG_MIN(rl, (size_t)(y % 16 + 1));
      else
        for (int i = 0; i < z % 16 + 1; i++) ag_buf_put_u8(&a.rec, y);
      break;
    case 4: /* the text of what the receipt now says (a cheater's consistent lie) */
      retext(&a, &vreq);
      break;
    case 5: /* the text: add, cut (a whole character) or replace a byte */
      if (x % 3 == 0) ag_buf_put_u8(&a.text, (uint8_t)(0x20 + y % 95));
      else if (x % 3 == 1) {
        while (a.text.len && (a.text.data[a.text.len - 1] & 0xc0) == 0x80) a.text.len--;
        if (a.text.len) a.text.len--;
      } else if (a.text.len && a.text.data[y % a.text.len] < 0x80) {
        a.text.data[y % a.text.len] = (uint8_t)(0x20 + z % 95);
      }
      break;
    case 6: a.reqh[x % 32] ^= (uint8_t)(y | 1); break;
    case 7: a.commit[x % 32] ^= (uint8_t)(y | 1); break;
    case 8: /* the commitment of receipt and proof together */
      a.commit[x % 32] ^= (uint8_t)(y | 1);
      if (rl >= 32) memcpy(a.rec.data + rl - 32, a.commit, 32);
      break;
    case 9: keys = 1 + x % 3; break;
    case 10: structure = (uint8_t)(1 + x % 6); break;
    default: /* the verifier's body: other bytes, or another request the miner signs for */
      if (!(x & 1)) {
        ag_buf_put_u8(&vbody, ' ');
        other_body = 1;
      } else if (!vreq_owned) {
        json_t *o = json_loads(body, 0, NULL);
        const char *mk = chat ? "max_completion_tokens" : "max_tokens";
        json_object_set_new(o, mk, json_integer(1 + y % 9));
        char *b2 = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        ag_buf_reset(&vbody);
        ag_buf_puts(&vbody, b2);
        free(b2);
        if (ag_inf_request_parse(chat, vbody.data, vbody.len, &vreq, &param)) abort();
        vreq_owned = 1;
        ag_inf_request_hash(vbody.data, vbody.len, a.reqh);
        unsure = 1; /* valid or not, depending on how the honest answer ended */
      }
      break;
    }
  }
  json_t *resp = answer_json(&a, chat, keys, structure);
  ag_inf_verdict v;
  const uint8_t *hk = keys == K_RELAYED ? other.pk : key.pk;
  int same_receipt = a.rec.len == honest.rec.len && !memcmp(a.rec.data, honest.rec.data, a.rec.len);
  int rc = verify(vbody.data, vbody.len, &vreq, resp, hk, ci >= 0 && same_receipt && cache[ci].reexecuted, &v);
  if (ci >= 0 && rc == 0 && same_receipt) cache[ci].reexecuted = 1;
  /* what must hold */
  int changed = !same_answer(&a, &honest) || other_body || structure || keys == K_OTHER_SIGNS ||
                keys == K_UNSIGNED || (keys == K_RELAYED && seeded);
  if (!unsure && changed && rc == 0) {
    fprintf(stderr, "fuzz_inference: a changed answer verified (keys %d, structure %d)\n%s\n", keys, structure, body);
    abort();
  }
  if (!unsure && !changed && rc != 0) {
    fprintf(stderr, "fuzz_inference: an honest answer was refused: %s: %s\n%s\n", ag_err_name(rc), v.why, body);
    abort();
  }
  json_decref(resp);
  if (vreq_owned) ag_inf_request_free(&vreq);
  ag_buf_free(&vbody);
  ag_buf_free(&a.rec);
  ag_buf_free(&a.text);
  ag_buf_free(&honest.rec);
  ag_buf_free(&honest.text);
  ag_inf_request_free(&req);
  free(body);
}

/* ---- fuzzed JSON answers, signed as they are --------------------------------------------------- */

static void json_answer(uint8_t sel, const uint8_t *data, size_t size) {
  ag_inf_request r;
  const char *param;
  if (ag_inf_request_parse(false, (const uint8_t *)body_fixed, strlen(body_fixed), &r, &param)) abort();
  json_t *resp = json_loadb((const char *)data, size, 0, NULL);
  json_t *ag = json_object_get(resp, "agora");
  const char *text = json_string_value(json_object_get(json_array_get(json_object_get(resp, "choices"), 0), "text"));
  const char *rh = json_string_value(json_object_get(ag, "request_hash"));
  const char *cm = json_string_value(json_object_get(ag, "commitment"));
  const char *rb = json_string_value(json_object_get(ag, "receipt"));
  uint8_t reqh[32], commit[32], *rec = NULL;
  size_t rlen = 0;
  if (json_is_object(ag) && !(sel & 2)) {
    char hk[AG_ADDR_MAX];
    ag_addr_encode(key.pk, hk);
    json_object_set_new(ag, "hotkey", json_string(hk));
  }
  if (text && rh && cm && rb && !(sel & 1) && !ag_hex_decode(rh, strlen(rh), reqh, 32) &&
      !ag_hex_decode(cm, strlen(cm), commit, 32) && !ag_b64_decode_alloc(rb, strlen(rb), 1 << 20, &rec, &rlen)) {
    uint8_t msg[32], sig[64];
    char hs[129];
    ag_inf_sig_message(key.pk, reqh, text, strlen(text), commit, rec, rlen, msg);
    ag_sign(&key, msg, 32, sig);
    ag_hex_encode(sig, 64, hs);
    json_object_set_new(ag, "signature", json_string(hs));
  }
  free(rec);
  if (resp) {
    ag_inf_verdict v;
    verify((const uint8_t *)body_fixed, strlen(body_fixed), &r, resp, key.pk, 0, &v);
  }
  json_decref(resp);
  ag_inf_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  data++;
  size--;
  if (sel < 64) { /* a request body */
    ag_inf_request r;
    const char *param;
    if (ag_inf_request_parse(sel & 1, data, size, &r, &param) == 0) {
      ag_sampling sp;
      ag_inf_sampling(model, &r, &sp);
      ag_buf text;
      ag_buf_init(&text);
      ag_buf_puts(&text, r.prompt);
      ag_inf_apply_stops(&r, &text);
      ag_buf_free(&text);
      ag_inf_request_free(&r);
    }
  } else if (sel < 160) {
    in_t in = {data, size};
    made_answer(&in);
  } else if (sel < 224) {
    json_answer(sel, data, size);
  } else { /* output tokens as text, and raw receipts */
    ag_receipt rc;
    (void)ag_receipt_parse(data, size, &rc);
    ag_inf_request r;
    const char *param;
    static const char stops[] = "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"\\n\"]}";
    if (ag_inf_request_parse(false, (const uint8_t *)stops, strlen(stops), &r, &param)) abort();
    size_t n = size / 2;
    uint32_t *toks = malloc((n + 1) * sizeof *toks);
    for (size_t i = 0; i < n; i++) toks[i] = (uint32_t)(data[2 * i] | data[2 * i + 1] << 8) % (uint32_t)model->cfg.vocab_size;
    ag_buf out;
    ag_buf_init(&out);
    int stopped;
    (void)ag_inf_text(model, toks, (int)n, &r, sel & 1, &out, &stopped);
    ag_buf_free(&out);
    free(toks);
    ag_inf_request_free(&r);
  }
  ag_err_clear();
  return 0;
}
