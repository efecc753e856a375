/*
 * node_api.c — the node's JSON API (docs/api.md): status, tx submission and lookup, accounts
 * with proofs, blocks, signed headers for light clients, a Server-Sent Events stream of new
 * blocks and Prometheus metrics.
 */
#include "api/node_api.h"

#include "api/embed.h"
#include "api/economy_api.h"
#include "api/files_api.h"
#include "api/incentive_api.h"
#include "api/render.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "economy/economy.h"
#include "incentive/incentive.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NODE(req) ((ag_node *)(req)->ctx)

static ag_http_server *api_server; /* for /metrics: one node API per process */

/* HTTP status for an error code. */
static int http_status(int err) {
  switch (err) {
  case AG_E_NOTFOUND: return 404;
  case AG_E_TX_DUPLICATE:
  case AG_E_TX_NONCE_USED: return 409;
  case AG_E_MEMPOOL_FULL:
  case AG_E_UNAVAILABLE: return 503;
  case AG_E_HTTP_BODY_TOO_LARGE:
  case AG_E_TX_TOO_LARGE: return 413;
  case AG_E_HTTP_MEDIA_TYPE: return 415;
  case AG_E_INTERNAL:
  case AG_E_IO:
  case AG_E_CORRUPT:
  case AG_E_NOMEM: return 500;
  default: return 400;
  }
}

static void fail(ag_http_resp *resp, int err) {
  ag_http_error(resp, http_status(err), err, ag_errmsg(err));
  if (err == AG_E_MEMPOOL_FULL || err == AG_E_UNAVAILABLE) ag_http_set_header(resp, "Retry-After", "1");
}

/* ---- GET /v1/status, /health, /v1/params ------------------------------------------------ */

static void h_health(ag_http_req *req, ag_http_resp *resp) {
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string("ok"));
  ag_http_json(resp, 200, o);
}

static json_t *params_json(const ag_params *p) {
  json_t *o = json_object();
  json_object_set_new(o, "base_fee", ag_json_u64s(p->base_fee));
  json_object_set_new(o, "per_byte_fee", ag_json_u64s(p->per_byte_fee));
  json_object_set_new(o, "max_tx_bytes", json_integer(p->max_tx_bytes));
  json_object_set_new(o, "max_block_bytes", json_integer(p->max_block_bytes));
  json_object_set_new(o, "max_block_txs", json_integer(p->max_block_txs));
  return o;
}

static void h_status(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  ag_app_info info;
  ag_params params;
  ag_supply supply;
  int rc = ag_app_info_get(ag_node_app(n), &info);
  if (!rc) rc = ag_app_params(ag_node_app(n), &params);
  if (!rc) rc = ag_app_supply(ag_node_app(n), &supply);
  if (rc) return fail(resp, rc);
  size_t mtx, mbytes;
  ag_node_mempool_stats(n, &mtx, &mbytes);
  json_t *o = json_object(), *mp = json_object(), *sp = json_object();
  json_object_set_new(o, "chain_id", json_string(info.chain_id));
  json_object_set_new(o, "height", json_integer((json_int_t)info.height));
  json_object_set_new(o, "block_hash", ag_json_hex(info.block_hash, 32));
  json_object_set_new(o, "state_root", ag_json_hex(info.app_hash, 32));
  json_object_set_new(o, "time_ms", json_integer((json_int_t)info.time_ms));
  if (ag_node_consensus(n) == AG_CONSENSUS_COMETBFT) {
    json_object_set_new(o, "consensus", json_string("cometbft"));
    json_object_set_new(o, "cometbft_rpc", json_string(ag_node_config_of(n)->cometbft_rpc));
  } else {
    json_object_set_new(o, "consensus", json_string("solo"));
    json_object_set_new(o, "block_time_ms", json_integer(ag_node_config_of(n)->block_time_ms));
    json_object_set_new(o, "proposer", ag_json_addr(ag_node_proposer(n)));
  }
  json_object_set_new(mp, "txs", json_integer((json_int_t)mtx));
  json_object_set_new(mp, "bytes", json_integer((json_int_t)mbytes));
  json_object_set_new(o, "mempool", mp);
  json_object_set_new(sp, "issued", ag_json_u64s(supply.issued));
  json_object_set_new(sp, "burned", ag_json_u64s(supply.burned));
  json_object_set_new(o, "supply", sp);
  json_object_set_new(o, "params", params_json(&params));
  json_object_set_new(o, "version", json_string(AG_VERSION));
  ag_http_json(resp, 200, o);
}

/* ---- GET /v1/validators ------------------------------------------------------------------- */

/* The consensus validator set as committed (docs/multi-validator.md "Changing the validators");
 * empty on a solo chain, whose one block producer is /v1/status's proposer. */
static void h_validators(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  ag_app *app = ag_node_app(n);
  ag_app_info info;
  int rc = ag_app_info_get(app, &info);
  if (rc) return fail(resp, rc);
  ag_buf b;
  ag_buf_init(&b);
  rc = ag_state_get_committed(ag_app_state(app), AG_KEY_VALIDATORS, strlen(AG_KEY_VALIDATORS), &b);
  if (rc && rc != AG_E_NOTFOUND) {
    ag_buf_free(&b);
    return fail(resp, rc);
  }
  json_t *o = json_object(), *a = json_array();
  uint64_t total = 0;
  for (size_t i = 0; !rc && i + 40 <= b.len; i += 40) {
    uint64_t p = ag_get_u64le(b.data + i + 32);
    total += p;
    uint8_t address[20]; /* what a CometBFT block names its proposer by */
    ag_vstake_address(b.data + i, address);
    json_array_append_new(a, json_pack("{s:o, s:o, s:I}", "consensus_key", ag_json_hex(b.data + i, 32), "address",
                                       ag_json_hex(address, 20), "power", (json_int_t)p));
  }
  ag_buf_free(&b);
  /* the keys bonded by accounts (docs/multi-validator.md "Validators by bond") */
  ag_state_view *view = NULL;
  ag_vcandidate *c = NULL;
  size_t nc = 0;
  ag_vstake_params vp;
  rc = ag_state_view_open(ag_app_state(app), &view);
  ag_ist s = {ag_app_state(app), view};
  if (!rc) rc = ag_vstake_list(&s, &c, &nc);
  if (!rc) rc = ag_vstake_params_load(&s, &vp);
  if (view) ag_state_view_close(view);
  if (rc) {
    free(c);
    json_decref(o);
    json_decref(a);
    return fail(resp, rc);
  }
  json_t *bonded = json_array();
  for (size_t i = 0; i < nc; i++) json_array_append_new(bonded, ag_vstake_json(&c[i], info.height));
  free(c);
  json_object_set_new(o, "height", json_integer((json_int_t)info.height));
  json_object_set_new(o, "consensus", json_string(ag_node_consensus(n) == AG_CONSENSUS_COMETBFT ? "cometbft" : "solo"));
  json_object_set_new(o, "validators", a);
  json_object_set_new(o, "total_power", json_integer((json_int_t)total));
  json_object_set_new(o, "bonded", bonded);
  json_object_set_new(o, "bond_params",
                      json_pack("{s:o, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:i}", "min_bond", ag_json_u64s(vp.min_bond), "epoch_blocks",
                                (json_int_t)vp.epoch_blocks, "unbond_blocks", (json_int_t)vp.unbond_blocks, "unbond_ms",
                                (json_int_t)vp.unbond_ms, "jail_blocks",
                                (json_int_t)vp.jail_blocks, "slash_bps", (int)vp.slash_bps, "max_missed_permille",
                                (int)vp.max_missed_permille, "jail_slash_bps", (int)vp.jail_slash_bps, "reward_bps",
                                (int)vp.reward_bps));
  ag_http_json(resp, 200, o);
}

