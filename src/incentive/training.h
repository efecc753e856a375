/*
 * training.h — the chain side of a training subnet (docs/subnet-training.md): rounds, the
 * pseudo-gradients trainers announce, the checkpoints validators propose, the 2/3-stake rule
 * that makes one canonical, and the model-share records of who trained it.
 *
 * A subnet is a training subnet when its pinned model (incentive.h, ag_subnet_model) has kind
 * AG_SUBNET_TRAINING; that model is the canonical checkpoint. Round r opens at round_start:
 * for train_submit_blocks blocks registered hotkeys may commit to one pseudo-gradient blob
 * each (a hash binding the blob to the hotkey: nobody can see the blob yet, so nobody can copy
 * or blend it into a submission of their own); for the next train_reveal_blocks they reveal
 * the blob's hash and size, which must match the commitment, and only then may nodes store it;
 * from then until round_start + train_round_blocks, hotkeys with a validator permit
 * propose the next checkpoint with the scores of the revealed submissions they aggregated. When the
 * permitted proposers of one identical proposal hold more than 2/3 of the stake of all
 * permitted validators, the proposal is final: its checkpoint becomes the pinned model, its
 * submitters get model shares by score, and round r + 1 opens. A round nobody agrees on times
 * out at round_start + train_round_blocks and round r + 1 opens on the same checkpoint.
 *
 * State (integers only):
 *   'T' | netuid            round u64 | round_start u64 | lineage u64 | finalized u64
 *   'U' | netuid            n u16 | n × (uid u16 | hotkey[32] | commit[32] | blob[32] | size u64 |
 *                            block u64 | revealed u8)   (blob and size zero until revealed)
 *   'P' | netuid            n u16 | n × (uid u16 | hotkey[32] | proposal[32] | model[32] | size u64)
 *   'R' | netuid | round be  base[32] | model[32] | size u64 | block u64 | file_hash[32] |
 *                            val_loss u64 | n u16 |
 *                            n × (uid u16 | hotkey[32] | blob[32] | score u64 | shares u64)
 *   'X' | model[32]          netuid u16 | round u64 | lineage u64
 *   'V' | netuid            round u64 | n u16 | n × (uid u16 | blob[32] | size u64): the blobs
 *                            revealed in the round before the open one (old work validators
 *                            compare new submissions with)
 * 'U' and 'P' hold the open round only. 'X' names, for each checkpoint a training subnet ever
 * pinned, the round it became canonical in and the round its lineage started (a re-pin by the
 * owner starts a new lineage); its shares are the 'R' records of rounds lineage..round-1.
 */
#ifndef AG_INCENTIVE_TRAINING_H
#define AG_INCENTIVE_TRAINING_H

#include "incentive/incentive.h"

enum {
  AG_TX_TRAIN_SUBMIT = 22,  /* hotkey: netuid u16 | round u64 | base[32] | commit[32] */
  AG_TX_TRAIN_PROPOSE = 23, /* permitted hotkey: netuid u16 | round u64 | base[32] | model[32] |
                               size u64 | file_hash[32] | val_loss u64 | n u16 |
                               n × (uid u16 | score u64), uids increasing */
  AG_TX_TRAIN_REVEAL = 24,  /* hotkey: netuid u16 | round u64 | blob[32] | size u64 */
};

#define AG_BLOB_DOMAIN "agora/blob"
/* A proposed checkpoint is at most this many times the current one: fp32 weights and two
 * optimizer states of the same shape, when the current one carries none. */
#define AG_TRAIN_MAX_GROWTH 4
#define AG_TRAIN_MAX_SUBMISSIONS AG_MAX_UIDS

typedef struct {
  uint16_t uid;
  uint8_t hotkey[32];
  uint8_t commit[32]; /* ag_train_commitment of what it will reveal */
  uint8_t blob[32];   /* zero until revealed */
  uint64_t size;      /* 0 until revealed */
  uint64_t block;     /* of the commitment */
  uint8_t revealed;
} ag_train_submission;

typedef struct {
  uint16_t uid;
  uint8_t hotkey[32];
  uint8_t proposal[32]; /* BLAKE2b-256("agora/tpropose", payload) */
  uint8_t model[32];
  uint64_t size;
} ag_train_proposal;

typedef struct {
  uint64_t round, round_start, lineage, finalized;
  ag_train_submission *subs; /* allocated; ag_training_free */
  uint16_t nsubs;
  ag_train_proposal *props;
  uint16_t nprops;
} ag_training;

