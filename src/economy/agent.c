/*
 * agent.c — agent keys (docs/agents.md): a key an account authorises to sign txs for it within
 * limits the chain enforces. The account (its coldkey) sets a key's terms: expiry, the tx
 * kinds it may run, the recipients it may pay, a ceiling per tx, a cap per fixed window of
 * blocks, a lifetime cap and a fee cap. The key signs `agent_exec` txs with its own nonce; the
 * account pays. What every such tx takes from the account (its fee, and whatever its action
 * takes from the balance: transfers, stake, channel deposits and top-ups, bonds, registration
 * burns, dispute bonds) counts against every cap, measured as the balance's fall, so no kind's
 * way of moving value can slip past. The fee is checked before it is taken (a key past a cap
 * cannot even pay fees); the action's outflow after it runs (past a cap, it is rolled back).
 */
#include "economy/internal.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1
#define KEY_FIXED (2 + 8 * 13 + 1) /* through n */
#define SET_FIXED (32 + 1 + 8 * 8 + 1)

/* The kinds an agent key may be granted: what a buyer, staker or serving neuron does. Never
 * key management (45..48), subnet or model administration, takes, or share transfers (value
 * the balance does not show). */
#define GRANTABLE                                                                                  \
  ((1ULL << AG_TX_TRANSFER) | (1ULL << AG_TX_MULTI_TRANSFER) | (1ULL << AG_TX_STAKE_ADD) |        \
   (1ULL << AG_TX_STAKE_REMOVE) | (1ULL << AG_TX_REGISTER) | (1ULL << AG_TX_SERVE) |               \
   (1ULL << AG_TX_SET_WEIGHTS) | (1ULL << AG_TX_COMMIT_WEIGHTS) | (1ULL << AG_TX_REVEAL_WEIGHTS) | \
   (1ULL << AG_TX_CHANNEL_OPEN) | (1ULL << AG_TX_CHANNEL_FUND) | (1ULL << AG_TX_CHANNEL_CLAIM) |   \
   (1ULL << AG_TX_CHANNEL_CLOSE) | (1ULL << AG_TX_OFFER_POST) | (1ULL << AG_TX_OFFER_REMOVE) |     \
   (1ULL << AG_TX_BOND_UNBOND) | (1ULL << AG_TX_BOND_WITHDRAW) | (1ULL << AG_TX_DISPUTE_OPEN) |    \
   (1ULL << AG_TX_DISPUTE_COMMIT) | (1ULL << AG_TX_DISPUTE_REVEAL) | (1ULL << AG_TX_CHANNEL_CLAIMS))

uint64_t ag_agent_grantable(void) { return GRANTABLE; }

static int grantable(uint16_t kind) { return kind < 64 && (GRANTABLE >> kind & 1); }

/* ---- records: "e" 'k' | account | agent -> the key; "e" 'K' | account -> frozen u8 | n u8 |
 * n × agent[32] ------------------------------------------------------------------------------ */

static int key_decode(const uint8_t *p, size_t n, ag_agent_key *k) {
  if (n < KEY_FIXED || p[0] != REC_VERSION || p[KEY_FIXED - 1] > AG_AGENT_MAX_RCPT ||
      n != KEY_FIXED + 32u * p[KEY_FIXED - 1])
    return ag_fail(AG_E_CORRUPT, "bad agent key record");
  ag_agent_terms *t = &k->terms;
  t->flags = p[1];
  uint64_t *v[] = {&t->kinds,      &t->expires,      &t->anchor,       &t->period,     &t->max_per_tx,
                   &t->period_cap, &t->lifetime_cap, &t->fee_cap,      &k->created,    &k->period_idx,
                   &k->period_spent, &k->lifetime_spent, &k->fee_spent};
  for (int i = 0; i < 13; i++) *v[i] = ag_get_u64le(p + 2 + 8 * i);
  t->n = p[KEY_FIXED - 1];
  memcpy(t->rcpt, p + KEY_FIXED, 32u * t->n);
  return 0;
}

