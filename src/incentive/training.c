/*
 * training.c — rounds, submissions, proposals and model shares of training subnets
 * (training.h; docs/subnet-training.md). Integer-only like the rest of the state machine; the
 * floating-point work (training, scoring, aggregation) happens off chain, and the chain only
 * records hashes, integer scores and the stake that agreed on them.
 */
#include "incentive/training.h"

#include "incentive/internal.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BYTES (2 + 32 + 32 + 32 + 8 + 8 + 1)
#define PROP_BYTES (2 + 32 + 32 + 32 + 8)
#define SHARE_BYTES (2 + 32 + 32 + 8 + 8)
#define SUBMIT_LEN (2 + 8 + 32 + 32)
#define REVEAL_LEN (2 + 8 + 32 + 8)
#define PROPOSE_HEAD (2 + 8 + 32 + 32 + 8 + 32 + 8 + 2)
#define ROUND_HEAD (32 + 32 + 8 + 8 + 32 + 8 + 2) /* record 'R' before its entries */

/* ---- records ------------------------------------------------------------------------------ */

static size_t tkey(uint8_t *k, char tag, uint16_t netuid) {
  k[0] = (uint8_t)tag;
  k[1] = (uint8_t)(netuid >> 8);
  k[2] = (uint8_t)netuid;
  return 3;
}

static int sget(ag_ist *s, const void *key, size_t klen, ag_buf *out) {
  if (s->view) return ag_state_view_get(s->view, key, klen, out);
  return ag_state_get_buf(s->st, key, klen, out);
}

void ag_training_free(ag_training *t) {
  free(t->subs);
  free(t->props);
  t->subs = NULL;
  t->props = NULL;
}

void ag_train_round_free(ag_train_round *r) {
  free(r->e);
  r->e = NULL;
}

static int is_training(ag_ist *s, uint16_t netuid, ag_subnet_model *m) {
  int rc = ag_subnet_model_load(s, netuid, m);
  if (rc == AG_E_NOTFOUND || (!rc && m->kind != AG_SUBNET_TRAINING))
    return ag_fail(AG_E_TRAIN_KIND, "subnet %u does not train a model", netuid);
  return rc;
}

/* A list record: n u16, then n entries of `entry` bytes, into b; n = 0 when absent. */
static int list_get(ag_ist *s, char tag, uint16_t netuid, size_t entry, const char *what, ag_buf *b,
                    uint16_t *n) {
  uint8_t k[3];
  tkey(k, tag, netuid);
  ag_buf_reset(b);
  *n = 0;
  int rc = sget(s, k, 3, b);
  if (rc == AG_E_NOTFOUND) return 0;
  if (rc) return rc;
  *n = b->len >= 2 ? ag_get_u16le(b->data) : 0;
  if (b->len != 2 + (size_t)*n * entry) return ag_fail(AG_E_CORRUPT, "bad %s record of subnet %u", what, netuid);
  return 0;
}

int ag_training_load(ag_ist *s, uint16_t netuid, ag_training *t) {
  memset(t, 0, sizeof *t);
  ag_subnet_model m;
  int rc = is_training(s, netuid, &m);
  if (rc) return rc;
  uint8_t k[3];
  ag_buf b;
  ag_buf_init(&b);
  tkey(k, 'T', netuid);
  if ((rc = sget(s, k, 3, &b))) goto done;
  if (b.len != 32) {
    rc = ag_fail(AG_E_CORRUPT, "bad training record of subnet %u", netuid);
    goto done;
  }
  t->round = ag_get_u64le(b.data);
  t->round_start = ag_get_u64le(b.data + 8);
  t->lineage = ag_get_u64le(b.data + 16);
  t->finalized = ag_get_u64le(b.data + 24);
  t->subs = ag_xcalloc(1, sizeof *t->subs); /* room for one more, as below */
  t->props = ag_xcalloc(1, sizeof *t->props);
  uint16_t n;
  if ((rc = list_get(s, 'U', netuid, SUB_BYTES, "submissions", &b, &n))) goto done;
  if (n) {
    free(t->subs);
    t->subs = ag_xmalloc(((size_t)n + 1) * sizeof *t->subs);
  }
  const uint8_t *p = b.data + 2;
  for (uint16_t i = 0; i < n; i++, p += SUB_BYTES) {
    ag_train_submission *x = &t->subs[i];
    x->uid = ag_get_u16le(p);
    memcpy(x->hotkey, p + 2, 32);
    memcpy(x->commit, p + 34, 32);
    memcpy(x->blob, p + 66, 32);
    x->size = ag_get_u64le(p + 98);
    x->block = ag_get_u64le(p + 106);
    x->revealed = p[114];
  }
  t->nsubs = n;
  if ((rc = list_get(s, 'P', netuid, PROP_BYTES, "proposals", &b, &n))) goto done;
  if (n) {
    free(t->props);
    t->props = ag_xmalloc(((size_t)n + 1) * sizeof *t->props);
  }
  p = b.data + 2;
  for (uint16_t i = 0; i < n; i++, p += PROP_BYTES) {
    ag_train_proposal *x = &t->props[i];
    x->uid = ag_get_u16le(p);
    memcpy(x->hotkey, p + 2, 32);
    memcpy(x->proposal, p + 34, 32);
    memcpy(x->model, p + 66, 32);
    x->size = ag_get_u64le(p + 98);
  }
  t->nprops = n;
done:
  ag_buf_free(&b);
  if (rc) ag_training_free(t);
  return rc;
}

