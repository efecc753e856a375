/*
 * incentive_api.c — read API of the incentive layer (docs/api.md): subnets, hyperparameters,
 * the metagraph (per UID: hotkey, stake, activity, permit, consensus, incentive, dividends,
 * validator trust, emission, last update, endpoint; bonds and weights on request), hotkeys and
 * stake. Every answer is read from one committed snapshot, so all its numbers belong to one
 * height.
 */
#include "api/incentive_api.h"

#include "api/models.h"
#include "api/render.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "incentive/internal.h"
#include "incentive/training.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE(req) ((ag_node *)(req)->ctx)

static void fail(ag_http_resp *resp, int err) {
  int status = err == AG_E_NOTFOUND || err == AG_E_SUBNET_NOT_FOUND ? 404
               : err <= -300 && err > -400 ? 400
               : err == AG_E_CORRUPT || err == AG_E_IO ? 500
                                                        : 400;
  ag_http_error(resp, status, err, ag_errmsg(err));
}

json_t *ag_json_hyperparams(const ag_hyperparams *hp) {
  json_t *o = json_object();
  for (size_t i = 0; i < ag_hyperparam_count(); i++) {
    uint64_t v = ag_hyperparam_get(hp, i);
    const char *name = ag_hyperparam_name(i);
    if (!strcmp(name, "alpha_sigmoid_steepness"))
      json_object_set_new(o, name, json_integer((int16_t)(uint16_t)v));
    else if (v > (1ULL << 53))
      json_object_set_new(o, name, ag_json_u64s(v));
    else
      json_object_set_new(o, name, json_integer((json_int_t)v));
  }
  return o;
}

json_t *ag_json_subnet(const ag_subnet *sn, uint64_t height, int detail) {
  static const uint8_t zero[32];
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(sn->netuid));
  json_object_set_new(o, "name", json_string(sn->name));
  json_object_set_new(o, "owner", ag_json_addr(sn->owner));
  json_object_set_new(o, "owner_hotkey", memcmp(sn->owner_hotkey, zero, 32) ? ag_json_addr(sn->owner_hotkey) : json_null());
  json_object_set_new(o, "neurons", json_integer(sn->n));
  json_object_set_new(o, "max_uids", json_integer(sn->hp.max_uids));
  json_object_set_new(o, "tempo", json_integer(sn->hp.tempo));
  json_object_set_new(o, "registration_cost", ag_json_u64s(ag_subnet_burn_at(sn, height + 1)));
  json_object_set_new(o, "registration_cost_max", ag_json_u64s(sn->burn)); /* it decays from this */
  json_object_set_new(o, "emission_share", json_integer(sn->share));
  json_object_set_new(o, "pending_emission", ag_json_u64s(sn->pending));
  json_object_set_new(o, "emitted", ag_json_u64s(sn->emitted));
  json_object_set_new(o, "epoch", json_integer((json_int_t)sn->epoch));
  json_object_set_new(o, "last_epoch_block", json_integer((json_int_t)sn->last_epoch_block));
  json_object_set_new(o, "next_epoch_block", json_integer((json_int_t)(sn->last_epoch_block + sn->hp.tempo)));
  json_object_set_new(o, "created_block", json_integer((json_int_t)sn->created_block));
  if (detail) json_object_set_new(o, "hyperparams", ag_json_hyperparams(&sn->hp));
  return o;
}

static json_t *row_json(const ag_yuma_entry *e, uint32_t n) {
  json_t *a = json_array();
  for (uint32_t i = 0; i < n; i++) {
    json_t *p = json_array();
    json_array_append_new(p, json_integer(e[i].uid));
    json_array_append_new(p, json_integer(e[i].value));
    json_array_append_new(a, p);
  }
  return a;
}

