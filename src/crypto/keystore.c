/* keystore.c — Argon2id + XChaCha20-Poly1305 key files, as JSON via jansson. */
#include "crypto/keystore.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"

#include <dirent.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "agora-key/1"
#define MAX_FILE (64 * 1024)

static uint64_t cost_ops = AG_KEYSTORE_OPSLIMIT;
static size_t cost_mem = AG_KEYSTORE_MEMLIMIT;

void ag_keystore_set_cost(uint64_t opslimit, size_t memlimit) {
  cost_ops = opslimit;
  cost_mem = memlimit;
}

bool ag_keyname_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > AG_KEYNAME_MAX || name[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static int key_path(const char *dir, const char *name, char *out, size_t cap) {
  if (!ag_keyname_valid(name))
    return ag_fail(AG_E_INVALID, "invalid key name '%.70s' (use letters, digits, . _ -)", name);
  if ((size_t)snprintf(out, cap, "%s/%s.json", dir, name) >= cap)
    return ag_fail(AG_E_INVALID, "path too long");
  return 0;
}

static void hexstr(json_t *o, const char *k, const uint8_t *p, size_t n) {
  char *h = ag_xmalloc(2 * n + 1);
  ag_hex_encode(p, n, h);
  json_object_set_new(o, k, json_string(h));
  free(h);
}

int ag_keystore_save(const char *dir, const char *name, const ag_keypair *k,
                     const char *passphrase, const char *insecure_chain_id) {
  char path[4096];
  int rc = key_path(dir, name, path, sizeof path);
  if (rc) return rc;
  if (!passphrase && (!insecure_chain_id || !*insecure_chain_id))
    return ag_fail(AG_E_INVALID, "an unencrypted key must be bound to a devnet chain id");
  if (ag_file_exists(path)) return ag_fail(AG_E_EXISTS, "a key named '%s' already exists", name);
  rc = ag_mkdirs(dir, 0700);
  if (rc) return rc;

  char addr[AG_ADDR_MAX];
  ag_addr_encode(k->pk, addr);
  json_t *root = json_object(), *crypto = json_object();
  json_object_set_new(root, "format", json_string(FORMAT));
  json_object_set_new(root, "name", json_string(name));
  json_object_set_new(root, "address", json_string(addr));
  json_object_set_new(root, "created_ms", json_integer((json_int_t)ag_now_ms()));
  if (!passphrase) {
    json_object_set_new(root, "insecure_chain_id", json_string(insecure_chain_id));
    json_object_set_new(crypto, "kdf", json_string("none"));
    hexstr(crypto, "seed", k->sk, AG_SEED_LEN);
  } else {
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    uint8_t dk[32], ct[AG_SEED_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    if (crypto_pwhash(dk, sizeof dk, passphrase, strlen(passphrase), salt, cost_ops, cost_mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
      json_decref(crypto);
      json_decref(root);
      return ag_fail(AG_E_NOMEM, "argon2id could not allocate %zu bytes", cost_mem);
    }
    unsigned long long ctlen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, k->sk, AG_SEED_LEN,
                                               (const uint8_t *)addr, strlen(addr), NULL, nonce,
                                               dk);
    sodium_memzero(dk, sizeof dk);
    json_object_set_new(crypto, "kdf", json_string("argon2id"));
    json_object_set_new(crypto, "opslimit", json_integer((json_int_t)cost_ops));
    json_object_set_new(crypto, "memlimit", json_integer((json_int_t)cost_mem));
    hexstr(crypto, "salt", salt, sizeof salt);
    json_object_set_new(crypto, "cipher", json_string("xchacha20poly1305"));
    hexstr(crypto, "nonce", nonce, sizeof nonce);
    hexstr(crypto, "ciphertext", ct, (size_t)ctlen);
  }
  json_object_set_new(root, "crypto", crypto);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  rc = ag_write_file_atomic(path, text, strlen(text), 0600);
  sodium_memzero(text, strlen(text));
  free(text);
  return rc;
}

static int corrupt(const char *what) {
  return ag_fail(AG_E_KEYSTORE_CORRUPT, "keystore file is corrupt: %s", what);
}

/* Refuses an Argon2id cost below what this keystore writes (a file made cheap to guess) and
 * above the bounds in keystore.h (a file made to exhaust the loader), before deriving. */
static int check_cost(const char *name, json_int_t ops, json_int_t mem) {
  if (ops < (json_int_t)cost_ops || mem < (json_int_t)cost_mem)
    return ag_fail(AG_E_KEYSTORE_WEAK_KDF, "key '%s' asks for argon2id with %lld pass(es) over %lld bytes; "
                   "Agora requires at least %llu over %zu bytes",
                   name, (long long)ops, (long long)mem, (unsigned long long)cost_ops, cost_mem);
  if (ops > AG_KEYSTORE_OPSLIMIT_MAX || mem > (json_int_t)AG_KEYSTORE_MEMLIMIT_MAX ||
      (uint64_t)ops * (uint64_t)mem > AG_KEYSTORE_WORK_MAX)
    return ag_fail(AG_E_KEYSTORE_WEAK_KDF, "key '%s' asks for argon2id with %lld pass(es) over %lld bytes; "
                   "Agora derives keys with at most %d passes, %zu bytes and %llu bytes x passes",
                   name, (long long)ops, (long long)mem, AG_KEYSTORE_OPSLIMIT_MAX,
                   AG_KEYSTORE_MEMLIMIT_MAX, (unsigned long long)AG_KEYSTORE_WORK_MAX);
  return 0;
}

static int get_hex(json_t *o, const char *k, uint8_t *out, size_t n) {
  const char *s = json_string_value(json_object_get(o, k));
  if (!s || ag_hex_decode(s, strlen(s), out, n)) return -1;
  return 0;
}

int ag_keystore_parse(const uint8_t *data, size_t len, const char *passphrase, ag_keypair *k,
                      ag_keyinfo *info) {
  json_error_t jerr;
  json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) return corrupt("not JSON");
  int rc = 0;
  ag_keyinfo ki;
  memset(&ki, 0, sizeof ki);
  uint8_t seed[AG_SEED_LEN], dk[32];
  const char *fmt = json_string_value(json_object_get(root, "format"));
  const char *name = json_string_value(json_object_get(root, "name"));
  const char *addr = json_string_value(json_object_get(root, "address"));
  json_t *crypto = json_object_get(root, "crypto");
  const char *kdf = json_string_value(json_object_get(crypto, "kdf"));
  if (!fmt || strcmp(fmt, FORMAT) != 0) {
    rc = corrupt("unknown format");
    goto done;
  }
  if (!name || !ag_keyname_valid(name) || !addr || !kdf) {
    rc = corrupt("missing name, address or kdf");
    goto done;
  }
  snprintf(ki.name, sizeof ki.name, "%s", name);
  if (ag_addr_decode(addr, ki.pk) != 0) {
    rc = corrupt("bad address");
    goto done;
  }
  snprintf(ki.address, sizeof ki.address, "%s", addr);
  json_t *created = json_object_get(root, "created_ms");
  if (json_is_integer(created)) ki.created_ms = (uint64_t)json_integer_value(created);
  if (!strcmp(kdf, "none")) {
    const char *chain = json_string_value(json_object_get(root, "insecure_chain_id"));
    if (chain && *chain && strlen(chain) <= 64) {
      ki.insecure = true;
      snprintf(ki.insecure_chain_id, sizeof ki.insecure_chain_id, "%s", chain);
    }
  }
  if (info) *info = ki; /* public part, valid even when the passphrase is missing or wrong */
  if (!strcmp(kdf, "none")) {
    const char *chain = json_string_value(json_object_get(root, "insecure_chain_id"));
    if (!chain || !*chain || strlen(chain) > 64) {
      rc = corrupt("insecure key without a chain id");
      goto done;
    }
    ki.insecure = true;
    snprintf(ki.insecure_chain_id, sizeof ki.insecure_chain_id, "%s", chain);
    if (get_hex(crypto, "seed", seed, sizeof seed)) {
      rc = corrupt("bad seed");
      goto done;
    }
  } else if (!strcmp(kdf, "argon2id")) {
    const char *cipher = json_string_value(json_object_get(crypto, "cipher"));
    json_t *jops = json_object_get(crypto, "opslimit"), *jmem = json_object_get(crypto, "memlimit");
    json_int_t ops = json_integer_value(jops), mem = json_integer_value(jmem);
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    uint8_t ct[AG_SEED_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES];
    if (!json_is_integer(jops) || !json_is_integer(jmem)) {
      rc = corrupt("argon2id opslimit and memlimit must be integers");
      goto done;
    }
    if ((rc = check_cost(name, ops, mem))) goto done;
    if (!cipher || strcmp(cipher, "xchacha20poly1305") || get_hex(crypto, "salt", salt, 16) ||
        get_hex(crypto, "nonce", nonce, sizeof nonce) ||
        get_hex(crypto, "ciphertext", ct, sizeof ct)) {
      rc = corrupt("bad cipher parameters");
      goto done;
    }
    if (!passphrase) {
      rc = ag_fail(AG_E_PASSPHRASE_REQUIRED,
                   "key '%s' is encrypted: set AGORA_PASSPHRASE, or use --passphrase-file or --passphrase-fd",
                   name);
      goto done;
    }
    if (crypto_pwhash(dk, sizeof dk, passphrase, strlen(passphrase), salt,
                      (unsigned long long)ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
      rc = ag_fail(AG_E_NOMEM, "argon2id could not allocate %lld bytes", (long long)mem);
      goto done;
    }
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &plen, NULL, ct, sizeof ct,
                                                   (const uint8_t *)addr, strlen(addr), nonce,
                                                   dk) != 0 ||
        plen != AG_SEED_LEN) {
      rc = ag_fail(AG_E_BAD_PASSPHRASE, "wrong passphrase for key '%s' (or the file was altered)",
                   name);
      goto done;
    }
  } else {
    rc = ag_fail(AG_E_KEYSTORE_WEAK_KDF,
                 "key '%s' uses the key derivation '%.32s'; this version reads only argon2id "
                 "(and unencrypted dev keys)", name, kdf);
    goto done;
  }
  if (k) {
    ag_key_from_seed(k, seed);
    if (memcmp(k->pk, ki.pk, AG_PK_LEN) != 0) {
      ag_key_wipe(k);
      rc = corrupt("seed does not match the address");
      goto done;
    }
  }
  if (info) *info = ki;
done:
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(dk, sizeof dk);
  json_decref(root);
  return rc;
}

