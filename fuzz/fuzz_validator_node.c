/*
 * fuzz_validator_node.c — an inference validator (ag_validator_step: what `agora validator` runs
 * every couple of seconds) against a node that lies: a small node in this process answers the
 * subnet (its pin, epoch and hyperparameters), its metagraph, the dispute cases the validator
 * sits on and the detail of one, and the validator's account, with up to three values anywhere
 * in one answer replaced by the input's choice (fuzz/json_lie.h). A real miner API (the nano
 * model, fuzz_setup.h's fuzz_miner_open) serves the metagraph's uid 1, so each step challenges
 * it and re-executes its answer; the validator is uid 0 with a permit, and weights are due at
 * every step (the honest node's epoch moves on each input).
 *
 * A validator chose its node and believes it; what must hold is that no lie crashes it, leaks,
 * sizes anything past what a chain could hold, or makes it send a tx the chain would refuse for
 * its shape:
 *  - every tx it sends decodes (ag_tx_decode), is signed by its hotkey, and is of a kind a
 *    validator sends (set, commit or reveal weights; dispute commit or reveal);
 *  - set and revealed weights are for subnet 1, name uids in increasing order, each below 4096
 *    never the validator's own uid (0) unless the metagraph lied, with one nonzero weight each;
 *    a commit is 34 bytes, a dispute commit 64 and a dispute reveal 128;
 *  - its status file parses, with at most 4096 miners, each uid 0..4095, each score 0..1, and
 *    each hotkey an address (a row whose hotkey is not one is left out, however often the node
 *    says it).
 * With the honest node every step sends weights (commit or set, as the subnet says).
 *
 * AGORA_FUZZ_STATS=1 prints at exit how far inputs got.
 */
#include "api/http.h"
#include "api/models.h"
#include "chain/json.h"
#include "chain/tx.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"
#include "economy/economy.h"
#include "fuzz_input.h"
#include "fuzz_setup.h"
#include "incentive/incentive.h"
#include "incentive/internal.h"
#include "json_lie.h"
#include "subnets/miner.h"
#include "subnets/validator.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char base[256], model_hex[65], val_addr[AG_ADDR_MAX], miner_addr[AG_ADDR_MAX], other_addr[AG_ADDR_MAX];
static char status_path[400], case_hex[65];
static ag_keypair val_key, miner_key, other_key;
static ag_model *model;
static ag_http_server *node_srv, *miner_srv;
static ag_miner_api *api;
static ag_http_limits limits;
static ag_http_config miner_cfg;
static ag_inf_validator *validator;
static ag_buf evidence;
static uint16_t miner_port;

static in_t cur;
static int lie_at, commit_reveal;
static uint64_t epoch;
static int sent_weights; /* this input's step sent a set or commit of weights */

enum { LIE_NONE, LIE_SUBNET, LIE_METAGRAPH, LIE_DISPUTES, LIE_CASE, LIE_ACCOUNT, LIE_N };

static struct {
  int on;
  unsigned long inputs, lies, honest, honest_weights, txs[64], step_err;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_validator_node: %lu inputs (%lu with a lying node, %lu step errors); honest steps %lu, %lu sent "
            "weights; txs: set %lu, commit %lu, reveal %lu, dispute commit %lu, dispute reveal %lu\n",
            stats.inputs, stats.lies, stats.step_err, stats.honest, stats.honest_weights, stats.txs[AG_TX_SET_WEIGHTS],
            stats.txs[AG_TX_COMMIT_WEIGHTS], stats.txs[AG_TX_REVEAL_WEIGHTS], stats.txs[AG_TX_DISPUTE_COMMIT],
            stats.txs[AG_TX_DISPUTE_REVEAL]);
  ag_validator_close(validator);
  ag_http_stop(miner_srv);
  ag_miner_api_close(api);
  ag_http_stop(node_srv);
  ag_model_close(model);
  ag_buf_free(&evidence);
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_validator_node: could not remove %s\n", base);
}

__attribute__((noreturn)) static void fail(const char *what) {
  fprintf(stderr, "fuzz_validator_node: %s (lie %d)\n", what, lie_at);
  abort();
}

/* ---- the node ------------------------------------------------------------------------------------- */

