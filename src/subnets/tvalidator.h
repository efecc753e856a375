/*
 * tvalidator.h — a validator of a training subnet (`agora validator` on a subnet of kind
 * training; docs/subnet-training.md#validators). When a round's submissions close it fetches
 * every announced blob from the node, refuses the ones that do not match their hash or do not
 * decode for this round and checkpoint, zeroes copies (top-k index overlap with an earlier
 * submission), scores the rest by Templar's own-versus-random loss test, aggregates the best
 * train_top with the outer Nesterov step, uploads the checkpoint and proposes it with the
 * scores. Every honest validator computes the same bytes, so their proposals agree and the
 * chain makes the checkpoint canonical. Weights come from a moving average of the scores.
 */
#ifndef AG_SUBNETS_TVALIDATOR_H
#define AG_SUBNETS_TVALIDATOR_H

#include "subnets/validator.h"

/* Same configuration as the inference validator (interval_ms = polling period). */
int ag_tvalidator_run(const ag_validator_config *c, volatile int *stop);

#endif