/* Writes the round state; the first refused write's code (ag_state_put), else 0. */
static int training_store(ag_state *st, uint16_t netuid, const ag_training *t) {
  int rc = 0, w;
  uint8_t k[3], v[32];
  ag_put_u64le(v, t->round);
  ag_put_u64le(v + 8, t->round_start);
  ag_put_u64le(v + 16, t->lineage);
  ag_put_u64le(v + 24, t->finalized);
  tkey(k, 'T', netuid);
  if ((w = ag_state_put(st, k, 3, v, sizeof v))) rc = w;
  ag_buf b;
  ag_buf_init(&b);
  tkey(k, 'U', netuid);
  if (t->nsubs) {
    ag_buf_put_u16le(&b, t->nsubs);
    for (uint16_t i = 0; i < t->nsubs; i++) {
      const ag_train_submission *x = &t->subs[i];
      ag_buf_put_u16le(&b, x->uid);
      ag_buf_put(&b, x->hotkey, 32);
      ag_buf_put(&b, x->commit, 32);
      ag_buf_put(&b, x->blob, 32);
      ag_buf_put_u64le(&b, x->size);
      ag_buf_put_u64le(&b, x->block);
      ag_buf_put_u8(&b, x->revealed);
    }
    if ((w = ag_state_put(st, k, 3, b.data, b.len)) && !rc) rc = w;
  } else {
    ag_state_del(st, k, 3);
  }
  ag_buf_reset(&b);
  tkey(k, 'P', netuid);
  if (t->nprops) {
    ag_buf_put_u16le(&b, t->nprops);
    for (uint16_t i = 0; i < t->nprops; i++) {
      const ag_train_proposal *x = &t->props[i];
      ag_buf_put_u16le(&b, x->uid);
      ag_buf_put(&b, x->hotkey, 32);
      ag_buf_put(&b, x->proposal, 32);
      ag_buf_put(&b, x->model, 32);
      ag_buf_put_u64le(&b, x->size);
    }
    if ((w = ag_state_put(st, k, 3, b.data, b.len)) && !rc) rc = w;
  } else {
    ag_state_del(st, k, 3);
  }
  ag_buf_free(&b);
  return rc;
}

/* When a round closes: what it revealed becomes 'V', the old work the next round is compared
 * with. Bounded like 'U' (one entry per registered uid). */
static int previous_store(ag_state *st, uint16_t netuid, const ag_training *t) {
  uint8_t k[3];
  tkey(k, 'V', netuid);
  ag_buf b;
  ag_buf_init(&b);
  uint16_t n = 0;
  for (uint16_t i = 0; i < t->nsubs; i++) n += t->subs[i].revealed;
  ag_buf_put_u64le(&b, t->round);
  ag_buf_put_u16le(&b, n);
  for (uint16_t i = 0; i < t->nsubs; i++) {
    if (!t->subs[i].revealed) continue;
    ag_buf_put_u16le(&b, t->subs[i].uid);
    ag_buf_put(&b, t->subs[i].blob, 32);
    ag_buf_put_u64le(&b, t->subs[i].size);
  }
  int rc = ag_state_put(st, k, 3, b.data, b.len);
  ag_buf_free(&b);
  return rc;
}

int ag_train_previous_load(ag_ist *s, uint16_t netuid, ag_train_previous *out) {
  memset(out, 0, sizeof *out);
  uint8_t k[3];
  tkey(k, 'V', netuid);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, 3, &b);
  if (!rc) {
    uint16_t n = b.len >= 10 ? ag_get_u16le(b.data + 8) : 0;
    if (b.len != 10 + (size_t)n * 42) {
      rc = ag_fail(AG_E_CORRUPT, "bad previous-round record of subnet %u", netuid);
    } else {
      out->round = ag_get_u64le(b.data);
      out->n = n;
      out->e = ag_xcalloc((size_t)n + 1, sizeof *out->e);
      for (uint16_t i = 0; i < n; i++) {
        const uint8_t *p = b.data + 10 + 42 * (size_t)i;
        out->e[i].uid = ag_get_u16le(p);
        memcpy(out->e[i].blob, p + 2, 32);
        out->e[i].size = ag_get_u64le(p + 34);
      }
    }
  }
  ag_buf_free(&b);
  return rc;
}

