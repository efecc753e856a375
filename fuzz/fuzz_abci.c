/*
 * fuzz_abci.c — CometBFT's side of the ABCI socket, played against the real dispatcher
 * (consensus/abci.h sessions) of a node in CometBFT mode with a fresh store per input.
 *
 * An input is a list of operations, each one byte then its data:
 *   raw       frames exactly as fuzzed, fed in two pieces at a fuzzed split (any request
 *             kind: Echo, Info, Query, snapshots, votes, out-of-order Commit ...);
 *   check     a tx of any kind (the economy's too) built from fuzzed fields (kind, nonce
 *             offset, fee, payload of up to 1,275 bytes) and signed by one of the genesis
 *             keys, so that it gets past the signature: CheckTx, new or recheck;
 *   channel   a payment channel's tx as its parties make them (open, a claim with a voucher
 *             its client signed, fund, close), by the right key or a fuzzed one: CheckTx;
 *   block     FinalizeBlock at the next height with a fuzzed choice of the checked txs and
 *             fuzzed raw ones, then Commit;
 *   query     Query with a fuzzed path, data and prove flag;
 *   prepare   PrepareProposal of the checked txs and raw ones, then ProcessProposal of its
 *             answer;
 *   process   ProcessProposal of fuzzed txs;
 *   relay     POST /v1/txs/relay's body as fuzzed bytes (ag_node_relay), or framing a tx of the pool.
 * Inputs of odd length run the node with CometBFT's nop mempool (its own pool, relayed): there
 * CometBFT calls no CheckTx, so `check` submits the tx through the API's path (ag_node_submit)
 * or as a peer's relay, and PrepareProposal builds the block from the node's pool.
 * What must hold: every response is one well-formed frame of the matching kind; the session
 * never stops on what the harness builds well (a FinalizeBlock at the right height, a Commit
 * after it); after every block, the whole supply is accounted for (ag_economy_audit: balances,
 * stake, channels' deposits, bonds, vaults, dispute bonds, burned = issued) and the block's txs
 * are no longer pending; PrepareProposal keeps ProcessProposal's limits, each sender's nonce
 * order, and its block is accepted by ProcessProposal (nop: its txs are pending ones, none
 * twice); a relay body that is refused changes nothing in the pool. After a raw frame the server would
 * stop on, the input ends, as the server would.
 */
#include "chain/app.h"
#include "chain/genesis.h"
#include "chain/state.h"
#include "chain/tx.h"
#include "consensus/abci.h"
#include "consensus/abci.pb-c.h"
#include "consensus/node.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "economy/economy.h"
#include "incentive/incentive.h"

#include "fuzz_input.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAIN "agora-fuzz"
#define NKEYS 4
#define POOL 24

static ag_keypair keys[NKEYS];
static char *genesis_json;
static char base[256];
static unsigned runs;

typedef struct {
  ag_node *node;
  ag_abci_session *x;
  ag_buf pool[POOL];
  size_t npool;
  int stopped;
  struct {
    uint8_t id[32];
    int client, provider;
  } ch[8]; /* channels op_channel opened (or tried to) */
  int nch;
  int own; /* the nop mempool */
} world;

static int64_t committed_height(world *w) {
  ag_app_info info;
  if (ag_app_info_get(ag_node_app(w->node), &info)) abort();
  return (int64_t)info.height;
}

/* Feeds one request (in two pieces at split) and returns its response, or NULL when the
 * session stopped (w->stopped) or answered nothing. Every response must be one frame. */
static Tendermint__Abci__Response *send_req(world *w, const Tendermint__Abci__Request *r, size_t split) {
  ag_buf in, out;
  ag_buf_init(&in);
  ag_buf_init(&out);
  ag_abci_put_request(&in, r);
  if (split > in.len) split = in.len;
  int rc = ag_abci_session_feed(w->x, in.data, split, &out);
  if (!rc && out.len && split < in.len) abort(); /* answered before the frame was whole */
  if (!rc) rc = ag_abci_session_feed(w->x, in.data + split, in.len - split, &out);
  Tendermint__Abci__Response *resp = NULL;
  if (rc) {
    w->stopped = 1;
  } else {
    size_t hdr;
    uint64_t len;
    if (ag_abci_frame(out.data, out.len, &hdr, &len) != 1 || hdr + len != out.len) abort();
    resp = tendermint__abci__response__unpack(NULL, len, out.data + hdr);
    if (!resp) abort();
  }
  ag_buf_free(&in);
  ag_buf_free(&out);
  return resp;
}

