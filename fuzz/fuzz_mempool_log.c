/*
 * fuzz_mempool_log.c — a solo node starting on the mempool log a kill, a full disk or a hand
 * edit left (HOME/data/mempool.log: records len u32le | tx, docs/formats.md). Each input is a
 * list of records the harness writes as the file: pending txs of four funded accounts
 * (transfers signed in LLVMFuzzerInitialize, nonces 0..3 each), a tx with one byte changed,
 * a record of the input's bytes under a length of the input's choosing, a zero length, or a
 * torn record (its length past the end of the file). Then the node opens (ag_node_open, which
 * restores the file into the mempool and rewrites it) and closes.
 *
 * What must hold:
 *  - the node opens, whatever the file holds;
 *  - the mempool holds exactly the txs the rule restores: every whole record up to the first
 *    zero, oversized or torn one is checked again in order, and admitted when it is a valid tx
 *    at its sender's next nonce (so a changed tx, a repeat or a gap is dropped, and what
 *    follows a dropped record still counts);
 *  - the file is rewritten as exactly those txs, whole records and nothing else.
 */
#include "chain/tx.h"
#include "consensus/node.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "fuzz_input.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 4
#define NONCES 4

static char base[256], home[300], log_path[400];
static ag_buf pool[NKEYS][NONCES]; /* pool[k][nonce]: key k's transfer at that nonce */
static struct {
  int on;
  unsigned long inputs, restored, ended_early;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr, "fuzz_mempool_log: %lu inputs, %lu txs restored, %lu files ended by a torn or bad record\n",
            stats.inputs, stats.restored, stats.ended_early);
  for (int k = 0; k < NKEYS; k++)
    for (int i = 0; i < NONCES; i++) ag_buf_free(&pool[k][i]);
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_mempool_log: could not remove %s\n", base);
}

__attribute__((noreturn)) static void fail(const char *what) {
  fprintf(stderr, "fuzz_mempool_log: %s\n", what);
  abort();
}

static void key_of(int i, ag_keypair *k) {
  uint8_t seed[32] = {(uint8_t)i, 0x3a};
  ag_key_from_seed(k, seed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR + 1);
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  fuzz_tmpdir(base, sizeof base, "fuzz_mempool_log");
  atexit(at_exit);
  snprintf(home, sizeof home, "%s/home", base);
  snprintf(log_path, sizeof log_path, "%s/data/mempool.log", home);
  ag_keypair keys[NKEYS], nk;
  key_of(100, &nk);
  for (int k = 0; k < NKEYS; k++) key_of(k, &keys[k]);
  fuzz_genesis_home(home, keys, NKEYS, NULL, &nk);
  for (int k = 0; k < NKEYS; k++)
    for (int i = 0; i < NONCES; i++) {
      ag_buf pl;
      ag_buf_init(&pl);
      ag_transfer_encode(&pl, keys[(k + 1) % NKEYS].pk, 1000 + (uint64_t)i);
      ag_buf_init(&pool[k][i]);
      ag_tx_build(&pool[k][i], AG_TX_TRANSFER, FUZZ_CHAIN, &keys[k], (uint64_t)i, 100000, 0, pl.data, (uint32_t)pl.len);
      ag_buf_free(&pl);
    }
  for (int k = 0; k < NKEYS; k++) ag_key_wipe(&keys[k]);
  ag_key_wipe(&nk);
  /* the chain's first start (its state from the genesis), as before any log */
  ag_node_config nc;
  ag_node_config_default(&nc, home);
  ag_node *node;
  if (ag_node_open(&nc, &node)) abort();
  ag_node_close(node);
  return 0;
}

