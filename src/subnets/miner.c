/*
 * miner.c — the inference miner (miner.h): chain setup, the model, the request queue and the
 * OpenAI-compatible HTTP API with signed, verifiable answers.
 */
#include "subnets/miner.h"

#include "api/embed.h"
#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "incentive/incentive.h"
#include "subnets/inference.h"
#include "api/models.h"
#include "subnets/netclient.h"
#include "subnets/neuron.h"
#include "subnets/payment.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- jobs ----------------------------------------------------------------------------------- */

typedef struct job {
  const ag_model *model;
  char id[48];      /* "cmpl-…" / "chatcmpl-…": random, also sent as x-request-id */
  ag_inf_request req;
  uint8_t req_hash[32];
  uint32_t *prompt;
  size_t n_prompt;
  int max_new;
  ag_sampling sp;
  /* results, guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint32_t *tokens; /* capacity max_new */
  int n_out;
  int done, rc;
  int stopped;      /* a stop string cut the text */
  int cancel;       /* the client went away */
  ag_buf receipt;
  uint8_t commitment[32];
  double t_queued, t_start, t_first, t_end;
  int refs;
  int challenge;    /* a permitted validator's signed challenge: served first, reserved room */
  /* a paid request (payment.h): the voucher's channel and sequence, the offer's prices when
   * admitted, the most it may cost; billed once, when the answer is complete or abandoned */
  int paid, billed;
  uint8_t channel[32];
  uint64_t seq, cumulative, max_cost;
  ag_offer offer;
  struct job *next;
} job;

struct ag_miner_api {
  ag_miner_config cfg;
  ag_model *model;
  int own_model, started, book_open;
  char model_name[32];
  ag_keypair hotkey;
  char hotkey_addr[AG_ADDR_MAX];
  ag_net net;
  int uid;
  /* queue */
  pthread_mutex_t qmu;
  pthread_cond_t qcv;
  job *head, *tail;
  int qlen, busy, stopping;
  pthread_t *workers;
  /* from the metagraph: who may send challenges; where a relayer forwards (devnets) */
  pthread_mutex_t vmu;
  uint8_t (*validators)[32];
  int nvalidators;
  char relay_url[200];
  /* paid requests: this hotkey's offer for the model (from the chain; none = free answers),
   * the chain's height when last read, and the book of channels that pay it */
  ag_offer offer;
  int offer_active;
  uint64_t height;
  ag_paybook book;
  size_t sweep; /* the next book entry drop_closed looks at */
  /* stats */
  atomic_uint_fast64_t req_ok, req_err, prompt_tokens, gen_tokens, rejected;
  atomic_uint_fast64_t dur_buckets[10], dur_count, dur_sum_us;
  uint64_t start_ms;
};
typedef struct ag_miner_api miner;

static const double dur_bounds[9] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30};

static void job_unref(job *j) {
  pthread_mutex_lock(&j->mu);
  int last = --j->refs == 0;
  pthread_mutex_unlock(&j->mu);
  if (!last) return;
  ag_inf_request_free(&j->req);
  free(j->prompt);
  free(j->tokens);
  ag_buf_free(&j->receipt);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j);
}

/* After each token: publish it, and end the generation once a stop string has appeared (the
 * answer's text is cut there, so later tokens would be wasted work). */
static int on_token(void *ctx, uint32_t token) {
  job *j = ctx;
  pthread_mutex_lock(&j->mu);
  if (!j->n_out) j->t_first = ag_mono_s();
  j->tokens[j->n_out++] = token;
  int stop = j->cancel;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  if (!stop && j->req.nstop) { /* only the worker writes tokens: reading them unlocked is safe */
    ag_buf text;
    ag_buf_init(&text);
    ag_inf_text(j->model, j->tokens, j->n_out, &j->req, 1, &text, &stop);
    ag_buf_free(&text);
  }
  return stop;
}

/* Cheating miners (devnets) change the last token after the fact: the signature still checks,
 * the re-execution does not. */
static void cheat(miner *m, job *j) {
  if (j->n_out < 1) return;
  ag_receipt r;
  if (ag_receipt_parse(j->receipt.data, j->receipt.len, &r)) return;
  int at = j->n_out - 1; /* the last token, or the one before a final stop token */
  if (at > 0 && ag_is_stop(m->model, j->sp.stop, j->tokens[at])) at--;
  uint32_t t = j->tokens[at];
  t = (t + 1) % (uint32_t)m->model->cfg.vocab_size;
  while (ag_is_stop(m->model, j->sp.stop, t)) t = (t + 1) % (uint32_t)m->model->cfg.vocab_size;
  j->tokens[at] = t;
  size_t off = (size_t)(r.out - j->receipt.data) + 4 * (size_t)at;
  ag_put_u32le(j->receipt.data + off, t);
}

static void *worker(void *arg) {
  miner *m = arg;
  ag_infer *state = NULL;
  int orc = ag_infer_open(m->model, 64, m->cfg.threads, &state);
  if (orc) {
    ag_error("miner", "cannot open an inference state: %s", ag_errmsg(orc));
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&m->qmu);
    while (!m->head && !m->stopping) pthread_cond_wait(&m->qcv, &m->qmu);
    if (m->stopping && !m->head) {
      pthread_mutex_unlock(&m->qmu);
      break;
    }
    job *j = m->head;
    m->head = j->next;
    if (!m->head) m->tail = NULL;
    m->qlen--;
    m->busy++;
    pthread_mutex_unlock(&m->qmu);
    j->t_start = ag_mono_s();
    ag_gen_out out;
    memset(&out, 0, sizeof out);
    out.tokens = ag_xmalloc((size_t)j->max_new * sizeof *out.tokens);
    ag_buf rec;
    ag_buf_init(&rec);
    int rc = ag_generate(state, j->prompt, (int)j->n_prompt, j->max_new, &j->sp,
                         AG_COMMIT_K_DEFAULT, &out, &rec, on_token, j);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    if (!rc) {
      memcpy(j->tokens, out.tokens, (size_t)out.n * sizeof *out.tokens);
      j->n_out = out.n;
      memcpy(j->commitment, out.commitment, 32);
      j->receipt = rec;
      ag_buf_init(&rec);
      if (m->cfg.cheat) cheat(m, j);
    }
    j->done = 1;
    j->t_end = ag_mono_s();
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    ag_buf_free(&rec);
    free(out.tokens);
    job_unref(j);
    pthread_mutex_lock(&m->qmu);
    m->busy--;
    pthread_mutex_unlock(&m->qmu);
  }
  ag_infer_close(state);
  return NULL;
}

/* ---- OpenAI-style replies --------------------------------------------------------------------- */


static json_t *usage_json(int n_prompt, int n_out) {
  json_t *u = json_object();
  json_object_set_new(u, "prompt_tokens", json_integer(n_prompt));
  json_object_set_new(u, "completion_tokens", json_integer(n_out));
  json_object_set_new(u, "total_tokens", json_integer(n_prompt + n_out));
  return u;
}

/* The proof: signature over request hash, text, commitment and receipt. */
static json_t *proof_json(miner *m, job *j, const ag_buf *text) {
  uint8_t msg[32], sig[64];
  ag_inf_sig_message(m->hotkey.pk, j->req_hash, text->data, text->len, j->commitment,
                     j->receipt.data, j->receipt.len, msg);
  ag_sign(&m->hotkey, msg, 32, sig);
  json_t *o = json_object();
  char *b64 = ag_xmalloc(ag_b64_len(j->receipt.len));
  ag_b64_encode(j->receipt.data, j->receipt.len, b64);
  json_object_set_new(o, "request_hash", ag_json_hex(j->req_hash, 32));
  json_object_set_new(o, "model_id", ag_json_hex(m->model->id, 32));
  json_object_set_new(o, "receipt", json_string(b64));
  json_object_set_new(o, "commitment", ag_json_hex(j->commitment, 32));
  json_object_set_new(o, "hotkey", json_string(m->hotkey_addr));
  json_object_set_new(o, "signature", ag_json_hex(sig, 64));
  json_object_set_new(o, "uid", m->uid >= 0 ? json_integer(m->uid) : json_null());
  free(b64);
  return o;
}

