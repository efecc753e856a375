/* gateway.c — the OpenAI-compatible gateway (gateway.h, docs/gateway.md). */
#include "subnets/gateway.h"

#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "subnets/buyer.h"
#include "subnets/inference.h"
#include "subnets/netclient.h"

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEYS 1024

/* ---- the key store ----------------------------------------------------------------------------------- */

typedef struct {
  char name[64];
  uint8_t hash[32];
  uint64_t budget, spent, requests, prompt_tokens, completion_tokens, created;
} gw_key;

static void key_hash(const char *key, uint8_t out[32]) { ag_hash("agora/gwkey", key, strlen(key), out); }

static void paths(const char *home, char *dir, char *file, char *lock) {
  snprintf(dir, 1100, "%s/gateway", home);
  snprintf(file, 1200, "%s/gateway/keys.json", home);
  snprintf(lock, 1200, "%s/gateway/keys.lock", home);
}

/* Takes the store's lock (flock on keys.lock): -1 on failure. */
static int store_lock(const char *home) {
  char dir[1100], file[1200], lock[1200];
  paths(home, dir, file, lock);
  mkdir(dir, 0700);
  int fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

static void store_unlock(int fd) {
  if (fd < 0) return;
  flock(fd, LOCK_UN);
  close(fd);
}

static int store_read(const char *home, gw_key **out, size_t *n) {
  char dir[1100], file[1200], lock[1200];
  paths(home, dir, file, lock);
  *out = NULL;
  *n = 0;
  json_error_t err;
  json_t *o = json_load_file(file, 0, &err);
  if (!o) return access(file, F_OK) == 0 ? ag_fail(AG_E_CORRUPT, "%s: %s", file, err.text) : 0;
  json_t *arr = json_object_get(o, "keys");
  size_t m = json_array_size(arr) < MAX_KEYS ? json_array_size(arr) : MAX_KEYS;
  gw_key *v = ag_xcalloc(m + 1, sizeof *v);
  int rc = 0;
  for (size_t i = 0; i < m && !rc; i++) {
    json_t *x = json_array_get(arr, i);
    const char *name = json_string_value(json_object_get(x, "name")), *h = json_string_value(json_object_get(x, "hash"));
    if (!name || !h || strlen(h) != 64 || ag_hex_decode(h, 64, v[i].hash, 32)) {
      rc = ag_fail(AG_E_CORRUPT, "%s: key %zu is malformed", file, i);
      break;
    }
    snprintf(v[i].name, sizeof v[i].name, "%s", name);
    v[i].budget = ag_json_u64_of(x, "budget");
    v[i].spent = ag_json_u64_of(x, "spent");
    v[i].requests = ag_json_u64_of(x, "requests");
    v[i].prompt_tokens = ag_json_u64_of(x, "prompt_tokens");
    v[i].completion_tokens = ag_json_u64_of(x, "completion_tokens");
    v[i].created = ag_json_u64_of(x, "created");
  }
  json_decref(o);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  *n = m;
  return 0;
}

static json_t *key_json(const gw_key *k, int with_hash) {
  json_t *x = json_object();
  json_object_set_new(x, "name", json_string(k->name));
  if (with_hash) json_object_set_new(x, "hash", ag_json_hex(k->hash, 32));
  json_object_set_new(x, "budget", ag_json_u64s(k->budget));
  json_object_set_new(x, "spent", ag_json_u64s(k->spent));
  json_object_set_new(x, "remaining", ag_json_u64s(k->budget > k->spent ? k->budget - k->spent : 0));
  json_object_set_new(x, "requests", ag_json_u64s(k->requests));
  json_object_set_new(x, "prompt_tokens", ag_json_u64s(k->prompt_tokens));
  json_object_set_new(x, "completion_tokens", ag_json_u64s(k->completion_tokens));
  json_object_set_new(x, "created", ag_json_u64n(k->created));
  return x;
}

static int store_write(const char *home, const gw_key *v, size_t n) {
  char dir[1100], file[1200], lock[1200];
  paths(home, dir, file, lock);
  json_t *o = json_object(), *arr = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, key_json(&v[i], 1));
  json_object_set_new(o, "keys", arr);
  return ag_json_write_file(file, o);
}

