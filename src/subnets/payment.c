/* payment.c — paid requests: payment receipts and the provider's and client's books
 * (payment.h, docs/economy.md "Paid requests"). */
#include "subnets/payment.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- receipts --------------------------------------------------------------------------------- */

json_t *ag_pay_receipt_json(const ag_pay_receipt *r, const uint8_t sig[64]) {
  json_t *o = json_object();
  json_object_set_new(o, "channel", ag_json_hex(r->channel, 32));
  json_object_set_new(o, "seq", ag_json_u64s(r->seq));
  json_object_set_new(o, "cumulative", ag_json_u64s(r->cumulative));
  json_object_set_new(o, "prompt_tokens", ag_json_u64s(r->n_in));
  json_object_set_new(o, "completion_tokens", ag_json_u64s(r->n_out));
  json_object_set_new(o, "price_in_per_1k", ag_json_u64s(r->price_in));
  json_object_set_new(o, "price_out_per_1k", ag_json_u64s(r->price_out));
  json_object_set_new(o, "cost", ag_json_u64s(r->cost));
  json_object_set_new(o, "billed", ag_json_u64s(r->billed));
  json_object_set_new(o, "height", ag_json_u64s(r->height));
  json_object_set_new(o, "signature", ag_json_hex(sig, 64));
  return o;
}

static int u64_field(json_t *o, const char *k, uint64_t *out) {
  const char *s = json_string_value(json_object_get(o, k));
  if (!s || ag_parse_u64(s, out)) return ag_fail(AG_E_PAY_RECEIPT, "the payment receipt's \"%s\" is not a decimal string", k);
  return 0;
}

int ag_pay_receipt_parse(json_t *o, ag_pay_receipt *r, uint8_t sig[64]) {
  const char *ch = json_string_value(json_object_get(o, "channel")), *sg = json_string_value(json_object_get(o, "signature"));
  if (!json_is_object(o) || !ch || strlen(ch) != 64 || ag_hex_decode(ch, 64, r->channel, 32) || !sg ||
      strlen(sg) != 128 || ag_hex_decode(sg, 128, sig, 64))
    return ag_fail(AG_E_PAY_RECEIPT, "the answer has no well-formed payment receipt");
  int rc;
  if ((rc = u64_field(o, "seq", &r->seq)) || (rc = u64_field(o, "cumulative", &r->cumulative)) ||
      (rc = u64_field(o, "prompt_tokens", &r->n_in)) || (rc = u64_field(o, "completion_tokens", &r->n_out)) ||
      (rc = u64_field(o, "price_in_per_1k", &r->price_in)) ||
      (rc = u64_field(o, "price_out_per_1k", &r->price_out)) || (rc = u64_field(o, "cost", &r->cost)) ||
      (rc = u64_field(o, "billed", &r->billed)) || (rc = u64_field(o, "height", &r->height)))
    return rc;
  return 0;
}

/* ---- the provider's book ------------------------------------------------------------------------- */

/* A record: key the channel id; value billed ‖ seq ‖ claimed (u64 LE) ‖ voucher length (u16
 * LE) ‖ the voucher. */
#define REC_HEAD 26

static int book_mdb(ag_paybook *b, int rc, const char *what) {
  if (rc == MDB_MAP_FULL) return ag_fail(AG_E_IO, "the payment book %s is full (%s)", b->path, what);
  return ag_fail(AG_E_IO, "the payment book %s: %s: %s", b->path, what, mdb_strerror(rc));
}

static size_t slot_of(const ag_paybook *b, const uint8_t channel[32]) {
  uint8_t h[8];
  crypto_shorthash(h, channel, 32, b->key);
  return (size_t)ag_get_u64le(h) & (b->nslot - 1);
}

ag_pay_entry *ag_paybook_find(ag_paybook *b, const uint8_t channel[32]) {
  if (!b->nslot) return NULL;
  for (size_t i = slot_of(b, channel);; i = (i + 1) & (b->nslot - 1)) {
    uint32_t s = b->slot[i];
    if (!s) return NULL;
    if (!memcmp(b->e[s - 1].ch.id, channel, 32)) return &b->e[s - 1];
  }
}

