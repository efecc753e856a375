/* app.c — the ledger state machine: tx execution, mempool checks, genesis, commit. */
#include "chain/app.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/par.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <sodium.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGCACHE_SLOTS (1u << 16)
#define MAX_HOOKS 16

/* Per-sender view of the txs accepted by check_tx since the last commit. */
typedef struct {
  uint8_t pk[32];
  uint64_t next_nonce;
  uint64_t spent;
  int used;
} pending;

struct ag_pending_view {
  pthread_mutex_t mu;
  pending *pend; /* open addressing on the key, at most half full */
  size_t cap, used;
};

typedef struct {
  ag_block_hook begin, end;
  void *ctx;
} hook;

struct ag_app {
  ag_state *st;
  int threads;
  int history; /* write the history indexes (ag_app_set_history) */
  /* committed view, refreshed at open, init_chain and commit */
  ag_params params;
  char chain_id[AG_CHAIN_ID_MAX + 1];
  int initialized;
  uint64_t height;
  /* block in progress */
  ag_block_ctx ctx;
  int finalized;
  uint8_t app_hash[32];
  uint8_t (*tx_hashes)[32];
  ag_result *tx_results;
  size_t ntx, tx_cap;
  /* held by finalize_block, commit and simulate: a simulation runs between blocks */
  pthread_mutex_t drive_mu;
  /* check_tx state: the mempool's pending view */
  ag_pending_view *view;
  /* signature cache: tx ids whose signatures verified */
  pthread_mutex_t sig_mu;
  uint8_t (*sigcache)[32];
  hook hooks[MAX_HOOKS];
  int nhooks;
  ag_validator *vu; /* the validator updates of the block just finalized */
  size_t nvu;
  struct {
    ag_genesis_hook fn;
    void *ctx;
  } ghooks[MAX_HOOKS];
  int nghooks;
};

/* ---- small state helpers --------------------------------------------------------------- */

void ag_account_key(const uint8_t pk[32], uint8_t key[33]) {
  key[0] = AG_KEY_ACCOUNT;
  memcpy(key + 1, pk, 32);
}

void ag_account_encode(const ag_account *a, uint8_t out[16]) {
  ag_put_u64le(out, a->balance);
  ag_put_u64le(out + 8, a->nonce);
}

static int account_decode(const uint8_t *v, size_t n, ag_account *a) {
  if (n != 16) return ag_fail(AG_E_CORRUPT, "account record has %zu bytes", n);
  a->balance = ag_get_u64le(v);
  a->nonce = ag_get_u64le(v + 8);
  return 0;
}

int ag_account_load(ag_state *st, const uint8_t pk[32], ag_account *out) {
  uint8_t key[33], v[16];
  size_t n = 0;
  ag_account_key(pk, key);
  int rc = ag_state_get(st, key, sizeof key, v, sizeof v, &n);
  if (rc == AG_E_NOTFOUND) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  if (rc) return rc;
  return account_decode(v, n, out);
}

void ag_account_store(ag_state *st, const uint8_t pk[32], const ag_account *a) {
  uint8_t key[33], v[16];
  ag_account_key(pk, key);
  if (a->balance == 0 && a->nonce == 0) {
    ag_state_del(st, key, sizeof key);
    return;
  }
  ag_account_encode(a, v);
  ag_state_put(st, key, sizeof key, v, sizeof v);
}

int ag_account_credit(ag_state *st, const uint8_t pk[32], uint64_t amount) {
  ag_account a;
  int rc = ag_account_load(st, pk, &a);
  if (rc) return rc;
  if (ag_add_u64(a.balance, amount, &a.balance))
    return ag_fail(AG_E_TX_AMOUNT_OVERFLOW, "recipient balance would overflow");
  ag_account_store(st, pk, &a);
  return 0;
}

int ag_account_debit(ag_state *st, const uint8_t pk[32], uint64_t amount) {
  ag_account a;
  int rc = ag_account_load(st, pk, &a);
  if (rc) return rc;
  if (a.balance < amount) {
    char have[32], need[32];
    ag_amount_format(a.balance, have);
    ag_amount_format(amount, need);
    return ag_fail(AG_E_TX_BALANCE, "balance %s AGR is below the %s AGR needed", have, need);
  }
  a.balance -= amount;
  ag_account_store(st, pk, &a);
  return 0;
}

static int supply_load(ag_state *st, ag_supply *s) {
  uint8_t v[16];
  size_t n = 0;
  int rc = ag_state_get(st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), v, sizeof v, &n);
  if (rc == AG_E_NOTFOUND) {
    memset(s, 0, sizeof *s);
    return 0;
  }
  if (rc) return rc;
  if (n != 16) return ag_fail(AG_E_CORRUPT, "supply record has %zu bytes", n);
  s->issued = ag_get_u64le(v);
  s->burned = ag_get_u64le(v + 8);
  return 0;
}

static void supply_store(ag_state *st, const ag_supply *s) {
  uint8_t v[16];
  ag_put_u64le(v, s->issued);
  ag_put_u64le(v + 8, s->burned);
  ag_state_put(st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), v, sizeof v);
}

void ag_app_burn(ag_app *app, uint64_t amount) {
  ag_supply s;
  if (amount == 0 || supply_load(app->st, &s)) return;
  s.burned += amount; /* bounded by issued, which fits in u64 */
  supply_store(app->st, &s);
}

int ag_app_issue(ag_app *app, uint64_t amount) {
  ag_supply s;
  int rc = supply_load(app->st, &s);
  if (rc) return rc;
  if (ag_add_u64(s.issued, amount, &s.issued))
    return ag_fail(AG_E_OVERFLOW, "total issuance would overflow");
  supply_store(app->st, &s);
  return 0;
}

/* ---- open / info ----------------------------------------------------------------------- */

