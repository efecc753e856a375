/* tminer.c — a training-subnet trainer (tminer.h). */
#include "subnets/tminer.h"

#include "api/http.h"
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
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  ag_tminer_config cfg;
  ag_net net;
  ag_keypair hotkey;
  char addr[AG_ADDR_MAX];
  int uid;
  ag_model *ckpt;
  int ckpt_tries;      /* fetches of the next checkpoint that failed */
  ag_diloco_data data;
  int have_data;
  ag_dworker *worker;
  uint64_t done_round; /* UINT64_MAX: none */
  pthread_mutex_t mu;  /* blob and blob_hash, which the HTTP threads serve */
  ag_buf blob;         /* this round's, kept until it is announced and uploaded */
  uint8_t blob_hash[32];
  uint64_t blob_round; /* UINT64_MAX: none */
  int blob_state;      /* 0 made, 1 committed, 2 revealed (peers may have it now), 3 uploaded */
  double blob_ratio;
  uint64_t submitted, failed;
  double last_loss, last_seconds;
  size_t last_bytes;
  char last_what[200];
  /* the block interval, measured from the heights it sees: when the commit window closes */
  uint64_t clock_h;     /* a height seen, and when (0: none yet) */
  double clock_t, block_s;
  double round_seen_t;  /* when the round being worked on was read */
  double encode_s;      /* how long the last commitment took to send */
} trainer;

/* Follows the chain's pace: the mean interval over the blocks since a height it saw (a new
 * origin every 64 blocks, so that a change of pace shows). */
static void clock_seen(trainer *t, uint64_t height) {
  double now = ag_mono_s();
  if (!t->clock_h || height < t->clock_h) {
    t->clock_h = height;
    t->clock_t = now;
    return;
  }
  if (height >= t->clock_h + 2) t->block_s = (now - t->clock_t) / (double)(height - t->clock_h);
  if (height >= t->clock_h + 64) {
    t->clock_h = height;
    t->clock_t = now;
  }
}

/* When the blob must be ready for its commitment to land in a block before submit_until: the
 * tx goes into the block after the latest one, so by the time height submit_until - 2 is
 * half over, less what sending took last time. 0 (no deadline) until the pace is known. */
static double commit_deadline(const trainer *t, const ag_tround *r) {
  if (t->block_s <= 0 || r->submit_until < r->height + 2) return 0;
  return t->round_seen_t + ((double)(r->submit_until - 2 - r->height) + 0.5) * t->block_s - t->encode_s;
}

void ag_tminer_config_default(ag_tminer_config *c) {
  memset(c, 0, sizeof *c);
  c->netuid = 2;
  c->threads = 1;
}

const char *ag_trainer_behaviour_name(int b) {
  return b == AG_TRAINER_FREE_RIDER    ? "free-rider"
         : b == AG_TRAINER_FRONT_RUNNER ? "front-runner"
         : b == AG_TRAINER_BLENDER      ? "blender"
                                        : "honest";
}

static void write_status(trainer *t, const ag_tround *r) {
  if (!t->cfg.status_path[0]) return;
  json_t *o = json_object();
  json_object_set_new(o, "role", json_string("trainer"));
  json_object_set_new(o, "behaviour", json_string(ag_trainer_behaviour_name(t->cfg.behaviour)));
  json_object_set_new(o, "netuid", json_integer(t->cfg.netuid));
  json_object_set_new(o, "hotkey", json_string(t->addr));
  json_object_set_new(o, "uid", json_integer(t->uid));
  json_object_set_new(o, "height", json_integer((json_int_t)r->height));
  json_object_set_new(o, "round", json_integer((json_int_t)r->round));
  json_object_set_new(o, "submitted", json_integer((json_int_t)t->submitted));
  json_object_set_new(o, "failed", json_integer((json_int_t)t->failed));
  json_object_set_new(o, "last_inner_loss", json_real(t->last_loss));
  json_object_set_new(o, "last_round_seconds", json_real(t->last_seconds));
  json_object_set_new(o, "last_blob_bytes", json_integer((json_int_t)t->last_bytes));
  json_object_set_new(o, "last", json_string(t->last_what));
  ag_json_write_file(t->cfg.status_path, o);
}

