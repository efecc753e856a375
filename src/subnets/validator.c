/* validator.c — the inference validator (validator.h). */
#include "subnets/validator.h"

#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "incentive/incentive.h"
#include "subnets/inference.h"
#include "subnets/netclient.h"
#include "subnets/neuron.h"
#include "subnets/weights.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OUT_NONE, OUT_OK, OUT_WRONG, OUT_MISSED };
static const char *const outcome_name[] = {"none", "ok", "wrong", "missed"};

typedef struct {
  int present;              /* in the latest metagraph */
  char hotkey[AG_ADDR_MAX]; /* a new hotkey at the uid resets the row */
  uint8_t pk[32];
  char url[200];            /* "" = no endpoint */
  double score;             /* moving average, 0..1 */
  int flagged;              /* answered wrongly in this epoch (weights window): score stays 0 */
  int last;                 /* OUT_* of the latest round */
  int code;
  char why[200];
  double latency_ms, tps;
  uint64_t ok, wrong, missed;
} row;

struct ag_inf_validator {
  ag_validator_config cfg;
  ag_net net;
  ag_keypair hotkey;
  char addr[AG_ADDR_MAX];
  int uid, permit;
  uint64_t last_update, reg_block;
  ag_model *model;
  char model_name[32];
  ag_infer *state;
  ag_corpus docs;
  row *rows;
  int n;
  uint64_t round;
  /* ws is shared with the reveal thread (ag_validator_run): a reveal is taken in one epoch
   * only, and a round of challenges can outlast an epoch. ws_mu guards ws and new_window. */
  ag_wsetter ws;
  pthread_mutex_t ws_mu;
  int new_window; /* the reveal thread's poll saw a new weights window: forgive wrong answers */
  volatile int reveals_stop;
  uint64_t verified_tokens, reexecutions;
  double verify_seconds;
  double gen_tps;     /* this machine's decoding speed (calibrate) */
  struct {            /* votes computed for disputes this validator judges (a ring) */
    uint8_t id[32], vote[32], digest[32];
  } votes[16];
  int nvotes;
  uint8_t abstained[16][32]; /* cases judged with another model: warned once */
  int nabstain;
  uint64_t dispute_votes; /* commits sent */
};
typedef struct ag_inf_validator val;

void ag_validator_config_default(ag_validator_config *c) {
  memset(c, 0, sizeof *c);
  c->netuid = 1;
  c->threads = 1;
  c->interval_ms = 2000;
  c->timeout_ms = 20000;
  c->ema_alpha = 0.2;
}

static uint32_t rnd(uint32_t n) { return n ? randombytes_uniform(n) : 0; }

/* ---- challenges -------------------------------------------------------------------------------- */

static const char *const fallback_prompts[] = {
    "The meaning of life is", "Q: What is a computer?\nA:", "Once upon a time", "A penny saved is",
    "The best way to learn is", "He who laughs last",
};

/* A prompt: the start of a random validation document (every 10th, as the engine splits them),
 * 24..160 bytes cut at a space, printable ASCII and newlines only. */
static void draw_prompt(val *v, ag_buf *out) {
  ag_buf_reset(out);
  if (v->docs.n >= 10) {
    size_t k = rnd((uint32_t)(v->docs.n / 10)) * 10 + 9;
    if (k >= v->docs.n) k = 9;
    size_t a = k ? v->docs.ends[k - 1] : 0, b = v->docs.ends[k];
    const uint8_t *d = v->docs.text.data + a;
    size_t len = b - a, want = 24 + rnd(137);
    if (len > want) {
      size_t cut = want;
      while (cut > 12 && d[cut] != ' ') cut--;
      len = cut;
    }
    for (size_t i = 0; i < len; i++) {
      uint8_t c = d[i];
      ag_buf_put_u8(out, c == '\n' || (c >= 32 && c < 127) ? c : ' ');
    }
    while (out->len && out->data[out->len - 1] == ' ') out->len--;
    if (out->len >= 8) return;
    ag_buf_reset(out);
  }
  ag_buf_puts(out, fallback_prompts[rnd(AG_ARRAY_LEN(fallback_prompts))]);
}

