/*
 * test_sys_node.c — the real node on loopback: 2,000 transfers through the HTTP API, a SIGKILL
 * mid-stream, a restart; every tx the API reported committed is still committed at the same
 * place, all txs eventually commit, and `agora node --replay` reaches the same state root.
 * The kill happens three times, at random instants of the block cycle.
 * Also: the CLI against the node (send, balance, query --prove) and API error answers,
 * `query --prove` against a node that lies (tests/liar.h): a forged balance with a proof against
 * a root the liar made up, a header signed by another key — each refused with its code; and a
 * full mempool taking the better fee per byte through the API (eviction, refusal, block order).
 */
#include "api/http.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "consensus/node.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "economy/economy.h"
#include "liar.h"
#include "sysutil.h"
#include "test.h"
#include "testutil.h"

#define SENDERS 50
#define TOTAL 2000

typedef struct {
  ag_buf raw;
  char hash[65];
  int accepted;
  int committed;      /* seen committed through the API */
  long long height;   /* where it was seen */
  long long index;
} txrec;

static char home[512], base[300], logpath[600];
static pid_t node_pid;

/* Starts `agora` with args (a node) and waits for its API address. */
static void spawn_node(const char *const *args) {
  char addrfile[600];
  snprintf(addrfile, sizeof addrfile, "%s/data/api.addr", home);
  unlink(addrfile);
  node_pid = sys_spawn(logpath, args);
  char *addr = sys_wait_file(addrfile, 60000);
  CHECK(addr != NULL);
  snprintf(base, sizeof base, "http://%s", addr ? addr : "127.0.0.1:1");
  free(addr);
}

static void start_node(void) {
  const char *args[] = {"--home", home, "node", "--block-time", "100", "--api", "127.0.0.1:0", NULL};
  spawn_node(args);
}

static int submit(txrec *t) {
  char url[400];
  snprintf(url, sizeof url, "%s/v1/txs", base);
  ag_http_result r;
  int rc = ag_http_request("POST", url, "application/octet-stream", t->raw.data, t->raw.len, 10000, &r);
  if (rc) return -1;
  long st = r.status;
  ag_http_result_free(&r);
  return (int)st;
}

/* Polls every accepted, unconfirmed tx once; returns how many are committed in total. */
static int sweep(txrec *txs, int n) {
  int done = 0;
  for (int i = 0; i < n; i++) {
    if (txs[i].committed) {
      done++;
      continue;
    }
    if (!txs[i].accepted) continue;
    char path[128];
    snprintf(path, sizeof path, "/v1/txs/%s", txs[i].hash);
    long st = 0;
    json_t *j = sys_get_json(base, path, &st);
    if (!j) return -1; /* node gone */
    const char *s = json_string_value(json_object_get(j, "status"));
    if (st == 200 && s && !strcmp(s, "committed")) {
      txs[i].committed = 1;
      txs[i].height = json_integer_value(json_object_get(j, "height"));
      txs[i].index = json_integer_value(json_object_get(j, "index"));
      CHECK_STR(json_string_value(json_object_get(json_object_get(j, "result"), "code")), "ok");
      done++;
    }
    json_decref(j);
  }
  return done;
}

