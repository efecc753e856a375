/*
 * dispute.c — disputes by re-execution (docs/economy.md "Disputes"). A paid answer whose
 * receipt fails re-execution is evidence: both of the provider's signatures (the payment
 * receipt and the answer) bind what it billed to what it answered. Anyone may dispute it with
 * a bond within the dispute window; a committee of the subnet's permitted validators, sampled
 * by stake, re-executes the request and votes by commit-reveal on the hash of the answer the
 * model gives. At the end of the reveal phase the chain counts the votes: a stake
 * supermajority for another answer is a fault (the provider's bond pays the client back, the
 * challenger and the agreeing members, and the rest is burned); a supermajority for the
 * provider's answer clears it (the challenger's bond goes to the agreeing members); no
 * supermajority draws a larger committee without the silent members, and after the last
 * round refunds the bond. Integers only.
 */
#include "economy/internal.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "incentive/incentive.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 4
#define REC_FIXED 326    /* through k */
#define REC_FIXED_V3 317 /* version 3: no round and start */
#define MEMBER_LEN (32 + 8 + 1 + 32 + 32 + 32 + 8)

static const uint8_t zero32[32];

/* ---- the messages a provider signs -------------------------------------------------------------- */

void ag_pay_receipt_message(const uint8_t hotkey[32], const uint8_t request_hash[32],
                            const ag_pay_receipt *r, uint8_t out[32]) {
  uint8_t nums[8 * 9];
  const uint64_t v[] = {r->seq,       r->cumulative, r->n_in, r->n_out, r->price_in,
                        r->price_out, r->cost,       r->billed, r->height};
  for (int i = 0; i < 9; i++) ag_put_u64le(nums + 8 * i, v[i]);
  ag_hasher h;
  ag_hasher_init(&h, "agora/infpay");
  ag_hasher_update(&h, hotkey, 32);
  ag_hasher_update(&h, request_hash, 32);
  ag_hasher_update(&h, r->channel, 32);
  ag_hasher_update(&h, nums, sizeof nums);
  ag_hasher_final(&h, out);
}

void ag_answer_request_hash(const void *body, size_t len, uint8_t out[32]) {
  ag_hash("agora/infreq", body, len, out);
}

void ag_answer_message(const uint8_t hotkey[32], const uint8_t request_hash[32], const void *text,
                       size_t tlen, const uint8_t commitment[32], const uint8_t *receipt,
                       size_t rlen, uint8_t out[32]) {
  uint8_t rh[32];
  ag_hash("agora/receipt", receipt, rlen, rh);
  ag_answer_message_rh(hotkey, request_hash, text, tlen, commitment, rh, out);
}

void ag_answer_message_rh(const uint8_t hotkey[32], const uint8_t request_hash[32], const void *text,
                          size_t tlen, const uint8_t commitment[32], const uint8_t rh[32], uint8_t out[32]) {
  uint8_t th[32];
  ag_hash("agora/inftext", text, tlen, th);
  ag_hasher h;
  ag_hasher_init(&h, "agora/infsig");
  ag_hasher_update(&h, hotkey, 32);
  ag_hasher_update(&h, request_hash, 32);
  ag_hasher_update(&h, th, 32);
  ag_hasher_update(&h, commitment, 32);
  ag_hasher_update(&h, rh, 32);
  ag_hasher_final(&h, out);
}

/* ---- evidence ------------------------------------------------------------------------------------ */

void ag_evidence_encode(ag_buf *out, const ag_evidence *e) {
  const ag_pay_receipt *r = &e->pay;
  const uint64_t v[] = {r->seq,       r->cumulative, r->n_in, r->n_out, r->price_in,
                        r->price_out, r->cost,       r->billed, r->height};
  ag_buf_put(out, e->hotkey, 32);
  ag_buf_put(out, r->channel, 32);
  for (int i = 0; i < 9; i++) ag_buf_put_u64le(out, v[i]);
  ag_buf_put(out, e->pay_sig, 64);
  ag_buf_put(out, e->commitment, 32);
  ag_buf_put(out, e->answer_sig, 64);
  ag_buf_put_u32le(out, e->body_len);
  ag_buf_put(out, e->body, e->body_len);
  ag_buf_put_u32le(out, e->text_len);
  ag_buf_put(out, e->text, e->text_len);
  ag_buf_put_u32le(out, e->receipt_len);
  if (e->receipt_len) ag_buf_put(out, e->receipt, e->receipt_len);
  else ag_buf_put(out, e->receipt_hash, 32);
}

static int bad_evidence(const char *what) {
  return ag_fail(AG_E_DISPUTE_EVIDENCE, "the evidence's %s is malformed", what);
}

/* A length-prefixed part at *off; advances it. */
static int part(const uint8_t *p, size_t n, size_t *off, uint32_t max, const uint8_t **out,
                uint32_t *len, const char *what) {
  if (n - *off < 4) return bad_evidence(what);
  uint32_t l = ag_get_u32le(p + *off);
  *off += 4;
  if (l > max || n - *off < l) return bad_evidence(what);
  *out = p + *off;
  *len = l;
  *off += l;
  return 0;
}

