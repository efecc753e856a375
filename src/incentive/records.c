/*
 * records.c — how the incentive layer's state is laid out in the state tree: keys, record
 * encodings (little-endian, fixed order, a version byte first), hyperparameter bounds, the
 * registration-cost decay and the emission schedule. No policy here: txs.c and epoch.c decide.
 */
#include "incentive/internal.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1

/* ---- keys ------------------------------------------------------------------------------- */

static size_t key_netuid(uint8_t *k, char tag, uint16_t netuid) {
  k[0] = (uint8_t)tag;
  k[1] = (uint8_t)(netuid >> 8);
  k[2] = (uint8_t)netuid;
  return 3;
}

static size_t key_uid(uint8_t *k, char tag, uint16_t netuid, uint16_t uid) {
  key_netuid(k, tag, netuid);
  k[3] = (uint8_t)(uid >> 8);
  k[4] = (uint8_t)uid;
  return 5;
}

/* ---- reads through the overlay or a view ---------------------------------------------- */

static int sget(ag_ist *s, const void *key, size_t klen, ag_buf *out) {
  if (s->view) return ag_state_view_get(s->view, key, klen, out);
  return ag_state_get_buf(s->st, key, klen, out);
}

/* ---- chain-wide params ------------------------------------------------------------------ */

void ag_incentive_params_default(ag_incentive_params *p) {
  memset(p, 0, sizeof *p);
  p->block_reward = AG_UNIT;          /* 1 AGR per block */
  p->halving_interval = 10500000;     /* Bittensor's 10.5M-block first halving */
  p->subnet_cost = 1000 * AG_UNIT;
  p->burn_initial = AG_UNIT;
  p->burn_min = AG_UNIT / 2000;       /* 0.0005 AGR */
  p->burn_max = 100 * AG_UNIT;
  p->owner_cut = 11796;               /* 18% */
  p->default_take = 11796;
  p->max_take = 11796;
  p->min_stake = AG_UNIT / 10;        /* 0.1 AGR per (hotkey, coldkey) */
  p->max_stakers = 512;
}

static void params_encode(const ag_incentive_params *p, ag_buf *b) {
  ag_buf_put_u8(b, REC_VERSION);
  ag_buf_put_u64le(b, p->block_reward);
  ag_buf_put_u64le(b, p->halving_interval);
  ag_buf_put_u64le(b, p->subnet_cost);
  ag_buf_put_u64le(b, p->burn_initial);
  ag_buf_put_u64le(b, p->burn_min);
  ag_buf_put_u64le(b, p->burn_max);
  ag_buf_put_u16le(b, p->owner_cut);
  ag_buf_put_u16le(b, p->default_take);
  ag_buf_put_u16le(b, p->max_take);
  ag_buf_put(b, p->sudo, 32);
  ag_buf_put_u64le(b, p->min_stake);
  ag_buf_put_u16le(b, p->max_stakers);
  ag_buf_put_u8(b, p->allow_private_endpoints);
}

int ag_incentive_params_load(ag_ist *s, ag_incentive_params *p) {
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, AG_IKEY_PARAMS, strlen(AG_IKEY_PARAMS), &b);
  if (rc == AG_E_NOTFOUND) {
    ag_incentive_params_default(p);
    ag_buf_free(&b);
    return 0;
  }
  ag_reader r;
  ag_reader_init(&r, b.data, b.len);
  uint8_t v;
  if (!rc && (ag_read_u8(&r, &v) || v != REC_VERSION || ag_read_u64le(&r, &p->block_reward) ||
              ag_read_u64le(&r, &p->halving_interval) || ag_read_u64le(&r, &p->subnet_cost) ||
              ag_read_u64le(&r, &p->burn_initial) || ag_read_u64le(&r, &p->burn_min) ||
              ag_read_u64le(&r, &p->burn_max) || ag_read_u16le(&r, &p->owner_cut) ||
              ag_read_u16le(&r, &p->default_take) || ag_read_u16le(&r, &p->max_take) ||
              ag_read_bytes(&r, p->sudo, 32) || ag_read_u64le(&r, &p->min_stake) ||
              ag_read_u16le(&r, &p->max_stakers) || ag_read_u8(&r, &p->allow_private_endpoints) ||
              ag_read_end(&r)))
    rc = ag_fail(AG_E_CORRUPT, "bad incentive params record");
  ag_buf_free(&b);
  return rc;
}

void ag_incentive_params_store(ag_state *st, const ag_incentive_params *p) {
  ag_buf b;
  ag_buf_init(&b);
  params_encode(p, &b);
  ag_state_put(st, AG_IKEY_PARAMS, strlen(AG_IKEY_PARAMS), b.data, b.len);
  ag_buf_free(&b);
}

uint64_t ag_block_reward(const ag_incentive_params *p, uint64_t height) {
  if (p->halving_interval == 0) return p->block_reward;
  uint64_t halvings = height / p->halving_interval;
  return halvings >= 64 ? 0 : p->block_reward >> halvings;
}

/* ---- hyperparameters -------------------------------------------------------------------- */

