/*
 * bench_cometbft.c — the chain on CometBFT (4 validators, `agora localnet`) against the solo
 * node, same machine, same load, same run:
 *   cometbft.localnet_tps   transfers finalized per second by the 4-validator localnet as it
 *                           starts by default (each node's own mempool, relayed: CometBFT's
 *                           mempool.type "nop"); the note has the same with `--mempool flood`
 *                           (CometBFT's mempool), run in the same process as the comparison
 *   cometbft.vs_solo        that divided by the solo node's figure
 *   cometbft.block_time_ms  median time between blocks under that load
 * The load: BENCH_TXS transfers (default 4000) from 40 dev keys, posted to the nodes' APIs by
 * BENCH_CONNS client threads (default 4), each sending whole senders in nonce order, one tx
 * after the other; the figure counts from the first post to the last tx seen committed (and
 * the time the posting took is printed to stderr). BENCH_KEEP=1 keeps the networks' folders
 * (their logs) in /tmp.
 *   cometbft.load_tps       CometBFT's load generator with Agora txs (bench/cmtload: tm-load-test,
 *                           the framework of test/loadtime's `load`, at the version CometBFT
 *                           pins, built by `scripts/cometbft load` as agora-load): transfers
 *                           pre-signed here, offered at BENCH_LOAD_RATE (default 1000) tx/s to
 *                           each validator's RPC websocket for 10 s; committed per second from
 *                           the start of the load to the last commit. On the flood localnet: a
 *                           nop mempool's RPC takes no txs.
 *   cometbft.load_tps_kvstore  CometBFT's own load tool (test/loadtime `load`, built by
 *                           `scripts/cometbft load`) against the same 4-validator network
 *                           running CometBFT's built-in kvstore app instead of Agora: txs
 *                           committed per second at a fixed offered rate, read back by its
 *                           `report` tool. The tool's txs are random bytes, which Agora's
 *                           CheckTx refuses, so this is CometBFT's own ceiling on this machine
 *                           (no signatures, no state), the comparison point for the Agora figure.
 * Skipped (with a line saying so) when CometBFT is not built (scripts/cometbft).
 */
#include "api/http.h"
#include "bench.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "core/codec.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keystore.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 40
#define MAX_CONNS 64
#define KV_RATE 1250 /* tx/s per endpoint offered by the load tool (near kvstore's ceiling here) */
#define KV_SECS 10
#define LOAD_RATE 1000 /* tx/s per endpoint offered by agora-load: above what the localnet commits here */
#define LOAD_SECS 10
static int nconns = 4; /* BENCH_CONNS */
/* the 4 validators' CometBFT RPC websockets (`localnet --base-port 41000`) */
static const char RPC_WS[] = "ws://127.0.0.1:41007/websocket,ws://127.0.0.1:41017/websocket,"
                             "ws://127.0.0.1:41027/websocket,ws://127.0.0.1:41037/websocket";

