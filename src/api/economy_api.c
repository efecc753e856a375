/*
 * economy_api.c — read API of the economy (docs/api.md): its parameters, payment channels,
 * offers and bonds.
 * Every answer is read from one committed snapshot.
 */
#include "api/economy_api.h"

#include "chain/json.h"
#include "consensus/node.h"
#include "core/codec.h"
#include "core/err.h"
#include "incentive/incentive.h"

#include <stdlib.h>

#include <string.h>

#define NODE(req) ((ag_node *)(req)->ctx)

json_t *ag_json_channel(const ag_channel *ch, uint64_t height) {
  static const uint8_t zero[32];
  json_t *o = json_object();
  json_object_set_new(o, "id", ag_json_hex(ch->id, 32));
  json_object_set_new(o, "status", json_string(ag_channel_status_name(ch->status)));
  json_object_set_new(o, "client", ag_json_addr(ch->client));
  json_object_set_new(o, "provider", ag_json_addr(ch->provider));
  json_object_set_new(o, "signer", ag_json_addr(ch->signer));
  json_object_set_new(o, "model", memcmp(ch->model, zero, 32) ? ag_json_hex(ch->model, 32) : json_null());
  json_object_set_new(o, "deposit", ag_json_u64s(ch->deposit));
  json_object_set_new(o, "claimed", ag_json_u64s(ch->claimed));
  json_object_set_new(o, "remaining", ag_json_u64s(ag_channel_remaining(ch)));
  json_object_set_new(o, "seq", ag_json_u64n(ch->seq));
  json_object_set_new(o, "settle_delay", ag_json_u64n(ch->settle_delay));
  json_object_set_new(o, "expiry", ch->expiry ? ag_json_u64n(ch->expiry) : json_null());
  json_object_set_new(o, "close_at", ch->status == AG_CHANNEL_CLOSING ? ag_json_u64n(ch->close_at) : json_null());
  json_object_set_new(o, "opened", ag_json_u64n(ch->opened));
  json_object_set_new(o, "closed", ch->status == AG_CHANNEL_CLOSED ? ag_json_u64n(ch->closed) : json_null());
  json_object_set_new(o, "height", ag_json_u64n(height));
  return o;
}

static void fail(ag_http_resp *resp, int err) {
  int status = err == AG_E_CHANNEL_NOT_FOUND || err == AG_E_BOND_NOT_FOUND || err == AG_E_ASSET_NOT_FOUND ||
                       err == AG_E_DISPUTE_NOT_FOUND ? 404 : err == AG_E_CORRUPT || err == AG_E_IO ? 500 : 400;
  ag_http_error(resp, status, err, ag_errmsg(err));
}

/* /v1/channels/{id}: one payment channel */
static void h_channel(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32))
    return ag_http_error(resp, 400, AG_E_BAD_HEX, "a channel id is 64 hex digits");
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  int rc = ag_state_view_open(st, &v);
  if (rc) return fail(resp, rc);
  ag_channel ch;
  rc = ag_channel_load(st, v, id, &ch);
  uint64_t h = ag_state_view_height(v);
  ag_state_view_close(v);
  if (rc) return fail(resp, rc);
  ag_http_json(resp, 200, ag_json_channel(&ch, h));
}

json_t *ag_json_bond(const ag_bond *b) {
  json_t *o = json_object();
  json_object_set_new(o, "hotkey", ag_json_addr(b->hotkey));
  json_object_set_new(o, "coldkey", ag_json_addr(b->coldkey));
  json_object_set_new(o, "bonded", ag_json_u64s(b->bonded));
  json_object_set_new(o, "unbonding", ag_json_u64s(b->unbonding));
  json_object_set_new(o, "unbond_at", b->unbonding ? ag_json_u64n(b->unbond_at) : json_null());
  json_object_set_new(o, "offers", json_integer(b->offers));
  json_t *d = json_object();
  json_object_set_new(d, "faults", json_integer(b->faults));
  json_object_set_new(d, "cleared", json_integer(b->cleared));
  json_object_set_new(d, "open", json_integer(b->disputes));
  json_object_set_new(d, "held", ag_json_u64s(b->held));
  json_object_set_new(o, "disputes", d);
  return o;
}

/* Where a provider serves a model on an inference subnet that pins it: uid and last epoch's
 * incentive and trust (u16 proportions, as in the metagraph). */
