/* fuzz_tx.c — the tx decoder, with every kind's payload check (ledger, incentive layer,
 * training and economy): never crashes, and what decodes re-encodes to the same bytes (a
 * dispute's evidence too). */
#include "api/render.h"
#include "chain/tx.h"
#include "core/hash.h"
#include "economy/economy.h"
#include "incentive/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  ag_incentive_register_kinds();
  ag_economy_register_kinds();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_tx tx;
  if (ag_tx_decode(data, size, &tx) != 0) return 0;
  /* decoding is canonical: the fields determine the bytes */
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put_u8(&b, tx.version);
  ag_buf_put_u16le(&b, tx.kind);
  ag_buf_put_u8(&b, (uint8_t)strlen(tx.chain_id));
  ag_buf_puts(&b, tx.chain_id);
  ag_buf_put(&b, tx.sender, 32);
  ag_buf_put_u64le(&b, tx.nonce);
  ag_buf_put_u64le(&b, tx.fee);
  ag_buf_put_u64le(&b, tx.valid_until);
  ag_buf_put_u32le(&b, tx.payload_len);
  ag_buf_put(&b, tx.payload, tx.payload_len);
  ag_buf_put(&b, tx.sig, 64);
  if (b.len != size || memcmp(b.data, data, size) != 0) abort();
  ag_buf_free(&b);
  /* dispute evidence too (with its receipt, or its hash in its place) */
  ag_evidence e;
  if (tx.kind == AG_TX_DISPUTE_OPEN && ag_evidence_decode(tx.payload + 10, tx.payload_len - 10, &e) == 0) {
    ag_buf_init(&b);
    ag_evidence_encode(&b, &e);
    if (b.len != tx.payload_len - 10 || memcmp(b.data, tx.payload + 10, b.len) != 0) abort();
    ag_buf_free(&b);
  }
  (void)ag_tx_verify(&tx);
  json_t *j = ag_json_tx(&tx);
  json_decref(j);
  return 0;
}
