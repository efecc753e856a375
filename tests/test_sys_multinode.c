/*
 * test_sys_multinode.c — both subnets on a 4-validator CometBFT network (docs/multi-validator.md
 * "Subnets on many nodes"): `agora localnet --validators 4 --subnets` with every neuron attached
 * to another node. Node k serves validator k of each subnet (stakes 2000, 1000, 1000 AGR);
 * trainers and the miner use nodes 3 and 2. The checkpoints start on node 0 alone. The tests
 * check, on the live network, in order:
 *   - nodes 2 and 3 fetch both initial checkpoints from their file peers;
 *   - a peer that serves bytes other than the announced file (the test's own server, put first
 *     in node 1's file_peers) is refused, and the file comes from an honest peer;
 *   - training rounds finalize: a round is final only when validators holding more than 2/3 of
 *     the stake propose identical checkpoint bytes, so validator 0 (node 0) and another on
 *     node 1 or 2 agreed, each working from blobs uploaded to nodes 2 and 3 (node 0, used by
 *     no trainer, fetched them); the miner on node 3 earns incentive from validators on 0..2;
 *   - node 2 (a validator's of each subnet, and a trainer's) killed with SIGKILL in the middle
 *     of a round: that round still finalizes, and the surviving nodes agree;
 *   - node 2 started again catches up to the same state and fetches the checkpoint it missed;
 *   - `localnet stop` ends every neuron with the nodes;
 *   - a start run again after a registration that failed half way skips what is on chain.
 * Waits are bounded; nothing is timed.
 */
#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/proc.h"
#include "incentive/training.h"
#include "core/util.h"
#include "sysutil.h"
#include "test.h"
#include "testutil.h"

#include <signal.h>

#define NV 4

static char root[512];
static char api[NV][64];
static int base_port;

static int localnet(ag_buf *out, const char *const *rest) {
  const char *args[32] = {"--home", root, "localnet"};
  int n = 3;
  for (; rest[n - 3] && n < 31; n++) args[n] = rest[n - 3];
  args[n] = NULL;
  return sys_run(out, args);
}

static void stop_all(void) {
  const char *a[] = {"stop", NULL};
  if (root[0]) localnet(NULL, a);
}

static json_t *training(int i) { return sys_get_json(api[i], "/v1/subnets/2/training?rounds=1", NULL); }

static uint64_t u64_of(json_t *j, const char *k) { return j ? ag_json_u64_of(j, k) : 0; }

static uint64_t finalized(int i) {
  json_t *t = training(i);
  uint64_t f = u64_of(t, "finalized");
  json_decref(t);
  return f;
}

static int wait_finalized(int i, uint64_t n, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    if (finalized(i) >= n) return 1;
    ag_sleep_ms(300);
  }
  fprintf(stderr, "  node %d finalized %llu rounds, not %llu\n", i, (unsigned long long)finalized(i),
          (unsigned long long)n);
  return 0;
}

static long long height_of(int i) { return sys_height(api[i]); }

static long long metric_of(int i, const char *series) { return sys_metric(api[i], series); }

static int wait_metric(int i, const char *series, long long at_least, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    if (metric_of(i, series) >= at_least) return 1;
    ag_sleep_ms(300);
  }
  fprintf(stderr, "  node %d: %s is %lld, not >= %lld\n", i, series, metric_of(i, series), at_least);
  return 0;
}

static int agree_at(long long h, const int *which, int n) { return sys_agree_at(api, h, which, n); }

static json_t *load_json(const char *name) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s", root, name);
  return json_load_file(path, 0, NULL);
}

static int pid_of(int i, const char *which) {
  json_t *o = load_json("localnet.json");
  int p = (int)json_integer_value(json_object_get(json_array_get(json_object_get(o, "nodes"), (size_t)i), which));
  json_decref(o);
  return p;
}

static int alive(int pid) { return ag_proc_alive(pid); }

/* ---- the network -------------------------------------------------------------------------------- */

