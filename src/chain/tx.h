/*
 * tx.h — the transaction envelope and its canonical binary encoding (docs/encoding.md).
 *
 *   version u8 (=1) | kind u16 | chain_id_len u8 | chain_id | sender[32] | nonce u64 |
 *   fee u64 | valid_until u64 | payload_len u32 | payload | signature[64]
 *
 * Integers are little-endian. The signature is ed25519 by `sender` over
 * sighash = BLAKE2b-256("agora/sighash", every byte before the signature), which includes the
 * chain id. The tx hash (its id) is BLAKE2b-256("agora/txid", all bytes). Each kind defines its
 * payload; new kinds add a payload codec and a handler and never change the envelope.
 * Decoding checks syntax only (no signature, no state): see ag_tx_verify and the state machine.
 */
#ifndef AG_TX_H
#define AG_TX_H

#include "core/buf.h"
#include "crypto/keys.h"

#include <stdint.h>

#define AG_TX_VERSION 1
#define AG_CHAIN_ID_MAX 32
#define AG_TX_MAX_RECIPIENTS 256
#define AG_TX_HARD_MAX (1u << 20) /* absolute cap; the genesis param max_tx_bytes is lower */

enum {
  AG_TX_TRANSFER = 1,       /* payload: to[32] | amount u64 */
  AG_TX_MULTI_TRANSFER = 2, /* payload: count u16 (1..256) | count x (to[32] | amount u64) */
};

typedef struct {
  uint8_t version;
  uint16_t kind;
  char chain_id[AG_CHAIN_ID_MAX + 1];
  uint8_t sender[AG_PK_LEN];
  uint64_t nonce;
  uint64_t fee;
  uint64_t valid_until; /* last height at which the tx may be included; 0 = no limit */
  const uint8_t *payload; /* borrowed from the raw bytes */
  uint32_t payload_len;
  const uint8_t *sig;     /* borrowed */
  const uint8_t *raw;     /* borrowed: the whole encoding */
  size_t raw_len;
  size_t signed_len;      /* bytes covered by the sighash */
  uint8_t hash[32];       /* tx id */
  const uint8_t *agent;   /* set only on the action an agent key's tx runs for `sender` (the
                             account; docs/agents.md): the agent key, which signed; else NULL */
} ag_tx;

typedef struct {
  uint8_t to[AG_PK_LEN];
  uint64_t amount;
} ag_transfer;

struct ag_app;
struct json_t;

/* What the ledger knows about one tx kind. Built-in kinds (transfer.c) are registered from the
 * start; other modules register theirs once at startup, before any thread runs. */
typedef struct ag_tx_kind {
  uint16_t kind;
  const char *name;
  /* Payload syntax, no state: 0 or an AG_E_* code with a message (ag_fail). */
  int (*validate)(const ag_tx *tx);
  /* Tokens the tx takes from the sender besides the fee (checked in check_tx). */
  int (*spend)(const ag_tx *tx, uint64_t *amount);
  /* State changes, run after the fee is paid; a failure rolls them back. */
  int (*apply)(struct ag_app *app, const ag_tx *tx);
  /* JSON description of the payload for the API (new reference). */
  struct json_t *(*to_json)(const ag_tx *tx);
  /* Optional: work done ahead of execution, in parallel with other txs of the block, that
   * may only read the committed state and must not change any result (a kind verifies the
   * signatures its payload carries here and caches them). NULL for none. */
  void (*prepare)(struct ag_app *app, const ag_tx *tx);
  /* Optional: for a kind whose fee another account pays (an agent key's tx is paid by the
   * account it acts for), that account, after checking the signer's authority to spend it;
   * a refusal changes nothing, like a bad nonce. mode AG_PAYER_CHECK reads committed state
   * (check_tx), AG_PAYER_EXEC the block (finalize, before the fee), AG_PAYER_CHARGE records
   * the fee paid (after it). NULL: the sender pays. */
  int (*payer)(struct ag_app *app, int mode, const ag_tx *tx, uint8_t out[32]);
  /* Optional: how many base fees the tx pays, for a kind that carries several actions each
   * with its own signature to check (a channel_claims pays one per voucher), from a payload
   * that may not decode (then 1). NULL: one. */
  uint64_t (*fee_units)(const uint8_t *payload, size_t len);
} ag_tx_kind;

enum { AG_PAYER_CHECK = 0, AG_PAYER_EXEC = 1, AG_PAYER_CHARGE = 2 };

void ag_tx_kind_register(const ag_tx_kind *k);
const ag_tx_kind *ag_tx_kind_find(uint16_t kind);

/* Valid chain ids: 1..32 of [a-z0-9-]. */
int ag_chain_id_valid(const char *s);

/* Decodes an envelope and checks the payload of known kinds. Codes: AG_E_TRUNCATED,
 * AG_E_TRAILING, AG_E_TOO_LARGE, AG_E_TX_VERSION, AG_E_TX_KIND, AG_E_TX_PAYLOAD,
 * AG_E_TX_RECIPIENTS, AG_E_NONCANONICAL. tx borrows from p. */
int ag_tx_decode(const uint8_t *p, size_t n, ag_tx *tx);
/* Signature check over the sighash: 0 or AG_E_BAD_SIGNATURE. */
int ag_tx_verify(const ag_tx *tx);
void ag_tx_sighash(const ag_tx *tx, uint8_t out[32]);

/* Encodes and signs; appends to out. */
void ag_tx_build(ag_buf *out, uint16_t kind, const char *chain_id, const ag_keypair *k,
                 uint64_t nonce, uint64_t fee, uint64_t valid_until, const uint8_t *payload,
                 uint32_t payload_len);

extern const ag_tx_kind ag_kind_transfer, ag_kind_multi_transfer;

/* Payload codecs. */
void ag_transfer_encode(ag_buf *out, const uint8_t to[AG_PK_LEN], uint64_t amount);
void ag_multi_transfer_encode(ag_buf *out, const ag_transfer *v, uint16_t n);
/* Reads recipient i (0-based) of a transfer or multi-transfer payload already checked by
 * ag_tx_decode; returns the count. */
uint16_t ag_tx_transfer_count(const ag_tx *tx);
void ag_tx_transfer_at(const ag_tx *tx, uint16_t i, ag_transfer *out);

/* Human name of a kind ("transfer", "multi_transfer"), or "unknown". */
const char *ag_tx_kind_name(uint16_t kind);

/* Size of a transfer tx on a given chain id (for fee quotes). */
size_t ag_tx_size(size_t chain_id_len, size_t payload_len);

/* The least fee of a tx of kind with that payload on a chain with those fee parameters:
 * base_fee × the kind's fee units + per_byte_fee × its size (docs/encoding.md). AG_E_OVERFLOW
 * when it does not fit. */
int ag_tx_min_fee(uint64_t base_fee, uint64_t per_byte_fee, uint16_t kind, const uint8_t *payload,
                  size_t len, size_t tx_bytes, uint64_t *fee);
/* A kind's fee units for a payload (1 for a kind without them or unknown). */
uint64_t ag_tx_fee_units(uint16_t kind, const uint8_t *payload, size_t len);

#endif
