/*
 * keys.h — ed25519 keys, signatures and addresses (through libsodium).
 *
 * An address is the Bech32m encoding of the 32-byte public key under the prefix "agora"
 * ("agora1..." , 64 characters); its checksum rejects typos. A key backup is the 32-byte seed
 * under the prefix "agorasecret". Secret material is wiped with ag_key_wipe().
 */
#ifndef AG_KEYS_H
#define AG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define AG_PK_LEN 32
#define AG_SEED_LEN 32
#define AG_SIG_LEN 64
#define AG_ADDR_HRP "agora"
#define AG_ADDR_MAX 72
#define AG_BACKUP_HRP "agorasecret"

typedef struct {
  uint8_t pk[AG_PK_LEN];
  uint8_t sk[64]; /* libsodium layout: seed || pk */
} ag_keypair;

void ag_key_generate(ag_keypair *k);
void ag_key_from_seed(ag_keypair *k, const uint8_t seed[AG_SEED_LEN]);
void ag_key_seed(const ag_keypair *k, uint8_t seed[AG_SEED_LEN]);
void ag_key_wipe(ag_keypair *k);

void ag_sign(const ag_keypair *k, const void *msg, size_t len, uint8_t sig[AG_SIG_LEN]);
/* 0 or AG_E_BAD_SIGNATURE. Rejects small-order and non-canonical keys and signatures. */
int ag_verify(const uint8_t pk[AG_PK_LEN], const void *msg, size_t len,
              const uint8_t sig[AG_SIG_LEN]);

void ag_addr_encode(const uint8_t pk[AG_PK_LEN], char out[AG_ADDR_MAX]);
/* AG_E_ADDR_FORMAT (also for s NULL), AG_E_ADDR_CHECKSUM or AG_E_ADDR_PREFIX, each with a detailed
 * message. */
int ag_addr_decode(const char *s, uint8_t pk[AG_PK_LEN]);

/* Checksummed text backup of a key ("agorasecret1..."); decoding checks the checksum. */
void ag_key_backup_encode(const ag_keypair *k, char out[AG_ADDR_MAX + 16]);
int ag_key_backup_decode(const char *s, ag_keypair *k);

#endif
