/*
 * test_abci.c — the ABCI dispatcher in process (consensus/abci.h sessions): the frames
 * CometBFT would send over its four connections, and what the node then reports.
 *   - A tx that passed CheckTx reads as pending until the block holding it commits, then as
 *     committed (before: 404 not_found, and `agora send` advised a check that said so).
 *   - A tx that fails its recheck after a block, or that CometBFT never rechecks (it left the
 *     mempool), stops being pending; so does everything when CometBFT goes away.
 *   - A failed CheckTx never reads as pending; a malformed frame stops the session.
 *   - The API admits txs at once against the node's own view and hands them to CometBFT's RPC
 *     (a stand-in here) in order, in batches it halves until the RPC takes them; a tx the RPC
 *     refuses stops being pending, and after a block the view is rebuilt from the state.
 *   - State sync: a node writes snapshots every N blocks; a fresh node restores one through
 *     OfferSnapshot and ApplySnapshotChunk, refusing a corrupted chunk (to be fetched again
 *     from another sender), reaches the same app hash and follows the next block; a snapshot
 *     that does not hash to the trusted app hash is refused and leaves the store empty.
 */
#include "api/http.h"
#include "chain/app.h"
#include "chain/genesis.h"
#include "chain/state.h"
#include "chain/tx.h"
#include "consensus/abci.h"
#include "consensus/abci.pb-c.h"
#include "consensus/node.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "test.h"
#include "testutil.h"

#define CHAIN "agora-abci-test"
#define NKEYS 3

static ag_keypair keys[NKEYS];
static uint64_t nonces[NKEYS];

/* ---- requests ------------------------------------------------------------------------------ */

/* Sends one request; returns the decoded response (caller frees) or NULL. */
static Tendermint__Abci__Response *roundtrip(ag_abci_session *x, const Tendermint__Abci__Request *r) {
  ag_buf in, out;
  ag_buf_init(&in);
  ag_buf_init(&out);
  ag_abci_put_request(&in, r);
  int rc = ag_abci_session_feed(x, in.data, in.len, &out);
  CHECK_OK(rc);
  Tendermint__Abci__Response *resp = NULL;
  size_t hdr;
  uint64_t len;
  if (!rc && ag_abci_frame(out.data, out.len, &hdr, &len) == 1 && hdr + len == out.len)
    resp = tendermint__abci__response__unpack(NULL, len, out.data + hdr);
  CHECK(resp != NULL);
  ag_buf_free(&in);
  ag_buf_free(&out);
  return resp;
}

static void init_chain(ag_abci_session *x) {
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.naccounts = NKEYS;
  g.accounts = calloc(NKEYS, sizeof *g.accounts);
  for (int i = 0; i < NKEYS; i++) {
    test_key(&keys[i], 700 + i);
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = 1000 * AG_UNIT;
  }
  char *json = ag_genesis_to_json(&g);
  Tendermint__Abci__RequestInitChain ic = TENDERMINT__ABCI__REQUEST_INIT_CHAIN__INIT;
  ic.chain_id = CHAIN;
  ic.initial_height = 1;
  ic.app_state_bytes.data = (uint8_t *)json;
  ic.app_state_bytes.len = strlen(json);
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_INIT_CHAIN;
  r.init_chain = &ic;
  Tendermint__Abci__Response *resp = roundtrip(x, &r);
  CHECK(resp && resp->value_case == TENDERMINT__ABCI__RESPONSE__VALUE_INIT_CHAIN);
  tendermint__abci__response__free_unpacked(resp, NULL);
  free(json);
  ag_genesis_free(&g);
}

/* A transfer from keys[from] with its next nonce; id gets the tx id. */
static void transfer(int from, uint64_t amount, ag_buf *tx, uint8_t id[32]) {
  ag_params p;
  ag_params_default(&p);
  ag_buf pl;
  ag_buf_init(&pl);
  ag_transfer_encode(&pl, keys[(from + 1) % NKEYS].pk, amount);
  uint64_t fee;
  ag_tx_min_fee(p.base_fee, p.per_byte_fee, AG_TX_TRANSFER, NULL, 0, ag_tx_size(strlen(CHAIN), pl.len), &fee);
  ag_buf_init(tx);
  ag_tx_build(tx, AG_TX_TRANSFER, CHAIN, &keys[from], nonces[from]++, fee, 0, pl.data, (uint32_t)pl.len);
  ag_hash("agora/txid", tx->data, tx->len, id);
  ag_buf_free(&pl);
}

