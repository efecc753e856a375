/*
 * validator.h — an inference validator (docs/subnet-inference.md#validators): it reads the
 * metagraph, sends every serving miner the same fresh challenge each round (a prompt from the
 * validation corpus with random seed and sampling parameters), checks each answer's signature,
 * request hash, receipt and text, re-executes every distinct receipt, and keeps a moving
 * average score per uid. A wrong or unsigned answer zeroes the miner's score for the rest of
 * the subnet's epoch (the weights window); a slow answer scores less than the fastest; a missing one scores 0. Once per
 * weights interval it sets weights from the scores, through commit-reveal when the subnet uses
 * it. Every call to a miner or the node has a timeout and bounded retries.
 */
#ifndef AG_SUBNETS_VALIDATOR_H
#define AG_SUBNETS_VALIDATOR_H

#include <jansson.h>
#include <stdint.h>

typedef struct {
  char home[1024];        /* keys, node URL, model cache */
  char node_url[256];     /* "" = from home */
  char model_dir[1100];   /* "" = HOME/models */
  uint16_t netuid;
  char hotkey[65];
  char coldkey[65];       /* pays the registration if the hotkey is new ("" = none) */
  int threads;            /* engine threads for re-execution (default 1) */
  int interval_ms;        /* pause between challenge rounds (default 2000) */
  int timeout_ms;         /* per miner request (default 20000) */
  double ema_alpha;       /* weight of a new sample in the moving average (default 0.2) */
  char status_path[1100]; /* JSON status written after every round ("" = none) */
  char listen[64];        /* training: where peers fetch its checkpoints ("" = 127.0.0.1:0) */
  char announce_host[128]; /* training: the host peers reach it at ("" = the listen host) */
} ag_validator_config;

void ag_validator_config_default(ag_validator_config *c);

/* What committee member `hotkey` (an address) of subnet netuid, whose subnet pins `model`,
 * owes case d (an object of GET /v1/disputes, whose "phase" is the next block's): commit,
 * reveal, nothing, or abstain, when the channel's model is not `model` (the subnet re-pinned
 * since the answer: judged with the new model an honest answer would look wrong). */
enum { AG_DUTY_NONE, AG_DUTY_COMMIT, AG_DUTY_REVEAL, AG_DUTY_ABSTAIN };
int ag_dispute_duty(const json_t *d, const char *hotkey, uint16_t netuid, const uint8_t model[32]);
/* Runs until *stop becomes nonzero: ag_validator_open, then ag_validator_step every
 * interval_ms. AG_E_MODEL_CHANGED when the subnet pins another model (the caller runs it
 * again). */
int ag_validator_run(const ag_validator_config *c, volatile int *stop);

/* The parts of ag_validator_run. Open connects to the node (trying while *stop is 0), loads the
 * hotkey, registers it if it is new, loads the pinned model and measures this machine's
 * decoding speed. A step reads the pin (AG_E_MODEL_CHANGED when it changed) and the
 * metagraph (its error, and nothing else is done), then runs the dispute duties, one challenge
 * round, the dispute duties again, the weights and the status file. */
typedef struct ag_inf_validator ag_inf_validator;
int ag_validator_open(const ag_validator_config *c, volatile int *stop, ag_inf_validator **out);
int ag_validator_step(ag_inf_validator *v);
void ag_validator_close(ag_inf_validator *v); /* accepts NULL */

#endif