void ag_hyperparams_default(ag_hyperparams *hp) {
  memset(hp, 0, sizeof *hp);
  hp->tempo = 360;
  hp->max_uids = 256;
  hp->max_validators = 64;
  hp->immunity_period = 5000;
  hp->activity_cutoff = 5000;
  hp->weights_rate_limit = 100;
  hp->min_allowed_weights = 1;
  hp->max_weight_limit = 65535;
  hp->kappa = 32767;
  hp->bonds_moving_average = 900000;
  hp->bonds_penalty = 65535;
  hp->yuma3 = 1;
  hp->liquid_alpha = 0;
  hp->alpha_low = 45875;
  hp->alpha_high = 58982;
  hp->alpha_sigmoid_steepness = 1000;
  hp->commit_reveal = 1;
  hp->reveal_period = 1;
  hp->weights_version_key = 0;
  hp->stake_threshold = 0;
  hp->train_round_blocks = 20;
  hp->train_submit_blocks = 10;
  hp->train_reveal_blocks = 4;
  hp->train_shares = 1000000;
  hp->train_top = 8;
  hp->train_k = 48;
  hp->train_inner_steps = 8;
  hp->train_window = 8192;
  hp->train_outer_lr = 1000000;
  hp->train_momentum = 500000;
  hp->train_data_share = 100000;
}

typedef struct {
  const char *name;
  size_t off;
  int size; /* 1, 2, 8 bytes; negative = signed */
  int64_t min;
  uint64_t max;
} hp_field;

#define HP(f, mn, mx) {#f, offsetof(ag_hyperparams, f), (int)sizeof(((ag_hyperparams *)0)->f), mn, mx}
static const hp_field fields[] = {
    HP(tempo, 1, 50400),
    HP(max_uids, 1, AG_MAX_UIDS),
    HP(max_validators, 1, AG_MAX_UIDS),
    HP(immunity_period, 0, 1000000),
    HP(activity_cutoff, 1, 1000000),
    HP(weights_rate_limit, 0, 1000000),
    HP(min_allowed_weights, 0, AG_MAX_UIDS),
    HP(max_weight_limit, 1, 65535),
    HP(kappa, 0, 65535),
    HP(bonds_moving_average, 0, 975000),
    HP(bonds_penalty, 0, 65535),
    HP(yuma3, 0, 1),
    HP(liquid_alpha, 0, 1),
    HP(alpha_low, 1638, 65535),
    HP(alpha_high, 1638, 65535),
    {"alpha_sigmoid_steepness", offsetof(ag_hyperparams, alpha_sigmoid_steepness), -2, -32768, 32767},
    HP(commit_reveal, 0, 1),
    HP(reveal_period, 1, 100),
    HP(weights_version_key, 0, UINT64_MAX),
    HP(stake_threshold, 0, UINT64_MAX),
    HP(train_round_blocks, 3, 1000000),
    HP(train_submit_blocks, 1, 1000000),
    HP(train_reveal_blocks, 1, 1000000),
    HP(train_shares, 1, 1000000000000000ULL),
    HP(train_top, 1, 256),
    HP(train_k, 1, 2048),
    HP(train_inner_steps, 1, 10000),
    HP(train_window, 128, 1000000000),
    HP(train_outer_lr, 1, 10000000),
    HP(train_momentum, 0, 990000),
    HP(train_data_share, 0, 900000),
};

size_t ag_hyperparam_count(void) { return AG_ARRAY_LEN(fields); }
const char *ag_hyperparam_name(size_t i) { return fields[i].name; }

void ag_hyperparam_bounds(size_t i, uint64_t *min, uint64_t *max) {
  *min = (uint64_t)fields[i].min;
  *max = fields[i].max;
}