/* CheckTx; returns its code (0 accepted). */
static uint32_t check_tx(ag_abci_session *x, const ag_buf *tx, int recheck) {
  Tendermint__Abci__RequestCheckTx ct = TENDERMINT__ABCI__REQUEST_CHECK_TX__INIT;
  ct.tx.data = tx->data;
  ct.tx.len = tx->len;
  ct.type = recheck ? 1 : 0;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_CHECK_TX;
  r.check_tx = &ct;
  Tendermint__Abci__Response *resp = roundtrip(x, &r);
  uint32_t code = resp && resp->check_tx ? resp->check_tx->code : 9999;
  tendermint__abci__response__free_unpacked(resp, NULL);
  return code;
}

/* FinalizeBlock with txs, then Commit; returns Commit's retain height. */
static int64_t block(ag_abci_session *x, int64_t height, ag_buf *const *txs, size_t n) {
  Tendermint__Abci__RequestFinalizeBlock fb = TENDERMINT__ABCI__REQUEST_FINALIZE_BLOCK__INIT;
  ProtobufCBinaryData *d = calloc(n + 1, sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = (ProtobufCBinaryData){txs[i]->len, txs[i]->data};
  fb.n_txs = n;
  fb.txs = d;
  fb.height = height;
  Tendermint__Abci__Timestamp ts = TENDERMINT__ABCI__TIMESTAMP__INIT;
  ts.seconds = 1700000000 + height;
  fb.time = &ts;
  uint8_t hash[32] = {1}, prop[20] = {2};
  fb.hash = (ProtobufCBinaryData){32, hash};
  fb.proposer_address = (ProtobufCBinaryData){20, prop};
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_FINALIZE_BLOCK;
  r.finalize_block = &fb;
  Tendermint__Abci__Response *resp = roundtrip(x, &r);
  CHECK(resp && resp->finalize_block && resp->finalize_block->n_tx_results == n);
  tendermint__abci__response__free_unpacked(resp, NULL);
  free(d);
  Tendermint__Abci__RequestCommit cm = TENDERMINT__ABCI__REQUEST_COMMIT__INIT;
  Tendermint__Abci__Request r2 = TENDERMINT__ABCI__REQUEST__INIT;
  r2.value_case = TENDERMINT__ABCI__REQUEST__VALUE_COMMIT;
  r2.commit = &cm;
  resp = roundtrip(x, &r2);
  CHECK(resp && resp->value_case == TENDERMINT__ABCI__RESPONSE__VALUE_COMMIT);
  int64_t retain = resp && resp->commit ? resp->commit->retain_height : -1;
  tendermint__abci__response__free_unpacked(resp, NULL);
  return retain;
}

static int committed(ag_node *n, const uint8_t id[32]) {
  ag_tx_location loc;
  return ag_state_tx_lookup(ag_app_state(ag_node_app(n)), id, &loc) == 0;
}

static ag_node *open_node(char **dir) {
  *dir = test_tmpdir("abci");
  ag_node_config cfg;
  ag_node_config_default(&cfg, *dir);
  cfg.consensus = AG_CONSENSUS_COMETBFT;
  ag_node *n = NULL;
  CHECK_OK(ag_node_open(&cfg, &n));
  return n;
}

TEST(checked_tx_is_pending_until_its_block_commits) {
  char *dir;
  ag_node *n = open_node(&dir);
  ag_abci_session *cons = ag_abci_session_new(n), *mem = ag_abci_session_new(n);
  init_chain(cons);
  memset(nonces, 0, sizeof nonces);
  ag_buf a, b, c, bad;
  uint8_t ia[32], ib[32], ic[32], ibad[32];
  transfer(0, AG_UNIT, &a, ia);
  transfer(1, AG_UNIT, &b, ib);
  transfer(2, AG_UNIT, &c, ic);
  CHECK_EQ(check_tx(mem, &a, 0), 0);
  CHECK_EQ(check_tx(mem, &b, 0), 0);
  CHECK_EQ(check_tx(mem, &c, 0), 0);
  CHECK(ag_node_in_mempool(n, ia) && ag_node_in_mempool(n, ib) && ag_node_in_mempool(n, ic));
  /* refused at CheckTx: never pending (a second tx with keys[0]'s spent nonce) */
  nonces[0] = 0;
  transfer(0, 2 * AG_UNIT, &bad, ibad);
  CHECK(check_tx(mem, &bad, 0) != 0);
  CHECK(!ag_node_in_mempool(n, ibad));

  /* block 1 holds a: committed and no longer pending; b and c wait */
  ag_buf *blk1[] = {&a};
  block(cons, 1, blk1, 1);
  CHECK(committed(n, ia));
  CHECK(!ag_node_in_mempool(n, ia));
  CHECK(ag_node_in_mempool(n, ib) && ag_node_in_mempool(n, ic));
  /* CometBFT rechecks what is left: b fails (say its sender spent everything), c passes */
  CHECK_EQ(check_tx(mem, &c, 1), 0);
  ag_node_cmt_checked(n, NULL, 0, ib, 1, 0); /* the failed recheck, as abci.c reports it */
  CHECK(!ag_node_in_mempool(n, ib));
  CHECK(ag_node_in_mempool(n, ic));

  /* c stays pending for as long as CometBFT rechecks it after every block ... */
  for (int64_t h = 2; h <= 4; h++) {
    block(cons, h, NULL, 0);
    CHECK(ag_node_in_mempool(n, ic));
    CHECK_EQ(check_tx(mem, &c, 1), 0);
  }
  /* ... and once it is not rechecked (it left CometBFT's mempool), two blocks later it is
   * not pending any more */
  block(cons, 5, NULL, 0);
  CHECK(ag_node_in_mempool(n, ic));
  block(cons, 6, NULL, 0);
  CHECK(!ag_node_in_mempool(n, ic));
  CHECK(!committed(n, ic));

  /* CometBFT gone (its connections closed): its mempool is gone with it */
  ag_buf d;
  uint8_t id_d[32];
  nonces[2] = 0; /* c never committed */
  transfer(2, 3 * AG_UNIT, &d, id_d);
  CHECK_EQ(check_tx(mem, &d, 0), 0);
  CHECK(ag_node_in_mempool(n, id_d));
  ag_node_cmt_reset(n);
  CHECK(!ag_node_in_mempool(n, id_d));

  ag_buf_free(&a);
  ag_buf_free(&b);
  ag_buf_free(&c);
  ag_buf_free(&d);
  ag_buf_free(&bad);
  ag_abci_session_free(cons);
  ag_abci_session_free(mem);
  ag_node_close(n);
  test_rmdir(dir);
}

/* A block of nothing but empty txs (ProcessProposal rejects it, but FinalizeBlock may still
 * see one): each fails, the block commits. fuzz_abci found the commit doing pointer
 * arithmetic on no buffer. */
TEST(block_of_empty_txs_commits) {
  char *dir;
  ag_node *n = open_node(&dir);
  ag_abci_session *x = ag_abci_session_new(n);
  init_chain(x);
  ag_buf e1, e2;
  ag_buf_init(&e1);
  ag_buf_init(&e2);
  ag_buf *blk[] = {&e1, &e2};
  block(x, 1, blk, 2);
  CHECK_EQ(ag_node_height(n), 1);
  uint8_t id[32];
  ag_hash("agora/txid", "", 0, id);
  ag_tx_location loc;
  CHECK_OK(ag_state_tx_lookup(ag_app_state(ag_node_app(n)), id, &loc));
  CHECK(loc.code != 0);
  ag_abci_session_free(x);
  ag_node_close(n);
  test_rmdir(dir);
}

TEST(malformed_frames_stop_the_session) {
  char *dir;
  ag_node *n = open_node(&dir);
  ag_abci_session *x = ag_abci_session_new(n);
  ag_buf out;
  ag_buf_init(&out);
  /* half a frame: nothing yet, no error */
  uint8_t part[] = {0x05, 0x12};
  CHECK_OK(ag_abci_session_feed(x, part, sizeof part, &out));
  CHECK_EQ(out.len, 0);
  /* a length prefix of eleven bytes */
  ag_abci_session *y = ag_abci_session_new(n);
  uint8_t big[11];
  memset(big, 0xff, sizeof big);
  CHECK_EQ(ag_abci_session_feed(y, big, sizeof big, &out), AG_E_INTERNAL);
  /* a frame whose message is not a Request */
  ag_abci_session *z = ag_abci_session_new(n);
  uint8_t junk[] = {0x03, 0xff, 0xff, 0xff};
  CHECK_EQ(ag_abci_session_feed(z, junk, sizeof junk, &out), AG_E_INTERNAL);
  CHECK_EQ(out.len, 0);
  ag_buf_free(&out);
  ag_abci_session_free(x);
  ag_abci_session_free(y);
  ag_abci_session_free(z);
  ag_node_close(n);
  test_rmdir(dir);
}

/* ---- CometBFT's RPC, stood in for ------------------------------------------------------------ */

#define RPC_MAX_BATCH 3

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;                    /* 0: requests wait (the forwarder's queue grows) */
  int refused, largest;        /* batches refused whole; the largest one taken */
  int ntx;                     /* txs taken, in arrival order */
  uint8_t ids[64][32];
  uint8_t full_id[32];         /* answered "mempool is full" */
} rpc;

