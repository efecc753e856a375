/* weights.c — validators' weights and transactions, and their pending reveals on disk
 * (weights.h). */
#include "subnets/weights.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ag_wsetter_init(ag_wsetter *w, ag_net *net, const ag_keypair *hotkey, uint16_t netuid,
                     const char *tag) {
  memset(w, 0, sizeof *w);
  w->net = net;
  w->hotkey = hotkey;
  w->netuid = netuid;
  w->tag = tag;
  w->last_weights_epoch = UINT64_MAX;
  snprintf(w->last_weights, sizeof w->last_weights, "none yet");
}

void ag_wcommit_free(ag_wcommit *c) {
  free(c->uids);
  free(c->weights);
  c->uids = c->weights = NULL;
  sodium_memzero(c->salt, sizeof c->salt);
}

void ag_wsetter_free(ag_wsetter *w) {
  for (int i = 0; i < w->npend; i++) ag_wcommit_free(&w->pend[i]);
  w->npend = 0;
  json_decref(w->subnet);
  w->subnet = NULL;
}

/* ---- pending reveals on disk ------------------------------------------------------------------ */

#define REVEALS_FORMAT "agora-reveals/1"
#define REVEALS_MAX_FILE (4u << 20) /* 10 commits of 4096 weights, indented: under 1 MiB */

void ag_wsetter_reveals_path(const char *home, const char *hotkey_name, uint16_t netuid, char *out,
                             size_t cap) {
  snprintf(out, cap, "%s/neurons/%s/reveals-%u.json", home, hotkey_name, netuid);
}

char *ag_reveals_dump(const uint8_t hotkey[32], uint16_t netuid, const ag_wcommit *c, int n) {
  json_t *o = json_object(), *pend = json_array();
  json_object_set_new(o, "format", json_string(REVEALS_FORMAT));
  json_object_set_new(o, "hotkey", ag_json_addr(hotkey));
  json_object_set_new(o, "netuid", json_integer(netuid));
  for (int i = 0; i < n; i++) {
    json_t *e = json_object(), *uids = json_array(), *ws = json_array();
    json_object_set_new(e, "epoch", json_integer((json_int_t)c[i].epoch));
    json_object_set_new(e, "block", json_integer((json_int_t)c[i].block));
    json_object_set_new(e, "version_key", ag_json_u64s(c[i].version));
    json_object_set_new(e, "commit_hash", ag_json_hex(c[i].hash, 32));
    json_object_set_new(e, "salt", ag_json_hex(c[i].salt, 32));
    for (uint16_t k = 0; k < c[i].n; k++) {
      json_array_append_new(uids, json_integer(c[i].uids[k]));
      json_array_append_new(ws, json_integer(c[i].weights[k]));
    }
    json_object_set_new(e, "uids", uids);
    json_object_set_new(e, "weights", ws);
    json_array_append_new(pend, e);
  }
  json_object_set_new(o, "pending", pend);
  char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text ? text : ag_xstrdup("");
}

