/*
 * asset.c — ownership and royalties (docs/economy.md "Assets, vaults and royalties"): models
 * and datasets registered by content hash, each with a fixed supply of shares and a vault;
 * royalties from channel claims into the vaults, ancestors' parts to theirs; holders paid
 * through a per-share accumulator with the remainder carried (nothing lost to rounding, O(1)
 * per claim); shares transferable.
 */
#include "economy/internal.h"

#include "chain/json.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/incentive.h"
#include "incentive/training.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1
#define ASSET_HEAD (1 + 1 + 32 + 2 + 8 + 8 + 16 + 8 + 8 + 1)
#define HOLDING_LEN (1 + 1 + 8 + 16 + 16)

typedef unsigned __int128 u128;

static const uint8_t zero32[32];

/* ---- records ------------------------------------------------------------------------------- */



static void put_u128(uint8_t *p, u128 v) {
  ag_put_u64le(p, (uint64_t)v);
  ag_put_u64le(p + 8, (uint64_t)(v >> 64));
}

static u128 get_u128(const uint8_t *p) { return (u128)ag_get_u64le(p) | (u128)ag_get_u64le(p + 8) << 64; }

int ag_asset_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_asset *a) {
  uint8_t k[34];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_ASSET, id, NULL), &b);
  if (rc == AG_E_NOTFOUND) rc = ag_fail(AG_E_ASSET_NOT_FOUND, "no asset with that id is registered");
  const uint8_t *p = b.data;
  if (!rc && (b.len < ASSET_HEAD || p[0] != REC_VERSION || p[ASSET_HEAD - 1] > AG_MAX_ANCESTORS ||
              b.len != ASSET_HEAD + 34u * p[ASSET_HEAD - 1]))
    rc = ag_fail(AG_E_CORRUPT, "bad asset record");
  if (!rc) {
    memcpy(a->id, id, 32);
    a->kind = p[1];
    memcpy(a->owner, p + 2, 32);
    a->royalty_bps = ag_get_u16le(p + 34);
    a->supply = ag_get_u64le(p + 36);
    a->balance = ag_get_u64le(p + 44);
    a->acc = get_u128(p + 52);
    a->carry = ag_get_u64le(p + 68);
    a->income = ag_get_u64le(p + 76);
    a->nanc = p[84];
    for (int i = 0; i < a->nanc; i++) {
      memcpy(a->anc[i].id, p + ASSET_HEAD + 34 * i, 32);
      a->anc[i].bps = ag_get_u16le(p + ASSET_HEAD + 34 * i + 32);
    }
  }
  ag_buf_free(&b);
  return rc;
}

static void asset_store(ag_state *st, const ag_asset *a) {
  uint8_t k[34], v[ASSET_HEAD + 34 * AG_MAX_ANCESTORS];
  ag_econ_key(k, AG_EKEY_ASSET, a->id, NULL);
  v[0] = REC_VERSION;
  v[1] = a->kind;
  memcpy(v + 2, a->owner, 32);
  ag_put_u16le(v + 34, a->royalty_bps);
  ag_put_u64le(v + 36, a->supply);
  ag_put_u64le(v + 44, a->balance);
  put_u128(v + 52, a->acc);
  ag_put_u64le(v + 68, a->carry);
  ag_put_u64le(v + 76, a->income);
  v[84] = a->nanc;
  for (int i = 0; i < a->nanc; i++) {
    memcpy(v + ASSET_HEAD + 34 * i, a->anc[i].id, 32);
    ag_put_u16le(v + ASSET_HEAD + 34 * i + 32, a->anc[i].bps);
  }
  ag_state_put(st, k, sizeof k, v, ASSET_HEAD + 34u * a->nanc);
}

