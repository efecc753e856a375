/*
 * http.c — the HTTP/1.1 server (http.h) and the libcurl client.
 *
 * Why our own server: libmicrohttpd, which served us until now, ties a thread to every
 * connection (a thousand slow or idle clients took every slot), times clients out only by
 * idleness (a client sending one header byte every few seconds stays forever), and answers
 * protocol errors with its own HTML bodies that cannot be replaced. The Debian-packaged
 * alternatives (civetweb, libevent's evhttp 2.1, h2o) share at least one of those. What we need
 * is small: HTTP/1.1 with keep-alive, Content-Length and chunked bodies, and bounded everything.
 *
 * Threads and ownership. The event thread owns the listening socket and every connection's
 * socket and buffers while it reads a request or writes a response; it never blocks. A
 * complete request is handed to a worker (state C_HANDLER: nobody else touches the connection)
 * and comes back through the done queue with its response — or, when the worker could send the
 * whole response at once and the connection stays open, the worker puts it back in the epoll
 * set itself, and storing C_HEAD is the last thing it does with it (two thread hand-offs and
 * four system calls fewer per request). A streamed response hands the
 * connection to a stream thread of its own (C_STREAM) until the stream ends. Only the event
 * thread closes sockets and frees connections, so a descriptor number is never reused while
 * anyone still holds it.
 *
 * In process. ag_http_serve_bytes runs a connection with no socket and no threads through the
 * same code: its bytes are the connection's input, what would be sent is appended to the
 * caller's buffer (conn.sink), and the handler that a worker would run runs in the caller.
 *
 * What this file does not do: TLS (put a proxy in front), HTTP/2, request trailers, multipart.
 */
#define _GNU_SOURCE /* accept4, memmem */
#include "api/http.h"

#include "chain/json.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "incentive/endpoint.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define LINGER_MS 2000       /* after an error response, how long we drain the rest */
#define LINGER_MAX (64u << 20) /* and how much of it: room for a refused upload of tens of MB, so the
                                  * client still sending it reads our answer before any reset */

void ag_http_limits_default(ag_http_limits *l) {
  l->max_connections = 4096;
  l->max_per_ip = 256;
  l->per_ip_loopback = 0;
  l->max_streams = 64;
  l->workers = 16;
  l->max_queue = 1024;
  l->head_timeout_ms = 10000;
  l->idle_timeout_ms = 60000;
  l->grace_ms = 10000;
  l->min_rate = 4096;
  l->stall_ms = 30000;
  l->max_head = 32768;
  l->max_headers = 100;
  l->max_target = 8192;
}

int ag_http_limits_from_json(ag_http_limits *l, json_t *o) {
  static const struct {
    const char *name;
    size_t off;
    int is_size;
    uint64_t min, max;
  } f[] = {
      {"max_connections", offsetof(ag_http_limits, max_connections), 0, 1, 1000000},
      {"max_per_ip", offsetof(ag_http_limits, max_per_ip), 0, 0, 1000000},
      {"per_ip_loopback", offsetof(ag_http_limits, per_ip_loopback), 0, 0, 1},
      {"max_streams", offsetof(ag_http_limits, max_streams), 0, 1, 100000},
      {"workers", offsetof(ag_http_limits, workers), 0, 1, 1024},
      {"max_queue", offsetof(ag_http_limits, max_queue), 0, 1, 1000000},
      {"head_timeout_ms", offsetof(ag_http_limits, head_timeout_ms), 0, 100, 3600000},
      {"idle_timeout_ms", offsetof(ag_http_limits, idle_timeout_ms), 0, 100, 86400000},
      {"grace_ms", offsetof(ag_http_limits, grace_ms), 0, 0, 3600000},
      {"min_rate", offsetof(ag_http_limits, min_rate), 0, 0, 1u << 30},
      {"stall_ms", offsetof(ag_http_limits, stall_ms), 0, 100, 3600000},
      {"max_head", offsetof(ag_http_limits, max_head), 1, 1024, 1u << 20},
      {"max_headers", offsetof(ag_http_limits, max_headers), 0, 4, 10000},
      {"max_target", offsetof(ag_http_limits, max_target), 1, 64, 1u << 20},
  };
  if (!o) return 0;
  if (!json_is_object(o)) return ag_fail(AG_E_RANGE, "\"http\" must be an object");
  for (size_t i = 0; i < AG_ARRAY_LEN(f); i++) {
    json_t *v = json_object_get(o, f[i].name);
    if (!v) continue;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)f[i].min ||
        (uint64_t)json_integer_value(v) > f[i].max)
      return ag_fail(AG_E_RANGE, "http.%s must be an integer within %llu..%llu", f[i].name,
                     (unsigned long long)f[i].min, (unsigned long long)f[i].max);
    uint64_t x = (uint64_t)json_integer_value(v);
    if (f[i].is_size) *(size_t *)((char *)l + f[i].off) = (size_t)x;
    else if (!strcmp(f[i].name, "per_ip_loopback")) l->per_ip_loopback = (int)x;
    else *(unsigned *)((char *)l + f[i].off) = (unsigned)x;
  }
  return 0;
}

/* ---- responses ---------------------------------------------------------------------------- */

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

/* 1 when s is a header name or value as sent: no control character but a tab, and short
 * enough to be sent whole. */
static int header_text_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (((unsigned char)s[n] < 0x20 && s[n] != '\t') || s[n] == 0x7f) return 0;
  return n < AG_HTTP_HEADER_MAX;
}

void ag_http_set_header(ag_http_resp *resp, const char *name, const char *value) {
  /* a value may come from elsewhere (a miner's answer id, relayed by the gateway): a CR or LF
   * in it would end the header and let its author write headers, or a whole response, of
   * their own (response splitting); and a value cut short is not the value */
  if (resp->nheaders >= 8 || !header_text_ok(name) || !header_text_ok(value)) return;
  snprintf(resp->headers[resp->nheaders][0], AG_HTTP_HEADER_MAX, "%s", name);
  snprintf(resp->headers[resp->nheaders][1], AG_HTTP_HEADER_MAX, "%s", value);
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

void ag_http_openai_error(ag_http_resp *resp, int status, const char *type, const char *code,
                          const char *param, const char *msg) {
  json_t *e = json_object(), *root = json_object();
  json_object_set_new(e, "message", ag_json_text(msg)); /* json_string drops what is not UTF-8 */
  json_object_set_new(e, "type", json_string(type));
  json_object_set_new(e, "param", param ? json_string(param) : json_null());
  json_object_set_new(e, "code", code ? json_string(code) : json_null());
  json_object_set_new(root, "error", e);
  ag_http_json(resp, status, root);
  if (status == 503 || status == 429) ag_http_set_header(resp, "Retry-After", "1");
}

typedef struct {
  FILE *f;
} file_stream;

static ssize_t file_read(void *cls, char *buf, size_t max) {
  file_stream *fs = cls;
  size_t n = fread(buf, 1, max, fs->f);
  return n ? (ssize_t)n : -1;
}

static void file_close(void *cls) {
  file_stream *fs = cls;
  fclose(fs->f);
  free(fs);
}

int ag_http_stream_file(ag_http_resp *resp, const char *path) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f) return 0;
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
    fclose(f);
    return 0;
  }
  file_stream *fs = ag_xmalloc(sizeof *fs);
  fs->f = f;
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "application/octet-stream");
  resp->stream = file_read;
  resp->stream_cls = fs;
  resp->stream_free = file_close;
  resp->stream_len = (int64_t)st.st_size;
  return 1;
}

void ag_http_error(ag_http_resp *resp, int status, int err, const char *msg) {
  json_t *e = json_object(), *root = json_object();
  json_object_set_new(e, "code", json_string(ag_err_name(err)));
  json_object_set_new(e, "message", ag_json_text(msg ? msg : ag_strerror(err)));
  /* the two fields OpenAI clients also read, so miners' errors have one shape */
  json_object_set_new(e, "type", json_string(status >= 500 ? "server_error" : "invalid_request_error"));
  json_object_set_new(e, "param", json_null());
  json_object_set_new(root, "error", e);
  ag_http_json(resp, status, root);
}

static const char *reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

/* ---- connections ------------------------------------------------------------------------- */

enum {
  C_HEAD,    /* reading a request head (or idle between requests) */
  C_BODY,    /* reading a request body */
  C_HANDLER, /* a worker runs the handler */
  C_WRITE,   /* writing a response */
  C_STREAM,  /* a stream thread owns the socket */
  C_LINGER,  /* answered and half-closed: draining what the client still sends */
};

typedef struct {
  char *name, *value;
} hdr;

typedef struct {
  char *key, *value;
} qarg;

typedef struct ag_http_conn conn;

