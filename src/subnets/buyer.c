/* buyer.c — buying verified answers from an inference subnet's miners (buyer.h). */
#include "subnets/buyer.h"

#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "subnets/neuron.h"
#include "subnets/payment.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define OFFERS_TTL_MS 10000
#define MAX_PROVIDERS 4096

typedef struct {
  char hotkey[AG_ADDR_MAX];
  pthread_mutex_t mu;    /* one request at a time on its channel */
  double latency;        /* seconds, moving average of answered requests (0: none yet) */
  ag_ban ban;            /* answered wrongly lately */
} provider;

struct ag_buyer {
  ag_buyer_cfg cfg;
  ag_net *net;
  uint8_t model_id[32];
  char model_name[32];
  ag_model *model;
  ag_infer *state;
  pthread_mutex_t vmu; /* the engine state */
  pthread_mutex_t mu;  /* offers, providers */
  pthread_mutex_t dmu; /* HOME/disputes: an evidence file is sent by one thread at a time */
  json_t *offers;
  uint64_t offers_ms;
  provider *pv[MAX_PROVIDERS];
  size_t npv;
};

const uint8_t *ag_buyer_model_id(const ag_buyer *b) { return b->model_id; }
const char *ag_buyer_model_name(const ag_buyer *b) { return b->model_name; }
const ag_model *ag_buyer_model(const ag_buyer *b) { return b->model; }

void ag_ban_fault(ag_ban *b, uint64_t now_ms) {
  if (b->faults && now_ms > b->until_ms + AG_BAN_MAX_MS) b->faults = 0; /* a clean day since the ban ended */
  if (b->faults < UINT32_MAX) b->faults++;
  b->last_ms = now_ms;
  uint64_t t = AG_BAN_FIRST_MS;
  for (uint32_t i = 1; i < b->faults && t < AG_BAN_MAX_MS; i++) t *= 2;
  b->until_ms = now_ms + (t < AG_BAN_MAX_MS ? t : AG_BAN_MAX_MS);
}

int ag_buyer_open(ag_net *net, const ag_buyer_cfg *cfg, ag_buyer **out) {
  *out = NULL;
  ag_buyer *b = ag_xcalloc(1, sizeof *b);
  b->cfg = *cfg;
  b->net = net;
  if (b->cfg.attempts < 1) b->cfg.attempts = 3;
  if (b->cfg.threads < 1) b->cfg.threads = 1;
  if (!(b->cfg.verify_sample > 0)) b->cfg.verify_sample = 1;
  pthread_mutex_init(&b->vmu, NULL);
  pthread_mutex_init(&b->mu, NULL);
  pthread_mutex_init(&b->dmu, NULL);
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u", cfg->netuid);
  json_t *sj;
  int rc = ag_net_get(net, path, &sj);
  if (!rc) {
    const char *idhex = json_string_value(json_object_get(json_object_get(sj, "model"), "model_id"));
    if (!idhex || strlen(idhex) != 64 || ag_hex_decode(idhex, 64, b->model_id, 32))
      rc = ag_fail(AG_E_MODEL_UNAVAILABLE, "subnet %u pins no model", cfg->netuid);
    json_decref(sj);
  }
  ag_inf_model_name(b->model_id, b->model_name);
  if (!rc && cfg->verify) {
    char mdir[1100];
    snprintf(mdir, sizeof mdir, "%s/models", cfg->home);
    if ((rc = ag_neuron_model(net, cfg->netuid, mdir, &b->model)) ||
        (rc = ag_infer_open(b->model, b->model->cfg.seq_len, b->cfg.threads, &b->state)))
      rc = ag_fail(rc, "cannot load the subnet's model to verify with: %s", ag_errmsg(rc));
  }
  if (rc) {
    ag_buyer_close(b);
    return rc;
  }
  *out = b;
  return 0;
}

void ag_buyer_close(ag_buyer *b) {
  if (!b) return;
  for (size_t i = 0; i < b->npv; i++) {
    pthread_mutex_destroy(&b->pv[i]->mu);
    free(b->pv[i]);
  }
  json_decref(b->offers);
  ag_infer_close(b->state);
  ag_model_close(b->model);
  pthread_mutex_destroy(&b->vmu);
  pthread_mutex_destroy(&b->mu);
  pthread_mutex_destroy(&b->dmu);
  free(b);
}

void ag_buy_result_free(ag_buy_result *r) {
  json_decref(r->resp);
  json_decref(r->attempts);
  json_decref(r->payment);
  memset(r, 0, sizeof *r);
}

/* ---- what the chain says: offers (cached a few seconds) and miners ------------------------------- */

static json_t *offers(ag_buyer *b) {
  pthread_mutex_lock(&b->mu);
  uint64_t now = ag_mono_ms();
  if (!b->offers || now - b->offers_ms > OFFERS_TTL_MS) {
    char path[120], hex[65];
    ag_hex_encode(b->model_id, 32, hex);
    snprintf(path, sizeof path, "/v1/offers?model=%s", hex);
    json_t *o;
    if (!ag_net_get(b->net, path, &o)) {
      json_decref(b->offers);
      b->offers = o;
      b->offers_ms = now;
    }
  }
  json_t *o = json_incref(b->offers);
  pthread_mutex_unlock(&b->mu);
  return o;
}

