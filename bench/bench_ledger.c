/*
 * bench_ledger.c — ledger throughput and costs (docs/benchmarks.md):
 *   ledger.sigverify_per_s      raw ed25519 verifications per second on all cores
 *   ledger.apply_tps            signed transfers through finalize_block + commit per second
 *                               (signature checks, state tree, LMDB commit included)
 *   ledger.apply_vs_sigverify   the ratio of the two (target >= 0.6)
 *   ledger.root_update_us_per_key  state-root update per changed key, beside one BLAKE2b
 *   ledger.mempool_persist_cost api_submit_tps with pending txs kept on disk (the default) over
 *                               the same run with "mempool": {"persist": false}
 *   ledger.api_submit_tps       transfers accepted per second through the HTTP API by a
 *                               separate client process (target >= 5000)
 *   ledger.state_1m_*           memory and disk with 1M accounts, beside the raw data size
 *   ledger.state_10m_*          a 10M-account state (built by a helper process): peak RSS of the
 *                               process that opens it and applies blocks under the default memory
 *                               budget, its disk, and apply_vs_sigverify on it (target >= 0.6)
 * Environment: BENCH_TXS (default 100000), BENCH_ACCOUNTS_1M (default 1000000),
 * BENCH_ACCOUNTS_10M (default 10000000; 0 skips it). For the 10M figures: BENCH_10M_SEED=DIR keeps
 * the built state, BENCH_VERBOSE=1 prints each block, BENCH_STATE_VERSIONS, BENCH_STATE_MEMORY_MB and
 * BENCH_HISTORY=0|1 override the state's settings.
 */
#include "api/http.h"
#include "bench.h"
#include "bench_node.h"
#include "chain/app.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/par.h"
#include "core/util.h"
#include "crypto/keystore.h"

#include <fcntl.h>
#include <pthread.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHAIN "agora-bench"

static char tmproot[256];

static void key_i(ag_keypair *k, uint32_t i) {
  uint8_t seed[32] = {0};
  ag_put_u32le(seed, i);
  seed[31] = 0xbe;
  ag_key_from_seed(k, seed);
}

static ag_app *make_app(const char *dir, ag_keypair *keys, size_t nacct) {
  ag_app *app;
  if (ag_app_open(dir, &app)) {
    fprintf(stderr, "open %s: %s\n", dir, ag_errmsg(-1));
    exit(1);
  }
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  ag_params_default(&g.params);
  g.params.max_block_txs = 100000;
  g.params.max_block_bytes = 64u << 20;
  g.naccounts = nacct;
  g.accounts = calloc(nacct, sizeof *g.accounts);
  for (size_t i = 0; i < nacct; i++) {
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = 1000000 * AG_UNIT;
  }
  ag_genesis_rehash(&g);
  uint8_t h[32];
  if (ag_app_init_chain(app, &g, h)) exit(1);
  ag_genesis_free(&g);
  return app;
}

typedef struct {
  ag_keypair *keys;
  size_t nacct;
  ag_buf *txs;
  size_t per_block;
} gen_ctx;

static void gen_range(void *arg, size_t b, size_t e) {
  gen_ctx *c = arg;
  for (size_t i = b; i < e; i++) {
    size_t from = i % c->nacct, to = (i * 7919 + 13) % c->nacct;
    uint64_t nonce = i / c->nacct;
    ag_buf p;
    ag_buf_init(&p);
    ag_transfer_encode(&p, c->keys[to].pk, 1 + i % 1000);
    ag_buf_init(&c->txs[i]);
    ag_tx_build(&c->txs[i], AG_TX_TRANSFER, CHAIN, &c->keys[from], nonce, 100000, 0, p.data,
                (uint32_t)p.len);
    ag_buf_free(&p);
  }
}

typedef struct {
  ag_tx *tx;
  atomic_int bad;
} verify_ctx;

static void verify_range(void *arg, size_t b, size_t e) {
  verify_ctx *c = arg;
  for (size_t i = b; i < e; i++)
    if (ag_tx_verify(&c->tx[i])) atomic_fetch_add(&c->bad, 1);
}

