/* http_check.h — what an HTTP server under fuzzing may send (fuzz_api, fuzz_miner): a sequence of
 * well-formed HTTP/1.1 responses (status line, header fields, a body framed by Content-Length or
 * chunked, or closed by the connection), nothing after a response that says Connection: close;
 * every 4xx/5xx carries a JSON error whose strings jansson accepts (valid UTF-8, no NUL): the
 * node's {"error":{"code","message",...}}, or with http_check_openai OpenAI's {"error":
 * {"message","type","param","code"}} whose code may be null; every application/json body
 * parses; 503 and 429 say Retry-After. The answer to HEAD has no body: a response whose
 * declared body is missing is taken for one only when the input says HEAD, and a successful
 * answer to a first request that is a HEAD must have none. A violation prints the input and
 * the output and aborts. */
#ifndef AG_FUZZ_HTTP_CHECK_H
#define AG_FUZZ_HTTP_CHECK_H

#include "core/buf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *http_check_name = "fuzz";  /* in messages */
static int http_check_openai;                 /* errors are OpenAI-shaped */
static const uint8_t *cur_in;                 /* the input being served, for messages */
static size_t cur_n;
static unsigned long http_check_responses, http_check_status[6];


static void broken(const char *why, const ag_buf *out, size_t at) {
  fprintf(stderr, "%s: %s (response byte %zu)\n--- request (%zu bytes):\n", http_check_name, why, at, cur_n);
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
    fprintf(stderr, "%s: jansson: %s\n", http_check_name, err.text);
    broken("a JSON body that does not parse", out, at);
  }
  if (h->status >= 400) {
    json_t *e = json_object_get(j, "error"), *c = json_object_get(e, "code");
    const char *code = json_string_value(c);
    if (http_check_openai) {
      if (!json_is_object(e) || !json_is_string(json_object_get(e, "message")) ||
          !json_is_string(json_object_get(e, "type")) || !(json_is_null(c) || (code && code[0])))
        broken("an error body without OpenAI's error.message, error.type and error.code", out, at);
    } else if (!json_is_object(e) || !code || !code[0] || !json_is_string(json_object_get(e, "message"))) {
      broken("an error body without error.code and error.message", out, at);
    }
  }
  json_decref(j);
}

/* may_be_head: the input says HEAD somewhere; first_is_head: the first request is a HEAD. */
static void http_check(const ag_buf *out, int may_be_head, int first_is_head) {
  size_t pos = 0;
  int finals = 0;
  ag_buf body;
  ag_buf_init(&body);
  while (pos < out->len) {
    size_t at = pos;
    head_t h;
    parse_head(out, &pos, &h);
    http_check_responses++;
    http_check_status[h.status / 100]++;
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

#endif