json_t *ag_json_metagraph(ag_ist *s, const ag_subnet *sn, int with_bonds, int with_weights) {
  json_t *o = ag_json_subnet(sn, s->view ? ag_state_view_height(s->view) : 0, 1), *rows = json_array();
  for (uint16_t u = 0; u < sn->n; u++) {
    ag_neuron nr;
    ag_hotkey_info h;
    if (ag_neuron_load(s, sn->netuid, u, &nr) || ag_hotkey_load(s, nr.hotkey, &h)) continue;
    json_t *r = json_object();
    json_object_set_new(r, "uid", json_integer(u));
    json_object_set_new(r, "hotkey", ag_json_addr(nr.hotkey));
    json_object_set_new(r, "coldkey", ag_json_addr(h.owner));
    json_object_set_new(r, "stake", ag_json_u64s(h.total_stake));
    json_object_set_new(r, "active", json_boolean(nr.active));
    json_object_set_new(r, "validator_permit", json_boolean(nr.permit));
    json_object_set_new(r, "consensus", json_integer(nr.consensus));
    json_object_set_new(r, "incentive", json_integer(nr.incentive));
    json_object_set_new(r, "dividends", json_integer(nr.dividends));
    json_object_set_new(r, "validator_trust", json_integer(nr.vtrust));
    json_object_set_new(r, "stake_weight", json_integer(nr.stake_weight));
    json_object_set_new(r, "emission", ag_json_u64s(nr.emission));
    json_object_set_new(r, "server_emission", ag_json_u64s(nr.server_emission));
    json_object_set_new(r, "validator_emission", ag_json_u64s(nr.validator_emission));
    json_object_set_new(r, "registered_block", json_integer((json_int_t)nr.reg_block));
    json_object_set_new(r, "last_update", json_integer((json_int_t)nr.last_update));
    if (nr.protocol) {
      json_t *ep = json_object();
      json_object_set_new(ep, "protocol", json_string(nr.protocol == 2 ? "https" : "http"));
      json_object_set_new(ep, "host", json_string(nr.host));
      json_object_set_new(ep, "port", json_integer(nr.port));
      json_object_set_new(r, "endpoint", ep);
    } else {
      json_object_set_new(r, "endpoint", json_null());
    }
    ag_yuma_entry *e;
    uint32_t len;
    if (with_bonds && ag_bonds_load(s, sn->netuid, u, &e, &len) == 0) {
      json_object_set_new(r, "bonds", row_json(e, len));
      free(e);
    }
    if (with_weights && ag_weights_load(s, sn->netuid, u, &e, &len) == 0) {
      json_object_set_new(r, "weights", row_json(e, len));
      free(e);
    }
    json_array_append_new(rows, r);
  }
  json_object_set_new(o, "uids", rows);
  return o;
}

static int open_view(ag_http_req *req, ag_ist *s) {
  s->st = ag_app_state(ag_node_app(NODE(req)));
  return ag_state_view_open(s->st, &s->view);
}

static void h_subnets(ag_http_req *req, ag_http_resp *resp) {
  ag_ist s;
  int rc = open_view(req, &s);
  if (rc) return fail(resp, rc);
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  json_t *arr = json_array();
  rc = ag_subnet_list(&s, list, AG_MAX_SUBNETS, &n);
  for (size_t i = 0; !rc && i < n; i++) {
    ag_subnet sn;
    if ((rc = ag_subnet_load(&s, list[i], &sn)) == 0)
      json_array_append_new(arr, ag_json_subnet(&sn, ag_state_view_height(s.view), 0));
  }
  json_t *o = json_object();
  json_object_set_new(o, "height", json_integer((json_int_t)ag_state_view_height(s.view)));
  json_object_set_new(o, "subnets", arr);
  ag_state_view_close(s.view);
  if (rc) {
    json_decref(o);
    return fail(resp, rc);
  }
  ag_http_json(resp, 200, o);
}

/* /v1/subnets/{netuid} and /v1/subnets/{netuid}/metagraph */
/* ---- training subnets (docs/subnet-training.md) ------------------------------------------ */