/* The offer of hotkey (an address) in offers: 1 when it charges. */
static int offer_of(json_t *offs, const uint8_t model[32], const char *hotkey, ag_offer *o) {
  json_t *arr = json_object_get(offs, "offers");
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *x = json_array_get(arr, i);
    const char *pv = json_string_value(json_object_get(x, "provider"));
    if (!pv || strcmp(pv, hotkey) || ag_addr_decode(pv, o->hotkey)) continue;
    memcpy(o->model, model, 32);
    o->price_in = ag_json_u64_of(x, "price_in_per_1k");
    o->price_out = ag_json_u64_of(x, "price_out_per_1k");
    o->max_tokens = (uint32_t)json_integer_value(json_object_get(x, "max_tokens"));
    return 1;
  }
  return 0;
}

static provider *provider_of(ag_buyer *b, const char *hotkey) {
  pthread_mutex_lock(&b->mu);
  provider *p = NULL;
  for (size_t i = 0; i < b->npv && !p; i++)
    if (!strcmp(b->pv[i]->hotkey, hotkey)) p = b->pv[i];
  if (!p && b->npv < MAX_PROVIDERS) {
    p = ag_xcalloc(1, sizeof *p);
    snprintf(p->hotkey, sizeof p->hotkey, "%s", hotkey);
    pthread_mutex_init(&p->mu, NULL);
    b->pv[b->npv++] = p;
  }
  pthread_mutex_unlock(&b->mu);
  return p;
}

typedef struct {
  int uid;
  char hotkey[AG_ADDR_MAX];
  char url[200];
  double incentive;
  int charges;
  ag_offer offer;
  uint64_t most;     /* the request's most cost at the offer (0: free) */
  double latency;
  int tried;
} candidate;

/* At random in proportion to incentive, uniformly while nobody earns. */
static int pick_by_incentive(candidate *cs, int n) {
  double total = 0;
  int open = 0;
  for (int i = 0; i < n; i++)
    if (!cs[i].tried) total += cs[i].incentive, open++;
  if (!open) return -1;
  if (total <= 0) {
    int k = (int)randombytes_uniform((uint32_t)open);
    for (int i = 0; i < n; i++)
      if (!cs[i].tried && k-- == 0) return i;
  }
  double r = randombytes_uniform(1u << 30) / (double)(1u << 30) * total;
  int last = -1;
  for (int i = 0; i < n; i++) {
    if (cs[i].tried) continue;
    last = i;
    r -= cs[i].incentive;
    if (r < 0) return i;
  }
  return last;
}

/* The cheapest for this request, then the one earning most, then the fastest so far. */
static int pick_cheapest(candidate *cs, int n) {
  int best = -1;
  for (int i = 0; i < n; i++) {
    if (cs[i].tried) continue;
    if (best < 0) {
      best = i;
      continue;
    }
    candidate *a = &cs[i], *c = &cs[best];
    double la = a->latency > 0 ? a->latency : 1e9, lc = c->latency > 0 ? c->latency : 1e9;
    if (a->most < c->most || (a->most == c->most && (a->incentive > c->incentive ||
                                                      (a->incentive == c->incentive && la < lc))))
      best = i;
  }
  return best;
}

/* ---- paying one miner: its channel, on disk ------------------------------------------------------- */

typedef struct {
  ag_buyer *b;
  ag_pay_client cl;
  char path[1200];
  ag_offer offer;
  uint64_t seq, cumulative, most;
  char header[2 * AG_VOUCHER_MAX + 1];
} payment;

/* Opens (or tops up) the channel so that it holds at least need more than what was billed. */
/* Submits a tx of the payer's (through agent_exec when it is an agent key) and waits for it. */
static int buyer_submit(ag_buyer *b, uint16_t kind, const ag_buf *pl, uint8_t hash[32], int *code) {
  if (!b->cfg.account) return ag_net_submit(b->net, b->cfg.payer, kind, pl->data, pl->len, 60000, hash, code);
  ag_buf w;
  ag_buf_init(&w);
  ag_payload_agent_exec(&w, b->cfg.account, kind, pl->data, pl->len);
  int rc = ag_net_submit(b->net, b->cfg.payer, AG_TX_AGENT_EXEC, w.data, w.len, 60000, hash, code);
  ag_buf_free(&w);
  return rc;
}

