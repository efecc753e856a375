/*
 * txs.c — the incentive layer's transaction kinds: stake, take, subnets, registration,
 * endpoints, weights and commit-reveal. Each kind validates its payload without state, states
 * what it may spend, and applies its changes through the block overlay (a failure is rolled
 * back by the state machine). Errors name the limit that was hit and when it lifts.
 */
#include "incentive/internal.h"
#include "incentive/training.h"

#include "chain/json.h"
#include "core/err.h"
#include "core/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static uint64_t height_of(ag_app *app) { return ag_app_block_ctx(app)->height; }

static json_t *u64s(uint64_t v) { return ag_json_u64s(v); }

static int load_params(ag_app *app, ag_incentive_params *p) {
  ag_ist s = {ag_app_state(app), NULL};
  return ag_incentive_params_load(&s, p);
}

static int require_len(const ag_tx *tx, uint32_t want, const char *what) {
  if (tx->payload_len != want)
    return ag_fail(AG_E_TX_PAYLOAD, "%s payload is %u bytes, expected %u", what, tx->payload_len,
                   want);
  return 0;
}

static int no_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = 0;
  return 0;
}

/* ---- stake add / remove --------------------------------------------------------------------- */

static int stake_validate(const ag_tx *tx) {
  int rc = require_len(tx, 40, ag_tx_kind_name(tx->kind));
  if (!rc && ag_get_u64le(tx->payload + 32) == 0)
    rc = ag_fail(AG_E_TX_AMOUNT, "stake amount must be positive");
  return rc;
}

static int stake_add_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 32);
  return 0;
}

static int stake_add_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  const uint8_t *hk = tx->payload;
  uint64_t amount = ag_get_u64le(tx->payload + 32), cur, next;
  ag_hotkey_info h;
  int rc = ag_hotkey_load(&s, hk, &h);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_HOTKEY_OWNER, "hotkey has no owner yet: it must be registered on a subnet first");
  if (rc) return rc;
  if ((rc = ag_account_debit(st, tx->sender, amount))) return rc;
  if ((rc = ag_stake_get(&s, hk, tx->sender, &cur))) return rc;
  if (ag_add_u64(cur, amount, &next)) return ag_fail(AG_E_OVERFLOW, "stake overflows");
  return ag_stake_set(st, hk, tx->sender, next);
}

static int stake_remove_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  const uint8_t *hk = tx->payload;
  uint64_t amount = ag_get_u64le(tx->payload + 32), cur;
  int rc = ag_stake_get(&s, hk, tx->sender, &cur);
  if (rc) return rc;
  if (cur < amount) {
    char have[32], want[32];
    ag_amount_format(cur, have);
    ag_amount_format(amount, want);
    return ag_fail(AG_E_STAKE_INSUFFICIENT, "you have %s AGR staked on this hotkey, not %s", have, want);
  }
  if ((rc = ag_stake_set(st, hk, tx->sender, cur - amount))) return rc;
  return ag_account_credit(st, tx->sender, amount);
}

static json_t *stake_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", ag_json_addr(tx->payload));
  json_object_set_new(o, "amount", u64s(ag_get_u64le(tx->payload + 32)));
  return o;
}

/* ---- take -------------------------------------------------------------------------------------- */

static int take_validate(const ag_tx *tx) { return require_len(tx, 34, "set_take"); }

static int take_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  ag_incentive_params p;
  ag_hotkey_info h;
  int rc = load_params(app, &p);
  if (!rc) rc = ag_hotkey_load(&s, tx->payload, &h);
  if (rc == AG_E_NOTFOUND) return ag_fail(AG_E_HOTKEY_OWNER, "hotkey has no owner yet");
  if (rc) return rc;
  if (memcmp(h.owner, tx->sender, 32) != 0)
    return ag_fail(AG_E_NOT_OWNER, "only the hotkey's owner may set its take");
  uint16_t take = ag_get_u16le(tx->payload + 32);
  if (take > p.max_take)
    return ag_fail(AG_E_TAKE, "take %u exceeds the maximum %u (of 65535)", take, p.max_take);
  h.take = take;
  ag_hotkey_store(st, tx->payload, &h);
  return 0;
}

static json_t *take_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", ag_json_addr(tx->payload));
  json_object_set_new(o, "take", json_integer(ag_get_u16le(tx->payload + 32)));
  return o;
}

/* ---- subnet create / set ------------------------------------------------------------------------ */

static int printable(const uint8_t *p, size_t n, int allow_space) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7e) {
      if (!(allow_space && p[i] == ' ')) return 0;
    }
  return 1;
}