static json_t *envelope(miner *m, job *j, const char *object) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(j->id));
  json_object_set_new(o, "object", json_string(object));
  json_object_set_new(o, "created", json_integer((json_int_t)time(NULL)));
  json_object_set_new(o, "model", json_string(m->model_name));
  return o;
}

static const char *finish_reason(const miner *m, job *j) {
  if (j->stopped) return "stop";
  if (j->n_out > 0 && ag_is_stop(m->model, j->sp.stop, j->tokens[j->n_out - 1])) return "stop";
  return j->n_out < j->max_new ? "stop" : "length";
}

static json_t *final_json(miner *m, job *j, const ag_buf *text) {
  json_t *o = envelope(m, j, j->req.chat ? "chat.completion" : "text_completion");
  json_t *choice = json_object(), *choices = json_array();
  json_object_set_new(choice, "index", json_integer(0));
  json_t *t = json_stringn(text->data ? (const char *)text->data : "", text->len);
  if (j->req.chat) {
    json_t *msg = json_object();
    json_object_set_new(msg, "role", json_string("assistant"));
    json_object_set_new(msg, "content", t);
    json_object_set_new(choice, "message", msg);
  } else {
    json_object_set_new(choice, "text", t);
  }
  json_object_set_new(choice, "logprobs", json_null());
  json_object_set_new(choice, "finish_reason", json_string(finish_reason(m, j)));
  json_array_append_new(choices, choice);
  json_object_set_new(o, "choices", choices);
  json_object_set_new(o, "usage", usage_json((int)j->n_prompt, j->n_out));
  json_object_set_new(o, "agora", proof_json(m, j, text));
  return o;
}

/* ---- request admission ------------------------------------------------------------------------ */

static void observe(miner *m, double secs, int ok, int n_prompt, int n_out) {
  for (int i = 0; i < 9; i++)
    if (secs <= dur_bounds[i]) m->dur_buckets[i]++;
  m->dur_buckets[9]++;
  m->dur_count++;
  m->dur_sum_us += (uint64_t)(secs * 1e6);
  if (ok) {
    m->req_ok++;
    m->prompt_tokens += (uint64_t)n_prompt;
    m->gen_tokens += (uint64_t)n_out;
  } else {
    m->req_err++;
  }
}

static int authorized(miner *m, ag_http_req *req, ag_http_resp *resp) {
  if (!m->cfg.api_key[0]) return 1;
  const char *auth = ag_http_header(req, "Authorization");
  if (ag_http_bearer_matches(auth, m->cfg.api_key)) return 1; /* constant time */
  ag_http_openai_error(resp, 401, "invalid_request_error", "invalid_api_key", NULL, "Incorrect API key provided.");
  return 0;
}

/* A request signed by a validator that holds a permit on this subnet (headers
 * X-Agora-Validator, X-Agora-Signature over ag_inf_challenge_message). */
static int is_challenge(miner *m, ag_http_req *req, const uint8_t reqh[32]) {
  const char *who = ag_http_header(req, "X-Agora-Validator"), *sig = ag_http_header(req, "X-Agora-Signature");
  uint8_t pk[32], s[64], msg[32];
  if (!who || !sig || ag_addr_decode(who, pk) || strlen(sig) != 128 || ag_hex_decode(sig, 128, s, 64)) return 0;
  int permitted = 0;
  pthread_mutex_lock(&m->vmu);
  for (int i = 0; i < m->nvalidators && !permitted; i++) permitted = !memcmp(m->validators[i], pk, 32);
  pthread_mutex_unlock(&m->vmu);
  ag_inf_challenge_message(reqh, msg);
  return permitted && ag_verify(pk, msg, 32, s) == 0;
}

/* Room kept in the queue for validators' challenges: a flood of client requests fills the
 * rest and gets 503s, while the validators that score this miner are still served. */
static int reserved(const miner *m) { return m->cfg.queue_max / 4 > 1 ? m->cfg.queue_max / 4 : 1; }

/* ---- paid requests (payment.h) ------------------------------------------------------------------ */

/* The 402 answer: what the request costs here, and what this provider's book says about the
 * channel, so that a client whose own book is behind (it crashed) can catch up. */
static void payment_error(miner *m, ag_http_resp *resp, int code, const ag_offer *o, const job *j,
                          const ag_voucher *v, uint64_t need) {
  json_t *e = json_object(), *root = json_object(), *price = json_object();
  json_object_set_new(e, "message", ag_json_text(ag_errmsg(code)));
  json_object_set_new(e, "type", json_string("payment_required"));
  json_object_set_new(e, "param", json_null());
  json_object_set_new(e, "code", json_string(ag_err_name(code)));
  json_object_set_new(price, "provider", json_string(m->hotkey_addr));
  json_object_set_new(price, "model", ag_json_hex(o->model, 32));
  json_object_set_new(price, "price_in_per_1k", ag_json_u64s(o->price_in));
  json_object_set_new(price, "price_out_per_1k", ag_json_u64s(o->price_out));
  json_object_set_new(price, "max_tokens", json_integer(o->max_tokens));
  uint64_t most = 0;
  if (j && !ag_offer_cost(o, j->n_prompt, (uint64_t)j->max_new, &most))
    json_object_set_new(price, "request_max_cost", ag_json_u64s(most));
  if (need) json_object_set_new(price, "needed_cumulative", ag_json_u64s(need));
  if (v) {
    pthread_mutex_lock(&m->book.mu);
    ag_pay_entry *pe = ag_paybook_find(&m->book, v->channel);
    if (pe) {
      json_object_set_new(price, "billed", ag_json_u64s(pe->billed));
      json_object_set_new(price, "seq", ag_json_u64s(pe->seq));
    }
    pthread_mutex_unlock(&m->book.mu);
  }
  json_object_set_new(e, "price", price);
  json_object_set_new(root, "error", e);
  ag_http_json(resp, 402, root);
}

/* The chain's record of a channel (GET /v1/channels/{id}). */
static int fetch_channel(miner *m, const uint8_t id[32], ag_channel *ch) {
  char hex[65], path[100];
  ag_hex_encode(id, 32, hex);
  snprintf(path, sizeof path, "/v1/channels/%s", hex);
  json_t *o;
  int rc = ag_net_get(&m->net, path, &o);
  if (rc) return rc;
  memset(ch, 0, sizeof *ch);
  memcpy(ch->id, id, 32);
  const char *st = json_string_value(json_object_get(o, "status"));
  const char *c = json_string_value(json_object_get(o, "client")), *p = json_string_value(json_object_get(o, "provider")),
             *sg = json_string_value(json_object_get(o, "signer"));
  if (!st || !c || !p || !sg || ag_addr_decode(c, ch->client) || ag_addr_decode(p, ch->provider) ||
      ag_addr_decode(sg, ch->signer))
    rc = ag_fail(AG_E_HTTP_STATUS, "the node's channel record is malformed");
  ch->status = !st ? AG_CHANNEL_CLOSED : !strcmp(st, "open") ? AG_CHANNEL_OPEN : !strcmp(st, "closing") ? AG_CHANNEL_CLOSING : AG_CHANNEL_CLOSED;
  ch->deposit = ag_json_u64_of(o, "deposit");
  ch->claimed = ag_json_u64_of(o, "claimed");
  ch->seq = ag_json_u64_of(o, "seq");
  ch->expiry = ag_json_u64_of(o, "expiry");
  ch->close_at = ag_json_u64_of(o, "close_at");
  json_decref(o);
  return rc;
}

/* Admits the payment of j when this provider charges (0), or answers 402 (-1). Validators'
 * challenges are free. */
