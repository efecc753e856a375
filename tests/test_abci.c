/*
 * test_abci.c — the ABCI dispatcher in process (consensus/abci.h sessions): the frames
 * CometBFT would send over its four connections, and what the node then reports.
 *   - A tx that passed CheckTx reads as pending until the block holding it commits, then as
 *     committed (before: 404 not_found, and `agora send` advised a check that said so).
 *   - A tx that fails its recheck after a block, or that CometBFT never rechecks (it left the
 *     mempool), stops being pending; so does everything when CometBFT goes away.
 *   - A failed CheckTx never reads as pending; a malformed frame stops the session.
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
  ag_params_min_fee(&p, ag_tx_size(strlen(CHAIN), pl.len), &fee);
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

/* FinalizeBlock with txs, then Commit. */
static void block(ag_abci_session *x, int64_t height, ag_buf *const *txs, size_t n) {
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
  tendermint__abci__response__free_unpacked(resp, NULL);
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
  ag_node_cmt_checked(n, ib, 1, 0); /* the failed recheck, as abci.c reports it */
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

TEST_MAIN(checked_tx_is_pending_until_its_block_commits, block_of_empty_txs_commits,
          malformed_frames_stop_the_session)