int ag_holding_load(ag_state *st, ag_state_view *view, const uint8_t asset[32],
                    const uint8_t holder[32], ag_holding *h) {
  uint8_t k[66];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_HOLDING, asset, holder), &b);
  if (rc == AG_E_NOTFOUND) rc = ag_fail(AG_E_HOLDING_NOT_FOUND, "that holder has no shares of the asset");
  else if (!rc && (b.len != HOLDING_LEN || b.data[0] != REC_VERSION)) rc = ag_fail(AG_E_CORRUPT, "bad holding record");
  if (!rc) {
    memcpy(h->holder, holder, 32);
    h->is_asset = b.data[1];
    h->shares = ag_get_u64le(b.data + 2);
    h->snap = get_u128(b.data + 10);
    h->owed = get_u128(b.data + 26);
  }
  ag_buf_free(&b);
  return rc;
}

static void holding_store(ag_state *st, const uint8_t asset[32], const ag_holding *h) {
  uint8_t k[66], v[HOLDING_LEN];
  ag_econ_key(k, AG_EKEY_HOLDING, asset, h->holder);
  v[0] = REC_VERSION;
  v[1] = h->is_asset;
  ag_put_u64le(v + 2, h->shares);
  put_u128(v + 10, h->snap);
  put_u128(v + 26, h->owed);
  ag_state_put(st, k, sizeof k, v, sizeof v);
}

int ag_asset_holders(ag_state *st, ag_state_view *view, const uint8_t asset[32],
                     uint8_t (**out)[32], size_t *n) {
  uint8_t k[34];
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, ag_econ_key(k, AG_EKEY_HOLDERS, asset, NULL), &b);
  *n = 0;
  *out = ag_xmalloc(32 * (AG_MAX_HOLDERS + 1));
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc && (b.len % 32 || b.len / 32 > AG_MAX_HOLDERS)) rc = ag_fail(AG_E_CORRUPT, "bad holder index");
  else if (!rc) {
    memcpy(*out, b.data, b.len);
    *n = b.len / 32;
  }
  ag_buf_free(&b);
  if (rc) {
    free(*out);
    *out = NULL;
  }
  return rc;
}

/* Adds holder to the asset's index (sorted); AG_E_ASSET_HOLDERS when full. */
static int holders_add(ag_state *st, const uint8_t asset[32], const uint8_t holder[32]) {
  uint8_t (*v)[32];
  size_t n;
  int rc = ag_asset_holders(st, NULL, asset, &v, &n);
  if (rc) return rc;
  size_t at = 0;
  while (at < n && memcmp(v[at], holder, 32) < 0) at++;
  if (at < n && !memcmp(v[at], holder, 32)) {
    free(v);
    return 0;
  }
  if (n >= AG_MAX_HOLDERS) {
    free(v);
    return ag_fail(AG_E_ASSET_HOLDERS, "the asset has %d holders, the most allowed", AG_MAX_HOLDERS);
  }
  memmove(v + at + 1, v + at, 32 * (n - at));
  memcpy(v[at], holder, 32);
  uint8_t k[34];
  ag_state_put(st, k, ag_econ_key(k, AG_EKEY_HOLDERS, asset, NULL), v, 32 * (n + 1));
  free(v);
  return 0;
}

/* ---- the accumulator ------------------------------------------------------------------------ */

/* Brings a holding up to the asset's accumulator: shares × (acc − snap) joins what it is owed
 * (Q64.64, never floored here). shares ≤ supply and acc ≤ Σ income × 2^64 / supply keep the
 * product below 2^128. */
static void settle(const ag_asset *a, ag_holding *h) {
  h->owed += (u128)h->shares * (a->acc - h->snap);
  h->snap = a->acc;
}

uint64_t ag_holding_claimable(const ag_asset *a, const ag_holding *h) {
  ag_holding t = *h;
  settle(a, &t);
  return (uint64_t)(t.owed >> 64);
}

/* Shares amount among the holders: acc grows by (amount·2^64 + carry) / supply, the remainder
 * carried to the next income. */
static void distribute(ag_asset *a, uint64_t amount) {
  u128 num = ((u128)amount << 64) + a->carry;
  a->acc += num / a->supply;
  a->carry = (uint64_t)(num % a->supply);
  a->balance += amount;
  a->income += amount;
}

