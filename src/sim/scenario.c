/*
 * scenario.c — scripted validators and miners on a real chain (see scenario.h).
 *
 * Each epoch of subnet 1 (tempo 10 blocks) the script: reveals what was committed an epoch
 * ago (commit-reveal on), has every honest validator set — or commit — weights that follow
 * the current "truth" (how good each miner is this epoch), and has the adversaries act:
 * the copier re-submits the largest validator's weights as the chain shows them at that
 * moment; the cabal weights only its own miner; the late validator keeps the old truth for
 * a while. Then blocks run to the epoch's end and the metagraph is recorded.
 */
#include "sim/scenario.h"

#include "chain/app.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const ag_scenario_names[] = {"honest", "copier", "cabal", "late", NULL};

#define CHAIN "agora-sim"
#define TEMPO 10

enum { HONEST, COPIER, CABAL, LATE };

typedef struct {
  int kind[AG_SCN_MAX_V];        /* role of each validator */
  uint16_t stake_pct[AG_SCN_MAX_V];
  int late_until;                /* LATE validators keep the old truth until this epoch */
  int nval, nminer, epochs, cr;
  int scenario;
} plan;

typedef struct {
  ag_app *app;
  char *dir;
  ag_keypair owner, vck[AG_SCN_MAX_V], vhk[AG_SCN_MAX_V], mck[AG_SCN_MAX_M], mhk[AG_SCN_MAX_M];
  ag_buf pending[64]; /* txs for the next block */
  int npending;
  /* commits waiting for their reveal: per validator */
  int has_commit[AG_SCN_MAX_V];
  uint16_t cw[AG_SCN_MAX_V][AG_SCN_MAX_M + AG_SCN_MAX_V];
  uint16_t cu[AG_SCN_MAX_V][AG_SCN_MAX_M + AG_SCN_MAX_V];
  uint16_t cn[AG_SCN_MAX_V];
  uint8_t salt[AG_SCN_MAX_V][32];
} world;

static void key_of(ag_keypair *k, uint32_t tag) {
  uint8_t seed[32] = {0};
  ag_put_u32le(seed, tag);
  seed[31] = 0x51;
  ag_key_from_seed(k, seed);
}

static uint64_t nonce_of(world *w, const ag_keypair *k) {
  ag_account a;
  ag_app_account(w->app, k->pk, &a);
  uint64_t n = a.nonce;
  /* txs of the same key already queued for this block */
  for (int i = 0; i < w->npending; i++) {
    ag_tx tx;
    if (ag_tx_decode(w->pending[i].data, w->pending[i].len, &tx) == 0 && !memcmp(tx.sender, k->pk, 32)) n++;
  }
  return n;
}

static void queue(world *w, const ag_keypair *k, uint16_t kind, const ag_buf *payload) {
  ag_buf *b = &w->pending[w->npending++];
  ag_buf_init(b);
  ag_tx_build(b, kind, CHAIN, k, nonce_of(w, k), 10000000, 0, payload->data, (uint32_t)payload->len);
}

static int step(world *w) {
  ag_app_info info;
  ag_app_info_get(w->app, &info);
  const uint8_t *p[64];
  uint32_t l[64];
  ag_result r[64];
  for (int i = 0; i < w->npending; i++) {
    p[i] = w->pending[i].data;
    l[i] = (uint32_t)w->pending[i].len;
  }
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  uint8_t root[32];
  int rc = ag_app_finalize_block(w->app, &ctx, p, l, (size_t)w->npending, r, root);
  if (!rc) rc = ag_app_commit(w->app, NULL, 0, NULL);
  for (int i = 0; i < w->npending; i++) {
    if (!rc && r[i].code)
      rc = ag_fail(r[i].code, "scenario tx %d failed at block %llu: %s", i,
                   (unsigned long long)ctx.height, r[i].log);
    ag_buf_free(&w->pending[i]);
  }
  w->npending = 0;
  return rc;
}

static uint64_t epoch_of(world *w) {
  ag_ist s = {ag_app_state(w->app), NULL};
  ag_subnet sn;
  return ag_subnet_load(&s, 1, &sn) == 0 ? sn.epoch : 0;
}

static int until_epoch(world *w) {
  uint64_t e = epoch_of(w);
  int rc = 0;
  for (int i = 0; i < 4 * TEMPO && !rc && epoch_of(w) == e; i++) rc = step(w);
  return rc;
}