int ag_evidence_decode(const uint8_t *p, size_t n, ag_evidence *e) {
  memset(e, 0, sizeof *e);
  if (n < AG_EVIDENCE_FIXED) return bad_evidence("fixed part");
  ag_pay_receipt *r = &e->pay;
  memcpy(e->hotkey, p, 32);
  memcpy(r->channel, p + 32, 32);
  uint64_t *v[] = {&r->seq,       &r->cumulative, &r->n_in,   &r->n_out, &r->price_in,
                   &r->price_out, &r->cost,       &r->billed, &r->height};
  for (int i = 0; i < 9; i++) *v[i] = ag_get_u64le(p + 64 + 8 * i);
  size_t off = 64 + 72;
  memcpy(e->pay_sig, p + off, 64);
  memcpy(e->commitment, p + off + 64, 32);
  memcpy(e->answer_sig, p + off + 96, 64);
  off = AG_EVIDENCE_FIXED;
  int rc;
  if ((rc = part(p, n, &off, AG_EVIDENCE_BODY_MAX, &e->body, &e->body_len, "request body")) ||
      (rc = part(p, n, &off, AG_EVIDENCE_TEXT_MAX, &e->text, &e->text_len, "text")) ||
      (rc = part(p, n, &off, AG_TX_HARD_MAX, &e->receipt, &e->receipt_len, "receipt")))
    return rc;
  if (!e->body_len) return bad_evidence("request body");
  if (e->receipt_len) {
    ag_hash("agora/receipt", e->receipt, e->receipt_len, e->receipt_hash);
  } else { /* left out: its hash */
    if (n - off < 32) return bad_evidence("receipt hash");
    e->receipt = NULL;
    memcpy(e->receipt_hash, p + off, 32);
    off += 32;
  }
  if (off != n) return ag_fail(AG_E_DISPUTE_EVIDENCE, "%zu bytes follow the evidence", n - off);
  return 0;
}

int ag_evidence_verify(const ag_evidence *e) {
  uint8_t reqh[32], msg[32];
  ag_answer_request_hash(e->body, e->body_len, reqh);
  ag_pay_receipt_message(e->hotkey, reqh, &e->pay, msg);
  if (ag_verify(e->hotkey, msg, 32, e->pay_sig))
    return ag_fail(AG_E_DISPUTE_EVIDENCE, "the payment receipt is not signed by the provider for this request");
  ag_answer_message_rh(e->hotkey, reqh, e->text, e->text_len, e->commitment, e->receipt_hash, msg);
  if (ag_verify(e->hotkey, msg, 32, e->answer_sig))
    return ag_fail(AG_E_DISPUTE_EVIDENCE, "the answer is not signed by the provider for this request");
  return 0;
}

void ag_dispute_id(const ag_evidence *e, uint8_t out[32]) {
  uint8_t reqh[32], seq[8];
  ag_answer_request_hash(e->body, e->body_len, reqh);
  ag_put_u64le(seq, e->pay.seq);
  ag_hasher h;
  ag_hasher_init(&h, "agora/dispute");
  ag_hasher_update(&h, e->hotkey, 32);
  ag_hasher_update(&h, reqh, 32);
  ag_hasher_update(&h, e->pay.channel, 32);
  ag_hasher_update(&h, seq, 8);
  ag_hasher_final(&h, out);
}

void ag_dispute_commit_hash(const uint8_t id[32], const uint8_t hotkey[32], const uint8_t vote[32],
                            const uint8_t work[32], const uint8_t salt[32], uint8_t out[32]) {
  ag_hasher h;
  ag_hasher_init(&h, "agora/dcommit");
  ag_hasher_update(&h, id, 32);
  ag_hasher_update(&h, hotkey, 32);
  ag_hasher_update(&h, vote, 32);
  ag_hasher_update(&h, work, 32);
  ag_hasher_update(&h, salt, 32);
  ag_hasher_final(&h, out);
}

void ag_dispute_work(const uint8_t digest[32], uint8_t round, uint8_t out[32]) {
  uint8_t in[33];
  memcpy(in, digest, 32);
  in[32] = round;
  ag_hash("agora/dround", in, sizeof in, out);
}

void ag_payload_dispute_open(ag_buf *out, uint16_t netuid, uint64_t bond, const uint8_t *evidence,
                             size_t len) {
  ag_buf_put_u16le(out, netuid);
  ag_buf_put_u64le(out, bond);
  ag_buf_put(out, evidence, len);
}

/* ---- the case record: "e" 'd' | id ->
 *   version u8 | status u8 | netuid u16 | challenger | provider | channel | client | claimed |
 *   verdict | model (32 each) | bond | cost | opened | commit_end | reveal_end | held | slashed |
 *   refund | reward | committee_paid | burned (u64 each) | k u8 |
 *   k × (hotkey[32] | stake u64 | flags u8 | commit[32] | vote[32] | work[32] | paid u64) |
 *   evidence_len u32 | evidence ------------------------------------------------------------------- */

const char *ag_dispute_status_name(uint8_t status) {
  switch (status) {
  case AG_DISPUTE_OPEN: return "open";
  case AG_DISPUTE_FAULT: return "fault";
  case AG_DISPUTE_CLEARED: return "cleared";
  case AG_DISPUTE_UNDECIDED: return "undecided";
  default: return "unknown";
  }
}

void ag_dispute_free(ag_dispute *d) {
  free(d->evidence);
  d->evidence = NULL;
}

static uint64_t *amounts(ag_dispute *d, int i) {
  uint64_t *v[] = {&d->bond,    &d->cost,   &d->opened, &d->commit_end,     &d->reveal_end, &d->held,
                   &d->slashed, &d->refund, &d->reward, &d->committee_paid, &d->burned};
  return v[i];
}

