/* fuzz_abci.c — what the ABCI server decodes from CometBFT's socket: frame prefixes and the
 * protobuf Request messages (protobuf-c over our abci.proto). A decoded request re-encodes
 * without crashing, and the frame parser never claims more bytes than it was given. A
 * PrepareProposal's txs go through ag_abci_prepare, whose block must keep every limit
 * ProcessProposal checks and each sender's nonce order. */
#include "chain/tx.h"
#include "consensus/abci.h"
#include "consensus/abci.pb-c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_prepare(const Tendermint__Abci__RequestPrepareProposal *req) {
  size_t n = req->n_txs;
  const uint8_t **txs = malloc((n + 1) * sizeof *txs);
  size_t *lens = malloc((n + 1) * sizeof *lens), *order = malloc((n + 1) * sizeof *order);
  uint8_t *used = calloc(n + 1, 1);
  for (size_t i = 0; i < n; i++) {
    txs[i] = req->txs[i].data;
    lens[i] = req->txs[i].len;
  }
  ag_params p;
  ag_params_default(&p);
  p.max_block_txs = 1 + (uint32_t)(n % 5); /* small limits, so that they bind */
  p.max_block_bytes = 600;
  size_t k = ag_abci_prepare(txs, lens, n, &p, req->max_tx_bytes, order);
  uint64_t raw = 0, framed = 0;
  if (k > p.max_block_txs) abort();
  for (size_t j = 0; j < k; j++) {
    size_t i = order[j];
    if (i >= n || used[i]) abort();
    used[i] = 1;
    ag_tx a;
    if (ag_tx_decode(txs[i], lens[i], &a)) abort(); /* ProcessProposal would reject it */
    raw += lens[i];
    framed += 1 + lens[i] + (lens[i] < 128 ? 1 : lens[i] < 16384 ? 2 : 3);
    for (size_t jj = 0; jj < j; jj++) { /* nothing of the same sender with a higher nonce before */
      ag_tx b;
      ag_tx_decode(txs[order[jj]], lens[order[jj]], &b);
      if (!memcmp(a.sender, b.sender, 32) && b.nonce > a.nonce) abort();
    }
  }
  if (raw > p.max_block_bytes || (k && (int64_t)framed > req->max_tx_bytes)) abort();
  free(txs);
  free(lens);
  free(order);
  free(used);
}

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
      if (req->value_case == TENDERMINT__ABCI__REQUEST__VALUE_PREPARE_PROPOSAL)
        check_prepare(req->prepare_proposal);
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