int ag_keystore_load(const char *dir, const char *name, const char *passphrase, ag_keypair *k,
                     ag_keyinfo *info) {
  char path[4096];
  int rc = key_path(dir, name, path, sizeof path);
  if (rc) return rc;
  uint8_t *data;
  size_t len;
  rc = ag_read_file(path, MAX_FILE, &data, &len);
  if (rc == AG_E_NOTFOUND) return ag_fail(AG_E_KEY_NOT_FOUND, "no key named '%s' in %s", name, dir);
  if (rc) return rc;
  ag_keyinfo ki;
  memset(&ki, 0, sizeof ki);
  rc = ag_keystore_parse(data, len, passphrase, k, &ki);
  sodium_memzero(data, len);
  free(data);
  if (rc == AG_E_PASSPHRASE_REQUIRED && info) *info = ki;
  if (rc) return rc;
  if (strcmp(ki.name, name) != 0) {
    if (k) ag_key_wipe(k);
    return corrupt("name inside the file differs from the file name");
  }
  if (info) *info = ki;
  return 0;
}

int ag_keystore_info(const char *dir, const char *name, ag_keyinfo *info) {
  int rc = ag_keystore_load(dir, name, NULL, NULL, info);
  return rc == AG_E_PASSPHRASE_REQUIRED ? 0 : rc;
}