static int pay_admit(miner *m, ag_http_req *req, ag_http_resp *resp, job *j) {
  pthread_mutex_lock(&m->vmu);
  int active = m->offer_active;
  ag_offer o = m->offer;
  uint64_t height = m->height;
  pthread_mutex_unlock(&m->vmu);
  if (!active || j->challenge) return 0;
  const char *hv = ag_http_header(req, AG_PAY_HEADER);
  if (!hv) {
    payment_error(m, resp, ag_fail(AG_E_PAY_REQUIRED, "this provider charges for answers: send a voucher in %s", AG_PAY_HEADER), &o, j, NULL, 0);
    return -1;
  }
  uint8_t raw[AG_VOUCHER_MAX];
  size_t n = strlen(hv);
  ag_voucher v;
  int rc = n % 2 || n / 2 > sizeof raw || ag_hex_decode(hv, n, raw, n / 2)
               ? ag_fail(AG_E_VOUCHER_MALFORMED, "%s is not hex", AG_PAY_HEADER)
               : ag_voucher_decode(raw, n / 2, &v);
  if (rc) {
    payment_error(m, resp, rc, &o, j, NULL, 0);
    return -1;
  }
  uint64_t most, need = 0;
  if ((rc = ag_offer_cost(&o, j->n_prompt, (uint64_t)j->max_new, &most))) {
    payment_error(m, resp, rc, &o, j, &v, 0);
    return -1;
  }
  /* the channel as the chain has it: cached, read again when the voucher asks for more */
  ag_channel ch;
  int known = 0;
  pthread_mutex_lock(&m->book.mu);
  ag_pay_entry *pe = ag_paybook_find(&m->book, v.channel);
  if (pe && pe->ch.deposit && v.cumulative <= pe->ch.deposit && pe->ch.status == AG_CHANNEL_OPEN) {
    ch = pe->ch;
    known = 1;
  }
  pthread_mutex_unlock(&m->book.mu);
  if (!known && (rc = fetch_channel(m, v.channel, &ch))) {
    payment_error(m, resp, rc == AG_E_NOTFOUND ? AG_E_CHANNEL_NOT_FOUND : rc, &o, j, &v, 0);
    return -1;
  }
  if (memcmp(ch.provider, m->hotkey.pk, 32) != 0) {
    payment_error(m, resp, ag_fail(AG_E_VOUCHER_CHANNEL, "the channel pays another provider"), &o, j, &v, 0);
    return -1;
  }
  rc = ag_paybook_admit(&m->book, m->net.chain_id, &ch, &v, raw, n / 2, height, most, &need);
  if (rc) {
    payment_error(m, resp, rc, &o, j, &v, need);
    return -1;
  }
  j->paid = 1;
  memcpy(j->channel, v.channel, 32);
  j->seq = v.seq;
  j->cumulative = v.cumulative;
  j->max_cost = most;
  j->offer = o;
  return 0;
}

/* Bills a paid job once, for the tokens it produced; the payment receipt (signed) or NULL. */
static json_t *pay_bill(miner *m, job *j) {
  if (!j->paid || j->billed) return NULL;
  j->billed = 1;
  ag_pay_receipt r;
  memset(&r, 0, sizeof r);
  memcpy(r.channel, j->channel, 32);
  r.seq = j->seq;
  r.cumulative = j->cumulative;
  r.n_in = j->n_prompt;
  r.n_out = (uint64_t)j->n_out;
  r.price_in = j->offer.price_in;
  r.price_out = j->offer.price_out;
  r.height = m->height;
  int rc = ag_offer_cost(&j->offer, r.n_in, r.n_out, &r.cost);
  if (!rc) rc = ag_paybook_bill(&m->book, j->channel, j->max_cost, r.cost, &r.billed);
  if (rc) {
    ag_paybook_release(&m->book, j->channel, j->max_cost);
    ag_error("miner", "cannot bill a paid request: %s", ag_errmsg(rc));
    return NULL;
  }
  uint8_t msg[32], sig[64];
  ag_pay_receipt_message(m->hotkey.pk, j->req_hash, &r, msg);
  ag_sign(&m->hotkey, msg, 32, sig);
  return ag_pay_receipt_json(&r, sig);
}

/* This hotkey's offer for its model, and the height (every few seconds). */
static void refresh_offer(miner *m) {
  char hex[65], path[120];
  ag_hex_encode(m->model->id, 32, hex);
  snprintf(path, sizeof path, "/v1/offers?model=%s", hex);
  json_t *o;
  if (ag_net_get(&m->net, path, &o)) return;
  ag_offer found;
  int active = 0;
  json_t *arr = json_object_get(o, "offers");
  for (size_t i = 0; i < json_array_size(arr) && !active; i++) {
    json_t *x = json_array_get(arr, i);
    const char *pv = json_string_value(json_object_get(x, "provider"));
    if (!pv || strcmp(pv, m->hotkey_addr)) continue;
    memset(&found, 0, sizeof found);
    memcpy(found.hotkey, m->hotkey.pk, 32);
    memcpy(found.model, m->model->id, 32);
    found.price_in = ag_json_u64_of(x, "price_in_per_1k");
    found.price_out = ag_json_u64_of(x, "price_out_per_1k");
    found.max_tokens = (uint32_t)json_integer_value(json_object_get(x, "max_tokens"));
    active = 1;
  }
  uint64_t h = ag_json_u64_of(o, "height");
  json_decref(o);
  pthread_mutex_lock(&m->vmu);
  if (active && !m->offer_active)
    ag_info("miner", "charging for answers: %llu per 1,000 prompt and %llu per 1,000 output tokens (base units)",
            (unsigned long long)found.price_in, (unsigned long long)found.price_out);
  m->offer_active = active;
  if (active) m->offer = found;
  m->height = h;
  pthread_mutex_unlock(&m->vmu);
}

/* A claim the chain refused because its voucher was redeemed already: an earlier send that
 * committed after its round stopped waiting, or a book that lost its last write (kill -9
 * between the claim's commit and the book's). The book takes what the chain has redeemed, so
 * the voucher is not sent again (each send would burn a fee). */
static void sync_redeemed(miner *m, const uint8_t id[32], uint64_t amount) {
  ag_channel ch;
  int rc = fetch_channel(m, id, &ch);
  if (rc) {
    ag_warn("miner", "claim of %llu base units refused as redeemed; cannot read the channel: %s",
            (unsigned long long)amount, ag_errmsg(rc));
    return;
  }
  pthread_mutex_lock(&m->book.mu);
  ag_pay_entry *e = ag_paybook_find(&m->book, id);
  if (e) {
    uint64_t paid = ch.claimed < e->billed ? ch.claimed : e->billed;
    e->ch = ch;
    if (e->claimed < paid) {
      e->claimed = paid;
      if ((rc = ag_paybook_store(&m->book, e))) ag_warn("miner", "%s", ag_errmsg(rc));
    }
    ag_info("miner", "a channel's voucher %llu was redeemed already (the chain has %llu base units claimed, "
            "sequence %llu): the book follows", (unsigned long long)e->seq, (unsigned long long)ch.claimed,
            (unsigned long long)ch.seq);
  }
  pthread_mutex_unlock(&m->book.mu);
}

/* Redeems what was billed: for each channel with more billed than the chain paid, a claim of
 * exactly the billed total under the latest voucher (which covers it). A channel with a request
 * still running is left for the next round: the chain takes each voucher sequence once, so a
 * claim under the voucher that request came with would leave its cost unclaimable until the
 * client sends another voucher (and for good if it never does). final: the miner is going and
 * nothing runs any more, so every channel is claimed.
 *
 * The claims of a round go out together, up to PER_TX in each channel_claims (one signature and
 * one fee for them all, docs/economy.md), and their outcomes are read together: a round takes a
 * block or two, not one block a channel. A channel_claims is all or none, so one the chain
 * refuses is sent again claim by claim, and each then fares as a lone claim does. */
typedef struct {
  uint8_t id[32];
  uint64_t amount, seq;
  uint8_t payload[9 + AG_VOUCHER_MAX]; /* a channel_claim's */
  size_t len;
} pay_claim;