int ag_gateway_key_add(const char *home, const char *name, uint64_t budget, char key[72]) {
  if (!name[0] || strlen(name) >= 64) return ag_fail(AG_E_USAGE, "a key's name is 1..63 characters");
  int fd = store_lock(home);
  if (fd < 0) return ag_fail(AG_E_IO, "cannot lock the gateway's key store");
  gw_key *v;
  size_t n;
  int rc = store_read(home, &v, &n);
  for (size_t i = 0; !rc && i < n; i++)
    if (!strcmp(v[i].name, name)) rc = ag_fail(AG_E_EXISTS, "a key named '%s' exists", name);
  if (!rc && n >= MAX_KEYS) rc = ag_fail(AG_E_RANGE, "the gateway has %d keys, the most it keeps", MAX_KEYS);
  if (!rc) {
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(key, "agk-", 4);
    ag_hex_encode(raw, 32, key + 4);
    sodium_memzero(raw, sizeof raw);
    v = realloc(v, (n + 1) * sizeof *v);
    if (!v) abort();
    memset(&v[n], 0, sizeof v[n]);
    snprintf(v[n].name, sizeof v[n].name, "%s", name);
    key_hash(key, v[n].hash);
    v[n].budget = budget;
    v[n].created = (uint64_t)time(NULL);
    rc = store_write(home, v, n + 1);
  }
  free(v);
  store_unlock(fd);
  return rc;
}

int ag_gateway_key_remove(const char *home, const char *name) {
  int fd = store_lock(home);
  if (fd < 0) return ag_fail(AG_E_IO, "cannot lock the gateway's key store");
  gw_key *v;
  size_t n, k = 0;
  int rc = store_read(home, &v, &n), found = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (!strcmp(v[i].name, name)) found = 1;
    else v[k++] = v[i];
  }
  if (!rc && !found) rc = ag_fail(AG_E_NOTFOUND, "no key named '%s'", name);
  if (!rc) rc = store_write(home, v, k);
  free(v);
  store_unlock(fd);
  return rc;
}

int ag_gateway_keys_list(const char *home, json_t **out) {
  gw_key *v;
  size_t n;
  int rc = store_read(home, &v, &n);
  if (rc) return rc;
  *out = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(*out, key_json(&v[i], 0));
  free(v);
  return 0;
}

/* ---- the server -------------------------------------------------------------------------------------- */

struct ag_gateway {
  ag_gateway_cfg cfg;
  ag_net net;
  ag_buyer *buyer;
  char hex[65];
  pthread_mutex_t mu;      /* the keys below and the store */
  pthread_mutex_t key_mu[MAX_KEYS]; /* one request at a time per key: its budget is exact */
  uint64_t start_ms;
};
typedef struct ag_gateway gateway;


/* The caller's key: its index in the store (read now), or -1 with a 401 sent. */
static int authorize(gateway *g, ag_http_req *req, ag_http_resp *resp, gw_key *out) {
  const char *auth = ag_http_header(req, "Authorization");
  uint8_t h[32];
  int idx = -1;
  if (auth && !strncmp(auth, "Bearer ", 7)) {
    key_hash(auth + 7, h);
    pthread_mutex_lock(&g->mu);
    gw_key *v;
    size_t n;
    if (store_read(g->cfg.home, &v, &n) == 0) {
      for (size_t i = 0; i < n; i++)
        if (sodium_memcmp(v[i].hash, h, 32) == 0) idx = (int)i, *out = v[i];
      free(v);
    }
    pthread_mutex_unlock(&g->mu);
  }
  if (idx < 0) ag_http_openai_error(resp, 401, "invalid_request_error", "invalid_api_key", NULL, "Incorrect API key provided.");
  return idx;
}

/* Adds a request's cost and tokens to the key by name (the store may have changed). */
static void meter(gateway *g, const char *name, uint64_t cost, int n_in, int n_out) {
  pthread_mutex_lock(&g->mu);
  int fd = store_lock(g->cfg.home);
  gw_key *v;
  size_t n;
  if (store_read(g->cfg.home, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      if (strcmp(v[i].name, name)) continue;
      v[i].spent += cost;
      v[i].requests++;
      v[i].prompt_tokens += (uint64_t)n_in;
      v[i].completion_tokens += (uint64_t)n_out;
    }
    int rc = store_write(g->cfg.home, v, n);
    if (rc) ag_error("gateway", "cannot write the key store: %s", ag_errmsg(rc));
    free(v);
  }
  store_unlock(fd);
  pthread_mutex_unlock(&g->mu);
}

static json_t *model_obj(gateway *g) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(ag_buyer_model_name(g->buyer)));
  json_object_set_new(o, "object", json_string("model"));
  json_object_set_new(o, "created", json_integer((json_int_t)(g->start_ms / 1000)));
  json_object_set_new(o, "owned_by", json_string("agora"));
  return o;
}

