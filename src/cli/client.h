/*
 * client.h — how CLI commands reach a node: URL resolution and JSON requests with the API's
 * error shape mapped back to AG_E_* codes.
 */
#ifndef AG_CLI_CLIENT_H
#define AG_CLI_CLIENT_H

#include "cli/cli.h"
#include "consensus/light.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The node's base URL ("http://127.0.0.1:8740"): --node, AGORA_NODE, HOME/data/api.addr,
 * HOME/config.json api_listen, then the default. */
void ag_cli_node_url(const ag_cli *c, char *out, size_t cap);

/* GET or POST path (e.g. "/v1/status"); *out gets the parsed JSON on success. On an API error
 * returns its code (mapped from the error name) with the server's message in ag_errmsg. */
int ag_cli_api(const ag_cli *c, const char *method, const char *path, const char *ctype,
               const void *body, size_t len, json_t **out);

/* Resolves an address or a key name in HOME/keys to a public key. */
int ag_cli_resolve_addr(const ag_cli *c, const char *s, unsigned char pk[32]);

/* Light-client check of a state root the node reported (docs/state-tree.md): fetches the
 * signed header that commits to the state after block height (GET /v1/headers/...), waiting up
 * to wait_ms while that header is not made yet (AG_E_TIMEOUT after), and verifies it against
 * trust at this computer's clock, fetching the headers bisection needs; the trusted header
 * moves (save it with ag_light_trust_save). *hdr gets the node's header answer (caller decrefs)
 * when it was fetched. */
int ag_cli_verify_root(const ag_cli *c, ag_light_trust *trust, uint64_t height,
                       const uint8_t root[32], int wait_ms, ag_light_verified *out, json_t **hdr);
/* GET /v1/headers/{header_height} (an ag_light_fetch_fn; ctx is the ag_cli). */
int ag_cli_fetch_header(void *ctx, uint64_t header_height, json_t **out);

/* json helpers */
uint64_t ag_cli_json_u64(json_t *o, const char *key);

#endif