uint64_t ag_hyperparam_get(const ag_hyperparams *hp, size_t i) {
  const uint8_t *p = (const uint8_t *)hp + fields[i].off;
  switch (fields[i].size) {
  case 1: return *p;
  case 2: {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case -2: {
    int16_t v;
    memcpy(&v, p, 2);
    return (uint64_t)(int64_t)v;
  }
  default: {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  }
}

int ag_hyperparams_check(const ag_hyperparams *hp) {
  if (hp->max_validators > hp->max_uids)
    return ag_fail(AG_E_HYPERPARAM, "max_validators (%u) cannot exceed max_uids (%u)",
                   hp->max_validators, hp->max_uids);
  if (hp->train_submit_blocks + hp->train_reveal_blocks >= hp->train_round_blocks)
    return ag_fail(AG_E_HYPERPARAM,
                   "train_submit_blocks + train_reveal_blocks (%llu + %llu) must be below train_round_blocks (%llu)",
                   (unsigned long long)hp->train_submit_blocks, (unsigned long long)hp->train_reveal_blocks,
                   (unsigned long long)hp->train_round_blocks);
  if (hp->alpha_low > hp->alpha_high)
    return ag_fail(AG_E_HYPERPARAM, "alpha_low (%u) cannot exceed alpha_high (%u)", hp->alpha_low,
                   hp->alpha_high);
  return 0;
}

/* Sets one field within its own bounds; cross-field rules are ag_hyperparams_check's. */
static int set_field(ag_hyperparams *hp, const char *name, uint64_t value, int cross) {
  for (size_t i = 0; i < AG_ARRAY_LEN(fields); i++) {
    const hp_field *f = &fields[i];
    if (strcmp(f->name, name) != 0) continue;
    int ok = f->size < 0 ? ((int64_t)value >= f->min && (int64_t)value <= (int64_t)f->max)
                         : (value >= (uint64_t)f->min && value <= f->max);
    if (!ok) {
      if (f->size < 0)
        return ag_fail(AG_E_HYPERPARAM, "%s must be within %lld..%lld", name, (long long)f->min,
                       (long long)f->max);
      return ag_fail(AG_E_HYPERPARAM, "%s must be within %llu..%llu", name,
                     (unsigned long long)f->min, (unsigned long long)f->max);
    }
    ag_hyperparams next = *hp;
    uint8_t *p = (uint8_t *)&next + f->off;
    if (f->size == 1) *p = (uint8_t)value;
    else if (f->size == 2 || f->size == -2) {
      uint16_t v = (uint16_t)value;
      memcpy(p, &v, 2);
    } else memcpy(p, &value, 8);
    int rc = cross ? ag_hyperparams_check(&next) : 0;
    if (rc) return rc;
    *hp = next;
    return 0;
  }
  return ag_fail(AG_E_HYPERPARAM, "unknown hyperparameter '%.40s'", name);
}

int ag_hyperparam_set(ag_hyperparams *hp, const char *name, uint64_t value) {
  return set_field(hp, name, value, 1);
}

int ag_hyperparam_set_unchecked(ag_hyperparams *hp, const char *name, uint64_t value) {
  return set_field(hp, name, value, 0);
}

static void hp_encode(const ag_hyperparams *hp, ag_buf *b) {
  for (size_t i = 0; i < AG_ARRAY_LEN(fields); i++) {
    uint64_t v = ag_hyperparam_get(hp, i);
    if (fields[i].size == 1) ag_buf_put_u8(b, (uint8_t)v);
    else if (fields[i].size == 2 || fields[i].size == -2) ag_buf_put_u16le(b, (uint16_t)v);
    else ag_buf_put_u64le(b, v);
  }
}

static int hp_decode(ag_reader *r, ag_hyperparams *hp) {
  memset(hp, 0, sizeof *hp);
  for (size_t i = 0; i < AG_ARRAY_LEN(fields); i++) {
    uint8_t *p = (uint8_t *)hp + fields[i].off;
    int rc;
    if (fields[i].size == 1) rc = ag_read_u8(r, p);
    else if (fields[i].size == 2 || fields[i].size == -2) {
      uint16_t v;
      rc = ag_read_u16le(r, &v);
      memcpy(p, &v, 2);
    } else {
      uint64_t v;
      rc = ag_read_u64le(r, &v);
      memcpy(p, &v, 8);
    }
    if (rc) return rc;
  }
  return 0;
}

/* ---- subnets ----------------------------------------------------------------------------- */

int ag_subnet_list(ag_ist *s, uint16_t *netuids, size_t cap, size_t *n) {
  ag_buf b;
  ag_buf_init(&b);
  *n = 0;
  int rc = sget(s, AG_IKEY_SUBNETS, strlen(AG_IKEY_SUBNETS), &b);
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc) {
    if (b.len % 2) rc = ag_fail(AG_E_CORRUPT, "bad subnet list");
    for (size_t i = 0; !rc && i < b.len / 2 && i < cap; i++) netuids[(*n)++] = ag_get_u16le(b.data + 2 * i);
  }
  ag_buf_free(&b);
  return rc;
}

void ag_subnet_list_store(ag_state *st, const uint16_t *netuids, size_t n) {
  ag_buf b;
  ag_buf_init(&b);
  for (size_t i = 0; i < n; i++) ag_buf_put_u16le(&b, netuids[i]);
  ag_state_put(st, AG_IKEY_SUBNETS, strlen(AG_IKEY_SUBNETS), b.data, b.len);
  ag_buf_free(&b);
}

void ag_subnet_store(ag_state *st, const ag_subnet *sn) {
  uint8_t k[3];
  key_netuid(k, 's', sn->netuid);
  ag_buf b;
  ag_buf_init(&b);
  size_t nl = strlen(sn->name);
  ag_buf_put_u8(&b, REC_VERSION);
  ag_buf_put(&b, sn->owner, 32);
  ag_buf_put(&b, sn->owner_hotkey, 32);
  ag_buf_put_u8(&b, (uint8_t)nl);
  ag_buf_put(&b, sn->name, nl);
  ag_buf_put_u64le(&b, sn->created_block);
  hp_encode(&sn->hp, &b);
  ag_buf_put_u16le(&b, sn->n);
  ag_buf_put_u64le(&b, sn->burn);
  ag_buf_put_u64le(&b, sn->burn_block);
  ag_buf_put_u64le(&b, sn->last_epoch_block);
  ag_buf_put_u64le(&b, sn->epoch);
  ag_buf_put_u64le(&b, sn->pending);
  ag_buf_put_u16le(&b, sn->share);
  ag_buf_put_u64le(&b, sn->emitted);
  ag_state_put(st, k, 3, b.data, b.len);
  ag_buf_free(&b);
}

int ag_subnet_load(ag_ist *s, uint16_t netuid, ag_subnet *sn) {
  uint8_t k[3];
  key_netuid(k, 's', netuid);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, 3, &b);
  if (rc == AG_E_NOTFOUND) {
    ag_buf_free(&b);
    return ag_fail(AG_E_SUBNET_NOT_FOUND, "subnet %u does not exist", netuid);
  }
  memset(sn, 0, sizeof *sn);
  sn->netuid = netuid;
  ag_reader r;
  ag_reader_init(&r, b.data, b.len);
  uint8_t v, nl;
  const uint8_t *name;
  if (!rc && (ag_read_u8(&r, &v) || v != REC_VERSION || ag_read_bytes(&r, sn->owner, 32) ||
              ag_read_bytes(&r, sn->owner_hotkey, 32) || ag_read_u8(&r, &nl) ||
              nl > AG_NAME_MAX || ag_read_ptr(&r, nl, &name) ||
              ag_read_u64le(&r, &sn->created_block) || hp_decode(&r, &sn->hp) ||
              ag_read_u16le(&r, &sn->n) || ag_read_u64le(&r, &sn->burn) ||
              ag_read_u64le(&r, &sn->burn_block) || ag_read_u64le(&r, &sn->last_epoch_block) ||
              ag_read_u64le(&r, &sn->epoch) || ag_read_u64le(&r, &sn->pending) ||
              ag_read_u16le(&r, &sn->share) || ag_read_u64le(&r, &sn->emitted) || ag_read_end(&r)))
    rc = ag_fail(AG_E_CORRUPT, "bad subnet record %u", netuid);
  if (!rc) {
    memcpy(sn->name, name, nl);
    sn->name[nl] = 0;
  }
  ag_buf_free(&b);
  return rc;
}

