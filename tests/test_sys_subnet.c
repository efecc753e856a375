#define _GNU_SOURCE /* memmem */
/*
 * test_sys_subnet.c — the inference subnet end to end, with real processes: `agora devnet`
 * starts the node, 6 miners (3 honest, 1 relayer, 1 slow, 1 cheater) and 2 validators, with the
 * block reward halving every 40 blocks; an extra "miner" served from this process answers
 * garbage. The tests then check, on the live network:
 *   - bad input to miners and to the node gets HTTP errors in the documented shapes;
 *   - answers fail verification when any part is tampered with;
 *   - after a few epochs the cheater, the relayer (it forwards every challenge to an honest
 *     miner and signs the answer as its own) and the garbage miner earn 0, honest miners > 0,
 *     the slow one less than the fast ones but > 0;
 *   - `agora infer` asked to start with the cheater reports it and answers verified text;
 *   - a killed node is restarted by the devnet and nothing committed is lost;
 *   - a killed miner's incentive decays while the others keep earning;
 *   - a miner with --api-key opens /v1 only to the exact key (401 invalid_api_key otherwise);
 *   - a miner with an offer charges: 402 without a voucher, paid answers through a channel
 *     with signed payment receipts, books that survive a miner's kill and a client's lag, and
 *     claims of exactly what was billed;
 *   - a validator killed between a commit and its reveal, started again, still reveals;
 *   - AGORA_PASSPHRASE given to the devnet reaches none of its children;
 *   - on SIGTERM the devnet stops every child, and issuance equals the schedule computed here
 *     from genesis, across two halvings.
 * The tests share one devnet and run in order.
 */
#include "test.h"
#include "sysutil.h"

#include "api/http.h"
#include "chain/tx.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"
#include "engine/engine.h"
#include "incentive/incentive.h"
#include "subnets/inference.h"
#include "subnets/netclient.h"
#include "subnets/payment.h"
#include "chain/json.h"
#include "economy/economy.h"
#include "subnets/neuron.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

static char home[512], node_url[128], out_path[600];
static pid_t devnet_pid;
static json_t *manifest;

/* uids, found by the hotkeys devnet.json names */
static int HONEST0 = -1, HONEST1 = -1, HONEST2 = -1, RELAYER = -1, SLOW = -1, CHEATER = -1,
           VALIDATOR0 = -1, VALIDATOR1 = -1;

static json_t *metagraph(void) { return sys_get_json(node_url, "/v1/subnets/1/metagraph", NULL); }

static uint64_t height(void) {
  json_t *s = sys_get_json(node_url, "/v1/status", NULL);
  uint64_t h = s ? (uint64_t)json_integer_value(json_object_get(s, "height")) : 0;
  json_decref(s);
  return h;
}

static int wait_height(uint64_t h, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    if (height() >= h) return 1;
    ag_sleep_ms(200);
  }
  return 0;
}

static json_t *row(json_t *mg, int uid) {
  json_t *rows = json_object_get(mg, "uids");
  for (size_t i = 0; i < json_array_size(rows); i++)
    if (json_integer_value(json_object_get(json_array_get(rows, i), "uid")) == uid) return json_array_get(rows, i);
  return NULL;
}

static long incentive(json_t *mg, int uid) { return (long)json_integer_value(json_object_get(row(mg, uid), "incentive")); }

static void endpoint(int uid, char *out, size_t cap) {
  json_t *mg = metagraph();
  json_t *ep = json_object_get(row(mg, uid), "endpoint");
  snprintf(out, cap, "http://%s:%lld", json_string_value(json_object_get(ep, "host")),
           (long long)json_integer_value(json_object_get(ep, "port")));
  json_decref(mg);
}

static pid_t manifest_pid(const char *name) { return sys_devnet_pid(home, name); }

/* POST body to url; returns the status, *out the parsed JSON (or NULL). */
static long post(const char *url, const char *ctype, const void *body, size_t len, json_t **out) {
  ag_http_result r;
  if (out) *out = NULL;
  if (ag_http_request("POST", url, ctype, body, len, 60000, &r)) return -1;
  long st = r.status;
  if (out) *out = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  return st;
}

static int uid_of(json_t *mg, const char *name) {
  const char *hk = NULL;
  json_t *ns = json_object_get(manifest, "neurons");
  for (size_t i = 0; i < json_array_size(ns); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ns, i), "name")), name))
      hk = json_string_value(json_object_get(json_array_get(ns, i), "hotkey"));
  json_t *rows = json_object_get(mg, "uids");
  for (size_t i = 0; hk && i < json_array_size(rows); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(rows, i), "hotkey")), hk))
      return (int)json_integer_value(json_object_get(json_array_get(rows, i), "uid"));
  return -1;
}

/* 1 when /proc/PID/environ holds needle, 0 when not, -1 when it cannot be read. */
static int environ_has(pid_t pid, const char *needle) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  uint8_t *data;
  size_t len;
  if (ag_read_file(path, 1 << 20, &data, &len)) return -1;
  int found = memmem(data, len, needle, strlen(needle)) != NULL;
  free(data);
  return found;
}

#define DEVNET_SECRET "sys-subnet-passphrase-5d1e"

/* ---- the network ------------------------------------------------------------------------------ */

TEST(devnet_starts) {
  snprintf(home, sizeof home, "%s/sys_subnet", AGORA_BUILD_DIR);
  snprintf(out_path, sizeof out_path, "%s.out.json", home);
  const char *args[] = {"--miners", "6", "--validators", "2", "--cheaters", "1", "--slow", "1",
                        "--relayers", "1", "--halving", "40", NULL};
  /* started the way a user with AGORA_PASSPHRASE in their shell starts it */
  setenv("AGORA_PASSPHRASE", DEVNET_SECRET, 1);
  manifest = sys_devnet_start(home, out_path, args, &devnet_pid);
  unsetenv("AGORA_PASSPHRASE");
  CHECK(json_is_true(json_object_get(manifest, "ready")));
  if (!manifest) return;
  /* the devnet wiped it from its own environment, and none of its children got it */
  CHECK_EQ(environ_has(devnet_pid, DEVNET_SECRET), 0);
  const char *kids[] = {"node", "miner0", "miner4", "validator0", "validator1"};
  for (size_t i = 0; i < AG_ARRAY_LEN(kids); i++) {
    pid_t kp = manifest_pid(kids[i]);
    CHECK(kp > 0);
    CHECK_EQ(environ_has(kp, "AGORA_PASSPHRASE"), 0);
    CHECK_EQ(environ_has(kp, DEVNET_SECRET), 0);
    CHECK_EQ(environ_has(kp, "PATH="), 1); /* the rest of the environment is passed on */
  }
  snprintf(node_url, sizeof node_url, "%s", json_string_value(json_object_get(manifest, "node")));
  json_t *mg = metagraph();
  HONEST0 = uid_of(mg, "miner0");
  HONEST1 = uid_of(mg, "miner1");
  HONEST2 = uid_of(mg, "miner2");
  RELAYER = uid_of(mg, "miner3");
  SLOW = uid_of(mg, "miner4");
  CHEATER = uid_of(mg, "miner5");
  VALIDATOR0 = uid_of(mg, "validator0");
  VALIDATOR1 = uid_of(mg, "validator1");
  json_decref(mg);
  CHECK(HONEST0 >= 0 && HONEST1 >= 0 && HONEST2 >= 0 && RELAYER >= 0 && SLOW >= 0 && CHEATER >= 0 &&
        VALIDATOR0 >= 0 && VALIDATOR1 >= 0);
  /* every miner announces an endpoint */
  const int *miners[] = {&HONEST0, &HONEST1, &HONEST2, &RELAYER, &SLOW, &CHEATER};
  int served = 0;
  for (int t = 0; t < 300 && served < 6; t++) {
    mg = metagraph();
    served = 0;
    for (int u = 0; u < 6; u++) served += json_is_object(json_object_get(row(mg, *miners[u]), "endpoint"));
    json_decref(mg);
    if (served < 6) ag_sleep_ms(200);
  }
  CHECK_EQ(served, 6);
}