/* This round's challenge, shared by every miner but its seed and nonce (make_body): a prompt
 * from the validation corpus and sampling that actually samples (temperature 0.7..1.3, top-k
 * off or above the commitment's 8 logits, sometimes penalties), so that each miner's bound seed gives it tokens of
 * its own (docs/subnet-inference.md). */
static json_t *make_challenge(val *v, int *chat) {
  ag_buf p;
  ag_buf_init(&p);
  draw_prompt(v, &p);
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(v->model_name));
  *chat = (int)rnd(2);
  json_t *text = json_stringn((const char *)p.data, p.len);
  ag_buf_free(&p);
  if (*chat) {
    json_t *msg = json_object(), *msgs = json_array();
    json_object_set_new(msg, "role", json_string("user"));
    json_object_set_new(msg, "content", text);
    json_array_append_new(msgs, msg);
    json_object_set_new(o, "messages", msgs);
  } else {
    json_object_set_new(o, "prompt", text);
  }
  json_object_set_new(o, "max_tokens", json_integer(12 + rnd(21)));
  json_object_set_new(o, "temperature", json_real((70 + rnd(61)) / 100.0));
  json_object_set_new(o, "top_p", json_real((85 + rnd(16)) / 100.0));
  if (rnd(2)) json_object_set_new(o, "top_k", json_integer(16 + rnd(49)));
  if (rnd(4) == 0) json_object_set_new(o, "stop", json_string("\n\n"));
  /* a quarter each with OpenAI's penalties: a miner that skips them (cheaper: its commitment's
   * ranking then serves sampling too) loses these challenges */
  if (rnd(4) == 0) json_object_set_new(o, "frequency_penalty", json_real((10 + rnd(91)) / 100.0));
  if (rnd(4) == 0) json_object_set_new(o, "presence_penalty", json_real((10 + rnd(91)) / 100.0));
  return o;
}

/* One miner's body: the round's challenge with a seed and a nonce of its own. */
static char *make_body(json_t *challenge) {
  json_t *o = json_deep_copy(challenge);
  uint8_t nonce[12];
  char hex[25], user[64];
  randombytes_buf(nonce, sizeof nonce);
  ag_hex_encode(nonce, sizeof nonce, hex);
  snprintf(user, sizeof user, "agora-challenge-%s", hex);
  json_object_set_new(o, "seed", json_integer(rnd(0x7fffffff)));
  json_object_set_new(o, "user", json_string(user));
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return s;
}

/* ---- the metagraph ------------------------------------------------------------------------------ */

static int refresh(val *v) {
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", v->cfg.netuid);
  json_t *mg;
  int rc = ag_net_get(&v->net, path, &mg);
  if (rc) return rc;
  json_t *uids = json_object_get(mg, "uids");
  /* a subnet has at most AG_MAX_UIDS, and each row present is a challenge thread each round */
  size_t n = json_array_size(uids) < AG_MAX_UIDS ? json_array_size(uids) : AG_MAX_UIDS;
  if ((int)n > v->n) {
    v->rows = ag_xrealloc(v->rows, n * sizeof *v->rows);
    memset(v->rows + v->n, 0, (n - (size_t)v->n) * sizeof *v->rows);
    v->n = (int)n;
  }
  for (int i = 0; i < v->n; i++) v->rows[i].present = 0;
  v->uid = -1;
  for (size_t i = 0; i < n; i++) {
    json_t *r = json_array_get(uids, i);
    json_int_t uid = json_integer_value(json_object_get(r, "uid"));
    const char *hk = json_string_value(json_object_get(r, "hotkey"));
    if (uid < 0 || uid >= v->n || !hk || !hk[0]) continue; /* "" would match a row never filled */
    row *w = &v->rows[uid];
    if (strcmp(w->hotkey, hk) != 0) { /* a new neuron at this uid starts from nothing */
      memset(w, 0, sizeof *w);
      if (ag_addr_decode(hk, w->pk)) continue; /* not kept: never present with a key of zeros */
      snprintf(w->hotkey, sizeof w->hotkey, "%s", hk);
    }
    w->present = 1;
    w->url[0] = 0;
    json_t *ep = json_object_get(r, "endpoint");
    if (ag_net_endpoint_url(ep, w->url, sizeof w->url)) w->url[0] = 0;
    if (!strcmp(hk, v->addr)) {
      v->uid = (int)uid;
      v->permit = json_is_true(json_object_get(r, "validator_permit"));
      v->last_update = (uint64_t)json_integer_value(json_object_get(r, "last_update"));
      v->reg_block = (uint64_t)json_integer_value(json_object_get(r, "registered_block"));
    }
  }
  json_decref(mg);
  return 0;
}