static int run(const char *const *args) {
  pid_t p = fork();
  if (p == 0) {
    int fd = open("/dev/null", 1);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(AGORA_BIN, (char *const *)args);
    _exit(127);
  }
  int st;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *get_json(const char *url) {
  ag_http_result r;
  if (ag_http_request("GET", url, NULL, NULL, 0, 5000, &r)) return NULL;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  return j;
}

typedef struct {
  char urls[4][128];
  int nurls;
  ag_buf *txs;
  size_t begin, end;
  atomic_size_t *ok;
} sub_ctx;

static void *submitter(void *arg) {
  sub_ctx *c = arg;
  for (size_t i = c->begin; i < c->end; i++) {
    ag_http_result r;
    const char *url = c->urls[i % (size_t)c->nurls];
    if (ag_http_request("POST", url, "application/octet-stream", c->txs[i].data, c->txs[i].len, 10000, &r) == 0) {
      if (r.status == 202) atomic_fetch_add(c->ok, 1);
      ag_http_result_free(&r);
    }
  }
  ag_http_client_cleanup();
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The 40 dev keys of a network's home (`--dev-accounts 40`). */
static int load_keys(const char *home, ag_keypair keys[NKEYS]) {
  char keydir[700];
  snprintf(keydir, sizeof keydir, "%s/keys", home);
  for (int i = 0; i < NKEYS; i++) {
    char name[16];
    snprintf(name, sizeof name, "dev%d", i);
    if (ag_keystore_load(keydir, name, NULL, &keys[i], NULL)) {
      fprintf(stderr, "bench_cometbft: no key %s in %s\n", name, keydir);
      return -1;
    }
  }
  return 0;
}

/* Posts the load to apis[], waits for all of it to commit, returns tx/s and the median block
 * interval (ms). */
static double drive(const char *home, char apis[][128], int napi, size_t ntx, double *block_ms) {
  ag_keypair keys[NKEYS];
  if (load_keys(home, keys)) return -1;
  json_t *st = NULL;
  char url[256];
  snprintf(url, sizeof url, "%s/v1/status", apis[0]);
  for (int i = 0; i < 600 && !st; i++) { /* 60 s: four validators on two cores start slowly */
    st = get_json(url);
    if (!st || json_integer_value(json_object_get(st, "height")) < 2) {
      json_decref(st);
      st = NULL;
      ag_sleep_ms(100);
    }
  }
  if (!st) {
    fprintf(stderr, "bench_cometbft: %s did not reach height 2 within 60 s\n", apis[0]);
    return -1;
  }
  char chain[64];
  snprintf(chain, sizeof chain, "%s", json_string_value(json_object_get(st, "chain_id")));
  long long h0 = json_integer_value(json_object_get(st, "height"));
  json_decref(st);
  ag_buf *txs = calloc(ntx, sizeof *txs);
  char (*hashes)[65] = malloc(ntx * 65);
  for (size_t i = 0; i < ntx; i++) {
    int s = (int)(i % NKEYS);
    ag_buf p;
    ag_buf_init(&p);
    ag_transfer_encode(&p, keys[(s + 1) % NKEYS].pk, 1 + i);
    ag_buf_init(&txs[i]);
    ag_tx_build(&txs[i], AG_TX_TRANSFER, chain, &keys[s], i / NKEYS, 100000, 0, p.data, (uint32_t)p.len);
    ag_buf_free(&p);
    uint8_t id[32];
    ag_hash("agora/txid", txs[i].data, txs[i].len, id);
    ag_hex_encode(id, 32, hashes[i]);
  }
  /* each thread sends whole senders in nonce order */
  ag_buf *order = calloc(ntx, sizeof *order);
  sub_ctx sc[MAX_CONNS];
  atomic_size_t ok = 0;
  size_t w = 0;
  for (int k = 0; k < nconns; k++) {
    sc[k].begin = w;
    for (size_t i = 0; i < ntx; i++)
      if ((i % NKEYS) % nconns == (size_t)k) order[w++] = txs[i];
    sc[k].end = w;
    sc[k].txs = order;
    sc[k].ok = &ok;
    sc[k].nurls = 1;
    snprintf(sc[k].urls[0], sizeof sc[k].urls[0], "%s/v1/txs", apis[k % napi]);
  }
  double t0 = bench_now();
  pthread_t th[MAX_CONNS];
  for (int k = 0; k < nconns; k++) pthread_create(&th[k], NULL, submitter, &sc[k]);
  for (int k = 0; k < nconns; k++) pthread_join(th[k], NULL);
  double t_posted = bench_now() - t0;
  /* the last sender's last tx committed means all did (nonce order per sender) */
  size_t done = 0;
  for (int tries = 0; tries < 1200 && done < (size_t)NKEYS; tries++) {
    done = 0;
    for (int s = 0; s < NKEYS; s++) {
      size_t last = ntx - NKEYS + (size_t)s;
      snprintf(url, sizeof url, "%s/v1/txs/%s", apis[0], hashes[last]);
      json_t *j = get_json(url);
      if (j && json_string_value(json_object_get(j, "status")) &&
          !strcmp(json_string_value(json_object_get(j, "status")), "committed"))
        done++;
      json_decref(j);
    }
    if (done < (size_t)NKEYS) ag_sleep_ms(100);
  }
  double el = bench_now() - t0;
  fprintf(stderr, "bench_cometbft: %zu txs posted in %.2f s, all committed after %.2f s\n", ntx, t_posted, el);
  snprintf(url, sizeof url, "%s/v1/status", apis[0]);
  st = get_json(url);
  long long h1 = json_integer_value(json_object_get(st, "height"));
  json_decref(st);
  /* block intervals over the run */
  size_t nb = h1 > h0 ? (size_t)(h1 - h0) : 0;
  uint64_t *dt = calloc(nb + 1, sizeof *dt);
  uint64_t prev = 0;
  size_t nd = 0;
  for (long long h = h0; h <= h1; h++) {
    snprintf(url, sizeof url, "%s/v1/blocks/%lld?txs=false", apis[0], h);
    json_t *b = get_json(url);
    uint64_t t = b ? (uint64_t)json_integer_value(json_object_get(b, "time_ms")) : 0;
    json_decref(b);
    if (prev && t > prev) dt[nd++] = t - prev;
    prev = t;
  }
  qsort(dt, nd, sizeof *dt, cmp_u64);
  *block_ms = nd ? (double)dt[nd / 2] : 0;
  free(dt);
  for (size_t i = 0; i < ntx; i++) ag_buf_free(&txs[i]);
  free(txs);
  free(order);
  free(hashes);
  if (done < (size_t)NKEYS || ok < ntx) {
    fprintf(stderr, "bench_cometbft: %zu of %zu accepted, %zu of %d senders finished\n", (size_t)ok, ntx, done, NKEYS);
    return -1;
  }
  return (double)ntx / el;
}

/* A process in its own session with its output discarded. */
static pid_t spawn_quiet(char *const *args) {
  pid_t p = fork();
  if (p == 0) {
    setsid();
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(args[0], args);
    _exit(127);
  }
  return p;
}

/* The committed nonces of the 40 senders, summed; -1 when one cannot be read. */
static long long nonces_of(const char *api, const ag_keypair keys[NKEYS], uint64_t each[NKEYS]) {
  long long sum = 0;
  for (int s = 0; s < NKEYS; s++) {
    char addr[AG_ADDR_MAX], url[300];
    ag_addr_encode(keys[s].pk, addr);
    snprintf(url, sizeof url, "%s/v1/accounts/%s", api, addr);
    json_t *j = get_json(url);
    json_t *n = json_object_get(j, "nonce");
    if (!json_is_integer(n)) {
      json_decref(j);
      return -1;
    }
    if (each) each[s] = (uint64_t)json_integer_value(n);
    sum += json_integer_value(n);
    json_decref(j);
  }
  return sum;
}

/* CometBFT's load generator with Agora txs (bench/cmtload: tm-load-test, the framework of
 * test/loadtime's `load`, built by `scripts/cometbft load` as agora-load) against the running
 * localnet: `rate` txs/s offered to each validator's RPC websocket (broadcast_tx_async, the
 * path of a Cosmos client, past the node's own API) for `secs`, from the 40 dev keys, each
 * key's txs on one connection in nonce order. Returns the txs committed per second, from the
 * start of the load to the last commit; -1 when it cannot run. */
static double agora_load(const char *cometbft, const char *home, char apis[][128], int rate, int secs,
                         long long *committed) {
  char tool[1100], path[800];
  snprintf(tool, sizeof tool, "%s", cometbft);
  *strrchr(tool, '/') = 0;
  strcat(tool, "/agora-load");
  if (access(tool, X_OK)) {
    printf("cometbft.load_tps: skipped, agora-load is not built (run scripts/cometbft load)\n");
    return -1;
  }
  ag_keypair keys[NKEYS];
  uint64_t start[NKEYS];
  if (load_keys(home, keys)) return -1;
  char url[600];
  snprintf(url, sizeof url, "%s/v1/status", apis[0]);
  json_t *st = get_json(url);
  const char *cid = json_string_value(json_object_get(st, "chain_id"));
  char chain[64];
  snprintf(chain, sizeof chain, "%s", cid ? cid : "");
  json_decref(st);
  long long base = nonces_of(apis[0], keys, start);
  if (!cid || base < 0) return -1;
  /* one stream per endpoint; stream e has the senders s with s % 4 == e, taken in turn */
  enum { STREAMS = 4, PER = NKEYS / STREAMS };
  size_t need = (size_t)rate * (size_t)(secs + 1);
  snprintf(path, sizeof path, "%s/load.txs", home);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  uint8_t w[4];
  ag_put_u32le(w, STREAMS);
  fwrite(w, 4, 1, f);
  for (int e = 0; e < STREAMS; e++) {
    ag_put_u32le(w, (uint32_t)need);
    fwrite(w, 4, 1, f);
    for (size_t k = 0; k < need; k++) {
      int s = e + STREAMS * (int)(k % PER);
      ag_buf p, tx;
      ag_buf_init(&p);
      ag_buf_init(&tx);
      ag_transfer_encode(&p, keys[(s + 1) % NKEYS].pk, 1);
      ag_tx_build(&tx, AG_TX_TRANSFER, chain, &keys[s], start[s] + k / PER, 100000, 0, p.data, (uint32_t)p.len);
      ag_put_u32le(w, (uint32_t)tx.len);
      fwrite(w, 4, 1, f);
      fwrite(tx.data, 1, tx.len, f);
      ag_buf_free(&p);
      ag_buf_free(&tx);
    }
  }
  if (fclose(f)) return -1;
  setenv("AGORA_LOAD_TXS", path, 1);
  char r[16], t[16];
  snprintf(r, sizeof r, "%d", rate);
  snprintf(t, sizeof t, "%d", secs);
  const char *la[] = {tool, "-c", "1", "-T", t, "-r", r, "--broadcast-tx-method", "async", "--endpoints", RPC_WS, NULL};
  double t0 = bench_now();
  pid_t l = spawn_quiet((char *const *)la);
  int wst = 0;
  waitpid(l, &wst, 0);
  /* then until no tx has committed for 5 s */
  long long last = base;
  double t_last = t0;
  for (double idle = bench_now(); bench_now() - idle < 5.0;) {
    long long now = nonces_of(apis[0], keys, NULL);
    if (now > last) {
      last = now;
      t_last = bench_now();
      idle = t_last;
    }
    ag_sleep_ms(100);
  }
  *committed = last - base;
  unlink(path);
  if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
    fprintf(stderr, "bench_cometbft: agora-load failed (status %d)\n", wst);
    return -1;
  }
  fprintf(stderr, "bench_cometbft: agora-load: %lld txs committed in %.2f s\n", last - base, t_last - t0);
  return t_last > t0 ? (double)(last - base) / (t_last - t0) : -1;
}

static long long rpc_height(int port) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/status", port);
  json_t *j = get_json(url);
  const char *h = json_string_value(
      json_object_get(json_object_get(json_object_get(j, "result"), "sync_info"), "latest_block_height"));
  long long v = h ? atoll(h) : -1;
  json_decref(j);
  return v;
}