/* Applies txs (block k = nonce k of every sender) to a new chain in dir; tx/s of finalize+commit. */
static double apply_all(const char *dir, ag_keypair *keys, size_t nacct, ag_buf *txs, size_t ntx, int threads,
                        int history) {
  ag_app *app = make_app(dir, keys, nacct);
  ag_app_set_threads(app, threads);
  ag_app_set_history(app, history);
  const uint8_t **ptr = malloc(nacct * sizeof *ptr);
  uint32_t *lens = malloc(nacct * sizeof *lens);
  ag_result *res = malloc(nacct * sizeof *res);
  size_t nblocks = ntx / nacct, okc = 0;
  double apply_s = 0;
  for (size_t b = 0; b < nblocks; b++) {
    for (size_t i = 0; i < nacct; i++) {
      ptr[i] = txs[b * nacct + i].data;
      lens[i] = (uint32_t)txs[b * nacct + i].len;
    }
    ag_block_ctx ctx = {b + 1, 1700000000000ULL + b * 1000, {0}};
    uint8_t root[32];
    double s = bench_now();
    if (ag_app_finalize_block(app, &ctx, ptr, lens, nacct, res, root) ||
        ag_app_commit(app, NULL, 0, NULL)) {
      fprintf(stderr, "block failed: %s\n", ag_errmsg(-1));
      exit(1);
    }
    apply_s += bench_now() - s;
    for (size_t i = 0; i < nacct; i++) okc += res[i].code == 0;
  }
  if (okc != ntx) {
    fprintf(stderr, "bench_apply: %zu of %zu txs applied\n", okc, ntx);
    exit(1);
  }
  ag_app_close(app);
  free(ptr);
  free(lens);
  free(res);
  return (double)ntx / apply_s;
}

static void bench_apply(size_t ntx) {
  size_t nacct = ntx / 10; /* each sender sends 10 txs: many distinct senders */
  int threads = ag_ncpu();
  ag_keypair *keys = malloc(nacct * sizeof *keys);
  for (size_t i = 0; i < nacct; i++) key_i(&keys[i], (uint32_t)i);
  ag_buf *txs = malloc(ntx * sizeof *txs);
  /* txs ordered so that block k holds nonce k of every sender */
  gen_ctx gc = {keys, nacct, txs, nacct};
  ag_par_for(ntx, threads, 256, gen_range, &gc);

  /* raw signature checks over exactly these txs, all cores */
  ag_tx *dec = malloc(ntx * sizeof *dec);
  for (size_t i = 0; i < ntx; i++) ag_tx_decode(txs[i].data, txs[i].len, &dec[i]);
  verify_ctx vc = {dec, 0};
  double t0 = bench_now();
  ag_par_for(ntx, threads, 256, verify_range, &vc);
  double sig_s = bench_now() - t0;
  double sig_rate = (double)ntx / sig_s;

  /* the same blocks into two fresh chains: with the history indexes (the default) and without */
  double rate[2];
  for (int hist = 1; hist >= 0; hist--) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/apply%d", tmproot, hist);
    rate[hist] = apply_all(dir, keys, nacct, txs, ntx, threads, hist);
  }
  double apply_rate = rate[1];
  char note[160];
  snprintf(note, sizeof note, "%d threads, %zu txs from %zu senders", threads, ntx, nacct);
  bench_report("ledger.sigverify_per_s", sig_rate, "verify/s", note);
  snprintf(note, sizeof note, "%zu blocks of %zu transfers, %d threads, history indexes on", ntx / nacct, nacct, threads);
  bench_report("ledger.apply_tps", apply_rate, "tx/s", note);
  bench_report("ledger.apply_vs_sigverify", apply_rate / sig_rate, "ratio", "target >= 0.6");
  snprintf(note, sizeof note, "the same blocks with \"history\": false: %.0f tx/s", rate[0]);
  bench_report("ledger.history_cost", rate[1] / rate[0], "ratio", note);
  if (vc.bad) exit(1);

  for (size_t i = 0; i < ntx; i++) ag_buf_free(&txs[i]);
  free(txs);
  free(dec);
  free(keys);
}

