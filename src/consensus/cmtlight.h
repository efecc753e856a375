/*
 * cmtlight.h — the part of CometBFT v0.38 a light client needs, in C: the block header hash,
 * the validator set hash, the bytes a validator signs in a precommit, and the check that a
 * commit carries signatures from more than 2/3 of a trusted validator set's voting power.
 *
 * Written from CometBFT's specification and sources at v0.38.25 (types/block.go Header.Hash,
 * types/vote.go VoteSignBytes, types/canonical.go, types/validation.go VerifyCommitLight,
 * crypto/merkle, the .proto files of proto/tendermint/types): protobuf is encoded by hand, since only a
 * handful of small messages are hashed or signed.
 *
 *   header hash   = RFC 6962 Merkle root (SHA-256; leaf 0x00 ‖ item, node 0x01 ‖ l ‖ r, empty
 *                   list SHA-256("")) over 14 items: the protobuf of Consensus{block, app};
 *                   StringValue(chain_id); Int64Value(height); Timestamp(time); BlockID
 *                   (last_block_id); then BytesValue of last_commit_hash, data_hash,
 *                   validators_hash, next_validators_hash, consensus_hash, app_hash,
 *                   last_results_hash, evidence_hash, proposer_address. A zero/empty value is
 *                   an empty item.
 *   valset hash   = the same Merkle root over SimpleValidator{PublicKey{ed25519}, power} in
 *                   the set's order (voting power descending, then address ascending).
 *   vote bytes    = uvarint length ‖ CanonicalVote{type=2 (precommit), height sfixed64,
 *                   round sfixed64, CanonicalBlockID, timestamp, chain_id}.
 *
 * Input comes from CometBFT's JSON-RPC (/commit, the genesis document) and is untrusted: every
 * decoder is bounded and fails with AG_E_BAD_HEADER (or AG_E_GENESIS for a genesis) and a
 * message. What this file deliberately does not do: follow validator set changes by itself (a
 * header signed by another set than the trusted one is AG_E_VALSET_CHANGED; light.c then checks
 * the set the node gives against the header and counts the trusted keys among its signers),
 * secp256k1 or BLS keys, vote extensions, evidence.
 */
#ifndef AG_CMTLIGHT_H
#define AG_CMTLIGHT_H

#include "core/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AG_CMT_MAX_VALIDATORS 10000 /* CometBFT's MaxVotesCount */
#define AG_CMT_CHAIN_ID_MAX 50
#define AG_CMT_HASH_MAX 64 /* longest hash-like field accepted (app hashes are the app's choice) */

enum { AG_CMT_FLAG_ABSENT = 1, AG_CMT_FLAG_COMMIT = 2, AG_CMT_FLAG_NIL = 3 };

typedef struct {
  uint8_t b[AG_CMT_HASH_MAX];
  size_t len; /* 0 = empty */
} ag_cmt_bytes;

typedef struct {
  int64_t seconds; /* since the Unix epoch, UTC */
  int32_t nanos;   /* 0 .. 999,999,999 */
} ag_cmt_time;

typedef struct {
  ag_cmt_bytes hash;
  uint32_t parts_total;
  ag_cmt_bytes parts_hash;
} ag_cmt_block_id;

typedef struct {
  uint64_t version_block, version_app;
  char chain_id[AG_CMT_CHAIN_ID_MAX + 1];
  int64_t height;
  ag_cmt_time time;
  ag_cmt_block_id last_block_id;
  ag_cmt_bytes last_commit_hash, data_hash, validators_hash, next_validators_hash,
      consensus_hash, app_hash, last_results_hash, evidence_hash, proposer_address;
} ag_cmt_header;

typedef struct {
  int flag;            /* AG_CMT_FLAG_* */
  uint8_t address[20]; /* when flag is COMMIT or NIL */
  ag_cmt_time timestamp;
  uint8_t sig[64];
  size_t sig_len;
} ag_cmt_commit_sig;

typedef struct {
  int64_t height;
  int32_t round;
  ag_cmt_block_id block_id;
  ag_cmt_commit_sig *sigs; /* owned; one per validator of the set, in the set's order */
  size_t nsigs;
} ag_cmt_commit;

typedef struct {
  uint8_t pk[32];      /* ed25519 */
  uint8_t address[20]; /* SHA-256(pk)[0..20) */
  int64_t power;       /* > 0 */
} ag_cmt_validator;

/* A trusted validator set and the chain it signs for. */
typedef struct {
  char chain_id[AG_CMT_CHAIN_ID_MAX + 1];
  ag_cmt_validator *vals; /* owned; CometBFT's order: power descending, then address */
  size_t n;
  int64_t total_power; /* at most INT64_MAX / 8, as CometBFT caps it */
  uint8_t hash[32];    /* the validators_hash of a header this set signs */
} ag_cmt_valset;

/* The validator set of a CometBFT genesis document (its "chain_id" and "validators", each
 * {"pub_key": {"type": "tendermint/PubKeyEd25519", "value": base64}, "power": "N",
 * "address": optional hex}). AG_E_GENESIS with a message; AG_E_NO_TRUST_ANCHOR when it lists
 * no validator. */
int ag_cmt_valset_from_genesis(json_t *genesis, ag_cmt_valset *vs);
/* The validator set of a /validators answer's "validators" list (each with "voting_power"),
 * for chain_id. AG_E_BAD_HEADER with a message. */
int ag_cmt_valset_from_rpc(json_t *vals, const char *chain_id, ag_cmt_valset *vs);
void ag_cmt_valset_free(ag_cmt_valset *vs); /* accepts NULL */
void ag_cmt_valset_hash(const ag_cmt_validator *vals, size_t n, uint8_t out[32]);

/* Decodes CometBFT's JSON of a signed header ({"header": {...}, "commit": {...}}, as its
 * /commit RPC returns under "signed_header"). c must be freed with ag_cmt_commit_free. */
int ag_cmt_signed_header_parse(json_t *sh, ag_cmt_header *h, ag_cmt_commit *c);
void ag_cmt_commit_free(ag_cmt_commit *c); /* accepts NULL */

void ag_cmt_header_hash(const ag_cmt_header *h, uint8_t out[32]);
/* The bytes validator idx signed for this commit (its precommit). */
void ag_cmt_vote_sign_bytes(const char *chain_id, const ag_cmt_commit *c, size_t idx, ag_buf *out);

typedef struct {
  int64_t signed_power; /* voting power of the valid COMMIT signatures counted */
  size_t signers;
  uint8_t block_hash[32];
} ag_cmt_verified;

/* Checks that h is for vs's chain, signed by vs (validators_hash; else AG_E_VALSET_CHANGED),
 * that c commits to h (height and block hash; else AG_E_BAD_HEADER), that every COMMIT
 * signature verifies for its validator (AG_E_HEADER_SIGNATURE) and that they hold more than
 * 2/3 of the total voting power (AG_E_VOTING_POWER). */
int ag_cmt_verify_commit(const ag_cmt_valset *vs, const ag_cmt_header *h, const ag_cmt_commit *c,
                         ag_cmt_verified *out);
/* After ag_cmt_verify_commit(vs, ...) accepted c: the voting power, in trusted, of the keys of
 * trusted that signed it (CometBFT's skipping verification counts this against a trust level). */
int64_t ag_cmt_trusted_signed_power(const ag_cmt_valset *trusted, const ag_cmt_valset *vs, const ag_cmt_commit *c);

/* RFC 3339 UTC as CometBFT writes it ("2026-07-28T10:11:12.123456789Z", fraction optional). */
int ag_cmt_time_parse(const char *s, ag_cmt_time *t);

#endif
