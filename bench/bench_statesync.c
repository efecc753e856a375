/*
 * bench_statesync.c — joining by state sync against replaying the blocks (docs/benchmarks.md):
 *   statesync.join_s          a node's side of joining from a snapshot of a 1M-account state:
 *                             every chunk checked against the snapshot's metadata and applied,
 *                             the tree built, the root checked against the trusted app hash
 *   statesync.replay_s        replaying, into an empty store, the blocks that made that state
 *   statesync.replay_vs_join  replay_s / join_s
 * The app's side only: CometBFT's light-client check of the app hash and the chunks' trip
 * between nodes are not in it (test_sys_cometbft plays a whole join with real CometBFT).
 * Environment: BENCH_STATESYNC_ACCOUNTS (default 1000000).
 */
#include "bench.h"
#include "chain/app.h"
#include "consensus/snapshot.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN "agora-bench-statesync"
#define SENDERS 40
#define PER_TX 250 /* recipients per multi-transfer: a block makes SENDERS * PER_TX accounts */

static char tmproot[256];

static void sender_key(ag_keypair *k, uint32_t i) {
  uint8_t seed[32] = {0};
  ag_put_u32le(seed, i);
  seed[31] = 0x55;
  ag_key_from_seed(k, seed);
}

static void make_genesis(ag_genesis *g, const ag_keypair *senders) {
  memset(g, 0, sizeof *g);
  strcpy(g->chain_id, CHAIN);
  ag_params_default(&g->params);
  g->params.max_tx_bytes = 1u << 20;
  g->params.max_block_bytes = 64u << 20;
  g->params.max_block_txs = 100000;
  g->naccounts = SENDERS;
  g->accounts = calloc(SENDERS, sizeof *g->accounts);
  for (size_t i = 0; i < SENDERS; i++) {
    memcpy(g->accounts[i].pk, senders[i].pk, 32);
    g->accounts[i].balance = 1000000000ULL * AG_UNIT;
  }
  ag_genesis_rehash(g);
}

static ag_app *open_app(const char *name) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", tmproot, name);
  ag_app *app;
  int rc = ag_app_open(dir, &app);
  if (rc) {
    fprintf(stderr, "open %s: %s\n", dir, ag_errmsg(rc));
    exit(1);
  }
  return app;
}

/* Genesis, then every block; returns the seconds it took. */
static double run_chain(ag_app *app, const ag_genesis *g, ag_buf *txs, size_t nblocks) {
  const uint8_t *ptr[SENDERS];
  uint32_t lens[SENDERS];
  ag_result res[SENDERS];
  uint8_t h[32];
  double t0 = bench_now();
  if (ag_app_init_chain(app, g, h)) exit(1);
  for (size_t b = 0; b < nblocks; b++) {
    for (size_t i = 0; i < SENDERS; i++) {
      ptr[i] = txs[b * SENDERS + i].data;
      lens[i] = (uint32_t)txs[b * SENDERS + i].len;
    }
    ag_block_ctx ctx = {b + 1, 1700000000000ULL + b * 1000, {0}};
    if (ag_app_finalize_block(app, &ctx, ptr, lens, SENDERS, res, h) || ag_app_commit(app, NULL, 0, NULL)) {
      fprintf(stderr, "block %zu: %s\n", b + 1, ag_errmsg(-1));
      exit(1);
    }
    for (size_t i = 0; i < SENDERS; i++)
      if (res[i].code) {
        fprintf(stderr, "block %zu tx %zu failed: %s\n", b + 1, i, res[i].log);
        exit(1);
      }
  }
  return bench_now() - t0;
}