struct ag_http_conn {
  int fd;
  _Atomic int state; /* a worker hands a connection back by storing it */
  ag_http_server *srv;
  conn *prev, *next; /* the event thread's list */
  conn *qnext;       /* job and done queues */
  char peer[INET6_ADDRSTRLEN];
  uint8_t addr[16];  /* the peer's address (IPv4 mapped into IPv6) for per-address counts */
  int counted_ip;
  uint32_t events;   /* epoll interest now; 0 = not in the epoll set */
  int dead;          /* closed; freed at the end of the event batch */
  ag_buf in;         /* received, not yet consumed */
  uint64_t t_first;  /* first byte of the request being read (0: none yet) */
  uint64_t t_idle;   /* when the connection last became idle */
  uint64_t t_phase;  /* start of the body or the response, for min_rate */
  uint64_t phase_bytes;
  /* the request */
  ag_buf head;       /* a private copy of the head, cut into the strings below */
  char *method, *target, *path, *version;
  hdr *hdrs;
  size_t nhdrs;
  qarg *args;
  size_t nargs;
  int http10, keepalive, head_only, expect_continue;
  const ag_http_route *route;
  int path_known;
  size_t param_off;
  size_t limit;      /* the route's body limit */
  int chunked;
  uint64_t clen;     /* declared length (when not chunked) */
  uint64_t got;      /* body bytes taken */
  int ch_state;      /* chunk parser: 0 size line, 1 data, 2 CRLF after data, 3 trailers */
  uint64_t ch_left;
  ag_buf body;
  int spool_fd;
  char spool_path[1100];
  ag_hasher hasher;
  int hashing;
  int pending_error; /* an error response decided before the handler (status), or 0 */
  /* the response */
  ag_http_resp resp;
  ag_buf out;
  size_t out_off;
  int close_after;
  int resume;        /* back from a worker with request bytes in `in` to parse */
  uint64_t linger_until;
  size_t lingered;
  pthread_t stream_thread;
  ag_buf *sink;      /* in process (ag_http_serve_bytes): what is sent goes here; fd is -1 */
};

struct ag_http_server {
  ag_http_config cfg;
  ag_http_limits lim;
  char spool_dir[1024];
  ag_http_route *routes;
  int lfd, epfd, evfd;
  uint16_t port;
  pthread_t loop_thread;
  pthread_t *workers;
  unsigned nworkers;
  atomic_int stopping;
  /* event thread state */
  conn *conns;
  conn *grave;       /* closed in this event batch, freed after it */
  atomic_uint nconns;
  atomic_int workers_done;
  atomic_uint nstreams;
  /* per-address connection counts: open addressing, 2 x max_connections slots */
  struct ipslot {
    uint8_t addr[16];
    uint32_t count;
  } *ips;
  size_t ip_cap;
  /* job queue (event thread -> workers) */
  pthread_mutex_t jmu;
  pthread_cond_t jcv;
  conn *jhead, *jtail;
  unsigned jlen;
  /* done queue (workers, streams -> event thread) */
  pthread_mutex_t dmu;
  conn *dhead, *dtail;
  /* counters */
  atomic_uint_fast64_t accepted, refused, timed_out, requests;
};

static uint64_t now_ms(void) { return ag_mono_ms(); }

/* ---- per-address counts ------------------------------------------------------------------- */

static size_t ip_hash(const ag_http_server *s, const uint8_t a[16]) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < 16; i++) h = (h ^ a[i]) * 1099511628211ULL;
  return (size_t)h & (s->ip_cap - 1);
}

static struct ipslot *ip_find(ag_http_server *s, const uint8_t a[16], int create) {
  size_t i = ip_hash(s, a);
  for (;;) {
    struct ipslot *e = &s->ips[i];
    if (e->count == 0) {
      if (!create) return NULL;
      memcpy(e->addr, a, 16);
      return e;
    }
    if (!memcmp(e->addr, a, 16)) return e;
    i = (i + 1) & (s->ip_cap - 1);
  }
}

/* Removes an emptied slot, moving later entries of its cluster back (linear probing). */
static void ip_release(ag_http_server *s, const uint8_t a[16]) {
  struct ipslot *e = ip_find(s, a, 0);
  if (!e || --e->count) return;
  size_t i = (size_t)(e - s->ips), j = i;
  for (;;) {
    j = (j + 1) & (s->ip_cap - 1);
    if (s->ips[j].count == 0) break;
    size_t home = ip_hash(s, s->ips[j].addr);
    /* move j to i when its home is not in the cyclic range (i, j] */
    int move = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (move) {
      s->ips[i] = s->ips[j];
      s->ips[j].count = 0;
      i = j;
    }
  }
}

static int is_loopback(const uint8_t a[16]) {
  static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t v4pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return !memcmp(a, v6lo, 16) || (!memcmp(a, v4pre, 12) && a[12] == 127);
}

/* ---- epoll ------------------------------------------------------------------------------- */

/* Level-triggered interest; 0 takes the socket out of the set (a hung-up socket would
 * otherwise keep reporting EPOLLHUP while a handler runs). */
static void watch(conn *c, uint32_t events) {
  if (c->events == events || c->sink) return; /* in process: nothing to watch */
  struct epoll_event ev = {.events = events, .data.ptr = c};
  int op = !events ? EPOLL_CTL_DEL : !c->events ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  epoll_ctl(c->srv->epfd, op, c->fd, &ev);
  c->events = events;
}

/* ---- requests ---------------------------------------------------------------------------- */

static void req_reset(conn *c) {
  ag_buf_reset(&c->head);
  c->method = c->target = c->path = c->version = NULL;
  free(c->hdrs);
  free(c->args);
  c->hdrs = NULL;
  c->args = NULL;
  c->nhdrs = c->nargs = 0;
  c->http10 = c->keepalive = c->head_only = c->expect_continue = 0;
  c->route = NULL;
  c->path_known = 0;
  c->param_off = 0;
  c->limit = 0;
  c->chunked = 0;
  c->clen = c->got = 0;
  c->ch_state = 0;
  c->ch_left = 0;
  ag_buf_free(&c->body);
  if (c->spool_fd >= 0) close(c->spool_fd);
  c->spool_fd = -1;
  if (c->spool_path[0]) unlink(c->spool_path);
  c->spool_path[0] = 0;
  c->hashing = 0;
  c->pending_error = 0;
  ag_buf_free(&c->resp.body);
  memset(&c->resp, 0, sizeof c->resp);
  c->t_first = 0;
  c->phase_bytes = 0;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes s in place ('+' too, in query strings); -1 on a bad escape or a NUL. */
static int unescape(char *s, int plus) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '%') {
      int hi = hexval((unsigned char)r[1]), lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
      *w++ = (char)(hi << 4 | lo);
      r += 2;
    } else {
      *w++ = plus && *r == '+' ? ' ' : *r;
    }
  }
  *w = 0;
  return 0;
}