/* ---- bad input --------------------------------------------------------------------------------- */

static void expect_error(const char *url, const char *body, long status, const char *param, const char *code) {
  json_t *j;
  long st = post(url, "application/json", body, strlen(body), &j);
  CHECK_EQ(st, status);
  json_t *e = json_object_get(j, "error");
  CHECK(json_is_string(json_object_get(e, "message")));
  CHECK(json_is_string(json_object_get(e, "type")));
  if (param) CHECK_STR(json_string_value(json_object_get(e, "param")), param);
  if (code) CHECK_STR(json_string_value(json_object_get(e, "code")), code);
  if (st != status) fprintf(stderr, "  body %s -> %ld\n", body, st);
  json_decref(j);
}

TEST(miners_refuse_bad_requests) {
  char base[200], url[300], model[64];
  endpoint(HONEST0, base, sizeof base);
  snprintf(model, sizeof model, "%s", json_string_value(json_object_get(manifest, "model")));
  snprintf(url, sizeof url, "%s/v1/completions", base);
  char b[8192];
  expect_error(url, "{not json", 400, NULL, "invalid_json");
  snprintf(b, sizeof b, "{\"model\":\"%s\"}", model);
  expect_error(url, b, 400, "prompt", NULL);
  snprintf(b, sizeof b, "{\"model\":\"%s\",\"prompt\":\"hi\",\"temperature\":5}", model);
  expect_error(url, b, 400, "temperature", NULL);
  snprintf(b, sizeof b, "{\"model\":\"%s\",\"prompt\":\"hi\",\"top_p\":0}", model);
  expect_error(url, b, 400, "top_p", NULL);
  snprintf(b, sizeof b, "{\"model\":\"%s\",\"prompt\":\"hi\",\"max_tokens\":0}", model);
  expect_error(url, b, 400, "max_tokens", NULL);
  snprintf(b, sizeof b, "{\"model\":\"%s\",\"prompt\":\"hi\",\"n\":3}", model);
  expect_error(url, b, 400, "n", NULL);
  expect_error(url, "{\"model\":\"gpt-9\",\"prompt\":\"hi\"}", 404, "model", "model_not_found");
  /* a prompt longer than the context */
  int k = snprintf(b, sizeof b, "{\"model\":\"%s\",\"prompt\":\"", model);
  for (int i = 0; i < 700; i++) k += snprintf(b + k, sizeof b - (size_t)k, "word ");
  snprintf(b + k, sizeof b - (size_t)k, "\"}");
  expect_error(url, b, 400, "prompt", "context_length_exceeded");
  /* chat */
  snprintf(url, sizeof url, "%s/v1/chat/completions", base);
  snprintf(b, sizeof b, "{\"model\":\"%s\",\"messages\":[]}", model);
  expect_error(url, b, 400, "messages", NULL);
  snprintf(b, sizeof b, "{\"model\":\"%s\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", model);
  expect_error(url, b, 400, "messages", NULL);
  /* oversized body: 413 before the handler runs */
  size_t big = 3u << 20;
  char *huge = malloc(big);
  memset(huge, 'x', big);
  json_t *j;
  CHECK_EQ(post(url, "application/json", huge, big, &j), 413);
  json_decref(j);
  free(huge);
  /* the miner is still fine */
  long st;
  snprintf(url, sizeof url, "%s/health", base);
  ag_http_result r;
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  st = r.status;
  ag_http_result_free(&r);
  CHECK_EQ(st, 200);
}

TEST(node_model_files) {
  json_t *sn = sys_get_json(node_url, "/v1/subnets/1", NULL);
  const char *idhex = json_string_value(json_object_get(json_object_get(sn, "model"), "model_id"));
  CHECK(idhex != NULL);
  if (!idhex) return;
  char url[300];
  snprintf(url, sizeof url, "%s/v1/model-files/%s", node_url, idhex);
  ag_http_result r;
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 30000, &r));
  CHECK_EQ(r.status, 200);
  ag_model *m = NULL;
  CHECK_OK(ag_model_load_mem(r.body.data, r.body.len, &m, NULL));
  char got[65] = "";
  if (m) ag_hex_encode(m->id, 32, got);
  CHECK_STR(got, idhex);
  ag_model_close(m);
  /* uploads name what they are: the pinned file is known (already held: answered on its
   * headers), a wrong size or an unpinned id is refused before the body */
  snprintf(url, sizeof url, "%s/v1/model-files/%s", node_url, idhex);
  json_t *j;
  CHECK_EQ(post(url, "application/octet-stream", r.body.data, r.body.len, &j), 200);
  CHECK(json_is_false(json_object_get(j, "stored")));
  json_decref(j);
  CHECK_EQ(post(url, "application/octet-stream", "garbage", 7, &j), 403);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "model_not_pinned");
  json_decref(j);
  /* one changed weight byte: a valid model with another id, which no subnet pins */
  r.body.data[r.body.len - 100] ^= 1;
  ag_model *m2 = NULL;
  CHECK_OK(ag_model_load_mem(r.body.data, r.body.len, &m2, NULL));
  char other[65] = "";
  if (m2) ag_hex_encode(m2->id, 32, other);
  ag_model_close(m2);
  snprintf(url, sizeof url, "%s/v1/model-files/%s", node_url, other);
  CHECK_EQ(post(url, "application/octet-stream", r.body.data, r.body.len, &j), 403);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "model_not_pinned");
  json_decref(j);
  ag_http_result_free(&r);
  snprintf(url, sizeof url, "%s/v1/model-files/%064d", node_url, 0);
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 5000, &r));
  CHECK_EQ(r.status, 404);
  ag_http_result_free(&r);
  json_decref(sn);
}

/* ---- verification ------------------------------------------------------------------------------- */

TEST(tampered_answers_fail_verification) {
  char base[200], url[300], mdir[700];
  endpoint(HONEST1, base, sizeof base);
  snprintf(url, sizeof url, "%s/v1/completions", base);
  snprintf(mdir, sizeof mdir, "%s/models", home);
  ag_net net;
  CHECK_OK(ag_net_open(&net, node_url));
  ag_model *m = NULL;
  CHECK_OK(ag_neuron_model(&net, 1, mdir, &m));
  if (!m) return;
  ag_infer *st = NULL;
  CHECK_OK(ag_infer_open(m, m->cfg.seq_len, 1, &st));
  char body[400];
  char name[32];
  ag_inf_model_name(m->id, name);
  snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"The answer is\",\"max_tokens\":16,\"seed\":7,\"temperature\":0.9}", name);
  ag_inf_request req;
  const char *param;
  CHECK_OK(ag_inf_request_parse(false, (const uint8_t *)body, strlen(body), &req, &param));
  json_t *resp;
  CHECK_EQ(post(url, "application/json", body, strlen(body), &resp), 200);
  json_t *mg = metagraph();
  uint8_t hk[32], other[32];
  CHECK_OK(ag_addr_decode(json_string_value(json_object_get(row(mg, HONEST1), "hotkey")), hk));
  CHECK_OK(ag_addr_decode(json_string_value(json_object_get(row(mg, HONEST0), "hotkey")), other));
  json_decref(mg);
  ag_inf_verdict v;
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, resp, hk, &v), 0);
  CHECK(v.ok);
  /* another miner's hotkey */
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, resp, other, &v), AG_E_INF_SIGNATURE);
  /* another request */
  char body2[400];
  snprintf(body2, sizeof body2, "%s ", body);
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body2, strlen(body2), &req, resp, hk, &v), AG_E_INF_REQUEST);
  /* changed text */
  json_t *t = json_deep_copy(resp);
  json_t *choice = json_array_get(json_object_get(t, "choices"), 0);
  json_object_set_new(choice, "text", json_string("something else"));
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, t, hk, &v), AG_E_INF_SIGNATURE);
  json_decref(t);
  /* a bad signature */
  t = json_deep_copy(resp);
  json_t *ag = json_object_get(t, "agora");
  char sig[129];
  snprintf(sig, sizeof sig, "%s", json_string_value(json_object_get(ag, "signature")));
  sig[0] = sig[0] == '0' ? '1' : '0';
  json_object_set_new(ag, "signature", json_string(sig));
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, t, hk, &v), AG_E_INF_SIGNATURE);
  json_decref(t);
  /* garbage in place of the proof */
  t = json_deep_copy(resp);
  json_object_set_new(t, "agora", json_string("trust me"));
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, t, hk, &v), AG_E_INF_MALFORMED);
  json_object_del(t, "agora");
  CHECK_EQ(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, t, hk, &v), AG_E_INF_MALFORMED);
  json_decref(t);
  /* the cheater signs its altered answer correctly: only re-execution catches it */
  char cbase[200], curl_[300];
  endpoint(CHEATER, cbase, sizeof cbase);
  snprintf(curl_, sizeof curl_, "%s/v1/completions", cbase);
  json_t *cr;
  CHECK_EQ(post(curl_, "application/json", body, strlen(body), &cr), 200);
  mg = metagraph();
  uint8_t chk[32];
  CHECK_OK(ag_addr_decode(json_string_value(json_object_get(row(mg, CHEATER), "hotkey")), chk));
  json_decref(mg);
  CHECK_EQ(ag_inf_verify(NULL, m, (const uint8_t *)body, strlen(body), &req, cr, chk, &v), 0);
  CHECK(ag_inf_verify(st, m, (const uint8_t *)body, strlen(body), &req, cr, chk, &v) != 0);
  CHECK(!v.ok);
  json_decref(cr);
  json_decref(resp);
  ag_inf_request_free(&req);
  ag_infer_close(st);
  ag_model_close(m);
}