/* ---- one round ------------------------------------------------------------------------------------ */

/* One miner's challenge: sent by its own thread, at the same moment as every other miner's, so
 * that each answer's time is its own. */
typedef struct {
  val *v;
  row *w;
  char *body;
  int chat;
  ag_inf_request req;
  int parsed;
  int rc;             /* transport error, or 0 */
  long status;
  json_t *resp;
  char err[160];
  double latency;
  /* the verdict */
  int outcome, code;
  char why[200];
  int n_out;
  atomic_int done; /* the thread has finished with it */
} ask_job;

static void ask_one(ask_job *a) {
  val *v = a->v;
  char url[300], h1[AG_ADDR_MAX + 40], h2[160];
  snprintf(url, sizeof url, "%s%s", a->w->url, a->chat ? "/v1/chat/completions" : "/v1/completions");
  /* signed as this validator's challenge: the miner serves it from the room it keeps for them */
  uint8_t reqh[32], msg[32], sig[64];
  char hex[129];
  ag_inf_request_hash(a->body, strlen(a->body), reqh);
  ag_inf_challenge_message(reqh, msg);
  ag_sign(&v->hotkey, msg, 32, sig);
  ag_hex_encode(sig, 64, hex);
  snprintf(h1, sizeof h1, "X-Agora-Validator: %s", v->addr);
  snprintf(h2, sizeof h2, "X-Agora-Signature: %s", hex);
  const char *hdrs[] = {h1, h2, NULL};
  ag_http_result r;
  double t0 = ag_mono_s();
  for (int attempt = 0; attempt < 2; attempt++) { /* one retry when the connection fails */
    a->rc = ag_http_request_max("POST", url, "application/json", a->body, strlen(a->body), v->cfg.timeout_ms,
                                16u << 20, hdrs, v->net.endpoint_flags, &r);
    if (a->rc != AG_E_CONNECT) break;
  }
  a->latency = ag_mono_s() - t0;
  if (a->rc) {
    snprintf(a->err, sizeof a->err, "%s", ag_errmsg(a->rc));
    ag_http_client_cleanup();
    return;
  }
  a->status = r.status;
  if (r.status == 200) a->resp = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  else snprintf(a->err, sizeof a->err, "HTTP %ld: %.120s", r.status, r.body.data ? (const char *)r.body.data : "");
  ag_http_result_free(&r);
  ag_http_client_cleanup(); /* the thread ends: so does its connection */
}

static void *ask_thread(void *arg) {
  ask_job *a = arg;
  ask_one(a);
  atomic_store(&a->done, 1);
  return NULL;
}

/* Checks one answer: the cheap checks, then re-execution of its receipt. */
static void judge(val *v, ask_job *a) {
  if (a->rc || a->status != 200) {
    a->outcome = OUT_MISSED;
    a->code = a->rc ? a->rc : AG_E_HTTP_STATUS;
    snprintf(a->why, sizeof a->why, "%s", a->err);
    return;
  }
  if (!a->resp) {
    a->outcome = OUT_WRONG;
    a->code = AG_E_INF_MALFORMED;
    snprintf(a->why, sizeof a->why, "the answer is not JSON");
    return;
  }
  ag_inf_verdict vd;
  const uint8_t *body = (const uint8_t *)a->body;
  ag_inf_verify(NULL, v->model, body, strlen(a->body), &a->req, a->resp, a->w->pk, &vd);
  if (vd.ok) { /* every answer is its own miner's: each receipt is re-executed */
    ag_inf_verify(v->state, v->model, body, strlen(a->body), &a->req, a->resp, a->w->pk, &vd);
    v->reexecutions++;
    v->verify_seconds += vd.verify_seconds;
    v->verified_tokens += (uint64_t)(vd.n_prompt + vd.n_out);
  }
  if (!vd.ok && ag_log_level() >= AG_LOG_DEBUG) {
    char *txt = json_dumps(a->resp, JSON_COMPACT);
    ag_debug("validator", "request %s answered %.1500s", a->body, txt ? txt : "");
    free(txt);
  }
  a->n_out = vd.n_out;
  a->outcome = vd.ok ? OUT_OK : OUT_WRONG;
  a->code = vd.code;
  snprintf(a->why, sizeof a->why, "%.199s", vd.ok ? "" : vd.why);
}