TEST(crash_restart_keeps_every_committed_tx) {
  char *dir = test_tmpdir("sysnode");
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  const char *init[] = {"--home", home, "init", "--dev-accounts", "50", "--json", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  char keydir[600];
  snprintf(keydir, sizeof keydir, "%s/keys", home);
  ag_keypair keys[SENDERS];
  for (int i = 0; i < SENDERS; i++) {
    char name[16];
    snprintf(name, sizeof name, "dev%d", i);
    CHECK_OK(ag_keystore_load(keydir, name, NULL, &keys[i], NULL));
  }
  ag_params p;
  ag_params_default(&p);
  txrec *txs = calloc(TOTAL, sizeof *txs);
  for (int i = 0; i < TOTAL; i++) {
    int s = i % SENDERS;
    ag_buf pl;
    ag_buf_init(&pl);
    ag_transfer_encode(&pl, keys[(s + 1) % SENDERS].pk, 1000 + (uint64_t)i);
    uint64_t fee;
    ag_tx_min_fee(p.base_fee, p.per_byte_fee, AG_TX_TRANSFER, NULL, 0, ag_tx_size(strlen("agora-devnet"), pl.len), &fee);
    ag_buf_init(&txs[i].raw);
    ag_tx_build(&txs[i].raw, AG_TX_TRANSFER, "agora-devnet", &keys[s], (uint64_t)(i / SENDERS),
                fee, 0, pl.data, (uint32_t)pl.len);
    ag_tx tx;
    ag_tx_decode(txs[i].raw.data, txs[i].raw.len, &tx);
    ag_hex_encode(tx.hash, 32, txs[i].hash);
    ag_buf_free(&pl);
  }
  /* Three rounds: submit (sweeping statuses every 100 txs), SIGKILL at a random instant, restart,
   * and check that every tx seen committed so far is still committed at the same place. */
  uint64_t seed = (uint64_t)getpid() * 2654435761u + 1;
  int next = 0;
  for (int round = 0; round < 3; round++) {
    start_node();
    for (int i = 0; i < TOTAL; i++) {
      if (txs[i].committed) continue;
      if (i < next) { /* lost with the mempool in the last crash: send again */
        int st = submit(&txs[i]);
        CHECK(st == 202 || st == 409);
        continue;
      }
      break;
    }
    int stop_at = next + 300 + (int)(test_rand(&seed) % 300);
    for (; next < TOTAL && next < stop_at; next++) {
      int st = submit(&txs[next]);
      CHECK_EQ(st, 202);
      txs[next].accepted = st == 202;
      if (next % 100 == 99) sweep(txs, next + 1);
    }
    ag_sleep_ms(test_rand(&seed) % 150); /* kill at a random point of the block cycle */
    sys_stop(node_pid, SIGKILL, 5000);
    int seen = 0;
    for (int i = 0; i < TOTAL; i++) seen += txs[i].committed;
    CHECK(seen > 0);
    fprintf(stderr, "  round %d: %d txs seen committed before SIGKILL\n", round, seen);
    /* restart: everything seen committed is still there, at the same height and index */
    start_node();
    for (int i = 0; i < TOTAL; i++) {
      if (!txs[i].committed) continue;
      char path[128];
      snprintf(path, sizeof path, "/v1/txs/%s", txs[i].hash);
      long st = 0;
      json_t *j = sys_get_json(base, path, &st);
      CHECK_EQ(st, 200);
      CHECK_STR(json_string_value(json_object_get(j, "status")), "committed");
      CHECK_EQ(json_integer_value(json_object_get(j, "height")), txs[i].height);
      CHECK_EQ(json_integer_value(json_object_get(j, "index")), txs[i].index);
      json_decref(j);
    }
    if (round < 2) sys_stop(node_pid, SIGKILL, 5000);
  }
  /* Resubmit everything not known committed (lost mempool entries come back; committed ones
   * are refused as used nonces), then wait for all 2,000. */
  for (int i = 0; i < TOTAL; i++) {
    if (txs[i].committed) continue;
    int st = submit(&txs[i]);
    CHECK(st == 202 || st == 409);
    txs[i].accepted = 1;
  }
  int done = 0;
  for (int round = 0; round < 600 && done < TOTAL; round++) {
    done = sweep(txs, TOTAL);
    if (done < TOTAL) ag_sleep_ms(100);
  }
  CHECK_EQ(done, TOTAL);

  /* The committed balances add up: sender s paid (amounts + fees) and received from s-1. */
  json_t *status = sys_get_json(base, "/v1/status", NULL);
  char root[65] = "";
  snprintf(root, sizeof root, "%s", json_string_value(json_object_get(status, "state_root")));
  long long height = json_integer_value(json_object_get(status, "height"));
  json_decref(status);
  /* a solo chain has no consensus validator set: its one producer is /v1/status's proposer */
  json_t *vs = sys_get_json(base, "/v1/validators", NULL);
  CHECK_STR(json_string_value(json_object_get(vs, "consensus")), "solo");
  CHECK_EQ(json_array_size(json_object_get(vs, "validators")), 0);
  json_decref(vs);
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);

  /* The stopped node's store checks whole: records, tree and root agree. */
  ag_buf out;
  ag_buf_init(&out);
  const char *chk[] = {"--home", home, "node", "--check-state", "--json", NULL};
  CHECK_EQ(sys_run(&out, chk), 0);
  json_t *cj = json_loadb((const char *)out.data, out.len, 0, NULL);
  CHECK(json_is_true(json_object_get(cj, "ok")));
  /* the node may have committed one more block after the status read (see the replay below) */
  long long ch = json_integer_value(json_object_get(cj, "height"));
  CHECK(ch == height || ch == height + 1);
  CHECK(json_integer_value(json_object_get(cj, "keys")) > 0);
  json_decref(cj);
  ag_buf_reset(&out);

  /* Replay from the block store reaches the same root. */
  const char *rep[] = {"--home", home, "node", "--replay", "--json", NULL};
  CHECK_EQ(sys_run(&out, rep), 0);
  json_t *r = json_loads((char *)out.data, 0, NULL);
  CHECK(r != NULL);
  CHECK(json_is_true(json_object_get(r, "matches")));
  /* the node may commit one more block between the status read and the stop (a block each
   * 100 ms): then the replay ends a block later, and only its own check of the stored root
   * above applies */
  long long rh = json_integer_value(json_object_get(r, "height"));
  CHECK(rh == height || rh == height + 1);
  CHECK_EQ(rh, ch); /* the block store and the state store end at the same block */
  if (rh == height) CHECK_STR(json_string_value(json_object_get(r, "state_root")), root);
  json_decref(r);
  ag_buf_free(&out);
  for (int i = 0; i < TOTAL; i++) ag_buf_free(&txs[i].raw);
  free(txs);
  test_rmdir(dir);
}

