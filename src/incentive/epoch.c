/*
 * epoch.c — the incentive layer's block hooks: genesis, emission every block, and every tempo
 * blocks a subnet's epoch: the owner's cut, Yuma consensus (incentive/yuma.h) over the
 * subnet's state, the results written back, miners and validators (and their stakers) paid.
 *
 * Every amount is accounted for: what floors leave over stays in the subnet's pending emission
 * for the next epoch, so issued supply never drifts from the schedule.
 */
#include "incentive/internal.h"
#include "incentive/training.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- genesis ------------------------------------------------------------------------------- */

static int j_u64(json_t *o, const char *k, uint64_t *out) { return ag_genesis_u64(o, "incentive", k, out); }

static int j_u16(json_t *o, const char *k, uint16_t *out) {
  uint64_t v = *out;
  int rc = j_u64(o, k, &v);
  if (!rc && v > 65535) rc = ag_fail(AG_E_GENESIS, "genesis incentive: \"%s\" must be at most 65535", k);
  if (!rc) *out = (uint16_t)v;
  return rc;
}

static int genesis_subnet(ag_app *app, const ag_incentive_params *p, json_t *js, uint16_t netuid) {
  ag_subnet sn;
  memset(&sn, 0, sizeof sn);
  sn.netuid = netuid;
  const char *name = json_string_value(json_object_get(js, "name"));
  const char *owner = json_string_value(json_object_get(js, "owner"));
  const char *ohk = json_string_value(json_object_get(js, "owner_hotkey"));
  if (!name || !*name || strlen(name) > AG_NAME_MAX)
    return ag_fail(AG_E_GENESIS, "genesis subnet %u: \"name\" must be 1..%d characters", netuid, AG_NAME_MAX);
  snprintf(sn.name, sizeof sn.name, "%s", name);
  if (!owner || ag_addr_decode(owner, sn.owner))
    return ag_fail(AG_E_GENESIS, "genesis subnet %u: \"owner\" must be an address", netuid);
  if (ohk && ag_addr_decode(ohk, sn.owner_hotkey))
    return ag_fail(AG_E_GENESIS, "genesis subnet %u: \"owner_hotkey\" must be an address", netuid);
  ag_hyperparams_default(&sn.hp);
  json_t *hp = json_object_get(js, "hyperparams");
  const char *k;
  json_t *v;
  char why[300];
  json_object_foreach(hp, k, v) {
    if (!json_is_integer(v))
      return ag_fail(AG_E_GENESIS, "genesis subnet %u: hyperparameter %.40s must be an integer", netuid, k);
    if (ag_hyperparam_set_unchecked(&sn.hp, k, (uint64_t)json_integer_value(v))) {
      snprintf(why, sizeof why, "%s", ag_errmsg(AG_E_HYPERPARAM));
      return ag_fail(AG_E_GENESIS, "genesis subnet %u: %s", netuid, why);
    }
  }
  if (ag_hyperparams_check(&sn.hp)) {
    snprintf(why, sizeof why, "%s", ag_errmsg(AG_E_HYPERPARAM));
    return ag_fail(AG_E_GENESIS, "genesis subnet %u: %s", netuid, why);
  }
  sn.share = 1;
  int rc = j_u16(js, "share", &sn.share);
  if (rc) return rc;
  sn.burn = p->burn_initial;
  ag_subnet_store(ag_app_state(app), &sn);
  json_t *model = json_object_get(js, "model");
  if (model) {
    ag_subnet_model m;
    memset(&m, 0, sizeof m);
    const char *kind = json_string_value(json_object_get(model, "kind"));
    const char *id = json_string_value(json_object_get(model, "model_id"));
    m.kind = kind && !strcmp(kind, "inference") ? AG_SUBNET_INFERENCE
             : kind && !strcmp(kind, "training") ? AG_SUBNET_TRAINING
                                                 : AG_SUBNET_GENERIC;
    if (!id || ag_hex_decode(id, strlen(id), m.model_id, 32) || (rc = j_u64(model, "size", &m.size)))
      return rc ? rc : ag_fail(AG_E_GENESIS, "genesis subnet %u: model needs a 64-hex model_id and a size", netuid);
    ag_subnet_model_store(ag_app_state(app), netuid, &m);
    if (m.kind == AG_SUBNET_TRAINING) ag_training_on_pin(ag_app_state(app), netuid, &m, 0);
  }
  return 0;
}

