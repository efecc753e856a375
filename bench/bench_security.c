/*
 * bench_security.c — what an attacker's flood costs honest users.
 *
 *   security.api_tps_under_flood   accepted POST /v1/txs per second while a flood hits the
 *                                  node, divided by the same figure without it (target >= 0.8)
 *
 * The honest client is ledger.api_submit_tps's (bench_node.h: a separate process, 4
 * keep-alive connections, signed transfers). The flood is another process holding 1,000 idle
 * keep-alive connections (each made one request and stays open), 1,000 SSE subscriptions
 * (GET /v1/events/blocks; those over the stream cap are refused with 503 and asked again, at
 * most 1,000 a second), and two threads of junk uploads at 125 MB/s together: 512 KiB of
 * non-hex text to POST /v1/txs, 1 MiB to POST /v1/blobs/<hash> for a round that does not
 * exist, and a Content-Length of 10 GB with 10 bytes sent. Each side runs on a fresh node; the pair is
 * measured three times, alternating, and the median of each side is reported.
 * Environment: BENCH_FLOOD_TXS (default 20000 per run), BENCH_FLOOD_MBPS (junk upload rate,
 * default 125 MB/s: a saturated 1 Gbit/s link; unbounded, the flood process on the same two
 * cores would measure its own CPU use), BENCH_FLOOD_PARTS (default "isj": idle, SSE, junk).
 */
#include "bench.h"
#include "bench_node.h"
#include "core/hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define IDLE 1000
#define SSE 1000

static char tmproot[256];
static struct sockaddr_in node_sa;

static int connect_node(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&node_sa, sizeof node_sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static atomic_int flood_stop;

static double junk_rate; /* bytes per second, both threads together */

/* One junk upload of each kind, again and again, at half of junk_rate each. */
static void *junk_thread(void *arg) {
  (void)arg;
  size_t n = 1 << 20;
  char *junk = malloc(n);
  memset(junk, 'z', n);
  char url[256], hdr[256];
  double sent = 0, t0 = bench_now();
  while (!atomic_load(&flood_stop)) {
    ag_http_result r;
    snprintf(url, sizeof url, "http://%s:%d/v1/txs", inet_ntoa(node_sa.sin_addr), ntohs(node_sa.sin_port));
    if (ag_http_request("POST", url, "text/plain", junk, 512 << 10, 10000, &r) == 0) ag_http_result_free(&r);
    snprintf(url, sizeof url, "http://%s:%d/v1/blobs/%064d?netuid=1&round=999", inet_ntoa(node_sa.sin_addr),
             ntohs(node_sa.sin_port), 7);
    if (ag_http_request("POST", url, "application/octet-stream", junk, n, 10000, &r) == 0) ag_http_result_free(&r);
    int fd = connect_node();
    if (fd >= 0) {
      int k = snprintf(hdr, sizeof hdr,
                       "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                       "Content-Length: 10000000000\r\n\r\n0123456789");
      if (send_all(fd, hdr, (size_t)k) == 0) {
        char buf[512];
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 5000) > 0 && recv(fd, buf, sizeof buf, 0) < 0) { /* answered or not */ }
      }
      close(fd);
    }
    sent += (512 << 10) + n + 10;
    double ahead = sent / (junk_rate / 2) - (bench_now() - t0);
    if (ahead > 0) ag_sleep_ms((uint64_t)(ahead * 1000));
  }
  free(junk);
  ag_http_client_cleanup();
  return NULL;
}

static const char sse_req[] = "GET /v1/events/blocks HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";

/* The flood process: reports over report_fd once its connections are up (idle, SSE held),
 * then keeps going until SIGTERM. */
static void flood(int report_fd) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const char *parts = getenv("BENCH_FLOOD_PARTS") ? getenv("BENCH_FLOOD_PARTS") : "isj";
  static int idle[IDLE], sse[SSE];
  int nidle = 0;
  for (int i = 0; i < IDLE && strchr(parts, 'i'); i++) {
    int fd = connect_node();
    if (fd < 0) continue;
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[1024];
    struct pollfd pf = {fd, POLLIN, 0};
    if (send_all(fd, req, sizeof req - 1) == 0 && poll(&pf, 1, 5000) > 0 && recv(fd, buf, sizeof buf, 0) > 0)
      idle[nidle++] = fd; /* answered, and kept open: an idle keep-alive connection */
    else
      close(fd);
  }
  (void)idle; /* held open, never read: that is the point */
  for (int i = 0; i < SSE; i++) {
    sse[i] = strchr(parts, 's') ? connect_node() : -1;
    if (sse[i] >= 0 && send_all(sse[i], sse_req, sizeof sse_req - 1) != 0) {
      close(sse[i]);
      sse[i] = -1;
    }
  }
  pthread_t th[2];
  if (strchr(parts, 'j'))
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, junk_thread, NULL);
  int held = 0;
  double t_ready = bench_now() + 1.0, last_reopen = bench_now();
  int reported = 0;
  static struct pollfd pf[SSE];
  char buf[16384];
  for (;;) {
    for (int i = 0; i < SSE; i++) pf[i] = (struct pollfd){sse[i], POLLIN, 0};
    poll(pf, SSE, 100);
    held = 0;
    for (int i = 0; i < SSE; i++) {
      if (sse[i] < 0) continue;
      if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t r = recv(sse[i], buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          close(sse[i]);
          sse[i] = -1;
          continue;
        }
        /* a 503 is answered, then the server closes: it is noticed above next time */
      }
      held++;
    }
    /* the refused ask again, at most 100 every 100 ms */
    if (strchr(parts, 's') && bench_now() - last_reopen >= 0.1) {
      last_reopen = bench_now();
      int reopened = 0;
      for (int i = 0; i < SSE && reopened < 100; i++) {
        if (sse[i] >= 0) continue;
        sse[i] = connect_node();
        if (sse[i] >= 0 && send_all(sse[i], sse_req, sizeof sse_req - 1) != 0) {
          close(sse[i]);
          sse[i] = -1;
        }
        reopened++;
      }
    }
    if (!reported && bench_now() >= t_ready) {
      int v[2] = {nidle, held};
      if (write(report_fd, v, sizeof v) != sizeof v) _exit(3);
      reported = 1;
    }
  }
}

