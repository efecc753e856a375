/*
 * hash.h — BLAKE2b-256 with domain separation, the one hash of Agora.
 *
 * The domain is a short ASCII tag (at most 16 bytes, e.g. "agora/tx") passed as BLAKE2b's
 * personalization parameter, zero-padded to 16 bytes; no key, no salt. Equivalent to Python's
 * hashlib.blake2b(data, digest_size=32, person=tag). Different domains never collide on the
 * same bytes, so a signature or a Merkle node of one kind cannot be replayed as another.
 */
#ifndef AG_HASH_H
#define AG_HASH_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define AG_HASH_LEN 32

typedef struct {
  crypto_generichash_blake2b_state st;
} ag_hasher;

void ag_hasher_init(ag_hasher *h, const char *domain);
void ag_hasher_update(ag_hasher *h, const void *data, size_t len);
void ag_hasher_final(ag_hasher *h, uint8_t out[AG_HASH_LEN]);

void ag_hash(const char *domain, const void *data, size_t len, uint8_t out[AG_HASH_LEN]);
/* Hash of the concatenation a || b, common for Merkle nodes. */
void ag_hash2(const char *domain, const void *a, size_t alen, const void *b, size_t blen,
              uint8_t out[AG_HASH_LEN]);

/* Initializes libsodium once; safe to call from anywhere, any number of times. */
void ag_crypto_init(void);

#endif
