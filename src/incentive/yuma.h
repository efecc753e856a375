/*
 * yuma.h — one Yuma consensus epoch as a pure function, with subtensor's semantics.
 *
 * ag_yuma_epoch reproduces subtensor's on-chain sparse epoch (`epoch_mechanism`, opentensor/
 * subtensor at 14bc6f9f, 2026-06-30) bit for bit: activity mask, stake threshold, validator
 * permits, active stake, weight masking, row normalization, stake-weighted median consensus
 * (kappa), clipping, validator trust, incentive, bonds (classic EMA with bonds_penalty, or
 * Yuma3 with optional liquid alpha), dividends, the emission split and the u16/rao storage
 * formats. All arithmetic is the I32F32/I64F64 fixed point of incentive/fixed.h.
 *
 * The caller reads the subnet's state, fills ag_yuma_params and ag_yuma_input, calls
 * ag_yuma_epoch, writes everything in ag_yuma_output back to state, and frees the output.
 * No global state; no floating point; deterministic (uid order everywhere); thread-safe
 * (concurrent calls on different outputs are fine).
 *
 * Deliberately not here: reading or writing chain state, the per-block coinbase (owner cut,
 * the miner/validator halves, root), multi-mechanism splitting, parent/child stake
 * inheritance, paying delegators, and the duplicate-hotkey check (the caller skips the epoch
 * when its Keys map is inconsistent). See docs/yuma.md.
 */
#ifndef AG_INCENTIVE_YUMA_H
#define AG_INCENTIVE_YUMA_H

#include "incentive/fixed.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard cap on n. With n <= 32768 no I32F32 row sum of u16 weights can overflow
 * (32768 * 65535 < 2^31), so plain and saturating sums agree everywhere. */
#define AG_YUMA_MAX_UIDS 32768u

/* One sparse entry: (uid, u16 value). Used for stored weights and stored bonds. */
typedef struct {
  uint16_t uid;
  uint16_t value;
} ag_yuma_entry;

/* A sparse row: len entries with strictly ascending uid < n. Borrowed, never freed by us. */
typedef struct {
  const ag_yuma_entry *e;
  uint32_t len;
} ag_yuma_row;

/* Subnet hyperparameters as stored on chain (subtensor's units). */
typedef struct {
  uint16_t kappa;                /* Kappa: consensus majority kappa/65535 (default 32767) */
  uint16_t bonds_penalty;        /* BondsPenalty: beta = v/65535 (default 65535) */
  uint64_t bonds_moving_average; /* millionths, <= 1'000'000; alpha = 1 - v/1e6 (900000) */
  bool yuma3;                    /* Yuma3On */
  bool liquid_alpha;             /* LiquidAlphaOn (only has an effect with yuma3) */
  uint16_t alpha_low, alpha_high; /* AlphaValues, u16 proportions (45875, 58982) */
  int16_t alpha_sigmoid_steepness; /* AlphaSigmoidSteepness (1000) */
  uint16_t max_allowed_validators; /* K: number of validator permits (64) */
  uint64_t activity_cutoff;      /* blocks: i is inactive when last_update + cutoff < block */
  uint64_t stake_threshold;      /* base units; stakes below it count as 0 (owner exempt) */
  uint64_t tempo;                /* blocks; only for the bond-reset window */
  uint64_t last_step_block;      /* LastMechansimStepBlock; 0 = none. The bond-reset window
                                    starts at LT = last_step_block + 1, or block - tempo
                                    (saturating) when 0. Bonds to j with LT <= reg[j] are
                                    dropped before the EMA. */
  bool commit_reveal;            /* apply the commit-reveal column mask (needs commit_block) */
  int32_t owner_uid;             /* subnet owner's uid, or -1: keeps its self-weight, always
                                    has a permit, is exempt from stake_threshold */
  uint64_t emission;             /* E: base units this epoch distributes */
} ag_yuma_params;

/* Fills p with subtensor's defaults for a new subnet (yuma3 on, as init_new_network does),
 * emission 0, no owner. */
