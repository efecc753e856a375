/* test_crypto.c — keys, signatures, addresses, backups and the keystore. */
#include "core/bech32.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"
#include "test.h"
#include "testutil.h"

#include <jansson.h>

TEST(sign_and_verify) {
  ag_keypair k;
  test_key(&k, 1);
  uint8_t sig[64];
  ag_sign(&k, "hello", 5, sig);
  CHECK_OK(ag_verify(k.pk, "hello", 5, sig));
  CHECK_EQ(ag_verify(k.pk, "hellp", 5, sig), AG_E_BAD_SIGNATURE);
  sig[10] ^= 1;
  CHECK_EQ(ag_verify(k.pk, "hello", 5, sig), AG_E_BAD_SIGNATURE);
  /* RFC 8032 test 1: empty message, known key and signature. */
  uint8_t seed[32], pk[32], want[64];
  ag_hex_decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", 64, seed, 32);
  ag_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", 64, pk, 32);
  ag_hex_decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                128, want, 64);
  ag_keypair r;
  ag_key_from_seed(&r, seed);
  CHECK_MEM(r.pk, pk, 32);
  ag_sign(&r, "", 0, sig);
  CHECK_MEM(sig, want, 64);
}

TEST(address_roundtrip_and_errors) {
  ag_keypair k;
  test_key(&k, 2);
  char addr[AG_ADDR_MAX];
  ag_addr_encode(k.pk, addr);
  CHECK(strncmp(addr, "agora1", 6) == 0);
  CHECK_EQ(strlen(addr), 64);
  uint8_t pk[32];
  CHECK_OK(ag_addr_decode(addr, pk));
  CHECK_MEM(pk, k.pk, 32);
  char typo[AG_ADDR_MAX];
  strcpy(typo, addr);
  typo[20] = typo[20] == 'x' ? 'y' : 'x';
  CHECK_EQ(ag_addr_decode(typo, pk), AG_E_ADDR_CHECKSUM);
  CHECK(strstr(ag_errmsg(AG_E_ADDR_CHECKSUM), "typo") != NULL);
  char other[AG_ADDR_MAX + 8];
  CHECK_OK(ag_bech32_encode("cosmos", k.pk, 32, other));
  CHECK_EQ(ag_addr_decode(other, pk), AG_E_ADDR_PREFIX);
  CHECK_EQ(ag_addr_decode("agora1", pk), AG_E_ADDR_FORMAT);
  CHECK_EQ(ag_addr_decode("not an address", pk), AG_E_ADDR_FORMAT);
  uint8_t short_key[20] = {1};
  CHECK_OK(ag_bech32_encode("agora", short_key, 20, other));
  CHECK_EQ(ag_addr_decode(other, pk), AG_E_ADDR_FORMAT);
}

TEST(backup_roundtrip_and_typo) {
  ag_keypair k, r;
  test_key(&k, 3);
  char text[AG_ADDR_MAX + 16];
  ag_key_backup_encode(&k, text);
  CHECK(strncmp(text, "agorasecret1", 12) == 0);
  CHECK_OK(ag_key_backup_decode(text, &r));
  CHECK_MEM(r.pk, k.pk, 32);
  CHECK_MEM(r.sk, k.sk, 64);
  text[30] = text[30] == 'q' ? 'p' : 'q';
  CHECK_EQ(ag_key_backup_decode(text, &r), AG_E_BACKUP_CHECKSUM);
  char addr[AG_ADDR_MAX];
  ag_addr_encode(k.pk, addr);
  CHECK_EQ(ag_key_backup_decode(addr, &r), AG_E_BAD_KEY); /* an address is not a backup */
}