/* Miner quality ("truth") per epoch, as u16 weights over miners 0..nminer-1. */
static void truth(const plan *pl, int epoch, int late, uint16_t *out) {
  for (int m = 0; m < pl->nminer; m++) out[m] = 0;
  switch (pl->scenario) {
  case COPIER: { /* the best miner rotates every epoch */
    int best = epoch % pl->nminer;
    for (int m = 0; m < pl->nminer; m++) out[m] = m == best ? 65535 : 8000;
    break;
  }
  case LATE: { /* miner 0 is best, then from epoch 10 miner 1; late validators see it at late_until */
    int switched = epoch >= (late ? pl->late_until : 10);
    out[0] = switched ? 8000 : 65535;
    out[1] = switched ? 65535 : 8000;
    out[2] = 8000;
    break;
  }
  default: /* fixed quality; in CABAL the last miner is the cabal's and worth nothing */
    out[0] = 65535;
    out[1] = 32768;
    if (pl->nminer > 2) out[2] = pl->scenario == CABAL ? 0 : 10923;
    break;
  }
}

static void weights_payload(ag_buf *b, const uint16_t *uids, const uint16_t *ws, uint16_t n, const uint8_t *salt) {
  ag_payload_weights(b, 1, 0, uids, ws, n, salt);
}

/* Sets (or commits) validator v's weights over miners (uids nval..). */
static void act(world *w, const plan *pl, int v, const uint16_t *uids, const uint16_t *ws, uint16_t n) {
  ag_buf b;
  ag_buf_init(&b);
  if (!pl->cr) {
    weights_payload(&b, uids, ws, n, NULL);
    queue(w, &w->vhk[v], AG_TX_SET_WEIGHTS, &b);
  } else {
    uint8_t h[32];
    randombytes_buf(w->salt[v], 32);
    ag_weights_commit_hash(w->vhk[v].pk, 1, 0, uids, ws, n, w->salt[v], h);
    ag_buf_put_u16le(&b, 1);
    ag_buf_put(&b, h, 32);
    queue(w, &w->vhk[v], AG_TX_COMMIT_WEIGHTS, &b);
    memcpy(w->cu[v], uids, n * sizeof *uids);
    memcpy(w->cw[v], ws, n * sizeof *ws);
    w->cn[v] = n;
    w->has_commit[v] = 1;
  }
  ag_buf_free(&b);
}

static void reveal_all(world *w, const plan *pl) {
  for (int v = 0; v < pl->nval; v++) {
    if (!w->has_commit[v]) continue;
    ag_buf b;
    ag_buf_init(&b);
    weights_payload(&b, w->cu[v], w->cw[v], w->cn[v], w->salt[v]);
    queue(w, &w->vhk[v], AG_TX_REVEAL_WEIGHTS, &b);
    ag_buf_free(&b);
    w->has_commit[v] = 0;
  }
}

