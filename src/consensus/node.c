/* node.c — node lifecycle, config, node key, block replay and tx submission. */
#include "consensus/node.h"

#include "api/http.h"
#include "chain/txset.h"
#include "consensus/abci.h"
#include "consensus/snapshot.h"
#include "core/codec.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

const double ag_interval_bounds[11] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120};

struct ag_node {
  ag_node_config cfg;
  ag_app *app;
  ag_mempool *mp;
  ag_txset cmt_seen; /* CometBFT mode: ids in CometBFT's mempool, as our CheckTx saw them */
  ag_keypair key;
  ag_genesis genesis;
  pthread_mutex_t mu; /* mempool and the check_tx order */
  pthread_mutex_t ev_mu;
  pthread_cond_t ev_cv;
  uint64_t height;
  int stop;
  ag_node_stats stats;
  uint8_t last_block_hash[32];
  uint64_t last_time_ms;
  uint64_t last_block_mono_ms;
  uint64_t start_ms;
  int mplog_fd;          /* the pending txs on disk (HOME/data/mempool.log), or -1 */
  uint64_t mplog_bytes;  /* its size */
  /* CometBFT mode: the txs this node's API passed to CometBFT and no block has included yet
   * (what mempool.log holds there; re-sent after a restart) */
  struct own_tx {
    uint8_t hash[32];
    uint8_t *raw;
    uint32_t len;
  } *own;
  size_t nown, cown, own_bytes;
  ag_txset own_set;
  pthread_t resend;
  int resending;
  /* CometBFT mode: the txs this node's API admitted or CometBFT's CheckTx passed, until a block
   * includes them or CometBFT drops them, with their pending view: what the API checks a new
   * tx against, so that it answers at once (admit, below) */
  ag_mempool *adm;
  ag_pending_view *adm_view;
  /* and the admitted txs not yet handed to CometBFT, oldest first (forward_main) */
  struct fwd_tx {
    uint8_t *raw;
    uint32_t len;
    uint8_t hash[32];
  } *fwdq;
  size_t nfwd, cfwd, fwd_batch;
  pthread_cond_t fwd_cv;
  pthread_t fwd;
  int forwarding, fwd_stop;
  uint64_t fwd_dropped; /* admitted, then refused by CometBFT's RPC (full) */
  /* nop mempool: one relay thread per peer, each at its own place in fwdq (absolute indexes;
   * fwdq[0] is fwd_base), with its failures and until when it is skipped (monotonic ms) */
  struct relay_peer {
    ag_node *n;
    int i;
    pthread_t th;
    uint64_t pos;
    uint32_t fails;
    uint64_t skip_until;
  } relay[AG_FILE_PEERS_MAX];
  int nrelay;
  uint64_t fwd_base;
  /* state sync: the snapshot being written in the background */
  pthread_t snap;
  int snapping; /* a thread was started and not joined */
  atomic_int snap_busy;
  ag_state_export *snap_view;
  ag_state_meta snap_meta;
};

static void mplog_restore(ag_node *n);
static void mplog_compact(ag_node *n);
static void adm_evicted(void *ctx, const ag_mempool_entry *e);
static void *forward_main(void *arg);
static void *relay_main(void *arg);
#define FWD_BATCH_MAX 256
#define RELAY_BATCH_MAX 2000 /* txs per relay request (nop mempool; relay_main), within FWD_BODY_MAX */

/* ---- config ----------------------------------------------------------------------------- */

void ag_node_config_default(ag_node_config *cfg, const char *home) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->home, sizeof cfg->home, "%s", home);
  cfg->block_time_ms = 1000;
  snprintf(cfg->api_listen, sizeof cfg->api_listen, "%s", AG_DEFAULT_API);
  cfg->mempool.max_txs = 100000;
  cfg->mempool.max_bytes = 64u << 20;
  cfg->mempool.max_per_sender = 10000;
  cfg->mempool_persist = 1;
  cfg->threads = 0;
  cfg->max_body_bytes = 2 << 20;
  ag_http_limits_default(&cfg->http);
  cfg->keep_rounds = 16;
  cfg->history = 1;
  cfg->consensus = AG_CONSENSUS_SOLO;
  snprintf(cfg->abci_listen, sizeof cfg->abci_listen, "tcp://127.0.0.1:26658");
  snprintf(cfg->cometbft_rpc, sizeof cfg->cometbft_rpc, "http://127.0.0.1:26657");
  cfg->cometbft_batch = 10;
  cfg->snapshot_keep = 2;
  cfg->state_versions = AG_STATE_VERSIONS_DEFAULT;
  cfg->state_memory_mb = AG_STATE_MEMORY_MB_DEFAULT;
}

int ag_node_config_load(ag_node_config *cfg, const char *home) {
  ag_node_config_default(cfg, home);
  char path[1100];
  snprintf(path, sizeof path, "%s/config.json", home);
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, 1 << 20, &data, &len);
  if (rc == AG_E_NOTFOUND) return 0;
  if (rc) return rc;
  json_error_t jerr;
  json_t *root = json_loadb((const char *)data, len, 0, &jerr);
  free(data);
  if (!json_is_object(root)) {
    json_decref(root);
    return ag_fail(AG_E_BAD_JSON, "%s: not a JSON object (line %d: %s)", path, jerr.line,
                   jerr.text);
  }
  const char *api = json_string_value(json_object_get(root, "api_listen"));
  if (api) snprintf(cfg->api_listen, sizeof cfg->api_listen, "%s", api);
  const char *cons = json_string_value(json_object_get(root, "consensus"));
  if (cons && !strcmp(cons, "cometbft")) cfg->consensus = AG_CONSENSUS_COMETBFT;
  const char *abci = json_string_value(json_object_get(root, "abci_listen"));
  if (abci) snprintf(cfg->abci_listen, sizeof cfg->abci_listen, "%s", abci);
  const char *rpc = json_string_value(json_object_get(root, "cometbft_rpc"));
  if (rpc) snprintf(cfg->cometbft_rpc, sizeof cfg->cometbft_rpc, "%s", rpc);
  json_t *si = json_object_get(root, "snapshot_interval");
  if (json_is_integer(si) && json_integer_value(si) >= 0) cfg->snapshot_interval = (uint64_t)json_integer_value(si);
  json_t *sk = json_object_get(root, "snapshot_keep");
  if (json_is_integer(sk) && json_integer_value(sk) >= 1 && json_integer_value(sk) <= 100)
    cfg->snapshot_keep = (int)json_integer_value(sk);
  const char *cm = json_string_value(json_object_get(root, "cometbft_mempool"));
  if (cm && !strcmp(cm, "nop")) cfg->cometbft_mempool = AG_CMT_MEMPOOL_NOP;
  else if (cm && strcmp(cm, "flood")) {
    json_decref(root);
    return ag_fail(AG_E_RANGE, "%s: cometbft_mempool must be \"flood\" or \"nop\" (CometBFT's mempool.type)", path);
  }
  json_t *cb = json_object_get(root, "cometbft_batch");
  if (json_is_integer(cb) && json_integer_value(cb) >= 1) cfg->cometbft_batch = (size_t)json_integer_value(cb);
  json_t *bt = json_object_get(root, "block_time_ms");
  if (json_is_integer(bt)) cfg->block_time_ms = (uint32_t)json_integer_value(bt);
  json_t *th = json_object_get(root, "threads");
  if (json_is_integer(th)) cfg->threads = (int)json_integer_value(th);
  json_t *mp = json_object_get(root, "mempool");
  json_t *v;
  if ((v = json_object_get(mp, "max_txs")) && json_is_integer(v))
    cfg->mempool.max_txs = (size_t)json_integer_value(v);
  if ((v = json_object_get(mp, "max_bytes")) && json_is_integer(v))
    cfg->mempool.max_bytes = (size_t)json_integer_value(v);
  if ((v = json_object_get(mp, "max_per_sender")) && json_is_integer(v))
    cfg->mempool.max_per_sender = (size_t)json_integer_value(v);
  if ((v = json_object_get(mp, "persist")) && json_is_boolean(v)) cfg->mempool_persist = json_is_true(v);
  if ((v = json_object_get(root, "keep_rounds")) && json_is_integer(v) && json_integer_value(v) >= 1)
    cfg->keep_rounds = (uint64_t)json_integer_value(v);
  if ((v = json_object_get(root, "history")) && json_is_boolean(v)) cfg->history = json_is_true(v);
  if ((v = json_object_get(root, "history_keep_blocks")) && !(json_is_integer(v) && json_integer_value(v) >= 0)) {
    json_decref(root);
    return ag_fail(AG_E_RANGE, "%s: history_keep_blocks must be a whole number of blocks (0: keep all)", path);
  }
  if (v) cfg->history_keep = (uint64_t)json_integer_value(v);
  if ((v = json_object_get(root, "retain_blocks")) && !(json_is_integer(v) && json_integer_value(v) >= 0)) {
    json_decref(root);
    return ag_fail(AG_E_RANGE, "%s: retain_blocks must be a whole number of blocks (0: keep all)", path);
  }
  if (v) cfg->retain_blocks = (uint64_t)json_integer_value(v);
  if ((v = json_object_get(root, "state_versions")) && !(json_is_integer(v) && json_integer_value(v) >= 1)) {
    json_decref(root);
    return ag_fail(AG_E_RANGE, "%s: state_versions must be a whole number of heights, at least 1", path);
  }
  if (v) cfg->state_versions = (uint64_t)json_integer_value(v);
  if ((v = json_object_get(root, "state_memory_mb")) &&
      !(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= (1 << 24))) {
    json_decref(root);
    return ag_fail(AG_E_RANGE, "%s: state_memory_mb must be 0 (no bound) .. 16777216", path);
  }
  if (v) cfg->state_memory_mb = (uint64_t)json_integer_value(v);
  if ((v = json_object_get(root, "file_peers"))) {
    size_t i;
    json_t *e;
    if (!json_is_array(v) || json_array_size(v) > AG_FILE_PEERS_MAX) {
      json_decref(root);
      return ag_fail(AG_E_RANGE, "%s: file_peers must be a list of at most %d node API URLs", path, AG_FILE_PEERS_MAX);
    }
    json_array_foreach(v, i, e) {
      const char *u = json_string_value(e);
      if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) || strlen(u) >= sizeof cfg->file_peers[0]) {
        json_decref(root);
        return ag_fail(AG_E_RANGE, "%s: file_peers[%zu] is not an http:// or https:// URL of at most 255 bytes", path, i);
      }
      snprintf(cfg->file_peers[i], sizeof cfg->file_peers[i], "%s", u);
      size_t l = strlen(cfg->file_peers[i]);
      while (l && cfg->file_peers[i][l - 1] == '/') cfg->file_peers[i][--l] = 0;
    }
    cfg->nfile_peers = (int)json_array_size(v);
  }
  int hrc = ag_http_limits_from_json(&cfg->http, json_object_get(root, "http"));
  json_decref(root);
  if (hrc) return ag_fail(AG_E_RANGE, "%s: %s", path, ag_errmsg(hrc));
  if (cfg->block_time_ms < 50 || cfg->block_time_ms > 600000)
    return ag_fail(AG_E_RANGE, "%s: block_time_ms must be 50..600000", path);
  return 0;
}