int ag_incentive_genesis(ag_app *app, const ag_genesis *g, void *ctx) {
  ag_incentive_params p;
  ag_incentive_params_default(&p);
  json_t *mods = json_loads(g->modules ? g->modules : "{}", 0, NULL);
  json_t *inc = json_object_get(mods, "incentive");
  int rc = 0;
  uint16_t list[AG_MAX_SUBNETS];
  size_t n = 0;
  if (inc) {
    const char *sudo = json_string_value(json_object_get(inc, "sudo"));
    if ((rc = j_u64(inc, "block_reward", &p.block_reward)) ||
        (rc = j_u64(inc, "halving_interval", &p.halving_interval)) ||
        (rc = j_u64(inc, "subnet_cost", &p.subnet_cost)) ||
        (rc = j_u64(inc, "burn_initial", &p.burn_initial)) ||
        (rc = j_u64(inc, "burn_min", &p.burn_min)) || (rc = j_u64(inc, "burn_max", &p.burn_max)) ||
        (rc = j_u16(inc, "owner_cut", &p.owner_cut)) ||
        (rc = j_u16(inc, "default_take", &p.default_take)) ||
        (rc = j_u16(inc, "max_take", &p.max_take)) ||
        (rc = j_u64(inc, "min_stake", &p.min_stake)) ||
        (rc = j_u16(inc, "max_stakers", &p.max_stakers)))
      goto done;
    json_t *ape = json_object_get(inc, "allow_private_endpoints");
    if (ape && !json_is_boolean(ape)) {
      rc = ag_fail(AG_E_GENESIS, "genesis incentive: \"allow_private_endpoints\" must be true or false");
      goto done;
    }
    p.allow_private_endpoints = json_is_true(ape);
    if (p.max_stakers < 1 || p.max_stakers > AG_MAX_STAKERS) {
      rc = ag_fail(AG_E_GENESIS, "genesis incentive: max_stakers must be 1..%d", AG_MAX_STAKERS);
      goto done;
    }
    if (sudo && ag_addr_decode(sudo, p.sudo)) {
      rc = ag_fail(AG_E_GENESIS, "genesis incentive: \"sudo\" must be an address");
      goto done;
    }
    if (p.burn_min > p.burn_max || p.default_take > p.max_take) {
      rc = ag_fail(AG_E_GENESIS, "genesis incentive: burn_min > burn_max or default_take > max_take");
      goto done;
    }
    json_t *vs = json_object_get(inc, "validators");
    if (vs) {
      ag_vstake_params vp;
      ag_vstake_params_default(&vp);
      uint64_t slash = vp.slash_bps, missed = vp.max_missed_permille, jslash = vp.jail_slash_bps, rbps = vp.reward_bps;
      if ((rc = j_u64(vs, "min_bond", &vp.min_bond)) || (rc = j_u64(vs, "epoch_blocks", &vp.epoch_blocks)) ||
          (rc = j_u64(vs, "unbond_blocks", &vp.unbond_blocks)) || (rc = j_u64(vs, "unbond_ms", &vp.unbond_ms)) ||
          (rc = j_u64(vs, "jail_blocks", &vp.jail_blocks)) ||
          (rc = j_u64(vs, "slash_bps", &slash)) || (rc = j_u64(vs, "max_missed_permille", &missed)) ||
          (rc = j_u64(vs, "jail_slash_bps", &jslash)) || (rc = j_u64(vs, "reward_bps", &rbps)))
        goto done;
      vp.slash_bps = slash > 10000 ? 10001 : (uint16_t)slash;
      vp.max_missed_permille = missed > 1000 ? 1001 : (uint16_t)missed;
      vp.jail_slash_bps = jslash > 10000 ? 10001 : (uint16_t)jslash;
      vp.reward_bps = rbps > 10000 ? 10001 : (uint16_t)rbps;
      if ((rc = ag_vstake_params_check(&vp))) {
        char why[200];
        snprintf(why, sizeof why, "%s", ag_errmsg(rc));
        rc = ag_fail(AG_E_GENESIS, "genesis incentive.validators: %s", why);
        goto done;
      }
      ag_vstake_params_store(ag_app_state(app), &vp);
    }
    json_t *subnets = json_object_get(inc, "subnets");
    if (json_array_size(subnets) > AG_MAX_SUBNETS) {
      rc = ag_fail(AG_E_GENESIS, "genesis incentive: at most %d subnets", AG_MAX_SUBNETS);
      goto done;
    }
    for (size_t i = 0; i < json_array_size(subnets); i++) {
      list[n] = (uint16_t)(i + 1);
      if ((rc = genesis_subnet(app, &p, json_array_get(subnets, i), list[n]))) goto done;
      n++;
    }
  }
  ag_incentive_params_store(ag_app_state(app), &p);
  if (n) ag_subnet_list_store(ag_app_state(app), list, n);
done:
  json_decref(mods);
  return rc;
}

