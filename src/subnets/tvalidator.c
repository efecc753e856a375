/* tvalidator.c — the training-subnet validator (tvalidator.h). */
#include "subnets/tvalidator.h"

#include "api/http.h"
#include "api/models.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "incentive/training.h"
#include "subnets/diloco.h"
#include "subnets/neuron.h"
#include "subnets/tround.h"
#include "subnets/weights.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint16_t uid;
  ag_buf blob;
  ag_sparse sp;     /* its values, for the similarity checks */
  int code;         /* why it was refused (0 = usable) */
  char why[160];
  ag_dscore s;
  int chosen;
  double similar;   /* the highest cosine with an earlier or an older submission */
  double overlap;   /* the highest share of its positions in an earlier or an older one */
} entry;

typedef struct {
  ag_validator_config cfg;
  ag_net net;
  ag_keypair hotkey;
  char addr[AG_ADDR_MAX];
  int uid, permit;
  uint64_t last_update, reg_block;
  ag_wsetter ws;
  ag_model *ckpt;
  float *mom;
  ag_diloco_data data;
  int have_data;
  uint64_t done_round; /* UINT64_MAX: none */
  double *ema;         /* per uid */
  int n;
  json_t *last;        /* the last round's report */
  uint64_t proposals, rounds_scored;
  /* Weights run in their own thread (weights_thread), so that scoring a round, which can
   * outlast an epoch, never makes a reveal miss the one epoch it is allowed in. mu guards what
   * both threads touch: uid, permit, last_update, reg_block, ema, n and the two below. */
  pthread_mutex_t mu;
  volatile int *stop;
  uint64_t weights_sets;
  char last_weights[sizeof ((ag_wsetter *)0)->last_weights];
} tval;

static void refresh_me(tval *v) {
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", v->cfg.netuid);
  json_t *mg;
  if (ag_net_get(&v->net, path, &mg)) return;
  json_t *uids = json_object_get(mg, "uids");
  /* a subnet has at most AG_MAX_UIDS: rows past them are a node's lie, not uids to score */
  size_t n = json_array_size(uids) < AG_MAX_UIDS ? json_array_size(uids) : AG_MAX_UIDS;
  pthread_mutex_lock(&v->mu);
  if ((int)n > v->n) {
    v->ema = ag_xrealloc(v->ema, n * sizeof *v->ema);
    for (size_t i = (size_t)v->n; i < n; i++) v->ema[i] = 0;
    v->n = (int)n;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *r = json_array_get(uids, i);
    if (strcmp(json_string_value(json_object_get(r, "hotkey")) ? json_string_value(json_object_get(r, "hotkey")) : "", v->addr))
      continue;
    json_int_t uid = json_integer_value(json_object_get(r, "uid"));
    if (uid < 0 || uid >= (json_int_t)n) continue;
    v->uid = (int)uid;
    v->permit = json_is_true(json_object_get(r, "validator_permit"));
    v->last_update = (uint64_t)json_integer_value(json_object_get(r, "last_update"));
    v->reg_block = (uint64_t)json_integer_value(json_object_get(r, "registered_block"));
  }
  pthread_mutex_unlock(&v->mu);
  json_decref(mg);
}

/* Every second, beside the scoring: its own row of the metagraph, then weights from a copy of
 * the scores (the wsetter's txs wait for their blocks; scoring must not wait for them). */
static void *weights_thread(void *arg) {
  tval *v = arg;
  while (!*v->stop) {
    refresh_me(v);
    pthread_mutex_lock(&v->mu);
    int uid = v->uid, permit = v->permit, n = v->n;
    uint64_t lu = v->last_update, rb = v->reg_block;
    double *ema = ag_xmalloc(((size_t)n + 1) * sizeof *ema);
    if (n) memcpy(ema, v->ema, (size_t)n * sizeof *ema);
    pthread_mutex_unlock(&v->mu);
    if (ag_wsetter_poll(&v->ws) >= 0) ag_wsetter_set(&v->ws, uid, permit, lu, rb, ema, n);
    free(ema);
    pthread_mutex_lock(&v->mu);
    v->weights_sets = v->ws.weights_sets;
    memcpy(v->last_weights, v->ws.last_weights, sizeof v->last_weights);
    pthread_mutex_unlock(&v->mu);
    for (int i = 0; i < 10 && !*v->stop; i++) ag_sleep_ms(100);
  }
  return NULL;
}