/* Per-block decay with a 360-block half-life: multiply by floor(2^32 * 2^(-1/360)) and shift,
 * once per elapsed block, by squaring. Integer-only, so every node gets the same cost. */
#define BURN_DECAY_F 4286705684ULL

static uint64_t mul_fx(uint64_t a, uint64_t f) { return (uint64_t)(((unsigned __int128)a * f) >> 32); }

uint64_t ag_subnet_burn_at(const ag_subnet *sn, uint64_t height) {
  uint64_t burn = sn->burn;
  uint64_t d = height > sn->burn_block ? height - sn->burn_block : 0;
  uint64_t f = BURN_DECAY_F, acc = 1ULL << 32;
  while (d) {
    if (d & 1) acc = mul_fx(acc, f);
    f = mul_fx(f, f);
    d >>= 1;
  }
  return mul_fx(burn, acc);
}

/* ---- neurons, rows, commits -------------------------------------------------------------- */

void ag_neuron_store(ag_state *st, uint16_t netuid, uint16_t uid, const ag_neuron *nr) {
  uint8_t k[5];
  key_uid(k, 'n', netuid, uid);
  ag_buf b;
  ag_buf_init(&b);
  size_t hl = strlen(nr->host);
  ag_buf_put_u8(&b, REC_VERSION);
  ag_buf_put(&b, nr->hotkey, 32);
  ag_buf_put_u64le(&b, nr->reg_block);
  ag_buf_put_u64le(&b, nr->last_update);
  ag_buf_put_u8(&b, nr->protocol);
  ag_buf_put_u16le(&b, nr->port);
  ag_buf_put_u8(&b, (uint8_t)hl);
  ag_buf_put(&b, nr->host, hl);
  ag_buf_put_u8(&b, nr->active);
  ag_buf_put_u8(&b, nr->permit);
  ag_buf_put_u16le(&b, nr->consensus);
  ag_buf_put_u16le(&b, nr->incentive);
  ag_buf_put_u16le(&b, nr->dividends);
  ag_buf_put_u16le(&b, nr->vtrust);
  ag_buf_put_u16le(&b, nr->stake_weight);
  ag_buf_put_u64le(&b, nr->emission);
  ag_buf_put_u64le(&b, nr->server_emission);
  ag_buf_put_u64le(&b, nr->validator_emission);
  ag_state_put(st, k, 5, b.data, b.len);
  ag_buf_free(&b);
}

int ag_neuron_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_neuron *nr) {
  uint8_t k[5];
  key_uid(k, 'n', netuid, uid);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, 5, &b);
  memset(nr, 0, sizeof *nr);
  ag_reader r;
  ag_reader_init(&r, b.data, b.len);
  uint8_t v, hl;
  const uint8_t *host;
  if (!rc && (ag_read_u8(&r, &v) || v != REC_VERSION || ag_read_bytes(&r, nr->hotkey, 32) ||
              ag_read_u64le(&r, &nr->reg_block) || ag_read_u64le(&r, &nr->last_update) ||
              ag_read_u8(&r, &nr->protocol) || ag_read_u16le(&r, &nr->port) ||
              ag_read_u8(&r, &hl) || hl > AG_HOST_MAX || ag_read_ptr(&r, hl, &host) ||
              ag_read_u8(&r, &nr->active) || ag_read_u8(&r, &nr->permit) ||
              ag_read_u16le(&r, &nr->consensus) || ag_read_u16le(&r, &nr->incentive) ||
              ag_read_u16le(&r, &nr->dividends) || ag_read_u16le(&r, &nr->vtrust) ||
              ag_read_u16le(&r, &nr->stake_weight) || ag_read_u64le(&r, &nr->emission) ||
              ag_read_u64le(&r, &nr->server_emission) ||
              ag_read_u64le(&r, &nr->validator_emission) || ag_read_end(&r)))
    rc = ag_fail(AG_E_CORRUPT, "bad neuron record %u/%u", netuid, uid);
  if (!rc) {
    memcpy(nr->host, host, hl);
    nr->host[hl] = 0;
  }
  ag_buf_free(&b);
  return rc;
}

static void uid_key(uint8_t k[35], uint16_t netuid, const uint8_t hotkey[32]) {
  key_netuid(k, 'u', netuid);
  memcpy(k + 3, hotkey, 32);
}

