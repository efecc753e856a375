/* buf.c — byte buffer and bounds-checked reader. */
#include "core/buf.h"

#include "core/err.h"
#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_buf_init(ag_buf *b) { memset(b, 0, sizeof *b); }

void ag_buf_free(ag_buf *b) {
  if (!b) return;
  free(b->data);
  memset(b, 0, sizeof *b);
}

void ag_buf_reset(ag_buf *b) { b->len = 0; }

void ag_buf_reserve(ag_buf *b, size_t extra) {
  if (b->cap - b->len > extra) return; /* keep one spare byte for ag_buf_cstr */
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len <= extra) cap *= 2;
  b->data = ag_xrealloc(b->data, cap);
  b->cap = cap;
}

void ag_buf_put(ag_buf *b, const void *p, size_t n) {
  if (n == 0) return;
  ag_buf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void ag_buf_put_u8(ag_buf *b, uint8_t v) { ag_buf_put(b, &v, 1); }

void ag_buf_put_u16le(ag_buf *b, uint16_t v) {
  uint8_t t[2];
  ag_put_u16le(t, v);
  ag_buf_put(b, t, 2);
}

void ag_buf_put_u32le(ag_buf *b, uint32_t v) {
  uint8_t t[4];
  ag_put_u32le(t, v);
  ag_buf_put(b, t, 4);
}

void ag_buf_put_u64le(ag_buf *b, uint64_t v) {
  uint8_t t[8];
  ag_put_u64le(t, v);
  ag_buf_put(b, t, 8);
}

void ag_buf_puts(ag_buf *b, const char *s) { ag_buf_put(b, s, strlen(s)); }

void ag_buf_printf(ag_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  ag_buf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *ag_buf_cstr(ag_buf *b) {
  ag_buf_reserve(b, 1);
  b->data[b->len] = 0;
  return (char *)b->data;
}

uint8_t *ag_buf_steal(ag_buf *b, size_t *len) {
  ag_buf_cstr(b);
  uint8_t *p = b->data;
  if (len) *len = b->len;
  ag_buf_init(b);
  return p;
}

void ag_reader_init(ag_reader *r, const void *p, size_t len) {
  r->p = p;
  r->len = len;
  r->off = 0;
}

size_t ag_reader_left(const ag_reader *r) { return r->len - r->off; }

int ag_read_ptr(ag_reader *r, size_t n, const uint8_t **out) {
  if (n > r->len - r->off) return AG_E_TRUNCATED;
  *out = r->p + r->off;
  r->off += n;
  return 0;
}

int ag_read_bytes(ag_reader *r, void *out, size_t n) {
  const uint8_t *p;
  int rc = ag_read_ptr(r, n, &p);
  if (rc) return rc;
  if (n) memcpy(out, p, n);
  return 0;
}

int ag_read_u8(ag_reader *r, uint8_t *v) { return ag_read_bytes(r, v, 1); }

int ag_read_u16le(ag_reader *r, uint16_t *v) {
  const uint8_t *p;
  int rc = ag_read_ptr(r, 2, &p);
  if (!rc) *v = ag_get_u16le(p);
  return rc;
}

int ag_read_u32le(ag_reader *r, uint32_t *v) {
  const uint8_t *p;
  int rc = ag_read_ptr(r, 4, &p);
  if (!rc) *v = ag_get_u32le(p);
  return rc;
}

int ag_read_u64le(ag_reader *r, uint64_t *v) {
  const uint8_t *p;
  int rc = ag_read_ptr(r, 8, &p);
  if (!rc) *v = ag_get_u64le(p);
  return rc;
}

int ag_read_end(const ag_reader *r) { return r->off == r->len ? 0 : AG_E_TRAILING; }
