/*
 * gateway.h — an OpenAI-compatible endpoint in front of an inference subnet (docs/gateway.md),
 * for ordinary clients: any OpenAI SDK or tool, with a plain API key the gateway issued, gets
 * answers that the gateway bought from the subnet's miners, paid through its own channels and
 * verified by re-execution (all, or a sample). A miner that fails is skipped, and a wrong paid
 * answer is disputed; the client still gets a verified answer from another miner. Each key has
 * a budget in AGR; what its requests cost (the providers' receipts) is metered against it, and
 * a key over budget gets HTTP 402.
 *
 * Keys live in HOME/gateway/keys.json: a name, the key's BLAKE2b-256 (the key itself is shown
 * once, when made), the budget and the usage. The file is read again when it changes, so keys
 * added while the gateway runs work at once; writers take HOME/gateway/keys.lock.
 */
#ifndef AG_SUBNETS_GATEWAY_H
#define AG_SUBNETS_GATEWAY_H

#include "api/http.h"
#include "crypto/keys.h"

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  const char *home;
  const char *node_url;
  const char *listen;         /* "127.0.0.1:8750"; port 0 picks one */
  uint16_t netuid;
  const ag_keypair *payer;    /* pays the miners */
  const char *payer_name;
  uint64_t deposit;           /* a new channel's deposit (0: 100 × a request's most) */
  double verify_sample;       /* fraction of answers re-executed (1: all) */
  bool dispute;               /* dispute wrong paid answers */
  int threads;                /* engine threads for re-execution */
  const char *ready_file;     /* written with {"url"} once serving (may be NULL) */
} ag_gateway_cfg;

/* Serves until *stop is set. */
int ag_gateway_run(const ag_gateway_cfg *cfg, volatile int *stop);

/* The gateway without its server (what ag_gateway_run starts): its buyer opened on the node,
 * and *http set to its routes (listen = cfg->listen), for ag_http_start or, in tests and
 * fuzzing, ag_http_serve_bytes. Close after the server stops. */
typedef struct ag_gateway ag_gateway;
int ag_gateway_open(const ag_gateway_cfg *cfg, ag_gateway **out, ag_http_config *http);
void ag_gateway_close(ag_gateway *g); /* accepts NULL */

/* ---- keys (HOME/gateway/keys.json) ------------------------------------------------------------ */
/* Makes a key for name with a budget (base units); *key gets it ("agk-" + 64 hex digits), the
 * only time it is shown. AG_E_EXISTS when the name is taken. */
int ag_gateway_key_add(const char *home, const char *name, uint64_t budget, char key[72]);
/* Removes a key; AG_E_NOTFOUND when there is none by that name. */
int ag_gateway_key_remove(const char *home, const char *name);
/* The keys with their budgets and usage, without the hashes (new reference). */
int ag_gateway_keys_list(const char *home, json_t **out);

#endif
