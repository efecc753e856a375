/* http.c — libmicrohttpd server with a route table, and a libcurl client. */
#include "api/http.h"

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ag_http_server {
  struct MHD_Daemon *d;
  ag_http_config cfg;
  uint16_t port;
};

typedef struct {
  ag_buf body;
  int too_large;
  const ag_http_route *route; /* matched on the headers, so its body limit applies */
  size_t param_off;           /* the route parameter's offset in the URL */
  int path_known;
  size_t limit;
} conn_state;

int ag_http_parse_listen(const char *listen, char *host, size_t hostcap, uint16_t *port) {
  const char *colon = strrchr(listen, ':');
  if (!colon) return ag_fail(AG_E_INVALID, "listen address '%s' is not host:port", listen);
  size_t hl = (size_t)(colon - listen);
  if (hl >= hostcap) return ag_fail(AG_E_INVALID, "host name too long");
  memcpy(host, listen, hl);
  host[hl] = 0;
  uint64_t p;
  if (ag_parse_u64(colon + 1, &p) || p > 65535)
    return ag_fail(AG_E_INVALID, "bad port in '%s'", listen);
  *port = (uint16_t)p;
  return 0;
}

const char *ag_http_query(const ag_http_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *ag_http_header(const ag_http_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

int ag_http_query_bool(const ag_http_req *r, const char *key) {
  const char *v = ag_http_query(r, key);
  if (!v) {
    /* a bare "?prove" has no value but is present */
    return MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), NULL,
                                         NULL) == MHD_YES;
  }
  return !strcmp(v, "") || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") ||
         !strcmp(v, "on");
}

void ag_http_set_header(ag_http_resp *resp, const char *name, const char *value) {
  if (resp->nheaders >= 8) return;
  snprintf(resp->headers[resp->nheaders][0], 128, "%s", name);
  snprintf(resp->headers[resp->nheaders][1], 128, "%s", value);
  resp->nheaders++;
}

void ag_http_json(ag_http_resp *resp, int status, json_t *v) {
  resp->status = status;
  snprintf(resp->content_type, sizeof resp->content_type, "application/json");
  ag_buf_reset(&resp->body);
  char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  if (s) {
    ag_buf_puts(&resp->body, s);
    ag_buf_put_u8(&resp->body, '\n');
    free(s);
  }
  json_decref(v);
}

void ag_http_error(ag_http_resp *resp, int status, int err, const char *msg) {
  json_t *e = json_object(), *root = json_object();
  json_object_set_new(e, "code", json_string(ag_err_name(err)));
  json_object_set_new(e, "message", json_string(msg ? msg : ag_strerror(err)));
  /* the two fields OpenAI clients also read, so miners' errors have one shape */
  json_object_set_new(e, "type", json_string(status >= 500 ? "server_error" : "invalid_request_error"));
  json_object_set_new(e, "param", json_null());
  json_object_set_new(root, "error", e);
  ag_http_json(resp, status, root);
}

typedef struct {
  ag_http_stream_fn fn;
  void *cls;
  void (*free_fn)(void *);
} stream_box;

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max) {
  stream_box *b = cls;
  ssize_t n = b->fn(b->cls, buf, max);
  if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
  return n;
}

static void stream_free(void *cls) {
  stream_box *b = cls;
  if (b->free_fn) b->free_fn(b->cls);
  free(b);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, ag_http_resp *r) {
  struct MHD_Response *mr;
  if (r->stream) {
    stream_box *b = ag_xmalloc(sizeof *b);
    b->fn = r->stream;
    b->cls = r->stream_cls;
    b->free_fn = r->stream_free;
    mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_cb, b, stream_free);
  } else {
    mr = MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_COPY);
  }
  if (!mr) return MHD_NO;
  if (r->content_type[0]) MHD_add_response_header(mr, "Content-Type", r->content_type);
  for (int i = 0; i < r->nheaders; i++)
    MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, mr);
  MHD_destroy_response(mr);
  return ret;
}

