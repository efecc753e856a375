/*
 * fuzz_api.c — the node's HTTP API as a client reaches it: each input is the raw bytes of one
 * client connection (method, target, query string, headers, body; several pipelined requests
 * if the fuzzer makes them), served by ag_http_serve_bytes through the server's own parser,
 * limits, route matching and dispatch to the node API's route table (ag_node_api_config, as
 * `agora node` serves it) and its handlers (node_api.c, incentive_api.c, files_api.c).
 *
 * Behind the routes is a real solo node (LLVMFuzzerInitialize): a genesis with four funded
 * dev accounts from fixed seeds, a subnet pinning a 64-byte model (so an upload of that id
 * and size is admitted, spooled to HOME/tmp and checked), and two committed blocks, the
 * first holding a transfer from dev0 to dev1. The keys and that transfer are the same on
 * every run, so the seed corpus can name dev0's address and the committed tx's hash, and hold
 * dev0's next transfer (nonce 1), which a POST /v1/txs admits to the mempool once.
 *
 * What must hold for every input: what the server sends is a sequence of well-formed
 * HTTP/1.1 responses (status line, header fields, a body framed by Content-Length or chunked,
 * or closed by the connection), nothing after a response that says Connection: close; every
 * 4xx/5xx carries the documented JSON error {"error":{"code","message",...}} whose strings
 * jansson accepts (valid UTF-8, no NUL); every application/json body parses; 503 and 429 say
 * Retry-After. The answer to HEAD has no body: a response whose declared body is missing is
 * taken for one only when the input says HEAD, and a successful answer to a first request
 * that is a HEAD must have none. ASan/UBSan and LeakSanitizer check the rest.
 *
 * Event streams (GET /v1/events/blocks) are served in process as their head only: the stream
 * waits for new blocks, which no one produces here (see ag_http_serve_bytes). The node is
 * shared by all inputs, so the mempool keeps what earlier inputs submitted.
 *
 * AGORA_FUZZ_STATS=1 prints at exit how many inputs reached a handler, and the statuses.
 */
#define _GNU_SOURCE /* memmem */
#include "api/http.h"
#include "api/node_api.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "consensus/node.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CHAIN "agora-fuzz"
#define NKEYS 4
#define PINNED_ID "abababababababababababababababababababababababababababababababab"
#define PINNED_SIZE 64

static char base[256];
static ag_node *node;
static ag_http_config cfg;
static char spool[1100];
static struct {
  int on;
  unsigned long inputs, handled, responses, status[6];
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_api: %lu inputs, %lu reached a handler; %lu responses: 1xx %lu, 2xx %lu, 3xx %lu, "
            "4xx %lu, 5xx %lu\n",
            stats.inputs, stats.handled, stats.responses, stats.status[1], stats.status[2], stats.status[3],
            stats.status[4], stats.status[5]);
  ag_node_close(node);
  node = NULL;
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_api: could not remove %s\n", base);
}

static void key_of(int i, ag_keypair *k) {
  uint8_t seed[32] = {(uint8_t)i, 0xa9};
  ag_key_from_seed(k, seed);
}

