/*
 * scenario.h — whole-network incentive scenarios run through the real state machine. A tool,
 * not consensus code (it may use floating point to summarize); it drives the chain only through
 * transactions and blocks
 * (`agora sim yuma SCENARIO`): a fresh chain in a temporary folder, validators and miners as
 * real keys sending real transactions (registration, stake, set_weights or commit + reveal),
 * blocks executed by ag_app, and the metagraph read after every epoch.
 *
 * Scenarios (docs/incentive.md describes each and what it shows):
 *   honest    three honest validators (stake 50/30/20) and three miners of fixed quality
 *   copier    honest validators and a weight copier that re-submits the largest validator's
 *             on-chain weights; miner quality rotates every epoch, so stale weights are wrong
 *   cabal     a cabal holding less than kappa of the stake pushes its own useless miner
 *   late      a big validator (80%) follows a change of the best miner five epochs late
 */
#ifndef AG_SCENARIO_H
#define AG_SCENARIO_H

#include <stdint.h>

#define AG_SCN_MAX_V 8
#define AG_SCN_MAX_M 8
#define AG_SCN_MAX_EPOCHS 64

typedef struct {
  char name[32];
  int commit_reveal;
  int nval, nminer, epochs;
  char vname[AG_SCN_MAX_V][16];   /* "V0 honest 50%" style labels */
  char mname[AG_SCN_MAX_M][16];
  uint64_t vstake[AG_SCN_MAX_V];  /* base units */
  /* per epoch, as the chain stored them (u16 proportions, base units) */
  uint16_t dividends[AG_SCN_MAX_EPOCHS][AG_SCN_MAX_V];
  uint16_t vtrust[AG_SCN_MAX_EPOCHS][AG_SCN_MAX_V];
  uint64_t val_emission[AG_SCN_MAX_EPOCHS][AG_SCN_MAX_V];
  uint16_t incentive[AG_SCN_MAX_EPOCHS][AG_SCN_MAX_M];
  uint64_t miner_emission[AG_SCN_MAX_EPOCHS][AG_SCN_MAX_M];
} ag_scenario_result;

/* Runs a scenario. commit_reveal: 0 or 1, or -1 for the scenario's default. epochs: 0 for the
 * default. AG_E_INVALID for an unknown name. Uses a temporary folder under $TMPDIR. */
int ag_scenario_run(const char *name, int commit_reveal, int epochs, ag_scenario_result *out);
/* Names, NULL-terminated. */
extern const char *const ag_scenario_names[];
/* Dividends per unit of stake of validator v, summed over epochs [from, to). */
double ag_scenario_yield(const ag_scenario_result *r, int v, int from, int to);

#endif