/* A "miner" in this process that answers 200 with garbage; it registers and announces itself. */
static void h_garbage(ag_http_req *req, ag_http_resp *resp) {
  json_t *o = json_object();
  json_object_set_new(o, "choices", json_string("no"));
  json_object_set_new(o, "agora", json_integer(42));
  ag_http_json(resp, 200, o);
}

static const ag_http_route garbage_routes[] = {
    {"POST", "/v1/completions", h_garbage, 0},
    {"POST", "/v1/chat/completions", h_garbage, 0},
};
static ag_http_server *garbage_srv;
static int garbage_uid = -1;

/* A miner of this test's own joins subnet 1: a new hotkey funded by the owner, registered, its
 * endpoint the HTTP server srv; its uid in *uid. */
static void join_subnet(ag_http_server *srv, const char *name, int *uid) {
  ag_net net;
  CHECK_OK(ag_net_open(&net, node_url));
  ag_keypair hk, owner;
  ag_key_generate(&hk);
  CHECK_OK(ag_neuron_key(home, "owner", net.chain_id, &owner));
  /* the hotkey pays the endpoint tx's fee */
  uint8_t hash[32];
  int code = -1;
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, hk.pk, 32);
  ag_buf_put_u64le(&p, 10 * AG_UNIT);
  CHECK_OK(ag_net_submit(&net, &owner, AG_TX_TRANSFER, p.data, p.len, 30000, hash, &code));
  CHECK_EQ(code, 0);
  ag_buf_free(&p);
  char keys[700];
  snprintf(keys, sizeof keys, "%s/keys", home);
  CHECK_OK(ag_keystore_save(keys, name, &hk, NULL, net.chain_id));
  CHECK_OK(ag_neuron_register(&net, 1, &hk, home, "owner", uid));
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, 1);
  ag_buf_put_u16le(&p, ag_http_port(srv));
  ag_buf_put_u8(&p, 9);
  ag_buf_puts(&p, "127.0.0.1");
  code = -1;
  CHECK_OK(ag_net_submit(&net, &hk, AG_TX_SERVE, p.data, p.len, 30000, hash, &code));
  CHECK_EQ(code, 0);
  ag_buf_free(&p);
  ag_key_wipe(&hk);
  ag_key_wipe(&owner);
}

TEST(garbage_miner_joins) {
  ag_http_config hc = {"127.0.0.1:0", 1 << 16, garbage_routes, 2, NULL};
  CHECK_OK(ag_http_start(&hc, &garbage_srv));
  join_subnet(garbage_srv, "garbage-hot", &garbage_uid);
  CHECK(garbage_uid >= 7);
}

/* From validator v's status file: how many times it has set weights (-1: unreadable), and in
 * *wrong how many of the cheater, the garbage miner and the relayer it has seen answer wrong
 * and scores 0. */
static long validator_seen(int v, int *wrong) {
  char path[700];
  snprintf(path, sizeof path, "%s/status/validator%d.json", home, v);
  json_t *s = json_load_file(path, 0, NULL);
  long n = s ? (long)json_integer_value(json_object_get(s, "weights_sets")) : -1;
  json_t *ms = json_object_get(s, "miners");
  *wrong = 0;
  for (size_t i = 0; i < json_array_size(ms); i++) {
    json_t *x = json_array_get(ms, i);
    int uid = (int)json_integer_value(json_object_get(x, "uid"));
    if (uid == CHEATER || uid == garbage_uid || uid == RELAYER)
      *wrong += json_integer_value(json_object_get(x, "wrong")) > 0 && json_real_value(json_object_get(x, "score")) == 0;
  }
  json_decref(s);
  return n;
}

/* The incentive the test expects: the honest miners paid, the slow one less than each, the
 * cheater, the garbage miner and the relayer nothing, the validators' dividends by stake, after
 * each validator has set weights 3 times and seen those three answer wrong. */
static int incentive_settled(json_t *mg) {
  for (int v = 0; v < 2; v++) {
    int wrong;
    if (validator_seen(v, &wrong) < 3 || wrong != 3) return 0;
  }
  long h0 = incentive(mg, HONEST0), h1 = incentive(mg, HONEST1), h2 = incentive(mg, HONEST2);
  long slow = incentive(mg, SLOW);
  long d0 = (long)json_integer_value(json_object_get(row(mg, VALIDATOR0), "dividends"));
  long d1 = (long)json_integer_value(json_object_get(row(mg, VALIDATOR1), "dividends"));
  return h0 > 0 && h1 > 0 && h2 > 0 && incentive(mg, CHEATER) == 0 && incentive(mg, garbage_uid) == 0 &&
         incentive(mg, RELAYER) == 0 && slow > 0 && slow < h0 && slow < h1 && slow < h2 && d0 > d1 && d1 > 0;
}

TEST(incentive_follows_honesty_and_speed) {
  /* a few epochs with weights revealed (tempo 10 blocks, commit-reveal 1 epoch): checked as
   * soon as the metagraph shows it, at the latest at height 90 */
  json_t *mg = NULL;
  for (uint64_t end = ag_mono_ms() + 180000; ag_mono_ms() < end;) {
    uint64_t h = height();
    json_decref(mg);
    mg = metagraph();
    if ((mg && incentive_settled(mg)) || h >= 90) break;
    ag_sleep_ms(500);
  }
  long h0 = incentive(mg, HONEST0), h1 = incentive(mg, HONEST1), h2 = incentive(mg, HONEST2);
  long slow = incentive(mg, SLOW), cheat = incentive(mg, CHEATER), garbage = incentive(mg, garbage_uid);
  long relayer = incentive(mg, RELAYER);
  fprintf(stderr, "  incentive at height %llu: honest %ld %ld %ld, relayer %ld, slow %ld, cheater %ld, garbage %ld\n",
          (unsigned long long)height(), h0, h1, h2, relayer, slow, cheat, garbage);
  CHECK(h0 > 0 && h1 > 0 && h2 > 0);
  CHECK_EQ(cheat, 0);
  CHECK_EQ(garbage, 0);
  CHECK_EQ(relayer, 0); /* the honest miner's answers, re-signed, are not its work */
  CHECK(slow > 0);
  CHECK(slow < h0 && slow < h1 && slow < h2);
  /* validators hold the dividends, by stake */
  long d0 = (long)json_integer_value(json_object_get(row(mg, VALIDATOR0), "dividends"));
  long d1 = (long)json_integer_value(json_object_get(row(mg, VALIDATOR1), "dividends"));
  CHECK(d0 > d1 && d1 > 0);
  json_decref(mg);
  /* the validators saw the garbage, the relayer and the cheater as wrong, and are still running */
  for (int v = 0; v < 2; v++) {
    int wrong;
    CHECK(validator_seen(v, &wrong) >= 3);
    CHECK_EQ(wrong, 3);
    char name[32];
    snprintf(name, sizeof name, "validator%d", v);
    CHECK_EQ(kill(manifest_pid(name), 0), 0);
  }
}

