/*
 * node.h — one Agora node: the state machine, the mempool, the block producer (solo driver)
 * and the bookkeeping the API needs (stats, new-block notifications).
 *
 * Home folder layout (docs/formats.md):
 *   HOME/genesis.json   HOME/config.json   HOME/node_key.json   HOME/keys/   HOME/data/
 * HOME/data holds the LMDB store; HOME/data/api.addr the address the API bound to.
 *
 * Two consensus drivers share the state machine untouched: solo (this process produces and
 * signs blocks) and CometBFT (consensus/abci.c serves CometBFT's ABCI connections; CometBFT
 * orders the blocks; pending txs live in this node's pool, relayed to its peers, or in
 * CometBFT's mempool, fed through its RPC: ag_node_config.cometbft_mempool).
 */
#ifndef AG_NODE_H
#define AG_NODE_H

#include "api/http.h"
#include "chain/app.h"
#include "chain/block.h"
#include "chain/mempool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define AG_DEFAULT_API "127.0.0.1:8740"

enum { AG_CONSENSUS_SOLO = 0, AG_CONSENSUS_COMETBFT = 1 };
#define AG_FILE_PEERS_MAX 16

typedef struct {
  char home[1024];
  int consensus;          /* AG_CONSENSUS_SOLO (default) or AG_CONSENSUS_COMETBFT */
  char abci_listen[256];  /* CometBFT mode: tcp://127.0.0.1:26658 or unix:///path */
  char cometbft_rpc[256]; /* CometBFT mode: the node's RPC, http://127.0.0.1:26657 */
  size_t cometbft_batch;  /* CometBFT mode: txs per JSON-RPC batch to it ("cometbft_batch", 10:
                             CometBFT's default rpc.max_request_batch_size) */
  uint32_t block_time_ms; /* 50 .. 600000 */
  char api_listen[128];   /* host:port; port 0 picks a free one */
  ag_mempool_limits mempool;
  int mempool_persist;    /* solo: keep pending txs in HOME/data/mempool.log ("mempool": {"persist"}, true) */
  int threads;            /* 0 = all cores */
  int max_body_bytes;     /* API request bodies */
  ag_http_limits http;    /* what API clients may make the node spend (config.json "http") */
  uint64_t keep_rounds;   /* training rounds whose blobs and checkpoints the node keeps (16) */
  int history;            /* write the history indexes (docs/api.md "History"; true) */
  uint64_t history_keep;  /* blocks of history kept ("history_keep_blocks"; 0: all) */
  uint64_t state_versions; /* heights whose state tree is kept for proofs ("state_versions", 100) */
  uint64_t state_memory_mb; /* the state store's resident budget ("state_memory_mb", 512; 0: none) */
  uint64_t snapshot_interval; /* CometBFT mode: a state-sync snapshot every N blocks (0: none) */
  int snapshot_keep;          /* snapshots kept (2) */
  uint64_t retain_blocks;     /* CometBFT mode: blocks CometBFT keeps ("retain_blocks"; 0: all) */
  size_t snapshot_chunk;      /* bytes per snapshot chunk (0: AG_SNAPSHOT_CHUNK; tests set less) */
  /* other nodes' APIs ("file_peers": ["http://host:port", ...]) the node fetches the files the
   * chain announces from (blobs, pinned and proposed checkpoints; files_api.h) */
  char file_peers[AG_FILE_PEERS_MAX][256];
  int nfile_peers;
  /* CometBFT mode: where pending txs live ("cometbft_mempool"). FLOOD (the default): in
   * CometBFT's mempool, which takes them through its RPC, checks them with our CheckTx and
   * gossips them. NOP (CometBFT's config.toml says mempool.type = "nop"): in this node's own
   * pool, relayed to the file_peers' APIs (POST /v1/txs/relay), and PrepareProposal takes the
   * block from it. */
  int cometbft_mempool;
} ag_node_config;

enum { AG_CMT_MEMPOOL_FLOOD = 0, AG_CMT_MEMPOOL_NOP = 1 };

/* Counters for /metrics; monotonic except where noted. */
typedef struct {
  atomic_uint_fast64_t txs_ok, txs_failed;       /* executed in blocks */
  atomic_uint_fast64_t submit_ok, submit_rejected; /* API submissions */
  atomic_uint_fast64_t relayed_in_ok, relayed_in_refused; /* nop mempool: txs peers relayed here */
  atomic_uint_fast64_t relay_out_ok, relay_out_failed;    /* and requests relaying ours to a peer */
  atomic_uint_fast64_t blocks;
  atomic_uint_fast64_t evicted;
  atomic_uint_fast64_t rechecked_out;
  /* block interval histogram (seconds) */
  atomic_uint_fast64_t interval_buckets[12];
  atomic_uint_fast64_t interval_count;
  atomic_uint_fast64_t interval_sum_us;
  atomic_uint_fast64_t finalize_us_total, commit_us_total;
  uint64_t last_block_time_ms; /* gauge */
} ag_node_stats;

extern const double ag_interval_bounds[11];

typedef struct ag_node ag_node;

/* Reads HOME/config.json into cfg (missing file: defaults). */
void ag_node_config_default(ag_node_config *cfg, const char *home);
int ag_node_config_load(ag_node_config *cfg, const char *home);

/* Opens the store, applies genesis at height 0 and replays stored blocks above the state
 * height (as CometBFT's handshake would). */
