/* test_weights.c — the validators' pending reveals on disk (subnets/weights.h): what a
 * validator restarted between a commit and its reveal reads back reveals exactly what was
 * committed, and a file that is not its own (another hotkey or subnet, altered, malformed) is
 * refused. The whole restart on a live network: test_sys_subnet
 * validator_restarted_between_commit_and_reveal_still_reveals. And the weights a validator
 * sends when its node listed more rows than a subnet holds. */
#include "api/http.h"
#include "chain/json.h"
#include "chain/tx.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/incentive.h"
#include "incentive/internal.h"
#include "subnets/weights.h"
#include "test.h"
#include "testutil.h"

#include <sodium.h>
#include <sys/stat.h>

/* A commit as ag_wsetter_set makes it: n weights, a random salt, the hash. */
static void make_commit(ag_wcommit *c, const ag_keypair *hk, uint16_t netuid, uint64_t epoch, uint16_t n,
                        uint64_t seed) {
  memset(c, 0, sizeof *c);
  c->epoch = epoch;
  c->block = epoch * 10 + 3;
  c->version = 7 + seed;
  c->n = n;
  c->uids = ag_xmalloc((size_t)n * 2 + 2);
  c->weights = ag_xmalloc((size_t)n * 2 + 2);
  for (uint16_t i = 0; i < n; i++) {
    c->uids[i] = (uint16_t)(i * 3 + 1);
    c->weights[i] = (uint16_t)(test_rand(&seed) & 0xffff);
  }
  randombytes_buf(c->salt, 32);
  ag_weights_commit_hash(hk->pk, netuid, c->version, c->uids, c->weights, n, c->salt, c->hash);
}

static void payload(const ag_wcommit *c, uint16_t netuid, ag_buf *p) {
  ag_buf_init(p);
  ag_payload_weights(p, netuid, c->version, c->uids, c->weights, c->n, c->salt);
}

TEST(pending_reveals_survive_a_restart) {
  char *dir = test_tmpdir("reveals");
  ag_keypair hk;
  test_key(&hk, 11);
  ag_wcommit c[3];
  make_commit(&c[0], &hk, 1, 4, 5, 1);
  make_commit(&c[1], &hk, 1, 5, 200, 2);
  make_commit(&c[2], &hk, 1, 6, 0, 3); /* an empty vector is a valid commit too */
  char path[700];
  ag_wsetter_reveals_path(dir, "validator0", 1, path, sizeof path);
  CHECK(strstr(path, "/neurons/validator0/reveals-1.json") != NULL);
  /* nothing there yet: a fresh start */
  ag_wsetter w;
  ag_wsetter_init(&w, NULL, &hk, 1, "test");
  CHECK_EQ(ag_wsetter_persist(&w, path), 0);
  CHECK_EQ(w.npend, 0);
  ag_wsetter_free(&w);
  /* the file a first run left */
  char *text = ag_reveals_dump(hk.pk, 1, c, 3);
  CHECK_OK(ag_write_file_atomic(path, text, strlen(text), 0600));
  free(text);
  /* the second run loads it */
  ag_wsetter_init(&w, NULL, &hk, 1, "test");
  CHECK_EQ(ag_wsetter_persist(&w, path), 3);
  CHECK_EQ(w.npend, 3);
  CHECK_U64(w.last_weights_epoch, 6); /* epoch 6 was committed: no second commit in it */
  for (int i = 0; i < 3 && w.npend == 3; i++) {
    const ag_wcommit *a = &c[i], *b = &w.pend[i];
    CHECK_U64(b->epoch, a->epoch);
    CHECK_U64(b->block, a->block);
    CHECK_U64(b->version, a->version);
    CHECK_EQ(b->n, a->n);
    CHECK_MEM(b->salt, a->salt, 32);
    CHECK_MEM(b->hash, a->hash, 32);
    /* the reveal the reloaded entry sends is the one the chain checks against the commit */
    uint8_t h[32];
    ag_weights_commit_hash(hk.pk, 1, b->version, b->uids, b->weights, b->n, b->salt, h);
    CHECK_MEM(h, a->hash, 32);
    ag_buf pa, pb;
    payload(a, 1, &pa);
    payload(b, 1, &pb);
    CHECK_EQ(pa.len, pb.len);
    CHECK(pa.len == pb.len && memcmp(pa.data, pb.data, pa.len) == 0);
    ag_buf_free(&pa);
    ag_buf_free(&pb);
  }
  ag_wsetter_free(&w);
  /* the folder is the neuron's own */
  char folder[700];
  snprintf(folder, sizeof folder, "%s/neurons/validator0", dir);
  struct stat sb;
  CHECK(stat(folder, &sb) == 0 && (sb.st_mode & 0777) == 0700);
  for (int i = 0; i < 3; i++) ag_wcommit_free(&c[i]);
  test_rmdir(dir);
}