/* The time an answer of n tokens should take: this validator's own decoding speed, measured at
 * start, plus a fixed allowance for the network and the prompt. */
static double expected_s(const val *v, int n_out) { return 0.25 + n_out / v->gen_tps; }

static void weights_step(val *v);

/* Weights go out in their window even when a round outlasts an epoch (a miner may hold every
 * challenge until the timeout, and there may be hundreds of answers to re-execute): while the
 * round waits for answers, and between re-executions, it looks at most twice a second whether
 * a commit, or weights, are due. */
static void weights_if_due(val *v, uint64_t *last_ms) {
  uint64_t now = ag_mono_ms();
  if (now - *last_ms < 500) return;
  weights_step(v);
  *last_ms = ag_mono_ms();
}

static void run_round(val *v) {
  uint64_t wlast = ag_mono_ms();
  int chat;
  json_t *challenge = make_challenge(v, &chat);
  ask_job *jobs = ag_xcalloc((size_t)v->n + 1, sizeof *jobs);
  pthread_t *th = ag_xcalloc((size_t)v->n + 1, sizeof *th);
  int asked = 0, wrong = 0, missed = 0;
  for (int i = 0; i < v->n; i++) {
    row *w = &v->rows[i];
    ask_job *a = &jobs[i];
    if (!w->present || !w->url[0] || i == v->uid) continue;
    a->v = v;
    a->w = w;
    a->chat = chat;
    a->body = make_body(challenge);
    const char *param;
    if (ag_inf_request_parse(chat, (const uint8_t *)a->body, strlen(a->body), &a->req, &param)) {
      ag_error("validator", "cannot parse our own challenge: %s", ag_errmsg(AG_E_INVALID));
      free(a->body);
      a->body = NULL;
      continue;
    }
    a->parsed = 1;
  }
  json_decref(challenge);
  /* all at once, in batches the machine can hold */
  for (int start = 0; start < v->n; start += 32) {
    int end = start + 32 < v->n ? start + 32 : v->n;
    for (int i = start; i < end; i++)
      if (jobs[i].parsed && pthread_create(&th[i], NULL, ask_thread, &jobs[i]) != 0) jobs[i].parsed = 0;
    for (int busy = 1; busy;) {
      busy = 0;
      for (int i = start; i < end; i++) busy |= jobs[i].parsed && !atomic_load(&jobs[i].done);
      if (busy) {
        ag_sleep_ms(20);
        weights_if_due(v, &wlast);
      }
    }
    for (int i = start; i < end; i++)
      if (jobs[i].parsed) pthread_join(th[i], NULL);
  }
  double alpha = v->cfg.ema_alpha;
  for (int i = 0; i < v->n; i++) {
    ask_job *a = &jobs[i];
    if (!a->parsed) continue;
    asked++;
    judge(v, a);
    weights_if_due(v, &wlast);
    row *w = &v->rows[i];
    double sample = 0;
    w->last = a->outcome;
    w->code = a->code;
    snprintf(w->why, sizeof w->why, "%s", a->why);
    w->latency_ms = a->latency * 1000;
    if (a->outcome == OUT_OK) {
      /* 0.2 for a correct answer, and up to 0.8 more for its speed against what it should take:
       * judged per miner, never against another miner's answer */
      double ratio = expected_s(v, a->n_out) / (a->latency > 1e-6 ? a->latency : 1e-6);
      sample = 0.2 + 0.8 * (ratio < 1 ? ratio : 1);
      w->tps = a->latency > 0 ? a->n_out / a->latency : 0;
      w->ok++;
    } else if (a->outcome == OUT_WRONG) {
      w->flagged = 1;
      w->wrong++;
      wrong++;
      ag_warn("validator", "uid %d (%.20s…) answered wrongly: %s", i, w->hotkey, a->why);
    } else {
      w->missed++;
      missed++;
      ag_debug("validator", "uid %d missed: %s", i, a->why);
    }
    w->score = w->flagged ? 0 : (1 - alpha) * w->score + alpha * sample;
    json_decref(a->resp);
    ag_inf_request_free(&a->req);
    free(a->body);
  }
  v->round++;
  ag_info("validator", "round %llu: asked %d miner(s), %d correct, %d wrong, %d missed",
          (unsigned long long)v->round, asked, asked - wrong - missed, wrong, missed);
  free(jobs);
  free(th);
}