/* ---- emission every block ---------------------------------------------------------------------- */

int ag_incentive_begin_block(ag_app *app, void *ctx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  ag_incentive_params p;
  int rc = ag_incentive_params_load(&s, &p);
  if (!rc) rc = ag_training_begin_block(app);
  if (rc) return rc;
  uint64_t reward = ag_block_reward(&p, ag_app_block_ctx(app)->height);
  if (reward == 0) return 0;
  if ((rc = ag_app_issue(app, reward))) return rc;
  /* the bonded validators that signed the previous block take their part first */
  uint64_t to_validators;
  if ((rc = ag_vstake_reward(app, reward, &to_validators))) return rc;
  reward -= to_validators;
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  if ((rc = ag_subnet_list(&s, list, AG_MAX_SUBNETS, &n))) return rc;
  ag_subnet sn[AG_MAX_SUBNETS];
  uint64_t total_share = 0;
  for (size_t i = 0; i < n; i++) {
    if ((rc = ag_subnet_load(&s, list[i], &sn[i]))) return rc;
    total_share += sn[i].share;
  }
  if (total_share == 0) { /* nobody to pay yet: the community pool keeps it */
    ag_community_pool_store(st, ag_community_pool(&s) + reward);
    return 0;
  }
  uint64_t given = 0;
  int first = -1;
  for (size_t i = 0; i < n; i++) {
    if (!sn[i].share) continue;
    if (first < 0) first = (int)i;
    uint64_t amt = (uint64_t)(((unsigned __int128)reward * sn[i].share) / total_share);
    sn[i].pending += amt;
    given += amt;
  }
  sn[first].pending += reward - given; /* the rounding remainder: the lowest netuid */
  for (size_t i = 0; i < n; i++)
    if (sn[i].share) ag_subnet_store(st, &sn[i]);
  return 0;
}

/* ---- the epoch ------------------------------------------------------------------------------- */

/* Validator dividends: the take to the hotkey's owner, the rest to its stakers by stake (as
 * more stake, one write of the staker list whatever its length); floors go to the owner. */
static int pay_dividends(ag_state *st, const uint8_t hotkey[32], uint64_t amount) {
  ag_ist s = {st, NULL};
  ag_hotkey_info h;
  int rc = ag_hotkey_load(&s, hotkey, &h);
  if (rc) return rc;
  uint64_t take = (uint64_t)(((unsigned __int128)amount * h.take) / 65535);
  uint64_t rest = amount - take, given = 0, total = h.total_stake;
  if (total > 0 && rest > 0) {
    ag_staker *e;
    size_t n;
    if ((rc = ag_stakers_load(&s, hotkey, &e, &n))) return rc;
    for (size_t i = 0; i < n; i++) {
      uint64_t share = (uint64_t)(((unsigned __int128)rest * e[i].stake) / total);
      e[i].stake += share; /* Σ shares <= rest, and stake + rest fits: both are supply */
      given += share;
    }
    if (given) {
      h.total_stake += given;
      if (!(rc = ag_stakers_store(st, hotkey, e, n))) rc = ag_hotkey_store(st, hotkey, &h);
    }
    free(e);
    if (rc) return rc;
  }
  return ag_account_credit(st, h.owner, take + rest - given);
}

static void free_rows(ag_yuma_row *rows, uint32_t n) {
  for (uint32_t i = 0; rows && i < n; i++) free((void *)rows[i].e);
  free(rows);
}

/* The epoch's metagraph as history (docs/api.md "History"), for charts over epochs:
 *   key 'e' | netuid u16be | epoch u64be
 *   value block u64le | emitted u64le (owner cut + paid) | n u16le | n x (hotkey 32 | stake u64le | emission u64le |
 *         incentive u16le | dividends u16le | consensus u16le | validator_trust u16le) */