/* HOME/genesis.json, node_key.json; then the node, and two blocks. */
static void make_node(const char *home) {
  ag_keypair keys[NKEYS], nk;
  ag_genesis g;
  memset(&g, 0, sizeof g);
  snprintf(g.chain_id, sizeof g.chain_id, "%s", CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  key_of(100, &nk);
  g.has_proposer = 1;
  memcpy(g.proposer, nk.pk, 32);
  g.naccounts = NKEYS;
  g.accounts = ag_xcalloc(NKEYS, sizeof *g.accounts);
  for (int i = 0; i < NKEYS; i++) {
    key_of(i, &keys[i]);
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = 1000000 * AG_UNIT;
  }
  char owner[AG_ADDR_MAX];
  ag_addr_encode(keys[0].pk, owner);
  char modules[600];
  snprintf(modules, sizeof modules,
           "{\"incentive\":{\"allow_private_endpoints\":true,\"subnets\":[{\"model\":{\"kind\":\"inference\","
           "\"model_id\":\"%s\",\"size\":%d},\"name\":\"files\",\"owner\":\"%s\"}]}}",
           PINNED_ID, PINNED_SIZE, owner);
  g.modules = ag_xstrdup(modules);
  char *text = ag_genesis_to_json(&g);
  char path[1100];
  snprintf(path, sizeof path, "%s/genesis.json", home);
  if (ag_mkdirs(home, 0700) || ag_write_file_atomic(path, text, strlen(text), 0644) ||
      ag_node_key_save(home, &nk))
    abort();
  free(text);
  ag_genesis_free(&g);
  ag_node_config nc;
  ag_node_config_default(&nc, home);
  nc.threads = 1;
  int rc = ag_node_open(&nc, &node);
  if (rc) {
    fprintf(stderr, "fuzz_api: node: %s\n", ag_errmsg(rc));
    abort();
  }
  /* block 1: dev0 pays dev1; block 2: empty */
  ag_buf pl, tx;
  ag_buf_init(&pl);
  ag_buf_init(&tx);
  ag_transfer_encode(&pl, keys[1].pk, 1000);
  ag_tx_build(&tx, AG_TX_TRANSFER, CHAIN, &keys[0], 0, 100000, 0, pl.data, (uint32_t)pl.len);
  ag_result res;
  uint8_t hash[32];
  if (ag_node_submit(node, tx.data, tx.len, &res, hash) || ag_node_produce_block(node) ||
      ag_node_produce_block(node))
    abort();
  ag_buf_free(&pl);
  ag_buf_free(&tx);
  for (int i = 0; i < NKEYS; i++) ag_key_wipe(&keys[i]);
  ag_key_wipe(&nk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(base, sizeof base, "%s/fuzz_api.XXXXXX", tmp);
  if (!mkdtemp(base)) abort();
  atexit(at_exit);
  char home[300];
  snprintf(home, sizeof home, "%s/home", base);
  make_node(home);
  ag_node_api_config(node, NULL, spool, sizeof spool, &cfg);
  return 0;
}

/* ---- what the server sent --------------------------------------------------------------------- */

static const uint8_t *cur_in;
static size_t cur_n;

static void broken(const char *why, const ag_buf *out, size_t at) {
  fprintf(stderr, "fuzz_api: %s (response byte %zu)\n--- request (%zu bytes):\n", why, at, cur_n);
  fwrite(cur_in, 1, cur_n < 2000 ? cur_n : 2000, stderr);
  fprintf(stderr, "\n--- response (%zu bytes):\n", out->len);
  fwrite(out->data, 1, out->len < 4000 ? out->len : 4000, stderr);
  fprintf(stderr, "\n");
  abort();
}

static int tchar(int ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The line at p (up to CRLF) as its length; -1 when no CRLF follows. */
static long line_len(const uint8_t *p, size_t n) {
  const uint8_t *e = memmem(p, n, "\r\n", 2);
  return e ? (long)(e - p) : -1;
}

typedef struct {
  int status;
  char ctype[128];
  long long clen; /* -1: none */
  int chunked, closes, retry_after;
} head_t;

/* Parses the status line and header fields at out[*pos]; advances past the empty line. */
static void parse_head(const ag_buf *out, size_t *pos, head_t *h) {
  const uint8_t *p = out->data + *pos;
  size_t n = out->len - *pos;
  memset(h, 0, sizeof *h);
  h->clen = -1;
  long ll = line_len(p, n);
  if (ll < 13 || memcmp(p, "HTTP/1.1 ", 9) || p[12] != ' ') broken("bad status line", out, *pos);
  for (int i = 9; i < 12; i++) {
    if (p[i] < '0' || p[i] > '9') broken("bad status code", out, *pos);
    h->status = h->status * 10 + (p[i] - '0');
  }
  if (h->status < 100 || h->status > 599) broken("status out of range", out, *pos);
  for (long i = 13; i < ll; i++)
    if (p[i] < 0x20 || p[i] == 0x7f) broken("control character in the reason phrase", out, *pos);
  size_t off = (size_t)ll + 2;
  for (;;) {
    ll = line_len(p + off, n - off);
    if (ll < 0) broken("the head does not end", out, *pos + off);
    if (ll == 0) break;
    const uint8_t *f = p + off;
    const uint8_t *colon = memchr(f, ':', (size_t)ll);
    if (!colon || colon == f || colon + 1 >= f + ll || colon[1] != ' ') broken("malformed header field", out, *pos + off);
    for (const uint8_t *c = f; c < colon; c++)
      if (!tchar(*c)) broken("malformed header name", out, *pos + off);
    for (const uint8_t *c = colon + 2; c < f + ll; c++)
      if ((*c < 0x20 && *c != '\t') || *c == 0x7f) broken("control character in a header value", out, *pos + off);
    size_t nl = (size_t)(colon - f), vl = (size_t)(f + ll - colon - 2);
    char v[256];
    snprintf(v, sizeof v, "%.*s", (int)(vl < 255 ? vl : 255), (const char *)colon + 2);
    if (nl == 12 && !strncasecmp((const char *)f, "Content-Type", nl)) snprintf(h->ctype, sizeof h->ctype, "%s", v);
    else if (nl == 14 && !strncasecmp((const char *)f, "Content-Length", nl)) {
      char *end;
      if (h->clen >= 0 || !v[0] || (h->clen = strtoll(v, &end, 10)) < 0 || *end) broken("bad Content-Length", out, *pos + off);
    } else if (nl == 17 && !strncasecmp((const char *)f, "Transfer-Encoding", nl)) {
      if (strcmp(v, "chunked")) broken("a Transfer-Encoding other than chunked", out, *pos + off);
      h->chunked = 1;
    } else if (nl == 10 && !strncasecmp((const char *)f, "Connection", nl)) {
      h->closes = !strcasecmp(v, "close");
    } else if (nl == 11 && !strncasecmp((const char *)f, "Retry-After", nl)) {
      h->retry_after = 1;
    }
    off += (size_t)ll + 2;
  }
  if (h->chunked && h->clen >= 0) broken("both Content-Length and chunked", out, *pos);
  *pos += off + 2;
}

/* A chunked body at out[*pos] into body; advances past it. */
static void dechunk(const ag_buf *out, size_t *pos, ag_buf *body) {
  for (;;) {
    const uint8_t *p = out->data + *pos;
    size_t n = out->len - *pos;
    long ll = line_len(p, n);
    if (ll <= 0 || ll > 16) broken("bad chunk size line", out, *pos);
    unsigned long long size = 0;
    for (long i = 0; i < ll; i++) {
      int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 : -1;
      if (d < 0) broken("bad chunk size", out, *pos);
      size = size << 4 | (unsigned)d;
    }
    *pos += (size_t)ll + 2;
    if (size == 0) {
      if (out->len - *pos < 2 || memcmp(out->data + *pos, "\r\n", 2)) broken("no end after the last chunk", out, *pos);
      *pos += 2;
      return;
    }
    if (out->len - *pos < size + 2 || memcmp(out->data + *pos + size, "\r\n", 2)) broken("a chunk cut short", out, *pos);
    ag_buf_put(body, out->data + *pos, (size_t)size);
    *pos += (size_t)size + 2;
  }
}

static void check_json_body(const ag_buf *out, size_t at, const head_t *h, const ag_buf *body) {
  int json = !strncmp(h->ctype, "application/json", 16);
  if (h->status >= 400 && !json) broken("an error without a JSON body", out, at);
  if (!json) return;
  json_error_t err;
  json_t *j = json_loadb(body->data ? (const char *)body->data : "", body->len, 0, &err);
  if (!j) {
    fprintf(stderr, "fuzz_api: jansson: %s\n", err.text);
    broken("a JSON body that does not parse", out, at);
  }
  if (h->status >= 400) {
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    if (!json_is_object(e) || !code || !code[0] || !json_is_string(json_object_get(e, "message")))
      broken("an error body without error.code and error.message", out, at);
  }
  json_decref(j);
}

/* may_be_head: the input says HEAD somewhere; first_is_head: the first request is a HEAD. */
static void check(const ag_buf *out, int may_be_head, int first_is_head) {
  size_t pos = 0;
  int finals = 0;
  ag_buf body;
  ag_buf_init(&body);
  while (pos < out->len) {
    size_t at = pos;
    head_t h;
    parse_head(out, &pos, &h);
    stats.responses++;
    stats.status[h.status / 100]++;
    if ((h.status == 503 || h.status == 429) && !h.retry_after) broken("a 503/429 without Retry-After", out, at);
    if (h.status < 200) { /* 100 Continue: the final response follows */
      if (h.status != 100 || h.clen >= 0 || h.chunked) broken("an interim response other than a bare 100", out, at);
      continue;
    }
    ag_buf_reset(&body);
    size_t rest = out->len - pos;
    int next_is_response = rest >= 9 && !memcmp(out->data + pos, "HTTP/1.1 ", 9);
    int bodyless = may_be_head && (rest == 0 || next_is_response);
    /* a HEAD that got past the request line and headers is answered without a body */
    if (finals++ == 0 && first_is_head && h.status < 300 && !bodyless) broken("a body in the answer to HEAD", out, at);
    if (bodyless) {
      /* the response to HEAD: no body, whatever the head declares */
    } else if (h.chunked) {
      dechunk(out, &pos, &body);
    } else if (h.clen >= 0) {
      if ((unsigned long long)rest < (unsigned long long)h.clen) broken("a body shorter than its Content-Length", out, at);
      ag_buf_put(&body, out->data + pos, (size_t)h.clen);
      pos += (size_t)h.clen;
    } else {
      if (!h.closes) broken("a body with no length that does not close the connection", out, at);
      ag_buf_put(&body, out->data + pos, rest);
      pos = out->len;
    }
    if (!bodyless) check_json_body(out, at, &h, &body);
    if (h.closes && pos != out->len) broken("bytes after a response that closes the connection", out, pos);
  }
  ag_buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cur_in = data;
  cur_n = size;
  ag_buf out;
  ag_buf_init(&out);
  int handled = ag_http_serve_bytes(&cfg, data, size, &out);
  check(&out, memmem(data, size, "HEAD", 4) != NULL, size >= 5 && !memcmp(data, "HEAD ", 5));
  stats.inputs++;
  stats.handled += handled > 0;
  ag_buf_free(&out);
  return 0;
}