/* user + system CPU seconds of a live process so far */
static double cpu_seconds(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* after the command name: state is field 3 */
  unsigned long long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One run on a fresh node; flood: with the flood process. Returns accepted tx/s. */
static double run(int n, int with_flood, size_t ntx, int *idle_held, int *sse_open, double *flood_cpu) {
  char home[512], addr[128];
  snprintf(home, sizeof home, "%s/run%d", tmproot, n);
  size_t nacct = 200, ok = 0;
  bench_node_init(home, nacct);
  pid_t node = bench_node_start(home, addr);
  char host[64];
  int port = 0;
  if (sscanf(addr, "%63[^:]:%d", host, &port) != 2) exit(1);
  memset(&node_sa, 0, sizeof node_sa);
  node_sa.sin_family = AF_INET;
  node_sa.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, host, &node_sa.sin_addr);
  pid_t flooder = -1;
  int pfd[2] = {-1, -1};
  if (with_flood) {
    if (pipe(pfd)) exit(1);
    flooder = fork();
    if (flooder == 0) {
      close(pfd[0]);
      flood(pfd[1]);
      _exit(0);
    }
    close(pfd[1]);
    int v[2] = {0, 0};
    if (read(pfd[0], v, sizeof v) != sizeof v) fprintf(stderr, "flood process did not report\n");
    *idle_held = v[0];
    *sse_open = v[1];
  }
  double t0 = bench_now(), c0 = with_flood ? cpu_seconds(flooder) : 0;
  double rate = bench_submit(home, addr, nacct, ntx, &ok);
  if (with_flood) *flood_cpu = (cpu_seconds(flooder) - c0) / (bench_now() - t0);
  if (ok != ntx) fprintf(stderr, "run %d: %zu of %zu accepted\n", n, ok, ntx);
  if (with_flood) {
    kill(flooder, SIGKILL);
    int st;
    waitpid(flooder, &st, 0);
    close(pfd[0]);
  }
  bench_node_stop(node);
  return rate;
}

int main(void) {
  ag_crypto_init();
  snprintf(tmproot, sizeof tmproot, "/tmp/agora-bench-sec-XXXXXX");
  if (!mkdtemp(tmproot)) return 1;
  const char *e = getenv("BENCH_FLOOD_TXS");
  size_t ntx = e ? (size_t)atol(e) : 20000;
  double base[3], flooded[3];
  e = getenv("BENCH_FLOOD_MBPS");
  junk_rate = (e ? atof(e) : 125.0) * 1e6;
  int idle = 0, sse = 0;
  double cpu = 0, cpus[3];
  for (int k = 0; k < 3; k++) {
    base[k] = run(2 * k, 0, ntx, &idle, &sse, &cpu);
    flooded[k] = run(2 * k + 1, 1, ntx, &idle, &sse, &cpus[k]);
    fprintf(stderr, "  pair %d: %.0f tx/s alone, %.0f under flood (%d idle held, %d SSE connections "
                    "open, the flood process used %.0f%% of a core)\n",
            k, base[k], flooded[k], idle, sse, 100 * cpus[k]);
  }
  qsort(cpus, 3, sizeof *cpus, cmp_double);
  qsort(base, 3, sizeof *base, cmp_double);
  qsort(flooded, 3, sizeof *flooded, cmp_double);
  char note[256];
  snprintf(note, sizeof note,
           "%.0f tx/s under flood vs %.0f alone (medians of 3); %d idle keep-alive held, %d SSE open, "
           "junk uploads at %.0f MB/s; the flood process took %.0f%% of a core; target >= 0.8",
           flooded[1], base[1], idle, sse, junk_rate / 1e6, 100 * cpus[1]);
  bench_report("security.api_tps_under_flood", flooded[1] / base[1], "ratio", note);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmproot);
  if (system(cmd)) return 1;
  return 0;
}