/* Whether a vault can take amount more without its counters overflowing. */
static int fits(const ag_asset *a, uint64_t amount) {
  uint64_t t;
  if (ag_add_u64(a->balance, amount, &t) || ag_add_u64(a->income, amount, &t))
    return ag_fail(AG_E_OVERFLOW, "a vault would overflow");
  return 0;
}

int ag_asset_income(ag_state *st, const uint8_t id[32], uint64_t amount) {
  ag_asset a;
  int rc = ag_asset_load(st, NULL, id, &a);
  if (rc || !amount) return rc;
  uint64_t rest = amount;
  /* ancestors (flattened at registration: no recursion) take their absolute parts */
  for (int i = 0; i < a.nanc; i++) {
    uint64_t part = (uint64_t)((u128)amount * a.anc[i].bps / 10000);
    if (!part) continue;
    ag_asset p;
    if ((rc = ag_asset_load(st, NULL, a.anc[i].id, &p)) || (rc = fits(&p, part))) return rc;
    distribute(&p, part);
    asset_store(st, &p);
    rest -= part; /* Σ bps ≤ 10000, so the parts never pass amount */
  }
  if ((rc = fits(&a, rest))) return rc;
  distribute(&a, rest);
  asset_store(st, &a);
  return 0;
}

int ag_asset_royalty(ag_state *st, const uint8_t model[32], uint64_t amount, uint64_t *royalty) {
  *royalty = 0;
  if (!memcmp(model, zero32, 32)) return 0;
  ag_asset a;
  int rc = ag_asset_load(st, NULL, model, &a);
  if (rc == AG_E_ASSET_NOT_FOUND) return 0; /* an unregistered model pays no royalty */
  if (rc || a.kind != AG_ASSET_MODEL) return rc;
  /* floored: the provider gets the rounding remainder */
  *royalty = (uint64_t)((u128)amount * a.royalty_bps / 10000);
  return ag_asset_income(st, model, *royalty);
}

/* ---- payload builders ------------------------------------------------------------------------- */

void ag_payload_asset_register(ag_buf *out, uint8_t kind, const uint8_t id[32], uint16_t royalty_bps,
                               uint64_t supply, const uint8_t (*parents)[32], const uint16_t *bps,
                               uint8_t n) {
  ag_buf_put_u8(out, kind);
  ag_buf_put(out, id, 32);
  ag_buf_put_u16le(out, royalty_bps);
  ag_buf_put_u64le(out, supply);
  ag_buf_put_u8(out, n);
  for (uint8_t i = 0; i < n; i++) {
    ag_buf_put(out, parents[i], 32);
    ag_buf_put_u16le(out, bps[i]);
  }
}

/* ---- tx kinds ----------------------------------------------------------------------------------- */


static int register_validate(const ag_tx *tx) {
  if (tx->payload_len < 44) return ag_fail(AG_E_TX_PAYLOAD, "asset_register payload is too short");
  uint8_t kind = tx->payload[0], n = tx->payload[43];
  if (tx->payload_len != 44u + 34u * n)
    return ag_fail(AG_E_TX_PAYLOAD, "asset_register payload is %u bytes, expected %u", tx->payload_len, 44u + 34u * n);
  if (kind != AG_ASSET_MODEL && kind != AG_ASSET_DATASET)
    return ag_fail(AG_E_ASSET_TERMS, "asset kind %u is neither 1 (model) nor 2 (dataset)", kind);
  if (!memcmp(tx->payload + 1, zero32, 32)) return ag_fail(AG_E_ASSET_TERMS, "an asset id cannot be all zeros");
  if (n > AG_MAX_PARENTS) return ag_fail(AG_E_ASSET_ANCESTORS, "%u parents; at most %d", n, AG_MAX_PARENTS);
  return 0;
}

/* Adds (id, bps) to the flattened ancestor list, summing duplicates. */
static int anc_add(ag_asset *a, const uint8_t id[32], uint16_t bps) {
  for (int i = 0; i < a->nanc; i++)
    if (!memcmp(a->anc[i].id, id, 32)) {
      a->anc[i].bps = (uint16_t)(a->anc[i].bps + bps > 10000 ? 10000 : a->anc[i].bps + bps);
      return 0;
    }
  if (a->nanc >= AG_MAX_ANCESTORS)
    return ag_fail(AG_E_ASSET_ANCESTORS, "more than %d ancestors once flattened", AG_MAX_ANCESTORS);
  memcpy(a->anc[a->nanc].id, id, 32);
  a->anc[a->nanc++].bps = bps;
  return 0;
}

