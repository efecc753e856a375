/* weights.c — validators' weights and transactions (weights.h). */
#include "subnets/weights.h"

#include "chain/json.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void commit_free(ag_wcommit *c) {
  free(c->uids);
  free(c->weights);
}

void ag_wsetter_free(ag_wsetter *w) {
  for (int i = 0; i < w->npend; i++) commit_free(&w->pend[i]);
  w->npend = 0;
  json_decref(w->subnet);
  w->subnet = NULL;
}

/* Resends when the node lost the tx with its mempool (a restart), with the nonce it then
 * expects, instead of stalling the caller's loop. */
int ag_submit_retry(ag_net *net, const ag_keypair *k, uint16_t kind, const ag_buf *p,
                    const char *what, const char *tag) {
  uint8_t hash[32];
  int rc = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    int code = 0;
    rc = ag_net_submit(net, k, kind, p->data, p->len, 8000, hash, &code);
    if (!rc && code) rc = code;
    if (rc != AG_E_TIMEOUT && rc != AG_E_CONNECT) break;
    ag_warn(tag, "%s: %s; sending it again", what, ag_errmsg(rc));
  }
  if (rc) ag_warn(tag, "%s failed: %s", what, ag_errmsg(rc));
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
  for (int i = 0; i < w->npend;) { /* reveals that are due */
    ag_wcommit *c = &w->pend[i];
    int keep = 0;
    if (w->epoch == c->epoch + w->reveal_period) {
      ag_buf p;
      ag_buf_init(&p);
      ag_payload_weights(&p, w->netuid, c->version, c->uids, c->weights, c->n, c->salt);
      if (ag_submit_retry(w->net, w->hotkey, AG_TX_REVEAL_WEIGHTS, &p, "reveal", w->tag) == 0) {
        ag_info(w->tag, "revealed weights for %u uid(s) committed in epoch %llu", c->n, (unsigned long long)c->epoch);
        snprintf(w->last_weights, sizeof w->last_weights, "revealed at block %llu (epoch %llu)",
                 (unsigned long long)w->height, (unsigned long long)w->epoch);
      }
      ag_buf_free(&p);
    } else if (w->epoch < c->epoch + w->reveal_period) {
      keep = 1;
    }
    if (keep) {
      i++;
    } else {
      commit_free(c);
      w->pend[i] = w->pend[--w->npend];
    }
  }
  return fresh;
}

static void end_window(ag_wsetter *w, const char *what) {
  w->weights_sets++;
  w->last_weights_epoch = w->epoch;
  snprintf(w->last_weights, sizeof w->last_weights, "%s at block %llu (epoch %llu)", what,
           (unsigned long long)w->height, (unsigned long long)w->epoch);
}

void ag_wsetter_set(ag_wsetter *w, int self, int permit, uint64_t last_update, uint64_t reg_block,
                    const double *scores, int n) {
  if (self < 0 || !permit || w->last_weights_epoch == w->epoch || !w->subnet) return;
  if (last_update != reg_block && w->height < last_update + w->rate_limit) return;
  double max = 0;
  for (int i = 0; i < n; i++)
    if (i != self && scores[i] > max) max = scores[i];
  if (max <= 0) return;
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
    ag_wcommit *c = &w->pend[w->npend];
    c->epoch = w->epoch;
    c->version = w->version;
    c->n = m;
    c->uids = uids;
    c->weights = wt;
    randombytes_buf(c->salt, 32);
    uint8_t h[32];
    ag_weights_commit_hash(w->hotkey->pk, w->netuid, w->version, uids, wt, m, c->salt, h);
    ag_buf_put_u16le(&p, w->netuid);
    ag_buf_put(&p, h, 32);
    if (ag_submit_retry(w->net, w->hotkey, AG_TX_COMMIT_WEIGHTS, &p, "commit", w->tag) == 0) {
      w->npend++;
      end_window(w, "committed");
      ag_info(w->tag, "committed weights for %u uid(s) in epoch %llu", m, (unsigned long long)w->epoch);
    } else {
      commit_free(c);
    }
  } else if (!w->commit_reveal) {
    ag_payload_weights(&p, w->netuid, w->version, uids, wt, m, NULL);
    if (ag_submit_retry(w->net, w->hotkey, AG_TX_SET_WEIGHTS, &p, "set_weights", w->tag) == 0) {
      end_window(w, "set");
      ag_info(w->tag, "set weights for %u uid(s)", m);
    }
    free(uids);
    free(wt);
  } else {
    free(uids);
    free(wt);
  }
  ag_buf_free(&p);
}