static int get_u64(json_t *v, uint64_t max, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

static int get_hex32(json_t *v, uint8_t out[32]) {
  const char *s = json_string_value(v);
  return s && strlen(s) == 64 && ag_hex_decode(s, 64, out, 32) == 0 ? 0 : -1;
}

/* One entry of "pending", checked against its own hash. */
static int parse_entry(json_t *e, const uint8_t hotkey[32], uint16_t netuid, int i, ag_wcommit *c) {
  memset(c, 0, sizeof *c);
  json_t *uids = json_object_get(e, "uids"), *ws = json_object_get(e, "weights");
  const char *ver = json_string_value(json_object_get(e, "version_key"));
  if (!json_is_object(e) || get_u64(json_object_get(e, "epoch"), INT64_MAX, &c->epoch) ||
      get_u64(json_object_get(e, "block"), INT64_MAX, &c->block) || !ver ||
      ag_parse_u64(ver, &c->version) || get_hex32(json_object_get(e, "commit_hash"), c->hash) ||
      get_hex32(json_object_get(e, "salt"), c->salt))
    return ag_fail(AG_E_INVALID,
                   "pending reveal %d: epoch, block, version_key, commit_hash or salt is missing or malformed", i);
  if (!json_is_array(uids) || !json_is_array(ws) || json_array_size(uids) != json_array_size(ws) ||
      json_array_size(uids) > AG_MAX_UIDS)
    return ag_fail(AG_E_INVALID,
                   "pending reveal %d: uids and weights must be arrays of the same length, at most %d", i,
                   AG_MAX_UIDS);
  c->n = (uint16_t)json_array_size(uids);
  c->uids = ag_xmalloc((size_t)c->n * 2 + 2);
  c->weights = ag_xmalloc((size_t)c->n * 2 + 2);
  for (uint16_t k = 0; k < c->n; k++) {
    uint64_t u, x;
    if (get_u64(json_array_get(uids, k), 65535, &u) || get_u64(json_array_get(ws, k), 65535, &x)) {
      ag_wcommit_free(c);
      return ag_fail(AG_E_INVALID, "pending reveal %d: uids and weights are integers 0..65535", i);
    }
    c->uids[k] = (uint16_t)u;
    c->weights[k] = (uint16_t)x;
  }
  uint8_t h[32];
  ag_weights_commit_hash(hotkey, netuid, c->version, c->uids, c->weights, c->n, c->salt, h);
  if (sodium_memcmp(h, c->hash, 32) != 0) {
    ag_wcommit_free(c);
    return ag_fail(AG_E_INVALID, "pending reveal %d: its weights and salt do not give its commit_hash", i);
  }
  return 0;
}

int ag_reveals_parse(const uint8_t *data, size_t len, const uint8_t hotkey[32], uint16_t netuid,
                     ag_wcommit out[AG_MAX_COMMITS], int *n) {
  *n = 0;
  json_error_t jerr;
  json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!o) return ag_fail(AG_E_BAD_JSON, "pending reveals: %s (line %d)", jerr.text, jerr.line);
  int rc = 0;
  uint8_t pk[32];
  const char *fmt = json_string_value(json_object_get(o, "format"));
  const char *addr = json_string_value(json_object_get(o, "hotkey"));
  json_t *pend = json_object_get(o, "pending");
  uint64_t nu;
  if (!json_is_object(o) || !fmt || strcmp(fmt, REVEALS_FORMAT)) {
    rc = ag_fail(AG_E_INVALID, "pending reveals: format is not %s", REVEALS_FORMAT);
  } else if (!addr || ag_addr_decode(addr, pk) || memcmp(pk, hotkey, 32)) {
    rc = ag_fail(AG_E_INVALID, "pending reveals: the file is for another hotkey");
  } else if (get_u64(json_object_get(o, "netuid"), 65535, &nu) || nu != netuid) {
    rc = ag_fail(AG_E_INVALID, "pending reveals: the file is for another subnet");
  } else if (!json_is_array(pend) || json_array_size(pend) > AG_MAX_COMMITS) {
    rc = ag_fail(AG_E_INVALID, "pending reveals: \"pending\" must be an array of at most %d", AG_MAX_COMMITS);
  }
  for (size_t i = 0; !rc && i < json_array_size(pend); i++) {
    if ((rc = parse_entry(json_array_get(pend, i), hotkey, netuid, (int)i, &out[i]))) break;
    *n = (int)i + 1;
  }
  if (rc) {
    for (int i = 0; i < *n; i++) ag_wcommit_free(&out[i]);
    *n = 0;
  }
  json_decref(o);
  return rc;
}

/* Writes pend[] to the file, or removes it when nothing is pending. Logged, not fatal: the
 * validator goes on (a reveal lost to a full disk costs one epoch's weights). */
static void save_reveals(ag_wsetter *w) {
  if (!w->reveals_path[0]) return;
  int rc = 0;
  if (w->npend == 0) {
    if (unlink(w->reveals_path) != 0 && errno != ENOENT) rc = ag_fail(AG_E_IO, "%s", strerror(errno));
  } else {
    char *text = ag_reveals_dump(w->hotkey->pk, w->netuid, w->pend, w->npend);
    size_t len = strlen(text);
    rc = ag_write_file_atomic(w->reveals_path, text, len, 0600);
    sodium_memzero(text, len);
    free(text);
  }
  if (rc) ag_warn(w->tag, "cannot keep the pending reveals in %s: %s", w->reveals_path, ag_errmsg(rc));
}