/* Decoding speed of this machine: one generation of 24 tokens, median of three, on the state
 * validators re-execute with (the yardstick of expected_s). */
static void calibrate(val *v) {
  uint32_t prompt[8] = {'T', 'h', 'e', ' ', 'w', 'a', 'y', ' '};
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  sp.stop = -1;
  double best[3];
  for (int k = 0; k < 3; k++) {
    uint32_t toks[24];
    ag_gen_out out = {toks, 0, {0}};
    double t0 = ag_mono_s();
    ag_generate(v->state, prompt, 8, 24, &sp, AG_COMMIT_K_DEFAULT, &out, NULL, NULL, NULL);
    best[k] = ag_mono_s() - t0;
  }
  double a = best[0], b = best[1], c = best[2];
  double med = a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
  v->gen_tps = med > 0 ? 24.0 / med : 100.0;
  ag_info("validator", "this machine decodes %.0f tokens/s: the yardstick for miners' answers", v->gen_tps);
}

/* ---- weights ---------------------------------------------------------------------------------- */

static void weights_step(val *v) {
  pthread_mutex_lock(&v->ws_mu);
  if (ag_wsetter_poll(&v->ws) == 1 || v->new_window) /* a new weights window: wrong answers are forgiven */
    for (int i = 0; i < v->n; i++) v->rows[i].flagged = 0;
  v->new_window = 0;
  double *scores = ag_xcalloc((size_t)v->n + 1, sizeof *scores);
  for (int i = 0; i < v->n; i++)
    if (v->rows[i].present) scores[i] = v->rows[i].score;
  ag_wsetter_set(&v->ws, v->uid, v->permit, v->last_update, v->reg_block, scores, v->n);
  pthread_mutex_unlock(&v->ws_mu);
  free(scores);
}

/* Beside the rounds, twice a second while a reveal is pending: sends it in its epoch even when
 * a round (every miner's challenge, their re-execution) outlasts that epoch. */
static void *reveals_thread(void *arg) {
  val *v = arg;
  while (!v->reveals_stop) {
    for (int i = 0; i < 5 && !v->reveals_stop; i++) ag_sleep_ms(100);
    pthread_mutex_lock(&v->ws_mu);
    if (v->ws.npend && ag_wsetter_poll(&v->ws) == 1) v->new_window = 1;
    pthread_mutex_unlock(&v->ws_mu);
  }
  return NULL;
}

/* ---- disputes: judging paid answers when sampled for a committee ---------------------------------- */

/* The salt of this validator's commit to a case: derived from its secret key, so a restart
 * between commit and reveal still reveals. */
static void vote_salt(const val *v, const uint8_t id[32], uint8_t salt[32]) {
  ag_hasher h;
  ag_hasher_init(&h, "agora/dsalt");
  ag_hasher_update(&h, v->hotkey.sk, 32);
  ag_hasher_update(&h, id, 32);
  ag_hasher_final(&h, salt);
}

/* This validator's vote on a case and the digest of its work: re-executes the evidence (once;
 * kept for the reveal and for later rounds, whose work ag_dispute_work derives from it). */