static void op_raw(world *w, in_t *in) {
  size_t n, split = get8(in);
  const uint8_t *p = take(in, get8(in) | (size_t)(get8(in) & 3) << 8, &n);
  /* whole frames only (a malformed prefix included): a frame cut short would swallow the
   * harness's next request, as it would on a real connection */
  size_t whole = 0, hdr;
  uint64_t len;
  int fr;
  while ((fr = ag_abci_frame(p + whole, n - whole, &hdr, &len)) == 1) whole += hdr + (size_t)len;
  if (fr == 0) n = whole;
  ag_buf out;
  ag_buf_init(&out);
  if (split > n) split = n;
  int rc = ag_abci_session_feed(w->x, p, split, &out);
  if (!rc) rc = ag_abci_session_feed(w->x, p + split, n - split, &out);
  /* whatever was answered is whole frames of responses */
  size_t off = 0;
  while (off < out.len) {
    if (ag_abci_frame(out.data + off, out.len - off, &hdr, &len) != 1) abort();
    Tendermint__Abci__Response *resp = tendermint__abci__response__unpack(NULL, len, out.data + off + hdr);
    if (!resp) abort();
    tendermint__abci__response__free_unpacked(resp, NULL);
    off += hdr + (size_t)len;
  }
  ag_buf_free(&out);
  if (rc) w->stopped = 1;
}

/* The nonce key who's next tx gets: the pending one, or (flags) one to three past it, or one
 * before it. */
static uint64_t next_nonce(world *w, in_t *in, int who, uint8_t flags) {
  ag_account acct;
  ag_app_account(ag_node_app(w->node), keys[who].pk, &acct);
  uint64_t nonce = ag_app_pending_nonce(ag_node_app(w->node), keys[who].pk, acct.nonce);
  if (flags & 1) nonce += get8(in) % 3;
  if (flags & 2) nonce -= nonce ? 1 : 0;
  return nonce;
}

static void check_tx(world *w, ag_buf tx, uint8_t flags);

static void op_check(world *w, in_t *in) {
  static const uint16_t kinds[] = {1,  2,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
                                   30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48};
  uint8_t who = get8(in) % NKEYS, k = get8(in), flags = get8(in);
  uint16_t kind = k < 200 ? kinds[k % (sizeof kinds / sizeof *kinds)] : (uint16_t)(k | get8(in) << 8);
  uint64_t nonce = next_nonce(w, in, who, flags);
  uint64_t fee = (flags & 4) ? get32(in) : 100000;
  size_t plen, want = get8(in);
  if (want == 255) want += (size_t)get8(in) * 4; /* up to 1,275 bytes: evidence, agent terms */
  const uint8_t *payload = take(in, want, &plen);
  ag_buf tx;
  ag_buf_init(&tx);
  ag_tx_build(&tx, kind, CHAIN, &keys[who], nonce, fee, (flags & 8) ? (uint64_t)committed_height(w) + 1 : 0,
              payload, (uint32_t)plen);
  check_tx(w, tx, flags);
}

/* Payment channels as their parties use them, so that claims carry vouchers their clients
 * really signed (fuzzed payloads almost never would): open (a client to a provider, both
 * genesis keys, a fuzzed deposit), claim (a voucher of the channel's client for a fuzzed
 * amount and sequence, submitted by a fuzzed key: the provider or not), fund, close. */
