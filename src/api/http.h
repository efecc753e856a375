/*
 * http.h — a small HTTP server over libmicrohttpd (one thread per connection, keep-alive)
 * and an HTTP client over libcurl. Both the node API and (later) miners use them.
 *
 * A server is a table of routes; a handler fills an ag_http_resp (status, body, headers) or a
 * streaming callback (Server-Sent Events). Request bodies above max_body are refused with 413
 * before the handler runs; errors use the JSON shape {"error":{"code","message"}}.
 */
#ifndef AG_HTTP_H
#define AG_HTTP_H

#include "core/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;

typedef struct {
  const char *method;
  const char *path;   /* without the query string */
  const char *param;  /* the rest of the path after the route prefix ("" if none) */
  const uint8_t *body;
  size_t body_len;
  struct MHD_Connection *conn;
  void *ctx;          /* the server's user context */
} ag_http_req;

/* Streaming body: return bytes written to buf (> 0), 0 to be called again soon, or -1 to end. */
typedef ssize_t (*ag_http_stream_fn)(void *cls, char *buf, size_t max);

typedef struct {
  int status;
  ag_buf body;
  char content_type[96];
  int nheaders;
  char headers[8][2][128];
  ag_http_stream_fn stream; /* when set, body is ignored */
  void *stream_cls;
  void (*stream_free)(void *cls);
} ag_http_resp;

typedef void (*ag_http_handler)(ag_http_req *req, ag_http_resp *resp);

typedef struct {
  const char *method; /* "GET", "POST", ... */
  const char *path;   /* exact path, or a prefix ending in '/' that takes a parameter */
  ag_http_handler fn;
  size_t max_body;    /* this route's request body limit; 0 = the server's */
} ag_http_route;

typedef struct {
  const char *listen; /* "127.0.0.1:8740"; port 0 picks a free port */
  size_t max_body;
  const ag_http_route *routes;
  size_t nroutes;
  void *ctx;
} ag_http_config;

typedef struct ag_http_server ag_http_server;

int ag_http_start(const ag_http_config *cfg, ag_http_server **out);
uint16_t ag_http_port(const ag_http_server *s);
void ag_http_stop(ag_http_server *s); /* accepts NULL */

const char *ag_http_query(const ag_http_req *r, const char *key);
const char *ag_http_header(const ag_http_req *r, const char *key);
/* True for "1", "true", "yes", "on" (and a bare ?key). */
int ag_http_query_bool(const ag_http_req *r, const char *key);

void ag_http_set_header(ag_http_resp *resp, const char *name, const char *value);
/* Sets a JSON body (takes the reference). */
void ag_http_json(ag_http_resp *resp, int status, json_t *v);
/* {"error":{"code": ag_err_name(err), "message": msg}} with the given HTTP status. */
void ag_http_error(ag_http_resp *resp, int status, int err, const char *msg);

/* Splits "host:port"; host may be empty (loopback). */
int ag_http_parse_listen(const char *listen, char *host, size_t hostcap, uint16_t *port);

/* ---- client ---------------------------------------------------------------------------- */
typedef struct {
  long status;
  ag_buf body;
  char content_type[96];
} ag_http_result;

/* One request; the connection is reused per thread. AG_E_CONNECT when the server cannot be
 * reached, AG_E_TIMEOUT when it does not answer in time. out->body must be freed. */
int ag_http_request(const char *method, const char *url, const char *content_type,
                    const void *body, size_t len, int timeout_ms, ag_http_result *out);
void ag_http_result_free(ag_http_result *r);
/* Closes this thread's cached connection. */
void ag_http_client_cleanup(void);

#endif
