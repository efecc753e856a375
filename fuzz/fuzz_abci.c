/* fuzz_abci.c — what the ABCI server decodes from CometBFT's socket: frame prefixes and the
 * protobuf Request messages (protobuf-c over our abci.proto). A decoded request re-encodes
 * without crashing, and the frame parser never claims more bytes than it was given. */
#include "consensus/abci.h"
#include "consensus/abci.pb-c.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  while (off < size) {
    size_t hdr = 0;
    uint64_t len = 0;
    int rc = ag_abci_frame(data + off, size - off, &hdr, &len);
    if (rc <= 0) break;
    if (hdr + len > size - off) abort();
    Tendermint__Abci__Request *req = tendermint__abci__request__unpack(NULL, len, data + off + hdr);
    if (req) {
      size_t n = tendermint__abci__request__get_packed_size(req);
      uint8_t *buf = malloc(n + 1);
      tendermint__abci__request__pack(req, buf);
      free(buf);
      tendermint__abci__request__free_unpacked(req, NULL);
    }
    off += hdr + (size_t)len;
  }
  return 0;
}
