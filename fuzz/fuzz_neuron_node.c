/*
 * fuzz_neuron_node.c — what miners, validators and trainers read from their node, when the node
 * lies: a small node in this process answers a training subnet's round, its pin and
 * hyperparameters, and its metagraph, with one value anywhere in one answer replaced by the
 * input's choice (fuzz/json_lie.h); the neuron side reads them as it does at every step:
 * ag_neuron_find (its own uid and endpoint), ag_neuron_pin_changed, ag_tround_get and
 * ag_tround_peers (the round a trainer or validator works on).
 *
 * A neuron chose its node and believes its account of the chain; what must hold is that it
 * believes nothing the chain itself could not say, since it sizes buffers and loops by it:
 *  - ag_neuron_find gives a uid of 0..4095 (or -1: not registered) and a host that is a string;
 *  - ag_tround_get gives training hyperparameters within the chain's bounds (train_k 1..2048,
 *    train_inner_steps 1..10000, ...), at most as many submissions, proposers and earlier
 *    reveals as the node listed, at most 256 last entries;
 *  - ag_tround_peers at most as many peers as metagraph rows, each URL a string;
 *  - and no crash, leak or unbounded allocation.
 */
#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "fuzz_input.h"
#include "fuzz_setup.h"
#include "incentive/incentive.h"
#include "json_lie.h"
#include "subnets/neuron.h"
#include "subnets/netclient.h"
#include "subnets/tround.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_http_server *node_srv;
static ag_net net;
static ag_keypair hk[3];
static char addr[3][AG_ADDR_MAX];
static in_t cur;
static int lie_at;


enum { LIE_NONE, LIE_ROUND, LIE_SUBNET, LIE_METAGRAPH, LIE_N };

static void at_exit(void) { ag_http_stop(node_srv); }

static const char *const hex64 = "11111111111111111111111111111111111111111111111111111111111111ab";

static void node_json(ag_http_resp *resp, int where, json_t *o) { fuzz_node_answer(resp, o, lie_at == where, &cur); }

/* /v1/subnets/1 (pin and hyperparameters), /v1/subnets/1/training (the round), /v1/subnets/1/metagraph */
static void h_subnet(ag_http_req *req, ag_http_resp *resp) {
  if (!strcmp(req->param, "1")) {
    ag_hyperparams hp;
    ag_hyperparams_default(&hp);
    return node_json(resp, LIE_SUBNET,
                     json_pack("{s:i, s:{s:s, s:i}, s:o}", "netuid", 1, "model", "model_id", hex64, "size", 1000,
                               "hyperparams", fuzz_hyperparams_json(&hp)));
  }
  if (!strcmp(req->param, "1/training")) {
    json_t *subs = json_array(), *props = json_array(), *prev = json_array();
    for (int i = 0; i < 3; i++) {
      json_array_append_new(subs, json_pack("{s:i, s:s, s:i, s:i, s:b, s:s, s:s}", "uid", i, "hotkey", addr[i], "size",
                                            4096, "block", 10 + i, "revealed", i != 1, "commitment", hex64, "blob", hex64));
      json_array_append_new(props, json_pack("{s:s}", "hotkey", addr[i]));
      json_array_append_new(prev, json_pack("{s:i, s:i, s:s}", "uid", i, "size", 4096, "blob", hex64));
    }
    json_t *rounds = json_pack("[{s:s, s:s, s:[{s:i}, {s:i}]}]", "model_id", hex64, "file_hash", hex64, "entries", "uid",
                               0, "uid", 2);
    return node_json(resp, LIE_ROUND,
                     json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:o, s:o, s:o, s:{s:i, s:o}}", "height", 50,
                               "round", 4, "round_start", 40, "submit_until", 60, "reveal_until", 70, "round_end", 80,
                               "size", 1000, "model_id", hex64, "submissions", subs, "proposals", props, "rounds",
                               rounds, "previous", "round", 3, "revealed", prev));
  }
  if (!strcmp(req->param, "1/metagraph")) {
    json_t *rows = json_array();
    for (int i = 0; i < 3; i++)
      json_array_append_new(rows, json_pack("{s:i, s:s, s:{s:s, s:i}, s:i}", "uid", i, "hotkey", addr[i], "endpoint",
                                            "host", "127.0.0.1", "port", 9000 + i, "incentive", 0));
    return node_json(resp, LIE_METAGRAPH, json_pack("{s:o}", "uids", rows));
  }
  ag_http_error(resp, 404, AG_E_NOTFOUND, "no such subnet");
}

static const ag_http_route routes[] = {
    {"GET", "/v1/status", fuzz_node_status, 0},
    {"GET", "/v1/incentive", fuzz_node_incentive, 0},
    {"GET", "/v1/subnets/", h_subnet, 0},
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  atexit(at_exit);
  for (int i = 0; i < 3; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1), 0x6e};
    ag_key_from_seed(&hk[i], seed);
    ag_addr_encode(hk[i].pk, addr[i]);
  }
  ag_http_config c = {"127.0.0.1:0", 1u << 20, routes, AG_ARRAY_LEN(routes), NULL, NULL, NULL};
  if (ag_http_start(&c, &node_srv)) abort();
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", ag_http_port(node_srv));
  if (ag_net_open(&net, url)) abort();
  net.retries = 0;
  return 0;
}

static void fail(const char *what) {
  fprintf(stderr, "fuzz_neuron_node: %s (lie %d)\n", what, lie_at);
  abort();
}

static void in_bounds(const char *name, uint64_t v) {
  uint64_t lo = 0, hi = 0;
  for (size_t i = 0; i < ag_hyperparam_count(); i++)
    if (!strcmp(ag_hyperparam_name(i), name)) ag_hyperparam_bounds(i, &lo, &hi);
  if (v < lo || v > hi) {
    fprintf(stderr, "fuzz_neuron_node: %s = %llu is outside %llu..%llu\n", name, (unsigned long long)v,
            (unsigned long long)lo, (unsigned long long)hi);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cur = (in_t){data, size};
  lie_at = get8(&cur) % LIE_N;

  int uid;
  char host[128];
  uint16_t port;
  if (ag_neuron_find(&net, 1, addr[get8(&cur) % 3], &uid, host, &port) == 0) {
    if (uid < -1 || uid >= AG_MAX_UIDS) fail("a uid outside 0..4095");
    if (memchr(host, 0, sizeof host) == NULL) fail("a host that is not a string");
  }
  uint8_t have[32];
  memset(have, 0x11, 32);
  ag_neuron_pin_changed(&net, 1, have);
  ag_tround r;
  if (ag_tround_get(&net, 1, &r) == 0) {
    in_bounds("train_inner_steps", r.inner_steps);
    in_bounds("train_window", r.window);
    in_bounds("train_k", r.k);
    in_bounds("train_top", r.top);
    in_bounds("train_outer_lr", r.outer_lr_ppm);
    in_bounds("train_momentum", r.momentum_ppm);
    if (r.nsubs < 0 || r.nsubs > 8004 || r.nprops < 0 || r.nprops > 8004 || r.nprev < 0 || r.nprev > 8004 ||
        r.nlast > 256)
      fail("more entries than the node listed");
    if (ag_tround_peers(&net, 1, &r) == 0) {
      if (r.npeers < 0 || r.npeers > 8004) fail("more peers than metagraph rows");
      for (int i = 0; i < r.npeers; i++)
        if (!memchr(r.peers[i], 0, sizeof r.peers[0])) fail("a peer URL that is not a string");
    }
    ag_tround_free(&r);
  }
  ag_err_clear();
  return 0;
}
