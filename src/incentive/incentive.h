/*
 * incentive.h — stake, subnets, registration, weights and emission: the chain-state side of
 * Yuma consensus (docs/incentive.md). The epoch arithmetic itself is incentive/yuma.h.
 *
 * Model (Bittensor's, before dynamic TAO): one token, AGR. A coldkey (an ordinary account)
 * owns hotkeys and stakes AGR on any hotkey (its own or a delegate's). A hotkey's total stake
 * is its weight in every subnet where it holds a UID. Every block mints the block reward
 * (halving schedule) into the subnets' pending emission by their configured shares; every
 * tempo blocks a subnet runs its epoch: 18% to the owner, the rest to miners (incentive) and
 * validators (dividends; the validator's take to its owner, the remainder to its stakers as
 * stake). Σ balances + Σ stake + Σ pending + pool + burned = issued, always.
 *
 * Everything here runs inside the deterministic state machine: integers only, sorted
 * iteration only. Query functions read a committed snapshot (ag_state_view) or, from tx code,
 * the block overlay.
 */
#ifndef AG_INCENTIVE_H
#define AG_INCENTIVE_H

#include "chain/app.h"
#include "chain/state.h"
#include "crypto/keys.h"
#include "incentive/endpoint.h"
#include "incentive/yuma.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- tx kinds (docs/incentive.md gives every payload byte by byte) ------------------------ */
enum {
  AG_TX_STAKE_ADD = 10,      /* coldkey: hotkey[32] | amount u64 */
  AG_TX_STAKE_REMOVE = 11,   /* coldkey: hotkey[32] | amount u64 */
  AG_TX_SET_TAKE = 12,       /* coldkey owning hotkey: hotkey[32] | take u16 */
  AG_TX_SUBNET_CREATE = 13,  /* coldkey: max_cost u64 | owner_hotkey[32] (zeros = none) |
                                name_len u8 | name */
  AG_TX_SUBNET_SET = 14,     /* owner coldkey: netuid u16 | param_len u8 | param | value u64 */
  AG_TX_REGISTER = 15,       /* coldkey: netuid u16 | hotkey[32] | max_cost u64 |
                                hotkey_sig[64] over claim(chain_id, coldkey, hotkey) */
  AG_TX_SERVE = 16,          /* hotkey: netuid u16 | protocol u8 | port u16 | host_len u8 | host */
  AG_TX_SET_WEIGHTS = 17,    /* hotkey: netuid u16 | version_key u64 | n u16 | uids u16[n] |
                                m u16 | weights u16[m] */
  AG_TX_COMMIT_WEIGHTS = 18, /* hotkey: netuid u16 | commit[32] */
  AG_TX_REVEAL_WEIGHTS = 19, /* hotkey: as set_weights, then salt[32] */
  AG_TX_SUDO_SET_SHARE = 20, /* sudo key: netuid u16 | share u16 */
  AG_TX_SUBNET_SET_MODEL = 21, /* owner: netuid u16 | kind u8 | model_id[32] | size u64 */
  AG_TX_SUDO_SET_VALIDATOR = 25, /* sudo key: consensus_key[32] | power u64 (0 removes it);
                                    CometBFT chains (ag_app_validator_set) */
  AG_TX_VALIDATOR_BOND = 26,   /* any account: consensus_key[32] | amount u64 | key_sig[64] over
                                  ag_vstake_claim_hash; CometBFT chains (vstake.c) */
  AG_TX_VALIDATOR_UNBOND = 27, /* the bond's account: consensus_key[32] | amount u64 */
};

/* What a subnet is for; validators pick their protocol by it. */
enum { AG_SUBNET_GENERIC = 0, AG_SUBNET_INFERENCE = 1, AG_SUBNET_TRAINING = 2 };

/* The model a subnet pins: miners fetch it by id from the node or from peers and check the id
 * (the engine's content hash) before use. */
typedef struct {
  uint8_t kind;          /* AG_SUBNET_* */
  uint8_t model_id[32];  /* zeros = none yet */
  uint64_t size;         /* bytes of the model file */
  uint64_t set_block;    /* when it was pinned */
} ag_subnet_model;

#define AG_MAX_SUBNETS 128
#define AG_MAX_UIDS 4096
#define AG_MAX_COMMITS 10
#define AG_HOST_MAX 64
#define AG_NAME_MAX 32
#define AG_MAX_STAKERS 4096        /* bound of the max_stakers parameter (a 160 KiB record) */
#define AG_MAX_STAKED_HOTKEYS 256  /* hotkeys one coldkey may have stake on */