static int new_holding(ag_state *st, const uint8_t asset[32], const uint8_t holder[32], int is_asset,
                       uint64_t shares) {
  ag_holding h;
  int rc = ag_holding_load(st, NULL, asset, holder, &h);
  if (rc == AG_E_HOLDING_NOT_FOUND) {
    memset(&h, 0, sizeof h);
    memcpy(h.holder, holder, 32);
    h.is_asset = (uint8_t)is_asset;
    rc = holders_add(st, asset, holder);
  }
  if (rc) return rc;
  if (ag_add_u64(h.shares, shares, &h.shares)) return ag_fail(AG_E_OVERFLOW, "shares overflow");
  holding_store(st, asset, &h);
  return 0;
}

/* A trained checkpoint's shares: its lineage's rounds, per hotkey, and train_data_share of the
 * total to the dataset parents (equally, the remainder to the first). */
static int mint_trained(ag_app *app, const ag_tx *tx, ag_asset *a, const uint8_t (*datasets)[32], int nd) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t netuid;
  uint64_t round, lineage;
  ag_subnet sn;
  int rc = ag_train_model_origin(&s, a->id, &netuid, &round, &lineage);
  if (!rc) rc = ag_subnet_load(&s, netuid, &sn);
  if (rc) return rc;
  if (memcmp(sn.owner, tx->sender, 32) != 0)
    return ag_fail(AG_E_NOT_OWNER, "only the owner of training subnet %u registers its checkpoints", netuid);
  uint64_t total = 0;
  for (uint64_t r = lineage; r < round && !rc; r++) {
    ag_train_round tr;
    if (ag_train_round_load(&s, netuid, r, &tr) != 0) continue;
    for (uint16_t i = 0; i < tr.n && !rc; i++) {
      if (ag_add_u64(total, tr.e[i].shares, &total)) rc = ag_fail(AG_E_OVERFLOW, "shares overflow");
      else rc = new_holding(st, a->id, tr.e[i].hotkey, 0, tr.e[i].shares);
    }
    ag_train_round_free(&tr);
  }
  if (rc) return rc;
  if (!total) return ag_fail(AG_E_ASSET_TERMS, "no round of this checkpoint's lineage minted shares");
  uint64_t data = 0, f = sn.hp.train_data_share;
  if (nd && f) data = (uint64_t)((u128)total * f / (1000000 - f));
  for (int i = 0; i < nd && data && !rc; i++)
    rc = new_holding(st, a->id, datasets[i], 1, data / (uint64_t)nd + (i == 0 ? data % (uint64_t)nd : 0));
  if (!rc && ag_add_u64(total, data, &a->supply)) rc = ag_fail(AG_E_OVERFLOW, "shares overflow");
  return rc;
}