static json_t *serving(ag_ist *s, const uint8_t hotkey[32], const uint8_t model[32]) {
  json_t *arr = json_array();
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  if (ag_subnet_list(s, list, AG_MAX_SUBNETS, &n)) return arr;
  for (size_t i = 0; i < n; i++) {
    ag_subnet_model m;
    uint16_t uid;
    ag_neuron nr;
    if (ag_subnet_model_load(s, list[i], &m) || m.kind != AG_SUBNET_INFERENCE || memcmp(m.model_id, model, 32) ||
        ag_neuron_uid(s, list[i], hotkey, &uid) || ag_neuron_load(s, list[i], uid, &nr))
      continue;
    json_t *x = json_object();
    json_object_set_new(x, "netuid", json_integer(list[i]));
    json_object_set_new(x, "uid", json_integer(uid));
    json_object_set_new(x, "incentive", json_integer(nr.incentive));
    json_object_set_new(x, "consensus", json_integer(nr.consensus));
    json_object_set_new(x, "active", json_boolean(nr.active));
    json_array_append_new(arr, x);
  }
  return arr;
}

/* /v1/offers?model=ID: the offers for a model, cheapest first, with each provider's bond,
 * dispute record and standing on the subnets that serve the model */
static void h_offers(ag_http_req *req, ag_http_resp *resp) {
  const char *q = ag_http_query(req, "model");
  uint8_t model[32];
  if (!q || strlen(q) != 64 || ag_hex_decode(q, 64, model, 32))
    return ag_http_error(resp, 400, AG_E_HTTP_BAD_REQUEST, "give ?model= a model id (64 hex digits)");
  ag_ist s = {ag_app_state(ag_node_app(NODE(req))), NULL};
  int rc = ag_state_view_open(s.st, &s.view);
  if (rc) return fail(resp, rc);
  ag_offer *v = NULL;
  size_t n = 0;
  rc = ag_offers_for_model(s.st, s.view, model, &v, &n);
  json_t *arr = json_array();
  for (size_t i = 0; i < n && !rc; i++) {
    ag_bond b;
    if ((rc = ag_bond_load(s.st, s.view, v[i].hotkey, &b))) break;
    json_t *o = json_object();
    json_object_set_new(o, "provider", ag_json_addr(v[i].hotkey));
    json_object_set_new(o, "price_in_per_1k", ag_json_u64s(v[i].price_in));
    json_object_set_new(o, "price_out_per_1k", ag_json_u64s(v[i].price_out));
    json_object_set_new(o, "max_tokens", json_integer(v[i].max_tokens));
    json_object_set_new(o, "posted", ag_json_u64n(v[i].posted));
    json_object_set_new(o, "bond", ag_json_bond(&b));
    json_object_set_new(o, "serving", serving(&s, v[i].hotkey, model));
    json_array_append_new(arr, o);
  }
  free(v);
  json_t *o = json_object();
  json_object_set_new(o, "model", json_string(q));
  json_object_set_new(o, "offers", arr);
  json_object_set_new(o, "height", ag_json_u64n(ag_state_view_height(s.view)));
  ag_state_view_close(s.view);
  if (rc) {
    json_decref(o);
    return fail(resp, rc);
  }
  ag_http_json(resp, 200, o);
}

/* /v1/bonds/{hotkey} */
static void h_bond(ag_http_req *req, ag_http_resp *resp) {
  uint8_t hk[32];
  int rc = ag_addr_decode(req->param, hk);
  if (rc) return ag_http_error(resp, 400, rc, ag_errmsg(rc));
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  if ((rc = ag_state_view_open(st, &v))) return fail(resp, rc);
  ag_bond b;
  rc = ag_bond_load(st, v, hk, &b);
  uint64_t h = ag_state_view_height(v);
  ag_state_view_close(v);
  if (rc) return fail(resp, rc);
  json_t *o = ag_json_bond(&b);
  json_object_set_new(o, "height", ag_json_u64n(h));
  ag_http_json(resp, 200, o);
}

static json_t *u128_json(unsigned __int128 v) {
  char buf[48];
  int i = 47;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + (int)(v % 10));
    v /= 10;
  } while (v);
  return json_string(buf + i);
}

/* /v1/assets/{id}: a model or dataset, its vault, ancestors and holders with what each can
 * claim now */