static void op_channel(world *w, in_t *in) {
  uint8_t what = get8(in), a = get8(in) % NKEYS, b = get8(in) % NKEYS, flags = get8(in) & 0x1f;
  uint64_t amount = (uint64_t)get32(in) * (get8(in) % 4 == 0 ? 1 : AG_UNIT / 1000);
  ag_buf p, tx;
  ag_buf_init(&p);
  ag_buf_init(&tx);
  int signer;
  uint16_t kind;
  if (what % 4 == 0 || !w->nch) {
    uint64_t nonce = next_nonce(w, in, a, flags);
    ag_payload_channel_open(&p, keys[b].pk, NULL, keys[(a + b) % NKEYS].pk, amount, (uint64_t)get8(in) * 4, 0);
    if (w->nch < 8) {
      ag_channel_id(CHAIN, keys[a].pk, nonce, w->ch[w->nch].id);
      w->ch[w->nch].client = a;
      w->ch[w->nch++].provider = b;
    }
    ag_tx_build(&tx, AG_TX_CHANNEL_OPEN, CHAIN, &keys[a], nonce, 100000, 0, p.data, (uint32_t)p.len);
  } else {
    int c = get8(in) % w->nch;
    if (what % 4 == 1) {
      ag_buf v;
      ag_buf_init(&v);
      ag_voucher_sign(&v, CHAIN, w->ch[c].id, amount, get8(in), &keys[w->ch[c].client]);
      kind = AG_TX_CHANNEL_CLAIM;
      if (what & 0x20) { /* the same claim in a channel_claims, maybe with another channel's */
        kind = AG_TX_CHANNEL_CLAIMS;
        ag_buf_put_u16le(&p, (uint16_t)(1 + (what >> 7)));
        if (what >> 7) {
          ag_buf v2;
          ag_buf_init(&v2);
          int c2 = get8(in) % w->nch;
          ag_voucher_sign(&v2, CHAIN, w->ch[c2].id, amount, get8(in), &keys[w->ch[c2].client]);
          ag_payload_channel_claim(&p, 0, 0, v2.data, v2.len);
          ag_buf_free(&v2);
        }
      }
      ag_payload_channel_claim(&p, get8(in) & 1, get8(in) % 2 ? 0 : amount / 2, v.data, v.len);
      ag_buf_free(&v);
      signer = what & 0x10 ? a : w->ch[c].provider;
    } else if (what % 4 == 2) {
      ag_payload_channel_fund(&p, w->ch[c].id, amount);
      kind = AG_TX_CHANNEL_FUND;
      signer = what & 0x10 ? a : w->ch[c].client;
    } else {
      ag_payload_channel_close(&p, w->ch[c].id);
      kind = AG_TX_CHANNEL_CLOSE;
      signer = what & 0x10 ? w->ch[c].provider : w->ch[c].client;
    }
    ag_tx_build(&tx, kind, CHAIN, &keys[signer], next_nonce(w, in, signer, flags), 100000, 0, p.data,
                (uint32_t)p.len);
  }
  ag_buf_free(&p);
  check_tx(w, tx, flags);
}

/* CheckTx of tx (new or, by flags, recheck); the world's pool takes it. */
static size_t pool_size(world *w) {
  size_t txs, bytes;
  ag_node_mempool_stats(w->node, &txs, &bytes);
  return txs;
}

/* The nop mempool: a tx through the API's path or as a peer's relay; accepted is pending. */
static void submit_own(world *w, ag_buf tx, uint8_t flags) {
  uint8_t id[32];
  int rc;
  if (flags & 16) {
    ag_result res;
    rc = ag_node_submit(w->node, tx.data, tx.len, &res, id);
  } else {
    ag_buf body;
    ag_buf_init(&body);
    ag_buf_put_u32le(&body, (uint32_t)tx.len);
    ag_buf_put(&body, tx.data, tx.len);
    size_t acc, ref;
    if (ag_node_relay(w->node, body.data, body.len, &acc, &ref) || acc + ref != 1) abort();
    rc = acc ? 0 : AG_E_INVALID;
    ag_buf_free(&body);
    ag_hash("agora/txid", tx.data, tx.len, id);
  }
  if (rc == 0 && !ag_node_in_mempool(w->node, id)) abort();
  if (w->npool < POOL) w->pool[w->npool++] = tx;
  else ag_buf_free(&tx);
}

/* POST /v1/txs/relay's body: fuzzed bytes, or a pool tx framed (maybe cut short). A body
 * ag_node_relay refuses leaves the pool as it was. */