/* ---- node key --------------------------------------------------------------------------- */

int ag_node_key_save(const char *home, const ag_keypair *k) {
  char path[1100], addr[AG_ADDR_MAX], seed[65];
  snprintf(path, sizeof path, "%s/node_key.json", home);
  ag_addr_encode(k->pk, addr);
  ag_hex_encode(k->sk, 32, seed);
  char text[512];
  int n = snprintf(text, sizeof text,
                   "{\n  \"format\": \"agora-node-key/1\",\n  \"address\": \"%s\",\n"
                   "  \"seed\": \"%s\"\n}\n",
                   addr, seed);
  int rc = ag_write_file_atomic(path, text, (size_t)n, 0600);
  sodium_memzero(text, sizeof text);
  sodium_memzero(seed, sizeof seed);
  return rc;
}

int ag_node_key_load(const char *home, ag_keypair *k) {
  char path[1100];
  snprintf(path, sizeof path, "%s/node_key.json", home);
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, 4096, &data, &len);
  if (rc) return rc;
  json_t *root = json_loadb((const char *)data, len, 0, NULL);
  sodium_memzero(data, len);
  free(data);
  const char *seed = json_string_value(json_object_get(root, "seed"));
  uint8_t s[32];
  if (!seed || ag_hex_decode(seed, strlen(seed), s, 32)) rc = ag_fail(AG_E_CORRUPT, "%s is corrupt", path);
  else ag_key_from_seed(k, s);
  sodium_memzero(s, sizeof s);
  json_decref(root);
  return rc;
}

/* ---- replay ----------------------------------------------------------------------------- */

static int replay_range(ag_app *app, uint64_t from, uint64_t to, uint8_t prev_hash[32],
                        int verbose) {
  ag_buf raw;
  ag_buf_init(&raw);
  int rc = 0;
  ag_result *res = NULL;
  size_t rescap = 0;
  ag_app_info info;
  if ((rc = ag_app_info_get(app, &info))) return rc;
  for (uint64_t h = from; h <= to && !rc; h++) {
    ag_block b;
    if ((rc = ag_state_block(ag_app_state(app), h, &raw))) {
      rc = ag_fail(AG_E_CORRUPT, "block %llu is missing from the block store",
                   (unsigned long long)h);
      break;
    }
    if ((rc = ag_block_decode(raw.data, raw.len, &b))) break;
    if ((rc = ag_block_verify(&b))) {
      ag_block_free(&b);
      break;
    }
    if (b.h.height != h || strcmp(b.h.chain_id, info.chain_id) != 0 ||
        memcmp(b.h.prev_hash, prev_hash, 32) != 0) {
      rc = ag_fail(AG_E_BLOCK_PREV, "stored block %llu does not extend the chain",
                   (unsigned long long)h);
      ag_block_free(&b);
      break;
    }
    if (b.h.tx_count > rescap) {
      rescap = b.h.tx_count;
      res = ag_xrealloc(res, rescap * sizeof *res);
    }
    ag_block_ctx ctx = {h, b.h.time_ms, {0}};
    memcpy(ctx.proposer, b.h.proposer, 32);
    uint8_t app_hash[32];
    rc = ag_app_finalize_block(app, &ctx, b.txs, b.tx_lens, b.h.tx_count, res, app_hash);
    if (!rc && memcmp(app_hash, b.h.state_root, 32) != 0)
      rc = ag_fail(AG_E_STATE_MISMATCH,
                   "replaying block %llu gives a different state root than the block records",
                   (unsigned long long)h);
    if (!rc) rc = ag_app_commit(app, raw.data, raw.len, b.hash);
    if (!rc) memcpy(prev_hash, b.hash, 32);
    ag_block_free(&b);
    if (verbose && !rc && (h % 1000 == 0 || h == to))
      fprintf(stderr, "\rreplayed %llu / %llu blocks", (unsigned long long)h,
              (unsigned long long)to);
  }
  if (verbose && to >= from) fprintf(stderr, "\n");
  free(res);
  ag_buf_free(&raw);
  return rc;
}

static int open_app(const ag_node_config *cfg, const ag_genesis *g, ag_app **out) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/data", cfg->home);
  ag_app *app;
  int rc = ag_app_open(dir, &app);
  if (rc) return rc;
  ag_incentive_attach(app);
  ag_economy_attach(app);
  if (cfg->threads > 0) ag_app_set_threads(app, cfg->threads);
  uint8_t h[32];
  if ((rc = ag_app_init_chain(app, g, h))) {
    ag_app_close(app);
    return rc;
  }
  *out = app;
  return 0;
}

static int load_genesis(const char *home, ag_genesis *g) {
  char path[1100];
  snprintf(path, sizeof path, "%s/genesis.json", home);
  int rc = ag_genesis_load(path, g);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_NOTFOUND, "%s not found: run 'agora init --home %s' first", path, home);
  return rc;
}

int ag_node_replay(const ag_node_config *cfg, int verbose, uint64_t *height, uint8_t root[32]) {
  ag_genesis g;
  int rc = load_genesis(cfg->home, &g);
  if (rc) return rc;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/data", cfg->home);
  ag_app *app = NULL;
  if ((rc = ag_app_open(dir, &app)) == AG_E_STATE_MISMATCH) {
    /* a damaged state is exactly what a replay repairs: reopen without the check */
    ag_err_clear();
    rc = 0;
  }
  if (rc) goto done;
  uint64_t top = ag_state_block_count(ag_app_state(app));
  if ((rc = ag_state_reset(ag_app_state(app)))) goto done;
  ag_app_close(app);
  app = NULL;
  if ((rc = open_app(cfg, &g, &app))) goto done;
  uint8_t prev[32] = {0};
  if ((rc = replay_range(app, 1, top, prev, verbose))) goto done;
  ag_app_info info;
  if ((rc = ag_app_info_get(app, &info))) goto done;
  *height = info.height;
  memcpy(root, info.app_hash, 32);
done:
  ag_app_close(app);
  ag_genesis_free(&g);
  return rc;
}

/* ---- open / close ----------------------------------------------------------------------- */

/* An evicted tx was its sender's last pending one: give back its nonce and cost, so that the
 * sender's next tx carries that nonce again instead of one that could never execute. */
static void evicted_one(void *ctx, const ag_mempool_entry *e) {
  ag_node *n = ctx;
  int rc = ag_app_pending_rewind(n->app, e->sender, e->payer, e->nonce, e->cost);
  if (rc) ag_warn("node", "evicted tx nonce %llu: %s", (unsigned long long)e->nonce, ag_errmsg(rc));
}