static void h_asset(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32))
    return ag_http_error(resp, 400, AG_E_BAD_HEX, "an asset id is 64 hex digits");
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  int rc = ag_state_view_open(st, &v);
  if (rc) return fail(resp, rc);
  ag_asset a;
  uint8_t (*hs)[32] = NULL;
  size_t n = 0;
  rc = ag_asset_load(st, v, id, &a);
  if (!rc) rc = ag_asset_holders(st, v, id, &hs, &n);
  json_t *o = NULL;
  if (!rc) {
    o = json_object();
    json_object_set_new(o, "id", ag_json_hex(a.id, 32));
    json_object_set_new(o, "kind", json_string(a.kind == AG_ASSET_MODEL ? "model" : "dataset"));
    json_object_set_new(o, "owner", ag_json_addr(a.owner));
    json_object_set_new(o, "royalty_bps", json_integer(a.royalty_bps));
    json_object_set_new(o, "supply", ag_json_u64s(a.supply));
    json_t *vault = json_object();
    json_object_set_new(vault, "balance", ag_json_u64s(a.balance));
    json_object_set_new(vault, "income", ag_json_u64s(a.income));
    json_object_set_new(vault, "acc", u128_json(a.acc));
    json_object_set_new(vault, "carry", ag_json_u64s(a.carry));
    json_object_set_new(o, "vault", vault);
    json_t *anc = json_array(), *hold = json_array();
    for (int i = 0; i < a.nanc; i++) {
      json_t *e = json_object();
      json_object_set_new(e, "id", ag_json_hex(a.anc[i].id, 32));
      json_object_set_new(e, "bps", json_integer(a.anc[i].bps));
      json_array_append_new(anc, e);
    }
    json_object_set_new(o, "ancestors", anc);
    for (size_t i = 0; i < n && !rc; i++) {
      ag_holding h;
      if ((rc = ag_holding_load(st, v, id, hs[i], &h))) break;
      json_t *e = json_object();
      json_object_set_new(e, "holder", h.is_asset ? ag_json_hex(h.holder, 32) : ag_json_addr(h.holder));
      json_object_set_new(e, "is_asset", json_boolean(h.is_asset));
      json_object_set_new(e, "shares", ag_json_u64s(h.shares));
      json_object_set_new(e, "claimable", ag_json_u64s(ag_holding_claimable(&a, &h)));
      json_array_append_new(hold, e);
    }
    json_object_set_new(o, "holders", hold);
    json_object_set_new(o, "height", ag_json_u64n(ag_state_view_height(v)));
  }
  free(hs);
  ag_state_view_close(v);
  if (rc) {
    json_decref(o);
    return fail(resp, rc);
  }
  ag_http_json(resp, 200, o);
}

/* /v1/economy: the chain's economy parameters */
static void h_economy(ag_http_req *req, ag_http_resp *resp) {
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  int rc = ag_state_view_open(st, &v);
  if (rc) return fail(resp, rc);
  ag_economy_params p;
  rc = ag_economy_params_load(st, v, &p);
  uint64_t h = ag_state_view_height(v);
  ag_state_view_close(v);
  if (rc) return fail(resp, rc);
  json_t *o = json_object();
  json_object_set_new(o, "min_deposit", ag_json_u64s(p.min_deposit));
  json_object_set_new(o, "min_settle_delay", ag_json_u64n(p.min_settle_delay));
  json_object_set_new(o, "max_settle_delay", ag_json_u64n(p.max_settle_delay));
  json_object_set_new(o, "min_bond", ag_json_u64s(p.min_bond));
  json_object_set_new(o, "dispute_window", ag_json_u64n(p.dispute_window));
  json_object_set_new(o, "unbond_delay", ag_json_u64n(p.unbond_delay));
  json_object_set_new(o, "max_royalty_bps", json_integer(p.max_royalty_bps));
  json_object_set_new(o, "max_ancestor_bps", json_integer(p.max_ancestor_bps));
  json_object_set_new(o, "dispute_bond", ag_json_u64s(p.dispute_bond));
  json_object_set_new(o, "slash_amount", ag_json_u64s(p.slash_amount));
  json_object_set_new(o, "commit_blocks", ag_json_u64n(p.commit_blocks));
  json_object_set_new(o, "reveal_blocks", ag_json_u64n(p.reveal_blocks));
  json_object_set_new(o, "committee_size", json_integer(p.committee_size));
  json_object_set_new(o, "challenger_bps", json_integer(p.challenger_bps));
  json_object_set_new(o, "committee_bps", json_integer(p.committee_bps));
  json_object_set_new(o, "height", ag_json_u64n(h));
  ag_http_json(resp, 200, o);
}