int ag_wsetter_persist(ag_wsetter *w, const char *path) {
  snprintf(w->reveals_path, sizeof w->reveals_path, "%s", path);
  char dir[1200];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = 0;
    int rc = ag_mkdirs(dir, 0700);
    if (rc) return rc;
  }
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, REVEALS_MAX_FILE, &data, &len);
  if (rc == AG_E_NOTFOUND) return 0;
  if (rc) return rc;
  ag_wcommit got[AG_MAX_COMMITS];
  int n = 0;
  rc = ag_reveals_parse(data, len, w->hotkey->pk, w->netuid, got, &n);
  sodium_memzero(data, len);
  free(data);
  if (rc) return rc;
  for (int i = 0; i < n; i++) {
    if (w->npend == AG_MAX_COMMITS) {
      ag_wcommit_free(&got[i]);
      continue;
    }
    w->pend[w->npend++] = got[i];
    /* a commit of this epoch means this epoch's weights were sent: not twice */
    if (w->last_weights_epoch == UINT64_MAX || got[i].epoch > w->last_weights_epoch)
      w->last_weights_epoch = got[i].epoch;
  }
  sodium_memzero(got, sizeof got);
  return n;
}

void ag_wsetter_keep_reveals(ag_wsetter *w, const char *home, const char *hotkey_name) {
  char path[1200];
  ag_wsetter_reveals_path(home, hotkey_name, w->netuid, path, sizeof path);
  int n = ag_wsetter_persist(w, path);
  if (n > 0) ag_info(w->tag, "%d pending reveal(s) from the last run, in %s", n, path);
  if (n < 0) ag_warn(w->tag, "pending reveals in %s not loaded: %s", path, ag_errmsg(n));
}

/* Resends when the node lost the tx with its mempool (a restart), with the nonce it then
 * expects, instead of stalling the caller's loop. */
int ag_submit_retry(ag_net *net, const ag_keypair *k, uint16_t kind, const ag_buf *p,
                    const char *what, const char *tag) {
  return ag_submit_expect(net, k, kind, p, what, tag, 0);
}

int ag_submit_expect(ag_net *net, const ag_keypair *k, uint16_t kind, const ag_buf *p,
                     const char *what, const char *tag, int expected) {
  uint8_t hash[32];
  int rc = 0;
  for (int attempt = 0; attempt < 3; attempt++) { /* ag_net_submit takes the nonces in turn */
    int code = 0;
    rc = ag_net_submit(net, k, kind, p->data, p->len, 8000, hash, &code);
    if (!rc && code) rc = code;
    if (rc != AG_E_TIMEOUT && rc != AG_E_CONNECT) break;
    ag_warn(tag, "%s: %s; sending it again", what, ag_errmsg(rc));
  }
  if (rc && rc != expected && expected != AG_SUBMIT_QUIET) ag_warn(tag, "%s failed: %s", what, ag_errmsg(rc));
  return rc;
}

int ag_wsetter_poll(ag_wsetter *w) {
  char path[64];
  snprintf(path, sizeof path, "/v1/subnets/%u", w->netuid);
  json_t *sj;
  int rc = ag_net_get(w->net, path, &sj);
  if (rc) return rc;
  json_decref(w->subnet);
  w->subnet = sj;
  json_t *hp = json_object_get(sj, "hyperparams");
  w->height = (uint64_t)json_integer_value(json_object_get(sj, "height"));
  w->epoch = (uint64_t)json_integer_value(json_object_get(sj, "epoch"));
  w->commit_reveal = (int)ag_json_u64_of(hp, "commit_reveal");
  w->reveal_period = ag_json_u64_of(hp, "reveal_period");
  w->rate_limit = ag_json_u64_of(hp, "weights_rate_limit");
  w->version = ag_json_u64_of(hp, "weights_version_key");
  int fresh = w->epoch != w->window_epoch;
  w->window_epoch = w->epoch;
  int changed = 0;
  for (int i = 0; i < w->npend;) { /* reveals that are due */
    ag_wcommit *c = &w->pend[i];
    int keep = 0;
    uint64_t due = c->epoch + w->reveal_period;
    if (w->epoch == due) {
      ag_buf p;
      ag_buf_init(&p);
      ag_payload_weights(&p, w->netuid, c->version, c->uids, c->weights, c->n, c->salt);
      int src = ag_submit_expect(w->net, w->hotkey, AG_TX_REVEAL_WEIGHTS, &p, "reveal", w->tag, AG_E_REVEAL_EARLY);
      if (src == 0) {
        ag_info(w->tag, "revealed weights for %u uid(s) committed in epoch %llu", c->n, (unsigned long long)c->epoch);
        snprintf(w->last_weights, sizeof w->last_weights, "revealed at block %llu (epoch %llu)",
                 (unsigned long long)w->height, (unsigned long long)w->epoch);
      } else if (src == AG_E_REVEAL_EARLY) { /* the commit landed in the next epoch */
        ag_info(w->tag, "the weights committed in epoch %llu landed in the next one: revealing them an epoch later",
                (unsigned long long)c->epoch);
        c->epoch++;
        keep = changed = 1;
      } else if (src == AG_E_TIMEOUT || src == AG_E_CONNECT || src == AG_E_UNAVAILABLE) {
        keep = 1; /* the node is away: again at the next poll while the reveal is due */
      }
      ag_buf_free(&p);
    } else if (w->epoch < due) {
      keep = 1;
    } else {
      ag_warn(w->tag, "the reveal of the weights committed in epoch %llu is past its epoch (%llu); dropped",
              (unsigned long long)c->epoch, (unsigned long long)due);
    }
    if (keep) {
      i++;
    } else {
      ag_wcommit_free(c);
      w->pend[i] = w->pend[--w->npend];
      changed = 1;
    }
  }
  if (changed) save_reveals(w);
  return fresh;
}

