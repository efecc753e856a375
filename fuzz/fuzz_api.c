/*
 * fuzz_api.c — what the API parses from requests: tx bodies in every content type, path
 * parameters (addresses, tx hashes, heights), query-string numbers and proofs sent back for
 * verification. The first input byte picks the parser.
 */
#include "api/node_api.h"
#include "api/render.h"
#include "chain/smt.h"
#include "core/codec.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  data++;
  size--;
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = 0;
  static const char *ctypes[] = {"application/octet-stream", "application/json", "text/plain",
                                 NULL};
  if (sel < 64) {
    uint8_t *out;
    size_t len;
    int owned;
    if (ag_api_tx_body(ctypes[sel % 4], data, size, &out, &len, &owned) == 0) {
      ag_tx tx;
      (void)ag_tx_decode(out, len, &tx);
      if (owned) free(out);
    }
  } else if (sel < 128) {
    uint8_t pk[32];
    (void)ag_addr_decode(s, pk);
    uint8_t h[32];
    (void)ag_hex_decode(s, strlen(s), h, 32);
    uint64_t v;
    (void)ag_parse_u64(s, &v);
    (void)ag_amount_parse(s, &v);
  } else {
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
      ag_smt_proof *p = malloc(sizeof *p);
      uint8_t key[32], root[32] = {0};
      if (ag_json_proof_parse(j, p, key) == 0) (void)ag_smt_verify(root, key, NULL, p);
      free(p);
      json_decref(j);
    }
  }
  free(s);
  return 0;
}