static int dispute_decode(const uint8_t *p, size_t n, ag_dispute *d, int evidence) {
  /* version 3, before rounds: no round, start or exclusions (round 0, start = opened) */
  size_t fixed = n && p[0] == 3 ? REC_FIXED_V3 : REC_FIXED;
  if (n < fixed + 4 || (p[0] != REC_VERSION && p[0] != 3) || p[fixed - 1] > AG_DISPUTE_MAX_COMMITTEE ||
      n < fixed + (size_t)p[fixed - 1] * MEMBER_LEN + 4)
    return ag_fail(AG_E_CORRUPT, "bad dispute record");
  d->status = p[1];
  d->netuid = ag_get_u16le(p + 2);
  memcpy(d->challenger, p + 4, 32);
  memcpy(d->provider, p + 36, 32);
  memcpy(d->channel, p + 68, 32);
  memcpy(d->client, p + 100, 32);
  memcpy(d->claimed, p + 132, 32);
  memcpy(d->verdict, p + 164, 32);
  memcpy(d->model, p + 196, 32);
  for (int i = 0; i < 11; i++) *amounts(d, i) = ag_get_u64le(p + AG_DISPUTE_BOND_AT + 8 * i);
  d->round = fixed == REC_FIXED ? p[AG_DISPUTE_BOND_AT + 88] : 0;
  d->start = fixed == REC_FIXED ? ag_get_u64le(p + AG_DISPUTE_BOND_AT + 89) : d->opened;
  d->k = p[fixed - 1];
  const uint8_t *q = p + fixed, *end = p + n;
  for (int i = 0; i < d->k; i++, q += MEMBER_LEN) {
    ag_member *m = &d->m[i];
    memcpy(m->hotkey, q, 32);
    m->stake = ag_get_u64le(q + 32);
    m->flags = q[40];
    memcpy(m->commit, q + 41, 32);
    memcpy(m->vote, q + 73, 32);
    memcpy(m->work, q + 105, 32);
    m->paid = ag_get_u64le(q + 137);
  }
  d->nx = 0;
  if (fixed == REC_FIXED) {
    if (end - q < 5 || q[0] > AG_DISPUTE_MAX_EXCLUDED || end - q < 5 + 40 * (ptrdiff_t)q[0])
      return ag_fail(AG_E_CORRUPT, "bad dispute record");
    d->nx = q[0];
    for (int i = 0; i < d->nx; i++) {
      memcpy(d->excluded[i].hotkey, q + 1 + 40 * i, 32);
      d->excluded[i].stake = ag_get_u64le(q + 1 + 40 * i + 32);
    }
    q += 1 + 40 * (size_t)d->nx;
  }
  uint32_t el = ag_get_u32le(q);
  if ((size_t)(q + 4 - p) + el != n) return ag_fail(AG_E_CORRUPT, "bad dispute record");
  d->evidence_len = el;
  d->evidence = NULL;
  if (el && evidence) {
    d->evidence = ag_xmalloc(el);
    memcpy(d->evidence, q + 4, el);
  }
  return 0;
}

static void dispute_store(ag_state *st, const ag_dispute *d) {
  ag_buf b;
  ag_buf_init(&b);
  uint8_t head[4];
  head[0] = REC_VERSION;
  head[1] = d->status;
  ag_put_u16le(head + 2, d->netuid);
  ag_buf_put(&b, head, 4);
  ag_buf_put(&b, d->challenger, 32);
  ag_buf_put(&b, d->provider, 32);
  ag_buf_put(&b, d->channel, 32);
  ag_buf_put(&b, d->client, 32);
  ag_buf_put(&b, d->claimed, 32);
  ag_buf_put(&b, d->verdict, 32);
  ag_buf_put(&b, d->model, 32);
  for (int i = 0; i < 11; i++) ag_buf_put_u64le(&b, *amounts((ag_dispute *)d, i));
  ag_buf_put(&b, &d->round, 1);
  ag_buf_put_u64le(&b, d->start);
  ag_buf_put(&b, &d->k, 1);
  for (int i = 0; i < d->k; i++) {
    const ag_member *m = &d->m[i];
    ag_buf_put(&b, m->hotkey, 32);
    ag_buf_put_u64le(&b, m->stake);
    ag_buf_put(&b, &m->flags, 1);
    ag_buf_put(&b, m->commit, 32);
    ag_buf_put(&b, m->vote, 32);
    ag_buf_put(&b, m->work, 32);
    ag_buf_put_u64le(&b, m->paid);
  }
  ag_buf_put(&b, &d->nx, 1);
  for (int i = 0; i < d->nx; i++) {
    ag_buf_put(&b, d->excluded[i].hotkey, 32);
    ag_buf_put_u64le(&b, d->excluded[i].stake);
  }
  ag_buf_put_u32le(&b, d->evidence ? d->evidence_len : 0);
  if (d->evidence) ag_buf_put(&b, d->evidence, d->evidence_len);
  uint8_t k[34];
  ag_state_put(st, k, ag_econ_key(k, AG_EKEY_DISPUTE, d->id, NULL), b.data, b.len);
  ag_buf_free(&b);
}

static int dispute_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_dispute *out, int evidence) {
  memset(out, 0, sizeof *out);
  uint8_t k[34];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_DISPUTE, id, NULL), &b);
  if (rc == AG_E_NOTFOUND) rc = ag_fail(AG_E_DISPUTE_NOT_FOUND, "no dispute with that id");
  if (!rc) rc = dispute_decode(b.data, b.len, out, evidence);
  if (!rc) memcpy(out->id, id, 32);
  ag_buf_free(&b);
  return rc;
}

int ag_dispute_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_dispute *out) {
  return dispute_load(st, view, id, out, 1);
}

