/* localnet_subnets.h — `agora localnet --subnets`: the inference and training subnets on a
 * multi-validator network, their neurons spread over its nodes (localnet_subnets.c). */
#ifndef AG_LOCALNET_SUBNETS_H
#define AG_LOCALNET_SUBNETS_H

#include "chain/genesis.h"

#include <jansson.h>

typedef struct {
  int miners;        /* inference miners (2) */
  int validators;    /* validators of each subnet (3; stakes 2000, 1000, 1000, ... AGR) */
  int trainers;      /* trainers (2) */
  int round_blocks;  /* blocks per training round (30) */
  int train_dim, train_layers; /* the model trained from scratch (0: the default model's) */
  char model[1024];  /* the model the inference subnet pins; the training subnet starts from its shape */
} ag_lsub_opts;

/* For a new network in root: generates the subnet owner's and every neuron's keys (root/keys,
 * funded in g), stores the two subnets' initial checkpoints in root/node0/models only (the
 * other nodes fetch them from their file peers), writes root/subnets.json (each neuron's role,
 * stake and node: neuron k of a role uses node k mod nnodes, trainers counted from the last
 * node) and sets *incentive to the genesis "incentive" module that creates the subnets. */
int ag_lsub_create(const char *root, const char *chain_id, int nnodes, const ag_lsub_opts *o,
                   ag_genesis *g, json_t **incentive);
/* 1 when root's network runs subnets. */
int ag_lsub_present(const char *root);
/* Registers and stakes the neurons once (through node 0's API at api_base; what a start that
 * failed half way already put on chain is skipped), then starts every neuron that is not
 * running, each against its node's API; pids go to root/subnets.json. */
int ag_lsub_start(const char *root, const char *exe, int api_base_port, int port_stride, int nnodes, int quiet);
/* Stops every neuron (SIGTERM, then SIGKILL after 5 s). */
void ag_lsub_stop(const char *root);
/* The neurons as JSON (name, role, netuid, node, pid, running), for status. */
json_t *ag_lsub_status(const char *root);

#endif
