/* keys.c — ed25519 over libsodium, addresses and backups over Bech32m. */
#include "crypto/keys.h"

#include "core/bech32.h"
#include "core/err.h"
#include "core/hash.h"

#include <sodium.h>
#include <string.h>

void ag_key_generate(ag_keypair *k) {
  ag_crypto_init();
  crypto_sign_ed25519_keypair(k->pk, k->sk);
}

void ag_key_from_seed(ag_keypair *k, const uint8_t seed[AG_SEED_LEN]) {
  ag_crypto_init();
  crypto_sign_ed25519_seed_keypair(k->pk, k->sk, seed);
}

void ag_key_seed(const ag_keypair *k, uint8_t seed[AG_SEED_LEN]) { memcpy(seed, k->sk, 32); }

void ag_key_wipe(ag_keypair *k) { sodium_memzero(k, sizeof *k); }

void ag_sign(const ag_keypair *k, const void *msg, size_t len, uint8_t sig[AG_SIG_LEN]) {
  crypto_sign_ed25519_detached(sig, NULL, msg, len, k->sk);
}

int ag_verify(const uint8_t pk[AG_PK_LEN], const void *msg, size_t len,
              const uint8_t sig[AG_SIG_LEN]) {
  return crypto_sign_ed25519_verify_detached(sig, msg, len, pk) == 0 ? 0 : AG_E_BAD_SIGNATURE;
}

void ag_addr_encode(const uint8_t pk[AG_PK_LEN], char out[AG_ADDR_MAX]) {
  ag_bech32_encode(AG_ADDR_HRP, pk, AG_PK_LEN, out);
}

int ag_addr_decode(const char *s, uint8_t pk[AG_PK_LEN]) {
  char hrp[32];
  uint8_t data[64];
  size_t n = 0;
  /* NULL is what json_string_value gives for a field that is missing or not a string */
  if (!s) return ag_fail(AG_E_ADDR_FORMAT, "no address (a missing or non-string field)");
  int rc = ag_bech32_decode(s, hrp, data, sizeof data, &n);
  if (rc == AG_E_ADDR_CHECKSUM)
    return ag_fail(rc, "address '%.80s' has a bad checksum: check it for typos", s);
  if (rc) return ag_fail(AG_E_ADDR_FORMAT, "'%.80s' is not an agora address", s);
  if (strcmp(hrp, AG_ADDR_HRP) != 0)
    return ag_fail(AG_E_ADDR_PREFIX, "address prefix is '%s', expected '%s'", hrp, AG_ADDR_HRP);
  if (n != AG_PK_LEN)
    return ag_fail(AG_E_ADDR_FORMAT, "address holds %zu bytes, expected %d", n, AG_PK_LEN);
  memcpy(pk, data, AG_PK_LEN);
  return 0;
}

void ag_key_backup_encode(const ag_keypair *k, char out[AG_ADDR_MAX + 16]) {
  ag_bech32_encode(AG_BACKUP_HRP, k->sk, AG_SEED_LEN, out);
}

int ag_key_backup_decode(const char *s, ag_keypair *k) {
  char hrp[32];
  uint8_t data[64];
  size_t n = 0;
  int rc = ag_bech32_decode(s, hrp, data, sizeof data, &n);
  if (rc == AG_E_ADDR_CHECKSUM)
    return ag_fail(AG_E_BACKUP_CHECKSUM, "key backup has a bad checksum: check it for typos");
  if (rc || strcmp(hrp, AG_BACKUP_HRP) != 0 || n != AG_SEED_LEN) {
    sodium_memzero(data, sizeof data);
    return ag_fail(AG_E_BAD_KEY, "not an agora key backup (expected %s1...)", AG_BACKUP_HRP);
  }
  ag_key_from_seed(k, data);
  sodium_memzero(data, sizeof data);
  return 0;
}