int ag_dispute_load_brief(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_dispute *out) {
  return dispute_load(st, view, id, out, 0);
}

/* A list of cases under key: n u16 | n × (id[32] | height u64). The open list ("e/disputes",
 * each case's reveal_end) lets the end-of-block hook read only the cases that are due; the draw
 * list ("e/draws", each case's opened) the cases whose committee is still to be drawn. hs may
 * be NULL. */
static int id_list_load(ag_state *st, ag_state_view *view, const char *key, uint8_t (**ids)[32], uint64_t **hs,
                        size_t *n) {
  *ids = NULL;
  if (hs) *hs = NULL;
  *n = 0;
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, (const uint8_t *)key, strlen(key), &b);
  size_t m = 0;
  if (rc == AG_E_NOTFOUND) rc = 0; /* none: room for the caller to add one */
  else if (!rc && (b.len < 2 || b.len != 2 + 40 * (size_t)ag_get_u16le(b.data)))
    rc = ag_fail(AG_E_CORRUPT, "bad %s record", key);
  else if (!rc) m = ag_get_u16le(b.data);
  if (!rc) {
    *ids = ag_xmalloc((m + 1) * 32);
    if (hs) *hs = ag_xmalloc((m + 1) * sizeof **hs);
    for (size_t i = 0; i < m; i++) {
      memcpy((*ids)[i], b.data + 2 + 40 * i, 32);
      if (hs) (*hs)[i] = ag_get_u64le(b.data + 2 + 40 * i + 32);
    }
    *n = m;
  }
  ag_buf_free(&b);
  return rc;
}

static int open_list_load(ag_state *st, ag_state_view *view, uint8_t (**ids)[32], uint64_t **ends, size_t *n) {
  return id_list_load(st, view, AG_EKEY_DISPUTES, ids, ends, n);
}

int ag_disputes_open(ag_state *st, ag_state_view *view, uint8_t (**out)[32], size_t *n) {
  return open_list_load(st, view, out, NULL, n);
}

static void id_list_store(ag_state *st, const char *k, uint8_t (*ids)[32], const uint64_t *hs, size_t n) {
  if (!n) {
    ag_state_del(st, k, strlen(k));
    return;
  }
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put_u16le(&b, (uint16_t)n);
  for (size_t i = 0; i < n; i++) {
    ag_buf_put(&b, ids[i], 32);
    ag_buf_put_u64le(&b, hs[i]);
  }
  ag_state_put(st, k, strlen(k), b.data, b.len);
  ag_buf_free(&b);
}

/* ---- the committee --------------------------------------------------------------------------------- */

static int excluded(const ag_dispute *d, const uint8_t hotkey[32]) {
  for (int i = 0; i < d->nx; i++)
    if (!memcmp(d->excluded[i].hotkey, hotkey, 32)) return 1;
  return 0;
}

/* The candidates: the subnet's validators with a permit and stake, neither the provider nor
 * the challenger nor a member of an earlier round who did not reveal, in UID order, and their
 * total stake. */
static int candidates(ag_state *st, const ag_dispute *d, ag_member **out, size_t *np, unsigned __int128 *total) {
  ag_ist s = {st, NULL};
  ag_subnet sn;
  *out = NULL;
  *np = 0;
  *total = 0;
  int rc = ag_subnet_load(&s, d->netuid, &sn);
  if (rc) return rc;
  ag_member *pool = ag_xcalloc((size_t)sn.n + 1, sizeof *pool);
  for (uint16_t uid = 0; uid < sn.n; uid++) {
    ag_neuron ne;
    ag_hotkey_info hi;
    if (ag_neuron_load(&s, d->netuid, uid, &ne) || !ne.permit) continue;
    if (!memcmp(ne.hotkey, d->provider, 32) || !memcmp(ne.hotkey, d->challenger, 32) || excluded(d, ne.hotkey))
      continue;
    if (ag_hotkey_load(&s, ne.hotkey, &hi) || !hi.total_stake) continue;
    memcpy(pool[*np].hotkey, ne.hotkey, 32);
    pool[*np].stake = hi.total_stake;
    *total += hi.total_stake;
    (*np)++;
  }
  *out = pool;
  return 0;
}

/* Draws the committee at the end of the block after the round's start: k candidates sampled
 * without replacement with probability proportional to stake, from BLAKE2b-256("agora/committee",
 * the app hash committed by the start's block | this block's time | case id | j), k =
 * committee_size << round (at most 32). The challenger signs before either exists, so it cannot
 * choose its committee by choosing its block. No candidate left (all unstaked since) draws
 * none: the round decides nothing. */
static int draw_committee(ag_app *app, ag_state *st, const ag_economy_params *p, ag_dispute *d) {
  ag_member *pool;
  size_t np;
  unsigned __int128 total;
  int rc = candidates(st, d, &pool, &np, &total);
  if (rc) return rc;
  ag_app_info info;
  ag_app_info_get(app, &info);
  uint64_t t = ag_app_block_ctx(app)->time_ms;
  unsigned size = (unsigned)p->committee_size << d->round;
  if (size > AG_DISPUTE_MAX_COMMITTEE) size = AG_DISPUTE_MAX_COMMITTEE;
  d->k = 0;
  while (d->k < size && np > 0) {
    uint8_t in[80], h[32];
    memcpy(in, info.app_hash, 32);
    ag_put_u64le(in + 32, t);
    memcpy(in + 40, d->id, 32);
    ag_put_u64le(in + 72, (uint64_t)d->round << 32 | d->k);
    ag_hash("agora/committee", in, sizeof in, h);
    unsigned __int128 r = (((unsigned __int128)ag_get_u64le(h) << 64) | ag_get_u64le(h + 8)) % total;
    size_t i = 0;
    while (r >= pool[i].stake) r -= pool[i++].stake;
    d->m[d->k++] = pool[i];
    total -= pool[i].stake;
    pool[i] = pool[--np];
  }
  free(pool);
  return 0;
}