/* Chain-wide parameters, from the "incentive" section of genesis.json. */
typedef struct {
  uint64_t block_reward;      /* base units minted per block before any halving */
  uint64_t halving_interval;  /* blocks between halvings */
  uint64_t subnet_cost;       /* burned to create a subnet */
  uint64_t burn_initial;      /* registration cost of a new subnet */
  uint64_t burn_min, burn_max;
  uint16_t owner_cut;         /* u16 proportion of each epoch's emission to the subnet owner */
  uint16_t default_take;      /* u16 proportion of dividends a validator keeps */
  uint16_t max_take;
  uint8_t sudo[32];           /* may set emission shares; zeros = nobody */
  uint64_t min_stake;         /* smallest non-zero stake of one coldkey on one hotkey */
  uint16_t max_stakers;       /* coldkeys with stake on one hotkey (1..AG_MAX_STAKERS) */
  uint8_t allow_private_endpoints; /* serve may announce loopback/private hosts (devnets) */
} ag_incentive_params;

typedef struct {
  uint16_t tempo;                  /* blocks between epochs: 1..50400 (360) */
  uint16_t max_uids;               /* 1..4096 (256) */
  uint16_t max_validators;         /* 1..max_uids (64) */
  uint64_t immunity_period;        /* blocks a new neuron cannot be replaced (5000) */
  uint64_t activity_cutoff;        /* blocks without weights before inactive (5000) */
  uint64_t weights_rate_limit;     /* blocks between set_weights/commits of a uid (100) */
  uint16_t min_allowed_weights;    /* (1) */
  uint16_t max_weight_limit;       /* u16 proportion cap of one weight; 65535 = off */
  uint16_t kappa;                  /* (32767) */
  uint64_t bonds_moving_average;   /* millionths, <= 975000 (900000) */
  uint16_t bonds_penalty;          /* (65535) */
  uint8_t yuma3;                   /* 1 = Yuma3 bonds (default, as new subtensor subnets) */
  uint8_t liquid_alpha;            /* (0) */
  uint16_t alpha_low, alpha_high;  /* (45875, 58982); alpha_low >= 1638 */
  int16_t alpha_sigmoid_steepness; /* (1000) */
  uint8_t commit_reveal;           /* (1) */
  uint16_t reveal_period;          /* epochs between commit and reveal (1) */
  uint64_t weights_version_key;    /* set_weights needs version_key >= this (0) */
  uint64_t stake_threshold;        /* base units; smaller stakes count as 0 (0) */
  /* training subnets (docs/subnet-training.md); other kinds ignore them */
  uint64_t train_round_blocks;     /* blocks of a round before it times out (20) */
  uint64_t train_submit_blocks;    /* blocks of a round open to commitments to blobs (10) */
  uint64_t train_reveal_blocks;    /* then blocks open to revealing them (4) */
  uint64_t train_shares;           /* model shares one aggregated round mints (1000000) */
  uint16_t train_top;              /* most submissions aggregated per round (8) */
  uint16_t train_k;                /* values a pseudo-gradient keeps per 4096 (48) */
  uint16_t train_inner_steps;      /* trainers' AdamW steps per round (8) */
  uint64_t train_window;           /* tokens of a trainer's assigned shard (8192) */
  uint64_t train_outer_lr;         /* outer Nesterov learning rate, millionths (1000000) */
  uint64_t train_momentum;         /* outer Nesterov momentum, millionths (500000) */
  uint64_t train_data_share;       /* of a trained model's shares, millionths, to the datasets it
                                      declares (docs/economy.md) (100000) */
} ag_hyperparams;

typedef struct {
  uint16_t netuid;
  uint8_t owner[32];        /* coldkey */
  uint8_t owner_hotkey[32]; /* zeros = none */
  char name[AG_NAME_MAX + 1];
  uint64_t created_block;
  ag_hyperparams hp;
  uint16_t n;               /* uids in use: 0..n-1 */
  uint64_t burn;            /* registration cost at burn_block (decays with time) */
  uint64_t burn_block;
  uint64_t last_epoch_block;
  uint64_t epoch;           /* epochs run so far */
  uint64_t pending;         /* emission accrued since the last epoch, base units */
  uint16_t share;           /* configured emission share (relative weight) */
  uint64_t emitted;         /* total paid out by epochs */
} ag_subnet;

typedef struct {
  uint8_t hotkey[32];
  uint64_t reg_block;
  uint64_t last_update;
  char host[AG_HOST_MAX + 1];
  uint16_t port;
  uint8_t protocol;         /* 0 = none announced, 1 = http */
  /* results of the last epoch */
  uint8_t active, permit;
  uint16_t consensus, incentive, dividends, vtrust, stake_weight;
  uint64_t emission, server_emission, validator_emission;
} ag_neuron;

typedef struct {
  uint8_t owner[32];
  uint16_t take;
  uint64_t total_stake;
} ag_hotkey_info;

