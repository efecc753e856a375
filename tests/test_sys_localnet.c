/*
 * test_sys_localnet.c — `agora localnet` supervising 4 validators (real CometBFT and agora
 * processes on 127.0.0.1), docs/multi-validator.md#supervision:
 *   - a validator's app killed with SIGKILL: the supervisor restarts it with its CometBFT
 *     after the first backoff, status says which process ended and how, the chain keeps
 *     committing, and the restarted node reaches the others' app hash (with a tx committed
 *     while it was down);
 *   - a validator's CometBFT killed alone is restarted alone (its app keeps running);
 *   - a validator stopped by the operator stays stopped; started again, it catches up;
 *   - `localnet stop` ends the supervisor and every process it ran.
 * It runs with CometBFT's own mempool (`--mempool flood`; test_sys_cometbft runs the default,
 * each node's own pool): txs posted to a node's API reach CometBFT through its RPC, a malformed
 * tx sent to CometBFT's RPC is refused at our CheckTx with our code and message and never
 * reaches a block, and POST /v1/txs/relay is refused (the txs are CometBFT's to gossip).
 * The waits are bounded; nothing is timed except the pause that shows a stopped validator
 * is not restarted.
 */
#include "api/http.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "sysutil.h"
#include "test.h"
#include "testutil.h"

#define NV 4

static char root[512];
static char api[NV][64], rpc[NV][64];
static pid_t supervisor;

/* `agora --home ROOT localnet ARGS...`; its stdout in out (may be NULL); the exit status. */
static int localnet(ag_buf *out, const char *a, const char *b, const char *c, const char *d) {
  const char *args[] = {"--home", root, "localnet", a, b, c, d, NULL};
  return sys_run(out, args);
}

static void stop_all(void) {
  if (root[0]) localnet(NULL, "stop", NULL, NULL, NULL);
}

static json_t *net_json(void) {
  char path[700];
  snprintf(path, sizeof path, "%s/localnet.json", root);
  return json_load_file(path, 0, NULL);
}

/* `localnet status --json`, node i's entry (a new reference) or NULL */
static json_t *status_of(int i) {
  ag_buf out;
  ag_buf_init(&out);
  int rc = localnet(&out, "status", "--json", NULL, NULL);
  json_t *o = rc == 0 ? json_loadb((char *)out.data, out.len, 0, NULL) : NULL;
  ag_buf_free(&out);
  json_t *x = json_incref(json_array_get(json_object_get(o, "nodes"), (size_t)i));
  json_decref(o);
  return x;
}

static const char *str_of(json_t *x, const char *k) {
  const char *s = json_string_value(json_object_get(x, k));
  return s ? s : "";
}

static long long height_of(int i) { return sys_height(api[i]); }

static long long max_height(void) {
  long long m = -1;
  for (int i = 0; i < NV; i++) {
    long long h = height_of(i);
    if (h > m) m = h;
  }
  return m;
}

static int wait_height(int i, long long h, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    if (height_of(i) >= h) return 1;
    ag_sleep_ms(200);
  }
  fprintf(stderr, "  node %d did not reach height %lld (it is at %lld)\n", i, h, height_of(i));
  return 0;
}

/* every node in which[] has the same state root at height h */
static int agree_at(long long h, const int *which, int n) { return sys_agree_at(api, h, which, n); }

/* waits until node i's status satisfies want(); returns its entry (a new reference) or NULL */
static json_t *wait_status(int i, int (*want)(json_t *), int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    json_t *x = status_of(i);
    if (x && want(x)) return x;
    json_decref(x);
    ag_sleep_ms(200);
  }
  json_t *x = status_of(i);
  char *t = x ? json_dumps(x, JSON_COMPACT) : NULL;
  fprintf(stderr, "  node %d status never matched; last: %s\n", i, t ? t : "(none)");
  free(t);
  json_decref(x);
  return NULL;
}

