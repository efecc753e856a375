#define _GNU_SOURCE /* memmem */
/* inference.c — OpenAI-compatible requests, the signed proof of an answer, and its checks. */
#include "subnets/inference.h"

#include "economy/economy.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_inf_request_free(ag_inf_request *r) {
  if (!r) return;
  free(r->prompt);
  json_decref(r->messages);
  for (int i = 0; i < r->nstop; i++) free(r->stops[i]);
  memset(r, 0, sizeof *r);
}

static int bad(const char **param, const char *field, const char *fmt, const char *arg) {
  if (param) *param = field;
  return ag_fail(AG_E_INVALID, fmt, arg ? arg : "");
}

int ag_inf_render_chat(json_t *messages, ag_buf *out, const char **param) {
  if (!json_is_array(messages) || json_array_size(messages) == 0)
    return bad(param, "messages", "'messages' must be a non-empty array%s", NULL);
  for (size_t i = 0; i < json_array_size(messages); i++) {
    json_t *m = json_array_get(messages, i);
    const char *role = json_string_value(json_object_get(m, "role"));
    const char *label = NULL;
    if (role && (!strcmp(role, "system") || !strcmp(role, "developer"))) label = "System";
    else if (role && !strcmp(role, "user")) label = "User";
    else if (role && !strcmp(role, "assistant")) label = "Assistant";
    else if (role && !strcmp(role, "tool")) label = "Tool";
    if (!label) return bad(param, "messages", "message role '%s' is not one of system, developer, user, assistant, tool", role ? role : "(missing)");
    ag_buf_printf(out, "%s: ", label);
    /* (no NUL can be in it: bodies are parsed without JSON_ALLOW_NUL) */
    if (ag_engine_message_text(json_object_get(m, "content"), out))
      return bad(param, "messages", "message content must be a string or an array of text parts%s", NULL);
    ag_buf_puts(out, "\n");
  }
  ag_buf_puts(out, "Assistant:");
  return 0;
}

static int get_number(json_t *root, const char *k, double lo, double hi, double *out, const char **param) {
  json_t *v = json_object_get(root, k);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return bad(param, k, "'%s' must be a number", k);
  double x = json_number_value(v);
  if (!(x >= lo && x <= hi)) {
    if (param) *param = k;
    return ag_fail(AG_E_INVALID, "'%s' must be within %g..%g", k, lo, hi);
  }
  *out = x;
  return 0;
}

/* A parameter of OpenAI's API that would change the answer, and that a miner does not serve,
 * left at its neutral value: absent, null, false, 0, "", an empty list or object, or one of
 * the strings given (such as "text" or "none"). */
static int neutral(json_t *v, const char *ok1, const char *ok2) {
  if (!v || json_is_null(v) || json_is_false(v)) return 1;
  if (json_is_integer(v)) return json_integer_value(v) == 0;
  if (json_is_array(v)) return json_array_size(v) == 0;
  if (json_is_object(v)) {
    json_t *t = json_object_get(v, "type"); /* response_format: {"type": "text"} */
    return json_object_size(v) == 0 || (json_object_size(v) == 1 && ok1 && json_is_string(t) &&
                                        !strcmp(json_string_value(t), ok1));
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    return !*s || (ok1 && !strcmp(s, ok1)) || (ok2 && !strcmp(s, ok2));
  }
  return 0;
}

static int refuse_unserved(json_t *root, bool chat, const char **param) {
  static const struct {
    const char *key, *ok1, *ok2;
    int chat; /* 1 chat only, 0 completions only, 2 both */
  } unserved[] = {
      {"logit_bias", NULL, NULL, 2},     {"logprobs", NULL, NULL, 2},
      {"top_logprobs", NULL, NULL, 1},   {"response_format", "text", NULL, 1},
      {"tools", NULL, NULL, 1},          {"tool_choice", "none", "auto", 1},
      {"functions", NULL, NULL, 1},      {"function_call", "none", "auto", 1},
      {"audio", NULL, NULL, 1},          {"echo", NULL, NULL, 0},
      {"suffix", NULL, NULL, 0},
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(unserved); i++) {
    if (unserved[i].chat != 2 && unserved[i].chat != (int)chat) continue;
    json_t *v = json_object_get(root, unserved[i].key);
    if (!neutral(v, unserved[i].ok1, unserved[i].ok2))
      return bad(param, unserved[i].key, "'%s' is not served: a miner's answer is the model's sampled text, "
                                         "which a validator re-executes, and nothing else",
                 unserved[i].key);
  }
  json_t *bo = json_object_get(root, "best_of"); /* completions: 1 is the neutral value */
  if (!chat && bo && !json_is_null(bo) && !(json_is_integer(bo) && json_integer_value(bo) == 1))
    return bad(param, "best_of", "only best_of = 1 is served%s", NULL);
  return 0;
}

