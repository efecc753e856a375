/* codec.c — hex by hand (strict), base64 through libsodium. */
#include "core/codec.h"

#include "core/err.h"
#include "core/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void ag_hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = 0;
}

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int ag_hex_decode(const char *s, size_t slen, uint8_t *out, size_t want) {
  if (slen != 2 * want) return AG_E_BAD_HEX;
  /* digit by digit, stopping at the first that is not one: a NUL-terminated string shorter than
   * slen ends there and is never read past its NUL */
  for (size_t i = 0; i < want; i++) {
    int hi = nibble(s[2 * i]);
    if (hi < 0) return AG_E_BAD_HEX;
    int lo = nibble(s[2 * i + 1]);
    if (lo < 0) return AG_E_BAD_HEX;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

int ag_hex_decode_alloc(const char *s, size_t slen, size_t max, uint8_t **out, size_t *n) {
  if (slen % 2) return AG_E_BAD_HEX;
  if (slen / 2 > max) return AG_E_TOO_LARGE;
  uint8_t *p = ag_xmalloc(slen / 2 + 1);
  int rc = ag_hex_decode(s, slen, p, slen / 2);
  if (rc) {
    free(p);
    return rc;
  }
  *out = p;
  *n = slen / 2;
  return 0;
}

size_t ag_b64_len(size_t n) { return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL); }

void ag_b64_encode(const uint8_t *in, size_t n, char *out) {
  sodium_bin2base64(out, ag_b64_len(n), in, n, sodium_base64_VARIANT_ORIGINAL);
}

int ag_b64_decode_alloc(const char *s, size_t slen, size_t max, uint8_t **out, size_t *n) {
  if (slen / 4 * 3 > max + 3) return AG_E_TOO_LARGE;
  size_t cap = slen / 4 * 3 + 3;
  uint8_t *p = ag_xmalloc(cap + 1);
  bool urlsafe = memchr(s, '-', slen) || memchr(s, '_', slen);
  bool padded = slen > 0 && s[slen - 1] == '=';
  int variant = urlsafe ? (padded ? sodium_base64_VARIANT_URLSAFE
                                  : sodium_base64_VARIANT_URLSAFE_NO_PADDING)
                        : (padded ? sodium_base64_VARIANT_ORIGINAL
                                  : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  size_t got = 0;
  const char *end = NULL;
  if (sodium_base642bin(p, cap, s, slen, NULL, &got, &end, variant) != 0 || end != s + slen) {
    free(p);
    return AG_E_BAD_BASE64;
  }
  if (got > max) {
    free(p);
    return AG_E_TOO_LARGE;
  }
  *out = p;
  *n = got;
  return 0;
}