/* ---- POST /v1/txs ----------------------------------------------------------------------- */

/* The media type of a Content-Type value, lower case, without parameters. */
static void media_type(const char *ct, char *out, size_t cap) {
  size_t n = 0;
  while (ct && *ct == ' ') ct++;
  for (; ct && *ct && *ct != ';' && *ct != ' ' && n + 1 < cap; ct++) out[n++] = (char)tolower((unsigned char)*ct);
  out[n] = 0;
}

static int decode_text(const char *s, size_t n, int base64, uint8_t **out, size_t *len) {
  while (n && isspace((unsigned char)s[n - 1])) n--;
  while (n && isspace((unsigned char)*s)) s++, n--;
  if (!base64 && n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2, n -= 2;
  int rc = base64 ? ag_b64_decode_alloc(s, n, AG_TX_HARD_MAX, out, len)
                  : ag_hex_decode_alloc(s, n, AG_TX_HARD_MAX, out, len);
  if (rc == AG_E_TOO_LARGE) return ag_fail(AG_E_TX_TOO_LARGE, "transaction too large (more than %u bytes)", AG_TX_HARD_MAX);
  if (rc) return ag_fail(base64 ? AG_E_BAD_BASE64 : AG_E_BAD_HEX, "the body is not %s", base64 ? "base64" : "hex");
  return 0;
}

int ag_api_tx_body(const char *ct, const uint8_t *body, size_t blen, uint8_t **out, size_t *len,
                   int *owned) {
  *owned = 0;
  char mt[64];
  media_type(ct, mt, sizeof mt);
  const char *s = body ? (const char *)body : "";
  int rc;
  if (!strcmp(mt, "application/octet-stream")) {
    *out = (uint8_t *)body;
    *len = blen;
    return 0;
  }
  if (!strcmp(mt, "application/json")) {
    json_error_t jerr;
    json_t *root = json_loadb(s, blen, 0, &jerr);
    if (!root) return ag_fail(AG_E_BAD_JSON, "malformed JSON: %s", jerr.text);
    json_t *hex = json_object_get(root, "tx"), *b64 = json_object_get(root, "tx_base64");
    if (json_is_string(hex) == json_is_string(b64)) {
      json_decref(root);
      return ag_fail(AG_E_HTTP_BAD_REQUEST, "expected {\"tx\": \"<hex>\"} or {\"tx_base64\": \"<base64>\"}");
    }
    json_t *v = hex ? hex : b64;
    rc = decode_text(json_string_value(v), json_string_length(v), !hex, out, len);
    json_decref(root);
  } else if (!mt[0] || !strcmp(mt, "text/plain")) {
    rc = decode_text(s, blen, 0, out, len);
  } else if (!strcmp(mt, "application/base64")) {
    rc = decode_text(s, blen, 1, out, len);
  } else {
    return ag_fail(AG_E_HTTP_MEDIA_TYPE,
                   "Content-Type '%.40s' is not one of application/octet-stream, application/json, text/plain (hex), application/base64",
                   mt);
  }
  if (!rc) *owned = 1;
  return rc;
}

static void h_submit(ag_http_req *req, ag_http_resp *resp) {
  uint8_t *raw;
  size_t len;
  int owned;
  int rc = ag_api_tx_body(ag_http_header(req, "Content-Type"), req->body, req->body_len, &raw,
                          &len, &owned);
  if (rc) return fail(resp, rc);
  ag_result res;
  uint8_t hash[32];
  rc = ag_node_submit(NODE(req), raw, len, &res, hash);
  if (owned) free(raw);
  if (rc) return fail(resp, rc);
  json_t *o = json_object();
  json_object_set_new(o, "hash", ag_json_hex(hash, 32));
  json_object_set_new(o, "status", json_string("pending"));
  ag_http_json(resp, 202, o);
}

/* ---- POST /v1/txs/relay: txs another node of the network admitted (nop mempool) ------------ */

static void h_relay(ag_http_req *req, ag_http_resp *resp) {
  char mt[64];
  media_type(ag_http_header(req, "Content-Type"), mt, sizeof mt);
  if (strcmp(mt, "application/octet-stream"))
    return fail(resp, ag_fail(AG_E_HTTP_MEDIA_TYPE, "relayed txs are application/octet-stream (len u32le | tx, repeated)"));
  size_t accepted, refused;
  int rc = ag_node_relay(NODE(req), req->body, req->body_len, &accepted, &refused);
  if (rc) return fail(resp, rc);
  json_t *o = json_object();
  json_object_set_new(o, "accepted", json_integer((json_int_t)accepted));
  json_object_set_new(o, "refused", json_integer((json_int_t)refused));
  ag_http_json(resp, 200, o);
}

/* ---- POST /v1/simulate: txs run on a copy of the state, nothing kept -------------------------- */

#define SIM_MAX_TXS 16

typedef struct {
  ag_tx txs[SIM_MAX_TXS];
  int ok[SIM_MAX_TXS];
  size_t n;
  json_t *accounts, *stakes, *changes;
  uint64_t burned_before, burned_after;
  ag_state_view *view; /* the state before */
} sim_ctx;

static int sim_key(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  sim_ctx *c = ctx;
  ag_buf before;
  ag_buf_init(&before);
  int had = ag_state_view_get(c->view, key, klen, &before) == 0;
  if (klen == 33 && key[0] == AG_KEY_ACCOUNT) {
    ag_account a = {0, 0}, b = {0, 0};
    if (had && before.len == 16) a = (ag_account){ag_get_u64le(before.data), ag_get_u64le(before.data + 8)};
    if (val && vlen == 16) b = (ag_account){ag_get_u64le(val), ag_get_u64le(val + 8)};
    json_t *o = json_object(), *x = json_object(), *y = json_object();
    json_object_set_new(o, "address", ag_json_addr(key + 1));
    json_object_set_new(x, "balance", ag_json_u64s(a.balance));
    json_object_set_new(x, "nonce", ag_json_u64n(a.nonce));
    json_object_set_new(y, "balance", ag_json_u64s(b.balance));
    json_object_set_new(y, "nonce", ag_json_u64n(b.nonce));
    json_object_set_new(o, "before", x);
    json_object_set_new(o, "after", y);
    json_array_append_new(c->accounts, o);
  }
  json_t *o = json_object();
  json_object_set_new(o, "key", ag_json_hex(key, klen));
  json_object_set_new(o, "before", had ? ag_json_hex(before.data, before.len) : json_null());
  json_object_set_new(o, "after", val ? ag_json_hex(val, vlen) : json_null());
  json_array_append_new(c->changes, o);
  ag_buf_free(&before);
  return 0;
}

static int by_field(const void *a, const void *b, const char *f) {
  return strcmp(json_string_value(json_object_get(*(json_t *const *)a, f)),
                json_string_value(json_object_get(*(json_t *const *)b, f)));
}
static int by_address(const void *a, const void *b) { return by_field(a, b, "address"); }
static int by_key(const void *a, const void *b) { return by_field(a, b, "key"); }

/* Sorts a JSON array by a comparator (the overlay has no order of its own). */
static void sort_array(json_t *arr, int (*cmp)(const void *, const void *)) {
  size_t n = json_array_size(arr);
  json_t **v = ag_xmalloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(arr, i));
  qsort(v, n, sizeof *v, cmp);
  json_array_clear(arr);
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, v[i]);
  free(v);
}