TEST(keystore_encrypted) {
  ag_keystore_set_cost(1, 8192 * 1024);
  char *dir = test_tmpdir("ks");
  ag_keypair k, got;
  test_key(&k, 4);
  CHECK_OK(ag_keystore_save(dir, "alice", &k, "correct horse", NULL));
  CHECK_EQ(ag_keystore_save(dir, "alice", &k, "x", NULL), AG_E_EXISTS);
  CHECK_EQ(ag_keystore_save(dir, "../evil", &k, "x", NULL), AG_E_INVALID);
  ag_keyinfo info;
  CHECK_OK(ag_keystore_info(dir, "alice", &info));
  CHECK_MEM(info.pk, k.pk, 32);
  CHECK(!info.insecure);
  CHECK_EQ(ag_keystore_load(dir, "alice", NULL, &got, &info), AG_E_PASSPHRASE_REQUIRED);
  CHECK_EQ(ag_keystore_load(dir, "alice", "wrong", &got, &info), AG_E_BAD_PASSPHRASE);
  CHECK_OK(ag_keystore_load(dir, "alice", "correct horse", &got, &info));
  CHECK_MEM(got.sk, k.sk, 64);
  CHECK_EQ(ag_keystore_load(dir, "bob", "x", &got, &info), AG_E_KEY_NOT_FOUND);
  /* The file never holds the seed in clear. */
  char path[600], seedhex[65];
  snprintf(path, sizeof path, "%s/alice.json", dir);
  uint8_t *data;
  size_t len;
  CHECK_OK(ag_read_file(path, 1 << 16, &data, &len));
  ag_hex_encode(k.sk, 32, seedhex);
  CHECK(strstr((char *)data, seedhex) == NULL);
  /* Tampering with the ciphertext reads as a bad passphrase; with the JSON, as corrupt. */
  char *ct = strstr((char *)data, "\"ciphertext\": \"");
  CHECK(ct != NULL);
  if (ct) {
    ct += 15;
    *ct = *ct == '0' ? '1' : '0';
    CHECK_OK(ag_write_file_atomic(path, data, len, 0600));
    CHECK_EQ(ag_keystore_load(dir, "alice", "correct horse", &got, &info), AG_E_BAD_PASSPHRASE);
  }
  CHECK_OK(ag_write_file_atomic(path, "{\"format\":", 10, 0600));
  CHECK_EQ(ag_keystore_load(dir, "alice", "correct horse", &got, &info), AG_E_KEYSTORE_CORRUPT);
  free(data);
  test_rmdir(dir);
}

TEST(keystore_insecure_is_bound_to_its_devnet) {
  char *dir = test_tmpdir("ks");
  ag_keypair k, got;
  test_key(&k, 5);
  CHECK_EQ(ag_keystore_save(dir, "dev", &k, NULL, NULL), AG_E_INVALID);
  CHECK_OK(ag_keystore_save(dir, "dev", &k, NULL, "agora-devnet"));
  ag_keyinfo info;
  CHECK_OK(ag_keystore_load(dir, "dev", NULL, &got, &info));
  CHECK(info.insecure);
  CHECK_MEM(got.pk, k.pk, 32);
  CHECK_OK(ag_keystore_check_chain(&info, "agora-devnet"));
  CHECK_EQ(ag_keystore_check_chain(&info, "agora-mainnet"), AG_E_INSECURE_KEY);
  test_key(&k, 6);
  CHECK_OK(ag_keystore_save(dir, "abc", &k, "pw", NULL));
  ag_keyinfo *list;
  size_t n;
  CHECK_OK(ag_keystore_list(dir, &list, &n));
  CHECK_EQ(n, 2);
  if (n == 2) {
    CHECK_STR(list[0].name, "abc");
    CHECK_STR(list[1].name, "dev");
  }
  free(list);
  test_rmdir(dir);
}

TEST(keystore_parse_rejects_garbage) {
  const char *bad[] = {
      "",
      "[]",
      "{\"format\":\"agora-key/1\"}",
      "{\"format\":\"agora-key/1\",\"name\":\"a\",\"address\":\"agora1xyz\",\"crypto\":{\"kdf\":\"none\"}}",
      "{\"format\":\"agora-key/2\",\"name\":\"a\"}",
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(bad); i++) {
    ag_keypair k;
    ag_keyinfo info;
    CHECK_EQ(ag_keystore_parse((const uint8_t *)bad[i], strlen(bad[i]), "pw", &k, &info),
             AG_E_KEYSTORE_CORRUPT);
  }
}

/* The keystore file at path with crypto.FIELD replaced by v (a new reference). */
static void set_crypto_field(const char *path, const char *field, json_t *v) {
  json_t *root = json_load_file(path, 0, NULL);
  json_object_set_new(json_object_get(root, "crypto"), field, v);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  ag_write_file_atomic(path, text, strlen(text), 0600);
  free(text);
  json_decref(root);
}

/* A file that asks for a cheaper Argon2id than the keystore writes, or another KDF, is refused
 * before any derivation, even with the right passphrase; so is one that asks for absurd cost. */
