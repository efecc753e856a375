/*
 * buyer.h — buying verified answers from an inference subnet's miners (docs/economy.md "Paid
 * requests", "Disputes"; docs/gateway.md). One path for `agora infer` and `agora gateway`:
 * list the miners that serve the subnet's model and their offers, choose one, pay it through a
 * payment channel kept on disk (opened or topped up when needed), send the request, check the
 * answer (signature, request, receipt by re-execution) and the payment receipt against the
 * offer, and on a failure ask another miner. A paid answer that fails the check becomes
 * evidence (HOME/disputes/<id>.json) and, when configured, a dispute on chain.
 *
 * A buyer may be used from several threads: requests to different miners run in parallel;
 * requests to one miner take turns (its channel's book is one sequence of vouchers), and
 * verification takes turns on one engine state.
 */
#ifndef AG_SUBNETS_BUYER_H
#define AG_SUBNETS_BUYER_H

#include "crypto/keys.h"
#include "subnets/inference.h"
#include "subnets/netclient.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum {
  AG_BUY_BY_INCENTIVE = 0, /* at random in proportion to incentive (uniform while none earns) */
  AG_BUY_CHEAPEST = 1      /* the request's cost at the offer, then incentive, then latency */
};

typedef struct {
  const char *home;           /* books in HOME/channels, evidence in HOME/disputes, models */
  uint16_t netuid;
  const ag_keypair *payer;    /* pays miners that charge; NULL: only free miners are asked */
  const char *payer_name;     /* for messages */
  const uint8_t *account;     /* the payer is an agent key of this account (docs/agents.md): its
                                 channel and dispute txs go through agent_exec, the account pays,
                                 the chain holds them to the key's caps; NULL: the payer's own */
  uint64_t deposit;           /* a new channel's deposit (0: 100 × the request's most) */
  /* Asked before a channel is opened or topped up; NULL answers yes. */
  int (*confirm)(void *ctx, const char *question);
  void *confirm_ctx;
  bool dispute;               /* dispute a wrong paid answer at once */
  uint64_t dispute_bond;      /* its bond (0: the chain's dispute_bond) */
  int policy;                 /* AG_BUY_* */
  bool verify;                /* re-execute answers (else only the signature is checked) */
  double verify_sample;       /* with verify: the fraction re-executed (1: all) */
  int threads;                /* engine threads for re-execution */
  int attempts;               /* miners asked at most per request (default 3) */
  bool log;                   /* progress and failures on stderr */
} ag_buyer_cfg;

/* How long a miner that answered wrongly is not asked again: 10 minutes for a first fault,
 * twice as long for each further one, up to a day; faults are forgotten after a day without
 * one once the ban has ended (a day of being asked again). So a miner that cheats on every
 * sampled answer is asked about once a day, not every ten minutes, while one wrong answer (a
 * bug since fixed, a bad hour) costs little. */
typedef struct {
  uint32_t faults;   /* since the last day without one */
  uint64_t last_ms;  /* the last fault, monotonic */
  uint64_t until_ms; /* not asked before this */
} ag_ban;
#define AG_BAN_FIRST_MS (10 * 60 * 1000ULL)
#define AG_BAN_MAX_MS (24 * 3600 * 1000ULL)
/* Records a wrong answer seen at now_ms. */
void ag_ban_fault(ag_ban *b, uint64_t now_ms);

typedef struct ag_buyer ag_buyer;

/* Reads the subnet's model id and, with verify, loads the model (fetched into HOME/models and
 * checked by its id). net must outlive the buyer. */
int ag_buyer_open(ag_net *net, const ag_buyer_cfg *cfg, ag_buyer **out);
void ag_buyer_close(ag_buyer *b); /* accepts NULL */
/* Tries again the disputes this payer could not open when it found the fault (HOME/disputes
 * files with "opened": false: the node unreachable, the bond not affordable then, ...);
 * *opened counts those the chain now has. Returns how many are still waiting. Does nothing
 * without cfg.dispute. */
int ag_buyer_retry_disputes(ag_buyer *b, int *opened);
/* The model's id and its short name ("agora-" + 12 hex digits). */
const uint8_t *ag_buyer_model_id(const ag_buyer *b);
const char *ag_buyer_model_name(const ag_buyer *b);
/* The engine model, with verify (else NULL): for counting a request's prompt tokens. */
const ag_model *ag_buyer_model(const ag_buyer *b);

typedef struct {
  json_t *resp;           /* the miner's answer (new reference) */
  json_t *attempts;       /* [{uid, hotkey, result, why, fault}] (new reference) */
  json_t *payment;        /* {channel, cost, billed, deposit, seq} or NULL */
  ag_inf_verdict vd;      /* text, token counts, verify time */
  int uid;
  char hotkey[AG_ADDR_MAX];
  double seconds;         /* the answering request, end to end */
  uint64_t cost;          /* what this answer cost (0 from a free miner) */
  bool verified;          /* re-executed (not only sampled out) */
} ag_buy_result;

/* Buys one answer to body (parsed as req; chat route or not). only_uid >= 0 asks that uid
 * first. A miner whose request would cost more than max_cost is not asked (UINT64_MAX: no
 * bound; AG_E_PAY_INSUFFICIENT when no miner is affordable). 0 with out filled, or
 * AG_E_NO_MINERS / AG_E_NOTFOUND with out->attempts saying why. Free with ag_buy_result_free. */
int ag_buy(ag_buyer *b, bool chat, const char *body, const ag_inf_request *req, int only_uid,
           uint64_t max_cost, ag_buy_result *out);
void ag_buy_result_free(ag_buy_result *r);
/* ag_buy of a request built as JSON: sent as its compact text (in its keys' order), parsed as
 * the miner will parse it (a request no miner may answer is refused with that code). */
int ag_buy_json(ag_buyer *b, bool chat, json_t *body, int only_uid, uint64_t max_cost, ag_buy_result *out);

#endif