/* Reads go through either the block overlay (st, from tx code) or a committed view. */
typedef struct {
  ag_state *st;
  ag_state_view *view; /* when set, reads come from it; writes are not allowed */
} ag_ist;

/* Registers the incentive layer's tx kinds (attach does it too): once, before any thread. */
void ag_incentive_register_kinds(void);
/* Registers the tx kinds (process-wide) and the block/genesis hooks of app. Call once per app,
 * before init_chain. */
void ag_incentive_attach(ag_app *app);

void ag_incentive_params_default(ag_incentive_params *p);
void ag_hyperparams_default(ag_hyperparams *hp);
/* Hyperparameter by name ("tempo", "kappa", ...): bounds check, cross-field check
 * (max_validators <= max_uids, alpha_low <= alpha_high) and assignment. */
int ag_hyperparam_set(ag_hyperparams *hp, const char *name, uint64_t value);
/* The same without the cross-field check, for setting several at once (then call check). */
int ag_hyperparam_set_unchecked(ag_hyperparams *hp, const char *name, uint64_t value);
int ag_hyperparams_check(const ag_hyperparams *hp);
size_t ag_hyperparam_count(void);
const char *ag_hyperparam_name(size_t i);
uint64_t ag_hyperparam_get(const ag_hyperparams *hp, size_t i);
void ag_hyperparam_bounds(size_t i, uint64_t *min, uint64_t *max);

/* ---- reads (0, AG_E_NOTFOUND or an error) ------------------------------------------------- */
int ag_incentive_params_load(ag_ist *s, ag_incentive_params *p);
int ag_subnet_list(ag_ist *s, uint16_t *netuids, size_t cap, size_t *n);
int ag_subnet_load(ag_ist *s, uint16_t netuid, ag_subnet *out);
int ag_neuron_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_neuron *out);
int ag_neuron_uid(ag_ist *s, uint16_t netuid, const uint8_t hotkey[32], uint16_t *uid);
/* A sparse row (weights or bonds) of uid; *len entries allocated in *out (free it). */
int ag_weights_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_yuma_entry **out, uint32_t *len);
int ag_bonds_load(ag_ist *s, uint16_t netuid, uint16_t uid, ag_yuma_entry **out, uint32_t *len);
int ag_hotkey_load(ag_ist *s, const uint8_t hotkey[32], ag_hotkey_info *out);
/* AG_E_NOTFOUND when the subnet has pinned nothing. */
int ag_subnet_model_load(ag_ist *s, uint16_t netuid, ag_subnet_model *out);
const char *ag_subnet_kind_name(uint8_t kind);
int ag_stake_get(ag_ist *s, const uint8_t hotkey[32], const uint8_t coldkey[32], uint64_t *out);
/* One coldkey's stake on a hotkey. */
typedef struct {
  uint8_t coldkey[32];
  uint64_t stake;
} ag_staker;
/* The stakers of a hotkey, sorted by coldkey (allocated with room for one more; free it). */
int ag_stakers_load(ag_ist *s, const uint8_t hotkey[32], ag_staker **out, size_t *n);
/* Hotkeys a coldkey has stake on (allocated; free it). */
int ag_stake_hotkeys(ag_ist *s, const uint8_t coldkey[32], uint8_t (**out)[32], size_t *n);
uint64_t ag_community_pool(ag_ist *s);
/* Registration cost of netuid at height (the decay applied). */
uint64_t ag_subnet_burn_at(const ag_subnet *sn, uint64_t height);
/* Emission minted at a height by the schedule. */
uint64_t ag_block_reward(const ag_incentive_params *p, uint64_t height);

/* Σ balances + Σ stake + Σ pending + pool + burned over the committed state; equals issued. */
int ag_incentive_audit(ag_state *st, uint64_t *accounted, uint64_t *issued);

/* ---- for clients: payload builders and the hotkey claim -------------------------------- */
/* The message a hotkey signs to let coldkey register it: BLAKE2b-256("agora/hkclaim",
 * chain_id_len u8 | chain_id | coldkey | hotkey). */
void ag_hotkey_claim_hash(const char *chain_id, const uint8_t coldkey[32],
                          const uint8_t hotkey[32], uint8_t out[32]);
/* A register payload (kind AG_TX_REGISTER, sent by coldkey): netuid u16 | hotkey[32] |
 * max_cost u64 | the hotkey's signature over its claim (ag_hotkey_claim_hash). Appended. */
/* sudo_set_validator: a CometBFT consensus key (ed25519) and its voting power, 0 to remove it. */
void ag_payload_set_validator(ag_buf *out, const uint8_t key[32], uint64_t power);
void ag_payload_register(ag_buf *out, const char *chain_id, uint16_t netuid, const uint8_t coldkey[32],
                         const ag_keypair *hotkey, uint64_t max_cost);