int ag_inf_request_parse(bool chat, const uint8_t *body, size_t len, ag_inf_request *r,
                         const char **param) {
  memset(r, 0, sizeof *r);
  if (param) *param = NULL;
  json_error_t jerr;
  json_t *root = json_loadb((const char *)body, len, 0, &jerr);
  if (!json_is_object(root)) {
    json_decref(root);
    return ag_fail(AG_E_BAD_JSON, "the body is not a JSON object (%s)", jerr.text);
  }
  int rc = 0;
  ag_buf prompt;
  ag_buf_init(&prompt);
  r->chat = chat;
  r->temperature = 1.0;
  r->top_p = 1.0;
  r->max_tokens = chat ? 128 : 16; /* OpenAI documents 16 for completions */
  const char *model = json_string_value(json_object_get(root, "model"));
  if (!model) {
    rc = bad(param, "model", "'model' is required%s", NULL);
    goto done;
  }
  snprintf(r->model, sizeof r->model, "%s", model);
  /* the body alone says which route it is for (a dispute re-reads it without the route) */
  if (json_object_get(root, chat ? "prompt" : "messages")) {
    rc = bad(param, chat ? "prompt" : "messages", chat ? "'prompt' is not a chat completion parameter; use /v1/completions%s"
                                                    : "'messages' is not a completion parameter; use /v1/chat/completions%s", NULL);
    goto done;
  }
  if (chat) {
    if ((rc = ag_inf_render_chat(json_object_get(root, "messages"), &prompt, param))) goto done;
    r->messages = json_incref(json_object_get(root, "messages"));
  } else {
    json_t *p = json_object_get(root, "prompt");
    if (json_is_string(p)) ag_buf_puts(&prompt, json_string_value(p));
    else if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
      ag_buf_puts(&prompt, json_string_value(json_array_get(p, 0)));
    else {
      rc = bad(param, "prompt", "'prompt' must be a string (or a list of one string)%s", NULL);
      goto done;
    }
  }
  json_t *n = json_object_get(root, "n");
  if (n && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) != 1)) {
    rc = bad(param, "n", "only n = 1 is served%s", NULL);
    goto done;
  }
  const char *mtkey = chat ? "max_completion_tokens" : "max_tokens";
  json_t *mt = json_object_get(root, mtkey);
  if ((!mt || json_is_null(mt)) && chat) mt = json_object_get(root, mtkey = "max_tokens");
  if (mt && !json_is_null(mt)) {
    if (!json_is_integer(mt) || json_integer_value(mt) < 1 || json_integer_value(mt) > 100000) {
      rc = bad(param, mtkey, "'%s' must be an integer 1..100000", mtkey);
      goto done;
    }
    r->max_tokens = (int)json_integer_value(mt);
  }
  double k = 0;
  if ((rc = get_number(root, "temperature", 0, 2, &r->temperature, param)) ||
      (rc = get_number(root, "top_p", 1e-9, 1, &r->top_p, param)) ||
      (rc = get_number(root, "top_k", 0, 65536, &k, param)) ||
      (rc = get_number(root, "frequency_penalty", -2, 2, &r->frequency_penalty, param)) ||
      (rc = get_number(root, "presence_penalty", -2, 2, &r->presence_penalty, param)) ||
      (rc = refuse_unserved(root, chat, param)))
    goto done;
  r->top_k = (int)k;
  /* -0 is 0: a receipt without penalties says +0, and the parameters are compared bit for bit */
  if (r->frequency_penalty == 0) r->frequency_penalty = 0;
  if (r->presence_penalty == 0) r->presence_penalty = 0;
  json_t *seed = json_object_get(root, "seed");
  if (seed && !json_is_null(seed)) {
    if (!json_is_integer(seed)) {
      rc = bad(param, "seed", "'seed' must be an integer%s", NULL);
      goto done;
    }
    r->seed = (uint64_t)json_integer_value(seed);
    r->has_seed = true;
  }
  json_t *stream = json_object_get(root, "stream");
  r->stream = json_is_true(stream);
  r->include_usage = json_is_true(json_object_get(json_object_get(root, "stream_options"), "include_usage"));
  json_t *stop = json_object_get(root, "stop");
  if (json_is_string(stop) && json_string_length(stop)) {
    r->stops[r->nstop++] = ag_xstrdup(json_string_value(stop));
  } else if (json_is_array(stop)) {
    if (json_array_size(stop) > AG_INF_MAX_STOPS) {
      rc = bad(param, "stop", "at most 4 stop sequences%s", NULL);
      goto done;
    }
    for (size_t i = 0; i < json_array_size(stop); i++) {
      const char *s = json_string_value(json_array_get(stop, i));
      if (!s) {
        rc = bad(param, "stop", "'stop' must be a string or a list of strings%s", NULL);
        goto done;
      }
      if (*s) r->stops[r->nstop++] = ag_xstrdup(s);
    }
  } else if (stop && !json_is_null(stop) && !json_is_string(stop)) {
    rc = bad(param, "stop", "'stop' must be a string or a list of strings%s", NULL);
    goto done;
  }
  r->prompt = (char *)ag_buf_steal(&prompt, NULL);