static void put_record(ag_buf *f, const uint8_t *p, size_t n) {
  ag_buf_put_u32le(f, (uint32_t)n);
  ag_buf_put(f, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_t in = {data, size};
  ag_buf f;
  ag_buf_init(&f);
  int ended = 0;
  for (int r = 0; r < 24 && in.n; r++) {
    uint8_t op = get8(&in);
    switch (op % 6) {
    case 0:
    case 1: { /* a pending tx, intact */
      int k = (op >> 3) % NKEYS, i = (op >> 5) % NONCES;
      put_record(&f, pool[k][i].data, pool[k][i].len);
      break;
    }
    case 2: { /* one byte of it changed: its signature no longer holds */
      int k = (op >> 3) % NKEYS, i = (op >> 5) % NONCES;
      uint8_t *t = ag_xmalloc(pool[k][i].len);
      memcpy(t, pool[k][i].data, pool[k][i].len);
      t[get8(&in) % pool[k][i].len] ^= (uint8_t)(1 + get8(&in) % 255);
      put_record(&f, t, pool[k][i].len);
      free(t);
      break;
    }
    case 3: { /* the input's bytes under the input's length */
      uint32_t len = get32(&in);
      size_t n;
      const uint8_t *p = take(&in, get8(&in) % 65, &n);
      ag_buf_put_u32le(&f, len);
      ag_buf_put(&f, p, n);
      break;
    }
    case 4: /* a zero length: the end */
      ag_buf_put_u32le(&f, 0);
      break;
    default: /* torn: a length past the end of the file */
      ag_buf_put_u32le(&f, 1u << 20);
      ag_buf_put(&f, pool[0][0].data, 5);
      break;
    }
  }
  if (ag_write_file_atomic(log_path, f.data, f.len, 0600)) fail("cannot write the log");
  ag_node_config nc;
  ag_node_config_default(&nc, home);
  nc.threads = 1;
  ag_node *node;
  if (ag_node_open(&nc, &node)) fail("a mempool log stopped the node from opening");
  size_t ntx, nbytes;
  ag_node_mempool_stats(node, &ntx, &nbytes);
  /* what the node must restore, read as the node reads the file: each whole record up to the
   * first zero, oversized or torn one; a record is a valid tx only when it is one of the pool's
   * (nobody else holds the keys), admitted at its sender's next nonce */
  int next[NKEYS] = {0}, nwant = 0;
  uint8_t want[24][32];
  for (size_t o = 0; o + 4 <= f.len;) {
    uint32_t l = ag_get_u32le(f.data + o);
    if (l == 0 || l > AG_TX_HARD_MAX || l > f.len - o - 4) {
      ended = 1;
      break;
    }
    for (int k = 0; k < NKEYS; k++)
      for (int i = 0; i < NONCES; i++)
        if (l == pool[k][i].len && !memcmp(f.data + o + 4, pool[k][i].data, l) && i == next[k]) {
          ag_hash("agora/txid", pool[k][i].data, l, want[nwant++]);
          next[k]++;
        }
    o += 4 + (size_t)l;
  }
  for (int w = 0; w < nwant; w++)
    if (!ag_node_in_mempool(node, want[w])) fail("a whole, valid tx before the file's end was not restored");
  if (ntx != (size_t)nwant) fail("the mempool holds more than the log rightly held");
  ag_node_close(node);
  /* the file as the node left it: whole records, one per pending tx */
  uint8_t *back;
  size_t blen, count = 0;
  if (ag_read_file(log_path, 1u << 24, &back, &blen)) fail("the log was not rewritten");
  for (size_t o = 0; o < blen;) {
    if (blen - o < 4) fail("a rewritten log ends in a torn record");
    uint32_t l = ag_get_u32le(back + o);
    ag_tx tx;
    if (l == 0 || l > blen - o - 4 || ag_tx_decode(back + o + 4, l, &tx) || ag_tx_verify(&tx))
      fail("a rewritten log holds a record that is not a valid tx");
    o += 4 + (size_t)l;
    count++;
  }
  free(back);
  if (count != ntx) fail("the rewritten log does not hold the mempool");
  stats.inputs++;
  stats.restored += ntx;
  stats.ended_early += ended;
  ag_buf_free(&f);
  ag_err_clear();
  return 0;
}