TEST(infer_reports_the_cheater_and_asks_another) {
  ag_buf out;
  ag_buf_init(&out);
  char uid[8];
  snprintf(uid, sizeof uid, "%d", CHEATER);
  const char *args[] = {"--home", home, "--node", node_url, "--json", "infer", "--miner", uid,
                        "-n", "24", "Once upon a time", NULL};
  CHECK_EQ(sys_run(&out, args), 0);
  json_t *j = json_loads((const char *)out.data, 0, NULL);
  json_t *att = json_object_get(j, "attempts");
  CHECK(json_array_size(att) >= 2);
  json_t *first = json_array_get(att, 0);
  CHECK_EQ(json_integer_value(json_object_get(first, "uid")), CHEATER);
  CHECK(strcmp(json_string_value(json_object_get(first, "result")), "ok") != 0);
  CHECK_STR(json_string_value(json_object_get(json_array_get(att, json_array_size(att) - 1), "result")), "ok");
  CHECK(json_is_true(json_object_get(j, "verified")));
  CHECK(json_integer_value(json_object_get(j, "completion_tokens")) > 0);
  CHECK(json_integer_value(json_object_get(j, "uid")) != CHEATER);
  json_decref(j);
  ag_buf_free(&out);
  /* and plain text from an honest pick */
  ag_buf_init(&out);
  const char *args2[] = {"--home", home, "--node", node_url, "infer", "--chat", "-n", "8", "Hello", NULL};
  CHECK_EQ(sys_run(&out, args2), 0);
  ag_buf_free(&out);
}

static long killed_incentive;

/* A SIGKILL of the node loses nothing committed: every block keeps its hash, the state root the
 * node reported at the kill is the one its block records after the restart, and every tx of
 * the last blocks is still committed where it was. */
TEST(node_restart_loses_nothing) {
  json_t *st0 = sys_get_json(node_url, "/v1/status", NULL);
  uint64_t h = (uint64_t)json_integer_value(json_object_get(st0, "height"));
  char root[65] = "", path[128];
  snprintf(root, sizeof root, "%s", json_string_value(json_object_get(st0, "state_root")));
  json_decref(st0);
  CHECK(h > 5 && strlen(root) == 64);
  enum { SAMPLES = 8 };
  char hashes[SAMPLES][65];
  uint64_t heights[SAMPLES];
  char txs[64][65];
  long tx_height[64];
  int ntx = 0;
  for (int i = 0; i < SAMPLES; i++) {
    heights[i] = 1 + (h - 1) * (uint64_t)i / (SAMPLES - 1);
    snprintf(path, sizeof path, "/v1/blocks/%llu", (unsigned long long)heights[i]);
    json_t *b = sys_get_json(node_url, path, NULL);
    snprintf(hashes[i], sizeof hashes[i], "%s", json_string_value(json_object_get(b, "hash")));
    json_t *bt = json_object_get(b, "txs");
    for (size_t k = 0; k < json_array_size(bt) && ntx < 64; k++) {
      snprintf(txs[ntx], sizeof txs[ntx], "%s", json_string_value(json_object_get(json_array_get(bt, k), "hash")));
      tx_height[ntx++] = (long)heights[i];
    }
    json_decref(b);
  }
  pid_t node = manifest_pid("node");
  CHECK(node > 0);
  CHECK_EQ(kill(node, SIGKILL), 0);
  CHECK(wait_height(h + 15, 90000));
  CHECK(manifest_pid("node") != node);
  for (int i = 0; i < SAMPLES; i++) {
    snprintf(path, sizeof path, "/v1/blocks/%llu", (unsigned long long)heights[i]);
    json_t *b = sys_get_json(node_url, path, NULL);
    CHECK_STR(json_string_value(json_object_get(b, "hash")), hashes[i]);
    if (heights[i] == h) CHECK_STR(json_string_value(json_object_get(b, "state_root")), root);
    json_decref(b);
  }
  CHECK(ntx > 0);
  for (int i = 0; i < ntx; i++) {
    snprintf(path, sizeof path, "/v1/txs/%s", txs[i]);
    json_t *t = sys_get_json(node_url, path, NULL);
    CHECK_STR(json_string_value(json_object_get(t, "status")), "committed");
    CHECK_EQ(json_integer_value(json_object_get(t, "height")), tx_height[i]);
    json_decref(t);
  }
}

TEST(killed_miner_decays) {
  json_t *mg = metagraph();
  killed_incentive = incentive(mg, HONEST0);
  json_decref(mg);
  pid_t p = manifest_pid("miner0");
  CHECK(p > 0);
  CHECK_EQ(kill(p, SIGKILL), 0);
  /* checked once its incentive has fallen below half, at the latest 50 blocks on */
  uint64_t h = height();
  long now = killed_incentive;
  mg = NULL;
  for (uint64_t end = ag_mono_ms() + 120000; ag_mono_ms() < end;) {
    uint64_t at = height();
    json_decref(mg);
    mg = metagraph();
    now = incentive(mg, HONEST0);
    if (now < killed_incentive / 2 || at >= h + 50) break;
    ag_sleep_ms(500);
  }
  fprintf(stderr, "  miner0 incentive %ld -> %ld in %llu blocks; others %ld %ld %ld\n", killed_incentive, now,
          (unsigned long long)(height() - h), incentive(mg, HONEST1), incentive(mg, HONEST2), incentive(mg, SLOW));
  CHECK(now < killed_incentive / 2);
  CHECK(incentive(mg, HONEST1) > now && incentive(mg, HONEST2) > now);
  CHECK(incentive(mg, SLOW) > 0);
  CHECK_EQ(incentive(mg, CHEATER), 0);
  json_decref(mg);
}

/* GET path from 127.0.0.1:port with an Authorization header (NULL: none) over a raw socket
 * (the client library sends none); the status, the body into body. */
static int get_with_auth(uint16_t port, const char *path, const char *auth, char *body, size_t cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s\r\n", path,
                   auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  char resp[16384];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0) got += (size_t)r;
  resp[got] = 0;
  close(fd);
  int status = -1;
  if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) return -1;
  const char *b = strstr(resp, "\r\n\r\n");
  snprintf(body, cap, "%s", b ? b + 4 : "");
  return status;
}

/* A fresh hotkey saved as key `name` in the devnet's home, funded with 10 AGR by its owner (it
 * pays its own serve and claim txs); *owner is the owner key (wipe both). */
static void new_hotkey(ag_net *net, const char *name, ag_keypair *hk, ag_keypair *owner, char addr[AG_ADDR_MAX]) {
  ag_key_generate(hk);
  CHECK_OK(ag_neuron_key(home, "owner", net->chain_id, owner));
  uint8_t hash[32];
  int code = -1;
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, hk->pk, 32);
  ag_buf_put_u64le(&p, 10 * AG_UNIT);
  CHECK_OK(ag_net_submit(net, owner, AG_TX_TRANSFER, p.data, p.len, 30000, hash, &code));
  CHECK_EQ(code, 0);
  ag_buf_free(&p);
  char keys[700];
  snprintf(keys, sizeof keys, "%s/keys", home);
  CHECK_OK(ag_keystore_save(keys, name, hk, NULL, net->chain_id));
  ag_addr_encode(hk->pk, addr);
}

/* A miner with --api-key: only the exact key opens the /v1 routes (compared in constant time);
 * a missing, wrong or wrong-length key gets 401 invalid_api_key, as documented. */
