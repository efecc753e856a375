/*
 * light.h — the light client's check that a state root is the one the chain's block producers
 * signed, with trust taken only from the chain's genesis (docs/state-tree.md, "Light-client
 * proofs").
 *
 *   solo chain:     genesis.json names the block producer ("proposer"). Block h's header (our
 *                   version-1 header) must be signed by that key over its block hash, and its
 *                   state_root is the state after block h.
 *   CometBFT chain: CometBFT's genesis lists the validators. CometBFT's header h+1 carries
 *                   app_hash = the state after block h; its commit must be signed by more than
 *                   2/3 of the genesis set's voting power (consensus/cmtlight.h). After the set
 *                   changed (sudo, validators by bond), by more than 2/3 of the set the answer
 *                   gives, which must hash to the header's validators_hash, and by genesis keys
 *                   holding more than 1/3 of the genesis power (else AG_E_VALSET_CHANGED).
 *
 * The header comes from GET /v1/headers/{height} of any node (docs/api.md), which is not
 * trusted. What this does not prove: that h is the chain's latest height (a node can answer
 * from an old block; the header's time shows how old). Trust in the genesis keys does not
 * expire (CometBFT's light client bounds it by a trusting period): a third of the genesis power
 * signing a false header fools it.
 */
#ifndef AG_LIGHT_H
#define AG_LIGHT_H

#include "consensus/cmtlight.h"

#include <jansson.h>
#include <stdint.h>

enum { AG_LIGHT_SOLO = 1, AG_LIGHT_COMETBFT = 2 };

typedef struct {
  int mode;                 /* AG_LIGHT_SOLO or AG_LIGHT_COMETBFT */
  char chain_id[AG_CMT_CHAIN_ID_MAX + 1];
  uint8_t proposer[32];     /* solo: the genesis block producer */
  ag_cmt_valset vals;       /* CometBFT: the genesis validator set */
  char source[1100];        /* the file trust came from, for messages */
} ag_light_trust;

/* Trust from a genesis document: an Agora genesis.json that names a proposer (solo), or a
 * CometBFT genesis (it has "validators" and "app_state"). AG_E_NO_TRUST_ANCHOR when it names
 * neither; AG_E_GENESIS / AG_E_BAD_JSON when it is malformed. */
int ag_light_trust_parse(const char *text, size_t len, ag_light_trust *t);
/* Trust for the chain of a home folder: path when given, else HOME/cometbft/config/genesis.json
 * (where `agora localnet` keeps a validator's CometBFT genesis) when it exists, else
 * HOME/genesis.json. */
int ag_light_trust_load(const char *home, const char *path, ag_light_trust *t);
void ag_light_trust_free(ag_light_trust *t); /* accepts NULL */

/* The height whose header certifies the state after block h: h (solo) or h + 1 (CometBFT). */
uint64_t ag_light_header_height(const ag_light_trust *t, uint64_t state_height);

typedef struct {
  uint64_t header_height;
  uint8_t block_hash[32]; /* solo: our block hash; CometBFT: its header hash */
  int64_t time_ms;        /* the header's time */
  int64_t signed_power, total_power; /* solo: 1 of 1; CometBFT: of the set that signed */
  size_t signers, validators;
  int set_changed;        /* CometBFT: signed by a set other than the genesis one */
  int64_t trusted_power;  /* then: the genesis power among its signers */
} ag_light_verified;

/* Checks that hdr — the JSON of GET /v1/headers/{ag_light_header_height(t, state_height)} — is
 * signed by the trusted keys and commits to root as the state after block state_height.
 * Errors: AG_E_BAD_HEADER (malformed, another chain, height or consensus),
 * AG_E_HEADER_SIGNATURE, AG_E_VOTING_POWER, AG_E_VALSET_CHANGED, AG_E_UNTRUSTED_ROOT (the
 * header is genuine but commits to another root). */
int ag_light_verify(const ag_light_trust *t, json_t *hdr, uint64_t state_height,
                    const uint8_t root[32], ag_light_verified *out);

#endif