static int tchar(int ch) {
  return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static const char *find_header(const conn *c, const char *name) {
  for (size_t i = 0; i < c->nhdrs; i++)
    if (!strcasecmp(c->hdrs[i].name, name)) return c->hdrs[i].value;
  return NULL;
}

/* Whether a comma-separated header lists token (case-insensitive). */
static int header_has(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (v && *v) {
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    const char *e = v;
    while (*e && *e != ',') e++;
    const char *t = e;
    while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
    if ((size_t)(t - v) == tl && !strncasecmp(v, token, tl)) return 1;
    v = e;
  }
  return 0;
}

typedef struct {
  int status, code;
  char msg[200];
} fault;

static int bad(fault *f, int status, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(fault *f, int status, int code, const char *fmt, ...) {
  f->status = status;
  f->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
  return -1;
}

static void match_route(conn *c) {
  const ag_http_server *s = c->srv;
  for (size_t i = 0; i < s->cfg.nroutes; i++) {
    const ag_http_route *rt = &s->routes[i];
    size_t pl = strlen(rt->path);
    int prefix = rt->path[pl - 1] == '/' && pl > 1;
    int hit = prefix ? strncmp(c->path, rt->path, pl) == 0 && c->path[pl] : strcmp(c->path, rt->path) == 0;
    if (!hit) continue;
    c->path_known = 1;
    if (!strcmp(rt->method, c->method) || (!strcmp(c->method, "HEAD") && !strcmp(rt->method, "GET"))) {
      c->route = rt;
      c->param_off = prefix ? pl : strlen(c->path);
      return;
    }
  }
}

/* Parses the head held in c->head (NUL-terminated, CRLF or LF line ends). */
static int parse_head(conn *c, fault *f) {
  const ag_http_limits *l = &c->srv->lim;
  char *p = (char *)c->head.data, *end = p + c->head.len;
  char *eol = strchr(p, '\n');
  if (!eol) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed request line");
  *eol = 0;
  if (eol > p && eol[-1] == '\r') eol[-1] = 0;
  /* request line: METHOD SP target SP version */
  char *sp1 = strchr(p, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == p)
    return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed request line");
  *sp1 = *sp2 = 0;
  c->method = p;
  c->target = sp1 + 1;
  c->version = sp2 + 1;
  for (char *m = c->method; *m; m++)
    if (!tchar((unsigned char)*m)) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed method");
  if (!strcmp(c->version, "HTTP/1.1")) c->http10 = 0;
  else if (!strcmp(c->version, "HTTP/1.0")) c->http10 = 1;
  else if (!strncmp(c->version, "HTTP/", 5))
    return bad(f, 505, AG_E_HTTP_VERSION, "HTTP version '%.20s' is not supported (HTTP/1.0 and HTTP/1.1 are)", c->version);
  else return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed request line");
  size_t tl = strlen(c->target);
  if (tl > l->max_target) return bad(f, 414, AG_E_HTTP_URI_TOO_LONG, "the request target is %zu bytes; the limit is %zu", tl, l->max_target);
  /* absolute-form: keep the path and query; "http://host" and "http://host?q" have the path
   * "/", written over the authority's last byte (or the second '/'), since the target is
   * unescaped in place */
  if (!strncasecmp(c->target, "http://", 7) || !strncasecmp(c->target, "https://", 8)) {
    char *e = strstr(c->target, "//") + 2;
    e += strcspn(e, "/?");
    if (*e != '/') *--e = '/';
    c->target = e;
  }
  if (c->target[0] != '/' && strcmp(c->target, "*"))
    return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "the request target must start with '/'");
  for (char *t = c->target; *t; t++)
    if ((unsigned char)*t <= 0x20 || (unsigned char)*t == 0x7f)
      return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "the request target has a control character");
  /* header fields */
  size_t cap = 16;
  c->hdrs = ag_xmalloc(cap * sizeof *c->hdrs);
  p = eol + 1;
  while (p < end) {
    eol = strchr(p, '\n');
    if (!eol) eol = end;
    *eol = 0;
    if (eol > p && eol[-1] == '\r') eol[-1] = 0;
    if (!*p) break; /* the empty line */
    if (*p == ' ' || *p == '\t')
      return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "obsolete header line folding is not accepted");
    char *colon = strchr(p, ':');
    if (!colon || colon == p) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed header field");
    *colon = 0;
    for (char *n = p; *n; n++)
      if (!tchar((unsigned char)*n)) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed header name");
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    char *ve = v + strlen(v);
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) *--ve = 0;
    for (char *x = v; *x; x++)
      if (((unsigned char)*x < 0x20 && *x != '\t') || *x == 0x7f)
        return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "a header value has a control character");
    if (c->nhdrs == l->max_headers)
      return bad(f, 431, AG_E_HTTP_HEADERS_TOO_LARGE, "more than %u header fields", l->max_headers);
    if (c->nhdrs == cap) c->hdrs = ag_xrealloc(c->hdrs, (cap *= 2) * sizeof *c->hdrs);
    c->hdrs[c->nhdrs++] = (hdr){p, v};
    p = eol + 1;
  }
  /* path and query */
  char *q = strchr(c->target, '?');
  c->path = c->target;
  if (q) {
    *q++ = 0;
    size_t acap = 4;
    c->args = ag_xmalloc(acap * sizeof *c->args);
    while (*q) {
      char *amp = strchr(q, '&');
      if (amp) *amp = 0;
      if (*q) {
        char *eq = strchr(q, '=');
        if (eq) *eq = 0;
        if (unescape(q, 1) || (eq && unescape(eq + 1, 1)))
          return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "bad percent-escape in the query string");
        if (c->nargs == acap) c->args = ag_xrealloc(c->args, (acap *= 2) * sizeof *c->args);
        c->args[c->nargs++] = (qarg){q, eq ? eq + 1 : NULL};
      }
      if (!amp) break;
      q = amp + 1;
    }
  }
  if (unescape(c->path, 0)) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "bad percent-escape in the path");
  /* connection, body framing */
  const char *conn_h = find_header(c, "Connection");
  c->keepalive = c->http10 ? header_has(conn_h, "keep-alive") : !header_has(conn_h, "close");
  c->head_only = !strcmp(c->method, "HEAD");
  const char *te = NULL, *cl = NULL;
  for (size_t i = 0; i < c->nhdrs; i++) {
    if (!strcasecmp(c->hdrs[i].name, "Transfer-Encoding")) {
      if (te) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "Transfer-Encoding appears twice");
      te = c->hdrs[i].value;
    } else if (!strcasecmp(c->hdrs[i].name, "Content-Length")) {
      if (cl && strcmp(cl, c->hdrs[i].value))
        return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "two different Content-Length values");
      cl = c->hdrs[i].value;
    }
  }
  if (te) {
    if (cl) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "both Content-Length and Transfer-Encoding");
    if (c->http10 || strcasecmp(te, "chunked"))
      return bad(f, 501, AG_E_HTTP_BAD_REQUEST, "Transfer-Encoding '%.40s' is not supported (only chunked)", te);
    c->chunked = 1;
  } else if (cl) {
    uint64_t n = 0;
    if (!*cl || strlen(cl) > 19) return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed Content-Length");
    for (const char *d = cl; *d; d++) {
      if (*d < '0' || *d > '9') return bad(f, 400, AG_E_HTTP_BAD_REQUEST, "malformed Content-Length");
      n = n * 10 + (uint64_t)(*d - '0');
    }
    c->clen = n;
  }
  const char *expect = find_header(c, "Expect");
  if (expect) {
    if (strcasecmp(expect, "100-continue"))
      return bad(f, 417, AG_E_HTTP_BAD_REQUEST, "Expect '%.40s' is not supported", expect);
    c->expect_continue = !c->http10;
  }
  match_route(c);
  c->limit = c->route && c->route->max_body ? c->route->max_body : c->srv->cfg.max_body;
  if (!c->chunked && c->clen > c->limit)
    return bad(f, 413, AG_E_HTTP_BODY_TOO_LARGE, "the declared body of %llu bytes exceeds this endpoint's limit of %zu",
               (unsigned long long)c->clen, c->limit);
  return 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void http_date(char *out, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Status line and headers of resp into out. body_len < 0: streamed (chunked when HTTP/1.1). */
static void put_head(ag_buf *out, const conn *c, const ag_http_resp *r, int64_t body_len, int keepalive) {
  char date[64];
  http_date(date, sizeof date);
  ag_buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", r->status, reason(r->status), date);
  if (r->content_type[0]) ag_buf_printf(out, "Content-Type: %s\r\n", r->content_type);
  for (int i = 0; i < r->nheaders; i++) ag_buf_printf(out, "%s: %s\r\n", r->headers[i][0], r->headers[i][1]);
  if (body_len >= 0) ag_buf_printf(out, "Content-Length: %lld\r\n", (long long)body_len);
  else if (!c->http10) ag_buf_puts(out, "Transfer-Encoding: chunked\r\n");
  ag_buf_puts(out, keepalive ? (c->http10 ? "Connection: keep-alive\r\n\r\n" : "\r\n") : "Connection: close\r\n\r\n");
}

static void serialize(conn *c) {
  ag_http_resp *r = &c->resp;
  if (!r->status) r->status = 200;
  if (r->status == 503 || r->status == 429) {
    int has = 0;
    for (int i = 0; i < r->nheaders; i++) has |= !strcasecmp(r->headers[i][0], "Retry-After");
    if (!has) ag_http_set_header(r, "Retry-After", "1");
  }
  int keep = c->keepalive && !c->close_after;
  ag_buf_reset(&c->out);
  c->out_off = 0;
  put_head(&c->out, c, r, (int64_t)r->body.len, keep);
  if (!c->head_only && r->body.len) ag_buf_put(&c->out, r->body.data, r->body.len);
  c->close_after = !keep;
}

/* An error the server answers itself (no handler ran). The connection closes after it. */
static void answer_error(conn *c, int status, int code, const char *msg) {
  ag_buf_free(&c->resp.body);
  memset(&c->resp, 0, sizeof c->resp);
  ag_http_error(&c->resp, status, code, msg);
  c->close_after = 1;
  if (!c->method) c->http10 = 0;
  serialize(c);
  c->state = C_WRITE;
  c->t_phase = now_ms();
  c->phase_bytes = 0;
  watch(c, EPOLLOUT);
}

/* ---- the event thread --------------------------------------------------------------------- */

/* Closes a connection. Its memory lives until the end of the event batch, which may still
 * hold an event for it. */
static void conn_free(ag_http_server *s, conn *c) {
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  atomic_fetch_sub(&s->nconns, 1);
  if (c->counted_ip) ip_release(s, c->addr);
  /* leave the epoll set explicitly: close() alone does not while another process holds the
   * socket (a child between fork and exec inherits it, CLOEXEC or not), and epoll would then
   * report events for this connection after its memory is gone */
  if (c->fd >= 0) {
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->dead = 1;
  req_reset(c);
  ag_buf_free(&c->in);
  ag_buf_free(&c->out);
  ag_buf_free(&c->head);
  c->qnext = s->grave;
  s->grave = c;
}

static void bury(ag_http_server *s) {
  while (s->grave) {
    conn *c = s->grave;
    s->grave = c->qnext;
    free(c);
  }
}

/* Half-closes after an error and drains what the client still sends, so that the kernel does
 * not reset the connection (and lose our answer) over unread bytes. */
static void linger(conn *c) {
  if (!c->sink) shutdown(c->fd, SHUT_WR);
  c->state = C_LINGER;
  c->linger_until = now_ms() + LINGER_MS;
  c->lingered = 0;
  watch(c, EPOLLIN | EPOLLRDHUP);
}

static void dispatch(conn *c);
static void advance(conn *c);

/* A response is out: next request, or close. */
static void finished(conn *c) {
  ag_http_server *s = c->srv;
  if (c->close_after || atomic_load(&s->stopping)) {
    if (c->close_after && c->pending_error) linger(c);
    else conn_free(s, c);
    return;
  }
  req_reset(c);
  ag_buf_reset(&c->out);
  c->out_off = 0;
  c->state = C_HEAD;
  c->t_idle = now_ms();
  watch(c, EPOLLIN | EPOLLRDHUP);
  if (c->in.len) advance(c); /* a pipelined request */
}

static void try_write(conn *c) {
  if (c->sink) { /* in process: the caller's buffer takes it all at once */
    ag_buf_put(c->sink, c->out.data + c->out_off, c->out.len - c->out_off);
    c->phase_bytes += c->out.len - c->out_off;
    c->out_off = c->out.len;
  }
  while (c->out_off < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      c->phase_bytes += (uint64_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(c, EPOLLOUT);
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    conn_free(c->srv, c);
    return;
  }
  if (c->state == C_WRITE) finished(c);
  else { /* a 100 Continue went out while reading the body */
    ag_buf_reset(&c->out);
    c->out_off = 0;
    watch(c, EPOLLIN | EPOLLRDHUP);
  }
}

static int spool_open(conn *c) {
  ag_http_server *s = c->srv;
  if (ag_mkdirs(s->spool_dir, 0700)) return -1;
  snprintf(c->spool_path, sizeof c->spool_path, "%s/upload-XXXXXX", s->spool_dir);
  c->spool_fd = mkostemp(c->spool_path, O_CLOEXEC);
  if (c->spool_fd < 0) {
    c->spool_path[0] = 0;
    return -1;
  }
  return 0;
}

/* Takes n body bytes. */
static int body_put(conn *c, const uint8_t *p, size_t n) {
  if (c->got + n > c->limit) return -1;
  c->got += n;
  if (c->hashing) ag_hasher_update(&c->hasher, p, n);
  if (c->spool_fd >= 0) {
    while (n) {
      ssize_t w = write(c->spool_fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return -2;
      p += w;
      n -= (size_t)w;
    }
    return 0;
  }
  ag_buf_put(&c->body, p, n);
  return 0;
}

/* Consumes body bytes from c->in; 1 when the body is complete, 0 for more, -1 after an error
 * response was queued. */
static int take_body(conn *c) {
  size_t pos = 0;
  int rc = 0;
  fault f = {0};
  while (pos < c->in.len && rc == 0) {
    const uint8_t *p = c->in.data + pos;
    size_t avail = c->in.len - pos;
    if (!c->chunked) {
      size_t n = (size_t)AG_MIN((uint64_t)avail, c->clen - c->got);
      int br = body_put(c, p, n);
      if (br == -2) {
        rc = bad(&f, 507, AG_E_IO, "the server cannot store the upload");
        break;
      }
      pos += n;
      break;
    }
    if (c->ch_state == 0 || c->ch_state == 2 || c->ch_state == 3) { /* a line */
      const uint8_t *nl = memchr(p, '\n', avail);
      if (!nl) {
        if (avail > 256) rc = bad(&f, 400, AG_E_HTTP_BAD_REQUEST, "malformed chunk");
        break;
      }
      size_t ll = (size_t)(nl - p);
      if (ll && p[ll - 1] == '\r') ll--;
      pos += (size_t)(nl - p) + 1;
      if (c->ch_state == 2) {
        if (ll) rc = bad(&f, 400, AG_E_HTTP_BAD_REQUEST, "malformed chunk end");
        c->ch_state = 0;
      } else if (c->ch_state == 3) {
        if (ll == 0) {
          c->ch_state = 4; /* done */
          break;
        }
      } else {
        /* size: 1..15 hex digits, then nothing or an extension (";...") we ignore */
        uint64_t size = 0;
        size_t i = 0;
        while (i < ll && i < 16 && hexval(p[i]) >= 0) size = size << 4 | (uint64_t)hexval(p[i++]);
        if (i == 0 || i == 16 || (i < ll && p[i] != ';' && p[i] != ' ' && p[i] != '\t')) {
          rc = bad(&f, 400, AG_E_HTTP_BAD_REQUEST, "malformed chunk size");
        } else if (size > c->limit - c->got) {
          rc = bad(&f, 413, AG_E_HTTP_BODY_TOO_LARGE, "the body exceeds this endpoint's limit of %zu", c->limit);
        } else if (size == 0) {
          c->ch_state = 3;
        } else {
          c->ch_left = size;
          c->ch_state = 1;
        }
      }
    } else { /* chunk data */
      size_t n = (size_t)AG_MIN((uint64_t)avail, c->ch_left);
      int br = body_put(c, p, n);
      if (br == -1) rc = bad(&f, 413, AG_E_HTTP_BODY_TOO_LARGE, "the body exceeds this endpoint's limit of %zu", c->limit);
      else if (br == -2) rc = bad(&f, 507, AG_E_IO, "the server cannot store the upload");
      pos += n;
      c->ch_left -= n;
      if (!c->ch_left) c->ch_state = 2;
    }
  }
  /* keep what follows for the next request */
  memmove(c->in.data, c->in.data + pos, c->in.len - pos);
  c->in.len -= pos;
  if (rc) {
    c->pending_error = f.status;
    answer_error(c, f.status, f.code, f.msg);
    return -1;
  }
  c->phase_bytes = c->got;
  return c->chunked ? c->ch_state == 4 : c->got == c->clen;
}

/* The head is parsed: check what may be checked before the body, then read it or dispatch. */
static void start_body(conn *c) {
  const ag_http_route *rt = c->route;
  int has_body = c->chunked || c->clen > 0;
  if (rt && rt->admit) {
    if (c->chunked) {
      c->pending_error = 411;
      return answer_error(c, 411, AG_E_HTTP_BAD_REQUEST, "this endpoint needs a Content-Length");
    }
    ag_http_req req = {c->method, c->path, c->path + c->param_off, NULL, (size_t)c->clen, NULL, {0}, c->peer, c, c->srv->cfg.ctx};
    ag_buf_init(&c->resp.body);
    rt->admit(&req, &c->resp);
    if (c->resp.status) { /* refused before a byte of the body is read */
      c->pending_error = c->resp.status;
      c->close_after = 1;
      serialize(c);
      c->state = C_WRITE;
      c->t_phase = now_ms();
      c->phase_bytes = 0;
      return try_write(c);
    }
    if (spool_open(c)) {
      c->pending_error = 507;
      return answer_error(c, 507, AG_E_IO, "the server cannot store the upload");
    }
    if (rt->hash_domain) {
      ag_hasher_init(&c->hasher, rt->hash_domain);
      c->hashing = 1;
    }
  }
  if (!has_body) return dispatch(c);
  c->state = C_BODY;
  c->t_phase = now_ms();
  c->phase_bytes = 0;
  if (c->expect_continue && !c->in.len) {
    ag_buf_reset(&c->out);
    c->out_off = 0;
    ag_buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    try_write(c);
    if (c->state != C_BODY) return;
  }
  advance(c);
}

/* The length of the head at the front of c->in (up to its first empty line), or 0 when it is
 * not all there. */
static size_t head_len(const conn *c) {
  uint8_t *e = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
  size_t hl = e ? (size_t)(e - c->in.data) + 4 : 0;
  uint8_t *e2 = memmem(c->in.data, c->in.len, "\n\n", 2);
  if (e2 && (!e || e2 < e)) hl = (size_t)(e2 - c->in.data) + 2;
  return hl;
}

/* Processes what c->in holds, as far as the connection's state allows. */
static void advance(conn *c) {
  ag_http_server *s = c->srv;
  if (c->state == C_HEAD) {
    if (!c->in.len) return;
    if (!c->t_first) c->t_first = now_ms();
    size_t hl = head_len(c);
    if (!hl) {
      /* a request line longer than the target limit is a 414, anything else too long a 431 */
      uint8_t *nl = memchr(c->in.data, '\n', c->in.len);
      if (!nl && c->in.len > s->lim.max_target + 64) {
        c->pending_error = 414;
        return answer_error(c, 414, AG_E_HTTP_URI_TOO_LONG, "the request line is too long");
      }
      if (c->in.len > s->lim.max_head) {
        c->pending_error = 431;
        return answer_error(c, 431, AG_E_HTTP_HEADERS_TOO_LARGE, "the request head is too large");
      }
      return;
    }
    if (hl > s->lim.max_head) {
      c->pending_error = 431;
      return answer_error(c, 431, AG_E_HTTP_HEADERS_TOO_LARGE, "the request head is too large");
    }
    ag_buf_reset(&c->head);
    ag_buf_put(&c->head, c->in.data, hl);
    ag_buf_put_u8(&c->head, 0);
    c->head.len--;
    memmove(c->in.data, c->in.data + hl, c->in.len - hl);
    c->in.len -= hl;
    fault f = {0};
    if (parse_head(c, &f)) {
      c->pending_error = f.status;
      return answer_error(c, f.status, f.code, f.msg);
    }
    atomic_fetch_add(&s->requests, 1);
    return start_body(c);
  }
  if (c->state == C_BODY) {
    int done = take_body(c);
    if (done == 1) dispatch(c);
  }
}

/* A complete request goes to the workers, unless they are all taken and the queue is full. */
static void dispatch(conn *c) {
  ag_http_server *s = c->srv;
  if (c->sink) { /* in process: ag_http_serve_bytes runs the handler next, as a worker would */
    c->state = C_HANDLER;
    return;
  }
  watch(c, 0); /* before a worker can have it: the worker may re-arm it (send_here) */
  pthread_mutex_lock(&s->jmu);
  int full = s->jlen >= s->lim.max_queue || atomic_load(&s->workers_done);
  if (!full) {
    c->state = C_HANDLER;
    c->qnext = NULL;
    if (s->jtail) s->jtail->qnext = c;
    else s->jhead = c;
    s->jtail = c;
    s->jlen++;
    pthread_cond_signal(&s->jcv);
  }
  pthread_mutex_unlock(&s->jmu);
  if (full) {
    atomic_fetch_add(&s->refused, 1);
    c->pending_error = 503;
    answer_error(c, 503, AG_E_UNAVAILABLE, "the server is busy; retry shortly");
  }
}

static void *stream_main(void *arg);
static void stream_send(conn *c);

/* A worker or a stream thread handed the connection back. */
static void on_done(conn *c) {
  ag_http_server *s = c->srv;
  if (c->resume) { /* a worker read the start of the next request and left it to us */
    c->resume = 0;
    c->state = C_HEAD;
    watch(c, EPOLLIN | EPOLLRDHUP);
    return advance(c);
  }
  if (c->state == C_STREAM) { /* the stream ended: its thread has finished with the socket */
    pthread_join(c->stream_thread, NULL);
    atomic_fetch_sub(&s->nstreams, 1);
    conn_free(s, c);
    return;
  }
  if (c->resp.stream && c->sink) { /* in process: the caller's thread streams */
    c->state = C_STREAM;
    stream_send(c);
    conn_free(s, c);
    return;
  }
  if (c->resp.stream) {
    unsigned n = atomic_fetch_add(&s->nstreams, 1);
    if (n >= s->lim.max_streams || atomic_load(&s->stopping)) {
      atomic_fetch_sub(&s->nstreams, 1);
      atomic_fetch_add(&s->refused, 1);
      if (c->resp.stream_free) c->resp.stream_free(c->resp.stream_cls);
      c->resp.stream = NULL;
      char msg[120];
      snprintf(msg, sizeof msg, "this server serves at most %u streams at once; retry shortly", s->lim.max_streams);
      return answer_error(c, 503, AG_E_UNAVAILABLE, msg);
    }
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->events = 0;
    c->state = C_STREAM;
    if (pthread_create(&c->stream_thread, NULL, stream_main, c) != 0) {
      atomic_fetch_sub(&s->nstreams, 1);
      if (c->resp.stream_free) c->resp.stream_free(c->resp.stream_cls);
      conn_free(s, c);
    }
    return;
  }
  c->state = C_WRITE;
  c->t_phase = now_ms();
  c->phase_bytes = 0;
  try_write(c);
}

static void post_done(ag_http_server *s, conn *c) {
  pthread_mutex_lock(&s->dmu);
  c->qnext = NULL;
  if (s->dtail) s->dtail->qnext = c;
  else s->dhead = c;
  s->dtail = c;
  pthread_mutex_unlock(&s->dmu);
  uint64_t one = 1;
  ssize_t w = write(s->evfd, &one, sizeof one);
  (void)w;
}

static void drain_done(ag_http_server *s) {
  uint64_t v;
  ssize_t r = read(s->evfd, &v, sizeof v);
  (void)r;
  pthread_mutex_lock(&s->dmu);
  conn *c = s->dhead;
  s->dhead = s->dtail = NULL;
  pthread_mutex_unlock(&s->dmu);
  while (c) {
    conn *next = c->qnext;
    on_done(c);
    c = next;
  }
}

/* A new connection, idle in C_HEAD, on the server's list. fd is -1 in process. */
static conn *conn_new(ag_http_server *s, int fd, const uint8_t addr[16], const char *peer, int counted_ip) {
  conn *c = ag_xcalloc(1, sizeof *c);
  c->fd = fd;
  c->srv = s;
  c->spool_fd = -1;
  c->counted_ip = counted_ip;
  memcpy(c->addr, addr, 16);
  snprintf(c->peer, sizeof c->peer, "%s", peer);
  c->state = C_HEAD;
  c->t_idle = now_ms();
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  atomic_fetch_add(&s->nconns, 1);
  return c;
}

/* Refuses a connection over a limit with a short answer, without keeping it. */
static void refuse(int fd, int status, int code, const char *msg) {
  char drain[4096];
  ssize_t r = recv(fd, drain, sizeof drain, MSG_DONTWAIT);
  (void)r;
  ag_http_resp resp;
  memset(&resp, 0, sizeof resp);
  ag_buf_init(&resp.body);
  ag_http_error(&resp, status, code, msg);
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, reason(status), resp.body.len);
  ssize_t w = send(fd, head, (size_t)hl, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w == hl) w = send(fd, resp.body.data, resp.body.len, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
  ag_buf_free(&resp.body);
  shutdown(fd, SHUT_WR);
  close(fd);
}

static void on_accept(ag_http_server *s) {
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno == EMFILE || errno == ENFILE) ag_warn("http", "out of file descriptors: %s", strerror(errno));
      return;
    }
    atomic_fetch_add(&s->accepted, 1);
    uint8_t addr[16] = {0};
    char peer[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      addr[10] = addr[11] = 0xff;
      memcpy(addr + 12, &a->sin_addr, 4);
      inet_ntop(AF_INET, &a->sin_addr, peer, sizeof peer);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      memcpy(addr, &a->sin6_addr, 16);
      inet_ntop(AF_INET6, &a->sin6_addr, peer, sizeof peer);
    }
    if (atomic_load(&s->nconns) >= s->lim.max_connections || atomic_load(&s->stopping)) {
      atomic_fetch_add(&s->refused, 1);
      refuse(fd, 503, AG_E_UNAVAILABLE, "the server has too many connections; retry shortly");
      continue;
    }
    int per_ip = s->lim.max_per_ip && (s->lim.per_ip_loopback || !is_loopback(addr));
    if (per_ip) {
      struct ipslot *e = ip_find(s, addr, 1);
      if (e->count >= s->lim.max_per_ip) {
        atomic_fetch_add(&s->refused, 1);
        char msg[120];
        snprintf(msg, sizeof msg, "too many connections from %s (at most %u)", peer, s->lim.max_per_ip);
        refuse(fd, 429, AG_E_HTTP_TOO_MANY, msg);
        continue;
      }
      e->count++;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = conn_new(s, fd, addr, peer, per_ip);
    watch(c, EPOLLIN | EPOLLRDHUP);
    if (!c->events) conn_free(s, c);
  }
}

static void on_readable(conn *c) {
  uint8_t buf[READ_CHUNK];
  for (;;) {
    if (c->state == C_LINGER) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n > 0 && (c->lingered += (size_t)n) < LINGER_MAX) continue;
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      return conn_free(c->srv, c);
    }
    if (c->state != C_HEAD && c->state != C_BODY) return;
    /* never buffer much more than the state can use */
    size_t room = c->state == C_HEAD ? c->srv->lim.max_head + 1 : READ_CHUNK * 4;
    if (c->in.len >= room) return;
    size_t want = AG_MIN(sizeof buf, room - c->in.len);
    ssize_t n = recv(c->fd, buf, want, 0);
    if (n > 0) {
      ag_buf_put(&c->in, buf, (size_t)n);
      advance(c);
      return; /* advance may have freed or re-armed c; the level-triggered poll calls again */
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    return conn_free(c->srv, c); /* the client closed (or failed) before a full request */
  }
}

/* Deadlines: a head within head_timeout_ms of its first byte, an idle keep-alive connection
 * within idle_timeout_ms, bodies and responses at min_rate after the grace period. */
static void sweep(ag_http_server *s) {
  uint64_t t = now_ms();
  const ag_http_limits *l = &s->lim;
  conn *c = s->conns;
  while (c) {
    conn *next = c->next;
    int late = 0;
    switch (atomic_load(&c->state)) {
    case C_HEAD:
      if (c->t_first) late = t - c->t_first > l->head_timeout_ms;
      else if (t - c->t_idle > l->idle_timeout_ms) {
        conn_free(s, c); /* an idle keep-alive connection just closes */
        c = next;
        continue;
      }
      break;
    case C_BODY:
    case C_WRITE: {
      uint64_t el = t - c->t_phase;
      if (el > l->grace_ms) late = c->phase_bytes < (el - l->grace_ms) * (uint64_t)l->min_rate / 1000;
      break;
    }
    case C_LINGER:
      if (t > c->linger_until) {
        conn_free(s, c);
        c = next;
        continue;
      }
      break;
    default: break;
    }
    if (late) {
      atomic_fetch_add(&s->timed_out, 1);
      if (c->state == C_WRITE) conn_free(s, c); /* a client that does not read gets nothing more */
      else {
        c->pending_error = 408;
        answer_error(c, 408, AG_E_HTTP_TIMEOUT, c->state == C_HEAD
                         ? "the request head did not arrive in time"
                         : "the request body is arriving too slowly");
      }
    }
    c = next;
  }
}

/* Once the workers are gone, requests still queued are answered 503 here. */
static void drain_jobs(ag_http_server *s) {
  pthread_mutex_lock(&s->jmu);
  conn *c = s->jhead;
  s->jhead = s->jtail = NULL;
  s->jlen = 0;
  pthread_mutex_unlock(&s->jmu);
  while (c) {
    conn *next = c->qnext;
    c->state = C_HEAD; /* back from the queue */
    answer_error(c, 503, AG_E_UNAVAILABLE, "the server is stopping");
    c = next;
  }
}

static void *event_loop(void *arg) {
  ag_http_server *s = arg;
  struct epoll_event evs[256];
  uint64_t next_sweep = now_ms() + 200;
  while (!atomic_load(&s->stopping) || atomic_load(&s->nconns) > 0) {
    int n = epoll_wait(s->epfd, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &s->lfd) {
        on_accept(s);
        continue;
      }
      if (p == &s->evfd) {
        drain_done(s);
        continue;
      }
      conn *c = p;
      uint32_t e = evs[i].events;
      if (c->dead || c->state == C_HANDLER || c->state == C_STREAM) continue;
      if (e & (EPOLLERR)) {
        conn_free(s, c);
        continue;
      }
      if (e & EPOLLOUT) {
        try_write(c);
        continue;
      }
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) on_readable(c);
    }
    bury(s);
    if (now_ms() >= next_sweep) {
      sweep(s);
      next_sweep = now_ms() + 200;
    }
    if (atomic_load(&s->workers_done)) drain_jobs(s);
    if (atomic_load(&s->stopping)) {
      /* close idle and reading connections; others finish what they are doing */
      for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_HEAD || c->state == C_BODY || c->state == C_LINGER) conn_free(s, c);
        else if (c->state == C_STREAM) shutdown(c->fd, SHUT_RDWR);
      }
      if (s->lfd >= 0) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
        close(s->lfd);
        s->lfd = -1;
      }
      bury(s);
    }
  }
  bury(s);
  return NULL;
}

