/* client.c — node URL resolution and JSON API calls for CLI commands. */
#include "cli/client.h"

#include "api/http.h"
#include "chain/json.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "subnets/netclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_cli_node_url(const ag_cli *c, char *out, size_t cap) {
  if (c->node[0]) ag_net_url_of(c->node, out, cap);
  else ag_net_url_of_home(c->home, out, cap);
}

int ag_cli_api(const ag_cli *c, const char *method, const char *path, const char *ctype,
               const void *body, size_t len, json_t **out) {
  *out = NULL;
  char base[300], url[1200];
  ag_cli_node_url(c, base, sizeof base);
  snprintf(url, sizeof url, "%s%s", base, path);
  ag_http_result r;
  int rc = ag_http_request(method, url, ctype, body, len, 30000, &r);
  if (rc == AG_E_CONNECT)
    return ag_fail(AG_E_CONNECT, "cannot reach the node at %s (is 'agora node' running? use --node)", base);
  if (rc) return rc;
  json_error_t jerr;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, &jerr);
  long status = r.status;
  ag_http_result_free(&r);
  if (!j) return ag_fail(AG_E_HTTP_STATUS, "node answered HTTP %ld with a body that is not JSON", status);
  if (status >= 200 && status < 300) {
    *out = j;
    return 0;
  }
  json_t *e = json_object_get(j, "error");
  const char *name = json_string_value(json_object_get(e, "code"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  int code = AG_E_HTTP_STATUS;
  if (!name || !ag_err_from_name(name, &code)) code = AG_E_HTTP_STATUS;
  rc = ag_fail(code, "%s", msg ? msg : "error");
  json_decref(j);
  return rc;
}

int ag_cli_resolve_addr(const ag_cli *c, const char *s, unsigned char pk[32]) {
  if (!strncmp(s, "agora1", 6)) return ag_addr_decode(s, pk);
  char dir[1100];
  ag_cli_path(c, "keys", dir, sizeof dir);
  ag_keyinfo info;
  if (ag_keyname_valid(s) && ag_keystore_info(dir, s, &info) == 0) {
    memcpy(pk, info.pk, 32);
    return 0;
  }
  int rc = ag_addr_decode(s, pk);
  /* what reads like a key name is a key that is not there (exit code: not found) */
  if (rc == AG_E_ADDR_FORMAT && ag_keyname_valid(s))
    return ag_fail(AG_E_KEY_NOT_FOUND, "no key '%s' in %s (and it is not an address)", s, dir);
  if (rc == AG_E_ADDR_FORMAT)
    return ag_fail(AG_E_ADDR_FORMAT, "'%s' is neither an address nor a key in %s", s, dir);
  return rc;
}

int ag_cli_fetch_header(void *ctx, uint64_t header_height, json_t **out) {
  char path[96];
  snprintf(path, sizeof path, "/v1/headers/%llu", (unsigned long long)header_height);
  *out = NULL;
  return ag_cli_api((const ag_cli *)ctx, "GET", path, NULL, NULL, 0, out);
}

int ag_cli_verify_root(const ag_cli *c, ag_light_trust *trust, uint64_t height,
                       const uint8_t root[32], int wait_ms, ag_light_verified *out, json_t **hdr) {
  *hdr = NULL;
  uint64_t hh = ag_light_header_height(trust, height);
  char path[96];
  snprintf(path, sizeof path, "/v1/headers/%llu", (unsigned long long)hh);
  uint64_t end = ag_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
  json_t *j = NULL;
  int rc;
  /* CometBFT's header h+1, which commits to the state after h, comes one block later */
  while ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j)) == AG_E_NOTFOUND && ag_mono_ms() < end)
    ag_sleep_ms(200);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_TIMEOUT,
                   "the node has no signed header at height %llu (it commits to the state after "
                   "block %llu) after %d s: the block is not made yet; retry, or wait longer (--wait)",
                   (unsigned long long)hh, (unsigned long long)height, wait_ms / 1000);
  if (rc) return rc;
  *hdr = j;
  return ag_light_verify(trust, j, height, root, (int64_t)ag_now_ms(), ag_cli_fetch_header, (void *)c, out);
}

uint64_t ag_cli_json_u64(json_t *o, const char *key) { return ag_json_u64_of(o, key); }
