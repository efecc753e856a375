/*
 * test_sys_cometbft.c — the chain on CometBFT v0.38 with 4 validators on 127.0.0.1, through
 * `agora localnet` (real cometbft and agora processes), under a steady transfer load:
 *   - 100 blocks finalized with identical app hashes on every node;
 *   - one validator killed: the chain keeps finalizing; restarted, it catches up;
 *   - two killed: no block (less than 2/3 of the power); one restarted: the chain resumes and
 *     no committed tx is lost;
 *   - an app process killed with SIGKILL and restarted: CometBFT's handshake replays and the
 *     app hashes agree;
 *   - every tx the API accepted reads as pending (or committed) at once, never "not found";
 *   - each node keeps its own pool (`localnet`'s default, CometBFT's nop mempool): a tx posted
 *     to node 0 while no block finalizes is pending on node 1 too (relayed), and outlives
 *     both nodes' restarts (node 0's mempool.log); CometBFT's RPC takes no tx; a relay body
 *     with a torn frame is refused whole (its good tx is not taken), a malformed tx relayed
 *     is refused and never reaches a block (test_sys_localnet covers CometBFT's mempool);
 *   - `query account --prove` checks the root against header h+1's commit by the genesis
 *     validators: through a node that lies (tests/liar.h) a forged root, a commit with two
 *     signatures removed and one with a signature altered are refused; the client's trust
 *     moves to each header it verifies (node0/light/), expires after --trust-period, and comes
 *     back from a header given by its hash (a wrong hash is refused);
 *   - state sync: `localnet add-validator` adds a fifth node that restores the validators'
 *     latest snapshot (its block store starts after it, not at 1), refuses a chunk one
 *     validator serves damaged and takes it from another, agrees on the app hash and follows
 *     blocks; the sudo key's sudo_set_validator makes it a validator: CometBFT lists 5 and its
 *     key signs blocks; `agora consensus set KEY 0` removes it;
 *   - `query account --prove` follows the changed set (the validators it trusts sign too);
 *   - `localnet add-validator --bond 10` adds a sixth node that bonds, gets power and earns its
 *     owner part of the block rewards;
 *   - validators by bond: `agora consensus bond` of 10 AGR to the same key, its node stopped,
 *     makes it a validator at the next validator epoch with power 1 (an epoch adds under a
 *     third of the total power after it); it signs nothing, is jailed (power 0) at the end of
 *     the next epoch, and the chain goes on;
 *   - the explorer of node 0 in headless chromium shows that set, who bonded each key, and
 *     takes blocks live (tests/explorer.py --cometbft);
 * Every process the test starts is stopped at the end (agora localnet stop).
 */
#include "api/http.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "liar.h"
#include "sysutil.h"
#include "test.h"
#include "testutil.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define NV 4
#define SENDERS 4

static char root[512], logpath[600];
static char api[NV + 1][64], rpc[NV + 1][64]; /* the validators, then the node that joins */
static int app_pid[NV + 1], cmt_pid[NV + 1];

static int localnet(const char *a, const char *b, const char *c) {
  const char *args[] = {"--home", root, "localnet", a, b, c, NULL};
  if (!b) args[4] = NULL;
  else if (!c) args[5] = NULL;
  ag_buf out;
  ag_buf_init(&out);
  int rc = sys_run(&out, args);
  if (rc) fprintf(stderr, "  localnet %s %s: exit %d\n", a, b ? b : "", rc);
  ag_buf_free(&out);
  return rc;
}

static void stop_all(void) {
  if (root[0]) localnet("stop", NULL, NULL);
}

static void load_net(void) {
  char path[700];
  snprintf(path, sizeof path, "%s/localnet.json", root);
  uint8_t *d;
  size_t n;
  if (ag_read_file(path, 1 << 20, &d, &n)) return;
  json_t *o = json_loadb((char *)d, n, 0, NULL);
  free(d);
  json_t *nodes = json_object_get(o, "nodes");
  for (int i = 0; i < NV + 1 && i < (int)json_array_size(nodes); i++) {
    json_t *x = json_array_get(nodes, (size_t)i);
    snprintf(api[i], sizeof api[i], "%s", json_string_value(json_object_get(x, "api")));
    snprintf(rpc[i], sizeof rpc[i], "%s", json_string_value(json_object_get(x, "rpc")));
    app_pid[i] = (int)json_integer_value(json_object_get(x, "app_pid"));
    cmt_pid[i] = (int)json_integer_value(json_object_get(x, "cometbft_pid"));
  }
  json_decref(o);
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

/* waits until node i reaches height h; returns 1 on success */
static int wait_height(int i, long long h, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    if (height_of(i) >= h) return 1;
    ag_sleep_ms(200);
  }
  return 0;
}

/* every live node agrees on the state root at height h */
static int agree_at(long long h, const int *which, int n) { return sys_agree_at(api, h, which, n); }