TEST(miner_api_key_is_required) {
  ag_net net;
  CHECK_OK(ag_net_open(&net, node_url));
  ag_keypair hk, owner;
  char log[700], addr[AG_ADDR_MAX];
  new_hotkey(&net, "apikey-hot", &hk, &owner, addr);
  snprintf(log, sizeof log, "%s/logs/apikey-miner.log", home);
  ag_key_wipe(&hk);
  ag_key_wipe(&owner);
  const char *args[] = {"--home", home, "--node", node_url, "miner", "--subnet", "1", "--hotkey", "apikey-hot",
                        "--coldkey", "owner", "--api-key", "sk-agora-test-123", NULL};
  pid_t pid = sys_spawn(log, args);
  CHECK(pid > 0);
  uint16_t port = 0;
  for (int t = 0; t < 600 && !port; t++) { /* registered and announced */
    char host[128];
    int uid = -1;
    if (ag_neuron_find(&net, 1, addr, &uid, host, &port) || uid < 0) port = 0;
    if (!port) ag_sleep_ms(100);
  }
  CHECK(port > 0);
  if (port) {
    char body[4096];
    const char *refused[] = {NULL, "", "Bearer", "Bearer ", "Bearer sk-agora-test-124", "Bearer sk-agora-test-12",
                             "Bearer sk-agora-test-1234", "Bearer tk-agora-test-123", "Basic sk-agora-test-123",
                             "sk-agora-test-123"};
    for (size_t i = 0; i < AG_ARRAY_LEN(refused); i++) {
      int st = get_with_auth(port, "/v1/models", refused[i], body, sizeof body);
      if (st != 401) fprintf(stderr, "  Authorization '%s' -> %d\n", refused[i] ? refused[i] : "(none)", st);
      CHECK_EQ(st, 401);
      json_t *j = json_loads(body, 0, NULL);
      CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "invalid_api_key");
      json_decref(j);
    }
    CHECK_EQ(get_with_auth(port, "/v1/models", "Bearer sk-agora-test-123", body, sizeof body), 200);
    CHECK(strstr(body, "\"object\": \"list\"") != NULL || strstr(body, "\"object\":\"list\"") != NULL);
    CHECK_EQ(get_with_auth(port, "/health", NULL, body, sizeof body), 200); /* outside /v1: open */
  }
  CHECK_EQ(sys_stop(pid, SIGTERM, 20000), 0);
}

/* A miner that charges: its coldkey posts an offer with a bond; a request without a voucher
 * gets 402 naming the price; `agora infer --pay-from` opens a channel once, pays each request,
 * checks the signed payment receipt and keeps its book in HOME/channels; a miner killed and
 * started again, and a client whose book fell behind, neither double-count nor lose a payment;
 * the miner redeems exactly what it billed (docs/economy.md "Paid requests"). */
static json_t *infer_json(const char *uid, int want_exit) {
  ag_buf out;
  ag_buf_init(&out);
  const char *args[] = {"--home", home, "--node", node_url, "--json", "infer", "--miner", uid, "--pay-from", "owner",
                        "--deposit", "1", "-n", "12", "--seed", "7", "Once upon a time", NULL};
  int rc = sys_run(&out, args);
  if (want_exit >= 0) CHECK_EQ(rc, want_exit);
  json_t *j = json_loads(out.len ? (const char *)out.data : "null", 0, NULL);
  ag_buf_free(&out);
  return j;
}

static uint64_t pay_u64(json_t *j, const char *k) {
  return ag_json_u64_of(json_object_get(j, "payment"), k);
}

/* The port a hotkey (address) serves on now. */
static uint16_t mport_of(ag_net *net, const char *addr) {
  char host[128];
  int uid = -1;
  uint16_t port = 0;
  if (ag_neuron_find(net, 1, addr, &uid, host, &port)) return 0;
  return port;
}

static pid_t spawn_paid_miner_every(const char *log, const char *claim_every) {
  const char *args[] = {"--home", home, "--node", node_url, "miner", "--subnet", "1", "--hotkey", "paid-hot",
                        "--coldkey", "owner", "--claim-every", claim_every, NULL};
  return sys_spawn(log, args);
}

static pid_t spawn_paid_miner(const char *log) { return spawn_paid_miner_every(log, "2"); }

/* Waits until the miner of hotkey addr serves /health. */
static int paid_miner_serving(ag_net *net, const char *addr) {
  for (int t = 0; t < 300; t++) {
    char hurl[100];
    uint16_t hp = mport_of(net, addr);
    snprintf(hurl, sizeof hurl, "http://127.0.0.1:%u/health", hp);
    ag_http_result r;
    int ok = 0;
    if (hp && ag_http_request("GET", hurl, NULL, NULL, 0, 2000, &r) == 0) {
      ok = r.status == 200;
      ag_http_result_free(&r);
    }
    if (ok) return 1;
    ag_sleep_ms(100);
  }
  return 0;
}

/* A paid completion of body on channel id with a voucher of (cum, seq) signed by payer; the
 * channel's billed total after it. */
static uint64_t paid_completion(ag_net *net, const char *addr, const uint8_t id[32], uint64_t cum, uint64_t seq,
                                const ag_keypair *payer, const char *body) {
  ag_buf v;
  ag_buf_init(&v);
  ag_voucher_sign(&v, net->chain_id, id, cum, seq, payer);
  char vh[2 * AG_VOUCHER_MAX + 40];
  int off = snprintf(vh, sizeof vh, "%s: ", AG_PAY_HEADER);
  ag_hex_encode(v.data, v.len, vh + off);
  ag_buf_free(&v);
  const char *hdrs[] = {vh, NULL};
  ag_http_result r;
  char purl[200];
  snprintf(purl, sizeof purl, "http://127.0.0.1:%u/v1/completions", mport_of(net, addr));
  uint64_t billed = 0;
  CHECK_OK(ag_http_request_max("POST", purl, "application/json", body, strlen(body), 60000, 1 << 20, hdrs, 0, &r));
  CHECK_EQ(r.status, 200);
  json_t *ans = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  billed = ag_json_u64_of(json_object_get(json_object_get(ans, "agora"), "payment"), "billed");
  json_decref(ans);
  ag_http_result_free(&r);
  return billed;
}

/* The chain's claimed total of channel id once it reaches want (or after 40 s). */
static uint64_t claimed_reaches(const uint8_t id[32], uint64_t want) {
  char chex[65], cpath[120];
  ag_hex_encode(id, 32, chex);
  snprintf(cpath, sizeof cpath, "/v1/channels/%s", chex);
  uint64_t claimed = 0;
  for (int t = 0; t < 200 && claimed != want; t++) {
    json_t *ch = sys_get_json(node_url, cpath, NULL);
    claimed = ag_json_u64_of(ch, "claimed");
    json_decref(ch);
    if (claimed != want) ag_sleep_ms(200);
  }
  return claimed;
}