TEST(cli_against_a_running_node) {
  char *dir = test_tmpdir("syscli");
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  const char *init[] = {"--home", home, "init", "--dev-accounts", "2", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  start_node();
  ag_buf out;
  ag_buf_init(&out);
  const char *show[] = {"--home", home, "wallet", "show", "dev1", "-a", NULL};
  CHECK_EQ(sys_run(&out, show), 0);
  char dev1[80];
  snprintf(dev1, sizeof dev1, "%.64s", (char *)out.data);
  ag_buf_reset(&out);
  const char *send[] = {"--home", home, "send", "--from", "dev0", dev1, "2.5", "--json", NULL};
  CHECK_EQ(sys_run(&out, send), 0);
  json_t *j = json_loads((char *)out.data, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(j, "status")), "committed");
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "result"), "code")), "ok");
  json_decref(j);
  ag_buf_reset(&out);
  const char *bal[] = {"--home", home, "balance", "dev1", "--json", NULL};
  CHECK_EQ(sys_run(&out, bal), 0);
  j = json_loads((char *)out.data, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(j, "balance")), "1000002500000000");
  json_decref(j);
  ag_buf_reset(&out);
  const char *prove[] = {"--home", home, "query", "account", "dev1", "--prove", "--json", NULL};
  CHECK_EQ(sys_run(&out, prove), 0);
  j = json_loads((char *)out.data, 0, NULL);
  CHECK(json_is_true(json_object_get(j, "verified")));
  json_decref(j);
  /* ?height=: the last height is served (the default "state_versions" keeps only it); an older
   * one is gone (404), and height without prove is refused (400) */
  {
    char path[300];
    long st = 0;
    json_t *s0 = sys_get_json(base, "/v1/status", NULL);
    long long hnow = json_integer_value(json_object_get(s0, "height"));
    json_decref(s0);
    json_t *a = NULL;
    for (int i = 0; i < 20 && st != 200; i++) { /* a block may commit in between: ask for the new last */
      json_decref(a);
      s0 = sys_get_json(base, "/v1/status", NULL);
      hnow = json_integer_value(json_object_get(s0, "height"));
      json_decref(s0);
      snprintf(path, sizeof path, "/v1/accounts/%s?prove=true&height=%lld", dev1, hnow);
      a = sys_get_json(base, path, &st);
    }
    CHECK_EQ(st, 200);
    CHECK_EQ(json_integer_value(json_object_get(a, "height")), hnow);
    CHECK(json_object_get(a, "proof") != NULL);
    json_decref(a);
    snprintf(path, sizeof path, "/v1/accounts/%s?prove=true&height=0", dev1);
    json_decref(sys_get_json(base, path, &st));
    CHECK_EQ(st, 404);
    snprintf(path, sizeof path, "/v1/accounts/%s?height=%lld", dev1, hnow);
    json_decref(sys_get_json(base, path, &st));
    CHECK_EQ(st, 400);
  }
  /* an account that does not exist gets a verified absence proof */
  ag_keypair stranger;
  test_key(&stranger, 4242);
  char addr[AG_ADDR_MAX];
  ag_addr_encode(stranger.pk, addr);
  ag_buf_reset(&out);
  const char *prove2[] = {"--home", home, "query", "account", addr, "--prove", "--json", NULL};
  CHECK_EQ(sys_run(&out, prove2), 0);
  j = json_loads((char *)out.data, 0, NULL);
  CHECK(json_is_true(json_object_get(j, "verified")));
  CHECK(json_is_false(json_object_get(j, "exists")));
  json_decref(j);
  /* errors: bad checksum (exit 4 is for chain rejections; a bad address is 1), overspend */
  addr[10] = addr[10] == 'q' ? 'p' : 'q';
  ag_buf_reset(&out);
  const char *badaddr[] = {"--home", home, "send", "--from", "dev0", addr, "1", "--json", NULL};
  CHECK_EQ(sys_run(&out, badaddr), 1);
  j = json_loads((char *)out.data, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "address_checksum");
  json_decref(j);
  ag_buf_reset(&out);
  const char *over[] = {"--home", home, "send", "--from", "dev0", dev1, "5000000", "--json", NULL};
  CHECK_EQ(sys_run(&out, over), 4);
  j = json_loads((char *)out.data, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "insufficient_balance");
  json_decref(j);
  ag_buf_reset(&out);
  const char *missing[] = {"--home", home, "tx", "00000000000000000000000000000000000000000000000000000000000000aa", "--json", NULL};
  CHECK_EQ(sys_run(&out, missing), 3);
  /* a key that is not there is "not found" (3), not a malformed address (1) */
  ag_buf_reset(&out);
  const char *nokey[] = {"--home", home, "balance", "NOSUCHKEY", "--json", NULL};
  CHECK_EQ(sys_run(&out, nokey), 3);
  j = json_loads(out.len ? (char *)out.data : "null", JSON_DECODE_ANY, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "key_not_found");
  json_decref(j);
  /* --json holds for an unknown command and an unknown option too, even with bytes that are
   * not UTF-8 in what the error echoes */
  const char *nocmd[] = {"--home", home, "--json", "frobnicate\xff", NULL};
  const char *noopt[] = {"--home", home, "balance", "dev1", "--frob", "--json", NULL};
  const char *const *usage[] = {nocmd, noopt};
  for (int k = 0; k < 2; k++) {
    ag_buf_reset(&out);
    CHECK_EQ(sys_run(&out, usage[k]), 2);
    j = json_loads(out.len ? (char *)out.data : "null", JSON_DECODE_ANY, NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "usage");
    CHECK(json_string_value(json_object_get(json_object_get(j, "error"), "message")) != NULL);
    json_decref(j);
  }
  /* the API answers malformed input with JSON errors and the right status */
  char url[400];
  snprintf(url, sizeof url, "%s/v1/txs", base);
  ag_http_result r;
  CHECK_OK(ag_http_request("POST", url, "text/plain", "not hex", 7, 5000, &r));
  CHECK_EQ(r.status, 400);
  ag_http_result_free(&r);
  CHECK_OK(ag_http_request("POST", url, "application/json", "{\"tx\":", 6, 5000, &r));
  CHECK_EQ(r.status, 400);
  CHECK(strstr((char *)r.body.data, "bad_json") != NULL);
  ag_http_result_free(&r);
  uint8_t *big = calloc(1, 3 << 20);
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", big, 3 << 20, 10000, &r));
  CHECK_EQ(r.status, 413);
  ag_http_result_free(&r);
  free(big);
  snprintf(url, sizeof url, "%s/metrics", base);
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  CHECK(strstr((char *)r.body.data, "agora_chain_txs_total{result=\"ok\"} 1\n") != NULL);
  ag_http_result_free(&r);
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);
  ag_buf_free(&out);
  test_rmdir(dir);
}

