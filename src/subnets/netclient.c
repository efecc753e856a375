/* netclient.c — node reads and tx submission for network programs. */
#include "subnets/netclient.h"

#include "api/http.h"
#include "chain/tx.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_net_url_of(const char *addr, char *out, size_t cap) {
  char a[256];
  snprintf(a, sizeof a, "%s", addr && addr[0] ? addr : "127.0.0.1:8740");
  size_t n = strlen(a);
  while (n && a[n - 1] == '/') a[--n] = 0;
  if (strncmp(a, "http://", 7) && strncmp(a, "https://", 8)) snprintf(out, cap, "http://%s", a);
  else snprintf(out, cap, "%s", a);
}

void ag_net_url_of_home(const char *home, char *out, size_t cap) {
  char path[1100], addr[256] = "";
  uint8_t *data;
  size_t len;
  snprintf(path, sizeof path, "%s/data/api.addr", home);
  if (ag_read_file(path, 255, &data, &len) == 0) {
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' ')) data[--len] = 0;
    snprintf(addr, sizeof addr, "%s", (char *)data);
    free(data);
  } else {
    snprintf(path, sizeof path, "%s/config.json", home);
    if (ag_read_file(path, 1 << 20, &data, &len) == 0) {
      json_t *root = json_loadb((const char *)data, len, 0, NULL);
      const char *api = json_string_value(json_object_get(root, "api_listen"));
      if (api) snprintf(addr, sizeof addr, "%s", api);
      json_decref(root);
      free(data);
    }
  }
  ag_net_url_of(addr, out, cap);
}

static int request(const ag_net *n, const char *method, const char *path, const char *ctype,
                   const void *body, size_t len, json_t **out) {
  char url[600];
  snprintf(url, sizeof url, "%s%s", n->url, path);
  *out = NULL;
  int rc = 0;
  ag_http_result r;
  for (int attempt = 0; attempt <= n->retries; attempt++) {
    rc = ag_http_request(method, url, ctype, body, len, n->timeout_ms, &r);
    /* a node that is restarting refuses connections, or answers 503 while it stops: both pass
     * (a tx sent again is the same tx: the node knows it by its hash) */
    int transient = rc == AG_E_CONNECT || (rc == 0 && r.status == 503);
    if (!transient || attempt == n->retries) break;
    if (rc == 0) ag_http_result_free(&r);
    ag_sleep_ms(200u << attempt); /* bounded backoff */
  }
  if (rc) return rc;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  long status = r.status;
  ag_http_result_free(&r);
  if (!j) return ag_fail(AG_E_HTTP_STATUS, "%s: HTTP %ld with a body that is not JSON", url, status);
  if (status >= 200 && status < 300) {
    *out = j;
    return 0;
  }
  const char *name = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  int code = AG_E_HTTP_STATUS;
  if (!name || !ag_err_from_name(name, &code)) code = AG_E_HTTP_STATUS;
  rc = ag_fail(code, "%s", msg ? msg : "error");
  json_decref(j);
  return rc;
}

int ag_net_get(const ag_net *n, const char *path, json_t **out) {
  return request(n, "GET", path, NULL, NULL, 0, out);
}

int ag_net_open(ag_net *n, const char *url) {
  memset(n, 0, sizeof *n);
  snprintf(n->url, sizeof n->url, "%s", url);
  n->timeout_ms = 10000;
  n->retries = 2;
  json_t *st;
  int rc = ag_net_get(n, "/v1/status", &st);
  if (rc) return rc;
  snprintf(n->chain_id, sizeof n->chain_id, "%s", json_string_value(json_object_get(st, "chain_id")));
  ag_params_default(&n->params);
  json_t *p = json_object_get(st, "params");
  n->params.base_fee = ag_json_u64_of(p, "base_fee");
  n->params.per_byte_fee = ag_json_u64_of(p, "per_byte_fee");
  json_decref(st);
  /* the miners and trainers this program will contact are at addresses the chain let them
   * announce; where it accepts only public ones, a name that resolves inside a network is not
   * contacted either (docs/security.md, "Endpoints") */
  json_t *inc = NULL;
  n->endpoint_flags = ag_net_get(n, "/v1/incentive", &inc) == 0 &&
                              json_is_true(json_object_get(inc, "allow_private_endpoints"))
                          ? 0
                          : AG_HTTP_PUBLIC_ONLY;
  json_decref(inc);
  return 0;
}