TEST(the_network_starts_and_checkpoints_spread) {
  static char *dir;
  dir = test_tmpdir("multinode");
  char base[16];
  snprintf(root, sizeof root, "%s/net", dir);
  base_port = 21000 + (int)(getpid() % 90) * 100; /* below the ephemeral ports; apart from test_sys_localnet's */
  snprintf(base, sizeof base, "%d", base_port);
  for (int i = 0; i < NV; i++) snprintf(api[i], sizeof api[i], "http://127.0.0.1:%d", base_port + 10 * i + 9);
  atexit(stop_all);
  ag_buf out;
  ag_buf_init(&out);
  const char *a[] = {"--validators", "4", "--block-time", "400", "--base-port", base, "--subnets", "--miners", "1",
                     "--trainers", "2", "--subnet-validators", "3", "--train-dim", "64", "--train-layers", "2",
                     "--round-blocks", "50", "--detach", "--json", NULL};
  int rc = localnet(&out, a);
  if (rc) fprintf(stderr, "%s\n", (char *)out.data);
  CHECK_EQ(rc, 0);
  json_t *st = json_loadb((char *)out.data, out.len, 0, NULL);
  ag_buf_free(&out);
  CHECK_EQ(json_array_size(json_object_get(st, "neurons")), 9);
  json_decref(st);
  /* the initial checkpoints are on node 0 only: the others fetch them */
  CHECK(wait_metric(2, "agora_files_fetched_total{kind=\"checkpoint\"}", 2, 120000));
  CHECK(wait_metric(3, "agora_files_fetched_total{kind=\"checkpoint\"}", 2, 120000));
  /* every neuron past its start: the trainers, training validators and the miner announced
   * their endpoints, the inference validators wrote their status */
  uint64_t end = ag_mono_ms() + 120000;
  int ready = 0;
  while (!ready && ag_mono_ms() < end) {
    int eps[3] = {0, 0, 0};
    for (int netuid = 1; netuid <= 2; netuid++) {
      char path[64];
      snprintf(path, sizeof path, "/v1/subnets/%d/metagraph", netuid);
      json_t *mg = sys_get_json(api[0], path, NULL), *rows = json_object_get(mg, "uids");
      for (size_t k = 0; k < json_array_size(rows); k++)
        eps[netuid] += json_is_object(json_object_get(json_array_get(rows, k), "endpoint"));
      json_decref(mg);
    }
    int statuses = 0;
    for (int k = 0; k < 3; k++) {
      char path[700];
      snprintf(path, sizeof path, "%s/neurons/validator%d.json", root, k);
      statuses += ag_file_exists(path);
    }
    ready = eps[1] >= 1 && eps[2] >= 5 && statuses == 3;
    if (!ready) ag_sleep_ms(300);
  }
  CHECK(ready);
}

/* ---- a lying peer ------------------------------------------------------------------------------- */

static void junk(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "application/octet-stream");
  ag_buf_put(&resp->body, "not the announced file, but 200 OK all the same", 47);
}

TEST(a_peer_serving_other_bytes_is_refused) {
  static const ag_http_route routes[] = {{"GET", "/v1/blobs/", junk, 0}, {"GET", "/v1/model-files/", junk, 0}};
  ag_http_config cfg = {"127.0.0.1:0", 1 << 20, routes, 2, NULL, NULL, NULL};
  ag_http_server *evil;
  CHECK_EQ(ag_http_start(&cfg, &evil), 0);
  /* node 1 asks the liar first */
  const char *stop1[] = {"stop", "--validator", "1", NULL}, *start1[] = {"start", "--validator", "1", NULL};
  CHECK_EQ(localnet(NULL, stop1), 0);
  char path[700], url[64];
  snprintf(path, sizeof path, "%s/node1/config.json", root);
  json_t *c = json_load_file(path, 0, NULL);
  CHECK(c != NULL);
  snprintf(url, sizeof url, "http://127.0.0.1:%u", ag_http_port(evil));
  json_array_insert_new(json_object_get(c, "file_peers"), 0, json_string(url));
  CHECK_EQ(json_dump_file(c, path, JSON_INDENT(2)), 0);
  json_decref(c);
  CHECK_EQ(localnet(NULL, start1), 0);
  /* the next rounds' blobs: refused from the liar, then taken from an honest node */
  CHECK(wait_metric(1, "agora_files_fetch_rejected_total", 1, 120000));
  CHECK(wait_metric(1, "agora_files_fetched_total{kind=\"blob\"}", 1, 120000));
  ag_http_stop(evil);
  /* what node 1 keeps is the announced bytes: every blob file hashes to its name */
  char cmd[900];
  snprintf(cmd, sizeof cmd, "ls %s/node1/blobs/2/*/*.pgrad 2>/dev/null", root);
  FILE *ls = popen(cmd, "r");
  CHECK(ls != NULL);
  char line[1000];
  int files = 0;
  while (ls && fgets(line, sizeof line, ls)) {
    line[strcspn(line, "\n")] = 0;
    uint8_t *d, h[32];
    size_t n;
    char hex[65];
    if (ag_read_file(line, 1 << 28, &d, &n)) continue;
    ag_hash(AG_BLOB_DOMAIN, d, n, h);
    free(d);
    ag_hex_encode(h, 32, hex);
    const char *base = strrchr(line, '/') + 1;
    CHECK(!strncmp(base, hex, 64));
    files++;
  }
  if (ls) pclose(ls);
  CHECK(files >= 1);
}

