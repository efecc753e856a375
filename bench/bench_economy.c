/*
 * bench_economy.c — the economy's costs, each beside a comparison point from the same run
 * (docs/benchmarks.md):
 *   economy.voucher_verify_vs_ed25519  vouchers a miner admits per second (decode, the check
 *                             against the channel and its book, the price at the offer, the
 *                             signature) / raw ed25519 verifications per second, 1 thread
 *                             (target >= 0.8)
 *   economy.claim_vs_transfer channel claims with a royalty split into a model's vault and two
 *                             ancestors' per second through finalize_block + commit, sent as
 *                             miners send them (channel_claims of 64) / plain transfers per
 *                             second the same way (target >= 0.5)
 *   economy.single_claim_vs_transfer  the same with one channel_claim a tx (report only)
 *   economy.book_bill_10k_vs_1  a miner's bill of a paid request (the channel's record committed
 *                             before the answer leaves) with 10,000 channels in its book / with
 *                             one; beside it, the whole-book JSON rewrite that bills cost before
 *                             2026-12-06, at 10,000 channels
 */
#include "bench.h"
#include "chain/app.h"
#include "chain/json.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/par.h"
#include "core/util.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "subnets/payment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAIN "agora-bench"

static char tmproot[256];

static void key_i(ag_keypair *k, uint32_t i) {
  uint8_t seed[32] = {0};
  ag_put_u32le(seed, i);
  seed[31] = 0xec;
  ag_key_from_seed(k, seed);
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_economy: %s: %s\n", what, ag_errmsg(rc));
  exit(1);
}

/* ---- vouchers a miner checks --------------------------------------------------------------- */

static void voucher_verify(void) {
  enum { N = 20000 };
  ag_keypair client, provider;
  key_i(&client, 1);
  key_i(&provider, 2);
  ag_channel ch;
  memset(&ch, 0, sizeof ch);
  memset(ch.id, 0x5c, 32);
  memcpy(ch.client, client.pk, 32);
  memcpy(ch.signer, client.pk, 32);
  memcpy(ch.provider, provider.pk, 32);
  ch.deposit = UINT64_MAX / 2;
  ag_offer offer = {.price_in = 1000000, .price_out = 10000000, .max_tokens = 256};
  ag_buf *v = malloc(N * sizeof *v);
  for (int i = 0; i < N; i++) ag_buf_init(&v[i]);
  /* raw ed25519 over the same number of 32-byte messages */
  uint8_t msg[32] = {1}, sig[64];
  ag_sign(&client, msg, 32, sig);
  double best_raw = 0, best_v = 0;
  for (int rep = 0; rep < 3; rep++) {
    /* new vouchers every repetition (another channel): a voucher seen before would hit the
     * verified-signature cache, which a miner never does (it sees each voucher once) */
    ch.id[0] = (uint8_t)rep;
    for (int i = 0; i < N; i++) {
      ag_buf_reset(&v[i]);
      ag_voucher_sign(&v[i], CHAIN, ch.id, (uint64_t)(i + 1) * 1000000000ULL, (uint64_t)i + 1, &client);
    }
    int bad = 0;
    double t0 = bench_now();
    for (int i = 0; i < N; i++) bad += ag_verify(client.pk, msg, 32, sig) != 0;
    double raw = N / (bench_now() - t0);
    if (bad) die("raw verify", AG_E_BAD_SIGNATURE);
    char path[400];
    snprintf(path, sizeof path, "%s/paybook-%d.mdb", tmproot, rep);
    ag_paybook book;
    if (ag_paybook_open(&book, path, NULL)) die("paybook", -1);
    t0 = bench_now();
    for (int i = 0; i < N; i++) {
      ag_voucher vv;
      uint64_t most = 0, need = 0;
      int rc = ag_voucher_decode(v[i].data, v[i].len, &vv);
      if (!rc) rc = ag_offer_cost(&offer, 40, 200, &most);
      if (!rc) rc = ag_paybook_admit(&book, CHAIN, &ch, &vv, v[i].data, v[i].len, 10, most, &need);
      if (rc) die("voucher admit", rc);
      /* the reservation released as a finished request would (without the disk write) */
      pthread_mutex_lock(&book.mu);
      ag_pay_entry *e = ag_paybook_find(&book, ch.id);
      e->reserved -= most;
      e->billed += most;
      pthread_mutex_unlock(&book.mu);
    }
    double vr = N / (bench_now() - t0);
    ag_paybook_close(&book);
    if (raw > best_raw) best_raw = raw;
    if (vr > best_v) best_v = vr;
  }
  char note[200];
  snprintf(note, sizeof note, "%.0f vouchers/s vs %.0f ed25519 verifications/s, 1 thread; target >= 0.8", best_v,
           best_raw);
  bench_report("economy.voucher_verify_vs_ed25519", best_v / best_raw, "ratio", note);
  for (int i = 0; i < N; i++) ag_buf_free(&v[i]);
  free(v);
}