static int pay_fund(payment *p, int open, uint64_t need) {
  ag_buyer *b = p->b;
  uint64_t amount = b->cfg.deposit ? b->cfg.deposit : 100 * p->most, min_dep = AG_UNIT / 1000;
  json_t *ep;
  if (!ag_net_get(b->net, "/v1/economy", &ep)) {
    min_dep = ag_json_u64_of(ep, "min_deposit");
    json_decref(ep);
  }
  if (amount < need) amount = need;
  if (open && amount < min_dep) amount = min_dep;
  char a[32], pin[32], pout[32], most[32], addr[AG_ADDR_MAX], q[400];
  ag_amount_format(amount, a);
  ag_amount_format(p->offer.price_in, pin);
  ag_amount_format(p->offer.price_out, pout);
  ag_amount_format(p->most, most);
  ag_addr_encode(p->offer.hotkey, addr);
  snprintf(q, sizeof q,
           "Miner %s charges %s AGR per 1,000 prompt tokens and %s per 1,000 output tokens (this request: at most %s AGR).\n"
           "%s a payment channel with %s AGR from '%s'?",
           addr, pin, pout, most, open ? "Open" : "Top up", a, b->cfg.payer_name ? b->cfg.payer_name : "the payer");
  if (b->cfg.confirm && !b->cfg.confirm(b->cfg.confirm_ctx, q)) return ag_fail(AG_E_CANCELLED, "cancelled; nothing was paid");
  ag_buf pl;
  ag_buf_init(&pl);
  int rc = 0;
  if (open) {
    char path[160], me[AG_ADDR_MAX];
    ag_addr_encode(b->cfg.payer->pk, me);
    snprintf(path, sizeof path, "/v1/accounts/%s", me);
    json_t *acct;
    if ((rc = ag_net_get(b->net, path, &acct))) return rc;
    uint64_t nonce = ag_json_u64_of(acct, "pending_nonce");
    json_decref(acct);
    memset(&p->cl, 0, sizeof p->cl);
    ag_channel_id(b->net->chain_id, b->cfg.payer->pk, nonce, p->cl.channel);
    memcpy(p->cl.provider, p->offer.hotkey, 32);
    memcpy(p->cl.model, b->model_id, 32);
    /* an agent key's channel is its account's (refunds go there); the key signs the vouchers */
    ag_payload_channel_open(&pl, p->offer.hotkey, b->cfg.account ? b->cfg.payer->pk : NULL, b->model_id, amount, 600, 0);
  } else {
    ag_payload_channel_fund(&pl, p->cl.channel, amount);
  }
  uint8_t hash[32];
  int code = 0;
  rc = buyer_submit(b, open ? AG_TX_CHANNEL_OPEN : AG_TX_CHANNEL_FUND, &pl, hash, &code);
  ag_buf_free(&pl);
  if (!rc && code) rc = ag_fail(code, "the chain refused the channel %s: %s", open ? "open" : "top-up", ag_errmsg(code));
  if (rc) return rc;
  p->cl.deposit += amount;
  if (b->cfg.log) fprintf(stderr, "%s channel to %s: %s AGR\n", open ? "opened a" : "topped up the", addr, a);
  return ag_pay_client_save(p->path, &p->cl);
}

/* The voucher header for this request; the book is written before the voucher leaves. */
static int pay_prepare(payment *p, const ag_offer *o, uint64_t most) {
  ag_buyer *b = p->b;
  p->offer = *o;
  p->most = most;
  ag_pay_client_path(b->cfg.home, b->cfg.payer->pk, o->hotkey, b->model_id, p->path, sizeof p->path);
  int rc = ag_pay_client_load(p->path, &p->cl);
  if (rc == AG_E_NOTFOUND) rc = pay_fund(p, 1, most);
  else if (!rc && p->cl.deposit - (p->cl.billed < p->cl.deposit ? p->cl.billed : p->cl.deposit) < most)
    rc = pay_fund(p, 0, most);
  if (rc) return rc;
  if (p->cl.seq == UINT64_MAX) return ag_fail(AG_E_OVERFLOW, "the channel's voucher sequence is spent; close it");
  p->seq = p->cl.seq + 1;
  p->cumulative = p->cl.billed + most;
  p->cl.seq = p->seq;
  if (p->cumulative > p->cl.signed_max) p->cl.signed_max = p->cumulative;
  if ((rc = ag_pay_client_save(p->path, &p->cl))) return rc;
  ag_buf v;
  ag_buf_init(&v);
  ag_voucher_sign(&v, b->net->chain_id, p->cl.channel, p->cumulative, p->seq, b->cfg.payer);
  ag_hex_encode(v.data, v.len, p->header);
  ag_buf_free(&v);
  return 0;
}

/* After a 402: the miner's book says what it billed and the last sequence it took (a client
 * that crashed mid-request is behind). Taken only within what this client signed. 1 when the
 * book moved (worth one retry). */
static int pay_catch_up(payment *p, json_t *err) {
  json_t *price = json_object_get(json_object_get(err, "error"), "price");
  uint64_t billed = ag_json_u64_of(price, "billed"), seq = ag_json_u64_of(price, "seq");
  int moved = ag_pay_client_catch_up(&p->cl, billed, seq);
  if (moved) ag_pay_client_save(p->path, &p->cl);
  return moved;
}

/* Opens the dispute of an evidence file (its JSON f, at path) from the payer, with the chain's
 * dispute bond (or the configured one), and records the outcome in the file: "opened" true once
 * the chain has the case (from this client or anyone: dispute_exists), "abandoned" with the
 * reason when it never will (the evidence is outside its window, malformed, or for another
 * subnet), else the error and the file stays for ag_buyer_retry_disputes. */
#define AG_DISPUTE_TRIES 6

static atomic_int fault_sends; /* AGORA_FAULT_DISPUTE_SUBMIT=N: the first N sends fail (tests) */
static void fault_init(void) {
  const char *v = getenv("AGORA_FAULT_DISPUTE_SUBMIT");
  atomic_store(&fault_sends, v ? atoi(v) : 0);
}

static bool fault_send(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, fault_init);
  int v = atomic_load(&fault_sends);
  while (v > 0 && !atomic_compare_exchange_weak(&fault_sends, &v, v - 1)) {
  }
  return v > 0;
}

