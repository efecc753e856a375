/* neuron.c — keys, registration and the pinned model for miners and validators (neuron.h). */
#include "subnets/neuron.h"

#include "api/http.h"
#include "api/models.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "incentive/incentive.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ag_neuron_connect(ag_net *n, const char *home, const char *node_url, volatile int *stop) {
  char url[256];
  if (node_url[0]) snprintf(url, sizeof url, "%s", node_url);
  else ag_net_url_of_home(home, url, sizeof url);
  int rc = AG_E_CONNECT;
  for (int i = 0; i < 30 && !*stop; i++) {
    if ((rc = ag_net_open(n, url)) == 0) break;
    ag_sleep_ms(500);
  }
  /* a neuron runs for days: it rides out its node's restarts (about 6 s of retries) */
  n->retries = 5;
  return rc;
}

static char *g_passphrase; /* sodium_malloc'd, or NULL */

int ag_neuron_set_passphrase(const char *passphrase) {
  if (g_passphrase) sodium_free(g_passphrase); /* wipes */
  g_passphrase = NULL;
  if (!passphrase) return 0;
  size_t n = strlen(passphrase);
  ag_crypto_init(); /* sodium_malloc needs it */
  g_passphrase = sodium_malloc(n + 1);
  if (!g_passphrase) return ag_fail(AG_E_NOMEM, "cannot allocate guarded memory for the passphrase");
  memcpy(g_passphrase, passphrase, n + 1);
  return 0;
}

int ag_neuron_key(const char *home, const char *name, const char *chain_id, ag_keypair *k) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/keys", home);
  ag_keyinfo info;
  int rc = ag_keystore_info(dir, name, &info);
  if (!rc) rc = ag_keystore_check_chain(&info, chain_id);
  if (!rc) rc = ag_keystore_load(dir, name, info.insecure ? NULL : g_passphrase, k, &info);
  return rc;
}

int ag_neuron_find(const ag_net *n, uint16_t netuid, const char *addr, int *uid, char host[128],
                   uint16_t *port) {
  char path[64];
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", netuid);
  json_t *mg;
  int rc = ag_net_get(n, path, &mg);
  if (rc) return rc;
  *uid = -1;
  host[0] = 0;
  *port = 0;
  json_t *rows = json_object_get(mg, "uids");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    const char *hk = json_string_value(json_object_get(r, "hotkey"));
    json_int_t u = json_integer_value(json_object_get(r, "uid"));
    if (!hk || strcmp(hk, addr) != 0 || u < 0 || u >= AG_MAX_UIDS) continue; /* a subnet's uids are 0..4095 */
    *uid = (int)u;
    json_t *ep = json_object_get(r, "endpoint");
    const char *h = json_string_value(json_object_get(ep, "host"));
    json_int_t p = json_integer_value(json_object_get(ep, "port"));
    if (h && p > 0 && p <= 65535) {
      snprintf(host, 128, "%s", h);
      *port = (uint16_t)p;
    }
  }
  json_decref(mg);
  return 0;
}

int ag_neuron_register(ag_net *n, uint16_t netuid, const ag_keypair *hotkey, const char *home,
                       const char *coldkey, int *uid) {
  char addr[AG_ADDR_MAX], host[128];
  uint16_t port;
  ag_addr_encode(hotkey->pk, addr);
  int rc = ag_neuron_find(n, netuid, addr, uid, host, &port);
  if (rc || *uid >= 0) return rc;
  if (!coldkey || !coldkey[0])
    return ag_fail(AG_E_NOT_REGISTERED,
                   "hotkey %s is not registered on subnet %u; give --coldkey to pay the registration",
                   addr, netuid);
  ag_keypair ck;
  if ((rc = ag_neuron_key(home, coldkey, n->chain_id, &ck))) return rc;
  char path[64];
  snprintf(path, sizeof path, "/v1/subnets/%u", netuid);
  json_t *sj;
  if ((rc = ag_net_get(n, path, &sj))) {
    ag_key_wipe(&ck);
    return rc;
  }
  uint64_t cost = 0;
  ag_parse_u64(json_string_value(json_object_get(sj, "registration_cost")), &cost);
  json_decref(sj);
  /* room for other registrations in the same block (each raises the burn by 1.26x) */
  uint64_t max_cost = cost > UINT64_MAX / 4 ? UINT64_MAX : cost * 4;
  uint8_t hash[32];
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_register(&p, n->chain_id, netuid, ck.pk, hotkey, max_cost);
  int code = 0;
  rc = ag_net_submit(n, &ck, AG_TX_REGISTER, p.data, p.len, 60000, hash, &code);
  ag_buf_free(&p);
  ag_key_wipe(&ck);
  if (!rc && code) rc = code;
  if (rc) return rc;
  if ((rc = ag_neuron_find(n, netuid, addr, uid, host, &port))) return rc;
  ag_info("neuron", "registered %s on subnet %u as uid %d", addr, netuid, *uid);
  return 0;
}