static void h_models(ag_http_req *req, ag_http_resp *resp) {
  gateway *g = req->ctx;
  gw_key k;
  if (authorize(g, req, resp, &k) < 0) return;
  json_t *o = json_object(), *data = json_array();
  json_array_append_new(data, model_obj(g));
  json_object_set_new(o, "object", json_string("list"));
  json_object_set_new(o, "data", data);
  ag_http_json(resp, 200, o);
}

static int known_model(gateway *g, const char *name) {
  return !strcmp(name, ag_buyer_model_name(g->buyer)) || !strcmp(name, g->hex) || !strcmp(name, "default");
}

static void h_model(ag_http_req *req, ag_http_resp *resp) {
  gateway *g = req->ctx;
  gw_key k;
  if (authorize(g, req, resp, &k) < 0) return;
  if (!known_model(g, req->param) || !strcmp(req->param, "default")) {
    char msg[200];
    snprintf(msg, sizeof msg, "The model '%.100s' does not exist", req->param);
    return ag_http_openai_error(resp, 404, "invalid_request_error", "model_not_found", NULL, msg);
  }
  ag_http_json(resp, 200, model_obj(g));
}

static void h_usage(ag_http_req *req, ag_http_resp *resp) {
  gateway *g = req->ctx;
  gw_key k;
  if (authorize(g, req, resp, &k) < 0) return;
  json_t *o = key_json(&k, 0);
  json_object_set_new(o, "object", json_string("usage"));
  ag_http_json(resp, 200, o);
}

/* ---- completions -------------------------------------------------------------------------------------- */

static void put_event(ag_buf *b, json_t *o) {
  char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  ag_buf_printf(b, "data: %s\n\n", t);
  free(t);
  json_decref(o);
}

static json_t *chunk_of(json_t *resp, bool chat) {
  json_t *o = json_object();
  json_object_set(o, "id", json_object_get(resp, "id"));
  json_object_set_new(o, "object", json_string(chat ? "chat.completion.chunk" : "text_completion"));
  json_object_set(o, "created", json_object_get(resp, "created"));
  json_object_set(o, "model", json_object_get(resp, "model"));
  return o;
}

static json_t *choice_of(bool chat, json_t *delta_or_text, json_t *finish) {
  json_t *c = json_object();
  json_object_set_new(c, "index", json_integer(0));
  if (chat) json_object_set_new(c, "delta", delta_or_text);
  else json_object_set_new(c, "text", delta_or_text), json_object_set_new(c, "logprobs", json_null());
  json_object_set_new(c, "finish_reason", finish);
  return c;
}

/* The verified answer as Server-Sent Events, OpenAI's chunk shapes: (chat) the role, the text,
 * the finish reason; (completions) the text, then the finish reason; the usage when asked. */
static void stream_answer(ag_http_resp *resp, json_t *ans, bool chat, bool include_usage) {
  ag_buf b;
  ag_buf_init(&b);
  json_t *choice = json_array_get(json_object_get(ans, "choices"), 0);
  json_t *text = chat ? json_object_get(json_object_get(choice, "message"), "content") : json_object_get(choice, "text");
  json_t *finish = json_object_get(choice, "finish_reason");
  json_t *o;
  if (chat) {
    o = chunk_of(ans, chat);
    json_t *d = json_object();
    json_object_set_new(d, "role", json_string("assistant"));
    json_object_set_new(d, "content", json_string(""));
    json_object_set_new(o, "choices", json_pack("[o]", choice_of(chat, d, json_null())));
    put_event(&b, o);
    o = chunk_of(ans, chat);
    d = json_object();
    json_object_set(d, "content", text);
    json_object_set_new(o, "choices", json_pack("[o]", choice_of(chat, d, json_null())));
    put_event(&b, o);
    o = chunk_of(ans, chat);
    json_object_set_new(o, "choices", json_pack("[o]", choice_of(chat, json_object(), json_incref(finish))));
    put_event(&b, o);
  } else {
    o = chunk_of(ans, chat);
    json_object_set_new(o, "choices", json_pack("[o]", choice_of(chat, json_incref(text), json_null())));
    put_event(&b, o);
    o = chunk_of(ans, chat);
    json_object_set_new(o, "choices", json_pack("[o]", choice_of(chat, json_string(""), json_incref(finish))));
    put_event(&b, o);
  }
  if (include_usage) {
    o = chunk_of(ans, chat);
    json_object_set_new(o, "choices", json_array());
    json_object_set(o, "usage", json_object_get(ans, "usage"));
    put_event(&b, o);
  }
  ag_buf_puts(&b, "data: [DONE]\n\n");
  resp->status = 200;
  ag_buf_put(&resp->body, b.data, b.len);
  snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
  ag_http_set_header(resp, "Cache-Control", "no-cache");
  ag_buf_free(&b);
}