done:
  ag_buf_free(&prompt);
  json_decref(root);
  if (rc) ag_inf_request_free(r);
  return rc;
}

int ag_inf_prompt_ids(const ag_model *m, const ag_inf_request *r, uint32_t **ids, size_t *n) {
  if (!r->chat || !m->gguf) return ag_engine_encode(m, r->prompt, strlen(r->prompt), ids, n);
  return ag_engine_chat_ids(m, r->messages, ids, n);
}

void ag_inf_sampling(const ag_model *m, const ag_inf_request *r, ag_sampling *sp) {
  ag_sampling_defaults(sp);
  sp->temperature = (float)r->temperature;
  sp->top_p = (float)r->top_p;
  sp->top_k = r->top_k;
  sp->frequency_penalty = (float)r->frequency_penalty;
  sp->presence_penalty = (float)r->presence_penalty;
  sp->seed = r->seed;
  sp->stop = ag_model_stop(m);
}

void ag_inf_request_hash(const void *body, size_t len, uint8_t out[32]) {
  ag_answer_request_hash(body, len, out);
}

uint64_t ag_inf_bound_seed(const uint8_t hotkey[32], uint64_t seed) {
  uint8_t in[40], h[32];
  memcpy(in, hotkey, 32);
  ag_put_u64le(in + 32, seed);
  ag_hash("agora/infseed", in, sizeof in, h);
  return ag_get_u64le(h) & 0x7fffffffffffffffULL;
}

void ag_inf_challenge_message(const uint8_t request_hash[32], uint8_t out[32]) {
  ag_hash("agora/infchal", request_hash, 32, out);
}

void ag_inf_sig_message(const uint8_t hotkey[32], const uint8_t request_hash[32], const void *text,
                        size_t tlen, const uint8_t commitment[32], const uint8_t *receipt,
                        size_t rlen, uint8_t out[32]) {
  ag_answer_message(hotkey, request_hash, text, tlen, commitment, receipt, rlen, out);
}

int ag_inf_apply_stops(const ag_inf_request *r, ag_buf *text) {
  size_t cut = text->len;
  if (!cut) return 0;
  for (int i = 0; i < r->nstop; i++) {
    const char *p = memmem(text->data, text->len, r->stops[i], strlen(r->stops[i]));
    if (p && (size_t)(p - (char *)text->data) < cut) cut = (size_t)(p - (char *)text->data);
  }
  if (cut == text->len) return 0;
  text->len = cut;
  return 1;
}

/* Appends the valid UTF-8 of p[0..n) to out; invalid bytes become U+FFFD. Returns the number of
 * bytes consumed (less than n only when partial and the tail is an incomplete sequence). */