/* The canonical checkpoint of the round, loaded once per change. */
static int ensure_checkpoint(trainer *t, const ag_tround *r) {
  if (t->ckpt && !memcmp(t->ckpt->id, r->model, 32)) return 0;
  ag_model *m;
  float *mom;
  /* the node first (the validators upload it right after proposing); after a few tries, also
   * the peers (a node that never gets it, on a network of several nodes) */
  ag_tround peers = {0};
  if (t->ckpt_tries++ >= 5) ag_tround_peers(&t->net, t->cfg.netuid, &peers);
  int rc = ag_tround_checkpoint(&t->net, &peers, t->cfg.model_dir, r->model, NULL, &m, &mom);
  ag_tround_free(&peers);
  free(mom);
  if (rc) return rc;
  if (t->ckpt) {
    ag_tround_forget(t->cfg.model_dir, t->ckpt->id);
    ag_model_close(t->ckpt);
  }
  t->ckpt = m;
  t->ckpt_tries = 0;
  if (!t->have_data) {
    if ((rc = ag_diloco_data_load(m, &t->data))) return rc;
    t->have_data = 1;
  }
  return 0;
}

/* ---- what it serves to peers (a node keeps only what was uploaded to it) ------------------- */

static void h_blob(ag_http_req *req, ag_http_resp *resp) {
  trainer *t = req->ctx;
  uint8_t hash[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, hash, 32))
    return ag_http_error(resp, 400, AG_E_INVALID, "a blob hash is 64 hex digits");
  pthread_mutex_lock(&t->mu);
  /* never before the reveal: a blob seen early could be copied into someone's commitment */
  int have = t->blob.len && t->blob_state >= 2 && !memcmp(hash, t->blob_hash, 32);
  if (have) ag_buf_put(&resp->body, t->blob.data, t->blob.len);
  pthread_mutex_unlock(&t->mu);
  if (!have) return ag_http_error(resp, 404, AG_E_NOTFOUND, "this trainer does not hold that blob");
  resp->status = 200;
  snprintf(resp->content_type, sizeof resp->content_type, "application/octet-stream");
}

static void h_model_file(ag_http_req *req, ag_http_resp *resp) {
  trainer *t = req->ctx;
  ag_neuron_model_file(req, resp, t->cfg.model_dir);
}

static const ag_http_route routes[] = {
    {"GET", "/health", ag_neuron_health, 0},
    {"GET", "/agora/blobs/", h_blob, 0},
    {"GET", "/agora/model-files/", h_model_file, 0},
};

/* A blob of random values with the shape of the checkpoint. */
static int free_ride(trainer *t, const ag_pgrad_hdr *h, ag_buf *out) {
  float *e = ag_xmalloc(h->n * sizeof(float) + 4);
  uint32_t *bits = ag_xmalloc(h->n * sizeof(uint32_t) + 4);
  randombytes_buf(bits, h->n * sizeof(uint32_t));
  for (size_t i = 0; i < h->n; i++) e[i] = ((float)(bits[i] >> 8) / 16777216.0f - 0.5f) * 0.02f;
  int rc = ag_pgrad_encode(h, e, out);
  free(bits);
  free(e);
  (void)t;
  return rc;
}

/* A blob of the previous round, re-encoded for this one (its header names this round and
 * checkpoint); scale multiplies its values. */