/* ---- workers ------------------------------------------------------------------------------ */

static void run_handler(conn *c) {
  ag_http_server *s = c->srv;
  ag_http_resp *resp = &c->resp;
  ag_buf_free(&resp->body);
  memset(resp, 0, sizeof *resp);
  ag_buf_init(&resp->body);
  resp->stream_len = -1;
  if (c->route) {
    ag_http_req req = {c->method, c->path, c->path + c->param_off,
                       c->spool_fd >= 0 ? NULL : c->body.data, (size_t)c->got,
                       c->spool_fd >= 0 ? c->spool_path : NULL, {0}, c->peer, c, s->cfg.ctx};
    if (c->hashing) ag_hasher_final(&c->hasher, req.body_hash);
    if (c->spool_fd >= 0) {
      close(c->spool_fd);
      c->spool_fd = -1;
    }
    if (!req.body && !req.body_file) req.body = (const uint8_t *)"";
    c->route->fn(&req, resp);
  } else if (c->path_known) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s is not allowed on %.100s", c->method, c->path);
    ag_http_error(resp, 405, AG_E_HTTP_METHOD, msg);
  } else {
    char msg[160];
    snprintf(msg, sizeof msg, "no endpoint %.120s", c->path);
    ag_http_error(resp, 404, AG_E_HTTP_ROUTE, msg);
  }
  if (!resp->stream) serialize(c);
}