static void match_route(const ag_http_server *s, const char *url, const char *method,
                        conn_state *st) {
  for (size_t i = 0; i < s->cfg.nroutes; i++) {
    const ag_http_route *rt = &s->cfg.routes[i];
    size_t pl = strlen(rt->path);
    int prefix = rt->path[pl - 1] == '/' && pl > 1;
    int hit = prefix ? strncmp(url, rt->path, pl) == 0 && url[pl] : strcmp(url, rt->path) == 0;
    if (!hit) continue;
    st->path_known = 1;
    if (strcmp(rt->method, method) == 0 ||
        (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"))) {
      st->route = rt;
      st->param_off = prefix ? pl : strlen(url);
      return;
    }
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  ag_http_server *s = cls;
  conn_state *st = *con_cls;
  if (!st) {
    st = ag_xcalloc(1, sizeof *st);
    *con_cls = st;
    match_route(s, url, method, st);
    st->limit = st->route && st->route->max_body ? st->route->max_body : s->cfg.max_body;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    uint64_t n;
    if (cl && ag_parse_u64(cl, &n) == 0 && n > st->limit) st->too_large = 1;
    return MHD_YES;
  }
  if (*upload_size) {
    if (!st->too_large) {
      if (st->body.len + *upload_size > st->limit) {
        st->too_large = 1;
        ag_buf_free(&st->body);
      } else {
        ag_buf_put(&st->body, upload_data, *upload_size);
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  ag_http_resp resp;
  memset(&resp, 0, sizeof resp);
  ag_buf_init(&resp.body);
  if (st->too_large) {
    char msg[128];
    snprintf(msg, sizeof msg, "request body exceeds %zu bytes", st->limit);
    ag_http_error(&resp, 413, AG_E_HTTP_BODY_TOO_LARGE, msg);
  } else if (st->route) {
    ag_http_req req = {method, url, url + st->param_off, st->body.data, st->body.len, conn, s->cfg.ctx};
    st->route->fn(&req, &resp);
  } else if (st->path_known) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s is not allowed on %.100s", method, url);
    ag_http_error(&resp, 405, AG_E_HTTP_METHOD, msg);
  } else {
    char msg[160];
    snprintf(msg, sizeof msg, "no endpoint %.120s", url);
    ag_http_error(&resp, 404, AG_E_HTTP_ROUTE, msg);
  }
  enum MHD_Result ret = send_resp(conn, &resp);
  ag_buf_free(&resp.body);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  conn_state *st = *con_cls;
  if (!st) return;
  ag_buf_free(&st->body);
  free(st);
  *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = 0;
  ag_debug("http", "%s", msg);
}

int ag_http_start(const ag_http_config *cfg, ag_http_server **out) {
  char host[256];
  uint16_t port;
  int rc = ag_http_parse_listen(cfg->listen, host, sizeof host, &port);
  if (rc) return rc;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (!host[0] || !strcmp(host, "localhost")) {
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
      return ag_fail(AG_E_INVALID, "cannot resolve listen host '%s'", host);
    sa.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
  }
  ag_http_server *s = ag_xcalloc(1, sizeof *s);
  s->cfg = *cfg;
  s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                              MHD_USE_AUTO | MHD_USE_ERROR_LOG,
                          0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                          MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
  if (!s->d) {
    free(s);
    return ag_fail(AG_E_IO, "cannot listen on %s (in use?)", cfg->listen);
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : port;
  *out = s;
  return 0;
}

uint16_t ag_http_port(const ag_http_server *s) { return s->port; }

void ag_http_stop(ag_http_server *s) {
  if (!s) return;
  MHD_stop_daemon(s->d);
  free(s);
}

/* ---- client ---------------------------------------------------------------------------- */

/* One keep-alive connection per thread, cleaned up when the thread ends (MHD's connection
 * threads come and go). */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;

static void curl_free_handle(void *h) { curl_easy_cleanup(h); }

static void curl_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  pthread_key_create(&curl_key, curl_free_handle);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  ag_buf_put(ud, p, size * nmemb);
  return size * nmemb;
}

int ag_http_request(const char *method, const char *url, const char *content_type,
                    const void *body, size_t len, int timeout_ms, ag_http_result *out) {
  pthread_once(&curl_once, curl_init_once);
  memset(out, 0, sizeof *out);
  ag_buf_init(&out->body);
  CURL *c = pthread_getspecific(curl_key);
  if (!c) {
    c = curl_easy_init();
    if (!c) return ag_fail(AG_E_NOMEM, "curl_easy_init failed");
    pthread_setspecific(curl_key, c);
  }
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 5000 ? timeout_ms : 5000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  struct curl_slist *hdrs = NULL;
  char ct[160];
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/octet-stream");
    hdrs = curl_slist_append(hdrs, ct);
    hdrs = curl_slist_append(hdrs, "Expect:");
  }
  if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  CURLcode cc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  if (cc != CURLE_OK) {
    ag_buf_free(&out->body);
    if (cc == CURLE_OPERATION_TIMEDOUT)
      return ag_fail(AG_E_TIMEOUT, "%s: no answer within %d ms", url, timeout_ms);
    return ag_fail(AG_E_CONNECT, "%s: %s", url, curl_easy_strerror(cc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  char *ctype = NULL;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
  if (ctype) snprintf(out->content_type, sizeof out->content_type, "%s", ctype);
  ag_buf_cstr(&out->body);
  return 0;
}

void ag_http_result_free(ag_http_result *r) { ag_buf_free(&r->body); }

void ag_http_client_cleanup(void) {
  pthread_once(&curl_once, curl_init_once);
  CURL *c = pthread_getspecific(curl_key);
  if (c) curl_easy_cleanup(c);
  pthread_setspecific(curl_key, NULL);
}