int ag_agent_key_load(ag_state *st, ag_state_view *view, const uint8_t account[32], const uint8_t agent[32],
                      ag_agent_key *out) {
  memset(out, 0, sizeof *out);
  uint8_t k[66];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_AGENT, account, agent), &b);
  if (rc == AG_E_NOTFOUND)
    rc = ag_fail(AG_E_AGENT_UNKNOWN, "the account has no such agent key (never authorised, or revoked)");
  else if (!rc) rc = key_decode(b.data, b.len, out);
  if (!rc) {
    memcpy(out->account, account, 32);
    memcpy(out->agent, agent, 32);
  }
  ag_buf_free(&b);
  return rc;
}

static void key_store(ag_state *st, const ag_agent_key *k) {
  uint8_t key[66], v[KEY_FIXED + 32 * AG_AGENT_MAX_RCPT];
  const ag_agent_terms *t = &k->terms;
  v[0] = REC_VERSION;
  v[1] = t->flags;
  uint64_t f[] = {t->kinds,       t->expires, t->anchor,  t->period,      t->max_per_tx,
                  t->period_cap,  t->lifetime_cap, t->fee_cap, k->created, k->period_idx,
                  k->period_spent, k->lifetime_spent, k->fee_spent};
  for (int i = 0; i < 13; i++) ag_put_u64le(v + 2 + 8 * i, f[i]);
  v[KEY_FIXED - 1] = t->n;
  memcpy(v + KEY_FIXED, t->rcpt, 32u * t->n);
  ag_state_put(st, key, ag_econ_key(key, AG_EKEY_AGENT, k->account, k->agent), v, KEY_FIXED + 32u * t->n);
}

int ag_agent_index_load(ag_state *st, ag_state_view *view, const uint8_t account[32], ag_agent_index *out) {
  memset(out, 0, sizeof *out);
  uint8_t k[34];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_AGENTS, account, NULL), &b);
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc && (b.len < 2 || b.data[0] > 1 || b.data[1] > AG_AGENT_MAX_KEYS || b.len != 2 + 32u * b.data[1]))
    rc = ag_fail(AG_E_CORRUPT, "bad agent index record");
  else if (!rc) {
    out->frozen = b.data[0];
    out->n = b.data[1];
    memcpy(out->agent, b.data + 2, 32u * out->n);
  }
  ag_buf_free(&b);
  return rc;
}

static void index_store(ag_state *st, const uint8_t account[32], const ag_agent_index *x) {
  uint8_t k[34], v[2 + 32 * AG_AGENT_MAX_KEYS];
  ag_econ_key(k, AG_EKEY_AGENTS, account, NULL);
  if (!x->frozen && !x->n) {
    ag_state_del(st, k, sizeof k);
    return;
  }
  v[0] = x->frozen;
  v[1] = x->n;
  memcpy(v + 2, x->agent, 32u * x->n);
  ag_state_put(st, k, sizeof k, v, 2 + 32u * x->n);
}

/* ---- caps ----------------------------------------------------------------------------------- */

/* The window height h falls in, and what the key spent in it so far. */
static uint64_t window_spent(const ag_agent_key *k, uint64_t h, uint64_t *idx) {
  *idx = (h - k->terms.anchor) / k->terms.period;
  return *idx == k->period_idx ? k->period_spent : 0;
}

int ag_agent_remaining(const ag_agent_key *k, uint64_t h, ag_agent_room *r) {
  uint64_t idx, ws = h >= k->terms.anchor ? window_spent(k, h, &idx) : 0;
  const ag_agent_terms *t = &k->terms;
  r->per_tx = t->max_per_tx;
  r->period = t->period_cap > ws ? t->period_cap - ws : 0;
  r->lifetime = t->lifetime_cap > k->lifetime_spent ? t->lifetime_cap - k->lifetime_spent : 0;
  r->fee = t->fee_cap > k->fee_spent ? t->fee_cap - k->fee_spent : 0;
  return 0;
}