static json_t *cli_json(const char *const *args, int want_exit) {
  ag_buf out;
  ag_buf_init(&out);
  int rc = sys_run(&out, args);
  CHECK_EQ(rc, want_exit);
  json_t *j = json_loads(out.len ? (char *)out.data : "null", JSON_DECODE_ANY, NULL);
  if (!j) fprintf(stderr, "  not JSON: %s\n", out.len ? (char *)out.data : "");
  ag_buf_free(&out);
  return j;
}

/* `agora query account dev1 --prove --json` through node_url; returns the JSON answer and sets
 * *exit to the exit status. */
static json_t *prove_via(const char *node_url, const char *genesis, int *exit_status) {
  ag_buf out;
  ag_buf_init(&out);
  const char *args[] = {"--home", home, "--node", node_url, "query", "account", "dev1", "--prove",
                        "--json", genesis ? "--genesis" : NULL, genesis, NULL};
  *exit_status = sys_run(&out, args);
  json_t *j = json_loads(out.len ? (char *)out.data : "null", JSON_DECODE_ANY, NULL);
  ag_buf_free(&out);
  return j;
}

static const char *error_code(json_t *j) {
  return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

TEST(query_prove_refuses_a_lying_node) {
  char *dir = test_tmpdir("sysliar");
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  const char *init[] = {"--home", home, "init", "--dev-accounts", "2", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  start_node();
  for (int i = 0; i < 100; i++) { /* a block exists: the state after it has a signed header */
    json_t *st = sys_get_json(base, "/v1/status", NULL);
    long long h = json_integer_value(json_object_get(st, "height"));
    json_decref(st);
    if (h >= 1) break;
    ag_sleep_ms(100);
  }
  liar l;
  CHECK_OK(liar_start(&l, base));
  int ex;
  /* honest: verified, through the node and through the pass-through */
  json_t *j = prove_via(base, NULL, &ex);
  CHECK_EQ(ex, 0);
  CHECK(json_is_true(json_object_get(j, "verified")));
  CHECK_STR(json_string_value(json_object_get(j, "balance")), "1000000000000000");
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "header"), "consensus")), "solo");
  json_decref(j);
  atomic_store(&l.mode, LIAR_HONEST);
  j = prove_via(l.url, NULL, &ex);
  CHECK_EQ(ex, 0);
  CHECK(json_is_true(json_object_get(j, "verified")));
  json_decref(j);
  /* (a) a forged balance, proven against a root the liar made up: the signed header of that
   * height commits to another root */
  atomic_store(&l.mode, LIAR_FORGED_ROOT);
  j = prove_via(l.url, NULL, &ex);
  CHECK(ex != 0);
  CHECK_STR(error_code(j), "untrusted_root");
  json_decref(j);
  /* ... and with a header of its own for that root, signed by its own key */
  atomic_store(&l.mode, LIAR_FORGED_SIGNED);
  j = prove_via(l.url, NULL, &ex);
  CHECK(ex != 0);
  CHECK_STR(error_code(j), "header_signature");
  json_decref(j);
  /* (b) the genuine proof and header, signed by another key than the genesis producer's */
  atomic_store(&l.mode, LIAR_WRONG_KEY);
  j = prove_via(l.url, NULL, &ex);
  CHECK(ex != 0);
  CHECK_STR(error_code(j), "header_signature");
  json_decref(j);
  /* a genesis that names no producer gives nothing to check against */
  char gpath[700], gold[700];
  snprintf(gold, sizeof gold, "%s/genesis.json", home);
  snprintf(gpath, sizeof gpath, "%s/old-genesis.json", dir);
  json_t *g = json_load_file(gold, 0, NULL);
  json_object_del(g, "proposer");
  json_dump_file(g, gpath, 0);
  json_decref(g);
  j = prove_via(base, gpath, &ex);
  CHECK(ex != 0);
  CHECK_STR(error_code(j), "no_trust_anchor");
  json_decref(j);
  liar_stop(&l);
  /* the node refuses to sign with a key that genesis does not name */
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);
  ag_keypair other;
  ag_key_generate(&other);
  CHECK_OK(ag_node_key_save(home, &other));
  const char *node[] = {"--home", home, "node", "--api", "127.0.0.1:0", NULL};
  pid_t p = sys_spawn(logpath, node);
  int st = -1;
  for (int i = 0; i < 200 && waitpid(p, &st, WNOHANG) == 0; i++) ag_sleep_ms(50);
  if (!WIFEXITED(st)) sys_stop(p, SIGKILL, 5000); /* still running: it accepted the key */
  else sys_untrack(p);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
  test_rmdir(dir);
}