static int rehead(const ag_pgrad_hdr *h, const ag_buf *old, float scale, ag_buf *out) {
  ag_pgrad_hdr oh;
  int rc = ag_pgrad_check(old->data, old->len, NULL, 0, &oh);
  if (!rc && oh.n != h->n) rc = ag_fail(AG_E_PG_SHAPE, "the old blob has another shape");
  float *e = rc ? NULL : ag_xcalloc(h->n, sizeof(float));
  if (!rc) rc = ag_pgrad_apply(old->data, old->len, NULL, scale, e);
  if (!rc) rc = ag_pgrad_encode(h, e, out);
  free(e);
  return rc;
}

/* The previous round's revealed blobs of other trainers, as the chain records them (what an
 * adversary can get once commitments hide the current round's), the ones that round aggregated
 * first: the best to copy. */
static int previous_blobs(trainer *t, const ag_tround *r, ag_buf *out, int max) {
  int n = 0;
  if (r->round == 0 || r->prev_round + 1 != r->round) return 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < r->nprev && n < max; i++) {
      int aggregated = 0;
      for (int k = 0; k < r->nlast; k++) aggregated |= r->last_uids[k] == r->prev[i].uid;
      if (r->prev[i].uid == t->uid || aggregated != !pass) continue;
      ag_buf_init(&out[n]);
      if (ag_tround_blob(&t->net, r->prev[i].blob, r->prev[i].size, "", &out[n]) == 0) n++;
      else ag_buf_free(&out[n]);
    }
  return n;
}

/* Front-running: watch the node and the other trainers for a blob of this round until commits
 * are about to close; what the chain shows before then are commitments, so in practice the
 * fallback is taken: another trainer's blob of the previous round, re-encoded. */
static int front_run(trainer *t, const ag_tround *r0, const ag_pgrad_hdr *h, volatile int *stop,
                     ag_buf *out) {
  int rc = AG_E_NOTFOUND;
  while (!*stop && rc) {
    ag_tround r;
    if (ag_tround_get(&t->net, t->cfg.netuid, &r)) break;
    ag_tround_peers(&t->net, t->cfg.netuid, &r);
    int closing = r.round != r0->round || r.height + 2 >= r.submit_until;
    for (int i = r.nsubs - 1; i >= 0 && rc; i--) {
      if (r.subs[i].uid == t->uid || !r.subs[i].revealed) continue; /* nothing to fetch yet */
      ag_buf b;
      ag_buf_init(&b);
      if (ag_tround_blob(&t->net, r.subs[i].blob, r.subs[i].size, r.subs[i].peer, &b) == 0) {
        if (r.round % 2 == 0) {
          ag_buf_put(out, b.data, b.len);
          rc = 0;
        } else {
          rc = rehead(h, &b, 1.5f, out);
        }
        if (!rc) snprintf(t->last_what, sizeof t->last_what, "front-ran uid %u's blob", r.subs[i].uid);
      }
      ag_buf_free(&b);
    }
    ag_tround_free(&r);
    if (!rc || closing) break;
    ag_sleep_ms(300);
  }
  if (rc) { /* too late for this round's: the previous round's, as if it were new */
    ag_buf old[1];
    if (previous_blobs(t, r0, old, 1) == 1) {
      rc = rehead(h, &old[0], r0->round % 2 ? 1.5f : 1.0f, out);
      if (!rc) snprintf(t->last_what, sizeof t->last_what, "found nothing of this round; copied a blob of round %llu",
                        (unsigned long long)(r0->round - 1));
      ag_buf_free(&old[0]);
    } else {
      rc = ag_fail(AG_E_NOTFOUND, "nothing to copy: this round's blobs are hidden behind commitments");
    }
  }
  return rc;
}

/* Blending: the sum of the previous round's blobs of other trainers, re-encoded for this round
 * (this round's are hidden until commits close). */
