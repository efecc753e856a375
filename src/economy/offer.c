/*
 * offer.c — offers and bonds: what a provider (a miner hotkey) asks for serving a model, and
 * the bond its coldkey locks behind it (docs/economy.md "Offers and bonds"). A bond unbonds
 * only after a delay longer than the dispute window, so it cannot flee a dispute.
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
#define BOND_REC_LEN (1 + 32 + 8 + 8 + 8 + 2 + 4 + 4 + 2 + 8)
#define OFFER_REC_LEN (1 + 8 + 8 + 4 + 8)

/* ---- records ------------------------------------------------------------------------------ */



int ag_bond_load(ag_state *st, ag_state_view *view, const uint8_t hotkey[32], ag_bond *out) {
  uint8_t k[34];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_BOND, hotkey, NULL), &b);
  if (rc == AG_E_NOTFOUND) rc = ag_fail(AG_E_BOND_NOT_FOUND, "the hotkey has no bond (an offer makes one)");
  else if (!rc && (b.len != BOND_REC_LEN || b.data[0] != REC_VERSION)) rc = ag_fail(AG_E_CORRUPT, "bad bond record");
  if (!rc) {
    const uint8_t *p = b.data;
    memcpy(out->hotkey, hotkey, 32);
    memcpy(out->coldkey, p + 1, 32);
    out->bonded = ag_get_u64le(p + 33);
    out->unbonding = ag_get_u64le(p + 41);
    out->unbond_at = ag_get_u64le(p + 49);
    out->offers = ag_get_u16le(p + 57);
    out->faults = ag_get_u32le(p + 59);
    out->cleared = ag_get_u32le(p + 63);
    out->disputes = ag_get_u16le(p + 67);
    out->held = ag_get_u64le(p + 69);
  }
  ag_buf_free(&b);
  return rc;
}

void ag_econ_bond_store(ag_state *st, const ag_bond *bd) {
  uint8_t k[34], v[BOND_REC_LEN];
  ag_econ_key(k, AG_EKEY_BOND, bd->hotkey, NULL);
  v[0] = REC_VERSION;
  memcpy(v + 1, bd->coldkey, 32);
  ag_put_u64le(v + 33, bd->bonded);
  ag_put_u64le(v + 41, bd->unbonding);
  ag_put_u64le(v + 49, bd->unbond_at);
  ag_put_u16le(v + 57, bd->offers);
  ag_put_u32le(v + 59, bd->faults);
  ag_put_u32le(v + 63, bd->cleared);
  ag_put_u16le(v + 67, bd->disputes);
  ag_put_u64le(v + 69, bd->held);
  if (!bd->bonded && !bd->unbonding && !bd->offers && !bd->faults && !bd->cleared && !bd->disputes)
    ag_state_del(st, k, sizeof k); /* nothing left to remember */
  else
    ag_state_put(st, k, sizeof k, v, sizeof v);
}

int ag_offer_load(ag_state *st, ag_state_view *view, const uint8_t hotkey[32],
                  const uint8_t model[32], ag_offer *out) {
  uint8_t k[66];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_OFFER, hotkey, model), &b);
  if (rc == AG_E_NOTFOUND) rc = ag_fail(AG_E_OFFER_NOT_FOUND, "the provider has no offer for that model");
  else if (!rc && (b.len != OFFER_REC_LEN || b.data[0] != REC_VERSION)) rc = ag_fail(AG_E_CORRUPT, "bad offer record");
  if (!rc) {
    memcpy(out->hotkey, hotkey, 32);
    memcpy(out->model, model, 32);
    out->price_in = ag_get_u64le(b.data + 1);
    out->price_out = ag_get_u64le(b.data + 9);
    out->max_tokens = ag_get_u32le(b.data + 17);
    out->posted = ag_get_u64le(b.data + 21);
  }
  ag_buf_free(&b);
  return rc;
}