/* ---- keep-alive on the worker ---------------------------------------------------------------
 *
 * A keep-alive client usually sends its next request within microseconds of our answer. The
 * worker that answered writes the response itself and waits for that request a moment (only
 * while no other job waits for a worker); when it arrives whole and simple it runs it too. A
 * busy connection then costs one wake-up per request, as a thread per connection would, while
 * an idle one goes back to the event thread and costs no thread at all. */

#define STICKY_WAIT_MS 1    /* how long a worker waits for its connection's next request */
#define STICKY_MAX 256      /* requests in a row before the connection goes back anyway */

/* Sends the whole response now, when the connection then stays open (no stream, keep-alive,
 * not stopping). 0, having changed nothing but how much is sent, when the event thread must
 * finish instead. */
static int send_here(conn *c) {
  ag_http_server *s = c->srv;
  if (c->resp.stream || c->close_after || atomic_load(&s->stopping)) return 0;
  while (c->out_off < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) c->out_off += (size_t)n;
    else if (!(n < 0 && errno == EINTR)) return 0;
  }
  req_reset(c);
  ag_buf_reset(&c->out);
  c->out_off = 0;
  c->t_idle = now_ms();
  return 1;
}

/* Puts an idle connection (nothing in c->in) back in the epoll set. In the set first: an event
 * that comes before the store finds C_HANDLER and is reported again (level-triggered); after
 * the store the event thread owns the connection and the worker must not touch it. */