typedef struct {
  uint8_t hash[32];
  size_t first, n; /* the claims cs[first .. first + n) */
  int done;
} claim_tx;

/* Sends cs[first .. first + n) as one tx into *t: a channel_claim for one, else a
 * channel_claims; 1 when sent. */
static int send_claims(miner *m, const pay_claim *cs, size_t first, size_t n, claim_tx *t) {
  ag_buf b;
  ag_buf_init(&b);
  if (n > 1) ag_buf_put_u16le(&b, (uint16_t)n);
  for (size_t q = first; q < first + n; q++) ag_buf_put(&b, cs[q].payload, cs[q].len);
  t->first = first;
  t->n = n;
  t->done = 0;
  int rc = ag_net_submit(&m->net, &m->hotkey, n > 1 ? AG_TX_CHANNEL_CLAIMS : AG_TX_CHANNEL_CLAIM, b.data, b.len, 0,
                         t->hash, NULL);
  ag_buf_free(&b);
  if (rc) ag_warn("miner", "%zu claim(s) not sent: %s", n, ag_errmsg(rc));
  return rc == 0;
}

static void claim_billed(miner *m, int final) {
  enum { BATCH = 256, PER_TX = 64 };
  pay_claim *cs = ag_xcalloc(BATCH, sizeof *cs);
  claim_tx *tx = ag_xcalloc(BATCH + BATCH / PER_TX + 1, sizeof *tx);
  size_t nc = 0, ntx = 0;
  pthread_mutex_lock(&m->book.mu);
  for (size_t i = 0; i < m->book.n && nc < BATCH; i++) {
    ag_pay_entry *e = &m->book.e[i];
    /* a voucher the chain has redeemed already (e->ch.seq, as last read) would only burn a fee:
     * it waits for the next one */
    if (!(e->billed > e->claimed && e->voucher_len && e->seq > e->ch.seq && (final || e->reserved == 0))) continue;
    pay_claim *c = &cs[nc++];
    ag_buf b;
    ag_buf_init(&b);
    ag_payload_channel_claim(&b, 0, e->billed, e->voucher, e->voucher_len);
    memcpy(c->payload, b.data, b.len);
    c->len = b.len;
    ag_buf_free(&b);
    c->amount = e->billed;
    c->seq = e->seq;
    memcpy(c->id, e->ch.id, 32);
  }
  pthread_mutex_unlock(&m->book.mu);
  for (size_t f = 0; f < nc; f += PER_TX) ntx += (size_t)send_claims(m, cs, f, nc - f < PER_TX ? nc - f : PER_TX, &tx[ntx]);
  size_t left = ntx;
  for (uint64_t end = ag_mono_ms() + (final ? 30000 : 15000); left && ag_mono_ms() < end;) {
    ag_sleep_ms(100);
    for (size_t k = 0, nk = ntx; k < nk; k++) {
      claim_tx *t = &tx[k];
      int code = 0, o = t->done ? 0 : ag_net_tx_outcome(&m->net, t->hash, &code);
      if (o <= 0) continue; /* not yet, or the node did not answer: asked again */
      t->done = 1;
      left--;
      if (code && t->n > 1) {
        ag_info("miner", "a channel_claims of %zu claims was refused (%s): they go one by one", t->n,
                ag_errmsg(code));
        size_t before = ntx;
        for (size_t q = t->first; q < t->first + t->n; q++) ntx += (size_t)send_claims(m, cs, q, 1, &tx[ntx]);
        left += ntx - before;
        continue;
      }
      for (size_t q = t->first; q < t->first + t->n; q++) {
        pay_claim *c = &cs[q];
        if (code == AG_E_VOUCHER_SEQ || code == AG_E_VOUCHER_STALE) {
          sync_redeemed(m, c->id, c->amount);
          continue;
        }
        if (code) {
          ag_warn("miner", "claim of %llu base units not made: %s", (unsigned long long)c->amount, ag_errmsg(code));
          continue;
        }
        pthread_mutex_lock(&m->book.mu);
        ag_pay_entry *e = ag_paybook_find(&m->book, c->id);
        if (e && e->ch.seq < c->seq) e->ch.seq = c->seq;
        if (e && e->claimed < c->amount) {
          e->claimed = c->amount;
          int rc = ag_paybook_store(&m->book, e);
          if (rc) ag_warn("miner", "%s", ag_errmsg(rc));
        }
        pthread_mutex_unlock(&m->book.mu);
        ag_info("miner", "claimed %llu base units billed on a channel", (unsigned long long)c->amount);
      }
    }
  }
  if (left) ag_warn("miner", "%zu claim tx(s) not committed yet; the next round sends them again", left);
  free(tx);
  free(cs);
}

/* Keeps the book to the channels that can still pay: each round looks up the next few
 * entries with nothing running on the chain, and drops those it has closed (a closed channel
 * takes no claim). What a closed channel was billed beyond its claims is lost, and logged. */
static void drop_closed(miner *m) {
  enum { PER_ROUND = 32 };
  uint8_t ids[PER_ROUND][32];
  int nid = 0;
  pthread_mutex_lock(&m->book.mu);
  size_t n = m->book.n, cnt = n < PER_ROUND ? n : PER_ROUND;
  for (size_t k = 0; k < cnt; k++) {
    ag_pay_entry *e = &m->book.e[(m->sweep + k) % n];
    if (e->reserved == 0) memcpy(ids[nid++], e->ch.id, 32);
  }
  m->sweep = n ? (m->sweep + cnt) % n : 0;
  pthread_mutex_unlock(&m->book.mu);
  for (int k = 0; k < nid; k++) {
    ag_channel ch;
    if (fetch_channel(m, ids[k], &ch) || ch.status != AG_CHANNEL_CLOSED) continue;
    pthread_mutex_lock(&m->book.mu);
    ag_pay_entry *e = ag_paybook_find(&m->book, ids[k]);
    uint64_t lost = e && e->billed > ch.claimed ? e->billed - ch.claimed : 0;
    int rc = e && e->reserved == 0 ? ag_paybook_drop(&m->book, ids[k]) : AG_E_BUSY;
    pthread_mutex_unlock(&m->book.mu);
    char hex[17];
    ag_hex_encode(ids[k], 8, hex);
    if (rc == AG_E_BUSY) continue;
    if (rc) ag_warn("miner", "channel %s…: %s", hex, ag_errmsg(rc));
    else if (lost) ag_warn("miner", "channel %s… closed with %llu base units billed and never claimed", hex, (unsigned long long)lost);
    else ag_info("miner", "channel %s… closed: dropped from the payment book", hex);
  }
}