void ag_train_previous_free(ag_train_previous *p) {
  free(p->e);
  p->e = NULL;
  p->n = 0;
}

static void round_key(uint8_t k[11], uint16_t netuid, uint64_t round) {
  tkey(k, 'R', netuid);
  ag_put_u64be(k + 3, round);
}

int ag_train_round_load(ag_ist *s, uint16_t netuid, uint64_t round, ag_train_round *r) {
  memset(r, 0, sizeof *r);
  uint8_t k[11];
  round_key(k, netuid, round);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, sizeof k, &b);
  if (!rc) {
    uint16_t n = b.len >= ROUND_HEAD ? ag_get_u16le(b.data + ROUND_HEAD - 2) : 0;
    if (b.len != ROUND_HEAD + (size_t)n * SHARE_BYTES) {
      rc = ag_fail(AG_E_CORRUPT, "bad round record %llu of subnet %u", (unsigned long long)round, netuid);
    } else {
      r->round = round;
      memcpy(r->base, b.data, 32);
      memcpy(r->model, b.data + 32, 32);
      r->size = ag_get_u64le(b.data + 64);
      r->block = ag_get_u64le(b.data + 72);
      memcpy(r->file_hash, b.data + 80, 32);
      r->val_loss = ag_get_u64le(b.data + 112);
      r->n = n;
      r->e = ag_xmalloc(((size_t)n + 1) * sizeof *r->e);
      const uint8_t *p = b.data + ROUND_HEAD;
      for (uint16_t i = 0; i < n; i++, p += SHARE_BYTES) {
        r->e[i].uid = ag_get_u16le(p);
        memcpy(r->e[i].hotkey, p + 2, 32);
        memcpy(r->e[i].blob, p + 34, 32);
        r->e[i].score = ag_get_u64le(p + 66);
        r->e[i].shares = ag_get_u64le(p + 74);
      }
    }
  }
  ag_buf_free(&b);
  return rc;
}

static void round_store(ag_state *st, uint16_t netuid, const ag_train_round *r) {
  uint8_t k[11];
  round_key(k, netuid, r->round);
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put(&b, r->base, 32);
  ag_buf_put(&b, r->model, 32);
  ag_buf_put_u64le(&b, r->size);
  ag_buf_put_u64le(&b, r->block);
  ag_buf_put(&b, r->file_hash, 32);
  ag_buf_put_u64le(&b, r->val_loss);
  ag_buf_put_u16le(&b, r->n);
  for (uint16_t i = 0; i < r->n; i++) {
    ag_buf_put_u16le(&b, r->e[i].uid);
    ag_buf_put(&b, r->e[i].hotkey, 32);
    ag_buf_put(&b, r->e[i].blob, 32);
    ag_buf_put_u64le(&b, r->e[i].score);
    ag_buf_put_u64le(&b, r->e[i].shares);
  }
  ag_state_put(st, k, sizeof k, b.data, b.len);
  ag_buf_free(&b);
}

int ag_train_model_origin(ag_ist *s, const uint8_t model[32], uint16_t *netuid, uint64_t *round,
                          uint64_t *lineage) {
  uint8_t k[33];
  k[0] = 'X';
  memcpy(k + 1, model, 32);
  ag_buf b;
  ag_buf_init(&b);
  int rc = sget(s, k, sizeof k, &b);
  if (!rc && b.len != 18) rc = ag_fail(AG_E_CORRUPT, "bad model origin record");
  if (!rc) {
    *netuid = ag_get_u16le(b.data);
    *round = ag_get_u64le(b.data + 2);
    *lineage = ag_get_u64le(b.data + 10);
  }
  ag_buf_free(&b);
  return rc;
}

static void origin_store(ag_state *st, const uint8_t model[32], uint16_t netuid, uint64_t round,
                         uint64_t lineage) {
  uint8_t k[33], v[18];
  k[0] = 'X';
  memcpy(k + 1, model, 32);
  ag_put_u16le(v, netuid);
  ag_put_u64le(v + 2, round);
  ag_put_u64le(v + 10, lineage);
  ag_state_put(st, k, sizeof k, v, sizeof v);
}

/* A (re-)pin by the owner starts a new lineage at the next round; the old round's
 * submissions and proposals are void. */
