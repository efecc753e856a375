/* fuzz_keystore.c — keystore files and genesis files: parsers never crash. The Argon2 cost in
 * a fuzzed file is bounded by the parser, and a passphrase is only tried when the rest parses. */
#include "chain/genesis.h"
#include "crypto/keystore.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_keypair k;
  ag_keyinfo info;
  if (size && data[0] == '{') {
    /* no passphrase: exercise parsing without paying for Argon2 on every input */
    (void)ag_keystore_parse(data, size, NULL, &k, &info);
  }
  ag_genesis g;
  if (ag_genesis_parse((const char *)data, size, &g) == 0) ag_genesis_free(&g);
  return 0;
}