/* Parses and queues a request; 0 with *out a job holding two references (worker + caller). */
static job *admit(miner *m, ag_http_req *req, ag_http_resp *resp, bool chat) {
  if (!authorized(m, req, resp)) return NULL;
  job *j = ag_xcalloc(1, sizeof *j);
  const char *param = NULL;
  int rc = ag_inf_request_parse(chat, req->body, req->body_len, &j->req, &param);
  if (rc) {
    ag_http_openai_error(resp, 400, "invalid_request_error", rc == AG_E_BAD_JSON ? "invalid_json" : NULL, param, ag_errmsg(rc));
    free(j);
    m->req_err++;
    return NULL;
  }
  char hex[65];
  ag_hex_encode(m->model->id, 32, hex);
  if (strcmp(j->req.model, m->model_name) && strcmp(j->req.model, hex) && strcmp(j->req.model, "default")) {
    char msg[300];
    snprintf(msg, sizeof msg, "The model '%.100s' does not exist; this miner serves '%s'.", j->req.model, m->model_name);
    ag_http_openai_error(resp, 404, "invalid_request_error", "model_not_found", "model", msg);
    ag_inf_request_free(&j->req);
    free(j);
    m->req_err++;
    return NULL;
  }
  ag_inf_request_hash(req->body, req->body_len, j->req_hash);
  if (!j->req.has_seed) { /* the miner draws one; the receipt records it */
    randombytes_buf(&j->req.seed, sizeof j->req.seed);
    j->req.seed &= 0x7fffffffffffffffULL;
  }
  ag_inf_sampling(m->model, &j->req, &j->sp);
  /* a seeded request: sampled with this miner's own seed, so the answer is its own work */
  if (j->req.has_seed) j->sp.seed = ag_inf_bound_seed(m->hotkey.pk, j->req.seed);
  rc = ag_inf_prompt_ids(m->model, &j->req, &j->prompt, &j->n_prompt);
  int ctx = m->model->cfg.seq_len;
  if (!rc && (int)j->n_prompt >= ctx) {
    char msg[200];
    snprintf(msg, sizeof msg, "This model's maximum context length is %d tokens; the %s has %zu.", ctx,
             chat ? "messages" : "prompt", j->n_prompt);
    ag_http_openai_error(resp, 400, "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt", msg);
    rc = AG_E_ENGINE_CONTEXT;
  } else if (rc) {
    ag_http_openai_error(resp, 500, "server_error", NULL, NULL, ag_errmsg(rc));
  }
  if (rc) {
    ag_inf_request_free(&j->req);
    free(j->prompt);
    free(j);
    m->req_err++;
    return NULL;
  }
  j->model = m->model;
  uint8_t rid[12];
  char rhex[25];
  randombytes_buf(rid, sizeof rid);
  ag_hex_encode(rid, sizeof rid, rhex);
  snprintf(j->id, sizeof j->id, "%s-%s", chat ? "chatcmpl" : "cmpl", rhex);
  j->max_new = j->req.max_tokens;
  if ((int)j->n_prompt + j->max_new - 1 > ctx) j->max_new = ctx - (int)j->n_prompt + 1;
  j->tokens = ag_xmalloc((size_t)j->max_new * sizeof *j->tokens);
  ag_buf_init(&j->receipt);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->refs = 2;
  j->t_queued = ag_mono_s();
  j->challenge = is_challenge(m, req, j->req_hash);
  if (pay_admit(m, req, resp, j) != 0) {
    m->req_err++;
    j->refs = 1;
    job_unref(j);
    return NULL;
  }
  pthread_mutex_lock(&m->qmu);
  int room = j->challenge ? m->cfg.queue_max : m->cfg.queue_max - reserved(m);
  if (m->qlen >= room || m->stopping) {
    pthread_mutex_unlock(&m->qmu);
    ag_http_openai_error(resp, 503, "server_error", "overloaded", NULL, "The miner's queue is full; retry shortly.");
    m->rejected++;
    if (j->paid) ag_paybook_release(&m->book, j->channel, j->max_cost);
    j->refs = 1;
    job_unref(j);
    return NULL;
  }
  if (j->challenge) { /* ahead of clients' requests, behind earlier challenges */
    job **p = &m->head, *prev = NULL;
    while (*p && (*p)->challenge) {
      prev = *p;
      p = &(*p)->next;
    }
    j->next = *p;
    *p = j;
    if (!j->next) m->tail = j;
    (void)prev;
  } else {
    if (m->tail) m->tail->next = j;
    else m->head = j;
    m->tail = j;
  }
  m->qlen++;
  pthread_cond_signal(&m->qcv);
  pthread_mutex_unlock(&m->qmu);
  return j;
}

/* ---- non-streamed answers --------------------------------------------------------------------- */

static void answer(miner *m, ag_http_req *req, ag_http_resp *resp, bool chat) {
  job *j = admit(m, req, resp, chat);
  if (!j) return;
  if (j->req.stream) {
    /* handled by the streaming path */
  }
  pthread_mutex_lock(&j->mu);
  while (!j->done) pthread_cond_wait(&j->cv, &j->mu);
  pthread_mutex_unlock(&j->mu);
  if (m->cfg.slow_ms > 0) ag_sleep_ms((uint64_t)m->cfg.slow_ms);
  if (j->rc) {
    if (j->paid) ag_paybook_release(&m->book, j->channel, j->max_cost);
    ag_http_openai_error(resp, 500, "server_error", NULL, NULL, ag_errmsg(j->rc));
    observe(m, ag_mono_s() - j->t_queued, 0, 0, 0);
    job_unref(j);
    return;
  }
  ag_buf text;
  ag_buf_init(&text);
  ag_inf_text(m->model, j->tokens, j->n_out, &j->req, 0, &text, &j->stopped);
  json_t *fin = final_json(m, j, &text), *pay = pay_bill(m, j);
  if (pay) json_object_set_new(json_object_get(fin, "agora"), "payment", pay);
  ag_http_json(resp, 200, fin);
  ag_http_set_header(resp, "x-request-id", j->id);
  observe(m, ag_mono_s() - j->t_queued, 1, (int)j->n_prompt, j->n_out);
  ag_buf_free(&text);
  job_unref(j);
}

/* ---- streamed answers (Server-Sent Events) ----------------------------------------------------- */

typedef struct {
  miner *m;
  job *j;
  ag_buf pending; /* bytes ready to send */
  size_t off;
  size_t sent_text; /* bytes of text already sent as deltas */
  int phase;        /* 0 role chunk, 1 deltas, 2 final sent, 3 [DONE] queued, 4 end */
} sse;

static void put_event(sse *s, json_t *o) {
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  ag_buf_printf(&s->pending, "data: %s\n\n", text);
  free(text);
  json_decref(o);
}

static json_t *chunk(sse *s, const char *delta, size_t dlen, const char *finish, int first) {
  job *j = s->j;
  json_t *o = envelope(s->m, j, j->req.chat ? "chat.completion.chunk" : "text_completion");
  json_t *choice = json_object(), *choices = json_array();
  json_object_set_new(choice, "index", json_integer(0));
  if (j->req.chat) {
    json_t *d = json_object();
    if (first) json_object_set_new(d, "role", json_string("assistant"));
    if (delta) json_object_set_new(d, "content", json_stringn(delta, dlen));
    json_object_set_new(choice, "delta", d);
  } else {
    json_object_set_new(choice, "text", json_stringn(delta ? delta : "", delta ? dlen : 0));
    json_object_set_new(choice, "logprobs", json_null());
  }
  json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
  json_array_append_new(choices, choice);
  json_object_set_new(o, "choices", choices);
  if (j->req.include_usage) json_object_set_new(o, "usage", json_null());
  return o;
}

/* Longest stop string minus one: text that might still become a stop is held back. */
static size_t holdback(const ag_inf_request *r) {
  size_t h = 0;
  for (int i = 0; i < r->nstop; i++)
    if (strlen(r->stops[i]) > h) h = strlen(r->stops[i]);
  return h ? h - 1 : 0;
}

