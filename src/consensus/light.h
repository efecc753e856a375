/*
 * light.h — the light client's check that a state root is the one the chain's block producers
 * signed, with trust taken only from the chain's genesis and the headers verified since
 * (docs/state-tree.md, "What a light client checks").
 *
 *   solo chain:     genesis.json names the block producer ("proposer"). Block h's header (our
 *                   version-1 header) must be signed by that key over its block hash, and its
 *                   state_root is the state after block h.
 *   CometBFT chain: CometBFT's genesis lists the validators. CometBFT's header h+1 carries
 *                   app_hash = the state after block h; its commit must be signed by more than
 *                   2/3 of the trusted set's voting power (consensus/cmtlight.h). After the set
 *                   changed (sudo, validators by bond), by more than 2/3 of the set the answer
 *                   gives, which must hash to the header's validators_hash, and by trusted keys
 *                   holding more than 1/3 of the trusted power (else bisection, below).
 *
 * CometBFT trust moves forward and expires, as CometBFT's own light client's does: the client
 * keeps the last header it verified (its "anchor": height, hash, time, the set that signed it
 * and the next set's hash) in HOME/light/CHAIN_ID.json, starting from the genesis. A newer
 * header is trusted when more than 2/3 of its own set signed it and either that set is the
 * anchor's (or the anchor's next set, one height on) or keys of the anchor's set holding more
 * than a third of its power signed it too; otherwise the client checks a header half way first
 * (bisection), at most AG_LIGHT_MAX_FETCHES of them. The anchor is trusted for period_ms after
 * its header's time (2/3 of the chain's unbond_ms: its bonded keys still have AGR at stake
 * until then); after that the client refuses (AG_E_TRUST_EXPIRED) until given a header it
 * trusts by other means (ag_light_anchor_set). Genesis and sudo validators are trusted by
 * appointment, not by bond.
 *
 * The header comes from GET /v1/headers/{height} of any node (docs/api.md), which is not
 * trusted. What this does not prove: that h is the chain's latest height (a node can answer
 * from an old block; the header's time shows how old).
 */
#ifndef AG_LIGHT_H
#define AG_LIGHT_H

#include "consensus/cmtlight.h"

#include <jansson.h>
#include <stdint.h>

enum { AG_LIGHT_SOLO = 1, AG_LIGHT_COMETBFT = 2 };

#define AG_LIGHT_UNBOND_MS_DEFAULT (14ll * 24 * 3600 * 1000) /* vstake's default unbond_ms */
#define AG_LIGHT_MAX_FETCHES 64  /* headers one check may fetch while bisecting */
#define AG_LIGHT_MAX_DRIFT_MS 10000 /* how far ahead of this clock a header's time may be */

/* The last CometBFT header the client verified (or the genesis, height 0). */
typedef struct {
  int64_t height;
  uint8_t hash[32];      /* its hash (zeros for the genesis) */
  int64_t time_ms;       /* its time (the genesis time) */
  uint8_t next_hash[32]; /* its next_validators_hash (the genesis: the genesis set's hash) */
  ag_cmt_valset vals;    /* the set that signed it (the genesis set) */
} ag_light_anchor;

typedef struct {
  int mode;                 /* AG_LIGHT_SOLO or AG_LIGHT_COMETBFT */
  char chain_id[AG_CMT_CHAIN_ID_MAX + 1];
  uint8_t proposer[32];     /* solo: the genesis block producer */
  ag_cmt_valset vals;       /* CometBFT: the genesis validator set */
  char source[1100];        /* the file trust came from, for messages */
  /* CometBFT: */
  ag_light_anchor anchor;   /* what is trusted now */
  int64_t unbond_ms;        /* the genesis's incentive.validators.unbond_ms */
  int64_t period_ms;        /* how long an anchor is trusted: 2/3 of unbond_ms */
  char state_path[1100];    /* where the anchor is kept ("" = not kept) */
  int moved;                /* the anchor moved since it was loaded */
  uint8_t genesis_id[32];   /* names the genesis an anchor was followed from */
  int other_genesis;        /* a kept anchor was of another genesis with this chain id: ignored */
} ag_light_trust;