static void node_json(ag_http_resp *resp, int where, json_t *o) { fuzz_node_answer(resp, o, lie_at == where, &cur); }

/* /v1/subnets/1 (pin, epoch, hyperparameters) and /v1/subnets/1/metagraph: the validator as
 * uid 0, the miner as uid 1, a neuron without an endpoint as uid 2. */
static void h_subnet(ag_http_req *req, ag_http_resp *resp) {
  if (!strcmp(req->param, "1")) {
    ag_hyperparams hp;
    ag_hyperparams_default(&hp);
    hp.commit_reveal = (uint8_t)commit_reveal;
    /* an input is an epoch of 10 blocks, and an honest one must see weights sent: the rate limit
     * is under that, as a devnet's (tempo / 2), for the validator counts it from its own last
     * set too (the metagraph here never moves) */
    hp.weights_rate_limit = 5;
    return node_json(resp, LIE_SUBNET,
                     json_pack("{s:i, s:I, s:I, s:{s:s, s:i}, s:o}", "netuid", 1, "height", (json_int_t)(1000 + 10 * epoch),
                               "epoch", (json_int_t)epoch, "model", "model_id", model_hex, "size", 1000, "hyperparams",
                               fuzz_hyperparams_json(&hp)));
  }
  if (!strcmp(req->param, "1/metagraph")) {
    json_t *rows = json_pack("[{s:i, s:s, s:b, s:i, s:i, s:n}, {s:i, s:s, s:b, s:i, s:i, s:{s:s, s:i}},"
                             " {s:i, s:s, s:b, s:i, s:i, s:n}]",
                             "uid", 0, "hotkey", val_addr, "validator_permit", 1, "last_update", 5, "registered_block", 5,
                             "endpoint", "uid", 1, "hotkey", miner_addr, "validator_permit", 0, "last_update", 5,
                             "registered_block", 5, "endpoint", "host", "127.0.0.1", "port", (int)miner_port, "uid", 2,
                             "hotkey", other_addr, "validator_permit", 0, "last_update", 5, "registered_block", 5,
                             "endpoint");
    return node_json(resp, LIE_METAGRAPH, json_pack("{s:i, s:o}", "netuid", 1, "uids", rows));
  }
  ag_http_error(resp, 404, AG_E_NOTFOUND, "no such subnet");
}

/* GET /v1/disputes?member=… (one case in its commit phase, the validator on its committee) and
 * GET /v1/disputes/{id} (its evidence). */
static void h_disputes(ag_http_req *req, ag_http_resp *resp) {
  json_t *c = json_pack("{s:s, s:i, s:s, s:s, s:i, s:[{s:s, s:b, s:b}]}", "id", case_hex, "netuid", 1, "model", model_hex,
                        "phase", "commit", "round", 0, "committee", "hotkey", val_addr, "committed", 0, "revealed", 0);
  node_json(resp, LIE_DISPUTES, json_pack("{s:[o], s:n}", "disputes", c, "next"));
}

static void h_dispute(ag_http_req *req, ag_http_resp *resp) {
  char *hex = ag_xmalloc(2 * evidence.len + 1);
  ag_hex_encode(evidence.data, evidence.len, hex);
  json_t *o = json_pack("{s:s, s:s}", "id", req->param, "evidence", hex);
  free(hex);
  node_json(resp, LIE_CASE, o);
}

static void h_account(ag_http_req *req, ag_http_resp *resp) {
  node_json(resp, LIE_ACCOUNT, json_pack("{s:s, s:s, s:I, s:I}", "address", req->param, "balance", "1000000000000",
                                         "nonce", (json_int_t)0, "pending_nonce", (json_int_t)0));
}