/* ---- API submission from a separate process --------------------------------------------- */

static double api_run(size_t ntx, int persist, size_t *ok) {
  char home[512], addr[128], cfg[600];
  snprintf(home, sizeof home, "%s/apihome%d", tmproot, persist);
  size_t nacct = 200;
  bench_node_init(home, nacct);
  if (!persist) { /* the same config, pending txs not kept on disk */
    snprintf(cfg, sizeof cfg, "%s/config.json", home);
    uint8_t *d;
    size_t len;
    if (ag_read_file(cfg, 4096, &d, &len) == 0) {
      char conf[4200], *at = strstr((char *)d, "\"max_per_sender\":100000}");
      if (at) {
        at[strlen("\"max_per_sender\":100000")] = 0;
        snprintf(conf, sizeof conf, "%s,\"persist\":false}%s", (char *)d, at + strlen("\"max_per_sender\":100000") + 1);
        ag_write_file_atomic(cfg, conf, strlen(conf), 0644);
      }
      free(d);
    }
  }
  pid_t node = bench_node_start(home, addr);
  double rate = bench_submit(home, addr, nacct, ntx, ok);
  bench_node_stop(node);
  return rate;
}

static void bench_api(size_t ntx) {
  size_t ok = 0, ok0 = 0;
  double rate = api_run(ntx, 1, &ok), rate0 = api_run(ntx, 0, &ok0);
  char note[200];
  snprintf(note, sizeof note, "%zu of %zu accepted, 4 keep-alive connections; target >= 5000", ok, ntx);
  bench_report("ledger.api_submit_tps", rate, "tx/s", note);
  snprintf(note, sizeof note, "the same submissions with the mempool not kept on disk (\"persist\": false): %.0f tx/s, %zu accepted",
           rate0, ok0);
  bench_report("ledger.mempool_persist_cost", rate / rate0, "ratio", note);
}

/* ---- 1M accounts ------------------------------------------------------------------------- */

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
  if (f) fclose(f);
  return v;
}

static void bench_million(size_t n) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/million", tmproot);
  long rss0 = rss_kb();
  ag_app *app;
  if (ag_app_open(dir, &app)) exit(1);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  ag_params_default(&g.params);
  g.naccounts = n;
  g.accounts = calloc(n, sizeof *g.accounts);
  for (size_t i = 0; i < n; i++) {
    ag_hash("agora/bench", &i, sizeof i, g.accounts[i].pk); /* distinct keys, no keygen cost */
    g.accounts[i].balance = 1 + i;
  }
  ag_genesis_rehash(&g);
  uint8_t h[32];
  double t0 = bench_now();
  if (ag_app_init_chain(app, &g, h)) exit(1);
  double build = bench_now() - t0;
  ag_genesis_free(&g);
  ag_app_close(app);
  /* reopen: what a restarting node pays (the tree is on disk: nothing is rebuilt) */
  t0 = bench_now();
  if (ag_app_open(dir, &app)) exit(1);
  double reopen = bench_now() - t0;
  long rss = rss_kb() - rss0;
  ag_state *st = ag_app_state(app);
  double raw = (double)n * (33 + 16);
  /* Root update cost per changed key: 10,000 accounts of the big state change in one block
   * (the cost a block pays on top of execution), beside plain BLAKE2b-256 of 64 bytes. */
  size_t nk = n < 10000 ? n : 10000;
  for (size_t i = 0; i < nk; i++) {
    size_t idx = (i * 2654435761u) % n;
    uint8_t pk[32];
    ag_hash("agora/bench", &idx, sizeof idx, pk);
    ag_account a = {7 + i, 1};
    ag_account_store(st, pk, &a);
  }
  uint8_t root[32];
  t0 = bench_now();
  if (ag_state_apply(st, ag_ncpu(), root)) exit(1);
  double upd = bench_now() - t0;
  ag_state_discard(st);
  uint8_t hh[32], in[64] = {0};
  size_t reps = 200000;
  t0 = bench_now();
  for (size_t i = 0; i < reps; i++) {
    in[0] = (uint8_t)i;
    ag_hash("agora/bench", in, 64, hh);
  }
  double hash_us = (bench_now() - t0) / (double)reps * 1e6;
  double per_key = upd / (double)nk * 1e6;
  char note0[200];
  snprintf(note0, sizeof note0, "= %.1f x BLAKE2b-256 of 64 B (%.3f us); %zu keys changed in a %zu-key tree, %d threads",
           per_key / hash_us, hash_us, nk, n, ag_ncpu());
  bench_report("ledger.root_update_us_per_key", per_key, "us", note0);
  char note[200];
  snprintf(note, sizeof note, "tree pages %.0f MB on disk; raw key+value data %.0f MB; restart %.2f s",
           (double)ag_state_tree_bytes(st) / 1e6, raw / 1e6, reopen);
  bench_report("ledger.state_1m_memory_mb", (double)rss / 1024.0, "MB", note);
  snprintf(note, sizeof note, "= %.1fx the raw data; genesis write %.1f s",
           (double)ag_state_disk_bytes(st) / raw, build);
  bench_report("ledger.state_1m_disk_mb", (double)ag_state_disk_bytes(st) / 1e6, "MB", note);
  ag_app_close(app);
}