void ag_training_on_pin(ag_state *st, uint16_t netuid, const ag_subnet_model *m, uint64_t height) {
  ag_ist s = {st, NULL};
  ag_training t;
  uint64_t round = 0, finalized = 0;
  if (ag_training_load(&s, netuid, &t) == 0) {
    round = t.round + 1;
    finalized = t.finalized;
    ag_training_free(&t);
  }
  memset(&t, 0, sizeof t);
  t.round = round;
  t.round_start = height;
  t.lineage = round;
  t.finalized = finalized;
  training_store(st, netuid, &t);
  origin_store(st, m->model_id, netuid, round, round);
}

int ag_train_blob_announced(ag_ist *s, const uint8_t hash[32], uint64_t size, uint16_t *netuid) {
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  int rc = ag_subnet_list(s, list, AG_MAX_SUBNETS, &n);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    ag_training t;
    if (ag_training_load(s, list[i], &t)) continue;
    int hit = 0;
    for (uint16_t j = 0; j < t.nsubs && !hit; j++)
      hit = t.subs[j].revealed && !memcmp(t.subs[j].blob, hash, 32) && t.subs[j].size == size;
    ag_training_free(&t);
    if (hit) {
      *netuid = list[i];
      return 0;
    }
  }
  return AG_E_NOTFOUND;
}

int ag_train_model_proposed(ag_ist *s, const uint8_t model[32], uint64_t size, uint16_t *netuid) {
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  int rc = ag_subnet_list(s, list, AG_MAX_SUBNETS, &n);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    ag_training t;
    if (ag_training_load(s, list[i], &t)) continue;
    int hit = 0;
    for (uint16_t j = 0; j < t.nprops && !hit; j++)
      hit = !memcmp(t.props[j].model, model, 32) && t.props[j].size == size;
    ag_training_free(&t);
    if (hit) {
      *netuid = list[i];
      return 0;
    }
  }
  return AG_E_NOTFOUND;
}

void ag_train_split_shares(uint64_t shares, const uint64_t *scores, uint16_t n, uint64_t *out) {
  unsigned __int128 total = 0;
  uint16_t top = 0;
  for (uint16_t i = 0; i < n; i++) {
    total += scores[i];
    if (scores[i] > scores[top]) top = i;
  }
  uint64_t given = 0;
  for (uint16_t i = 0; i < n; i++) {
    out[i] = total ? (uint64_t)(((unsigned __int128)shares * scores[i]) / total) : 0;
    given += out[i];
  }
  if (n && total) out[top] += shares - given;
}

/* ---- payloads ---------------------------------------------------------------------------- */

void ag_train_commitment(const uint8_t hotkey[32], uint16_t netuid, uint64_t round,
                         const uint8_t blob[32], uint64_t size, uint8_t out[32]) {
  uint8_t in[32 + 2 + 8 + 32 + 8];
  memcpy(in, hotkey, 32);
  ag_put_u16le(in + 32, netuid);
  ag_put_u64le(in + 34, round);
  memcpy(in + 42, blob, 32);
  ag_put_u64le(in + 74, size);
  ag_hash("agora/tcommit", in, sizeof in, out);
}

void ag_payload_train_submit(ag_buf *out, uint16_t netuid, uint64_t round, const uint8_t base[32],
                             const uint8_t commit[32]) {
  ag_buf_put_u16le(out, netuid);
  ag_buf_put_u64le(out, round);
  ag_buf_put(out, base, 32);
  ag_buf_put(out, commit, 32);
}

void ag_payload_train_reveal(ag_buf *out, uint16_t netuid, uint64_t round, const uint8_t blob[32],
                             uint64_t size) {
  ag_buf_put_u16le(out, netuid);
  ag_buf_put_u64le(out, round);
  ag_buf_put(out, blob, 32);
  ag_buf_put_u64le(out, size);
}

void ag_payload_train_propose(ag_buf *out, uint16_t netuid, uint64_t round, const uint8_t base[32],
                              const uint8_t model[32], uint64_t size, const uint8_t file_hash[32],
                              uint64_t val_loss, const uint16_t *uids, const uint64_t *scores, uint16_t n) {
  ag_buf_put_u16le(out, netuid);
  ag_buf_put_u64le(out, round);
  ag_buf_put(out, base, 32);
  ag_buf_put(out, model, 32);
  ag_buf_put_u64le(out, size);
  ag_buf_put(out, file_hash, 32);
  ag_buf_put_u64le(out, val_loss);
  ag_buf_put_u16le(out, n);
  for (uint16_t i = 0; i < n; i++) {
    ag_buf_put_u16le(out, uids[i]);
    ag_buf_put_u64le(out, scores[i]);
  }
}

