/*
 * bench_incentive.c — yuma.set_weights_tps: set_weights transactions with 256 entries each,
 * applied per second through finalize_block + commit on a subnet of 256 neurons, beside the
 * raw signature checks of the same transactions (both cores) measured in the same run.
 */
#include "bench.h"
#include "chain/app.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/par.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAIN "agora-bench"
#define N 256

static ag_keypair ck[N], hk[N];

static void key_i(ag_keypair *k, uint32_t i) {
  uint8_t seed[32] = {0};
  ag_put_u32le(seed, i);
  seed[31] = 0x77;
  ag_key_from_seed(k, seed);
}

static int run_block(ag_app *app, ag_buf *txs, size_t n) {
  ag_app_info info;
  ag_app_info_get(app, &info);
  const uint8_t **p = malloc((n + 1) * sizeof *p);
  uint32_t *l = malloc((n + 1) * sizeof *l);
  ag_result *r = malloc((n + 1) * sizeof *r);
  for (size_t i = 0; i < n; i++) {
    p[i] = txs[i].data;
    l[i] = (uint32_t)txs[i].len;
  }
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  uint8_t root[32];
  int rc = ag_app_finalize_block(app, &ctx, p, l, n, r, root);
  if (!rc) rc = ag_app_commit(app, NULL, 0, NULL);
  for (size_t i = 0; !rc && i < n; i++)
    if (r[i].code) {
      fprintf(stderr, "tx %zu: %s\n", i, r[i].log);
      rc = r[i].code;
    }
  free(p);
  free(l);
  free(r);
  return rc;
}

typedef struct {
  ag_tx *tx;
  atomic_int bad;
} vctx;

static void verify_range(void *arg, size_t b, size_t e) {
  vctx *c = arg;
  for (size_t i = b; i < e; i++)
    if (ag_tx_verify(&c->tx[i])) atomic_fetch_add(&c->bad, 1);
}

