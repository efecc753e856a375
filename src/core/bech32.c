/* bech32.c — Bech32m encoder and decoder, written from BIP-173/BIP-350. */
#include "core/bech32.h"

#include "core/err.h"

#include <string.h>

#define BECH32M_CONST 0x2bc830a3u

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t pre) {
  uint8_t b = (uint8_t)(pre >> 25);
  return ((pre & 0x1ffffff) << 5) ^ (-((b >> 0) & 1) & 0x3b6a57b2u) ^
         (-((b >> 1) & 1) & 0x26508e6du) ^ (-((b >> 2) & 1) & 0x1ea119fau) ^
         (-((b >> 3) & 1) & 0x3d4233ddu) ^ (-((b >> 4) & 1) & 0x2a1462b3u);
}

static uint32_t hrp_polymod(const char *hrp, size_t n) {
  uint32_t chk = 1;
  for (size_t i = 0; i < n; i++) chk = polymod_step(chk) ^ ((uint8_t)hrp[i] >> 5);
  chk = polymod_step(chk);
  for (size_t i = 0; i < n; i++) chk = polymod_step(chk) ^ ((uint8_t)hrp[i] & 0x1f);
  return chk;
}

/* Regroups bits; pad adds zero bits at the end (encoding), else they must be zero. */
static int convert_bits(uint8_t *out, size_t *outlen, size_t outcap, int outbits,
                        const uint8_t *in, size_t inlen, int inbits, int pad) {
  uint32_t val = 0, maxv = (1u << outbits) - 1;
  int bits = 0;
  size_t n = 0;
  for (size_t i = 0; i < inlen; i++) {
    val = (val << inbits) | in[i];
    bits += inbits;
    while (bits >= outbits) {
      bits -= outbits;
      if (n >= outcap) return AG_E_ADDR_FORMAT;
      out[n++] = (uint8_t)((val >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits) {
      if (n >= outcap) return AG_E_ADDR_FORMAT;
      out[n++] = (uint8_t)((val << (outbits - bits)) & maxv);
    }
  } else if (bits >= inbits || ((val << (outbits - bits)) & maxv)) {
    return AG_E_ADDR_FORMAT;
  }
  *outlen = n;
  return 0;
}

int ag_bech32_encode(const char *hrp, const uint8_t *data, size_t len, char *out) {
  size_t hlen = strlen(hrp);
  uint8_t d5[AG_BECH32_MAX];
  size_t n5;
  if (hlen < 1 || hlen > 31) return AG_E_INVALID;
  if (convert_bits(d5, &n5, sizeof d5, 5, data, len, 8, 1)) return AG_E_INVALID;
  if (hlen + 1 + n5 + 6 + 1 > AG_BECH32_MAX) return AG_E_INVALID;
  uint32_t chk = hrp_polymod(hrp, hlen);
  char *p = out;
  for (size_t i = 0; i < hlen; i++) {
    char c = hrp[i];
    if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z')) return AG_E_INVALID;
    *p++ = c;
  }
  *p++ = '1';
  for (size_t i = 0; i < n5; i++) {
    chk = polymod_step(chk) ^ d5[i];
    *p++ = charset[d5[i]];
  }
  for (int i = 0; i < 6; i++) chk = polymod_step(chk);
  chk ^= BECH32M_CONST;
  for (int i = 0; i < 6; i++) *p++ = charset[(chk >> (5 * (5 - i))) & 31];
  *p = 0;
  return 0;
}

int ag_bech32_decode(const char *s, char *hrp_out, uint8_t *data, size_t cap, size_t *len) {
  size_t n = strnlen(s, AG_BECH32_MAX);
  if (n >= AG_BECH32_MAX || n < 8) return AG_E_ADDR_FORMAT;
  int lower = 0, upper = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 33 || c > 126) return AG_E_ADDR_FORMAT;
    if (c >= 'a' && c <= 'z') lower = 1;
    if (c >= 'A' && c <= 'Z') upper = 1;
  }
  if (lower && upper) return AG_E_ADDR_FORMAT;
  const char *sep = strrchr(s, '1');
  if (!sep) return AG_E_ADDR_FORMAT;
  size_t hlen = (size_t)(sep - s), dlen = n - hlen - 1;
  if (hlen < 1 || hlen > 31 || dlen < 6) return AG_E_ADDR_FORMAT;
  char hrp[32];
  for (size_t i = 0; i < hlen; i++) {
    char c = s[i];
    hrp[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  hrp[hlen] = 0;
  uint8_t d5[AG_BECH32_MAX];
  uint32_t chk = hrp_polymod(hrp, hlen);
  for (size_t i = 0; i < dlen; i++) {
    char c = sep[1 + i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    const char *f = strchr(charset, c);
    if (!f || !c) return AG_E_ADDR_FORMAT;
    d5[i] = (uint8_t)(f - charset);
    chk = polymod_step(chk) ^ d5[i];
  }
  if (chk != BECH32M_CONST) return AG_E_ADDR_CHECKSUM;
  if (convert_bits(data, len, cap, 8, d5, dlen - 6, 5, 0)) return AG_E_ADDR_FORMAT;
  memcpy(hrp_out, hrp, hlen + 1);
  return 0;
}
