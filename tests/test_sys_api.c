#define _GNU_SOURCE /* strcasestr */
/*
 * test_sys_api.c — the node's API against what an outside tester threw at it: 1,100 slow
 * connections from slowhttptest (before: /health failed 25 times out of 25), a thousand idle
 * event-stream subscribers (likewise), six parallel 250 MiB uploads of zeros (before: 0.56 →
 * 3.5 GB resident), a Content-Length of 10 GB with 10 bytes sent (before: no answer for 15 s),
 * a second node on the same port (before: both bound it), and the API answers that used to
 * say something untrue (Last-Event-ID overflow, bad ?from=, hex retried as base64, an
 * oversized tx reported as malformed).
 */
#include "api/http.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "sysutil.h"
#include "test.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define PINNED_ID "abababababababababababababababababababababababababababababababab"
#define PINNED_SIZE (8u << 20)

static char *dir;
static char home[512], base[300], logpath[600];
static uint16_t port;
static pid_t node_pid;
static ag_keypair dev0;

/* A node whose genesis has a subnet pinning a model the node does not hold. */
static void start(void) {
  dir = test_tmpdir("sysapi");
  snprintf(home, sizeof home, "%s/home", dir);
  snprintf(logpath, sizeof logpath, "%s/node.log", dir);
  const char *init[] = {"--home", home, "init", "--dev-accounts", "3", "--json", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  char keydir[600], gpath[600];
  snprintf(keydir, sizeof keydir, "%s/keys", home);
  CHECK_OK(ag_keystore_load(keydir, "dev0", NULL, &dev0, NULL));
  char owner[AG_ADDR_MAX];
  ag_addr_encode(dev0.pk, owner);
  snprintf(gpath, sizeof gpath, "%s/genesis.json", home);
  json_t *g = json_load_file(gpath, 0, NULL);
  CHECK(g != NULL);
  json_object_set_new(g, "incentive",
                      json_pack("{s:[{s:s, s:s, s:{s:s, s:s, s:i}}]}", "subnets", "name", "files", "owner", owner,
                                "model", "kind", "inference", "model_id", PINNED_ID, "size", PINNED_SIZE));
  CHECK_EQ(json_dump_file(g, gpath, JSON_INDENT(2)), 0);
  json_decref(g);
  char addrfile[600];
  snprintf(addrfile, sizeof addrfile, "%s/data/api.addr", home);
  const char *args[] = {"--home", home, "node", "--block-time", "200", "--api", "127.0.0.1:0", NULL};
  node_pid = sys_spawn(logpath, args);
  char *addr = sys_wait_file(addrfile, 60000);
  CHECK(addr != NULL);
  snprintf(base, sizeof base, "http://%s", addr ? addr : "127.0.0.1:1");
  const char *colon = addr ? strrchr(addr, ':') : NULL;
  port = colon ? (uint16_t)atoi(colon + 1) : 0;
  free(addr);
}

static void finish(void) {
  CHECK_EQ(sys_stop(node_pid, SIGTERM, 30000), 0);
  test_rmdir(dir);
}

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

static void recv_some(int fd, ag_buf *out, int ms) {
  ag_buf_reset(out);
  uint64_t end = ag_mono_ms() + (uint64_t)ms;
  while (ag_mono_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      if (out->len) break;
      continue;
    }
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    ag_buf_put(out, buf, (size_t)n);
  }
  ag_buf_cstr(out);
}

static int status_of(const ag_buf *b) {
  return b->len > 12 && !strncmp((const char *)b->data, "HTTP/1.1 ", 9) ? atoi((const char *)b->data + 9) : -1;
}

static int health(void) {
  long st = 0;
  json_t *j = sys_get_json(base, "/health", &st);
  json_decref(j);
  return st == 200;
}

static double rss(void) {
  char url[400];
  snprintf(url, sizeof url, "%s/metrics", base);
  ag_http_result r;
  double v = -1;
  if (ag_http_request("GET", url, NULL, NULL, 0, 10000, &r) == 0) {
    const char *p = strstr((const char *)r.body.data, "\nprocess_resident_memory_bytes ");
    if (p) v = atof(p + 31);
    ag_http_result_free(&r);
  }
  return v;
}

