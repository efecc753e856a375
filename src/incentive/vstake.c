/*
 * vstake.c — validators by bond on a CometBFT chain (docs/multi-validator.md "Validators by
 * bond"). Any account may bond AGR to a consensus key it holds; at every validator epoch the
 * bonded keys with the most AGR get voting power (one per whole AGR) beside the genesis and
 * sudo validators. Three rules keep a cheap attacker from halting the chain:
 *
 *   - power grows slowly: what one epoch adds to the whole set stays below a third of the
 *     total power after it, so no key nobody runs gets the third that stops commits at once;
 *   - a bonded validator that misses most of the blocks it should sign in an epoch is jailed
 *     (power 0) for jail_blocks, before a second epoch can add to it, and loses jail_slash_bps
 *     of its bond (burned), so that staying down costs something each time;
 *   - a validator CometBFT convicts of signing twice loses slash_bps of its bond and of what it
 *     is unbonding (burned) and may never validate with that key again.
 *
 * Unbonded AGR stays locked (and slashable) for unbond_blocks and at least unbond_ms of block
 * time: a light client trusts a validator set for less than unbond_ms after the header it saw
 * it in (consensus/light.h), so keys it trusts still have AGR at stake. All candidates live in
 * one record, sorted by key, at most AG_VSTAKE_MAX of them: every block reads it once.
 */
#include "incentive/internal.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* pk[32] owner[32] bond unbonding release_at jailed_until (u64) flags u8 seen missed (u32)
 * release_time_ms u64, after a version byte for the whole record */
#define ENTRY 113
#define LIST_VERSION 2 /* 1 (before 2026-12-07): 105-byte entries without release_time_ms */
#define PARAMS_VERSION 4 /* 1: without jail_slash_bps; 2: without unbond_ms; 3: without reward_bps (read as 0) */

void ag_vstake_params_default(ag_vstake_params *p) {
  p->min_bond = 10 * AG_UNIT;
  p->epoch_blocks = 100;
  p->unbond_blocks = 100000; /* CometBFT's evidence.max_age_num_blocks: slashable until then */
  p->unbond_ms = 14ull * 24 * 3600 * 1000; /* light clients trust a set for 2/3 of this */
  p->jail_blocks = 1000;
  p->slash_bps = 500;
  p->max_missed_permille = 500;
  p->jail_slash_bps = 10;
  p->reward_bps = 1000;
}

int ag_vstake_params_check(const ag_vstake_params *p) {
  if (p->min_bond < AG_UNIT) return ag_fail(AG_E_RANGE, "validator min_bond must be at least 1 AGR (one unit of power)");
  if (p->epoch_blocks < 6 || p->epoch_blocks > 100000)
    return ag_fail(AG_E_RANGE, "validator epoch_blocks must be 6..100000");
  if (p->unbond_blocks < 1 || p->unbond_blocks > 10000000)
    return ag_fail(AG_E_RANGE, "validator unbond_blocks must be 1..10000000");
  if (p->unbond_ms > AG_VSTAKE_UNBOND_MS_MAX)
    return ag_fail(AG_E_RANGE, "validator unbond_ms must be 0..%llu (10 years)", (unsigned long long)AG_VSTAKE_UNBOND_MS_MAX);
  if (p->jail_blocks < 1 || p->jail_blocks > 10000000) return ag_fail(AG_E_RANGE, "validator jail_blocks must be 1..10000000");
  if (p->slash_bps > 10000) return ag_fail(AG_E_RANGE, "validator slash_bps must be 0..10000");
  if (p->jail_slash_bps > 10000) return ag_fail(AG_E_RANGE, "validator jail_slash_bps must be 0..10000");
  if (p->reward_bps > 10000) return ag_fail(AG_E_RANGE, "validator reward_bps must be 0..10000");
  if (p->max_missed_permille > 1000) return ag_fail(AG_E_RANGE, "validator max_missed_permille must be 0..1000");
  return 0;
}

static int sget(ag_ist *s, const char *key, ag_buf *out) {
  if (s->view) return ag_state_view_get(s->view, key, strlen(key), out);
  return ag_state_get_buf(s->st, key, strlen(key), out);
}