/* ---- the tx kinds -------------------------------------------------------------------------- */

static int no_spend(const ag_tx *tx, uint64_t *amount) {
  (void)tx;
  *amount = 0;
  return 0;
}

static uint64_t height_of(ag_app *app) { return ag_app_block_ctx(app)->height; }

static int submit_validate(const ag_tx *tx) {
  if (tx->payload_len != SUBMIT_LEN)
    return ag_fail(AG_E_TX_PAYLOAD, "train_submit payload is %u bytes, expected %u", tx->payload_len,
                   SUBMIT_LEN);
  return 0;
}

static int reveal_validate(const ag_tx *tx) {
  if (tx->payload_len != REVEAL_LEN)
    return ag_fail(AG_E_TX_PAYLOAD, "train_reveal payload is %u bytes, expected %u", tx->payload_len,
                   REVEAL_LEN);
  if (ag_get_u64le(tx->payload + 42) == 0) return ag_fail(AG_E_TX_PAYLOAD, "a blob is not empty");
  return 0;
}

/* The subnet, its model, round state and the sender's uid, with the round and base checked. */
typedef struct {
  ag_subnet sn;
  ag_subnet_model m;
  ag_training t;
  uint16_t uid;
  ag_neuron nr;
} round_ctx;

/* base: whether the payload names the checkpoint at offset 10 (submit and propose do). */
static int round_open(ag_app *app, const ag_tx *tx, round_ctx *c, int base) {
  ag_ist s = {ag_app_state(app), NULL};
  const uint8_t *p = tx->payload;
  uint16_t netuid = ag_get_u16le(p);
  uint64_t round = ag_get_u64le(p + 2);
  memset(c, 0, sizeof *c);
  int rc = ag_subnet_load(&s, netuid, &c->sn);
  if (rc) return rc;
  if ((rc = ag_training_load(&s, netuid, &c->t))) return rc;
  if ((rc = is_training(&s, netuid, &c->m))) return rc;
  if (ag_neuron_uid(&s, netuid, tx->sender, &c->uid))
    return ag_fail(AG_E_NOT_REGISTERED, "the hotkey is not registered on subnet %u", netuid);
  if ((rc = ag_neuron_load(&s, netuid, c->uid, &c->nr))) return rc;
  if (round != c->t.round)
    return ag_fail(AG_E_TRAIN_ROUND, "subnet %u is in round %llu, not %llu", netuid,
                   (unsigned long long)c->t.round, (unsigned long long)round);
  if (base && memcmp(p + 10, c->m.model_id, 32) != 0) {
    char hex[17];
    ag_hex_encode(c->m.model_id, 8, hex);
    return ag_fail(AG_E_TRAIN_BASE, "round %llu of subnet %u trains checkpoint %s…, not the one named",
                   (unsigned long long)round, netuid, hex);
  }
  return 0;
}

static int submit_apply(ag_app *app, const ag_tx *tx) {
  round_ctx c;
  int rc = round_open(app, tx, &c, 1);
  if (rc) goto done;
  uint64_t h = height_of(app), close = c.t.round_start + c.sn.hp.train_submit_blocks;
  if (h >= close) {
    rc = ag_fail(AG_E_TRAIN_WINDOW, "commitments to round %llu closed at block %llu (now %llu)",
                 (unsigned long long)c.t.round, (unsigned long long)close, (unsigned long long)h);
    goto done;
  }
  for (uint16_t i = 0; i < c.t.nsubs; i++)
    if (c.t.subs[i].uid == c.uid) {
      rc = ag_fail(AG_E_TRAIN_DUPLICATE, "uid %u already submitted in round %llu", c.uid,
                   (unsigned long long)c.t.round);
      goto done;
    }
  ag_train_submission *x = &c.t.subs[c.t.nsubs++]; /* loaded with room for one more */
  memset(x, 0, sizeof *x);
  x->uid = c.uid;
  memcpy(x->hotkey, tx->sender, 32);
  memcpy(x->commit, tx->payload + 42, 32);
  x->block = h;
  rc = training_store(ag_app_state(app), c.sn.netuid, &c.t);
done:
  ag_training_free(&c.t);
  return rc;
}

/* The reveal: in the window after commitments closed, the blob's hash and size, which must be
 * what the sender committed to. Only now may nodes store the blob and peers fetch it. */
