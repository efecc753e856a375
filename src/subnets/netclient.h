/*
 * netclient.h — how miners, validators and other programs talk to a node: JSON reads with
 * timeouts and bounded retries, and signed transactions (nonce from the node, minimum fee,
 * optional wait for the commit). Nothing here blocks without a deadline.
 */
#ifndef AG_NETCLIENT_H
#define AG_NETCLIENT_H

#include "chain/genesis.h"
#include "crypto/keys.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
  char url[256];                      /* "http://127.0.0.1:8740" */
  char chain_id[AG_CHAIN_ID_MAX + 1];
  ag_params params;
  int timeout_ms;                     /* per request (default 10 s) */
  int retries;                        /* extra attempts on connection errors and 503s (default 2) */
  int endpoint_flags;                 /* for requests to announced endpoints: AG_HTTP_PUBLIC_ONLY
                                       * unless the chain accepts private ones (devnets) */
} ag_net;

/* Reads the node's status (chain id, fee parameters) and whether the chain accepts private
 * endpoints (GET /v1/incentive; when that cannot be read, it does not). */
int ag_net_open(ag_net *n, const char *url);
/* GET path; *out is the JSON (new reference). API errors come back as their AG_E_* code. */
int ag_net_get(const ag_net *n, const char *path, json_t **out);
/* Builds, signs and submits a tx from k; waits up to wait_ms for it to be committed (0: do not
 * wait). *code gets the committed result (0 or AG_E_*) when waited for. */
int ag_net_submit(ag_net *n, const ag_keypair *k, uint16_t kind, const uint8_t *payload,
                  size_t len, int wait_ms, uint8_t hash[32], int *code);
/* A submitted tx's outcome: 1 committed (*code its result, 0 or AG_E_*, with the message set
 * on failure), 0 not yet (pending, or not listed yet), or an error code reading it. */
int ag_net_tx_outcome(const ag_net *n, const uint8_t hash[32], int *code);
/* The node URL of a home folder: HOME/data/api.addr, else config.json, else the default. */
void ag_net_url_of_home(const char *home, char *out, size_t cap);
/* The URL of a node address as a user writes it ("host:port", "http://host:port/", "" for the
 * default 127.0.0.1:8740): http:// added when no scheme is given, trailing slashes dropped. */
void ag_net_url_of(const char *addr, char *out, size_t cap);

/* The URL of a metagraph endpoint object {"host", "port"} (brackets around IPv6 hosts);
 * -1 when ep is not one. */
int ag_net_endpoint_url(json_t *ep, char *out, size_t cap);

#endif