int ag_keystore_check_chain(const ag_keyinfo *info, const char *chain_id) {
  if (info->insecure && strcmp(info->insecure_chain_id, chain_id) != 0)
    return ag_fail(AG_E_INSECURE_KEY,
                   "key '%s' is an unencrypted dev key for chain '%s' and may not sign for '%s'",
                   info->name, info->insecure_chain_id, chain_id);
  return 0;
}

static int cmp_info(const void *a, const void *b) {
  return strcmp(((const ag_keyinfo *)a)->name, ((const ag_keyinfo *)b)->name);
}

int ag_keystore_list(const char *dir, ag_keyinfo **out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0; /* no folder yet: no keys */
  size_t cap = 0, cnt = 0;
  ag_keyinfo *v = NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
    char name[AG_KEYNAME_MAX + 1];
    if (len - 5 > AG_KEYNAME_MAX) continue;
    memcpy(name, e->d_name, len - 5);
    name[len - 5] = 0;
    ag_keyinfo ki;
    if (ag_keystore_info(dir, name, &ki) != 0) continue; /* skip unreadable files */
    if (cnt == cap) {
      cap = cap ? cap * 2 : 16;
      v = ag_xrealloc(v, cap * sizeof *v);
    }
    v[cnt++] = ki;
  }
  closedir(d);
  if (cnt) qsort(v, cnt, sizeof *v, cmp_info);
  *out = v;
  *n = cnt;
  return 0;
}