TEST(paid_requests_through_a_channel) {
  ag_net net;
  CHECK_OK(ag_net_open(&net, node_url));
  ag_keypair hk, owner;
  char log[700], addr[AG_ADDR_MAX];
  new_hotkey(&net, "paid-hot", &hk, &owner, addr);
  snprintf(log, sizeof log, "%s/logs/paid-miner.log", home);
  uint8_t hash[32];
  int code = -1;
  ag_buf p;
  pid_t pid = spawn_paid_miner(log);
  uint16_t port = 0;
  int uid = -1;
  for (int t = 0; t < 600 && !port; t++) {
    char host[128];
    if (ag_neuron_find(&net, 1, addr, &uid, host, &port) || uid < 0) port = 0;
    if (!port) ag_sleep_ms(100);
  }
  CHECK(port > 0);
  /* the offer: 0.001 AGR per 1,000 prompt tokens, 0.01 per 1,000 output tokens, 10 AGR bond */
  json_t *sn = sys_get_json(node_url, "/v1/subnets/1", NULL);
  uint8_t model[32];
  const char *mid = json_string_value(json_object_get(json_object_get(sn, "model"), "model_id"));
  CHECK(mid && !ag_hex_decode(mid, 64, model, 32));
  json_decref(sn);
  ag_buf_init(&p);
  ag_payload_offer_post(&p, hk.pk, model, AG_UNIT / 1000, AG_UNIT / 100, 256, 10 * AG_UNIT);
  CHECK_OK(ag_net_submit(&net, &owner, AG_TX_OFFER_POST, p.data, p.len, 30000, hash, &code));
  CHECK_EQ(code, 0);
  ag_buf_free(&p);
  /* once the miner has read its offer, a request without a voucher is refused with the price */
  char url[200];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/completions", port);
  static const char body[] = "{\"model\":\"default\",\"prompt\":\"Hello\",\"max_tokens\":4}";
  long st = 0;
  json_t *e = NULL;
  for (int t = 0; t < 100 && st != 402; t++) {
    json_decref(e);
    e = NULL;
    st = post(url, "application/json", body, strlen(body), &e);
    if (st != 402) ag_sleep_ms(200);
  }
  CHECK_EQ(st, 402);
  json_t *err = json_object_get(e, "error");
  CHECK_STR(json_string_value(json_object_get(err, "code")), "payment_required");
  CHECK_STR(json_string_value(json_object_get(json_object_get(err, "price"), "price_out_per_1k")), "10000000");
  CHECK(ag_json_u64_of(json_object_get(err, "price"), "request_max_cost") > 0);
  json_decref(e);
  /* the first paid request opens the channel; the next ones pay through it */
  char us[8];
  snprintf(us, sizeof us, "%d", uid);
  json_t *a = infer_json(us, 0);
  CHECK(json_is_true(json_object_get(a, "verified")));
  CHECK_EQ(json_integer_value(json_object_get(a, "uid")), uid);
  uint64_t cost1 = pay_u64(a, "cost"), billed1 = pay_u64(a, "billed");
  CHECK(cost1 > 0 && billed1 == cost1);
  CHECK_U64(pay_u64(a, "deposit"), AG_UNIT);
  char chan[65] = "";
  snprintf(chan, sizeof chan, "%s", json_string_value(json_object_get(json_object_get(a, "payment"), "channel")) ?: "");
  json_decref(a);
  json_t *b = infer_json(us, 0);
  CHECK_U64(pay_u64(b, "billed"), billed1 + pay_u64(b, "cost"));
  CHECK_STR(json_string_value(json_object_get(json_object_get(b, "payment"), "channel")), chan);
  uint64_t billed2 = pay_u64(b, "billed");
  json_decref(b);
  /* a miner killed and started again has its book: billing goes on from where it was */
  CHECK_EQ(sys_stop(pid, SIGKILL, 5000), 128 + SIGKILL);
  pid = spawn_paid_miner(log);
  json_t *c3 = NULL;
  for (int t = 0; t < 100; t++) { /* until it serves again */
    c3 = infer_json(us, -1);
    if (json_integer_value(json_object_get(c3, "uid")) == uid && json_object_get(c3, "payment")) break;
    json_decref(c3);
    c3 = NULL;
    ag_sleep_ms(300);
  }
  CHECK(c3 != NULL);
  CHECK_U64(pay_u64(c3, "billed"), billed2 + pay_u64(c3, "cost"));
  uint64_t billed3 = pay_u64(c3, "billed");
  json_decref(c3);
  /* a client whose book fell behind (it crashed after the miner billed) catches up from the
   * 402 within what it signed, and pays once */
  char cfile[1200];
  ag_pay_client_path(home, owner.pk, hk.pk, model, cfile, sizeof cfile);
  ag_pay_client cl;
  CHECK_OK(ag_pay_client_load(cfile, &cl));
  CHECK_U64(cl.billed, billed3);
  cl.billed = billed1;
  cl.seq -= 2;
  CHECK_OK(ag_pay_client_save(cfile, &cl));
  json_t *d = infer_json(us, 0);
  CHECK_U64(pay_u64(d, "billed"), billed3 + pay_u64(d, "cost"));
  uint64_t billed4 = pay_u64(d, "billed");
  json_decref(d);
  /* the miner redeems exactly what it billed */
  uint8_t chan_id[32];
  CHECK(!ag_hex_decode(chan, 64, chan_id, 32));
  CHECK_U64(claimed_reaches(chan_id, billed4), billed4);
  /* a book that lost its last write (kill -9 between a claim's commit and the book's) says the
   * channel still owes billed4 - billed1 on its latest voucher, which the chain has redeemed:
   * the miner, started again, sends it once, is refused and takes the chain's figure, rather
   * than burning a fee on it every round (2 s here) as it did */
  CHECK_EQ(sys_stop(pid, SIGKILL, 5000), 128 + SIGKILL);
  {
    char bpath[700];
    uint8_t cid[32];
    snprintf(bpath, sizeof bpath, "%s/paybook-%s.mdb", home, addr);
    ag_paybook bk;
    CHECK_OK(ag_paybook_open(&bk, bpath, NULL));
    CHECK(!ag_hex_decode(chan, 64, cid, 32));
    ag_pay_entry *pe = ag_paybook_find(&bk, cid);
    /* (the book may not have its claim yet: the chain shows it before the miner reads it) */
    CHECK(pe != NULL && pe->billed == billed4);
    if (pe) {
      pe->claimed = billed1;
      CHECK_OK(ag_paybook_store(&bk, pe));
    }
    ag_paybook_close(&bk);
  }
  pid = spawn_paid_miner(log);
  CHECK(paid_miner_serving(&net, addr)); /* the new process announced its port, and serves */
  uint64_t restarted = ag_mono_ms();
  /* eight more channels, one paid request each (vouchers sent by hand): the miner sends a
   * round's claims at once, so they land in a block or two (one block a claim before) */
  enum { MORE = 8 };
  uint8_t mids[MORE][32];
  uint64_t mbilled[MORE];
  for (int k = 0; k < MORE; k++) {
    char apath[200], oaddr[AG_ADDR_MAX];
    ag_addr_encode(owner.pk, oaddr);
    snprintf(apath, sizeof apath, "/v1/accounts/%s", oaddr);
    json_t *acct = sys_get_json(node_url, apath, NULL);
    uint64_t nonce = ag_json_u64_of(acct, "pending_nonce");
    json_decref(acct);
    ag_channel_id(net.chain_id, owner.pk, nonce, mids[k]);
    ag_buf_init(&p);
    ag_payload_channel_open(&p, hk.pk, NULL, model, AG_UNIT, 600, 0);
    CHECK_OK(ag_net_submit(&net, &owner, AG_TX_CHANNEL_OPEN, p.data, p.len, 30000, hash, &code));
    CHECK_EQ(code, 0);
    ag_buf_free(&p);
  }
  for (int k = 0; k < MORE; k++) {
    mbilled[k] = paid_completion(&net, addr, mids[k], AG_UNIT / 10, 1, &owner, body);
    CHECK(mbilled[k] > 0);
  }
  for (int k = 0; k < MORE; k++) CHECK_U64(claimed_reaches(mids[k], mbilled[k]), mbilled[k]);
  while (ag_mono_ms() < restarted + 7000) ag_sleep_ms(200); /* three claim rounds at least */
  char hpath[200];
  snprintf(hpath, sizeof hpath, "/v1/accounts/%s/txs?limit=100", addr);
  json_t *hist = sys_get_json(node_url, hpath, NULL);
  int refused = 0;
  for (size_t k = 0; k < json_array_size(json_object_get(hist, "txs")); k++) {
    json_t *tx = json_array_get(json_object_get(hist, "txs"), k);
    if (!strcmp(json_string_value(json_object_get(tx, "kind")) ?: "", "channel_claim") &&
        strcmp(json_string_value(json_object_get(tx, "result")) ?: "", "ok"))
      refused++;
  }
  CHECK_EQ(refused, 1); /* the redeemed voucher, sent once */
  /* newest first: the claims of the eight new channels, sent together in a channel_claims (one
   * tx, one signature; two when the requests straddle two rounds) */
  int nclaims = 0, ntx = 0, batched = 0;
  for (size_t k = 0; k < json_array_size(json_object_get(hist, "txs")) && nclaims < MORE; k++) {
    json_t *tx = json_array_get(json_object_get(hist, "txs"), k);
    const char *kind = json_string_value(json_object_get(tx, "kind")) ?: "";
    if ((strcmp(kind, "channel_claim") && strcmp(kind, "channel_claims")) ||
        strcmp(json_string_value(json_object_get(tx, "result")) ?: "", "ok"))
      continue;
    char tpath[120];
    snprintf(tpath, sizeof tpath, "/v1/txs/%s", json_string_value(json_object_get(tx, "hash")));
    json_t *full = sys_get_json(node_url, tpath, NULL);
    json_t *claims = json_object_get(json_object_get(json_object_get(full, "tx"), "payload"), "claims");
    nclaims += strcmp(kind, "channel_claims") ? 1 : (int)json_array_size(claims);
    batched += !strcmp(kind, "channel_claims");
    ntx++;
    json_decref(full);
  }
  json_decref(hist);
  fprintf(stderr, "  %d claims of the new channels in %d tx(s), %d channel_claims\n", nclaims, ntx, batched);
  CHECK_EQ(nclaims, MORE);
  CHECK(ntx <= 2 && batched >= 1);
  /* a channel_claims is all or none: one voucher the chain redeemed already, in a round with
   * seven good ones, fails the batch; the miner sends the eight again one by one in the same
   * round, so the seven are paid and the stale one is read back from the chain. The miner
   * bills the seven with a long --claim-every (no round), is killed, and its book is rewound
   * for the eighth channel before it starts again with rounds every 2 s. */
  CHECK_EQ(sys_stop(pid, SIGKILL, 5000), 128 + SIGKILL);
  pid = spawn_paid_miner_every(log, "3600");
  CHECK(paid_miner_serving(&net, addr));
  for (int k = 1; k < MORE; k++) mbilled[k] = paid_completion(&net, addr, mids[k], AG_UNIT / 5, 2, &owner, body);
  CHECK_EQ(sys_stop(pid, SIGKILL, 5000), 128 + SIGKILL);
  {
    char bpath[700];
    snprintf(bpath, sizeof bpath, "%s/paybook-%s.mdb", home, addr);
    ag_paybook bk;
    CHECK_OK(ag_paybook_open(&bk, bpath, NULL));
    ag_pay_entry *pe = ag_paybook_find(&bk, mids[0]);
    CHECK(pe != NULL && pe->claimed == mbilled[0]);
    if (pe) {
      pe->claimed = 0; /* and its voucher, sequence 1, is above the chain's as the book last read it */
      pe->ch.seq = 0;
      CHECK_OK(ag_paybook_store(&bk, pe));
    }
    ag_paybook_close(&bk);
  }
  pid = spawn_paid_miner(log);
  CHECK(paid_miner_serving(&net, addr));
  for (int k = 1; k < MORE; k++) CHECK_U64(claimed_reaches(mids[k], mbilled[k]), mbilled[k]);
  CHECK_U64(claimed_reaches(mids[0], mbilled[0]), mbilled[0]);
  ag_sleep_ms(3000); /* a round more: the stale voucher is not sent again */
  hist = sys_get_json(node_url, hpath, NULL);
  int refused_batches = 0, refused_singles = 0;
  for (size_t k = 0; k < json_array_size(json_object_get(hist, "txs")); k++) {
    json_t *tx = json_array_get(json_object_get(hist, "txs"), k);
    const char *kind = json_string_value(json_object_get(tx, "kind")) ?: "";
    if (!strcmp(json_string_value(json_object_get(tx, "result")) ?: "", "ok")) continue;
    refused_batches += !strcmp(kind, "channel_claims");
    refused_singles += !strcmp(kind, "channel_claim");
  }
  json_decref(hist);
  CHECK_EQ(refused_batches, 1);
  CHECK_EQ(refused_singles, 2); /* the first rewound voucher above, and this one, once each */
  /* the provider closes the nine channels (at once); the miner drops them from its book
   * within a round or two of its claims (every 2 s here), as its metrics show */
  for (int k = 0; k <= MORE; k++) {
    uint8_t cid[32];
    if (k == MORE) CHECK(!ag_hex_decode(chan, 64, cid, 32));
    else memcpy(cid, mids[k], 32);
    ag_buf_init(&p);
    ag_payload_channel_close(&p, cid);
    CHECK_OK(ag_net_submit(&net, &hk, AG_TX_CHANNEL_CLOSE, p.data, p.len, 30000, hash, &code));
    CHECK_EQ(code, 0);
    ag_buf_free(&p);
  }
  char murl[200], mhost[128];
  int muid = -1;
  uint16_t mport = 0; /* the restarted miner's */
  CHECK_OK(ag_neuron_find(&net, 1, addr, &muid, mhost, &mport));
  snprintf(murl, sizeof murl, "http://127.0.0.1:%u/metrics", mport);
  long channels = -1;
  for (int t = 0; t < 150 && channels != 0; t++) {
    ag_http_result r;
    if (ag_http_request("GET", murl, NULL, NULL, 0, 5000, &r) == 0) {
      ag_buf_put(&r.body, "", 1);
      static const char metric[] = "\nagora_inference_payment_channels ";
      const char *at = strstr((const char *)r.body.data, metric);
      if (at) channels = strtol(at + strlen(metric), NULL, 10);
      ag_http_result_free(&r);
    }
    if (channels != 0) ag_sleep_ms(200);
  }
  CHECK_EQ(channels, 0);
  /* without --pay-from, a charging miner is skipped for another */
  ag_buf out;
  ag_buf_init(&out);
  const char *free_args[] = {"--home", home, "--node", node_url, "--json", "infer", "--miner", us, "-n", "4", "Hi", NULL};
  CHECK_EQ(sys_run(&out, free_args), 0);
  json_t *f = json_loads((const char *)out.data, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(f, "attempts"), 0), "result")), "payment_required");
  CHECK(json_integer_value(json_object_get(f, "uid")) != uid);
  json_decref(f);
  ag_buf_free(&out);
  CHECK_EQ(sys_stop(pid, SIGTERM, 30000), 0);
  ag_key_wipe(&hk);
  ag_key_wipe(&owner);
}