static void slot_put(ag_paybook *b, size_t k) {
  size_t i = slot_of(b, b->e[k].ch.id);
  while (b->slot[i]) i = (i + 1) & (b->nslot - 1);
  b->slot[i] = (uint32_t)(k + 1);
}

int ag_paybook_drop(ag_paybook *b, const uint8_t channel[32]) {
  size_t mask = b->nslot - 1, i = b->nslot ? slot_of(b, channel) : 0;
  for (; b->nslot && b->slot[i]; i = (i + 1) & mask)
    if (!memcmp(b->e[b->slot[i] - 1].ch.id, channel, 32)) break;
  if (!b->nslot || !b->slot[i]) return ag_fail(AG_E_NOTFOUND, "the channel is not in the payment book");
  MDB_txn *txn;
  MDB_val k = {32, (void *)channel};
  int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
  if (rc) return book_mdb(b, rc, "begin");
  if ((rc = mdb_del(txn, b->dbi, &k, NULL)) && rc != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return book_mdb(b, rc, "delete");
  }
  if ((rc = mdb_txn_commit(txn))) return book_mdb(b, rc, "commit");
  size_t at = b->slot[i] - 1;
  /* the slot is emptied and the rest of its run put back (linear probing's deletion) */
  b->slot[i] = 0;
  for (size_t j = (i + 1) & mask; b->slot[j]; j = (j + 1) & mask) {
    uint32_t s = b->slot[j];
    b->slot[j] = 0;
    slot_put(b, s - 1);
  }
  /* the last entry takes the freed place */
  size_t last = --b->n;
  if (at != last) {
    b->e[at] = b->e[last];
    for (size_t j = slot_of(b, b->e[at].ch.id);; j = (j + 1) & mask)
      if (b->slot[j] == last + 1) {
        b->slot[j] = (uint32_t)(at + 1);
        break;
      }
  }
  return 0;
}

static ag_pay_entry *entry_add(ag_paybook *b, const uint8_t channel[32]) {
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 8;
    b->e = ag_xrealloc(b->e, b->cap * sizeof *b->e);
  }
  if (2 * (b->n + 1) > b->nslot) { /* at most half full */
    free(b->slot);
    b->nslot = b->nslot ? 2 * b->nslot : 16;
    b->slot = ag_xcalloc(b->nslot, sizeof *b->slot);
    for (size_t k = 0; k < b->n; k++) slot_put(b, k);
  }
  ag_pay_entry *e = &b->e[b->n];
  memset(e, 0, sizeof *e);
  memcpy(e->ch.id, channel, 32);
  slot_put(b, b->n++);
  return e;
}

int ag_paybook_store(ag_paybook *b, const ag_pay_entry *e) {
  uint8_t rec[REC_HEAD + AG_VOUCHER_MAX];
  ag_put_u64le(rec, e->billed);
  ag_put_u64le(rec + 8, e->seq);
  ag_put_u64le(rec + 16, e->claimed);
  ag_put_u16le(rec + 24, (uint16_t)e->voucher_len);
  memcpy(rec + REC_HEAD, e->voucher, e->voucher_len);
  MDB_txn *txn;
  MDB_val k = {32, (void *)e->ch.id}, v = {REC_HEAD + e->voucher_len, rec};
  int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
  if (rc) return book_mdb(b, rc, "begin");
  if ((rc = mdb_put(txn, b->dbi, &k, &v, 0))) {
    mdb_txn_abort(txn);
    return book_mdb(b, rc, "put");
  }
  if ((rc = mdb_txn_commit(txn))) return book_mdb(b, rc, "commit");
  return 0;
}

/* Takes in a book of the JSON format (before 2026-12-06): {"channels": [{"channel", "billed",
 * "seq", "claimed", "voucher"}]}, amounts as decimal strings. */