/* CometBFT's load tool against the localnet's 4 CometBFT processes with kvstore as the app:
 * txs per second committed at `rate` per endpoint for `secs` (200-byte txs); -1 when it
 * cannot run. *latency_ms gets report's average latency. */
static double kvstore_load(const char *cometbft, const char *root, int rate, int secs, double *latency_ms) {
  char dir[1024], load[1100], report[1100];
  snprintf(dir, sizeof dir, "%s", cometbft);
  *strrchr(dir, '/') = 0;
  snprintf(load, sizeof load, "%s/load", dir);
  snprintf(report, sizeof report, "%s/report", dir);
  if (access(load, X_OK) || access(report, X_OK)) {
    printf("cometbft.load_tps_kvstore: skipped, CometBFT's load tools are not built (run scripts/cometbft load)\n");
    return -1;
  }
  pid_t cmt[4];
  char homes[4][700];
  for (int i = 0; i < 4; i++) {
    snprintf(homes[i], sizeof homes[i], "%s/node%d/cometbft", root, i);
    const char *reset[] = {cometbft, "unsafe-reset-all", "--home", homes[i], NULL};
    pid_t r = spawn_quiet((char *const *)reset);
    waitpid(r, NULL, 0);
  }
  for (int i = 0; i < 4; i++) {
    const char *a[] = {cometbft, "start", "--home", homes[i], "--proxy_app", "kvstore", NULL};
    cmt[i] = spawn_quiet((char *const *)a);
  }
  int up = 0;
  for (int k = 0; k < 600 && !up; k++) { /* 60 s */
    up = rpc_height(41007) >= 2;
    if (!up) ag_sleep_ms(100);
  }
  double tps = -1;
  if (up) {
    char r[16], t[16];
    snprintf(r, sizeof r, "%d", rate);
    snprintf(t, sizeof t, "%d", secs);
    const char *la[] = {load, "-c", "1", "-T", t, "-r", r, "-s", "200", "--broadcast-tx-method", "async",
                        "--endpoints", RPC_WS, NULL};
    pid_t l = spawn_quiet((char *const *)la);
    int st = 0;
    waitpid(l, &st, 0);
    ag_sleep_ms(3000); /* what was sent in the last second commits */
    for (int i = 0; i < 4; i++) kill(cmt[i], SIGTERM);
    for (int i = 0; i < 4; i++) waitpid(cmt[i], NULL, 0);
    char data[800], cmd[2000];
    snprintf(data, sizeof data, "%s/data", homes[0]);
    snprintf(cmd, sizeof cmd, "'%s' --database-type goleveldb --data-dir '%s' 2>&1", report, data);
    FILE *f = popen(cmd, "r");
    char line[256];
    long long valid = -1;
    *latency_ms = 0;
    while (f && fgets(line, sizeof line, f)) {
      char *v;
      if ((v = strstr(line, "Total Valid Tx:"))) valid = atoll(v + 15);
      if ((v = strstr(line, "Average Latency:"))) {
        double x = atof(v + 16);
        *latency_ms = strstr(v, "ms") ? x : x * 1000; /* Go durations: "668.45ms" or "1.49s" */
      }
    }
    if (f) pclose(f);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && valid >= 0) tps = (double)valid / secs;
  } else {
    for (int i = 0; i < 4; i++) kill(cmt[i], SIGTERM);
    for (int i = 0; i < 4; i++) waitpid(cmt[i], NULL, 0);
  }
  if (tps < 0) fprintf(stderr, "bench_cometbft: the kvstore load run failed\n");
  return tps;
}