/* May the key spend `amount` more at height h, `tx_total` being all this tx takes with it? */
static int within_caps(const ag_agent_key *k, uint64_t h, uint64_t amount, uint64_t tx_total, uint64_t fee) {
  const ag_agent_terms *t = &k->terms;
  char a[32], b[32];
  uint64_t idx, ws = window_spent(k, h, &idx), sum;
  if (tx_total > t->max_per_tx)
    return ag_fail(AG_E_AGENT_TX_LIMIT, "the tx takes %s AGR; the key's limit per tx is %s AGR",
                   ag_econ_agr(tx_total, a), ag_econ_agr(t->max_per_tx, b));
  if (ag_add_u64(ws, amount, &sum) || sum > t->period_cap)
    return ag_fail(AG_E_AGENT_PERIOD_CAP, "the key spent %s AGR in this window of %llu blocks; its cap is %s AGR",
                   ag_econ_agr(ws, a), (unsigned long long)t->period, ag_econ_agr(t->period_cap, b));
  if (ag_add_u64(k->lifetime_spent, amount, &sum) || sum > t->lifetime_cap)
    return ag_fail(AG_E_AGENT_LIFETIME_CAP, "the key spent %s AGR in all; its lifetime cap is %s AGR",
                   ag_econ_agr(k->lifetime_spent, a), ag_econ_agr(t->lifetime_cap, b));
  if (ag_add_u64(k->fee_spent, fee, &sum) || sum > t->fee_cap)
    return ag_fail(AG_E_AGENT_FEE_CAP, "the key paid %s AGR of fees; its fee cap is %s AGR",
                   ag_econ_agr(k->fee_spent, a), ag_econ_agr(t->fee_cap, b));
  return 0;
}

/* Counts amount (and fee, of it) against every cap; within_caps passed. */
static void charge(ag_agent_key *k, uint64_t h, uint64_t amount, uint64_t fee) {
  uint64_t idx, ws = window_spent(k, h, &idx);
  k->period_idx = idx;
  k->period_spent = ws + amount;
  k->lifetime_spent += amount;
  k->fee_spent += fee;
}

/* ---- agent_key_set: agent[32] | flags u8 | kinds u64 | expires u64 | anchor u64 | period u64 |
 * max_per_tx u64 | period_cap u64 | lifetime_cap u64 | fee_cap u64 | n u8 | n × rcpt[32] ---- */

void ag_payload_agent_key_set(ag_buf *out, const uint8_t agent[32], const ag_agent_terms *t) {
  ag_buf_put(out, agent, 32);
  ag_buf_put_u8(out, t->flags);
  uint64_t f[] = {t->kinds, t->expires, t->anchor, t->period, t->max_per_tx, t->period_cap, t->lifetime_cap, t->fee_cap};
  for (int i = 0; i < 8; i++) ag_buf_put_u64le(out, f[i]);
  ag_buf_put_u8(out, t->n);
  ag_buf_put(out, t->rcpt, 32u * t->n);
}

static void set_decode(const ag_tx *tx, ag_agent_terms *t) {
  const uint8_t *p = tx->payload + 32;
  memset(t, 0, sizeof *t);
  t->flags = p[0];
  uint64_t *f[] = {&t->kinds, &t->expires, &t->anchor, &t->period, &t->max_per_tx, &t->period_cap, &t->lifetime_cap, &t->fee_cap};
  for (int i = 0; i < 8; i++) *f[i] = ag_get_u64le(p + 1 + 8 * i);
  t->n = p[65];
  memcpy(t->rcpt, p + 66, 32u * t->n);
}

static int set_validate(const ag_tx *tx) {
  if (tx->payload_len < SET_FIXED || tx->payload[SET_FIXED - 1] > AG_AGENT_MAX_RCPT ||
      tx->payload_len != SET_FIXED + 32u * tx->payload[SET_FIXED - 1])
    return ag_fail(AG_E_TX_PAYLOAD, "agent_key_set payload is %u bytes: 98 + 32 per recipient, at most %d",
                   tx->payload_len, AG_AGENT_MAX_RCPT);
  ag_agent_terms t;
  set_decode(tx, &t);
  if (t.flags & ~AG_AGENT_ANY_PROVIDER) return ag_fail(AG_E_AGENT_TERMS, "unknown agent key flags %#x", t.flags);
  if (!t.kinds || (t.kinds & ~GRANTABLE))
    return ag_fail(AG_E_AGENT_TERMS, "kinds %#llx: at least one, and only kinds an agent key may run (%#llx)",
                   (unsigned long long)t.kinds, (unsigned long long)GRANTABLE);
  if (!t.period) return ag_fail(AG_E_AGENT_TERMS, "a period of 0 blocks");
  if (t.expires <= t.anchor) return ag_fail(AG_E_AGENT_TERMS, "the key expires before its first window starts");
  for (int i = 0; i < t.n; i++)
    for (int j = i + 1; j < t.n; j++)
      if (!memcmp(t.rcpt[i], t.rcpt[j], 32)) return ag_fail(AG_E_AGENT_TERMS, "recipient %d is listed twice", j);
  return 0;
}