static void rpc_handler(ag_http_req *req, ag_http_resp *resp) {
  pthread_mutex_lock(&rpc.mu);
  while (!rpc.open) pthread_cond_wait(&rpc.cv, &rpc.mu);
  json_t *in = json_loadb((const char *)req->body, req->body_len, 0, NULL), *out;
  size_t n = json_is_array(in) ? json_array_size(in) : 0;
  if (n > RPC_MAX_BATCH) { /* as CometBFT answers a batch over rpc.max_request_batch_size */
    rpc.refused++;
    out = json_pack("{s:s, s:i, s:{s:i, s:s, s:s}}", "jsonrpc", "2.0", "id", -1, "error", "code", -32600, "message",
                    "Invalid Request", "data", "batch request exceeds maximum (3) allowed number of requests");
  } else {
    out = json_array();
    if ((int)n > rpc.largest) rpc.largest = (int)n;
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(in, i);
      const char *b64 = json_string_value(json_object_get(json_object_get(e, "params"), "tx"));
      uint8_t *tx = NULL, id[32];
      size_t len = 0;
      CHECK_OK(ag_b64_decode_alloc(b64, strlen(b64), 1 << 20, &tx, &len));
      ag_hash("agora/txid", tx, len, id);
      free(tx);
      if (rpc.ntx < 64) memcpy(rpc.ids[rpc.ntx++], id, 32);
      json_t *r = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", json_object_get(e, "id"));
      if (!memcmp(id, rpc.full_id, 32))
        json_object_set_new(r, "error", json_pack("{s:i, s:s, s:s}", "code", -32603, "message", "Internal error", "data",
                                                  "mempool is full: number of txs 50000 (max: 50000)"));
      else
        json_object_set_new(r, "result", json_pack("{s:i}", "code", 0));
      json_array_append_new(out, r);
    }
  }
  pthread_cond_broadcast(&rpc.cv);
  pthread_mutex_unlock(&rpc.mu);
  char *text = json_dumps(out, JSON_COMPACT);
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "application/json");
  ag_buf_put(&resp->body, text, strlen(text));
  free(text);
  json_decref(out);
  json_decref(in);
}