int ag_vstake_params_load(ag_ist *s, ag_vstake_params *p) {
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, AG_IKEY_VPARAMS, &b);
  if (rc == AG_E_NOTFOUND) {
    ag_vstake_params_default(p);
    ag_buf_free(&b);
    return 0;
  }
  if (!rc && !(b.len == 37 && b.data[0] == 1) && !(b.len == 39 && b.data[0] == 2) &&
      !(b.len == 47 && b.data[0] == 3) && !(b.len == 49 && b.data[0] == PARAMS_VERSION))
    rc = ag_fail(AG_E_CORRUPT, "bad validator params record");
  if (!rc) {
    p->min_bond = ag_get_u64le(b.data + 1);
    p->epoch_blocks = ag_get_u64le(b.data + 9);
    p->unbond_blocks = ag_get_u64le(b.data + 17);
    p->jail_blocks = ag_get_u64le(b.data + 25);
    p->slash_bps = ag_get_u16le(b.data + 33);
    p->max_missed_permille = ag_get_u16le(b.data + 35);
    p->jail_slash_bps = b.len >= 39 ? ag_get_u16le(b.data + 37) : 0;
    p->unbond_ms = b.len >= 47 ? ag_get_u64le(b.data + 39) : 0;
    p->reward_bps = b.len >= 49 ? ag_get_u16le(b.data + 47) : 0;
  }
  ag_buf_free(&b);
  return rc;
}

void ag_vstake_params_store(ag_state *st, const ag_vstake_params *p) {
  uint8_t v[49];
  v[0] = PARAMS_VERSION;
  ag_put_u64le(v + 1, p->min_bond);
  ag_put_u64le(v + 9, p->epoch_blocks);
  ag_put_u64le(v + 17, p->unbond_blocks);
  ag_put_u64le(v + 25, p->jail_blocks);
  ag_put_u16le(v + 33, p->slash_bps);
  ag_put_u16le(v + 35, p->max_missed_permille);
  ag_put_u16le(v + 37, p->jail_slash_bps);
  ag_put_u64le(v + 39, p->unbond_ms);
  ag_put_u16le(v + 47, p->reward_bps);
  ag_state_put(st, AG_IKEY_VPARAMS, strlen(AG_IKEY_VPARAMS), v, sizeof v);
}

/* ---- the candidate list ---------------------------------------------------------------- */

static void entry_decode(const uint8_t *e, ag_vcandidate *c) {
  memcpy(c->pk, e, 32);
  memcpy(c->owner, e + 32, 32);
  c->bond = ag_get_u64le(e + 64);
  c->unbonding = ag_get_u64le(e + 72);
  c->release_at = ag_get_u64le(e + 80);
  c->jailed_until = ag_get_u64le(e + 88);
  c->flags = e[96];
  c->seen = ag_get_u32le(e + 97);
  c->missed = ag_get_u32le(e + 101);
  c->release_time_ms = ag_get_u64le(e + 105);
}

static void entry_encode(const ag_vcandidate *c, uint8_t *e) {
  memcpy(e, c->pk, 32);
  memcpy(e + 32, c->owner, 32);
  ag_put_u64le(e + 64, c->bond);
  ag_put_u64le(e + 72, c->unbonding);
  ag_put_u64le(e + 80, c->release_at);
  ag_put_u64le(e + 88, c->jailed_until);
  e[96] = c->flags;
  ag_put_u32le(e + 97, c->seen);
  ag_put_u32le(e + 101, c->missed);
  ag_put_u64le(e + 105, c->release_time_ms);
}

int ag_vstake_list(ag_ist *s, ag_vcandidate **out, size_t *n) {
  ag_buf b;
  ag_buf_init(&b);
  *n = 0;
  int rc = sget(s, AG_IKEY_VSTAKE, &b);
  if (rc == AG_E_NOTFOUND) rc = 0;
  if (!rc && b.len && b.data[0] != LIST_VERSION && b.len % 105 == 0)
    rc = ag_fail(AG_E_CORRUPT, "the validator candidates record is of version 1 (an agora from before 2026-12-07 "
                               "made this chain); start the chain again");
  else if (!rc && b.len && (b.data[0] != LIST_VERSION || (b.len - 1) % ENTRY || (b.len - 1) / ENTRY > AG_VSTAKE_MAX))
    rc = ag_fail(AG_E_CORRUPT, "bad validator candidates record");
  size_t count = b.len ? (b.len - 1) / ENTRY : 0;
  *out = ag_xcalloc(count + 2, sizeof **out);
  if (!rc) {
    *n = count;
    for (size_t i = 0; i < *n; i++) entry_decode(b.data + 1 + ENTRY * i, &(*out)[i]);
  }
  ag_buf_free(&b);
  return rc;
}