static json_t *round_json(const ag_train_round *r) {
  json_t *o = json_object();
  json_object_set_new(o, "round", json_integer((json_int_t)r->round));
  json_object_set_new(o, "base", ag_json_hex(r->base, 32));
  json_object_set_new(o, "model_id", ag_json_hex(r->model, 32));
  json_object_set_new(o, "size", json_integer((json_int_t)r->size));
  json_object_set_new(o, "block", json_integer((json_int_t)r->block));
  json_object_set_new(o, "file_hash", ag_json_hex(r->file_hash, 32));
  json_object_set_new(o, "val_loss_micro", r->val_loss == AG_TRAIN_LOSS_NONE ? json_null() : ag_json_u64n(r->val_loss));
  json_t *a = json_array();
  for (uint16_t i = 0; i < r->n; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "uid", json_integer(r->e[i].uid));
    json_object_set_new(e, "hotkey", ag_json_addr(r->e[i].hotkey));
    json_object_set_new(e, "blob", ag_json_hex(r->e[i].blob, 32));
    json_object_set_new(e, "score", ag_json_u64s(r->e[i].score));
    json_object_set_new(e, "shares", ag_json_u64s(r->e[i].shares));
    json_array_append_new(a, e);
  }
  json_object_set_new(o, "entries", a);
  return o;
}

/* GET /v1/subnets/{netuid}/training: the open round, its submissions and proposals, and the
 * records of the last rounds (?rounds=N, default 10). */
static void training_get(ag_http_req *req, ag_http_resp *resp, uint16_t netuid) {
  ag_ist s;
  int rc = open_view(req, &s);
  if (rc) return fail(resp, rc);
  ag_subnet sn;
  ag_subnet_model m;
  ag_training t;
  json_t *o = NULL;
  if (!(rc = ag_subnet_load(&s, netuid, &sn)) && !(rc = ag_training_load(&s, netuid, &t)) &&
      !(rc = ag_subnet_model_load(&s, netuid, &m))) {
    o = json_object();
    uint64_t h = ag_state_view_height(s.view);
    json_object_set_new(o, "netuid", json_integer(netuid));
    json_object_set_new(o, "height", json_integer((json_int_t)h));
    json_object_set_new(o, "round", json_integer((json_int_t)t.round));
    json_object_set_new(o, "round_start", json_integer((json_int_t)t.round_start));
    json_object_set_new(o, "submit_until", json_integer((json_int_t)(t.round_start + sn.hp.train_submit_blocks)));
    json_object_set_new(o, "reveal_until", json_integer((json_int_t)(t.round_start + sn.hp.train_submit_blocks +
                                                                     sn.hp.train_reveal_blocks)));
    json_object_set_new(o, "round_end", json_integer((json_int_t)(t.round_start + sn.hp.train_round_blocks)));
    json_object_set_new(o, "lineage", json_integer((json_int_t)t.lineage));
    json_object_set_new(o, "finalized", json_integer((json_int_t)t.finalized));
    json_object_set_new(o, "model_id", ag_json_hex(m.model_id, 32));
    json_object_set_new(o, "size", json_integer((json_int_t)m.size));
    json_t *subs = json_array(), *props = json_array(), *rounds = json_array();
    for (uint16_t i = 0; i < t.nsubs; i++) {
      json_t *e = json_object();
      json_object_set_new(e, "uid", json_integer(t.subs[i].uid));
      json_object_set_new(e, "hotkey", ag_json_addr(t.subs[i].hotkey));
      json_object_set_new(e, "commitment", ag_json_hex(t.subs[i].commit, 32));
      json_object_set_new(e, "revealed", json_boolean(t.subs[i].revealed));
      json_object_set_new(e, "blob", t.subs[i].revealed ? ag_json_hex(t.subs[i].blob, 32) : json_null());
      json_object_set_new(e, "size", t.subs[i].revealed ? json_integer((json_int_t)t.subs[i].size) : json_null());
      json_object_set_new(e, "block", json_integer((json_int_t)t.subs[i].block));
      json_array_append_new(subs, e);
    }
    for (uint16_t i = 0; i < t.nprops; i++) {
      json_t *e = json_object();
      json_object_set_new(e, "uid", json_integer(t.props[i].uid));
      json_object_set_new(e, "hotkey", ag_json_addr(t.props[i].hotkey));
      json_object_set_new(e, "proposal", ag_json_hex(t.props[i].proposal, 32));
      json_object_set_new(e, "model_id", ag_json_hex(t.props[i].model, 32));
      json_object_set_new(e, "size", json_integer((json_int_t)t.props[i].size));
      json_array_append_new(props, e);
    }
    uint64_t want = 10;
    const char *q = ag_http_query(req, "rounds");
    if (q && ag_parse_u64(q, &want)) want = 10;
    for (uint64_t r = t.round; r-- > 0 && want > 0;) {
      ag_train_round tr;
      if (ag_train_round_load(&s, netuid, r, &tr) != 0) continue;
      json_array_append_new(rounds, round_json(&tr));
      ag_train_round_free(&tr);
      want--;
    }
    json_object_set_new(o, "submissions", subs);
    json_object_set_new(o, "proposals", props);
    ag_train_previous pv;
    if (ag_train_previous_load(&s, netuid, &pv) == 0) {
      json_t *pj = json_object(), *pb = json_array();
      json_object_set_new(pj, "round", json_integer((json_int_t)pv.round));
      for (uint16_t i = 0; i < pv.n; i++)
        json_array_append_new(pb, json_pack("{s:i, s:o, s:I}", "uid", pv.e[i].uid, "blob", ag_json_hex(pv.e[i].blob, 32),
                                            "size", (json_int_t)pv.e[i].size));
      json_object_set_new(pj, "revealed", pb);
      json_object_set_new(o, "previous", pj);
      ag_train_previous_free(&pv);
    } else {
      json_object_set_new(o, "previous", json_null());
    }
    json_object_set_new(o, "rounds", rounds);
    ag_training_free(&t);
  }
  ag_state_view_close(s.view);
  if (rc) return fail(resp, rc);
  ag_http_json(resp, 200, o);
}