static int create_validate(const ag_tx *tx) {
  if (tx->payload_len < 8 + 32 + 1) return ag_fail(AG_E_TX_PAYLOAD, "subnet_create payload too short");
  uint8_t nl = tx->payload[40];
  if (nl < 1 || nl > AG_NAME_MAX || tx->payload_len != 41u + nl)
    return ag_fail(AG_E_TX_PAYLOAD, "subnet name must be 1..%d bytes", AG_NAME_MAX);
  if (!printable(tx->payload + 41, nl, 1))
    return ag_fail(AG_E_TX_PAYLOAD, "subnet name must be printable ASCII");
  return 0;
}

static int create_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload);
  return 0;
}

static int create_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  ag_incentive_params p;
  int rc = load_params(app, &p);
  if (rc) return rc;
  uint64_t max_cost = ag_get_u64le(tx->payload);
  if (p.subnet_cost > max_cost) {
    char c[32], m[32];
    ag_amount_format(p.subnet_cost, c);
    ag_amount_format(max_cost, m);
    return ag_fail(AG_E_COST_ABOVE_MAX, "creating a subnet costs %s AGR; you signed at most %s", c, m);
  }
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  if ((rc = ag_subnet_list(&s, list, AG_MAX_SUBNETS, &n))) return rc;
  if (n >= AG_MAX_SUBNETS) return ag_fail(AG_E_TOO_MANY_SUBNETS, "%d subnets exist already", AG_MAX_SUBNETS);
  if ((rc = ag_account_debit(st, tx->sender, p.subnet_cost))) return rc;
  ag_app_burn(app, p.subnet_cost);
  uint16_t netuid = 1;
  for (size_t i = 0; i < n && list[i] == netuid; i++) netuid++; /* list is sorted */
  ag_subnet sn;
  memset(&sn, 0, sizeof sn);
  sn.netuid = netuid;
  memcpy(sn.owner, tx->sender, 32);
  memcpy(sn.owner_hotkey, tx->payload + 8, 32);
  memcpy(sn.name, tx->payload + 41, tx->payload[40]);
  uint64_t h = height_of(app);
  sn.created_block = h;
  ag_hyperparams_default(&sn.hp);
  sn.burn = p.burn_initial;
  sn.burn_block = h;
  sn.last_epoch_block = h; /* the first epoch comes one tempo after creation */
  sn.share = 1;
  ag_subnet_store(st, &sn);
  size_t pos = 0;
  while (pos < n && list[pos] < netuid) pos++;
  memmove(list + pos + 1, list + pos, (n - pos) * sizeof *list);
  list[pos] = netuid;
  ag_subnet_list_store(st, list, n + 1);
  return 0;
}

static json_t *create_json(const ag_tx *tx) {
  json_t *o = json_object();
  static const uint8_t zero[32];
  json_object_set_new(o, "max_cost", u64s(ag_get_u64le(tx->payload)));
  json_object_set_new(o, "owner_hotkey", memcmp(tx->payload + 8, zero, 32) ? ag_json_addr(tx->payload + 8) : json_null());
  json_object_set_new(o, "name", json_stringn((const char *)tx->payload + 41, tx->payload[40]));
  return o;
}

static int set_validate(const ag_tx *tx) {
  if (tx->payload_len < 4) return ag_fail(AG_E_TX_PAYLOAD, "subnet_set payload too short");
  uint8_t pl = tx->payload[2];
  if (pl < 1 || pl > 40 || tx->payload_len != 3u + pl + 8)
    return ag_fail(AG_E_TX_PAYLOAD, "subnet_set: bad parameter name length");
  if (!printable(tx->payload + 3, pl, 0)) return ag_fail(AG_E_TX_PAYLOAD, "subnet_set: bad parameter name");
  return 0;
}

static int set_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t netuid = ag_get_u16le(tx->payload);
  ag_subnet sn;
  int rc = ag_subnet_load(&s, netuid, &sn);
  if (rc) return rc;
  if (memcmp(sn.owner, tx->sender, 32) != 0)
    return ag_fail(AG_E_NOT_OWNER, "only the owner of subnet %u may change its hyperparameters", netuid);
  char name[41];
  uint8_t pl = tx->payload[2];
  memcpy(name, tx->payload + 3, pl);
  name[pl] = 0;
  uint64_t value = ag_get_u64le(tx->payload + 3 + pl);
  if ((rc = ag_hyperparam_set(&sn.hp, name, value))) return rc;
  if (sn.hp.max_uids < sn.n)
    return ag_fail(AG_E_HYPERPARAM, "max_uids cannot go below the %u neurons registered", sn.n);
  ag_subnet_store(st, &sn);
  return 0;
}