static size_t utf8_clean(const uint8_t *p, size_t n, int partial, ag_buf *out) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 1) { /* NUL too becomes U+FFFD: JSON parsers commonly refuse \u0000 */
      if (c) ag_buf_put_u8(out, c);
      else ag_buf_put(out, "\xef\xbf\xbd", 3);
      i++;
      continue;
    }
    int ok = len >= 2;
    if (ok && i + len > n) {
      int prefix_ok = 1;
      for (size_t k = 1; k < n - i; k++) prefix_ok &= (p[i + k] & 0xc0) == 0x80;
      if (partial && prefix_ok) return i; /* wait for the rest */
      ok = 0;
    }
    for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok) {
      uint32_t cp = len == 2 ? (uint32_t)(c & 0x1f) : len == 3 ? (uint32_t)(c & 0x0f) : (uint32_t)(c & 0x07);
      for (size_t k = 1; k < len; k++) cp = cp << 6 | (p[i + k] & 0x3f);
      ok = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) ||
           (len == 4 && cp >= 0x10000 && cp <= 0x10ffff);
    }
    if (ok) {
      ag_buf_put(out, p + i, len);
      i += len;
    } else {
      ag_buf_put(out, "\xef\xbf\xbd", 3);
      i++;
    }
  }
  return n;
}

int ag_inf_text(const ag_model *m, const uint32_t *toks, int n, const ag_inf_request *r,
                int partial, ag_buf *out, int *stopped) {
  ag_buf raw;
  ag_buf_init(&raw);
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    if (ag_is_stop(m, ag_model_stop(m), toks[i])) continue;
    rc = ag_tok_decode(m->tok, &toks[i], 1, &raw);
  }
  if (!rc) {
    utf8_clean(raw.data, raw.len, partial, out);
    int s = ag_inf_apply_stops(r, out);
    if (stopped) *stopped = s;
  }
  ag_buf_free(&raw);
  return rc;
}

void ag_inf_model_name(const uint8_t id[32], char out[32]) {
  char hex[65];
  ag_hex_encode(id, 32, hex);
  snprintf(out, 32, "agora-%.12s", hex);
}

/* ---- checking an answer ---------------------------------------------------------------------- */

static int verdict(ag_inf_verdict *v, int code, const char *fmt, const char *arg) {
  v->ok = 0;
  v->code = code;
  snprintf(v->why, sizeof v->why, fmt, arg ? arg : "");
  return code;
}

static int hexfield(json_t *o, const char *k, uint8_t *out, size_t n) {
  const char *s = json_string_value(json_object_get(o, k));
  return s && ag_hex_decode(s, strlen(s), out, n) == 0 ? 0 : -1;
}