/* The end-of-block step that draws the committees of the cases opened in earlier blocks. */
static int draw_due(ag_app *app, ag_state *st, uint64_t h) {
  uint8_t(*ids)[32];
  uint64_t *opened;
  size_t n, kept = 0;
  int rc = id_list_load(st, NULL, AG_EKEY_DRAWS, &ids, &opened, &n), due = 0;
  for (size_t i = 0; !rc && i < n; i++) due |= opened[i] < h;
  ag_economy_params p;
  if (!rc && due) rc = ag_economy_params_load(st, NULL, &p);
  for (size_t i = 0; !rc && due && i < n; i++) {
    if (opened[i] >= h) { /* opened in this block: drawn at the end of the next */
      memmove(ids[kept], ids[i], 32);
      opened[kept++] = opened[i];
      continue;
    }
    ag_dispute d;
    if ((rc = ag_dispute_load(st, NULL, ids[i], &d))) break;
    if (!(rc = draw_committee(app, st, &p, &d))) dispute_store(st, &d);
    ag_dispute_free(&d);
  }
  if (!rc && due) id_list_store(st, AG_EKEY_DRAWS, ids, opened, kept);
  free(opened);
  free(ids);
  return rc;
}

/* ---- dispute_open ---------------------------------------------------------------------------------- */

static int open_validate(const ag_tx *tx) {
  if (tx->payload_len < 10) return ag_econ_require_len(tx, 10);
  if (!ag_get_u64le(tx->payload + 2)) return ag_fail(AG_E_DISPUTE_BOND, "a dispute must carry a bond");
  ag_evidence e;
  return ag_evidence_decode(tx->payload + 10, tx->payload_len - 10, &e);
}

static int open_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 2);
  return 0;
}

static int open_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_economy_params p;
  int rc = ag_economy_params_load(st, NULL, &p);
  if (rc) return rc;
  uint64_t h = ag_app_block_ctx(app)->height, bond = ag_get_u64le(tx->payload + 2);
  char a[32], b[32];
  if (bond < p.dispute_bond)
    return ag_fail(AG_E_DISPUTE_BOND, "a dispute carries at least %s AGR, not %s", ag_econ_agr(p.dispute_bond, a),
                   ag_econ_agr(bond, b));
  ag_evidence e;
  if ((rc = ag_evidence_decode(tx->payload + 10, tx->payload_len - 10, &e))) return rc;
  /* the window opens at the receipt's height, which the provider signed: a receipt dated ahead
   * of this block is inside its window already (waiting for it would only help the provider) */
  if (h > e.pay.height && h - e.pay.height > p.dispute_window)
    return ag_fail(AG_E_DISPUTE_WINDOW, "the receipt is from height %llu; this block is %llu and the window %llu blocks",
                   (unsigned long long)e.pay.height, (unsigned long long)h, (unsigned long long)p.dispute_window);
  ag_dispute d;
  memset(&d, 0, sizeof d);
  ag_dispute_id(&e, d.id);
  ag_dispute old;
  if (ag_dispute_load(st, NULL, d.id, &old) == 0) {
    ag_dispute_free(&old);
    return ag_fail(AG_E_DISPUTE_EXISTS, "that answer is disputed already");
  }
  ag_channel ch;
  if ((rc = ag_channel_load(st, NULL, e.pay.channel, &ch))) return rc;
  if (memcmp(ch.provider, e.hotkey, 32))
    return ag_fail(AG_E_DISPUTE_EVIDENCE, "the receipt's channel pays another provider");
  d.netuid = ag_get_u16le(tx->payload);
  ag_ist s = {st, NULL};
  ag_subnet_model sm;
  if (ag_subnet_model_load(&s, d.netuid, &sm) || sm.kind != AG_SUBNET_INFERENCE || !memcmp(ch.model, zero32, 32) ||
      memcmp(sm.model_id, ch.model, 32))
    return ag_fail(AG_E_DISPUTE_SUBNET, "inference subnet %u does not serve the channel's model", d.netuid);
  if ((rc = ag_evidence_verify(&e))) return rc;
  ag_bond bd;
  if ((rc = ag_bond_load(st, NULL, e.hotkey, &bd))) return rc;
  /* each open dispute holds its slash: a bond answers for as many faults as it covers */
  uint64_t avail = bd.bonded + bd.unbonding > bd.held ? bd.bonded + bd.unbonding - bd.held : 0;
  if (!avail)
    return ag_fail(AG_E_BOND_INSUFFICIENT, "the provider's bond is %s AGR, all of it held by %u open disputes",
                   ag_econ_agr(bd.bonded + bd.unbonding, a), bd.disputes);
  uint8_t(*ids)[32];
  uint64_t *ends;
  size_t n;
  if ((rc = open_list_load(st, NULL, &ids, &ends, &n))) return rc;
  if (n >= AG_DISPUTE_MAX_OPEN) {
    free(ends);
    free(ids);
    return ag_fail(AG_E_DISPUTES_FULL, "%d disputes are open; wait for one to end", AG_DISPUTE_MAX_OPEN);
  }
  d.status = AG_DISPUTE_OPEN;
  memcpy(d.challenger, tx->sender, 32);
  memcpy(d.provider, e.hotkey, 32);
  memcpy(d.channel, e.pay.channel, 32);
  memcpy(d.client, ch.client, 32);
  memcpy(d.model, ch.model, 32);
  ag_hash("agora/inftext", e.text, e.text_len, d.claimed);
  d.cost = e.pay.cost;
  d.bond = bond;
  d.opened = h;
  d.commit_end = h + 1 + p.commit_blocks; /* the committee is drawn in block h + 1 */
  d.reveal_end = d.commit_end + p.reveal_blocks;
  d.start = h;
  ag_member *pool;
  size_t np;
  unsigned __int128 total;
  if (!(rc = candidates(st, &d, &pool, &np, &total)) && !np)
    rc = ag_fail(AG_E_DISPUTE_COMMITTEE, "subnet %u has no validator with a permit and stake "
                                         "(besides the parties) to judge", d.netuid);
  free(pool);
  uint8_t(*dids)[32] = NULL;
  uint64_t *dopened = NULL;
  size_t dn = 0;
  if (!rc) rc = id_list_load(st, NULL, AG_EKEY_DRAWS, &dids, &dopened, &dn);
  if (!rc) rc = ag_account_debit(st, tx->sender, bond);
  if (rc) {
    free(dopened);
    free(dids);
    free(ends);
    free(ids);
    return rc;
  }
  memcpy(dids[dn], d.id, 32);
  dopened[dn++] = h;
  id_list_store(st, AG_EKEY_DRAWS, dids, dopened, dn);
  free(dopened);
  free(dids);
  d.held = avail < p.slash_amount ? avail : p.slash_amount;
  bd.disputes++;
  bd.held += d.held;
  ag_econ_bond_store(st, &bd);
  d.evidence = (uint8_t *)tx->payload + 10;
  d.evidence_len = tx->payload_len - 10;
  dispute_store(st, &d);
  memcpy(ids[n], d.id, 32);
  ends[n++] = d.reveal_end;
  id_list_store(st, AG_EKEY_DISPUTES, ids, ends, n);
  free(ends);
  free(ids);
  return 0;
}