static int import_legacy(ag_paybook *b, const char *legacy) {
  json_error_t err;
  json_t *o = json_load_file(legacy, 0, &err);
  if (!o) {
    struct stat st;
    if (stat(legacy, &st) != 0) return 0; /* none */
    return ag_fail(AG_E_CORRUPT, "the payment book %s is not JSON: %s", legacy, err.text);
  }
  json_t *chs = json_object_get(o, "channels");
  int rc = 0;
  for (size_t i = 0; i < json_array_size(chs) && !rc; i++) {
    json_t *c = json_array_get(chs, i);
    const char *id = json_string_value(json_object_get(c, "channel")), *v = json_string_value(json_object_get(c, "voucher"));
    uint8_t cid[32];
    if (!id || strlen(id) != 64 || ag_hex_decode(id, 64, cid, 32)) {
      rc = ag_fail(AG_E_CORRUPT, "the payment book %s has a bad channel id", legacy);
      break;
    }
    ag_pay_entry *e = ag_paybook_find(b, cid);
    if (!e) e = entry_add(b, cid);
    e->billed = ag_json_u64_of(c, "billed");
    e->seq = ag_json_u64_of(c, "seq");
    e->claimed = ag_json_u64_of(c, "claimed");
    size_t vl = v ? strlen(v) : 0;
    if (vl % 2 || vl / 2 > sizeof e->voucher || (vl && ag_hex_decode(v, vl, e->voucher, vl / 2)))
      rc = ag_fail(AG_E_CORRUPT, "the payment book %s has a bad voucher", legacy);
    e->voucher_len = vl / 2;
    if (!rc) rc = ag_paybook_store(b, e);
  }
  json_decref(o);
  if (!rc) {
    char done[1200];
    snprintf(done, sizeof done, "%s.imported", legacy);
    if (rename(legacy, done) != 0) rc = ag_fail(AG_E_IO, "%s: %s", legacy, strerror(errno));
  }
  return rc;
}

int ag_paybook_open(ag_paybook *b, const char *path, const char *legacy) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->mu, NULL);
  snprintf(b->path, sizeof b->path, "%s", path);
  randombytes_buf(b->key, sizeof b->key);
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  MDB_dbi dbi;
  int rc;
  if ((rc = mdb_env_create(&b->env)) || (rc = mdb_env_set_mapsize(b->env, (size_t)1 << 34)) ||
      (rc = mdb_env_open(b->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600))) {
    rc = book_mdb(b, rc, "open");
    goto fail;
  }
  if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) ||
      (rc = mdb_cursor_open(txn, dbi, &cur))) {
    rc = book_mdb(b, rc, "read");
    goto fail;
  }
  b->dbi = dbi;
  MDB_val k, v;
  for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
    const uint8_t *r = v.mv_data;
    size_t vl = v.mv_size >= REC_HEAD ? ag_get_u16le(r + 24) : 0;
    if (k.mv_size != 32 || v.mv_size < REC_HEAD || vl > AG_VOUCHER_MAX || v.mv_size != REC_HEAD + vl) {
      rc = ag_fail(AG_E_CORRUPT, "the payment book %s has a malformed record", path);
      goto fail;
    }
    ag_pay_entry *e = entry_add(b, k.mv_data);
    e->billed = ag_get_u64le(r);
    e->seq = ag_get_u64le(r + 8);
    e->claimed = ag_get_u64le(r + 16);
    e->voucher_len = vl;
    memcpy(e->voucher, r + REC_HEAD, vl);
  }
  if (rc != MDB_NOTFOUND) {
    rc = book_mdb(b, rc, "read");
    goto fail;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  cur = NULL;
  txn = NULL;
  if (legacy && (rc = import_legacy(b, legacy))) goto fail;
  return 0;
fail:
  if (cur) mdb_cursor_close(cur);
  if (txn) mdb_txn_abort(txn);
  ag_paybook_close(b);
  return rc;
}

void ag_paybook_close(ag_paybook *b) {
  if (b->env) mdb_env_close(b->env);
  free(b->e);
  free(b->slot);
  pthread_mutex_destroy(&b->mu);
  memset(b, 0, sizeof *b);
}