static int register_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_economy_params p;
  ag_asset a, x;
  int rc = ag_economy_params_load(st, NULL, &p);
  if (rc) return rc;
  memset(&a, 0, sizeof a);
  a.kind = tx->payload[0];
  memcpy(a.id, tx->payload + 1, 32);
  memcpy(a.owner, tx->sender, 32);
  a.royalty_bps = ag_get_u16le(tx->payload + 33);
  uint64_t supply = ag_get_u64le(tx->payload + 35);
  uint8_t n = tx->payload[43];
  if (ag_asset_load(st, NULL, a.id, &x) == 0) return ag_fail(AG_E_ASSET_EXISTS, "that asset is registered already");
  if (a.royalty_bps > p.max_royalty_bps || (a.kind == AG_ASSET_DATASET && a.royalty_bps))
    return ag_fail(AG_E_ASSET_TERMS, "a model's royalty is at most %u bps, a dataset has none", p.max_royalty_bps);
  /* parents and their own ancestors, flattened: each takes its absolute part of every income */
  uint8_t datasets[AG_MAX_PARENTS][32];
  int nd = 0;
  unsigned total_bps = 0;
  for (uint8_t i = 0; i < n; i++) {
    const uint8_t *pid = tx->payload + 44 + 34 * i;
    uint16_t bps = ag_get_u16le(pid + 32);
    ag_asset par;
    if ((rc = ag_asset_load(st, NULL, pid, &par))) return rc;
    if (par.kind == AG_ASSET_DATASET) memcpy(datasets[nd++], pid, 32);
    if ((rc = anc_add(&a, pid, bps))) return rc;
    for (int j = 0; j < par.nanc; j++)
      if ((rc = anc_add(&a, par.anc[j].id, par.anc[j].bps))) return rc;
  }
  for (int i = 0; i < a.nanc; i++) total_bps += a.anc[i].bps;
  if (total_bps > p.max_ancestor_bps)
    return ag_fail(AG_E_ASSET_ANCESTORS, "the ancestors would take %u bps of every income; at most %u", total_bps,
                   p.max_ancestor_bps);
  ag_ist s = {st, NULL};
  uint16_t nu;
  uint64_t r0, r1;
  if (a.kind == AG_ASSET_MODEL && ag_train_model_origin(&s, a.id, &nu, &r0, &r1) == 0) {
    if (supply) return ag_fail(AG_E_ASSET_TERMS, "a trained checkpoint's supply comes from its rounds: give 0");
    rc = mint_trained(app, tx, &a, (const uint8_t(*)[32])datasets, nd);
  } else {
    if (!supply) return ag_fail(AG_E_ASSET_TERMS, "the supply must be positive");
    a.supply = supply;
    rc = new_holding(st, a.id, tx->sender, 0, supply);
  }
  if (!rc) asset_store(st, &a);
  return rc;
}

static json_t *register_json(const ag_tx *tx) {
  json_t *o = json_object(), *par = json_array();
  json_object_set_new(o, "kind", json_string(tx->payload[0] == AG_ASSET_MODEL ? "model" : "dataset"));
  json_object_set_new(o, "id", ag_json_hex(tx->payload + 1, 32));
  json_object_set_new(o, "royalty_bps", json_integer(ag_get_u16le(tx->payload + 33)));
  json_object_set_new(o, "supply", ag_json_u64s(ag_get_u64le(tx->payload + 35)));
  for (uint8_t i = 0; i < tx->payload[43]; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "id", ag_json_hex(tx->payload + 44 + 34 * i, 32));
    json_object_set_new(e, "bps", json_integer(ag_get_u16le(tx->payload + 76 + 34 * i)));
    json_array_append_new(par, e);
  }
  json_object_set_new(o, "parents", par);
  return o;
}

static int royalty_validate(const ag_tx *tx) {
  if (tx->payload_len != 34) return ag_fail(AG_E_TX_PAYLOAD, "asset_royalty payload is %u bytes, expected 34", tx->payload_len);
  return 0;
}

static int royalty_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_economy_params p;
  ag_asset a;
  int rc = ag_economy_params_load(st, NULL, &p);
  if (!rc) rc = ag_asset_load(st, NULL, tx->payload, &a);
  if (rc) return rc;
  if (memcmp(a.owner, tx->sender, 32)) return ag_fail(AG_E_NOT_OWNER, "only the asset's owner sets its royalty");
  uint16_t bps = ag_get_u16le(tx->payload + 32);
  if (a.kind != AG_ASSET_MODEL || bps > p.max_royalty_bps)
    return ag_fail(AG_E_ASSET_TERMS, "a model's royalty is at most %u bps, a dataset has none", p.max_royalty_bps);
  a.royalty_bps = bps;
  asset_store(st, &a);
  return 0;
}

static json_t *royalty_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "id", ag_json_hex(tx->payload, 32));
  json_object_set_new(o, "royalty_bps", json_integer(ag_get_u16le(tx->payload + 32)));
  return o;
}