/* Each mutation of a good file, and what the parser says. */
TEST(pending_reveals_from_elsewhere_or_altered_are_refused) {
  ag_keypair hk, other;
  test_key(&hk, 12);
  test_key(&other, 13);
  ag_wcommit c[2];
  make_commit(&c[0], &hk, 2, 9, 3, 4);
  make_commit(&c[1], &hk, 2, 10, 3, 5);
  char *good = ag_reveals_dump(hk.pk, 2, c, 2);
  ag_wcommit out[AG_MAX_COMMITS];
  int n = -1;
  CHECK_OK(ag_reveals_parse((const uint8_t *)good, strlen(good), hk.pk, 2, out, &n));
  CHECK_EQ(n, 2);
  for (int i = 0; i < n; i++) ag_wcommit_free(&out[i]);
  /* another hotkey's file, another subnet's */
  CHECK_EQ(ag_reveals_parse((const uint8_t *)good, strlen(good), other.pk, 2, out, &n), AG_E_INVALID);
  CHECK_EQ(n, 0);
  CHECK_EQ(ag_reveals_parse((const uint8_t *)good, strlen(good), hk.pk, 3, out, &n), AG_E_INVALID);
  /* a changed weight no longer gives the commit hash */
  json_t *o = json_loads(good, 0, NULL);
  json_t *ws = json_object_get(json_array_get(json_object_get(o, "pending"), 1), "weights");
  json_array_set_new(ws, 0, json_integer((json_integer_value(json_array_get(ws, 0)) + 1) & 0xffff));
  char *t = json_dumps(o, 0);
  CHECK_EQ(ag_reveals_parse((const uint8_t *)t, strlen(t), hk.pk, 2, out, &n), AG_E_INVALID);
  CHECK(strstr(ag_errmsg(AG_E_INVALID), "do not give its commit_hash") != NULL);
  CHECK_EQ(n, 0);
  free(t);
  json_decref(o);
  const char *bad[] = {
      "",
      "{",
      "[]",
      "{\"format\":\"agora-reveals/2\"}",
      "{\"format\":\"agora-reveals/1\",\"hotkey\":\"agora1xyz\",\"netuid\":2,\"pending\":[]}",
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(bad); i++) {
    int rc = ag_reveals_parse((const uint8_t *)bad[i], strlen(bad[i]), hk.pk, 2, out, &n);
    CHECK(rc == AG_E_BAD_JSON || rc == AG_E_INVALID);
    CHECK_EQ(n, 0);
  }
  /* field by field */
  struct {
    const char *field;
    json_t *v;
  } muts[] = {
      {"uids", json_pack("[i,i]", 1, 2)},      /* lengths differ */
      {"weights", json_pack("[i,i,i]", 1, 2, 70000)},
      {"uids", json_pack("[i,i,i]", 1, -2, 3)},
      {"salt", json_string("00")},
      {"commit_hash", json_integer(5)},
      {"epoch", json_integer(-1)},
      {"version_key", json_integer(7)},        /* a decimal string, as every u64 in JSON */
      {"block", json_string("3")},
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(muts); i++) {
    o = json_loads(good, 0, NULL);
    json_object_set_new(json_array_get(json_object_get(o, "pending"), 0), muts[i].field, muts[i].v);
    t = json_dumps(o, 0);
    int rc = ag_reveals_parse((const uint8_t *)t, strlen(t), hk.pk, 2, out, &n);
    if (rc != AG_E_INVALID) fprintf(stderr, "  mutation %zu (%s): %d\n", i, muts[i].field, rc);
    CHECK_EQ(rc, AG_E_INVALID);
    CHECK_EQ(n, 0);
    free(t);
    json_decref(o);
  }
  /* more entries than the chain keeps commits */
  o = json_loads(good, 0, NULL);
  json_t *pend = json_object_get(o, "pending");
  while (json_array_size(pend) <= AG_MAX_COMMITS) json_array_append(pend, json_array_get(pend, 0));
  t = json_dumps(o, 0);
  CHECK_EQ(ag_reveals_parse((const uint8_t *)t, strlen(t), hk.pk, 2, out, &n), AG_E_INVALID);
  free(t);
  json_decref(o);
  /* a file that does not parse is reported and nothing is loaded */
  char *dir = test_tmpdir("reveals");
  char path[700];
  ag_wsetter_reveals_path(dir, "v", 2, path, sizeof path);
  ag_wsetter w;
  ag_wsetter_init(&w, NULL, &hk, 2, "test");
  CHECK_EQ(ag_wsetter_persist(&w, path), 0);
  CHECK_OK(ag_write_file_atomic(path, good, strlen(good) / 2, 0600));
  ag_wsetter_free(&w);
  ag_wsetter_init(&w, NULL, &hk, 2, "test");
  CHECK_EQ(ag_wsetter_persist(&w, path), AG_E_BAD_JSON);
  CHECK_EQ(w.npend, 0);
  CHECK(w.last_weights_epoch == UINT64_MAX);
  ag_wsetter_free(&w);
  test_rmdir(dir);
  free(good);
  for (int i = 0; i < 2; i++) ag_wcommit_free(&c[i]);
}