/* ---- the load: transfers from dev keys, submitted to whichever node answers ---------------- */

typedef struct {
  ag_keypair keys[SENDERS];
  uint64_t nonce[SENDERS];
  atomic_int stop;
  atomic_int accepted;
  atomic_int read_pending, read_committed, read_missing; /* GET right after the 202 */
  pthread_mutex_t mu;
  char hashes[4096][65];
  int nhash;
} load_ctx;

static load_ctx load;

static void *load_thread(void *arg) {
  ag_params p;
  ag_params_default(&p);
  int k = 0;
  while (!atomic_load(&load.stop)) {
    int s = k++ % SENDERS;
    ag_buf pl, tx;
    ag_buf_init(&pl);
    ag_buf_init(&tx);
    ag_transfer_encode(&pl, load.keys[(s + 1) % SENDERS].pk, 1000 + (uint64_t)k);
    ag_tx_build(&tx, AG_TX_TRANSFER, "agora-localnet", &load.keys[s], load.nonce[s], 100000, 0,
                pl.data, (uint32_t)pl.len);
    int sent = 0;
    for (int i = 0; i < NV && !sent; i++) {
      char url[128];
      snprintf(url, sizeof url, "%s/v1/txs", api[(k + i) % NV]);
      ag_http_result r;
      if (ag_http_request("POST", url, "application/octet-stream", tx.data, tx.len, 5000, &r) == 0) {
        if (r.status == 202) {
          load.nonce[s]++;
          atomic_fetch_add(&load.accepted, 1);
          json_t *j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
          const char *hash = json_string_value(json_object_get(j, "hash"));
          pthread_mutex_lock(&load.mu);
          if (load.nhash < 4096) snprintf(load.hashes[load.nhash++], 65, "%s", hash);
          pthread_mutex_unlock(&load.mu);
          /* what the same node says of it at once: pending (or already committed), never
           * "not found" — a user told that would send it again and pay twice */
          char path[128];
          snprintf(path, sizeof path, "/v1/txs/%.64s", hash ? hash : "");
          long st = 0;
          json_t *t = sys_get_json(api[(k + i) % NV], path, &st);
          const char *status = json_string_value(json_object_get(t, "status"));
          if (st == 200 && status && !strcmp(status, "pending")) atomic_fetch_add(&load.read_pending, 1);
          else if (st == 200 && status && !strcmp(status, "committed")) atomic_fetch_add(&load.read_committed, 1);
          else if (st == 404) atomic_fetch_add(&load.read_missing, 1);
          json_decref(t);
          json_decref(j);
          sent = 1;
        } else if (r.status == 409 || r.status == 400) {
          /* a nonce the chain has not caught up with (after a restart): resync from the node */
          char path[160], addr[AG_ADDR_MAX];
          ag_addr_encode(load.keys[s].pk, addr);
          snprintf(path, sizeof path, "/v1/accounts/%s", addr);
          json_t *a = sys_get_json(api[(k + i) % NV], path, NULL);
          if (a) load.nonce[s] = (uint64_t)json_integer_value(json_object_get(a, "nonce"));
          json_decref(a);
          sent = 1;
        }
        ag_http_result_free(&r);
      }
    }
    ag_buf_free(&pl);
    ag_buf_free(&tx);
    ag_sleep_ms(40);
  }
  ag_http_client_cleanup();
  return NULL;
}

static int committed(int node, const char *hash, long long *height) {
  char path[128];
  snprintf(path, sizeof path, "/v1/txs/%s", hash);
  long st = 0;
  json_t *j = sys_get_json(api[node], path, &st);
  int ok = j && st == 200 && !strcmp(json_string_value(json_object_get(j, "status")), "committed");
  if (ok && height) *height = json_integer_value(json_object_get(j, "height"));
  json_decref(j);
  return ok;
}

/* `agora query account dev0 --prove --json [extra...]` against node_url with node 0's home (its
 * CometBFT genesis is the trust anchor, and it keeps the last header it verified in
 * node0/light/); returns the error code, or "verified"; *trusted gets the header it started from */
static const char *prove_ex(const char *node_url, const char *const *extra, long long *trusted, char *code, size_t cap) {
  char home0[600];
  snprintf(home0, sizeof home0, "%s/node0", root);
  ag_buf out;
  ag_buf_init(&out);
  const char *args[24] = {"--home", home0, "--node", node_url, "query", "account", "dev0", "--prove", "--json"};
  size_t n = 9;
  for (size_t i = 0; extra && extra[i] && n < 23; i++) args[n++] = extra[i];
  args[n] = NULL;
  int ex = sys_run(&out, args);
  json_t *j = json_loads(out.len ? (char *)out.data : "null", JSON_DECODE_ANY, NULL);
  const char *e = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  json_t *h = json_object_get(j, "header");
  if (ex == 0 && json_is_true(json_object_get(j, "verified")) &&
      !strcmp(json_string_value(json_object_get(h, "consensus")), "cometbft"))
    snprintf(code, cap, json_is_true(json_object_get(h, "set_changed")) ? "verified (set changed)" : "verified");
  else
    snprintf(code, cap, "%s (exit %d)", e ? e : "?", ex);
  if (trusted) *trusted = json_integer_value(json_object_get(h, "trusted_height"));
  json_decref(j);
  ag_buf_free(&out);
  return code;
}