#define EPOCH_ROW 56
static void epoch_history(ag_app *app, const ag_subnet *sn, const ag_neuron *nr, const uint64_t *stake,
                          uint64_t height, uint64_t emitted) {
  uint8_t key[11];
  key[0] = AG_HIST_EPOCH;
  key[1] = (uint8_t)(sn->netuid >> 8);
  key[2] = (uint8_t)sn->netuid;
  ag_put_u64be(key + 3, sn->epoch);
  size_t len = 18 + (size_t)sn->n * EPOCH_ROW;
  uint8_t *v = ag_xmalloc(len), *p = v + 18;
  ag_put_u64le(v, height);
  ag_put_u64le(v + 8, emitted);
  ag_put_u16le(v + 16, (uint16_t)sn->n);
  for (uint32_t i = 0; i < sn->n; i++, p += EPOCH_ROW) {
    memcpy(p, nr[i].hotkey, 32);
    ag_put_u64le(p + 32, stake[i]);
    ag_put_u64le(p + 40, nr[i].emission);
    ag_put_u16le(p + 48, nr[i].incentive);
    ag_put_u16le(p + 50, nr[i].dividends);
    ag_put_u16le(p + 52, nr[i].consensus);
    ag_put_u16le(p + 54, nr[i].vtrust);
  }
  ag_state_hist_put(ag_app_state(app), key, sizeof key, v, len);
  free(v);
}