static json_t *set_json(const ag_tx *tx) {
  json_t *o = json_object();
  uint8_t pl = tx->payload[2];
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "param", json_stringn((const char *)tx->payload + 3, pl));
  json_object_set_new(o, "value", u64s(ag_get_u64le(tx->payload + 3 + pl)));
  return o;
}

/* ---- registration ----------------------------------------------------------------------------- */

static int register_validate(const ag_tx *tx) { return require_len(tx, 2 + 32 + 8 + 64, "register"); }

static int register_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 34);
  return 0;
}

/* The neuron a registration replaces when the subnet is full: among the non-immune uids (the
 * owner's hotkey never counts), the lowest (emission, registration block, uid). */
static int pick_replacement(ag_ist *s, const ag_subnet *sn, uint64_t height, uint16_t *uid,
                            uint64_t *first_free) {
  int found = 0;
  ag_neuron best = {0};
  *first_free = UINT64_MAX;
  static const uint8_t zero[32];
  for (uint16_t u = 0; u < sn->n; u++) {
    ag_neuron nr;
    int rc = ag_neuron_load(s, sn->netuid, u, &nr);
    if (rc) return rc;
    if (memcmp(sn->owner_hotkey, zero, 32) && !memcmp(nr.hotkey, sn->owner_hotkey, 32)) continue;
    uint64_t free_at = nr.reg_block + sn->hp.immunity_period;
    if (height < free_at) {
      if (free_at < *first_free) *first_free = free_at;
      continue;
    }
    if (!found || nr.emission < best.emission ||
        (nr.emission == best.emission && nr.reg_block < best.reg_block)) {
      best = nr;
      *uid = u;
      found = 1;
    }
  }
  return found ? 0 : AG_E_NOTFOUND;
}

static int register_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t netuid = ag_get_u16le(tx->payload);
  const uint8_t *hk = tx->payload + 2;
  uint64_t max_cost = ag_get_u64le(tx->payload + 34);
  const uint8_t *sig = tx->payload + 42;
  uint8_t claim[32];
  ag_hotkey_claim_hash(tx->chain_id, tx->sender, hk, claim);
  if (ag_verify(hk, claim, 32, sig))
    return ag_fail(AG_E_HOTKEY_SIG, "the hotkey's signature over the claim does not verify");
  ag_subnet sn;
  int rc = ag_subnet_load(&s, netuid, &sn);
  if (rc) return rc;
  ag_hotkey_info h;
  rc = ag_hotkey_load(&s, hk, &h);
  int new_hotkey = rc == AG_E_NOTFOUND;
  if (rc && !new_hotkey) return rc;
  if (!new_hotkey && memcmp(h.owner, tx->sender, 32) != 0)
    return ag_fail(AG_E_HOTKEY_OWNER, "this hotkey belongs to another coldkey");
  uint16_t uid;
  if (ag_neuron_uid(&s, netuid, hk, &uid) == 0)
    return ag_fail(AG_E_ALREADY_REGISTERED, "hotkey is already uid %u on subnet %u", uid, netuid);
  uint64_t height = height_of(app);
  uint64_t cost = ag_subnet_burn_at(&sn, height);
  ag_incentive_params p;
  if ((rc = load_params(app, &p))) return rc;
  if (cost < p.burn_min) cost = p.burn_min;
  if (cost > max_cost) {
    char c[32], m[32];
    ag_amount_format(cost, c);
    ag_amount_format(max_cost, m);
    return ag_fail(AG_E_COST_ABOVE_MAX, "registration on subnet %u costs %s AGR at block %llu; you signed at most %s",
                   netuid, c, (unsigned long long)height, m);
  }
  if (sn.n < sn.hp.max_uids) {
    uid = sn.n++;
  } else {
    uint64_t free_at;
    rc = pick_replacement(&s, &sn, height, &uid, &free_at);
    if (rc == AG_E_NOTFOUND)
      return ag_fail(AG_E_SUBNET_FULL, "subnet %u is full and every neuron is immune until block %llu",
                     netuid, (unsigned long long)free_at);
    if (rc) return rc;
    ag_neuron old;
    if ((rc = ag_neuron_load(&s, netuid, uid, &old))) return rc;
    ag_neuron_uid_store(st, netuid, old.hotkey, -1);
    ag_row_store(st, 'w', netuid, uid, NULL, 0);
    ag_row_store(st, 'b', netuid, uid, NULL, 0);
    ag_commits_store(st, netuid, uid, NULL, 0);
    /* as subtensor's clear_neuron: every other row's weight on this uid becomes 0 (the entry
     * stays), so the new hotkey inherits no support */
    for (uint16_t i = 0; i < sn.n; i++) {
      ag_yuma_entry *e;
      uint32_t len;
      if ((rc = ag_weights_load(&s, netuid, i, &e, &len))) return rc;
      int changed = 0;
      for (uint32_t k = 0; k < len; k++)
        if (e[k].uid == uid && e[k].value) e[k].value = 0, changed = 1;
      if (changed) ag_row_store(st, 'w', netuid, i, e, len);
      free(e);
    }
  }
  if ((rc = ag_account_debit(st, tx->sender, cost))) return rc;
  ag_app_burn(app, cost);
  ag_neuron nr;
  memset(&nr, 0, sizeof nr);
  memcpy(nr.hotkey, hk, 32);
  nr.reg_block = height;
  nr.last_update = height;
  ag_neuron_store(st, netuid, uid, &nr);
  ag_neuron_uid_store(st, netuid, hk, uid);
  if (new_hotkey) {
    memcpy(h.owner, tx->sender, 32);
    h.take = p.default_take;
    h.total_stake = 0;
    ag_hotkey_store(st, hk, &h);
  }
  /* the price rises 26% with each registration, within its bounds */
  uint64_t next = (uint64_t)(((unsigned __int128)cost * 126) / 100);
  sn.burn = next > p.burn_max ? p.burn_max : next < p.burn_min ? p.burn_min : next;
  sn.burn_block = height;
  ag_subnet_store(st, &sn);
  return 0;
}