static int load_committed(ag_app *app) {
  ag_buf b;
  ag_buf_init(&b);
  ag_state_meta meta;
  int rc = ag_state_meta_get(app->st, &meta);
  if (rc == AG_E_NOTFOUND) {
    app->initialized = 0;
    app->height = 0;
    rc = 0;
    goto done;
  }
  if (rc) goto done;
  app->initialized = 1;
  app->height = meta.height;
  if ((rc = ag_state_get_committed(app->st, AG_KEY_PARAMS, strlen(AG_KEY_PARAMS), &b)) ||
      (rc = ag_params_decode(b.data, b.len, &app->params)))
    goto done;
  if ((rc = ag_state_get_committed(app->st, "g/chain_id", 10, &b))) goto done;
  if (b.len > AG_CHAIN_ID_MAX) {
    rc = ag_fail(AG_E_CORRUPT, "bad chain id record");
    goto done;
  }
  memcpy(app->chain_id, b.data, b.len);
  app->chain_id[b.len] = 0;
done:
  ag_buf_free(&b);
  return rc;
}

int ag_app_open(const char *datadir, ag_app **out) {
  ag_crypto_init();
  ag_app *app = ag_xcalloc(1, sizeof *app);
  app->threads = ag_ncpu();
  app->history = 1;
  app->view = ag_pending_view_new();
  pthread_mutex_init(&app->drive_mu, NULL);
  pthread_mutex_init(&app->sig_mu, NULL);
  app->sigcache = ag_xcalloc(SIGCACHE_SLOTS, 32);
  int rc = ag_state_open(datadir, &app->st);
  if (!rc) rc = load_committed(app);
  if (rc) {
    ag_app_close(app);
    *out = NULL;
    return rc;
  }
  *out = app;
  return 0;
}

void ag_app_set_history(ag_app *app, int on) { app->history = on; }
int ag_app_history(const ag_app *app) { return app->history; }

void ag_app_close(ag_app *app) {
  if (!app) return;
  ag_state_close(app->st);
  ag_pending_view_free(app->view);
  pthread_mutex_destroy(&app->drive_mu);
  pthread_mutex_destroy(&app->sig_mu);
  free(app->sigcache);
  free(app->tx_hashes);
  free(app->tx_results);
  free(app->vu);
  free(app);
}

ag_state *ag_app_state(ag_app *app) { return app->st; }
int ag_app_threads(const ag_app *app) { return app->threads; }
void ag_app_set_threads(ag_app *app, int threads) { app->threads = threads < 1 ? 1 : threads; }
const ag_block_ctx *ag_app_block_ctx(const ag_app *app) { return &app->ctx; }
const ag_params *ag_app_current_params(const ag_app *app) { return &app->params; }

void ag_app_add_hooks(ag_app *app, ag_block_hook begin, ag_block_hook end, void *ctx) {
  if (app->nhooks == MAX_HOOKS) abort();
  app->hooks[app->nhooks++] = (hook){begin, end, ctx};
}

void ag_app_add_genesis_hook(ag_app *app, ag_genesis_hook fn, void *ctx) {
  if (app->nghooks == MAX_HOOKS) abort();
  app->ghooks[app->nghooks].fn = fn;
  app->ghooks[app->nghooks].ctx = ctx;
  app->nghooks++;
}

int ag_app_reload(ag_app *app) {
  ag_pending_view_reset(app->view);
  return load_committed(app);
}

int ag_app_info_get(ag_app *app, ag_app_info *out) {
  memset(out, 0, sizeof *out);
  ag_state_meta meta;
  int rc = ag_state_meta_get(app->st, &meta);
  if (rc == AG_E_NOTFOUND) return 0;
  if (rc) return rc;
  out->initialized = 1;
  out->height = meta.height;
  out->time_ms = meta.time_ms;
  memcpy(out->app_hash, meta.app_hash, 32);
  memcpy(out->block_hash, meta.block_hash, 32);
  snprintf(out->chain_id, sizeof out->chain_id, "%s", app->chain_id);
  return 0;
}

/* ---- genesis --------------------------------------------------------------------------- */

static int validator_cmp(const void *a, const void *b) { return memcmp(a, b, 32); }

int ag_app_init_chain(ag_app *app, const ag_genesis *g, uint8_t app_hash[32]) {
  ag_buf b;
  ag_buf_init(&b);
  int rc;
  if (app->initialized) {
    rc = ag_state_get_committed(app->st, "g/genesis", 9, &b);
    if (rc == 0 && b.len == 32 && memcmp(b.data, g->hash, 32) == 0) {
      ag_state_meta meta;
      rc = ag_state_meta_get(app->st, &meta);
      if (!rc) memcpy(app_hash, meta.app_hash, 32);
    } else if (rc == 0) {
      rc = ag_fail(AG_E_GENESIS, "this data folder belongs to another genesis");
    }
    ag_buf_free(&b);
    return rc;
  }
  ag_state *st = app->st;
  uint8_t params[28];
  ag_params_encode(&g->params, params);
  ag_state_put(st, AG_KEY_PARAMS, strlen(AG_KEY_PARAMS), params, sizeof params);
  ag_state_put(st, "g/chain_id", 10, g->chain_id, strlen(g->chain_id));
  ag_state_put(st, "g/genesis", 9, g->hash, 32);
  ag_supply supply = {0, 0};
  for (size_t i = 0; i < g->naccounts; i++) {
    ag_account a = {g->accounts[i].balance, 0};
    ag_account_store(st, g->accounts[i].pk, &a);
    supply.issued += a.balance; /* genesis parsing bounded the sum */
  }
  supply_store(st, &supply);
  if (g->nvalidators) { /* CometBFT's genesis validators, sorted by key */
    ag_buf v;
    ag_buf_init(&v);
    ag_validator *sorted = ag_xmalloc(g->nvalidators * sizeof *sorted);
    memcpy(sorted, g->validators, g->nvalidators * sizeof *sorted);
    qsort(sorted, g->nvalidators, sizeof *sorted, validator_cmp);
    for (size_t i = 0; i < g->nvalidators; i++) {
      ag_buf_put(&v, sorted[i].pk, 32);
      ag_buf_put_u64le(&v, sorted[i].power);
    }
    ag_state_put(st, AG_KEY_VALIDATORS, strlen(AG_KEY_VALIDATORS), v.data, v.len);
    free(sorted);
    ag_buf_free(&v);
  }
  app->params = g->params; /* hooks may need them */
  snprintf(app->chain_id, sizeof app->chain_id, "%s", g->chain_id);
  memset(&app->ctx, 0, sizeof app->ctx);
  app->ctx.time_ms = g->genesis_time_ms;
  for (int i = 0; i < app->nghooks; i++) {
    rc = app->ghooks[i].fn(app, g, app->ghooks[i].ctx);
    if (rc) {
      ag_state_discard(st);
      return rc;
    }
  }
  ag_state_meta meta = {0};
  meta.height = 0;
  meta.time_ms = g->genesis_time_ms;
  if ((rc = ag_state_apply(st, app->threads, meta.app_hash))) {
    ag_state_discard(st);
    return rc;
  }
  rc = ag_state_commit(st, &meta, NULL, 0, NULL, 0);
  if (rc) return rc;
  memcpy(app_hash, meta.app_hash, 32);
  return load_committed(app);
}

