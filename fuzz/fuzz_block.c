/* fuzz_block.c — the block decoder and verifier never crash on any bytes. */
#include "api/render.h"
#include "chain/block.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_block b;
  if (ag_block_decode(data, size, &b) != 0) return 0;
  (void)ag_block_verify(&b);
  json_t *j = ag_json_block(&b, NULL, 1);
  json_decref(j);
  ag_block_free(&b);
  return 0;
}