int ag_incentive_run_epoch(ag_app *app, ag_subnet *sn);
int ag_incentive_run_epoch(ag_app *app, ag_subnet *sn) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint64_t height = ag_app_block_ctx(app)->height;
  ag_incentive_params p;
  int rc = ag_incentive_params_load(&s, &p);
  if (rc) return rc;
  uint32_t n = sn->n;
  uint64_t total = sn->pending;
  uint64_t owner_cut = (uint64_t)(((unsigned __int128)total * p.owner_cut) / 65535);
  if (owner_cut && (rc = ag_account_credit(st, sn->owner, owner_cut))) return rc;
  uint64_t E = total - owner_cut;

  ag_neuron *nr = ag_xcalloc(n ? n : 1, sizeof *nr);
  uint64_t *stake = ag_xcalloc(n ? n : 1, sizeof *stake);
  uint64_t *lu = ag_xcalloc(n ? n : 1, sizeof *lu), *reg = ag_xcalloc(n ? n : 1, sizeof *reg);
  uint64_t *cb = ag_xcalloc(n ? n : 1, sizeof *cb);
  bool *permit = ag_xcalloc(n ? n : 1, sizeof *permit);
  ag_yuma_row *w = ag_xcalloc(n ? n : 1, sizeof *w), *b = ag_xcalloc(n ? n : 1, sizeof *b);
  ag_yuma_output out;
  memset(&out, 0, sizeof out);
  int owner_uid = -1;
  static const uint8_t zero[32];
  for (uint32_t i = 0; i < n && !rc; i++) {
    ag_hotkey_info h;
    ag_yuma_entry *e;
    uint32_t len;
    if ((rc = ag_neuron_load(&s, sn->netuid, (uint16_t)i, &nr[i])) ||
        (rc = ag_hotkey_load(&s, nr[i].hotkey, &h)))
      break;
    stake[i] = h.total_stake;
    lu[i] = nr[i].last_update;
    reg[i] = nr[i].reg_block;
    permit[i] = nr[i].permit;
    if (memcmp(sn->owner_hotkey, zero, 32) && !memcmp(sn->owner_hotkey, nr[i].hotkey, 32))
      owner_uid = (int)i;
    if ((rc = ag_weights_load(&s, sn->netuid, (uint16_t)i, &e, &len))) break;
    w[i].e = e;
    w[i].len = len;
    if ((rc = ag_bonds_load(&s, sn->netuid, (uint16_t)i, &e, &len))) break;
    b[i].e = e;
    b[i].len = len;
    /* commit-reveal mask: the block of the earliest unexpired commit; expired ones go */
    cb[i] = UINT64_MAX;
    ag_commit c[AG_MAX_COMMITS];
    int nc, kept = 0;
    if ((rc = ag_commits_load(&s, sn->netuid, (uint16_t)i, c, &nc))) break;
    for (int k = 0; k < nc; k++) {
      if (c[k].epoch + sn->hp.reveal_period < sn->epoch + 1) continue; /* expires now */
      c[kept++] = c[k];
      if (c[k].block < cb[i]) cb[i] = c[k].block;
    }
    if (kept != nc) ag_commits_store(st, sn->netuid, (uint16_t)i, c, kept);
  }
  if (!rc && n > 0) {
    ag_yuma_params yp;
    ag_yuma_params_default(&yp);
    yp.kappa = sn->hp.kappa;
    yp.bonds_penalty = sn->hp.bonds_penalty;
    yp.bonds_moving_average = sn->hp.bonds_moving_average;
    yp.yuma3 = sn->hp.yuma3;
    yp.liquid_alpha = sn->hp.liquid_alpha;
    yp.alpha_low = sn->hp.alpha_low;
    yp.alpha_high = sn->hp.alpha_high;
    yp.alpha_sigmoid_steepness = sn->hp.alpha_sigmoid_steepness;
    yp.max_allowed_validators = sn->hp.max_validators;
    yp.activity_cutoff = sn->hp.activity_cutoff;
    yp.stake_threshold = sn->hp.stake_threshold;
    yp.tempo = sn->hp.tempo;
    yp.last_step_block = sn->last_epoch_block;
    yp.commit_reveal = sn->hp.commit_reveal;
    yp.owner_uid = owner_uid;
    yp.emission = E;
    ag_yuma_input in = {n, height, stake, lu, reg, permit, w, b, sn->hp.commit_reveal ? cb : NULL};
    rc = ag_yuma_epoch(&yp, &in, &out);
  }
  uint64_t paid = 0;
  for (uint32_t i = 0; i < n && !rc; i++) {
    ag_neuron *x = &nr[i];
    x->active = out.active[i];
    x->permit = out.validator_permit[i];
    x->consensus = out.consensus[i];
    x->incentive = out.incentive[i];
    x->dividends = out.dividends[i];
    x->vtrust = out.validator_trust[i];
    x->stake_weight = out.stake_weight[i];
    x->emission = out.emission[i];
    x->server_emission = out.server_emission[i];
    x->validator_emission = out.validator_emission[i];
    ag_neuron_store(st, sn->netuid, (uint16_t)i, x);
    ag_row_store(st, 'b', sn->netuid, (uint16_t)i, out.bond + out.bond_off[i],
                 out.bond_off[i + 1] - out.bond_off[i]);
    ag_hotkey_info h;
    if ((rc = ag_hotkey_load(&s, x->hotkey, &h))) break;
    if (x->server_emission) {
      /* as subtensor: incentive to the subnet owner's own hotkeys is burned, not paid */
      if (!memcmp(h.owner, sn->owner, 32)) ag_app_burn(app, x->server_emission);
      else if ((rc = ag_account_credit(st, h.owner, x->server_emission))) break;
      paid += x->server_emission;
    }
    if (x->validator_emission) {
      if ((rc = pay_dividends(st, x->hotkey, x->validator_emission))) break;
      paid += x->validator_emission;
    }
  }
  if (!rc && paid > E) rc = ag_fail(AG_E_INTERNAL, "epoch paid %llu of %llu", (unsigned long long)paid, (unsigned long long)E);
  if (!rc && ag_app_history(app)) epoch_history(app, sn, nr, stake, height, owner_cut + paid);
  if (!rc) {
    sn->pending = E - paid; /* floors carry over to the next epoch */
    sn->emitted += owner_cut + paid;
    sn->epoch++;
    sn->last_epoch_block = height;
    ag_subnet_store(st, sn);
  }
  ag_yuma_output_free(&out);
  free_rows(w, n);
  free_rows(b, n);
  free(nr);
  free(stake);
  free(lu);
  free(reg);
  free(cb);
  free(permit);
  return rc;
}

int ag_incentive_end_block(ag_app *app, void *ctx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  int rc = ag_subnet_list(&s, list, AG_MAX_SUBNETS, &n);
  uint64_t height = ag_app_block_ctx(app)->height;
  for (size_t i = 0; i < n && !rc; i++) {
    ag_subnet sn;
    if ((rc = ag_subnet_load(&s, list[i], &sn))) break;
    if (height - sn.last_epoch_block >= sn.hp.tempo) rc = ag_incentive_run_epoch(app, &sn);
  }
  return rc;
}

void ag_incentive_attach(ag_app *app) {
  ag_incentive_register_kinds();
  ag_app_add_genesis_hook(app, ag_incentive_genesis, NULL);
  ag_app_add_hooks(app, ag_incentive_begin_block, ag_incentive_end_block, NULL);
  ag_app_add_hooks(app, NULL, ag_vstake_end_block, NULL);
}