int ag_inf_verify(ag_infer *state, const ag_model *m, const uint8_t *body, size_t blen,
                  const ag_inf_request *req, json_t *resp, const uint8_t hotkey[32],
                  ag_inf_verdict *v) {
  memset(v, 0, sizeof *v);
  json_t *ag = json_object_get(resp, "agora");
  json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
  json_t *tj = req->chat ? json_object_get(json_object_get(choice, "message"), "content") : json_object_get(choice, "text");
  const char *text = json_string_value(tj);
  const char *rb64 = json_string_value(json_object_get(ag, "receipt"));
  uint8_t reqh[32], commit[32], sig[64], pk[32], want[32];
  if (!ag || !text || !rb64 || hexfield(ag, "request_hash", reqh, 32) ||
      hexfield(ag, "commitment", commit, 32) || hexfield(ag, "signature", sig, 64))
    return verdict(v, AG_E_INF_MALFORMED, "the answer lacks its text or its agora proof%s", NULL);
  /* the text is signed and compared up to its first NUL, and no answer holds one (ag_inf_text
   * makes each U+FFFD): bytes after a "\u0000" would reach the client unsigned and unchecked */
  if (strlen(text) != json_string_length(tj))
    return verdict(v, AG_E_INF_TEXT, "the text holds a NUL, which no answer holds%s", NULL);
  snprintf(v->text, sizeof v->text, "%s", text);
  const char *hk = json_string_value(json_object_get(ag, "hotkey"));
  if (!hk || ag_addr_decode(hk, pk) || memcmp(pk, hotkey, 32) != 0)
    return verdict(v, AG_E_INF_SIGNATURE, "the answer is signed for another hotkey (%s)", hk);
  uint8_t *receipt = NULL;
  size_t rlen = 0;
  if (ag_b64_decode_alloc(rb64, strlen(rb64), 64u << 20, &receipt, &rlen))
    return verdict(v, AG_E_INF_MALFORMED, "the receipt is not base64%s", NULL);
  int rc = 0;
  uint8_t msg[32];
  ag_inf_sig_message(hotkey, reqh, text, strlen(text), commit, receipt, rlen, msg);
  ag_hash("agora/receipt", receipt, rlen, v->receipt_hash);
  ag_inf_request_hash(body, blen, want);
  ag_receipt r;
  ag_sampling sp;
  if (ag_verify(hotkey, msg, 32, sig)) {
    rc = verdict(v, AG_E_INF_SIGNATURE, "the miner's signature over the answer does not verify%s", NULL);
    goto done;
  }
  if (memcmp(want, reqh, 32) != 0) {
    rc = verdict(v, AG_E_INF_REQUEST, "the answer is signed for another request%s", NULL);
    goto done;
  }
  if (ag_receipt_parse(receipt, rlen, &r)) {
    rc = verdict(v, AG_E_INF_MALFORMED, "the receipt does not parse: %s", ag_errmsg(AG_E_RECEIPT_FORMAT));
    goto done;
  }
  v->n_prompt = r.n_prompt;
  v->n_out = r.n_out;
  if (memcmp(r.model_id, m->id, 32) != 0 || memcmp(r.commitment, commit, 32) != 0) {
    rc = verdict(v, AG_E_INF_RECEIPT, "the receipt is for another model or commitment%s", NULL);
    goto done;
  }
  ag_inf_sampling(m, req, &sp);
  /* a seeded request is sampled with this miner's bound seed; without one, the miner chose */
  sp.seed = req->has_seed ? ag_inf_bound_seed(hotkey, req->seed) : r.sp.seed;
  if (memcmp(&r.sp.temperature, &sp.temperature, 4) || memcmp(&r.sp.top_p, &sp.top_p, 4) ||
      memcmp(&r.sp.frequency_penalty, &sp.frequency_penalty, 4) ||
      memcmp(&r.sp.presence_penalty, &sp.presence_penalty, 4) || r.sp.top_k != sp.top_k ||
      r.sp.seed != sp.seed || r.sp.stop != sp.stop || r.n_out > req->max_tokens) {
    rc = verdict(v, AG_E_INF_RECEIPT, "the receipt's sampling parameters or length differ from the request%s", NULL);
    goto done;
  }
  uint32_t *ids = NULL;
  size_t nids = 0;
  if ((rc = ag_inf_prompt_ids(m, req, &ids, &nids))) {
    rc = verdict(v, rc, "cannot encode the prompt: %s", ag_errmsg(rc));
    goto done;
  }
  int same = nids == (size_t)r.n_prompt;
  for (size_t i = 0; same && i < nids; i++) same = ag_receipt_prompt(&r, (int)i) == ids[i];
  free(ids);
  if (!same) {
    rc = verdict(v, AG_E_INF_RECEIPT, "the receipt is for another prompt%s", NULL);
    goto done;
  }
  ag_buf out;
  ag_buf_init(&out);
  uint32_t *toks = ag_xmalloc(((size_t)r.n_out + 1) * sizeof *toks);
  for (int i = 0; i < r.n_out; i++) toks[i] = ag_receipt_out(&r, i);
  int stopped = 0;
  rc = ag_inf_text(m, toks, r.n_out, req, 0, &out, &stopped);
  free(toks);
  if (rc || out.len != strlen(text) || (out.len && memcmp(out.data, text, out.len) != 0)) {
    ag_buf_free(&out);
    rc = verdict(v, AG_E_INF_TEXT, "the text is not the receipt's output%s", NULL);
    goto done;
  }
  ag_buf_free(&out);
  /* a short answer must have a reason: the stop token, a stop string or the context's end */
  int full = r.n_out >= req->max_tokens || r.n_prompt + r.n_out - 1 >= m->cfg.seq_len;
  int eot = r.n_out > 0 && ag_is_stop(m, r.sp.stop, ag_receipt_out(&r, r.n_out - 1));
  if (!full && !eot && !stopped) {
    rc = verdict(v, AG_E_INF_RECEIPT, "the answer ends early without a stop token or stop string%s", NULL);
    goto done;
  }
  snprintf(v->finish, sizeof v->finish, "%s", eot || stopped ? "stop" : "length");
  if (state) {
    ag_verify_report rep;
    rc = ag_receipt_verify_state(state, receipt, rlen, &rep);
    v->verify_seconds = rep.seconds;
    if (rc) {
      char why[200];
      snprintf(why, sizeof why, "%s", ag_errmsg(rc));
      verdict(v, rc, "re-execution disagrees: %s", why);
      goto done;
    }
  }
  v->ok = 1;
  v->code = 0;
done:
  free(receipt);
  return rc;
}