static void offer_store(ag_state *st, const ag_offer *o) {
  uint8_t k[66], v[OFFER_REC_LEN];
  ag_econ_key(k, AG_EKEY_OFFER, o->hotkey, o->model);
  v[0] = REC_VERSION;
  ag_put_u64le(v + 1, o->price_in);
  ag_put_u64le(v + 9, o->price_out);
  ag_put_u32le(v + 17, o->max_tokens);
  ag_put_u64le(v + 21, o->posted);
  ag_state_put(st, k, sizeof k, v, sizeof v);
}

static void offer_del(ag_state *st, const uint8_t hotkey[32], const uint8_t model[32]) {
  uint8_t k[66];
  ag_state_del(st, k, ag_econ_key(k, AG_EKEY_OFFER, hotkey, model));
}

/* The model's index: the hotkeys with an offer, sorted; *n ≤ AG_MAX_OFFERS_PER_MODEL. */
static int index_load(ag_state *st, ag_state_view *view, const uint8_t model[32],
                      uint8_t (*out)[32], size_t *n) {
  uint8_t k[34];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_MODEL, model, NULL), &b);
  *n = 0;
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc && (b.len % 32 || b.len / 32 > AG_MAX_OFFERS_PER_MODEL)) rc = ag_fail(AG_E_CORRUPT, "bad offer index");
  else if (!rc) {
    *n = b.len / 32;
    memcpy(out, b.data, b.len);
  }
  ag_buf_free(&b);
  return rc;
}

static void index_store(ag_state *st, const uint8_t model[32], uint8_t (*hk)[32], size_t n) {
  uint8_t k[34];
  ag_econ_key(k, AG_EKEY_MODEL, model, NULL);
  if (n) ag_state_put(st, k, sizeof k, hk, 32 * n);
  else ag_state_del(st, k, sizeof k);
}

static size_t index_find(uint8_t (*hk)[32], size_t n, const uint8_t key[32], int *found) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = memcmp(hk[mid], key, 32);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = 0;
  return lo;
}

int ag_offer_cost(const ag_offer *o, uint64_t n_in, uint64_t n_out, uint64_t *cost) {
  unsigned __int128 a = ((unsigned __int128)n_in * o->price_in + 999) / 1000;
  unsigned __int128 b = ((unsigned __int128)n_out * o->price_out + 999) / 1000;
  unsigned __int128 t = a + b;
  if (t > UINT64_MAX) return ag_fail(AG_E_OVERFLOW, "the request's cost passes 2^64 - 1 base units");
  *cost = (uint64_t)t;
  return 0;
}

static uint64_t total_price(const ag_offer *o) {
  uint64_t t;
  return ag_add_u64(o->price_in, o->price_out, &t) ? UINT64_MAX : t;
}

static int cheaper_first(const void *a, const void *b) {
  const ag_offer *x = a, *y = b;
  uint64_t px = total_price(x), py = total_price(y);
  if (px != py) return px < py ? -1 : 1;
  return memcmp(x->hotkey, y->hotkey, 32);
}

int ag_offers_for_model(ag_state *st, ag_state_view *view, const uint8_t model[32],
                        ag_offer **out, size_t *n) {
  uint8_t (*hk)[32] = ag_xmalloc(32 * AG_MAX_OFFERS_PER_MODEL);
  size_t m;
  int rc = index_load(st, view, model, hk, &m);
  ag_offer *v = ag_xcalloc(m ? m : 1, sizeof *v);
  for (size_t i = 0; i < m && !rc; i++) rc = ag_offer_load(st, view, hk[i], model, &v[i]);
  free(hk);
  if (rc) {
    free(v);
    return rc;
  }
  qsort(v, m, sizeof *v, cheaper_first);
  *out = v;
  *n = m;
  return 0;
}

/* ---- payload builders ------------------------------------------------------------------------ */