/* ---- a miner's book, as channels accumulate --------------------------------------------------- */

/* Seconds per bill (admit + bill of one request) on channel 0 of a book holding n channels. */
static double bill_cost(size_t n, const char *name) {
  enum { BILLS = 300 };
  ag_keypair client;
  key_i(&client, 3);
  char path[400];
  snprintf(path, sizeof path, "%s/%s.mdb", tmproot, name);
  ag_paybook book;
  int rc = ag_paybook_open(&book, path, NULL);
  if (rc) die("paybook", rc);
  ag_channel ch;
  memset(&ch, 0, sizeof ch);
  memcpy(ch.signer, client.pk, 32);
  ch.deposit = UINT64_MAX / 2;
  ag_buf raw;
  ag_buf_init(&raw);
  double t = 0;
  for (size_t i = n; i-- > 0;) { /* channel 0 last: then BILLS more on it, timed */
    ag_put_u64le(ch.id, i);
    for (int k = 0; k < (i ? 1 : BILLS); k++) {
      ag_buf_reset(&raw);
      ag_voucher_sign(&raw, CHAIN, ch.id, (uint64_t)(k + 1) * 1000, (uint64_t)k + 1, &client);
      ag_voucher v;
      uint64_t need, billed;
      double t0 = bench_now();
      if ((rc = ag_voucher_decode(raw.data, raw.len, &v)) ||
          (rc = ag_paybook_admit(&book, CHAIN, &ch, &v, raw.data, raw.len, 10, 1000, &need)) ||
          (rc = ag_paybook_bill(&book, ch.id, 1000, 1000, &billed)))
        die("bill", rc);
      if (!i) t += bench_now() - t0;
    }
  }
  ag_buf_free(&raw);
  ag_paybook_close(&book);
  return t / BILLS;
}

/* What a bill wrote before: the whole book as JSON, synced. Seconds per write at n channels. */
static double json_rewrite_cost(size_t n) {
  json_t *arr = json_array();
  char hex[2 * AG_VOUCHER_MAX + 1];
  memset(hex, 'a', 2 * 128); /* a voucher of a 13-byte chain id: 127 bytes */
  hex[2 * 128] = 0;
  uint8_t id[32] = {0};
  for (size_t i = 0; i < n; i++) {
    ag_put_u64le(id, i);
    json_t *c = json_object();
    json_object_set_new(c, "channel", ag_json_hex(id, 32));
    json_object_set_new(c, "billed", ag_json_u64s(1000000 + i));
    json_object_set_new(c, "seq", ag_json_u64s(i));
    json_object_set_new(c, "claimed", ag_json_u64s(i));
    json_object_set_new(c, "voucher", json_string(hex));
    json_array_append_new(arr, c);
  }
  char path[400];
  snprintf(path, sizeof path, "%s/book.json", tmproot);
  enum { WRITES = 10 };
  double t0 = bench_now();
  for (int k = 0; k < WRITES; k++) {
    json_t *o = json_object();
    json_object_set(o, "channels", arr);
    int rc = ag_json_write_file(path, o); /* takes o */
    if (rc) die("json book", rc);
  }
  double t = (bench_now() - t0) / WRITES;
  json_decref(arr);
  return t;
}

