/*
 * http.h — Agora's HTTP/1.1 server and an HTTP client over libcurl. The node API, miners,
 * trainers and validators all serve through it.
 *
 * A server is a table of routes; a handler fills an ag_http_resp (status, body, headers) or a
 * streaming callback (Server-Sent Events, file downloads). Handlers run on a fixed pool of
 * worker threads and may block; the sockets themselves are owned by one event thread that
 * never blocks, so a slow or idle client costs a socket and a few kilobytes, not a thread.
 *
 * What a client can make the server spend is bounded (ag_http_limits, docs/security.md):
 * connections in all and per address, streams, queued requests, the size of the request head,
 * bodies per route, and time — a request head must arrive within head_timeout_ms of its first
 * byte, a body and a response must keep an average of min_rate bytes/s after a grace period
 * (a slow client is timed out by its progress, not by idleness). Every refusal, including the
 * ones about the protocol itself (bad Content-Length, a long URL, too many headers, an unknown
 * HTTP version), is the documented JSON error {"error":{"code","message","type","param"}}.
 * A declared Content-Length over the route's limit is refused before the body is read.
 */
#ifndef AG_HTTP_H
#define AG_HTTP_H

#include "core/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ag_http_conn;

typedef struct {
  const char *method;
  const char *path;       /* percent-decoded, without the query string */
  const char *param;      /* the rest of the path after the route prefix ("" if none) */
  const uint8_t *body;    /* buffered routes; NULL for spooled uploads */
  size_t body_len;
  /* Spooled uploads (routes with admit): the temp file holding the body, which the handler may
   * rename away (the server removes it afterwards if it is still there), and the body's
   * BLAKE2b-256 with the route's hash_domain. In admit, body_len is the declared length. */
  const char *body_file;
  uint8_t body_hash[32];
  const char *peer;       /* the client's address ("127.0.0.1") */
  struct ag_http_conn *conn;
  void *ctx;              /* the server's user context */
} ag_http_req;

/* Streaming body: return bytes written to buf (> 0), 0 to be called again soon, or -1 to end. */
typedef ssize_t (*ag_http_stream_fn)(void *cls, char *buf, size_t max);

/* A response header's name or value holds at most AG_HTTP_HEADER_MAX - 1 bytes. */
#define AG_HTTP_HEADER_MAX 256

typedef struct {
  int status;
  ag_buf body;
  char content_type[96];
  int nheaders;
  char headers[8][2][AG_HTTP_HEADER_MAX];
  ag_http_stream_fn stream; /* when set, body is ignored */
  void *stream_cls;
  void (*stream_free)(void *cls);
  int64_t stream_len;       /* bytes the stream will give, or -1 (unknown: chunked) */
} ag_http_resp;

typedef void (*ag_http_handler)(ag_http_req *req, ag_http_resp *resp);

typedef struct {
  const char *method; /* "GET", "POST", ... */
  const char *path;   /* exact path, or a prefix ending in '/' that takes a parameter */
  ag_http_handler fn;
  size_t max_body;    /* this route's request body limit; 0 = the server's */
  /* Streamed uploads: admit sees the headers (req->body_len = the declared length) before any
   * body byte is read and refuses by setting resp->status; otherwise the body is written to a
   * temp file in the server's spool_dir (never more than the declared length nor max_body) and
   * fn runs with req->body_file. A request without a Content-Length is refused (411). */
  ag_http_handler admit;
  const char *hash_domain; /* spooled bodies are hashed with this BLAKE2b domain when set */
} ag_http_route;

typedef struct {
  unsigned max_connections; /* open connections in all (4096) */
  unsigned max_per_ip;      /* open connections per client address (256); 0 = no limit */
  int per_ip_loopback;      /* apply max_per_ip to loopback clients too (0: they are exempt) */
  unsigned max_streams;     /* streamed responses at once (64) */
  unsigned workers;         /* handler threads (16) */
  unsigned max_queue;       /* complete requests waiting for a worker (1024) */
  unsigned head_timeout_ms; /* a request head must be complete this long after its first byte (10 s) */
  unsigned idle_timeout_ms; /* a keep-alive connection may wait this long for its next request (60 s) */
  unsigned grace_ms;        /* before min_rate applies to a body or a response (10 s) */
  unsigned min_rate;        /* bytes/s a body upload and a response must average after grace (4096) */
  unsigned stall_ms;        /* a stream whose client reads nothing this long is closed (30 s) */
  size_t max_head;          /* request line and headers (32 KiB) */
  unsigned max_headers;     /* header fields (100) */
  size_t max_target;        /* request target (URL) (8 KiB) */
} ag_http_limits;

void ag_http_limits_default(ag_http_limits *l);
/* Reads an "http" object of config.json (the same names as the fields) over l; unknown
 * names are ignored, bad values refused (AG_E_RANGE). */
int ag_http_limits_from_json(ag_http_limits *l, json_t *o);

typedef struct {
  const char *listen; /* "127.0.0.1:8740"; port 0 picks a free port */
  size_t max_body;
  const ag_http_route *routes;
  size_t nroutes;
  void *ctx;
  const ag_http_limits *limits; /* NULL = defaults */
  const char *spool_dir;        /* for routes with admit; NULL = $TMPDIR or /tmp */
} ag_http_config;

typedef struct ag_http_server ag_http_server;

/* Binds and starts serving. A port in use is AG_E_ADDR_IN_USE (no address reuse: two servers
 * never share a port). */
int ag_http_start(const ag_http_config *cfg, ag_http_server **out);
uint16_t ag_http_port(const ag_http_server *s);
/* Stops accepting, lets running handlers and streams finish, frees. Accepts NULL. */
void ag_http_stop(ag_http_server *s);