/* ---- training ------------------------------------------------------------------------------------ */

TEST(training_rounds_finalize_across_nodes) {
  /* rounds finalize by 2/3 of the validators' stake, across nodes */
  CHECK(wait_finalized(3, 1, 300000));
  /* nodes 0 and 1 serve no trainer: the blobs their validators read were fetched */
  CHECK(wait_metric(0, "agora_files_fetched_total{kind=\"blob\"}", 2, 60000));
  /* trainers were paid in shares: in a round that aggregated (on 2 busy cores the trainers may
   * miss the first submission windows, and such a round finalizes with no entries) */
  size_t paid = 0;
  for (uint64_t until = ag_mono_ms() + 300000; !paid && ag_mono_ms() < until;) {
    json_t *t = sys_get_json(api[0], "/v1/subnets/2/training?rounds=8", NULL);
    json_t *rounds = json_object_get(t, "rounds");
    for (size_t i = 0; i < json_array_size(rounds); i++)
      if (json_array_size(json_object_get(json_array_get(rounds, i), "entries")) > paid)
        paid = json_array_size(json_object_get(json_array_get(rounds, i), "entries"));
    json_decref(t);
    if (!paid) ag_sleep_ms(500);
  }
  CHECK(paid >= 1);
  /* the miner (node 3) earns from validators on nodes 0..2 */
  uint64_t end = ag_mono_ms() + 180000;
  long long inc = 0;
  while (ag_mono_ms() < end && inc == 0) {
    json_t *mg = sys_get_json(api[1], "/v1/subnets/1/metagraph", NULL);
    json_t *rows = json_object_get(mg, "uids");
    for (size_t k = 0; k < json_array_size(rows); k++) {
      json_t *r = json_array_get(rows, k);
      if (json_integer_value(json_object_get(r, "stake")) == 0) inc += json_integer_value(json_object_get(r, "incentive"));
    }
    json_decref(mg);
    if (!inc) ag_sleep_ms(500);
  }
  CHECK(inc > 0);
}

/* ---- a node killed mid-round -------------------------------------------------------------------- */

TEST(a_round_finalizes_with_a_node_killed) {
  /* in the middle of a round: commitments open */
  uint64_t end = ag_mono_ms() + 60000;
  json_t *t = NULL;
  for (;;) {
    json_decref(t);
    t = training(0);
    uint64_t h = u64_of(t, "height");
    if (t && h > u64_of(t, "round_start") && h + 2 < u64_of(t, "submit_until")) break;
    CHECK(ag_mono_ms() < end);
    ag_sleep_ms(100);
  }
  uint64_t f = u64_of(t, "finalized");
  json_decref(t);
  int app = pid_of(2, "app_pid"), cmt = pid_of(2, "cometbft_pid");
  CHECK(app > 0 && cmt > 0);
  kill(app, SIGKILL);
  kill(cmt, SIGKILL);
  /* the open round finalizes without node 2 (validator 2's, training validator 2's,
   * trainer 1's): validators 0 and 1 hold 3000 of 4000 AGR */
  CHECK(wait_finalized(0, f + 1, 300000));
  long long h = height_of(0) - 1;
  const int live[] = {0, 1, 3};
  for (int i = 0; i < 3; i++) CHECK(height_of(live[i]) > h || (ag_sleep_ms(2000), height_of(live[i]) > h));
  CHECK(agree_at(h, live, 3));
}

TEST(the_killed_node_catches_up_and_fetches_what_it_missed) {
  const char *start2[] = {"start", "--validator", "2", NULL};
  CHECK_EQ(localnet(NULL, start2), 0);
  long long h = height_of(0);
  uint64_t end = ag_mono_ms() + 120000;
  while (height_of(2) < h && ag_mono_ms() < end) ag_sleep_ms(300);
  CHECK(height_of(2) >= h);
  const int all[] = {0, 1, 2, 3};
  CHECK(agree_at(h, all, 4));
  /* the checkpoint the rounds it missed made canonical */
  CHECK(wait_metric(2, "agora_files_fetched_total{kind=\"checkpoint\"}", 1, 60000));
  json_t *t = training(2);
  const char *id = json_string_value(json_object_get(t, "model_id"));
  CHECK(id != NULL);
  char path[800];
  snprintf(path, sizeof path, "%s/node2/models/%s.agm", root, id ? id : "");
  end = ag_mono_ms() + 60000;
  while (!ag_file_exists(path) && ag_mono_ms() < end) ag_sleep_ms(300);
  CHECK(ag_file_exists(path));
  json_decref(t);
}