static json_t *open_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "bond", ag_json_u64s(ag_get_u64le(tx->payload + 2)));
  ag_evidence e;
  if (ag_evidence_decode(tx->payload + 10, tx->payload_len - 10, &e) == 0) {
    uint8_t id[32];
    ag_dispute_id(&e, id);
    json_object_set_new(o, "dispute", ag_json_hex(id, 32));
    json_object_set_new(o, "provider", ag_json_addr(e.hotkey));
    json_object_set_new(o, "channel", ag_json_hex(e.pay.channel, 32));
    json_object_set_new(o, "seq", ag_json_u64s(e.pay.seq));
    json_object_set_new(o, "cost", ag_json_u64s(e.pay.cost));
  }
  return o;
}

/* ---- commit and reveal ----------------------------------------------------------------------------- */

static int member_of(ag_app *app, const ag_tx *tx, ag_dispute *d, ag_member **m) {
  int rc = ag_dispute_load(ag_app_state(app), NULL, tx->payload, d);
  if (rc) return rc;
  *m = NULL;
  for (int i = 0; i < d->k; i++)
    if (!memcmp(d->m[i].hotkey, tx->sender, 32)) *m = &d->m[i];
  if (d->status != AG_DISPUTE_OPEN) rc = ag_fail(AG_E_DISPUTE_PHASE, "the dispute is %s", ag_dispute_status_name(d->status));
  else if (!d->k && ag_app_block_ctx(app)->height <= d->start + 1)
    rc = ag_fail(AG_E_DISPUTE_PHASE, "the committee is drawn at the end of block %llu",
                 (unsigned long long)d->start + 1);
  else if (!*m) rc = ag_fail(AG_E_DISPUTE_MEMBER, "the signer is not on this dispute's committee");
  if (rc) ag_dispute_free(d);
  return rc;
}

static int commit_validate(const ag_tx *tx) { return ag_econ_require_len(tx, 64); }

static int commit_apply(ag_app *app, const ag_tx *tx) {
  ag_dispute d;
  ag_member *m;
  int rc = member_of(app, tx, &d, &m);
  if (rc) return rc;
  uint64_t h = ag_app_block_ctx(app)->height;
  if (h > d.commit_end)
    rc = ag_fail(AG_E_DISPUTE_PHASE, "the commit phase ended at height %llu", (unsigned long long)d.commit_end);
  else if (m->flags & AG_MEMBER_COMMITTED)
    rc = ag_fail(AG_E_DISPUTE_PHASE, "this member has committed already");
  if (!rc) {
    memcpy(m->commit, tx->payload + 32, 32);
    m->flags |= AG_MEMBER_COMMITTED;
    dispute_store(ag_app_state(app), &d);
  }
  ag_dispute_free(&d);
  return rc;
}

static int reveal_validate(const ag_tx *tx) { return ag_econ_require_len(tx, 128); }