static ssize_t sse_read(void *cls, char *buf, size_t max) {
  sse *s = cls;
  job *j = s->j;
  while (s->off == s->pending.len) {
    ag_buf_reset(&s->pending);
    s->off = 0;
    if (s->phase == 4) return -1;
    if (s->phase == 3) {
      ag_buf_puts(&s->pending, "data: [DONE]\n\n");
      s->phase = 4;
      break;
    }
    if (s->phase == 0) {
      if (j->req.chat) put_event(s, chunk(s, "", 0, NULL, 1));
      s->phase = 1;
      if (s->pending.len) break;
    }
    /* wait for progress (bounded, so a stuck worker cannot hold the connection forever) */
    pthread_mutex_lock(&j->mu);
    int seen = j->n_out;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 15;
    while (!j->done && j->n_out == seen)
      if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) != 0) break;
    int done = j->done, n = j->n_out;
    uint32_t *toks = ag_xmalloc(((size_t)n + 1) * sizeof *toks);
    memcpy(toks, j->tokens, (size_t)n * sizeof *toks);
    pthread_mutex_unlock(&j->mu);
    if (done && j->rc) {
      if (j->paid && !j->billed) {
        j->billed = 1;
        ag_paybook_release(&s->m->book, j->channel, j->max_cost);
      }
      json_t *e = json_object(), *root = json_object();
      json_object_set_new(e, "message", ag_json_text(ag_errmsg(j->rc)));
      json_object_set_new(e, "type", json_string("server_error"));
      json_object_set_new(e, "param", json_null());
      json_object_set_new(e, "code", json_null());
      json_object_set_new(root, "error", e);
      put_event(s, root);
      s->phase = 3;
      free(toks);
      continue;
    }
    if (done && s->m->cfg.slow_ms > 0) ag_sleep_ms((uint64_t)s->m->cfg.slow_ms);
    ag_buf text;
    ag_buf_init(&text);
    int stopped = 0;
    ag_inf_text(s->m->model, toks, n, &j->req, !done, &text, &stopped);
    free(toks);
    if (stopped && !done) { /* the text is final: stop generating */
      pthread_mutex_lock(&j->mu);
      j->cancel = 1;
      pthread_mutex_unlock(&j->mu);
    }
    size_t avail = done ? text.len : (text.len > holdback(&j->req) ? text.len - holdback(&j->req) : 0);
    if (avail > s->sent_text) {
      put_event(s, chunk(s, (const char *)text.data + s->sent_text, avail - s->sent_text, NULL, 0));
      s->sent_text = avail;
    }
    if (done) {
      j->stopped = stopped;
      json_t *fin = chunk(s, NULL, 0, finish_reason(s->m, j), 0);
      json_t *proof = proof_json(s->m, j, &text), *pay = pay_bill(s->m, j);
      if (pay) json_object_set_new(proof, "payment", pay);
      json_object_set_new(fin, "agora", proof);
      put_event(s, fin);
      if (j->req.include_usage) {
        json_t *u = envelope(s->m, j, j->req.chat ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(u, "choices", json_array());
        json_object_set_new(u, "usage", usage_json((int)j->n_prompt, j->n_out));
        put_event(s, u);
      }
      observe(s->m, ag_mono_s() - j->t_queued, 1, (int)j->n_prompt, j->n_out);
      s->phase = 3;
    }
    ag_buf_free(&text);
  }
  size_t k = AG_MIN(max, s->pending.len - s->off);
  memcpy(buf, s->pending.data + s->off, k);
  s->off += k;
  return (ssize_t)k;
}

static void sse_free(void *cls) {
  sse *s = cls;
  pthread_mutex_lock(&s->j->mu);
  s->j->cancel = 1; /* if the client left early the worker stops at the next token */
  while (s->j->paid && !s->j->billed && !s->j->done) pthread_cond_wait(&s->j->cv, &s->j->mu);
  pthread_mutex_unlock(&s->j->mu);
  /* a client that left mid-stream pays for the tokens made until then */
  if (s->j->paid && !s->j->billed) {
    if (s->j->rc) {
      s->j->billed = 1;
      ag_paybook_release(&s->m->book, s->j->channel, s->j->max_cost);
    } else {
      json_decref(pay_bill(s->m, s->j));
    }
  }
  job_unref(s->j);
  ag_buf_free(&s->pending);
  free(s);
}

/* Devnet behaviour: forward the request to another miner and sign its answer as ours. The
 * answer is right, but not this miner's work: its tokens were sampled with the other miner's
 * seed, so validators refuse it (docs/security.md). */
static void relay(miner *m, ag_http_req *req, ag_http_resp *resp, bool chat) {
  char base[200], url[300];
  pthread_mutex_lock(&m->vmu);
  snprintf(base, sizeof base, "%s", m->relay_url);
  pthread_mutex_unlock(&m->vmu);
  if (!base[0]) return ag_http_openai_error(resp, 503, "server_error", "overloaded", NULL, "nobody to relay to yet");
  snprintf(url, sizeof url, "%s%s", base, chat ? "/v1/chat/completions" : "/v1/completions");
  ag_http_result r;
  int rc = ag_http_request("POST", url, "application/json", req->body, req->body_len, 60000, &r);
  if (rc) return ag_http_openai_error(resp, 502, "server_error", NULL, NULL, ag_errmsg(rc));
  json_t *o = json_loadb((const char *)r.body.data, r.body.len, 0, NULL), *ag = json_object_get(o, "agora");
  long st = r.status;
  ag_http_result_free(&r);
  if (st != 200 || !ag) {
    json_decref(o);
    return ag_http_openai_error(resp, 502, "server_error", NULL, NULL, "the relayed miner failed");
  }
  json_t *c0 = json_array_get(json_object_get(o, "choices"), 0);
  const char *text = chat ? json_string_value(json_object_get(json_object_get(c0, "message"), "content"))
                          : json_string_value(json_object_get(c0, "text"));
  const char *rb64 = json_string_value(json_object_get(ag, "receipt"));
  uint8_t reqh[32], commit[32], msg[32], sig[64], *rec = NULL;
  size_t rlen = 0;
  ag_inf_request_hash(req->body, req->body_len, reqh);
  if (text && rb64 && !ag_hex_decode(json_string_value(json_object_get(ag, "commitment")), 64, commit, 32) &&
      !ag_b64_decode_alloc(rb64, strlen(rb64), 64u << 20, &rec, &rlen)) {
    ag_inf_sig_message(m->hotkey.pk, reqh, text, strlen(text), commit, rec, rlen, msg);
    ag_sign(&m->hotkey, msg, 32, sig);
    json_object_set_new(ag, "hotkey", json_string(m->hotkey_addr));
    json_object_set_new(ag, "signature", ag_json_hex(sig, 64));
    json_object_set_new(ag, "uid", m->uid >= 0 ? json_integer(m->uid) : json_null());
  }
  free(rec);
  m->req_ok++;
  ag_http_json(resp, 200, o);
}

static void completions(ag_http_req *req, ag_http_resp *resp, bool chat) {
  miner *m = req->ctx;
  if (m->cfg.relay) return relay(m, req, resp, chat);
  /* peek at "stream" to choose the path; the full parse happens in admit */
  json_t *peek = json_loadb((const char *)req->body, req->body_len, 0, NULL);
  int stream = json_is_true(json_object_get(peek, "stream"));
  json_decref(peek);
  if (!stream) return answer(m, req, resp, chat);
  job *j = admit(m, req, resp, chat);
  if (!j) return;
  sse *s = ag_xcalloc(1, sizeof *s);
  s->m = m;
  s->j = j;
  ag_buf_init(&s->pending);
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
  ag_http_set_header(resp, "Cache-Control", "no-cache");
  ag_http_set_header(resp, "x-request-id", j->id);
  resp->stream = sse_read;
  resp->stream_cls = s;
  resp->stream_free = sse_free;
}

static void h_completions(ag_http_req *req, ag_http_resp *resp) { completions(req, resp, false); }
static void h_chat(ag_http_req *req, ag_http_resp *resp) { completions(req, resp, true); }

/* ---- other routes ------------------------------------------------------------------------------ */

static json_t *model_obj(miner *m) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(m->model_name));
  json_object_set_new(o, "object", json_string("model"));
  json_object_set_new(o, "created", json_integer((json_int_t)(m->start_ms / 1000)));
  json_object_set_new(o, "owned_by", json_string("agora"));
  return o;
}

static void h_models(ag_http_req *req, ag_http_resp *resp) {
  miner *m = req->ctx;
  if (!authorized(m, req, resp)) return;
  json_t *o = json_object(), *data = json_array();
  json_array_append_new(data, model_obj(m));
  json_object_set_new(o, "object", json_string("list"));
  json_object_set_new(o, "data", data);
  ag_http_json(resp, 200, o);
}

static void h_model(ag_http_req *req, ag_http_resp *resp) {
  miner *m = req->ctx;
  if (!authorized(m, req, resp)) return;
  char hex[65];
  ag_hex_encode(m->model->id, 32, hex);
  if (strcmp(req->param, m->model_name) && strcmp(req->param, hex)) {
    char msg[200];
    snprintf(msg, sizeof msg, "The model '%.100s' does not exist", req->param);
    return ag_http_openai_error(resp, 404, "invalid_request_error", "model_not_found", NULL, msg);
  }
  ag_http_json(resp, 200, model_obj(m));
}