TEST(incentive_cli_and_metagraph) {
  char *dir = test_tmpdir("sysinc");
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  const char *init[] = {"--home", home, "init", "--dev-accounts", "3", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  start_node();
  const char *create[] = {"--home", home, "subnet", "create", "--from", "dev0", "--name", "inference", "--json", NULL};
  json_t *j = cli_json(create, 0);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "result"), "code")), "ok");
  json_decref(j);
  const char *reg[] = {"--home", home, "subnet", "register", "1", "--from", "dev0", "--hotkey", "dev1", "--json", NULL};
  j = cli_json(reg, 0);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "result"), "code")), "ok");
  json_decref(j);
  const char *again[] = {"--home", home, "subnet", "register", "1", "--from", "dev0", "--hotkey", "dev1", "--json", NULL};
  j = cli_json(again, 4); /* committed, but the chain refused it */
  json_decref(j);
  const char *stake[] = {"--home", home, "stake", "add", "--from", "dev2", "--hotkey", "dev1", "25", "--json", NULL};
  j = cli_json(stake, 0);
  json_decref(j);
  const char *over[] = {"--home", home, "stake", "remove", "--from", "dev2", "--hotkey", "dev1", "26", "--json", NULL};
  j = cli_json(over, 4);
  json_decref(j);
  const char *set[] = {"--home", home, "subnet", "set", "1", "kappa", "70000", "--from", "dev0", "--json", NULL};
  j = cli_json(set, 4);
  json_decref(j);
  const char *notowner[] = {"--home", home, "subnet", "set", "1", "tempo", "20", "--from", "dev2", "--json", NULL};
  j = cli_json(notowner, 4);
  json_decref(j);
  const char *serve[] = {"--home", home, "subnet", "serve", "1", "--hotkey", "dev1", "--host", "127.0.0.1", "--port", "9000", "--json", NULL};
  j = cli_json(serve, 0);
  json_decref(j);
  const char *mg[] = {"--home", home, "subnet", "metagraph", "1", "--bonds", "--json", NULL};
  j = cli_json(mg, 0);
  json_t *u0 = json_array_get(json_object_get(j, "uids"), 0);
  CHECK_EQ(json_array_size(json_object_get(j, "uids")), 1);
  CHECK_STR(json_string_value(json_object_get(u0, "stake")), "25000000000");
  CHECK_EQ(json_integer_value(json_object_get(json_object_get(u0, "endpoint"), "port")), 9000);
  CHECK(json_is_array(json_object_get(u0, "bonds")));
  CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "hyperparams"), "tempo")), 360);
  json_decref(j);
  const char *list[] = {"--home", home, "subnet", "list", "--json", NULL};
  j = cli_json(list, 0);
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "subnets"), 0), "name")), "inference");
  json_decref(j);
  const char *sl[] = {"--home", home, "stake", "list", "dev2", "--json", NULL};
  j = cli_json(sl, 0);
  CHECK_STR(json_string_value(json_object_get(j, "total")), "25000000000");
  json_decref(j);
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);
  test_rmdir(dir);
}

static const char *result_code(json_t *j) {
  return json_string_value(json_object_get(json_object_get(j, "result"), "code"));
}

/* A payment channel through the CLI and the API: open, a voucher signed locally, its claim, a
 * replay refused, a close by each side; then an offer with its bond (docs/economy.md). */