static void op_relay(world *w, in_t *in) {
  ag_buf body;
  ag_buf_init(&body);
  uint8_t how = get8(in);
  size_t len;
  if (how < 128 || !w->npool) {
    const uint8_t *p = take(in, (size_t)get8(in) * (how % 8 + 1), &len);
    ag_buf_put(&body, p, len);
  } else {
    for (int k = how % 3; k >= 0; k--) {
      ag_buf *t = &w->pool[get8(in) % w->npool];
      ag_buf_put_u32le(&body, (uint32_t)t->len);
      ag_buf_put(&body, t->data, t->len);
    }
    if (how & 8) body.len -= get8(in) % (body.len + 1); /* cut anywhere */
  }
  size_t acc, ref;
  if (!w->own) { /* CometBFT's mempool holds the txs: relays are refused */
    if (ag_node_relay(w->node, body.data, body.len, &acc, &ref) != AG_E_UNSUPPORTED) abort();
    ag_buf_free(&body);
    return;
  }
  size_t before = pool_size(w);
  int rc = ag_node_relay(w->node, body.data, body.len, &acc, &ref);
  if (rc && pool_size(w) != before) abort();
  if (!rc && pool_size(w) > before + acc) abort();
  ag_buf_free(&body);
}

static void check_tx(world *w, ag_buf tx, uint8_t flags) {
  if (w->own) {
    submit_own(w, tx, flags);
    return;
  }
  Tendermint__Abci__RequestCheckTx ct = TENDERMINT__ABCI__REQUEST_CHECK_TX__INIT;
  ct.tx.data = tx.data;
  ct.tx.len = tx.len;
  ct.type = (flags & 16) ? 1 : 0;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_CHECK_TX;
  r.check_tx = &ct;
  Tendermint__Abci__Response *resp = send_req(w, &r, flags >> 5);
  if (!resp || resp->value_case != TENDERMINT__ABCI__RESPONSE__VALUE_CHECK_TX) abort();
  uint8_t id[32];
  ag_hash("agora/txid", tx.data, tx.len, id);
  /* what CheckTx accepts is pending now; a new tx it refuses is not */
  if (resp->check_tx->code == 0 && !ag_node_in_mempool(w->node, id)) abort();
  tendermint__abci__response__free_unpacked(resp, NULL);
  if (w->npool < POOL) w->pool[w->npool++] = tx;
  else ag_buf_free(&tx);
}

/* The txs of a block or proposal: a fuzzed choice of the pool plus up to 3 raw ones. */
static size_t pick_txs(world *w, in_t *in, ProtobufCBinaryData *d) {
  uint32_t mask = get32(in);
  size_t n = 0;
  for (size_t i = 0; i < w->npool; i++)
    if (mask >> i & 1) d[n++] = (ProtobufCBinaryData){w->pool[i].len, w->pool[i].data};
  for (int k = get8(in) % 4; k > 0; k--) {
    size_t len;
    const uint8_t *p = take(in, get8(in), &len);
    d[n++] = (ProtobufCBinaryData){len, (uint8_t *)p};
  }
  return n;
}

static void op_block(world *w, in_t *in) {
  ProtobufCBinaryData d[POOL + 4];
  size_t n = pick_txs(w, in, d);
  Tendermint__Abci__RequestFinalizeBlock fb = TENDERMINT__ABCI__REQUEST_FINALIZE_BLOCK__INIT;
  fb.txs = d;
  fb.n_txs = n;
  int64_t h = committed_height(w) + 1;
  fb.height = h;
  Tendermint__Abci__Timestamp ts = TENDERMINT__ABCI__TIMESTAMP__INIT;
  ts.seconds = 1700000000 + fb.height * (1 + get8(in) % 8);
  fb.time = &ts;
  uint8_t hash[32] = {1}, prop[20];
  memset(prop, get8(in), sizeof prop);
  fb.hash = (ProtobufCBinaryData){32, hash};
  fb.proposer_address = (ProtobufCBinaryData){20, prop};
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_FINALIZE_BLOCK;
  r.finalize_block = &fb;
  Tendermint__Abci__Response *resp = send_req(w, &r, get8(in));
  /* a raw frame may have left a FinalizeBlock uncommitted: this one replaces it */
  if (!resp || !resp->finalize_block || resp->finalize_block->n_tx_results != n) abort();
  tendermint__abci__response__free_unpacked(resp, NULL);
  Tendermint__Abci__RequestCommit cm = TENDERMINT__ABCI__REQUEST_COMMIT__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_COMMIT;
  r.commit = &cm;
  resp = send_req(w, &r, 0);
  if (!resp || resp->value_case != TENDERMINT__ABCI__RESPONSE__VALUE_COMMIT) abort();
  tendermint__abci__response__free_unpacked(resp, NULL);
  if (committed_height(w) != h) abort();
  uint64_t acc = 0, iss = 1;
  if (ag_economy_audit(ag_app_state(ag_node_app(w->node)), &acc, &iss) || acc != iss) abort();
  for (size_t i = 0; i < n; i++) {
    uint8_t id[32];
    ag_hash("agora/txid", d[i].data, d[i].len, id);
    if (ag_node_in_mempool(w->node, id)) abort();
  }
}