/* Writes the list (sorted by key); candidates holding nothing that are not validators leave. */
static void list_store(ag_state *st, const ag_vcandidate *c, size_t n, const ag_validator *set, size_t nset) {
  ag_buf b;
  ag_buf_init(&b);
  uint8_t e[ENTRY];
  ag_buf_put_u8(&b, LIST_VERSION);
  for (size_t i = 0; i < n; i++) {
    int in_set = 0;
    for (size_t j = 0; j < nset; j++) in_set |= !memcmp(set[j].pk, c[i].pk, 32);
    if (!c[i].bond && !c[i].unbonding && !in_set) continue;
    entry_encode(&c[i], e);
    ag_buf_put(&b, e, ENTRY);
  }
  if (b.len > 1) ag_state_put(st, AG_IKEY_VSTAKE, strlen(AG_IKEY_VSTAKE), b.data, b.len);
  else ag_state_del(st, AG_IKEY_VSTAKE, strlen(AG_IKEY_VSTAKE));
  ag_buf_free(&b);
}

static ag_vcandidate *find(ag_vcandidate *c, size_t n, const uint8_t pk[32]) {
  for (size_t i = 0; i < n; i++)
    if (!memcmp(c[i].pk, pk, 32)) return &c[i];
  return NULL;
}

static uint64_t set_power(const ag_validator *set, size_t n, const uint8_t pk[32]) {
  for (size_t i = 0; i < n; i++)
    if (!memcmp(set[i].pk, pk, 32)) return set[i].power;
  return 0;
}

uint64_t ag_vstake_power(const ag_vstake_params *p, uint64_t bond) {
  if (bond < p->min_bond) return 0;
  uint64_t w = bond / AG_UNIT;
  return w > AG_VALIDATOR_POWER_MAX ? AG_VALIDATOR_POWER_MAX : w;
}

void ag_vstake_address(const uint8_t pk[32], uint8_t out[20]) {
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, pk, 32);
  memcpy(out, h, 20);
}

void ag_vstake_claim_hash(const char *chain_id, const uint8_t owner[32], const uint8_t key[32], uint8_t out[32]) {
  ag_claim_hash("agora/vbond", chain_id, owner, key, out);
}

void ag_payload_validator_bond(ag_buf *out, const char *chain_id, const uint8_t owner[32], const uint8_t key_sk[64],
                               uint64_t amount) {
  uint8_t claim[32], sig[64];
  ag_vstake_claim_hash(chain_id, owner, key_sk + 32, claim);
  crypto_sign_ed25519_detached(sig, NULL, claim, 32, key_sk);
  ag_buf_put(out, key_sk + 32, 32);
  ag_buf_put_u64le(out, amount);
  ag_buf_put(out, sig, 64);
}

/* ---- txs ----------------------------------------------------------------------------------- */

static int bond_validate(const ag_tx *tx) {
  if (tx->payload_len != 32 + 8 + 64)
    return ag_fail(AG_E_TX_PAYLOAD, "validator_bond payload is %u bytes, expected 104", tx->payload_len);
  if (!ag_get_u64le(tx->payload + 32)) return ag_fail(AG_E_TX_AMOUNT, "the bond must be positive");
  return 0;
}

static int unbond_validate(const ag_tx *tx) {
  if (tx->payload_len != 32 + 8)
    return ag_fail(AG_E_TX_PAYLOAD, "validator_unbond payload is %u bytes, expected 40", tx->payload_len);
  if (!ag_get_u64le(tx->payload + 32)) return ag_fail(AG_E_TX_AMOUNT, "the amount must be positive");
  return 0;
}

static int bond_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 32);
  return 0;
}

static int no_spend(const ag_tx *tx, uint64_t *amount) {
  (void)tx;
  *amount = 0;
  return 0;
}

/* The set, the params and the candidates, through the block overlay. */
typedef struct {
  ag_validator *set;
  size_t nset;
  ag_vstake_params p;
  ag_vcandidate *c;
  size_t n;
} vctx;

/* The candidates first: with only_if_any, none ends it there (the block hook of every block;
 * on a solo chain the set read would fail and replace the last error message). */