static int set_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  uint64_t h = ag_app_block_ctx(app)->height;
  const uint8_t *agent = tx->payload;
  ag_agent_terms t;
  set_decode(tx, &t);
  if (!memcmp(agent, tx->sender, 32)) return ag_fail(AG_E_AGENT_TERMS, "an account cannot be its own agent key");
  if (t.expires <= h)
    return ag_fail(AG_E_AGENT_TERMS, "the key would expire at height %llu; this block is %llu",
                   (unsigned long long)t.expires, (unsigned long long)h);
  ag_agent_key k;
  int rc = ag_agent_key_load(st, NULL, tx->sender, agent, &k);
  if (rc == 0) {
    /* the same terms again are a no-op (a retried authorisation must not fail); new terms
     * replace the old and keep what the key spent */
    k.terms = t;
    key_store(st, &k);
    return 0;
  }
  if (rc != AG_E_AGENT_UNKNOWN) return rc;
  ag_agent_index x;
  if ((rc = ag_agent_index_load(st, NULL, tx->sender, &x))) return rc;
  if (x.n >= AG_AGENT_MAX_KEYS)
    return ag_fail(AG_E_AGENT_KEYS_FULL, "the account has %d agent keys; revoke one first", AG_AGENT_MAX_KEYS);
  memcpy(x.agent[x.n++], agent, 32);
  index_store(st, tx->sender, &x);
  memset(&k, 0, sizeof k);
  memcpy(k.account, tx->sender, 32);
  memcpy(k.agent, agent, 32);
  k.terms = t;
  k.created = h;
  key_store(st, &k);
  return 0;
}

static json_t *terms_json(const ag_agent_terms *t) {
  json_t *o = json_object(), *ks = json_array(), *rs = json_array();
  for (int i = 0; i < 64; i++)
    if (t->kinds >> i & 1) json_array_append_new(ks, json_string(ag_tx_kind_name((uint16_t)i)));
  for (int i = 0; i < t->n; i++) json_array_append_new(rs, ag_json_addr(t->rcpt[i]));
  json_object_set_new(o, "kinds", ks);
  json_object_set_new(o, "recipients", rs);
  json_object_set_new(o, "any_provider", json_boolean(t->flags & AG_AGENT_ANY_PROVIDER));
  json_object_set_new(o, "expires", ag_json_u64n(t->expires));
  json_object_set_new(o, "anchor", ag_json_u64n(t->anchor));
  json_object_set_new(o, "period", ag_json_u64n(t->period));
  json_object_set_new(o, "max_per_tx", ag_json_u64s(t->max_per_tx));
  json_object_set_new(o, "period_cap", ag_json_u64s(t->period_cap));
  json_object_set_new(o, "lifetime_cap", ag_json_u64s(t->lifetime_cap));
  json_object_set_new(o, "fee_cap", ag_json_u64s(t->fee_cap));
  return o;
}

static json_t *set_json(const ag_tx *tx) {
  ag_agent_terms t;
  set_decode(tx, &t);
  json_t *o = terms_json(&t);
  json_object_set_new(o, "agent", ag_json_addr(tx->payload));
  return o;
}