static int blend(trainer *t, const ag_tround *r, const ag_pgrad_hdr *h, ag_buf *out) {
  enum { MAXB = 8 };
  ag_buf old[MAXB];
  int n = previous_blobs(t, r, old, MAXB), rc = 0;
  if (n < 2) {
    for (int i = 0; i < n; i++) ag_buf_free(&old[i]);
    return ag_fail(AG_E_NOTFOUND, "fewer than two blobs of the previous round to blend");
  }
  float *e = rc ? NULL : ag_xcalloc(h->n, sizeof(float));
  for (int i = 0; !rc && i < n; i++) rc = ag_pgrad_apply(old[i].data, old[i].len, NULL, 1.0f, e);
  if (!rc) rc = ag_pgrad_encode(h, e, out);
  if (!rc) snprintf(t->last_what, sizeof t->last_what, "blended %d blobs of round %llu", n, (unsigned long long)(r->round - 1));
  free(e);
  for (int i = 0; i < n; i++) ag_buf_free(&old[i]);
  return rc;
}

/* Makes this round's blob (once: error feedback must see each round's pseudo-gradient once). */
static int make_blob(trainer *t, const ag_tround *r, volatile int *stop) {
  int rc = ensure_checkpoint(t, r);
  double deadline = commit_deadline(t, r);
  if (!rc && deadline > 0 && ag_mono_s() > deadline && t->cfg.behaviour == AG_TRAINER_HONEST)
    return ag_fail(AG_E_TRAIN_WINDOW, "loading the checkpoint and the corpus took until after round %llu's commitments "
                   "could land; training from the next round", (unsigned long long)r->round);
  size_t np = 0;
  if (!rc && t->ckpt->wtype != AG_DT_F32)
    rc = ag_fail(AG_E_MODEL_TYPE, "a training checkpoint holds fp32 weights");
  if (!rc) ag_model_params(t->ckpt, &np);
  ag_pgrad_hdr h = {.netuid = t->cfg.netuid, .chunk = AG_PGRAD_CHUNK, .k = (uint32_t)r->k, .round = r->round, .n = np};
  memcpy(h.base, r->model, 32);
  ag_buf nb;
  ag_buf_init(&nb);
  if (!rc && t->cfg.behaviour == AG_TRAINER_HONEST) {
    if (!t->worker) {
      uint64_t seed;
      memcpy(&seed, t->hotkey.pk, 8);
      rc = ag_dworker_open(t->ckpt, t->cfg.threads, seed, &t->worker);
    }
    if (!rc) {
      size_t off = ag_diloco_shard(&t->data, t->cfg.netuid, r->round, t->hotkey.pk, r->window);
      size_t len = r->window < t->data.ntrain ? (size_t)r->window : t->data.ntrain;
      ag_tokens shard = {t->data.train + off, len};
      int done = 0;
      rc = ag_dworker_round_until(t->worker, t->ckpt, &shard, (int)r->inner_steps, deadline, &done, &h, &nb,
                                  &t->last_loss);
      if (!rc && (uint64_t)done < r->inner_steps)
        snprintf(t->last_what, sizeof t->last_what,
                 "trained %d of %llu steps (the rest would miss the commit window) on tokens %zu..%zu, loss %.3f", done,
                 (unsigned long long)r->inner_steps, off, off + len, t->last_loss);
      else if (!rc)
        snprintf(t->last_what, sizeof t->last_what, "trained %llu steps on tokens %zu..%zu, loss %.3f",
                 (unsigned long long)r->inner_steps, off, off + len, t->last_loss);
    }
  } else if (!rc && t->cfg.behaviour == AG_TRAINER_FREE_RIDER) {
    rc = free_ride(t, &h, &nb);
    if (!rc) snprintf(t->last_what, sizeof t->last_what, "submitted random values");
  } else if (!rc && t->cfg.behaviour == AG_TRAINER_FRONT_RUNNER) {
    rc = front_run(t, r, &h, stop, &nb);
  } else if (!rc) {
    rc = blend(t, r, &h, &nb);
  }
  if (!rc) { /* the HTTP threads serve t->blob: swap it in under the lock */
    pthread_mutex_lock(&t->mu);
    ag_buf old = t->blob;
    t->blob = nb;
    nb = old;
    ag_hash(AG_BLOB_DOMAIN, t->blob.data, t->blob.len, t->blob_hash);
    t->blob_round = r->round;
    t->blob_state = 0;
    t->blob_ratio = (double)(np * 4) / (double)t->blob.len;
    pthread_mutex_unlock(&t->mu);
  }
  ag_buf_free(&nb);
  return rc;
}