/* ---- signature cache -------------------------------------------------------------------- */

static int sigcache_has(ag_app *app, const uint8_t id[32]) {
  uint32_t slot = ag_get_u32le(id) & (SIGCACHE_SLOTS - 1);
  pthread_mutex_lock(&app->sig_mu);
  int hit = memcmp(app->sigcache[slot], id, 32) == 0;
  pthread_mutex_unlock(&app->sig_mu);
  return hit;
}

static void sigcache_add(ag_app *app, const uint8_t id[32]) {
  uint32_t slot = ag_get_u32le(id) & (SIGCACHE_SLOTS - 1);
  pthread_mutex_lock(&app->sig_mu);
  memcpy(app->sigcache[slot], id, 32);
  pthread_mutex_unlock(&app->sig_mu);
}

/* A tx id covers every byte including the signature, so a cached id re-verifies identically. */
static int verify_cached(ag_app *app, const ag_tx *tx) {
  if (sigcache_has(app, tx->hash)) return 0;
  int rc = ag_tx_verify(tx);
  if (rc == 0) sigcache_add(app, tx->hash);
  return rc;
}

/* ---- envelope checks shared by check_tx and finalize_block ----------------------------- */

static int check_envelope(const ag_app *app, const ag_tx *tx, uint64_t height) {
  if (strcmp(tx->chain_id, app->chain_id) != 0)
    return ag_fail(AG_E_TX_CHAIN_ID, "transaction is for chain '%s', this is '%s'", tx->chain_id,
                   app->chain_id);
  if (tx->raw_len > app->params.max_tx_bytes)
    return ag_fail(AG_E_TX_TOO_LARGE, "transaction is %zu bytes, the limit is %u", tx->raw_len,
                   app->params.max_tx_bytes);
  if (tx->valid_until != 0 && tx->valid_until < height)
    return ag_fail(AG_E_TX_EXPIRED, "transaction was valid until height %llu; now %llu",
                   (unsigned long long)tx->valid_until, (unsigned long long)height);
  uint64_t min_fee;
  if (ag_tx_min_fee(app->params.base_fee, app->params.per_byte_fee, tx->kind, tx->payload, tx->payload_len,
                    tx->raw_len, &min_fee) ||
      tx->fee < min_fee)
    return ag_fail(AG_E_TX_FEE_LOW, "fee %llu is below the minimum %llu for %zu bytes and %llu base fee(s)",
                   (unsigned long long)tx->fee, (unsigned long long)min_fee, tx->raw_len,
                   (unsigned long long)ag_tx_fee_units(tx->kind, tx->payload, tx->payload_len));
  return 0;
}

static int nonce_error(uint64_t got, uint64_t want) {
  if (got < want)
    return ag_fail(AG_E_TX_NONCE_USED, "nonce %llu was already used; the next nonce is %llu",
                   (unsigned long long)got, (unsigned long long)want);
  return ag_fail(AG_E_TX_NONCE_GAP, "nonce %llu is ahead; the next nonce is %llu",
                 (unsigned long long)got, (unsigned long long)want);
}

static void set_result(ag_result *r, int code) {
  r->code = code;
  snprintf(r->log, sizeof r->log, "%s", code ? ag_errmsg(code) : "");
}

/* Size before content: a tx over the chain's limit is tx_too_large whatever its bytes say
 * (the decoder never reads past AG_TX_HARD_MAX either way). */
static int size_first(const ag_app *app, size_t len) {
  if (app->initialized && len > app->params.max_tx_bytes)
    return ag_fail(AG_E_TX_TOO_LARGE, "transaction is %zu bytes, the limit is %u", len,
                   app->params.max_tx_bytes);
  return 0;
}

int ag_app_precheck(ag_app *app, const uint8_t *raw, size_t len) {
  ag_tx tx;
  int rc = size_first(app, len);
  if (!rc) rc = ag_tx_decode(raw, len, &tx);
  return rc ? rc : verify_cached(app, &tx);
}

/* ---- check_tx --------------------------------------------------------------------------- */

static int committed_account(ag_app *app, const uint8_t pk[32], ag_account *out) {
  ag_buf b;
  ag_buf_init(&b);
  uint8_t key[33];
  ag_account_key(pk, key);
  memset(out, 0, sizeof *out);
  int rc = ag_state_get_committed(app->st, key, sizeof key, &b);
  if (rc == AG_E_NOTFOUND) rc = 0;
  else if (!rc) rc = account_decode(b.data, b.len, out);
  ag_buf_free(&b);
  return rc;
}

ag_pending_view *ag_pending_view_new(void) {
  ag_pending_view *v = ag_xcalloc(1, sizeof *v);
  pthread_mutex_init(&v->mu, NULL);
  return v;
}

