/* fuzz_setup.h — what several targets set up alike: a scratch folder in memory, and the shipped
 * model as miners and validators run it. */
#ifndef AG_FUZZ_SETUP_H
#define AG_FUZZ_SETUP_H

#include "api/http.h"
#include "api/models.h"
#include "chain/genesis.h"
#include "consensus/node.h"
#include "core/util.h"
#include "engine/engine.h"
#include "incentive/incentive.h"
#include "subnets/miner.h"
#include "subnets/netclient.h"

#include <jansson.h>

#define FUZZ_CHAIN "agora-fuzz"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh folder NAME.XXXXXX in /dev/shm (else /tmp) into base; aborts when it cannot. */
__attribute__((unused)) static void fuzz_tmpdir(char *base, size_t cap, const char *name) {
  const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(base, cap, "%s/%s.XXXXXX", tmp, name);
  if (!mkdtemp(base)) abort();
}

/* models/agora-nano.bin, widened to fp32 as miners and validators run it. */
__attribute__((unused)) static ag_model *fuzz_nano_model(void) {
  ag_model *m = NULL;
  if (ag_model_load(AGORA_SRC_DIR "/models/agora-nano.bin", &m, NULL)) abort();
  ag_model_prefer_f32(&m, AG_PREFER_F32_MAX);
  return m;
}

/* models/agora-nano.bin written into the model cache dir as a neuron keeps it after a first
 * download (HOME/models/<id>); its size. */
__attribute__((unused)) static size_t fuzz_cache_nano_model(const char *dir, const ag_model *m) {
  char path[1200];
  if (ag_mkdirs(dir, 0700)) abort();
  ag_models_path(dir, m->id, path, sizeof path);
  uint8_t *bytes;
  size_t len;
  if (ag_read_file(AGORA_SRC_DIR "/models/agora-nano.bin", 1u << 30, &bytes, &len) ||
      ag_write_file_atomic(path, bytes, len, 0600))
    abort();
  free(bytes);
  return len;
}

/* A subnet's hyperparameters as GET /v1/subnets/{n} lists them (a new reference). */
__attribute__((unused)) static json_t *fuzz_hyperparams_json(const ag_hyperparams *hp) {
  json_t *h = json_object();
  for (size_t i = 0; i < ag_hyperparam_count(); i++)
    json_object_set_new(h, ag_hyperparam_name(i), json_integer((json_int_t)ag_hyperparam_get(hp, i)));
  return h;
}

/* A request body from fuzz input: a JSON object has its max_tokens held to 1..max (and no
 * max_completion_tokens), so that each run is short; other bytes stay as they are, up to a NUL
 * if they hold one. Free with free(). */
__attribute__((unused)) static char *fuzz_shape_body(const uint8_t *p, size_t n, int max) {
  json_t *o = json_loadb((const char *)p, n, 0, NULL);
  char *s;
  if (json_is_object(o)) {
    json_int_t mt = json_integer_value(json_object_get(o, "max_tokens"));
    json_object_set_new(o, "max_tokens", json_integer(mt >= 1 && mt <= max ? mt : max));
    json_object_del(o, "max_completion_tokens");
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  } else {
    s = ag_xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
  }
  json_decref(o);
  return s;
}

/* A miner's API in process (ag_miner_api_open) as the fuzz targets reach it: HOME home, the
 * node at net, the model, hotkey with an offer (1,000 and 10,000 base units per 1,000 prompt
 * and output tokens, 64 tokens at most), a queue of 4, and validator as the one validator with
 * a permit. Aborts when it cannot. */
__attribute__((unused)) static ag_miner_api *fuzz_miner_open(const char *home, const ag_net *net, const ag_model *model,
                                                             const ag_keypair *hotkey, const ag_keypair *validator,
                                                             ag_http_limits *limits, ag_http_config *cfg) {
  ag_miner_config mc;
  ag_miner_config_default(&mc);
  snprintf(mc.home, sizeof mc.home, "%s", home);
  if (ag_mkdirs(mc.home, 0700)) abort();
  mc.queue_max = 4;
  ag_offer offer;
  memset(&offer, 0, sizeof offer);
  memcpy(offer.hotkey, hotkey->pk, 32);
  memcpy(offer.model, model->id, 32);
  offer.price_in = 1000, offer.price_out = 10000, offer.max_tokens = 64;
  const uint8_t(*vals)[32] = (const uint8_t(*)[32])validator->pk;
  ag_miner_api *api;
  if (ag_miner_api_open(&mc, net, model, hotkey, &offer, 100, vals, 1, &api, limits, cfg)) abort();
  return api;
}

/* HOME/genesis.json for chain FUZZ_CHAIN (time fixed, default params) and HOME/node_key.json
 * (proposer), with each of keys[0..n) holding 1,000,000 AGR; modules is the genesis's
 * "modules" JSON or NULL. Aborts when it cannot. */
__attribute__((unused)) static void fuzz_genesis_home(const char *home, const ag_keypair *keys, int n,
                                                      const char *modules, const ag_keypair *proposer) {
  ag_genesis g;
  memset(&g, 0, sizeof g);
  snprintf(g.chain_id, sizeof g.chain_id, "%s", FUZZ_CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.has_proposer = 1;
  memcpy(g.proposer, proposer->pk, 32);
  g.naccounts = (size_t)n;
  g.accounts = ag_xcalloc((size_t)n, sizeof *g.accounts);
  for (int i = 0; i < n; i++) {
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = 1000000 * AG_UNIT;
  }
  g.modules = modules ? ag_xstrdup(modules) : NULL;
  char *text = ag_genesis_to_json(&g);
  char path[1100];
  snprintf(path, sizeof path, "%s/genesis.json", home);
  if (ag_mkdirs(home, 0700) || ag_write_file_atomic(path, text, strlen(text), 0644) ||
      ag_node_key_save(home, proposer))
    abort();
  free(text);
  ag_genesis_free(&g);
}

/* What a node answers a neuron about its chain (GET /v1/status: CHAIN at height 100) and
 * about private endpoints (GET /v1/incentive: allowed, as on a test network on one machine):
 * for targets whose neurons read a small node of their own. */
__attribute__((unused)) static void fuzz_node_status(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  ag_http_json(resp, 200, json_pack("{s:s, s:I, s:{s:s, s:s}}", "chain_id", FUZZ_CHAIN, "height", (json_int_t)100,
                                    "params", "base_fee", "1000", "per_byte_fee", "10"));
}

__attribute__((unused)) static void fuzz_node_incentive(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  ag_http_json(resp, 200, json_pack("{s:b}", "allow_private_endpoints", 1));
}

#endif