static int setup(world *w, const plan *pl, ag_scenario_result *out) {
  const char *base = getenv("TMPDIR");
  char tmpl[512];
  snprintf(tmpl, sizeof tmpl, "%s/agora-sim-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpl)) return ag_fail(AG_E_IO, "cannot create a temporary folder");
  w->dir = ag_xstrdup(tmpl);
  int rc = ag_app_open(w->dir, &w->app);
  if (rc) return rc;
  ag_incentive_attach(w->app);
  key_of(&w->owner, 1);
  for (int v = 0; v < pl->nval; v++) {
    key_of(&w->vck[v], 100 + v);
    key_of(&w->vhk[v], 200 + v);
  }
  for (int m = 0; m < pl->nminer; m++) {
    key_of(&w->mck[m], 300 + m);
    key_of(&w->mhk[m], 400 + m);
  }
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.naccounts = 1 + (size_t)pl->nval + (size_t)pl->nminer;
  g.accounts = ag_xcalloc(g.naccounts, sizeof *g.accounts);
  size_t a = 0;
  memcpy(g.accounts[a].pk, w->owner.pk, 32);
  g.accounts[a++].balance = 1000 * AG_UNIT;
  for (int v = 0; v < pl->nval; v++) {
    memcpy(g.accounts[a].pk, w->vck[v].pk, 32);
    g.accounts[a++].balance = 20000 * AG_UNIT;
  }
  for (int m = 0; m < pl->nminer; m++) {
    memcpy(g.accounts[a].pk, w->mck[m].pk, 32);
    g.accounts[a++].balance = 1000 * AG_UNIT;
  }
  char owner[AG_ADDR_MAX], mods[1024];
  ag_addr_encode(w->owner.pk, owner);
  snprintf(mods, sizeof mods,
           "{\"incentive\":{\"block_reward\":\"1000000000\",\"subnets\":[{\"name\":\"sim\",\"owner\":\"%s\","
           "\"hyperparams\":{\"tempo\":%d,\"commit_reveal\":%d,\"weights_rate_limit\":1,"
           "\"activity_cutoff\":100000,\"immunity_period\":100000,\"max_validators\":%d,"
           "\"max_uids\":%d}}]}}",
           owner, TEMPO, pl->cr, pl->nval, pl->nval + pl->nminer);
  g.modules = ag_xstrdup(mods);
  ag_genesis_rehash(&g);
  uint8_t h[32];
  rc = ag_app_init_chain(w->app, &g, h);
  ag_genesis_free(&g);
  if (rc) return rc;
  /* register validators first (uids 0..nval-1), then miners */
  for (int i = 0; i < pl->nval + pl->nminer && !rc; i++) {
    int isv = i < pl->nval;
    ag_keypair *ck = isv ? &w->vck[i] : &w->mck[i - pl->nval], *hk = isv ? &w->vhk[i] : &w->mhk[i - pl->nval];
    ag_buf b;
    ag_buf_init(&b);
    ag_payload_register(&b, CHAIN, 1, ck->pk, hk, 1000 * AG_UNIT);
    queue(w, ck, AG_TX_REGISTER, &b);
    ag_buf_free(&b);
    rc = step(w);
  }
  /* the hotkeys pay their own tx fees */
  for (int v = 0; v < pl->nval && !rc; v++) {
    ag_buf b;
    ag_buf_init(&b);
    ag_transfer_encode(&b, w->vhk[v].pk, 10 * AG_UNIT);
    queue(w, &w->vck[v], AG_TX_TRANSFER, &b);
    ag_buf_reset(&b);
    out->vstake[v] = (uint64_t)pl->stake_pct[v] * 100 * AG_UNIT;
    ag_buf_put(&b, w->vhk[v].pk, 32);
    ag_buf_put_u64le(&b, out->vstake[v]);
    queue(w, &w->vck[v], AG_TX_STAKE_ADD, &b);
    ag_buf_free(&b);
  }
  if (!rc) rc = step(w);
  if (!rc) rc = until_epoch(w); /* permits by stake */
  return rc;
}

static void record(world *w, const plan *pl, int e, ag_scenario_result *out) {
  ag_ist s = {ag_app_state(w->app), NULL};
  for (int v = 0; v < pl->nval; v++) {
    ag_neuron nr;
    if (ag_neuron_load(&s, 1, (uint16_t)v, &nr)) continue;
    out->dividends[e][v] = nr.dividends;
    out->vtrust[e][v] = nr.vtrust;
    out->val_emission[e][v] = nr.validator_emission;
  }
  for (int m = 0; m < pl->nminer; m++) {
    ag_neuron nr;
    if (ag_neuron_load(&s, 1, (uint16_t)(pl->nval + m), &nr)) continue;
    out->incentive[e][m] = nr.incentive;
    out->miner_emission[e][m] = nr.server_emission;
  }
}

static int make_plan(const char *name, plan *pl, ag_scenario_result *out) {
  memset(pl, 0, sizeof *pl);
  pl->nminer = 3;
  pl->epochs = 20;
  const char *vl[AG_SCN_MAX_V] = {0};
  if (!strcmp(name, "honest")) {
    pl->scenario = HONEST;
    pl->nval = 3;
    uint16_t s[] = {50, 30, 20};
    memcpy(pl->stake_pct, s, sizeof s);
    pl->cr = 0;
  } else if (!strcmp(name, "copier")) {
    pl->scenario = COPIER;
    pl->nval = 4;
    uint16_t s[] = {40, 30, 15, 15};
    memcpy(pl->stake_pct, s, sizeof s);
    pl->kind[3] = COPIER;
    pl->cr = 1;
  } else if (!strcmp(name, "cabal")) {
    pl->scenario = CABAL;
    pl->nval = 4;
    uint16_t s[] = {40, 35, 13, 12};
    memcpy(pl->stake_pct, s, sizeof s);
    pl->kind[2] = pl->kind[3] = CABAL;
    pl->cr = 0;
  } else if (!strcmp(name, "late")) {
    pl->scenario = LATE;
    pl->nval = 3;
    uint16_t s[] = {80, 10, 10};
    memcpy(pl->stake_pct, s, sizeof s);
    pl->kind[0] = LATE;
    pl->late_until = 15;
    pl->epochs = 25;
    pl->cr = 0;
  } else {
    return ag_fail(AG_E_INVALID, "unknown scenario '%s' (honest, copier, cabal, late)", name);
  }
  for (int v = 0; v < pl->nval; v++) {
    vl[v] = pl->kind[v] == COPIER ? "copier" : pl->kind[v] == CABAL ? "cabal" : pl->kind[v] == LATE ? "late" : "honest";
    snprintf(out->vname[v], sizeof out->vname[v], "V%d %s %u%%", v, vl[v], pl->stake_pct[v]);
  }
  for (int m = 0; m < pl->nminer; m++)
    snprintf(out->mname[m], sizeof out->mname[m], "M%d%s", m, pl->scenario == CABAL && m == 2 ? " cabal" : "");
  return 0;
}

int ag_scenario_run(const char *name, int commit_reveal, int epochs, ag_scenario_result *out) {
  memset(out, 0, sizeof *out);
  plan pl;
  int rc = make_plan(name, &pl, out);
  if (rc) return rc;
  if (commit_reveal >= 0) pl.cr = commit_reveal;
  if (epochs > 0) pl.epochs = epochs < AG_SCN_MAX_EPOCHS ? epochs : AG_SCN_MAX_EPOCHS;
  snprintf(out->name, sizeof out->name, "%s", name);
  out->commit_reveal = pl.cr;
  out->nval = pl.nval;
  out->nminer = pl.nminer;
  out->epochs = pl.epochs;
  world *w = ag_xcalloc(1, sizeof *w);
  rc = setup(w, &pl, out);
  uint16_t uids[AG_SCN_MAX_M], ws[AG_SCN_MAX_M];
  for (int m = 0; m < pl.nminer; m++) uids[m] = (uint16_t)(pl.nval + m);
  for (int e = 0; !rc && e < pl.epochs; e++) {
    /* first block of the epoch: reveals of last epoch's commits */
    if (pl.cr) {
      reveal_all(w, &pl);
      if ((rc = step(w))) break;
    }
    /* second block: honest, late and cabal validators act */
    for (int v = 0; v < pl.nval; v++) {
      if (pl.kind[v] == COPIER) continue;
      if (pl.kind[v] == CABAL) {
        uint16_t cu[1] = {(uint16_t)(pl.nval + pl.nminer - 1)}, cw[1] = {65535};
        act(w, &pl, v, cu, cw, 1);
        continue;
      }
      truth(&pl, e, pl.kind[v] == LATE, ws);
      act(w, &pl, v, uids, ws, (uint16_t)pl.nminer);
    }
    if ((rc = step(w))) break;
    /* third block: the copier takes what the chain shows of the largest validator's weights */
    for (int v = 0; v < pl.nval; v++) {
      if (pl.kind[v] != COPIER) continue;
      ag_ist s = {ag_app_state(w->app), NULL};
      ag_yuma_entry *row;
      uint32_t len;
      if ((rc = ag_weights_load(&s, 1, 0, &row, &len))) break;
      uint16_t cu[AG_SCN_MAX_M], cw[AG_SCN_MAX_M];
      uint16_t n = 0;
      for (uint32_t i = 0; i < len && n < AG_SCN_MAX_M; i++) {
        cu[n] = row[i].uid;
        cw[n++] = row[i].value;
      }
      free(row);
      if (n) act(w, &pl, v, cu, cw, n);
    }
    if (!rc) rc = step(w);
    if (!rc) rc = until_epoch(w);
    if (!rc) record(w, &pl, e, out);
  }
  for (int i = 0; i < w->npending; i++) ag_buf_free(&w->pending[i]);
  ag_app_close(w->app);
  if (w->dir) {
    (void)ag_rm_tree(w->dir); /* a leftover temp folder is harmless */
    free(w->dir);
  }
  free(w);
  return rc;
}

double ag_scenario_yield(const ag_scenario_result *r, int v, int from, int to) {
  double sum = 0;
  for (int e = from; e < to && e < r->epochs; e++) sum += (double)r->val_emission[e][v];
  return r->vstake[v] ? sum / (double)r->vstake[v] : 0;
}