static void complete(ag_http_req *req, ag_http_resp *resp, bool chat) {
  gateway *g = req->ctx;
  gw_key k;
  int idx = authorize(g, req, resp, &k);
  if (idx < 0) return;
  ag_inf_request r;
  const char *param = NULL;
  int rc = ag_inf_request_parse(chat, req->body, req->body_len, &r, &param);
  if (rc)
    return ag_http_openai_error(resp, 400, "invalid_request_error", rc == AG_E_BAD_JSON ? "invalid_json" : NULL, param, ag_errmsg(rc));
  if (!known_model(g, r.model)) {
    char msg[300];
    snprintf(msg, sizeof msg, "The model '%.100s' does not exist; this gateway serves '%s'.", r.model,
             ag_buyer_model_name(g->buyer));
    ag_inf_request_free(&r);
    return ag_http_openai_error(resp, 404, "invalid_request_error", "model_not_found", "model", msg);
  }
  const ag_model *m = ag_buyer_model(g->buyer);
  uint32_t *ids = NULL;
  size_t np = 0;
  if (m && ag_inf_prompt_ids(m, &r, &ids, &np) == 0 && (int)np >= m->cfg.seq_len) {
    char msg[200];
    snprintf(msg, sizeof msg, "This model's maximum context length is %d tokens; the %s has %zu.", m->cfg.seq_len,
             chat ? "messages" : "prompt", np);
    free(ids);
    ag_inf_request_free(&r);
    return ag_http_openai_error(resp, 400, "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt", msg);
  }
  free(ids);
  /* the miners answer whole (the answer is verified before anything is sent); a stream is
   * made of the verified answer */
  char *body;
  bool stream = r.stream, usage = r.include_usage;
  if (stream) {
    json_t *o = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    json_object_set_new(o, "stream", json_false());
    json_object_del(o, "stream_options");
    body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    ag_inf_request_free(&r);
    rc = ag_inf_request_parse(chat, (const uint8_t *)body, strlen(body), &r, &param);
  } else {
    body = ag_xmalloc(req->body_len + 1);
    memcpy(body, req->body, req->body_len);
    body[req->body_len] = 0;
    if (strlen(body) != req->body_len) rc = AG_E_BAD_JSON; /* a NUL inside */
  }
  if (rc) {
    free(body);
    ag_inf_request_free(&r);
    return ag_http_openai_error(resp, 400, "invalid_request_error", "invalid_json", NULL, "the request body is not a JSON object");
  }
  /* one request at a time per key: what it may still spend is exact */
  pthread_mutex_lock(&g->key_mu[idx]);
  gw_key now;
  if (authorize(g, req, resp, &now) != idx) { /* the store changed under us */
    pthread_mutex_unlock(&g->key_mu[idx]);
    free(body);
    ag_inf_request_free(&r);
    if (resp->status == 0) ag_http_openai_error(resp, 409, "invalid_request_error", NULL, NULL, "the key store changed; retry");
    return;
  }
  uint64_t left = now.budget > now.spent ? now.budget - now.spent : 0;
  ag_buy_result res;
  memset(&res, 0, sizeof res);
  rc = left ? ag_buy(g->buyer, chat, body, &r, -1, left, &res) : ag_fail(AG_E_PAY_INSUFFICIENT, "no budget left");
  if (!rc) meter(g, now.name, res.cost, res.vd.n_prompt, res.vd.n_out);
  for (size_t i = 0; i < json_array_size(res.attempts); i++) { /* the operator sees who failed */
    json_t *a = json_array_get(res.attempts, i);
    if (strcmp(json_string_value(json_object_get(a, "result")) ?: "", "ok"))
      ag_warn("gateway", "miner uid %lld (%s) failed: %s%s", json_integer_value(json_object_get(a, "uid")),
              json_string_value(json_object_get(a, "hotkey")), json_string_value(json_object_get(a, "why")) ?: "",
              json_is_true(json_object_get(json_object_get(a, "fault"), "disputed")) ? "; disputed" : "");
  }
  pthread_mutex_unlock(&g->key_mu[idx]);
  if (rc == AG_E_PAY_INSUFFICIENT) {
    char msg[300], a[32], b[32];
    ag_amount_format(now.budget, a);
    ag_amount_format(left, b);
    snprintf(msg, sizeof msg, "The key '%s' has %s of its %s AGR budget left, less than this request costs at any "
             "miner's price.", now.name, b, a);
    ag_http_openai_error(resp, 402, "insufficient_quota", "insufficient_quota", NULL, msg);
  } else if (rc) {
    char msg[400];
    snprintf(msg, sizeof msg, "No miner gave a verified answer: %s", ag_errmsg(rc));
    ag_http_openai_error(resp, 502, "server_error", "no_verified_answer", NULL, msg);
  } else {
    ag_http_set_header(resp, "x-agora-provider", res.hotkey);
    json_t *rid = json_object_get(res.resp, "id");
    if (json_is_string(rid)) ag_http_set_header(resp, "x-request-id", json_string_value(rid));
    if (stream) stream_answer(resp, res.resp, chat, usage);
    else ag_http_json(resp, 200, json_incref(res.resp));
  }
  ag_buy_result_free(&res);
  ag_inf_request_free(&r);
  free(body);
}