static int vctx_load(ag_app *app, vctx *v, int only_if_any) {
  memset(v, 0, sizeof *v);
  ag_ist s = {ag_app_state(app), NULL};
  int rc = ag_vstake_list(&s, &v->c, &v->n);
  if (rc || (only_if_any && !v->n)) return rc;
  rc = ag_app_validator_list(app, &v->set, &v->nset);
  if (!rc) rc = ag_vstake_params_load(&s, &v->p);
  return rc;
}

static void vctx_free(vctx *v) {
  free(v->set);
  free(v->c);
}

/* When the list is full: the candidate a new one may replace, the smallest bond (then the
 * lowest key) among those that never had power, have none, are not unbonding and were never
 * convicted: nothing of theirs can still be slashed. NULL when there is none. */
static ag_vcandidate *evictee(vctx *v) {
  ag_vcandidate *best = NULL;
  for (size_t i = 0; i < v->n; i++) {
    ag_vcandidate *c = &v->c[i];
    if ((c->flags & (AG_VSTAKE_TOMBSTONED | AG_VSTAKE_SERVED)) || c->unbonding || set_power(v->set, v->nset, c->pk)) continue;
    if (!best || c->bond < best->bond) best = c;
  }
  return best;
}

static int bond_apply(ag_app *app, const ag_tx *tx) {
  const uint8_t *key = tx->payload;
  uint64_t amount = ag_get_u64le(tx->payload + 32);
  vctx v;
  int rc = vctx_load(app, &v, 0);
  uint8_t claim[32];
  ag_vstake_claim_hash(tx->chain_id, tx->sender, key, claim);
  if (!rc && !crypto_core_ed25519_is_valid_point(key))
    rc = ag_fail(AG_E_RANGE, "the consensus key is not a valid ed25519 public key");
  else if (!rc && ag_verify(key, claim, 32, tx->payload + 40))
    rc = ag_fail(AG_E_VALIDATOR_KEY_SIG, "the consensus key did not sign this bond (agora/vbond over the chain id, "
                                         "the sender and the key): only its holder may bond it");
  ag_vcandidate *c = rc ? NULL : find(v.c, v.n, key), *out = NULL;
  uint64_t after = 0;
  char a[32], b[32];
  if (!rc && ag_add_u64(c ? c->bond : 0, amount, &after)) rc = ag_fail(AG_E_OVERFLOW, "the bond overflows");
  if (!rc && !c && v.n >= AG_VSTAKE_MAX) out = evictee(&v);
  if (rc) {
  } else if (c && memcmp(c->owner, tx->sender, 32)) {
    rc = ag_fail(AG_E_VALIDATOR_KEY_TAKEN, "another account bonded this consensus key");
  } else if (c && (c->flags & AG_VSTAKE_TOMBSTONED)) {
    rc = ag_fail(AG_E_VALIDATOR_TOMBSTONED, "this consensus key signed two blocks at one height: it can never validate again");
  } else if (!c && set_power(v.set, v.nset, key)) {
    rc = ag_fail(AG_E_VALIDATOR_KEY_TAKEN, "this key is a validator by genesis or by the sudo key, not by bond");
  } else if (!c && v.n >= AG_VSTAKE_MAX && (!out || amount <= out->bond)) {
    if (out) ag_amount_format(out->bond, a);
    rc = out ? ag_fail(AG_E_VALIDATOR_CANDIDATES_FULL,
                       "the chain keeps %d bonded consensus keys: a new one must bond more than %s AGR", AG_VSTAKE_MAX, a)
             : ag_fail(AG_E_VALIDATOR_CANDIDATES_FULL, "the chain keeps %d bonded consensus keys, and none can leave now",
                       AG_VSTAKE_MAX);
  } else if (after < v.p.min_bond) {
    ag_amount_format(v.p.min_bond, a);
    ag_amount_format(after, b);
    rc = ag_fail(AG_E_VALIDATOR_BOND_LOW, "a validator's bond must be at least %s AGR (this makes it %s)", a, b);
  } else if ((rc = ag_account_debit(ag_app_state(app), tx->sender, amount))) {
  } else if (c) {
    c->bond = after;
  } else {
    if (v.n >= AG_VSTAKE_MAX) { /* the smallest that never validated makes room: its bond goes home */
      rc = ag_account_credit(ag_app_state(app), out->owner, out->bond);
      memmove(out, out + 1, (size_t)(v.c + v.n - out - 1) * sizeof *v.c);
      v.n--;
    }
    size_t at = 0;
    while (at < v.n && memcmp(v.c[at].pk, key, 32) < 0) at++;
    memmove(&v.c[at + 1], &v.c[at], (v.n - at) * sizeof *v.c);
    memset(&v.c[at], 0, sizeof *v.c);
    memcpy(v.c[at].pk, key, 32);
    memcpy(v.c[at].owner, tx->sender, 32);
    v.c[at].bond = amount;
    v.n++;
  }
  if (!rc) list_store(ag_app_state(app), v.c, v.n, v.set, v.nset);
  vctx_free(&v);
  return rc;
}

