/*
 * weights.h — how a validator turns its scores into on-chain weights, shared by every subnet
 * kind: once per epoch of the subnet (the weights window), when it holds a permit and the rate
 * limit allows, as u16 weights (the best score = 65535), through commit-reveal when the subnet
 * uses it (the reveal is sent in the epoch it becomes due). Also the one way validators send a
 * transaction: wait for the commit, and resend a few times when the node restarted meanwhile.
 */
#ifndef AG_SUBNETS_WEIGHTS_H
#define AG_SUBNETS_WEIGHTS_H

#include "crypto/keys.h"
#include "incentive/incentive.h"
#include "subnets/netclient.h"

typedef struct {
  uint64_t epoch; /* of the subnet when committed */
  uint64_t version;
  uint8_t salt[32];
  uint16_t n;
  uint16_t *uids, *weights;
} ag_wcommit;

typedef struct {
  ag_net *net;              /* borrowed */
  const ag_keypair *hotkey; /* borrowed */
  uint16_t netuid;
  const char *tag;          /* log component */
  ag_wcommit pend[AG_MAX_COMMITS];
  int npend;
  uint64_t last_weights_epoch; /* UINT64_MAX: none yet */
  uint64_t weights_sets;
  char last_weights[160];
  uint64_t height, epoch;
  uint64_t window_epoch;
  int commit_reveal;
  uint64_t reveal_period, rate_limit, version;
  json_t *subnet;           /* the latest GET /v1/subnets/{netuid} (owned) */
} ag_wsetter;

void ag_wsetter_init(ag_wsetter *w, ag_net *net, const ag_keypair *hotkey, uint16_t netuid,
                     const char *tag);
void ag_wsetter_free(ag_wsetter *w);
/* Reads the subnet and sends the reveals that are due. Returns 1 when a new weights window
 * (epoch) began since the last call, 0 when not, or an error. */
int ag_wsetter_poll(ag_wsetter *w);
/* Sets (or commits) weights from scores[0..n) (uid order; uid `self` is skipped) when the
 * validator holds a permit, has not set weights in this epoch and the rate limit allows. */
void ag_wsetter_set(ag_wsetter *w, int self, int permit, uint64_t last_update, uint64_t reg_block,
                    const double *scores, int n);
/* Submits a tx from k and waits for its commit, up to 3 times 8 s. 0 or the error, logged. */
int ag_submit_retry(ag_net *net, const ag_keypair *k, uint16_t kind, const ag_buf *p,
                    const char *what, const char *tag);

#endif