static int case_vote(val *v, const char *idhex, const uint8_t id[32], uint8_t vote[32], uint8_t digest[32]) {
  for (int i = 0; i < v->nvotes && i < 16; i++)
    if (!memcmp(v->votes[i].id, id, 32))
      return memcpy(vote, v->votes[i].vote, 32), memcpy(digest, v->votes[i].digest, 32), 0;
  char path[120];
  snprintf(path, sizeof path, "/v1/disputes/%s", idhex);
  json_t *d;
  int rc = ag_net_get(&v->net, path, &d);
  if (rc) return rc;
  const char *hex = json_string_value(json_object_get(d, "evidence"));
  size_t n = hex ? strlen(hex) / 2 : 0;
  uint8_t *ev = ag_xmalloc(n + 1);
  ag_evidence e;
  if (!hex || ag_hex_decode(hex, 2 * n, ev, n) || ag_evidence_decode(ev, n, &e)) rc = AG_E_DISPUTE_EVIDENCE;
  if (!rc) rc = ag_inf_dispute_vote(v->state, v->model, &e, vote, digest);
  free(ev);
  json_decref(d);
  if (rc) return rc;
  memcpy(v->votes[v->nvotes % 16].id, id, 32);
  memcpy(v->votes[v->nvotes % 16].vote, vote, 32);
  memcpy(v->votes[v->nvotes % 16].digest, digest, 32);
  v->nvotes++;
  return 0;
}

int ag_dispute_duty(const json_t *d, const char *hotkey, uint16_t netuid, const uint8_t model[32]) {
  json_t *me = NULL, *ms = json_object_get(d, "committee");
  for (size_t j = 0; j < json_array_size(ms); j++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ms, j), "hotkey")) ?: "", hotkey))
      me = json_array_get(ms, j);
  const char *phase = json_string_value(json_object_get(d, "phase")) ?: "";
  if (!me || json_integer_value(json_object_get(d, "netuid")) != netuid) return AG_DUTY_NONE;
  int committed = json_is_true(json_object_get(me, "committed"));
  int commit = !strcmp(phase, "commit") && !committed;
  int reveal = !strcmp(phase, "reveal") && committed && !json_is_true(json_object_get(me, "revealed"));
  if (!commit && !reveal) return AG_DUTY_NONE;
  /* judged with another model than the channel's, an honest answer would look wrong */
  const char *mh = json_string_value(json_object_get(d, "model"));
  uint8_t m[32];
  if (!mh || strlen(mh) != 64 || ag_hex_decode(mh, 64, m, 32) || memcmp(m, model, 32)) return AG_DUTY_ABSTAIN;
  return commit ? AG_DUTY_COMMIT : AG_DUTY_REVEAL;
}

static void disputes_page(val *v, json_t *arr) {
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *d = json_array_get(arr, i);
    const char *idhex = json_string_value(json_object_get(d, "id"));
    uint8_t id[32], vote[32], digest[32], work[32], salt[32], payload[128];
    int duty = ag_dispute_duty(d, v->addr, v->cfg.netuid, v->model->id);
    if (duty == AG_DUTY_NONE || !idhex || ag_hex_decode(idhex, strlen(idhex), id, 32)) continue;
    if (duty == AG_DUTY_ABSTAIN) {
      int seen = 0;
      for (int k = 0; k < v->nabstain && k < 16; k++) seen |= !memcmp(v->abstained[k], id, 32);
      if (!seen) {
        ag_warn("validator", "dispute %.16s: the channel's model is not the one this subnet pins now; abstaining", idhex);
        memcpy(v->abstained[v->nabstain++ % 16], id, 32);
      }
      continue;
    }
    int commit = duty == AG_DUTY_COMMIT;
    int rc = case_vote(v, idhex, id, vote, digest);
    if (rc) {
      ag_warn("validator", "cannot judge dispute %.16s: %s", idhex, ag_errmsg(rc));
      continue;
    }
    ag_dispute_work(digest, (uint8_t)json_integer_value(json_object_get(d, "round")), work);
    vote_salt(v, id, salt);
    memcpy(payload, id, 32);
    if (commit) ag_dispute_commit_hash(id, v->hotkey.pk, vote, work, salt, payload + 32);
    else memcpy(payload + 32, vote, 32), memcpy(payload + 64, work, 32), memcpy(payload + 96, salt, 32);
    uint8_t hash[32];
    rc = ag_net_submit(&v->net, &v->hotkey, commit ? AG_TX_DISPUTE_COMMIT : AG_TX_DISPUTE_REVEAL, payload,
                       commit ? 64 : 128, 0, hash, NULL);
    if (rc) ag_warn("validator", "cannot %s on dispute %.16s: %s", commit ? "commit" : "reveal", idhex, ag_errmsg(rc));
    else {
      if (commit) v->dispute_votes++;
      ag_info("validator", "dispute %.16s: %s sent", idhex, commit ? "commit" : "reveal");
    }
  }
}

