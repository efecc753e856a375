#define _GNU_SOURCE /* strcasestr */
/* test_http.c — the HTTP server under the attacks an outside tester plays (slow heads and
 * bodies, floods of idle and streaming connections, oversized declarations, malformed
 * requests), with raw sockets so that nothing is hidden by a client library; and the client's
 * caps on what it downloads. */
#include "api/http.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "api/models.h"
#include "chain/tx.h"
#include "incentive/endpoint.h"
#include "subnets/netclient.h"
#include "subnets/neuron.h"
#include "test.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the server under test ----------------------------------------------------------------- */

static atomic_int stream_stop;

static void h_ok(ag_http_req *req, ag_http_resp *resp) {
  ag_http_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void h_echo(ag_http_req *req, ag_http_resp *resp) {
  uint8_t h[32];
  ag_hash("test/echo", req->body, req->body_len, h);
  char hex[65];
  ag_hex_encode(h, 32, hex);
  ag_http_json(resp, 200, json_pack("{s:I, s:s, s:s%}", "len", (json_int_t)req->body_len, "hash", hex,
                                    "body", req->body, req->body_len < 64 ? req->body_len : 0));
}

static void h_slow(ag_http_req *req, ag_http_resp *resp) {
  ag_sleep_ms(300);
  ag_http_json(resp, 200, json_pack("{s:b}", "slow", 1));
}

static void h_big(ag_http_req *req, ag_http_resp *resp) {
  resp->status = 200;
  for (int i = 0; i < 100000; i++) ag_buf_put_u8(&resp->body, 'x');
}

static void h_query(ag_http_req *req, ag_http_resp *resp) {
  const char *a = ag_http_query(req, "a"), *b = ag_http_query(req, "b"), *x = ag_http_header(req, "x-thing");
  ag_http_json(resp, 200, json_pack("{s:s?, s:s?, s:b, s:b, s:s?, s:s}", "a", a, "b", b, "flag",
                                    ag_http_query_bool(req, "flag"), "nope", ag_http_query_bool(req, "nope"),
                                    "x", x, "path", req->path));
}

typedef struct {
  int left;
} sstate;

static ssize_t s_read(void *cls, char *buf, size_t max) {
  sstate *s = cls;
  if (s->left < 0) { /* forever: until the test lets go */
    if (atomic_load(&stream_stop)) return -1;
    ag_sleep_ms(5);
    return 0;
  }
  if (s->left == 0) return -1;
  s->left--;
  return snprintf(buf, max, "data: %d\n\n", s->left);
}

static void s_free(void *cls) { free(cls); }

static void h_stream(ag_http_req *req, ag_http_resp *resp) {
  sstate *s = ag_xcalloc(1, sizeof *s);
  s->left = ag_http_query(req, "forever") ? -1 : 3;
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
  resp->stream = s_read;
  resp->stream_cls = s;
  resp->stream_free = s_free;
}

/* uploads: admitted on the headers alone, spooled to a file, hashed */
static void up_admit(ag_http_req *req, ag_http_resp *resp) {
  if (ag_http_query(req, "deny")) return ag_http_error(resp, 403, AG_E_PERM, "not this one");
  if (req->body_len > 100000) return ag_http_error(resp, 413, AG_E_HTTP_BODY_TOO_LARGE, "too big for us");
}

static void up_done(ag_http_req *req, ag_http_resp *resp) {
  struct stat st;
  int ok = req->body_file && stat(req->body_file, &st) == 0;
  char hex[65];
  ag_hex_encode(req->body_hash, 32, hex);
  ag_http_json(resp, 201, json_pack("{s:b, s:I, s:s, s:b}", "spooled", ok, "size", (json_int_t)(ok ? st.st_size : -1),
                                    "hash", hex, "in_memory", req->body != NULL));
}

static const ag_http_route routes[] = {
    {"GET", "/ok", h_ok, 0},
    {"POST", "/echo", h_echo, 1024},
    {"GET", "/slow", h_slow, 0},
    {"GET", "/big", h_big, 0},
    {"GET", "/q", h_query, 0},
    {"GET", "/stream", h_stream, 0},
    {"POST", "/upload", up_done, 1 << 20, up_admit, "test/upload"},
};

static ag_http_server *srv;
static uint16_t port;

static void start(const ag_http_limits *l) {
  static char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:0");
  ag_http_config cfg = {listen, 4096, routes, AG_ARRAY_LEN(routes), NULL, l, NULL};
  int rc = ag_http_start(&cfg, &srv);
  CHECK_OK(rc);
  port = rc ? 0 : ag_http_port(srv);
  atomic_store(&stream_stop, 0);
}

static void stop(void) {
  atomic_store(&stream_stop, 1);
  ag_http_stop(srv);
  srv = NULL;
}

/* ---- a raw client ------------------------------------------------------------------------- */

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void put(int fd, const char *s) {
  ssize_t w = send(fd, s, strlen(s), MSG_NOSIGNAL);
  (void)w;
}

/* Reads until the peer closes, a whole response (head + Content-Length) arrived, or ms pass. */
static void recv_resp(int fd, ag_buf *out, int ms) {
  ag_buf_reset(out);
  uint64_t end = ag_mono_ms() + (uint64_t)ms;
  for (;;) {
    uint64_t t = ag_mono_ms();
    if (t >= end) return;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(end - t)) <= 0) return;
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    ag_buf_put(out, buf, (size_t)n);
    ag_buf_cstr(out);
    const char *he = strstr((const char *)out->data, "\r\n\r\n");
    const char *cl = strcasestr((const char *)out->data, "Content-Length: ");
    if (he && cl && cl < he) {
      size_t want = (size_t)(he + 4 - (const char *)out->data) + strtoull(cl + 16, NULL, 10);
      if (out->len >= want) return;
    }
  }
}

/* Reads an interim "100 Continue" head (no body, no Content-Length); 1 when it came whole. */
static int recv_interim(int fd, ag_buf *out, int ms) {
  ag_buf_reset(out);
  uint64_t end = ag_mono_ms() + (uint64_t)ms;
  while (ag_mono_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char c;
    if (recv(fd, &c, 1, 0) != 1) return 0; /* byte by byte: never into the next response */
    ag_buf_put(out, &c, 1);
    ag_buf_cstr(out);
    if (strstr((const char *)out->data, "\r\n\r\n")) return strstr((const char *)out->data, " 100 ") != NULL;
  }
  return 0;
}

static int status_of(const ag_buf *b) {
  if (b->len < 12 || strncmp((const char *)b->data, "HTTP/1.1 ", 9)) return -1;
  return atoi((const char *)b->data + 9);
}

/* The JSON error code of a response, or "" */
static const char *err_code(const ag_buf *b, char *out, size_t cap) {
  out[0] = 0;
  const char *body = b->data ? strstr((const char *)b->data, "\r\n\r\n") : NULL;
  json_t *j = body ? json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
  const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  if (c && m) snprintf(out, cap, "%s", c);
  json_decref(j);
  return out;
}