static json_t *register_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "hotkey", ag_json_addr(tx->payload + 2));
  json_object_set_new(o, "max_cost", u64s(ag_get_u64le(tx->payload + 34)));
  return o;
}

/* ---- serve (announce an endpoint) ------------------------------------------------------------ */

static int serve_validate(const ag_tx *tx) {
  if (tx->payload_len < 6) return ag_fail(AG_E_TX_PAYLOAD, "serve payload too short");
  uint8_t proto = tx->payload[2], hl = tx->payload[5];
  if (proto < 1 || proto > 2) return ag_fail(AG_E_TX_PAYLOAD, "serve: protocol must be 1 (http) or 2 (https)");
  if (ag_get_u16le(tx->payload + 3) == 0) return ag_fail(AG_E_TX_PAYLOAD, "serve: port must be 1..65535");
  if (hl < 1 || hl > AG_HOST_MAX || tx->payload_len != 6u + hl)
    return ag_fail(AG_E_TX_PAYLOAD, "serve: host must be 1..%d bytes", AG_HOST_MAX);
  /* the form here; whether private hosts are allowed is the chain's (serve_apply) */
  return ag_endpoint_check((const char *)tx->payload + 6, hl, 1);
}

static int serve_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t netuid = ag_get_u16le(tx->payload), uid;
  int rc = ag_neuron_uid(&s, netuid, tx->sender, &uid);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_NOT_REGISTERED, "the sending hotkey is not registered on subnet %u", netuid);
  if (rc) return rc;
  ag_neuron nr;
  ag_incentive_params p;
  if ((rc = ag_neuron_load(&s, netuid, uid, &nr)) || (rc = load_params(app, &p))) return rc;
  if ((rc = ag_endpoint_check((const char *)tx->payload + 6, tx->payload[5], p.allow_private_endpoints))) return rc;
  nr.protocol = tx->payload[2];
  nr.port = ag_get_u16le(tx->payload + 3);
  memcpy(nr.host, tx->payload + 6, tx->payload[5]);
  nr.host[tx->payload[5]] = 0;
  ag_neuron_store(st, netuid, uid, &nr);
  return 0;
}

static json_t *serve_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "protocol", json_string(tx->payload[2] == 1 ? "http" : "https"));
  json_object_set_new(o, "port", json_integer(ag_get_u16le(tx->payload + 3)));
  json_object_set_new(o, "host", json_stringn((const char *)tx->payload + 6, tx->payload[5]));
  return o;
}

/* ---- weights ----------------------------------------------------------------------------------- */

typedef struct {
  uint16_t netuid;
  uint64_t version_key;
  uint16_t n, m;
  const uint8_t *uids, *weights, *salt;
} wpay;