int ag_paybook_admit(ag_paybook *b, const char *chain_id, const ag_channel *ch,
                     const ag_voucher *v, const uint8_t *raw, size_t rawlen, uint64_t height,
                     uint64_t max_cost, uint64_t *need) {
  pthread_mutex_lock(&b->mu);
  ag_pay_entry *e = ag_paybook_find(b, ch->id), fresh;
  if (!e) { /* a channel enters the book with its first admitted voucher */
    memset(&fresh, 0, sizeof fresh);
    e = &fresh;
  }
  e->ch = *ch; /* the chain's latest: deposit, signer, status */
  if (e->claimed < ch->claimed) e->claimed = ch->claimed;
  /* the voucher as against what this provider has seen: billed + reserved paid, seq spent */
  ag_channel view = *ch;
  int rc = 0;
  if (ag_add_u64(e->billed, e->reserved, &view.claimed) || ag_add_u64(view.claimed, max_cost, need))
    rc = ag_fail(AG_E_OVERFLOW, "the channel's amounts overflow");
  if (view.claimed < ch->claimed) view.claimed = ch->claimed;
  view.seq = e->seq > ch->seq ? e->seq : ch->seq;
  if (!rc) rc = ag_voucher_check(v, chain_id, &view, height);
  if (!rc && v->cumulative < *need) {
    char a[32], c[32];
    ag_amount_format(v->cumulative, a);
    ag_amount_format(*need, c);
    rc = ag_fail(AG_E_PAY_INSUFFICIENT, "the voucher pays %s AGR in all; this request needs %s", a, c);
  }
  if (!rc) {
    if (e == &fresh) *(e = entry_add(b, ch->id)) = fresh;
    e->reserved += max_cost;
    e->seq = v->seq;
    memcpy(e->voucher, raw, rawlen);
    e->voucher_len = rawlen;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int ag_paybook_bill(ag_paybook *b, const uint8_t channel[32], uint64_t max_cost, uint64_t cost,
                    uint64_t *billed) {
  pthread_mutex_lock(&b->mu);
  ag_pay_entry *e = ag_paybook_find(b, channel);
  int rc = 0;
  if (!e || e->reserved < max_cost || cost > max_cost) {
    rc = ag_fail(AG_E_INTERNAL, "billing a request that was not admitted");
  } else {
    e->reserved -= max_cost;
    e->billed += cost;
    *billed = e->billed;
    if ((rc = ag_paybook_store(b, e))) { /* not billed: the caller releases the reservation */
      e->billed -= cost;
      e->reserved += max_cost;
    }
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

void ag_paybook_release(ag_paybook *b, const uint8_t channel[32], uint64_t max_cost) {
  pthread_mutex_lock(&b->mu);
  ag_pay_entry *e = ag_paybook_find(b, channel);
  if (e && e->reserved >= max_cost) e->reserved -= max_cost;
  pthread_mutex_unlock(&b->mu);
}

/* ---- the client's channels ----------------------------------------------------------------------- */

void ag_pay_client_path(const char *home, const uint8_t payer[32], const uint8_t provider[32],
                        const uint8_t model[32], char *out, size_t cap) {
  char me[AG_ADDR_MAX], addr[AG_ADDR_MAX], hex[65];
  ag_addr_encode(payer, me);
  ag_addr_encode(provider, addr);
  ag_hex_encode(model, 32, hex);
  snprintf(out, cap, "%s/channels/%s-%s-%.16s.json", home, me, addr, hex);
}

int ag_pay_client_load(const char *path, ag_pay_client *c) {
  json_t *o = json_load_file(path, 0, NULL);
  if (!o) {
    struct stat st;
    if (stat(path, &st) != 0) return AG_E_NOTFOUND;
    return ag_fail(AG_E_CORRUPT, "%s is not JSON", path);
  }
  const char *ch = json_string_value(json_object_get(o, "channel")), *pv = json_string_value(json_object_get(o, "provider")),
             *md = json_string_value(json_object_get(o, "model"));
  int rc = 0;
  if (!ch || strlen(ch) != 64 || ag_hex_decode(ch, 64, c->channel, 32) || !pv || ag_addr_decode(pv, c->provider) ||
      !md || strlen(md) != 64 || ag_hex_decode(md, 64, c->model, 32))
    rc = ag_fail(AG_E_CORRUPT, "%s is not a channel file", path);
  c->deposit = ag_json_u64_of(o, "deposit");
  c->billed = ag_json_u64_of(o, "billed");
  c->signed_max = ag_json_u64_of(o, "signed_max");
  c->seq = ag_json_u64_of(o, "seq");
  json_decref(o);
  /* what this client writes always holds billed <= signed_max <= deposit, and its next voucher
   * is billed + the request's most: a book that does not (a hand edit, a damaged disk) would
   * have it sign amounts that wrap or exceed the deposit */
  if (!rc && !(c->billed <= c->signed_max && c->signed_max <= c->deposit))
    rc = ag_fail(AG_E_CORRUPT, "%s: billed, signed_max and deposit do not add up (billed <= signed_max <= deposit)", path);
  return rc;
}

int ag_pay_client_catch_up(ag_pay_client *c, uint64_t billed, uint64_t seq) {
  int moved = 0;
  if (billed > c->billed && billed <= c->signed_max) c->billed = billed, moved = 1;
  if (seq > c->seq && seq - c->seq <= AG_PAY_SEQ_CATCHUP && seq < UINT64_MAX) c->seq = seq, moved = 1;
  return moved;
}

int ag_pay_client_save(const char *path, const ag_pay_client *c) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = 0;
    mkdir(dir, 0700);
  }
  json_t *o = json_object();
  json_object_set_new(o, "channel", ag_json_hex(c->channel, 32));
  json_object_set_new(o, "provider", ag_json_addr(c->provider));
  json_object_set_new(o, "model", ag_json_hex(c->model, 32));
  json_object_set_new(o, "deposit", ag_json_u64s(c->deposit));
  json_object_set_new(o, "billed", ag_json_u64s(c->billed));
  json_object_set_new(o, "signed_max", ag_json_u64s(c->signed_max));
  json_object_set_new(o, "seq", ag_json_u64s(c->seq));
  return ag_json_write_file(path, o);
}

int ag_pay_client_check(const ag_pay_client *c, const ag_offer *offer, const uint8_t hotkey[32],
                        const uint8_t request_hash[32], uint64_t seq, uint64_t cumulative,
                        uint64_t n_in, uint64_t n_out, uint64_t height, json_t *payment,
                        ag_pay_receipt *r) {
  uint8_t sig[64], msg[32];
  int rc = ag_pay_receipt_parse(payment, r, sig);
  if (rc) return rc;
  ag_pay_receipt_message(hotkey, request_hash, r, msg);
  if (ag_verify(hotkey, msg, 32, sig) != 0)
    return ag_fail(AG_E_PAY_RECEIPT, "the payment receipt is not signed by the provider");
  if (memcmp(r->channel, c->channel, 32) || r->seq != seq || r->cumulative != cumulative)
    return ag_fail(AG_E_PAY_RECEIPT, "the payment receipt names another channel or voucher");
  if (r->n_in != n_in || r->n_out != n_out)
    return ag_fail(AG_E_PAY_RECEIPT, "the receipt bills %llu + %llu tokens; the answer has %llu + %llu",
                   (unsigned long long)r->n_in, (unsigned long long)r->n_out, (unsigned long long)n_in,
                   (unsigned long long)n_out);
  uint64_t cost;
  if (r->price_in != offer->price_in || r->price_out != offer->price_out || ag_offer_cost(offer, n_in, n_out, &cost) ||
      r->cost != cost)
    return ag_fail(AG_E_PAY_RECEIPT, "the receipt's prices or cost are not the offer's");
  if (r->billed != c->billed + cost || r->billed > cumulative)
    return ag_fail(AG_E_PAY_RECEIPT, "the receipt's billed total is not what was billed before plus this cost");
  if (r->height + AG_PAY_HEIGHT_SLACK < height || r->height > height + AG_PAY_HEIGHT_SLACK)
    return ag_fail(AG_E_PAY_RECEIPT, "the receipt is dated height %llu; the chain is at %llu",
                   (unsigned long long)r->height, (unsigned long long)height);
  return 0;
}