/* ---- 10M accounts ------------------------------------------------------------------------ */

static void big_key(size_t i, uint8_t pk[32]) { ag_hash("agora/bench10m", &i, sizeof i, pk); }

static long status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = 0;
  size_t fl = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl)) v = atol(line + fl);
  if (f) fclose(f);
  return v;
}

/* The helper: a chain whose genesis funds the senders, then n more accounts written in blocks
 * of 500,000 keys straight through the state (no txs: this is the state a long-lived chain
 * would have, made fast). Runs in its own process, so none of its memory is measured. */
static void big_build(const char *dir, ag_keypair *senders, size_t ns, size_t n) {
  ag_app *app = make_app(dir, senders, ns);
  ag_state *st = ag_app_state(app);
  const char *ev = getenv("BENCH_STATE_VERSIONS");
  if (ev) ag_state_set_versions(st, (uint64_t)atol(ev));
  ag_state_meta meta;
  ag_state_meta_get(st, &meta);
  uint64_t issued_add = 0;
  for (size_t b = 0; b < n; b += 500000) {
    size_t e = b + 500000 < n ? b + 500000 : n;
    for (size_t i = b; i < e; i++) {
      uint8_t pk[32];
      big_key(i, pk);
      ag_account a = {AG_UNIT + i % 1000, 0};
      ag_account_store(st, pk, &a);
      issued_add += a.balance;
    }
    uint8_t v[16];
    size_t vl;
    if (ag_state_get(st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), v, sizeof v, &vl) || vl != 16) exit(1);
    ag_put_u64le(v, ag_get_u64le(v) + issued_add);
    issued_add = 0;
    ag_state_put(st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), v, sizeof v);
    meta.height++;
    meta.time_ms += 1000;
    if (ag_state_apply(st, ag_ncpu(), meta.app_hash) || ag_state_commit(st, &meta, NULL, 0, NULL, 0)) {
      fprintf(stderr, "building the 10M state: %s\n", ag_errmsg(-1));
      exit(1);
    }
    fprintf(stderr, "\r%zu accounts", e);
  }
  fprintf(stderr, "\n");
  ag_app_close(app);
}

typedef struct {
  double sig_rate, apply_rate, open_s, finalize_s, commit_s;
  long hwm_kb, anon_kb, file_kb;
  uint64_t disk, tree;
} big_result;

/* The measured process: signature checks of the blocks' txs alone, then the same txs applied
 * to the big state by finalize_block + commit (recipients spread over all its accounts). */