static void op_query(world *w, in_t *in) {
  static const char *paths[] = {"account", "/account", "tx", "key", "", "/nope"};
  uint8_t sel = get8(in);
  char path[64];
  size_t plen;
  if (sel < 192) {
    snprintf(path, sizeof path, "%s", paths[sel % 6]);
  } else {
    const uint8_t *p = take(in, get8(in) % sizeof path, &plen);
    memcpy(path, p, plen);
    path[plen < sizeof path ? plen : sizeof path - 1] = 0;
  }
  uint8_t data[64];
  size_t dlen;
  uint8_t how = get8(in);
  if (how % 3 == 0) { /* a genesis account */
    memcpy(data, keys[how / 3 % NKEYS].pk, 32);
    dlen = 32;
  } else {
    const uint8_t *p = take(in, get8(in) % sizeof data, &dlen);
    memcpy(data, p, dlen);
  }
  Tendermint__Abci__RequestQuery q = TENDERMINT__ABCI__REQUEST_QUERY__INIT;
  q.path = path;
  q.data = (ProtobufCBinaryData){dlen, data};
  q.prove = how & 1;
  q.height = how & 2 ? committed_height(w) : 0;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_QUERY;
  r.query = &q;
  Tendermint__Abci__Response *resp = send_req(w, &r, get8(in));
  if (!resp || resp->value_case != TENDERMINT__ABCI__RESPONSE__VALUE_QUERY) abort();
  tendermint__abci__response__free_unpacked(resp, NULL);
}

/* ProcessProposal of txs; returns its status (1 ACCEPT, 2 REJECT). */
static int process(world *w, ProtobufCBinaryData *txs, size_t n) {
  Tendermint__Abci__RequestProcessProposal pp = TENDERMINT__ABCI__REQUEST_PROCESS_PROPOSAL__INIT;
  pp.txs = txs;
  pp.n_txs = n;
  pp.height = committed_height(w) + 1;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_PROCESS_PROPOSAL;
  r.process_proposal = &pp;
  Tendermint__Abci__Response *resp = send_req(w, &r, 0);
  if (!resp || !resp->process_proposal) abort();
  int st = resp->process_proposal->status;
  tendermint__abci__response__free_unpacked(resp, NULL);
  return st;
}

static void op_prepare(world *w, in_t *in) {
  ProtobufCBinaryData d[POOL + 4];
  size_t n = pick_txs(w, in, d);
  Tendermint__Abci__RequestPrepareProposal pp = TENDERMINT__ABCI__REQUEST_PREPARE_PROPOSAL__INIT;
  pp.txs = d;
  pp.n_txs = n;
  pp.max_tx_bytes = get8(in) < 64 ? (int64_t)get32(in) % 4096 : 1 << 20;
  pp.height = committed_height(w) + 1;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_PREPARE_PROPOSAL;
  r.prepare_proposal = &pp;
  Tendermint__Abci__Response *resp = send_req(w, &r, get8(in));
  if (!resp || !resp->prepare_proposal) abort();
  Tendermint__Abci__ResponsePrepareProposal *a = resp->prepare_proposal;
  if (!w->own && a->n_txs > n) abort();
  uint64_t framed = 0;
  uint8_t used[POOL + 4] = {0};
  for (size_t j = 0; j < a->n_txs; j++) {
    if (w->own) { /* the node's own pending txs, each once */
      uint8_t id[32], id2[32];
      ag_hash("agora/txid", a->txs[j].data, a->txs[j].len, id);
      if (!ag_node_in_mempool(w->node, id)) abort();
      for (size_t jj = 0; jj < j; jj++) {
        ag_hash("agora/txid", a->txs[jj].data, a->txs[jj].len, id2);
        if (!memcmp(id, id2, 32)) abort();
      }
    } else {
      size_t i = 0; /* the answer's txs are offered ones, each once */
      while (i < n && !(d[i].len == a->txs[j].len && !used[i] && !memcmp(d[i].data, a->txs[j].data, d[i].len))) i++;
      if (i == n) abort();
      used[i] = 1;
    }
    framed += 1 + a->txs[j].len + (a->txs[j].len < 128 ? 1 : a->txs[j].len < 16384 ? 2 : 3);
    ag_tx t, u;
    if (ag_tx_decode(a->txs[j].data, a->txs[j].len, &t)) abort();
    for (size_t jj = 0; jj < j; jj++) { /* a sender's txs in nonce order */
      ag_tx_decode(a->txs[jj].data, a->txs[jj].len, &u);
      if (!memcmp(t.sender, u.sender, 32) && u.nonce > t.nonce) abort();
    }
  }
  if (a->n_txs && (int64_t)framed > pp.max_tx_bytes) abort();
  if (process(w, a->txs, a->n_txs) != 1) abort(); /* our own proposal is acceptable */
  tendermint__abci__response__free_unpacked(resp, NULL);
}