static void give_back(conn *c) {
  watch(c, EPOLLIN | EPOLLRDHUP);
  atomic_store(&c->state, C_HEAD);
}

/* After send_here: 1 when the next request is here, whole and simple (a head, then a body of
 * Content-Length bytes already received, for a route that admits nothing first), ready for
 * the handler; 0 when nothing came and the connection went back (give_back); -1 when what came
 * is for the event thread to parse (c->in holds it: hand c back with resume set). */
static int next_here(conn *c) {
  ag_http_server *s = c->srv;
  if (!c->in.len) {
    if (__atomic_load_n(&s->jlen, __ATOMIC_RELAXED) || atomic_load(&s->stopping)) {
      give_back(c);
      return 0;
    }
    struct pollfd pf = {c->fd, POLLIN | POLLRDHUP, 0};
    if (poll(&pf, 1, STICKY_WAIT_MS) <= 0) {
      give_back(c);
      return 0;
    }
    ag_buf_reserve(&c->in, READ_CHUNK);
    ssize_t n = recv(c->fd, c->in.data, READ_CHUNK, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      give_back(c);
      return 0;
    }
    if (n <= 0) return -1; /* closed or failed: the event thread sees it and closes */
    c->in.len = (size_t)n;
  }
  c->t_first = now_ms();
  size_t hl = head_len(c);
  if (!hl || hl > s->lim.max_head) return -1;
  ag_buf_reset(&c->head);
  ag_buf_put(&c->head, c->in.data, hl);
  ag_buf_put_u8(&c->head, 0);
  c->head.len--;
  fault f = {0};
  if (parse_head(c, &f) || (c->route && c->route->admit) || c->chunked || c->expect_continue ||
      c->clen > c->in.len - hl) {
    uint64_t first = c->t_first;
    req_reset(c); /* the event thread parses it again, from c->in, and answers what it must */
    c->t_first = first;
    return -1;
  }
  body_put(c, c->in.data + hl, (size_t)c->clen); /* within the limit: parse_head checked */
  size_t used = hl + (size_t)c->clen;
  memmove(c->in.data, c->in.data + used, c->in.len - used);
  c->in.len -= used;
  atomic_fetch_add(&s->requests, 1);
  return 1;
}

static void *worker_main(void *arg) {
  ag_http_server *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->jmu);
    while (!s->jhead && !atomic_load(&s->stopping)) pthread_cond_wait(&s->jcv, &s->jmu);
    conn *c = s->jhead;
    if (c) {
      s->jhead = c->qnext;
      if (!s->jhead) s->jtail = NULL;
      s->jlen--;
    }
    pthread_mutex_unlock(&s->jmu);
    if (!c) return NULL; /* stopping, and nothing left */
    run_handler(c);
    for (int k = 0;; k++) {
      if (!send_here(c)) {
        post_done(s, c);
        break;
      }
      int r = k < STICKY_MAX ? next_here(c) : c->in.len ? -1 : (give_back(c), 0);
      if (r == 1) {
        run_handler(c);
        continue;
      }
      if (r < 0) {
        c->resume = 1;
        post_done(s, c);
      }
      break;
    }
  }
}

/* ---- streams ------------------------------------------------------------------------------ */

static int send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1; /* includes the SO_SNDTIMEO stall */
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Sends on the stream's socket (blocking, up to the stall timeout), or in process appends to
 * the caller's buffer. */