/* The phase of the next block, the first a tx sent now can land in: h is the last committed. */
static const char *phase_of(const ag_dispute *d, uint64_t h) {
  if (d->status != AG_DISPUTE_OPEN) return "resolved";
  if (!d->k && h <= d->start) return "drawing"; /* the next block draws the committee */
  return h < d->commit_end ? "commit" : h < d->reveal_end ? "reveal" : "resolving";
}

json_t *ag_json_dispute(const ag_dispute *d, uint64_t height, int with_evidence) {
  json_t *o = json_object();
  json_object_set_new(o, "id", ag_json_hex(d->id, 32));
  json_object_set_new(o, "status", json_string(ag_dispute_status_name(d->status)));
  json_object_set_new(o, "phase", json_string(phase_of(d, height)));
  json_object_set_new(o, "netuid", json_integer(d->netuid));
  json_object_set_new(o, "challenger", ag_json_addr(d->challenger));
  json_object_set_new(o, "provider", ag_json_addr(d->provider));
  json_object_set_new(o, "channel", ag_json_hex(d->channel, 32));
  json_object_set_new(o, "client", ag_json_addr(d->client));
  json_object_set_new(o, "claimed", ag_json_hex(d->claimed, 32));
  json_object_set_new(o, "model", ag_json_hex(d->model, 32));
  json_object_set_new(o, "cost", ag_json_u64s(d->cost));
  json_object_set_new(o, "bond", ag_json_u64s(d->bond));
  json_object_set_new(o, "opened", ag_json_u64n(d->opened));
  json_object_set_new(o, "commit_end", ag_json_u64n(d->commit_end));
  json_object_set_new(o, "reveal_end", ag_json_u64n(d->reveal_end));
  json_object_set_new(o, "round", json_integer(d->round));
  json_object_set_new(o, "round_start", ag_json_u64n(d->start));
  json_t *xs = json_array();
  for (int i = 0; i < d->nx; i++) {
    json_t *x = json_object();
    json_object_set_new(x, "hotkey", ag_json_addr(d->excluded[i].hotkey));
    json_object_set_new(x, "stake", ag_json_u64s(d->excluded[i].stake));
    json_array_append_new(xs, x);
  }
  json_object_set_new(o, "excluded", xs);
  json_object_set_new(o, "held", ag_json_u64s(d->held));
  if (d->status != AG_DISPUTE_OPEN) {
    static const uint8_t zero[32];
    json_object_set_new(o, "verdict", memcmp(d->verdict, zero, 32) ? ag_json_hex(d->verdict, 32) : json_null());
    json_object_set_new(o, "slashed", ag_json_u64s(d->slashed));
    json_object_set_new(o, "refund", ag_json_u64s(d->refund));
    json_object_set_new(o, "reward", ag_json_u64s(d->reward));
    json_object_set_new(o, "committee_paid", ag_json_u64s(d->committee_paid));
    json_object_set_new(o, "burned", ag_json_u64s(d->burned));
  }
  json_t *ms = json_array();
  for (int i = 0; i < d->k; i++) {
    const ag_member *m = &d->m[i];
    json_t *x = json_object();
    json_object_set_new(x, "hotkey", ag_json_addr(m->hotkey));
    json_object_set_new(x, "stake", ag_json_u64s(m->stake));
    json_object_set_new(x, "committed", json_boolean(m->flags & AG_MEMBER_COMMITTED));
    json_object_set_new(x, "revealed", json_boolean(m->flags & AG_MEMBER_REVEALED));
    json_object_set_new(x, "vote", m->flags & AG_MEMBER_REVEALED ? ag_json_hex(m->vote, 32) : json_null());
    json_object_set_new(x, "work", m->flags & AG_MEMBER_REVEALED ? ag_json_hex(m->work, 32) : json_null());
    json_object_set_new(x, "paid", ag_json_u64s(m->paid));
    json_array_append_new(ms, x);
  }
  json_object_set_new(o, "committee", ms);
  if (with_evidence && d->evidence) json_object_set_new(o, "evidence", ag_json_hex(d->evidence, d->evidence_len));
  json_object_set_new(o, "height", ag_json_u64n(height));
  return o;
}

