/*
 * yuma_case.h — Yuma test cases in the `agora-yuma-case/1` format (../shared/vectors/yuma/
 * README.md): run a case through ag_yuma_epoch / ag_yuma_median_col and compare a result with
 * the case's expectations. `agora sim epoch`, the vector tests and the fuzz target all use
 * exactly these functions.
 *
 * A case is untrusted input: every key, type, length, uid and range is checked and a problem
 * is reported as AG_E_YUMA_CASE with the JSON path in ag_errmsg() ("epochs[1].set_weights[0]
 * .weights[2]: uid 9 out of range (n = 8)"). Numbers must be JSON integers (so rao and block
 * values are limited to 2^63-1 by the JSON reader).
 *
 * Agora extensions to the format (optional; a case without them is read as the README says):
 *   initial.commit_block      n entries, integer or null: block of each uid's earliest
 *                             unexpired weight commit (null = none), for commit_reveal = true;
 *   epochs[k].commit_block    list of [uid, block-or-null], applied after `stake`.
 * With commit_reveal = true and no commit blocks, no uid has a commit (nothing is masked).
 *
 * Deliberately not here: reading files (the caller does), printing, scenarios.
 */
#ifndef AG_INCENTIVE_YUMA_CASE_H
#define AG_INCENTIVE_YUMA_CASE_H

#include <jansson.h>
#include <stddef.h>

/* Runs the case and returns its result in *result (a new reference the caller decrefs):
 * {"epochs": [R_0, ...]} for kind "epoch" (each R_k holds consensus, incentive, dividends,
 * validator_trust, emission, server_emission, validator_emission, validator_permit, bonds,
 * stake_weight, active), {"subcases": [{"median": [...]}, ...]} for kind "median".
 * Returns 0, AG_E_YUMA_CASE for a malformed case, or an ag_yuma_epoch error. */
int ag_yuma_case_run(const json_t *c, json_t **result);

/* Compares result with every `expect` of the case, following the README's rules (tolerances,
 * bonds as uid->value maps ignoring zeros). Returns 0 when everything matches,
 * AG_E_YUMA_MISMATCH with the first difference in ag_errmsg() ("epochs[2].bonds[1]: expected
 * uid 4 = 16383, got 16382"), or AG_E_YUMA_CASE when the case or result is malformed. */
int ag_yuma_case_check(const json_t *c, const json_t *result);

/* Prints a result as JSON text, one epoch (or subcase) per line. Returns a malloc'd string. */
char *ag_yuma_case_dump(const json_t *result);

#endif