static int reveal_apply(ag_app *app, const ag_tx *tx) {
  round_ctx c;
  int rc = round_open(app, tx, &c, 0);
  if (rc) goto done;
  const uint8_t *p = tx->payload;
  uint64_t h = height_of(app), from = c.t.round_start + c.sn.hp.train_submit_blocks,
           until = from + c.sn.hp.train_reveal_blocks, size = ag_get_u64le(p + 42);
  if (h < from || h >= until) {
    rc = ag_fail(AG_E_TRAIN_WINDOW, "reveals of round %llu are accepted in blocks %llu..%llu (now %llu)",
                 (unsigned long long)c.t.round, (unsigned long long)from, (unsigned long long)(until - 1),
                 (unsigned long long)h);
    goto done;
  }
  if (size > c.m.size) {
    rc = ag_fail(AG_E_PG_TOO_LARGE, "a pseudo-gradient of %llu bytes is larger than the checkpoint (%llu)",
                 (unsigned long long)size, (unsigned long long)c.m.size);
    goto done;
  }
  ag_train_submission *x = NULL;
  for (uint16_t i = 0; i < c.t.nsubs && !x; i++)
    if (c.t.subs[i].uid == c.uid && !memcmp(c.t.subs[i].hotkey, tx->sender, 32)) x = &c.t.subs[i];
  if (!x) {
    rc = ag_fail(AG_E_TRAIN_REVEAL, "uid %u committed nothing in round %llu", c.uid, (unsigned long long)c.t.round);
    goto done;
  }
  if (x->revealed) {
    rc = ag_fail(AG_E_TRAIN_DUPLICATE, "uid %u already revealed in round %llu", c.uid, (unsigned long long)c.t.round);
    goto done;
  }
  uint8_t want[32];
  ag_train_commitment(tx->sender, c.sn.netuid, c.t.round, p + 10, size, want);
  if (memcmp(want, x->commit, 32) != 0) {
    rc = ag_fail(AG_E_TRAIN_REVEAL, "this blob and size are not what uid %u committed to in round %llu", c.uid,
                 (unsigned long long)c.t.round);
    goto done;
  }
  memcpy(x->blob, p + 10, 32);
  x->size = size;
  x->revealed = 1;
  rc = training_store(ag_app_state(app), c.sn.netuid, &c.t);
done:
  ag_training_free(&c.t);
  return rc;
}

static json_t *reveal_json(const ag_tx *tx) {
  const uint8_t *p = tx->payload;
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(p)));
  json_object_set_new(o, "round", ag_json_u64s(ag_get_u64le(p + 2)));
  json_object_set_new(o, "blob", ag_json_hex(p + 10, 32));
  json_object_set_new(o, "size", ag_json_u64n(ag_get_u64le(p + 42)));
  return o;
}

static json_t *submit_json(const ag_tx *tx) {
  const uint8_t *p = tx->payload;
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(p)));
  json_object_set_new(o, "round", ag_json_u64s(ag_get_u64le(p + 2)));
  json_object_set_new(o, "base", ag_json_hex(p + 10, 32));
  json_object_set_new(o, "commitment", ag_json_hex(p + 42, 32));
  return o;
}

static int propose_validate(const ag_tx *tx) {
  const uint8_t *p = tx->payload;
  if (tx->payload_len < PROPOSE_HEAD)
    return ag_fail(AG_E_TX_PAYLOAD, "train_propose payload is %u bytes, at least %u expected",
                   tx->payload_len, PROPOSE_HEAD);
  uint16_t n = ag_get_u16le(p + PROPOSE_HEAD - 2);
  if (tx->payload_len != PROPOSE_HEAD + 10u * n)
    return ag_fail(AG_E_TX_PAYLOAD, "train_propose with %u entries is %u bytes, expected %u", n,
                   tx->payload_len, PROPOSE_HEAD + 10u * n);
  if (n == 0 && memcmp(p + 10, p + 42, 32) != 0)
    return ag_fail(AG_E_TRAIN_PROPOSAL, "a proposal without submissions keeps the checkpoint");
  if (ag_get_u64le(p + 74) == 0) return ag_fail(AG_E_TX_PAYLOAD, "a checkpoint is not empty");
  const uint8_t *e = p + PROPOSE_HEAD;
  for (uint16_t i = 0; i < n; i++, e += 10) {
    if (i && ag_get_u16le(e) <= ag_get_u16le(e - 10))
      return ag_fail(AG_E_TRAIN_PROPOSAL, "proposal uids must increase (entry %u)", i);
    if (ag_get_u64le(e + 2) == 0)
      return ag_fail(AG_E_TRAIN_PROPOSAL, "entry %u has score 0: only aggregated submissions are listed", i);
  }
  return 0;
}