/* GET /v1/model-shares/{model id}: who trained a checkpoint. Every aggregated round of its
 * lineage up to it, and per hotkey the total and its fraction in millionths. */
static void h_model_shares(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32))
    return ag_http_error(resp, 400, AG_E_INVALID, "a model id is 64 hex digits");
  ag_ist s;
  int rc = open_view(req, &s);
  if (rc) return fail(resp, rc);
  uint16_t netuid;
  uint64_t round, lineage;
  rc = ag_train_model_origin(&s, id, &netuid, &round, &lineage);
  json_t *o = NULL;
  if (!rc) {
    o = json_object();
    json_t *rounds = json_array(), *totals = json_object();
    unsigned __int128 total = 0;
    for (uint64_t r = lineage; r < round; r++) {
      ag_train_round tr;
      if (ag_train_round_load(&s, netuid, r, &tr) != 0) continue;
      json_array_append_new(rounds, round_json(&tr));
      for (uint16_t i = 0; i < tr.n; i++) {
        char addr[128];
        json_t *j = ag_json_addr(tr.e[i].hotkey);
        snprintf(addr, sizeof addr, "%s", json_string_value(j));
        json_decref(j);
        json_t *cur = json_object_get(totals, addr);
        uint64_t prev = 0;
        if (cur) ag_parse_u64(json_string_value(cur), &prev);
        json_object_set_new(totals, addr, ag_json_u64s(prev + tr.e[i].shares));
        total += tr.e[i].shares;
      }
      ag_train_round_free(&tr);
    }
    json_t *owners = json_array();
    const char *addr;
    json_t *v;
    json_object_foreach(totals, addr, v) {
      uint64_t sh = 0;
      ag_parse_u64(json_string_value(v), &sh);
      json_t *e = json_object();
      json_object_set_new(e, "hotkey", json_string(addr));
      json_object_set_new(e, "shares", ag_json_u64s(sh));
      json_object_set_new(e, "fraction_ppm", json_integer(total ? (json_int_t)((unsigned __int128)sh * 1000000 / total) : 0));
      json_array_append_new(owners, e);
    }
    json_decref(totals);
    json_object_set_new(o, "model_id", ag_json_hex(id, 32));
    json_object_set_new(o, "netuid", json_integer(netuid));
    json_object_set_new(o, "round", json_integer((json_int_t)round));
    json_object_set_new(o, "lineage_start", json_integer((json_int_t)lineage));
    json_object_set_new(o, "total_shares", ag_json_u64s((uint64_t)total));
    json_object_set_new(o, "owners", owners);
    json_object_set_new(o, "rounds", rounds);
    json_object_set_new(o, "height", json_integer((json_int_t)ag_state_view_height(s.view)));
  }
  ag_state_view_close(s.view);
  if (rc == AG_E_NOTFOUND) return ag_http_error(resp, 404, rc, "no training subnet made or pinned this model");
  if (rc) return fail(resp, rc);
  ag_http_json(resp, 200, o);
}