json_t *ag_json_agent_key(const ag_agent_key *k, uint64_t height) {
  json_t *o = terms_json(&k->terms);
  json_object_set_new(o, "agent", ag_json_addr(k->agent));
  json_object_set_new(o, "created", ag_json_u64n(k->created));
  json_object_set_new(o, "lifetime_spent", ag_json_u64s(k->lifetime_spent));
  json_object_set_new(o, "fee_spent", ag_json_u64s(k->fee_spent));
  ag_agent_room r;
  ag_agent_remaining(k, height + 1, &r);
  json_object_set_new(o, "period_spent",
                      ag_json_u64s(k->terms.period_cap > r.period ? k->terms.period_cap - r.period : 0));
  json_t *rem = json_object();
  json_object_set_new(rem, "period", ag_json_u64s(r.period));
  json_object_set_new(rem, "lifetime", ag_json_u64s(r.lifetime));
  json_object_set_new(rem, "fee", ag_json_u64s(r.fee));
  json_object_set_new(o, "remaining", rem);
  const char *state = height + 1 < k->terms.anchor ? "inactive" : height + 1 >= k->terms.expires ? "expired" : "active";
  json_object_set_new(o, "state", json_string(state));
  return o;
}

/* ---- agent_key_revoke: account[32] | agent[32], by the account or the key itself ------------ */

static int revoke_validate(const ag_tx *tx) { return ag_econ_require_len(tx, 64); }

/* The key revoking itself has no balance: its account pays, once (the key is gone after). */
static int revoke_payer(ag_app *app, int mode, const ag_tx *tx, uint8_t out[32]) {
  if (memcmp(tx->sender, tx->payload + 32, 32)) return 0; /* the account itself: it pays */
  if (mode == AG_PAYER_CHARGE) return memcpy(out, tx->payload, 32), 0;
  ag_state *st = ag_app_state(app);
  ag_state_view *v = NULL;
  int rc = mode == AG_PAYER_CHECK ? ag_state_view_open(st, &v) : 0;
  ag_agent_key k;
  if (!rc) rc = ag_agent_key_load(st, v, tx->payload, tx->payload + 32, &k);
  ag_state_view_close(v);
  if (!rc) memcpy(out, tx->payload, 32);
  return rc;
}

static int revoke_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  const uint8_t *account = tx->payload, *agent = tx->payload + 32;
  if (memcmp(tx->sender, account, 32) && memcmp(tx->sender, agent, 32))
    return ag_fail(AG_E_AGENT_AUTH, "only the account or the agent key itself revokes it");
  ag_agent_key k;
  int rc = ag_agent_key_load(st, NULL, account, agent, &k);
  ag_agent_index x;
  if (!rc) rc = ag_agent_index_load(st, NULL, account, &x);
  if (rc) return rc;
  for (int i = 0; i < x.n; i++)
    if (!memcmp(x.agent[i], agent, 32)) {
      memmove(x.agent[i], x.agent[i + 1], 32u * (x.n - i - 1));
      x.n--;
      break;
    }
  index_store(st, account, &x);
  uint8_t key[66];
  ag_state_del(st, key, ag_econ_key(key, AG_EKEY_AGENT, account, agent));
  return 0;
}

static json_t *revoke_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "account", ag_json_addr(tx->payload));
  json_object_set_new(o, "agent", ag_json_addr(tx->payload + 32));
  return o;
}

/* ---- agent_freeze: frozen u8 (1 freeze, 0 thaw), by the account ------------------------------ */

static int freeze_validate(const ag_tx *tx) {
  int rc = ag_econ_require_len(tx, 1);
  if (!rc && tx->payload[0] > 1) rc = ag_fail(AG_E_TX_PAYLOAD, "agent_freeze takes 1 (freeze) or 0 (thaw)");
  return rc;
}

static int freeze_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_agent_index x;
  int rc = ag_agent_index_load(st, NULL, tx->sender, &x);
  if (rc) return rc;
  x.frozen = tx->payload[0];
  index_store(st, tx->sender, &x);
  return 0;
}

static json_t *freeze_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "frozen", json_boolean(tx->payload[0]));
  return o;
}

/* ---- agent_exec: account[32] | kind u16 | payload: the action the key signs for the account -- */

void ag_payload_agent_exec(ag_buf *out, const uint8_t account[32], uint16_t kind, const uint8_t *payload,
                           size_t len) {
  ag_buf_put(out, account, 32);
  ag_buf_put_u16le(out, kind);
  ag_buf_put(out, payload, len);
}