static int reveal_apply(ag_app *app, const ag_tx *tx) {
  ag_dispute d;
  ag_member *m;
  int rc = member_of(app, tx, &d, &m);
  if (rc) return rc;
  uint64_t h = ag_app_block_ctx(app)->height;
  uint8_t c[32];
  ag_dispute_commit_hash(d.id, tx->sender, tx->payload + 32, tx->payload + 64, tx->payload + 96, c);
  if (h <= d.commit_end || h > d.reveal_end)
    rc = ag_fail(AG_E_DISPUTE_PHASE, "reveals are taken at heights %llu..%llu, not %llu",
                 (unsigned long long)d.commit_end + 1, (unsigned long long)d.reveal_end, (unsigned long long)h);
  else if (!(m->flags & AG_MEMBER_COMMITTED))
    rc = ag_fail(AG_E_DISPUTE_PHASE, "this member did not commit");
  else if (m->flags & AG_MEMBER_REVEALED)
    rc = ag_fail(AG_E_DISPUTE_PHASE, "this member has revealed already");
  else if (memcmp(c, m->commit, 32))
    rc = ag_fail(AG_E_DISPUTE_REVEAL, "the vote and salt do not hash to the commit");
  if (!rc) {
    memcpy(m->vote, tx->payload + 32, 32);
    memcpy(m->work, tx->payload + 64, 32);
    m->flags |= AG_MEMBER_REVEALED;
    dispute_store(ag_app_state(app), &d);
  }
  ag_dispute_free(&d);
  return rc;
}

static json_t *vote_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "dispute", ag_json_hex(tx->payload, 32));
  if (tx->payload_len == 64) json_object_set_new(o, "commit", ag_json_hex(tx->payload + 32, 32));
  if (tx->payload_len == 128) {
    json_object_set_new(o, "vote", ag_json_hex(tx->payload + 32, 32));
    json_object_set_new(o, "work", ag_json_hex(tx->payload + 64, 32));
  }
  return o;
}

/* ---- resolution ------------------------------------------------------------------------------------ */

static uint64_t bps_of(uint64_t v, uint16_t bps) { return (uint64_t)(((unsigned __int128)v * bps) / 10000); }

static int voted_verdict(const ag_dispute *d, int i) {
  return (d->m[i].flags & AG_MEMBER_REVEALED) && !memcmp(d->m[i].vote, d->verdict, 32);
}

/* The work the members who revealed the verdict agree on: the value the most of them revealed,
 * then the most stake, then the lowest bytes. Members who ran the model all find the same; one
 * who copied the verdict without running it cannot. -1 when none revealed the verdict. */
static int reference_work(const ag_dispute *d) {
  int best = -1, bn = 0;
  unsigned __int128 bs = 0;
  for (int i = 0; i < d->k; i++) {
    if (!voted_verdict(d, i)) continue;
    int n = 0;
    unsigned __int128 st = 0;
    for (int j = 0; j < d->k; j++)
      if (voted_verdict(d, j) && !memcmp(d->m[j].work, d->m[i].work, 32)) n++, st += d->m[j].stake;
    if (best < 0 || n > bn || (n == bn && st > bs) ||
        (n == bn && st == bs && memcmp(d->m[i].work, d->m[best].work, 32) < 0))
      best = i, bn = n, bs = st;
  }
  return best;
}

/* Pays amount in equal parts to the members who revealed the verdict with the reference work;
 * returns what was paid (the remainder of the division is the caller's to burn). */
static int pay_members(ag_state *st, ag_dispute *d, uint64_t amount, uint64_t *paid) {
  *paid = 0;
  int ref = reference_work(d), n = 0;
  uint8_t work[32];
  if (ref < 0 || !amount) return 0;
  memcpy(work, d->m[ref].work, 32);
  for (int i = 0; i < d->k; i++) n += voted_verdict(d, i) && !memcmp(d->m[i].work, work, 32);
  uint64_t each = amount / (uint64_t)n;
  for (int i = 0; i < d->k && each; i++) {
    ag_member *m = &d->m[i];
    if (!voted_verdict(d, i) || memcmp(m->work, work, 32)) continue;
    int rc = ag_account_credit(st, m->hotkey, each);
    if (rc) return rc;
    m->paid = each;
    *paid += each;
  }
  return 0;
}

/* A round without a verdict (no vote with 2/3 of its committee's stake and more than the
 * excluded members' stake) starts another, up
 * to AG_DISPUTE_ROUNDS: the members who did not reveal are excluded from the case, and a
 * committee twice as large is drawn at the end of the next block, so a member that holds more
 * than a third of one committee's stake cannot make the case undecided by its silence. Sets
 * *went when it did; not when no candidate is left. */
static int escalate(ag_state *st, const ag_economy_params *p, ag_dispute *d, uint64_t h, int *went) {
  *went = 0;
  if (d->round + 1 >= AG_DISPUTE_ROUNDS) return 0;
  uint8_t nx = d->nx;
  for (int i = 0; i < d->k && d->nx < AG_DISPUTE_MAX_EXCLUDED; i++)
    if (!(d->m[i].flags & AG_MEMBER_REVEALED) && !excluded(d, d->m[i].hotkey)) {
      memcpy(d->excluded[d->nx].hotkey, d->m[i].hotkey, 32);
      d->excluded[d->nx++].stake = d->m[i].stake;
    }
  ag_member *pool;
  size_t np;
  unsigned __int128 total;
  int rc = candidates(st, d, &pool, &np, &total);
  free(pool);
  if (rc || !np) {
    d->nx = nx;
    return rc;
  }
  uint8_t(*ids)[32];
  uint64_t *opened;
  size_t n;
  if ((rc = id_list_load(st, NULL, AG_EKEY_DRAWS, &ids, &opened, &n))) return rc;
  memcpy(ids[n], d->id, 32);
  opened[n++] = h;
  id_list_store(st, AG_EKEY_DRAWS, ids, opened, n);
  free(opened);
  free(ids);
  d->round++;
  d->start = h;
  d->k = 0;
  d->commit_end = h + 1 + p->commit_blocks;
  d->reveal_end = d->commit_end + p->reveal_blocks;
  dispute_store(st, d);
  *went = 1;
  return 0;
}