/* A validator killed after a commit and started again reveals that commit: the salt and the
 * weights were kept in HOME/neurons/HOTKEY/reveals-1.json (0600). */
/* How long a log is now (0 when it cannot be read): what is written after it is new. */
static size_t log_end(const char *path) {
  uint8_t *data;
  size_t len;
  if (ag_read_file(path, 64 << 20, &data, &len)) return 0;
  free(data);
  return len;
}

TEST(validator_restarted_between_commit_and_reveal_still_reveals) {
  char vlog[700], rpath[700], status[700], nlog[700];
  snprintf(vlog, sizeof vlog, "%s/logs/validator1.log", home);
  snprintf(nlog, sizeof nlog, "%s/logs/validator1-restarted.log", home);
  snprintf(status, sizeof status, "%s/status/validator1.json", home);
  snprintf(rpath, sizeof rpath, "%s/neurons/validator1-hot/reveals-1.json", home);
  /* the next commit of validator1 */
  uint8_t *data;
  size_t len, from = log_end(vlog);
  long epoch = -1;
  for (int t = 0; t < 400 && epoch < 0; t++) {
    if (ag_read_file(vlog, 64 << 20, &data, &len) == 0) {
      const char *hit = len > from ? strstr((char *)data + from, "committed weights for ") : NULL;
      const char *e = hit ? strstr(hit, " in epoch ") : NULL;
      if (e) epoch = strtol(e + 10, NULL, 10);
      free(data);
    }
    if (epoch < 0) ag_sleep_ms(50);
  }
  CHECK(epoch >= 0);
  pid_t old = manifest_pid("validator1");
  CHECK(old > 0);
  CHECK_EQ(kill(old, SIGKILL), 0);
  /* what it left */
  struct stat sb;
  CHECK(stat(rpath, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  json_t *f = json_load_file(rpath, 0, NULL);
  int kept = 0;
  json_t *pend = json_object_get(f, "pending");
  for (size_t i = 0; i < json_array_size(pend); i++)
    kept += json_integer_value(json_object_get(json_array_get(pend, i), "epoch")) == epoch;
  CHECK_EQ(kept, 1);
  json_decref(f);
  /* started again, as the devnet starts it */
  const char *args[] = {"--home", home, "--node", node_url, "validator", "--subnet", "1", "--hotkey",
                        "validator1-hot", "--status", status, "--interval-ms", "1500", "--timeout-ms", "10000", NULL};
  pid_t pid = sys_spawn(nlog, args);
  CHECK(pid > 0);
  char want[96];
  snprintf(want, sizeof want, "uid(s) committed in epoch %ld\n", epoch); /* the reveal's log line */
  int revealed = 0;
  for (int t = 0; t < 600 && !revealed; t++) {
    if (ag_read_file(nlog, 64 << 20, &data, &len) == 0) {
      revealed = strstr((char *)data, "pending reveal(s) from the last run") && strstr((char *)data, want);
      free(data);
    }
    if (!revealed) ag_sleep_ms(100);
  }
  if (!revealed) fprintf(stderr, "  no reveal of epoch %ld in %s\n", epoch, nlog);
  CHECK(revealed);
  /* it is gone from the file (a later commit may be there) */
  f = json_load_file(rpath, 0, NULL);
  kept = 0;
  pend = json_object_get(f, "pending");
  for (size_t i = 0; i < json_array_size(pend); i++)
    kept += json_integer_value(json_object_get(json_array_get(pend, i), "epoch")) == epoch;
  CHECK_EQ(kept, 0);
  json_decref(f);
  CHECK_EQ(sys_stop(pid, SIGTERM, 20000), 0);
}

/* A miner that holds every challenge until just before the validators' timeout (10 s in a
 * devnet) makes each of their rounds outlast an epoch (10 blocks of 500 ms). A validator that
 * committed its weights only between rounds then committed in one epoch out of two or three,
 * and its weights went stale; it now looks for a due commit while it waits for answers. */
static atomic_int held;
static void h_tarpit(ag_http_req *req, ag_http_resp *resp) {
  atomic_fetch_add(&held, 1);
  ag_sleep_ms(9000);
  h_garbage(req, resp);
}
static const ag_http_route tarpit_routes[] = {
    {"POST", "/v1/completions", h_tarpit, 0},
    {"POST", "/v1/chat/completions", h_tarpit, 0},
};

/* The epochs in which validator v's log says it committed, from byte `from` on; their count. */
static int committed_epochs(int v, size_t from, long *epochs, int cap) {
  char path[700];
  snprintf(path, sizeof path, "%s/logs/validator%d.log", home, v);
  uint8_t *data;
  size_t len;
  int n = 0;
  if (ag_read_file(path, 64 << 20, &data, &len)) return 0;
  for (const char *at = len > from ? (char *)data + from : NULL; at && (at = strstr(at, "committed weights for "));) {
    const char *e = strstr(at, " in epoch ");
    const char *eol = strchr(at, '\n');
    if (e && (!eol || e < eol) && n < cap) epochs[n++] = strtol(e + 10, NULL, 10);
    at += 22;
  }
  free(data);
  return n;
}

TEST(a_miner_that_holds_challenges_does_not_stop_weights) {
  ag_http_config hc = {"127.0.0.1:0", 1 << 16, tarpit_routes, 2, NULL};
  ag_http_server *srv = NULL;
  CHECK_OK(ag_http_start(&hc, &srv));
  if (!srv) return;
  int uid = -1;
  join_subnet(srv, "tarpit-hot", &uid);
  /* both validators' rounds now wait on it */
  for (int t = 0; t < 300 && atomic_load(&held) < 2; t++) ag_sleep_ms(100);
  CHECK(atomic_load(&held) >= 2);
  char path[700];
  snprintf(path, sizeof path, "%s/logs/validator0.log", home);
  size_t from = log_end(path);
  /* four epochs and a half: a commit in each (rounds of about 10 s would make two or three) */
  ag_sleep_ms(22500);
  long ep[64];
  int n = committed_epochs(0, from, ep, 64);
  fprintf(stderr, "  with challenges held 9 s: validator0 committed in %d epoch(s) in 22.5 s:", n);
  for (int i = 0; i < n; i++) fprintf(stderr, " %ld", ep[i]);
  fprintf(stderr, " (%d challenges held)\n", atomic_load(&held));
  CHECK(n >= 4);
  for (int i = 1; i < n; i++) CHECK_EQ(ep[i], ep[i - 1] + 1); /* no epoch without one */
  ag_http_stop(srv); /* connections refused from now: the rounds are short again */
}

TEST(devnet_stops_cleanly_with_issuance_on_schedule) {
  pid_t children[9];
  int n = 0;
  const char *names[] = {"node", "miner1", "miner2", "miner3", "miner4", "miner5", "validator0", "validator1"};
  for (int i = 0; i < 8; i++) children[n++] = manifest_pid(names[i]);
  CHECK_EQ(sys_stop(devnet_pid, SIGTERM, 60000), 0);
  for (int i = 0; i < n; i++) CHECK(children[i] > 0 && kill(children[i], 0) != 0);
  json_t *o = json_load_file(out_path, 0, NULL);
  CHECK(o != NULL);
  json_t *iss = json_object_get(o, "issuance");
  CHECK(json_is_true(json_object_get(iss, "matches_schedule")));
  /* and against a computation of our own: genesis balances from genesis.json, then 1 AGR a
   * block halving every 40 blocks (the run crosses at least two halvings) */
  char gpath[700];
  snprintf(gpath, sizeof gpath, "%s/genesis.json", home);
  json_t *g = json_load_file(gpath, 0, NULL);
  uint64_t want = 0, height_end = (uint64_t)json_integer_value(json_object_get(o, "height"));
  json_t *accts = json_object_get(g, "accounts");
  for (size_t i = 0; i < json_array_size(accts); i++) {
    uint64_t b = 0;
    ag_parse_u64(json_string_value(json_object_get(json_array_get(accts, i), "balance")), &b);
    want += b;
  }
  json_decref(g);
  CHECK(height_end > 80);
  for (uint64_t k = 1; k <= height_end; k++) want += 1000000000ULL >> (k / 40);
  char ws[32];
  snprintf(ws, sizeof ws, "%llu", (unsigned long long)want);
  CHECK_STR(json_string_value(json_object_get(iss, "issued")), ws);
  CHECK_EQ(json_integer_value(json_object_get(o, "node_restarts")), 1);
  json_t *ns = json_object_get(o, "neurons");
  int cheaters = 0, slow = 0, validators = 0, relayers = 0;
  for (size_t i = 0; i < json_array_size(ns); i++) {
    json_t *x = json_array_get(ns, i);
    const char *role = json_string_value(json_object_get(x, "role"));
    const char *beh = json_string_value(json_object_get(x, "behaviour"));
    if (beh && !strcmp(beh, "cheater")) {
      cheaters++;
      CHECK_EQ(json_integer_value(json_object_get(x, "incentive")), 0);
    }
    if (beh && !strcmp(beh, "relayer")) {
      relayers++;
      CHECK_EQ(json_integer_value(json_object_get(x, "incentive")), 0);
    }
    slow += beh && !strcmp(beh, "slow");
    validators += role && !strcmp(role, "validator");
  }
  CHECK_EQ(cheaters, 1);
  CHECK_EQ(relayers, 1);
  CHECK_EQ(slow, 1);
  CHECK_EQ(validators, 2);
  json_decref(o);
  ag_http_stop(garbage_srv);
  json_decref(manifest);
}

TEST_MAIN(devnet_starts, miners_refuse_bad_requests, node_model_files,
          tampered_answers_fail_verification, garbage_miner_joins,
          incentive_follows_honesty_and_speed, infer_reports_the_cheater_and_asks_another,
          node_restart_loses_nothing, killed_miner_decays, miner_api_key_is_required,
          paid_requests_through_a_channel,
          validator_restarted_between_commit_and_reveal_still_reveals,
          a_miner_that_holds_challenges_does_not_stop_weights, devnet_stops_cleanly_with_issuance_on_schedule)