int main(void) {
  ag_crypto_init();
  snprintf(tmproot, sizeof tmproot, "/tmp/agora-bench-statesync-XXXXXX");
  if (!mkdtemp(tmproot)) return 1;
  const char *e = getenv("BENCH_STATESYNC_ACCOUNTS");
  size_t accounts = e ? (size_t)atol(e) : 1000000;
  size_t per_block = (size_t)SENDERS * PER_TX, nblocks = (accounts + per_block - 1) / per_block;
  ag_keypair senders[SENDERS];
  for (uint32_t i = 0; i < SENDERS; i++) sender_key(&senders[i], i);
  ag_genesis g;
  make_genesis(&g, senders);

  /* the blocks: each sender pays PER_TX new accounts per block */
  ag_buf *txs = calloc(nblocks * SENDERS, sizeof *txs);
  ag_transfer *to = calloc(PER_TX, sizeof *to);
  for (size_t b = 0; b < nblocks; b++)
    for (size_t s = 0; s < SENDERS; s++) {
      for (size_t j = 0; j < PER_TX; j++) {
        uint64_t idx = ((uint64_t)b * SENDERS + s) * PER_TX + j;
        ag_hash("agora/bench-ss", &idx, sizeof idx, to[j].to);
        to[j].amount = AG_UNIT + idx % 1000;
      }
      ag_buf p;
      ag_buf_init(&p);
      ag_multi_transfer_encode(&p, to, PER_TX);
      ag_buf_init(&txs[b * SENDERS + s]);
      ag_tx_build(&txs[b * SENDERS + s], AG_TX_MULTI_TRANSFER, CHAIN, &senders[s], b, 10 * AG_UNIT, 0, p.data,
                  (uint32_t)p.len);
      ag_buf_free(&p);
    }
  free(to);

  /* the node that serves: runs the blocks and writes a snapshot of the last height */
  ag_app *src = open_app("serving");
  run_chain(src, &g, txs, nblocks);
  ag_state_export *x;
  ag_state_meta meta;
  char snapdir[600];
  snprintf(snapdir, sizeof snapdir, "%s/snapshots", tmproot);
  if (ag_state_export_open(ag_app_state(src), &x, &meta) || ag_snapshot_write(x, &meta, snapdir, 1, AG_SNAPSHOT_CHUNK))
    exit(1);
  ag_state_export_close(x);
  size_t keys = ag_state_leaves(ag_app_state(src));
  ag_app_close(src);
  ag_snapshot_info *info;
  size_t ninfo;
  if (ag_snapshot_list(snapdir, &info, &ninfo) || ninfo != 1) exit(1);

  /* joining: an empty store restores the snapshot, chunk by chunk, trusting only the app hash */
  ag_app *join = open_app("joining");
  double t0 = bench_now();
  ag_restore *r;
  if (ag_restore_offer(join, info->height, info->format, info->chunks, info->metadata, info->metalen, meta.app_hash,
                       &r) != AG_OFFER_ACCEPT)
    exit(1);
  int done = 0;
  size_t bytes = 0;
  for (uint32_t i = 0; i < info->chunks; i++) {
    uint8_t *data;
    size_t len;
    int reject = 0;
    if (ag_snapshot_chunk(snapdir, info->height, i, &data, &len)) exit(1);
    bytes += len;
    int rc = ag_restore_apply(r, i, data, len, "bench", &reject, &done);
    free(data);
    if (rc != AG_APPLY_ACCEPT) {
      fprintf(stderr, "chunk %u: %d\n", i, rc);
      exit(1);
    }
  }
  double join_s = bench_now() - t0;
  ag_restore_free(r);
  ag_app_info ji;
  if (!done || ag_app_info_get(join, &ji) || memcmp(ji.app_hash, meta.app_hash, 32) != 0 || ji.height != meta.height) {
    fprintf(stderr, "the joined node is not at the served state\n");
    exit(1);
  }
  ag_app_close(join);

  /* replaying the same blocks from genesis */
  ag_app *rep = open_app("replaying");
  double replay_s = run_chain(rep, &g, txs, nblocks);
  ag_app_info ri;
  if (ag_app_info_get(rep, &ri) || memcmp(ri.app_hash, meta.app_hash, 32) != 0) exit(1);
  ag_app_close(rep);

  char note[300];
  snprintf(note, sizeof note,
           "%zu keys at height %llu: %u chunks (%.0f MB) checked and applied, tree built, root checked; app side only",
           keys, (unsigned long long)meta.height, info->chunks, bytes / 1e6);
  bench_report("statesync.join_s", join_s, "s", note);
  snprintf(note, sizeof note, "%zu blocks of %d multi-transfers x %d new accounts, from genesis", nblocks, SENDERS,
           PER_TX);
  bench_report("statesync.replay_s", replay_s, "s", note);
  bench_report("statesync.replay_vs_join", replay_s / join_s, "ratio", "how many times faster joining is");
  ag_snapshot_list_free(info, ninfo);
  ag_genesis_free(&g);
  for (size_t i = 0; i < nblocks * SENDERS; i++) ag_buf_free(&txs[i]);
  free(txs);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmproot);
  return system(cmd) ? 1 : 0;
}