static int resolve(ag_app *app, ag_state *st, const ag_economy_params *p, ag_dispute *d) {
  /* the vote with the most revealed stake, against all the committee's stake; and, once
   * silent members were excluded, more stake than all of theirs, so that silencing the others
   * (bribes, or an attack on their nodes) does not leave a small member to decide alone */
  unsigned __int128 total = 0, best = 0, silent = 0;
  int bi = -1;
  for (int i = 0; i < d->k; i++) total += d->m[i].stake;
  for (int i = 0; i < d->nx; i++) silent += d->excluded[i].stake;
  for (int i = 0; i < d->k; i++) {
    if (!(d->m[i].flags & AG_MEMBER_REVEALED)) continue;
    unsigned __int128 s = 0;
    for (int j = 0; j < d->k; j++)
      if ((d->m[j].flags & AG_MEMBER_REVEALED) && !memcmp(d->m[j].vote, d->m[i].vote, 32)) s += d->m[j].stake;
    if (s > best) best = s, bi = i;
  }
  int rc = 0, went = 0, decided = bi >= 0 && 3 * best >= 2 * total && best > silent;
  if (!decided &&
      ((rc = escalate(st, p, d, ag_app_block_ctx(app)->height, &went)) || went))
    return rc;
  uint64_t paid = 0;
  ag_bond bd;
  if ((rc = ag_bond_load(st, NULL, d->provider, &bd))) return rc;
  if (bd.disputes) bd.disputes--;
  bd.held = bd.held > d->held ? bd.held - d->held : 0;
  if (!decided) { /* no verdict in the last round: the bond goes back */
    d->status = AG_DISPUTE_UNDECIDED;
    rc = ag_account_credit(st, d->challenger, d->bond);
  } else if (memcpy(d->verdict, d->m[bi].vote, 32), !memcmp(d->verdict, d->claimed, 32)) {
    /* the provider's answer is the model's: the challenger's bond pays the agreeing members */
    d->status = AG_DISPUTE_CLEARED;
    bd.cleared++;
    rc = pay_members(st, d, d->bond, &paid);
    d->committee_paid = paid;
    d->burned = d->bond - paid;
  } else { /* a fault: the slash refunds the client, rewards the challenger and the members */
    d->status = AG_DISPUTE_FAULT;
    bd.faults++;
    uint64_t take = d->held, from_bonded = take < bd.bonded ? take : bd.bonded;
    bd.bonded -= from_bonded;
    uint64_t from_unbonding = take - from_bonded < bd.unbonding ? take - from_bonded : bd.unbonding;
    bd.unbonding -= from_unbonding;
    d->slashed = from_bonded + from_unbonding;
    d->refund = d->cost < d->slashed ? d->cost : d->slashed;
    uint64_t rest = d->slashed - d->refund;
    d->reward = bps_of(rest, p->challenger_bps);
    if (!rc && d->refund) rc = ag_account_credit(st, d->client, d->refund);
    if (!rc) rc = ag_account_credit(st, d->challenger, d->reward + d->bond);
    if (!rc) rc = pay_members(st, d, bps_of(rest, p->committee_bps), &paid);
    d->committee_paid = paid;
    d->burned = rest - d->reward - paid;
  }
  if (rc) return rc;
  if (d->burned) ag_app_burn(app, d->burned);
  ag_econ_bond_store(st, &bd);
  ag_dispute_free(d); /* the evidence has served */
  d->evidence_len = 0;
  dispute_store(st, d);
  return 0;
}

int ag_economy_end_block(ag_app *app, void *ctx) {
  (void)ctx;
  ag_state *st = ag_app_state(app);
  uint8_t(*ids)[32] = NULL;
  uint64_t *ends = NULL, h = ag_app_block_ctx(app)->height;
  size_t n = 0, kept = 0;
  int rc = draw_due(app, st, h), due = 0;
  if (!rc) rc = open_list_load(st, NULL, &ids, &ends, &n);
  for (size_t i = 0; !rc && i < n; i++) due |= h >= ends[i];
  ag_economy_params p;
  if (!rc && due) rc = ag_economy_params_load(st, NULL, &p);
  for (size_t i = 0; !rc && due && i < n; i++) {
    if (h < ends[i]) { /* not yet: only its index entry is read */
      memmove(ids[kept], ids[i], 32);
      ends[kept++] = ends[i];
      continue;
    }
    ag_dispute d;
    if ((rc = ag_dispute_load(st, NULL, ids[i], &d))) break;
    rc = resolve(app, st, &p, &d);
    if (!rc && d.status == AG_DISPUTE_OPEN) { /* judged again: due at its new reveal_end */
      memmove(ids[kept], ids[i], 32);
      ends[kept++] = d.reveal_end;
    }
    ag_dispute_free(&d);
  }
  if (!rc && due) id_list_store(st, AG_EKEY_DISPUTES, ids, ends, kept);
  free(ends);
  free(ids);
  return rc;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_DISPUTE_OPEN, "dispute_open", open_validate, open_spend, open_apply, open_json},
    {AG_TX_DISPUTE_COMMIT, "dispute_commit", commit_validate, ag_econ_no_spend, commit_apply, vote_json},
    {AG_TX_DISPUTE_REVEAL, "dispute_reveal", reveal_validate, ag_econ_no_spend, reveal_apply, vote_json},
};

void ag_economy_dispute_kinds(void) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) ag_tx_kind_register(&kinds[i]);
}