void ag_payload_offer_post(ag_buf *out, const uint8_t hotkey[32], const uint8_t model[32],
                           uint64_t price_in, uint64_t price_out, uint32_t max_tokens,
                           uint64_t bond) {
  ag_buf_put(out, hotkey, 32);
  ag_buf_put(out, model, 32);
  ag_buf_put_u64le(out, price_in);
  ag_buf_put_u64le(out, price_out);
  ag_buf_put_u32le(out, max_tokens);
  ag_buf_put_u64le(out, bond);
}

void ag_payload_offer_remove(ag_buf *out, const uint8_t hotkey[32], const uint8_t model[32]) {
  ag_buf_put(out, hotkey, 32);
  ag_buf_put(out, model, 32);
}

void ag_payload_bond(ag_buf *out, const uint8_t hotkey[32], uint64_t amount) {
  ag_buf_put(out, hotkey, 32);
  ag_buf_put_u64le(out, amount);
}

/* ---- tx kinds ---------------------------------------------------------------------------------- */




/* The sender must own the hotkey (the coldkey that registered it). */
static int require_owner(ag_app *app, const ag_tx *tx, const uint8_t hotkey[32]) {
  ag_ist s = {ag_app_state(app), NULL};
  ag_hotkey_info h;
  int rc = ag_hotkey_load(&s, hotkey, &h);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_HOTKEY_OWNER, "the hotkey has no owner yet: register it on a subnet first");
  if (rc) return rc;
  if (memcmp(h.owner, tx->sender, 32) != 0)
    return ag_fail(AG_E_HOTKEY_OWNER, "the hotkey belongs to another coldkey");
  return 0;
}

/* A bond record for hotkey owned by coldkey, empty when there is none yet. */
static int bond_for(ag_state *st, const uint8_t hotkey[32], const uint8_t coldkey[32], ag_bond *bd) {
  int rc = ag_bond_load(st, NULL, hotkey, bd);
  if (rc == AG_E_BOND_NOT_FOUND) {
    memset(bd, 0, sizeof *bd);
    memcpy(bd->hotkey, hotkey, 32);
    memcpy(bd->coldkey, coldkey, 32);
    return 0;
  }
  return rc;
}

/* post */

static int post_validate(const ag_tx *tx) {
  int rc = ag_econ_require_len(tx, 92);
  if (rc) return rc;
  uint32_t mt = ag_get_u32le(tx->payload + 80);
  if (mt < 1 || mt > AG_MAX_TOKENS_LIMIT)
    return ag_fail(AG_E_OFFER_TERMS, "max_tokens %u is outside 1..%d", mt, AG_MAX_TOKENS_LIMIT);
  return 0;
}

static int post_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 84);
  return 0;
}