static int parse_weights(const ag_tx *tx, int with_salt, wpay *w) {
  ag_reader r;
  ag_reader_init(&r, tx->payload, tx->payload_len);
  if (ag_read_u16le(&r, &w->netuid) || ag_read_u64le(&r, &w->version_key) ||
      ag_read_u16le(&r, &w->n) || w->n > AG_MAX_UIDS || ag_read_ptr(&r, 2u * w->n, &w->uids) ||
      ag_read_u16le(&r, &w->m) || w->m > AG_MAX_UIDS || ag_read_ptr(&r, 2u * w->m, &w->weights))
    return ag_fail(AG_E_TX_PAYLOAD, "weights payload is malformed (at most %d entries)", AG_MAX_UIDS);
  w->salt = NULL;
  if (with_salt && ag_read_ptr(&r, 32, &w->salt))
    return ag_fail(AG_E_TX_PAYLOAD, "reveal payload lacks the 32-byte salt");
  if (ag_read_end(&r)) return ag_fail(AG_E_TX_PAYLOAD, "unexpected bytes after the weights");
  return 0;
}

static int weights_validate(const ag_tx *tx) {
  wpay w;
  return parse_weights(tx, tx->kind == AG_TX_REVEAL_WEIGHTS, &w);
}

typedef struct {
  uint16_t uid, w;
} pair;

static int cmp_pair(const void *a, const void *b) {
  return (int)((const pair *)a)->uid - (int)((const pair *)b)->uid;
}

/* Checks a weights vector of uid self on sn and stores it (max-upscaled, sorted). */
static int store_weights(ag_state *st, const ag_subnet *sn, uint16_t self, const ag_neuron *nr,
                         const wpay *w) {
  if (w->n != w->m)
    return ag_fail(AG_E_WEIGHTS_LEN, "%u uids but %u weights", w->n, w->m);
  if (!nr->permit)
    return ag_fail(AG_E_NO_PERMIT, "uid %u has no validator permit on subnet %u (the top %u by stake get one at each epoch)",
                   self, sn->netuid, sn->hp.max_validators);
  if (w->version_key < sn->hp.weights_version_key)
    return ag_fail(AG_E_WEIGHTS_VERSION, "version key %llu is below the subnet's %llu",
                   (unsigned long long)w->version_key, (unsigned long long)sn->hp.weights_version_key);
  pair *v = ag_xmalloc((w->n + 1) * sizeof *v);
  uint64_t sum = 0, max = 0;
  for (uint16_t i = 0; i < w->n; i++) {
    v[i].uid = ag_get_u16le(w->uids + 2 * i);
    v[i].w = ag_get_u16le(w->weights + 2 * i);
    sum += v[i].w;
    if (v[i].w > max) max = v[i].w;
  }
  qsort(v, w->n, sizeof *v, cmp_pair);
  int rc = 0;
  for (uint16_t i = 0; i < w->n && !rc; i++) {
    if (v[i].uid >= sn->n)
      rc = ag_fail(AG_E_WEIGHTS_UID, "uid %u does not exist on subnet %u (uids 0..%d)", v[i].uid, sn->netuid, sn->n - 1);
    else if (i && v[i].uid == v[i - 1].uid)
      rc = ag_fail(AG_E_WEIGHTS_DUP, "uid %u appears twice", v[i].uid);
  }
  int self_only = w->n == 1 && v[0].uid == self;
  uint16_t need = sn->hp.min_allowed_weights < sn->n ? sn->hp.min_allowed_weights : sn->n;
  if (!rc && !self_only && w->n < need)
    rc = ag_fail(AG_E_WEIGHTS_TOO_FEW, "%u weights; subnet %u requires at least %u", w->n, sn->netuid, need);
  if (!rc && sn->hp.max_weight_limit < 65535 && !self_only && sum &&
      max * 65535 > (uint64_t)sn->hp.max_weight_limit * sum)
    rc = ag_fail(AG_E_MAX_WEIGHT, "one weight is %llu%% of the total; the limit is %u/65535",
                 (unsigned long long)(max * 100 / sum), sn->hp.max_weight_limit);
  if (!rc) {
    uint16_t *raw = ag_xmalloc((w->n + 1) * sizeof *raw);
    for (uint16_t i = 0; i < w->n; i++) raw[i] = v[i].w;
    ag_yuma_weights_upscale(raw, w->n, raw);
    ag_yuma_entry *e = ag_xmalloc((w->n + 1) * sizeof *e);
    for (uint16_t i = 0; i < w->n; i++) {
      e[i].uid = v[i].uid;
      e[i].value = raw[i];
    }
    ag_row_store(st, 'w', sn->netuid, self, e, w->n);
    free(e);
    free(raw);
  }
  free(v);
  return rc;
}

static int load_sender_neuron(ag_ist *s, const ag_tx *tx, uint16_t netuid, ag_subnet *sn,
                              uint16_t *uid, ag_neuron *nr) {
  int rc = ag_subnet_load(s, netuid, sn);
  if (rc) return rc;
  rc = ag_neuron_uid(s, netuid, tx->sender, uid);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_NOT_REGISTERED, "the sending hotkey is not registered on subnet %u", netuid);
  if (rc) return rc;
  return ag_neuron_load(s, netuid, *uid, nr);
}

