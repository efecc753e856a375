/*
 * genesis.h — the chain's starting point: chain id, time, consensus parameters, funded
 * accounts and (solo chains) the block producer's key, read from genesis.json
 * (docs/formats.md). Amounts are decimal strings in base units.
 * The genesis hash is BLAKE2b-256("agora/genesis", canonical binary form, then the canonical
 * JSON of the module sections, then the proposer when there is one), recorded in the store
 * so a node never runs one chain's data under another's genesis. A genesis without a
 * proposer (written before it existed, or a CometBFT chain's app_state) hashes as it always
 * did.
 */
#ifndef AG_GENESIS_H
#define AG_GENESIS_H

#include "chain/tx.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Consensus parameters, stored in the state under "g/params". */
typedef struct {
  uint64_t base_fee;     /* base units per tx */
  uint64_t per_byte_fee; /* base units per encoded byte */
  uint32_t max_tx_bytes;
  uint32_t max_block_bytes; /* sum of tx sizes */
  uint32_t max_block_txs;
} ag_params;

typedef struct {
  uint8_t pk[AG_PK_LEN];
  uint64_t balance;
} ag_genesis_account;

typedef struct {
  char chain_id[AG_CHAIN_ID_MAX + 1];
  uint64_t genesis_time_ms;
  ag_params params;
  ag_genesis_account *accounts; /* owned */
  size_t naccounts;
  /* Every other top-level key of genesis.json ("incentive", ...) as canonical JSON (sorted
   * keys, compact; "{}" when none). Modules read their section from it at init_chain. */
  char *modules; /* owned */
  /* Solo chains: the only key that may sign blocks ("proposer" in genesis.json). It is what a
   * light client checks block signatures against (docs/state-tree.md). */
  int has_proposer;
  uint8_t proposer[AG_PK_LEN];
  uint8_t hash[32];
  /* CometBFT chains: the validators of CometBFT's genesis, as InitChain gives them (ed25519
   * consensus keys and voting power). Not part of genesis.json nor of its hash. Owned. */
  struct ag_validator *validators;
  size_t nvalidators;
} ag_genesis;

typedef struct ag_validator {
  uint8_t pk[AG_PK_LEN]; /* CometBFT's ed25519 consensus key */
  uint64_t power;
} ag_validator;

void ag_params_default(ag_params *p);
void ag_params_encode(const ag_params *p, uint8_t out[28]);
int ag_params_decode(const uint8_t *p, size_t n, ag_params *out);

/* Parses and validates (AG_E_GENESIS with a detailed message). */
int ag_genesis_parse(const char *json, size_t len, ag_genesis *g);
/* A module's genesis number: *out gets key's value in o when it is there (a non-negative JSON
 * integer, or a decimal string for values past 2^53), and is left as it was when it is not;
 * else AG_E_GENESIS naming the module and the key. */
int ag_genesis_u64(json_t *o, const char *module, const char *key, uint64_t *out);
int ag_genesis_load(const char *path, ag_genesis *g);
/* Pretty JSON (caller frees). */
char *ag_genesis_to_json(const ag_genesis *g);
void ag_genesis_free(ag_genesis *g);
/* Recomputes g->hash from the other fields. */
void ag_genesis_rehash(ag_genesis *g);

#endif