/* ---- GET /v1/subnets/{netuid}/epochs: the metagraph of past epochs, newest first ---------- */

typedef struct {
  json_t *list;
  uint64_t last;
  size_t n;
} epochs_page;

static int epoch_row(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen) {
  epochs_page *pg = ctx;
  if (klen != 11 || vlen < 18) return 0;
  uint32_t n = ag_get_u16le(v + 16);
  if (vlen != 18 + (size_t)n * 56) return 0; /* not a record of this layout: skipped */
  pg->last = ag_get_u64be(key + 3);
  json_t *o = json_object(), *uids = json_array();
  json_object_set_new(o, "epoch", json_integer((json_int_t)pg->last));
  json_object_set_new(o, "block", json_integer((json_int_t)ag_get_u64le(v)));
  json_object_set_new(o, "emitted", ag_json_u64s(ag_get_u64le(v + 8)));
  const uint8_t *p = v + 18;
  for (uint32_t i = 0; i < n; i++, p += 56) {
    char addr[AG_ADDR_MAX];
    ag_addr_encode(p, addr);
    json_array_append_new(uids, json_pack("{s:I,s:s,s:o,s:o,s:i,s:i,s:i,s:i}", "uid", (json_int_t)i, "hotkey", addr,
                                          "stake", ag_json_u64s(ag_get_u64le(p + 32)), "emission",
                                          ag_json_u64s(ag_get_u64le(p + 40)), "incentive", ag_get_u16le(p + 48),
                                          "dividends", ag_get_u16le(p + 50), "consensus", ag_get_u16le(p + 52),
                                          "validator_trust", ag_get_u16le(p + 54)));
  }
  json_object_set_new(o, "uids", uids);
  json_array_append_new(pg->list, o);
  pg->n++;
  return 0;
}