static void book_bill(void) {
  double one = bill_cost(1, "book1"), many = bill_cost(10000, "book10k"), old = json_rewrite_cost(10000);
  char note[240];
  snprintf(note, sizeof note, "%.3f ms per bill with 10,000 channels vs %.3f ms with one (the whole-book JSON "
           "rewrite of before: %.1f ms at 10,000)", many * 1e3, one * 1e3, old * 1e3);
  bench_report("economy.book_bill_10k_vs_1", many / one, "ratio", note);
}

/* ---- claims through the state machine ------------------------------------------------------- */

static ag_app *make_app(const char *dir, ag_keypair *keys, size_t n) {
  ag_app *app;
  int rc = ag_app_open(dir, &app);
  if (rc) die("open", rc);
  ag_incentive_attach(app);
  ag_economy_attach(app);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  ag_params_default(&g.params);
  g.params.max_block_txs = 100000;
  g.params.max_block_bytes = 64u << 20;
  g.naccounts = n;
  g.accounts = calloc(n, sizeof *g.accounts);
  for (size_t i = 0; i < n; i++) {
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = 1000000 * AG_UNIT;
  }
  g.modules = strdup("{\"incentive\":{\"block_reward\":\"0\"}}");
  ag_genesis_rehash(&g);
  uint8_t h[32];
  if ((rc = ag_app_init_chain(app, &g, h))) die("init_chain", rc);
  ag_genesis_free(&g);
  ag_app_set_threads(app, ag_ncpu());
  return app;
}

/* Runs txs in blocks of per_block; returns the seconds spent in finalize_block + commit. */
static double run_blocks(ag_app *app, ag_buf *txs, size_t n, size_t per_block) {
  const uint8_t **p = malloc(per_block * sizeof *p);
  uint32_t *l = malloc(per_block * sizeof *l);
  ag_result *r = malloc(per_block * sizeof *r);
  double secs = 0;
  for (size_t b = 0; b < n; b += per_block) {
    size_t k = n - b < per_block ? n - b : per_block;
    for (size_t i = 0; i < k; i++) {
      p[i] = txs[b + i].data;
      l[i] = (uint32_t)txs[b + i].len;
    }
    ag_app_info info;
    ag_app_info_get(app, &info);
    ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
    uint8_t root[32];
    double t0 = bench_now();
    int rc = ag_app_finalize_block(app, &ctx, p, l, k, r, root);
    if (!rc) rc = ag_app_commit(app, NULL, 0, NULL);
    secs += bench_now() - t0;
    if (rc) die("block", rc);
    for (size_t i = 0; i < k; i++)
      if (r[i].code) die(r[i].log, r[i].code);
  }
  free(p);
  free(l);
  free(r);
  return secs;
}

static void build_tx(ag_buf *tx, uint16_t kind, const ag_keypair *k, uint64_t nonce, const ag_buf *p) {
  uint64_t fee;
  if (ag_tx_min_fee(1000, 10, kind, p->data, p->len, ag_tx_size(strlen(CHAIN), p->len), &fee)) die("fee", AG_E_OVERFLOW);
  ag_buf_init(tx);
  ag_tx_build(tx, kind, CHAIN, k, nonce, fee < 100000 ? 100000 : fee, 0, p->data, (uint32_t)p->len);
}

enum { NPROV = 50 };

/* A chain with a model (10% royalty, two ancestors) and a channel from every client to every
 * provider (not timed); the channel ids into ids[c * NPROV + q]. */