/* The action as a tx of its own kind from the account, signed (as far as it knows) by it. */
static void inner_of(const ag_tx *tx, ag_tx *in) {
  *in = *tx;
  in->kind = ag_get_u16le(tx->payload + 32);
  memcpy(in->sender, tx->payload, 32);
  in->payload = tx->payload + 34;
  in->payload_len = tx->payload_len - 34;
  in->agent = tx->sender;
}

static int exec_validate(const ag_tx *tx) {
  if (tx->payload_len < 34) return ag_fail(AG_E_TX_PAYLOAD, "agent_exec payload is shorter than 34 bytes");
  ag_tx in;
  inner_of(tx, &in);
  if (!grantable(in.kind))
    return ag_fail(AG_E_AGENT_KIND, "an agent key can never run a %s tx", ag_tx_kind_name(in.kind));
  if (!memcmp(in.sender, tx->sender, 32)) return ag_fail(AG_E_AGENT_TERMS, "an account cannot be its own agent key");
  const ag_tx_kind *k = ag_tx_kind_find(in.kind);
  if (!k) return ag_fail(AG_E_TX_KIND, "unknown kind %u", in.kind);
  return k->validate(&in);
}

/* the action's own */
static uint64_t exec_fee_units(const uint8_t *payload, size_t len) {
  return len >= 34 ? ag_tx_fee_units(ag_get_u16le(payload + 32), payload + 34, len - 34) : 1;
}

static int exec_spend(const ag_tx *tx, uint64_t *amount) {
  ag_tx in;
  inner_of(tx, &in);
  return ag_tx_kind_find(in.kind)->spend(&in, amount);
}

static int exec_spend(const ag_tx *tx, uint64_t *amount);

/* The key may pay this tx's fee from the account: it exists, is live, may run the kind, and
 * the fee with what the action declares it takes (its spend: what check_tx reserves) fits
 * every cap, so a tx bound to be refused costs nothing. */
static int exec_payer(ag_app *app, int mode, const ag_tx *tx, uint8_t out[32]) {
  ag_state *st = ag_app_state(app);
  ag_state_view *v = NULL;
  int rc = mode == AG_PAYER_CHECK ? ag_state_view_open(st, &v) : 0;
  uint64_t h = v ? ag_state_view_height(v) + 1 : ag_app_block_ctx(app)->height;
  ag_tx in;
  inner_of(tx, &in);
  ag_agent_key k;
  ag_agent_index x;
  if (!rc) rc = ag_agent_key_load(st, v, in.sender, tx->sender, &k);
  if (!rc) rc = ag_agent_index_load(st, v, in.sender, &x);
  ag_state_view_close(v);
  if (rc) return rc;
  if (mode == AG_PAYER_CHARGE) {
    charge(&k, h, tx->fee, tx->fee);
    key_store(st, &k);
    return memcpy(out, in.sender, 32), 0;
  }
  if (x.frozen) return ag_fail(AG_E_AGENT_FROZEN, "the account froze all its agent keys");
  if (h < k.terms.anchor)
    return ag_fail(AG_E_AGENT_EXPIRED, "the key is active from height %llu; this block is %llu",
                   (unsigned long long)k.terms.anchor, (unsigned long long)h);
  if (h >= k.terms.expires)
    return ag_fail(AG_E_AGENT_EXPIRED, "the key expired at height %llu; this block is %llu",
                   (unsigned long long)k.terms.expires, (unsigned long long)h);
  if (!(k.terms.kinds >> in.kind & 1))
    return ag_fail(AG_E_AGENT_KIND, "the key may not run %s txs", ag_tx_kind_name(in.kind));
  uint64_t spend = 0, total;
  exec_spend(tx, &spend);
  if (ag_add_u64(spend, tx->fee, &total)) total = UINT64_MAX;
  if ((rc = within_caps(&k, h, total, total, tx->fee))) return rc;
  memcpy(out, in.sender, 32);
  return 0;
}

/* Whom the action pays or stakes on (into who, AG_TX_MAX_RECIPIENTS at most): each must be the
 * account itself, on the key's list, or a provider with an offer when the key allows any. A
 * bond (offer_post) stays the account's, behind a hotkey it owns: no counterparty. */