/* One submission at a time per process, from reading the sender's pending nonce until the node
 * has the tx: a neuron's threads (a validator's reveals beside its dispute votes, a training
 * validator's weights beside its proposals, a gateway's channels to several miners) send from
 * one key, and two reading the same nonce would have one tx refused. The wait for the commit
 * is outside it. */
static pthread_mutex_t submit_mu = PTHREAD_MUTEX_INITIALIZER;

int ag_net_submit(ag_net *n, const ag_keypair *k, uint16_t kind, const uint8_t *payload,
                  size_t len, int wait_ms, uint8_t hash[32], int *code) {
  char path[160], addr[AG_ADDR_MAX], hex[65];
  ag_addr_encode(k->pk, addr);
  snprintf(path, sizeof path, "/v1/accounts/%s", addr);
  json_t *acct;
  pthread_mutex_lock(&submit_mu);
  int rc = ag_net_get(n, path, &acct);
  if (rc) {
    pthread_mutex_unlock(&submit_mu);
    return rc;
  }
  uint64_t nonce = ag_json_u64_of(acct, "pending_nonce");
  json_decref(acct);
  uint64_t fee;
  ag_tx_min_fee(n->params.base_fee, n->params.per_byte_fee, kind, payload, len, ag_tx_size(strlen(n->chain_id), len), &fee);
  ag_buf tx;
  ag_buf_init(&tx);
  ag_tx_build(&tx, kind, n->chain_id, k, nonce, fee, 0, payload, (uint32_t)len);
  ag_hash("agora/txid", tx.data, tx.len, hash);
  json_t *sub;
  rc = request(n, "POST", "/v1/txs", "application/octet-stream", tx.data, tx.len, &sub);
  pthread_mutex_unlock(&submit_mu);
  ag_buf_free(&tx);
  json_decref(sub);
  if (rc || wait_ms <= 0) return rc;
  uint64_t end = ag_mono_ms() + (uint64_t)wait_ms;
  while (ag_mono_ms() < end) {
    int o = ag_net_tx_outcome(n, hash, code ? code : &(int){0});
    if (o < 0) return o;
    if (o) return 0;
    ag_sleep_ms(100);
  }
  ag_hex_encode(hash, 32, hex);
  return ag_fail(AG_E_TIMEOUT, "tx %s not committed within %d ms", hex, wait_ms);
}

int ag_net_tx_outcome(const ag_net *n, const uint8_t hash[32], int *code) {
  char hex[65], path[100];
  ag_hex_encode(hash, 32, hex);
  snprintf(path, sizeof path, "/v1/txs/%s", hex);
  json_t *j;
  int rc = ag_net_get(n, path, &j);
  if (rc) return rc == AG_E_NOTFOUND ? 0 : rc;
  const char *st = json_string_value(json_object_get(j, "status"));
  int done = st && !strcmp(st, "committed");
  if (done) {
    json_t *res = json_object_get(j, "result");
    const char *name = json_string_value(json_object_get(res, "code"));
    int c = AG_E_INTERNAL;
    if (name && !strcmp(name, "ok")) c = 0;
    else if (name) ag_err_from_name(name, &c);
    *code = c;
    if (c) ag_fail(c, "%s", json_string_value(json_object_get(res, "message")));
  }
  json_decref(j);
  return done;
}

int ag_net_endpoint_url(json_t *ep, char *out, size_t cap) {
  const char *host = json_string_value(json_object_get(ep, "host"));
  json_int_t port = json_integer_value(json_object_get(ep, "port"));
  if (!json_is_object(ep) || !host || port < 1 || port > 65535) return -1;
  ag_endpoint_url(host, (unsigned)port, out, cap);
  return 0;
}