/* The cases this validator sits on, a page of 100 at a time. */
static void disputes_step(val *v) {
  json_int_t offset = 0;
  for (int page = 0; page < AG_DISPUTE_MAX_OPEN / 100 + 1; page++) {
    char path[200];
    snprintf(path, sizeof path, "/v1/disputes?member=%s&offset=%lld", v->addr, (long long)offset);
    json_t *o;
    if (ag_net_get(&v->net, path, &o)) return;
    disputes_page(v, json_object_get(o, "disputes"));
    json_t *next = json_object_get(o, "next");
    int more = json_is_integer(next) && json_integer_value(next) > offset;
    if (more) offset = json_integer_value(next);
    json_decref(o);
    if (!more) return;
  }
}

/* ---- status ------------------------------------------------------------------------------------- */

static void write_status(val *v) {
  if (!v->cfg.status_path[0]) return;
  json_t *o = json_object(), *ms = json_array();
  json_object_set_new(o, "role", json_string("validator"));
  json_object_set_new(o, "netuid", json_integer(v->cfg.netuid));
  json_object_set_new(o, "hotkey", json_string(v->addr));
  json_object_set_new(o, "uid", v->uid >= 0 ? json_integer(v->uid) : json_null());
  json_object_set_new(o, "validator_permit", json_boolean(v->permit));
  json_object_set_new(o, "rounds", json_integer((json_int_t)v->round));
  pthread_mutex_lock(&v->ws_mu);
  json_object_set_new(o, "height", json_integer((json_int_t)v->ws.height));
  json_object_set_new(o, "epoch", json_integer((json_int_t)v->ws.epoch));
  json_object_set_new(o, "weights_sets", json_integer((json_int_t)v->ws.weights_sets));
  json_object_set_new(o, "last_weights", json_string(v->ws.last_weights));
  pthread_mutex_unlock(&v->ws_mu);
  json_object_set_new(o, "reexecutions", json_integer((json_int_t)v->reexecutions));
  json_object_set_new(o, "dispute_votes", json_integer((json_int_t)v->dispute_votes));
  json_object_set_new(o, "verified_tokens_per_s",
                      json_real(v->verify_seconds > 0 ? v->verified_tokens / v->verify_seconds : 0));
  for (int i = 0; i < v->n; i++) {
    row *w = &v->rows[i];
    if (!w->present || i == v->uid || (!w->url[0] && w->last == OUT_NONE)) continue;
    json_t *m = json_object();
    json_object_set_new(m, "uid", json_integer(i));
    json_object_set_new(m, "hotkey", json_string(w->hotkey));
    json_object_set_new(m, "score", json_real(w->score));
    json_object_set_new(m, "last", json_string(outcome_name[w->last]));
    json_object_set_new(m, "why", json_string(w->why));
    json_object_set_new(m, "latency_ms", json_real(w->latency_ms));
    json_object_set_new(m, "tokens_per_s", json_real(w->tps));
    json_object_set_new(m, "ok", json_integer((json_int_t)w->ok));
    json_object_set_new(m, "wrong", json_integer((json_int_t)w->wrong));
    json_object_set_new(m, "missed", json_integer((json_int_t)w->missed));
    json_array_append_new(ms, m);
  }
  json_object_set_new(o, "miners", ms);
  ag_json_write_file(v->cfg.status_path, o);
}

/* ---- main loop ---------------------------------------------------------------------------------- */

static void validator_free(val *v) {
  ag_wsetter_free(&v->ws);
  pthread_mutex_destroy(&v->ws_mu);
  ag_infer_close(v->state);
  ag_model_close(v->model);
  ag_corpus_free(&v->docs);
  ag_key_wipe(&v->hotkey);
  free(v->rows);
  free(v);
}