static int rpc_wait_txs(int want) {
  pthread_mutex_lock(&rpc.mu);
  uint64_t end = ag_mono_ms() + 20000;
  while (rpc.ntx < want && ag_mono_ms() < end) {
    pthread_mutex_unlock(&rpc.mu);
    ag_sleep_ms(10);
    pthread_mutex_lock(&rpc.mu);
  }
  int got = rpc.ntx;
  pthread_mutex_unlock(&rpc.mu);
  return got >= want;
}

TEST(api_admits_at_once_and_forwards_in_order) {
  memset(&rpc, 0, sizeof rpc);
  pthread_mutex_init(&rpc.mu, NULL);
  pthread_cond_init(&rpc.cv, NULL);
  static const ag_http_route routes[] = {{"POST", "/", rpc_handler, 0, NULL, NULL}};
  ag_http_config hc;
  memset(&hc, 0, sizeof hc);
  hc.listen = "127.0.0.1:0";
  hc.max_body = 1 << 20;
  hc.routes = routes;
  hc.nroutes = 1;
  ag_http_server *srv = NULL;
  CHECK_OK(ag_http_start(&hc, &srv));

  char *dir = test_tmpdir("abci-fwd");
  ag_node_config cfg;
  ag_node_config_default(&cfg, dir);
  cfg.consensus = AG_CONSENSUS_COMETBFT;
  snprintf(cfg.cometbft_rpc, sizeof cfg.cometbft_rpc, "http://127.0.0.1:%u", ag_http_port(srv));
  cfg.cometbft_batch = 16;
  ag_node *n = NULL;
  CHECK_OK(ag_node_open(&cfg, &n));
  ag_abci_session *cons = ag_abci_session_new(n);
  init_chain(cons);
  memset(nonces, 0, sizeof nonces);

  /* ten txs from one sender while the RPC takes nothing: each admitted at once */
  ag_buf tx[10];
  uint8_t id[10][32];
  ag_result res;
  uint8_t h[32];
  for (int i = 0; i < 10; i++) {
    transfer(0, AG_UNIT, &tx[i], id[i]);
    CHECK_EQ(ag_node_submit(n, tx[i].data, tx[i].len, &res, h), 0);
    CHECK(ag_node_in_mempool(n, id[i]));
  }
  memcpy(rpc.full_id, id[6], 32);
  CHECK_EQ(ag_node_pending_nonce(n, keys[0].pk, 0), 10);
  /* the precise refusals, as before: a duplicate, a nonce ahead */
  CHECK_EQ(ag_node_submit(n, tx[3].data, tx[3].len, &res, h), AG_E_TX_DUPLICATE);
  ag_buf gap;
  uint8_t gid[32];
  nonces[0] = 12;
  transfer(0, AG_UNIT, &gap, gid);
  CHECK_EQ(ag_node_submit(n, gap.data, gap.len, &res, h), AG_E_TX_NONCE_GAP);
  CHECK(!ag_node_in_mempool(n, gid));

  /* the RPC opens: all ten arrive in nonce order, in batches it accepts */
  pthread_mutex_lock(&rpc.mu);
  rpc.open = 1;
  pthread_cond_broadcast(&rpc.cv);
  pthread_mutex_unlock(&rpc.mu);
  CHECK(rpc_wait_txs(10));
  pthread_mutex_lock(&rpc.mu);
  CHECK_EQ(rpc.ntx, 10);
  for (int i = 0; i < 10 && i < rpc.ntx; i++) CHECK(!memcmp(rpc.ids[i], id[i], 32));
  CHECK(rpc.refused >= 1);
  CHECK(rpc.largest >= 2 && rpc.largest <= RPC_MAX_BATCH);
  pthread_mutex_unlock(&rpc.mu);
  /* the one it refused (full) is no longer pending; the others are */
  for (int i = 0; i < 10; i++) CHECK_EQ(ag_node_in_mempool(n, id[i]), i != 6);

  /* a block with nonces 0..4: 5 stays, 7..9 follow a tx CometBFT never took and go; the
   * sender's next nonce is 6 again, and a new tx with it is admitted */
  ag_buf *blk[] = {&tx[0], &tx[1], &tx[2], &tx[3], &tx[4]};
  block(cons, 1, blk, 5);
  CHECK(committed(n, id[4]));
  CHECK(ag_node_in_mempool(n, id[5]));
  for (int i = 7; i < 10; i++) CHECK(!ag_node_in_mempool(n, id[i]));
  CHECK_EQ(ag_node_pending_nonce(n, keys[0].pk, 5), 6);
  ag_buf again;
  uint8_t aid[32];
  nonces[0] = 6;
  transfer(0, 2 * AG_UNIT, &again, aid);
  CHECK_EQ(ag_node_submit(n, again.data, again.len, &res, h), 0);
  CHECK(rpc_wait_txs(11));

  for (int i = 0; i < 10; i++) ag_buf_free(&tx[i]);
  ag_buf_free(&gap);
  ag_buf_free(&again);
  ag_abci_session_free(cons);
  ag_node_close(n);
  ag_http_stop(srv);
  test_rmdir(dir);
}