int ag_node_open(const ag_node_config *cfg, ag_node **out);
void ag_node_close(ag_node *n);

/* Solo: produces blocks every block_time. CometBFT: serves ABCI until CometBFT's blocks come
 * in. Both until ag_node_stop (from any thread). */
int ag_node_run(ag_node *n);
/* CometBFT mode: the ABCI server (abci.c) reports each commit (height and our record hash). */
void ag_node_committed(ag_node *n, uint64_t height, const uint8_t block_hash[32],
                       uint64_t time_ms, size_t ntx, size_t nok);
const uint8_t *ag_node_last_block_hash(ag_node *n);
int ag_node_consensus(const ag_node *n);
void ag_node_stop(ag_node *n);
/* Produces one block now (tests and benchmarks). */
int ag_node_produce_block(ag_node *n);

/* check_tx + mempool admission. res gets the code and message; hash the tx id. */
int ag_node_submit(ag_node *n, const uint8_t *raw, size_t len, ag_result *res,
                   uint8_t hash[32]);
/* 1 when the tx is pending: in our mempool (solo), or in CometBFT's as far as our CheckTx
 * saw (at most AG_NODE_CMT_SEEN_MAX ids or mempool.max_txs, whichever is more, the oldest
 * dropped first). */
int ag_node_in_mempool(ag_node *n, const uint8_t hash[32]);

/* CometBFT mode with the nop mempool (ag_node_config.cometbft_mempool). Takes the txs another
 * node relayed (body: len u32le | tx, repeated), each checked as a submission; they are not
 * relayed again. The framing is checked whole before any tx is taken (AG_E_TRUNCATED for a
 * torn or empty frame, AG_E_TX_TOO_LARGE); AG_E_UNSUPPORTED on a node that does not keep its own mempool. */
int ag_node_relay(ag_node *n, const uint8_t *body, size_t len, size_t *accepted, size_t *refused);
/* The next proposal's txs from this node's pool, best first (ag_mempool_reap): copied into
 * bytes, their lengths in *lens (the caller frees it). Returns their count. */
size_t ag_node_proposal_txs(ag_node *n, size_t max_bytes, size_t max_txs, ag_buf *bytes, size_t **lens);
int ag_node_own_mempool(const ag_node *n); /* CometBFT mode with the nop mempool */
#define AG_NODE_CMT_SEEN_MAX 65536
/* CometBFT mode, from the ABCI server: a CheckTx's outcome (recheck: after a block), a
 * committed block's tx ids, CometBFT gone (its mempool with it). */
void ag_node_cmt_checked(ag_node *n, const uint8_t *tx, size_t len, const uint8_t id[32], int recheck, int ok);
/* Holds (on = 1) and releases the node's lock around Commit: the API admits txs against the
 * state and the node's pending view of one height, never a mix. ag_node_cmt_block is called
 * while it is held. */
void ag_node_cmt_hold(ag_node *n, int on);
void ag_node_cmt_block(ag_node *n, uint64_t height, const uint8_t (*ids)[32], size_t count);
/* CometBFT mode, after Commit: every "snapshot_interval" blocks a snapshot of the state
 * (consensus/snapshot.h) is written to HOME/data/snapshots in the background, keeping the
 * newest "snapshot_keep"; a height that comes while one is being written is skipped. */
void ag_node_snapshot(ag_node *n, uint64_t height);
/* CometBFT mode: the retain height Commit returns after height (CometBFT prunes the blocks
 * below it; 0: none). The newest retain_blocks blocks are kept, and never a block at or above
 * the oldest snapshot this node may still serve (a node that joins from it needs the blocks
 * from its height on). CometBFT itself keeps what evidence still needs. */
uint64_t ag_node_retain_height(const ag_node_config *cfg, uint64_t height);
/* State sync restored the state of height. */
void ag_node_restored(ag_node *n, uint64_t height, uint64_t time_ms);
/* Waits for a snapshot being written (tests). */
void ag_node_snapshot_wait(ag_node *n);
/* The nonce a new tx from pk must carry to be admitted now (committed plus pending). */
uint64_t ag_node_pending_nonce(ag_node *n, const uint8_t pk[32], uint64_t committed_nonce);
void ag_node_cmt_reset(ag_node *n);
void ag_node_mempool_stats(ag_node *n, size_t *txs, size_t *bytes);

/* Blocks until the committed height exceeds after, the node stops, or timeout_ms passes;
 * returns the committed height. */
uint64_t ag_node_wait_height(ag_node *n, uint64_t after, int timeout_ms);
uint64_t ag_node_height(ag_node *n);
int ag_node_stopping(ag_node *n);

ag_app *ag_node_app(ag_node *n);
const ag_node_config *ag_node_config_of(ag_node *n);
ag_node_stats *ag_node_stats_of(ag_node *n);
const uint8_t *ag_node_proposer(ag_node *n);
uint64_t ag_node_start_time_ms(ag_node *n);

/* Rebuilds the state from genesis and the block store, checking every block's state root.
 * Prints progress to stderr when verbose. */
int ag_node_replay(const ag_node_config *cfg, int verbose, uint64_t *height,
                   uint8_t root[32]);

/* Node key: HOME/node_key.json (0600), created by agora init. */
int ag_node_key_load(const char *home, ag_keypair *k);
int ag_node_key_save(const char *home, const ag_keypair *k);

#endif