static int rate_limit(const ag_subnet *sn, uint16_t uid, const ag_neuron *nr, uint64_t height) {
  uint64_t next = nr->last_update + sn->hp.weights_rate_limit;
  if (nr->last_update != 0 && height < next)
    return ag_fail(AG_E_WEIGHTS_RATE,
                   "uid %u last set weights at block %llu; the rate limit of subnet %u is %llu blocks, so the next is allowed at block %llu (now %llu)",
                   uid, (unsigned long long)nr->last_update, sn->netuid,
                   (unsigned long long)sn->hp.weights_rate_limit, (unsigned long long)next,
                   (unsigned long long)height);
  return 0;
}

static int set_weights_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  wpay w;
  parse_weights(tx, 0, &w);
  ag_subnet sn;
  ag_neuron nr;
  uint16_t uid;
  int rc = load_sender_neuron(&s, tx, w.netuid, &sn, &uid, &nr);
  if (rc) return rc;
  if (sn.hp.commit_reveal)
    return ag_fail(AG_E_COMMIT_REVEAL_ON, "subnet %u uses commit-reveal: commit the weights' hash, then reveal them", w.netuid);
  uint64_t height = height_of(app);
  if (nr.last_update != nr.reg_block && (rc = rate_limit(&sn, uid, &nr, height))) return rc;
  if ((rc = store_weights(st, &sn, uid, &nr, &w))) return rc;
  nr.last_update = height;
  ag_neuron_store(st, w.netuid, uid, &nr);
  return 0;
}

static int commit_validate(const ag_tx *tx) { return require_len(tx, 34, "commit_weights"); }

static int commit_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t netuid = ag_get_u16le(tx->payload), uid;
  ag_subnet sn;
  ag_neuron nr;
  int rc = load_sender_neuron(&s, tx, netuid, &sn, &uid, &nr);
  if (rc) return rc;
  if (!sn.hp.commit_reveal)
    return ag_fail(AG_E_COMMIT_REVEAL_OFF, "subnet %u does not use commit-reveal: use set_weights", netuid);
  if (!nr.permit)
    return ag_fail(AG_E_NO_PERMIT, "uid %u has no validator permit on subnet %u", uid, netuid);
  uint64_t height = height_of(app);
  if (nr.last_update != nr.reg_block && (rc = rate_limit(&sn, uid, &nr, height))) return rc;
  ag_commit c[AG_MAX_COMMITS + 1];
  int n;
  if ((rc = ag_commits_load(&s, netuid, uid, c, &n))) return rc;
  int kept = 0;
  for (int i = 0; i < n; i++) /* drop expired commits */
    if (c[i].epoch + sn.hp.reveal_period >= sn.epoch) c[kept++] = c[i];
  if (kept >= AG_MAX_COMMITS)
    return ag_fail(AG_E_TOO_MANY_COMMITS, "uid %u already has %d unrevealed commits", uid, kept);
  memcpy(c[kept].hash, tx->payload + 2, 32);
  c[kept].block = height;
  c[kept].epoch = sn.epoch;
  ag_commits_store(st, netuid, uid, c, kept + 1);
  nr.last_update = height; /* as subtensor: the commit counts as the update */
  ag_neuron_store(st, netuid, uid, &nr);
  return 0;
}