static int ensure_checkpoint(tval *v, const ag_tround *r) {
  if (v->ckpt && !memcmp(v->ckpt->id, r->model, 32)) return 0;
  ag_model *m;
  float *mom;
  int rc = ag_tround_checkpoint(&v->net, r, v->cfg.model_dir, r->model,
                                r->have_file_hash ? r->file_hash : NULL, &m, &mom);
  if (rc) return rc;
  if (m->wtype != AG_DT_F32) {
    ag_model_close(m);
    free(mom);
    return ag_fail(AG_E_MODEL_TYPE, "a training checkpoint holds fp32 weights");
  }
  if (v->ckpt) {
    ag_tround_forget(v->cfg.model_dir, v->ckpt->id);
    ag_model_close(v->ckpt);
  }
  free(v->mom);
  v->ckpt = m;
  v->mom = mom;
  if (!v->have_data) {
    if ((rc = ag_diloco_data_load(m, &v->data))) return rc;
    v->have_data = 1;
  }
  return 0;
}

/* The hash of the block that closed the submissions: the random shard's key. */
static int closing_hash(tval *v, uint64_t height, uint8_t out[32]) {
  char path[64];
  snprintf(path, sizeof path, "/v1/blocks/%llu", (unsigned long long)height);
  json_t *b;
  int rc = ag_net_get(&v->net, path, &b);
  if (rc) return rc;
  const char *h = json_string_value(json_object_get(b, "hash"));
  if (!h) h = json_string_value(json_object_get(json_object_get(b, "header"), "hash"));
  if (!h || strlen(h) != 64 || ag_hex_decode(h, 64, out, 32))
    rc = ag_fail(AG_E_INVALID, "block %llu has no hash in the node's answer", (unsigned long long)height);
  json_decref(b);
  return rc;
}

static void h_model_file(ag_http_req *req, ag_http_resp *resp) {
  tval *v = req->ctx;
  ag_neuron_model_file(req, resp, v->cfg.model_dir);
}

static const ag_http_route routes[] = {
    {"GET", "/health", ag_neuron_health, 0},
    {"GET", "/agora/model-files/", h_model_file, 0},
};