/* What the validator sends, checked for its shape (see the head of this file). */
static void check_weights(const uint8_t *p, size_t n, int reveal) {
  ag_reader r;
  ag_reader_init(&r, p, n);
  uint16_t netuid, nu, nw;
  uint64_t version;
  if (ag_read_u16le(&r, &netuid) || ag_read_u64le(&r, &version) || ag_read_u16le(&r, &nu)) fail("weights cut short");
  if (netuid != 1) fail("weights for another subnet");
  int prev = -1;
  for (uint16_t i = 0; i < nu; i++) {
    uint16_t u;
    if (ag_read_u16le(&r, &u)) fail("weights cut short");
    if (u >= AG_MAX_UIDS || (int)u <= prev) fail("weights for a uid out of order or past 4095");
    if (lie_at != LIE_METAGRAPH && u == 0) fail("weights for the validator's own uid");
    prev = u;
  }
  if (ag_read_u16le(&r, &nw) || nw != nu) fail("as many weights as uids");
  for (uint16_t i = 0; i < nw; i++) {
    uint16_t w;
    if (ag_read_u16le(&r, &w) || w == 0) fail("a zero weight");
  }
  uint8_t salt[32];
  if (reveal && ag_read_bytes(&r, salt, 32)) fail("a reveal without its salt");
  if (ag_reader_left(&r)) fail("weights with bytes after them");
}

static void h_submit(ag_http_req *req, ag_http_resp *resp) {
  ag_tx tx;
  if (ag_tx_decode((const uint8_t *)req->body, req->body_len, &tx)) fail("a tx that does not decode");
  if (memcmp(tx.sender, val_key.pk, 32) || ag_tx_verify(&tx)) fail("a tx not signed by the validator's hotkey");
  switch (tx.kind) {
  case AG_TX_SET_WEIGHTS: check_weights(tx.payload, tx.payload_len, 0), sent_weights = 1; break;
  case AG_TX_REVEAL_WEIGHTS: check_weights(tx.payload, tx.payload_len, 1); break;
  case AG_TX_COMMIT_WEIGHTS:
    if (tx.payload_len != 34) fail("a commit of another size");
    sent_weights = 1;
    break;
  case AG_TX_DISPUTE_COMMIT:
    if (tx.payload_len != 64) fail("a dispute commit of another size");
    break;
  case AG_TX_DISPUTE_REVEAL:
    if (tx.payload_len != 128) fail("a dispute reveal of another size");
    break;
  default: fail("a tx of a kind validators do not send");
  }
  stats.txs[tx.kind % 64]++;
  uint8_t hash[32];
  ag_hash("agora/txid", req->body, req->body_len, hash);
  ag_http_json(resp, 202, json_pack("{s:o}", "hash", ag_json_hex(hash, 32)));
}

/* Every tx is committed at once, with success. */
static void h_tx(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:s, s:s, s:{s:s}}", "hash", req->param, "status", "committed", "result", "code", "ok"));
}

static const ag_http_route node_routes[] = {
    {"GET", "/v1/status", fuzz_node_status, 0},   {"GET", "/v1/incentive", fuzz_node_incentive, 0},
    {"GET", "/v1/subnets/", h_subnet, 0},         {"GET", "/v1/disputes", h_disputes, 0},
    {"GET", "/v1/disputes/", h_dispute, 0},       {"GET", "/v1/accounts/", h_account, 0},
    {"POST", "/v1/txs", h_submit, 1u << 20},      {"GET", "/v1/txs/", h_tx, 0},
};

/* ---- setup ------------------------------------------------------------------------------------------- */

static void key_of(uint8_t tag, ag_keypair *k, char *addr) {
  uint8_t seed[32] = {tag, 0x76};
  ag_key_from_seed(k, seed);
  ag_addr_encode(k->pk, addr);
}

static uint16_t serve(ag_http_config *c, ag_http_server **srv) {
  c->listen = "127.0.0.1:0";
  if (ag_http_start(c, srv)) abort();
  return ag_http_port(*srv);
}

/* Evidence of a greedy answer of 2 tokens (its receipt left out): the validator re-executes it
 * and commits its vote. */