/* Errors worth another try in the same round: the checkpoint not uploaded yet, the node
 * restarting. */
static int transient(int rc) {
  return rc == AG_E_MODEL_UNAVAILABLE || rc == AG_E_CONNECT || rc == AG_E_TIMEOUT || rc == AG_E_HTTP_STATUS;
}

/* One step of the round. While commitments are open: make the blob and commit to it; once they
 * close: reveal it and upload it. 0 when the round is done for this trainer (or failed for
 * good), 1 to come back later in the round, else a transient error to try again. */
static int one_round(trainer *t, const ag_tround *r, volatile int *stop) {
  double t0 = ag_mono_s();
  int rc = 0;
  if (t->blob_round != r->round) {
    if (r->height >= r->submit_until) return 0; /* too late to make one */
    t->round_seen_t = t0;
    rc = make_blob(t, r, stop);
    t->last_seconds = ag_mono_s() - t0;
  }
  if (!rc && t->blob_state == 0) {
    if (r->height >= r->submit_until) {
      rc = ag_fail(AG_E_TRAIN_WINDOW, "the blob was ready after commitments closed");
    } else {
      uint8_t commit[32];
      ag_train_commitment(t->hotkey.pk, t->cfg.netuid, r->round, t->blob_hash, t->blob.len, commit);
      ag_buf p;
      ag_buf_init(&p);
      ag_payload_train_submit(&p, t->cfg.netuid, r->round, r->model, commit);
      double ts = ag_mono_s();
      rc = ag_submit_expect(&t->net, &t->hotkey, AG_TX_TRAIN_SUBMIT, &p, "train_submit", "trainer", AG_SUBMIT_QUIET);
      ag_buf_free(&p);
      if (!rc) t->blob_state = 1;
      t->encode_s = ag_mono_s() - ts;
    }
  }
  if (!rc && t->blob_state == 1) {
    if (r->height < r->submit_until) return 1; /* reveal once commitments are closed */
    if (r->height >= r->reveal_until) {
      rc = ag_fail(AG_E_TRAIN_WINDOW, "the reveal window of round %llu has passed", (unsigned long long)r->round);
    } else {
      ag_buf p;
      ag_buf_init(&p);
      ag_payload_train_reveal(&p, t->cfg.netuid, r->round, t->blob_hash, t->blob.len);
      rc = ag_submit_retry(&t->net, &t->hotkey, AG_TX_TRAIN_REVEAL, &p, "train_reveal", "trainer");
      ag_buf_free(&p);
      if (!rc) {
        pthread_mutex_lock(&t->mu);
        t->blob_state = 2; /* now peers may fetch it */
        pthread_mutex_unlock(&t->mu);
      }
    }
  }
  if (!rc && t->blob_state == 2 && !(rc = ag_tround_upload(&t->net, "blobs", t->blob_hash, t->blob.data, t->blob.len)))
    t->blob_state = 3;
  t->last_bytes = t->blob.len;
  if (rc && (transient(rc) || rc == AG_E_BLOB_NOT_ANNOUNCED)) { /* the node has not seen the reveal yet */
    ag_debug("trainer", "round %llu: %s; trying again", (unsigned long long)r->round, ag_errmsg(rc));
    return rc;
  }
  if ((rc == AG_E_TRAIN_WINDOW || rc == AG_E_TRAIN_ROUND) && !t->submitted && !t->failed) {
    /* the first round also loads everything: it may end before the blob is made */
    t->failed++;
    snprintf(t->last_what, sizeof t->last_what, "round %llu: %s", (unsigned long long)r->round, ag_errmsg(rc));
    ag_info("trainer", "%s (the first round also loaded the checkpoint and the corpus; training from the next)",
            t->last_what);
  } else if (rc) {
    t->failed++;
    snprintf(t->last_what, sizeof t->last_what, "round %llu: %s", (unsigned long long)r->round, ag_errmsg(rc));
    ag_warn("trainer", "%s", t->last_what);
  } else {
    t->submitted++;
    ag_info("trainer", "round %llu: %s; %zu bytes (%.0fx smaller than fp32), made in %.1f s",
            (unsigned long long)r->round, t->last_what, t->blob.len, t->blob_ratio, t->last_seconds);
  }
  return 0;
}