int ag_neuron_uid(ag_ist *s, uint16_t netuid, const uint8_t hotkey[32], uint16_t *uid) {
  uint8_t k[35];
  uid_key(k, netuid, hotkey);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, sizeof k, &b);
  if (!rc && b.len != 2) rc = ag_fail(AG_E_CORRUPT, "bad uid index");
  if (!rc) *uid = ag_get_u16le(b.data);
  ag_buf_free(&b);
  return rc;
}

void ag_neuron_uid_store(ag_state *st, uint16_t netuid, const uint8_t hotkey[32], int uid) {
  uint8_t k[35], v[2];
  uid_key(k, netuid, hotkey);
  if (uid < 0) {
    ag_state_del(st, k, sizeof k);
    return;
  }
  ag_put_u16le(v, (uint16_t)uid);
  ag_state_put(st, k, sizeof k, v, 2);
}

static int row_load(ag_ist *s, char tag, uint16_t netuid, uint16_t uid, ag_yuma_entry **out,
                    uint32_t *len) {
  uint8_t k[5];
  key_uid(k, tag, netuid, uid);
  ag_buf b;
  ag_buf_init(&b);
  *out = NULL;
  *len = 0;
  int rc = sget(s, k, 5, &b);
  if (rc == AG_E_NOTFOUND) {
    ag_buf_free(&b);
    return 0;
  }
  if (!rc && (b.len % 4)) rc = ag_fail(AG_E_CORRUPT, "bad row %c %u/%u", tag, netuid, uid);
  if (!rc && b.len) {
    uint32_t n = (uint32_t)(b.len / 4);
    ag_yuma_entry *e = ag_xmalloc(n * sizeof *e);
    for (uint32_t i = 0; i < n; i++) {
      e[i].uid = ag_get_u16le(b.data + 4 * i);
      e[i].value = ag_get_u16le(b.data + 4 * i + 2);
    }
    *out = e;
    *len = n;
  }
  ag_buf_free(&b);
  return rc;
}

int ag_weights_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_yuma_entry **out, uint32_t *len) {
  return row_load(s, 'w', netuid, uid, out, len);
}

int ag_bonds_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_yuma_entry **out, uint32_t *len) {
  return row_load(s, 'b', netuid, uid, out, len);
}

void ag_row_store(ag_state *st, char tag, uint16_t netuid, uint16_t uid, const ag_yuma_entry *e,
                  uint32_t n) {
  uint8_t k[5];
  key_uid(k, tag, netuid, uid);
  if (n == 0) {
    ag_state_del(st, k, 5);
    return;
  }
  uint8_t *v = ag_xmalloc(4 * (size_t)n);
  for (uint32_t i = 0; i < n; i++) {
    ag_put_u16le(v + 4 * i, e[i].uid);
    ag_put_u16le(v + 4 * i + 2, e[i].value);
  }
  ag_state_put(st, k, 5, v, 4 * (size_t)n);
  free(v);
}

/* Commits of a uid: count u8, then per commit hash[32] | block u64 | epoch u64. */
int ag_commits_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_commit *out, int *n) {
  uint8_t k[5];
  key_uid(k, 'c', netuid, uid);
  ag_buf b;
  ag_buf_init(&b);
  *n = 0;
  int rc = sget(s, k, 5, &b);
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc) {
    if (b.len < 1 || b.data[0] > AG_MAX_COMMITS || b.len != 1 + 48u * b.data[0]) {
      rc = ag_fail(AG_E_CORRUPT, "bad commit record");
    } else {
      *n = b.data[0];
      for (int i = 0; i < *n; i++) {
        const uint8_t *p = b.data + 1 + 48 * i;
        memcpy(out[i].hash, p, 32);
        out[i].block = ag_get_u64le(p + 32);
        out[i].epoch = ag_get_u64le(p + 40);
      }
    }
  }
  ag_buf_free(&b);
  return rc;
}

void ag_commits_store(ag_state *st, uint16_t netuid, uint16_t uid, const ag_commit *c, int n) {
  uint8_t k[5];
  key_uid(k, 'c', netuid, uid);
  if (n == 0) {
    ag_state_del(st, k, 5);
    return;
  }
  uint8_t v[1 + 48 * AG_MAX_COMMITS];
  v[0] = (uint8_t)n;
  for (int i = 0; i < n; i++) {
    memcpy(v + 1 + 48 * i, c[i].hash, 32);
    ag_put_u64le(v + 1 + 48 * i + 32, c[i].block);
    ag_put_u64le(v + 1 + 48 * i + 40, c[i].epoch);
  }
  ag_state_put(st, k, 5, v, 1 + 48 * (size_t)n);
}

/* ---- hotkeys and stake ------------------------------------------------------------------- */

static void hk_key(uint8_t k[33], const uint8_t hotkey[32]) {
  k[0] = 'h';
  memcpy(k + 1, hotkey, 32);
}

int ag_hotkey_load(ag_ist *s, const uint8_t hotkey[32], ag_hotkey_info *out) {
  uint8_t k[33];
  hk_key(k, hotkey);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, 33, &b);
  if (!rc && b.len != 42) rc = ag_fail(AG_E_CORRUPT, "bad hotkey record");
  if (!rc) {
    memcpy(out->owner, b.data, 32);
    out->take = ag_get_u16le(b.data + 32);
    out->total_stake = ag_get_u64le(b.data + 34);
  }
  ag_buf_free(&b);
  return rc;
}