static int emit(conn *c, const void *p, size_t n) {
  if (c->sink) {
    ag_buf_put(c->sink, p, n);
    return 0;
  }
  return send_all(c->fd, p, n);
}

/* The head and body of a streamed response, until the stream ends, the client stops reading
 * or the server stops. In process, where no client hangs up, a stream of unknown length (an
 * event stream, which waits for news) ends after its head, and a stream of known length (a
 * file) when it has nothing ready. */
static void stream_send(conn *c) {
  ag_http_server *s = c->srv;
  ag_http_resp *r = &c->resp;
  if (!r->status) r->status = 200;
  int chunked = r->stream_len < 0 && !c->http10;
  ag_buf out;
  ag_buf_init(&out);
  put_head(&out, c, r, r->stream_len, 0);
  int ok = emit(c, out.data, out.len) == 0;
  char *buf = ag_xmalloc(16384 + 32);
  int64_t sent = 0;
  while (ok && !c->head_only && !atomic_load(&s->stopping) && !(c->sink && r->stream_len < 0)) {
    ssize_t n = r->stream(r->stream_cls, buf + 16, 16384);
    if (n < 0) break;
    if (n == 0) {
      if (c->sink) break;
      ag_sleep_ms(10);
      continue;
    }
    if (r->stream_len >= 0 && sent + n > r->stream_len) n = (ssize_t)(r->stream_len - sent);
    sent += n;
    if (chunked) {
      char hx[16];
      int hl = snprintf(hx, sizeof hx, "%zx\r\n", (size_t)n);
      memcpy(buf + 16 - hl, hx, (size_t)hl);
      memcpy(buf + 16 + n, "\r\n", 2);
      ok = emit(c, buf + 16 - hl, (size_t)hl + (size_t)n + 2) == 0;
    } else {
      ok = emit(c, buf + 16, (size_t)n) == 0;
    }
    if (r->stream_len >= 0 && sent >= r->stream_len) break;
  }
  if (ok && chunked && !c->head_only) emit(c, "0\r\n\r\n", 5);
  free(buf);
  ag_buf_free(&out);
  if (r->stream_free) r->stream_free(r->stream_cls);
  r->stream = NULL;
}

static void *stream_main(void *arg) {
  conn *c = arg;
  ag_http_server *s = c->srv;
  int fl = fcntl(c->fd, F_GETFL);
  fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
  struct timeval tv = {(time_t)(s->lim.stall_ms / 1000), (suseconds_t)(s->lim.stall_ms % 1000) * 1000};
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  stream_send(c);
  shutdown(c->fd, SHUT_RDWR);
  post_done(s, c);
  return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

/* Lets the process hold as many sockets as the connection limit needs. */
static void raise_nofile(unsigned want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl)) return;
  rlim_t need = (rlim_t)want + 256;
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* What a server takes from its configuration (s zeroed): the routes, the limits, the spool. */
static void server_init(ag_http_server *s, const ag_http_config *cfg) {
  s->cfg = *cfg;
  s->lfd = s->epfd = s->evfd = -1;
  if (cfg->limits) s->lim = *cfg->limits;
  else ag_http_limits_default(&s->lim);
  const char *tmp = getenv("TMPDIR");
  snprintf(s->spool_dir, sizeof s->spool_dir, "%s", cfg->spool_dir ? cfg->spool_dir : tmp && *tmp ? tmp : "/tmp");
  s->routes = ag_xcalloc(cfg->nroutes + 1, sizeof *s->routes);
  if (cfg->nroutes) memcpy(s->routes, cfg->routes, cfg->nroutes * sizeof *s->routes);
}

int ag_http_start(const ag_http_config *cfg, ag_http_server **out) {
  *out = NULL;
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
  server_init(s, cfg);
  s->ip_cap = 64;
  while (s->ip_cap < 2 * (size_t)s->lim.max_connections) s->ip_cap *= 2;
  s->ips = ag_xcalloc(s->ip_cap, sizeof *s->ips);
  pthread_mutex_init(&s->jmu, NULL);
  pthread_cond_init(&s->jcv, NULL);
  pthread_mutex_init(&s->dmu, NULL);
  raise_nofile(s->lim.max_connections);
  /* SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; unlike
   * SO_REUSEPORT it never lets two listeners share a port */
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)) {
    rc = ag_fail(AG_E_IO, "socket: %s", strerror(errno));
    goto fail;
  }
  if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa)) {
    int e = errno;
    rc = e == EADDRINUSE ? ag_fail(AG_E_ADDR_IN_USE, "cannot listen on %s: the address is already in use (another node or neuron?)", cfg->listen)
                         : ag_fail(AG_E_IO, "cannot listen on %s: %s", cfg->listen, strerror(e));
    goto fail;
  }
  if (listen(s->lfd, 1024)) {
    rc = ag_fail(AG_E_IO, "listen on %s: %s", cfg->listen, strerror(errno));
    goto fail;
  }
  struct sockaddr_in bound;
  socklen_t bl = sizeof bound;
  getsockname(s->lfd, (struct sockaddr *)&bound, &bl);
  s->port = ntohs(bound.sin_port);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epfd < 0 || s->evfd < 0) {
    rc = ag_fail(AG_E_IO, "epoll: %s", strerror(errno));
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
  epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev);
  ev.data.ptr = &s->evfd;
  epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev);
  s->nworkers = s->lim.workers;
  s->workers = ag_xcalloc(s->nworkers, sizeof *s->workers);
  for (unsigned i = 0; i < s->nworkers; i++) pthread_create(&s->workers[i], NULL, worker_main, s);
  pthread_create(&s->loop_thread, NULL, event_loop, s);
  *out = s;
  return 0;
fail:
  if (s->lfd >= 0) close(s->lfd);
  if (s->epfd >= 0) close(s->epfd);
  if (s->evfd >= 0) close(s->evfd);
  free(s->routes);
  free(s->ips);
  free(s);
  return rc;
}

uint16_t ag_http_port(const ag_http_server *s) { return s->port; }

void ag_http_stats_get(ag_http_server *s, ag_http_stats *out) {
  out->connections = atomic_load(&s->nconns);
  out->streams = atomic_load(&s->nstreams);
  out->accepted_total = atomic_load(&s->accepted);
  out->refused_total = atomic_load(&s->refused);
  out->timed_out_total = atomic_load(&s->timed_out);
  out->requests_total = atomic_load(&s->requests);
}

