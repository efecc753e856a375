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

/* Argon2id cost the keystore writes, which is also the least it reads: a file asking for fewer
 * passes or less memory (or naming another KDF) is refused with AG_E_KEYSTORE_WEAK_KDF before
 * any key derivation, so a file swapped for a cheap-to-guess one is not used. */
#define AG_KEYSTORE_OPSLIMIT 3
#define AG_KEYSTORE_MEMLIMIT ((size_t)64 << 20)
/* The most a file may ask for, so that a hostile file cannot make the loader allocate more than
 * 1 GiB or run for minutes: at most 8 passes, 1 GiB, and 4 GiB of passes x memory in all
 * (libsodium's "sensitive" level, 4 passes over 1 GiB). Above: AG_E_KEYSTORE_WEAK_KDF too. */
#define AG_KEYSTORE_OPSLIMIT_MAX 8
#define AG_KEYSTORE_MEMLIMIT_MAX ((size_t)1 << 30)
#define AG_KEYSTORE_WORK_MAX ((uint64_t)4 << 30)

/* Sets the Argon2id cost written and the floor read (tests lower both to stay fast). */
void ag_keystore_set_cost(uint64_t opslimit, size_t memlimit);

/* Writes dir/NAME.json. passphrase NULL means insecure (then chain_id is required).
 * AG_E_EXISTS if the name is taken. */
int ag_keystore_save(const char *dir, const char *name, const ag_keypair *k,
                     const char *passphrase, const char *insecure_chain_id);
/* Reads public information only (no passphrase needed). */
int ag_keystore_info(const char *dir, const char *name, ag_keyinfo *info);
/* Decrypts. AG_E_KEY_NOT_FOUND, AG_E_KEYSTORE_CORRUPT, AG_E_KEYSTORE_WEAK_KDF (Argon2id cost
 * outside the bounds above, or another KDF), AG_E_BAD_PASSPHRASE or AG_E_PASSPHRASE_REQUIRED
 * (encrypted key and passphrase NULL). */
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