int ag_hotkey_store(ag_state *st, const uint8_t hotkey[32], const ag_hotkey_info *h) {
  uint8_t k[33], v[42];
  hk_key(k, hotkey);
  memcpy(v, h->owner, 32);
  ag_put_u16le(v + 32, h->take);
  ag_put_u64le(v + 34, h->total_stake);
  return ag_state_put(st, k, 33, v, 42);
}

/* Stake lives in one record per hotkey: 'd' | hotkey -> n × (coldkey[32] | stake u64), sorted
 * by coldkey, n <= the chain's max_stakers. Dividends then touch one record per validator,
 * whatever its number of stakers, and the record's size has a bound (docs/security.md).
 * 'q' | coldkey -> the sorted hotkeys it has stake on, at most AG_MAX_STAKED_HOTKEYS. */
#define STAKER_BYTES 40

static void list_key(uint8_t k[33], char tag, const uint8_t owner[32]) {
  k[0] = (uint8_t)tag;
  memcpy(k + 1, owner, 32);
}

int ag_stakers_load(ag_ist *s, const uint8_t hotkey[32], ag_staker **out, size_t *n) {
  uint8_t k[33];
  list_key(k, 'd', hotkey);
  ag_buf b;
  ag_buf_init(&b);
  *out = NULL;
  *n = 0;
  int rc = sget(s, k, 33, &b);
  if (rc == AG_E_NOTFOUND) {
    ag_buf_reset(&b);
    rc = 0;
  } else if (!rc && (b.len % STAKER_BYTES || b.len == 0)) {
    rc = ag_fail(AG_E_CORRUPT, "bad staker list");
  }
  if (!rc) {
    *n = b.len / STAKER_BYTES;
    *out = ag_xmalloc((*n + 1) * sizeof **out); /* room for one more, for ag_stake_set */
    for (size_t i = 0; i < *n; i++) {
      memcpy((*out)[i].coldkey, b.data + STAKER_BYTES * i, 32);
      (*out)[i].stake = ag_get_u64le(b.data + STAKER_BYTES * i + 32);
    }
  }
  ag_buf_free(&b);
  return rc;
}

int ag_stakers_store(ag_state *st, const uint8_t hotkey[32], const ag_staker *e, size_t n) {
  uint8_t k[33];
  list_key(k, 'd', hotkey);
  if (n == 0) return ag_state_del(st, k, 33);
  uint8_t *v = ag_xmalloc(STAKER_BYTES * n);
  for (size_t i = 0; i < n; i++) {
    memcpy(v + STAKER_BYTES * i, e[i].coldkey, 32);
    ag_put_u64le(v + STAKER_BYTES * i + 32, e[i].stake);
  }
  int rc = ag_state_put(st, k, 33, v, STAKER_BYTES * n);
  free(v);
  return rc;
}

/* Position of coldkey in a sorted list, or where it would go (*hit says which). */
static size_t staker_find(const ag_staker *e, size_t n, const uint8_t coldkey[32], int *hit) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = memcmp(e[mid].coldkey, coldkey, 32);
    if (c == 0) {
      *hit = 1;
      return mid;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *hit = 0;
  return lo;
}

int ag_stake_get(ag_ist *s, const uint8_t hotkey[32], const uint8_t coldkey[32], uint64_t *out) {
  ag_staker *e;
  size_t n;
  *out = 0;
  int rc = ag_stakers_load(s, hotkey, &e, &n);
  if (rc) return rc;
  int hit;
  size_t i = staker_find(e, n, coldkey, &hit);
  if (hit) *out = e[i].stake;
  free(e);
  return 0;
}

/* The sorted 'q' list of hotkeys a coldkey stakes on: add or remove one. */
static int hotkeys_update(ag_state *st, const uint8_t coldkey[32], const uint8_t hotkey[32],
                          int add) {
  ag_ist s = {st, NULL};
  uint8_t k[33];
  list_key(k, 'q', coldkey);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(&s, k, 33, &b);
  if (rc == AG_E_NOTFOUND) {
    ag_buf_reset(&b);
    rc = 0;
  }
  if (!rc && b.len % 32) rc = ag_fail(AG_E_CORRUPT, "bad staked-hotkeys list");
  size_t n = b.len / 32, pos = 0;
  while (!rc && pos < n && memcmp(b.data + 32 * pos, hotkey, 32) < 0) pos++;
  int present = !rc && pos < n && memcmp(b.data + 32 * pos, hotkey, 32) == 0;
  if (!rc && add && !present) {
    if (n >= AG_MAX_STAKED_HOTKEYS) {
      rc = ag_fail(AG_E_STAKE_LIMIT, "this coldkey already has stake on %d hotkeys, the most allowed; remove one first",
                   AG_MAX_STAKED_HOTKEYS);
    } else {
      ag_buf nb;
      ag_buf_init(&nb);
      ag_buf_put(&nb, b.data, 32 * pos);
      ag_buf_put(&nb, hotkey, 32);
      ag_buf_put(&nb, b.data + 32 * pos, 32 * (n - pos));
      rc = ag_state_put(st, k, 33, nb.data, nb.len);
      ag_buf_free(&nb);
    }
  } else if (!rc && !add && present) {
    memmove(b.data + 32 * pos, b.data + 32 * (pos + 1), 32 * (n - pos - 1));
    rc = n == 1 ? ag_state_del(st, k, 33) : ag_state_put(st, k, 33, b.data, 32 * (n - 1));
  }
  ag_buf_free(&b);
  return rc;
}