int ag_neuron_model(ag_net *n, uint16_t netuid, const char *dir, ag_model **out) {
  char path[64];
  snprintf(path, sizeof path, "/v1/subnets/%u", netuid);
  json_t *sj;
  int rc = ag_net_get(n, path, &sj);
  if (rc) return rc;
  json_t *mj = json_object_get(sj, "model");
  const char *idhex = json_string_value(json_object_get(mj, "model_id"));
  uint64_t size = ag_json_u64_of(mj, "size"); /* what we fetch is never larger */
  uint8_t id[32];
  int bad = !idhex || ag_hex_decode(idhex, strlen(idhex), id, 32);
  json_decref(sj);
  if (bad) return ag_fail(AG_E_MODEL_UNAVAILABLE, "subnet %u pins no model (subnet_set_model)", netuid);
  /* sources: the node, then the subnet's miners */
  enum { MAXSRC = 17 };
  char srcs[MAXSRC][300];
  const char *sp[MAXSRC];
  size_t ns = 0;
  snprintf(srcs[ns], sizeof srcs[ns], "%s/v1/model-files", n->url);
  sp[ns] = srcs[ns];
  ns++;
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", netuid);
  json_t *mg;
  if (ag_net_get(n, path, &mg) == 0) {
    json_t *rows = json_object_get(mg, "uids");
    for (size_t i = 0; i < json_array_size(rows) && ns < MAXSRC; i++) {
      json_t *ep = json_object_get(json_array_get(rows, i), "endpoint");
      char url[200];
      if (ag_net_endpoint_url(ep, url, sizeof url)) continue;
      snprintf(srcs[ns], sizeof srcs[ns], "%s/agora/model-files", url);
      sp[ns] = srcs[ns];
      ns++;
    }
    json_decref(mg);
  }
  int rc2 = ag_models_ensure(dir, id, size, sp, ns, n->endpoint_flags, out);
  if (rc2) return rc2;
  ag_model_prefer_f32(out, AG_PREFER_F32_MAX);
  return 0;
}

int ag_neuron_pin_changed(ag_net *n, uint16_t netuid, const uint8_t have[32]) {
  char path[64];
  snprintf(path, sizeof path, "/v1/subnets/%u", netuid);
  json_t *sj;
  int rc = ag_net_get(n, path, &sj);
  if (rc) return rc;
  const char *idhex = json_string_value(json_object_get(json_object_get(sj, "model"), "model_id"));
  uint8_t id[32];
  if (idhex && strlen(idhex) == 64 && !ag_hex_decode(idhex, 64, id, 32) && memcmp(id, have, 32))
    rc = ag_fail(AG_E_MODEL_CHANGED, "subnet %u now pins model %.16s…", netuid, idhex);
  json_decref(sj);
  return rc;
}

int ag_neuron_serve(ag_net *n, uint16_t netuid, const ag_keypair *hotkey, const char *host,
                    uint16_t port, int *uid) {
  char addr[AG_ADDR_MAX], have[128];
  uint16_t have_port;
  ag_addr_encode(hotkey->pk, addr);
  int rc = ag_neuron_find(n, netuid, addr, uid, have, &have_port);
  if (rc) return rc;
  if (*uid >= 0 && !strcmp(have, host) && have_port == port) return 0;
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, netuid);
  ag_buf_put_u8(&p, 1);
  ag_buf_put_u16le(&p, port);
  ag_buf_put_u8(&p, (uint8_t)strlen(host));
  ag_buf_puts(&p, host);
  uint8_t hash[32];
  int code = 0;
  rc = ag_net_submit(n, hotkey, AG_TX_SERVE, p.data, p.len, 60000, hash, &code);
  ag_buf_free(&p);
  if (!rc && code) rc = code;
  if (!rc) ag_info("neuron", "announced http://%s:%u as uid %d of subnet %u", host, port, *uid, netuid);
  return rc;
}

void ag_neuron_model_file(ag_http_req *req, ag_http_resp *resp, const char *dir) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32))
    return ag_http_error(resp, 400, AG_E_INVALID, "a model id is 64 hex digits");
  char path[1200];
  ag_models_path(dir, id, path, sizeof path);
  /* streamed: reading the file into the answer let anyone make a neuron hold one copy per
   * connection (docs/security.md, "Downloading a neuron's model file many times at once") */
  if (!ag_http_stream_file(resp, path))
    return ag_http_error(resp, 404, AG_E_NOTFOUND, "this neuron does not hold that model");
}

int ag_neuron_listen(ag_net *n, uint16_t netuid, const ag_keypair *hotkey, const char *listen,
                     const char *announce_host, const ag_http_route *routes, size_t nroutes,
                     void *ctx, ag_http_server **srv, int *uid, char *pub) {
  ag_http_config hc = {listen[0] ? listen : "127.0.0.1:0", 1 << 16, routes, nroutes, ctx};
  int rc = ag_http_start(&hc, srv);
  if (rc) return rc;
  char host[128];
  uint16_t lport;
  ag_http_parse_listen(hc.listen, host, sizeof host, &lport);
  const char *h = announce_host[0] ? announce_host : host[0] ? host : "127.0.0.1";
  uint16_t port = ag_http_port(*srv);
  snprintf(pub, 160, "http://%s:%u", h, port);
  return ag_neuron_serve(n, netuid, hotkey, h, port, uid);
}

void ag_neuron_health(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}