TEST(channel_and_offer_cli_against_a_running_node) {
  char *dir = test_tmpdir("syschan");
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  const char *init[] = {"--home", home, "init", "--dev-accounts", "3", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  start_node();
  const char *open[] = {"--home", home, "channel", "open", "dev1", "--from", "dev0", "--deposit", "5",
                        "--settle-delay", "10", "--json", NULL};
  json_t *j = cli_json(open, 0);
  CHECK_STR(result_code(j), "ok");
  const char *sum = json_string_value(json_object_get(j, "summary")), *at = sum ? strstr(sum, "as channel ") : NULL;
  char id[65] = "";
  if (at) snprintf(id, sizeof id, "%s", at + 11);
  CHECK_EQ(strlen(id), 64);
  json_decref(j);
  const char *vch[] = {"--home", home, "channel", "voucher", id, "--from", "dev0", "--amount", "2", "--seq", "1", "--json", NULL};
  j = cli_json(vch, 0);
  char voucher[2 * AG_VOUCHER_MAX + 1] = "";
  snprintf(voucher, sizeof voucher, "%s", json_string_value(json_object_get(j, "voucher")) ?: "");
  json_decref(j);
  const char *claim[] = {"--home", home, "channel", "claim", voucher, "--from", "dev1", "--json", NULL};
  j = cli_json(claim, 0);
  CHECK_STR(result_code(j), "ok");
  json_decref(j);
  j = cli_json(claim, 4); /* the same voucher again: committed, refused by the chain */
  CHECK_STR(result_code(j), "voucher_sequence");
  json_decref(j);
  /* two vouchers in one channel_claims: a stale one fails both, then the good two pass */
  const char *vch3[] = {"--home", home, "channel", "voucher", id, "--from", "dev0", "--amount", "2.5", "--seq", "2", "--json", NULL};
  const char *vch4[] = {"--home", home, "channel", "voucher", id, "--from", "dev0", "--amount", "3", "--seq", "3", "--json", NULL};
  char v3[2 * AG_VOUCHER_MAX + 1] = "", v4[2 * AG_VOUCHER_MAX + 1] = "";
  j = cli_json(vch3, 0);
  snprintf(v3, sizeof v3, "%s", json_string_value(json_object_get(j, "voucher")) ?: "");
  json_decref(j);
  j = cli_json(vch4, 0);
  snprintf(v4, sizeof v4, "%s", json_string_value(json_object_get(j, "voucher")) ?: "");
  json_decref(j);
  const char *stale2[] = {"--home", home, "channel", "claim", v3, voucher, "--from", "dev1", "--json", NULL};
  j = cli_json(stale2, 4);
  CHECK_STR(result_code(j), "voucher_sequence");
  CHECK(strstr(json_string_value(json_object_get(json_object_get(j, "result"), "message")) ?: "", "claim 2 of 2") != NULL);
  json_decref(j);
  const char *amt2[] = {"--home", home, "channel", "claim", v3, v4, "--from", "dev1", "--amount", "1", "--json", NULL};
  j = cli_json(amt2, 2); /* --amount is one channel's total */
  json_decref(j);
  const char *two[] = {"--home", home, "channel", "claim", v3, v4, "--from", "dev1", "--json", NULL};
  j = cli_json(two, 0);
  CHECK_STR(result_code(j), "ok");
  CHECK(!strncmp(json_string_value(json_object_get(j, "summary")) ?: "", "redeem 2 vouchers", 17));
  /* one tx, a base fee (1,000) for each voucher besides its bytes */
  uint64_t fee2 = 0;
  CHECK_OK(ag_parse_u64(json_string_value(json_object_get(j, "fee")) ?: "", &fee2));
  CHECK(fee2 > 2000 && (fee2 - 2000) % 10 == 0);
  json_decref(j);
  const char *show[] = {"--home", home, "channel", "show", id, "--json", NULL};
  j = cli_json(show, 0);
  CHECK_STR(json_string_value(json_object_get(j, "claimed")), "3000000000");
  CHECK_STR(json_string_value(json_object_get(j, "remaining")), "2000000000");
  CHECK_STR(json_string_value(json_object_get(j, "status")), "open");
  json_decref(j);
  const char *cclose[] = {"--home", home, "channel", "close", id, "--from", "dev0", "--json", NULL};
  j = cli_json(cclose, 0);
  json_decref(j);
  j = cli_json(show, 0);
  CHECK_STR(json_string_value(json_object_get(j, "status")), "closing");
  CHECK(json_integer_value(json_object_get(j, "close_at")) > 0);
  json_decref(j);
  const char *pclose[] = {"--home", home, "channel", "close", id, "--from", "dev1", "--json", NULL};
  j = cli_json(pclose, 0);
  json_decref(j);
  j = cli_json(show, 0);
  CHECK_STR(json_string_value(json_object_get(j, "status")), "closed");
  CHECK_STR(json_string_value(json_object_get(j, "remaining")), "0");
  json_decref(j);
  /* dev1 as a provider: registered by dev0, offering a model with a bond */
  const char *create[] = {"--home", home, "subnet", "create", "--from", "dev0", "--name", "inference", "--json", NULL};
  j = cli_json(create, 0);
  json_decref(j);
  const char *reg[] = {"--home", home, "subnet", "register", "1", "--from", "dev0", "--hotkey", "dev1", "--json", NULL};
  j = cli_json(reg, 0);
  json_decref(j);
  static const char model[] = "1111111111111111111111111111111111111111111111111111111111111111";
  const char *low[] = {"--home", home, "offer", "post", "--from", "dev0", "--hotkey", "dev1", "--model", model,
                       "--price-in", "0.001", "--price-out", "0.002", "--bond", "5", "--json", NULL};
  j = cli_json(low, 4);
  CHECK_STR(result_code(j), "bond_too_low");
  json_decref(j);
  const char *post[] = {"--home", home, "offer", "post", "--from", "dev0", "--hotkey", "dev1", "--model", model,
                        "--price-in", "0.001", "--price-out", "0.002", "--bond", "10", "--json", NULL};
  j = cli_json(post, 0);
  CHECK_STR(result_code(j), "ok");
  json_decref(j);
  const char *list[] = {"--home", home, "offer", "list", "--model", model, "--json", NULL};
  j = cli_json(list, 0);
  json_t *o0 = json_array_get(json_object_get(j, "offers"), 0);
  CHECK_EQ(json_array_size(json_object_get(j, "offers")), 1);
  CHECK_STR(json_string_value(json_object_get(o0, "price_out_per_1k")), "2000000");
  CHECK_STR(json_string_value(json_object_get(json_object_get(o0, "bond"), "bonded")), "10000000000");
  json_decref(j);
  const char *bshow[] = {"--home", home, "bond", "show", "dev1", "--json", NULL};
  j = cli_json(bshow, 0);
  CHECK_EQ(json_integer_value(json_object_get(j, "offers")), 1);
  json_decref(j);
  const char *unb[] = {"--home", home, "bond", "unbond", "--from", "dev0", "--hotkey", "dev1", "--amount", "1", "--json", NULL};
  j = cli_json(unb, 4);
  CHECK_STR(result_code(j), "bond_has_offers");
  json_decref(j);
  /* a dataset as an asset, shown and claimed through the CLI */
  static const char ds[] = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";
  const char *areg[] = {"--home", home, "asset", "register", ds, "--from", "dev2", "--kind", "dataset", "--supply", "1000", "--json", NULL};
  j = cli_json(areg, 0);
  CHECK_STR(result_code(j), "ok");
  json_decref(j);
  const char *ashow[] = {"--home", home, "asset", "show", ds, "--json", NULL};
  j = cli_json(ashow, 0);
  CHECK_STR(json_string_value(json_object_get(j, "supply")), "1000");
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "holders"), 0), "shares")), "1000");
  json_decref(j);
  const char *mclaim[] = {"--home", home, "model", "claim", ds, "--from", "dev2", "--json", NULL};
  j = cli_json(mclaim, 0);
  CHECK_STR(result_code(j), "ok");
  json_decref(j);
  long st = 0;
  j = sys_get_json(base, "/v1/channels/zz", &st);
  CHECK_EQ(st, 400);
  json_decref(j);
  j = sys_get_json(base, "/v1/channels/0000000000000000000000000000000000000000000000000000000000000000", &st);
  CHECK_EQ(st, 404);
  CHECK_STR(error_code(j), "channel_not_found");
  json_decref(j);
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);
  test_rmdir(dir);
}

