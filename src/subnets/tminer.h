/*
 * tminer.h — a trainer of a training subnet (`agora miner --role trainer`,
 * docs/subnet-training.md#trainers). Every round it fetches the canonical checkpoint, trains
 * H inner AdamW steps on the shard the round assigns to its hotkey, compresses the
 * pseudo-gradient with error feedback and commits to the blob (train_submit: a hash of the blob
 * bound to its hotkey) while submissions are open; once they close it reveals the blob's hash
 * and size (train_reveal) and uploads it to the node. Before the reveal nobody can get the
 * blob: it also serves the blob, once revealed, and the checkpoints it holds on an announced
 * endpoint (GET /agora/blobs/{hash}, /agora/model-files/{id}), for peers whose node lacks them.
 *
 * Devnet behaviours: a free rider submits random pseudo-gradients of the right shape without
 * training; a front-runner watches the node and the other trainers for a blob of this round to
 * copy (alternately as is and rescaled) and, finding none before it must commit, copies one of
 * the previous round re-encoded for this one; a blender sums the previous round's blobs.
 */
#ifndef AG_SUBNETS_TMINER_H
#define AG_SUBNETS_TMINER_H

#include <stdint.h>

enum { AG_TRAINER_HONEST = 0, AG_TRAINER_FREE_RIDER = 1, AG_TRAINER_FRONT_RUNNER = 2, AG_TRAINER_BLENDER = 3 };

typedef struct {
  char home[1024];
  char node_url[256];     /* "" = from home */
  char model_dir[1100];   /* "" = HOME/models */
  uint16_t netuid;
  char hotkey[65];
  char coldkey[65];
  int threads;            /* engine threads (default 1) */
  int behaviour;          /* AG_TRAINER_* */
  char status_path[1100]; /* JSON status after every round ("" = none) */
  char listen[64];        /* where peers fetch its blobs and checkpoints ("" = 127.0.0.1:0) */
  char announce_host[128]; /* the host peers reach it at ("" = the listen host) */
} ag_tminer_config;

void ag_tminer_config_default(ag_tminer_config *c);
int ag_tminer_run(const ag_tminer_config *c, volatile int *stop);
const char *ag_trainer_behaviour_name(int b);

#endif
