/* fuzz_keystore.c — keystore files, genesis files and validators' pending reveals: parsers
 * never crash. The Argon2 cost in a fuzzed keystore is bounded by the parser (too weak, too
 * costly or another KDF: keystore_weak_kdf before any derivation), and a passphrase is only
 * tried when the rest parses. Pending reveals are checked against the hotkey of seed 0. */
#include "chain/genesis.h"
#include "crypto/keystore.h"
#include "subnets/weights.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_keypair k;
  ag_keyinfo info;
  if (size && data[0] == '{') {
    /* no passphrase: exercise parsing without paying for Argon2 on every input */
    (void)ag_keystore_parse(data, size, NULL, &k, &info);
    static ag_keypair hk;
    static int have;
    if (!have) {
      uint8_t seed[32];
      memset(seed, 0, sizeof seed);
      ag_key_from_seed(&hk, seed);
      have = 1;
    }
    ag_wcommit c[AG_MAX_COMMITS];
    int n = 0;
    if (ag_reveals_parse(data, size, hk.pk, 1, c, &n) == 0)
      for (int i = 0; i < n; i++) ag_wcommit_free(&c[i]);
  }
  ag_genesis g;
  if (ag_genesis_parse((const char *)data, size, &g) == 0) ag_genesis_free(&g);
  return 0;
}