static ag_app *claims_chain(const char *name, ag_keypair *keys, size_t nclients, uint8_t (*ids)[32]) {
  size_t nacct = nclients + NPROV + 1, per_block = 2000;
  const ag_keypair *owner = &keys[nacct - 1];
  char dir[400];
  snprintf(dir, sizeof dir, "%s/%s", tmproot, name);
  ag_app *app = make_app(dir, keys, nacct);
  uint8_t base[32], ds[32], model[32], par[2][32];
  uint16_t bps[2] = {500, 300};
  memset(base, 0xb1, 32);
  memset(ds, 0xd1, 32);
  memset(model, 0xa1, 32);
  memcpy(par[0], base, 32);
  memcpy(par[1], ds, 32);
  ag_buf p, setup[3];
  ag_buf_init(&p);
  ag_payload_asset_register(&p, AG_ASSET_MODEL, base, 0, 1000, NULL, NULL, 0);
  build_tx(&setup[0], AG_TX_ASSET_REGISTER, owner, 0, &p);
  ag_buf_reset(&p);
  ag_payload_asset_register(&p, AG_ASSET_DATASET, ds, 0, 1000, NULL, NULL, 0);
  build_tx(&setup[1], AG_TX_ASSET_REGISTER, owner, 1, &p);
  ag_buf_reset(&p);
  ag_payload_asset_register(&p, AG_ASSET_MODEL, model, 1000, 1000, (const uint8_t(*)[32])par, bps, 2);
  build_tx(&setup[2], AG_TX_ASSET_REGISTER, owner, 2, &p);
  for (int i = 0; i < 3; i++) run_blocks(app, &setup[i], 1, 1), ag_buf_free(&setup[i]);
  size_t n = nclients * NPROV;
  ag_buf *txs = malloc(n * sizeof *txs);
  for (size_t c = 0; c < nclients; c++)
    for (size_t q = 0; q < NPROV; q++) {
      size_t i = c * NPROV + q;
      ag_buf_reset(&p);
      ag_payload_channel_open(&p, keys[nclients + q].pk, NULL, model, AG_UNIT, 10, 0);
      ag_channel_id(CHAIN, keys[c].pk, q, ids[i]);
      build_tx(&txs[i], AG_TX_CHANNEL_OPEN, &keys[c], q, &p);
    }
  run_blocks(app, txs, n, per_block);
  for (size_t i = 0; i < n; i++) ag_buf_free(&txs[i]);
  free(txs);
  ag_buf_free(&p);
  return app;
}

static void royalties_paid(ag_app *app) {
  uint8_t model[32];
  memset(model, 0xa1, 32);
  ag_asset a;
  if (ag_asset_load(ag_app_state(app), NULL, model, &a) || !a.income) die("royalties", AG_E_INTERNAL);
}

/* Seconds for every client's voucher redeemed by its provider: one channel_claim each, or
 * (per_tx > 1) channel_claims of per_tx vouchers, as miners send them. */
static double claims_time(ag_keypair *keys, size_t nclients, size_t per_tx) {
  size_t n = nclients * NPROV, per_block = 2000;
  uint8_t (*ids)[32] = malloc(n * 32);
  ag_app *app = claims_chain(per_tx > 1 ? "claims-batched" : "claims", keys, nclients, ids);
  ag_buf *v = malloc(n * sizeof *v), *txs = malloc(n * sizeof *txs), p;
  ag_buf_init(&p);
  for (size_t c = 0; c < nclients; c++)
    for (size_t q = 0; q < NPROV; q++) {
      size_t i = c * NPROV + q;
      ag_buf_init(&v[i]);
      /* amounts of their own in each run: the process-wide cache of verified voucher
       * signatures must not carry one run's checks into the next */
      ag_voucher_sign(&v[i], CHAIN, ids[i], AG_UNIT / 2 + c + per_tx, 1, &keys[c]);
    }
  size_t ntx = 0;
  if (per_tx <= 1) { /* provider q redeems a voucher of every client, nonce by nonce */
    for (size_t c = 0; c < nclients; c++)
      for (size_t q = 0; q < NPROV; q++) {
        size_t i = c * NPROV + q;
        ag_buf_reset(&p);
        ag_payload_channel_claim(&p, 0, 0, v[i].data, v[i].len);
        build_tx(&txs[ntx++], AG_TX_CHANNEL_CLAIM, &keys[nclients + q], c, &p);
      }
  } else { /* provider q redeems per_tx clients' vouchers a tx */
    const uint8_t **vp = malloc(per_tx * sizeof *vp);
    size_t *vl = malloc(per_tx * sizeof *vl);
    uint64_t nonce[NPROV] = {0};
    for (size_t c0 = 0; c0 < nclients; c0 += per_tx)
      for (size_t q = 0; q < NPROV; q++) {
        size_t k = nclients - c0 < per_tx ? nclients - c0 : per_tx;
        for (size_t j = 0; j < k; j++) {
          vp[j] = v[(c0 + j) * NPROV + q].data;
          vl[j] = v[(c0 + j) * NPROV + q].len;
        }
        ag_buf_reset(&p);
        ag_payload_channel_claims(&p, k, NULL, NULL, vp, vl);
        build_tx(&txs[ntx++], AG_TX_CHANNEL_CLAIMS, &keys[nclients + q], nonce[q]++, &p);
      }
    free(vp);
    free(vl);
    per_block /= per_tx;
  }
  double secs = run_blocks(app, txs, ntx, per_block);
  royalties_paid(app);
  for (size_t i = 0; i < n; i++) ag_buf_free(&v[i]);
  for (size_t i = 0; i < ntx; i++) ag_buf_free(&txs[i]);
  ag_buf_free(&p);
  free(v);
  free(txs);
  free(ids);
  ag_app_close(app);
  return secs;
}