void ag_pending_view_free(ag_pending_view *v) {
  if (!v) return;
  pthread_mutex_destroy(&v->mu);
  free(v->pend);
  free(v);
}

void ag_pending_view_reset(ag_pending_view *v) {
  pthread_mutex_lock(&v->mu);
  if (v->pend) memset(v->pend, 0, v->cap * sizeof *v->pend);
  v->used = 0;
  pthread_mutex_unlock(&v->mu);
}

ag_pending_view *ag_app_view(ag_app *app) { return app->view; }

/* Under v->mu. */
static pending *pending_slot(ag_pending_view *v, const uint8_t pk[32]) {
  if ((v->used + 1) * 2 >= v->cap) {
    pending *old = v->pend;
    size_t oldcap = v->cap;
    v->cap = oldcap ? oldcap * 2 : 256;
    v->pend = ag_xcalloc(v->cap, sizeof *v->pend);
    for (size_t i = 0; i < oldcap; i++) {
      if (!old[i].used) continue;
      size_t j = ag_get_u64le(old[i].pk) & (v->cap - 1);
      while (v->pend[j].used) j = (j + 1) & (v->cap - 1);
      v->pend[j] = old[i];
    }
    free(old);
  }
  size_t j = ag_get_u64le(pk) & (v->cap - 1);
  while (v->pend[j].used && memcmp(v->pend[j].pk, pk, 32) != 0) j = (j + 1) & (v->cap - 1);
  return &v->pend[j];
}

int ag_app_check_tx(ag_app *app, const uint8_t *raw, size_t len, int mode, ag_result *res,
                    ag_tx_meta *meta) {
  return ag_app_check_tx_in(app, app->view, raw, len, mode, res, meta);
}

int ag_app_check_tx_in(ag_app *app, ag_pending_view *v, const uint8_t *raw, size_t len, int mode,
                       ag_result *res, ag_tx_meta *meta) {
  ag_tx tx;
  int rc = size_first(app, len);
  if (!rc) rc = ag_tx_decode(raw, len, &tx);
  if (!rc && !app->initialized) rc = ag_fail(AG_E_UNAVAILABLE, "the chain has no genesis yet");
  if (!rc) rc = check_envelope(app, &tx, app->height + 1);
  if (!rc && mode == AG_CHECK_NEW) rc = verify_cached(app, &tx);
  uint64_t spend = 0, cost = 0;
  uint8_t payer[32];
  if (!rc) {
    const ag_tx_kind *k = ag_tx_kind_find(tx.kind);
    memcpy(payer, tx.sender, 32);
    rc = k->spend(&tx, &spend);
    if (!rc && ag_add_u64(spend, tx.fee, &cost))
      rc = ag_fail(AG_E_TX_AMOUNT_OVERFLOW, "fee plus amounts overflow");
    if (!rc && k->payer) rc = k->payer(app, AG_PAYER_CHECK, &tx, payer);
  }
  if (!rc) {
    pthread_mutex_lock(&v->mu);
    ag_account acct = {0, 0}, pacct = {0, 0};
    int other = memcmp(payer, tx.sender, 32) != 0;
    rc = committed_account(app, tx.sender, &acct);
    if (!rc && other) rc = committed_account(app, payer, &pacct);
    if (!other) pacct = acct;
    /* the payer's slot first (it may be new): a later lookup never moves a slot already found
     * unless the table grows, and it grows only when a lookup precedes an insertion */
    pending *pp = NULL, *p = NULL;
    if (!rc && other) {
      pp = pending_slot(v, payer);
      if (!pp->used) {
        memcpy(pp->pk, payer, 32);
        pp->used = 1;
        pp->next_nonce = pacct.nonce;
        pp->spent = 0;
        v->used++;
      }
    }
    if (!rc) p = pending_slot(v, tx.sender);
    if (p && other) pp = pending_slot(v, payer);
    if (p) {
      if (!other) pp = p;
      uint64_t next = p->used ? p->next_nonce : acct.nonce;
      uint64_t spent = pp->used ? pp->spent : 0;
      if (tx.nonce != next) {
        rc = nonce_error(tx.nonce, next);
      } else if (spent > pacct.balance || cost > pacct.balance - spent) {
        char have[32], need[32];
        ag_amount_format(spent > pacct.balance ? 0 : pacct.balance - spent, have);
        ag_amount_format(cost, need);
        rc = ag_fail(AG_E_TX_BALANCE, "available balance %s AGR is below the %s AGR needed", have,
                     need);
      } else {
        if (!p->used) {
          memcpy(p->pk, tx.sender, 32);
          p->used = 1;
          p->spent = 0;
          v->used++;
        }
        p->next_nonce = next + 1;
        pp->spent = spent + cost;
      }
    }
    pthread_mutex_unlock(&v->mu);
  }
  if (res) set_result(res, rc);
  if (!rc && meta) {
    memcpy(meta->hash, tx.hash, 32);
    memcpy(meta->sender, tx.sender, 32);
    memcpy(meta->payer, payer, 32);
    meta->nonce = tx.nonce;
    meta->fee = tx.fee;
    meta->cost = cost;
  }
  return rc;
}

int ag_app_pending_rewind(ag_app *app, const uint8_t sender[32], const uint8_t payer[32], uint64_t nonce,
                          uint64_t cost) {
  return ag_pending_view_rewind(app->view, sender, payer, nonce, cost);
}

int ag_pending_view_rewind(ag_pending_view *v, const uint8_t sender[32], const uint8_t payer[32], uint64_t nonce,
                           uint64_t cost) {
  int rc = 0;
  pthread_mutex_lock(&v->mu);
  /* lookups of present keys: neither grows the table (v->used is unchanged between them) */
  pending *pp = v->cap ? pending_slot(v, payer) : NULL;
  pending *p = v->cap ? pending_slot(v, sender) : NULL;
  if (!p || !p->used || !pp->used || nonce == UINT64_MAX || p->next_nonce != nonce + 1 || pp->spent < cost) {
    rc = ag_fail(AG_E_INVALID, "nonce %llu is not the sender's last pending transaction",
                 (unsigned long long)nonce);
  } else {
    p->next_nonce = nonce;
    pp->spent -= cost;
  }
  pthread_mutex_unlock(&v->mu);
  return rc;
}

