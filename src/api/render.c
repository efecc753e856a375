/* render.c — JSON rendering of txs, blocks and proofs. */
#include "api/render.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *ag_json_tx(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "hash", ag_json_hex(tx->hash, 32));
  json_object_set_new(o, "kind", json_string(ag_tx_kind_name(tx->kind)));
  json_object_set_new(o, "chain_id", json_string(tx->chain_id));
  json_object_set_new(o, "sender", ag_json_addr(tx->sender));
  json_object_set_new(o, "nonce", json_integer((json_int_t)tx->nonce));
  json_object_set_new(o, "fee", ag_json_u64s(tx->fee));
  json_object_set_new(o, "valid_until", json_integer((json_int_t)tx->valid_until));
  json_object_set_new(o, "size", json_integer((json_int_t)tx->raw_len));
  const ag_tx_kind *k = ag_tx_kind_find(tx->kind);
  if (k && k->to_json) json_object_set_new(o, "payload", k->to_json(tx));
  return o;
}

json_t *ag_json_block(const ag_block *b, ag_app *app, int with_txs) {
  json_t *o = json_object();
  json_object_set_new(o, "height", json_integer((json_int_t)b->h.height));
  json_object_set_new(o, "hash", ag_json_hex(b->hash, 32));
  json_object_set_new(o, "chain_id", json_string(b->h.chain_id));
  json_object_set_new(o, "time_ms", json_integer((json_int_t)b->h.time_ms));
  json_object_set_new(o, "prev_hash", ag_json_hex(b->h.prev_hash, 32));
  json_object_set_new(o, "tx_root", ag_json_hex(b->h.tx_root, 32));
  json_object_set_new(o, "result_root", ag_json_hex(b->h.result_root, 32));
  json_object_set_new(o, "state_root", ag_json_hex(b->h.state_root, 32));
  if (b->h.version == AG_BLOCK_VERSION_COMETBFT) {
    json_object_set_new(o, "consensus", json_string("cometbft"));
    json_object_set_new(o, "proposer_address", ag_json_hex(b->h.proposer, 20));
    json_object_set_new(o, "cometbft_hash", ag_json_hex(b->sig, 32));
  } else {
    json_object_set_new(o, "proposer", ag_json_addr(b->h.proposer));
  }
  json_object_set_new(o, "tx_count", json_integer(b->h.tx_count));
  if (with_txs) {
    json_t *list = json_array();
    for (uint32_t i = 0; i < b->h.tx_count; i++) {
      ag_tx tx;
      json_t *t;
      if (ag_tx_decode(b->txs[i], b->tx_lens[i], &tx) == 0) {
        t = ag_json_tx(&tx);
      } else {
        t = json_object();
        uint8_t id[32];
        ag_hash("agora/txid", b->txs[i], b->tx_lens[i], id);
        json_object_set_new(t, "hash", ag_json_hex(id, 32));
        json_object_set_new(t, "kind", json_string("undecodable"));
        memcpy(tx.hash, id, 32);
      }
      ag_tx_location loc;
      if (app && ag_state_tx_lookup(ag_app_state(app), tx.hash, &loc) == 0 &&
          loc.height == b->h.height) {
        json_t *r = json_object();
        json_object_set_new(r, "code", json_string(ag_err_name(loc.code)));
        json_object_set_new(r, "message", json_string(loc.log));
        json_object_set_new(t, "result", r);
      }
      json_array_append_new(list, t);
    }
    json_object_set_new(o, "txs", list);
  }
  return o;
}

json_t *ag_json_proof(const ag_smt_proof *p, const uint8_t key[32]) {
  static const uint8_t zero[32];
  json_t *o = json_object(), *sib = json_array();
  json_object_set_new(o, "key", ag_json_hex(key, 32));
  for (int d = 0; d < p->depth; d++)
    json_array_append_new(sib, memcmp(p->siblings[d], zero, 32) ? ag_json_hex(p->siblings[d], 32)
                                                                 : json_null());
  json_object_set_new(o, "siblings", sib);
  if (p->terminal) {
    json_t *leaf = json_object();
    json_object_set_new(leaf, "key", ag_json_hex(p->leaf_key, 32));
    json_object_set_new(leaf, "value_hash", ag_json_hex(p->leaf_value_hash, 32));
    json_object_set_new(o, "leaf", leaf);
  } else {
    json_object_set_new(o, "leaf", json_null());
  }
  return o;
}

static int hex32(json_t *j, uint8_t out[32]) {
  const char *s = json_string_value(j);
  return s && ag_hex_decode(s, strlen(s), out, 32) == 0 ? 0 : -1;
}

int ag_json_proof_parse(json_t *j, ag_smt_proof *p, uint8_t key[32]) {
  memset(p, 0, sizeof *p);
  json_t *sib = json_object_get(j, "siblings");
  if (hex32(json_object_get(j, "key"), key) || !json_is_array(sib) ||
      json_array_size(sib) > AG_SMT_MAX_DEPTH)
    return ag_fail(AG_E_PROOF, "malformed proof");
  p->depth = (uint16_t)json_array_size(sib);
  for (size_t d = 0; d < json_array_size(sib); d++) {
    json_t *s = json_array_get(sib, d);
    if (!json_is_null(s) && hex32(s, p->siblings[d])) return ag_fail(AG_E_PROOF, "malformed sibling");
  }
  json_t *leaf = json_object_get(j, "leaf");
  if (json_is_object(leaf)) {
    p->terminal = 1;
    if (hex32(json_object_get(leaf, "key"), p->leaf_key) ||
        hex32(json_object_get(leaf, "value_hash"), p->leaf_value_hash))
      return ag_fail(AG_E_PROOF, "malformed proof leaf");
  }
  return 0;
}