static const char *prove_via(const char *node_url, char *code, size_t cap) {
  return prove_ex(node_url, NULL, NULL, code, cap);
}

/* The client's trust moves to each header it verifies, and expires: with a trusting period of
 * 3 s, after 4 s nothing is trusted until the user gives a header (here node 1's latest) by its
 * hash. */
static void light_client_trust_moves_and_expires(void) {
  char code[96];
  long long from = 0, from2 = 0;
  CHECK_STR(prove_ex(api[0], NULL, &from, code, sizeof code), "verified");
  CHECK(from > 0); /* earlier checks left a trusted header */
  CHECK_STR(prove_ex(api[0], NULL, &from2, code, sizeof code), "verified");
  CHECK(from2 > from);
  const char *short_period[] = {"--trust-period", "3", NULL};
  ag_sleep_ms(4000);
  CHECK_STR(prove_ex(api[0], short_period, NULL, code, sizeof code), "trust_expired (exit 4)");
  long st = 0;
  json_t *status = sys_get_json(api[1], "/v1/status", &st);
  long long h = json_integer_value(json_object_get(status, "height"));
  json_decref(status);
  char path[64], hs[24], hash[65] = "";
  snprintf(path, sizeof path, "/v1/headers/%lld", h);
  snprintf(hs, sizeof hs, "%lld", h);
  json_t *hj = sys_get_json(api[1], path, &st);
  const char *x = json_string_value(json_object_get(
      json_object_get(json_object_get(json_object_get(hj, "signed_header"), "commit"), "block_id"), "hash"));
  if (x) snprintf(hash, sizeof hash, "%s", x);
  json_decref(hj);
  CHECK_EQ((int)strlen(hash), 64);
  char wrong[65];
  snprintf(wrong, sizeof wrong, "%s", hash);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  const char *bad[] = {"--trust-period", "3", "--trust-height", hs, "--trust-hash", wrong, NULL};
  CHECK_STR(prove_ex(api[0], bad, NULL, code, sizeof code), "header_signature (exit 4)");
  const char *given[] = {"--trust-period", "3", "--trust-height", hs, "--trust-hash", hash, NULL};
  CHECK_STR(prove_ex(api[0], given, &from, code, sizeof code), "verified");
  CHECK_EQ(from, h);
  fprintf(stderr, "  light client: trust moved, expired after 3 s, and came back from header %lld\n", h);
}

static void light_client_refuses_a_lying_node(void) {
  liar l;
  char code[96];
  double t0 = ag_mono_s();
  CHECK_OK(liar_start(&l, api[0]));
  CHECK_STR(prove_via(api[0], code, sizeof code), "verified");
  atomic_store(&l.mode, LIAR_HONEST);
  CHECK_STR(prove_via(l.url, code, sizeof code), "verified");
  atomic_store(&l.mode, LIAR_FORGED_ROOT); /* (a) a root it made up; CometBFT's genuine header */
  CHECK_STR(prove_via(l.url, code, sizeof code), "untrusted_root (exit 4)");
  atomic_store(&l.mode, LIAR_DROP_SIGS); /* (c) two of four signatures removed */
  CHECK_STR(prove_via(l.url, code, sizeof code), "insufficient_voting_power (exit 4)");
  atomic_store(&l.mode, LIAR_ALTER_SIG); /* one signature altered */
  CHECK_STR(prove_via(l.url, code, sizeof code), "header_signature (exit 4)");
  liar_stop(&l);
  fprintf(stderr, "  light client: honest answers verified, three lies refused (%.1f s)\n", ag_mono_s() - t0);
}

/* The explorer of a node of this network in a real browser (tests/explorer.py --cometbft: the
 * validators page, with keys bonded by accounts, and the chain page taking blocks live), when
 * Selenium and Debian's chromium are installed (scripts/bootstrap apitest, as make test does);
 * screenshots in build/.../tests/explorer-cometbft. */
