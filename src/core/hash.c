/* hash.c — domain-separated BLAKE2b-256 over libsodium. */
#include "core/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_crypto_init(void) {
  if (sodium_init() < 0) {
    fprintf(stderr, "agora: libsodium failed to initialize\n");
    abort();
  }
}

static void personal(const char *domain, uint8_t p[16]) {
  size_t n = strlen(domain);
  if (n > 16) {
    /* A programming error, never input-driven: domains are compile-time constants. */
    fprintf(stderr, "agora: hash domain '%s' longer than 16 bytes\n", domain);
    abort();
  }
  memset(p, 0, 16);
  memcpy(p, domain, n);
}

void ag_hasher_init(ag_hasher *h, const char *domain) {
  uint8_t p[16];
  personal(domain, p);
  crypto_generichash_blake2b_init_salt_personal(&h->st, NULL, 0, AG_HASH_LEN, NULL, p);
}

void ag_hasher_update(ag_hasher *h, const void *data, size_t len) {
  crypto_generichash_blake2b_update(&h->st, data, len);
}

void ag_hasher_final(ag_hasher *h, uint8_t out[AG_HASH_LEN]) {
  crypto_generichash_blake2b_final(&h->st, out, AG_HASH_LEN);
}

void ag_hash(const char *domain, const void *data, size_t len, uint8_t out[AG_HASH_LEN]) {
  uint8_t p[16];
  personal(domain, p);
  crypto_generichash_blake2b_salt_personal(out, AG_HASH_LEN, data, len, NULL, 0, NULL, p);
}

void ag_hash2(const char *domain, const void *a, size_t alen, const void *b, size_t blen,
              uint8_t out[AG_HASH_LEN]) {
  ag_hasher h;
  ag_hasher_init(&h, domain);
  ag_hasher_update(&h, a, alen);
  ag_hasher_update(&h, b, blen);
  ag_hasher_final(&h, out);
}