static int reveal_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  wpay w;
  parse_weights(tx, 1, &w);
  ag_subnet sn;
  ag_neuron nr;
  uint16_t uid;
  int rc = load_sender_neuron(&s, tx, w.netuid, &sn, &uid, &nr);
  if (rc) return rc;
  if (!sn.hp.commit_reveal)
    return ag_fail(AG_E_COMMIT_REVEAL_OFF, "subnet %u does not use commit-reveal", w.netuid);
  if (w.n != w.m) return ag_fail(AG_E_WEIGHTS_LEN, "%u uids but %u weights", w.n, w.m);
  uint16_t *uids = ag_xmalloc((w.n + 1) * 2), *ws = ag_xmalloc((w.n + 1) * 2);
  for (uint16_t i = 0; i < w.n; i++) {
    uids[i] = ag_get_u16le(w.uids + 2 * i);
    ws[i] = ag_get_u16le(w.weights + 2 * i);
  }
  uint8_t h[32];
  ag_weights_commit_hash(tx->sender, w.netuid, w.version_key, uids, ws, w.n, w.salt, h);
  free(uids);
  free(ws);
  ag_commit c[AG_MAX_COMMITS];
  int n, hit = -1;
  if ((rc = ag_commits_load(&s, w.netuid, uid, c, &n))) return rc;
  for (int i = 0; i < n; i++)
    if (!memcmp(c[i].hash, h, 32)) hit = i;
  if (hit < 0 && !n)
    return ag_fail(AG_E_REVEAL_MISMATCH,
                   "uid %u has no unrevealed commit on subnet %u: a commit expires unrevealed at the end of epoch "
                   "(its epoch + reveal_period %llu)", uid, w.netuid, (unsigned long long)sn.hp.reveal_period);
  if (hit < 0)
    return ag_fail(AG_E_REVEAL_MISMATCH, "none of uid %u's %d unrevealed commit(s) matches these weights, version key "
                   "and salt", uid, n);
  uint64_t due = c[hit].epoch + sn.hp.reveal_period;
  if (sn.epoch < due)
    return ag_fail(AG_E_REVEAL_EARLY,
                   "committed at block %llu; the reveal is allowed after %llu more epoch(s) of subnet %u (about block %llu)",
                   (unsigned long long)c[hit].block, (unsigned long long)(due - sn.epoch), w.netuid,
                   (unsigned long long)(sn.last_epoch_block + sn.hp.tempo * (due - sn.epoch)));
  if (sn.epoch > due)
    return ag_fail(AG_E_REVEAL_LATE,
                   "the commit of block %llu had to be revealed during epoch %llu of subnet %u; it is now epoch %llu",
                   (unsigned long long)c[hit].block, (unsigned long long)due, w.netuid,
                   (unsigned long long)sn.epoch);
  if ((rc = store_weights(st, &sn, uid, &nr, &w))) return rc;
  memmove(&c[hit], &c[hit + 1], (size_t)(n - hit - 1) * sizeof *c);
  ag_commits_store(st, w.netuid, uid, c, n - 1);
  return 0;
}

static json_t *weights_json(const ag_tx *tx) {
  wpay w;
  json_t *o = json_object();
  if (parse_weights(tx, tx->kind == AG_TX_REVEAL_WEIGHTS, &w)) return o;
  json_t *uids = json_array(), *ws = json_array();
  for (uint16_t i = 0; i < w.n; i++) json_array_append_new(uids, json_integer(ag_get_u16le(w.uids + 2 * i)));
  for (uint16_t i = 0; i < w.m; i++) json_array_append_new(ws, json_integer(ag_get_u16le(w.weights + 2 * i)));
  json_object_set_new(o, "netuid", json_integer(w.netuid));
  json_object_set_new(o, "version_key", u64s(w.version_key));
  json_object_set_new(o, "uids", uids);
  json_object_set_new(o, "weights", ws);
  return o;
}

static json_t *commit_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "commit", ag_json_hex(tx->payload + 2, 32));
  return o;
}

/* ---- sudo --------------------------------------------------------------------------------------- */

static int share_validate(const ag_tx *tx) { return require_len(tx, 4, "sudo_set_share"); }

/* 0 when tx is signed by the genesis sudo key; AG_E_NOT_SUDO naming what it may do otherwise. */
static int require_sudo(ag_app *app, const ag_tx *tx, const char *what) {
  ag_incentive_params p;
  int rc = load_params(app, &p);
  if (rc) return rc;
  static const uint8_t zero[32];
  if (!memcmp(p.sudo, zero, 32) || memcmp(p.sudo, tx->sender, 32))
    return ag_fail(AG_E_NOT_SUDO, "only the chain's sudo key may %s", what);
  return 0;
}

static int share_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  int rc = require_sudo(app, tx, "set emission shares");
  if (rc) return rc;
  ag_subnet sn;
  if ((rc = ag_subnet_load(&s, ag_get_u16le(tx->payload), &sn))) return rc;
  sn.share = ag_get_u16le(tx->payload + 2);
  ag_subnet_store(st, &sn);
  return 0;
}

static json_t *share_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "share", json_integer(ag_get_u16le(tx->payload + 2)));
  return o;
}

/* The validator set of a CometBFT chain: the sudo key adds, reweighs or removes a consensus key
 * (docs/multi-validator.md "Changing the validators"); the app checks the change (app.h). */
static int validator_validate(const ag_tx *tx) {
  int rc = require_len(tx, 40, "sudo_set_validator");
  if (!rc && ag_get_u64le(tx->payload + 32) > AG_VALIDATOR_POWER_MAX)
    rc = ag_fail(AG_E_TX_PAYLOAD, "a validator's power is at most %llu", (unsigned long long)AG_VALIDATOR_POWER_MAX);
  return rc;
}

