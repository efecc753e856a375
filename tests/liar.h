/*
 * liar.h — a node that lies, for system tests of `agora query account --prove`: an HTTP server
 * in the test process that stands in front of a real node's API, forwards
 * GET /v1/accounts/... and GET /v1/headers/... and rewrites the answers as its mode says:
 *
 *   LIAR_HONEST         passes everything through (the answer must verify);
 *   LIAR_FORGED_ROOT    a forged balance with a valid proof against a state root it makes up
 *                       itself (its own one-account tree), with the chain's genuine header;
 *   LIAR_FORGED_SIGNED  the same, and a header of its own that commits to the forged root,
 *                       signed by its own key (solo);
 *   LIAR_WRONG_KEY      the genuine proof and header, the header signed by another key (solo);
 *   LIAR_DROP_SIGS      CometBFT: two validators' commit signatures removed (marked absent);
 *   LIAR_ALTER_SIG      CometBFT: one commit signature altered.
 */
#ifndef AG_TEST_LIAR_H
#define AG_TEST_LIAR_H

#include "api/http.h"
#include "api/render.h"
#include "chain/app.h"
#include "chain/block.h"
#include "chain/smt.h"
#include "chain/state.h"
#include "core/codec.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  LIAR_HONEST,
  LIAR_FORGED_ROOT,
  LIAR_FORGED_SIGNED,
  LIAR_WRONG_KEY,
  LIAR_DROP_SIGS,
  LIAR_ALTER_SIG,
};

#define LIAR_BALANCE 999999000000000ULL /* 999,999 AGR: what the liar claims */

typedef struct {
  char upstream[300]; /* the real node's API */
  atomic_int mode;
  ag_keypair key;     /* the liar's own key (not the genesis block producer) */
  uint8_t fake_root[32];
  ag_http_server *srv;
  char url[64];       /* where the liar listens */
} liar;

static json_t *liar_forward(liar *l, const char *path, long *status) {
  char url[600];
  snprintf(url, sizeof url, "%s%s", l->upstream, path);
  ag_http_result r;
  *status = 502;
  if (ag_http_request("GET", url, NULL, NULL, 0, 10000, &r)) return NULL;
  *status = r.status;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  return j;
}

static void liar_account(ag_http_req *req, ag_http_resp *resp) {
  liar *l = req->ctx;
  char path[300];
  snprintf(path, sizeof path, "%s?prove=true", req->path);
  long st;
  json_t *j = liar_forward(l, path, &st);
  if (!j) return ag_http_error(resp, 502, AG_E_UNAVAILABLE, "upstream");
  int mode = atomic_load(&l->mode);
  if (st == 200 && (mode == LIAR_FORGED_ROOT || mode == LIAR_FORGED_SIGNED)) {
    /* a tree of its own in which the account holds LIAR_BALANCE: the proof is valid against
     * its root, which no block producer signed */
    uint8_t pk[32], key[33], hkey[32], val[16];
    ag_addr_decode(req->param, pk);
    ag_account a = {LIAR_BALANCE, (uint64_t)json_integer_value(json_object_get(j, "nonce"))};
    ag_account_key(pk, key);
    ag_state_hkey(key, sizeof key, hkey);
    ag_account_encode(&a, val);
    ag_smt_update u;
    memcpy(u.key, hkey, 32);
    ag_state_value_hash(val, sizeof val, u.value_hash);
    u.remove = 0;
    ag_smt *t = ag_smt_new();
    ag_smt_apply(t, &u, 1, 1);
    ag_smt_root(t, l->fake_root);
    ag_smt_proof *p = malloc(sizeof *p);
    ag_smt_prove(t, hkey, p);
    memcpy(p->leaf_value_hash, u.value_hash, 32);
    json_t *pj = ag_json_proof(p, hkey);
    json_object_set_new(pj, "state_key", ag_json_hex(key, sizeof key));
    json_object_set_new(pj, "value", ag_json_hex(val, sizeof val));
    json_object_set_new(j, "proof", pj);
    json_object_set_new(j, "exists", json_true());
    json_object_set_new(j, "balance", ag_json_u64s(LIAR_BALANCE));
    json_object_set_new(j, "state_root", ag_json_hex(l->fake_root, 32));
    free(p);
    ag_smt_free(t);
  }
  ag_http_json(resp, (int)st, j);
}