TEST(keystore_refuses_weak_and_absurd_kdf_parameters) {
  ag_keystore_set_cost(1, 8192 * 1024);
  char *dir = test_tmpdir("ks");
  ag_keypair k, got;
  ag_keyinfo info;
  test_key(&k, 7);
  CHECK_OK(ag_keystore_save(dir, "carol", &k, "pw-carol-1", NULL));
  char path[600];
  snprintf(path, sizeof path, "%s/carol.json", dir);
  uint8_t *data;
  size_t len;
  CHECK_OK(ag_read_file(path, 1 << 16, &data, &len));
  CHECK_OK(ag_keystore_load(dir, "carol", "pw-carol-1", &got, &info));
  /* the same file read by a process that writes the default cost: too weak */
  ag_keystore_set_cost(AG_KEYSTORE_OPSLIMIT, AG_KEYSTORE_MEMLIMIT);
  CHECK_EQ(ag_keystore_load(dir, "carol", "pw-carol-1", &got, &info), AG_E_KEYSTORE_WEAK_KDF);
  CHECK(strstr(ag_errmsg(AG_E_KEYSTORE_WEAK_KDF), "at least 3 over 67108864 bytes") != NULL);
  CHECK_EQ(ag_keystore_info(dir, "carol", &info), AG_E_KEYSTORE_WEAK_KDF);
  ag_keystore_set_cost(1, 8192 * 1024);
  struct {
    const char *field;
    json_t *value;
    int want;
  } cases[] = {
      {"opslimit", json_integer(0), AG_E_KEYSTORE_WEAK_KDF},
      {"memlimit", json_integer(8192 * 1024 - 1024), AG_E_KEYSTORE_WEAK_KDF},
      {"memlimit", json_integer(-1), AG_E_KEYSTORE_WEAK_KDF},
      {"kdf", json_string("scrypt"), AG_E_KEYSTORE_WEAK_KDF},
      {"kdf", json_string("argon2i"), AG_E_KEYSTORE_WEAK_KDF},
      {"opslimit", json_integer(AG_KEYSTORE_OPSLIMIT_MAX + 1), AG_E_KEYSTORE_WEAK_KDF},
      {"opslimit", json_integer(INT64_MAX), AG_E_KEYSTORE_WEAK_KDF},
      {"memlimit", json_integer((json_int_t)1 << 40), AG_E_KEYSTORE_WEAK_KDF},
      {"memlimit", json_integer((json_int_t)AG_KEYSTORE_MEMLIMIT_MAX + 1), AG_E_KEYSTORE_WEAK_KDF},
      {"opslimit", json_string("3"), AG_E_KEYSTORE_CORRUPT},
      {"memlimit", json_real(67108864.0), AG_E_KEYSTORE_CORRUPT},
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(cases); i++) {
    CHECK_OK(ag_write_file_atomic(path, data, len, 0600));
    set_crypto_field(path, cases[i].field, cases[i].value);
    int rc = ag_keystore_load(dir, "carol", "pw-carol-1", &got, &info);
    if (rc != cases[i].want) fprintf(stderr, "  case %zu (%s): %s\n", i, cases[i].field, ag_errmsg(rc));
    CHECK_EQ(rc, cases[i].want);
  }
  /* 8 passes over 1 GiB: each bound alone holds, their product (8 GiB) does not */
  CHECK_OK(ag_write_file_atomic(path, data, len, 0600));
  set_crypto_field(path, "opslimit", json_integer(AG_KEYSTORE_OPSLIMIT_MAX));
  set_crypto_field(path, "memlimit", json_integer((json_int_t)AG_KEYSTORE_MEMLIMIT_MAX));
  CHECK_EQ(ag_keystore_load(dir, "carol", "pw-carol-1", &got, &info), AG_E_KEYSTORE_WEAK_KDF);
  CHECK(strstr(ag_errmsg(AG_E_KEYSTORE_WEAK_KDF), "at most 8 passes") != NULL);
  /* untouched, it still opens */
  CHECK_OK(ag_write_file_atomic(path, data, len, 0600));
  CHECK_OK(ag_keystore_load(dir, "carol", "pw-carol-1", &got, &info));
  CHECK_MEM(got.sk, k.sk, 64);
  free(data);
  test_rmdir(dir);
}

TEST_MAIN(sign_and_verify, address_roundtrip_and_errors, backup_roundtrip_and_typo,
          keystore_encrypted, keystore_insecure_is_bound_to_its_devnet,
          keystore_parse_rejects_garbage, keystore_refuses_weak_and_absurd_kdf_parameters)