static int dispute_open(ag_buyer *b, json_t *f, const char *path, const uint8_t *ev, size_t n) {
  uint64_t bond = b->cfg.dispute_bond;
  json_t *eco = NULL;
  int rc = fault_send() ? ag_fail(AG_E_IO, "AGORA_FAULT_DISPUTE_SUBMIT: the node cannot be reached") : 0, code = 0;
  if (!rc && !bond && !(rc = ag_net_get(b->net, "/v1/economy", &eco))) bond = ag_json_u64_of(eco, "dispute_bond");
  json_decref(eco);
  ag_buf pl;
  ag_buf_init(&pl);
  ag_payload_dispute_open(&pl, (uint16_t)json_integer_value(json_object_get(f, "netuid")), bond, ev, n);
  uint8_t hash[32];
  if (!rc) rc = buyer_submit(b, AG_TX_DISPUTE_OPEN, &pl, hash, &code);
  if (!rc) rc = code;
  ag_buf_free(&pl);
  /* a refusal after the tx ran costs its fee: at most AG_DISPUTE_TRIES sends, further apart
   * each time (10 s, 20 s, 40 s, …), for a bond that is all held by other cases, say */
  int tries = (int)json_integer_value(json_object_get(f, "tries")) + 1;
  bool done = !rc || rc == AG_E_DISPUTE_EXISTS,
       never = rc == AG_E_DISPUTE_WINDOW || rc == AG_E_DISPUTE_EVIDENCE || rc == AG_E_DISPUTE_SUBNET ||
               (!done && tries >= AG_DISPUTE_TRIES);
  json_object_set_new(f, "opened", json_boolean(done));
  json_object_set_new(f, "tries", json_integer(tries));
  json_object_set_new(f, "next_ms", ag_json_u64n(ag_now_ms() + (10000ull << (tries - 1))));
  if (never) json_object_set_new(f, "abandoned", json_true());
  if (rc) json_object_set_new(f, "error", ag_json_text(ag_errmsg(rc)));
  else json_object_del(f, "error");
  ag_json_write_file(path, json_incref(f));
  return rc == AG_E_DISPUTE_EXISTS ? 0 : rc;
}