static int unbond_apply(ag_app *app, const ag_tx *tx) {
  const uint8_t *key = tx->payload;
  uint64_t amount = ag_get_u64le(tx->payload + 32);
  vctx v;
  int rc = vctx_load(app, &v, 0);
  ag_vcandidate *c = rc ? NULL : find(v.c, v.n, key);
  char a[32], b[32];
  if (rc) {
  } else if (!c || memcmp(c->owner, tx->sender, 32)) {
    rc = ag_fail(AG_E_NOT_OWNER, "the sender has no bond on this consensus key");
  } else if (c->bond < amount) {
    ag_amount_format(c->bond, a);
    ag_amount_format(amount, b);
    rc = ag_fail(AG_E_BOND_INSUFFICIENT, "%s AGR bonded, %s asked", a, b);
  } else if (c->bond - amount && c->bond - amount < v.p.min_bond) {
    ag_amount_format(v.p.min_bond, a);
    rc = ag_fail(AG_E_VALIDATOR_BOND_LOW, "leave at least %s AGR bonded, or unbond all of it", a);
  } else {
    c->bond -= amount;
    c->unbonding += amount;
    const ag_block_ctx *blk = ag_app_block_ctx(app);
    c->release_at = blk->height + v.p.unbond_blocks;
    c->release_time_ms = blk->time_ms > UINT64_MAX - v.p.unbond_ms ? UINT64_MAX : blk->time_ms + v.p.unbond_ms;
    /* power falls at once; it only rises at epochs */
    uint64_t now = set_power(v.set, v.nset, key), want = ag_vstake_power(&v.p, c->bond);
    if (now > want && (rc = ag_app_validator_set(app, key, want)) == AG_E_RANGE)
      rc = ag_fail(AG_E_RANGE, "this key is the chain's last validator: it cannot leave");
  }
  if (!rc) {
    free(v.set);
    v.set = NULL;
    rc = ag_app_validator_list(app, &v.set, &v.nset);
  }
  if (!rc) list_store(ag_app_state(app), v.c, v.n, v.set, v.nset);
  vctx_free(&v);
  return rc;
}

static json_t *bond_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "consensus_key", ag_json_hex(tx->payload, 32));
  json_object_set_new(o, "amount", ag_json_u64s(ag_get_u64le(tx->payload + 32)));
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_VALIDATOR_BOND, "validator_bond", bond_validate, bond_spend, bond_apply, bond_json},
    {AG_TX_VALIDATOR_UNBOND, "validator_unbond", unbond_validate, no_spend, unbond_apply, bond_json},
};

void ag_vstake_register_kinds(void) {
  for (size_t i = 0; i < AG_ARRAY_LEN(kinds); i++) ag_tx_kind_register(&kinds[i]);
}

/* ---- every block ---------------------------------------------------------------------------- */

/* Burns bps of c's bond and of what it is unbonding. */
static void slash(ag_app *app, ag_vcandidate *c, uint16_t bps) {
  uint64_t s1 = (uint64_t)((unsigned __int128)c->bond * bps / 10000);
  uint64_t s2 = (uint64_t)((unsigned __int128)c->unbonding * bps / 10000);
  c->bond -= s1;
  c->unbonding -= s2;
  ag_app_burn(app, s1 + s2);
}

static int rank_cmp(const void *a, const void *b) {
  const ag_vcandidate *x = *(ag_vcandidate *const *)a, *y = *(ag_vcandidate *const *)b;
  if (x->bond != y->bond) return x->bond > y->bond ? -1 : 1;
  return memcmp(x->pk, y->pk, 32);
}

/* Sets pk's power; a change the app refuses because it would empty the set is skipped (the
 * last validator stays), any other refusal is a fault. */