/* solo: re-sign the header with the liar's key, after optional edits */
static void liar_resign(liar *l, json_t *j, int forge_root) {
  const char *hx = json_string_value(json_object_get(j, "header"));
  uint8_t raw[512], hash[32], sig[64];
  size_t n = hx ? strlen(hx) / 2 : 0;
  ag_block_header h;
  if (!hx || n > sizeof raw || ag_hex_decode(hx, 2 * n, raw, n) || ag_block_header_decode(raw, n, &h, hash))
    return;
  if (forge_root) {
    memcpy(h.state_root, l->fake_root, 32);
    memcpy(h.proposer, l->key.pk, 32);
  }
  ag_buf b;
  ag_buf_init(&b);
  ag_block_header_encode(&h, &b);
  ag_block_hash(&h, hash);
  ag_sign(&l->key, hash, 32, sig);
  json_object_set_new(j, "header", ag_json_hex(b.data, b.len));
  json_object_set_new(j, "signature", ag_json_hex(sig, 64));
  json_object_set_new(j, "hash", ag_json_hex(hash, 32));
  json_object_set_new(j, "state_root", ag_json_hex(h.state_root, 32));
  ag_buf_free(&b);
}

static void liar_header(ag_http_req *req, ag_http_resp *resp) {
  liar *l = req->ctx;
  long st;
  json_t *j = liar_forward(l, req->path, &st);
  if (!j) return ag_http_error(resp, 502, AG_E_UNAVAILABLE, "upstream");
  int mode = atomic_load(&l->mode);
  json_t *sigs = json_object_get(json_object_get(json_object_get(j, "signed_header"), "commit"), "signatures");
  if (st != 200) {
  } else if (mode == LIAR_FORGED_SIGNED) {
    liar_resign(l, j, 1);
  } else if (mode == LIAR_WRONG_KEY) {
    liar_resign(l, j, 0);
  } else if (mode == LIAR_DROP_SIGS) {
    int dropped = 0;
    for (size_t i = 0; i < json_array_size(sigs) && dropped < 2; i++) {
      json_t *s = json_array_get(sigs, i);
      if (json_integer_value(json_object_get(s, "block_id_flag")) != 2) continue;
      json_object_set_new(s, "block_id_flag", json_integer(1));
      json_object_set_new(s, "validator_address", json_string(""));
      json_object_set_new(s, "timestamp", json_string("0001-01-01T00:00:00Z"));
      json_object_set_new(s, "signature", json_null());
      dropped++;
    }
  } else if (mode == LIAR_ALTER_SIG) {
    for (size_t i = 0; i < json_array_size(sigs); i++) {
      json_t *s = json_array_get(sigs, i);
      const char *b64 = json_string_value(json_object_get(s, "signature"));
      if (!b64 || strlen(b64) < 8) continue;
      char *c = strdup(b64);
      c[3] = c[3] == 'A' ? 'B' : 'A';
      json_object_set_new(s, "signature", json_string(c));
      free(c);
      break;
    }
  }
  ag_http_json(resp, (int)st, j);
}

static const ag_http_route liar_routes[] = {
    {"GET", "/v1/accounts/", liar_account, 0},
    {"GET", "/v1/headers/", liar_header, 0},
};

/* Starts a liar in front of upstream ("http://127.0.0.1:PORT"); 0 or an error code. */
__attribute__((unused)) static int liar_start(liar *l, const char *upstream) {
  memset(l, 0, sizeof *l);
  snprintf(l->upstream, sizeof l->upstream, "%s", upstream);
  ag_key_generate(&l->key);
  ag_http_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.listen = "127.0.0.1:0";
  cfg.max_body = 1 << 20;
  cfg.routes = liar_routes;
  cfg.nroutes = AG_ARRAY_LEN(liar_routes);
  cfg.ctx = l;
  int rc = ag_http_start(&cfg, &l->srv);
  if (!rc) snprintf(l->url, sizeof l->url, "http://127.0.0.1:%u", ag_http_port(l->srv));
  return rc;
}

__attribute__((unused)) static void liar_stop(liar *l) {
  ag_http_stop(l->srv);
  l->srv = NULL;
}

#endif