static int counterparties(ag_state *st, const ag_tx *in, uint8_t (*who)[32]) {
  int n = 0;
  const uint8_t *p = in->payload;
  switch (in->kind) {
  case AG_TX_TRANSFER:
  case AG_TX_MULTI_TRANSFER: {
    uint16_t m = ag_tx_transfer_count(in);
    for (uint16_t i = 0; i < m; i++) {
      ag_transfer t;
      ag_tx_transfer_at(in, i, &t);
      memcpy(who[n++], t.to, 32);
    }
    break;
  }
  case AG_TX_STAKE_ADD:
  case AG_TX_CHANNEL_OPEN:
    memcpy(who[n++], p, 32); /* the hotkey staked on, the channel's provider */
    break;
  case AG_TX_CHANNEL_FUND: {
    ag_channel ch;
    if (ag_channel_load(st, NULL, p, &ch) == 0) memcpy(who[n++], ch.provider, 32);
    break;
  }
  default: break;
  }
  return n;
}

static int allowed(ag_state *st, const ag_agent_key *k, const uint8_t who[32]) {
  if (!memcmp(who, k->account, 32)) return 1;
  for (int i = 0; i < k->terms.n; i++)
    if (!memcmp(k->terms.rcpt[i], who, 32)) return 1;
  ag_bond bd;
  return (k->terms.flags & AG_AGENT_ANY_PROVIDER) && ag_bond_load(st, NULL, who, &bd) == 0 && bd.offers > 0;
}

static int exec_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  uint64_t h = ag_app_block_ctx(app)->height;
  ag_tx in;
  inner_of(tx, &in);
  ag_agent_key k;
  int rc = ag_agent_key_load(st, NULL, in.sender, tx->sender, &k);
  if (rc) return rc;
  uint8_t(*who)[32] = ag_xmalloc(32u * AG_TX_MAX_RECIPIENTS);
  int n = counterparties(st, &in, who);
  for (int i = 0; i < n && !rc; i++)
    if (!allowed(st, &k, who[i])) {
      char addr[AG_ADDR_MAX];
      ag_addr_encode(who[i], addr);
      rc = ag_fail(AG_E_AGENT_RECIPIENT, "the key may not pay or stake on %s", addr);
    }
  free(who);
  if (rc) return rc;
  ag_account before, after;
  if ((rc = ag_account_load(st, in.sender, &before))) return rc;
  if ((rc = ag_tx_kind_find(in.kind)->apply(app, &in))) return rc;
  if ((rc = ag_account_load(st, in.sender, &after))) return rc;
  uint64_t out = before.balance > after.balance ? before.balance - after.balance : 0, total;
  if (ag_add_u64(out, tx->fee, &total)) total = UINT64_MAX;
  /* the fee is counted already (exec_payer); the outflow joins it */
  if ((rc = within_caps(&k, h, out, total, 0))) return rc;
  charge(&k, h, out, 0);
  key_store(st, &k);
  return 0;
}

static json_t *exec_json(const ag_tx *tx) {
  ag_tx in;
  inner_of(tx, &in);
  json_t *o = json_object();
  json_object_set_new(o, "account", ag_json_addr(in.sender));
  json_object_set_new(o, "kind", json_string(ag_tx_kind_name(in.kind)));
  const ag_tx_kind *k = ag_tx_kind_find(in.kind);
  json_object_set_new(o, "payload", k && k->to_json ? k->to_json(&in) : json_null());
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_AGENT_KEY_SET, "agent_key_set", set_validate, ag_econ_no_spend, set_apply, set_json},
    {AG_TX_AGENT_KEY_REVOKE, "agent_key_revoke", revoke_validate, ag_econ_no_spend, revoke_apply, revoke_json, NULL,
     revoke_payer},
    {AG_TX_AGENT_FREEZE, "agent_freeze", freeze_validate, ag_econ_no_spend, freeze_apply, freeze_json},
    {AG_TX_AGENT_EXEC, "agent_exec", exec_validate, exec_spend, exec_apply, exec_json, NULL, exec_payer, exec_fee_units},
};

void ag_economy_agent_kinds(void) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) ag_tx_kind_register(&kinds[i]);
}