static int by_score(const void *a, const void *b) {
  const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
  if (x->s.score != y->s.score) return x->s.score > y->s.score ? -1 : 1;
  return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void report(tval *v, const ag_tround *r, entry *e, int n, const uint8_t *id, int code) {
  json_t *o = json_object(), *a = json_array();
  char hex[65];
  json_object_set_new(o, "round", json_integer((json_int_t)r->round));
  ag_hex_encode(r->model, 32, hex);
  json_object_set_new(o, "base", json_string(hex));
  if (id) {
    ag_hex_encode(id, 32, hex);
    json_object_set_new(o, "proposed", json_string(hex));
  } else {
    json_object_set_new(o, "proposed", json_null());
  }
  json_object_set_new(o, "result", json_string(code ? ag_errmsg(code) : "ok"));
  for (int i = 0; i < n; i++) {
    json_t *x = json_object();
    json_object_set_new(x, "uid", json_integer(e[i].uid));
    json_object_set_new(x, "own_gain", json_real(e[i].s.own_gain));
    json_object_set_new(x, "random_gain", json_real(e[i].s.rnd_gain));
    json_object_set_new(x, "score", json_integer((json_int_t)e[i].s.score));
    json_object_set_new(x, "aggregated", json_boolean(e[i].chosen));
    json_object_set_new(x, "similarity", json_real(e[i].similar));
    json_object_set_new(x, "overlap", json_real(e[i].overlap));
    json_object_set_new(x, "why", json_string(e[i].why));
    json_array_append_new(a, x);
  }
  json_object_set_new(o, "submissions", a);
  json_decref(v->last);
  v->last = o;
}

static void score_round(tval *v, const ag_tround *r, volatile int *stop) {
  double t0 = ag_mono_s();
  int rc = ensure_checkpoint(v, r);
  entry *e = ag_xcalloc((size_t)r->nsubs + 1, sizeof *e);
  ag_dscorer *sc = NULL;
  uint8_t bh[32], id[32], fh[32];
  int proposed = 0;
  size_t np = 0;
  if (!rc) rc = closing_hash(v, r->submit_until, bh);
  if (!rc) {
    ag_model_params(v->ckpt, &np);
    rc = ag_dscorer_open(v->ckpt, v->cfg.threads, &sc);
  }
  ag_pgrad_hdr h = {.netuid = v->cfg.netuid, .chunk = AG_PGRAD_CHUNK, .k = (uint32_t)r->k, .round = r->round, .n = np};
  memcpy(h.base, r->model, 32);
  size_t window = r->window < v->data.ntrain ? (size_t)r->window : v->data.ntrain;
  ag_tokens rnd = {0};
  uint64_t eval_seed = ag_get_u64le(bh);
  double rnd_before = 0;
  if (!rc) {
    rnd = (ag_tokens){v->data.train + ag_diloco_random_shard(&v->data, v->cfg.netuid, r->round, bh, window), window};
    rc = ag_dscorer_base_loss(sc, &rnd, eval_seed, &rnd_before);
  }
  /* what a stale copy or a blend would be made of: the blobs revealed in the round before, and
   * their sum (named by the chain's record of that round, so every validator compares alike) */
  ag_sparse *prev = ag_xcalloc((size_t)r->nprev + 1, sizeof *prev), prev_sum = {0};
  int nprev = 0;
  for (int i = 0; !rc && i < r->nprev && !*stop && r->prev_round + 1 == r->round; i++) {
    ag_buf b;
    ag_buf_init(&b);
    if (ag_tround_blob(&v->net, r->prev[i].blob, r->prev[i].size, "", &b) == 0 &&
        ag_pgrad_sparse(b.data, b.len, NULL, &prev[nprev]) == 0) {
      ag_sparse sum;
      ag_sparse_add(&prev_sum, &prev[nprev], &sum);
      ag_sparse_free(&prev_sum);
      prev_sum = sum;
      nprev++;
    }
    ag_buf_free(&b);
  }
  /* fetch and check every revealed submission; a blob not yet uploaded gets a few seconds */
  for (int i = 0; !rc && i < r->nsubs && !*stop; i++) {
    entry *x = &e[i];
    x->uid = r->subs[i].uid;
    ag_buf_init(&x->blob);
    if (!r->subs[i].revealed) {
      x->code = AG_E_TRAIN_REVEAL;
      snprintf(x->why, sizeof x->why, "refused: committed but never revealed");
      continue;
    }
    int frc = AG_E_NOTFOUND;
    for (int tries = 0; tries < 10 && frc == AG_E_NOTFOUND && !*stop; tries++) {
      frc = ag_tround_blob(&v->net, r->subs[i].blob, r->subs[i].size, r->subs[i].peer, &x->blob);
      if (frc == AG_E_NOTFOUND) ag_sleep_ms(300);
    }
    if (!frc) frc = ag_pgrad_check(x->blob.data, x->blob.len, &h, (size_t)r->model_size, NULL);
    if (!frc) frc = ag_pgrad_sparse(x->blob.data, x->blob.len, &h, &x->sp);
    x->code = frc;
    if (frc) {
      snprintf(x->why, sizeof x->why, "refused: %s", frc == AG_E_NOTFOUND ? "nobody serves the blob" : ag_errmsg(frc));
      continue;
    }
    /* the same work twice: an earlier submission of this round with the same positions or the
     * same values (commitments make copying this round's blobs impossible; two hotkeys of one
     * owner can still send one blob twice) */
    for (int j = 0; j < i && !x->code; j++) {
      if (!e[j].sp.n) continue;
      double ov = ag_sparse_overlap(&x->sp, &e[j].sp), cs = ag_sparse_cosine(&x->sp, &e[j].sp);
      if (cs > x->similar) x->similar = cs;
      if (ov > x->overlap) x->overlap = ov;
      if (ov >= AG_DILOCO_COPY_OVERLAP || cs >= AG_DILOCO_COPY_COSINE) {
        x->code = AG_E_TRAIN_DUPLICATE;
        snprintf(x->why, sizeof x->why, "copy: %.0f%% of its entries and cosine %.2f with uid %u's, submitted earlier",
                 ov * 100, cs, e[j].uid);
      }
    }
    /* old work passed off as new: one of the previous round's blobs, or their blend */
    for (int j = 0; j <= nprev && !x->code && nprev; j++) {
      const ag_sparse *o = j < nprev ? &prev[j] : &prev_sum;
      double ov = ag_sparse_overlap(&x->sp, o), cs = ag_sparse_cosine(&x->sp, o);
      if (cs > x->similar) x->similar = cs;
      if (ov > x->overlap) x->overlap = ov;
      if (ov >= AG_DILOCO_COPY_OVERLAP || cs >= AG_DILOCO_COPY_COSINE) {
        x->code = AG_E_TRAIN_DUPLICATE;
        snprintf(x->why, sizeof x->why, "old work: %.0f%% of its entries and cosine %.2f with %s of round %llu",
                 ov * 100, cs, j < nprev ? "a blob" : "the sum of the blobs", (unsigned long long)(r->round - 1));
      }
    }
    if (x->code) continue;
    size_t off = ag_diloco_shard(&v->data, v->cfg.netuid, r->round, r->subs[i].hotkey, window);
    ag_tokens own = {v->data.train + off, window};
    x->s.rnd_before = rnd_before;
    int src = ag_dscorer_base_loss(sc, &own, eval_seed, &x->s.own_before);
    if (!src) src = ag_dscorer_score(sc, x->blob.data, x->blob.len, &h, &own, &rnd, eval_seed, &x->s);
    if (src) {
      x->code = src;
      snprintf(x->why, sizeof x->why, "refused: %s", ag_errmsg(src));
    } else if (!x->s.score) {
      snprintf(x->why, sizeof x->why, "no training signal (own %+.4f, random %+.4f)", x->s.own_gain, x->s.rnd_gain);
    } else {
      snprintf(x->why, sizeof x->why, "own %+.4f, random %+.4f", x->s.own_gain, x->s.rnd_gain);
    }
  }
  for (int i = 0; i < nprev; i++) ag_sparse_free(&prev[i]);
  free(prev);
  ag_sparse_free(&prev_sum);
  /* the best train_top, aggregated in uid order */
  entry **rank = ag_xcalloc((size_t)r->nsubs + 1, sizeof *rank);
  int nr = 0;
  for (int i = 0; i < r->nsubs; i++)
    if (!e[i].code && e[i].s.score) rank[nr++] = &e[i];
  qsort(rank, (size_t)nr, sizeof *rank, by_score);
  if ((uint64_t)nr > r->top) nr = (int)r->top;
  for (int i = 0; i < nr; i++) rank[i]->chosen = 1;
  const uint8_t **bp = ag_xcalloc((size_t)nr + 1, sizeof *bp);
  size_t *bl = ag_xcalloc((size_t)nr + 1, sizeof *bl);
  uint16_t *uids = ag_xcalloc((size_t)nr + 1, sizeof *uids);
  uint64_t *scores = ag_xcalloc((size_t)nr + 1, sizeof *scores);
  int m = 0;
  for (int i = 0; i < r->nsubs; i++) /* subs are in submission order; sort by uid */
    if (e[i].chosen) {
      int at = m++;
      while (at > 0 && uids[at - 1] > e[i].uid) {
        uids[at] = uids[at - 1], scores[at] = scores[at - 1], bp[at] = bp[at - 1], bl[at] = bl[at - 1];
        at--;
      }
      uids[at] = e[i].uid, scores[at] = e[i].s.score, bp[at] = e[i].blob.data, bl[at] = e[i].blob.len;
    }
  ag_buf file;
  ag_buf_init(&file);
  uint64_t size = r->model_size;
  if (!rc && !*stop) {
    if (m) {
      rc = ag_diloco_aggregate(v->ckpt, v->mom, bp, bl, m, &h, (float)r->outer_lr_ppm / 1e6f,
                               (float)r->momentum_ppm / 1e6f, &file, id, fh);
      size = file.len;
    } else { /* nothing worth a step: keep the checkpoint (the round ends early) */
      memcpy(id, r->model, 32);
      if (r->have_file_hash) memcpy(fh, r->file_hash, 32);
      else {
        char path[1200];
        uint8_t *data;
        size_t len;
        ag_models_path(v->cfg.model_dir, r->model, path, sizeof path);
        if (!(rc = ag_read_file(path, (size_t)1 << 31, &data, &len))) {
          ag_hash(AG_BLOB_DOMAIN, data, len, fh);
          free(data);
        }
      }
    }
  }
  /* the proposed checkpoint's validation loss: every honest validator computes the same bits */
  uint64_t val_loss = AG_TRAIN_LOSS_NONE;
  if (!rc && !*stop && v->data.nval) {
    ag_model *next = v->ckpt;
    double loss = 0;
    if (m) rc = ag_model_load_mem(file.data, file.len, &next, NULL);
    if (!rc) rc = ag_diloco_val_loss(next, &v->data, AG_DILOCO_VAL_BATCHES, v->cfg.threads, &loss);
    if (!rc && isfinite(loss) && loss >= 0 && loss < 1e12) val_loss = (uint64_t)(loss * 1e6);
    if (m && next != v->ckpt) ag_model_close(next);
  }
  if (!rc && !*stop) {
    ag_buf p;
    ag_buf_init(&p);
    ag_payload_train_propose(&p, v->cfg.netuid, r->round, r->model, id, size, fh, val_loss, uids, scores,
                             (uint16_t)m);
    rc = ag_submit_expect(&v->net, &v->hotkey, AG_TX_TRAIN_PROPOSE, &p, "train_propose", "validator", AG_E_TRAIN_ROUND);
    ag_buf_free(&p);
    int late = rc == AG_E_TRAIN_ROUND; /* the round ended first (final, or out of time); the scores still count */
    if (late) {
      ag_info("validator", "round %llu: ended before this proposal arrived (made final by the others, or out of time)",
              (unsigned long long)r->round);
      rc = 0;
      ag_err_clear();
    }
    if (!rc && !late) {
      proposed = 1;
      v->proposals++;
      if (m) { /* to the node, and kept here for peers whose node lacks it */
        uint8_t got[32];
        int src = ag_models_store(v->cfg.model_dir, file.data, file.len, id, got);
        if (src) ag_warn("validator", "cannot keep the checkpoint: %s", ag_errmsg(src));
        rc = ag_tround_upload(&v->net, "model-files", id, file.data, file.len);
      }
    }
  }
  /* scores into the weights' moving average: the round's best = 1 */
  uint64_t best = 0;
  for (int i = 0; i < r->nsubs; i++)
    if (!e[i].code && e[i].s.score > best) best = e[i].s.score;
  pthread_mutex_lock(&v->mu);
  for (int u = 0; u < v->n; u++) {
    double sample = 0;
    for (int i = 0; i < r->nsubs; i++)
      if (e[i].uid == u && !e[i].code && best) sample = (double)e[i].s.score / (double)best;
    v->ema[u] = 0.7 * v->ema[u] + 0.3 * sample;
  }
  pthread_mutex_unlock(&v->mu);
  v->rounds_scored++;
  report(v, r, e, r->nsubs, proposed ? id : NULL, rc);
  char hex[17];
  ag_hex_encode(id, 8, hex);
  if (rc) ag_warn("validator", "round %llu: %s", (unsigned long long)r->round, ag_errmsg(rc));
  else
    ag_info("validator", "round %llu: %d submission(s), %d aggregated, %s %s… in %.1f s",
            (unsigned long long)r->round, r->nsubs, m, proposed ? "proposed" : "computed", hex, ag_mono_s() - t0);
  ag_buf_free(&file);
  free(bp);
  free(bl);
  free(uids);
  free(scores);
  free(rank);
  for (int i = 0; i < r->nsubs; i++) {
    ag_buf_free(&e[i].blob);
    ag_sparse_free(&e[i].sp);
  }
  free(e);
  ag_dscorer_close(sc);
}

static void write_status(tval *v, const ag_tround *r) {
  if (!v->cfg.status_path[0]) return;
  pthread_mutex_lock(&v->mu);
  json_t *o = json_object(), *sc = json_array();
  json_object_set_new(o, "role", json_string("validator"));
  json_object_set_new(o, "kind", json_string("training"));
  json_object_set_new(o, "netuid", json_integer(v->cfg.netuid));
  json_object_set_new(o, "hotkey", json_string(v->addr));
  json_object_set_new(o, "uid", v->uid >= 0 ? json_integer(v->uid) : json_null());
  json_object_set_new(o, "validator_permit", json_boolean(v->permit));
  json_object_set_new(o, "height", json_integer((json_int_t)r->height));
  json_object_set_new(o, "round", json_integer((json_int_t)r->round));
  json_object_set_new(o, "proposals", json_integer((json_int_t)v->proposals));
  json_object_set_new(o, "weights_sets", json_integer((json_int_t)v->weights_sets));
  json_object_set_new(o, "last_weights", json_string(v->last_weights));
  for (int i = 0; i < v->n; i++) {
    json_t *x = json_object();
    json_object_set_new(x, "uid", json_integer(i));
    json_object_set_new(x, "score", json_real(v->ema[i]));
    json_array_append_new(sc, x);
  }
  json_object_set_new(o, "scores", sc);
  json_object_set_new(o, "last_round", v->last ? json_incref(v->last) : json_null());
  pthread_mutex_unlock(&v->mu);
  ag_json_write_file(v->cfg.status_path, o);
}

int ag_tvalidator_run(const ag_validator_config *cfg, volatile int *stop) {
  ag_crypto_init();
  tval *v = ag_xcalloc(1, sizeof *v);
  v->cfg = *cfg;
  v->uid = -1;
  v->done_round = UINT64_MAX;
  v->stop = stop;
  pthread_mutex_init(&v->mu, NULL);
  pthread_t wt;
  int wt_started = 0;
  ag_http_server *srv = NULL;
  if (!v->cfg.model_dir[0]) snprintf(v->cfg.model_dir, sizeof v->cfg.model_dir, "%s/models", cfg->home);
  if (v->cfg.threads < 1) v->cfg.threads = 1;
  int rc = ag_neuron_connect(&v->net, cfg->home, cfg->node_url, stop);
  if (rc) goto out;
  if ((rc = ag_neuron_key(cfg->home, cfg->hotkey, v->net.chain_id, &v->hotkey))) goto out;
  ag_addr_encode(v->hotkey.pk, v->addr);
  ag_wsetter_init(&v->ws, &v->net, &v->hotkey, cfg->netuid, "validator");
  ag_wsetter_keep_reveals(&v->ws, cfg->home, cfg->hotkey);
  if ((rc = ag_neuron_register(&v->net, cfg->netuid, &v->hotkey, cfg->home, cfg->coldkey, &v->uid))) goto out;
  char pub[160];
  if ((rc = ag_neuron_listen(&v->net, cfg->netuid, &v->hotkey, cfg->listen, cfg->announce_host, routes,
                             AG_ARRAY_LEN(routes), v, &srv, &v->uid, pub)))
    goto out;
  ag_info("validator", "validating training subnet %u as %s; peers fetch its checkpoints at %s", cfg->netuid,
          v->addr, pub);
  refresh_me(v);
  wt_started = pthread_create(&wt, NULL, weights_thread, v) == 0;
  if (!wt_started) {
    rc = ag_fail(AG_E_INTERNAL, "cannot start the weights thread");
    goto out;
  }
  while (!*stop) {
    ag_tround r;
    int grc = ag_tround_get(&v->net, cfg->netuid, &r);
    if (grc) {
      ag_warn("validator", "cannot read the round: %s", ag_errmsg(grc));
      ag_sleep_ms(1000);
      continue;
    }
    int mine = 0;
    for (int i = 0; i < r.nprops; i++) mine |= !memcmp(r.proposers[i], v->hotkey.pk, 32);
    pthread_mutex_lock(&v->mu);
    int permit = v->permit;
    pthread_mutex_unlock(&v->mu);
    if (permit && !mine && r.round != v->done_round && r.height >= r.reveal_until &&
        r.height < r.round_end) {
      ag_tround_peers(&v->net, cfg->netuid, &r); /* where to look when the node lacks a blob */
      score_round(v, &r, stop);
      v->done_round = r.round;
    }
    write_status(v, &r);
    ag_tround_free(&r);
    uint64_t t0 = ag_mono_ms();
    while (!*stop && ag_mono_ms() < t0 + (uint64_t)(cfg->interval_ms > 0 ? cfg->interval_ms : 300)) ag_sleep_ms(50);
  }
out:
  if (rc) ag_error("validator", "%s", ag_errmsg(rc));
  if (wt_started) pthread_join(wt, NULL); /* it ends with *stop, as the loop above */
  ag_http_stop(srv);
  ag_wsetter_free(&v->ws);
  ag_model_close(v->ckpt);
  free(v->mom);
  free(v->ema);
  json_decref(v->last);
  ag_diloco_data_free(&v->data);
  ag_key_wipe(&v->hotkey);
  pthread_mutex_destroy(&v->mu);
  free(v);
  return rc;
}
