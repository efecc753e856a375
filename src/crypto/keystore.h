/*
 * keystore.h — keys at rest: one JSON file per key under a folder (HOME/keys/NAME.json).
 *
 * Encrypted files (format "agora-key/1", kdf "argon2id"): the 32-byte seed is sealed with
 * XChaCha20-Poly1305 under a key derived from the passphrase with Argon2id; the address is the
 * associated data, so a file cannot be re-labelled. Insecure files (kdf "none") hold the seed in
 * hex and are bound to one devnet chain id: ag_keystore_check_chain refuses them for any other
 * chain. They exist only so a local devnet can run unattended. File layout: docs/formats.md.
 */
#ifndef AG_KEYSTORE_H
#define AG_KEYSTORE_H

#include "crypto/keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_KEYNAME_MAX 64

typedef struct {
  char name[AG_KEYNAME_MAX + 1];
  char address[AG_ADDR_MAX];
  uint8_t pk[AG_PK_LEN];
  bool insecure;
  char insecure_chain_id[65]; /* only for insecure keys */
  uint64_t created_ms;
} ag_keyinfo;

/* Key names are 1..64 of [A-Za-z0-9._-], not starting with '.'. */
bool ag_keyname_valid(const char *name);

/* Argon2id cost; tests lower it. Defaults: 3 passes over 64 MiB. */
void ag_keystore_set_cost(uint64_t opslimit, size_t memlimit);

/* Writes dir/NAME.json. passphrase NULL means insecure (then chain_id is required).
 * AG_E_EXISTS if the name is taken. */
int ag_keystore_save(const char *dir, const char *name, const ag_keypair *k,
                     const char *passphrase, const char *insecure_chain_id);
/* Reads public information only (no passphrase needed). */
int ag_keystore_info(const char *dir, const char *name, ag_keyinfo *info);
/* Decrypts. AG_E_KEY_NOT_FOUND, AG_E_KEYSTORE_CORRUPT, AG_E_BAD_PASSPHRASE or
 * AG_E_PASSPHRASE_REQUIRED (encrypted key and passphrase NULL). */
int ag_keystore_load(const char *dir, const char *name, const char *passphrase, ag_keypair *k,
                     ag_keyinfo *info);
/* Insecure keys may sign only for their own chain id. */
int ag_keystore_check_chain(const ag_keyinfo *info, const char *chain_id);
/* Lists keys sorted by name; caller frees *out. */
int ag_keystore_list(const char *dir, ag_keyinfo **out, size_t *n);
/* Parses one keystore file's bytes (used by load and by the fuzz target). */
int ag_keystore_parse(const uint8_t *data, size_t len, const char *passphrase, ag_keypair *k,
                      ag_keyinfo *info);

#endif
