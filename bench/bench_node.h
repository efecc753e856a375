/*
 * bench_node.h — a real `agora node` for API benchmarks: initialise a home with dev accounts
 * and a mempool roomy enough for a whole run, start the node as its own process, and submit
 * signed transfers from a separate client process over keep-alive connections.
 */
#ifndef AG_BENCH_NODE_H
#define AG_BENCH_NODE_H

#include "api/http.h"
#include "bench.h"
#include "chain/tx.h"
#include "core/util.h"
#include "crypto/keystore.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((unused)) static void bench_run_agora(const char *const *args) {
  pid_t p = fork();
  if (p == 0) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    execv(AGORA_BIN, (char *const *)args);
    _exit(127);
  }
  int st;
  waitpid(p, &st, 0);
}

/* `agora init` with nacct dev accounts, then a config whose mempool holds a whole run. */
__attribute__((unused)) static void bench_node_init(const char *home, size_t nacct) {
  char nacct_s[16];
  snprintf(nacct_s, sizeof nacct_s, "%zu", nacct);
  const char *init[] = {AGORA_BIN, "--home", home, "init", "--dev-accounts", nacct_s,
                        "--api", "127.0.0.1:0", NULL};
  bench_run_agora(init);
  char cfg[700];
  snprintf(cfg, sizeof cfg, "%s/config.json", home);
  char conf[512];
  const char *http = getenv("BENCH_NODE_HTTP"); /* e.g. {"workers":4}, to try server settings */
  snprintf(conf, sizeof conf,
           "{\"api_listen\":\"127.0.0.1:0\",\"block_time_ms\":1000,\"mempool\":"
           "{\"max_txs\":1000000,\"max_bytes\":1073741824,\"max_per_sender\":100000}%s%s}",
           http ? ",\"http\":" : "", http ? http : "");
  ag_write_file_atomic(cfg, conf, strlen(conf), 0644);
}

/* Starts `agora node` (output to /dev/null) and waits for its API address (host:port). */
__attribute__((unused)) static pid_t bench_node_start(const char *home, char addr[128]) {
  pid_t node = fork();
  if (node == 0) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    const char *args[] = {AGORA_BIN, "--home", home, "node", NULL};
    execv(AGORA_BIN, (char *const *)args);
    _exit(127);
  }
  char addrf[600];
  snprintf(addrf, sizeof addrf, "%s/data/api.addr", home);
  addr[0] = 0;
  for (int i = 0; i < 400 && !addr[0]; i++) {
    uint8_t *d;
    size_t len;
    if (ag_read_file(addrf, 127, &d, &len) == 0 && len) {
      snprintf(addr, 128, "%s", (char *)d);
      free(d);
    } else {
      ag_sleep_ms(50);
    }
  }
  return node;
}

__attribute__((unused)) static void bench_node_stop(pid_t node) {
  int st;
  kill(node, SIGTERM);
  waitpid(node, &st, 0);
}

typedef struct {
  const char *url;
  ag_buf *txs;
  size_t begin, end;
  atomic_size_t *ok;
} bench_submit_ctx;

static void *bench_submit_thread(void *arg) {
  bench_submit_ctx *c = arg;
  for (size_t i = c->begin; i < c->end; i++) {
    ag_http_result r;
    if (ag_http_request("POST", c->url, "application/octet-stream", c->txs[i].data,
                        c->txs[i].len, 10000, &r) == 0) {
      if (r.status == 202) atomic_fetch_add(c->ok, 1);
      ag_http_result_free(&r);
    }
  }
  ag_http_client_cleanup();
  return NULL;
}

/* A separate client process signs ntx transfers from the home's nacct dev keys (nonces from
 * 0), then POSTs them over 4 keep-alive connections, each taking whole senders so that nonces
 * arrive in order. Returns accepted txs per second (202s over the submission's wall time);
 * *ok gets how many were accepted. */
__attribute__((unused)) static double bench_submit(const char *home, const char *addr,
                                                   size_t nacct, size_t ntx, size_t *ok) {
  int pfd[2];
  if (pipe(pfd)) exit(1);
  pid_t client = fork();
  if (client == 0) {
    char keydir[600];
    snprintf(keydir, sizeof keydir, "%s/keys", home);
    ag_keypair *keys = malloc(nacct * sizeof *keys);
    for (size_t i = 0; i < nacct; i++) {
      char name[16];
      snprintf(name, sizeof name, "dev%zu", i);
      if (ag_keystore_load(keydir, name, NULL, &keys[i], NULL)) _exit(2);
    }
    ag_buf *txs = malloc(ntx * sizeof *txs);
    for (size_t i = 0; i < ntx; i++) {
      size_t from = i % nacct;
      ag_buf p;
      ag_buf_init(&p);
      ag_transfer_encode(&p, keys[(from + 1) % nacct].pk, 1);
      ag_buf_init(&txs[i]);
      ag_tx_build(&txs[i], AG_TX_TRANSFER, "agora-devnet", &keys[from], i / nacct, 100000, 0,
                  p.data, (uint32_t)p.len);
      ag_buf_free(&p);
    }
    char url[256];
    snprintf(url, sizeof url, "http://%s/v1/txs", addr);
    enum { CONNS = 4 };
    pthread_t th[CONNS];
    bench_submit_ctx sc[CONNS];
    atomic_size_t nok = 0;
    /* thread k sends the txs of senders k, k+CONNS, ... in nonce order */
    ag_buf *order = malloc(ntx * sizeof *order);
    size_t w = 0;
    for (int k = 0; k < CONNS; k++) {
      sc[k] = (bench_submit_ctx){url, order, w, 0, &nok};
      for (size_t i = 0; i < ntx; i++)
        if ((i % nacct) % CONNS == (size_t)k) order[w++] = txs[i];
      sc[k].end = w;
    }
    double t0 = bench_now();
    for (int k = 0; k < CONNS; k++) pthread_create(&th[k], NULL, bench_submit_thread, &sc[k]);
    for (int k = 0; k < CONNS; k++) pthread_join(th[k], NULL);
    double rate = (double)nok / (bench_now() - t0);
    size_t okv = nok;
    if (write(pfd[1], &rate, sizeof rate) != sizeof rate) _exit(3);
    if (write(pfd[1], &okv, sizeof okv) != sizeof okv) _exit(3);
    _exit(0);
  }
  close(pfd[1]);
  double rate = 0;
  *ok = 0;
  if (read(pfd[0], &rate, sizeof rate) != sizeof rate || read(pfd[0], ok, sizeof *ok) != sizeof *ok)
    rate = 0;
  close(pfd[0]);
  int st;
  waitpid(client, &st, 0);
  return rate;
}

#endif