/* ---- finalize_block --------------------------------------------------------------------- */

typedef struct {
  ag_app *app;
  const uint8_t *const *raw;
  const uint32_t *lens;
  ag_tx *txs;
  int *rc;
  ag_tx_parties *parties; /* NULL: none wanted */
} prep_ctx;

/* Every address a JSON value names (strings that decode as addresses), deduplicated. */
static void parties_of_json(const json_t *v, ag_tx_parties *p) {
  if (json_is_string(v)) {
    uint8_t pk[32];
    const char *s = json_string_value(v);
    if (strncmp(s, "agora1", 6) || ag_addr_decode(s, pk)) return;
    for (size_t i = 0; i < p->n; i++)
      if (!memcmp(p->pk[i], pk, 32)) return;
    if (p->n == p->cap) p->pk = ag_xrealloc(p->pk, (p->cap = p->cap ? 2 * p->cap : 4) * sizeof *p->pk);
    memcpy(p->pk[p->n++], pk, 32);
  } else if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) parties_of_json(x, p);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) parties_of_json(x, p);
  }
}

void ag_tx_parties_free(ag_tx_parties *p) {
  free(p->pk);
  memset(p, 0, sizeof *p);
}

void ag_tx_parties_of(const ag_tx *tx, ag_tx_parties *p) {
  p->n = 0;
  p->cap = 4;
  p->pk = ag_xrealloc(p->pk, p->cap * sizeof *p->pk);
  memcpy(p->pk[p->n++], tx->sender, 32);
  const ag_tx_kind *k = ag_tx_kind_find(tx->kind);
  json_t *j = k && k->to_json ? k->to_json(tx) : NULL;
  parties_of_json(j, p);
  json_decref(j);
}

static void prep_range(void *arg, size_t b, size_t e) {
  prep_ctx *c = arg;
  for (size_t i = b; i < e; i++) {
    int rc = ag_tx_decode(c->raw[i], c->lens[i], &c->txs[i]);
    if (rc) {
      /* keep the id for the index even when the bytes do not decode */
      ag_hash("agora/txid", c->raw[i], c->lens[i], c->txs[i].hash);
    } else {
      rc = check_envelope(c->app, &c->txs[i], c->app->ctx.height);
      if (!rc) rc = verify_cached(c->app, &c->txs[i]);
      const ag_tx_kind *k = rc ? NULL : ag_tx_kind_find(c->txs[i].kind);
      if (k && k->prepare) k->prepare(c->app, &c->txs[i]);
      /* signed by its sender: it belongs to the history of everyone it names */
      if (!rc && c->parties) ag_tx_parties_of(&c->txs[i], &c->parties[i]);
    }
    c->rc[i] = rc;
  }
}

/* An account's history record for a tx it sent or is named in (docs/api.md "History"):
 *   key 'a' | pk | height u64be | index u32be   value hash | kind u16le | code i32le | sent u8 */
static void history_tx(ag_app *app, const ag_tx *tx, uint32_t index, int code, const ag_tx_parties *p) {
  uint8_t key[1 + 32 + 8 + 4], val[32 + 2 + 4 + 1];
  key[0] = AG_HIST_ACCOUNT_TX;
  ag_put_u64be(key + 33, app->ctx.height);
  ag_put_u32be(key + 41, index);
  memcpy(val, tx->hash, 32);
  ag_put_u16le(val + 32, tx->kind);
  ag_put_u32le(val + 34, (uint32_t)code);
  for (size_t i = 0; i < p->n; i++) {
    memcpy(key + 1, p->pk[i], 32);
    val[38] = i == 0; /* the sender is first */
    ag_state_hist_put(app->st, key, sizeof key, val, sizeof val);
  }
}

static int exec_tx(ag_app *app, const ag_tx *tx) {
  ag_state *st = app->st;
  const ag_tx_kind *k = ag_tx_kind_find(tx->kind);
  ag_account a, pa;
  int rc = ag_account_load(st, tx->sender, &a);
  if (rc) return rc;
  if (tx->nonce != a.nonce) return nonce_error(tx->nonce, a.nonce);
  uint8_t payer[32];
  memcpy(payer, tx->sender, 32);
  if (k->payer && (rc = k->payer(app, AG_PAYER_EXEC, tx, payer))) return rc;
  int other = memcmp(payer, tx->sender, 32) != 0;
  if (other && (rc = ag_account_load(st, payer, &pa))) return rc;
  ag_account *fa = other ? &pa : &a;
  if (fa->balance < tx->fee) {
    char have[32], need[32];
    ag_amount_format(fa->balance, have);
    ag_amount_format(tx->fee, need);
    return ag_fail(AG_E_TX_BALANCE, "balance %s AGR cannot pay the %s AGR fee", have, need);
  }
  fa->balance -= tx->fee;
  a.nonce++;
  ag_account_store(st, tx->sender, &a);
  if (other) ag_account_store(st, payer, &pa);
  ag_app_burn(app, tx->fee);
  if (k->payer && (rc = k->payer(app, AG_PAYER_CHARGE, tx, payer)))
    return ag_fail(AG_E_INTERNAL, "recording an agent key's fee failed after its check: %s", ag_errmsg(rc));
  size_t sp = ag_state_savepoint(st);
  rc = k->apply(app, tx);
  int fault = ag_state_fault_take(st); /* a refused write fails the tx even if apply missed it */
  if (!rc && fault) rc = fault;
  if (rc) ag_state_rollback(st, sp);
  return rc;
}