static void big_apply(const char *dir, ag_keypair *senders, size_t ns, size_t n, size_t nblocks, big_result *out) {
  size_t ntx = ns * nblocks;
  ag_buf *txs = calloc(ntx, sizeof *txs);
  for (size_t i = 0; i < ntx; i++) {
    size_t from = i % ns, to = (i * 2654435761u + 17) % n;
    uint8_t pk[32];
    big_key(to, pk);
    ag_buf p;
    ag_buf_init(&p);
    ag_transfer_encode(&p, pk, 1 + i % 1000);
    ag_tx_build(&txs[i], AG_TX_TRANSFER, CHAIN, &senders[from], i / ns, 100000, 0, p.data, (uint32_t)p.len);
    ag_buf_free(&p);
  }
  ag_tx *dec = malloc(ntx * sizeof *dec);
  for (size_t i = 0; i < ntx; i++) ag_tx_decode(txs[i].data, txs[i].len, &dec[i]);
  verify_ctx vc = {dec, 0};
  out->finalize_s = out->commit_s = 0;
  double t0 = bench_now();
  ag_par_for(ntx, ag_ncpu(), 256, verify_range, &vc);
  out->sig_rate = (double)ntx / (bench_now() - t0);
  free(dec);
  t0 = bench_now();
  ag_app *app;
  int orc = ag_app_open(dir, &app);
  if (orc) {
    fprintf(stderr, "opening the 10M state: %s\n", ag_errmsg(orc));
    exit(1);
  }
  out->open_s = bench_now() - t0;
  if (getenv("BENCH_VERBOSE"))
    fprintf(stderr, "opened: HWM %ld MB, anon %ld MB, file %ld MB\n", status_kb("VmHWM:") / 1024,
            status_kb("RssAnon:") / 1024, status_kb("RssFile:") / 1024);
  ag_app_set_threads(app, ag_ncpu());
  const char *ev = getenv("BENCH_STATE_VERSIONS"), *eb = getenv("BENCH_STATE_MEMORY_MB");
  if (ev) ag_state_set_versions(ag_app_state(app), (uint64_t)atol(ev));
  if (eb) ag_state_set_memory_budget(ag_app_state(app), (size_t)atol(eb) << 20);
  if (getenv("BENCH_HISTORY")) ag_app_set_history(app, atoi(getenv("BENCH_HISTORY")));
  ag_state_meta meta;
  ag_state_meta_get(ag_app_state(app), &meta);
  const uint8_t **ptr = malloc(ns * sizeof *ptr);
  uint32_t *lens = malloc(ns * sizeof *lens);
  ag_result *res = malloc(ns * sizeof *res);
  double apply_s = 0;
  size_t okc = 0;
  for (size_t b = 0; b < nblocks; b++) {
    for (size_t i = 0; i < ns; i++) {
      ptr[i] = txs[b * ns + i].data;
      lens[i] = (uint32_t)txs[b * ns + i].len;
    }
    ag_block_ctx ctx = {meta.height + 1 + b, meta.time_ms + 1000 * (b + 1), {0}};
    uint8_t root[32];
    double s = bench_now();
    if (ag_app_finalize_block(app, &ctx, ptr, lens, ns, res, root)) exit(1);
    double f = bench_now();
    if (getenv("BENCH_VERBOSE"))
      fprintf(stderr, "block %zu finalized: HWM %ld MB, anon %ld MB, file %ld MB\n", b, status_kb("VmHWM:") / 1024,
              status_kb("RssAnon:") / 1024, status_kb("RssFile:") / 1024);
    if (ag_app_commit(app, NULL, 0, NULL)) {
      fprintf(stderr, "block failed: %s\n", ag_errmsg(-1));
      exit(1);
    }
    apply_s += bench_now() - s;
    out->finalize_s += f - s;
    out->commit_s += bench_now() - f;
    if (getenv("BENCH_VERBOSE"))
      fprintf(stderr, "block %zu: finalize %.2f s commit %.2f s, HWM %ld MB, anon %ld MB, file %ld MB\n", b, f - s,
              bench_now() - f, status_kb("VmHWM:") / 1024, status_kb("RssAnon:") / 1024, status_kb("RssFile:") / 1024);
    for (size_t i = 0; i < ns; i++) okc += res[i].code == 0;
  }
  if (okc != ntx) {
    fprintf(stderr, "bench 10m: %zu of %zu txs applied\n", okc, ntx);
    exit(1);
  }
  out->apply_rate = (double)ntx / apply_s;
  out->hwm_kb = status_kb("VmHWM:");
  out->anon_kb = status_kb("RssAnon:");
  out->file_kb = status_kb("RssFile:");
  out->disk = ag_state_disk_bytes(ag_app_state(app));
  out->tree = ag_state_tree_bytes(ag_app_state(app));
  ag_app_close(app);
  for (size_t i = 0; i < ntx; i++) ag_buf_free(&txs[i]);
  free(txs);
  free(ptr);
  free(lens);
  free(res);
}

