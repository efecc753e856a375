/*
 * tround.h — what trainers and validators of a training subnet read from and send to a node:
 * the open round (GET /v1/subnets/{n}/training), hyperparameters, checkpoints (by model id,
 * checked) and pseudo-gradient blobs (by hash, checked). docs/subnet-training.md.
 */
#ifndef AG_SUBNETS_TROUND_H
#define AG_SUBNETS_TROUND_H

#include "engine/engine.h"
#include "subnets/netclient.h"

#include <stdint.h>

typedef struct {
  uint16_t uid;
  uint8_t hotkey[32];
  uint8_t commit[32];
  int revealed;    /* blob and size are known only once revealed */
  uint8_t blob[32];
  uint64_t size, block;
  char peer[200]; /* the submitter's endpoint, "http://host:port" ("" = none; ag_tround_peers) */
} ag_tsub;

typedef struct {
  uint64_t height, round, round_start, submit_until, reveal_until, round_end;
  uint8_t model[32];
  uint64_t model_size;
  ag_tsub *subs; /* allocated */
  int nsubs;
  uint8_t (*proposers)[32]; /* hotkeys that proposed in this round (allocated) */
  int nprops;
  /* the latest round record whose model is the current checkpoint, when there is one */
  int have_file_hash;
  uint8_t file_hash[32];
  /* the blobs revealed in the round before (what a stale copy or a blend is made of) */
  uint64_t prev_round;
  ag_tsub *prev; /* uid, blob, size (allocated) */
  int nprev;
  uint16_t last_uids[256]; /* the uids the latest round record aggregated */
  int nlast;
  /* hyperparameters */
  uint64_t inner_steps, window, k, top, outer_lr_ppm, momentum_ppm;
  /* endpoints of the subnet's neurons, "http://host:port" (ag_tround_peers) */
  char (*peers)[200];
  int npeers;
} ag_tround;

/* Reads the open round and the subnet's training hyperparameters. */
int ag_tround_get(ag_net *n, uint16_t netuid, ag_tround *r);
void ag_tround_free(ag_tround *r);

/* Reads the metagraph: every neuron's announced endpoint into r->peers, and each
 * submission's into its peer. Nodes keep only what was uploaded to them; with several nodes
 * trainers and validators fetch from each other (GET /agora/blobs/{hash},
 * /agora/model-files/{id}). */
int ag_tround_peers(ag_net *n, uint16_t netuid, ag_tround *r);

/* The checkpoint id from dir (fetched when absent from the node, else from r's peers; checked
 * by id). When file_hash is not NULL the whole file must hash to it (its outer momentum is then
 * trusted); *mom gets a malloc'd copy of the momentum (NULL when the file has none). */
int ag_tround_checkpoint(ag_net *n, const ag_tround *r, const char *dir, const uint8_t id[32],
                         const uint8_t *file_hash, ag_model **out, float **mom);
/* The blob with this hash and size from the node, else from peer ("" = none): checked by hash
 * and size (AG_E_BLOB_MISMATCH), AG_E_NOTFOUND when nobody has it, AG_E_TIMEOUT when the peer
 * did not answer within 5 s (callers do not retry that). */
int ag_tround_blob(ag_net *n, const uint8_t hash[32], uint64_t size, const char *peer, ag_buf *out);
/* POSTs a blob (what = "blobs", id = its hash) or a checkpoint file ("model-files", its model
 * id) to the node, which stores only what the chain announces. */
int ag_tround_upload(ag_net *n, const char *what, const uint8_t id[32], const uint8_t *data,
                     size_t len);
/* Removes checkpoint id from dir (every round makes one; a process that moved on drops the
 * previous one, and whoever still needs it fetches it again). */
void ag_tround_forget(const char *dir, const uint8_t id[32]);

#endif