/* Block hooks write only values with documented bounds (docs/security.md), so a refused write
 * there is a bug of ours, not a tx: it stops the block like any internal error. */
static int hook_done(ag_state *st, int rc) {
  int fault = ag_state_fault_take(st);
  ag_state_release(st);
  if (!rc && fault) rc = ag_fail(AG_E_INTERNAL, "a block hook wrote past a state limit: %s", ag_errmsg(fault));
  return rc;
}

/* ---- the validator set -------------------------------------------------------------------- */

static int load_validators(ag_state *st, ag_buf *b, size_t *n) {
  int rc = ag_state_get_buf(st, AG_KEY_VALIDATORS, strlen(AG_KEY_VALIDATORS), b);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_NOTFOUND, "this chain has no validator set: it runs solo, not on CometBFT");
  if (rc) return rc;
  if (b->len % 40) return ag_fail(AG_E_CORRUPT, "the validator set record is %zu bytes", b->len);
  *n = b->len / 40;
  return 0;
}

int ag_app_validator_list(ag_app *app, ag_validator **out, size_t *n) {
  ag_buf b;
  ag_buf_init(&b);
  *out = NULL;
  *n = 0;
  int rc = load_validators(app->st, &b, n);
  if (!rc) {
    *out = ag_xcalloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++) {
      memcpy((*out)[i].pk, b.data + 40 * i, 32);
      (*out)[i].power = ag_get_u64le(b.data + 40 * i + 32);
    }
  } else {
    *n = 0;
  }
  ag_buf_free(&b);
  return rc;
}

int ag_app_validator_set(ag_app *app, const uint8_t pk[32], uint64_t power) {
  if (power > AG_VALIDATOR_POWER_MAX)
    return ag_fail(AG_E_RANGE, "a validator's power is at most %llu", (unsigned long long)AG_VALIDATOR_POWER_MAX);
  if (!crypto_core_ed25519_is_valid_point(pk))
    return ag_fail(AG_E_RANGE, "the consensus key is not a valid ed25519 public key");
  ag_state *st = app->st;
  ag_buf set, out;
  ag_buf_init(&set);
  ag_buf_init(&out);
  size_t n = 0;
  int rc = load_validators(st, &set, &n);
  uint64_t total = 0, old = 0;
  int found = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    const uint8_t *e = set.data + 40 * i;
    uint64_t p = ag_get_u64le(e + 32);
    if (!memcmp(e, pk, 32)) {
      found = 1;
      old = p;
    } else {
      total += p;
    }
  }
  size_t after = n + (!found && power) - (found && !power);
  if (!rc && !found && !power) rc = ag_fail(AG_E_NOTFOUND, "that key is not a validator");
  else if (!rc && after == 0) rc = ag_fail(AG_E_RANGE, "the last validator cannot be removed");
  else if (!rc && after > AG_VALIDATORS_MAX) rc = ag_fail(AG_E_RANGE, "the set has %d validators, the most it may", AG_VALIDATORS_MAX);
  else if (!rc && power > old && 3 * (power - old) >= total + power)
    rc = ag_fail(AG_E_RANGE, "one change may add less than a third of the total power (%llu to %llu)",
                 (unsigned long long)(power - old), (unsigned long long)(total + power));
  if (rc) {
    ag_buf_free(&set);
    return rc;
  }
  /* the new set, sorted by key */
  int placed = 0;
  for (size_t i = 0; i <= n; i++) {
    const uint8_t *e = i < n ? set.data + 40 * i : NULL;
    if (!placed && power && (!e || memcmp(pk, e, 32) < 0)) {
      ag_buf_put(&out, pk, 32);
      ag_buf_put_u64le(&out, power);
      placed = 1;
    }
    if (e && memcmp(e, pk, 32)) ag_buf_put(&out, e, 40);
  }
  ag_state_put(st, AG_KEY_VALIDATORS, strlen(AG_KEY_VALIDATORS), out.data, out.len);
  /* the block's updates: one per key (CometBFT refuses two), the last change wins */
  ag_buf_reset(&set);
  rc = ag_state_get_buf(st, AG_KEY_VALUPDATES, strlen(AG_KEY_VALUPDATES), &set);
  if (rc == AG_E_NOTFOUND) rc = 0;
  size_t k = 0;
  while (!rc && k + 40 <= set.len && memcmp(set.data + k, pk, 32)) k += 40;
  if (!rc && k + 40 <= set.len) ag_put_u64le(set.data + k + 32, power);
  else if (!rc) {
    ag_buf_put(&set, pk, 32);
    ag_buf_put_u64le(&set, power);
  }
  if (!rc) ag_state_put(st, AG_KEY_VALUPDATES, strlen(AG_KEY_VALUPDATES), set.data, set.len);
  ag_buf_free(&set);
  ag_buf_free(&out);
  return rc;
}

/* At the end of a block: its validator updates move from the state to app->vu. */
static int take_validator_updates(ag_app *app) {
  app->nvu = 0;
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_state_get_buf(app->st, AG_KEY_VALUPDATES, strlen(AG_KEY_VALUPDATES), &b);
  if (rc == AG_E_NOTFOUND) {
    ag_buf_free(&b);
    return 0;
  }
  if (!rc && b.len % 40) rc = ag_fail(AG_E_CORRUPT, "the validator updates record is %zu bytes", b.len);
  if (!rc) {
    app->vu = ag_xrealloc(app->vu, (b.len / 40 + 1) * sizeof *app->vu);
    for (size_t i = 0; i < b.len / 40; i++) {
      memcpy(app->vu[i].pk, b.data + 40 * i, 32);
      app->vu[i].power = ag_get_u64le(b.data + 40 * i + 32);
    }
    app->nvu = b.len / 40;
    rc = ag_state_del(app->st, AG_KEY_VALUPDATES, strlen(AG_KEY_VALUPDATES));
  }
  ag_buf_free(&b);
  return rc;
}

