/*
 * miner.h — an inference miner: registers its hotkey on the subnet if needed, fetches and
 * checks the subnet's pinned model, serves it with an OpenAI-compatible API
 * (docs/subnet-inference.md) and announces its endpoint on chain. Requests are queued (up to
 * queue_max) and served by workers, each with its own KV cache; a quarter of the queue is kept
 * for the signed challenges of validators with a permit, which are also served first.
 */
#ifndef AG_SUBNETS_MINER_H
#define AG_SUBNETS_MINER_H

#include "api/http.h"
#include "crypto/keys.h"
#include "economy/economy.h"
#include "engine/model.h"
#include "subnets/netclient.h"

#include <stdint.h>

typedef struct {
  char home[1024];         /* keys (HOME/keys), node URL, model cache (HOME/models) */
  char node_url[256];      /* "" = from home */
  char model_dir[1100];    /* "" = HOME/models */
  uint16_t netuid;
  char hotkey[65];         /* key name of the hotkey (signs answers and the endpoint tx) */
  char coldkey[65];        /* key name that pays registration if the hotkey is new ("" = none) */
  char listen[128];        /* host:port, port 0 = any (default 127.0.0.1:0) */
  char announce_host[128]; /* host to publish ("" = the listen host) */
  int workers;             /* concurrent generations (default 1) */
  int threads;             /* engine threads per generation (default 1) */
  int queue_max;           /* waiting requests before 503 (default 64) */
  char api_key[128];       /* optional Bearer key for the OpenAI routes */
  int claim_s;             /* seconds between rounds of claims (and of dropping closed channels; 10) */
  /* behaviours for devnets and tests */
  int cheat;               /* 1: alter one output token of every answer (and sign it) */
  int slow_ms;             /* extra latency per request */
  int relay;               /* 1: forward every request to another miner, re-sign its answer */
} ag_miner_config;

void ag_miner_config_default(ag_miner_config *c);
/* The miner API's routes, in match order (src/api/openapi-miner.json describes them). */
const ag_http_route *ag_miner_routes(size_t *n);
/* Runs until *stop becomes nonzero (e.g. from a signal thread). */
int ag_miner_run(const ag_miner_config *c, volatile int *stop);

/* The miner's API in this process, without registering, announcing or fetching a model (for
 * fuzzing and tests): channels are read from net's node, model is borrowed (it must outlive
 * the API), offer may be NULL (free answers), validators are those with a permit. The paid
 * requests' book is HOME/paybook-<hotkey>.mdb of cfg->home. Starts the workers and fills
 * *hc (with its limits in *hl, which must live as long) for ag_http_start or
 * ag_http_serve_bytes. */
typedef struct ag_miner_api ag_miner_api;
int ag_miner_api_open(const ag_miner_config *cfg, const ag_net *net, const ag_model *model,
                      const ag_keypair *hotkey, const ag_offer *offer, uint64_t height,
                      const uint8_t (*validators)[32], int nvalidators, ag_miner_api **out,
                      ag_http_limits *hl, ag_http_config *hc);
/* Channels of the book with a reservation outstanding (each is released when its request is
 * billed or abandoned). */
size_t ag_miner_api_reserved(ag_miner_api *a);
void ag_miner_api_close(ag_miner_api *a); /* accepts NULL */

#endif