static int change(ag_app *app, const uint8_t pk[32], uint64_t power) {
  int rc = ag_app_validator_set(app, pk, power);
  return rc == AG_E_RANGE ? 0 : rc;
}

/* The epoch: jail who did not sign, then give each candidate its power, decreases first and
 * increases by rank within the budget. */
static int epoch(ag_app *app, vctx *v, uint64_t height) {
  for (size_t i = 0; i < v->n; i++) {
    ag_vcandidate *c = &v->c[i];
    if (set_power(v->set, v->nset, c->pk) && c->seen >= v->p.epoch_blocks / 2 &&
        (uint64_t)c->missed * 1000 > (uint64_t)c->seen * v->p.max_missed_permille) {
      c->jailed_until = height + v->p.jail_blocks;
      slash(app, c, v->p.jail_slash_bps);
    }
    c->seen = c->missed = 0;
  }
  ag_vcandidate **rank = ag_xcalloc(v->n + 1, sizeof *rank);
  size_t ne = 0, others = 0;
  for (size_t i = 0; i < v->n; i++) {
    ag_vcandidate *c = &v->c[i];
    if (!(c->flags & AG_VSTAKE_TOMBSTONED) && c->jailed_until <= height && ag_vstake_power(&v->p, c->bond))
      rank[ne++] = c;
  }
  for (size_t j = 0; j < v->nset; j++) others += find(v->c, v->n, v->set[j].pk) == NULL;
  qsort(rank, ne, sizeof *rank, rank_cmp);
  size_t slots = others < AG_VALIDATORS_MAX ? AG_VALIDATORS_MAX - others : 0;
  uint64_t *target = ag_xcalloc(v->n + 1, sizeof *target);
  for (size_t k = 0; k < ne && k < slots; k++) target[rank[k] - v->c] = ag_vstake_power(&v->p, rank[k]->bond);
  int rc = 0;
  for (size_t i = 0; i < v->n && !rc; i++)
    if (set_power(v->set, v->nset, v->c[i].pk) > target[i]) rc = change(app, v->c[i].pk, target[i]);
  free(v->set);
  v->set = NULL;
  if (!rc) rc = ag_app_validator_list(app, &v->set, &v->nset);
  uint64_t total = 0;
  for (size_t j = 0; !rc && j < v->nset; j++) total += v->set[j].power;
  uint64_t budget = total ? (total - 1) / 2 : 0; /* added < total / 2: under a third of the total after */
  for (size_t k = 0; k < ne && k < slots && !rc && budget; k++) {
    size_t i = (size_t)(rank[k] - v->c);
    uint64_t now = set_power(v->set, v->nset, v->c[i].pk);
    if (target[i] <= now) continue;
    uint64_t add = AG_MIN(target[i] - now, budget);
    budget -= add;
    v->c[i].flags |= AG_VSTAKE_SERVED;
    rc = change(app, v->c[i].pk, now + add);
  }
  free(rank);
  free(target);
  free(v->set);
  v->set = NULL;
  if (!rc) rc = ag_app_validator_list(app, &v->set, &v->nset);
  return rc;
}

int ag_vstake_end_block(ag_app *app, void *ctx) {
  (void)ctx;
  ag_state *st = ag_app_state(app);
  const ag_block_ctx *b = ag_app_block_ctx(app);
  vctx v;
  int rc = vctx_load(app, &v, 1);
  if (rc || !v.n) {
    vctx_free(&v);
    return rc;
  }
  uint8_t (*addr)[20] = ag_xcalloc(v.n, sizeof *addr);
  for (size_t i = 0; i < v.n; i++) ag_vstake_address(v.c[i].pk, addr[i]);
  /* who signed the previous block */
  for (size_t k = 0; k < b->nvotes; k++)
    for (size_t i = 0; i < v.n; i++)
      if (!memcmp(addr[i], b->votes[k].addr, 20)) {
        v.c[i].seen += v.c[i].seen < UINT32_MAX;
        v.c[i].missed += !b->votes[k].signed_block && v.c[i].missed < UINT32_MAX;
      }
  /* who signed twice: slashed once, and out for good */
  for (size_t k = 0; k < b->nmisbehavior && !rc; k++)
    for (size_t i = 0; i < v.n && !rc; i++) {
      ag_vcandidate *c = &v.c[i];
      if (memcmp(addr[i], b->misbehavior[k].addr, 20) || (c->flags & AG_VSTAKE_TOMBSTONED)) continue;
      slash(app, c, v.p.slash_bps);
      c->flags |= AG_VSTAKE_TOMBSTONED;
      if (set_power(v.set, v.nset, c->pk)) rc = change(app, c->pk, 0);
    }
  free(addr);
  /* unbonded AGR whose lock ended goes home */
  for (size_t i = 0; i < v.n && !rc; i++) {
    ag_vcandidate *c = &v.c[i];
    if (c->unbonding && b->height >= c->release_at && b->time_ms >= c->release_time_ms) {
      rc = ag_account_credit(st, c->owner, c->unbonding);
      c->unbonding = 0;
    }
  }
  if (!rc) {
    free(v.set);
    v.set = NULL;
    rc = ag_app_validator_list(app, &v.set, &v.nset);
  }
  if (!rc && b->height % v.p.epoch_blocks == 0) rc = epoch(app, &v, b->height);
  if (!rc) list_store(st, v.c, v.n, v.set, v.nset);
  vctx_free(&v);
  return rc;
}