/* ---- state sync ---------------------------------------------------------------------------- */

static Tendermint__Abci__Response *req_list(ag_abci_session *x) {
  Tendermint__Abci__RequestListSnapshots ls = TENDERMINT__ABCI__REQUEST_LIST_SNAPSHOTS__INIT;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_LIST_SNAPSHOTS;
  r.list_snapshots = &ls;
  return roundtrip(x, &r);
}

static int32_t req_offer(ag_abci_session *x, const ProtobufCBinaryData *snap, const uint8_t app_hash[32]) {
  Tendermint__Abci__RequestOfferSnapshot of = TENDERMINT__ABCI__REQUEST_OFFER_SNAPSHOT__INIT;
  of.snapshot = *snap;
  of.app_hash = (ProtobufCBinaryData){32, (uint8_t *)app_hash};
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_OFFER_SNAPSHOT;
  r.offer_snapshot = &of;
  Tendermint__Abci__Response *resp = roundtrip(x, &r);
  int32_t res = resp && resp->offer_snapshot ? resp->offer_snapshot->result : -1;
  tendermint__abci__response__free_unpacked(resp, NULL);
  return res;
}

static ProtobufCBinaryData req_load(ag_abci_session *x, uint64_t height, uint32_t index) {
  Tendermint__Abci__RequestLoadSnapshotChunk lc = TENDERMINT__ABCI__REQUEST_LOAD_SNAPSHOT_CHUNK__INIT;
  lc.height = height;
  lc.format = 1;
  lc.chunk = index;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_LOAD_SNAPSHOT_CHUNK;
  r.load_snapshot_chunk = &lc;
  Tendermint__Abci__Response *resp = roundtrip(x, &r);
  ProtobufCBinaryData out = {0, NULL};
  if (resp && resp->load_snapshot_chunk) {
    out.len = resp->load_snapshot_chunk->chunk.len;
    out.data = malloc(out.len + 1);
    if (out.len) memcpy(out.data, resp->load_snapshot_chunk->chunk.data, out.len);
  }
  tendermint__abci__response__free_unpacked(resp, NULL);
  return out;
}