/* Stake of permitted validators: total, and of those who proposed hash. */
static int agreement(ag_ist *s, const ag_subnet *sn, const ag_training *t, const uint8_t hash[32],
                     unsigned __int128 *agree, unsigned __int128 *total) {
  *agree = *total = 0;
  for (uint16_t uid = 0; uid < sn->n; uid++) {
    ag_neuron nr;
    ag_hotkey_info hi;
    int rc = ag_neuron_load(s, sn->netuid, uid, &nr);
    if (rc) return rc;
    if (!nr.permit) continue;
    if ((rc = ag_hotkey_load(s, nr.hotkey, &hi))) return rc;
    *total += hi.total_stake;
    for (uint16_t i = 0; i < t->nprops; i++)
      if (t->props[i].uid == uid && !memcmp(t->props[i].hotkey, nr.hotkey, 32) &&
          !memcmp(t->props[i].proposal, hash, 32))
        *agree += hi.total_stake;
  }
  return 0;
}

static int propose_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  const uint8_t *p = tx->payload;
  round_ctx c;
  ag_train_round r = {0};
  uint64_t *scores = NULL, *shares = NULL;
  int rc = round_open(app, tx, &c, 1);
  if (rc) goto done;
  uint64_t h = height_of(app),
           open = c.t.round_start + c.sn.hp.train_submit_blocks + c.sn.hp.train_reveal_blocks;
  uint16_t n = ag_get_u16le(p + PROPOSE_HEAD - 2);
  if (!c.nr.permit) {
    rc = ag_fail(AG_E_NO_PERMIT, "uid %u has no validator permit on subnet %u", c.uid, c.sn.netuid);
    goto done;
  }
  if (h < open) {
    rc = ag_fail(AG_E_TRAIN_WINDOW, "proposals for round %llu open at block %llu (now %llu)",
                 (unsigned long long)c.t.round, (unsigned long long)open, (unsigned long long)h);
    goto done;
  }
  if (n > c.sn.hp.train_top) {
    rc = ag_fail(AG_E_TRAIN_PROPOSAL, "%u submissions aggregated; subnet %u allows %u", n,
                 c.sn.netuid, c.sn.hp.train_top);
    goto done;
  }
  /* every node stores each proposal it is sent: the next checkpoint has the shape of this one,
   * so it is at most its fp32 weights plus two optimizer states (a first checkpoint may carry
   * none) */
  if (ag_get_u64le(p + 74) / AG_TRAIN_MAX_GROWTH > c.m.size) {
    rc = ag_fail(AG_E_TRAIN_PROPOSAL, "a checkpoint of %llu bytes is more than %d times the current one (%llu)",
                 (unsigned long long)ag_get_u64le(p + 74), AG_TRAIN_MAX_GROWTH, (unsigned long long)c.m.size);
    goto done;
  }
  for (uint16_t i = 0; i < c.t.nprops; i++)
    if (c.t.props[i].uid == c.uid) {
      rc = ag_fail(AG_E_TRAIN_DUPLICATE, "uid %u already proposed in round %llu", c.uid,
                   (unsigned long long)c.t.round);
      goto done;
    }
  r.e = ag_xmalloc(((size_t)n + 1) * sizeof *r.e);
  scores = ag_xmalloc(((size_t)n + 1) * sizeof *scores);
  shares = ag_xmalloc(((size_t)n + 1) * sizeof *shares);
  const uint8_t *e = p + PROPOSE_HEAD;
  for (uint16_t i = 0; i < n; i++, e += 10) {
    uint16_t uid = ag_get_u16le(e);
    int j = -1;
    for (uint16_t k = 0; k < c.t.nsubs && j < 0; k++)
      if (c.t.subs[k].uid == uid && c.t.subs[k].revealed) j = k;
    if (j < 0) {
      rc = ag_fail(AG_E_TRAIN_PROPOSAL, "uid %u revealed nothing in round %llu", uid,
                   (unsigned long long)c.t.round);
      goto done;
    }
    r.e[i].uid = uid;
    memcpy(r.e[i].hotkey, c.t.subs[j].hotkey, 32);
    memcpy(r.e[i].blob, c.t.subs[j].blob, 32);
    r.e[i].score = scores[i] = ag_get_u64le(e + 2);
  }
  ag_train_proposal *x = &c.t.props[c.t.nprops++];
  x->uid = c.uid;
  memcpy(x->hotkey, tx->sender, 32);
  ag_hash("agora/tpropose", p, tx->payload_len, x->proposal);
  memcpy(x->model, p + 42, 32);
  x->size = ag_get_u64le(p + 74);
  unsigned __int128 agree, total;
  if ((rc = agreement(&s, &c.sn, &c.t, x->proposal, &agree, &total))) goto done;
  if (total == 0 || 3 * agree <= 2 * total) {
    rc = training_store(st, c.sn.netuid, &c.t);
    goto done;
  }
  /* final: record the round, pin the checkpoint, open the next round */
  ag_train_split_shares(c.sn.hp.train_shares, scores, n, shares);
  r.round = c.t.round;
  memcpy(r.base, p + 10, 32);
  memcpy(r.model, p + 42, 32);
  r.size = x->size;
  r.block = h;
  memcpy(r.file_hash, p + 82, 32);
  r.val_loss = ag_get_u64le(p + 114);
  r.n = n;
  for (uint16_t i = 0; i < n; i++) r.e[i].shares = shares[i];
  if (n) round_store(st, c.sn.netuid, &r);
  if ((rc = previous_store(st, c.sn.netuid, &c.t))) goto done;
  c.t.round++;
  c.t.round_start = h;
  c.t.nsubs = c.t.nprops = 0;
  if (n) {
    c.t.finalized++;
    c.m.size = r.size;
    memcpy(c.m.model_id, r.model, 32);
    c.m.set_block = h;
    ag_subnet_model_store(st, c.sn.netuid, &c.m);
    origin_store(st, r.model, c.sn.netuid, c.t.round, c.t.lineage);
  }
  training_store(st, c.sn.netuid, &c.t);