int ag_node_open(const ag_node_config *cfg, ag_node **out) {
  *out = NULL;
  ag_node *n = ag_xcalloc(1, sizeof *n);
  n->mplog_fd = -1;
  n->cfg = *cfg;
  n->start_ms = ag_now_ms();
  pthread_mutex_init(&n->mu, NULL);
  pthread_mutex_init(&n->ev_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&n->ev_cv, &ca);
  pthread_condattr_destroy(&ca);
  int rc;
  ag_app_info info;
  if (cfg->consensus == AG_CONSENSUS_COMETBFT) {
    /* CometBFT brings the genesis (InitChain) and the blocks; the app only opens its store */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/data", cfg->home);
    if ((rc = ag_app_open(dir, &n->app))) goto fail;
    ag_incentive_attach(n->app);
    ag_economy_attach(n->app);
    if (cfg->threads > 0) ag_app_set_threads(n->app, cfg->threads);
    ag_app_set_history(n->app, cfg->history);
    ag_state_set_history_keep(ag_app_state(n->app), cfg->history_keep);
    ag_state_set_versions(ag_app_state(n->app), cfg->state_versions);
    ag_state_set_memory_budget(ag_app_state(n->app), (size_t)cfg->state_memory_mb << 20);
    if ((rc = ag_app_info_get(n->app, &info))) goto fail;
    memcpy(n->last_block_hash, info.block_hash, 32);
    /* every tx the admission view holds is here too (adm_recheck_one): at least its bound */
    ag_txset_init(&n->cmt_seen, cfg->mempool.max_txs > AG_NODE_CMT_SEEN_MAX ? cfg->mempool.max_txs : AG_NODE_CMT_SEEN_MAX);
    ag_txset_init(&n->own_set, cfg->mempool.max_txs ? cfg->mempool.max_txs : 1);
    n->adm = ag_mempool_new(&cfg->mempool);
    n->adm_view = ag_pending_view_new();
    ag_mempool_on_evict(n->adm, adm_evicted, n);
    n->fwd_batch = cfg->cometbft_batch ? cfg->cometbft_batch : 1;
    if (n->fwd_batch > FWD_BATCH_MAX) n->fwd_batch = FWD_BATCH_MAX;
    pthread_cond_init(&n->fwd_cv, NULL);
    if (ag_node_own_mempool(n)) { /* before mplog_restore, whose resend may queue txs */
      n->nrelay = cfg->nfile_peers; /* every peer from the queue's start (pos 0) */
      for (int i = 0; i < cfg->nfile_peers; i++) n->relay[i] = (struct relay_peer){.n = n, .i = i};
      for (int i = 0; i < cfg->nfile_peers; i++)
        if ((rc = pthread_create(&n->relay[i].th, NULL, relay_main, &n->relay[i])) != 0) {
          pthread_mutex_lock(&n->mu);
          n->nrelay = i; /* the ones running, for ag_node_close to stop and join */
          pthread_mutex_unlock(&n->mu);
          rc = ag_fail(AG_E_INTERNAL, "cannot start a relay thread: %s", strerror(rc));
          goto fail;
        }
    }
    if (cfg->mempool_persist) mplog_restore(n);
    if (!ag_node_own_mempool(n)) {
      if ((rc = pthread_create(&n->fwd, NULL, forward_main, n)) != 0) {
        rc = ag_fail(AG_E_INTERNAL, "cannot start the forwarding thread: %s", strerror(rc));
        goto fail;
      }
      n->forwarding = 1;
    }
  } else {
    if ((rc = load_genesis(cfg->home, &n->genesis))) goto fail;
    if ((rc = ag_node_key_load(cfg->home, &n->key))) {
      if (rc == AG_E_NOTFOUND)
        rc = ag_fail(AG_E_NOTFOUND, "%s/node_key.json not found: run 'agora init' first", cfg->home);
      goto fail;
    }
    if (n->genesis.has_proposer && memcmp(n->genesis.proposer, n->key.pk, 32) != 0) {
      char want[AG_ADDR_MAX], have[AG_ADDR_MAX];
      ag_addr_encode(n->genesis.proposer, want);
      ag_addr_encode(n->key.pk, have);
      rc = ag_fail(AG_E_GENESIS,
                   "%s/node_key.json is %s, but genesis names %s as the block producer: this "
                   "node would sign blocks no client accepts",
                   cfg->home, have, want);
      goto fail;
    }
    if (!n->genesis.has_proposer)
      ag_warn("node", "genesis names no block producer (\"proposer\"): clients cannot check this "
                      "chain's block signatures (agora query --prove refuses it); a new "
                      "'agora init' names the node key");
    if ((rc = open_app(cfg, &n->genesis, &n->app))) goto fail;
    if ((rc = ag_app_info_get(n->app, &info))) goto fail;
    uint64_t top = ag_state_block_count(ag_app_state(n->app));
    memcpy(n->last_block_hash, info.block_hash, 32);
    if (top > info.height) {
      ag_info("node", "replaying blocks %llu..%llu from the block store",
              (unsigned long long)info.height + 1, (unsigned long long)top);
      if ((rc = replay_range(n->app, info.height + 1, top, n->last_block_hash, 0))) goto fail;
      if ((rc = ag_app_info_get(n->app, &info))) goto fail;
    }
    n->mp = ag_mempool_new(&cfg->mempool);
    ag_mempool_on_evict(n->mp, evicted_one, n);
    if (cfg->mempool_persist) mplog_restore(n);
  }
  n->height = info.height;
  n->last_time_ms = info.time_ms;
  n->last_block_mono_ms = ag_mono_ms();
  *out = n;
  return 0;
fail:
  ag_node_close(n);
  return rc;
}

void ag_node_close(ag_node *n) {
  if (!n) return;
  if (n->resending) {
    ag_node_stop(n);
    pthread_join(n->resend, NULL);
  }
  ag_node_snapshot_wait(n);
  if (n->forwarding || n->nrelay) {
    pthread_mutex_lock(&n->mu);
    n->fwd_stop = 1;
    pthread_cond_broadcast(&n->fwd_cv);
    pthread_mutex_unlock(&n->mu);
    if (n->forwarding) pthread_join(n->fwd, NULL);
    for (int i = 0; i < n->nrelay; i++) pthread_join(n->relay[i].th, NULL);
  }
  for (size_t i = 0; i < n->nfwd; i++) free(n->fwdq[i].raw);
  free(n->fwdq);
  if (n->adm) pthread_cond_destroy(&n->fwd_cv);
  ag_mempool_free(n->adm);
  ag_pending_view_free(n->adm_view);
  if (n->mplog_fd >= 0) mplog_compact(n); /* exactly what is pending */
  if (n->mplog_fd >= 0) close(n->mplog_fd);
  for (size_t i = 0; i < n->nown; i++) free(n->own[i].raw);
  free(n->own);
  if (n->own_set.cap) ag_txset_free(&n->own_set);
  ag_app_close(n->app);
  ag_mempool_free(n->mp);
  ag_txset_free(&n->cmt_seen);
  ag_genesis_free(&n->genesis);
  ag_key_wipe(&n->key);
  pthread_mutex_destroy(&n->mu);
  pthread_mutex_destroy(&n->ev_mu);
  pthread_cond_destroy(&n->ev_cv);
  free(n);
}

ag_app *ag_node_app(ag_node *n) { return n->app; }
const ag_node_config *ag_node_config_of(ag_node *n) { return &n->cfg; }
ag_node_stats *ag_node_stats_of(ag_node *n) { return &n->stats; }
const uint8_t *ag_node_proposer(ag_node *n) { return n->key.pk; }
uint64_t ag_node_start_time_ms(ag_node *n) { return n->start_ms; }
int ag_node_consensus(const ag_node *n) { return n->cfg.consensus; }
int ag_node_own_mempool(const ag_node *n) {
  return n->cfg.consensus == AG_CONSENSUS_COMETBFT && n->cfg.cometbft_mempool == AG_CMT_MEMPOOL_NOP;
}
const uint8_t *ag_node_last_block_hash(ag_node *n) { return n->last_block_hash; }

static void observe_interval(ag_node *n, double secs);

/* ---- CometBFT mode: txs go to CometBFT's mempool through its RPC ------------------------ */

