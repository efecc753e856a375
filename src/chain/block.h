/*
 * block.h — block headers, the block encoding and Merkle roots over transactions.
 *
 *   header: version u8 (=1) | chain_id_len u8 | chain_id | height u64 | time_ms u64 |
 *           prev_hash[32] | tx_root[32] | result_root[32] | state_root[32] | proposer[32] |
 *           tx_count u32
 *   block:  header | signature[64] | tx_count x (len u32 | tx bytes)
 *
 * block hash = BLAKE2b-256("agora/block", header); the proposer signs the block hash.
 * Version 2 records CometBFT-finalized blocks in the same layout (see AG_BLOCK_VERSION_COMETBFT).
 * tx_root is the Merkle root (docs/encoding.md) of the tx hashes; result_root of the result
 * hashes BLAKE2b-256("agora/result", code i32). state_root is the state after the block.
 */
#ifndef AG_BLOCK_H
#define AG_BLOCK_H

#include "chain/tx.h"
#include "core/buf.h"

#include <stdint.h>

#define AG_BLOCK_VERSION 1          /* produced and signed by the solo driver */
#define AG_BLOCK_VERSION_COMETBFT 2 /* a record of a block CometBFT finalized: the proposer is
                                       its 20-byte validator address (zero-padded), the first 32
                                       bytes of the signature field hold CometBFT's block hash
                                       and the rest is zero (CometBFT's commit signatures are the
                                       proof); prev_hash links our records as in version 1 */
#define AG_BLOCK_HARD_MAX (64u << 20)

typedef struct {
  uint8_t version;
  char chain_id[AG_CHAIN_ID_MAX + 1];
  uint64_t height;
  uint64_t time_ms;
  uint8_t prev_hash[32];
  uint8_t tx_root[32];
  uint8_t result_root[32];
  uint8_t state_root[32];
  uint8_t proposer[32];
  uint32_t tx_count;
} ag_block_header;

typedef struct {
  ag_block_header h;
  uint8_t sig[AG_SIG_LEN];
  uint8_t hash[32];
  const uint8_t **txs; /* borrowed from the encoding; arrays owned (ag_block_free) */
  uint32_t *tx_lens;
} ag_block;

void ag_block_header_encode(const ag_block_header *h, ag_buf *out);
void ag_block_hash(const ag_block_header *h, uint8_t out[32]);
/* Encodes header, signature and txs. */
void ag_block_encode(const ag_block_header *h, const uint8_t sig[AG_SIG_LEN],
                     const uint8_t *const *txs, const uint32_t *lens, ag_buf *out);
/* Syntax only: AG_E_TRUNCATED, AG_E_TRAILING, AG_E_TOO_LARGE, AG_E_NONCANONICAL,
 * AG_E_UNSUPPORTED (version). */
int ag_block_decode(const uint8_t *p, size_t n, ag_block *b);
void ag_block_free(ag_block *b); /* accepts NULL */
/* A header alone (exactly its bytes, as a light client gets it); hash = the block hash. Same
 * errors as ag_block_decode. */
int ag_block_header_decode(const uint8_t *p, size_t n, ag_block_header *h, uint8_t hash[32]);
/* Checks the signature and that tx_root matches the txs. */
int ag_block_verify(const ag_block *b);

/* Merkle root over 32-byte leaves, RFC 6962 shape (split at the largest power of two below n):
 * node = BLAKE2b-256("agora/merkle", 0x01 | left | right), leaf = the given hash itself
 * prefixed: BLAKE2b-256("agora/merkle", 0x00 | leaf). Empty: 32 zero bytes. */
void ag_merkle_root(const uint8_t (*leaves)[32], size_t n, uint8_t out[32]);
void ag_result_hash(int32_t code, uint8_t out[32]);

#endif