/* The commit of a weights vector: BLAKE2b-256("agora/wcommit", hotkey | netuid u16 |
 * version_key u64 | n u16 | uids | n u16 | weights | salt[32]). */
void ag_weights_commit_hash(const uint8_t hotkey[32], uint16_t netuid, uint64_t version_key,
                            const uint16_t *uids, const uint16_t *weights, uint16_t n,
                            const uint8_t salt[32], uint8_t out[32]);
void ag_payload_weights(ag_buf *out, uint16_t netuid, uint64_t version_key, const uint16_t *uids,
                        const uint16_t *weights, uint16_t n, const uint8_t *salt /* or NULL */);

/* ---- validators by bond (vstake.c; docs/multi-validator.md "Validators by bond") ---------- */
#define AG_VSTAKE_MAX 128 /* bonded consensus keys the chain keeps */
#define AG_VSTAKE_UNBOND_MS_MAX 315360000000ull /* 10 years */
enum { AG_VSTAKE_TOMBSTONED = 1, AG_VSTAKE_SERVED = 2 };

/* The "validators" object of genesis.json's incentive section. */
typedef struct {
  uint64_t min_bond;         /* base units; one unit of power per whole AGR (10 AGR) */
  uint64_t epoch_blocks;     /* blocks between changes of power (100) */
  uint64_t unbond_blocks;    /* unbonded AGR stays locked and slashable (100000) */
  uint64_t unbond_ms;        /* ... and at least this much block time (14 days) */
  uint64_t jail_blocks;      /* a validator that stopped signing waits this long (1000) */
  uint16_t slash_bps;        /* of bond and unbonding, burned for a double sign (500) */
  uint16_t max_missed_permille; /* of the blocks it should sign in an epoch, before jail (500) */
  uint16_t jail_slash_bps;   /* of bond and unbonding, burned when jailed (10) */
  uint16_t reward_bps;       /* of each block's reward, to the bonded validators that signed (1000) */
} ag_vstake_params;

typedef struct {
  uint8_t pk[32];    /* CometBFT consensus key */
  uint8_t owner[32]; /* the account that bonded it */
  uint64_t bond, unbonding, release_at, jailed_until;
  uint64_t release_time_ms; /* unbonding also waits until a block at this time */
  uint8_t flags;     /* AG_VSTAKE_* */
  uint32_t seen, missed; /* this epoch: votes it was asked for, and those it did not give */
} ag_vcandidate;

void ag_vstake_params_default(ag_vstake_params *p);
int ag_vstake_params_check(const ag_vstake_params *p);
int ag_vstake_params_load(ag_ist *s, ag_vstake_params *p);
/* Pays the bonded validators that signed the previous block their part of reward_bps of the
 * block's reward (each power / the signing set's total power), to their owners' accounts;
 * *paid gets the sum (0 on a solo chain, or when none signed). During finalize_block. */
int ag_vstake_reward(ag_app *app, uint64_t reward, uint64_t *paid);
void ag_vstake_params_store(ag_state *st, const ag_vstake_params *p);
/* The candidates, sorted by key (allocated with room for two more; free it). */
int ag_vstake_list(ag_ist *s, ag_vcandidate **out, size_t *n);
/* Voting power of a bond: one per whole AGR, 0 below min_bond. */
uint64_t ag_vstake_power(const ag_vstake_params *p, uint64_t bond);
/* CometBFT's address of an ed25519 consensus key: SHA-256(key)[0..20). */
void ag_vstake_address(const uint8_t pk[32], uint8_t out[20]);
/* What the consensus key signs to let owner bond it: BLAKE2b-256("agora/vbond",
 * chain_id_len u8 | chain_id | owner | key). */
void ag_vstake_claim_hash(const char *chain_id, const uint8_t owner[32], const uint8_t key[32], uint8_t out[32]);
/* A validator_bond payload, signed with the consensus key's 64-byte secret key. Appended. */
void ag_payload_validator_bond(ag_buf *out, const char *chain_id, const uint8_t owner[32], const uint8_t key_sk[64],
                               uint64_t amount);
struct json_t *ag_vstake_json(const ag_vcandidate *c, uint64_t height);

/* State keys (docs/incentive.md). */
#define AG_IKEY_VSTAKE "i/vstake"   /* n × candidate (105 bytes), sorted by key */
#define AG_IKEY_VPARAMS "i/vparams" /* ag_vstake_params (genesis; absent: the defaults) */
#define AG_IKEY_PARAMS "i/params"
#define AG_IKEY_SUBNETS "i/subnets"
#define AG_IKEY_POOL "i/pool"

#endif