static int cometbft_broadcast(ag_node *n, const uint8_t *raw, size_t len) {
  char *b64 = ag_xmalloc(ag_b64_len(len));
  ag_b64_encode(raw, len, b64);
  ag_buf body;
  ag_buf_init(&body);
  ag_buf_printf(&body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"broadcast_tx_sync\",\"params\":{\"tx\":\"%s\"}}", b64);
  free(b64);
  ag_http_result r;
  int rc = ag_http_request("POST", n->cfg.cometbft_rpc, "application/json", body.data, body.len, 15000, &r);
  ag_buf_free(&body);
  if (rc) return ag_fail(AG_E_UNAVAILABLE, "CometBFT RPC %s: %s", n->cfg.cometbft_rpc, ag_errmsg(rc));
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  json_t *res = json_object_get(j, "result"), *err = json_object_get(j, "error");
  if (res) {
    json_int_t code = json_integer_value(json_object_get(res, "code"));
    const char *log = json_string_value(json_object_get(res, "log"));
    /* our CheckTx answers with the negated AG_E_* code and its message */
    rc = code == 0 ? 0 : ag_fail(-(int)code, "%s", log ? log : ag_strerror(-(int)code));
  } else {
    const char *data = json_string_value(json_object_get(err, "data"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (data && strstr(data, "already exists")) rc = ag_fail(AG_E_TX_DUPLICATE, "transaction is already in CometBFT's mempool");
    else if (data && strstr(data, "mempool is full")) rc = ag_fail(AG_E_MEMPOOL_FULL, "CometBFT's mempool is full");
    else rc = ag_fail(AG_E_UNAVAILABLE, "CometBFT refused the tx: %s", data ? data : msg ? msg : "no answer");
  }
  json_decref(j);
  return rc;
}

static void cometbft_unconfirmed(ag_node *n, size_t *txs, size_t *bytes) {
  char url[400];
  snprintf(url, sizeof url, "%s/num_unconfirmed_txs", n->cfg.cometbft_rpc);
  *txs = *bytes = 0;
  ag_http_result r;
  if (ag_http_request("GET", url, NULL, NULL, 0, 2000, &r)) return;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  json_t *res = json_object_get(j, "result");
  const char *t = json_string_value(json_object_get(res, "n_txs"));
  const char *b = json_string_value(json_object_get(res, "total_bytes"));
  uint64_t v;
  if (t && ag_parse_u64(t, &v) == 0) *txs = (size_t)v;
  if (b && ag_parse_u64(b, &v) == 0) *bytes = (size_t)v;
  json_decref(j);
  ag_http_result_free(&r);
}

void ag_node_committed(ag_node *n, uint64_t height, const uint8_t block_hash[32], uint64_t time_ms,
                       size_t ntx, size_t nok) {
  n->stats.txs_ok += nok;
  n->stats.txs_failed += ntx - nok;
  n->stats.blocks++;
  n->stats.last_block_time_ms = time_ms;
  uint64_t mono = ag_mono_ms();
  observe_interval(n, (double)(mono - n->last_block_mono_ms) / 1000.0);
  n->last_block_mono_ms = mono;
  memcpy(n->last_block_hash, block_hash, 32);
  n->last_time_ms = time_ms;
  pthread_mutex_lock(&n->ev_mu);
  n->height = height;
  pthread_cond_broadcast(&n->ev_cv);
  pthread_mutex_unlock(&n->ev_mu);
}

/* ---- the mempool on disk ---------------------------------------------------------------------
 *
 * HOME/data/mempool.log holds every tx the mempool accepted (CometBFT mode: every tx this node
 * passed to CometBFT, below), in arrival order, each as
 * len u32le | tx; appended (not synced: a killed process loses nothing the kernel has, and a
 * lost machine loses only txs their senders can send again) under the mempool lock, and
 * rewritten from the pool when it grows past twice the pool (plus 1 MiB) and at a clean stop.
 * At start every tx in it is checked again against the state (signature, nonce, balance) and
 * re-admitted in its order; those committed meanwhile or no longer valid are dropped, and the
 * first torn or oversized record ends the file (what a kill during a write leaves). */

#define MPLOG_SLACK (1u << 20)

static void mplog_path(const ag_node *n, char *out, size_t cap) { snprintf(out, cap, "%s/data/mempool.log", n->cfg.home); }

static void mplog_fail(ag_node *n, const char *what) {
  ag_warn("node", "mempool.log: %s (%s): pending txs are no longer kept on disk", what, strerror(errno));
  close(n->mplog_fd);
  n->mplog_fd = -1;
}

/* Under n->mu. */
static void mplog_append(ag_node *n, const uint8_t *raw, size_t len) {
  if (n->mplog_fd < 0) return;
  uint8_t h[4];
  ag_put_u32le(h, (uint32_t)len);
  struct iovec iov[2] = {{h, 4}, {(void *)raw, len}};
  ssize_t w = writev(n->mplog_fd, iov, 2);
  if (w == (ssize_t)(4 + len)) n->mplog_bytes += 4 + len;
  else mplog_fail(n, "cannot append");
}

typedef struct {
  int fd, bad;
  uint64_t bytes;
} mplog_dump;

static int mplog_dump_one(void *ctx, const ag_mempool_entry *e) {
  mplog_dump *d = ctx;
  uint8_t h[4];
  ag_put_u32le(h, e->len);
  if (!d->bad && (ag_write_all(d->fd, h, 4) || ag_write_all(d->fd, e->raw, e->len))) d->bad = 1;
  d->bytes += 4 + e->len;
  return 0; /* keeps every entry */
}

/* Rewrites the file from the pool (under n->mu, or before the node runs). */
static void mplog_compact(ag_node *n) {
  char path[1200], tmp[1210];
  mplog_path(n, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  mplog_dump d = {open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 0, 0};
  if (d.fd < 0) {
    if (n->mplog_fd >= 0) mplog_fail(n, "cannot rewrite");
    return;
  }
  if (n->mp) {
    ag_mempool_recheck(n->mp, mplog_dump_one, &d);
  } else {
    for (size_t i = 0; i < n->nown; i++) {
      ag_mempool_entry e = {.raw = n->own[i].raw, .len = n->own[i].len};
      mplog_dump_one(&d, &e);
    }
  }
  if (d.bad || close(d.fd) || rename(tmp, path)) {
    if (d.bad) close(d.fd);
    unlink(tmp);
    if (n->mplog_fd >= 0) mplog_fail(n, "cannot rewrite");
    return;
  }
  if (n->mplog_fd >= 0) close(n->mplog_fd);
  n->mplog_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  n->mplog_bytes = d.bytes;
  if (n->mplog_fd < 0) ag_warn("node", "mempool.log: cannot open (%s): pending txs are no longer kept on disk", strerror(errno));
}

static int submit_solo(ag_node *n, const uint8_t *raw, size_t len, const uint8_t hash[32], ag_tx_meta *meta);
static int cometbft_broadcast(ag_node *n, const uint8_t *raw, size_t len);

/* CometBFT mode, under n->mu: a tx CometBFT took from this node, kept until a block has it
 * (at most mempool.max_txs of them; past that, new ones are not kept). */
static void own_add(ag_node *n, const uint8_t hash[32], const uint8_t *raw, size_t len) {
  if (n->nown >= n->cfg.mempool.max_txs || ag_txset_has(&n->own_set, hash)) return;
  if (n->nown == n->cown) {
    n->cown = n->cown ? 2 * n->cown : 64;
    n->own = ag_xrealloc(n->own, n->cown * sizeof *n->own);
  }
  struct own_tx *o = &n->own[n->nown++];
  memcpy(o->hash, hash, 32);
  o->raw = ag_xmalloc(len);
  memcpy(o->raw, raw, len);
  o->len = (uint32_t)len;
  n->own_bytes += len;
  ag_txset_add(&n->own_set, hash, 0);
}

static void own_del(ag_node *n, const uint8_t hash[32]) {
  if (!ag_txset_del(&n->own_set, hash)) return;
  for (size_t i = 0; i < n->nown; i++)
    if (!memcmp(n->own[i].hash, hash, 32)) {
      n->own_bytes -= n->own[i].len;
      free(n->own[i].raw);
      n->own[i] = n->own[--n->nown]; /* order within a sender is kept by nonce at re-send */
      return;
    }
}

/* After a restart in CometBFT mode: once CometBFT answers, each tx this node had passed to it
 * and no block included goes to it again (its mempool did not survive); CheckTx refuses those
 * that were committed meanwhile or are no longer valid, and they are dropped. */
static int own_by_sender_nonce(const void *a, const void *b) {
  ag_tx x, y;
  const struct own_tx *p = a, *q = b;
  if (ag_tx_decode(p->raw, p->len, &x) || ag_tx_decode(q->raw, q->len, &y)) return 0;
  int c = memcmp(x.sender, y.sender, 32);
  return c ? c : x.nonce < y.nonce ? -1 : x.nonce > y.nonce;
}

static int admit(ag_node *n, const uint8_t *raw, size_t len, const uint8_t hash[32]);

/* One own tx after a restart: to CometBFT's mempool, or with the nop mempool back into this
 * node's pool (checked against the state as a submission) and relayed again. */
static int resend_one(ag_node *n, const struct own_tx *o) {
  if (!ag_node_own_mempool(n)) return cometbft_broadcast(n, o->raw, o->len);
  int rc = ag_app_precheck(n->app, o->raw, o->len);
  if (rc) return rc;
  pthread_mutex_lock(&n->mu);
  rc = admit(n, o->raw, o->len, o->hash);
  pthread_mutex_unlock(&n->mu);
  return rc;
}

static void *resend_main(void *arg) {
  ag_node *n = arg;
  char url[400];
  snprintf(url, sizeof url, "%s/status", n->cfg.cometbft_rpc);
  for (int i = 0; i < 1200 && !ag_node_stopping(n); i++) { /* up to 10 minutes for CometBFT */
    ag_http_result r;
    int up = ag_http_request("GET", url, NULL, NULL, 0, 2000, &r) == 0 && r.status == 200;
    if (!up) {
      ag_sleep_ms(500);
      continue;
    }
    ag_http_result_free(&r);
    pthread_mutex_lock(&n->mu);
    size_t m = n->nown;
    struct own_tx *copy = ag_xmalloc((m ? m : 1) * sizeof *copy);
    for (size_t k = 0; k < m; k++) {
      copy[k] = n->own[k];
      copy[k].raw = ag_xmalloc(n->own[k].len);
      memcpy(copy[k].raw, n->own[k].raw, n->own[k].len);
    }
    pthread_mutex_unlock(&n->mu);
    qsort(copy, m, sizeof *copy, own_by_sender_nonce);
    size_t sent = 0, dropped = 0;
    for (size_t k = 0; k < m && !ag_node_stopping(n); k++) {
      int rc = resend_one(n, &copy[k]);
      if (rc == 0 || rc == AG_E_TX_DUPLICATE) {
        sent++;
      } else if (rc != AG_E_UNAVAILABLE && rc != AG_E_MEMPOOL_FULL) {
        dropped++;
        pthread_mutex_lock(&n->mu);
        own_del(n, copy[k].hash);
        pthread_mutex_unlock(&n->mu);
      }
      free(copy[k].raw);
    }
    free(copy);
    pthread_mutex_lock(&n->mu);
    if (n->mplog_fd >= 0) mplog_compact(n);
    pthread_mutex_unlock(&n->mu);
    if (sent || dropped)
      ag_info("node", "mempool: %zu pending txs %s again after the restart, %zu dropped (committed or no longer valid)",
              sent, ag_node_own_mempool(n) ? "taken into the pool and relayed" : "sent to CometBFT", dropped);
    break;
  }
  return NULL;
}

/* At start: re-admits what the file holds, then rewrites it as the pool now is. */
static void mplog_restore(ag_node *n) {
  char path[1200];
  mplog_path(n, path, sizeof path);
  uint8_t *data = NULL;
  size_t len = 0, cap = n->cfg.mempool.max_bytes * 4 + 4 * n->cfg.mempool.max_txs + MPLOG_SLACK;
  size_t kept = 0, dropped = 0;
  int rc = ag_read_file(path, cap, &data, &len);
  if (rc && rc != AG_E_NOTFOUND && access(path, F_OK) == 0)
    ag_warn("node", "mempool.log: %s: starting with an empty mempool", ag_errmsg(rc));
  for (size_t o = 0; !rc && o + 4 <= len;) {
    uint32_t l = ag_get_u32le(data + o);
    if (l == 0 || l > AG_TX_HARD_MAX || l > len - o - 4) break; /* torn (a kill mid-write) or damaged: the end */
    uint8_t hash[32];
    ag_tx_meta meta;
    ag_hash("agora/txid", data + o + 4, l, hash);
    if (!n->mp) { /* CometBFT mode: kept, and sent again once CometBFT is up (resend_main) */
      own_add(n, hash, data + o + 4, l);
      kept++;
    } else if (ag_app_precheck(n->app, data + o + 4, l) == 0 && submit_solo(n, data + o + 4, l, hash, &meta) == 0) {
      kept++;
    } else {
      dropped++;
    }
    o += 4 + (size_t)l;
  }
  free(data);
  if (n->mp && (kept || dropped))
    ag_info("node", "mempool: %zu pending txs restored from mempool.log, %zu dropped (committed or no longer valid)", kept,
            dropped);
  mplog_compact(n);
  if (!n->mp && n->nown && pthread_create(&n->resend, NULL, resend_main, n) == 0) n->resending = 1;
}

/* ---- CometBFT mode: admission and forwarding ---------------------------------------------
 *
 * CometBFT takes a tx through its RPC and checks it with our CheckTx on its mempool connection,
 * whose socket client sends requests at most every 20 ms. Waiting for that answer
 * (broadcast_tx_sync) made every submission cost 4 to 5 ms, so a client that sends txs one
 * after another got no more than a couple of hundred per second through. Instead the API
 * answers from the node's own view of the pending txs: `adm`, every tx this node admitted or
 * CometBFT's CheckTx passed here (its own and those gossiped from peers), each checked in
 * arrival order against the committed state plus those before it (`adm_view`), exactly as the
 * solo node's mempool. A tx it accepts is answered 202 at once and queued; one thread hands
 * the queue to CometBFT in order, as JSON-RPC batches of broadcast_tx_async (at most
 * fwd_batch per request: CometBFT refuses batches over its rpc.max_request_batch_size, and
 * the forwarder halves its batch until they fit), and CometBFT's CheckTx then checks it
 * again against its mempool's view, as before. At each commit (under the lock, together with
 * the state) the block's txs leave `adm` and the rest are checked again against the new state;
 * a tx CometBFT refuses (its mempool full, or a CheckTx that fails there) leaves it too. */

#define FWD_BODY_MAX (900u << 10) /* under CometBFT's rpc.max_body_bytes (1 MB by default) */

static void adm_evicted(void *ctx, const ag_mempool_entry *e) {
  ag_node *n = ctx;
  ag_pending_view_rewind(n->adm_view, e->sender, e->payer, e->nonce, e->cost);
}

/* After a block: a tx stays while CometBFT's mempool holds it as far as its CheckTx calls
 * show (cmt_seen: checked at this height or the one before; an admitted tx counts as checked
 * when admitted) and it is still valid against the new state. */
static int adm_recheck_one(void *ctx, const ag_mempool_entry *e) {
  ag_node *n = ctx;
  if (!ag_node_own_mempool(n) && !ag_txset_has(&n->cmt_seen, e->hash)) return 1;
  if (ag_app_check_tx_in(n->app, n->adm_view, e->raw, e->len, AG_CHECK_RECHECK, NULL, NULL) == 0) return 0;
  ag_txset_del(&n->cmt_seen, e->hash); /* CometBFT's recheck drops it too */
  return 1;
}

/* Into adm, checked against its view (under n->mu); mode NEW for the API's txs (signature
 * cached by the precheck), RECHECK for those CometBFT's CheckTx already passed. */
static int adm_add(ag_node *n, const uint8_t *raw, size_t len, int mode) {
  ag_tx_meta meta;
  int rc = ag_app_check_tx_in(n->app, n->adm_view, raw, len, mode, NULL, &meta);
  size_t evicted = 0;
  if (!rc && (rc = ag_mempool_add(n->adm, raw, len, &meta, &evicted)) != 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ag_errmsg(rc));
    ag_pending_view_rewind(n->adm_view, meta.sender, meta.payer, meta.nonce, meta.cost);
    rc = ag_fail(rc, "%s", msg);
  }
  n->stats.evicted += evicted;
  return rc;
}

/* Under n->mu. */
static int admit(ag_node *n, const uint8_t *raw, size_t len, const uint8_t hash[32]) {
  if (ag_mempool_contains(n->adm, hash) || ag_txset_has(&n->cmt_seen, hash))
    return ag_fail(AG_E_TX_DUPLICATE, "transaction is already in the mempool");
  if (n->nfwd >= n->cfg.mempool.max_txs)
    return ag_node_own_mempool(n)
               ? ag_fail(AG_E_MEMPOOL_FULL, "%zu txs are waiting to be relayed to the peers", n->nfwd)
               : ag_fail(AG_E_MEMPOOL_FULL, "%zu txs are waiting for CometBFT's RPC (%s) to take them", n->nfwd,
                         n->cfg.cometbft_rpc);
  int rc = adm_add(n, raw, len, AG_CHECK_NEW);
  if (rc) return rc;
  if (!ag_node_own_mempool(n) || n->nrelay) { /* queued for CometBFT's RPC, or for the peers */
    if (n->nfwd == n->cfwd) {
      n->cfwd = n->cfwd ? 2 * n->cfwd : 256;
      n->fwdq = ag_xrealloc(n->fwdq, n->cfwd * sizeof *n->fwdq);
    }
    struct fwd_tx *f = &n->fwdq[n->nfwd++];
    f->raw = ag_xmalloc(len);
    memcpy(f->raw, raw, len);
    f->len = (uint32_t)len;
    memcpy(f->hash, hash, 32);
    pthread_cond_broadcast(&n->fwd_cv);
  }
  ag_txset_add(&n->cmt_seen, hash, n->height); /* pending now; gone if CometBFT never checks it */
  if (n->cfg.mempool_persist && !ag_txset_has(&n->own_set, hash) && n->nown < n->cfg.mempool.max_txs) {
    own_add(n, hash, raw, len); /* kept until a block has it */
    mplog_append(n, raw, len);
  }
  return 0;
}

/* A tx CometBFT will not hold: out of adm (its view is rebuilt at the next commit). */
static void adm_drop(ag_node *n, const uint8_t hash[32]) {
  pthread_mutex_lock(&n->mu);
  ag_mempool_remove(n->adm, (const uint8_t(*)[32])hash, 1);
  ag_txset_del(&n->cmt_seen, hash);
  own_del(n, hash);
  n->fwd_dropped++;
  pthread_mutex_unlock(&n->mu);
}

/* ---- CometBFT mode with the nop mempool: this node's pool, relayed to its peers ------------
 *
 * With mempool.type = "nop" CometBFT keeps no txs: it never calls CheckTx, gossips none, and
 * asks PrepareProposal for the block with an empty list. The pool is then `adm` itself: the
 * API admits into it as above, a thread per peer relays each admitted tx once to that peer's
 * POST /v1/txs/relay (file_peers; a peer takes it as a submission and does not relay it
 * again), and the proposer's PrepareProposal reaps its block from it, best first (below). */

/* a busy peer checks 2,000 txs in well under this; a hung one holds up only its own thread */
#define RELAY_TIMEOUT_MS 5000
#define RELAY_SKIP_MAX_MS 60000
#define RELAY_BATCH_MIN 256 /* fewer queued than this: wait RELAY_GATHER_MS for more first */
#define RELAY_GATHER_MS 10

/* Under n->mu: frees the queued txs every peer has passed. */
static void relay_trim(ag_node *n) {
  uint64_t low = n->fwd_base + n->nfwd;
  for (int i = 0; i < n->nrelay; i++)
    if (n->relay[i].pos < low) low = n->relay[i].pos;
  size_t k = (size_t)(low - n->fwd_base);
  if (!k) return;
  for (size_t i = 0; i < k; i++) free(n->fwdq[i].raw);
  memmove(n->fwdq, n->fwdq + k, (n->nfwd - k) * sizeof *n->fwdq);
  n->nfwd -= k;
  n->fwd_base = low;
}

/* One peer's relay: the queue from its place on, a batch per request. A peer that fails (no
 * answer in RELAY_TIMEOUT_MS, or not 200) is skipped for 1 s, doubling to a minute, and what
 * is queued meanwhile is not sent to it: it stays in this node's pool, and reaches a block
 * when this node, or another that has it, proposes. So a slow or dead peer holds up no other. */
static void *relay_main(void *arg) {
  struct relay_peer *rp = arg;
  ag_node *n = rp->n;
  const char *peer = n->cfg.file_peers[rp->i];
  char url[400];
  snprintf(url, sizeof url, "%s/v1/txs/relay", peer);
  ag_buf body;
  ag_buf_init(&body);
  pthread_mutex_lock(&n->mu);
  for (;;) {
    while (!n->fwd_stop && rp->pos == n->fwd_base + n->nfwd) pthread_cond_wait(&n->fwd_cv, &n->mu);
    if (n->fwd_stop) break;
    uint64_t now = ag_mono_ms();
    if (now < rp->skip_until) { /* skipped: what is queued now is not for it */
      rp->pos = n->fwd_base + n->nfwd;
      relay_trim(n);
      pthread_mutex_unlock(&n->mu);
      ag_sleep_ms(rp->skip_until - now < 100 ? (uint32_t)(rp->skip_until - now) : 100);
      pthread_mutex_lock(&n->mu);
      continue;
    }
    if (n->fwd_base + n->nfwd - rp->pos < RELAY_BATCH_MIN) { /* a moment for more to come: fewer, fuller requests */
      pthread_mutex_unlock(&n->mu);
      ag_sleep_ms(RELAY_GATHER_MS);
      pthread_mutex_lock(&n->mu);
      if (n->fwd_stop) break;
    }
    size_t from = (size_t)(rp->pos - n->fwd_base), k = 0, bytes = 0;
    body.len = 0;
    while (from + k < n->nfwd && k < RELAY_BATCH_MAX && (k == 0 || bytes + n->fwdq[from + k].len + 4 <= FWD_BODY_MAX)) {
      const struct fwd_tx *q = &n->fwdq[from + k++];
      uint8_t l[4];
      ag_put_u32le(l, q->len);
      ag_buf_put(&body, l, 4);
      ag_buf_put(&body, q->raw, q->len);
      bytes += q->len + 4;
    }
    pthread_mutex_unlock(&n->mu);
    ag_http_result r;
    int rc = ag_http_request("POST", url, "application/octet-stream", body.data, body.len, RELAY_TIMEOUT_MS, &r);
    if (!rc) {
      rc = r.status == 200 ? 0 : ag_fail(AG_E_HTTP_STATUS, "HTTP %d", (int)r.status);
      ag_http_result_free(&r);
    }
    if (!rc) {
      n->stats.relay_out_ok++;
      if (rp->fails) ag_info("node", "relaying txs to %s again", peer);
      rp->fails = 0;
    } else {
      n->stats.relay_out_failed++;
      if (rp->fails < 16) rp->fails++;
      uint64_t skip = (uint64_t)1000 << (rp->fails - 1);
      rp->skip_until = ag_mono_ms() + (skip > RELAY_SKIP_MAX_MS ? RELAY_SKIP_MAX_MS : skip);
      if (rp->fails == 1) ag_warn("node", "relaying %zu txs to %s: %s; skipping it for a while", k, peer, ag_errmsg(rc));
    }
    pthread_mutex_lock(&n->mu);
    rp->pos += k;
    relay_trim(n);
  }
  pthread_mutex_unlock(&n->mu);
  ag_buf_free(&body);
  ag_http_client_cleanup();
  return NULL;
}

int ag_node_relay(ag_node *n, const uint8_t *body, size_t len, size_t *accepted, size_t *refused) {
  *accepted = *refused = 0;
  if (!ag_node_own_mempool(n))
    return ag_fail(AG_E_UNSUPPORTED, "this node does not take relayed txs: %s",
                   n->cfg.consensus == AG_CONSENSUS_COMETBFT ? "its txs go through CometBFT's mempool"
                                                             : "it runs the solo consensus");
  size_t count = 0;
  for (size_t o = 0; o < len; count++) { /* the whole framing first: a bad body changes nothing */
    if (len - o < 4) return ag_fail(AG_E_TRUNCATED, "relayed tx %zu: its length is cut short", count);
    uint32_t l = ag_get_u32le(body + o);
    if (l == 0) return ag_fail(AG_E_TRUNCATED, "relayed tx %zu is empty", count);
    if (l > AG_TX_HARD_MAX)
      return ag_fail(AG_E_TX_TOO_LARGE, "relayed tx %zu: %u bytes, above the %u a tx may have", count, l, AG_TX_HARD_MAX);
    if (l > len - o - 4) return ag_fail(AG_E_TRUNCATED, "relayed tx %zu: %u bytes announced, %zu left", count, l, len - o - 4);
    o += 4 + (size_t)l;
  }
  for (size_t o = 0; o < len;) {
    uint32_t l = ag_get_u32le(body + o);
    const uint8_t *raw = body + o + 4;
    o += 4 + (size_t)l;
    uint8_t hash[32];
    ag_hash("agora/txid", raw, l, hash);
    int rc = ag_app_precheck(n->app, raw, l); /* the signature outside the lock, as a submission's */
    if (!rc) {
      pthread_mutex_lock(&n->mu);
      rc = ag_mempool_contains(n->adm, hash) ? AG_E_TX_DUPLICATE : adm_add(n, raw, l, AG_CHECK_NEW);
      pthread_mutex_unlock(&n->mu);
    }
    if (rc) (*refused)++;
    else (*accepted)++;
  }
  n->stats.relayed_in_ok += *accepted;
  n->stats.relayed_in_refused += *refused;
  return 0;
}

size_t ag_node_proposal_txs(ag_node *n, size_t max_bytes, size_t max_txs, ag_buf *bytes, size_t **lens) {
  pthread_mutex_lock(&n->mu);
  const ag_mempool_entry **ents;
  size_t cnt = ag_mempool_reap(n->adm, max_bytes, max_txs, &ents);
  *lens = ag_xmalloc((cnt ? cnt : 1) * sizeof **lens);
  for (size_t i = 0; i < cnt; i++) {
    ag_buf_put(bytes, ents[i]->raw, ents[i]->len);
    (*lens)[i] = ents[i]->len;
  }
  pthread_mutex_unlock(&n->mu);
  return cnt;
}

/* One JSON-RPC batch. Returns 0 when CometBFT answered it (each tx taken, known already, or
 * refused and dropped), AG_E_TOO_LARGE when it refused the batch as a whole, else the
 * transport error (sent again later). */
static int forward_batch(ag_node *n, const struct fwd_tx *q, size_t k) {
  ag_buf body;
  ag_buf_init(&body);
  ag_buf_put(&body, "[", 1);
  for (size_t i = 0; i < k; i++) {
    char *b64 = ag_xmalloc(ag_b64_len(q[i].len));
    ag_b64_encode(q[i].raw, q[i].len, b64);
    ag_buf_printf(&body, "%s{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"broadcast_tx_async\",\"params\":{\"tx\":\"%s\"}}",
                  i ? "," : "", i, b64);
    free(b64);
  }
  ag_buf_put(&body, "]", 1);
  ag_http_result r;
  int rc = ag_http_request("POST", n->cfg.cometbft_rpc, "application/json", body.data, body.len, 15000, &r);
  ag_buf_free(&body);
  if (rc) return rc;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  if (k == 1 && json_is_object(j) && json_object_get(j, "id") && json_integer_value(json_object_get(j, "id")) == 0) {
    json_t *a = json_array(); /* CometBFT answers a batch of one as a single call */
    json_array_append_new(a, j);
    j = a;
  }
  if (!json_is_array(j)) { /* the batch as a whole refused: over max_request_batch_size */
    const char *data = json_string_value(json_object_get(json_object_get(j, "error"), "data"));
    rc = ag_fail(AG_E_TOO_LARGE, "CometBFT refused a batch of %zu txs: %s", k, data ? data : "no answer");
    json_decref(j);
    return rc;
  }
  size_t i, dropped = 0;
  json_t *e;
  char why[200] = "";
  json_array_foreach(j, i, e) {
    json_t *err = json_object_get(e, "error");
    json_int_t id = json_integer_value(json_object_get(e, "id"));
    if (!err || id < 0 || (size_t)id >= k) continue;
    const char *data = json_string_value(json_object_get(err, "data"));
    if (data && strstr(data, "already exists")) continue; /* in CometBFT's cache: it has (had) it */
    adm_drop(n, q[id].hash);
    if (!dropped++) snprintf(why, sizeof why, "%s", data ? data : "no reason given");
  }
  json_decref(j);
  if (dropped) ag_warn("node", "CometBFT refused %zu of %zu admitted txs (%s): they are no longer pending", dropped, k, why);
  return 0;
}

static void *forward_main(void *arg) {
  ag_node *n = arg;
  uint32_t backoff = 0;
  pthread_mutex_lock(&n->mu);
  for (;;) {
    while (!n->nfwd && !n->fwd_stop) pthread_cond_wait(&n->fwd_cv, &n->mu);
    if (n->fwd_stop) break; /* what is left is in mempool.log (or was never acknowledged) */
    size_t k = 0, bytes = 0;
    while (k < n->nfwd && k < n->fwd_batch && (k == 0 || bytes + n->fwdq[k].len * 4 / 3 + 128 <= FWD_BODY_MAX))
      bytes += n->fwdq[k++].len * 4 / 3 + 128;
    struct fwd_tx *q = ag_xmalloc(k * sizeof *q);
    memcpy(q, n->fwdq, k * sizeof *q);
    pthread_mutex_unlock(&n->mu);
    int rc = forward_batch(n, q, k);
    pthread_mutex_lock(&n->mu);
    if (rc == AG_E_TOO_LARGE && k > 1) {
      n->fwd_batch = k / 2;
      ag_warn("node", "%s: sending batches of %zu", ag_errmsg(rc), n->fwd_batch);
    } else if (rc && rc != AG_E_TOO_LARGE) { /* CometBFT's RPC is not answering: the same txs again, in order, later */
      backoff = backoff ? (backoff * 2 > 2000 ? 2000 : backoff * 2) : 50;
      if (backoff == 2000) ag_warn("node", "forwarding to CometBFT: %s; retrying", ag_errmsg(rc));
      pthread_mutex_unlock(&n->mu);
      ag_sleep_ms(backoff);
      pthread_mutex_lock(&n->mu);
    } else {
      if (rc) { /* one tx CometBFT's RPC will not take in any batch */
        ag_warn("node", "%s: dropped", ag_errmsg(rc));
        pthread_mutex_unlock(&n->mu);
        adm_drop(n, q[0].hash);
        pthread_mutex_lock(&n->mu);
      }
      backoff = 0;
      for (size_t i = 0; i < k; i++) free(q[i].raw);
      memmove(n->fwdq, n->fwdq + k, (n->nfwd - k) * sizeof *n->fwdq);
      n->nfwd -= k;
    }
    free(q);
  }
  pthread_mutex_unlock(&n->mu);
  return NULL;
}

/* ---- submission ------------------------------------------------------------------------- */

/* check_tx and admission to the solo pool, under n->mu. */
static int submit_solo(ag_node *n, const uint8_t *raw, size_t len, const uint8_t hash[32], ag_tx_meta *meta) {
  int rc;
  if (ag_mempool_contains(n->mp, hash)) return ag_fail(AG_E_TX_DUPLICATE, "transaction is already in the mempool");
  rc = ag_app_check_tx(n->app, raw, len, AG_CHECK_NEW, NULL, meta);
  size_t evicted = 0;
  if (!rc && (rc = ag_mempool_add(n->mp, raw, len, meta, &evicted)) != 0) {
    /* refused: check_tx's reservation must not outlive it (the refusal's message is kept) */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ag_errmsg(rc));
    ag_app_pending_rewind(n->app, meta->sender, meta->payer, meta->nonce, meta->cost);
    rc = ag_fail(rc, "%s", msg);
  }
  n->stats.evicted += evicted;
  if (!rc) mplog_append(n, raw, len);
  return rc;
}

int ag_node_submit(ag_node *n, const uint8_t *raw, size_t len, ag_result *res,
                   uint8_t hash[32]) {
  ag_tx_meta meta;
  memset(&meta, 0, sizeof meta);
  ag_hash("agora/txid", raw, len, hash);
  /* signature outside the lock, so API threads verify in parallel */
  int rc = ag_app_precheck(n->app, raw, len);
  if (!rc && n->cfg.consensus == AG_CONSENSUS_COMETBFT) {
    pthread_mutex_lock(&n->mu);
    rc = admit(n, raw, len, hash);
    pthread_mutex_unlock(&n->mu);
  } else if (!rc) {
    pthread_mutex_lock(&n->mu);
    rc = submit_solo(n, raw, len, hash, &meta);
    pthread_mutex_unlock(&n->mu);
  }
  res->code = rc;
  snprintf(res->log, sizeof res->log, "%s", rc ? ag_errmsg(rc) : "");
  if (rc) n->stats.submit_rejected++;
  else n->stats.submit_ok++;
  return rc;
}

int ag_node_in_mempool(ag_node *n, const uint8_t hash[32]) {
  pthread_mutex_lock(&n->mu);
  int r = n->mp ? ag_mempool_contains(n->mp, hash)
                : ag_txset_has(&n->cmt_seen, hash) || (n->adm && ag_mempool_contains(n->adm, hash));
  pthread_mutex_unlock(&n->mu);
  return r;
}

/* CometBFT's mempool, seen from here. A tx enters it only after our CheckTx passes; after each
 * block CometBFT rechecks every tx still in it (recheck = true, its default) and drops those
 * that fail. So an id checked at height h (the last committed height when CheckTx ran) and not
 * checked again by the time block h + 2 commits is no longer there: it was included, failed a
 * recheck, or never got in (CometBFT full). */
void ag_node_cmt_checked(ag_node *n, const uint8_t *tx, size_t len, const uint8_t id[32], int recheck, int ok) {
  pthread_mutex_lock(&n->mu);
  if (ok) ag_txset_add(&n->cmt_seen, id, n->height);
  else if (recheck) ag_txset_del(&n->cmt_seen, id);
  if (n->adm) {
    int has = ag_mempool_contains(n->adm, id);
    if (!ok && has) ag_mempool_remove(n->adm, (const uint8_t(*)[32])id, 1); /* CometBFT dropped it */
    else if (ok && !recheck && !has && tx) adm_add(n, tx, len, AG_CHECK_RECHECK); /* a peer's */
  }
  pthread_mutex_unlock(&n->mu);
}

void ag_node_cmt_hold(ag_node *n, int on) {
  if (on) pthread_mutex_lock(&n->mu);
  else pthread_mutex_unlock(&n->mu);
}

void ag_node_cmt_block(ag_node *n, uint64_t height, const uint8_t (*ids)[32], size_t count) {
  for (size_t i = 0; i < count; i++) ag_txset_del(&n->cmt_seen, ids[i]);
  for (size_t i = 0; i < count && n->nown; i++) own_del(n, ids[i]);
  if (n->mplog_fd >= 0 && n->mplog_bytes > 2 * (uint64_t)n->own_bytes + 4 * n->nown + MPLOG_SLACK) mplog_compact(n);
  if (height >= 1) ag_txset_expire(&n->cmt_seen, height - 1);
  if (n->adm) { /* as the solo node's mempool after a block */
    ag_mempool_remove(n->adm, ids, count);
    ag_pending_view_reset(n->adm_view);
    n->stats.rechecked_out += ag_mempool_recheck(n->adm, adm_recheck_one, n);
  }
}

/* ---- state sync --------------------------------------------------------------------------- */

static void *snapshot_main(void *arg) {
  ag_node *n = arg;
  char dir[1200];
  snprintf(dir, sizeof dir, "%s/data/snapshots", n->cfg.home);
  int rc = ag_snapshot_write(n->snap_view, &n->snap_meta, dir, n->cfg.snapshot_keep, n->cfg.snapshot_chunk);
  if (rc) ag_warn("node", "snapshot of height %llu: %s", (unsigned long long)n->snap_meta.height, ag_errmsg(rc));
  else ag_info("node", "snapshot of height %llu written", (unsigned long long)n->snap_meta.height);
  ag_state_export_close(n->snap_view);
  n->snap_view = NULL;
  atomic_store(&n->snap_busy, 0);
  return NULL;
}

void ag_node_snapshot_wait(ag_node *n) {
  if (!n->snapping) return;
  pthread_join(n->snap, NULL);
  n->snapping = 0;
}

uint64_t ag_node_retain_height(const ag_node_config *cfg, uint64_t height) {
  if (!cfg->retain_blocks || height < cfg->retain_blocks) return 0;
  uint64_t r = height + 1 - cfg->retain_blocks;
  if (cfg->snapshot_interval) {
    /* the newest snapshot may still be being written, so the oldest kept may be one more
     * interval back than the newest complete one suggests */
    uint64_t i = cfg->snapshot_interval, newest = height / i, back = (uint64_t)cfg->snapshot_keep;
    uint64_t oldest = newest > back ? (newest - back) * i : 0;
    if (r > oldest) r = oldest;
  }
  return r;
}

void ag_node_snapshot(ag_node *n, uint64_t height) {
  if (!n->cfg.snapshot_interval || height % n->cfg.snapshot_interval || atomic_load(&n->snap_busy)) return;
  ag_node_snapshot_wait(n); /* the last one ended: reap its thread */
  /* the view is taken here, right after the commit: the thread writes exactly this height */
  if (ag_state_export_open(ag_app_state(n->app), &n->snap_view, &n->snap_meta)) return;
  atomic_store(&n->snap_busy, 1);
  if (pthread_create(&n->snap, NULL, snapshot_main, n) != 0) {
    ag_state_export_close(n->snap_view);
    n->snap_view = NULL;
    atomic_store(&n->snap_busy, 0);
    return;
  }
  n->snapping = 1;
}

void ag_node_restored(ag_node *n, uint64_t height, uint64_t time_ms) {
  memset(n->last_block_hash, 0, 32); /* the blocks before it are not here */
  n->last_time_ms = time_ms;
  pthread_mutex_lock(&n->ev_mu);
  n->height = height;
  pthread_cond_broadcast(&n->ev_cv);
  pthread_mutex_unlock(&n->ev_mu);
}

void ag_node_cmt_reset(ag_node *n) {
  pthread_mutex_lock(&n->mu);
  if (n->cmt_seen.cap) ag_txset_clear(&n->cmt_seen);
  if (n->adm) {
    for (size_t i = 0; i < n->nfwd; i++) ag_txset_add(&n->cmt_seen, n->fwdq[i].hash, n->height);
    ag_pending_view_reset(n->adm_view);
    ag_mempool_recheck(n->adm, adm_recheck_one, n); /* keeps what the forwarder holds */
  }
  pthread_mutex_unlock(&n->mu);
}

uint64_t ag_node_pending_nonce(ag_node *n, const uint8_t pk[32], uint64_t committed_nonce) {
  return ag_pending_view_nonce(n->adm_view ? n->adm_view : ag_app_view(n->app), pk, committed_nonce);
}

void ag_node_mempool_stats(ag_node *n, size_t *txs, size_t *bytes) {
  if (n->cfg.consensus == AG_CONSENSUS_COMETBFT && !ag_node_own_mempool(n)) {
    cometbft_unconfirmed(n, txs, bytes);
    return;
  }
  pthread_mutex_lock(&n->mu);
  *txs = ag_mempool_size(n->mp ? n->mp : n->adm);
  *bytes = ag_mempool_bytes(n->mp ? n->mp : n->adm);
  pthread_mutex_unlock(&n->mu);
}

/* ---- block production (the solo consensus driver) --------------------------------------- */

static int recheck_one(void *ctx, const ag_mempool_entry *e) {
  ag_node *n = ctx;
  return ag_app_check_tx(n->app, e->raw, e->len, AG_CHECK_RECHECK, NULL, NULL) != 0;
}

static void observe_interval(ag_node *n, double secs) {
  ag_node_stats *s = &n->stats;
  for (int i = 0; i < 11; i++)
    if (secs <= ag_interval_bounds[i]) s->interval_buckets[i]++;
  s->interval_buckets[11]++;
  s->interval_count++;
  s->interval_sum_us += (uint64_t)(secs * 1e6);
}

int ag_node_produce_block(ag_node *n) {
  ag_params params;
  int rc = ag_app_params(n->app, &params);
  if (rc) return rc;
  /* Copy the txs out: API threads may evict entries while the block executes. */
  pthread_mutex_lock(&n->mu);
  const ag_mempool_entry **ents;
  size_t cnt = ag_mempool_reap(n->mp, params.max_block_bytes, params.max_block_txs, &ents);
  size_t total = 0;
  for (size_t i = 0; i < cnt; i++) total += ents[i]->len;
  uint8_t *bytes = ag_xmalloc(total ? total : 1);
  const uint8_t **txs = ag_xmalloc((cnt ? cnt : 1) * sizeof *txs);
  uint32_t *lens = ag_xmalloc((cnt ? cnt : 1) * sizeof *lens);
  uint8_t (*ids)[32] = ag_xmalloc((cnt ? cnt : 1) * sizeof *ids);
  for (size_t i = 0, off = 0; i < cnt; i++) {
    memcpy(bytes + off, ents[i]->raw, ents[i]->len);
    txs[i] = bytes + off;
    lens[i] = ents[i]->len;
    memcpy(ids[i], ents[i]->hash, 32);
    off += ents[i]->len;
  }
  pthread_mutex_unlock(&n->mu);

  ag_result *res = ag_xmalloc((cnt ? cnt : 1) * sizeof *res);
  ag_block_header h;
  memset(&h, 0, sizeof h);
  h.version = AG_BLOCK_VERSION;
  snprintf(h.chain_id, sizeof h.chain_id, "%s", n->genesis.chain_id);
  h.height = n->height + 1;
  uint64_t now = ag_now_ms();
  h.time_ms = now > n->last_time_ms ? now : n->last_time_ms + 1;
  memcpy(h.prev_hash, n->last_block_hash, 32);
  memcpy(h.proposer, n->key.pk, 32);
  h.tx_count = (uint32_t)cnt;
  ag_merkle_root((const uint8_t(*)[32])ids, cnt, h.tx_root);
  ag_block_ctx ctx = {h.height, h.time_ms, {0}};
  memcpy(ctx.proposer, n->key.pk, 32);
  double t0 = ag_mono_s();
  rc = ag_app_finalize_block(n->app, &ctx, txs, lens, cnt, res, h.state_root);
  double t1 = ag_mono_s();
  ag_buf block;
  ag_buf_init(&block);
  if (!rc) {
    uint8_t (*rh)[32] = ag_xmalloc((cnt ? cnt : 1) * sizeof *rh);
    uint64_t ok = 0;
    for (size_t i = 0; i < cnt; i++) {
      ag_result_hash(res[i].code, rh[i]);
      ok += res[i].code == 0;
    }
    ag_merkle_root((const uint8_t(*)[32])rh, cnt, h.result_root);
    free(rh);
    uint8_t bh[32], sig[AG_SIG_LEN];
    ag_block_hash(&h, bh);
    ag_sign(&n->key, bh, 32, sig);
    ag_block_encode(&h, sig, txs, lens, &block);
    pthread_mutex_lock(&n->mu);
    rc = ag_app_commit(n->app, block.data, block.len, bh);
    if (!rc) {
      ag_mempool_remove(n->mp, (const uint8_t(*)[32])ids, cnt);
      n->stats.rechecked_out += ag_mempool_recheck(n->mp, recheck_one, n);
      if (n->mplog_fd >= 0 && n->mplog_bytes > 2 * (uint64_t)ag_mempool_bytes(n->mp) + 4 * ag_mempool_size(n->mp) + MPLOG_SLACK)
        mplog_compact(n);
    }
    pthread_mutex_unlock(&n->mu);
    if (!rc) {
      double t2 = ag_mono_s();
      n->stats.txs_ok += ok;
      n->stats.txs_failed += cnt - ok;
      n->stats.blocks++;
      n->stats.finalize_us_total += (uint64_t)((t1 - t0) * 1e6);
      n->stats.commit_us_total += (uint64_t)((t2 - t1) * 1e6);
      n->stats.last_block_time_ms = h.time_ms;
      uint64_t mono = ag_mono_ms();
      observe_interval(n, (double)(mono - n->last_block_mono_ms) / 1000.0);
      n->last_block_mono_ms = mono;
      memcpy(n->last_block_hash, bh, 32);
      n->last_time_ms = h.time_ms;
      pthread_mutex_lock(&n->ev_mu);
      n->height = h.height;
      pthread_cond_broadcast(&n->ev_cv);
      pthread_mutex_unlock(&n->ev_mu);
      if (cnt) ag_debug("node", "block %llu: %zu txs", (unsigned long long)h.height, cnt);
    }
  }
  ag_buf_free(&block);
  free(res);
  free(bytes);
  free(txs);
  free(lens);
  free(ids);
  return rc;
}

static void deadline(struct timespec *ts, uint64_t mono_ms) {
  ts->tv_sec = (time_t)(mono_ms / 1000);
  ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

int ag_node_run(ag_node *n) {
  if (n->cfg.consensus == AG_CONSENSUS_COMETBFT) return ag_abci_serve(n);
  uint64_t next = ag_mono_ms() + n->cfg.block_time_ms;
  for (;;) {
    pthread_mutex_lock(&n->ev_mu);
    while (!n->stop && ag_mono_ms() < next) {
      struct timespec ts;
      deadline(&ts, next);
      pthread_cond_timedwait(&n->ev_cv, &n->ev_mu, &ts);
    }
    int stop = n->stop;
    pthread_mutex_unlock(&n->ev_mu);
    if (stop) return 0;
    int rc = ag_node_produce_block(n);
    if (rc) {
      ag_error("node", "block production stopped: %s", ag_errmsg(rc));
      ag_node_stop(n);
      return rc;
    }
    next += n->cfg.block_time_ms;
    uint64_t now = ag_mono_ms();
    if (next < now) next = now; /* overloaded: no catch-up burst */
  }
}

void ag_node_stop(ag_node *n) {
  pthread_mutex_lock(&n->ev_mu);
  n->stop = 1;
  pthread_cond_broadcast(&n->ev_cv);
  pthread_mutex_unlock(&n->ev_mu);
}

int ag_node_stopping(ag_node *n) {
  pthread_mutex_lock(&n->ev_mu);
  int s = n->stop;
  pthread_mutex_unlock(&n->ev_mu);
  return s;
}

uint64_t ag_node_height(ag_node *n) {
  pthread_mutex_lock(&n->ev_mu);
  uint64_t h = n->height;
  pthread_mutex_unlock(&n->ev_mu);
  return h;
}

uint64_t ag_node_wait_height(ag_node *n, uint64_t after, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
  pthread_mutex_lock(&n->ev_mu);
  while (n->height <= after && !n->stop && ag_mono_ms() < end) {
    struct timespec ts;
    deadline(&ts, end);
    pthread_cond_timedwait(&n->ev_cv, &n->ev_mu, &ts);
  }
  uint64_t h = n->height;
  pthread_mutex_unlock(&n->ev_mu);
  return h;
}