static int have_slowhttptest(void) { return system("command -v slowhttptest >/dev/null 2>&1") == 0; }

/* 1,100 connections sending their headers a line every few seconds, as slowhttptest -H does:
 * /health answers every time (they cost sockets, not threads), and the slow ones are cut by the
 * head deadline, not kept while they trickle. */
TEST(slowloris_from_slowhttptest_does_not_starve_the_api) {
  CHECK(have_slowhttptest());
  char cmd[1200], out[700];
  snprintf(out, sizeof out, "%s/slowhttptest", dir);
  snprintf(cmd, sizeof cmd,
           "slowhttptest -H -c 1100 -r 400 -i 3 -l 20 -p 3 -u http://127.0.0.1:%u/health >%s.log 2>&1 &",
           port, out);
  CHECK_EQ(system(cmd), 0);
  ag_sleep_ms(4000); /* the connections are up */
  int ok = 0;
  for (int i = 0; i < 25; i++) {
    ok += health();
    ag_sleep_ms(300);
  }
  CHECK_EQ(ok, 25);
  ag_http_result r;
  char url[400];
  snprintf(url, sizeof url, "%s/metrics", base);
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 10000, &r));
  const char *conns = strstr((const char *)r.body.data, "\nagora_http_connections ");
  const char *cut = strstr((const char *)r.body.data, "\nagora_http_timed_out_total ");
  long open = conns ? atol(conns + 24) : 0, timed_out = cut ? atol(cut + 28) : 0;
  fprintf(stderr, "  during the attack: %ld open connections, %ld cut for slowness\n", open, timed_out);
  CHECK(open >= 500);     /* the attack was really on */
  CHECK(timed_out >= 100); /* and its connections are cut by the head deadline (10 s) */
  ag_http_result_free(&r);
  CHECK(system("pkill -f 'slowhttptest -H -c 1100' >/dev/null 2>&1; sleep 1") >= 0);
}

/* A thousand subscribers to the block stream: past the stream cap they get 503 with
 * Retry-After, and a transaction is still accepted while they hang on. */
TEST(idle_event_subscribers_cannot_block_transactions) {
  enum { N = 1000 };
  int *fds = ag_xcalloc(N, sizeof *fds);
  for (int i = 0; i < N; i++) {
    fds[i] = dial();
    if (fds[i] >= 0) {
      const char *req = "GET /v1/events/blocks HTTP/1.1\r\nHost: x\r\n\r\n";
      ssize_t w = send(fds[i], req, strlen(req), MSG_NOSIGNAL);
      (void)w;
    }
  }
  ag_sleep_ms(1500);
  int streaming = 0, refused = 0;
  ag_buf b;
  ag_buf_init(&b);
  for (int i = 0; i < N; i++) {
    recv_some(fds[i], &b, 20);
    int st = status_of(&b);
    if (st == 200) streaming++;
    else if (st == 503 && strstr((const char *)b.data, "Retry-After")) refused++;
  }
  fprintf(stderr, "  %d streaming, %d refused with 503\n", streaming, refused);
  CHECK(streaming >= 1 && streaming <= 64);
  CHECK_EQ(streaming + refused, N);
  CHECK(health());
  /* a transfer goes through */
  ag_buf pl, tx;
  ag_buf_init(&pl);
  ag_buf_init(&tx);
  ag_transfer_encode(&pl, dev0.pk, 1000);
  ag_tx_build(&tx, AG_TX_TRANSFER, "agora-devnet", &dev0, 0, 100000, 0, pl.data, (uint32_t)pl.len);
  char url[400];
  snprintf(url, sizeof url, "%s/v1/txs", base);
  ag_http_result r;
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", tx.data, tx.len, 10000, &r));
  CHECK_EQ(r.status, 202);
  ag_http_result_free(&r);
  for (int i = 0; i < N; i++)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
  ag_buf_free(&b);
  ag_buf_free(&pl);
  ag_buf_free(&tx);
}

typedef struct {
  int status;
  size_t sent;
} flood;