/* While the simulated state is alive: every changed key, accounts decoded, and the stake of
 * every (hotkey, coldkey) a stake tx names, before and after. */
static int sim_look(void *ctx, ag_app *app) {
  sim_ctx *c = ctx;
  ag_state *st = ag_app_state(app);
  ag_supply sup;
  if (ag_app_supply(app, &sup) == 0) c->burned_before = sup.burned;
  ag_buf b;
  ag_buf_init(&b);
  if (ag_state_get_buf(st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), &b) == 0 && b.len >= 16)
    c->burned_after = ag_get_u64le(b.data + 8);
  else c->burned_after = c->burned_before;
  ag_buf_free(&b);
  ag_state_overlay_each(st, sim_key, c);
  for (size_t i = 0; i < c->n; i++) {
    if (!c->ok[i]) continue;
    const ag_tx *t = &c->txs[i];
    uint16_t kind = t->kind;
    const uint8_t *coldkey = t->sender, *p = t->payload;
    if (kind == AG_TX_AGENT_EXEC && t->payload_len >= 34) {
      kind = ag_get_u16le(t->payload + 32);
      coldkey = t->payload;
      p = t->payload + 34;
    }
    if (kind != AG_TX_STAKE_ADD && kind != AG_TX_STAKE_REMOVE) continue;
    uint64_t x = 0, y = 0;
    ag_ist before = {st, c->view}, after = {st, NULL};
    ag_stake_get(&before, p, coldkey, &x);
    ag_stake_get(&after, p, coldkey, &y);
    json_t *o = json_object();
    json_object_set_new(o, "hotkey", ag_json_addr(p));
    json_object_set_new(o, "coldkey", ag_json_addr(coldkey));
    json_object_set_new(o, "before", ag_json_u64s(x));
    json_object_set_new(o, "after", ag_json_u64s(y));
    json_array_append_new(c->stakes, o);
  }
  return 0;
}

static void h_simulate(ag_http_req *req, ag_http_resp *resp) {
  json_error_t jerr;
  json_t *body = json_loadb((const char *)req->body, req->body_len, 0, &jerr), *arr = json_object_get(body, "txs");
  sim_ctx c;
  memset(&c, 0, sizeof c);
  if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > SIM_MAX_TXS) {
    json_decref(body);
    return ag_http_error(resp, 400, AG_E_INVALID, "the body is {\"txs\": [1 to 16 hex-encoded transactions]}");
  }
  c.n = json_array_size(arr);
  uint8_t *raw[SIM_MAX_TXS] = {0};
  uint32_t lens[SIM_MAX_TXS];
  int rc = 0;
  for (size_t i = 0; i < c.n && !rc; i++) {
    const char *hex = json_string_value(json_array_get(arr, i));
    size_t hl = hex ? strlen(hex) : 1;
    if (!hex || hl % 2 || hl / 2 > AG_TX_HARD_MAX) {
      rc = ag_fail(AG_E_BAD_HEX, "tx %zu is not hex, or longer than %u bytes", i, AG_TX_HARD_MAX);
      break;
    }
    raw[i] = ag_xmalloc(hl / 2 + 1);
    lens[i] = (uint32_t)(hl / 2);
    if (ag_hex_decode(hex, hl, raw[i], hl / 2)) rc = ag_fail(AG_E_BAD_HEX, "tx %zu is not hex", i);
    else c.ok[i] = ag_tx_decode(raw[i], lens[i], &c.txs[i]) == 0;
  }
  json_decref(body);
  ag_app *app = ag_node_app(NODE(req));
  ag_result res[SIM_MAX_TXS];
  c.accounts = json_array();
  c.stakes = json_array();
  c.changes = json_array();
  if (!rc) rc = ag_state_view_open(ag_app_state(app), &c.view);
  ag_app_info info;
  if (!rc && (ag_app_info_get(app, &info) || !info.initialized))
    rc = ag_fail(AG_E_UNAVAILABLE, "the chain has no genesis yet");
  /* a block between finalize and commit (CometBFT mode) holds the state for a moment */
  for (int tries = 0; !rc; tries++) {
    rc = ag_app_simulate(app, (const uint8_t *const *)raw, lens, c.n, res, sim_look, &c);
    if (rc != AG_E_UNAVAILABLE || tries == 50) break;
    rc = 0;
    usleep(20000);
  }
  uint64_t h = c.view ? ag_state_view_height(c.view) : 0;
  ag_state_view_close(c.view);
  for (size_t i = 0; i < c.n; i++) free(raw[i]);
  if (rc) {
    json_decref(c.accounts);
    json_decref(c.stakes);
    json_decref(c.changes);
    return fail(resp, rc);
  }
  json_t *o = json_object(), *rs = json_array();
  for (size_t i = 0; i < c.n; i++) {
    json_t *r = json_object();
    json_object_set_new(r, "code", json_string(ag_err_name(res[i].code)));
    json_object_set_new(r, "message", json_string(res[i].log));
    json_array_append_new(rs, r);
  }
  sort_array(c.accounts, by_address);
  sort_array(c.changes, by_key);
  json_object_set_new(o, "height", ag_json_u64n(h + 1));
  json_object_set_new(o, "results", rs);
  json_object_set_new(o, "accounts", c.accounts);
  json_object_set_new(o, "stakes", c.stakes);
  json_object_set_new(o, "burned", ag_json_u64s(c.burned_after - c.burned_before));
  json_object_set_new(o, "changes", c.changes);
  ag_http_json(resp, 200, o);
}