void ag_http_stop(ag_http_server *s) {
  if (!s) return;
  atomic_store(&s->stopping, 1);
  pthread_mutex_lock(&s->jmu);
  pthread_cond_broadcast(&s->jcv);
  pthread_mutex_unlock(&s->jmu);
  /* workers finish the queue and the handlers they hold (which may block), then leave; what
   * the event thread queues after that it answers itself (drain_jobs) */
  for (unsigned i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
  atomic_store(&s->workers_done, 1);
  uint64_t one = 1;
  ssize_t w = write(s->evfd, &one, sizeof one);
  (void)w;
  pthread_join(s->loop_thread, NULL);
  close(s->epfd);
  close(s->evfd);
  if (s->lfd >= 0) close(s->lfd);
  pthread_mutex_destroy(&s->jmu);
  pthread_cond_destroy(&s->jcv);
  pthread_mutex_destroy(&s->dmu);
  free(s->workers);
  free(s->routes);
  free(s->ips);
  free(s);
}

/* ---- in process ---------------------------------------------------------------------------- */

int ag_http_serve_bytes(const ag_http_config *cfg, const uint8_t *in, size_t n, ag_buf *out) {
  ag_http_server s;
  memset(&s, 0, sizeof s);
  server_init(&s, cfg);
  static const uint8_t loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  conn *c = conn_new(&s, -1, loopback, "127.0.0.1", 0);
  c->sink = out;
  ag_buf_put(&c->in, in, n);
  int handled = 0;
  advance(c);
  /* what the event loop and a worker would do next, until the connection waits for bytes
   * that will not come (the client has sent everything) or closes */
  while (!c->dead) {
    if (c->state == C_HANDLER) {
      handled += c->route != NULL;
      run_handler(c);
      on_done(c); /* writes, then reads the next pipelined request, if any */
    } else if (c->state == C_WRITE) {
      try_write(c); /* an answer the server gave itself */
    } else {
      break; /* C_HEAD or C_BODY short of bytes, or C_LINGER after an error */
    }
  }
  if (!c->dead) conn_free(&s, c);
  bury(&s);
  free(s.routes);
  return handled;
}

/* ---- request accessors --------------------------------------------------------------------- */

const char *ag_http_query(const ag_http_req *r, const char *key) {
  const conn *c = r->conn;
  if (!c) return NULL;
  for (size_t i = 0; i < c->nargs; i++)
    if (!strcmp(c->args[i].key, key)) return c->args[i].value ? c->args[i].value : "";
  return NULL;
}

const char *ag_http_header(const ag_http_req *r, const char *key) {
  return r->conn ? find_header(r->conn, key) : NULL;
}

int ag_http_query_bool(const ag_http_req *r, const char *key) {
  const char *v = ag_http_query(r, key);
  if (!v) return 0;
  return !strcmp(v, "") || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") ||
         !strcmp(v, "on");
}

int ag_http_query_u64(const ag_http_req *r, const char *key, uint64_t lo, uint64_t hi, uint64_t dflt, uint64_t *out) {
  const char *v = ag_http_query(r, key);
  *out = dflt;
  if (!v) return 0;
  if (ag_parse_u64(v, out) || *out < lo || *out > hi)
    return ag_fail(AG_E_INVALID, "%s is %llu to %llu", key, (unsigned long long)lo, (unsigned long long)hi);
  return 0;
}

int ag_http_bearer_matches(const char *authorization, const char *key) {
  int scheme = authorization && !strncasecmp(authorization, "Bearer ", 7);
  const char *given = scheme ? authorization + 7 : "";
  uint8_t a[AG_HASH_LEN], b[AG_HASH_LEN];
  ag_hash("agora/bearer", given, strlen(given), a);
  ag_hash("agora/bearer", key, strlen(key), b);
  int same = sodium_memcmp(a, b, sizeof a) == 0;
  return same & scheme & (key[0] != 0);
}

/* ---- client ---------------------------------------------------------------------------- */

/* One keep-alive connection per thread, cleaned up when the thread ends. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;

static void curl_free_handle(void *h) { curl_easy_cleanup(h); }

static void curl_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  pthread_key_create(&curl_key, curl_free_handle);
}

static CURL *thread_handle(void) {
  pthread_once(&curl_once, curl_init_once);
  CURL *c = pthread_getspecific(curl_key);
  if (!c) {
    c = curl_easy_init();
    if (c) pthread_setspecific(curl_key, c);
  }
  if (c) curl_easy_reset(c);
  return c;
}

typedef struct {
  ag_buf *buf;
  FILE *f;
  size_t max, got;
  int over;
} sink;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  sink *s = ud;
  size_t n = size * nmemb;
  if (s->got + n > s->max) {
    s->over = 1;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  s->got += n;
  if (s->f) return fwrite(p, 1, n, s->f);
  ag_buf_put(s->buf, p, n);
  return n;
}

/* AG_HTTP_PUBLIC_ONLY: curl resolves the host and asks here for each socket it would connect;
 * an address inside someone's network gets none, so the check is on the very address the
 * request would have gone to (a DNS answer that changes between two lookups cannot slip by). */
typedef struct {
  int refused, opened;          /* sockets refused, and opened for public addresses */
  char addr[INET6_ADDRSTRLEN]; /* the first address refused */
} public_only;

static curl_socket_t open_public(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  public_only *po = ud;
  const uint8_t *ip = NULL;
  size_t len = 0;
  if (a->family == AF_INET) ip = (const uint8_t *)&((const struct sockaddr_in *)&a->addr)->sin_addr, len = 4;
  else if (a->family == AF_INET6) ip = (const uint8_t *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr, len = 16;
  if (purpose != CURLSOCKTYPE_IPCXN || !ip || ag_endpoint_addr_private(ip, len)) {
    po->refused = 1;
    if (ip && !po->addr[0]) inet_ntop(a->family, ip, po->addr, sizeof po->addr); /* the first refused */
    return CURL_SOCKET_BAD;
  }
  int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  po->opened += fd >= 0;
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* Sets up the check for AG_HTTP_PUBLIC_ONLY; such a request goes direct, never through a proxy
 * named in the environment, whose own address is what the check would otherwise see. */
static void public_opts(CURL *c, int flags, public_only *po) {
  memset(po, 0, sizeof *po);
  if (!(flags & AG_HTTP_PUBLIC_ONLY)) return;
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_public);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, po);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
}

static int public_fail(const char *url, const public_only *po) {
  return ag_fail(AG_E_BAD_ENDPOINT,
                 "%s: its host resolves to %s, a loopback, private, link-local or reserved address; this chain's endpoints must be public",
                 url, po->addr[0] ? po->addr : "an address that is not IPv4 or IPv6");
}

static void common_opts(CURL *c, const char *url, const char *method, int timeout_ms) {
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 5000 ? timeout_ms : 5000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  /* our URLs are http; a redirect elsewhere is not followed */
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

static int curl_fail(CURLcode cc, const char *url, int timeout_ms, const sink *s) {
  if (s->over)
    return ag_fail(AG_E_TOO_LARGE, "%s: the response exceeds %zu bytes", url, s->max);
  if (cc == CURLE_OPERATION_TIMEDOUT) return ag_fail(AG_E_TIMEOUT, "%s: no answer within %d ms", url, timeout_ms);
  if (cc == CURLE_FILESIZE_EXCEEDED) return ag_fail(AG_E_TOO_LARGE, "%s: the response exceeds %zu bytes", url, s->max);
  return ag_fail(AG_E_CONNECT, "%s: %s", url, curl_easy_strerror(cc));
}

int ag_http_request_max(const char *method, const char *url, const char *content_type,
                        const void *body, size_t len, int timeout_ms, size_t max_body,
                        const char *const *headers, int flags, ag_http_result *out) {
  memset(out, 0, sizeof *out);
  ag_buf_init(&out->body);
  CURL *c = thread_handle();
  if (!c) return ag_fail(AG_E_NOMEM, "curl_easy_init failed");
  sink s = {&out->body, NULL, max_body, 0, 0};
  public_only po;
  common_opts(c, url, method, timeout_ms);
  public_opts(c, flags, &po);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
  struct curl_slist *hdrs = NULL;
  char ct[160];
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/octet-stream");
    hdrs = curl_slist_append(hdrs, ct);
    hdrs = curl_slist_append(hdrs, "Expect:");
  }
  for (size_t i = 0; headers && headers[i]; i++) hdrs = curl_slist_append(hdrs, headers[i]);
  if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  CURLcode cc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  if (cc != CURLE_OK) {
    ag_buf_free(&out->body);
    return po.refused && !po.opened ? public_fail(url, &po) : curl_fail(cc, url, timeout_ms, &s);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  char *ctype = NULL;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
  if (ctype) snprintf(out->content_type, sizeof out->content_type, "%s", ctype);
  ag_buf_cstr(&out->body);
  return 0;
}

int ag_http_request(const char *method, const char *url, const char *content_type,
                    const void *body, size_t len, int timeout_ms, ag_http_result *out) {
  return ag_http_request_max(method, url, content_type, body, len, timeout_ms, AG_HTTP_CLIENT_MAX, NULL, 0, out);
}

int ag_http_download(const char *url, const char *path, uint64_t max_bytes, int timeout_ms, int flags,
                     long *status) {
  *status = 0;
  CURL *c = thread_handle();
  if (!c) return ag_fail(AG_E_NOMEM, "curl_easy_init failed");
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.part-XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return ag_fail(AG_E_IO, "%s: %s", tmp, strerror(errno));
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    return ag_fail(AG_E_IO, "%s: %s", tmp, strerror(errno));
  }
  sink s = {NULL, f, (size_t)max_bytes, 0, 0};
  public_only po;
  common_opts(c, url, "GET", timeout_ms);
  public_opts(c, flags, &po);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
  CURLcode cc = curl_easy_perform(c);
  int rc = 0;
  if (cc != CURLE_OK) rc = po.refused && !po.opened ? public_fail(url, &po) : curl_fail(cc, url, timeout_ms, &s);
  if (!rc) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (*status != 200) rc = ag_fail(AG_E_HTTP_STATUS, "%s: HTTP %ld", url, *status);
  }
  if (fflush(f) || fsync(fileno(f))) rc = rc ? rc : ag_fail(AG_E_IO, "%s: %s", tmp, strerror(errno));
  fclose(f);
  if (!rc && rename(tmp, path)) rc = ag_fail(AG_E_IO, "%s: %s", path, strerror(errno));
  if (rc) unlink(tmp);
  return rc;
}

int ag_http_post_file(const char *url, const char *path, const char *content_type, int timeout_ms,
                      ag_http_result *out) {
  memset(out, 0, sizeof *out);
  ag_buf_init(&out->body);
  FILE *f = fopen(path, "rb");
  if (!f) return ag_fail(AG_E_IO, "%s: %s", path, strerror(errno));
  struct stat st;
  fstat(fileno(f), &st);
  CURL *c = thread_handle();
  if (!c) {
    fclose(f);
    return ag_fail(AG_E_NOMEM, "curl_easy_init failed");
  }
  sink s = {&out->body, NULL, AG_HTTP_CLIENT_MAX, 0, 0};
  common_opts(c, url, "POST", timeout_ms);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
  curl_easy_setopt(c, CURLOPT_READDATA, f);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  char ct[160];
  snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/octet-stream");
  struct curl_slist *hdrs = curl_slist_append(NULL, ct);
  hdrs = curl_slist_append(hdrs, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  CURLcode cc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  fclose(f);
  if (cc != CURLE_OK) {
    ag_buf_free(&out->body);
    return curl_fail(cc, url, timeout_ms, &s);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
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
