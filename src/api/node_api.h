/* node_api.h — starts the node's JSON API server (routes in docs/api.md). */
#ifndef AG_NODE_API_H
#define AG_NODE_API_H

#include "api/http.h"
#include "consensus/node.h"

#define AG_VERSION "0.1.0"

/* The node API server's configuration: its one route table (the ledger's routes, then the
 * incentive layer's and the files'), the node's body and client limits, n as the handlers'
 * context, and its upload spool HOME/tmp, written into spool (cap bytes, which cfg points at).
 * listen may be NULL for ag_http_serve_bytes. */
/* Every route of the node API, in match order (src/api/openapi.json describes them). */
const ag_http_route *ag_node_api_routes(size_t *n);
void ag_node_api_config(ag_node *n, const char *listen, char *spool, size_t cap, ag_http_config *cfg);
/* Starts the node API server (ag_node_api_config) on listen and collects stale files. */
int ag_node_api_start(ag_node *n, const char *listen, ag_http_server **out);

/* Reads a submitted tx from a request body: raw bytes (application/octet-stream), JSON
 * {"tx": "<hex|base64>"} (application/json), or bare hex/base64 text. *owned says whether *out
 * must be freed. Precise AG_E_* errors for everything else. */
int ag_api_tx_body(const char *content_type, const uint8_t *body, size_t len, uint8_t **out,
                   size_t *outlen, int *owned);

#endif