void ag_yuma_params_default(ag_yuma_params *p);

/* Everything the epoch reads from state. All arrays have length n and are borrowed. */
typedef struct {
  uint32_t n;                      /* uids 0..n-1, n <= AG_YUMA_MAX_UIDS */
  uint64_t block;                  /* current block */
  const uint64_t *stake;           /* stake weight per uid, base units */
  const uint64_t *last_update;     /* LastUpdate: block of the last set_weights/commit */
  const uint64_t *block_at_registration; /* BlockAtRegistration */
  const bool *validator_permit;    /* ValidatorPermit written by the previous epoch */
  const ag_yuma_row *weights;      /* Weights rows as stored (max-upscaled u16) */
  const ag_yuma_row *bonds;        /* Bonds rows as stored (classic: column max-upscaled;
                                      yuma3: floor(b*65535)) */
  const uint64_t *commit_block;    /* with commit_reveal: block of uid i's earliest unexpired
                                      commit, UINT64_MAX = none; may be NULL otherwise */
} ag_yuma_input;

/* Everything the epoch writes. Owned by the output: free with ag_yuma_output_free. */
typedef struct {
  uint32_t n;
  uint16_t *consensus;        /* Consensus: floor(c*65535) */
  uint16_t *incentive;        /* Incentive */
  uint16_t *dividends;        /* Dividends */
  uint16_t *validator_trust;  /* ValidatorTrust */
  uint16_t *stake_weight;     /* StakeWeight: floor(S*65535) */
  bool *active;               /* Active */
  bool *validator_permit;     /* ValidatorPermit for the next epoch (P') */
  uint64_t *emission;         /* Emission: floor(normalize(I+D)*E), or the stake fallback */
  uint64_t *server_emission;  /* to miners: floor(I/sum(I+D)*E) */
  uint64_t *validator_emission; /* to validators: floor(D/sum(I+D)*E), or the fallback */
  /* Bonds to store, as rows: row i is bond[bond_off[i] .. bond_off[i+1]), ascending uid.
   * Rows of uids without a new permit are empty (they must be written empty). */
  uint32_t *bond_off;         /* n+1 offsets */
  ag_yuma_entry *bond;
  size_t bond_len;            /* == bond_off[n] */
  bool fallback;              /* sum(I+D) was 0: emission went by stake */
} ag_yuma_output;

/* Runs one epoch. On success fills *out (caller frees with ag_yuma_output_free) and returns 0.
 * On error returns AG_E_YUMA_INPUT / AG_E_YUMA_PARAM with a detail in ag_errmsg() and leaves
 * *out empty (safe to free). Inputs are never modified. */
int ag_yuma_epoch(const ag_yuma_params *p, const ag_yuma_input *in, ag_yuma_output *out);

/* Frees what ag_yuma_epoch allocated and zeroes *out; accepts NULL and zeroed outputs. */
void ag_yuma_output_free(ag_yuma_output *out);

/* set_weights storage: max-upscales a u16 row so its maximum becomes 65535, with subtensor's
 * I32F32 arithmetic and round-half-away (vec_u16_max_upscale_to_u16). in and out may alias;
 * len may be 0. An all-zero row is stored as it is. */
void ag_yuma_weights_upscale(const uint16_t *in, size_t len, uint16_t *out);

/* The consensus routine as a pure function (weighted_median_col): for each of cols columns,
 * the stake-weighted median at level majority over the rows with stake > 0 (their stakes
 * normalized first); score is rows x cols, row-major, I32F32 raw. out has cols entries.
 * Rows with stake <= 0 are skipped; with no such row every median is 0. Returns 0, or
 * AG_E_YUMA_INPUT when rows > AG_YUMA_MAX_UIDS. Allocates scratch (aborts on OOM like every
 * ag_x* allocation). */
int ag_yuma_median_col(const ag_fx *stake, size_t rows, const ag_fx *score, size_t cols,
                       ag_fx majority, ag_fx *out);

#endif