/* POSTs a declared 250 MiB of zeros to an id no subnet pins, sending as long as the node
 * reads; the node must answer 403 on the headers and read (almost) nothing. */
static void *zeros(void *arg) {
  flood *f = arg;
  int fd = dial();
  char head[256];
  snprintf(head, sizeof head, "POST /v1/model-files/%064d HTTP/1.1\r\nContent-Length: 262144000\r\n\r\n", 7);
  ssize_t w = send(fd, head, strlen(head), MSG_NOSIGNAL);
  (void)w;
  static const char z[65536];
  uint64_t end = ag_mono_ms() + 5000;
  while (ag_mono_ms() < end && f->sent < 262144000u) {
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    if (p.revents & POLLIN) break; /* the answer is there */
    ssize_t n = send(fd, z, sizeof z, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    f->sent += (size_t)n;
  }
  ag_buf b;
  ag_buf_init(&b);
  recv_some(fd, &b, 3000);
  f->status = status_of(&b);
  ag_buf_free(&b);
  close(fd);
  return NULL;
}

static int spool_files(void) {
  char path[700];
  snprintf(path, sizeof path, "%s/tmp", home);
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) n += !strncmp(e->d_name, "upload-", 7);
  if (d) closedir(d);
  return n;
}

TEST(uploads_are_refused_on_their_headers_and_never_buffered) {
  double before = rss();
  pthread_t th[6];
  flood f[6] = {{0}};
  for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, zeros, &f[i]);
  for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
  size_t sent = 0;
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(f[i].status, 403);
    sent += f[i].sent;
  }
  double after = rss();
  fprintf(stderr, "  six 250 MiB uploads: %zu bytes pushed before the 403s, RSS %.0f -> %.0f MB\n", sent,
          before / 1e6, after / 1e6);
  CHECK(before > 0 && after - before < 64e6);
  /* the pinned id at its exact size is admitted, spooled to disk, and refused for what it is */
  char url[400];
  snprintf(url, sizeof url, "%s/v1/model-files/%s", base, PINNED_ID);
  uint8_t *z = ag_xcalloc(PINNED_SIZE, 1);
  ag_http_result r;
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", z, PINNED_SIZE, 30000, &r));
  CHECK_EQ(r.status, 400);
  CHECK(strstr((const char *)r.body.data, "model_bad_magic") != NULL);
  ag_http_result_free(&r);
  free(z);
  CHECK_EQ(spool_files(), 0);
  snprintf(url, sizeof url, "%s/v1/model-files/%s", base, PINNED_ID);
  CHECK_OK(ag_http_request("GET", url, NULL, NULL, 0, 10000, &r));
  CHECK_EQ(r.status, 404); /* nothing was kept */
  ag_http_result_free(&r);
  /* a blob no round announces */
  snprintf(url, sizeof url, "%s/v1/blobs/%064d", base, 5);
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", "xyz", 3, 10000, &r));
  CHECK_EQ(r.status, 403);
  CHECK(strstr((const char *)r.body.data, "blob_not_announced") != NULL);
  ag_http_result_free(&r);
  /* ten gigabytes declared, ten bytes sent: refused at once */
  int fd = dial();
  const char *req = "POST /v1/txs HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n0123456789";
  uint64_t t0 = ag_mono_ms();
  ssize_t w = send(fd, req, strlen(req), MSG_NOSIGNAL);
  (void)w;
  ag_buf b;
  ag_buf_init(&b);
  recv_some(fd, &b, 10000);
  CHECK_EQ(status_of(&b), 413);
  CHECK(strstr((const char *)b.data, "body_too_large") != NULL);
  CHECK(ag_mono_ms() - t0 < 5000);
  close(fd);
  ag_buf_free(&b);
}