static void epochs_get(ag_http_req *req, ag_http_resp *resp, uint16_t netuid) {
  uint64_t limit, before;
  const char *bs = ag_http_query(req, "before");
  int rc = ag_http_query_u64(req, "limit", 1, 100, 10, &limit);
  if (!rc) rc = ag_http_query_u64(req, "before", 0, UINT64_MAX, 0, &before);
  if (rc) return fail(resp, rc);
  ag_ist s;
  rc = open_view(req, &s);
  if (rc) return fail(resp, rc);
  ag_subnet sn;
  rc = ag_subnet_load(&s, netuid, &sn);
  uint64_t height = ag_state_view_height(s.view);
  ag_state_view_close(s.view);
  if (rc) return fail(resp, rc);
  uint8_t prefix[3] = {AG_HIST_EPOCH, (uint8_t)(netuid >> 8), (uint8_t)netuid}, bk[11];
  memcpy(bk, prefix, 3);
  ag_put_u64be(bk + 3, before);
  epochs_page pg = {json_array(), 0, 0};
  rc = ag_state_hist_scan(ag_app_state(ag_node_app(NODE(req))), prefix, 3, bs ? bk : NULL, bs ? sizeof bk : 0,
                          (size_t)limit, epoch_row, &pg);
  if (rc) {
    json_decref(pg.list);
    return fail(resp, rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(netuid));
  json_object_set_new(o, "epochs", pg.list);
  json_object_set_new(o, "next", pg.n == limit ? json_integer((json_int_t)pg.last) : json_null());
  json_object_set_new(o, "height", json_integer((json_int_t)height));
  ag_http_json(resp, 200, o);
}

static void h_subnet(ag_http_req *req, ag_http_resp *resp) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", req->param);
  char *slash = strchr(buf, '/');
  const char *sub = "";
  if (slash) {
    *slash = 0;
    sub = slash + 1;
  }
  uint64_t netuid;
  if (ag_parse_u64(buf, &netuid) || netuid > 65535)
    return ag_http_error(resp, 400, AG_E_INVALID, "netuid must be a number");
  if (!strcmp(sub, "training")) return training_get(req, resp, (uint16_t)netuid);
  if (!strcmp(sub, "epochs")) return epochs_get(req, resp, (uint16_t)netuid);
  if (*sub && strcmp(sub, "metagraph") != 0)
    return ag_http_error(resp, 404, AG_E_HTTP_ROUTE, "no such endpoint (try /metagraph, /epochs or /training)");
  ag_ist s;
  int rc = open_view(req, &s);
  if (rc) return fail(resp, rc);
  ag_subnet sn;
  rc = ag_subnet_load(&s, (uint16_t)netuid, &sn);
  json_t *o = NULL;
  if (!rc) {
    uint64_t h = ag_state_view_height(s.view);
    o = *sub ? ag_json_metagraph(&s, &sn, ag_http_query_bool(req, "bonds"), ag_http_query_bool(req, "weights"))
             : ag_json_subnet(&sn, h, 1);
    ag_subnet_model m;
    if (ag_subnet_model_load(&s, sn.netuid, &m) == 0) {
      json_t *mj = json_object();
      json_object_set_new(mj, "kind", json_string(ag_subnet_kind_name(m.kind)));
      json_object_set_new(mj, "model_id", ag_json_hex(m.model_id, 32));
      json_object_set_new(mj, "size", json_integer((json_int_t)m.size));
      json_object_set_new(mj, "set_block", json_integer((json_int_t)m.set_block));
      json_object_set_new(o, "model", mj);
    } else {
      json_object_set_new(o, "model", json_null());
    }
    json_object_set_new(o, "height", json_integer((json_int_t)h));
  }
  ag_state_view_close(s.view);
  if (rc) return fail(resp, rc);
  ag_http_json(resp, 200, o);
}

static void h_hotkey(ag_http_req *req, ag_http_resp *resp) {
  uint8_t hk[32];
  int rc = ag_addr_decode(req->param, hk);
  if (rc) return fail(resp, rc);
  ag_ist s;
  if ((rc = open_view(req, &s))) return fail(resp, rc);
  ag_hotkey_info h;
  rc = ag_hotkey_load(&s, hk, &h);
  json_t *o = NULL;
  if (!rc) {
    o = json_object();
    json_object_set_new(o, "hotkey", json_string(req->param));
    json_object_set_new(o, "owner", ag_json_addr(h.owner));
    json_object_set_new(o, "take", json_integer(h.take));
    json_object_set_new(o, "total_stake", ag_json_u64s(h.total_stake));
    ag_staker *e;
    size_t ns;
    json_t *arr = json_array();
    if (ag_stakers_load(&s, hk, &e, &ns) == 0) {
      for (size_t i = 0; i < ns; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "coldkey", ag_json_addr(e[i].coldkey));
        json_object_set_new(x, "amount", ag_json_u64s(e[i].stake));
        json_array_append_new(arr, x);
      }
      free(e);
    }
    json_object_set_new(o, "stakers", arr);
    json_t *regs = json_array();
    uint16_t list[AG_MAX_SUBNETS];
    size_t n;
    if (ag_subnet_list(&s, list, AG_MAX_SUBNETS, &n) == 0)
      for (size_t i = 0; i < n; i++) {
        uint16_t uid;
        if (ag_neuron_uid(&s, list[i], hk, &uid) == 0) {
          json_t *x = json_object();
          json_object_set_new(x, "netuid", json_integer(list[i]));
          json_object_set_new(x, "uid", json_integer(uid));
          json_array_append_new(regs, x);
        }
      }
    json_object_set_new(o, "registrations", regs);
    json_object_set_new(o, "height", json_integer((json_int_t)ag_state_view_height(s.view)));
  } else if (rc == AG_E_NOTFOUND) {
    rc = ag_fail(AG_E_NOTFOUND, "no hotkey %s (hotkeys appear when first registered)", req->param);
  }
  ag_state_view_close(s.view);
  if (rc) return fail(resp, rc);
  ag_http_json(resp, 200, o);
}