int ag_vstake_reward(ag_app *app, uint64_t reward, uint64_t *paid) {
  const ag_block_ctx *b = ag_app_block_ctx(app);
  *paid = 0;
  if (!b->nvotes || !reward) return 0;
  ag_ist s = {ag_app_state(app), NULL};
  ag_vstake_params p;
  int rc = ag_vstake_params_load(&s, &p);
  if (rc || !p.reward_bps) return rc;
  ag_vcandidate *c;
  size_t n;
  if ((rc = ag_vstake_list(&s, &c, &n)) || !n) {
    free(c);
    return rc;
  }
  unsigned __int128 total = 0;
  for (size_t k = 0; k < b->nvotes; k++) total += b->votes[k].power;
  uint64_t pot = (uint64_t)((unsigned __int128)reward * p.reward_bps / 10000);
  for (size_t i = 0; i < n && !rc && total; i++) {
    if (c[i].flags & AG_VSTAKE_TOMBSTONED) continue;
    uint8_t addr[20];
    ag_vstake_address(c[i].pk, addr);
    for (size_t k = 0; k < b->nvotes; k++) {
      if (!b->votes[k].signed_block || memcmp(addr, b->votes[k].addr, 20)) continue;
      uint64_t amt = (uint64_t)((unsigned __int128)pot * b->votes[k].power / total);
      if (amt && !(rc = ag_account_credit(ag_app_state(app), c[i].owner, amt))) *paid += amt;
      break;
    }
  }
  free(c);
  return rc;
}

uint64_t ag_vstake_holdings(const uint8_t *val, size_t vlen, int *bad) {
  uint64_t total = 0;
  if (!vlen || val[0] != LIST_VERSION || (vlen - 1) % ENTRY) {
    *bad = 1;
    return 0;
  }
  for (size_t i = 0; i < (vlen - 1) / ENTRY; i++) {
    const uint8_t *e = val + 1 + ENTRY * i;
    if (ag_add_u64(total, ag_get_u64le(e + 64), &total) || ag_add_u64(total, ag_get_u64le(e + 72), &total)) *bad = 1;
  }
  return total;
}

json_t *ag_vstake_json(const ag_vcandidate *c, uint64_t height) {
  char owner[AG_ADDR_MAX];
  ag_addr_encode(c->owner, owner);
  json_t *o = json_object();
  json_object_set_new(o, "consensus_key", ag_json_hex(c->pk, 32));
  json_object_set_new(o, "owner", json_string(owner));
  json_object_set_new(o, "bond", ag_json_u64s(c->bond));
  json_object_set_new(o, "unbonding", ag_json_u64s(c->unbonding));
  json_object_set_new(o, "release_at", c->unbonding ? json_integer((json_int_t)c->release_at) : json_null());
  json_object_set_new(o, "release_time_ms", c->unbonding ? json_integer((json_int_t)c->release_time_ms) : json_null());
  json_object_set_new(o, "jailed_until", c->jailed_until > height ? json_integer((json_int_t)c->jailed_until) : json_null());
  json_object_set_new(o, "tombstoned", json_boolean(c->flags & AG_VSTAKE_TOMBSTONED));
  json_object_set_new(o, "seen", json_integer(c->seen));
  json_object_set_new(o, "missed", json_integer(c->missed));
  return o;
}