static void bench_ten_million(size_t n) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tenmillion", tmproot);
  size_t ns = 10000, nblocks = 10;
  ag_keypair *senders = malloc(ns * sizeof *senders);
  for (size_t i = 0; i < ns; i++) key_i(&senders[i], (uint32_t)i);
  /* BENCH_10M_SEED=DIR keeps the built state in DIR and copies it for each run (building takes
   * minutes; the copy seconds) */
  const char *seed = getenv("BENCH_10M_SEED");
  char cmd[1300];
  double t0 = bench_now();
  int status;
  if (!seed || access(seed, F_OK) != 0) {
    pid_t pid = fork();
    if (pid == 0) {
      big_build(seed ? seed : dir, senders, ns, n);
      _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) exit(1);
  }
  double build_s = bench_now() - t0;
  if (seed) {
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", seed, dir);
    if (system(cmd)) exit(1);
  }
  pid_t pid;
  int fd[2];
  if (pipe(fd)) exit(1);
  if ((pid = fork()) == 0) { /* a fresh process: its peak RSS is what a validator with this state needs */
    close(fd[0]);
    big_result r;
    big_apply(dir, senders, ns, n, nblocks, &r);
    if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
    _exit(0);
  }
  close(fd[1]);
  big_result r;
  ssize_t got = read(fd[0], &r, sizeof r);
  close(fd[0]);
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) || got != (ssize_t)sizeof r)
    exit(1);
  char note[300];
  snprintf(note, sizeof note,
           "peak RSS of a process opening a %zu-account state and applying %zu blocks of %zu transfers, default "
           "budget %d MB; at the end RssAnon %.0f MB, RssFile %.0f MB; open %.2f s; target <= 1024",
           n + ns, nblocks, ns, AG_STATE_MEMORY_MB_DEFAULT, r.anon_kb / 1024.0, r.file_kb / 1024.0, r.open_s);
  bench_report("ledger.state_10m_rss_mb", r.hwm_kb / 1024.0, "MB", note);
  snprintf(note, sizeof note, "tree pages %.0f MB; raw key+value data %.0f MB; built by the helper in %.0f s",
           (double)r.tree / 1e6, (double)(n + ns) * (33 + 16) / 1e6, build_s);
  bench_report("ledger.state_10m_disk_mb", (double)r.disk / 1e6, "MB", note);
  snprintf(note, sizeof note,
           "apply %.0f tx/s against %.0f verify/s of the same txs, %d threads (finalize %.2f s, commit %.2f s); "
           "target >= 0.6",
           r.apply_rate, r.sig_rate, ag_ncpu(), r.finalize_s, r.commit_s);
  bench_report("ledger.apply_vs_sigverify_10m", r.apply_rate / r.sig_rate, "ratio", note);
  free(senders);
}

int main(void) {
  ag_crypto_init();
  snprintf(tmproot, sizeof tmproot, "/tmp/agora-bench-XXXXXX");
  if (!mkdtemp(tmproot)) return 1;
  const char *e = getenv("BENCH_TXS");
  size_t ntx = e ? (size_t)atol(e) : 100000;
  e = getenv("BENCH_ACCOUNTS_1M");
  size_t nm = e ? (size_t)atol(e) : 1000000;
  bench_apply(ntx);
  bench_api(e && nm < 100000 ? 2000 : 20000);
  bench_million(nm);
  e = getenv("BENCH_ACCOUNTS_10M");
  size_t nb = e ? (size_t)atol(e) : 10000000;
  if (nb) bench_ten_million(nb);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmproot);
  if (system(cmd)) return 1;
  return 0;
}