static void make_evidence(void) {
  static const char body[] = "{\"model\":\"default\",\"prompt\":\"The\",\"max_tokens\":2,\"temperature\":0}";
  ag_evidence e;
  memset(&e, 0, sizeof e);
  memcpy(e.hotkey, miner_key.pk, 32);
  e.body = (const uint8_t *)body;
  e.body_len = sizeof body - 1;
  e.text = (const uint8_t *)"x";
  e.text_len = 1;
  ag_buf_init(&evidence);
  ag_evidence_encode(&evidence, &e);
  uint8_t id[32];
  ag_hash("agora/fuzz-case", evidence.data, evidence.len, id);
  ag_hex_encode(id, 32, case_hex);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_incentive_register_kinds(); /* the node decodes what the validator sends */
  ag_economy_register_kinds();
  ag_log_set_level(AG_LOG_ERROR);
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  fuzz_tmpdir(base, sizeof base, "fuzz_validator_node");
  atexit(at_exit);
  model = fuzz_nano_model();
  ag_hex_encode(model->id, 32, model_hex);
  key_of(1, &val_key, val_addr);
  key_of(2, &miner_key, miner_addr);
  key_of(3, &other_key, other_addr);
  make_evidence();
  /* the validator's HOME: its hotkey, and the pinned model in its cache */
  char dir[400];
  snprintf(dir, sizeof dir, "%s/validator/keys", base);
  if (ag_mkdirs(dir, 0700) || ag_keystore_save(dir, "hot", &val_key, NULL, FUZZ_CHAIN)) abort();
  snprintf(dir, sizeof dir, "%s/validator/models", base);
  fuzz_cache_nano_model(dir, model);
  ag_http_config nc = {NULL, 1u << 20, node_routes, AG_ARRAY_LEN(node_routes), NULL, NULL, NULL};
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", serve(&nc, &node_srv));
  static ag_net mnet;
  if (ag_net_open(&mnet, url)) abort();
  mnet.retries = 0;
  char mhome[300];
  snprintf(mhome, sizeof mhome, "%s/miner", base);
  api = fuzz_miner_open(mhome, &mnet, model, &miner_key, &val_key, &limits, &miner_cfg);
  miner_port = serve(&miner_cfg, &miner_srv);
  ag_validator_config vc;
  ag_validator_config_default(&vc);
  snprintf(vc.home, sizeof vc.home, "%s/validator", base);
  snprintf(vc.node_url, sizeof vc.node_url, "%s", url);
  snprintf(vc.hotkey, sizeof vc.hotkey, "hot");
  snprintf(status_path, sizeof status_path, "%s/status.json", base);
  snprintf(vc.status_path, sizeof vc.status_path, "%s", status_path);
  vc.timeout_ms = 1000;
  static volatile int stop;
  if (ag_validator_open(&vc, &stop, &validator)) abort();
  return 0;
}

/* ---- an input ----------------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cur = (in_t){data, size};
  uint8_t head = get8(&cur);
  lie_at = head % LIE_N;
  commit_reveal = head >> 7;
  epoch++;
  sent_weights = 0;
  /* with bit 6, the node tells the same lie at a second step (a validator keeps its rows) */
  in_t lie = cur;
  int rc = ag_validator_step(validator);
  if (head & 0x40) {
    cur = lie;
    epoch++;
    rc |= ag_validator_step(validator);
  }
  stats.step_err += rc != 0;
  if (lie_at == LIE_NONE) {
    stats.honest++;
    if (rc) fail("a step failed with an honest node");
    if (!sent_weights) fail("an honest step sent no weights");
    stats.honest_weights++;
  } else {
    stats.lies++;
  }
  uint8_t *st;
  size_t n;
  if (ag_read_file(status_path, 1u << 24, &st, &n) == 0) {
    json_t *o = json_loadb((const char *)st, n, 0, NULL), *ms = json_object_get(o, "miners");
    free(st);
    if (!json_is_object(o)) fail("a status file that does not parse");
    if (json_array_size(ms) > AG_MAX_UIDS) fail("a status with more miners than a subnet holds");
    for (size_t i = 0; i < json_array_size(ms); i++) {
      json_t *m = json_array_get(ms, i);
      json_int_t uid = json_integer_value(json_object_get(m, "uid"));
      double score = json_real_value(json_object_get(m, "score"));
      if (uid < 0 || uid >= AG_MAX_UIDS || !(score >= 0 && score <= 1)) fail("a miner's uid or score out of bounds");
      uint8_t pk[32];
      if (ag_addr_decode(json_string_value(json_object_get(m, "hotkey")), pk))
        fail("a miner whose hotkey is not an address (its answers are checked against no key)");
    }
    json_decref(o);
  }
  stats.inputs++;
  ag_err_clear();
  return 0;
}