static void claim_vs_transfer(size_t nclaims) {
  size_t nclients = nclaims / NPROV; /* each client: one channel to each provider */
  if (nclients < 2) nclients = 2;
  size_t nacct = nclients + NPROV + 1, per_block = 2000, n = nclients * NPROV;
  ag_keypair *keys = malloc(nacct * sizeof *keys);
  for (size_t i = 0; i < nacct; i++) key_i(&keys[i], (uint32_t)(100 + i));
  double single_s = claims_time(keys, nclients, 1), batched_s = claims_time(keys, nclients, 64);
  /* the same number of plain transfers, from the same shape of senders */
  char dir[400];
  snprintf(dir, sizeof dir, "%s/transfers", tmproot);
  ag_app *app = make_app(dir, keys, nacct);
  ag_buf *txs = malloc(n * sizeof *txs), p;
  ag_buf_init(&p);
  for (size_t c = 0; c < nclients; c++)
    for (size_t q = 0; q < NPROV; q++) {
      size_t i = c * NPROV + q;
      ag_buf_reset(&p);
      ag_transfer_encode(&p, keys[(c + q + 1) % nacct].pk, AG_UNIT / 2 + c);
      build_tx(&txs[i], AG_TX_TRANSFER, &keys[nclients + q], c, &p);
    }
  double transfer_s = run_blocks(app, txs, n, per_block);
  for (size_t i = 0; i < n; i++) ag_buf_free(&txs[i]);
  ag_app_close(app);
  ag_buf_free(&p);
  char note[300];
  snprintf(note, sizeof note, "%.0f claims/s in channel_claims of 64, as miners send them (10%% royalty to a model's vault and two ancestors') vs %.0f transfers/s, %zu txs' worth in blocks of %zu, %d threads; target >= 0.5",
           n / batched_s, n / transfer_s, n, per_block, ag_ncpu());
  bench_report("economy.claim_vs_transfer", transfer_s / batched_s, "ratio", note);
  snprintf(note, sizeof note, "%.0f claims/s one channel_claim a tx (two signatures each) vs the same %.0f transfers/s; report only",
           n / single_s, n / transfer_s);
  bench_report("economy.single_claim_vs_transfer", transfer_s / single_s, "ratio", note);
  free(txs);
  free(keys);
}

int main(void) {
  ag_crypto_init();
  snprintf(tmproot, sizeof tmproot, "/tmp/agora-bench-economy-%d", (int)getpid());
  char cmd[400];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmproot);
  if (system(cmd)) return 1;
  voucher_verify();
  book_bill();
  const char *e = getenv("BENCH_CLAIMS");
  claim_vs_transfer(e ? (size_t)atol(e) : 20000);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
  if (system(cmd)) {
  }
  return 0;
}