int ag_buyer_retry_disputes(ag_buyer *b, int *opened) {
  *opened = 0;
  if (!b->cfg.dispute || !b->cfg.payer) return 0;
  char dir[1100], path[1400];
  snprintf(dir, sizeof dir, "%s/disputes", b->cfg.home);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int left = 0;
  for (struct dirent *de; (de = readdir(d));) {
    size_t l = strlen(de->d_name);
    if (l != 69 || strcmp(de->d_name + 64, ".json")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    pthread_mutex_lock(&b->dmu); /* a request thread may be sending this one */
    json_t *f = json_load_file(path, 0, NULL);
    const char *hex = json_string_value(json_object_get(f, "evidence"));
    json_t *op = json_object_get(f, "opened");
    /* files from before "opened" existed, and settled ones, are left alone */
    if (!hex || !json_is_false(op) || json_is_true(json_object_get(f, "abandoned")) ||
        ag_json_u64_of(f, "next_ms") > ag_now_ms()) {
      pthread_mutex_unlock(&b->dmu);
      json_decref(f);
      continue;
    }
    size_t n = strlen(hex) / 2;
    uint8_t *ev = ag_xmalloc(n + 1);
    if (!ag_hex_decode(hex, 2 * n, ev, n)) {
      int rc = dispute_open(b, f, path, ev, n);
      if (!rc) (*opened)++;
      else if (!json_is_true(json_object_get(f, "abandoned"))) left++;
      ag_info("buyer", "dispute %.16s: %s", de->d_name, rc ? ag_errmsg(rc) : "opened on a retry");
    }
    pthread_mutex_unlock(&b->dmu);
    free(ev);
    json_decref(f);
  }
  closedir(d);
  return left;
}

/* A paid answer failed the check: its payment receipt, if valid, is billed in the book (the
 * provider will claim it) and becomes evidence, kept in HOME/disputes/<id>.json and, with
 * dispute, submitted at once. A note for the attempt (new reference). */
static json_t *pay_fault(payment *p, const uint8_t pk[32], const char *body, bool chat, bool reproducible,
                         json_t *resp, uint64_t height, const char *why) {
  ag_buyer *b = p->b;
  json_t *note = json_object();
  uint8_t reqh[32], sig[64];
  ag_pay_receipt pr;
  json_t *ag = json_object_get(resp, "agora"), *pj = json_object_get(ag, "payment");
  ag_inf_request_hash(body, strlen(body), reqh);
  /* the answer's own token counts: its receipt may be what failed to parse */
  json_t *usage = json_object_get(resp, "usage");
  int rc = ag_pay_client_check(&p->cl, &p->offer, pk, reqh, p->seq, p->cumulative,
                               (uint64_t)json_integer_value(json_object_get(usage, "prompt_tokens")),
                               (uint64_t)json_integer_value(json_object_get(usage, "completion_tokens")), height, pj,
                               &pr);
  if (!rc) rc = ag_pay_receipt_parse(pj, &pr, sig);
  if (rc) {
    json_object_set_new(note, "evidence", json_null());
    json_object_set_new(note, "why", ag_json_text(ag_errmsg(rc)));
    return note;
  }
  p->cl.billed = pr.billed;
  ag_pay_client_save(p->path, &p->cl);
  ag_evidence e;
  memset(&e, 0, sizeof e);
  memcpy(e.hotkey, pk, 32);
  e.pay = pr;
  memcpy(e.pay_sig, sig, 64);
  json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
  json_t *tj = chat ? json_object_get(json_object_get(choice, "message"), "content") : json_object_get(choice, "text");
  const char *rb64 = json_string_value(json_object_get(ag, "receipt")),
             *cm = json_string_value(json_object_get(ag, "commitment")),
             *sg = json_string_value(json_object_get(ag, "signature"));
  uint8_t *receipt = NULL;
  size_t rlen = 0;
  if (!json_is_string(tj) || !rb64 || !cm || !sg || strlen(cm) != 64 || strlen(sg) != 128 ||
      ag_hex_decode(cm, 64, e.commitment, 32) || ag_hex_decode(sg, 128, e.answer_sig, 64) ||
      ag_b64_decode_alloc(rb64, strlen(rb64), AG_TX_HARD_MAX, &receipt, &rlen)) {
    json_object_set_new(note, "evidence", json_null());
    json_object_set_new(note, "why", json_string("the answer lacks the parts of its proof a dispute needs"));
    free(receipt);
    return note;
  }
  if (strlen(body) > AG_EVIDENCE_BODY_MAX || json_string_length(tj) > AG_EVIDENCE_TEXT_MAX) {
    json_object_set_new(note, "evidence", json_null());
    json_object_set_new(note, "why", json_string("the request or the answer is longer than a dispute carries (32 KiB each)"));
    free(receipt);
    return note;
  }
  e.body = (const uint8_t *)body;
  e.body_len = (uint32_t)strlen(body);
  e.text = (const uint8_t *)json_string_value(tj);
  e.text_len = (uint32_t)json_string_length(tj);
  /* the receipt stays out when the committee can re-execute without it (a seeded or greedy
   * request): it is most of a long answer's evidence */
  ag_hash("agora/receipt", receipt, rlen, e.receipt_hash);
  if (!reproducible) {
    e.receipt = receipt;
    e.receipt_len = (uint32_t)rlen;
  }
  ag_buf ev;
  ag_buf_init(&ev);
  ag_evidence_encode(&ev, &e);
  uint8_t id[32];
  ag_dispute_id(&e, id);
  char idhex[65], file[1200], dir[1100];
  ag_hex_encode(id, 32, idhex);
  snprintf(dir, sizeof dir, "%s/disputes", b->cfg.home);
  mkdir(dir, 0700);
  snprintf(file, sizeof file, "%s/%s.json", dir, idhex);
  json_t *f = json_object();
  json_object_set_new(f, "id", json_string(idhex));
  json_object_set_new(f, "netuid", json_integer(b->cfg.netuid));
  json_object_set_new(f, "provider", ag_json_addr(pk));
  json_object_set_new(f, "channel", ag_json_hex(pr.channel, 32));
  json_object_set_new(f, "cost", ag_json_u64s(pr.cost));
  json_object_set_new(f, "height", ag_json_u64n(pr.height));
  json_object_set_new(f, "why", ag_json_text(why));
  json_object_set_new(f, "evidence", ag_json_hex(ev.data, ev.len));
  json_object_set_new(f, "opened", json_false());
  pthread_mutex_lock(&b->dmu);
  ag_json_write_file(file, json_incref(f)); /* (it takes a reference) */
  rc = b->cfg.dispute ? dispute_open(b, f, file, ev.data, ev.len) : 0;
  pthread_mutex_unlock(&b->dmu);
  json_object_set_new(note, "dispute", json_string(idhex));
  json_object_set_new(note, "evidence", json_string(file));
  if (b->cfg.dispute) {
    json_object_set_new(note, "disputed", json_boolean(!rc));
    if (rc) json_object_set_new(note, "dispute_error", ag_json_text(ag_errmsg(rc)));
    if (b->cfg.log)
      fprintf(stderr, rc ? "could not dispute the answer: %s\n" : "disputed the answer: dispute %.16s…\n",
              rc ? ag_errmsg(rc) : idhex);
  } else if (b->cfg.log) {
    fprintf(stderr, "the miner billed %s base units for a wrong answer; evidence kept in %s\n"
                    "  (dispute it: agora dispute open %s --from %s)\n",
            json_string_value(json_object_get(f, "cost")), file, file, b->cfg.payer_name ? b->cfg.payer_name : "KEY");
  }
  json_decref(f);
  ag_buf_free(&ev);
  free(receipt);
  return note;
}

/* ---- one answer ------------------------------------------------------------------------------------ */

/* The answer's text and counts without re-execution (a sampled-out answer still has its
 * signature and request checked, and its text and counts read). */
static int verify_answer(ag_buyer *b, const char *body, const ag_inf_request *req, json_t *resp, const uint8_t pk[32],
                         ag_inf_verdict *vd, bool *reexecuted) {
  *reexecuted = false;
  if (!b->cfg.verify) {
    memset(vd, 0, sizeof *vd);
    json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
    const char *t = req->chat ? json_string_value(json_object_get(json_object_get(choice, "message"), "content"))
                              : json_string_value(json_object_get(choice, "text"));
    snprintf(vd->text, sizeof vd->text, "%s", t ? t : "");
    json_t *u = json_object_get(resp, "usage");
    vd->n_out = (int)json_integer_value(json_object_get(u, "completion_tokens"));
    vd->n_prompt = (int)json_integer_value(json_object_get(u, "prompt_tokens"));
    vd->ok = t != NULL;
    vd->code = t ? 0 : AG_E_INF_MALFORMED;
    if (!t) snprintf(vd->why, sizeof vd->why, "the answer has no text");
    return vd->code;
  }
  bool sample = b->cfg.verify_sample >= 1 || randombytes_uniform(1u << 30) < b->cfg.verify_sample * (1u << 30);
  int rc = ag_inf_verify(NULL, b->model, (const uint8_t *)body, strlen(body), req, resp, pk, vd);
  if (rc || !sample) return rc;
  pthread_mutex_lock(&b->vmu);
  rc = ag_inf_verify(b->state, b->model, (const uint8_t *)body, strlen(body), req, resp, pk, vd);
  pthread_mutex_unlock(&b->vmu);
  *reexecuted = true;
  return rc;
}

/* The proof (`agora`) from its checked parts: the signed ones re-encoded, the model the receipt
 * was checked against, the miner this client chose (its uid is not signed), and the payment
 * receipt when it was checked; nothing else the miner wrote there. A new reference. */
static json_t *verified_proof(const ag_buyer *b, json_t *resp, const candidate *k, bool paid) {
  json_t *ag = json_object_get(resp, "agora"), *o = json_object();
  uint8_t h[64];
  const char *rb64 = json_string_value(json_object_get(ag, "receipt"));
  uint8_t *receipt = NULL;
  size_t rlen = 0;
  static const struct { const char *key; size_t n; } hexes[] = {{"request_hash", 32}, {"commitment", 32}, {"signature", 64}};
  for (size_t i = 0; i < sizeof hexes / sizeof *hexes; i++) {
    const char *s = json_string_value(json_object_get(ag, hexes[i].key));
    if (s && !ag_hex_decode(s, strlen(s), h, hexes[i].n)) json_object_set_new(o, hexes[i].key, ag_json_hex(h, hexes[i].n));
  }
  json_object_set_new(o, "model_id", ag_json_hex(b->model_id, 32));
  if (rb64 && !ag_b64_decode_alloc(rb64, strlen(rb64), 64u << 20, &receipt, &rlen)) {
    char *enc = ag_xmalloc(ag_b64_len(rlen));
    ag_b64_encode(receipt, rlen, enc);
    json_object_set_new(o, "receipt", json_string(enc));
    free(enc);
  }
  free(receipt);
  json_object_set_new(o, "hotkey", json_string(k->hotkey));
  json_object_set_new(o, "uid", json_integer(k->uid));
  if (paid) json_object_set(o, "payment", json_object_get(ag, "payment"));
  return o;
}

/* What the client gets is what was checked, in OpenAI's shape, whatever else the miner wrote
 * around its proof (its JSON outside the signed text, commitment and receipts is its own say):
 * the text; usage from the receipt's token counts (an app may bill its own users by it);
 * finish_reason from where the receipt's output ends (the miner's rule: "stop" at the stop token
 * or a stop string, else "length"); the model by the name this client knows it by; the proof
 * rebuilt (verified_proof); and the miner's id and created time when they are plain (an id is
 * relayed as a header). A new reference. */
static json_t *verified_answer(const ag_buyer *b, json_t *resp, bool chat, const ag_inf_verdict *vd,
                               const candidate *k, bool paid) {
  json_t *o = json_object(), *c0 = json_array_get(json_object_get(resp, "choices"), 0);
  json_t *text = chat ? json_object_get(json_object_get(c0, "message"), "content") : json_object_get(c0, "text");
  const char *id = json_string_value(json_object_get(resp, "id"));
  size_t n = id ? strlen(id) : 0;
  bool plain = n >= 1 && n <= 64;
  for (size_t i = 0; plain && i < n; i++) plain = isalnum((unsigned char)id[i]) || strchr("-_.", id[i]);
  char own[40];
  if (!plain) {
    char hex[17];
    ag_hex_encode(vd->receipt_hash, 8, hex);
    snprintf(own, sizeof own, "%s-%s", chat ? "chatcmpl" : "cmpl", hex);
  }
  json_int_t created = json_integer_value(json_object_get(resp, "created"));
  json_object_set_new(o, "id", json_string(plain ? id : own));
  json_object_set_new(o, "object", json_string(chat ? "chat.completion" : "text_completion"));
  json_object_set_new(o, "created", json_integer(created > 0 ? created : (json_int_t)time(NULL)));
  json_object_set_new(o, "model", json_string(b->model_name));
  json_t *choice = json_object();
  json_object_set_new(choice, "index", json_integer(0));
  if (chat) json_object_set_new(choice, "message", json_pack("{s:s, s:O}", "role", "assistant", "content", text));
  else json_object_set(choice, "text", text);
  json_object_set_new(choice, "logprobs", json_null());
  json_object_set_new(choice, "finish_reason", json_string(vd->finish[0] ? vd->finish : "stop"));
  json_object_set_new(o, "choices", json_pack("[o]", choice));
  json_object_set_new(o, "usage", json_pack("{s:i, s:i, s:i}", "prompt_tokens", vd->n_prompt, "completion_tokens",
                                            vd->n_out, "total_tokens", vd->n_prompt + vd->n_out));
  json_object_set_new(o, "agora", verified_proof(b, resp, k, paid));
  return o;
}

static int buy(ag_buyer *b, bool chat, const char *body, const ag_inf_request *req, int only_uid,
               uint64_t max_cost, ag_buy_result *out) {
  memset(out, 0, sizeof *out);
  out->uid = -1;
  out->attempts = json_array();
  /* the prompt's size bounds each request's most */
  uint64_t n_prompt = strlen(body) + 64; /* tokens ≤ bytes (byte fallback) + a template */
  if (b->model) {
    uint32_t *ids;
    size_t np;
    if (ag_inf_prompt_ids(b->model, req, &ids, &np) == 0) {
      n_prompt = np; /* exact: the miner counts the same */
      free(ids);
    }
  }
  json_t *offs = offers(b);
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", b->cfg.netuid);
  json_t *mg;
  int rc = ag_net_get(b->net, path, &mg);
  if (rc) {
    json_decref(offs);
    return rc;
  }
  json_t *rows = json_object_get(mg, "uids");
  /* a subnet has at most AG_MAX_UIDS; a node that lists more is not followed past them */
  size_t nrows = json_array_size(rows) < AG_MAX_UIDS ? json_array_size(rows) : AG_MAX_UIDS;
  candidate *cs = ag_xcalloc(nrows + 1, sizeof *cs);
  int ncs = 0, unaffordable = 0;
  uint64_t now = ag_mono_ms();
  for (size_t i = 0; i < nrows; i++) {
    json_t *r = json_array_get(rows, i);
    char base[200];
    if (ag_net_endpoint_url(json_object_get(r, "endpoint"), base, sizeof base)) continue;
    candidate *k = &cs[ncs];
    k->uid = (int)json_integer_value(json_object_get(r, "uid"));
    snprintf(k->hotkey, sizeof k->hotkey, "%s", json_string_value(json_object_get(r, "hotkey")) ?: "");
    snprintf(k->url, sizeof k->url, "%s%s", base, chat ? "/v1/chat/completions" : "/v1/completions");
    k->incentive = (double)json_integer_value(json_object_get(r, "incentive"));
    k->charges = offer_of(offs, b->model_id, k->hotkey, &k->offer);
    if (k->charges && ag_offer_cost(&k->offer, n_prompt, (uint64_t)req->max_tokens, &k->most)) continue;
    provider *p = provider_of(b, k->hotkey);
    if (p) k->latency = p->latency;
    if (p && p->ban.until_ms > now && k->uid != only_uid) continue; /* answered wrongly lately */
    if (k->most > max_cost) {
      unaffordable++;
      continue;
    }
    ncs++;
  }
  json_decref(mg);
  uint64_t height = ag_json_u64_of(offs, "height");
  int found = -1;
  for (int attempt = 0; attempt < b->cfg.attempts && found < 0; attempt++) {
    int i = -1;
    for (int k = 0; attempt == 0 && k < ncs; k++)
      if (cs[k].uid == only_uid) i = k;
    if (i < 0) i = b->cfg.policy == AG_BUY_CHEAPEST ? pick_cheapest(cs, ncs) : pick_by_incentive(cs, ncs);
    if (i < 0) break;
    candidate *k = &cs[i];
    k->tried = 1;
    json_t *a = json_object();
    json_object_set_new(a, "uid", json_integer(k->uid));
    json_object_set_new(a, "hotkey", json_string(k->hotkey));
    provider *pv = provider_of(b, k->hotkey);
    if (pv) pthread_mutex_lock(&pv->mu);
    payment pay;
    memset(&pay, 0, sizeof pay);
    pay.b = b;
    char why[300] = "", vheader[2 * AG_VOUCHER_MAX + 40];
    const char *headers[2] = {NULL, NULL};
    int hrc = 0;
    if (k->charges && !b->cfg.payer) {
      hrc = AG_E_PAY_REQUIRED;
      snprintf(why, sizeof why, "this miner charges for answers; pay it with --pay-from KEY");
    } else if (k->charges && (hrc = pay_prepare(&pay, &k->offer, k->most))) {
      snprintf(why, sizeof why, "%s", ag_errmsg(hrc));
      if (hrc == AG_E_CANCELLED) attempt = b->cfg.attempts; /* the payer said no: ask nobody else */
    }
    if (k->charges && !hrc) {
      snprintf(vheader, sizeof vheader, "%s: %s", AG_PAY_HEADER, pay.header);
      headers[0] = vheader;
    }
    double t0 = ag_mono_s();
    ag_http_result r;
    memset(&r, 0, sizeof r);
    if (!hrc)
      hrc = ag_http_request_max("POST", k->url, "application/json", body, strlen(body), 120000, 16u << 20, headers,
                                  b->net->endpoint_flags, &r);
    if (!hrc && r.status == 402 && k->charges) {
      /* the miner's book is ahead of ours (we crashed after it billed): catch up within what we
       * signed, and pay again */
      json_t *e = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
      int moved = pay_catch_up(&pay, e);
      json_decref(e);
      if (moved && !(hrc = pay_prepare(&pay, &k->offer, k->most))) {
        ag_http_result_free(&r);
        snprintf(vheader, sizeof vheader, "%s: %s", AG_PAY_HEADER, pay.header);
        hrc = ag_http_request_max("POST", k->url, "application/json", body, strlen(body), 120000, 16u << 20, headers,
                                  b->net->endpoint_flags, &r);
      } else if (hrc) {
        ag_http_result_free(&r);
        snprintf(why, sizeof why, "%s", ag_errmsg(hrc));
      }
    }
    double secs = ag_mono_s() - t0;
    int code = hrc, answered = 0;
    json_t *resp = NULL;
    ag_inf_verdict vd;
    memset(&vd, 0, sizeof vd);
    bool reexecuted = false;
    if (!hrc && r.status != 200) {
      code = AG_E_HTTP_STATUS;
      snprintf(why, sizeof why, "HTTP %ld: %.200s", r.status, r.body.data ? (const char *)r.body.data : "");
    } else if (!hrc) {
      answered = 1;
      resp = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
      uint8_t pk[32];
      ag_addr_decode(k->hotkey, pk);
      if (!resp) {
        code = AG_E_INF_MALFORMED;
        snprintf(why, sizeof why, "the answer is not JSON");
      } else {
        code = verify_answer(b, body, req, resp, pk, &vd, &reexecuted);
        if (code) snprintf(why, sizeof why, "%s", vd.why);
        if (code && k->charges && b->cfg.verify && code != AG_E_INF_MALFORMED && code != AG_E_INF_SIGNATURE)
          json_object_set_new(a, "fault", pay_fault(&pay, pk, body, chat, req->has_seed || req->temperature <= 0, resp, height, vd.why));
      }
      if (!code && k->charges) {
        /* what the miner billed: its signed receipt against the offer and our book */
        uint8_t reqh[32];
        ag_pay_receipt pr;
        ag_inf_request_hash(body, strlen(body), reqh);
        code = ag_pay_client_check(&pay.cl, &k->offer, pk, reqh, pay.seq, pay.cumulative, (uint64_t)vd.n_prompt,
                                   (uint64_t)vd.n_out, height, json_object_get(json_object_get(resp, "agora"), "payment"),
                                   &pr);
        if (code) {
          snprintf(why, sizeof why, "%s", ag_errmsg(code));
        } else {
          pay.cl.billed = pr.billed;
          ag_pay_client_save(pay.path, &pay.cl);
          out->cost = pr.cost;
          out->payment = json_object();
          json_object_set_new(out->payment, "channel", ag_json_hex(pr.channel, 32));
          json_object_set_new(out->payment, "cost", ag_json_u64s(pr.cost));
          json_object_set_new(out->payment, "billed", ag_json_u64s(pr.billed));
          json_object_set_new(out->payment, "deposit", ag_json_u64s(pay.cl.deposit));
          json_object_set_new(out->payment, "seq", ag_json_u64s(pr.seq));
        }
      }
    } else {
      snprintf(why, sizeof why, "%s", ag_errmsg(hrc));
    }
    if (!hrc) ag_http_result_free(&r);
    if (pv && answered) { /* a wrong answer keeps the miner out for a while; a good one times it */
      if (code) ag_ban_fault(&pv->ban, ag_mono_ms());
      else pv->latency = pv->latency > 0 ? 0.8 * pv->latency + 0.2 * secs : secs;
    }
    if (pv) pthread_mutex_unlock(&pv->mu);
    json_object_set_new(a, "result", json_string(code ? ag_err_name(code) : "ok"));
    if (code) {
      json_object_set_new(a, "why", ag_json_text(why));
      if (b->cfg.log)
        fprintf(stderr, "miner uid %d (%s) failed %s: %s; asking another\n", k->uid, k->hotkey,
                answered ? "verification" : "to answer", why);
      json_decref(resp);
    } else {
      found = i;
      if (b->cfg.verify) {
        json_t *v = verified_answer(b, resp, chat, &vd, k, k->charges);
        json_decref(resp);
        resp = v;
      }
      out->resp = resp;
      out->vd = vd;
      out->uid = k->uid;
      snprintf(out->hotkey, sizeof out->hotkey, "%s", k->hotkey);
      out->seconds = secs;
      out->verified = reexecuted;
    }
    json_array_append_new(out->attempts, a);
  }
  json_decref(offs);
  free(cs);
  if (found >= 0) return 0;
  if (!ncs && unaffordable)
    return ag_fail(AG_E_PAY_INSUFFICIENT, "every miner's price for this request is more than the budget left");
  rc = ncs ? AG_E_NO_MINERS : AG_E_NOTFOUND;
  return ag_fail(rc, ncs ? "no miner gave a valid answer (%d tried)" : "subnet %u has no serving miner",
                 ncs ? (int)json_array_size(out->attempts) : b->cfg.netuid);
}

/* A paying client names the seed of every sampled request. Without one the miner draws it and
 * only the answer's receipt records it, so evidence against the answer would have to carry the
 * whole receipt (about 68 bytes per output token): a long wrong answer would not fit in a
 * dispute tx. With the seed in the request, the evidence leaves the receipt out
 * (docs/economy.md "Evidence"). The seed is drawn here as a miner would draw it, so the
 * answer is sampled the same. */
int ag_buy(ag_buyer *b, bool chat, const char *body, const ag_inf_request *req, int only_uid,
           uint64_t max_cost, ag_buy_result *out) {
  if (!b->cfg.payer || req->has_seed || req->temperature <= 0) return buy(b, chat, body, req, only_uid, max_cost, out);
  json_t *o = json_loads(body, 0, NULL);
  uint64_t seed;
  randombytes_buf(&seed, sizeof seed);
  char *seeded = NULL;
  ag_inf_request r;
  const char *param;
  if (json_is_object(o) && !json_object_set_new(o, "seed", json_integer((json_int_t)(seed >> 1))))
    seeded = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!seeded || ag_inf_request_parse(chat, (const uint8_t *)seeded, strlen(seeded), &r, &param)) {
    free(seeded);
    return buy(b, chat, body, req, only_uid, max_cost, out);
  }
  int rc = buy(b, chat, seeded, &r, only_uid, max_cost, out);
  ag_inf_request_free(&r);
  free(seeded);
  return rc;
}

int ag_buy_json(ag_buyer *b, bool chat, json_t *body, int only_uid, uint64_t max_cost, ag_buy_result *out) {
  memset(out, 0, sizeof *out);
  char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) return ag_fail(AG_E_INVALID, "the request is not JSON text");
  ag_inf_request req;
  const char *param;
  int rc = ag_inf_request_parse(chat, (const uint8_t *)text, strlen(text), &req, &param);
  if (!rc) {
    rc = ag_buy(b, chat, text, &req, only_uid, max_cost, out);
    ag_inf_request_free(&req);
  }
  free(text);
  return rc;
}
