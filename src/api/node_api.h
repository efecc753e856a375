/* node_api.h — starts the node's JSON API server (routes in docs/api.md). */
#ifndef AG_NODE_API_H
#define AG_NODE_API_H

#include "api/http.h"
#include "consensus/node.h"

#define AG_VERSION "0.1.0"

int ag_node_api_start(ag_node *n, const char *listen, ag_http_server **out);

/* Reads a submitted tx from a request body: raw bytes (application/octet-stream), JSON
 * {"tx": "<hex|base64>"} (application/json), or bare hex/base64 text. *owned says whether *out
 * must be freed. Precise AG_E_* errors for everything else. */
int ag_api_tx_body(const char *content_type, const uint8_t *body, size_t len, uint8_t **out,
                   size_t *outlen, int *owned);

#endif