static void failed_try(ag_wsetter *w) {
  w->retry_ms = ag_mono_ms() + AG_WEIGHTS_RETRY_MS;
  w->retry_epoch = w->epoch;
}

static void end_window(ag_wsetter *w, const char *what) {
  w->weights_sets++;
  w->last_weights_epoch = w->epoch;
  w->last_set_height = w->height + 1; /* sent after reading the height: a later block took it */
  snprintf(w->last_weights, sizeof w->last_weights, "%s at block %llu (epoch %llu)", what,
           (unsigned long long)w->height, (unsigned long long)w->epoch);
}

void ag_wsetter_set(ag_wsetter *w, int self, int permit, uint64_t last_update, uint64_t reg_block,
                    const double *scores, int n) {
  if (self < 0 || !permit || w->last_weights_epoch == w->epoch || !w->subnet) return;
  if (w->epoch == w->retry_epoch && ag_mono_ms() < w->retry_ms) return;
  /* the chain's rate limit counts from the last set or commit: the metagraph's last_update, or
   * this process's own when newer (a long round commits again before it reads the metagraph) */
  uint64_t last = last_update > w->last_set_height ? last_update : w->last_set_height;
  if ((last_update != reg_block || w->last_set_height) && w->height < last + w->rate_limit) return;
  double max = 0;
  for (int i = 0; i < n; i++)
    if (i != self && scores[i] > max) max = scores[i];
  if (max <= 0) return;
  if (n > AG_MAX_UIDS) n = AG_MAX_UIDS; /* a subnet's uids are 0..4095, whatever a node listed */
  uint16_t *uids = ag_xmalloc((size_t)n * sizeof *uids + 2), *wt = ag_xmalloc((size_t)n * sizeof *wt + 2);
  uint16_t m = 0;
  for (int i = 0; i < n; i++) {
    if (i == self) continue;
    long q = lround(65535.0 * scores[i] / max);
    if (q <= 0) continue;
    uids[m] = (uint16_t)i;
    wt[m++] = (uint16_t)(q > 65535 ? 65535 : q);
  }
  ag_buf p;
  ag_buf_init(&p);
  if (w->commit_reveal && w->npend < AG_MAX_COMMITS) {
    ag_wcommit *c = &w->pend[w->npend++];
    c->epoch = w->epoch;
    c->block = w->height;
    c->version = w->version;
    c->n = m;
    c->uids = uids;
    c->weights = wt;
    randombytes_buf(c->salt, 32);
    ag_weights_commit_hash(w->hotkey->pk, w->netuid, w->version, uids, wt, m, c->salt, c->hash);
    save_reveals(w); /* before the commit is sent: a crash once it landed must not lose the salt */
    ag_buf_put_u16le(&p, w->netuid);
    ag_buf_put(&p, c->hash, 32);
    if (ag_submit_retry(w->net, w->hotkey, AG_TX_COMMIT_WEIGHTS, &p, "commit", w->tag) == 0) {
      end_window(w, "committed");
      ag_info(w->tag, "committed weights for %u uid(s) in epoch %llu", m, (unsigned long long)w->epoch);
    } else {
      ag_wcommit_free(c);
      w->npend--;
      save_reveals(w);
      failed_try(w);
    }
  } else if (!w->commit_reveal) {
    ag_payload_weights(&p, w->netuid, w->version, uids, wt, m, NULL);
    if (ag_submit_retry(w->net, w->hotkey, AG_TX_SET_WEIGHTS, &p, "set_weights", w->tag) == 0) {
      end_window(w, "set");
      ag_info(w->tag, "set weights for %u uid(s)", m);
    } else {
      failed_try(w);
    }
    free(uids);
    free(wt);
  } else {
    free(uids);
    free(wt);
  }
  ag_buf_free(&p);
}