static int is_up(json_t *x) {
  return !strcmp(str_of(x, "state"), "up") && json_is_true(json_object_get(x, "app_running")) &&
         json_is_true(json_object_get(x, "cometbft_running"));
}
static long long restarts_before; /* a node's restart count before the fault under test */
static long long restarts_of(json_t *x) { return json_integer_value(json_object_get(x, "restarts")); }
static int restarted_up(json_t *x) { return restarts_of(x) > restarts_before && is_up(x); }
static int is_stopped(json_t *x) { return !strcmp(str_of(x, "state"), "stopped"); }

static int log_has(const char *needle) {
  char path[700];
  snprintf(path, sizeof path, "%s/localnet.log", root);
  uint8_t *d;
  size_t n;
  if (ag_read_file(path, 1 << 22, &d, &n)) return 0;
  int found = strstr((char *)d, needle) != NULL;
  free(d);
  return found;
}

/* a transfer from dev0 (nonce) through node i's API; its hash in out */
static int send_transfer(int i, const ag_keypair *from, const ag_keypair *to, uint64_t nonce, char out[65]) {
  ag_buf pl, tx;
  ag_buf_init(&pl);
  ag_buf_init(&tx);
  ag_transfer_encode(&pl, to->pk, 12345);
  ag_tx_build(&tx, AG_TX_TRANSFER, "agora-localnet", from, nonce, 100000, 0, pl.data, (uint32_t)pl.len);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/txs", api[i]);
  ag_http_result r;
  int ok = 0;
  if (ag_http_request("POST", url, "application/octet-stream", tx.data, tx.len, 10000, &r) == 0) {
    json_t *j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
    ok = r.status == 202 && json_string_value(json_object_get(j, "hash"));
    if (ok) snprintf(out, 65, "%s", json_string_value(json_object_get(j, "hash")));
    json_decref(j);
    ag_http_result_free(&r);
  }
  ag_buf_free(&pl);
  ag_buf_free(&tx);
  return ok;
}

static int committed(int i, const char *hash) {
  char path[128];
  snprintf(path, sizeof path, "/v1/txs/%s", hash);
  long st = 0;
  json_t *j = sys_get_json(api[i], path, &st);
  int ok = j && st == 200 && !strcmp(str_of(j, "status"), "committed");
  json_decref(j);
  return ok;
}

static int pid_of(int i, const char *which) {
  json_t *o = net_json();
  int p = (int)json_integer_value(json_object_get(json_array_get(json_object_get(o, "nodes"), (size_t)i), which));
  json_decref(o);
  return p;
}

