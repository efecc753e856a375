/*
 * endpoint.c — what a neuron may announce as its endpoint (serve tx): a host name or an IP
 * literal, never something that turns into another URL when pasted into one, and — unless the
 * chain's genesis allows private endpoints (devnets do) — never an address inside someone's
 * network: loopback, private, link-local, shared, multicast or reserved ranges, nor names like
 * localhost. Validators and trainers connect to these endpoints; an attacker who could announce
 * 127.0.0.1:8740 or 10.0.0.1:22 would turn every validator into a scanner of its own network.
 *
 * The parsers are our own and strict (no libc inet_pton, whose accepted forms differ between
 * C libraries): this runs in the state machine, where every node must decide alike.
 */
#include "incentive/endpoint.h"
#include "incentive/incentive.h"

#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Dotted quad, each part 0..255 without leading zeros. */
static int parse_v4(const char *s, size_t n, uint8_t out[4]) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part && (i >= n || s[i++] != '.')) return -1;
    size_t start = i;
    unsigned v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (unsigned)(s[i++] - '0');
    size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && s[start] == '0')) return -1;
    out[part] = (uint8_t)v;
  }
  return i == n ? 0 : -1;
}

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Eight groups of 1..4 hex digits, at most one "::"; no embedded IPv4, no zone. */
static int parse_v6(const char *s, size_t n, uint8_t out[16]) {
  uint16_t g[8];
  int ng = 0, gap = -1;
  size_t i = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
    if (i == n) goto done;
  } else if (n && s[0] == ':') {
    return -1;
  }
  for (;;) {
    size_t start = i;
    unsigned v = 0;
    while (i < n && hexval((unsigned char)s[i]) >= 0 && i - start < 4) v = v << 4 | (unsigned)hexval((unsigned char)s[i++]);
    if (i == start || ng == 8) return -1;
    g[ng++] = (uint16_t)v;
    if (i == n) break;
    if (s[i] != ':') return -1;
    i++;
    if (i < n && s[i] == ':') {
      if (gap >= 0) return -1;
      gap = ng;
      i++;
      if (i == n) break;
    } else if (i == n) {
      return -1;
    }
  }
done:
  if (gap < 0 ? ng != 8 : ng > 7) return -1;
  memset(out, 0, 16);
  int tail = gap < 0 ? 0 : ng - gap;
  for (int k = 0; k < ng; k++) {
    int pos = gap < 0 || k < gap ? k : 8 - tail + (k - gap);
    out[2 * pos] = (uint8_t)(g[k] >> 8);
    out[2 * pos + 1] = (uint8_t)g[k];
  }
  return 0;
}

/* Host name: labels of 1..63 letters, digits and hyphens (not at either end), the last one
 * not all digits (that would read as an address). */
static int parse_name(const char *s, size_t n, int *labels) {
  size_t i = 0;
  int all_digits = 0;
  *labels = 0;
  while (i < n) {
    size_t start = i;
    all_digits = 1;
    while (i < n && s[i] != '.') {
      if (!isalnum((unsigned char)s[i]) && s[i] != '-') return -1;
      if (!isdigit((unsigned char)s[i])) all_digits = 0;
      i++;
    }
    size_t len = i - start;
    if (len < 1 || len > 63 || s[start] == '-' || s[i - 1] == '-') return -1;
    (*labels)++;
    if (i < n) i++; /* the dot */
    if (i == n && s[n - 1] == '.') return -1;
  }
  return *labels && !all_digits ? 0 : -1;
}

static int private_v4(const uint8_t a[4]) {
  return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xc0) == 64) ||
         (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
         (a[0] == 192 && a[1] == 0 && a[2] == 0) || (a[0] == 192 && a[1] == 0 && a[2] == 2) ||
         (a[0] == 192 && a[1] == 168) || (a[0] == 198 && (a[1] & 0xfe) == 18) ||
         (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113) ||
         a[0] >= 224;
}

static int private_v6(const uint8_t a[16]) {
  static const uint8_t zero[16];
  if (!memcmp(a, zero, 15) && a[15] <= 1) return 1; /* :: and ::1 */
  if (!memcmp(a, zero, 10) && a[10] == 0xff && a[11] == 0xff) return 1; /* IPv4-mapped */
  if ((a[0] & 0xfe) == 0xfc) return 1;                                  /* unique local */
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return 1;                  /* link-local */
  if (a[0] == 0xff) return 1;                                           /* multicast */
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return 1; /* documentation */
  return 0;
}

int ag_endpoint_addr_private(const uint8_t *addr, size_t len) {
  if (len == 4) return private_v4(addr);
  if (len != 16) return 0;
  /* Stricter than the chain's literal check (which a change would turn into another set of
   * valid txs), as this runs only where a program connects: IPv6 forms a translator turns into
   * an IPv4 address inside a network are refused too. */
  static const uint8_t zero[12], nat64[12] = {0x00, 0x64, 0xff, 0x9b};
  if (!memcmp(addr, zero, 12)) return 1;                             /* ::/96, IPv4-compatible */
  if (!memcmp(addr, nat64, 12)) return private_v4(addr + 12);         /* NAT64 64:ff9b::/96 */
  if (!memcmp(addr, nat64, 4) && addr[4] == 0 && addr[5] == 1) return 1; /* 64:ff9b:1::/48, local */
  if (addr[0] == 0x20 && addr[1] == 0x02) return private_v4(addr + 2); /* 6to4 2002::/16 */
  return private_v6(addr);
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && !strncasecmp(s + n - k, suffix, k);
}

int ag_endpoint_check(const char *host, size_t n, int allow_private) {
  uint8_t a4[4], a6[16];
  int labels;
  if (n == 0 || n > AG_HOST_MAX) return ag_fail(AG_E_BAD_ENDPOINT, "an endpoint host is 1..%d bytes", AG_HOST_MAX);
  if (parse_v4(host, n, a4) == 0) {
    if (!allow_private && private_v4(a4))
      return ag_fail(AG_E_BAD_ENDPOINT, "%.*s is a loopback, private, link-local or reserved address; this chain accepts only public endpoints", (int)n, host);
    return 0;
  }
  if (parse_v6(host, n, a6) == 0) {
    if (!allow_private && private_v6(a6))
      return ag_fail(AG_E_BAD_ENDPOINT, "%.*s is a loopback, private, link-local or reserved address; this chain accepts only public endpoints", (int)n, host);
    return 0;
  }
  if (parse_name(host, n, &labels))
    return ag_fail(AG_E_BAD_ENDPOINT, "an endpoint host must be a host name or an IP address (letters, digits, '-' and '.'; or an IPv4/IPv6 literal)");
  if (!allow_private && (labels < 2 || !strncasecmp(host, "localhost", n) || ends_with(host, n, ".localhost") ||
                         ends_with(host, n, ".local") || ends_with(host, n, ".internal") || ends_with(host, n, ".home.arpa")))
    return ag_fail(AG_E_BAD_ENDPOINT, "%.*s is a local name; this chain accepts only public endpoints", (int)n, host);
  return 0;
}

void ag_endpoint_url(const char *host, unsigned port, char *out, size_t cap) {
  if (strchr(host, ':')) snprintf(out, cap, "http://[%s]:%u", host, port);
  else snprintf(out, cap, "http://%s:%u", host, port);
}
