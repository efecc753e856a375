/*
 * app.h — the state machine behind an ABCI-shaped interface.
 *
 * Both consensus drivers call it the same way, in CometBFT's order:
 *   info -> init_chain (height 0 only) -> { check_tx* ; finalize_block ; commit ; check_tx
 *   (recheck) }*
 * finalize_block is a pure function of (committed state, block): integer-only, no wall clock,
 * no iteration in hash-table order. It computes results and the new state root; commit makes
 * them durable together with the block (solo mode) and the tx index.
 *
 * A tx that fails its envelope checks (signature, chain, nonce, fee, balance for the fee)
 * changes nothing. A tx whose envelope is valid pays its fee and advances its nonce even when
 * its action then fails; the action's own changes are rolled back.
 *
 * Threads: the driver thread calls init_chain/finalize_block/commit; check_tx may be called
 * from any thread (it locks); the query functions are safe from any thread.
 */
#ifndef AG_APP_H
#define AG_APP_H

#include "chain/genesis.h"
#include "chain/state.h"
#include "chain/tx.h"

#include <stdint.h>

typedef struct ag_app ag_app;

typedef struct {
  int code; /* 0 or AG_E_* */
  char log[200];
} ag_result;

typedef struct {
  uint64_t height;   /* last committed height (0 = only genesis, or nothing) */
  uint64_t time_ms;  /* its block time */
  uint8_t app_hash[32];
  uint8_t block_hash[32];
  char chain_id[AG_CHAIN_ID_MAX + 1]; /* empty before init_chain */
  int initialized;
} ag_app_info;

/* One validator's vote on the previous block, as CometBFT's decided_last_commit gives it. */
typedef struct {
  uint8_t addr[20]; /* the first 20 bytes of SHA-256 of its consensus key */
  uint8_t signed_block; /* 1: its precommit is in the commit; 0: absent or for nil */
  uint64_t power;       /* its voting power in the set that signed the previous block */
} ag_vote_info;

/* Evidence that a validator misbehaved (CometBFT's misbehavior: a duplicate vote or a light
 * client attack), committed in this block. */
typedef struct {
  uint8_t addr[20];
  uint8_t kind; /* 1 duplicate vote, 2 light client attack */
  uint64_t height;
} ag_misbehavior;

typedef struct {
  uint64_t height;
  uint64_t time_ms;
  uint8_t proposer[32];
  /* CometBFT chains (NULL, 0 in solo blocks): valid during finalize_block only */
  const ag_vote_info *votes;
  size_t nvotes;
  const ag_misbehavior *misbehavior;
  size_t nmisbehavior;
} ag_block_ctx;

typedef struct {
  uint64_t balance;
  uint64_t nonce; /* the nonce the next tx must carry */
} ag_account;

typedef struct {
  uint64_t issued; /* created at genesis and by emission */
  uint64_t burned; /* fees and burns */
} ag_supply;

enum { AG_CHECK_NEW = 0, AG_CHECK_RECHECK = 1 };

/* What check_tx learned about an accepted tx (for the mempool). */
typedef struct {
  uint8_t hash[32];
  uint8_t sender[32];
  uint8_t payer[32]; /* whose balance pays: the sender, or the account an agent key acts for */
  uint64_t nonce;
  uint64_t fee;
  uint64_t cost; /* fee + the amounts it spends: what check_tx reserved from payer's balance */
} ag_tx_meta;

int ag_app_open(const char *datadir, ag_app **out);
void ag_app_close(ag_app *app); /* accepts NULL */
/* History indexes (docs/api.md "History"), written with each block: on by default. */
void ag_app_set_history(ag_app *app, int on);
int ag_app_history(const ag_app *app);

/* History record kinds (the first byte of a key in ag_state_hist_*). */
enum {
  AG_HIST_ACCOUNT_TX = 'a', /* 'a' | pk | height u64be | index u32be -> hash | kind u16le | code i32le | sent u8 */
  AG_HIST_EPOCH = 'e',      /* 'e' | netuid u16be | epoch u64be -> an epoch's metagraph (incentive/epoch.c) */
};

/* The accounts a tx concerns: its sender first, then every address its payload names (all 256
 * of a multi-transfer's recipients), each once. */
typedef struct {
  size_t n, cap;
  uint8_t (*pk)[32]; /* allocated: ag_tx_parties_free */
} ag_tx_parties;
void ag_tx_parties_of(const ag_tx *tx, ag_tx_parties *p);
void ag_tx_parties_free(ag_tx_parties *p);

int ag_app_info_get(ag_app *app, ag_app_info *out);
/* Reads height, params and chain id again from the committed state (after a state sync
 * restored it underneath: consensus/snapshot.h) and empties the mempool's pending view. */