static void explorer_shows_the_set(const char *node_api) {
  const char *py = AGORA_SRC_DIR "/.cache/apitest-venv/bin/python";
  if (access(py, X_OK) || access("/usr/bin/chromium", X_OK) || access("/usr/bin/chromedriver", X_OK)) {
    fprintf(stderr, "  explorer: skipped, Selenium or chromium is not installed (scripts/bootstrap apitest)\n");
    return;
  }
  char out[600], cmd[2000];
  snprintf(out, sizeof out, "%s/tests/explorer-cometbft", AGORA_BUILD_DIR);
  mkdir(out, 0755);
  snprintf(cmd, sizeof cmd, "'%s' '%s/tests/explorer.py' --cometbft '%s' '%s' >&2", py, AGORA_SRC_DIR, node_api, out);
  CHECK_EQ(system(cmd), 0);
}

TEST(four_validators_survive_faults) {
  char *dir = test_tmpdir("cmt");
  snprintf(root, sizeof root, "%s/net", dir);
  snprintf(logpath, sizeof logpath, "%s/localnet.log", dir);
  atexit(stop_all);
  char base[16];
  /* below the ephemeral ports (32768..60999 here), apart from test_sys_localnet's 20000..29999: a port
   * some connection holds as its local end cannot be bound, and consensus never starts */
  snprintf(base, sizeof base, "%d", 10000 + (int)(getpid() % 100) * 100);
  static char fault[700];
  snprintf(fault, sizeof fault, "%s/damage-a-chunk", dir);
  setenv("AGORA_FAULT_SNAPSHOT_CHUNK", fault, 1); /* the validators' apps inherit it */
  const char *args[] = {"--home", root, "localnet", "--detach", "--block-time", "150",
                        "--base-port", base, "--dev-accounts", "5", "--retain-blocks", "80", NULL};
  CHECK_EQ(sys_run(NULL, args), 0);
  load_net();
  CHECK(wait_height(0, 3, 60000));
  light_client_refuses_a_lying_node();
  light_client_trust_moves_and_expires();
  for (int s = 0; s < SENDERS; s++) {
    char kd[700], name[16];
    snprintf(kd, sizeof kd, "%s/keys", root);
    snprintf(name, sizeof name, "dev%d", s);
    CHECK_OK(ag_keystore_load(kd, name, NULL, &load.keys[s], NULL));
  }
  pthread_mutex_init(&load.mu, NULL);
  pthread_t th;
  pthread_create(&th, NULL, load_thread, NULL);

  /* 1. 100 blocks under load, identical app hashes */
  long long h0 = max_height();
  CHECK(wait_height(0, h0 + 100, 240000));
  int all[NV] = {0, 1, 2, 3};
  for (int i = 0; i < NV; i++) CHECK(wait_height(i, h0 + 100, 30000));
  for (long long h = h0 + 1; h <= h0 + 100; h += 33) CHECK(agree_at(h, all, NV));
  CHECK(agree_at(h0 + 100, all, NV));
  CHECK(atomic_load(&load.accepted) > 50);
  fprintf(stderr, "  100 blocks from %lld, %d txs accepted, roots agree\n", h0, atomic_load(&load.accepted));
  fprintf(stderr, "  read back at once: %d pending, %d committed, %d not found\n",
          atomic_load(&load.read_pending), atomic_load(&load.read_committed), atomic_load(&load.read_missing));
  CHECK(atomic_load(&load.read_pending) > 0);
  CHECK_EQ(atomic_load(&load.read_missing), 0);
  /* the load went to every node's API, and each node relayed its txs to the others */
  for (int i = 0; i < NV; i++) {
    CHECK(sys_metric(api[i], "agora_relay_received_txs_total{result=\"accepted\"}") > 0);
    CHECK(sys_metric(api[i], "agora_relay_requests_total{result=\"ok\"}") > 0);
  }

  /* 2. one validator killed: the others keep finalizing; restarted, it catches up */
  kill(cmt_pid[3], SIGKILL);
  kill(app_pid[3], SIGKILL);
  long long h1 = max_height();
  int live3[3] = {0, 1, 2};
  CHECK(wait_height(0, h1 + 5, 60000));
  for (int k = 1; k < 3; k++) CHECK(wait_height(k, h1 + 5, 30000)); /* a node may be a block behind */
  CHECK(agree_at(h1 + 5, live3, 3));
  localnet("start", "--validator", "3");
  load_net();
  long long h2 = max_height();
  CHECK(wait_height(3, h2, 120000));
  CHECK(agree_at(h2, all, NV));
  fprintf(stderr, "  one down: finalized %lld..%lld; back: caught up to %lld\n", h1, h1 + 5, h2);

  /* 3. two validators killed: nothing finalizes; one restarted: it resumes, nothing lost */
  pthread_mutex_lock(&load.mu);
  int seen = load.nhash;
  pthread_mutex_unlock(&load.mu);
  int nseen = 0;
  long long seen_h[4096];
  char (*seen_hash)[65] = malloc(4096 * 65);
  for (int k = 0; k < seen; k++)
    if (committed(0, load.hashes[k], &seen_h[nseen])) {
      snprintf(seen_hash[nseen], 65, "%s", load.hashes[k]);
      nseen++;
    }
  CHECK(nseen > 0);
  kill(cmt_pid[2], SIGKILL);
  kill(app_pid[2], SIGKILL);
  kill(cmt_pid[3], SIGKILL);
  kill(app_pid[3], SIGKILL);
  ag_sleep_ms(2000); /* let an in-flight height settle */
  long long stalled = max_height();
  ag_sleep_ms(5000);
  CHECK_EQ(max_height(), stalled);
  /* a tx sent to node 0 while nothing finalizes waits in the nodes' pools (0's and, relayed,
   * 1's); both are killed too, and every pool with them: node 0 takes it again once it is
   * back (its mempool.log), and it commits */
  ag_keypair own;
  char kd[700], owned[65];
  snprintf(kd, sizeof kd, "%s/keys", root);
  CHECK_OK(ag_keystore_load(kd, "dev4", NULL, &own, NULL));
  ag_buf opl, otx;
  ag_buf_init(&opl);
  ag_buf_init(&otx);
  ag_transfer_encode(&opl, load.keys[0].pk, 777);
  ag_tx_build(&otx, AG_TX_TRANSFER, "agora-localnet", &own, 0, 100000, 0, opl.data, (uint32_t)opl.len);
  uint8_t oid[32];
  ag_hash("agora/txid", otx.data, otx.len, oid);
  ag_hex_encode(oid, 32, owned);
  char ourl[128];
  snprintf(ourl, sizeof ourl, "%s/v1/txs", api[0]);
  ag_http_result orr;
  CHECK_OK(ag_http_request("POST", ourl, "application/octet-stream", otx.data, otx.len, 5000, &orr));
  CHECK_EQ(orr.status, 202);
  ag_http_result_free(&orr);
  /* relayed: node 1 holds it too (nothing else could give it to it: CometBFT keeps no txs) */
  int relayed = 0;
  for (int i = 0; i < 100 && !relayed; i++) {
    char path[128];
    snprintf(path, sizeof path, "/v1/txs/%s", owned);
    long st = 0;
    json_t *t = sys_get_json(api[1], path, &st);
    relayed = st == 200 && !strcmp(json_string_value(json_object_get(t, "status")) ?: "", "pending");
    json_decref(t);
    if (!relayed) ag_sleep_ms(100);
  }
  CHECK(relayed);
  kill(cmt_pid[0], SIGKILL);
  kill(app_pid[0], SIGKILL);
  kill(cmt_pid[1], SIGKILL);
  kill(app_pid[1], SIGKILL);
  ag_sleep_ms(1000);
  localnet("start", "--validator", "0");
  localnet("start", "--validator", "1");
  localnet("start", "--validator", "2");
  load_net();
  int back = 0;
  for (int i = 0; i < 600 && !(back = committed(0, owned, NULL)); i++) ag_sleep_ms(100);
  CHECK(back);
  fprintf(stderr, "  a pending tx outlived every node's mempool: node 0 sent it again, committed\n");
  ag_buf_free(&opl);
  ag_buf_free(&otx);
  CHECK(wait_height(0, stalled + 3, 120000));
  for (int k = 0; k < nseen; k++) {
    long long hh = -1;
    CHECK(committed(0, seen_hash[k], &hh));
    CHECK_EQ(hh, seen_h[k]);
  }
  fprintf(stderr, "  two down: stalled at %lld; one back: resumed, %d committed txs all present\n", stalled, nseen);
  free(seen_hash);
  localnet("start", "--validator", "3");
  load_net();

  /* 4. an app killed with SIGKILL: CometBFT stops with it; both restart and replay */
  CHECK(wait_height(3, stalled + 3, 120000));
  kill(app_pid[1], SIGKILL);
  ag_sleep_ms(1500);
  localnet("start", "--validator", "1");
  load_net();
  long long h3 = max_height();
  CHECK(wait_height(1, h3 + 2, 120000));
  CHECK(agree_at(h3, all, NV));
  fprintf(stderr, "  app of validator 1 SIGKILLed and restarted: agrees at %lld\n", h3);

  /* 5. CometBFT's RPC takes no tx (nop mempool); a relay body with a torn frame is refused
   * whole; a malformed tx relayed is refused and never included */
  char url[160];
  snprintf(url, sizeof url, "%s/broadcast_tx_sync?tx=0x010100", rpc[0]);
  ag_http_result r;
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  json_t *j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  CHECK(json_object_get(j, "error") != NULL && json_object_get(j, "result") == NULL);
  json_decref(j);
  ag_http_result_free(&r);
  ag_buf good, gpl, rb;
  ag_buf_init(&good);
  ag_buf_init(&gpl);
  ag_buf_init(&rb);
  ag_transfer_encode(&gpl, load.keys[1].pk, 555);
  ag_tx_build(&good, AG_TX_TRANSFER, "agora-localnet", &own, 1, 100000, 0, gpl.data, (uint32_t)gpl.len);
  ag_buf_put_u32le(&rb, (uint32_t)good.len);
  ag_buf_put(&rb, good.data, good.len);
  ag_buf_put_u32le(&rb, 50); /* announces 50 bytes, has 3 */
  ag_buf_put(&rb, (const uint8_t *)"abc", 3);
  snprintf(url, sizeof url, "%s/v1/txs/relay", api[2]);
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", rb.data, rb.len, 5000, &r));
  CHECK_EQ(r.status, 400);
  j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "truncated");
  json_decref(j);
  ag_http_result_free(&r);
  uint8_t gid[32];
  char ghex[65], gpath[128];
  ag_hash("agora/txid", good.data, good.len, gid);
  ag_hex_encode(gid, 32, ghex);
  snprintf(gpath, sizeof gpath, "/v1/txs/%s", ghex);
  long gst = 0;
  json_t *gj = sys_get_json(api[2], gpath, &gst);
  CHECK_EQ(gst, 404); /* the good tx before the torn frame was not taken */
  json_decref(gj);
  uint8_t bad[3] = {1, 1, 0}, id[32];
  rb.len = 0;
  ag_buf_put_u32le(&rb, 3);
  ag_buf_put(&rb, bad, 3);
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", rb.data, rb.len, 5000, &r));
  CHECK_EQ(r.status, 200);
  j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  CHECK_EQ(json_integer_value(json_object_get(j, "accepted")), 0);
  CHECK_EQ(json_integer_value(json_object_get(j, "refused")), 1);
  json_decref(j);
  ag_http_result_free(&r);
  ag_buf_free(&good);
  ag_buf_free(&gpl);
  ag_buf_free(&rb);
  char idhex[65];
  ag_hash("agora/txid", bad, 3, id);
  ag_hex_encode(id, 32, idhex);
  long long hb = max_height();
  CHECK(wait_height(0, hb + 3, 60000));
  CHECK(!committed(0, idhex, NULL));

  /* 6. state sync: a fifth validator joins from the latest snapshot (one every 40 blocks); the
   * first chunk served is damaged (AGORA_FAULT_SNAPSHOT_CHUNK): refused, taken from another.
   * `add-validator` is `join` plus the sudo key's sudo_set_validator for its consensus key */
  FILE *ff = fopen(fault, "w");
  CHECK(ff != NULL);
  if (ff) fclose(ff);
  CHECK_EQ(localnet("add-validator", NULL, NULL), 0);
  load_net();
  /* from once it has a state: it has none below the snapshot it restored, which may be one
   * the validators took after it was added (a CI run restored 160 and was asked for 159) */
  CHECK(wait_height(NV, 1, 120000));
  long long hj = max_height() + 3;
  if (height_of(NV) + 3 > hj) hj = height_of(NV) + 3;
  CHECK(wait_height(NV, hj, 120000));
  int pair[2] = {0, NV};
  CHECK(wait_height(0, hj, 30000));
  CHECK(agree_at(hj, pair, 2));
  CHECK(access(fault, F_OK) != 0); /* a validator served the damaged chunk */
  char jlog[700];
  snprintf(jlog, sizeof jlog, "%s/node%d/agora.log", root, NV);
  uint8_t *lg = NULL;
  size_t lgn = 0;
  CHECK_OK(ag_read_file(jlog, 64 << 20, &lg, &lgn));
  char *text = lg ? calloc(1, lgn + 1) : NULL;
  if (text) memcpy(text, lg, lgn);
  CHECK(text && strstr(text, "does not match its hash: refused") != NULL);
  CHECK(text && strstr(text, "restored the state of height") != NULL);
  free(text);
  free(lg);
  snprintf(url, sizeof url, "%s/status", rpc[NV]);
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  const char *earliest = json_string_value(
      json_object_get(json_object_get(json_object_get(j, "result"), "sync_info"), "earliest_block_height"));
  CHECK(earliest && atoll(earliest) > 1); /* no replay from genesis */
  fprintf(stderr, "  node %d joined by state sync (its first block %s), agrees at %lld\n", NV, earliest ? earliest : "?", hj);
  json_decref(j);
  ag_http_result_free(&r);
  /* ... and votes: CometBFT lists 5 validators, and its key signs the blocks */
  char vkey[700];
  snprintf(vkey, sizeof vkey, "%s/node%d/cometbft/config/priv_validator_key.json", root, NV);
  json_t *pv = json_load_file(vkey, 0, NULL);
  const char *vaddr = json_string_value(json_object_get(pv, "address"));
  CHECK(vaddr != NULL);
  snprintf(url, sizeof url, "%s/validators", rpc[0]);
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "result"), "total")), "5");
  json_decref(j);
  ag_http_result_free(&r);
  /* every commit from here on, until one has its precommit (a node that lags can miss the
   * 150 ms in which a commit gathers votes, so one block is not enough to ask) */
  int signed_by_it = 0;
  long long from = height_of(0);
  uint64_t until = ag_mono_ms() + 90000;
  while (!signed_by_it && vaddr && ag_mono_ms() < until) {
    long long top = height_of(0) - 1;
    for (long long h = from; h <= top && !signed_by_it; h++) {
      snprintf(url, sizeof url, "%s/commit?height=%lld", rpc[0], h);
      if (ag_http_request("GET", url, NULL, NULL, 0, 5000, &r)) continue;
      j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
      json_t *sigs = json_object_get(
          json_object_get(json_object_get(json_object_get(j, "result"), "signed_header"), "commit"), "signatures");
      for (size_t k = 0; k < json_array_size(sigs); k++) {
        json_t *sg = json_array_get(sigs, k);
        const char *a = json_string_value(json_object_get(sg, "validator_address"));
        if (a && !strcmp(a, vaddr) && json_integer_value(json_object_get(sg, "block_id_flag")) == 2) signed_by_it = 1;
      }
      json_decref(j);
      ag_http_result_free(&r);
      from = h + 1;
    }
    if (!signed_by_it) ag_sleep_ms(500);
  }
  CHECK(signed_by_it);
  json_decref(pv);
  /* a light client follows the changed set: the genesis validators are among its signers */
  char pcode[96];
  CHECK_STR(prove_via(api[0], pcode, sizeof pcode), "verified (set changed)");
  /* the API lists the five; `agora consensus set KEY 0` from the sudo key takes it out again */
  json_t *vs = sys_get_json(api[0], "/v1/validators", NULL);
  CHECK_EQ(json_array_size(json_object_get(vs, "validators")), NV + 1);
  CHECK_STR(json_string_value(json_object_get(vs, "consensus")), "cometbft");
  json_decref(vs);
  char home0[600];
  snprintf(home0, sizeof home0, "%s/node0", root);
  const char *rm[] = {"--home", home0, "--node", api[0], "--yes", "consensus", "set", vkey, "0", "--from", "sudo", NULL};
  CHECK_EQ(sys_run(NULL, rm), 0);
  vs = sys_get_json(api[0], "/v1/validators", NULL);
  CHECK_EQ(json_array_size(json_object_get(vs, "validators")), NV);
  json_decref(vs);

  /* 6b. validators by bond: the sudo account (any account would do; the load uses the dev
   * keys) bonds 10 AGR to the same key (signed with its priv_validator_key.json), and its node
   * stops. At the next validator epoch (10 blocks on a localnet) it is a validator anyway, with
   * the power the budget allows; it signs nothing, and at the end of the next epoch it is
   * jailed, its power gone, while the chain goes on (it never held a third) */
  const char *bond_args[] = {"--home", home0, "--node", api[0], "--yes", "consensus", "bond", vkey, "10", "--from", "sudo", NULL};
  CHECK_EQ(sys_run(NULL, bond_args), 0);
  char nvs[8];
  snprintf(nvs, sizeof nvs, "%d", NV);
  CHECK_EQ(localnet("stop", "--validator", nvs), 0); /* before its power: it will sign nothing */
  char vhex[65] = "";
  uint8_t vpk[32];
  size_t vpl = 0;
  json_t *pvf = json_load_file(vkey, 0, NULL);
  const char *pb64 = json_string_value(json_object_get(json_object_get(pvf, "pub_key"), "value"));
  CHECK(pb64 && sodium_base642bin(vpk, 32, pb64, strlen(pb64), NULL, &vpl, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        vpl == 32);
  ag_hex_encode(vpk, 32, vhex);
  json_decref(pvf);
  long long power4 = 0;
  for (uint64_t until3 = ag_mono_ms() + 60000; power4 == 0 && ag_mono_ms() < until3;) {
    vs = sys_get_json(api[0], "/v1/validators", NULL);
    json_t *va = json_object_get(vs, "validators");
    for (size_t k = 0; k < json_array_size(va); k++)
      if (!strcmp(json_string_value(json_object_get(json_array_get(va, k), "consensus_key")) ?: "", vhex))
        power4 = json_integer_value(json_object_get(json_array_get(va, k), "power"));
    json_t *bd = json_array_get(json_object_get(vs, "bonded"), 0);
    if (bd) CHECK_STR(json_string_value(json_object_get(bd, "bond")), "10000000000");
    json_decref(vs);
    if (!power4) ag_sleep_ms(300);
  }
  /* 10 AGR bonded, but the four others have power 1 each: one epoch may add less than half
   * of 4, so it gets 1 now (and would get 3, 6, 10 at the next epochs if it signs) */
  CHECK_EQ(power4, 1);
  long long hb4 = height_of(0);
  fprintf(stderr, "  node %d is a validator by bond (power %lld of its 10 for now) at height %lld\n", NV, power4, hb4);
  int jailed4 = 0;
  for (uint64_t until4 = ag_mono_ms() + 90000; !jailed4 && ag_mono_ms() < until4;) {
    vs = sys_get_json(api[0], "/v1/validators", NULL);
    json_t *bd = json_array_get(json_object_get(vs, "bonded"), 0);
    jailed4 = json_is_integer(json_object_get(bd, "jailed_until")) &&
              json_array_size(json_object_get(vs, "validators")) == NV;
    json_decref(vs);
    if (!jailed4) ag_sleep_ms(500);
  }
  CHECK(jailed4);
  CHECK(wait_height(0, height_of(0) + 3, 30000)); /* and the chain goes on without it */
  fprintf(stderr, "  stopped, it was jailed by height %lld\n", height_of(0));

  /* 6c. `localnet add-validator --bond 10`, as an operator adds a node: a sixth node joins by
   * state sync and the network's key bonds 10 AGR to its consensus key. It signs, so it gets
   * power at the next validator epoch, and its owner is paid part of each block reward for
   * the blocks it signs (reward_bps) */
  CHECK_EQ(localnet("add-validator", "--bond", "10"), 0);
  char owner5[AG_ADDR_MAX] = "";
  long long power5 = 0;
  for (uint64_t until5 = ag_mono_ms() + 120000; !power5 && ag_mono_ms() < until5;) {
    vs = sys_get_json(api[0], "/v1/validators", NULL);
    json_t *bl = json_object_get(vs, "bonded"), *va = json_object_get(vs, "validators");
    for (size_t k = 0; k < json_array_size(bl); k++) {
      json_t *bd = json_array_get(bl, k);
      const char *key = json_string_value(json_object_get(bd, "consensus_key")) ?: "";
      if (!strcmp(key, vhex)) continue; /* node 4's */
      snprintf(owner5, sizeof owner5, "%s", json_string_value(json_object_get(bd, "owner")) ?: "");
      for (size_t i = 0; i < json_array_size(va); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(va, i), "consensus_key")) ?: "", key))
          power5 = json_integer_value(json_object_get(json_array_get(va, i), "power"));
    }
    json_decref(vs);
    if (!power5) ag_sleep_ms(500);
  }
  CHECK(power5 > 0);
  char apath[160];
  snprintf(apath, sizeof apath, "/v1/accounts/%s", owner5);
  json_t *a0 = sys_get_json(api[0], apath, NULL);
  uint64_t bal0 = ag_json_u64_of(a0, "balance");
  json_decref(a0);
  CHECK(wait_height(0, height_of(0) + 6, 30000));
  json_t *a1 = sys_get_json(api[0], apath, NULL);
  uint64_t bal1 = ag_json_u64_of(a1, "balance");
  json_decref(a1);
  CHECK(bal1 > bal0); /* its share of the block rewards, the account sending nothing meanwhile */
  fprintf(stderr, "  node %d added by add-validator --bond 10: power %lld, its owner earned %llu base units in 6 blocks\n",
          NV + 1, power5, (unsigned long long)(bal1 - bal0));

  /* 6d. what the explorer shows of it */
  explorer_shows_the_set(api[0]);

  /* 7. pruning (--retain-blocks 80): validator 0's CometBFT drops old blocks, keeps at least
   * the newest 80 and every block from its oldest kept snapshot on (one every 40, 3 kept) */
  long long earliest0 = 0, latest0 = 0;
  for (uint64_t until2 = ag_mono_ms() + 120000; earliest0 <= 1 && ag_mono_ms() < until2;) {
    snprintf(url, sizeof url, "%s/status", rpc[0]);
    if (ag_http_request("GET", url, NULL, NULL, 0, 5000, &r) == 0) {
      j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
      json_t *si = json_object_get(json_object_get(j, "result"), "sync_info");
      const char *e0 = json_string_value(json_object_get(si, "earliest_block_height")),
                 *l0 = json_string_value(json_object_get(si, "latest_block_height"));
      earliest0 = e0 ? atoll(e0) : 0;
      latest0 = l0 ? atoll(l0) : 0;
      json_decref(j);
      ag_http_result_free(&r);
    }
    if (earliest0 <= 1) ag_sleep_ms(500);
  }
  fprintf(stderr, "  validator 0 keeps blocks %lld..%lld\n", earliest0, latest0);
  CHECK(earliest0 > 1);
  CHECK(latest0 - earliest0 + 1 >= 80);
  CHECK(earliest0 <= (latest0 / 40 - 3) * 40 + 1); /* the oldest snapshot a joiner may take */

  atomic_store(&load.stop, 1);
  pthread_join(th, NULL);
  stop_all();
  root[0] = 0;
  test_rmdir(dir);
}

TEST_MAIN(four_validators_survive_faults)