TEST(supervisor_restarts_what_died_and_leaves_stopped_alone) {
  char *dir = test_tmpdir("localnet");
  char log[600], base[16];
  snprintf(root, sizeof root, "%s/net", dir);
  snprintf(log, sizeof log, "%s/supervisor.log", dir);
  snprintf(base, sizeof base, "%d", 20000 + (int)(getpid() % 100) * 100); /* below the ephemeral ports */
  const char *args[] = {"--home", root, "localnet", "--validators", "4", "--block-time", "150",
                        "--base-port", base, "--mempool", "flood", NULL};
  supervisor = sys_spawn(log, args);
  atexit(stop_all); /* runs before sysutil's kill of the supervisor: nothing is orphaned */
  CHECK(supervisor > 0);

  /* the network is up and supervised */
  json_t *m = NULL;
  for (int t = 0; t < 900 && !json_integer_value(json_object_get(m, "supervisor_pid")); t++) {
    json_decref(m);
    ag_sleep_ms(100);
    m = net_json();
  }
  CHECK_EQ(json_integer_value(json_object_get(m, "supervisor_pid")), supervisor);
  for (int i = 0; i < NV; i++) {
    json_t *node = json_array_get(json_object_get(m, "nodes"), (size_t)i);
    const char *a = json_string_value(json_object_get(node, "api")), *r = json_string_value(json_object_get(node, "rpc"));
    snprintf(api[i], sizeof api[i], "%s", a ? a : "");
    snprintf(rpc[i], sizeof rpc[i], "%s", r ? r : "");
  }
  json_decref(m);
  for (int i = 0; i < NV; i++) CHECK(wait_height(i, 3, 90000));
  char kd[700];
  snprintf(kd, sizeof kd, "%s/keys", root);
  ag_keypair dev0, dev1;
  CHECK_OK(ag_keystore_load(kd, "dev0", NULL, &dev0, NULL));
  CHECK_OK(ag_keystore_load(kd, "dev1", NULL, &dev1, NULL));
  int all[NV] = {0, 1, 2, 3};

  /* 0. CometBFT's mempool: a malformed tx through its RPC is refused at our CheckTx (our code,
   * codespace and message) and never included; the nodes take no relayed txs */
  char url[160];
  snprintf(url, sizeof url, "%s/broadcast_tx_sync?tx=0x010100", rpc[0]);
  ag_http_result r;
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  json_t *j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  json_t *res = json_object_get(j, "result");
  CHECK_EQ(json_integer_value(json_object_get(res, "code")), -AG_E_TRUNCATED);
  CHECK_STR(str_of(res, "codespace"), "agora");
  CHECK(strstr(str_of(res, "log"), "ends early") != NULL);
  json_decref(j);
  ag_http_result_free(&r);
  uint8_t frame[7] = {3, 0, 0, 0, 1, 1, 0};
  snprintf(url, sizeof url, "%s/v1/txs/relay", api[1]);
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", frame, sizeof frame, 5000, &r));
  CHECK_EQ(r.status, 400);
  j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "unsupported");
  json_decref(j);
  ag_http_result_free(&r);
  char bad_id[65];
  uint8_t bad_raw[3] = {1, 1, 0}, bid[32];
  ag_hash("agora/txid", bad_raw, 3, bid);
  ag_hex_encode(bid, 32, bad_id);

  /* 1. validator 2's app killed with SIGKILL: both of its processes restart, and status says why */
  int app2 = pid_of(2, "app_pid"), cmt2 = pid_of(2, "cometbft_pid");
  CHECK(app2 > 0 && cmt2 > 0);
  json_t *x = status_of(2);
  restarts_before = restarts_of(x); /* 0 unless a start went wrong: those are restarts too */
  json_decref(x);
  CHECK_OK(kill(app2, SIGKILL));
  char hash[65] = "";
  CHECK(send_transfer(0, &dev0, &dev1, 0, hash)); /* a block for node 2 to catch up on */
  x = wait_status(2, restarted_up, 60000);
  CHECK(x != NULL);
  if (!x) goto done; /* never restarted: the rest would only wait for it */
  json_t *last = json_object_get(x, "last_restart");
  CHECK_EQ(restarts_of(x), restarts_before + 1);
  CHECK_STR(str_of(last, "process"), "app");
  CHECK_STR(str_of(last, "reason"), "killed by signal 9 (SIGKILL)");
  CHECK(json_integer_value(json_object_get(last, "exited_at_ms")) > 0);
  CHECK(json_integer_value(json_object_get(last, "restarted_at_ms")) >=
        json_integer_value(json_object_get(last, "exited_at_ms")));
  CHECK(json_is_null(json_object_get(x, "next_retry_at_ms")));
  CHECK(json_integer_value(json_object_get(x, "app_pid")) != app2);
  CHECK(json_integer_value(json_object_get(x, "cometbft_pid")) != cmt2);
  json_decref(x);
  CHECK(log_has("validator 2: app killed by signal 9 (SIGKILL); restarting the app and CometBFT in "));
  CHECK(log_has("validator 2 restarted (restart 1"));
  ag_buf text;
  ag_buf_init(&text);
  CHECK_EQ(localnet(&text, "status", NULL, NULL, NULL), 0);
  CHECK(text.data && strstr((char *)text.data, "node 2: ") && strstr((char *)text.data, "the last at") &&
        strstr((char *)text.data, "app killed by signal 9 (SIGKILL)"));
  ag_buf_free(&text);
  /* the chain kept committing, and the restarted node catches up to the same app hash */
  long long h = max_height();
  CHECK(wait_height(0, h + 3, 60000));
  h = max_height();
  for (int i = 0; i < NV; i++) CHECK(wait_height(i, h, 60000));
  CHECK(agree_at(h, all, NV));
  CHECK(committed(2, hash));
  CHECK(!committed(0, bad_id));
  fprintf(stderr, "  app of validator 2 SIGKILLed: restarted with CometBFT, agrees at %lld\n", h);

  /* 2. validator 1's CometBFT killed alone: only CometBFT restarts */
  int app1 = pid_of(1, "app_pid"), cmt1 = pid_of(1, "cometbft_pid");
  x = status_of(1);
  restarts_before = restarts_of(x);
  json_decref(x);
  CHECK_OK(kill(cmt1, SIGKILL));
  x = wait_status(1, restarted_up, 60000);
  CHECK(x != NULL);
  CHECK_STR(str_of(json_object_get(x, "last_restart"), "process"), "cometbft");
  CHECK_STR(str_of(json_object_get(x, "last_restart"), "reason"), "killed by signal 9 (SIGKILL)");
  CHECK_EQ(json_integer_value(json_object_get(x, "app_pid")), app1);
  CHECK(json_integer_value(json_object_get(x, "cometbft_pid")) != cmt1);
  json_decref(x);
  CHECK(log_has("validator 1: cometbft killed by signal 9 (SIGKILL); restarting CometBFT in "));
  h = max_height() + 2;
  for (int i = 0; i < NV; i++) CHECK(wait_height(i, h, 60000));
  CHECK(agree_at(h, all, NV));
  fprintf(stderr, "  CometBFT of validator 1 SIGKILLed: restarted alone, agrees at %lld\n", h);

  /* 3. validator 3 stopped by the operator stays stopped; started again, it catches up */
  int app3 = pid_of(3, "app_pid"), cmt3 = pid_of(3, "cometbft_pid");
  x = status_of(3);
  restarts_before = restarts_of(x);
  json_decref(x);
  CHECK_EQ(localnet(NULL, "stop", "--validator", "3", NULL), 0);
  x = status_of(3);
  CHECK_STR(str_of(x, "state"), "stopped");
  json_decref(x);
  ag_sleep_ms(4000); /* four times the first backoff: a restart would have happened */
  x = status_of(3);
  CHECK(x && is_stopped(x));
  CHECK_EQ(restarts_of(x), restarts_before);
  CHECK(!json_is_true(json_object_get(x, "app_running")));
  CHECK(!json_is_true(json_object_get(x, "cometbft_running")));
  json_decref(x);
  CHECK(kill(app3, 0) != 0 && kill(cmt3, 0) != 0);
  CHECK(log_has("validator 3 stopped by the operator"));
  h = max_height(); /* three of four validators hold over 2/3 of the power */
  CHECK(wait_height(0, h + 3, 60000));
  CHECK_EQ(localnet(NULL, "start", "--validator", "3", NULL), 0);
  x = wait_status(3, is_up, 30000);
  CHECK(x != NULL);
  CHECK_EQ(restarts_of(x), restarts_before); /* an operator's start is not a restart */
  json_decref(x);
  h = max_height();
  CHECK(wait_height(3, h, 60000));
  CHECK(agree_at(h, all, NV));
  fprintf(stderr, "  validator 3 stopped on purpose stayed down; started again, agrees at %lld\n", h);

  /* 4. localnet stop ends the supervisor, which stops everything */
done:
  CHECK_EQ(localnet(NULL, "stop", NULL, NULL, NULL), 0);
  int st = -1;
  for (int t = 0; t < 600 && waitpid(supervisor, &st, WNOHANG) == 0; t++) ag_sleep_ms(100);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  sys_untrack(supervisor);
  for (int i = 0; i < NV; i++) CHECK_EQ(height_of(i), -1);
  m = net_json();
  CHECK_EQ(json_integer_value(json_object_get(m, "supervisor_pid")), 0);
  json_decref(m);
  ag_key_wipe(&dev0);
  ag_key_wipe(&dev1);
  if (test_failed_checks) { /* leave the folder for a look */
    fprintf(stderr, "  kept %s (supervisor.log, net/localnet.log)\n", dir);
    free(dir);
  } else {
    test_rmdir(dir);
  }
  root[0] = 0;
}

TEST_MAIN(supervisor_restarts_what_died_and_leaves_stopped_alone)