int ag_app_reload(ag_app *app);
/* Writes the genesis state and commits it as height 0. Idempotent for the same genesis;
 * AG_E_GENESIS for a different one. */
int ag_app_init_chain(ag_app *app, const ag_genesis *g, uint8_t app_hash[32]);
/* Validates a tx for the mempool against committed state plus the txs already accepted since
 * the last commit. RECHECK skips the signature (already verified). An accepted tx reserves
 * its nonce and cost in the sender's pending view until the next commit. */
int ag_app_check_tx(ag_app *app, const uint8_t *tx, size_t len, int mode, ag_result *res,
                    ag_tx_meta *meta);
/* A pending view: per sender, the next nonce and the amount reserved by the txs check_tx
 * accepted into it since it was last reset. The app keeps one for the mempool (reset at every
 * commit; ag_app_check_tx uses it); a node on CometBFT keeps a second one for the txs its API
 * admits before CometBFT checks them (consensus/node.c). Thread-safe. */
typedef struct ag_pending_view ag_pending_view;
ag_pending_view *ag_pending_view_new(void);
void ag_pending_view_free(ag_pending_view *v); /* accepts NULL */
void ag_pending_view_reset(ag_pending_view *v);
ag_pending_view *ag_app_view(ag_app *app);
/* check_tx against view v instead of the app's own. */
int ag_app_check_tx_in(ag_app *app, ag_pending_view *v, const uint8_t *tx, size_t len, int mode,
                       ag_result *res, ag_tx_meta *meta);
int ag_pending_view_rewind(ag_pending_view *v, const uint8_t sender[32], const uint8_t payer[32], uint64_t nonce,
                           uint64_t cost);
uint64_t ag_pending_view_nonce(ag_pending_view *v, const uint8_t pk[32], uint64_t committed_nonce);
/* Gives back what check_tx reserved for a tx the mempool did not keep (refused when full, or
 * evicted later): the sender's next nonce becomes `nonce` again and `cost` is available again
 * to payer (the sender, or the account an agent key's tx spends),
 * so the same tx or a replacement can be resubmitted at once. Only the sender's last pending
 * tx can be given back (a mempool evicts only tails); for any other, AG_E_INVALID and
 * nothing changes (the view is rebuilt at the next commit's recheck anyway). */
int ag_app_pending_rewind(ag_app *app, const uint8_t sender[32], const uint8_t payer[32], uint64_t nonce,
                          uint64_t cost);
/* Decodes a tx and verifies its signature without touching state or taking locks, remembering
 * the result so that a following check_tx or finalize_block skips the signature. Lets API
 * threads verify in parallel. Returns the decode or signature error. */
int ag_app_precheck(ag_app *app, const uint8_t *tx, size_t len);
/* Executes a block: one result per tx, and the new state root. Fails only on internal errors
 * or a wrong height (the driver must stop then). */
int ag_app_finalize_block(ag_app *app, const ag_block_ctx *ctx, const uint8_t *const *txs,
                          const uint32_t *lens, size_t n, ag_result *results,
                          uint8_t app_hash[32]);
/* Runs txs as the next block would, on the committed state, and keeps nothing: no signature
 * check (a preview runs before signing), no block hooks; each tx's result into results, then
 * look(ctx, app) with the simulated state readable through ag_app_state(app) (committed
 * views still see the state before), then every change is dropped. Returns look's code, or
 * AG_E_UNAVAILABLE while a finalized block awaits its commit (CometBFT mode: retry). */
int ag_app_simulate(ag_app *app, const uint8_t *const *txs, const uint32_t *lens, size_t n,
                    ag_result *results, int (*look)(void *ctx, ag_app *app), void *ctx);
/* Makes the last finalized block durable; block may be NULL (CometBFT mode). */
int ag_app_commit(ag_app *app, const uint8_t *block, size_t block_len,
                  const uint8_t block_hash[32]);

/* ---- queries on committed state --------------------------------------------------------- */

/* The ABCI-shaped generic query. Paths:
 *   "key"     data = a raw state key      -> value = the stored value
 *   "account" data = a 32-byte public key -> value = balance u64 | nonce u64
 *   "tx"      data = a 32-byte tx hash    -> value = height u64 | index u32 | code i32
 * With prove, the proof of the key (inclusion or absence) against root at height is filled.
 * Returns 0 with found = 0/1, or an error (bad path or data: AG_E_INVALID). */
typedef struct {
  int found;
  ag_buf value;      /* caller initializes and frees */
  uint64_t height;
  uint8_t root[32];
  int proved;
  ag_smt_proof proof;
  uint8_t key_hash[32];
} ag_query_result;
int ag_app_query(ag_app *app, const char *path, const uint8_t *data, size_t len, int prove,
                 ag_query_result *out);