static void h_health(ag_http_req *req, ag_http_resp *resp) {
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string("ok"));
  ag_http_json(resp, 200, o);
}

static void h_info(ag_http_req *req, ag_http_resp *resp) {
  miner *m = req->ctx;
  pthread_mutex_lock(&m->qmu);
  int qlen = m->qlen, busy = m->busy;
  pthread_mutex_unlock(&m->qmu);
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", json_string(m->hotkey_addr));
  json_object_set_new(o, "netuid", json_integer(m->cfg.netuid));
  json_object_set_new(o, "uid", m->uid >= 0 ? json_integer(m->uid) : json_null());
  json_object_set_new(o, "model", json_string(m->model_name));
  json_object_set_new(o, "model_id", ag_json_hex(m->model->id, 32));
  json_object_set_new(o, "workers", json_integer(m->cfg.workers));
  json_object_set_new(o, "busy", json_integer(busy));
  json_object_set_new(o, "queue_length", json_integer(qlen));
  json_object_set_new(o, "queue_capacity", json_integer(m->cfg.queue_max));
  json_object_set_new(o, "requests_total", json_integer((json_int_t)m->req_ok));
  json_object_set_new(o, "errors_total", json_integer((json_int_t)m->req_err));
  json_object_set_new(o, "rejected_total", json_integer((json_int_t)m->rejected));
  json_object_set_new(o, "generated_tokens_total", json_integer((json_int_t)m->gen_tokens));
  ag_http_json(resp, 200, o);
}

static void h_model_file(ag_http_req *req, ag_http_resp *resp) {
  miner *m = req->ctx;
  uint8_t id[32];
  if (ag_hex_decode(req->param, strlen(req->param), id, 32) || memcmp(id, m->model->id, 32))
    return ag_http_error(resp, 404, AG_E_NOTFOUND, "this miner does not serve that model");
  ag_neuron_model_file(req, resp, m->cfg.model_dir);
}

static void h_metrics(ag_http_req *req, ag_http_resp *resp) {
  miner *m = req->ctx;
  ag_buf *b = &resp->body;
  pthread_mutex_lock(&m->qmu);
  int qlen = m->qlen, busy = m->busy;
  pthread_mutex_unlock(&m->qmu);
#define HELP(n, t, h) ag_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", n, h, n, t)
  HELP("agora_inference_requests_total", "counter", "Inference requests answered, by result.");
  ag_buf_printf(b, "agora_inference_requests_total{result=\"ok\"} %llu\n", (unsigned long long)m->req_ok);
  ag_buf_printf(b, "agora_inference_requests_total{result=\"error\"} %llu\n", (unsigned long long)m->req_err);
  ag_buf_printf(b, "agora_inference_requests_total{result=\"rejected\"} %llu\n", (unsigned long long)m->rejected);
  HELP("agora_inference_request_duration_seconds", "histogram", "Time from arrival to the full answer.");
  for (int i = 0; i < 9; i++)
    ag_buf_printf(b, "agora_inference_request_duration_seconds_bucket{le=\"%g\"} %llu\n", dur_bounds[i], (unsigned long long)m->dur_buckets[i]);
  ag_buf_printf(b, "agora_inference_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)m->dur_buckets[9]);
  ag_buf_printf(b, "agora_inference_request_duration_seconds_sum %.6f\n", (double)m->dur_sum_us / 1e6);
  ag_buf_printf(b, "agora_inference_request_duration_seconds_count %llu\n", (unsigned long long)m->dur_count);
  HELP("agora_inference_prompt_tokens_total", "counter", "Prompt tokens processed.");
  ag_buf_printf(b, "agora_inference_prompt_tokens_total %llu\n", (unsigned long long)m->prompt_tokens);
  HELP("agora_inference_generated_tokens_total", "counter", "Tokens generated.");
  ag_buf_printf(b, "agora_inference_generated_tokens_total %llu\n", (unsigned long long)m->gen_tokens);
  HELP("agora_inference_queue_length", "gauge", "Requests waiting for a worker.");
  ag_buf_printf(b, "agora_inference_queue_length %d\n", qlen);
  HELP("agora_inference_busy_workers", "gauge", "Workers generating now.");
  ag_buf_printf(b, "agora_inference_busy_workers %d\n", busy);
  HELP("agora_inference_workers", "gauge", "Configured workers (concurrent generations).");
  ag_buf_printf(b, "agora_inference_workers %d\n", m->cfg.workers);
  pthread_mutex_lock(&m->book.mu);
  size_t nch = m->book.n;
  pthread_mutex_unlock(&m->book.mu);
  HELP("agora_inference_payment_channels", "gauge", "Channels in the payment book (open, or closed and not yet dropped).");
  ag_buf_printf(b, "agora_inference_payment_channels %zu\n", nch);
#undef HELP
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "text/plain; version=0.0.4; charset=utf-8");
}

/* The miner API's description (src/api/openapi-miner.json, embedded; tests/test_openapi.c). */
static void h_openapi(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  const ag_embed *a = ag_embed_find("/miner/openapi.json");
  resp->status = 200;
  ag_buf_put(&resp->body, a->data, a->len);
  snprintf(resp->content_type, sizeof resp->content_type, "%s", a->type);
}

static const ag_http_route routes[] = {
    {"GET", "/openapi.json", h_openapi, 0},
    {"GET", "/v1/models", h_models, 0},
    {"GET", "/v1/models/", h_model, 0},
    {"POST", "/v1/completions", h_completions, 0},
    {"POST", "/v1/chat/completions", h_chat, 0},
    {"GET", "/health", h_health, 0},
    {"GET", "/metrics", h_metrics, 0},
    {"GET", "/agora/info", h_info, 0},
    {"GET", "/agora/model-files/", h_model_file, 0},
};

const ag_http_route *ag_miner_routes(size_t *n) {
  *n = AG_ARRAY_LEN(routes);
  return routes;
}

/* ---- chain setup ------------------------------------------------------------------------------- */

void ag_miner_config_default(ag_miner_config *c) {
  memset(c, 0, sizeof *c);
  c->netuid = 1;
  snprintf(c->listen, sizeof c->listen, "127.0.0.1:0");
  c->workers = 1;
  c->threads = 1;
  c->queue_max = 64;
  c->claim_s = 10;
}

static int announce(miner *m, const char *host, uint16_t port) {
  return ag_neuron_serve(&m->net, m->cfg.netuid, &m->hotkey, host, port, &m->uid);
}

/* Who holds a validator permit (their challenges get the reserved room), and, for a relayer,
 * the endpoint of the first other miner. */
static void refresh_validators(miner *m) {
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", m->cfg.netuid);
  json_t *mg;
  if (ag_net_get(&m->net, path, &mg)) return;
  json_t *rows = json_object_get(mg, "uids");
  /* a subnet has at most AG_MAX_UIDS: rows past them are a node's lie */
  size_t nrows = json_array_size(rows) < AG_MAX_UIDS ? json_array_size(rows) : AG_MAX_UIDS;
  uint8_t (*v)[32] = ag_xcalloc(nrows + 1, 32);
  int n = 0;
  char relay[200] = "";
  for (size_t i = 0; i < nrows; i++) {
    json_t *r = json_array_get(rows, i);
    const char *hk = json_string_value(json_object_get(r, "hotkey"));
    if (json_is_true(json_object_get(r, "validator_permit")) && hk && !ag_addr_decode(hk, v[n])) n++;
    else if (!relay[0] && hk && strcmp(hk, m->hotkey_addr) &&
             ag_net_endpoint_url(json_object_get(r, "endpoint"), relay, sizeof relay))
      relay[0] = 0;
  }
  json_decref(mg);
  pthread_mutex_lock(&m->vmu);
  free(m->validators);
  m->validators = v;
  m->nvalidators = n;
  snprintf(m->relay_url, sizeof m->relay_url, "%s", relay);
  pthread_mutex_unlock(&m->vmu);
}