int ag_validator_open(const ag_validator_config *cfg, volatile int *stop, ag_inf_validator **out) {
  ag_crypto_init();
  *out = NULL;
  val *v = ag_xcalloc(1, sizeof *v);
  v->cfg = *cfg;
  v->uid = -1;
  if (!v->cfg.model_dir[0]) snprintf(v->cfg.model_dir, sizeof v->cfg.model_dir, "%s/models", cfg->home);
  if (v->cfg.threads < 1) v->cfg.threads = 1;
  if (v->cfg.timeout_ms < 100) v->cfg.timeout_ms = 100;
  if (!(v->cfg.ema_alpha > 0 && v->cfg.ema_alpha <= 1)) v->cfg.ema_alpha = 0.2;
  ag_corpus_init(&v->docs);
  pthread_mutex_init(&v->ws_mu, NULL);
  ag_wsetter_init(&v->ws, &v->net, &v->hotkey, cfg->netuid, "validator");
  int rc = ag_neuron_connect(&v->net, cfg->home, cfg->node_url, stop);
  if (rc) goto out;
  if ((rc = ag_neuron_key(cfg->home, cfg->hotkey, v->net.chain_id, &v->hotkey))) goto out;
  ag_addr_encode(v->hotkey.pk, v->addr);
  ag_wsetter_keep_reveals(&v->ws, cfg->home, cfg->hotkey);
  if ((rc = ag_neuron_register(&v->net, cfg->netuid, &v->hotkey, cfg->home, cfg->coldkey, &v->uid)))
    goto out;
  if (v->ws.npend) ag_wsetter_poll(&v->ws); /* reveals due now go before the model and a round */
  if ((rc = ag_neuron_model(&v->net, cfg->netuid, v->cfg.model_dir, &v->model))) goto out;
  ag_inf_model_name(v->model->id, v->model_name);
  if ((rc = ag_infer_open(v->model, v->model->cfg.seq_len, v->cfg.threads, &v->state))) goto out;
  calibrate(v);
  if (ag_corpus_add_fortunes(&v->docs, AG_FORTUNES_DIR) || v->docs.n < 10)
    ag_warn("validator", "no fortunes corpus installed: challenges use built-in prompts");
  ag_info("validator", "validating subnet %u (model %s) as %s", cfg->netuid, v->model_name, v->addr);
out:
  if (rc) {
    ag_error("validator", "%s", ag_errmsg(rc));
    validator_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

int ag_validator_step(ag_inf_validator *v) {
  int rc = ag_neuron_pin_changed(&v->net, v->cfg.netuid, v->model->id);
  if (rc == AG_E_MODEL_CHANGED) { /* the caller starts again on the new model */
    ag_info("validator", "%s: stopping to validate it", ag_errmsg(rc));
    return rc;
  }
  if ((rc = refresh(v))) {
    ag_warn("validator", "cannot read the metagraph: %s", ag_errmsg(rc));
    return rc;
  }
  disputes_step(v); /* first: its phases have deadlines */
  run_round(v);
  disputes_step(v);
  weights_step(v);
  write_status(v);
  return 0;
}

void ag_validator_close(ag_inf_validator *v) {
  if (v) validator_free(v);
}

int ag_validator_run(const ag_validator_config *cfg, volatile int *stop) {
  ag_inf_validator *v;
  int rc = ag_validator_open(cfg, stop, &v);
  pthread_t rt;
  int rt_started = !rc && pthread_create(&rt, NULL, reveals_thread, v) == 0;
  while (!rc && !*stop) {
    uint64_t t0 = ag_mono_ms();
    if (ag_validator_step(v) == AG_E_MODEL_CHANGED) rc = AG_E_MODEL_CHANGED;
    while (!rc && !*stop && ag_mono_ms() < t0 + (uint64_t)v->cfg.interval_ms) ag_sleep_ms(50);
  }
  if (rt_started) {
    v->reveals_stop = 1;
    pthread_join(rt, NULL);
  }
  ag_validator_close(v);
  return rc;
}