/* ---- judging a dispute ------------------------------------------------------------------------- */

/* The work's hash, fed the logits of every position that chose an output token. */
typedef struct {
  ag_hasher h;
  int from, V;
} work_ctx;

static int work_logits(void *ctx, int pos, const float *logits) {
  work_ctx *w = ctx;
  if (pos < w->from) return 0;
  uint8_t b[4096];
  for (int i = 0; i < w->V;) {
    int k = 0;
    for (; k < (int)sizeof b / 4 && i < w->V; k++, i++) {
      uint32_t u;
      memcpy(&u, &logits[i], 4);
      ag_put_u32le(b + 4 * k, u);
    }
    ag_hasher_update(&w->h, b, 4 * (size_t)k);
  }
  return 0;
}

int ag_inf_dispute_vote(ag_infer *state, const ag_model *m, const ag_evidence *e, uint8_t vote[32],
                        uint8_t digest[32]) {
  memset(vote, 0, 32);
  memset(digest, 0, 32);
  json_t *body = json_loadb((const char *)e->body, e->body_len, 0, NULL);
  bool chat = json_is_object(body) && json_object_get(body, "messages") != NULL;
  json_decref(body);
  ag_inf_request req;
  const char *param;
  if (ag_inf_request_parse(chat, e->body, e->body_len, &req, &param)) return 0;
  uint32_t *ids = NULL;
  size_t n = 0;
  int ctx = m->cfg.seq_len, rc = 0;
  if (ag_inf_prompt_ids(m, &req, &ids, &n) || n < 1 || (int)n >= ctx) {
    free(ids);
    ag_inf_request_free(&req);
    return 0;
  }
  ag_sampling sp;
  ag_inf_sampling(m, &req, &sp);
  ag_receipt r;
  if (req.has_seed) sp.seed = ag_inf_bound_seed(e->hotkey, req.seed);
  else if (e->receipt_len) sp.seed = ag_receipt_parse(e->receipt, e->receipt_len, &r) == 0 ? r.sp.seed : 0;
  else if (sp.temperature > 0) { /* the seed the provider drew is in the receipt left out */
    free(ids);
    ag_inf_request_free(&req);
    return ag_fail(AG_E_DISPUTE_EVIDENCE, "a sampled request without a seed is judged only with its receipt, "
                                          "which this evidence leaves out");
  }
  int max_new = req.max_tokens;
  if ((int)n + max_new - 1 > ctx) max_new = ctx - (int)n + 1;
  ag_gen_out out;
  memset(&out, 0, sizeof out);
  out.tokens = ag_xmalloc((size_t)max_new * sizeof *out.tokens);
  rc = ag_generate(state, ids, (int)n, max_new, &sp, AG_COMMIT_K_DEFAULT, &out, NULL, NULL, NULL);
  if (!rc) {
    ag_buf text;
    ag_buf_init(&text);
    rc = ag_inf_text(m, out.tokens, out.n, &req, 0, &text, NULL);
    if (!rc) ag_hash("agora/inftext", text.data, text.len, vote);
    ag_buf_free(&text);
  }
  if (!rc) {
    /* the work: every logit of every position that chose an output token, which no receipt
     * holds (a receipt keeps at most 64 per position), bound to the case. One batched pass
     * over prompt and answer gives them, the same bits as the generation's. */
    uint32_t *all = ag_xmalloc((n + (size_t)out.n) * sizeof *all);
    memcpy(all, ids, n * sizeof *all);
    memcpy(all + n, out.tokens, (size_t)out.n * sizeof *all);
    work_ctx w = {.from = (int)n - 1, .V = m->cfg.vocab_size};
    uint8_t id[32];
    ag_dispute_id(e, id);
    ag_hasher_init(&w.h, "agora/dwork");
    ag_hasher_update(&w.h, id, 32);
    ag_infer_reset(state);
    if (out.n > 0) rc = ag_infer_forward(state, all, (int)n + out.n - 1, NULL, work_logits, &w);
    if (!rc) ag_hasher_final(&w.h, digest);
    free(all);
  }
  free(out.tokens);
  free(ids);
  ag_inf_request_free(&req);
  return rc;
}