static void op_process(world *w, in_t *in) {
  ProtobufCBinaryData d[POOL + 4];
  size_t n = pick_txs(w, in, d);
  int st = process(w, d, n);
  if (st != 1 && st != 2) abort();
}

static void remove_base(void) { rmdir(base); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  snprintf(g.chain_id, sizeof g.chain_id, "%s", CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.naccounts = NKEYS;
  g.accounts = calloc(NKEYS, sizeof *g.accounts);
  for (int i = 0; i < NKEYS; i++) {
    uint8_t seed[32] = {(uint8_t)i, 0x5a};
    ag_key_from_seed(&keys[i], seed);
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = 1000000 * AG_UNIT;
  }
  genesis_json = ag_genesis_to_json(&g);
  ag_genesis_free(&g);
  fuzz_tmpdir(base, sizeof base, "fuzz_abci");
  atexit(remove_base);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char dir[320];
  snprintf(dir, sizeof dir, "%s/%u", base, runs++);
  world w;
  memset(&w, 0, sizeof w);
  w.own = size & 1;
  ag_node_config cfg;
  ag_node_config_default(&cfg, dir);
  cfg.consensus = AG_CONSENSUS_COMETBFT;
  cfg.mempool.max_txs = 1024; /* an input checks at most 64 txs; smaller sets open faster */
  cfg.cometbft_mempool = size & 1 ? AG_CMT_MEMPOOL_NOP : AG_CMT_MEMPOOL_FLOOD;
  if (ag_mkdirs(dir, 0700) || ag_node_open(&cfg, &w.node)) abort();
  w.x = ag_abci_session_new(w.node);
  Tendermint__Abci__RequestInitChain ic = TENDERMINT__ABCI__REQUEST_INIT_CHAIN__INIT;
  ic.chain_id = CHAIN;
  ic.initial_height = 1;
  ic.app_state_bytes = (ProtobufCBinaryData){strlen(genesis_json), (uint8_t *)genesis_json};
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_INIT_CHAIN;
  r.init_chain = &ic;
  Tendermint__Abci__Response *resp = send_req(&w, &r, 0);
  if (!resp) abort();
  tendermint__abci__response__free_unpacked(resp, NULL);
  in_t in = {data, size};
  for (int ops = 0; in.n && !w.stopped && ops < 64; ops++) {
    switch (get8(&in) % 8) {
    case 7: op_relay(&w, &in); break;
    case 6: op_channel(&w, &in); break;
    case 0: op_raw(&w, &in); break;
    case 1: op_check(&w, &in); break;
    case 2: op_block(&w, &in); break;
    case 3: op_query(&w, &in); break;
    case 4: op_prepare(&w, &in); break;
    default: op_process(&w, &in); break;
    }
  }
  for (size_t i = 0; i < w.npool; i++) ag_buf_free(&w.pool[i]);
  ag_abci_session_free(w.x);
  ag_node_close(w.node);
  if (ag_rm_tree(dir)) abort();
  return 0;
}