/* A second node on the port the first one holds refuses to start, saying why. */
TEST(a_second_node_cannot_take_the_port) {
  char home2[600], log2[700], api[64];
  snprintf(home2, sizeof home2, "%s/home2", dir);
  snprintf(log2, sizeof log2, "%s/node2.log", dir);
  snprintf(api, sizeof api, "127.0.0.1:%u", port);
  const char *init[] = {"--home", home2, "init", "--dev-accounts", "1", "--json", NULL};
  CHECK_EQ(sys_run(NULL, init), 0);
  const char *args[] = {"--home", home2, "node", "--api", api, NULL};
  pid_t p = sys_spawn(log2, args);
  int st = sys_stop(p, 0, 30000); /* it must exit by itself */
  CHECK(st != 0);
  uint8_t *log;
  size_t len;
  CHECK_OK(ag_read_file(log2, 1 << 20, &log, &len));
  CHECK(log && strstr((const char *)log, "already in use") != NULL);
  free(log);
  CHECK(health());
}

/* What the API says must be true. */
TEST(api_answers_say_what_happened) {
  long st;
  json_t *j;
  int fd;
  ag_buf b;
  ag_buf_init(&b);
  /* Last-Event-ID: u64 max used to wrap to 0 and replay the chain */
  fd = dial();
  const char *req = "GET /v1/events/blocks HTTP/1.1\r\nLast-Event-ID: 18446744073709551615\r\n\r\n";
  ssize_t w = send(fd, req, strlen(req), MSG_NOSIGNAL);
  (void)w;
  recv_some(fd, &b, 3000);
  CHECK_EQ(status_of(&b), 400);
  close(fd);
  j = sys_get_json(base, "/v1/events/blocks?from=abc", &st);
  CHECK_EQ(st, 400);
  json_decref(j);
  /* hex is hex: a bad hex body says so, instead of failing as base64 */
  char url[400];
  snprintf(url, sizeof url, "%s/v1/txs", base);
  ag_http_result r;
  CHECK_OK(ag_http_request("POST", url, "text/plain", "zz12", 4, 10000, &r));
  CHECK_EQ(r.status, 400);
  CHECK(strstr((const char *)r.body.data, "\"bad_hex\"") != NULL);
  ag_http_result_free(&r);
  CHECK_OK(ag_http_request("POST", url, "image/png", "zz12", 4, 10000, &r));
  CHECK_EQ(r.status, 415);
  ag_http_result_free(&r);
  /* size first: an oversized tx with a bad payload is tx_too_large */
  ag_buf pl, tx;
  ag_buf_init(&pl);
  ag_buf_init(&tx);
  for (int i = 0; i < 70000; i++) ag_buf_put_u8(&pl, 0xee);
  ag_tx_build(&tx, AG_TX_TRANSFER, "agora-devnet", &dev0, 0, 10000000, 0, pl.data, (uint32_t)pl.len);
  CHECK_OK(ag_http_request("POST", url, "application/octet-stream", tx.data, tx.len, 10000, &r));
  CHECK_EQ(r.status, 413);
  CHECK(strstr((const char *)r.body.data, "\"tx_too_large\"") != NULL);
  ag_http_result_free(&r);
  /* an error quoting bytes that are not UTF-8 keeps its message */
  fd = dial();
  req = "GET /v1/accounts/agora1%ff%fe HTTP/1.1\r\n\r\n";
  w = send(fd, req, strlen(req), MSG_NOSIGNAL);
  recv_some(fd, &b, 3000);
  CHECK_EQ(status_of(&b), 400);
  const char *body = strstr((const char *)b.data, "\r\n\r\n");
  json_t *e = body ? json_loads(body + 4, 0, NULL) : NULL;
  CHECK(json_string_value(json_object_get(json_object_get(e, "error"), "message")) != NULL);
  json_decref(e);
  close(fd);
  ag_buf_free(&pl);
  ag_buf_free(&tx);
  ag_buf_free(&b);
}

TEST(a_node_starts) {
  start();
  CHECK(health());
}

TEST(the_node_stops_cleanly) { finish(); }

TEST_MAIN(a_node_starts, slowloris_from_slowhttptest_does_not_starve_the_api,
          idle_event_subscribers_cannot_block_transactions,
          uploads_are_refused_on_their_headers_and_never_buffered, a_second_node_cannot_take_the_port,
          api_answers_say_what_happened, the_node_stops_cleanly)