/* ---- the mempool's fee rule through the node (docs/security.md, "Fees and the mempool") --- */

typedef struct {
  ag_buf raw;
  char hash[65];
} ftx;

static void fee_tx(ftx *t, const ag_keypair *from, const ag_keypair *to, uint64_t nonce,
                   uint64_t fee) {
  ag_buf pl;
  ag_buf_init(&pl);
  ag_transfer_encode(&pl, to->pk, 1000);
  ag_buf_init(&t->raw);
  ag_tx_build(&t->raw, AG_TX_TRANSFER, "agora-devnet", from, nonce, fee, 0, pl.data,
              (uint32_t)pl.len);
  ag_tx tx;
  ag_tx_decode(t->raw.data, t->raw.len, &tx);
  ag_hex_encode(tx.hash, 32, t->hash);
  ag_buf_free(&pl);
}

/* POSTs the tx; returns the HTTP status and keeps the body's error message in msg. */
static long post_tx(const ftx *t, char *msg, size_t cap) {
  char url[400];
  snprintf(url, sizeof url, "%s/v1/txs", base);
  ag_http_result r;
  msg[0] = 0;
  if (ag_http_request("POST", url, "application/octet-stream", t->raw.data, t->raw.len, 10000, &r))
    return -1;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  snprintf(msg, cap, "%s", m ? m : "");
  json_decref(j);
  long st = r.status;
  ag_http_result_free(&r);
  return st;
}

static long long json_num(const char *path, const char *field) {
  long st = 0;
  json_t *j = sys_get_json(base, path, &st);
  long long v = st == 200 ? json_integer_value(json_object_get(j, field)) : -1;
  json_decref(j);
  return v;
}

static long long pending_nonce_of(const ag_keypair *k) {
  char addr[AG_ADDR_MAX], path[200];
  ag_addr_encode(k->pk, addr);
  snprintf(path, sizeof path, "/v1/accounts/%s", addr);
  return json_num(path, "pending_nonce");
}

static long long wait_height_above(long long h) {
  long long now = -1;
  for (int i = 0; i < 600 && (now = json_num("/v1/status", "height")) <= h; i++) ag_sleep_ms(50);
  return now;
}

/* A fresh home (in a new temp folder, returned) from `agora init` with ndev dev accounts, whose
 * keys go to k, and this config.json; *min_fee is a transfer's least fee. */
static char *fresh_home(const char *tag, int ndev, const char *conf, ag_keypair *k, uint64_t *min_fee) {
  char *dir = test_tmpdir(tag), ndev_s[16], path[600], keydir[600];
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  snprintf(ndev_s, sizeof ndev_s, "%d", ndev);
  const char *init[] = {"--home", home, "init", "--dev-accounts", ndev_s, NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  snprintf(path, sizeof path, "%s/config.json", home);
  CHECK_OK(ag_write_file_atomic(path, conf, strlen(conf), 0644));
  snprintf(keydir, sizeof keydir, "%s/keys", home);
  for (int i = 0; i < ndev; i++) {
    char name[16];
    snprintf(name, sizeof name, "dev%d", i);
    CHECK_OK(ag_keystore_load(keydir, name, NULL, &k[i], NULL));
  }
  ag_params p;
  ag_params_default(&p);
  ag_tx_min_fee(p.base_fee, p.per_byte_fee, AG_TX_TRANSFER, NULL, 0, ag_tx_size(strlen("agora-devnet"), 40), min_fee);
  return dir;
}

TEST(full_mempool_takes_the_better_fee) {
  ag_keypair k[5];
  uint64_t min;
  char *dir = fresh_home("sysfee", 5,
                         "{\"api_listen\":\"127.0.0.1:0\",\"block_time_ms\":4000,\"mempool\":"
                         "{\"max_txs\":4,\"max_bytes\":1048576,\"max_per_sender\":10}}",
                         k, &min);
  char path[600];
  ftx a0, a1, b0, c0, d0, e0, c0x;
  fee_tx(&a0, &k[0], &k[4], 0, min);
  fee_tx(&a1, &k[0], &k[4], 1, min);
  fee_tx(&b0, &k[1], &k[4], 0, min);
  fee_tx(&c0, &k[2], &k[4], 0, min);
  fee_tx(&d0, &k[3], &k[4], 0, 2 * min);
  fee_tx(&e0, &k[4], &k[0], 0, min);
  fee_tx(&c0x, &k[2], &k[4], 0, min + 1);

  const char *args[] = {"--home", home, "node", NULL};
  spawn_node(args);
  /* right after a block, a 4-second window without one */
  long long h = wait_height_above(0);
  char msg[512];
  CHECK_EQ(post_tx(&a0, msg, sizeof msg), 202);
  CHECK_EQ(post_tx(&a1, msg, sizeof msg), 202);
  CHECK_EQ(post_tx(&b0, msg, sizeof msg), 202);
  CHECK_EQ(post_tx(&c0, msg, sizeof msg), 202); /* full: 4 minimum-fee txs */
  /* twice the fee per byte gets in; the newest of the cheapest tails (c0) makes room, and its
   * sender's pending nonce is given back */
  CHECK_EQ(post_tx(&d0, msg, sizeof msg), 202);
  CHECK_EQ(pending_nonce_of(&k[2]), 0);
  snprintf(path, sizeof path, "/v1/txs/%s", c0.hash);
  long st = 0;
  json_decref(sys_get_json(base, path, &st));
  CHECK_EQ(st, 404);
  /* the minimum fee does not: 503 naming the fee that would, and nothing reserved */
  CHECK_EQ(post_tx(&e0, msg, sizeof msg), 503);
  CHECK(strstr(msg, "a fee of at least") != NULL);
  CHECK_EQ(pending_nonce_of(&k[4]), 0);
  /* the evicted sender outbids the cheapest tail (b0) with the same nonce */
  CHECK_EQ(post_tx(&c0x, msg, sizeof msg), 202);
  CHECK_EQ(json_num("/v1/status", "height"), h); /* all of it within one block interval */
  /* the next block: best fee per byte first, dev0's two in nonce order */
  wait_height_above(h);
  const ftx *want[4] = {&d0, &c0x, &a0, &a1};
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "/v1/txs/%s", want[i]->hash);
    CHECK_EQ(json_num(path, "height"), h + 1);
    CHECK_EQ(json_num(path, "index"), i);
  }
  /* the evicted b0, resubmitted after the block, commits */
  CHECK_EQ(post_tx(&b0, msg, sizeof msg), 202);
  wait_height_above(h + 1);
  snprintf(path, sizeof path, "/v1/txs/%s", b0.hash);
  CHECK_EQ(json_num(path, "height"), h + 2);
  snprintf(path, sizeof path, "%s/metrics", base);
  ag_http_result r;
  CHECK_OK(ag_http_request("GET", path, NULL, NULL, 0, 5000, &r));
  CHECK(r.body.len && strstr((char *)r.body.data, "agora_mempool_evicted_txs_total 2\n") != NULL);
  ag_http_result_free(&r);
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);
  ftx *all[7] = {&a0, &a1, &b0, &c0, &d0, &e0, &c0x};
  for (int i = 0; i < 7; i++) ag_buf_free(&all[i]->raw);
  test_rmdir(dir);
}