int main(void) {
  ag_crypto_init();
  char dir[] = "/tmp/agora-bench-inc-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  ag_app *app;
  if (ag_app_open(dir, &app)) return 1;
  ag_incentive_attach(app);
  for (int i = 0; i < N; i++) {
    key_i(&ck[i], (uint32_t)i);
    key_i(&hk[i], 10000u + (uint32_t)i);
  }
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  ag_params_default(&g.params);
  g.naccounts = 2 * N;
  g.accounts = calloc(2 * N, sizeof *g.accounts);
  for (int i = 0; i < N; i++) {
    memcpy(g.accounts[2 * i].pk, ck[i].pk, 32);
    g.accounts[2 * i].balance = 100000 * AG_UNIT;
    memcpy(g.accounts[2 * i + 1].pk, hk[i].pk, 32);
    g.accounts[2 * i + 1].balance = 100000 * AG_UNIT;
  }
  char owner[AG_ADDR_MAX], mods[1024];
  ag_addr_encode(ck[0].pk, owner);
  snprintf(mods, sizeof mods,
           "{\"incentive\":{\"burn_initial\":\"1000000000\",\"burn_min\":\"1000000000\",\"burn_max\":\"1000000000\","
           "\"subnets\":[{\"name\":\"bench\",\"owner\":\"%s\",\"hyperparams\":{\"tempo\":1000,\"commit_reveal\":0,"
           "\"weights_rate_limit\":0,\"max_uids\":%d,\"max_validators\":%d,\"immunity_period\":100000}}]}}",
           owner, N, N);
  g.modules = strdup(mods);
  ag_genesis_rehash(&g);
  uint8_t h[32];
  if (ag_app_init_chain(app, &g, h)) return 1;
  ag_genesis_free(&g);
  /* register and stake all 256 in two blocks, then one epoch for permits */
  ag_buf *txs = calloc(N, sizeof *txs);
  for (int i = 0; i < N; i++) {
    uint8_t claim[32], sig[64];
    ag_hotkey_claim_hash(CHAIN, ck[i].pk, hk[i].pk, claim);
    ag_sign(&hk[i], claim, 32, sig);
    ag_buf p;
    ag_buf_init(&p);
    ag_buf_put_u16le(&p, 1);
    ag_buf_put(&p, hk[i].pk, 32);
    ag_buf_put_u64le(&p, 10 * AG_UNIT);
    ag_buf_put(&p, sig, 64);
    ag_buf_init(&txs[i]);
    ag_tx_build(&txs[i], AG_TX_REGISTER, CHAIN, &ck[i], 0, 1000000, 0, p.data, (uint32_t)p.len);
    ag_buf_free(&p);
  }
  if (run_block(app, txs, N)) return 1;
  for (int i = 0; i < N; i++) {
    ag_buf p;
    ag_buf_init(&p);
    ag_buf_put(&p, hk[i].pk, 32);
    ag_buf_put_u64le(&p, (uint64_t)(1 + i) * AG_UNIT);
    ag_buf_reset(&txs[i]);
    ag_tx_build(&txs[i], AG_TX_STAKE_ADD, CHAIN, &ck[i], 1, 1000000, 0, p.data, (uint32_t)p.len);
    ag_buf_free(&p);
  }
  if (run_block(app, txs, N)) return 1;
  /* the owner sets tempo 1 for one epoch (permits by stake), then a long tempo again */
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, 5);
  ag_buf_puts(&p, "tempo");
  ag_buf_put_u64le(&p, 1);
  ag_buf_reset(&txs[0]);
  ag_tx_build(&txs[0], AG_TX_SUBNET_SET, CHAIN, &ck[0], 2, 1000000, 0, p.data, (uint32_t)p.len);
  if (run_block(app, txs, 1) || run_block(app, NULL, 0)) return 1;
  ag_buf_reset(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, 5);
  ag_buf_puts(&p, "tempo");
  ag_buf_put_u64le(&p, 50000);
  ag_buf_reset(&txs[0]);
  ag_tx_build(&txs[0], AG_TX_SUBNET_SET, CHAIN, &ck[0], 3, 1000000, 0, p.data, (uint32_t)p.len);
  if (run_block(app, txs, 1)) return 1;
  ag_buf_free(&p);
  /* the measured blocks: every validator sets a full row, 8 blocks */
  enum { BLOCKS = 8 };
  size_t total = (size_t)BLOCKS * N;
  ag_buf *wt = calloc(total, sizeof *wt);
  uint16_t uids[N], w[N];
  for (int j = 0; j < N; j++) uids[j] = (uint16_t)j;
  for (size_t t = 0; t < total; t++) {
    int v = (int)(t % N);
    for (int j = 0; j < N; j++) w[j] = (uint16_t)(1 + (t * 7 + (size_t)j * 13) % 60000);
    ag_buf pl;
    ag_buf_init(&pl);
    ag_payload_weights(&pl, 1, 0, uids, w, N, NULL);
    ag_buf_init(&wt[t]);
    ag_tx_build(&wt[t], AG_TX_SET_WEIGHTS, CHAIN, &hk[v], t / N, 10000000, 0, pl.data, (uint32_t)pl.len);
    ag_buf_free(&pl);
  }
  ag_tx *dec = malloc(total * sizeof *dec);
  for (size_t t = 0; t < total; t++) ag_tx_decode(wt[t].data, wt[t].len, &dec[t]);
  vctx vc = {dec, 0};
  double t0 = bench_now();
  ag_par_for(total, ag_ncpu(), 64, verify_range, &vc);
  double sig_rate = (double)total / (bench_now() - t0);
  t0 = bench_now();
  for (int b = 0; b < BLOCKS; b++)
    if (run_block(app, wt + (size_t)b * N, N)) return 1;
  double rate = (double)total / (bench_now() - t0);
  char note[200];
  snprintf(note, sizeof note, "%d-entry rows, %d validators, %d blocks; = %.2f x raw sigverify of the same txs (%.0f/s)",
           N, N, BLOCKS, rate / sig_rate, sig_rate);
  bench_report("yuma.set_weights_tps", rate, "tx/s", note);
  ag_app_close(app);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) ? 1 : 0;
}