/* ApplySnapshotChunk; *refetch / *rejected get what a RETRY asks for (-1 / 0 when nothing). */
static int32_t req_apply(ag_abci_session *x, uint32_t index, const ProtobufCBinaryData *chunk, const char *sender,
                         int64_t *refetch, int *rejected) {
  Tendermint__Abci__RequestApplySnapshotChunk ac = TENDERMINT__ABCI__REQUEST_APPLY_SNAPSHOT_CHUNK__INIT;
  ac.index = index;
  ac.chunk = *chunk;
  ac.sender = (char *)sender;
  Tendermint__Abci__Request r = TENDERMINT__ABCI__REQUEST__INIT;
  r.value_case = TENDERMINT__ABCI__REQUEST__VALUE_APPLY_SNAPSHOT_CHUNK;
  r.apply_snapshot_chunk = &ac;
  Tendermint__Abci__Response *resp = roundtrip(x, &r);
  int32_t res = -1;
  *refetch = -1;
  *rejected = 0;
  if (resp && resp->apply_snapshot_chunk) {
    Tendermint__Abci__ResponseApplySnapshotChunk *a = resp->apply_snapshot_chunk;
    res = a->result;
    if (a->n_refetch_chunks == 1) *refetch = a->refetch_chunks[0];
    *rejected = a->n_reject_senders == 1 && !strcmp(a->reject_senders[0], sender);
  }
  tendermint__abci__response__free_unpacked(resp, NULL);
  return res;
}

static ag_node *open_node_cfg(char **dir, const char *name, uint64_t interval) {
  *dir = test_tmpdir(name);
  ag_node_config cfg;
  ag_node_config_default(&cfg, *dir);
  cfg.consensus = AG_CONSENSUS_COMETBFT;
  cfg.snapshot_interval = interval;
  cfg.snapshot_chunk = 300; /* several chunks from a small state */
  ag_node *n = NULL;
  CHECK_OK(ag_node_open(&cfg, &n));
  return n;
}