/* Mempool persistence (solo): txs accepted but not yet in a block survive a kill -9 (the node
 * makes no block for 10 minutes), come back checked again, and are committed once blocks run;
 * a torn record at the end of the file (a kill mid-write) is where it ends. */
TEST(pending_txs_survive_a_kill) {
  ag_keypair k[2];
  uint64_t min;
  char *dir = fresh_home("sysmplog", 2, "{\"api_listen\":\"127.0.0.1:0\",\"block_time_ms\":600000}", k, &min);
  char path[600];
  enum { N = 5 };
  ftx t[N];
  const char *slow[] = {"--home", home, "node", NULL};
  spawn_node(slow);
  char msg[512];
  for (int i = 0; i < N; i++) {
    fee_tx(&t[i], &k[0], &k[1], (uint64_t)i, min);
    CHECK_EQ(post_tx(&t[i], msg, sizeof msg), 202);
  }
  snprintf(path, sizeof path, "/v1/txs/%s", t[N - 1].hash);
  long st = 0;
  json_t *j = sys_get_json(base, path, &st);
  CHECK_STR(json_string_value(json_object_get(j, "status")), "pending");
  json_decref(j);
  CHECK_EQ(json_num("/v1/status", "height"), 0);
  CHECK_EQ(kill(node_pid, SIGKILL), 0);
  CHECK_EQ(waitpid(node_pid, NULL, 0), node_pid);
  sys_untrack(node_pid);
  /* a record cut short by the kill: its length says 900 bytes, three follow */
  snprintf(path, sizeof path, "%s/data/mempool.log", home);
  FILE *f = fopen(path, "ab");
  CHECK(f != NULL);
  if (f) {
    const uint8_t torn[7] = {0x84, 0x03, 0, 0, 1, 2, 3};
    fwrite(torn, 1, sizeof torn, f);
    fclose(f);
  }
  const char *fast[] = {"--home", home, "node", "--block-time", "100", NULL};
  spawn_node(fast);
  int committed = 0;
  for (int tries = 0; tries < 300 && committed < N; tries++) {
    committed = 0;
    for (int i = 0; i < N; i++) {
      snprintf(path, sizeof path, "/v1/txs/%s", t[i].hash);
      j = sys_get_json(base, path, &st);
      const char *s = json_string_value(json_object_get(j, "status"));
      committed += st == 200 && s && !strcmp(s, "committed") &&
                   !strcmp(json_string_value(json_object_get(json_object_get(j, "result"), "code")) ?: "", "ok");
      json_decref(j);
    }
    if (committed < N) ag_sleep_ms(100);
  }
  CHECK_EQ(committed, N);
  uint8_t *log = NULL;
  size_t loglen = 0;
  CHECK_OK(ag_read_file(logpath, 1 << 24, &log, &loglen));
  CHECK(log && strstr((char *)log, "5 pending txs restored from mempool.log") != NULL); /* NUL-terminated */
  free(log);
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 20000), 0);
  for (int i = 0; i < N; i++) ag_buf_free(&t[i].raw);
  test_rmdir(dir);
}

TEST_MAIN(crash_restart_keeps_every_committed_tx, cli_against_a_running_node,
          channel_and_offer_cli_against_a_running_node,
          query_prove_refuses_a_lying_node, incentive_cli_and_metagraph,
          full_mempool_takes_the_better_fee, pending_txs_survive_a_kill)
