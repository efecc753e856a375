/*
 * internal.h — what the incentive module's files share and nobody else uses: record writers,
 * commit records, and the tx kinds' and hooks' entry points.
 */
#ifndef AG_INCENTIVE_INTERNAL_H
#define AG_INCENTIVE_INTERNAL_H

#include "incentive/incentive.h"

typedef struct {
  uint8_t hash[32];
  uint64_t block; /* block of the commit */
  uint64_t epoch; /* the subnet's epoch counter at the commit */
} ag_commit;

void ag_incentive_params_store(ag_state *st, const ag_incentive_params *p);
void ag_subnet_list_store(ag_state *st, const uint16_t *netuids, size_t n);
void ag_subnet_store(ag_state *st, const ag_subnet *sn);
void ag_neuron_store(ag_state *st, uint16_t netuid, uint16_t uid, const ag_neuron *nr);
/* uid < 0 removes the index entry */
void ag_neuron_uid_store(ag_state *st, uint16_t netuid, const uint8_t hotkey[32], int uid);
/* tag 'w' (weights) or 'b' (bonds); n == 0 deletes the row */
void ag_row_store(ag_state *st, char tag, uint16_t netuid, uint16_t uid, const ag_yuma_entry *e,
                  uint32_t n);
int ag_commits_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_commit *out, int *n);
void ag_commits_store(ag_state *st, uint16_t netuid, uint16_t uid, const ag_commit *c, int n);
int ag_hotkey_store(ag_state *st, const uint8_t hotkey[32], const ag_hotkey_info *h);
/* Writes a hotkey's whole staker list (sorted by coldkey; n == 0 deletes it). The caller keeps
 * the hotkey's total_stake equal to the sum. */
int ag_stakers_store(ag_state *st, const uint8_t hotkey[32], const ag_staker *e, size_t n);
/* Sets the stake of (hotkey, coldkey) (0 removes it), keeping the hotkey's total and the
 * coldkey's hotkey list in step; the caller has checked ownership and moved the tokens.
 * Enforces the chain's bounds: a non-zero stake of at least min_stake
 * (AG_E_STAKE_BELOW_MIN), at most max_stakers per hotkey (a newcomer to a full list must
 * stake more than the smallest non-owner staker, who is then refunded to its balance;
 * otherwise AG_E_STAKERS_FULL), at most AG_MAX_STAKED_HOTKEYS per coldkey (AG_E_STAKE_LIMIT). */
int ag_stake_set(ag_state *st, const uint8_t hotkey[32], const uint8_t coldkey[32],
                 uint64_t amount);
void ag_community_pool_store(ag_state *st, uint64_t v);
void ag_subnet_model_store(ag_state *st, uint16_t netuid, const ag_subnet_model *m);

/* tx kinds (txs.c) and block/genesis hooks (epoch.c) */
int ag_incentive_genesis(ag_app *app, const ag_genesis *g, void *ctx);
int ag_incentive_begin_block(ag_app *app, void *ctx);
int ag_incentive_end_block(ag_app *app, void *ctx);
/* BLAKE2b-256(domain, chain_id_len u8 | chain_id | a[32] | b[32]): what a key signs to let
 * another act with it (a hotkey for its coldkey, a consensus key for its bonding account). */
void ag_claim_hash(const char *domain, const char *chain_id, const uint8_t a[32], const uint8_t b[32], uint8_t out[32]);
/* validators by bond (vstake.c) */
void ag_vstake_register_kinds(void);
int ag_vstake_end_block(ag_app *app, void *ctx);
/* AGR an i/vstake record holds (bonds and unbonding); *bad set when it is malformed. */
uint64_t ag_vstake_holdings(const uint8_t *val, size_t vlen, int *bad);

#endif