/* ---- GET /v1/txs/{hash} ----------------------------------------------------------------- */

static void h_tx(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  uint8_t hash[32];
  if (ag_hex_decode(req->param, strlen(req->param), hash, 32))
    return ag_http_error(resp, 400, AG_E_BAD_HEX, "a tx hash is 64 hex characters");
  ag_tx_location loc;
  int rc = ag_state_tx_lookup(ag_app_state(ag_node_app(n)), hash, &loc);
  if (rc == AG_E_NOTFOUND) {
    if (ag_node_in_mempool(n, hash)) {
      json_t *o = json_object();
      json_object_set_new(o, "hash", ag_json_hex(hash, 32));
      json_object_set_new(o, "status", json_string("pending"));
      return ag_http_json(resp, 200, o);
    }
    /* a tx leaves the pending set when its block commits: it may have done so since */
    rc = ag_state_tx_lookup(ag_app_state(ag_node_app(n)), hash, &loc);
    if (rc == AG_E_NOTFOUND)
      return ag_http_error(resp, 404, AG_E_NOTFOUND, "no such transaction (not committed, not pending)");
  }
  if (rc) return fail(resp, rc);
  json_t *o = json_object(), *r = json_object();
  json_object_set_new(o, "hash", ag_json_hex(hash, 32));
  json_object_set_new(o, "status", json_string("committed"));
  json_object_set_new(o, "height", json_integer((json_int_t)loc.height));
  json_object_set_new(o, "index", json_integer(loc.index));
  json_object_set_new(r, "code", json_string(ag_err_name(loc.code)));
  json_object_set_new(r, "message", json_string(loc.log));
  json_object_set_new(o, "result", r);
  ag_buf raw;
  ag_buf_init(&raw);
  ag_block b;
  if (ag_state_block(ag_app_state(ag_node_app(n)), loc.height, &raw) == 0 &&
      ag_block_decode(raw.data, raw.len, &b) == 0) {
    ag_tx tx;
    if (loc.index < b.h.tx_count &&
        ag_tx_decode(b.txs[loc.index], b.tx_lens[loc.index], &tx) == 0)
      json_object_set_new(o, "tx", ag_json_tx(&tx));
    ag_block_free(&b);
  }
  ag_buf_free(&raw);
  ag_http_json(resp, 200, o);
}

/* ---- GET /v1/accounts/{address}[?prove=true] -------------------------------------------- */

/* ---- GET /v1/accounts/{address}/txs: an account's history, newest first ---------------- */

typedef struct {
  json_t *list;
  uint64_t last_h;
  uint32_t last_i;
  size_t n;
} txs_page;

static int account_tx_row(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  txs_page *pg = ctx;
  if (klen != 45 || vlen != 39) return 0; /* not a record of this layout: skipped */
  pg->last_h = ag_get_u64be(key + 33);
  pg->last_i = ag_get_u32be(key + 41);
  const ag_tx_kind *k = ag_tx_kind_find(ag_get_u16le(val + 32));
  int code = (int32_t)ag_get_u32le(val + 34);
  json_t *o = json_object();
  json_object_set_new(o, "hash", ag_json_hex(val, 32));
  json_object_set_new(o, "height", json_integer((json_int_t)pg->last_h));
  json_object_set_new(o, "index", json_integer((json_int_t)pg->last_i));
  json_object_set_new(o, "kind", json_string(k ? k->name : "unknown"));
  json_object_set_new(o, "result", json_string(code ? ag_err_name(code) : "ok"));
  json_object_set_new(o, "sent", json_boolean(val[38]));
  json_array_append_new(pg->list, o);
  pg->n++;
  return 0;
}