/* ---- the miner's life ------------------------------------------------------------------------ */

static miner *miner_new(const ag_miner_config *cfg) {
  miner *m = ag_xcalloc(1, sizeof *m);
  m->cfg = *cfg;
  m->uid = -1;
  m->start_ms = ag_now_ms();
  if (!m->cfg.model_dir[0]) snprintf(m->cfg.model_dir, sizeof m->cfg.model_dir, "%s/models", cfg->home);
  if (m->cfg.workers < 1) m->cfg.workers = 1;
  if (m->cfg.threads < 1) m->cfg.threads = 1;
  if (m->cfg.queue_max < 1) m->cfg.queue_max = 1;
  pthread_mutex_init(&m->qmu, NULL);
  pthread_cond_init(&m->qcv, NULL);
  pthread_mutex_init(&m->vmu, NULL);
  return m;
}

/* HOME/paybook-<hotkey>.mdb, then the workers; *hc receives the API (its listen is cfg's). */
static int miner_start(miner *m, ag_http_limits *hl, ag_http_config *hc) {
  char book[1200], legacy[1200];
  snprintf(book, sizeof book, "%s/paybook-%s.mdb", m->cfg.home, m->hotkey_addr);
  snprintf(legacy, sizeof legacy, "%s/paybook-%s.json", m->cfg.home, m->hotkey_addr);
  int rc = ag_paybook_open(&m->book, book, legacy);
  if (rc) return rc;
  m->book_open = 1;
  m->workers = ag_xcalloc((size_t)m->cfg.workers, sizeof *m->workers);
  for (int i = 0; i < m->cfg.workers; i++) pthread_create(&m->workers[i], NULL, worker, m);
  m->started = 1;
  /* handler threads: every queued generation holds one, and health checks need a few more */
  ag_http_limits_default(hl);
  hl->workers = (unsigned)(m->cfg.queue_max + m->cfg.workers + 8);
  *hc = (ag_http_config){m->cfg.listen, 1 << 20, routes, AG_ARRAY_LEN(routes), m, hl, NULL};
  return 0;
}

/* Stops the workers (what is queued finishes), redeems what was billed when claim, frees. */
static void miner_free(miner *m, int claim) {
  if (m->started) {
    pthread_mutex_lock(&m->qmu);
    m->stopping = 1;
    pthread_cond_broadcast(&m->qcv);
    pthread_mutex_unlock(&m->qmu);
    for (int i = 0; i < m->cfg.workers; i++) pthread_join(m->workers[i], NULL);
  }
  free(m->workers);
  if (m->book_open) {
    if (claim) claim_billed(m, 1); /* what was billed is redeemed before the miner goes */
    ag_paybook_close(&m->book);
  }
  if (m->own_model) ag_model_close(m->model);
  ag_key_wipe(&m->hotkey);
  pthread_mutex_destroy(&m->qmu);
  pthread_cond_destroy(&m->qcv);
  pthread_mutex_destroy(&m->vmu);
  free(m->validators);
  free(m);
}

int ag_miner_api_open(const ag_miner_config *cfg, const ag_net *net, const ag_model *model,
                      const ag_keypair *hotkey, const ag_offer *offer, uint64_t height,
                      const uint8_t (*validators)[32], int nvalidators, ag_miner_api **out,
                      ag_http_limits *hl, ag_http_config *hc) {
  ag_crypto_init();
  miner *m = miner_new(cfg);
  m->net = *net;
  m->model = (ag_model *)model;
  ag_inf_model_name(model->id, m->model_name);
  m->hotkey = *hotkey;
  ag_addr_encode(hotkey->pk, m->hotkey_addr);
  if (offer) m->offer = *offer, m->offer_active = 1;
  m->height = height;
  if (nvalidators > 0) {
    m->validators = ag_xmalloc((size_t)nvalidators * 32);
    memcpy(m->validators, validators, (size_t)nvalidators * 32);
    m->nvalidators = nvalidators;
  }
  int rc = miner_start(m, hl, hc);
  if (rc) {
    miner_free(m, 0);
    return rc;
  }
  *out = m;
  return 0;
}

void ag_miner_api_close(ag_miner_api *a) {
  if (a) miner_free(a, 0);
}

size_t ag_miner_api_reserved(ag_miner_api *m) {
  size_t n = 0;
  pthread_mutex_lock(&m->book.mu);
  for (size_t i = 0; i < m->book.n; i++) n += m->book.e[i].reserved != 0;
  pthread_mutex_unlock(&m->book.mu);
  return n;
}

int ag_miner_run(const ag_miner_config *cfg, volatile int *stop) {
  ag_crypto_init();
  miner *m = miner_new(cfg);
  m->own_model = 1;
  ag_http_server *srv = NULL;
  int rc = ag_neuron_connect(&m->net, cfg->home, cfg->node_url, stop);
  if (rc) goto out;
  if ((rc = ag_neuron_key(cfg->home, cfg->hotkey, m->net.chain_id, &m->hotkey))) goto out;
  ag_addr_encode(m->hotkey.pk, m->hotkey_addr);
  if ((rc = ag_neuron_register(&m->net, cfg->netuid, &m->hotkey, cfg->home, cfg->coldkey, &m->uid)) ||
      (rc = ag_neuron_model(&m->net, cfg->netuid, m->cfg.model_dir, &m->model)))
    goto out;
  ag_inf_model_name(m->model->id, m->model_name);
  refresh_offer(m);
  ag_http_limits hl;
  ag_http_config hc;
  if ((rc = miner_start(m, &hl, &hc))) goto out;
  ag_info("miner", "serving model %s (%s) with %d worker(s)", m->model_name, cfg->model_dir[0] ? cfg->model_dir : "cache", m->cfg.workers);
  if ((rc = ag_http_start(&hc, &srv))) goto out;
  char host[128];
  uint16_t lport;
  ag_http_parse_listen(cfg->listen, host, sizeof host, &lport);
  const char *pub = cfg->announce_host[0] ? cfg->announce_host : host[0] ? host : "127.0.0.1";
  uint16_t port = ag_http_port(srv);
  ag_info("miner", "OpenAI-compatible API on http://%s:%u/v1 (hotkey %s)", pub, port, m->hotkey_addr);
  if ((rc = announce(m, pub, port))) goto out;
  refresh_validators(m);
  /* keep the announcement and the validator list true; nothing else to do: the workers serve */
  uint64_t next = ag_mono_ms() + 10000, next_v = ag_mono_ms() + 3000,
           claim_ms = (uint64_t)(m->cfg.claim_s > 0 ? m->cfg.claim_s : 10) * 1000, next_c = ag_mono_ms() + claim_ms;
  while (!*stop) {
    ag_sleep_ms(100);
    if (ag_mono_ms() >= next_v) {
      next_v = ag_mono_ms() + 3000;
      refresh_validators(m);
      refresh_offer(m);
      if (ag_neuron_pin_changed(&m->net, m->cfg.netuid, m->model->id) == AG_E_MODEL_CHANGED) {
        rc = AG_E_MODEL_CHANGED; /* the requests in flight finish below; the caller starts again */
        ag_info("miner", "%s: stopping to serve it", ag_errmsg(rc));
        break;
      }
    }
    if (ag_mono_ms() >= next) {
      next = ag_mono_ms() + 10000;
      int arc = announce(m, pub, port);
      if (arc) ag_warn("miner", "cannot refresh the endpoint: %s", ag_errmsg(arc));
    }
    if (ag_mono_ms() >= next_c) {
      claim_billed(m, 0); /* may wait for its claims' blocks: the next round counts from its end */
      drop_closed(m);
      next_c = ag_mono_ms() + claim_ms;
    }
  }
out:
  if (rc && rc != AG_E_MODEL_CHANGED) ag_error("miner", "%s", ag_errmsg(rc));
  ag_http_stop(srv);
  miner_free(m, 1);
  return rc;
}