/* /v1/stake/{coldkey}: what a coldkey has staked, per hotkey */
static void h_stake(ag_http_req *req, ag_http_resp *resp) {
  uint8_t ck[32];
  int rc = ag_addr_decode(req->param, ck);
  if (rc) return fail(resp, rc);
  ag_ist s;
  if ((rc = open_view(req, &s))) return fail(resp, rc);
  uint8_t (*hks)[32];
  size_t n;
  json_t *arr = json_array();
  uint64_t total = 0;
  rc = ag_stake_hotkeys(&s, ck, &hks, &n);
  for (size_t i = 0; !rc && i < n; i++) {
    uint64_t amt;
    if (ag_stake_get(&s, hks[i], ck, &amt)) continue;
    total += amt;
    json_t *x = json_object();
    json_object_set_new(x, "hotkey", ag_json_addr(hks[i]));
    json_object_set_new(x, "amount", ag_json_u64s(amt));
    json_array_append_new(arr, x);
  }
  if (!rc) free(hks);
  json_t *o = json_object();
  json_object_set_new(o, "coldkey", json_string(req->param));
  json_object_set_new(o, "total", ag_json_u64s(total));
  json_object_set_new(o, "stakes", arr);
  json_object_set_new(o, "height", json_integer((json_int_t)ag_state_view_height(s.view)));
  ag_state_view_close(s.view);
  if (rc) {
    json_decref(o);
    return fail(resp, rc);
  }
  ag_http_json(resp, 200, o);
}

static void h_incentive(ag_http_req *req, ag_http_resp *resp) {
  ag_ist s;
  int rc = open_view(req, &s);
  if (rc) return fail(resp, rc);
  ag_incentive_params p;
  rc = ag_incentive_params_load(&s, &p);
  uint64_t h = ag_state_view_height(s.view);
  json_t *o = json_object();
  static const uint8_t zero[32];
  json_object_set_new(o, "height", json_integer((json_int_t)h));
  json_object_set_new(o, "block_reward", ag_json_u64s(p.block_reward));
  json_object_set_new(o, "current_block_reward", ag_json_u64s(ag_block_reward(&p, h + 1)));
  json_object_set_new(o, "halving_interval", json_integer((json_int_t)p.halving_interval));
  json_object_set_new(o, "subnet_cost", ag_json_u64s(p.subnet_cost));
  json_object_set_new(o, "burn_min", ag_json_u64s(p.burn_min));
  json_object_set_new(o, "burn_max", ag_json_u64s(p.burn_max));
  json_object_set_new(o, "owner_cut", json_integer(p.owner_cut));
  json_object_set_new(o, "default_take", json_integer(p.default_take));
  json_object_set_new(o, "max_take", json_integer(p.max_take));
  json_object_set_new(o, "min_stake", ag_json_u64s(p.min_stake));
  json_object_set_new(o, "max_stakers", json_integer(p.max_stakers));
  json_object_set_new(o, "allow_private_endpoints", json_boolean(p.allow_private_endpoints));
  json_object_set_new(o, "sudo", memcmp(p.sudo, zero, 32) ? ag_json_addr(p.sudo) : json_null());
  json_object_set_new(o, "community_pool", ag_json_u64s(ag_community_pool(&s)));
  ag_state_view_close(s.view);
  if (rc) {
    json_decref(o);
    return fail(resp, rc);
  }
  ag_http_json(resp, 200, o);
}

const ag_http_route ag_incentive_routes[] = {
    {"GET", "/v1/subnets", h_subnets, 0},
    {"GET", "/v1/subnets/", h_subnet, 0},
    {"GET", "/v1/hotkeys/", h_hotkey, 0},
    {"GET", "/v1/stake/", h_stake, 0},
    {"GET", "/v1/incentive", h_incentive, 0},
    {"GET", "/v1/model-shares/", h_model_shares, 0},
};
const size_t ag_incentive_nroutes = sizeof ag_incentive_routes / sizeof ag_incentive_routes[0];