done:
  ag_training_free(&c.t);
  ag_train_round_free(&r);
  free(scores);
  free(shares);
  return rc;
}

static json_t *propose_json(const ag_tx *tx) {
  const uint8_t *p = tx->payload;
  json_t *o = json_object();
  json_object_set_new(o, "netuid", json_integer(ag_get_u16le(p)));
  json_object_set_new(o, "round", ag_json_u64s(ag_get_u64le(p + 2)));
  json_object_set_new(o, "base", ag_json_hex(p + 10, 32));
  json_object_set_new(o, "model_id", ag_json_hex(p + 42, 32));
  json_object_set_new(o, "size", ag_json_u64n(ag_get_u64le(p + 74)));
  json_object_set_new(o, "file_hash", ag_json_hex(p + 82, 32));
  uint64_t vl = ag_get_u64le(p + 114);
  json_object_set_new(o, "val_loss_micro", vl == AG_TRAIN_LOSS_NONE ? json_null() : ag_json_u64n(vl));
  json_t *a = json_array();
  uint16_t n = ag_get_u16le(p + PROPOSE_HEAD - 2);
  for (uint16_t i = 0; i < n; i++) {
    const uint8_t *e = p + PROPOSE_HEAD + 10 * i;
    json_t *x = json_object();
    json_object_set_new(x, "uid", json_integer(ag_get_u16le(e)));
    json_object_set_new(x, "score", ag_json_u64s(ag_get_u64le(e + 2)));
    json_array_append_new(a, x);
  }
  json_object_set_new(o, "entries", a);
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_TRAIN_SUBMIT, "train_submit", submit_validate, no_spend, submit_apply, submit_json},
    {AG_TX_TRAIN_REVEAL, "train_reveal", reveal_validate, no_spend, reveal_apply, reveal_json},
    {AG_TX_TRAIN_PROPOSE, "train_propose", propose_validate, no_spend, propose_apply, propose_json},
};

void ag_training_register_kinds(void) {
  for (size_t i = 0; i < AG_ARRAY_LEN(kinds); i++) ag_tx_kind_register(&kinds[i]);
}

/* Rounds nobody agreed on in time: the next one opens on the same checkpoint. */
int ag_training_begin_block(ag_app *app) {
  ag_state *st = ag_app_state(app);
  ag_ist s = {st, NULL};
  uint64_t h = height_of(app);
  uint16_t list[AG_MAX_SUBNETS];
  size_t n;
  int rc = ag_subnet_list(&s, list, AG_MAX_SUBNETS, &n);
  for (size_t i = 0; !rc && i < n; i++) {
    ag_subnet_model m;
    if (ag_subnet_model_load(&s, list[i], &m) || m.kind != AG_SUBNET_TRAINING) continue;
    ag_subnet sn;
    ag_training t;
    if ((rc = ag_subnet_load(&s, list[i], &sn))) break;
    if ((rc = ag_training_load(&s, list[i], &t))) {
      if (rc != AG_E_NOTFOUND) break;
      rc = 0; /* pinned without a round record: nothing to time out (on_pin always writes one) */
      continue;
    }
    if (h >= t.round_start + sn.hp.train_round_blocks) {
      previous_store(st, list[i], &t);
      t.round++;
      t.round_start = h;
      t.nsubs = t.nprops = 0;
      training_store(st, list[i], &t);
    }
    ag_training_free(&t);
  }
  return rc;
}