/* ---- what ag_wsetter_set sends -------------------------------------------------------------------- */

/* A node of its own: subnet 1 without commit-reveal, any account at nonce 0, every tx
 * committed at once; the last tx submitted is kept. */
static ag_buf sent;

static void h_status(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:s, s:i, s:{s:s, s:s}}", "chain_id", "agora-test", "height", 100, "params",
                                    "base_fee", "1000", "per_byte_fee", "10"));
}
static void h_subnet(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:i, s:i, s:i, s:{s:i, s:i, s:i, s:i}}", "netuid", 1, "height", 100, "epoch", 3,
                                    "hyperparams", "commit_reveal", 0, "reveal_period", 1, "weights_rate_limit", 0,
                                    "weights_version_key", 0));
}
static void h_account(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:i}", "pending_nonce", 0));
}
static void h_submit(ag_http_req *req, ag_http_resp *resp) {
  ag_buf_reset(&sent);
  ag_buf_put(&sent, req->body, req->body_len);
  ag_http_json(resp, 202, json_pack("{s:s}", "status", "pending"));
}
static void h_tx(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:s, s:{s:s}}", "status", "committed", "result", "code", "ok"));
}

TEST(weights_name_only_a_subnets_uids_whatever_the_node_listed) {
  static const ag_http_route routes[] = {
      {"GET", "/v1/status", h_status, 0},     {"GET", "/v1/subnets/", h_subnet, 0}, {"GET", "/v1/accounts/", h_account, 0},
      {"POST", "/v1/txs", h_submit, 1u << 20}, {"GET", "/v1/txs/", h_tx, 0},
  };
  ag_incentive_register_kinds();
  ag_buf_init(&sent);
  ag_http_config c = {"127.0.0.1:0", 1u << 20, routes, AG_ARRAY_LEN(routes), NULL, NULL, NULL};
  ag_http_server *srv;
  CHECK_OK(ag_http_start(&c, &srv));
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", ag_http_port(srv));
  ag_net net;
  CHECK_OK(ag_net_open(&net, url));
  ag_keypair hk;
  test_key(&hk, 14);
  ag_wsetter w;
  ag_wsetter_init(&w, &net, &hk, 1, "test");
  CHECK_EQ(ag_wsetter_poll(&w), 1);
  /* a metagraph of 5,000 rows (a lying node's): each scored alike */
  enum { ROWS = 5000 };
  double *scores = ag_xmalloc(ROWS * sizeof *scores);
  for (int i = 0; i < ROWS; i++) scores[i] = 1;
  ag_wsetter_set(&w, 0, 1, 5, 5, scores, ROWS);
  CHECK_EQ(w.weights_sets, 1);
  ag_tx tx;
  CHECK_OK(ag_tx_decode(sent.data, sent.len, &tx));
  CHECK_EQ(tx.kind, AG_TX_SET_WEIGHTS);
  ag_reader r;
  ag_reader_init(&r, tx.payload, tx.payload_len);
  uint16_t netuid, n, u, last = 0;
  uint64_t version;
  CHECK_OK(ag_read_u16le(&r, &netuid));
  CHECK_OK(ag_read_u64le(&r, &version));
  CHECK_OK(ag_read_u16le(&r, &n));
  CHECK_EQ(n, AG_MAX_UIDS - 1); /* uids 1..4095: itself left out, nothing past the subnet */
  for (uint16_t i = 0; i < n; i++) {
    CHECK_OK(ag_read_u16le(&r, &u));
    CHECK(u > last && u < AG_MAX_UIDS);
    last = u;
  }
  free(scores);
  ag_wsetter_free(&w);
  ag_http_stop(srv);
  ag_buf_free(&sent);
}

TEST_MAIN(pending_reveals_survive_a_restart, pending_reveals_from_elsewhere_or_altered_are_refused,
          weights_name_only_a_subnets_uids_whatever_the_node_listed)