int ag_tminer_run(const ag_tminer_config *cfg, volatile int *stop) {
  ag_crypto_init();
  trainer *t = ag_xcalloc(1, sizeof *t);
  t->cfg = *cfg;
  t->uid = -1;
  t->done_round = UINT64_MAX;
  t->blob_round = UINT64_MAX;
  ag_buf_init(&t->blob);
  pthread_mutex_init(&t->mu, NULL);
  ag_http_server *srv = NULL;
  if (!t->cfg.model_dir[0]) snprintf(t->cfg.model_dir, sizeof t->cfg.model_dir, "%s/models", cfg->home);
  if (t->cfg.threads < 1) t->cfg.threads = 1;
  int rc = ag_neuron_connect(&t->net, cfg->home, cfg->node_url, stop);
  if (rc) goto out;
  if ((rc = ag_neuron_key(cfg->home, cfg->hotkey, t->net.chain_id, &t->hotkey))) goto out;
  ag_addr_encode(t->hotkey.pk, t->addr);
  if ((rc = ag_neuron_register(&t->net, cfg->netuid, &t->hotkey, cfg->home, cfg->coldkey, &t->uid))) goto out;
  char pub[160];
  if ((rc = ag_neuron_listen(&t->net, cfg->netuid, &t->hotkey, cfg->listen, cfg->announce_host, routes,
                             AG_ARRAY_LEN(routes), t, &srv, &t->uid, pub)))
    goto out;
  ag_info("trainer", "training on subnet %u as uid %d (%s, %s); peers fetch its blobs at %s", cfg->netuid,
          t->uid, t->addr, ag_trainer_behaviour_name(cfg->behaviour), pub);
  while (!*stop) {
    ag_tround r;
    int grc = ag_tround_get(&t->net, cfg->netuid, &r);
    if (grc) {
      if (grc == AG_E_TRAIN_KIND) {
        rc = grc;
        break;
      }
      ag_warn("trainer", "cannot read the round: %s", ag_errmsg(grc));
      ag_sleep_ms(1000);
      continue;
    }
    clock_seen(t, r.height);
    int mine = 0; /* committed already (by this process, or by an earlier run of it) */
    for (int i = 0; i < r.nsubs; i++) mine |= r.subs[i].uid == t->uid;
    if (r.round != t->done_round && (!mine || t->blob_round == r.round) && one_round(t, &r, stop) == 0)
      t->done_round = r.round;
    write_status(t, &r);
    ag_tround_free(&r);
    for (int i = 0; i < 6 && !*stop; i++) ag_sleep_ms(50);
  }
out:
  if (rc) ag_error("trainer", "%s", ag_errmsg(rc));
  ag_http_stop(srv);
  ag_dworker_close(t->worker);
  ag_buf_free(&t->blob);
  pthread_mutex_destroy(&t->mu);
  ag_model_close(t->ckpt);
  ag_diloco_data_free(&t->data);
  ag_key_wipe(&t->hotkey);
  free(t);
  return rc;
}