static int transfer_validate(const ag_tx *tx) {
  if (tx->payload_len != 72) return ag_fail(AG_E_TX_PAYLOAD, "share_transfer payload is %u bytes, expected 72", tx->payload_len);
  if (!ag_get_u64le(tx->payload + 64)) return ag_fail(AG_E_TX_AMOUNT, "the amount must be positive");
  return 0;
}

static int transfer_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  const uint8_t *id = tx->payload, *to = tx->payload + 32;
  uint64_t amount = ag_get_u64le(tx->payload + 64);
  ag_asset a;
  ag_holding from;
  int rc = ag_asset_load(st, NULL, id, &a);
  if (!rc) rc = ag_holding_load(st, NULL, id, tx->sender, &from);
  if (rc) return rc;
  if (from.shares < amount)
    return ag_fail(AG_E_SHARES_INSUFFICIENT, "%llu shares held, not %llu", (unsigned long long)from.shares,
                   (unsigned long long)amount);
  if (!memcmp(to, tx->sender, 32)) return 0;
  /* both sides settled at the current accumulator: what was earned stays with who earned it */
  settle(&a, &from);
  from.shares -= amount;
  holding_store(st, id, &from);
  ag_holding dst;
  rc = ag_holding_load(st, NULL, id, to, &dst);
  if (rc == AG_E_HOLDING_NOT_FOUND) {
    memset(&dst, 0, sizeof dst);
    memcpy(dst.holder, to, 32);
    dst.snap = a.acc;
    rc = holders_add(st, id, to);
  }
  if (rc) return rc;
  settle(&a, &dst);
  dst.shares += amount; /* ≤ supply */
  holding_store(st, id, &dst);
  return 0;
}

static json_t *transfer_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "asset", ag_json_hex(tx->payload, 32));
  json_object_set_new(o, "to", ag_json_addr(tx->payload + 32));
  json_object_set_new(o, "amount", ag_json_u64s(ag_get_u64le(tx->payload + 64)));
  return o;
}

static int claim_validate(const ag_tx *tx) {
  if (tx->payload_len != 64) return ag_fail(AG_E_TX_PAYLOAD, "share_claim payload is %u bytes, expected 64", tx->payload_len);
  return 0;
}

static int claim_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  const uint8_t *id = tx->payload, *holder = tx->payload + 32;
  ag_asset a;
  ag_holding h;
  int rc = ag_asset_load(st, NULL, id, &a);
  if (!rc) rc = ag_holding_load(st, NULL, id, holder, &h);
  if (rc) return rc;
  if (!h.is_asset && memcmp(holder, tx->sender, 32))
    return ag_fail(AG_E_NOT_OWNER, "only the holder claims its part (anyone may for an asset holder)");
  settle(&a, &h);
  uint64_t pay = (uint64_t)(h.owed >> 64);
  h.owed -= (u128)pay << 64; /* the fraction stays owed */
  if (pay > a.balance) return ag_fail(AG_E_INTERNAL, "a vault owes more than it holds");
  a.balance -= pay;
  asset_store(st, &a);
  holding_store(st, id, &h);
  if (!pay) return 0;
  if (h.is_asset) return ag_asset_income(st, holder, pay); /* a dataset's part feeds its own vault */
  return ag_account_credit(st, holder, pay);
}

static json_t *claim_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "asset", ag_json_hex(tx->payload, 32));
  json_object_set_new(o, "holder", ag_json_addr(tx->payload + 32));
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_ASSET_REGISTER, "asset_register", register_validate, ag_econ_no_spend, register_apply, register_json},
    {AG_TX_ASSET_ROYALTY, "asset_royalty", royalty_validate, ag_econ_no_spend, royalty_apply, royalty_json},
    {AG_TX_SHARE_TRANSFER, "share_transfer", transfer_validate, ag_econ_no_spend, transfer_apply, transfer_json},
    {AG_TX_SHARE_CLAIM, "share_claim", claim_validate, ag_econ_no_spend, claim_apply, claim_json},
};

void ag_economy_asset_kinds(void) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) ag_tx_kind_register(&kinds[i]);
}