TEST(state_sync_restores_a_snapshot_and_refuses_bad_chunks) {
  char *da, *db, *dc;
  ag_node *a = open_node_cfg(&da, "abci-snap-a", 2);
  ag_abci_session *ca = ag_abci_session_new(a);
  init_chain(ca);
  memset(nonces, 0, sizeof nonces);
  for (int64_t h = 1; h <= 4; h++) {
    ag_buf t[NKEYS], *tp[NKEYS];
    uint8_t id[32];
    for (int k = 0; k < NKEYS; k++) {
      transfer(k, (uint64_t)(h * 10 + k) * AG_UNIT / 100, &t[k], id);
      tp[k] = &t[k];
    }
    block(ca, h, tp, NKEYS);
    ag_node_snapshot_wait(a);
    for (int k = 0; k < NKEYS; k++) ag_buf_free(&t[k]);
  }
  ag_app_info ia;
  CHECK_OK(ag_app_info_get(ag_node_app(a), &ia));
  CHECK_EQ(ia.height, 4);

  /* A lists its snapshots (heights 4 and 2, newest first) */
  Tendermint__Abci__Response *ls = req_list(ca);
  CHECK(ls && ls->list_snapshots && ls->list_snapshots->n_snapshots == 2);
  Tendermint__Abci__Snapshot *sn = tendermint__abci__snapshot__unpack(NULL, ls->list_snapshots->snapshots[0].len,
                                                                      ls->list_snapshots->snapshots[0].data);
  CHECK(sn && sn->height == 4 && sn->format == 1 && sn->chunks >= 2 && sn->hash.len == 32);
  ProtobufCBinaryData snap = ls->list_snapshots->snapshots[0];

  /* B, fresh: a format it does not know is refused; the snapshot is accepted */
  ag_node *b = open_node_cfg(&db, "abci-snap-b", 0);
  ag_abci_session *cb = ag_abci_session_new(b);
  Tendermint__Abci__Snapshot other = *sn;
  other.format = 7;
  ProtobufCBinaryData ob = {tendermint__abci__snapshot__get_packed_size(&other), NULL};
  ob.data = malloc(ob.len);
  tendermint__abci__snapshot__pack(&other, ob.data);
  CHECK_EQ(req_offer(cb, &ob, ia.app_hash), 4); /* REJECT_FORMAT */
  free(ob.data);
  CHECK_EQ(req_offer(cb, &snap, ia.app_hash), 1);
  int64_t refetch;
  int rejected;
  for (uint32_t i = 0; i < sn->chunks; i++) {
    ProtobufCBinaryData c = req_load(ca, 4, i);
    CHECK(c.len > 0);
    if (i == 1) { /* a peer serves chunk 1 damaged: refused and fetched again; the second
                   * time it does, it is rejected too */
      c.data[c.len / 2] ^= 1;
      CHECK_EQ(req_apply(cb, i, &c, "badpeer", &refetch, &rejected), 3); /* RETRY */
      CHECK_EQ(refetch, 1);
      CHECK(!rejected);
      CHECK_EQ(req_apply(cb, i, &c, "badpeer", &refetch, &rejected), 3);
      CHECK_EQ(refetch, 1);
      CHECK(rejected);
      c.data[c.len / 2] ^= 1;
    }
    CHECK_EQ(req_apply(cb, i, &c, "goodpeer", &refetch, &rejected), 1);
    free(c.data);
  }
  ag_app_info ib;
  CHECK_OK(ag_app_info_get(ag_node_app(b), &ib));
  CHECK_EQ(ib.height, 4);
  CHECK(!memcmp(ib.app_hash, ia.app_hash, 32));
  CHECK_EQ(ag_node_height(b), 4);
  /* and it follows: the same block 5 gives the same app hash on both */
  ag_buf t5;
  uint8_t id5[32];
  transfer(0, AG_UNIT, &t5, id5);
  ag_buf *blk5[] = {&t5};
  block(ca, 5, blk5, 1);
  block(cb, 5, blk5, 1);
  CHECK_OK(ag_app_info_get(ag_node_app(a), &ia));
  CHECK_OK(ag_app_info_get(ag_node_app(b), &ib));
  CHECK(ib.height == 5 && !memcmp(ib.app_hash, ia.app_hash, 32));
  CHECK(committed(b, id5));
  ag_buf_free(&t5);

  /* C: the same snapshot against another trusted app hash is refused at its last chunk, and
   * C's store is empty again */
  ag_node *c3 = open_node_cfg(&dc, "abci-snap-c", 0);
  ag_abci_session *cc = ag_abci_session_new(c3);
  uint8_t wrong[32];
  memcpy(wrong, ia.app_hash, 32);
  wrong[0] ^= 1;
  CHECK_EQ(req_offer(cc, &snap, wrong), 1);
  int32_t last = -1;
  for (uint32_t i = 0; i < sn->chunks; i++) {
    ProtobufCBinaryData c = req_load(ca, 4, i);
    last = req_apply(cc, i, &c, "peer", &refetch, &rejected);
    free(c.data);
    if (i + 1 < sn->chunks) CHECK_EQ(last, 1);
  }
  CHECK_EQ(last, 5); /* REJECT_SNAPSHOT */
  ag_app_info ic;
  CHECK_OK(ag_app_info_get(ag_node_app(c3), &ic));
  CHECK_EQ(ic.height, 0);
  ag_state_meta m;
  CHECK_EQ(ag_state_meta_get(ag_app_state(ag_node_app(c3)), &m), AG_E_NOTFOUND);

  tendermint__abci__snapshot__free_unpacked(sn, NULL);
  tendermint__abci__response__free_unpacked(ls, NULL);
  ag_abci_session_free(ca);
  ag_abci_session_free(cb);
  ag_abci_session_free(cc);
  ag_node_close(a);
  ag_node_close(b);
  ag_node_close(c3);
  test_rmdir(da);
  test_rmdir(db);
  test_rmdir(dc);
}

/* config.json "file_peers": URLs kept without a trailing slash; anything else is refused by
 * name */