int ag_stake_hotkeys(ag_ist *s, const uint8_t coldkey[32], uint8_t (**out)[32], size_t *n) {
  uint8_t k[33];
  list_key(k, 'q', coldkey);
  ag_buf b;
  ag_buf_init(&b);
  *out = NULL;
  *n = 0;
  int rc = sget(s, k, 33, &b);
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc && b.len % 32) rc = ag_fail(AG_E_CORRUPT, "bad staked-hotkeys list");
  else if (!rc && b.len) {
    *n = b.len / 32;
    *out = ag_xmalloc(b.len);
    memcpy(*out, b.data, b.len);
  }
  ag_buf_free(&b);
  return rc;
}

/* The entry a newcomer replaces in a full list: the smallest stake (the greatest coldkey among
 * equals), never the hotkey owner's own. -1 when only the owner is there. */
static long smallest(const ag_staker *e, size_t n, const uint8_t owner[32]) {
  long best = -1;
  for (size_t i = 0; i < n; i++) {
    if (!memcmp(e[i].coldkey, owner, 32)) continue;
    if (best < 0 || e[i].stake < e[best].stake ||
        (e[i].stake == e[best].stake && memcmp(e[i].coldkey, e[best].coldkey, 32) > 0))
      best = (long)i;
  }
  return best;
}

int ag_stake_set(ag_state *st, const uint8_t hotkey[32], const uint8_t coldkey[32],
                 uint64_t amount) {
  ag_ist s = {st, NULL};
  ag_incentive_params p;
  ag_hotkey_info h;
  ag_staker *e = NULL;
  size_t n;
  int rc = ag_incentive_params_load(&s, &p);
  if (!rc) rc = ag_hotkey_load(&s, hotkey, &h);
  if (!rc) rc = ag_stakers_load(&s, hotkey, &e, &n);
  if (rc) return rc;
  int hit;
  size_t i = staker_find(e, n, coldkey, &hit);
  uint64_t old = hit ? e[i].stake : 0, total = h.total_stake - old;
  if (amount && amount < p.min_stake) {
    char m[32];
    ag_amount_format(p.min_stake, m);
    rc = ag_fail(AG_E_STAKE_BELOW_MIN, "a stake must be at least %s AGR (or 0 to remove it)", m);
    goto done;
  }
  if (ag_add_u64(total, amount, &total)) {
    rc = ag_fail(AG_E_OVERFLOW, "stake overflows");
    goto done;
  }
  if (hit && amount) {
    e[i].stake = amount;
  } else if (hit) {
    memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof *e);
    n--;
    rc = hotkeys_update(st, coldkey, hotkey, 0);
  } else if (amount) {
    /* a new staker: into a free place, or in place of the smallest when the list is full */
    if (n >= p.max_stakers) {
      int is_owner = !memcmp(coldkey, h.owner, 32);
      long j = smallest(e, n, h.owner);
      if (j < 0 || (!is_owner && amount <= e[j].stake)) {
        char m[32];
        ag_amount_format(j < 0 ? 0 : e[j].stake, m);
        rc = ag_fail(AG_E_STAKERS_FULL,
                     "this hotkey has %u stakers, the most allowed; a new stake must exceed the smallest (%s AGR) to take its place",
                     p.max_stakers, m);
        goto done;
      }
      /* the evicted staker gets its stake back as balance */
      uint64_t back = e[j].stake;
      total -= back;
      if ((rc = ag_account_credit(st, e[j].coldkey, back)) ||
          (rc = hotkeys_update(st, e[j].coldkey, hotkey, 0)))
        goto done;
      memmove(&e[j], &e[j + 1], (n - (size_t)j - 1) * sizeof *e);
      n--;
      i = staker_find(e, n, coldkey, &hit);
    }
    memmove(&e[i + 1], &e[i], (n - i) * sizeof *e);
    memcpy(e[i].coldkey, coldkey, 32);
    e[i].stake = amount;
    n++;
    rc = hotkeys_update(st, coldkey, hotkey, 1);
  }
  if (!rc) rc = ag_stakers_store(st, hotkey, e, n);
  if (!rc) {
    h.total_stake = total;
    rc = ag_hotkey_store(st, hotkey, &h);
  }
done:
  free(e);
  return rc;
}

uint64_t ag_community_pool(ag_ist *s) {
  ag_buf b;
  ag_buf_init(&b);
  uint64_t v = 0;
  if (sget(s, AG_IKEY_POOL, strlen(AG_IKEY_POOL), &b) == 0 && b.len == 8) v = ag_get_u64le(b.data);
  ag_buf_free(&b);
  return v;
}

void ag_community_pool_store(ag_state *st, uint64_t v) {
  uint8_t b[8];
  ag_put_u64le(b, v);
  ag_state_put(st, AG_IKEY_POOL, strlen(AG_IKEY_POOL), b, 8);
}

/* ---- hashes clients compute ----------------------------------------------------------------- */

void ag_claim_hash(const char *domain, const char *chain_id, const uint8_t a[32], const uint8_t b[32], uint8_t out[32]) {
  ag_hasher h;
  uint8_t l = (uint8_t)strlen(chain_id);
  ag_hasher_init(&h, domain);
  ag_hasher_update(&h, &l, 1);
  ag_hasher_update(&h, chain_id, l);
  ag_hasher_update(&h, a, 32);
  ag_hasher_update(&h, b, 32);
  ag_hasher_final(&h, out);
}

