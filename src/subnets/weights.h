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
  uint64_t epoch; /* of the subnet when committed (one more if the commit landed later) */
  uint64_t block; /* height the validator saw when it committed (for people reading the file) */
  uint64_t version;
  uint8_t hash[32]; /* ag_weights_commit_hash of all below with the hotkey and netuid */
  uint8_t salt[32]; /* secret until revealed; wiped when dropped */
  uint16_t n;
  uint16_t *uids, *weights; /* n each, malloc'd */
} ag_wcommit;

typedef struct {
  ag_net *net;              /* borrowed */
  const ag_keypair *hotkey; /* borrowed */
  uint16_t netuid;
  const char *tag;          /* log component */
  ag_wcommit pend[AG_MAX_COMMITS];
  int npend;
  uint64_t last_weights_epoch; /* UINT64_MAX: none yet */
  uint64_t last_set_height;    /* the least height this process's last set or commit landed at (0: none) */
  uint64_t retry_ms;           /* after a set or commit that failed in epoch retry_epoch: none */
  uint64_t retry_epoch;        /*   again in that epoch before this ag_mono_ms() */
  uint64_t weights_sets;
  char last_weights[160];
  uint64_t height, epoch;
  uint64_t window_epoch;
  int commit_reveal;
  uint64_t reveal_period, rate_limit, version;
  json_t *subnet;           /* the latest GET /v1/subnets/{netuid} (owned) */
  char reveals_path[1200];  /* where pend[] is kept ("" = memory only): ag_wsetter_persist */
} ag_wsetter;

void ag_wsetter_init(ag_wsetter *w, ag_net *net, const ag_keypair *hotkey, uint16_t netuid,
                     const char *tag);
void ag_wsetter_free(ag_wsetter *w);
/* Keeps the pending reveals in path, so that a validator restarted between a commit and its
 * reveal still reveals: the file (JSON, mode 0600: it holds the salts) is written atomically
 * before each commit is sent and after every change, and removed when nothing is pending.
 * Loads what a previous run left there (entries already due or expired are sent or dropped by
 * the next ag_wsetter_poll). Returns the number of reveals loaded; a file that does not parse
 * or belongs to another hotkey or subnet is an error, and nothing is loaded from it. */
int ag_wsetter_persist(ag_wsetter *w, const char *path);
/* HOME/neurons/HOTKEY/reveals-NETUID.json, HOTKEY being the key's name. */
void ag_wsetter_reveals_path(const char *home, const char *hotkey_name, uint16_t netuid, char *out,
                             size_t cap);
/* ag_wsetter_persist on that path, logging what it loaded or why it could not (validators). */
void ag_wsetter_keep_reveals(ag_wsetter *w, const char *home, const char *hotkey_name);
/* The file's text for n pending reveals (malloc'd; it holds the salts: wipe it, then free). */
char *ag_reveals_dump(const uint8_t hotkey[32], uint16_t netuid, const ag_wcommit *c, int n);
/* Parses that text (untrusted: at most AG_MAX_COMMITS entries of at most AG_MAX_UIDS weights,
 * each one's hash recomputed and checked). On success out[0..*n) own their arrays (free with
 * ag_wcommit_free); on error nothing is kept. AG_E_BAD_JSON or AG_E_INVALID with a message. */
int ag_reveals_parse(const uint8_t *data, size_t len, const uint8_t hotkey[32], uint16_t netuid,
                     ag_wcommit out[AG_MAX_COMMITS], int *n);
/* Frees c's arrays and wipes its salt. */
void ag_wcommit_free(ag_wcommit *c);

/* Reads the subnet and sends the reveals that are due. Returns 1 when a new weights window
 * (epoch) began since the last call, 0 when not, or an error. */
int ag_wsetter_poll(ag_wsetter *w);
/* A set or commit that failed (refused, or not committed in time) is not tried again in the
 * same epoch for this long: a caller may look every half second, and each refused try can cost
 * a fee. */
#define AG_WEIGHTS_RETRY_MS 10000
/* Sets (or commits) weights from scores[0..n) (uid order; uid `self` is skipped; uids past
 * AG_MAX_UIDS are not a subnet's and are left out) when the
 * validator holds a permit, has not set weights in this epoch and the rate limit allows. */
void ag_wsetter_set(ag_wsetter *w, int self, int permit, uint64_t last_update, uint64_t reg_block,
                    const double *scores, int n);
/* Submits a tx from k and waits for its commit, up to 3 times 8 s. 0 or the error, logged. */
int ag_submit_retry(ag_net *net, const ag_keypair *k, uint16_t kind, const ag_buf *p,
                    const char *what, const char *tag);
/* The same, except that the error `expected` (an outcome of a race the caller knows how to
 * take: a round that moved on, a commit that landed one epoch later) is returned unlogged;
 * AG_SUBMIT_QUIET: no refusal is logged (the caller logs each). */
#define AG_SUBMIT_QUIET INT32_MIN
int ag_submit_expect(ag_net *net, const ag_keypair *k, uint16_t kind, const ag_buf *p,
                     const char *what, const char *tag, int expected);

#endif