static int validator_apply(ag_app *app, const ag_tx *tx) {
  int rc = require_sudo(app, tx, "change the validator set");
  if (rc) return rc;
  ag_ist s = {ag_app_state(app), NULL};
  ag_vcandidate *c;
  size_t n;
  if ((rc = ag_vstake_list(&s, &c, &n))) return rc;
  for (size_t i = 0; i < n && !rc; i++)
    if (!memcmp(c[i].pk, tx->payload, 32))
      rc = ag_fail(AG_E_VALIDATOR_KEY_TAKEN, "this key is a validator by bond: its power follows its bond");
  free(c);
  return rc ? rc : ag_app_validator_set(app, tx->payload, ag_get_u64le(tx->payload + 32));
}

static json_t *validator_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "consensus_key", ag_json_hex(tx->payload, 32));
  json_object_set_new(o, "power", ag_json_u64n(ag_get_u64le(tx->payload + 32)));
  return o;
}

void ag_payload_set_validator(ag_buf *out, const uint8_t key[32], uint64_t power) {
  ag_buf_put(out, key, 32);
  ag_buf_put_u64le(out, power);
}

/* ---- pinning a subnet's model ---------------------------------------------------------------- */

static int model_validate(const ag_tx *tx) {
  int rc = require_len(tx, 2 + 1 + 32 + 8, "subnet_set_model");
  if (!rc && tx->payload[2] > AG_SUBNET_TRAINING)
    rc = ag_fail(AG_E_TX_PAYLOAD, "subnet kind must be 0 (generic), 1 (inference) or 2 (training)");
  return rc;
}

static int model_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t netuid = ag_get_u16le(tx->payload);
  ag_subnet sn;
  int rc = ag_subnet_load(&s, netuid, &sn);
  if (rc) return rc;
  if (memcmp(sn.owner, tx->sender, 32) != 0)
    return ag_fail(AG_E_NOT_OWNER, "only the owner of subnet %u may pin its model", netuid);
  ag_subnet_model m;
  m.kind = tx->payload[2];
  memcpy(m.model_id, tx->payload + 3, 32);
  m.size = ag_get_u64le(tx->payload + 35);
  m.set_block = height_of(app);
  ag_subnet_model_store(st, netuid, &m);
  if (m.kind == AG_SUBNET_TRAINING) ag_training_on_pin(st, netuid, &m, m.set_block);
  return 0;
}

static json_t *model_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(tx->payload)));
  json_object_set_new(o, "kind", json_string(ag_subnet_kind_name(tx->payload[2])));
  json_object_set_new(o, "model_id", ag_json_hex(tx->payload + 3, 32));
  json_object_set_new(o, "size", ag_json_u64n(ag_get_u64le(tx->payload + 35)));
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_STAKE_ADD, "stake_add", stake_validate, stake_add_spend, stake_add_apply, stake_json},
    {AG_TX_STAKE_REMOVE, "stake_remove", stake_validate, no_spend, stake_remove_apply, stake_json},
    {AG_TX_SET_TAKE, "set_take", take_validate, no_spend, take_apply, take_json},
    {AG_TX_SUBNET_CREATE, "subnet_create", create_validate, create_spend, create_apply, create_json},
    {AG_TX_SUBNET_SET, "subnet_set", set_validate, no_spend, set_apply, set_json},
    {AG_TX_REGISTER, "register", register_validate, register_spend, register_apply, register_json},
    {AG_TX_SERVE, "serve", serve_validate, no_spend, serve_apply, serve_json},
    {AG_TX_SET_WEIGHTS, "set_weights", weights_validate, no_spend, set_weights_apply, weights_json},
    {AG_TX_COMMIT_WEIGHTS, "commit_weights", commit_validate, no_spend, commit_apply, commit_json},
    {AG_TX_REVEAL_WEIGHTS, "reveal_weights", weights_validate, no_spend, reveal_apply, weights_json},
    {AG_TX_SUDO_SET_SHARE, "sudo_set_share", share_validate, no_spend, share_apply, share_json},
    {AG_TX_SUBNET_SET_MODEL, "subnet_set_model", model_validate, no_spend, model_apply, model_json},
    {AG_TX_SUDO_SET_VALIDATOR, "sudo_set_validator", validator_validate, no_spend, validator_apply, validator_json},
};

void ag_incentive_register_kinds(void) {
  for (size_t i = 0; i < AG_ARRAY_LEN(kinds); i++) ag_tx_kind_register(&kinds[i]);
  ag_training_register_kinds();
  ag_vstake_register_kinds();
}