int ag_app_account(ag_app *app, const uint8_t pk[32], ag_account *out);
/* With a proof of the account key against the committed root (absence proof when the account
 * does not exist: *present = 0). */
int ag_app_account_proof(ag_app *app, const uint8_t pk[32], ag_account *out, int *present,
                         ag_smt_proof *proof, uint8_t root[32], uint64_t *height);
/* The same as of height at (AG_STATE_LATEST: the last committed): AG_E_NOTFOUND when that
 * height is not committed yet or its state is no longer kept ("state_versions"). */
int ag_app_account_proof_at(ag_app *app, const uint8_t pk[32], uint64_t at, ag_account *out, int *present,
                            ag_smt_proof *proof, uint8_t root[32], uint64_t *height);
/* The raw state key of an account ('a' | pk) and its stored value encoding. */
void ag_account_key(const uint8_t pk[32], uint8_t key[33]);
void ag_account_encode(const ag_account *a, uint8_t out[16]);
/* The nonce a new tx from pk must carry to enter the mempool now: the committed nonce plus
 * the txs check_tx accepted since the last commit. */
uint64_t ag_app_pending_nonce(ag_app *app, const uint8_t pk[32], uint64_t committed_nonce);
int ag_app_params(ag_app *app, ag_params *out);
int ag_app_supply(ag_app *app, ag_supply *out);
ag_state *ag_app_state(ag_app *app);
int ag_app_threads(const ag_app *app);
void ag_app_set_threads(ag_app *app, int threads);

/* ---- for tx kinds (called from their apply functions, on the driver thread) ------------- */
const ag_block_ctx *ag_app_block_ctx(const ag_app *app);
const ag_params *ag_app_current_params(const ag_app *app);
/* Reads an account through the block overlay (a missing account is all zeros). */
int ag_account_load(ag_state *st, const uint8_t pk[32], ag_account *out);
void ag_account_store(ag_state *st, const uint8_t pk[32], const ag_account *a);
int ag_account_credit(ag_state *st, const uint8_t pk[32], uint64_t amount);
int ag_account_debit(ag_state *st, const uint8_t pk[32], uint64_t amount);
/* Burns amount from the supply (fees, registration burns): tracked for the invariant
 * sum(balances) + burned + (other holdings) == issued. */
void ag_app_burn(ag_app *app, uint64_t amount);
/* Issues new tokens (emission): balances must be credited by the caller. */
int ag_app_issue(ag_app *app, uint64_t amount);

/* State keys (docs/state-tree.md). */
#define AG_KEY_ACCOUNT 'a' /* 'a' | pk[32] -> balance u64 | nonce u64 */
#define AG_KEY_PARAMS "g/params"
#define AG_KEY_SUPPLY "g/supply"
#define AG_KEY_VALIDATORS "g/validators" /* n × (pk[32] ‖ power u64), sorted by pk */
#define AG_KEY_VALUPDATES "g/valupdates" /* the block's updates, in order; gone at its end */

/* The validator set (CometBFT chains; docs/multi-validator.md "Changing the validators"):
 * InitChain stores CometBFT's genesis validators; ag_app_validator_set changes one (power 0
 * removes it), checked so that the set stays one CometBFT accepts and a single change cannot
 * stall it: at most AG_VALIDATORS_MAX validators, never none, each at most
 * AG_VALIDATOR_POWER_MAX, the key a valid ed25519 point, and what one change adds below a
 * third of the total power after it. AG_E_NOTFOUND on a chain without a validator set (solo)
 * or when removing a key that is not a validator; AG_E_RANGE for the bounds. */
#define AG_VALIDATORS_MAX 100
#define AG_VALIDATOR_POWER_MAX 1000000000000ULL
int ag_app_validator_set(ag_app *app, const uint8_t pk[32], uint64_t power);
/* The set through the block overlay, sorted by key (allocated with room for one more; free it).
 * AG_E_NOTFOUND on a solo chain. */
int ag_app_validator_list(ag_app *app, ag_validator **out, size_t *n);
/* The updates of the block just finalized, in order (one per key), for CometBFT. */
size_t ag_app_validator_updates(ag_app *app, const ag_validator **out);

/* Block hooks run at the start and the end of every block, in registration order. Modules
 * (incentive, subnets) register them once, before any block. */
typedef int (*ag_block_hook)(ag_app *app, void *ctx);
void ag_app_add_hooks(ag_app *app, ag_block_hook begin, ag_block_hook end, void *ctx);
/* Genesis hooks run inside init_chain after the accounts are written; they read their section
 * of g->modules. A failure aborts init_chain (AG_E_GENESIS with a message). */
typedef int (*ag_genesis_hook)(ag_app *app, const ag_genesis *g, void *ctx);
void ag_app_add_genesis_hook(ag_app *app, ag_genesis_hook fn, void *ctx);

#endif