void ag_hotkey_claim_hash(const char *chain_id, const uint8_t coldkey[32],
                          const uint8_t hotkey[32], uint8_t out[32]) {
  ag_claim_hash("agora/hkclaim", chain_id, coldkey, hotkey, out);
}

void ag_payload_register(ag_buf *out, const char *chain_id, uint16_t netuid, const uint8_t coldkey[32],
                         const ag_keypair *hotkey, uint64_t max_cost) {
  uint8_t claim[32], sig[64];
  ag_hotkey_claim_hash(chain_id, coldkey, hotkey->pk, claim);
  ag_sign(hotkey, claim, 32, sig);
  ag_buf_put_u16le(out, netuid);
  ag_buf_put(out, hotkey->pk, 32);
  ag_buf_put_u64le(out, max_cost);
  ag_buf_put(out, sig, 64);
}

void ag_payload_weights(ag_buf *out, uint16_t netuid, uint64_t version_key, const uint16_t *uids,
                        const uint16_t *weights, uint16_t n, const uint8_t *salt) {
  ag_buf_put_u16le(out, netuid);
  ag_buf_put_u64le(out, version_key);
  ag_buf_put_u16le(out, n);
  for (uint16_t i = 0; i < n; i++) ag_buf_put_u16le(out, uids[i]);
  ag_buf_put_u16le(out, n);
  for (uint16_t i = 0; i < n; i++) ag_buf_put_u16le(out, weights[i]);
  if (salt) ag_buf_put(out, salt, 32);
}

void ag_weights_commit_hash(const uint8_t hotkey[32], uint16_t netuid, uint64_t version_key,
                            const uint16_t *uids, const uint16_t *weights, uint16_t n,
                            const uint8_t salt[32], uint8_t out[32]) {
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put(&b, hotkey, 32);
  ag_payload_weights(&b, netuid, version_key, uids, weights, n, salt);
  ag_hash("agora/wcommit", b.data, b.len, out);
  ag_buf_free(&b);
}

/* ---- audit ----------------------------------------------------------------------------------- */

typedef struct {
  uint64_t total;
  int overflow;
} audit_ctx;

static int audit_one(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  audit_ctx *a = arg;
  uint64_t add = 0;
  if (klen == 33 && key[0] == AG_KEY_ACCOUNT && vlen == 16) add = ag_get_u64le(val);
  else if (klen == 33 && key[0] == 'd' && vlen % 40 == 0) {
    for (size_t i = 0; i < vlen / 40; i++)
      if (ag_add_u64(add, ag_get_u64le(val + 40 * i + 32), &add)) a->overflow = 1;
  }
  else if (klen == 3 && key[0] == 's' && vlen >= 18) {
    /* a subnet record ends with pending u64 | share u16 | emitted u64 */
    add = ag_get_u64le(val + vlen - 18);
  } else if (klen == strlen(AG_IKEY_POOL) && !memcmp(key, AG_IKEY_POOL, klen) && vlen == 8)
    add = ag_get_u64le(val);
  else if (klen == strlen(AG_IKEY_VSTAKE) && !memcmp(key, AG_IKEY_VSTAKE, klen))
    add = ag_vstake_holdings(val, vlen, &a->overflow);
  if (ag_add_u64(a->total, add, &a->total)) a->overflow = 1;
  return 0;
}

int ag_incentive_audit(ag_state *st, uint64_t *accounted, uint64_t *issued) {
  audit_ctx a = {0, 0};
  int rc = ag_state_iterate(st, audit_one, &a);
  if (rc) return rc;
  ag_buf b;
  ag_buf_init(&b);
  rc = ag_state_get_committed(st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), &b);
  if (!rc && b.len == 16) {
    *issued = ag_get_u64le(b.data);
    uint64_t burned = ag_get_u64le(b.data + 8);
    if (ag_add_u64(a.total, burned, &a.total)) a.overflow = 1;
  }
  ag_buf_free(&b);
  *accounted = a.total;
  return a.overflow ? ag_fail(AG_E_OVERFLOW, "audit sum overflows") : rc;
}

/* ---- pinned models: 'M' | netuid -> kind u8 | model_id[32] | size u64 | set_block u64 ------- */

const char *ag_subnet_kind_name(uint8_t kind) {
  switch (kind) {
  case AG_SUBNET_INFERENCE: return "inference";
  case AG_SUBNET_TRAINING: return "training";
  default: return "generic";
  }
}

int ag_subnet_model_load(ag_ist *s, uint16_t netuid, ag_subnet_model *out) {
  uint8_t k[3];
  key_netuid(k, 'M', netuid);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, 3, &b);
  if (!rc && b.len != 49) rc = ag_fail(AG_E_CORRUPT, "bad model record of subnet %u", netuid);
  if (!rc) {
    out->kind = b.data[0];
    memcpy(out->model_id, b.data + 1, 32);
    out->size = ag_get_u64le(b.data + 33);
    out->set_block = ag_get_u64le(b.data + 41);
  }
  ag_buf_free(&b);
  return rc;
}

void ag_subnet_model_store(ag_state *st, uint16_t netuid, const ag_subnet_model *m) {
  uint8_t k[3], v[49];
  key_netuid(k, 'M', netuid);
  v[0] = m->kind;
  memcpy(v + 1, m->model_id, 32);
  ag_put_u64le(v + 33, m->size);
  ag_put_u64le(v + 41, m->set_block);
  ag_state_put(st, k, 3, v, sizeof v);
}
