/* json.c — JSON helpers for ledger objects. */
#include "chain/json.h"

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *ag_json_u64s(uint64_t v) {
  char s[24];
  snprintf(s, sizeof s, "%llu", (unsigned long long)v);
  return json_string(s);
}

json_t *ag_json_hex(const uint8_t *p, size_t n) {
  char *h = ag_xmalloc(2 * n + 1);
  ag_hex_encode(p, n, h);
  json_t *j = json_string(h);
  free(h);
  return j;
}

json_t *ag_json_addr(const uint8_t pk[32]) {
  char a[AG_ADDR_MAX];
  ag_addr_encode(pk, a);
  return json_string(a);
}

json_t *ag_json_u64n(uint64_t v) {
  return v <= (1ULL << 53) ? json_integer((json_int_t)v) : ag_json_u64s(v);
}

uint64_t ag_json_u64_of(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  uint64_t x = 0;
  if (json_is_integer(v)) return (uint64_t)json_integer_value(v);
  if (json_is_string(v)) ag_parse_u64(json_string_value(v), &x);
  return x;
}

int ag_json_write_file(const char *path, json_t *o) {
  char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(o);
  int rc = s ? ag_write_file_atomic(path, s, strlen(s), 0644) : AG_E_NOMEM;
  free(s);
  return rc;
}

json_t *ag_json_text(const char *msg) {
  json_t *j = json_string(msg);
  if (j) return j;
  ag_buf b;
  ag_buf_init(&b);
  const uint8_t *p = (const uint8_t *)msg;
  size_t n = strlen(msg), i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    int ok = len >= 1 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok && len > 1) {
      uint32_t cp = len == 2 ? (uint32_t)(c & 0x1f) : len == 3 ? (uint32_t)(c & 0x0f) : (uint32_t)(c & 0x07);
      for (size_t k = 1; k < len; k++) cp = cp << 6 | (p[i + k] & 0x3f);
      ok = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) ||
           (len == 4 && cp >= 0x10000 && cp <= 0x10ffff);
    }
    if (ok) {
      ag_buf_put(&b, p + i, len);
      i += len;
    } else {
      ag_buf_put(&b, "\xef\xbf\xbd", 3);
      i++;
    }
  }
  j = json_stringn(b.data ? (const char *)b.data : "", b.len);
  ag_buf_free(&b);
  return j ? j : json_string("(unprintable message)");
}