static int post_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  const uint8_t *hk = tx->payload, *model = tx->payload + 32;
  uint64_t add = ag_get_u64le(tx->payload + 84);
  ag_economy_params p;
  ag_bond bd;
  int rc = ag_economy_params_load(st, NULL, &p);
  if (!rc) rc = require_owner(app, tx, hk);
  if (!rc) rc = bond_for(st, hk, tx->sender, &bd);
  if (rc) return rc;
  if (ag_add_u64(bd.bonded, add, &bd.bonded)) return ag_fail(AG_E_OVERFLOW, "the bond would overflow");
  char a[32], b[32];
  if (bd.bonded < p.min_bond)
    return ag_fail(AG_E_BOND_LOW, "an offer needs a bond of at least %s AGR; this one would be %s",
                   ag_econ_agr(p.min_bond, a), ag_econ_agr(bd.bonded, b));
  if (add && (rc = ag_account_debit(st, tx->sender, add))) return rc;
  ag_offer o;
  int had = ag_offer_load(st, NULL, hk, model, &o) == 0;
  if (!had) {
    uint8_t (*idx)[32] = ag_xmalloc(32 * (AG_MAX_OFFERS_PER_MODEL + 1));
    size_t n;
    int found;
    if ((rc = index_load(st, NULL, model, idx, &n))) goto out;
    if (n >= AG_MAX_OFFERS_PER_MODEL) {
      /* full: the newcomer must be bonded above the least-bonded provider, whose offer goes */
      size_t low = 0;
      uint64_t low_bond = UINT64_MAX;
      for (size_t i = 0; i < n; i++) {
        ag_bond x;
        if ((rc = ag_bond_load(st, NULL, idx[i], &x))) goto out;
        if (x.bonded < low_bond) low_bond = x.bonded, low = i;
      }
      if (bd.bonded <= low_bond) {
        rc = ag_fail(AG_E_OFFERS_FULL, "the model has %d offers; a new one needs a bond above %s AGR",
                     AG_MAX_OFFERS_PER_MODEL, ag_econ_agr(low_bond, a));
        goto out;
      }
      ag_bond x;
      if ((rc = ag_bond_load(st, NULL, idx[low], &x))) goto out;
      x.offers--;
      ag_econ_bond_store(st, &x);
      offer_del(st, idx[low], model);
      memmove(idx + low, idx + low + 1, 32 * (n - low - 1));
      n--;
    }
    size_t at = index_find(idx, n, hk, &found);
    memmove(idx + at + 1, idx + at, 32 * (n - at));
    memcpy(idx[at], hk, 32);
    index_store(st, model, idx, n + 1);
    bd.offers++;
  out:
    free(idx);
    if (rc) return rc;
  }
  memcpy(o.hotkey, hk, 32);
  memcpy(o.model, model, 32);
  o.price_in = ag_get_u64le(tx->payload + 64);
  o.price_out = ag_get_u64le(tx->payload + 72);
  o.max_tokens = ag_get_u32le(tx->payload + 80);
  o.posted = ag_app_block_ctx(app)->height;
  offer_store(st, &o);
  ag_econ_bond_store(st, &bd);
  return 0;
}

static json_t *post_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", ag_json_addr(tx->payload));
  json_object_set_new(o, "model", ag_json_hex(tx->payload + 32, 32));
  json_object_set_new(o, "price_in_per_1k", ag_json_u64s(ag_get_u64le(tx->payload + 64)));
  json_object_set_new(o, "price_out_per_1k", ag_json_u64s(ag_get_u64le(tx->payload + 72)));
  json_object_set_new(o, "max_tokens", json_integer(ag_get_u32le(tx->payload + 80)));
  json_object_set_new(o, "bond", ag_json_u64s(ag_get_u64le(tx->payload + 84)));
  return o;
}

/* remove */

static int remove_validate(const ag_tx *tx) { return ag_econ_require_len(tx, 64); }

static int remove_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  const uint8_t *hk = tx->payload, *model = tx->payload + 32;
  ag_offer o;
  ag_bond bd;
  int rc = require_owner(app, tx, hk);
  if (!rc) rc = ag_offer_load(st, NULL, hk, model, &o);
  if (!rc) rc = ag_bond_load(st, NULL, hk, &bd);
  if (rc) return rc;
  uint8_t (*idx)[32] = ag_xmalloc(32 * AG_MAX_OFFERS_PER_MODEL);
  size_t n;
  int found = 0;
  if (!(rc = index_load(st, NULL, model, idx, &n))) {
    size_t at = index_find(idx, n, hk, &found);
    if (!found) {
      rc = ag_fail(AG_E_CORRUPT, "an offer is missing from its model's index");
    } else {
      memmove(idx + at, idx + at + 1, 32 * (n - at - 1));
      index_store(st, model, idx, n - 1);
      offer_del(st, hk, model);
      bd.offers--;
      ag_econ_bond_store(st, &bd);
    }
  }
  free(idx);
  return rc;
}

static json_t *remove_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", ag_json_addr(tx->payload));
  json_object_set_new(o, "model", ag_json_hex(tx->payload + 32, 32));
  return o;
}