/* Fetches the header answer (GET /v1/headers/{height}) for bisection; 0 or an error code. */
typedef int (*ag_light_fetch_fn)(void *ctx, uint64_t header_height, json_t **out);

/* Trust from a genesis document: an Agora genesis.json that names a proposer (solo), or a
 * CometBFT genesis (it has "validators" and "app_state"). AG_E_NO_TRUST_ANCHOR when it names
 * neither; AG_E_GENESIS / AG_E_BAD_JSON when it is malformed. */
int ag_light_trust_parse(const char *text, size_t len, ag_light_trust *t);
/* Trust for the chain of a home folder: path when given, else HOME/cometbft/config/genesis.json
 * (where `agora localnet` keeps a validator's CometBFT genesis) when it exists, else
 * HOME/genesis.json; for a CometBFT chain, then the anchor kept in HOME/light/CHAIN_ID.json
 * when there is one (AG_E_BAD_JSON when it is malformed or for another chain). */
int ag_light_trust_load(const char *home, const char *path, ag_light_trust *t);
/* Writes the anchor to state_path when it moved (atomically). */
int ag_light_trust_save(ag_light_trust *t);
/* The kept anchor's text (ag_light_trust_save's JSON) in place of t's anchor: AG_E_BAD_JSON
 * when it is malformed or of another chain; one followed from another genesis (a network made
 * again with the same chain id) is ignored, with other_genesis set. */
int ag_light_anchor_parse(ag_light_trust *t, const char *text, size_t len);
/* Trusts hdr (a header answer for header_height, whose hash the user got from a source they
 * trust) instead of the anchor: its hash must be `hash`, more than 2/3 of the set the answer
 * gives must have signed it, and it must be younger than period_ms at now_ms. */
int ag_light_anchor_set(ag_light_trust *t, json_t *hdr, uint64_t header_height, const uint8_t hash[32],
                        int64_t now_ms);
void ag_light_trust_free(ag_light_trust *t); /* accepts NULL */

/* The height whose header certifies the state after block h: h (solo) or h + 1 (CometBFT). */
uint64_t ag_light_header_height(const ag_light_trust *t, uint64_t state_height);

typedef struct {
  uint64_t header_height;
  uint8_t block_hash[32]; /* solo: our block hash; CometBFT: its header hash */
  int64_t time_ms;        /* the header's time */
  int64_t signed_power, total_power; /* solo: 1 of 1; CometBFT: of the set that signed */
  size_t signers, validators;
  int set_changed;        /* CometBFT: signed by a set other than the anchor's */
  int64_t trusted_power;  /* then: the anchor set's power among its signers (or, one height on,
                             the whole power of the next set the anchor named) */
  int64_t anchor_height;  /* the trusted header it was checked from (0: the genesis) */
  int64_t anchor_time_ms;
  int fetched;            /* headers fetched to bisect */
} ag_light_verified;

/* Checks that hdr — the JSON of GET /v1/headers/{ag_light_header_height(t, state_height)} — is
 * signed by the trusted keys and commits to root as the state after block state_height; on a
 * CometBFT chain, at the wall-clock time now_ms, moving the anchor to it (fetch, which may be
 * NULL, gives the headers bisection needs). Errors: AG_E_BAD_HEADER (malformed, another chain,
 * height or consensus, a time out of order or ahead of now), AG_E_HEADER_SIGNATURE (also: a
 * header at the anchor's height with another hash), AG_E_VOTING_POWER, AG_E_VALSET_CHANGED,
 * AG_E_TRUST_EXPIRED, AG_E_UNTRUSTED_ROOT (the header is genuine but commits to another
 * root). */
int ag_light_verify(ag_light_trust *t, json_t *hdr, uint64_t state_height, const uint8_t root[32],
                    int64_t now_ms, ag_light_fetch_fn fetch, void *fetch_ctx, ag_light_verified *out);

#endif