/* One request on a fresh connection: status, with the error code in code (when JSON). */
static int ask(const char *raw, char *code, size_t cap, ag_buf *keep) {
  int fd = dial();
  if (fd < 0) return -1;
  put(fd, raw);
  ag_buf b;
  ag_buf_init(&b);
  recv_resp(fd, &b, 5000);
  close(fd);
  int st = status_of(&b);
  if (code) err_code(&b, code, cap);
  if (keep) {
    ag_buf_reset(keep);
    if (b.len) ag_buf_put(keep, b.data, b.len);
    ag_buf_cstr(keep);
  }
  ag_buf_free(&b);
  return st;
}

static int closed_within(int fd, int ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)ms;
  while (ag_mono_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) return 1;
    }
  }
  return 0;
}

static int health_ok(void) {
  char code[64];
  return ask("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", code, sizeof code, NULL) == 200;
}

/* ---- tests -------------------------------------------------------------------------------- */

TEST(requests_keepalive_pipelining_head_and_errors_are_json) {
  start(NULL);
  int fd = dial();
  CHECK(fd >= 0);
  ag_buf b;
  ag_buf_init(&b);
  put(fd, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  recv_resp(fd, &b, 3000);
  CHECK_EQ(status_of(&b), 200);
  put(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  recv_resp(fd, &b, 3000);
  CHECK_EQ(status_of(&b), 200);
  CHECK(strstr((const char *)b.data, "\"body\":\"hello\"") != NULL);
  /* two requests in one write: two answers, in order */
  put(fd, "GET /q?a=1 HTTP/1.1\r\n\r\nGET /q?a=2 HTTP/1.1\r\nConnection: close\r\n\r\n");
  ag_buf all;
  ag_buf_init(&all);
  uint64_t end = ag_mono_ms() + 3000;
  while (ag_mono_ms() < end) {
    recv_resp(fd, &b, 500);
    if (b.len) ag_buf_put(&all, b.data, b.len);
    ag_buf_cstr(&all);
    if (strstr((const char *)all.data, "\"a\":\"2\"")) break;
  }
  const char *first = strstr((const char *)all.data, "\"a\":\"1\""), *second = strstr((const char *)all.data, "\"a\":\"2\"");
  CHECK(first && second && first < second);
  CHECK(closed_within(fd, 2000)); /* Connection: close was honoured */
  close(fd);
  char code[64];
  /* HEAD: the head of GET, no body */
  CHECK_EQ(ask("HEAD /ok HTTP/1.1\r\n\r\n", NULL, 0, &b), 200);
  CHECK(strstr((const char *)b.data, "Content-Length: 12") != NULL);
  CHECK(strstr((const char *)b.data, "\r\n\r\n")[4] == 0);
  /* the library's own refusals, each the documented JSON error */
  CHECK_EQ(ask("GET /nope HTTP/1.1\r\n\r\n", code, sizeof code, NULL), 404);
  CHECK_STR(code, "no_such_route");
  CHECK_EQ(ask("DELETE /ok HTTP/1.1\r\n\r\n", code, sizeof code, NULL), 405);
  CHECK_STR(code, "method_not_allowed");
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", code, sizeof code, NULL), 400);
  CHECK_STR(code, "bad_request");
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", code, sizeof code, NULL), 400);
  CHECK_EQ(ask("GET /ok HTTP/2.0\r\n\r\n", code, sizeof code, NULL), 505);
  CHECK_STR(code, "http_version_not_supported");
  CHECK_EQ(ask("GARBAGE\r\n\r\n", code, sizeof code, NULL), 400);
  CHECK_STR(code, "bad_request");
  CHECK_EQ(ask("GET /ok HTTP/1.1\r\n folded: line\r\n\r\n", code, sizeof code, NULL), 400);
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", code, sizeof code, NULL), 501);
  CHECK_STR(code, "bad_request");
  ag_buf req;
  ag_buf_init(&req);
  ag_buf_puts(&req, "GET /ok?");
  for (int i = 0; i < 9000; i++) ag_buf_put_u8(&req, 'a');
  ag_buf_puts(&req, " HTTP/1.1\r\n\r\n");
  ag_buf_cstr(&req);
  CHECK_EQ(ask((const char *)req.data, code, sizeof code, NULL), 414);
  CHECK_STR(code, "uri_too_long");
  ag_buf_reset(&req);
  ag_buf_puts(&req, "GET /ok HTTP/1.1\r\n");
  for (int i = 0; i < 150; i++) ag_buf_printf(&req, "X-H%d: v\r\n", i);
  ag_buf_puts(&req, "\r\n");
  ag_buf_cstr(&req);
  CHECK_EQ(ask((const char *)req.data, code, sizeof code, NULL), 431);
  CHECK_STR(code, "headers_too_large");
  ag_buf_reset(&req);
  ag_buf_puts(&req, "GET /ok HTTP/1.1\r\nX-Big: ");
  for (int i = 0; i < 40000; i++) ag_buf_put_u8(&req, 'b');
  ag_buf_puts(&req, "\r\n\r\n");
  ag_buf_cstr(&req);
  CHECK_EQ(ask((const char *)req.data, code, sizeof code, NULL), 431);
  /* a message quoting bytes that are not UTF-8 keeps its text */
  CHECK_EQ(ask("GET /x%ff%fe HTTP/1.1\r\n\r\n", code, sizeof code, &b), 404);
  CHECK_STR(code, "no_such_route");
  CHECK(strstr((const char *)b.data, "\"message\":\"no endpoint /x\\ufffd\\ufffd\"") ||
        strstr((const char *)b.data, "no endpoint /x\xef\xbf\xbd\xef\xbf\xbd"));
  /* absolute-form targets; without a path, the path is "/" (this one used to crash the server:
   * the path pointed at a string constant, which unescaping wrote to) */
  CHECK_EQ(ask("GET http://example.com/q?a=7 HTTP/1.1\r\n\r\n", NULL, 0, &b), 200);
  CHECK(strstr((const char *)b.data, "\"a\":\"7\"") != NULL);
  CHECK_EQ(ask("GET http://example.com HTTP/1.1\r\n\r\n", code, sizeof code, &b), 404);
  CHECK(strstr((const char *)b.data, "no endpoint /\"") != NULL);
  CHECK_EQ(ask("GET HTTP://example.com?a=1 HTTP/1.1\r\n\r\n", code, sizeof code, &b), 404);
  CHECK_EQ(ask("GET https:// HTTP/1.1\r\n\r\n", code, sizeof code, &b), 404);
  CHECK(health_ok());
  /* query strings and headers */
  CHECK_EQ(ask("GET /q?a=1&b=x%20y+z&flag HTTP/1.1\r\nX-Thing: t\r\n\r\n", NULL, 0, &b), 200);
  CHECK(strstr((const char *)b.data, "\"b\":\"x y z\"") && strstr((const char *)b.data, "\"flag\":true") &&
        strstr((const char *)b.data, "\"nope\":false") && strstr((const char *)b.data, "\"x\":\"t\""));
  ag_buf_free(&req);
  ag_buf_free(&all);
  ag_buf_free(&b);
  stop();
}

/* After each answer the worker that gave it may wait for the connection's next request and
 * take it itself, or hand what arrived back to the event thread. Requests of every shape, in
 * one write or split with pauses around that wait, follow each other on one connection: each
 * gets its own right answer. */
TEST(keepalive_requests_in_every_shape_follow_an_answer) {
  start(NULL);
  int fd = dial();
  CHECK(fd >= 0);
  ag_buf b;
  ag_buf_init(&b);
  uint64_t rng = 99;
  int wrong = 0;
  for (int i = 0; i < 300 && !wrong; i++) {
    char body[32], req[256];
    snprintf(body, sizeof body, "r%05d", i);
    int shape = (int)(test_rand(&rng) % 6), pause_us = (int)(test_rand(&rng) % 3) * 900;
    const char *want = body;
    switch (shape) {
    case 0: /* whole, in one write */
      snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\n%s", body);
      put(fd, req);
      break;
    case 1: /* the head, a pause, the body */
      put(fd, "POST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\n");
      usleep((useconds_t)pause_us);
      put(fd, body);
      break;
    case 2: /* cut inside the head */
      put(fd, "POST /echo HTTP/1.1\r\nContent-Le");
      usleep((useconds_t)pause_us);
      snprintf(req, sizeof req, "ngth: 6\r\n\r\n%s", body);
      put(fd, req);
      break;
    case 3: /* 100-continue: the body only after the interim answer */
      put(fd, "POST /echo HTTP/1.1\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n");
      if (!recv_interim(fd, &b, 3000)) wrong = 1;
      put(fd, body);
      break;
    case 4: /* a route that admits on headers, spooled */
      snprintf(req, sizeof req, "POST /upload HTTP/1.1\r\nContent-Length: 6\r\n\r\n%s", body);
      put(fd, req);
      want = "\"spooled\":true";
      break;
    default: /* two at once */
      snprintf(req, sizeof req, "GET /q?a=%s HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\n%s",
               body, body);
      put(fd, req);
      recv_resp(fd, &b, 3000);
      if (status_of(&b) != 200 || !strstr((const char *)b.data, body)) wrong = 1;
      /* the second answer may have come in the same read */
      {
        const char *second = strstr((const char *)b.data + 4, "HTTP/1.1 200");
        if (second && strstr(second, body)) continue;
      }
      break;
    }
    recv_resp(fd, &b, 3000);
    if (status_of(&b) != 200 && status_of(&b) != 201) wrong = 1;
    if (!b.data || !strstr((const char *)b.data, want)) wrong = 1;
    if (wrong) fprintf(stderr, "  request %d (shape %d, pause %d us): %s\n", i, shape, pause_us,
                       b.data ? (const char *)b.data : "(nothing)");
  }
  CHECK(!wrong);
  /* then a request the server refuses and closes on, on the same connection */
  put(fd, "POST /echo HTTP/1.1\r\nContent-Length: 99999\r\n\r\n");
  recv_resp(fd, &b, 3000);
  CHECK_EQ(status_of(&b), 413);
  CHECK(closed_within(fd, 3000));
  close(fd);
  ag_buf_free(&b);
  stop();
}

/* A declared length over the route's limit is refused at once: the client that declares ten
 * gigabytes and sends ten bytes gets its 413 without the server waiting for the rest. */
TEST(declared_length_over_the_limit_is_refused_before_the_body) {
  start(NULL);
  char code[64];
  uint64_t t0 = ag_mono_ms();
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n0123456789", code, sizeof code, NULL), 413);
  CHECK_STR(code, "body_too_large");
  CHECK(ag_mono_ms() - t0 < 4000); /* answered, not timed out by the 5 s read */
  /* Expect: 100-continue: the final refusal instead of a 100 */
  ag_buf b;
  ag_buf_init(&b);
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", code, sizeof code, &b), 413);
  /* and a 100 Continue for an acceptable one, then the answer */
  int fd = dial();
  put(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  recv_resp(fd, &b, 1000);
  CHECK(b.len && strstr((const char *)b.data, "HTTP/1.1 100 Continue") == (const char *)b.data);
  put(fd, "abc");
  recv_resp(fd, &b, 3000);
  CHECK_EQ(status_of(&b), 200);
  close(fd);
  /* chunked bodies, and their limit */
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", NULL, 0, &b), 200);
  CHECK(strstr((const char *)b.data, "\"body\":\"abcde\"") != NULL);
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n", code, sizeof code, NULL), 413);
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", code, sizeof code, NULL), 400);
  ag_buf_free(&b);
  stop();
}

/* Slow clients are timed out by their progress, not by idleness: a head that keeps trickling
 * one byte at a time still has to be complete within head_timeout_ms, and a body must keep
 * min_rate. (With an idle timeout, both connections would live as long as the client likes.) */
TEST(slow_heads_and_bodies_are_cut_by_progress) {
  ag_http_limits l;
  ag_http_limits_default(&l);
  l.head_timeout_ms = 1000;
  l.grace_ms = 500;
  l.min_rate = 1000;
  start(&l);
  int fd = dial();
  put(fd, "GET /ok HTTP/1.1\r\n");
  const char *drip = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  ag_buf b;
  ag_buf_init(&b);
  int cut = 0;
  for (int i = 0; i < 60 && !cut; i++) { /* 6 s of one byte every 100 ms */
    char one[2] = {drip[i % 60], 0};
    if (send(fd, one, 1, MSG_NOSIGNAL) != 1) cut = 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) cut = 1;
  }
  CHECK(cut);
  recv_resp(fd, &b, 1000);
  CHECK_EQ(status_of(&b), 408);
  char code[64];
  CHECK_STR(err_code(&b, code, sizeof code), "request_timeout");
  close(fd);
  /* a body at 10 bytes/s against a minimum of 1000 bytes/s */
  fd = dial();
  put(fd, "POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
  cut = 0;
  for (int i = 0; i < 60 && !cut; i++) {
    if (send(fd, "z", 1, MSG_NOSIGNAL) != 1) cut = 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) cut = 1;
  }
  CHECK(cut);
  recv_resp(fd, &b, 1000);
  CHECK_EQ(status_of(&b), 408);
  close(fd);
  CHECK(health_ok());
  ag_buf_free(&b);
  stop();
}

/* A thousand slow connections (more than libmicrohttpd's thread-per-connection limit of
 * 1000, which made every other request fail) cost the server sockets, not threads: plain
 * requests keep being answered while they hang on. */
TEST(many_slow_connections_do_not_starve_requests) {
  start(NULL);
  enum { N = 1100 };
  int *fds = ag_xcalloc(N, sizeof *fds);
  int opened = 0;
  for (int i = 0; i < N; i++) {
    fds[i] = dial();
    if (fds[i] >= 0) {
      opened++;
      put(fds[i], "GET /ok HTTP/1.1\r\nX-Slow: ");
    }
  }
  CHECK_EQ(opened, N);
  int ok = 0;
  for (int i = 0; i < 25; i++) ok += health_ok();
  CHECK_EQ(ok, 25);
  ag_http_stats st;
  ag_http_stats_get(srv, &st);
  CHECK(st.connections >= N);
  for (int i = 0; i < N; i++)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
  stop();
}

/* Over the connection limits a client gets an answer it can act on, not a silent reset: 503
 * with Retry-After when the server is full, 429 when its own address holds too many. */
TEST(connection_limits_answer_503_and_429) {
  ag_http_limits l;
  ag_http_limits_default(&l);
  l.max_connections = 20;
  start(&l);
  int fds[20];
  for (int i = 0; i < 20; i++) fds[i] = dial();
  ag_sleep_ms(200); /* let the server take them */
  ag_buf b;
  ag_buf_init(&b);
  char code[64];
  CHECK_EQ(ask("GET /ok HTTP/1.1\r\n\r\n", code, sizeof code, &b), 503);
  CHECK_STR(code, "unavailable");
  CHECK(strstr((const char *)b.data, "Retry-After: 1") != NULL);
  for (int i = 0; i < 20; i++) close(fds[i]);
  ag_sleep_ms(300);
  CHECK(health_ok());
  stop();
  ag_http_limits_default(&l);
  l.max_per_ip = 5;
  l.per_ip_loopback = 1;
  start(&l);
  for (int i = 0; i < 5; i++) fds[i] = dial();
  ag_sleep_ms(200);
  CHECK_EQ(ask("GET /ok HTTP/1.1\r\n\r\n", code, sizeof code, &b), 429);
  CHECK_STR(code, "too_many_connections");
  for (int i = 0; i < 5; i++) close(fds[i]);
  ag_sleep_ms(300);
  CHECK(health_ok());
  stop();
  /* loopback clients are exempt unless configured otherwise */
  ag_http_limits_default(&l);
  l.max_per_ip = 5;
  start(&l);
  for (int i = 0; i < 8; i++) fds[i] = dial();
  ag_sleep_ms(200);
  CHECK(health_ok());
  for (int i = 0; i < 8; i++) close(fds[i]);
  ag_buf_free(&b);
  stop();
}

/* Streams have their own cap and their own threads: a crowd of readers gets 503 past the cap
 * and never holds up ordinary requests. */
TEST(streams_are_capped_and_never_block_requests) {
  ag_http_limits l;
  ag_http_limits_default(&l);
  l.max_streams = 3;
  l.workers = 2;
  start(&l);
  ag_buf b;
  ag_buf_init(&b);
  CHECK_EQ(ask("GET /stream HTTP/1.1\r\n\r\n", NULL, 0, &b), 200);
  CHECK(strstr((const char *)b.data, "Transfer-Encoding: chunked") && strstr((const char *)b.data, "data: 0"));
  /* three streams held open, each once its headers arrived. The finite stream above may still
   * count against the cap for a moment after its client read it all: a held stream answered
   * 503 meanwhile is dialled again. */
  int held[3];
  for (int i = 0; i < 3; i++) {
    int ok200 = 0;
    for (int attempt = 0; attempt < 100 && !ok200; attempt++) {
      held[i] = dial();
      put(held[i], "GET /stream?forever=1 HTTP/1.1\r\n\r\n");
      char got[512];
      size_t have = 0;
      for (int t = 0; t < 200 && !(have >= 4 && memmem(got, have, "\r\n\r\n", 4)); t++) {
        struct pollfd pf = {held[i], POLLIN, 0};
        if (poll(&pf, 1, 50) == 1) {
          ssize_t n = recv(held[i], got + have, sizeof got - have, 0);
          if (n <= 0) break;
          have += (size_t)n;
          if (have == sizeof got) break;
        }
      }
      ok200 = have >= 12 && !memcmp(got, "HTTP/1.1 200", 12);
      if (!ok200) {
        close(held[i]);
        ag_sleep_ms(50);
      }
    }
    CHECK(ok200);
  }
  char code[64];
  CHECK_EQ(ask("GET /stream?forever=1 HTTP/1.1\r\n\r\n", code, sizeof code, &b), 503);
  CHECK_STR(code, "unavailable");
  CHECK(strstr((const char *)b.data, "Retry-After") != NULL);
  int ok = 0;
  for (int i = 0; i < 10; i++) ok += health_ok();
  CHECK_EQ(ok, 10);
  CHECK_EQ(ask("POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", NULL, 0, NULL), 200);
  for (int i = 0; i < 3; i++) close(held[i]);
  ag_buf_free(&b);
  stop(); /* with streams still running: returns */
}

/* The handler queue is bounded: past it, 503 with Retry-After, not an ever-growing backlog. */
TEST(a_full_queue_answers_503) {
  ag_http_limits l;
  ag_http_limits_default(&l);
  l.workers = 1;
  l.max_queue = 1;
  start(&l);
  int a = dial(), b2 = dial();
  put(a, "GET /slow HTTP/1.1\r\n\r\n");
  ag_sleep_ms(50);
  put(b2, "GET /slow HTTP/1.1\r\n\r\n");
  ag_sleep_ms(50);
  char code[64];
  CHECK_EQ(ask("GET /slow HTTP/1.1\r\n\r\n", code, sizeof code, NULL), 503);
  CHECK_STR(code, "unavailable");
  ag_buf b;
  ag_buf_init(&b);
  recv_resp(a, &b, 3000);
  CHECK_EQ(status_of(&b), 200);
  recv_resp(b2, &b, 3000);
  CHECK_EQ(status_of(&b), 200);
  close(a);
  close(b2);
  ag_buf_free(&b);
  stop();
}

/* Two servers never share a port: the second bind fails with a clear error. */
TEST(a_port_in_use_is_refused) {
  start(NULL);
  char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
  ag_http_config cfg = {listen, 4096, routes, AG_ARRAY_LEN(routes), NULL, NULL, NULL};
  ag_http_server *second = NULL;
  int rc = ag_http_start(&cfg, &second);
  CHECK_EQ(rc, AG_E_ADDR_IN_USE);
  CHECK(second == NULL);
  CHECK(strstr(ag_errmsg(rc), "already in use") != NULL);
  if (second) ag_http_stop(second);
  CHECK(health_ok());
  stop();
}

/* Uploads: refused on their headers before the body, else spooled to a file and hashed. */
TEST(uploads_are_admitted_on_headers_then_spooled) {
  start(NULL);
  char code[64];
  /* refused by the route's admit, though the client never sends the body */
  CHECK_EQ(ask("POST /upload?deny=1 HTTP/1.1\r\nContent-Length: 50\r\n\r\n", code, sizeof code, NULL), 403);
  CHECK_STR(code, "permission_denied");
  CHECK_EQ(ask("POST /upload HTTP/1.1\r\nContent-Length: 200000\r\n\r\n", code, sizeof code, NULL), 413);
  CHECK_EQ(ask("POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", code, sizeof code, NULL), 411);
  ag_buf req, b;
  ag_buf_init(&req);
  ag_buf_init(&b);
  ag_buf_puts(&req, "POST /upload HTTP/1.1\r\nContent-Length: 70000\r\n\r\n");
  size_t off = req.len;
  for (int i = 0; i < 70000; i++) ag_buf_put_u8(&req, (uint8_t)(i * 7));
  ag_buf_cstr(&req);
  int fd = dial();
  ssize_t w = send(fd, req.data, req.len, MSG_NOSIGNAL);
  CHECK_EQ(w, (ssize_t)req.len);
  recv_resp(fd, &b, 5000);
  close(fd);
  CHECK_EQ(status_of(&b), 201);
  uint8_t h[32];
  ag_hash("test/upload", req.data + off, 70000, h);
  char hex[65];
  ag_hex_encode(h, 32, hex);
  CHECK(strstr((const char *)b.data, hex) != NULL);
  CHECK(strstr((const char *)b.data, "\"size\":70000") && strstr((const char *)b.data, "\"in_memory\":false"));
  ag_buf_free(&req);
  ag_buf_free(&b);
  stop();
}

/* The bytes without the Date field (the only part that depends on when). */
static void undated(const ag_buf *in, ag_buf *out) {
  ag_buf_reset(out);
  for (size_t i = 0; i < in->len;) {
    const uint8_t *nl = memchr(in->data + i, '\n', in->len - i);
    size_t end = nl ? (size_t)(nl - in->data) + 1 : in->len;
    if (end - i < 6 || memcmp(in->data + i, "Date: ", 6)) ag_buf_put(out, in->data + i, end - i);
    i = end;
  }
  ag_buf_cstr(out);
}

/* ag_http_serve_bytes is the server without its socket: the same answers, byte for byte. */
TEST(in_process_serving_answers_as_a_socket_does) {
  start(NULL);
  ag_http_config cfg = {NULL, 4096, routes, AG_ARRAY_LEN(routes), NULL, NULL, NULL};
  static const char *reqs[] = {
      "GET /ok HTTP/1.1\r\n\r\n",
      "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
      "GET /q?a=1&b=x%20y+z&flag HTTP/1.1\r\nX-Thing: t\r\n\r\n",
      "HEAD /ok HTTP/1.1\r\n\r\n",
      "GET /nope HTTP/1.1\r\n\r\n",
      "DELETE /ok HTTP/1.1\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET /ok HTTP/2.0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n",
      "POST /upload?deny=1 HTTP/1.1\r\nContent-Length: 50\r\n\r\n",
      "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET /x%ff%fe HTTP/1.1\r\n\r\n",
  };
  ag_buf sock, mine, a, b;
  ag_buf_init(&sock);
  ag_buf_init(&mine);
  ag_buf_init(&a);
  ag_buf_init(&b);
  for (size_t i = 0; i < AG_ARRAY_LEN(reqs); i++) {
    CHECK(ask(reqs[i], NULL, 0, &sock) > 0);
    ag_buf_reset(&mine);
    ag_http_serve_bytes(&cfg, (const uint8_t *)reqs[i], strlen(reqs[i]), &mine);
    undated(&sock, &a);
    undated(&mine, &b);
    if (strcmp((const char *)a.data, (const char *)b.data)) {
      fprintf(stderr, "  %s--- socket:\n%s\n--- in process:\n%s\n", reqs[i], (const char *)a.data, (const char *)b.data);
      CHECK(0);
    }
  }
  /* keep-alive and pipelining: every request in turn, none after Connection: close */
  const char *two = "GET /q?a=1 HTTP/1.1\r\n\r\nGET /q?a=2 HTTP/1.1\r\nConnection: close\r\n\r\nGET /ok HTTP/1.1\r\n\r\n";
  ag_buf_reset(&mine);
  CHECK_EQ(ag_http_serve_bytes(&cfg, (const uint8_t *)two, strlen(two), &mine), 2);
  ag_buf_cstr(&mine);
  const char *first = strstr((const char *)mine.data, "\"a\":\"1\""), *second = strstr((const char *)mine.data, "\"a\":\"2\"");
  CHECK(first && second && first < second && !strstr(second, "HTTP/1.1"));
  /* a request cut short is not answered: the client has gone */
  const char *cut = "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel";
  ag_buf_reset(&mine);
  CHECK_EQ(ag_http_serve_bytes(&cfg, (const uint8_t *)cut, strlen(cut), &mine), 0);
  CHECK_EQ(mine.len, 0);
  /* an event stream is its head, then its end; the answer to HEAD ends with its head, on a
   * socket too (it used to end with a last chunk) */
  const char *ev = "GET /stream?forever=1 HTTP/1.1\r\n\r\n";
  ag_buf_reset(&mine);
  CHECK_EQ(ag_http_serve_bytes(&cfg, (const uint8_t *)ev, strlen(ev), &mine), 1);
  ag_buf_cstr(&mine);
  const char *he = strstr((const char *)mine.data, "\r\n\r\n");
  CHECK(he && !strcmp(he, "\r\n\r\n0\r\n\r\n") && strstr((const char *)mine.data, "Transfer-Encoding: chunked"));
  CHECK_EQ(ask("HEAD /stream HTTP/1.1\r\n\r\n", NULL, 0, &sock), 200);
  he = strstr((const char *)sock.data, "\r\n\r\n");
  CHECK(he && he[4] == 0);
  /* an upload is spooled and hashed as over a socket */
  ag_buf req;
  ag_buf_init(&req);
  ag_buf_puts(&req, "POST /upload HTTP/1.1\r\nContent-Length: 70000\r\n\r\n");
  size_t off = req.len;
  for (int i = 0; i < 70000; i++) ag_buf_put_u8(&req, (uint8_t)(i * 7));
  ag_buf_reset(&mine);
  CHECK_EQ(ag_http_serve_bytes(&cfg, req.data, req.len, &mine), 1);
  ag_buf_cstr(&mine);
  uint8_t h[32];
  char hex[65];
  ag_hash("test/upload", req.data + off, 70000, h);
  ag_hex_encode(h, 32, hex);
  CHECK_EQ(status_of(&mine), 201);
  CHECK(strstr((const char *)mine.data, hex) && strstr((const char *)mine.data, "\"size\":70000"));
  ag_buf_free(&req);
  ag_buf_free(&sock);
  ag_buf_free(&mine);
  ag_buf_free(&a);
  ag_buf_free(&b);
  stop();
}

/* The client caps what it downloads. */
TEST(client_caps_downloads) {
  start(NULL);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/big", port);
  ag_http_result r;
  CHECK_EQ(ag_http_request_max("GET", url, NULL, NULL, 0, 5000, 1000, NULL, 0, &r), AG_E_TOO_LARGE);
  CHECK_OK(ag_http_request_max("GET", url, NULL, NULL, 0, 5000, 200000, NULL, 0, &r));
  CHECK_EQ(r.body.len, 100000);
  ag_http_result_free(&r);
  char *dir = test_tmpdir("http");
  char path[600];
  snprintf(path, sizeof path, "%s/big", dir);
  long st;
  CHECK_EQ(ag_http_download(url, path, 5000, 5000, 0, &st), AG_E_TOO_LARGE);
  CHECK(access(path, F_OK) != 0);
  CHECK_OK(ag_http_download(url, path, 100000, 5000, 0, &st));
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && sb.st_size == 100000);
  test_rmdir(dir);
  stop();
}

/* A loopback server of these routes on a free port; NULL (the check failed) when it cannot
 * start. */
static ag_http_server *small_server(const ag_http_route *rt, size_t n) {
  ag_http_config cfg = {"127.0.0.1:0", 4096, rt, n, NULL, NULL, NULL};
  ag_http_server *s = NULL;
  CHECK_OK(ag_http_start(&cfg, &s));
  return s;
}

/* An error that quotes what the client sent, bytes that are not UTF-8 included: the miner's
 * GET /v1/models/<name> said "The model '<name>' does not exist" with json_string, which
 * returns NULL for such bytes, so the answer had no message at all (found by fuzz_miner). */
TEST(openai_errors_keep_their_message_whatever_the_bytes) {
  ag_http_resp resp;
  memset(&resp, 0, sizeof resp);
  ag_buf_init(&resp.body);
  ag_http_openai_error(&resp, 404, "invalid_request_error", "model_not_found", NULL, "The model '\xe0\xe0\xc0' does not exist");
  json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
  const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  CHECK(m != NULL);
  if (m) CHECK_STR(m, "The model '\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd' does not exist");
  json_decref(j);
  ag_buf_free(&resp.body);
}

/* A header value from someone else: the gateway relays a miner's answer id as x-request-id,
 * and a miner answered with an id holding CR LF and headers (or a whole response) of its own.
 * The server wrote the value as it was, so the miner's lines became the gateway's (response
 * splitting). Such a value is now not sent; the others are. */
static void h_relay(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  ag_http_set_header(resp, "x-request-id", "cmpl-1\r\nSet-Cookie: session=miner\r\n\r\nHTTP/1.1 200 OK");
  ag_http_set_header(resp, "x-other", "a\nb");
  ag_http_set_header(resp, "x-long", "0123456789012345678901234567890123456789012345678901234567890123456789"
                                     "0123456789012345678901234567890123456789012345678901234567890123456789"
                                     "0123456789012345678901234567890123456789012345678901234567890123456789"
                                     "0123456789012345678901234567890123456789012345678901234567890123456789");
  ag_http_set_header(resp, "x-agora-provider", "agora1abc\tdef");
  ag_http_json(resp, 200, json_pack("{s:s}", "id", "cmpl-1"));
}

TEST(a_relayed_header_value_cannot_write_headers) {
  static const ag_http_route rs[] = {{"GET", "/relay", h_relay, 0}};
  ag_http_config cfg = {NULL, 4096, rs, 1, NULL, NULL, NULL};
  const char *req = "GET /relay HTTP/1.1\r\nConnection: close\r\n\r\n";
  ag_buf out;
  ag_buf_init(&out);
  CHECK_EQ(ag_http_serve_bytes(&cfg, (const uint8_t *)req, strlen(req), &out), 1);
  ag_buf_cstr(&out);
  const char *o = (const char *)out.data;
  CHECK(strstr(o, "HTTP/1.1 200") == o);
  CHECK(strstr(o, "Set-Cookie") == NULL);
  CHECK(strstr(o + 1, "HTTP/1.1") == NULL); /* one response */
  CHECK(strstr(o, "x-request-id") == NULL && strstr(o, "x-other") == NULL && strstr(o, "x-long") == NULL);
  CHECK(strstr(o, "x-agora-provider: agora1abc\tdef\r\n") != NULL);
  CHECK(strstr(o, "{\"id\":\"cmpl-1\"}") != NULL);
  ag_buf_free(&out);
}

/* A neuron's model-file route (miners, trainers and validators serve the model they hold to
 * anyone) asked for one file by many connections at once that read nothing. It read the whole
 * file into each answer: 12 such connections made the process hold 12 copies. The file is now
 * streamed as the client takes it. */
static char *model_dir;
static void h_model(ag_http_req *req, ag_http_resp *resp) { ag_neuron_model_file(req, resp, model_dir); }

static long rss_mb(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
  if (f) fclose(f);
  return rss * sysconf(_SC_PAGESIZE) / (1 << 20);
}

TEST(a_model_file_is_streamed_however_many_ask) {
  enum { MB = 24, CONNS = 12 };
  static const ag_http_route rt[] = {{"GET", "/agora/model-files/", h_model, 0}};
  model_dir = test_tmpdir("http-models");
  uint8_t id[32];
  memset(id, 0x3c, 32);
  char path[700], hex[65], req[200];
  ag_models_path(model_dir, id, path, sizeof path);
  uint8_t *data = ag_xmalloc((size_t)MB << 20);
  for (size_t i = 0; i < (size_t)MB << 20; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
  CHECK_OK(ag_write_file_atomic(path, data, (size_t)MB << 20, 0644));
  ag_hex_encode(id, 32, hex);
  snprintf(req, sizeof req, "GET /agora/model-files/%s HTTP/1.1\r\nHost: x\r\n\r\n", hex);
  ag_http_server *s = small_server(rt, AG_ARRAY_LEN(rt));
  port = ag_http_port(s);
  long before = rss_mb();
  int fds[CONNS], heads = 0;
  for (int i = 0; i < CONNS; i++) {
    fds[i] = dial();
    put(fds[i], req);
  }
  for (int i = 0; i < CONNS; i++) { /* each answer has begun: its head and some bytes came */
    char got[4096];
    struct pollfd pf = {fds[i], POLLIN, 0};
    ssize_t n = poll(&pf, 1, 10000) == 1 ? recv(fds[i], got, sizeof got - 1, 0) : -1;
    if (n > 12 && !memcmp(got, "HTTP/1.1 200", 12)) heads++;
  }
  CHECK_EQ(heads, CONNS);
  ag_sleep_ms(200);
  long grew = rss_mb() - before;
  printf("  %d connections holding a %d MB file: the process grew by %ld MB\n", CONNS, MB, grew);
  CHECK(grew < 3 * MB); /* one copy per connection was CONNS * MB and more */
  for (int i = 0; i < CONNS; i++) close(fds[i]);
  /* and a whole download is the file */
  char url[200];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/agora/model-files/%s", port, hex);
  ag_http_result r;
  CHECK_OK(ag_http_request_max("GET", url, NULL, NULL, 0, 20000, (size_t)MB << 21, NULL, 0, &r));
  CHECK_EQ(r.status, 200);
  CHECK(r.body.len == (size_t)MB << 20 && !memcmp(r.body.data, data, r.body.len));
  ag_http_result_free(&r);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/agora/model-files/%064d", port, 0);
  CHECK_OK(ag_http_request_max("GET", url, NULL, NULL, 0, 5000, 4096, NULL, 0, &r));
  CHECK_EQ(r.status, 404);
  ag_http_result_free(&r);
  ag_http_stop(s);
  free(data);
  test_rmdir(model_dir);
}

/* Endpoints announced on a chain that accepts only public ones: the chain refuses private
 * literals and local names, but a public-looking name can resolve to 127.0.0.1 or 10.0.0.5.
 * With AG_HTTP_PUBLIC_ONLY the client connects to no such address (checked on the address it
 * would connect to), and says which. "localhost" stands for such a name here: resolved, not
 * parsed. */
static atomic_int counted;
static void h_count(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  atomic_fetch_add(&counted, 1);
  ag_http_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

TEST(announced_endpoints_that_resolve_inside_a_network_are_not_contacted) {
  static const ag_http_route routes[] = {{"GET", "/count", h_count, 0}};
  ag_http_server *csrv = small_server(routes, AG_ARRAY_LEN(routes));
  if (!csrv) return;
  char name_url[80], ip_url[80], v6_url[80];
  snprintf(name_url, sizeof name_url, "http://localhost:%u/count", ag_http_port(csrv));
  snprintf(ip_url, sizeof ip_url, "http://127.0.0.1:%u/count", ag_http_port(csrv));
  snprintf(v6_url, sizeof v6_url, "http://[::1]:%u/count", ag_http_port(csrv));
  ag_http_result r;
  const char *urls[] = {name_url, ip_url, v6_url};
  for (size_t i = 0; i < AG_ARRAY_LEN(urls); i++) {
    CHECK_EQ(ag_http_request_max("GET", urls[i], NULL, NULL, 0, 5000, 1 << 20, NULL, AG_HTTP_PUBLIC_ONLY, &r),
             AG_E_BAD_ENDPOINT);
    const char *msg = ag_errmsg(AG_E_BAD_ENDPOINT); /* names the address (localhost: either) */
    CHECK((i != 1 && strstr(msg, "resolves to ::1,")) || (i != 2 && strstr(msg, "resolves to 127.0.0.1,")));
  }
  char *dir = test_tmpdir("http");
  char path[600];
  snprintf(path, sizeof path, "%s/fetched", dir);
  long st;
  CHECK_EQ(ag_http_download(name_url, path, 1 << 20, 5000, AG_HTTP_PUBLIC_ONLY, &st), AG_E_BAD_ENDPOINT);
  CHECK(access(path, F_OK) != 0);
  CHECK_EQ(atomic_load(&counted), 0); /* nothing reached the server */
  /* the same requests without the flag (a devnet's endpoints, a node its operator named) */
  CHECK_OK(ag_http_request_max("GET", name_url, NULL, NULL, 0, 5000, 1 << 20, NULL, 0, &r));
  CHECK_EQ(r.status, 200);
  ag_http_result_free(&r);
  CHECK_OK(ag_http_download(ip_url, path, 1 << 20, 5000, 0, &st));
  CHECK_EQ(atomic_load(&counted), 2);
  test_rmdir(dir);
  ag_http_stop(csrv);
  /* the ranges: those ag_endpoint_check refuses as literals, and the IPv6 forms a translator
   * maps to IPv4 (private when the IPv4 address is) */
  static const struct {
    uint8_t a[16];
    size_t n;
    int private_;
  } addrs[] = {
      {{8, 8, 8, 8}, 4, 0},                                               /* public */
      {{10, 1, 2, 3}, 4, 1},                                              /* LAN */
      {{169, 254, 169, 254}, 4, 1},                                       /* metadata */
      {{100, 64, 0, 1}, 4, 1},                                            /* CGNAT */
      {{[15] = 1}, 16, 1},                                                /* ::1 */
      {{0x20, 0x01, 0x48, 0x60, [14] = 0x88, [15] = 0x88}, 16, 0},        /* public IPv6 */
      {{[10] = 0xff, [11] = 0xff, 8, 8, 8, 8}, 16, 1},                    /* IPv4-mapped */
      {{0, 0x64, 0xff, 0x9b, [12] = 10, 0, 0, 5}, 16, 1},                 /* NAT64 of a LAN */
      {{0, 0x64, 0xff, 0x9b, [12] = 8, 8, 8, 8}, 16, 0},                  /* NAT64 of a public */
      {{0, 0x64, 0xff, 0x9b, 0, 1, [15] = 1}, 16, 1},                     /* local-use NAT64 */
      {{0x20, 0x02, 169, 254, 169, 254, [15] = 1}, 16, 1},                /* 6to4 of metadata */
      {{0x20, 0x02, 8, 8, 8, 8, [15] = 1}, 16, 0},                        /* 6to4 of a public */
      {{[12] = 8, 8, 8, 8}, 16, 1},                                       /* IPv4-compatible */
  };
  for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
    CHECK_EQ(ag_endpoint_addr_private(addrs[i].a, addrs[i].n), addrs[i].private_);
}

/* A program learns from its node whether the chain wants public endpoints: only a chain that
 * says it accepts private ones (allow_private_endpoints, devnets) turns the check off; one that
 * does not say, or cannot be asked, keeps it. */
static atomic_int incentive_mode; /* 0: private allowed, 1: public only, 2: no such route */
static void h_status(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  ag_http_json(resp, 200, json_pack("{s:s, s:{s:s, s:s}}", "chain_id", "agora-test", "params", "base_fee", "1000",
                                     "per_byte_fee", "10"));
}
static void h_incentive(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  int mode = atomic_load(&incentive_mode);
  if (mode == 2) return ag_http_error(resp, 404, AG_E_NOTFOUND, "no such route");
  ag_http_json(resp, 200, json_pack("{s:b}", "allow_private_endpoints", mode == 0));
}

TEST(programs_contact_endpoints_as_the_chain_says) {
  static const ag_http_route routes[] = {{"GET", "/v1/status", h_status, 0}, {"GET", "/v1/incentive", h_incentive, 0}};
  ag_http_server *nsrv = small_server(routes, AG_ARRAY_LEN(routes));
  if (!nsrv) return;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", ag_http_port(nsrv));
  static const int want[3] = {0, AG_HTTP_PUBLIC_ONLY, AG_HTTP_PUBLIC_ONLY};
  for (int mode = 0; mode < 3; mode++) {
    atomic_store(&incentive_mode, mode);
    ag_net n;
    CHECK_OK(ag_net_open(&n, url));
    CHECK_STR(n.chain_id, "agora-test");
    CHECK_EQ(n.endpoint_flags, want[mode]);
  }
  ag_http_stop(nsrv);
}

/* Several threads of one program submit from one key at once (a validator's weights and its
 * reveals, a gateway's claims): each submission reads the key's pending nonce from the node and
 * posts a tx with it, so two that interleave take the same nonce and the node refuses one. A
 * node that answers slowly under load widens that window; this one takes 5 ms to answer a
 * nonce and keeps the nonce rule of check_tx. Before ag_net_submit held a process-wide lock
 * over both steps, most of these submissions were refused. */
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fake_next; /* the key's next nonce */
static int fake_refused;
static void h_account(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  pthread_mutex_lock(&fake_mu);
  uint64_t next = fake_next;
  pthread_mutex_unlock(&fake_mu);
  ag_sleep_ms(5);
  ag_http_json(resp, 200, json_pack("{s:I, s:I}", "nonce", (json_int_t)next, "pending_nonce", (json_int_t)next));
}
static void h_submit(ag_http_req *req, ag_http_resp *resp) {
  ag_tx tx;
  if (ag_tx_decode(req->body, req->body_len, &tx) || ag_tx_verify(&tx))
    return ag_http_error(resp, 400, AG_E_TX_PAYLOAD, "not a signed tx");
  pthread_mutex_lock(&fake_mu);
  int ok = tx.nonce == fake_next;
  if (ok) fake_next++;
  else fake_refused++;
  pthread_mutex_unlock(&fake_mu);
  if (!ok) return ag_http_error(resp, 400, AG_E_TX_NONCE_USED, "nonce already used");
  char hex[65];
  ag_hex_encode(tx.hash, 32, hex);
  ag_http_json(resp, 200, json_pack("{s:s}", "hash", hex));
}

typedef struct {
  const char *url;
  const ag_keypair *key;
  int sent, failed;
} submitter;

enum { SUBMITTERS = 4, SUBMISSIONS = 8 };

static void *submit_some(void *arg) {
  submitter *s = arg;
  ag_net n;
  if (ag_net_open(&n, s->url)) {
    s->failed = SUBMISSIONS;
    return NULL;
  }
  uint8_t payload[40] = {7}, hash[32];
  ag_put_u64le(payload + 32, 1);
  for (int i = 0; i < SUBMISSIONS; i++) {
    if (ag_net_submit(&n, s->key, AG_TX_TRANSFER, payload, sizeof payload, 0, hash, NULL)) s->failed++;
    else s->sent++;
  }
  return NULL;
}

TEST(threads_submitting_from_one_key_take_their_nonces_in_turn) {
  static const ag_http_route routes[] = {{"GET", "/v1/status", h_status, 0},
                                         {"GET", "/v1/incentive", h_incentive, 0},
                                         {"GET", "/v1/accounts/", h_account, 0},
                                         {"POST", "/v1/txs", h_submit, 0}};
  ag_http_server *nsrv = small_server(routes, AG_ARRAY_LEN(routes));
  if (!nsrv) return;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", ag_http_port(nsrv));
  ag_keypair k;
  ag_key_generate(&k);
  submitter s[SUBMITTERS];
  pthread_t th[SUBMITTERS];
  for (int i = 0; i < SUBMITTERS; i++) {
    s[i] = (submitter){url, &k, 0, 0};
    CHECK_EQ(pthread_create(&th[i], NULL, submit_some, &s[i]), 0);
  }
  int sent = 0;
  for (int i = 0; i < SUBMITTERS; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ(s[i].failed, 0);
    sent += s[i].sent;
  }
  CHECK_EQ(sent, SUBMITTERS * SUBMISSIONS);
  CHECK_EQ(fake_refused, 0);
  CHECK_EQ((int)fake_next, SUBMITTERS * SUBMISSIONS); /* every nonce once, in order */
  ag_http_stop(nsrv);
}

/* The miner's --api-key check (miner.c authorized()): exact key only, whatever the length. */
TEST(bearer_keys_match_exactly) {
  const char *key = "sk-agora-0123456789";
  CHECK_EQ(ag_http_bearer_matches("Bearer sk-agora-0123456789", key), 1);
  CHECK_EQ(ag_http_bearer_matches("bearer sk-agora-0123456789", key), 1); /* the scheme is case-insensitive */
  CHECK_EQ(ag_http_bearer_matches(NULL, key), 0);                          /* missing */
  CHECK_EQ(ag_http_bearer_matches("", key), 0);
  CHECK_EQ(ag_http_bearer_matches("Bearer ", key), 0);
  CHECK_EQ(ag_http_bearer_matches("Bearer sk-agora-0123456788", key), 0);  /* last byte differs */
  CHECK_EQ(ag_http_bearer_matches("Bearer tk-agora-0123456789", key), 0);  /* first byte differs */
  CHECK_EQ(ag_http_bearer_matches("Bearer sk-agora-012345678", key), 0);   /* a prefix */
  CHECK_EQ(ag_http_bearer_matches("Bearer sk-agora-01234567890", key), 0); /* longer */
  CHECK_EQ(ag_http_bearer_matches("Bearer sk-agora-0123456789 ", key), 0);
  CHECK_EQ(ag_http_bearer_matches("sk-agora-0123456789", key), 0);         /* no scheme */
  CHECK_EQ(ag_http_bearer_matches("Basic sk-agora-0123456789", key), 0);
  CHECK_EQ(ag_http_bearer_matches("Bearer", ""), 0); /* an empty key matches nothing */
  CHECK_EQ(ag_http_bearer_matches("Bearer ", ""), 0);
}

/* The node client (subnets/netclient.h) takes a 503 as a node that is restarting, like a refused
 * connection: it asks again within its retries, and reports the error once they are spent.
 * (A neuron starting while its node restarted used to exit on the first 503.) */
static atomic_int flaky_calls, flaky_fails;
static void h_flaky(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  if (atomic_fetch_add(&flaky_calls, 1) < atomic_load(&flaky_fails))
    return ag_http_error(resp, 503, AG_E_UNAVAILABLE, "the server is stopping");
  ag_http_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

TEST(the_node_client_rides_out_a_restarting_node) {
  static const ag_http_route routes[] = {{"GET", "/flaky", h_flaky, 0}};
  ag_http_server *fsrv = small_server(routes, AG_ARRAY_LEN(routes));
  if (!fsrv) return;
  ag_net n;
  memset(&n, 0, sizeof n);
  snprintf(n.url, sizeof n.url, "http://127.0.0.1:%u", ag_http_port(fsrv));
  n.timeout_ms = 5000;
  n.retries = 2;
  json_t *j = NULL;
  atomic_store(&flaky_fails, 2);
  CHECK_OK(ag_net_get(&n, "/flaky", &j)); /* two 503s, then the answer */
  CHECK(json_is_true(json_object_get(j, "ok")));
  CHECK_EQ(atomic_load(&flaky_calls), 3);
  json_decref(j);
  j = NULL;
  atomic_store(&flaky_calls, 0);
  atomic_store(&flaky_fails, 5);
  CHECK_EQ(ag_net_get(&n, "/flaky", &j), AG_E_UNAVAILABLE); /* retries spent: the node's error */
  CHECK_EQ(atomic_load(&flaky_calls), 3);
  CHECK(j == NULL);
  ag_http_stop(fsrv);
}

TEST_MAIN(requests_keepalive_pipelining_head_and_errors_are_json, threads_submitting_from_one_key_take_their_nonces_in_turn, a_model_file_is_streamed_however_many_ask,
          openai_errors_keep_their_message_whatever_the_bytes, a_relayed_header_value_cannot_write_headers,
          keepalive_requests_in_every_shape_follow_an_answer,
          declared_length_over_the_limit_is_refused_before_the_body, slow_heads_and_bodies_are_cut_by_progress,
          many_slow_connections_do_not_starve_requests, connection_limits_answer_503_and_429,
          streams_are_capped_and_never_block_requests, a_full_queue_answers_503, a_port_in_use_is_refused,
          uploads_are_admitted_on_headers_then_spooled, in_process_serving_answers_as_a_socket_does,
          client_caps_downloads, announced_endpoints_that_resolve_inside_a_network_are_not_contacted,
          programs_contact_endpoints_as_the_chain_says, bearer_keys_match_exactly, the_node_client_rides_out_a_restarting_node)