/* unbond and withdraw: only the coldkey that locked the bond */

static int load_own_bond(ag_app *app, const ag_tx *tx, ag_bond *bd) {
  int rc = ag_bond_load(ag_app_state(app), NULL, tx->payload, bd);
  if (!rc && memcmp(bd->coldkey, tx->sender, 32) != 0)
    rc = ag_fail(AG_E_HOTKEY_OWNER, "the bond belongs to another coldkey");
  return rc;
}

static int unbond_validate(const ag_tx *tx) {
  int rc = ag_econ_require_len(tx, 40);
  if (!rc && ag_get_u64le(tx->payload + 32) == 0) rc = ag_fail(AG_E_TX_AMOUNT, "the amount must be positive");
  return rc;
}

static int unbond_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_economy_params p;
  ag_bond bd;
  uint64_t amount = ag_get_u64le(tx->payload + 32);
  int rc = ag_economy_params_load(st, NULL, &p);
  if (!rc) rc = load_own_bond(app, tx, &bd);
  if (rc) return rc;
  char a[32], b[32];
  if (amount > bd.bonded)
    return ag_fail(AG_E_BOND_INSUFFICIENT, "%s AGR is bonded, not %s", ag_econ_agr(bd.bonded, a), ag_econ_agr(amount, b));
  if (bd.offers && bd.bonded - amount < p.min_bond)
    return ag_fail(AG_E_BOND_HAS_OFFERS, "%u offers need at least %s AGR bonded; remove them first",
                   bd.offers, ag_econ_agr(p.min_bond, a));
  if (ag_add_u64(bd.unbonding, amount, &bd.unbonding)) return ag_fail(AG_E_OVERFLOW, "unbonding overflows");
  bd.bonded -= amount;
  /* the whole unbonding amount waits from the latest unbond: nothing leaves early */
  bd.unbond_at = ag_app_block_ctx(app)->height + p.unbond_delay;
  ag_econ_bond_store(st, &bd);
  return 0;
}

static int withdraw_validate(const ag_tx *tx) { return ag_econ_require_len(tx, 32); }

static int withdraw_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_bond bd;
  int rc = load_own_bond(app, tx, &bd);
  if (rc) return rc;
  if (!bd.unbonding) return ag_fail(AG_E_BOND_INSUFFICIENT, "nothing is unbonding");
  if (bd.disputes)
    return ag_fail(AG_E_BOND_DISPUTED, "%u disputes against this bond are open; it stays until they end", bd.disputes);
  uint64_t h = ag_app_block_ctx(app)->height;
  if (h < bd.unbond_at)
    return ag_fail(AG_E_BOND_LOCKED, "the unbonded amount is locked until height %llu (%llu blocks)",
                   (unsigned long long)bd.unbond_at, (unsigned long long)(bd.unbond_at - h));
  uint64_t amount = bd.unbonding;
  bd.unbonding = 0;
  bd.unbond_at = 0;
  ag_econ_bond_store(st, &bd);
  return ag_account_credit(st, bd.coldkey, amount);
}

static json_t *bond_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", ag_json_addr(tx->payload));
  if (tx->payload_len == 40) json_object_set_new(o, "amount", ag_json_u64s(ag_get_u64le(tx->payload + 32)));
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_OFFER_POST, "offer_post", post_validate, post_spend, post_apply, post_json},
    {AG_TX_OFFER_REMOVE, "offer_remove", remove_validate, ag_econ_no_spend, remove_apply, remove_json},
    {AG_TX_BOND_UNBOND, "bond_unbond", unbond_validate, ag_econ_no_spend, unbond_apply, bond_json},
    {AG_TX_BOND_WITHDRAW, "bond_withdraw", withdraw_validate, ag_econ_no_spend, withdraw_apply, bond_json},
};

void ag_economy_offer_kinds(void) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) ag_tx_kind_register(&kinds[i]);
}