TEST(stop_ends_every_neuron) {
  json_t *s = load_json("subnets.json");
  json_t *ns = json_object_get(s, "neurons");
  CHECK_EQ(json_array_size(ns), 9);
  int pids[16], n = 0, running = 0;
  for (size_t i = 0; i < json_array_size(ns) && n < 16; i++) {
    pids[n] = (int)json_integer_value(json_object_get(json_array_get(ns, i), "pid"));
    running += alive(pids[n]);
    n++;
  }
  json_decref(s);
  CHECK(running >= 7); /* the ones on node 2 may have given up while it was down */
  const char *a[] = {"stop", NULL};
  CHECK_EQ(localnet(NULL, a), 0);
  for (int i = 0; i < n; i++) CHECK(!alive(pids[i]));
}

/* A first start that failed after some registrations ran is run again whole, and must skip
 * what is already on chain: before, it sent every registration again and staked every
 * validator a second time. Played by marking the roster unregistered when everything is: the
 * worst case of a partial failure. */
TEST(a_start_that_failed_half_way_can_be_run_again) {
  char path[900];
  snprintf(path, sizeof path, "%s/subnets.json", root);
  json_t *s = load_json("subnets.json");
  CHECK(s != NULL);
  if (!s) return;
  json_object_set_new(s, "registered", json_false());
  CHECK_EQ(json_dump_file(s, path, JSON_INDENT(2)), 0);
  json_decref(s);
  ag_buf out;
  ag_buf_init(&out);
  const char *start[] = {"start", "--detach", "--json", NULL};
  int rc = localnet(&out, start);
  if (rc) fprintf(stderr, "%.*s\n", (int)out.len, out.data ? (char *)out.data : "");
  CHECK_EQ(rc, 0);
  ag_buf_free(&out);
  s = load_json("subnets.json");
  CHECK(json_is_true(json_object_get(s, "registered")));
  json_t *ns = json_object_get(s, "neurons");
  int running = 0;
  for (size_t i = 0; i < json_array_size(ns); i++)
    running += alive((int)json_integer_value(json_object_get(json_array_get(ns, i), "pid")));
  CHECK_EQ(running, 9);
  /* and staked nothing twice: each subnet's validators hold their roster stakes (plus what
   * emission added), not twice them */
  for (int netuid = 1; netuid <= 2; netuid++) {
    unsigned long long roster = 0, chain = 0;
    for (size_t i = 0; i < json_array_size(ns); i++) {
      json_t *x = json_array_get(ns, i);
      if (json_integer_value(json_object_get(x, "netuid")) == netuid &&
          !strcmp(json_string_value(json_object_get(x, "role")) ?: "", "validator"))
        roster += (unsigned long long)json_integer_value(json_object_get(x, "stake"));
    }
    char mpath[64];
    snprintf(mpath, sizeof mpath, "/v1/subnets/%d/metagraph", netuid);
    json_t *mg = sys_get_json(api[0], mpath, NULL), *rows = json_object_get(mg, "uids");
    for (size_t k = 0; k < json_array_size(rows); k++)
      chain += strtoull(json_string_value(json_object_get(json_array_get(rows, k), "stake")) ?: "0", NULL, 10);
    json_decref(mg);
    if (chain < roster || chain >= 2 * roster) fprintf(stderr, "  subnet %d: stake %llu, roster %llu\n", netuid, chain, roster);
    CHECK(roster > 0 && chain >= roster && chain < 2 * roster);
  }
  json_decref(s);
  const char *a[] = {"stop", NULL};
  CHECK_EQ(localnet(NULL, a), 0);
  root[0] = 0;
}

TEST_MAIN(the_network_starts_and_checkpoints_spread, a_peer_serving_other_bytes_is_refused,
          training_rounds_finalize_across_nodes, a_round_finalizes_with_a_node_killed,
          the_killed_node_catches_up_and_fetches_what_it_missed, stop_ends_every_neuron,
          a_start_that_failed_half_way_can_be_run_again)