TEST(file_peers_are_checked_when_the_config_loads) {
  char *dir = test_tmpdir("cfgpeers"), path[600];
  snprintf(path, sizeof path, "%s/config.json", dir);
  static const struct {
    const char *json;
    int ok;
  } cases[] = {
      {"{\"file_peers\": [\"http://127.0.0.1:8740/\", \"https://node.example:443\"]}", 1},
      {"{\"file_peers\": []}", 1},
      {"{\"file_peers\": \"http://127.0.0.1:8740\"}", 0},
      {"{\"file_peers\": [\"ftp://127.0.0.1\"]}", 0},
      {"{\"file_peers\": [8740]}", 0},
      {"{\"file_peers\": [\"http://a\",\"http://a\",\"http://a\",\"http://a\",\"http://a\",\"http://a\","
       "\"http://a\",\"http://a\",\"http://a\",\"http://a\",\"http://a\",\"http://a\",\"http://a\","
       "\"http://a\",\"http://a\",\"http://a\",\"http://a\"]}",
       0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_EQ(ag_write_file_atomic(path, cases[i].json, strlen(cases[i].json), 0644), 0);
    ag_node_config cfg;
    ag_node_config_default(&cfg, dir);
    int rc = ag_node_config_load(&cfg, dir);
    CHECK_EQ(rc == 0, cases[i].ok);
    if (!cases[i].ok) CHECK(strstr(ag_errmsg(rc), "file_peers") != NULL);
    if (i == 0) {
      CHECK_EQ(cfg.nfile_peers, 2);
      CHECK_STR(cfg.file_peers[0], "http://127.0.0.1:8740");
      CHECK_STR(cfg.file_peers[1], "https://node.example:443");
    }
  }
  test_rmdir(dir);
}

/* Block pruning (config.json "retain_blocks"): Commit's retain height keeps the newest
 * retain_blocks blocks, and never a block at or above the oldest snapshot the node may still
 * serve; 0 keeps everything. A node at height 6 keeping 2 blocks returns 5 over ABCI. */
TEST(commit_retains_the_newest_blocks_and_every_served_snapshot) {
  ag_node_config cfg;
  ag_node_config_default(&cfg, "/nonexistent");
  CHECK_EQ(cfg.retain_blocks, 0);
  CHECK_U64(ag_node_retain_height(&cfg, 1000000), 0);
  cfg.retain_blocks = 100;
  CHECK_U64(ag_node_retain_height(&cfg, 99), 0);
  CHECK_U64(ag_node_retain_height(&cfg, 100), 1);
  CHECK_U64(ag_node_retain_height(&cfg, 1000), 901);
  cfg.snapshot_interval = 40; /* 3 kept: at 1000 the newest, 1000, may still be being written,
                               * and 960, 920 and 880 are kept */
  cfg.snapshot_keep = 3;
  CHECK_U64(ag_node_retain_height(&cfg, 1000), 880);
  CHECK_U64(ag_node_retain_height(&cfg, 1039), 880);
  CHECK_U64(ag_node_retain_height(&cfg, 1040), 920);
  CHECK_U64(ag_node_retain_height(&cfg, 150), 0);
  cfg.snapshot_interval = 10; /* snapshots well inside the kept blocks: they do not hold it */
  CHECK_U64(ag_node_retain_height(&cfg, 1000), 901);
  /* config.json */
  char *dir = test_tmpdir("cfgretain"), path[600];
  snprintf(path, sizeof path, "%s/config.json", dir);
  static const char good[] = "{\"retain_blocks\": 200}", bad[] = "{\"retain_blocks\": -1}";
  CHECK_OK(ag_write_file_atomic(path, good, strlen(good), 0644));
  CHECK_OK(ag_node_config_load(&cfg, dir));
  CHECK_U64(cfg.retain_blocks, 200);
  CHECK_OK(ag_write_file_atomic(path, bad, strlen(bad), 0644));
  int rc = ag_node_config_load(&cfg, dir);
  CHECK_EQ(rc, AG_E_RANGE);
  CHECK(strstr(ag_errmsg(rc), "retain_blocks") != NULL);
  test_rmdir(dir);
  /* over ABCI */
  char *ndir;
  ag_node_config nc;
  ndir = test_tmpdir("abci-retain");
  ag_node_config_default(&nc, ndir);
  nc.consensus = AG_CONSENSUS_COMETBFT;
  nc.retain_blocks = 2;
  ag_node *n = NULL;
  CHECK_OK(ag_node_open(&nc, &n));
  ag_abci_session *x = ag_abci_session_new(n);
  init_chain(x);
  for (int64_t h = 1; h <= 6; h++) CHECK_EQ(block(x, h, NULL, 0), h >= 2 ? h - 1 : 0);
  ag_abci_session_free(x);
  ag_node_close(n);
  test_rmdir(ndir);
}

TEST_MAIN(checked_tx_is_pending_until_its_block_commits, block_of_empty_txs_commits,
          malformed_frames_stop_the_session, api_admits_at_once_and_forwards_in_order,
          state_sync_restores_a_snapshot_and_refuses_bad_chunks, file_peers_are_checked_when_the_config_loads,
          commit_retains_the_newest_blocks_and_every_served_snapshot)