int main(void) {
  ag_crypto_init();
  const char *e = getenv("BENCH_TXS");
  size_t ntx = e ? (size_t)atol(e) : 4000;
  ntx -= ntx % NKEYS;
  const char *ce = getenv("BENCH_CONNS");
  if (ce && atoi(ce) >= 1 && atoi(ce) <= MAX_CONNS) nconns = atoi(ce);
  char cometbft[1024];
  const char *env = getenv("AGORA_COMETBFT");
  snprintf(cometbft, sizeof cometbft, "%s", env ? env : "");
  if (!env) {
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = 0;
      *strrchr(exe, '/') = 0; /* build/bench */
      snprintf(cometbft, sizeof cometbft, "%s/../../.cometbft/bin/cometbft", exe);
    }
  }
  if (access(cometbft, X_OK) != 0) {
    printf("cometbft.localnet_tps: skipped, CometBFT is not built (run scripts/cometbft)\n");
    return 0;
  }
  setenv("AGORA_COMETBFT", cometbft, 1);
  char dir[] = "/tmp/agora-bench-cmt-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char root[600], flood[600], solo[600];
  snprintf(root, sizeof root, "%s/net", dir);
  snprintf(flood, sizeof flood, "%s/net-flood", dir);
  snprintf(solo, sizeof solo, "%s/solo", dir);
  char apis[4][128];
  for (int i = 0; i < 4; i++) snprintf(apis[i], sizeof apis[i], "http://127.0.0.1:%d", 41000 + 10 * i + 9);
  /* the localnet as it starts by default: each node's own mempool, relayed (CometBFT's nop) */
  const char *ln[] = {AGORA_BIN, "--home", root, "localnet", "--detach", "--block-time", "300",
                      "--dev-accounts", "40", "--base-port", "41000", NULL};
  if (run(ln)) {
    fprintf(stderr, "bench_cometbft: localnet did not start\n");
    return 1;
  }
  double bt_cmt = 0, bt_solo = 0, bt_flood = 0;
  double tps_cmt = drive(root, apis, 4, ntx, &bt_cmt);
  const char *stop0[] = {AGORA_BIN, "--home", root, "localnet", "stop", NULL};
  run(stop0);
  /* the same with CometBFT's mempool (flood): the comparison point, and the one whose RPC takes
   * txs, so CometBFT's load tools run against it */
  const char *lf[] = {AGORA_BIN, "--home", flood, "localnet", "--detach", "--block-time", "300", "--mempool", "flood",
                      "--dev-accounts", "40", "--base-port", "41000", NULL};
  if (run(lf)) {
    fprintf(stderr, "bench_cometbft: localnet --mempool flood did not start\n");
    return 1;
  }
  double tps_flood = drive(flood, apis, 4, ntx, &bt_flood);
  long long load_committed = 0;
  const char *lr = getenv("BENCH_LOAD_RATE");
  int load_rate = lr && atoi(lr) > 0 ? atoi(lr) : LOAD_RATE;
  double load_tps = agora_load(cometbft, flood, apis, load_rate, LOAD_SECS, &load_committed);
  const char *stop[] = {AGORA_BIN, "--home", flood, "localnet", "stop", NULL};
  run(stop);
  /* the same network's CometBFT processes with kvstore, under CometBFT's own load tool */
  double kv_latency = 0;
  double kv_tps = kvstore_load(cometbft, flood, KV_RATE, KV_SECS, &kv_latency);
  /* the solo node with the same block interval, one API */
  const char *init[] = {AGORA_BIN, "--home", solo, "init", "--dev-accounts", "40", "--block-time", "300",
                        "--api", "127.0.0.1:41099", NULL};
  run(init);
  pid_t node = fork();
  if (node == 0) {
    int fd = open("/dev/null", 1);
    dup2(fd, 1);
    dup2(fd, 2);
    const char *a[] = {AGORA_BIN, "--home", solo, "node", NULL};
    execv(AGORA_BIN, (char *const *)a);
    _exit(127);
  }
  char sapi[1][128] = {"http://127.0.0.1:41099"};
  double tps_solo = drive(solo, sapi, 1, ntx, &bt_solo);
  kill(node, SIGTERM);
  waitpid(node, NULL, 0);
  char note[400];
  snprintf(note, sizeof note, "4 validators on 127.0.0.1, timeout_commit 300 ms, %zu transfers; with CometBFT's "
           "mempool (flood) %.0f tx/s, ratio %.2f", ntx, tps_flood, tps_flood > 0 ? tps_cmt / tps_flood : 0);
  bench_report("cometbft.localnet_tps", tps_cmt, "tx/s", note);
  snprintf(note, sizeof note, "solo node with 300 ms blocks, same load: %.0f tx/s (with CometBFT's mempool: %.3f)",
           tps_solo, tps_solo > 0 ? tps_flood / tps_solo : 0);
  bench_report("cometbft.vs_solo", tps_solo > 0 ? tps_cmt / tps_solo : 0, "ratio", note);
  snprintf(note, sizeof note, "median under load; solo node: %.0f ms", bt_solo);
  bench_report("cometbft.block_time_ms", bt_cmt, "ms", note);
  if (load_tps >= 0) {
    snprintf(note, sizeof note,
             "CometBFT's load framework (tm-load-test) with Agora transfers, %d tx/s offered for %d s to the 4 "
             "validators' RPC; %lld committed, counted to the last commit",
             4 * load_rate, LOAD_SECS, load_committed);
    bench_report("cometbft.load_tps", load_tps, "tx/s", note);
  }
  if (kv_tps >= 0) {
    snprintf(note, sizeof note,
             "CometBFT's load tool, %d tx/s offered for %d s to the 4 validators running kvstore; average latency %.0f ms",
             4 * KV_RATE, KV_SECS, kv_latency);
    bench_report("cometbft.load_tps_kvstore", kv_tps, "tx/s", note);
  }
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (getenv("BENCH_KEEP")) return 0;
  return system(cmd) ? 1 : 0;
}