/* Serves in as the whole input of one client connection, in this thread, without a socket:
 * the bytes go through the server's own request parsing, limits, route matching and
 * dispatch (a spooled upload goes to cfg->spool_dir) and what the server would send is
 * appended to out. As on a socket, every complete request in the bytes is answered in turn
 * (keep-alive), the connection ends after a response that closes it, and a request cut short
 * gets no answer (the client has hung up). The client's address is 127.0.0.1. A streamed
 * response of known length (a file) is sent whole; one of unknown length (an event stream,
 * which waits for news) ends after its head. cfg->listen is not used. Returns how many
 * requests reached a route's handler. For tests and fuzzing (fuzz/fuzz_api.c). */
int ag_http_serve_bytes(const ag_http_config *cfg, const uint8_t *in, size_t n, ag_buf *out);

/* Counters for metrics. */
typedef struct {
  uint64_t connections;   /* open now */
  uint64_t streams;       /* open now */
  uint64_t accepted_total, refused_total, timed_out_total, requests_total;
} ag_http_stats;
void ag_http_stats_get(ag_http_server *s, ag_http_stats *out);

const char *ag_http_query(const ag_http_req *r, const char *key);
/* Case-insensitive; the first value when a header repeats. */
const char *ag_http_header(const ag_http_req *r, const char *key);
/* True for "1", "true", "yes", "on" (and a bare ?key). */
int ag_http_query_bool(const ag_http_req *r, const char *key);
/* A query parameter as an integer in lo..hi, dflt when absent: 0, or AG_E_INVALID with a message
 * naming the parameter and its range (*out is then dflt or what was read). */
int ag_http_query_u64(const ag_http_req *r, const char *key, uint64_t lo, uint64_t hi, uint64_t dflt, uint64_t *out);
/* 1 when the Authorization header value `authorization` (NULL when absent) is
 * "Bearer KEY" with exactly `key`, else 0. The keys are compared in constant time as
 * BLAKE2b-256 digests, so the time taken shows neither where a guess first differs nor the
 * key's length. An empty key matches nothing. */
int ag_http_bearer_matches(const char *authorization, const char *key);

/* Adds a header (at most 8). One whose name or value holds a control character other than a
 * tab (a CR or LF would let the value's author write headers of their own), or is longer than
 * AG_HTTP_HEADER_MAX - 1 bytes, is not sent. */
void ag_http_set_header(ag_http_resp *resp, const char *name, const char *value);
/* Sets a JSON body (takes the reference). */
void ag_http_json(ag_http_resp *resp, int status, json_t *v);
/* Answers 200 with the regular file at path as application/octet-stream, streamed with its
 * length (read as the client takes it: a file costs no memory, however many ask for it at
 * once). 0, and resp untouched, when it cannot be opened. */
int ag_http_stream_file(ag_http_resp *resp, const char *path);
/* {"error":{"code": ag_err_name(err), "message": msg}} with the given HTTP status. A message
 * that is not valid UTF-8 is kept, with each bad byte replaced by U+FFFD. */
void ag_http_error(ag_http_resp *resp, int status, int err, const char *msg);
/* OpenAI's error shape {"error": {"message", "type", "param", "code"}} (param and code null when
 * NULL), with Retry-After: 1 on 429 and 503: what miners and the gateway answer. A message
 * that is not valid UTF-8 (it may quote the request) is kept as ag_http_error keeps it. */
void ag_http_openai_error(ag_http_resp *resp, int status, const char *type, const char *code,
                          const char *param, const char *msg);

/* Splits "host:port"; host may be empty (loopback). */
int ag_http_parse_listen(const char *listen, char *host, size_t hostcap, uint16_t *port);

/* ---- client ---------------------------------------------------------------------------- */
typedef struct {
  long status;
  ag_buf body;
  char content_type[96];
} ag_http_result;

/* The largest response body ag_http_request accepts. */
#define AG_HTTP_CLIENT_MAX (32u << 20)

/* One request; the connection is reused per thread. AG_E_CONNECT when the server cannot be
 * reached, AG_E_TIMEOUT when it does not answer in time, AG_E_TOO_LARGE when the body exceeds
 * AG_HTTP_CLIENT_MAX. out->body must be freed. */
int ag_http_request(const char *method, const char *url, const char *content_type,
                    const void *body, size_t len, int timeout_ms, ag_http_result *out);
/* Request flags. AG_HTTP_PUBLIC_ONLY: for a URL built from an endpoint a neuron announced on a
 * chain that accepts only public endpoints; the request connects to none of the addresses its
 * host resolves to that are loopback, private, link-local or reserved (checked on the address
 * connected to), never through a proxy, and fails with AG_E_BAD_ENDPOINT when no other is
 * left. docs/security.md, "Endpoints". */
enum { AG_HTTP_PUBLIC_ONLY = 1 };

/* The same with an explicit cap on the response body (declared or streamed), extra request
 * headers ("Name: value" strings, NULL-terminated; headers may be NULL) and flags. */
int ag_http_request_max(const char *method, const char *url, const char *content_type,
                        const void *body, size_t len, int timeout_ms, size_t max_body,
                        const char *const *headers, int flags, ag_http_result *out);
/* GETs url into path (written atomically) when the server answers 200 with at most max_bytes;
 * *status gets the HTTP status. Uploads a file with ag_http_post_file. */
int ag_http_download(const char *url, const char *path, uint64_t max_bytes, int timeout_ms, int flags,
                     long *status);
int ag_http_post_file(const char *url, const char *path, const char *content_type, int timeout_ms,
                      ag_http_result *out);
void ag_http_result_free(ag_http_result *r);
/* Closes this thread's cached connection. */
void ag_http_client_cleanup(void);

#endif