static void h_account_txs(ag_http_req *req, ag_http_resp *resp, const uint8_t pk[32], const char *addr) {
  ag_node *n = NODE(req);
  uint64_t limit, bh = 0, bi = 0;
  const char *bs = ag_http_query(req, "before");
  int rc = ag_http_query_u64(req, "limit", 1, 100, 20, &limit);
  if (rc) return fail(resp, rc);
  uint8_t prefix[33], before[45];
  prefix[0] = AG_HIST_ACCOUNT_TX;
  memcpy(prefix + 1, pk, 32);
  memcpy(before, prefix, 33);
  if (bs) { /* the cursor a previous page returned as next: HEIGHT.INDEX */
    const char *dot = strchr(bs, '.');
    char hs[24];
    if (!dot || (size_t)(dot - bs) >= sizeof hs) return ag_http_error(resp, 400, AG_E_INVALID, "before is HEIGHT.INDEX");
    memcpy(hs, bs, (size_t)(dot - bs));
    hs[dot - bs] = 0;
    if (ag_parse_u64(hs, &bh) || ag_parse_u64(dot + 1, &bi) || bi > UINT32_MAX)
      return ag_http_error(resp, 400, AG_E_INVALID, "before is HEIGHT.INDEX");
    ag_put_u64be(before + 33, bh);
    ag_put_u32be(before + 41, (uint32_t)bi);
  }
  ag_app_info info;
  rc = ag_app_info_get(ag_node_app(n), &info);
  txs_page pg = {json_array(), 0, 0, 0};
  if (!rc) rc = ag_state_hist_scan(ag_app_state(ag_node_app(n)), prefix, sizeof prefix, bs ? before : NULL, bs ? sizeof before : 0,
                                   (size_t)limit, account_tx_row, &pg);
  if (rc) {
    json_decref(pg.list);
    return fail(resp, rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(addr));
  json_object_set_new(o, "txs", pg.list);
  if (pg.n == limit) {
    char next[48];
    snprintf(next, sizeof next, "%llu.%u", (unsigned long long)pg.last_h, pg.last_i);
    json_object_set_new(o, "next", json_string(next));
  } else {
    json_object_set_new(o, "next", json_null());
  }
  json_object_set_new(o, "height", json_integer((json_int_t)info.height));
  ag_http_json(resp, 200, o);
}

static void h_account(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  uint8_t pk[32];
  const char *slash = strchr(req->param, '/');
  if (slash) {
    char addr[AG_ADDR_MAX];
    if (strcmp(slash, "/txs") || (size_t)(slash - req->param) >= sizeof addr)
      return ag_http_error(resp, 404, AG_E_NOTFOUND, "no such account resource (txs)");
    memcpy(addr, req->param, (size_t)(slash - req->param));
    addr[slash - req->param] = 0;
    int rc = ag_addr_decode(addr, pk);
    if (rc) return fail(resp, rc);
    return h_account_txs(req, resp, pk, addr);
  }
  int rc = ag_addr_decode(req->param, pk);
  if (rc) return fail(resp, rc);
  int prove = ag_http_query_bool(req, "prove");
  ag_account a;
  int present = 1;
  uint64_t height = 0, at = AG_STATE_LATEST;
  uint8_t root[32];
  if (ag_http_query(req, "height")) { /* an earlier height's state, with its proof */
    if ((rc = ag_http_query_u64(req, "height", 0, INT64_MAX, 0, &at))) return fail(resp, rc);
    if (!prove) return ag_http_error(resp, 400, AG_E_INVALID, "height needs prove=true");
  }
  ag_smt_proof *proof = prove ? ag_xmalloc(sizeof *proof) : NULL;
  if (prove) {
    rc = ag_app_account_proof_at(ag_node_app(n), pk, at, &a, &present, proof, root, &height);
  } else {
    ag_app_info info;
    rc = ag_app_account(ag_node_app(n), pk, &a);
    if (!rc && !(rc = ag_app_info_get(ag_node_app(n), &info))) {
      height = info.height;
      memcpy(root, info.app_hash, 32);
    }
  }
  if (rc) {
    free(proof);
    return fail(resp, rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(req->param));
  json_object_set_new(o, "balance", ag_json_u64s(a.balance));
  json_object_set_new(o, "nonce", json_integer((json_int_t)a.nonce));
  json_object_set_new(o, "pending_nonce",
                      json_integer((json_int_t)ag_node_pending_nonce(n, pk, a.nonce)));
  json_object_set_new(o, "height", json_integer((json_int_t)height));
  json_object_set_new(o, "state_root", ag_json_hex(root, 32));
  if (prove) {
    uint8_t key[33], hkey[32], val[16];
    ag_account_key(pk, key);
    ag_state_hkey(key, sizeof key, hkey);
    json_t *pj = ag_json_proof(proof, hkey);
    json_object_set_new(pj, "state_key", ag_json_hex(key, sizeof key));
    if (present) {
      ag_account_encode(&a, val);
      json_object_set_new(pj, "value", ag_json_hex(val, sizeof val));
    } else {
      json_object_set_new(pj, "value", json_null());
    }
    json_object_set_new(o, "exists", json_boolean(present));
    json_object_set_new(o, "proof", pj);
  }
  free(proof);
  ag_http_json(resp, 200, o);
}

/* ---- GET /v1/blocks/{height|latest} ----------------------------------------------------- */

static void h_block(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  uint64_t h;
  if (!strcmp(req->param, "latest")) h = ag_node_height(n);
  else if (ag_parse_u64(req->param, &h))
    return ag_http_error(resp, 400, AG_E_INVALID, "height must be a number or 'latest'");
  if (h == 0)
    return ag_http_error(resp, 404, AG_E_NOTFOUND, "height 0 is the genesis state, not a block");
  ag_buf raw;
  ag_buf_init(&raw);
  int rc = ag_state_block(ag_app_state(ag_node_app(n)), h, &raw);
  if (rc) {
    ag_buf_free(&raw);
    if (rc == AG_E_NOTFOUND && h <= ag_node_height(n)) {
      char msg[200];
      snprintf(msg, sizeof msg, "this node has no record of block %llu: it started from a state-sync snapshot "
                                "after it (ask a node that replayed from genesis)", (unsigned long long)h);
      return ag_http_error(resp, 404, rc, msg);
    }
    if (rc == AG_E_NOTFOUND) return ag_http_error(resp, 404, rc, "no block at that height yet");
    return fail(resp, rc);
  }
  ag_block b;
  rc = ag_block_decode(raw.data, raw.len, &b);
  if (rc) {
    ag_buf_free(&raw);
    return fail(resp, AG_E_CORRUPT);
  }
  const char *txs = ag_http_query(req, "txs");
  int with_txs = !txs || strcmp(txs, "false") != 0;
  ag_http_json(resp, 200, ag_json_block(&b, ag_node_app(n), with_txs));
  ag_block_free(&b);
  ag_buf_free(&raw);
}

/* ---- GET /v1/headers/{height|latest} ---------------------------------------------------- */

/* What a light client checks a state root against (docs/api.md): solo, our signed version-1
 * header; CometBFT, CometBFT's signed header and commit with its validator set, fetched from
 * its RPC as it reports them. The node is not trusted for any of it: the client verifies the
 * signatures against the genesis it holds (consensus/light.h). */

/* GET {rpc}{path}: the JSON-RPC "result", or an error (404 when CometBFT has no such height). */
static int cometbft_get(ag_node *n, const char *path, json_t **result) {
  char url[600];
  snprintf(url, sizeof url, "%s%s", ag_node_config_of(n)->cometbft_rpc, path);
  ag_http_result r;
  int rc = ag_http_request("GET", url, NULL, NULL, 0, 10000, &r);
  if (rc) return ag_fail(AG_E_UNAVAILABLE, "CometBFT RPC %s: %s", ag_node_config_of(n)->cometbft_rpc, ag_errmsg(rc));
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  json_t *res = json_object_get(j, "result");
  if (!json_is_object(res)) {
    const char *data = json_string_value(json_object_get(json_object_get(j, "error"), "data"));
    rc = data && strstr(data, "height") ? ag_fail(AG_E_NOTFOUND, "no signed header at that height yet (CometBFT: %.200s)", data)
                                        : ag_fail(AG_E_UNAVAILABLE, "CometBFT RPC %s: no result", path);
    json_decref(j);
    return rc;
  }
  *result = json_incref(res);
  json_decref(j);
  return 0;
}

static int cometbft_header(ag_node *n, uint64_t h, json_t *o) {
  char path[160];
  json_t *commit = NULL, *vals = json_array();
  snprintf(path, sizeof path, "/commit?height=%llu", (unsigned long long)h);
  int rc = cometbft_get(n, path, &commit);
  /* the validator set that signed it, page by page (CometBFT serves at most 100 a page) */
  for (int page = 1; !rc && page <= 100; page++) {
    json_t *res = NULL;
    snprintf(path, sizeof path, "/validators?height=%llu&page=%d&per_page=100", (unsigned long long)h, page);
    if ((rc = cometbft_get(n, path, &res))) break;
    json_t *list = json_object_get(res, "validators");
    if (json_is_array(list)) json_array_extend(vals, list);
    uint64_t total = 0;
    const char *ts = json_string_value(json_object_get(res, "total"));
    int more = ts && ag_parse_u64(ts, &total) == 0 && json_array_size(vals) < total &&
               json_array_size(list) > 0;
    json_decref(res);
    if (!more) break;
  }
  if (rc) {
    json_decref(commit);
    json_decref(vals);
    return rc;
  }
  json_t *sh = json_object_get(commit, "signed_header");
  json_object_set_new(o, "consensus", json_string("cometbft"));
  json_object_set_new(o, "height", json_integer((json_int_t)h));
  json_object_set_new(o, "state_height", json_integer((json_int_t)h - 1));
  const char *app = json_string_value(json_object_get(json_object_get(sh, "header"), "app_hash"));
  uint8_t ah[32];
  if (app && ag_hex_decode(app, strlen(app), ah, 32) == 0) json_object_set_new(o, "app_hash", ag_json_hex(ah, 32));
  json_object_set(o, "signed_header", sh ? sh : json_null());
  json_object_set_new(o, "canonical", json_boolean(json_is_true(json_object_get(commit, "canonical"))));
  json_object_set_new(o, "validators", vals);
  json_decref(commit);
  return 0;
}

static void h_header(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  uint64_t h;
  if (!strcmp(req->param, "latest")) h = ag_node_height(n);
  else if (ag_parse_u64(req->param, &h) || h > (uint64_t)INT64_MAX - 1)
    return ag_http_error(resp, 400, AG_E_INVALID, "height must be a number or 'latest'");
  if (h == 0)
    return ag_http_error(resp, 404, AG_E_NOTFOUND, "height 0 is the genesis state, not a block");
  json_t *o = json_object();
  int rc;
  if (ag_node_consensus(n) == AG_CONSENSUS_COMETBFT) {
    rc = cometbft_header(n, h, o);
  } else {
    ag_buf raw, hb;
    ag_buf_init(&raw);
    ag_buf_init(&hb);
    ag_block b;
    rc = ag_state_block(ag_app_state(ag_node_app(n)), h, &raw);
    if (rc == AG_E_NOTFOUND) rc = ag_fail(AG_E_NOTFOUND, "no block at height %llu yet", (unsigned long long)h);
    else if (!rc && ag_block_decode(raw.data, raw.len, &b) != 0) rc = AG_E_CORRUPT;
    else if (!rc) {
      ag_block_header_encode(&b.h, &hb);
      json_object_set_new(o, "consensus", json_string("solo"));
      json_object_set_new(o, "height", json_integer((json_int_t)h));
      json_object_set_new(o, "state_height", json_integer((json_int_t)h));
      json_object_set_new(o, "hash", ag_json_hex(b.hash, 32));
      json_object_set_new(o, "header", ag_json_hex(hb.data, hb.len));
      json_object_set_new(o, "signature", ag_json_hex(b.sig, AG_SIG_LEN));
      json_object_set_new(o, "state_root", ag_json_hex(b.h.state_root, 32));
      json_object_set_new(o, "time_ms", json_integer((json_int_t)b.h.time_ms));
      json_object_set_new(o, "proposer", ag_json_addr(b.h.proposer));
      ag_block_free(&b);
    }
    ag_buf_free(&raw);
    ag_buf_free(&hb);
  }
  if (rc) {
    json_decref(o);
    return fail(resp, rc);
  }
  ag_http_json(resp, 200, o);
}

/* ---- GET /v1/events/blocks (SSE) -------------------------------------------------------- */

typedef struct {
  ag_node *node;
  uint64_t next; /* next height to send */
  ag_buf pending;
  size_t off;
} sse_state;

static ssize_t sse_read(void *cls, char *buf, size_t max) {
  sse_state *s = cls;
  if (s->off == s->pending.len) {
    ag_buf_reset(&s->pending);
    s->off = 0;
    if (ag_node_stopping(s->node)) return -1;
    uint64_t h = ag_node_wait_height(s->node, s->next - 1, 15000);
    if (ag_node_stopping(s->node)) return -1;
    if (h < s->next) {
      ag_buf_puts(&s->pending, ": keep-alive\n\n");
    } else {
      ag_buf raw;
      ag_buf_init(&raw);
      for (; s->next <= h && s->pending.len < 1 << 20; s->next++) {
        ag_block b;
        if (ag_state_block(ag_app_state(ag_node_app(s->node)), s->next, &raw) ||
            ag_block_decode(raw.data, raw.len, &b))
          continue;
        json_t *j = ag_json_block(&b, NULL, 0);
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ag_buf_printf(&s->pending, "event: block\nid: %llu\ndata: %s\n\n",
                      (unsigned long long)b.h.height, text);
        free(text);
        json_decref(j);
        ag_block_free(&b);
      }
      ag_buf_free(&raw);
    }
  }
  size_t n = AG_MIN(max, s->pending.len - s->off);
  memcpy(buf, s->pending.data + s->off, n);
  s->off += n;
  return (ssize_t)n;
}

static void sse_free(void *cls) {
  sse_state *s = cls;
  ag_buf_free(&s->pending);
  free(s);
}

static void h_events(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  sse_state *s = ag_xcalloc(1, sizeof *s);
  s->node = n;
  s->next = ag_node_height(n) + 1;
  const char *from = ag_http_query(req, "from");
  const char *last = ag_http_header(req, "Last-Event-ID");
  uint64_t v;
  if (from) {
    if (ag_parse_u64(from, &v) || v < 1) {
      free(s);
      return ag_http_error(resp, 400, AG_E_INVALID, "from must be a block height (1 or more)");
    }
    s->next = v;
  } else if (last) {
    if (ag_parse_u64(last, &v) || v == UINT64_MAX) {
      free(s);
      return ag_http_error(resp, 400, AG_E_INVALID, "Last-Event-ID must be the height of a block event");
    }
    s->next = v + 1;
  }
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
  ag_http_set_header(resp, "Cache-Control", "no-cache");
  ag_buf_puts(&s->pending, "retry: 2000\n\n");
  resp->stream = sse_read;
  resp->stream_cls = s;
  resp->stream_free = sse_free;
}

/* ---- GET /metrics ------------------------------------------------------------------------ */

static void metric(ag_buf *b, const char *name, const char *type, const char *help) {
  ag_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void process_metrics(ag_buf *b, uint64_t start_ms) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
  metric(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  ag_buf_printf(b, "process_cpu_seconds_total %.3f\n", cpu);
  long rss_pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    long size;
    if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2) rss_pages = 0;
    fclose(f);
  }
  metric(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  ag_buf_printf(b, "process_resident_memory_bytes %ld\n", rss_pages * sysconf(_SC_PAGESIZE));
  metric(b, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
  ag_buf_printf(b, "process_start_time_seconds %.3f\n", (double)start_ms / 1000.0);
  int fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    while (readdir(d)) fds++;
    closedir(d);
    fds -= 3; /* ".", ".." and the directory's own fd */
  }
  metric(b, "process_open_fds", "gauge", "Number of open file descriptors.");
  ag_buf_printf(b, "process_open_fds %d\n", fds);
}

static void h_metrics(ag_http_req *req, ag_http_resp *resp) {
  ag_node *n = NODE(req);
  ag_node_stats *s = ag_node_stats_of(n);
  ag_app *app = ag_node_app(n);
  ag_buf *b = &resp->body;
  size_t mtx, mbytes;
  ag_node_mempool_stats(n, &mtx, &mbytes);
  ag_supply sup = {0, 0};
  ag_app_supply(app, &sup);
  metric(b, "agora_build_info", "gauge", "Build information; the value is always 1.");
  ag_buf_printf(b, "agora_build_info{version=\"%s\",consensus=\"%s\"} 1\n", AG_VERSION,
                ag_node_consensus(n) == AG_CONSENSUS_COMETBFT ? "cometbft" : "solo");
  metric(b, "agora_chain_height", "gauge", "Height of the last committed block.");
  ag_buf_printf(b, "agora_chain_height %llu\n", (unsigned long long)ag_node_height(n));
  metric(b, "agora_chain_last_block_timestamp_seconds", "gauge", "Time of the last committed block since the Unix epoch.");
  ag_buf_printf(b, "agora_chain_last_block_timestamp_seconds %.3f\n", (double)s->last_block_time_ms / 1000.0);
  metric(b, "agora_chain_blocks_total", "counter", "Blocks produced by this node since it started.");
  ag_buf_printf(b, "agora_chain_blocks_total %llu\n", (unsigned long long)s->blocks);
  metric(b, "agora_chain_txs_total", "counter", "Transactions executed in blocks, by result.");
  ag_buf_printf(b, "agora_chain_txs_total{result=\"ok\"} %llu\n", (unsigned long long)s->txs_ok);
  ag_buf_printf(b, "agora_chain_txs_total{result=\"failed\"} %llu\n", (unsigned long long)s->txs_failed);
  metric(b, "agora_chain_block_interval_seconds", "histogram", "Time between consecutive blocks.");
  for (int i = 0; i < 11; i++)
    ag_buf_printf(b, "agora_chain_block_interval_seconds_bucket{le=\"%g\"} %llu\n",
                  ag_interval_bounds[i], (unsigned long long)s->interval_buckets[i]);
  ag_buf_printf(b, "agora_chain_block_interval_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)s->interval_buckets[11]);
  ag_buf_printf(b, "agora_chain_block_interval_seconds_sum %.6f\n", (double)s->interval_sum_us / 1e6);
  ag_buf_printf(b, "agora_chain_block_interval_seconds_count %llu\n", (unsigned long long)s->interval_count);
  metric(b, "agora_block_execute_seconds_total", "counter", "Time spent executing blocks (finalize_block).");
  ag_buf_printf(b, "agora_block_execute_seconds_total %.6f\n", (double)s->finalize_us_total / 1e6);
  metric(b, "agora_block_commit_seconds_total", "counter", "Time spent making blocks durable (commit and mempool recheck).");
  ag_buf_printf(b, "agora_block_commit_seconds_total %.6f\n", (double)s->commit_us_total / 1e6);
  metric(b, "agora_mempool_txs", "gauge", "Transactions waiting in the mempool.");
  ag_buf_printf(b, "agora_mempool_txs %zu\n", mtx);
  metric(b, "agora_mempool_bytes", "gauge", "Bytes of transactions waiting in the mempool.");
  ag_buf_printf(b, "agora_mempool_bytes %zu\n", mbytes);
  metric(b, "agora_mempool_evicted_txs_total", "counter", "Transactions evicted from a full mempool by a newcomer paying more per byte.");
  ag_buf_printf(b, "agora_mempool_evicted_txs_total %llu\n", (unsigned long long)s->evicted);
  metric(b, "agora_mempool_recheck_dropped_txs_total", "counter", "Transactions dropped when rechecked after a block.");
  ag_buf_printf(b, "agora_mempool_recheck_dropped_txs_total %llu\n", (unsigned long long)s->rechecked_out);
  metric(b, "agora_api_tx_submissions_total", "counter", "Transactions submitted through the API, by result.");
  ag_buf_printf(b, "agora_api_tx_submissions_total{result=\"accepted\"} %llu\n", (unsigned long long)s->submit_ok);
  ag_buf_printf(b, "agora_api_tx_submissions_total{result=\"rejected\"} %llu\n", (unsigned long long)s->submit_rejected);
  metric(b, "agora_relay_received_txs_total", "counter", "Transactions other nodes relayed here (nop mempool), by result.");
  ag_buf_printf(b, "agora_relay_received_txs_total{result=\"accepted\"} %llu\n", (unsigned long long)s->relayed_in_ok);
  ag_buf_printf(b, "agora_relay_received_txs_total{result=\"refused\"} %llu\n", (unsigned long long)s->relayed_in_refused);
  metric(b, "agora_relay_requests_total", "counter", "Requests relaying this node's admitted transactions to a peer (nop mempool), by result.");
  ag_buf_printf(b, "agora_relay_requests_total{result=\"ok\"} %llu\n", (unsigned long long)s->relay_out_ok);
  ag_buf_printf(b, "agora_relay_requests_total{result=\"failed\"} %llu\n", (unsigned long long)s->relay_out_failed);
  uint64_t fb, fm, ff;
  ag_files_sync_stats(&fb, &fm, &ff);
  metric(b, "agora_files_fetched_total", "counter", "Files the chain announces that this node fetched from its file_peers, by kind.");
  ag_buf_printf(b, "agora_files_fetched_total{kind=\"blob\"} %llu\n", (unsigned long long)fb);
  ag_buf_printf(b, "agora_files_fetched_total{kind=\"checkpoint\"} %llu\n", (unsigned long long)fm);
  metric(b, "agora_files_fetch_rejected_total", "counter", "Files a peer served that failed their checks.");
  ag_buf_printf(b, "agora_files_fetch_rejected_total %llu\n", (unsigned long long)ff);
  metric(b, "agora_state_keys", "gauge", "Keys in the authenticated state.");
  ag_buf_printf(b, "agora_state_keys %zu\n", ag_state_leaves(ag_app_state(app)));
  metric(b, "agora_state_tree_bytes", "gauge", "Bytes of LMDB pages holding the state tree's pages (every kept version).");
  ag_buf_printf(b, "agora_state_tree_bytes %zu\n", ag_state_tree_bytes(ag_app_state(app)));
  metric(b, "agora_state_disk_bytes", "gauge", "Disk space used by the LMDB store.");
  ag_buf_printf(b, "agora_state_disk_bytes %llu\n", (unsigned long long)ag_state_disk_bytes(ag_app_state(app)));
  metric(b, "agora_supply_issued", "gauge", "Tokens issued so far, in base units (1e-9 AGR).");
  ag_buf_printf(b, "agora_supply_issued %llu\n", (unsigned long long)sup.issued);
  metric(b, "agora_supply_burned", "gauge", "Tokens burned so far (fees), in base units (1e-9 AGR).");
  ag_buf_printf(b, "agora_supply_burned %llu\n", (unsigned long long)sup.burned);
  if (api_server) {
    ag_http_stats hs;
    ag_http_stats_get(api_server, &hs);
    metric(b, "agora_http_connections", "gauge", "Open API connections.");
    ag_buf_printf(b, "agora_http_connections %llu\n", (unsigned long long)hs.connections);
    metric(b, "agora_http_streams", "gauge", "Open streamed responses (event streams, file downloads).");
    ag_buf_printf(b, "agora_http_streams %llu\n", (unsigned long long)hs.streams);
    metric(b, "agora_http_requests_total", "counter", "API requests received.");
    ag_buf_printf(b, "agora_http_requests_total %llu\n", (unsigned long long)hs.requests_total);
    metric(b, "agora_http_refused_total", "counter", "Connections and requests refused over a limit (429, 503).");
    ag_buf_printf(b, "agora_http_refused_total %llu\n", (unsigned long long)hs.refused_total);
    metric(b, "agora_http_timed_out_total", "counter", "Requests cut for arriving too slowly, and responses nobody read.");
    ag_buf_printf(b, "agora_http_timed_out_total %llu\n", (unsigned long long)hs.timed_out_total);
  }
  process_metrics(b, ag_node_start_time_ms(n));
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "text/plain; version=0.0.4; charset=utf-8");
}

/* Embedded files: the API's description (src/api/openapi.json; tests/test_openapi.c keeps it
 * true) and the explorer (src/api/www, docs/explorer.md), which may only load its own scripts
 * and styles and talk to this node. */
static void h_static(ag_http_req *req, ag_http_resp *resp) {
  const ag_embed *a = ag_embed_find(req->path);
  if (!a) {
    ag_http_error(resp, 404, AG_E_NOTFOUND, "no such file");
    return;
  }
  resp->status = 200;
  ag_buf_put(&resp->body, a->data, a->len);
  snprintf(resp->content_type, sizeof resp->content_type, "%s", a->type);
  ag_http_set_header(resp, "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
  ag_http_set_header(resp, "X-Content-Type-Options", "nosniff");
  ag_http_set_header(resp, "Cache-Control", "no-cache");
}

static const ag_http_route routes[] = {
    {"GET", "/health", h_health, 0},
    {"GET", "/openapi.json", h_static, 0},
    {"GET", "/", h_static, 0},
    {"GET", "/app.js", h_static, 0},
    {"GET", "/style.css", h_static, 0},
    {"GET", "/v1/status", h_status, 0},
    {"GET", "/v1/validators", h_validators, 0},
    {"POST", "/v1/txs", h_submit, 0},
    {"POST", "/v1/txs/relay", h_relay, 0},
    {"POST", "/v1/simulate", h_simulate, 0},
    {"GET", "/v1/txs/", h_tx, 0},
    {"GET", "/v1/accounts/", h_account, 0},
    {"GET", "/v1/blocks/", h_block, 0},
    {"GET", "/v1/headers/", h_header, 0},
    {"GET", "/v1/events/blocks", h_events, 0},
    {"GET", "/metrics", h_metrics, 0},
};

static ag_http_route all_routes[64];
static size_t nall_routes;

static void build_routes(void) {
  for (size_t i = 0; i < AG_ARRAY_LEN(routes); i++) all_routes[nall_routes++] = routes[i];
  for (size_t i = 0; i < ag_incentive_nroutes; i++) all_routes[nall_routes++] = ag_incentive_routes[i];
  for (size_t i = 0; i < ag_economy_nroutes; i++) all_routes[nall_routes++] = ag_economy_routes[i];
  for (size_t i = 0; i < ag_files_nroutes; i++) all_routes[nall_routes++] = ag_files_routes[i];
}

const ag_http_route *ag_node_api_routes(size_t *n) {
  /* one table: the ledger's routes, then the incentive layer's, the economy's, the files' */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, build_routes);
  *n = nall_routes;
  return all_routes;
}

void ag_node_api_config(ag_node *n, const char *listen, char *spool, size_t cap, ag_http_config *cfg) {
  size_t nall;
  const ag_http_route *all = ag_node_api_routes(&nall);
  const ag_node_config *nc = ag_node_config_of(n);
  snprintf(spool, cap, "%s/tmp", nc->home);
  *cfg = (ag_http_config){listen, (size_t)nc->max_body_bytes, all, nall, n, &nc->http, spool};
}

int ag_node_api_start(ag_node *n, const char *listen, ag_http_server **out) {
  char spool[1100];
  ag_http_config cfg;
  ag_node_api_config(n, listen, spool, sizeof spool, &cfg);
  int rc = ag_http_start(&cfg, out);
  if (!rc) {
    api_server = *out;
    ag_files_collect(n, 1);
  }
  return rc;
}