typedef struct {
  uint16_t uid;
  uint8_t hotkey[32];
  uint8_t blob[32]; /* the pseudo-gradient it was paid for */
  uint64_t score;
  uint64_t shares;
} ag_train_share;

typedef struct {
  uint64_t round;
  uint8_t base[32], model[32];
  uint64_t size, block;
  uint8_t file_hash[32]; /* BLAKE2b-256("agora/blob") of the whole file, outer momentum included */
  uint64_t val_loss;     /* of model on the validation stream, in millionths of a nat (below) */
  ag_train_share *e;     /* allocated */
  uint16_t n;
} ag_train_round;

/* The blobs revealed in the last closed round (record 'V'). */
typedef struct {
  uint16_t uid;
  uint8_t blob[32];
  uint64_t size;
} ag_train_revealed;

typedef struct {
  uint64_t round;
  ag_train_revealed *e; /* allocated */
  uint16_t n;
} ag_train_previous;

/* AG_E_NOTFOUND before any round closed. */
int ag_train_previous_load(ag_ist *s, uint16_t netuid, ag_train_previous *out);
void ag_train_previous_free(ag_train_previous *p);

void ag_training_free(ag_training *t);
void ag_train_round_free(ag_train_round *r);
/* AG_E_TRAIN_KIND when netuid is not a training subnet. */
int ag_training_load(ag_ist *s, uint16_t netuid, ag_training *out);
/* AG_E_NOTFOUND for a round that made no checkpoint (timed out, or not yet final). */
int ag_train_round_load(ag_ist *s, uint16_t netuid, uint64_t round, ag_train_round *out);
/* Where a checkpoint came from; AG_E_NOTFOUND when no training subnet ever pinned it. */
int ag_train_model_origin(ag_ist *s, const uint8_t model[32], uint16_t *netuid, uint64_t *round,
                          uint64_t *lineage);
/* Is (hash, size) a pseudo-gradient revealed in an open round (*netuid gets the subnet), or
 * a checkpoint proposed in one (for node uploads)? 0 or AG_E_NOTFOUND. */
int ag_train_blob_announced(ag_ist *s, const uint8_t hash[32], uint64_t size, uint16_t *netuid);
int ag_train_model_proposed(ag_ist *s, const uint8_t model[32], uint64_t size, uint16_t *netuid);

/* What a trainer commits to: BLAKE2b-256("agora/tcommit", hotkey | netuid u16 | round u64 |
 * blob[32] | size u64). It names the hotkey, so a commitment copied from another trainer can
 * never be revealed by the copier. */
void ag_train_commitment(const uint8_t hotkey[32], uint16_t netuid, uint64_t round,
                         const uint8_t blob[32], uint64_t size, uint8_t out[32]);

/* Payload builders for clients. */
void ag_payload_train_submit(ag_buf *out, uint16_t netuid, uint64_t round, const uint8_t base[32],
                             const uint8_t commit[32]);
void ag_payload_train_reveal(ag_buf *out, uint16_t netuid, uint64_t round, const uint8_t blob[32],
                             uint64_t size);
/* val_loss: the proposed checkpoint's mean loss on the subnet's validation stream as every
 * validator computes it (ag_diloco_val_loss over AG_DILOCO_VAL_BATCHES batches; the engine is
 * bit-reproducible, so honest validators agree on it to the bit), in millionths of a nat
 * rounded down, AG_TRAIN_LOSS_NONE when not finite. The chain does not check it: it is part of
 * the proposal that 2/3 of the stake must send identically, so a final round's loss is
 * theirs. It is what the explorer's validation-loss curve plots. */
#define AG_TRAIN_LOSS_NONE UINT64_MAX
void ag_payload_train_propose(ag_buf *out, uint16_t netuid, uint64_t round, const uint8_t base[32],
                              const uint8_t model[32], uint64_t size, const uint8_t file_hash[32],
                              uint64_t val_loss, const uint16_t *uids, const uint64_t *scores, uint16_t n);

/* Shares of one round: shares × score / Σ score rounded down, the remainder to the highest
 * score (the lowest uid among equals). Exposed for tests and audits. */
void ag_train_split_shares(uint64_t shares, const uint64_t *scores, uint16_t n, uint64_t *out);

/* For the incentive module: tx kinds, the pin hook and the round timeout. */
void ag_training_register_kinds(void);
void ag_training_on_pin(ag_state *st, uint16_t netuid, const ag_subnet_model *m, uint64_t height);
int ag_training_begin_block(ag_app *app);

#endif