size_t ag_app_validator_updates(ag_app *app, const ag_validator **out) {
  *out = app->vu;
  return app->nvu;
}

static int finalize_locked(ag_app *app, const ag_block_ctx *ctx, const uint8_t *const *txs,
                           const uint32_t *lens, size_t n, ag_result *results, uint8_t app_hash[32]) {
  if (!app->initialized) return ag_fail(AG_E_UNAVAILABLE, "finalize_block before init_chain");
  if (ctx->height != app->height + 1)
    return ag_fail(AG_E_BLOCK_HEIGHT, "block height %llu does not follow %llu",
                   (unsigned long long)ctx->height, (unsigned long long)app->height);
  if (app->finalized) ag_state_discard(app->st); /* a previous finalize was never committed */
  app->nvu = 0;
  app->ctx = *ctx;
  app->finalized = 0;
  if (n > app->tx_cap) {
    app->tx_cap = n;
    app->tx_hashes = ag_xrealloc(app->tx_hashes, n * sizeof *app->tx_hashes);
    app->tx_results = ag_xrealloc(app->tx_results, n * sizeof *app->tx_results);
  }
  app->ntx = n;
  ag_tx *dec = ag_xcalloc(n ? n : 1, sizeof *dec);
  int *prc = ag_xcalloc(n ? n : 1, sizeof *prc);
  ag_tx_parties *parties = app->history ? ag_xcalloc(n ? n : 1, sizeof *parties) : NULL;
  prep_ctx pc = {app, txs, lens, dec, prc, parties};
  /* chunks small enough that a few heavy txs (a channel_claims verifies up to 256 vouchers)
   * still spread over the threads */
  size_t chunk = n / (4 * (size_t)(app->threads > 0 ? app->threads : 1));
  ag_par_for(n, app->threads, chunk < 1 ? 1 : chunk > 64 ? 64 : chunk, prep_range, &pc);

  int rc = 0;
  ag_state *st = app->st;
  for (int h = 0; h < app->nhooks && !rc; h++)
    if (app->hooks[h].begin) rc = hook_done(st, app->hooks[h].begin(app, app->hooks[h].ctx));
  for (size_t i = 0; i < n && !rc; i++) {
    int code = prc[i];
    if (!code) code = exec_tx(app, &dec[i]);
    ag_state_release(st); /* the tx is settled: its old values need not be kept */
    memcpy(app->tx_hashes[i], dec[i].hash, 32);
    set_result(&app->tx_results[i], code);
    if (results) results[i] = app->tx_results[i];
    if (parties) {
      history_tx(app, &dec[i], (uint32_t)i, code, &parties[i]);
      ag_tx_parties_free(&parties[i]);
    }
  }
  for (int h = 0; h < app->nhooks && !rc; h++)
    if (app->hooks[h].end) rc = hook_done(st, app->hooks[h].end(app, app->hooks[h].ctx));
  if (!rc) rc = take_validator_updates(app);
  app->ctx.votes = NULL; /* the caller's arrays: gone once this returns */
  app->ctx.nvotes = 0;
  app->ctx.misbehavior = NULL;
  app->ctx.nmisbehavior = 0;
  free(dec);
  free(prc);
  free(parties);
  if (rc) {
    ag_state_discard(st);
    return rc;
  }
  if ((rc = ag_state_apply(st, app->threads, app->app_hash))) { /* the store cannot be read: a node fault */
    ag_state_discard(st);
    return rc;
  }
  memcpy(app_hash, app->app_hash, 32);
  app->finalized = 1;
  return 0;
}

int ag_app_finalize_block(ag_app *app, const ag_block_ctx *ctx, const uint8_t *const *txs,
                          const uint32_t *lens, size_t n, ag_result *results,
                          uint8_t app_hash[32]) {
  pthread_mutex_lock(&app->drive_mu);
  int rc = finalize_locked(app, ctx, txs, lens, n, results, app_hash);
  pthread_mutex_unlock(&app->drive_mu);
  return rc;
}

int ag_app_simulate(ag_app *app, const uint8_t *const *txs, const uint32_t *lens, size_t n,
                    ag_result *results, int (*look)(void *ctx, ag_app *app), void *ctx) {
  pthread_mutex_lock(&app->drive_mu);
  int rc = 0;
  if (!app->initialized) rc = ag_fail(AG_E_UNAVAILABLE, "the chain has no genesis yet");
  else if (app->finalized) rc = ag_fail(AG_E_UNAVAILABLE, "a block is being committed; try again");
  if (rc) {
    pthread_mutex_unlock(&app->drive_mu);
    return rc;
  }
  ag_app_info info;
  ag_app_info_get(app, &info);
  ag_block_ctx saved = app->ctx;
  app->ctx = (ag_block_ctx){info.height + 1, info.time_ms + 1, {0}};
  for (size_t i = 0; i < n; i++) {
    ag_tx tx;
    int code = size_first(app, lens[i]);
    if (!code) code = ag_tx_decode(txs[i], lens[i], &tx);
    if (!code) code = check_envelope(app, &tx, app->ctx.height);
    if (!code) code = exec_tx(app, &tx);
    ag_state_release(app->st);
    set_result(&results[i], code);
  }
  rc = look ? look(ctx, app) : 0;
  ag_state_discard(app->st);
  app->ctx = saved;
  pthread_mutex_unlock(&app->drive_mu);
  return rc;
}

static int commit_locked(ag_app *app, const uint8_t *block, size_t block_len, const uint8_t block_hash[32]);

int ag_app_commit(ag_app *app, const uint8_t *block, size_t block_len,
                  const uint8_t block_hash[32]) {
  pthread_mutex_lock(&app->drive_mu);
  int rc = commit_locked(app, block, block_len, block_hash);
  pthread_mutex_unlock(&app->drive_mu);
  return rc;
}