/* /v1/disputes/{id}: one dispute, with its evidence while it is open */
static void h_dispute(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32))
    return ag_http_error(resp, 400, AG_E_BAD_HEX, "a dispute id is 64 hex digits");
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  int rc = ag_state_view_open(st, &v);
  if (rc) return fail(resp, rc);
  ag_dispute d;
  rc = ag_dispute_load(st, v, id, &d);
  uint64_t h = ag_state_view_height(v);
  ag_state_view_close(v);
  if (rc) return fail(resp, rc);
  ag_http_json(resp, 200, ag_json_dispute(&d, h, 1));
  ag_dispute_free(&d);
}

/* /v1/disputes[?member=HOTKEY]: the open disputes (those a committee member sits on), without
 * their evidence */
static void h_disputes(ag_http_req *req, ag_http_resp *resp) {
  const char *q = ag_http_query(req, "member");
  uint8_t member[32];
  uint64_t limit, offset;
  if (q && ag_addr_decode(q, member))
    return ag_http_error(resp, 400, AG_E_ADDR_FORMAT, "?member= takes a hotkey address");
  int qrc = ag_http_query_u64(req, "limit", 1, 100, 100, &limit);
  if (!qrc) qrc = ag_http_query_u64(req, "offset", 0, AG_DISPUTE_MAX_OPEN, 0, &offset);
  if (qrc) return fail(resp, qrc);
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  int rc = ag_state_view_open(st, &v);
  if (rc) return fail(resp, rc);
  uint8_t(*ids)[32];
  size_t n;
  uint64_t h = ag_state_view_height(v), total = 0;
  json_t *arr = json_array();
  rc = ag_disputes_open(st, v, &ids, &n);
  /* a page of at most 100 (a case with 32 members is about 11 KB of JSON), evidence unread */
  for (size_t i = 0; !rc && i < n; i++) {
    ag_dispute d;
    if ((rc = ag_dispute_load_brief(st, v, ids[i], &d))) break;
    int on = !q;
    for (int j = 0; !on && j < d.k; j++) on = !memcmp(d.m[j].hotkey, member, 32);
    if (on && total >= offset && total < offset + limit) json_array_append_new(arr, ag_json_dispute(&d, h, 0));
    total += on;
    ag_dispute_free(&d);
  }
  free(ids);
  ag_state_view_close(v);
  if (rc) {
    json_decref(arr);
    return fail(resp, rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "disputes", arr);
  json_object_set_new(o, "total", ag_json_u64n(total));
  json_object_set_new(o, "next", offset + limit < total ? ag_json_u64n(offset + limit) : json_null());
  json_object_set_new(o, "height", ag_json_u64n(h));
  ag_http_json(resp, 200, o);
}

/* /v1/agents/{account}: the account's agent keys, their terms, what they spent and may still */
static void h_agents(ag_http_req *req, ag_http_resp *resp) {
  uint8_t account[32];
  if (ag_addr_decode(req->param, account))
    return ag_http_error(resp, 400, AG_E_ADDR_FORMAT, "/v1/agents/ takes an account address");
  ag_state *st = ag_app_state(ag_node_app(NODE(req)));
  ag_state_view *v;
  int rc = ag_state_view_open(st, &v);
  if (rc) return fail(resp, rc);
  uint64_t h = ag_state_view_height(v);
  ag_agent_index x;
  json_t *keys = json_array();
  rc = ag_agent_index_load(st, v, account, &x);
  for (int i = 0; !rc && i < x.n; i++) {
    ag_agent_key k;
    if (!(rc = ag_agent_key_load(st, v, account, x.agent[i], &k))) json_array_append_new(keys, ag_json_agent_key(&k, h));
  }
  ag_state_view_close(v);
  if (rc) {
    json_decref(keys);
    return fail(resp, rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "account", ag_json_addr(account));
  json_object_set_new(o, "frozen", json_boolean(x.frozen));
  json_object_set_new(o, "keys", keys);
  json_object_set_new(o, "height", ag_json_u64n(h));
  ag_http_json(resp, 200, o);
}

const ag_http_route ag_economy_routes[] = {
    {"GET", "/v1/agents/", h_agents, 0},
    {"GET", "/v1/disputes", h_disputes, 0},
    {"GET", "/v1/disputes/", h_dispute, 0},
    {"GET", "/v1/channels/", h_channel, 0},
    {"GET", "/v1/economy", h_economy, 0},
    {"GET", "/v1/offers", h_offers, 0},
    {"GET", "/v1/bonds/", h_bond, 0},
    {"GET", "/v1/assets/", h_asset, 0},
};
const size_t ag_economy_nroutes = sizeof ag_economy_routes / sizeof ag_economy_routes[0];
