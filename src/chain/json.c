/* json.c — JSON helpers for ledger objects. */
#include "chain/json.h"

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