static void h_completions(ag_http_req *req, ag_http_resp *resp) { complete(req, resp, false); }
static void h_chat(ag_http_req *req, ag_http_resp *resp) { complete(req, resp, true); }

static const ag_http_route routes[] = {
    {"GET", "/v1/models", h_models, 0},
    {"GET", "/v1/models/", h_model, 0},
    {"GET", "/v1/usage", h_usage, 0},
    {"POST", "/v1/completions", h_completions, 1u << 20},
    {"POST", "/v1/chat/completions", h_chat, 1u << 20},
};

int ag_gateway_open(const ag_gateway_cfg *cfg, ag_gateway **out, ag_http_config *hc) {
  *out = NULL;
  gateway *g = ag_xcalloc(1, sizeof *g);
  g->cfg = *cfg;
  g->start_ms = (uint64_t)time(NULL) * 1000;
  pthread_mutex_init(&g->mu, NULL);
  for (int i = 0; i < MAX_KEYS; i++) pthread_mutex_init(&g->key_mu[i], NULL);
  int rc = ag_net_open(&g->net, cfg->node_url);
  ag_buyer_cfg bc = {.home = cfg->home, .netuid = cfg->netuid, .payer = cfg->payer, .payer_name = cfg->payer_name,
                     .deposit = cfg->deposit, .dispute = cfg->dispute, .policy = AG_BUY_CHEAPEST, .verify = true,
                     .verify_sample = cfg->verify_sample, .threads = cfg->threads, .attempts = 3, .log = false};
  if (!rc) rc = ag_buyer_open(&g->net, &bc, &g->buyer);
  if (rc) {
    ag_gateway_close(g);
    return rc;
  }
  ag_hex_encode(ag_buyer_model_id(g->buyer), 32, g->hex);
  *hc = (ag_http_config){.listen = cfg->listen, .max_body = 1u << 20, .routes = routes,
                         .nroutes = sizeof routes / sizeof routes[0], .ctx = g};
  *out = g;
  return 0;
}

void ag_gateway_close(ag_gateway *g) {
  if (!g) return;
  ag_buyer_close(g->buyer);
  for (int i = 0; i < MAX_KEYS; i++) pthread_mutex_destroy(&g->key_mu[i]);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

int ag_gateway_run(const ag_gateway_cfg *cfg, volatile int *stop) {
  gateway *g;
  ag_http_config hc;
  int rc = ag_gateway_open(cfg, &g, &hc);
  ag_http_server *srv = NULL;
  if (!rc) rc = ag_http_start(&hc, &srv);
  if (!rc) {
    char host[128], url[200];
    uint16_t port;
    ag_http_parse_listen(cfg->listen, host, sizeof host, &port);
    snprintf(url, sizeof url, "http://%s:%u/v1", host[0] ? host : "127.0.0.1", ag_http_port(srv));
    ag_info("gateway", "serving %s (subnet %u, model %s) at %s", cfg->node_url, cfg->netuid,
            ag_buyer_model_name(g->buyer), url);
    printf("gateway listening on %s\n", url);
    fflush(stdout);
    if (cfg->ready_file) {
      json_t *o = json_object();
      json_object_set_new(o, "url", json_string(url));
      json_object_set_new(o, "model", json_string(ag_buyer_model_name(g->buyer)));
      ag_json_write_file(cfg->ready_file, o);
    }
    /* a dispute the gateway could not open when it found the fault is tried again */
    for (uint64_t next = ag_mono_ms() + 10000; !*stop; ag_sleep_ms(100)) {
      if (!cfg->dispute || ag_mono_ms() < next) continue;
      int opened;
      ag_buyer_retry_disputes(g->buyer, &opened);
      next = ag_mono_ms() + 10000;
    }
  }
  ag_http_stop(srv);
  ag_gateway_close(g);
  return rc;
}