static int commit_locked(ag_app *app, const uint8_t *block, size_t block_len,
                         const uint8_t block_hash[32]) {
  if (!app->finalized) return ag_fail(AG_E_INVALID, "commit without finalize_block");
  ag_state_meta meta;
  memset(&meta, 0, sizeof meta);
  meta.height = app->ctx.height;
  meta.time_ms = app->ctx.time_ms;
  memcpy(meta.app_hash, app->app_hash, 32);
  if (block_hash) memcpy(meta.block_hash, block_hash, 32);
  ag_tx_index_entry *idx = ag_xmalloc((app->ntx ? app->ntx : 1) * sizeof *idx);
  for (size_t i = 0; i < app->ntx; i++) {
    idx[i].hash = app->tx_hashes[i];
    idx[i].loc.height = meta.height;
    idx[i].loc.index = (uint32_t)i;
    idx[i].loc.code = app->tx_results[i].code;
    memcpy(idx[i].loc.log, app->tx_results[i].log, sizeof idx[i].loc.log);
  }
  int rc = ag_state_commit(app->st, &meta, block, block_len, idx, app->ntx);
  free(idx);
  app->finalized = 0;
  if (rc) return rc;
  app->height = meta.height;
  ag_pending_view_reset(app->view);
  return 0;
}

/* ---- queries ---------------------------------------------------------------------------- */

int ag_app_account(ag_app *app, const uint8_t pk[32], ag_account *out) {
  uint8_t key[33];
  ag_account_key(pk, key);
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_state_get_committed(app->st, key, sizeof key, &b);
  if (rc == 0) rc = account_decode(b.data, b.len, out);
  else if (rc == AG_E_NOTFOUND) {
    memset(out, 0, sizeof *out);
    rc = 0;
  }
  ag_buf_free(&b);
  return rc;
}

int ag_app_account_proof(ag_app *app, const uint8_t pk[32], ag_account *out, int *present,
                         ag_smt_proof *proof, uint8_t root[32], uint64_t *height) {
  return ag_app_account_proof_at(app, pk, AG_STATE_LATEST, out, present, proof, root, height);
}

int ag_app_account_proof_at(ag_app *app, const uint8_t pk[32], uint64_t at, ag_account *out, int *present,
                            ag_smt_proof *proof, uint8_t root[32], uint64_t *height) {
  uint8_t key[33];
  ag_account_key(pk, key);
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_state_prove_at(app->st, at, key, sizeof key, proof, root, height, &b, present);
  memset(out, 0, sizeof *out);
  if (!rc && *present) rc = account_decode(b.data, b.len, out);
  ag_buf_free(&b);
  return rc;
}

uint64_t ag_app_pending_nonce(ag_app *app, const uint8_t pk[32], uint64_t committed_nonce) {
  return ag_pending_view_nonce(app->view, pk, committed_nonce);
}

uint64_t ag_pending_view_nonce(ag_pending_view *v, const uint8_t pk[32], uint64_t committed_nonce) {
  pthread_mutex_lock(&v->mu);
  uint64_t n = committed_nonce;
  if (v->cap) {
    size_t j = ag_get_u64le(pk) & (v->cap - 1);
    while (v->pend[j].used && memcmp(v->pend[j].pk, pk, 32) != 0) j = (j + 1) & (v->cap - 1);
    if (v->pend[j].used) n = v->pend[j].next_nonce;
  }
  pthread_mutex_unlock(&v->mu);
  return n;
}

int ag_app_params(ag_app *app, ag_params *out) {
  if (!app->initialized) return ag_fail(AG_E_UNAVAILABLE, "no genesis yet");
  *out = app->params;
  return 0;
}

int ag_app_supply(ag_app *app, ag_supply *out) {
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_state_get_committed(app->st, AG_KEY_SUPPLY, strlen(AG_KEY_SUPPLY), &b);
  if (rc == 0 && b.len == 16) {
    out->issued = ag_get_u64le(b.data);
    out->burned = ag_get_u64le(b.data + 8);
  } else if (rc == 0) {
    rc = ag_fail(AG_E_CORRUPT, "bad supply record");
  }
  ag_buf_free(&b);
  return rc;
}

int ag_app_query(ag_app *app, const char *path, const uint8_t *data, size_t len, int prove,
                 ag_query_result *out) {
  out->found = 0;
  out->proved = 0;
  ag_buf_reset(&out->value);
  uint8_t key[AG_STATE_KEY_MAX];
  size_t klen;
  if (!strcmp(path, "tx")) {
    if (len != 32) return ag_fail(AG_E_INVALID, "query tx: data must be a 32-byte hash");
    ag_tx_location loc;
    int rc = ag_state_tx_lookup(app->st, data, &loc);
    ag_state_meta meta;
    out->height = ag_state_meta_get(app->st, &meta) == 0 ? meta.height : 0;
    if (rc == AG_E_NOTFOUND) return 0;
    if (rc) return rc;
    out->found = 1;
    ag_buf_put_u64le(&out->value, loc.height);
    ag_buf_put_u32le(&out->value, loc.index);
    ag_buf_put_u32le(&out->value, (uint32_t)loc.code);
    return 0;
  }
  if (!strcmp(path, "account")) {
    if (len != 32) return ag_fail(AG_E_INVALID, "query account: data must be a 32-byte public key");
    ag_account_key(data, key);
    klen = 33;
  } else if (!strcmp(path, "key")) {
    if (len == 0 || len > AG_STATE_KEY_MAX)
      return ag_fail(AG_E_INVALID, "query key: keys are 1..%d bytes", AG_STATE_KEY_MAX);
    memcpy(key, data, len);
    klen = len;
  } else {
    return ag_fail(AG_E_INVALID, "unknown query path '%.40s' (key, account, tx)", path);
  }
  ag_state_hkey(key, klen, out->key_hash);
  int present = 0;
  int rc = ag_state_prove(app->st, key, klen, &out->proof, out->root, &out->height, &out->value,
                          &present);
  if (rc) return rc;
  out->found = present;
  out->proved = prove;
  return 0;
}
