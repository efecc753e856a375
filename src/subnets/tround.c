/* tround.c — a training subnet's round as trainers and validators see it (tround.h). */
#include "subnets/tround.h"

#include "api/http.h"
#include "api/models.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "incentive/incentive.h"
#include "incentive/training.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int jhex32(json_t *o, const char *name, uint8_t out[32]) {
  const char *s = json_string_value(json_object_get(o, name));
  if (!s || strlen(s) != 64 || ag_hex_decode(s, 64, out, 32))
    return ag_fail(AG_E_INVALID, "the node's answer lacks %s", name);
  return 0;
}

/* The round's training hyperparameters as the node reports them, each held to the bounds the
 * chain keeps for it (ag_hyperparam_set): trainers and validators size buffers and loops by
 * them, and a node that reports train_k = 2^40 or train_inner_steps = 2^31 is wrong. */
static int train_params(json_t *hp, ag_tround *r) {
  static const char *const names[] = {"train_inner_steps", "train_window", "train_k",
                                      "train_top",         "train_outer_lr", "train_momentum"};
  uint64_t *dst[] = {&r->inner_steps, &r->window, &r->k, &r->top, &r->outer_lr_ppm, &r->momentum_ppm};
  ag_hyperparams h;
  ag_hyperparams_default(&h);
  for (size_t i = 0; i < AG_ARRAY_LEN(names); i++) {
    json_t *v = json_object_get(hp, names[i]);
    uint64_t x = ag_json_u64_of(hp, names[i]);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || ag_hyperparam_set(&h, names[i], x))
      return ag_fail(AG_E_HYPERPARAM, "the node reports %s outside the chain's bounds", names[i]);
    *dst[i] = x;
  }
  return 0;
}

void ag_tround_free(ag_tround *r) {
  free(r->subs);
  free(r->proposers);
  free(r->peers);
  free(r->prev);
  memset(r, 0, sizeof *r);
}

int ag_tround_get(ag_net *n, uint16_t netuid, ag_tround *r) {
  memset(r, 0, sizeof *r);
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u/training?rounds=1", netuid);
  json_t *t, *sj;
  int rc = ag_net_get(n, path, &t);
  if (rc) return rc;
  snprintf(path, sizeof path, "/v1/subnets/%u", netuid);
  if ((rc = ag_net_get(n, path, &sj))) {
    json_decref(t);
    return rc;
  }
  r->height = ag_json_u64_of(t, "height");
  r->round = ag_json_u64_of(t, "round");
  r->round_start = ag_json_u64_of(t, "round_start");
  r->submit_until = ag_json_u64_of(t, "submit_until");
  r->reveal_until = ag_json_u64_of(t, "reveal_until");
  r->round_end = ag_json_u64_of(t, "round_end");
  r->model_size = ag_json_u64_of(t, "size");
  rc = jhex32(t, "model_id", r->model);
  json_t *subs = json_object_get(t, "submissions"), *props = json_object_get(t, "proposals");
  r->subs = ag_xcalloc(json_array_size(subs) + 1, sizeof *r->subs);
  r->proposers = ag_xcalloc(json_array_size(props) + 1, 32);
  for (size_t i = 0; !rc && i < json_array_size(subs); i++) {
    json_t *e = json_array_get(subs, i);
    ag_tsub *s = &r->subs[r->nsubs];
    s->uid = (uint16_t)ag_json_u64_of(e, "uid");
    s->size = ag_json_u64_of(e, "size");
    s->block = ag_json_u64_of(e, "block");
    s->revealed = json_is_true(json_object_get(e, "revealed"));
    if (!(rc = jhex32(e, "commitment", s->commit)) && (!s->revealed || !(rc = jhex32(e, "blob", s->blob))) &&
        !(rc = ag_addr_decode(json_string_value(json_object_get(e, "hotkey")), s->hotkey)))
      r->nsubs++;
  }
  for (size_t i = 0; !rc && i < json_array_size(props); i++) {
    json_t *e = json_array_get(props, i);
    if (!(rc = ag_addr_decode(json_string_value(json_object_get(e, "hotkey")), r->proposers[r->nprops])))
      r->nprops++;
  }
  json_t *last = json_array_get(json_object_get(t, "rounds"), 0);
  uint8_t m[32];
  if (!rc && last && jhex32(last, "model_id", m) == 0 && !memcmp(m, r->model, 32) &&
      jhex32(last, "file_hash", r->file_hash) == 0)
    r->have_file_hash = 1;
  json_t *lents = json_object_get(last, "entries");
  for (size_t i = 0; i < json_array_size(lents) && r->nlast < 256; i++)
    r->last_uids[r->nlast++] = (uint16_t)ag_json_u64_of(json_array_get(lents, i), "uid");
  json_t *prev = json_object_get(t, "previous"), *pr = json_object_get(prev, "revealed");
  r->prev_round = ag_json_u64_of(prev, "round");
  r->prev = ag_xcalloc(json_array_size(pr) + 1, sizeof *r->prev);
  for (size_t i = 0; !rc && i < json_array_size(pr); i++) {
    json_t *e = json_array_get(pr, i);
    ag_tsub *x = &r->prev[r->nprev];
    x->uid = (uint16_t)ag_json_u64_of(e, "uid");
    x->size = ag_json_u64_of(e, "size");
    x->revealed = 1;
    if (jhex32(e, "blob", x->blob) == 0) r->nprev++;
  }
  if (!rc) rc = train_params(json_object_get(sj, "hyperparams"), r);
  json_decref(t);
  json_decref(sj);
  if (rc) ag_tround_free(r);
  return rc;
}

int ag_tround_peers(ag_net *n, uint16_t netuid, ag_tround *r) {
  char path[80];
  snprintf(path, sizeof path, "/v1/subnets/%u/metagraph", netuid);
  json_t *mg;
  int rc = ag_net_get(n, path, &mg);
  if (rc) return rc;
  json_t *rows = json_object_get(mg, "uids");
  free(r->peers);
  r->peers = ag_xcalloc(json_array_size(rows) + 1, sizeof *r->peers);
  r->npeers = 0;
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *row = json_array_get(rows, i), *ep = json_object_get(row, "endpoint");
    char *url = r->peers[r->npeers];
    if (ag_net_endpoint_url(ep, url, sizeof r->peers[0])) continue;
    r->npeers++;
    uint16_t uid = (uint16_t)json_integer_value(json_object_get(row, "uid"));
    for (int k = 0; k < r->nsubs; k++)
      if (r->subs[k].uid == uid) snprintf(r->subs[k].peer, sizeof r->subs[k].peer, "%s", url);
  }
  json_decref(mg);
  return 0;
}

int ag_tround_checkpoint(ag_net *n, const ag_tround *r, const char *dir, const uint8_t id[32],
                         const uint8_t *file_hash, ag_model **out, float **mom) {
  enum { MAXSRC = 65 };
  char srcs[MAXSRC][300], path[1200];
  const char *sp[MAXSRC];
  size_t ns = 0;
  snprintf(srcs[ns], sizeof srcs[ns], "%s/v1/model-files", n->url);
  sp[ns] = srcs[ns];
  ns++;
  for (int i = 0; r && i < r->npeers && ns < MAXSRC; i++, ns++) {
    snprintf(srcs[ns], sizeof srcs[ns], "%s/agora/model-files", r->peers[i]);
    sp[ns] = srcs[ns];
  }
  ag_model *m;
  *mom = NULL;
  int rc = ag_models_ensure(dir, id, r ? r->model_size : 0, sp, ns, n->endpoint_flags, &m);
  if (rc) return rc;
  ag_model_close(m);
  ag_models_path(dir, id, path, sizeof path);
  uint8_t *data;
  size_t len;
  if ((rc = ag_read_file(path, (size_t)1 << 31, &data, &len))) return rc;
  if (file_hash) {
    uint8_t h[32];
    ag_hash(AG_BLOB_DOMAIN, data, len, h);
    if (memcmp(h, file_hash, 32) != 0) {
      free(data);
      unlink(path); /* right weights, wrong momentum: fetch it again next time */
      return ag_fail(AG_E_BLOB_MISMATCH, "the checkpoint file is not the one the chain recorded (outer state differs)");
    }
  }
  ag_train_state ts;
  rc = ag_model_load_mem(data, len, &m, &ts);
  free(data);
  if (rc) return rc;
  if (ts.present) {
    size_t np;
    ag_model_params(m, &np);
    if (m->wtype == AG_DT_F32) {
      *mom = ag_xmalloc(np * sizeof(float));
      memcpy(*mom, ts.mom, np * sizeof(float));
    }
  }
  *out = m;
  return 0;
}

static int blob_from(const char *url, const uint8_t hash[32], uint64_t size, int timeout_ms, int flags,
                     ag_buf *out) {
  ag_http_result r;
  int rc = ag_http_request_max("GET", url, NULL, NULL, 0, timeout_ms, AG_HTTP_CLIENT_MAX, NULL, flags, &r);
  if (rc) return rc;
  if (r.status == 404) rc = AG_E_NOTFOUND;
  else if (r.status != 200) rc = ag_fail(AG_E_HTTP_STATUS, "GET %s: HTTP %ld", url, r.status);
  else {
    uint8_t h[32];
    ag_hash(AG_BLOB_DOMAIN, r.body.data, r.body.len, h);
    if (r.body.len != size || memcmp(h, hash, 32) != 0)
      rc = ag_fail(AG_E_BLOB_MISMATCH, "%s served %zu bytes that are not the announced blob", url, r.body.len);
    else
      ag_buf_put(out, r.body.data, r.body.len);
  }
  ag_http_result_free(&r);
  return rc;
}

int ag_tround_blob(ag_net *n, const uint8_t hash[32], uint64_t size, const char *peer, ag_buf *out) {
  char hex[65], url[400];
  ag_hex_encode(hash, 32, hex);
  snprintf(url, sizeof url, "%s/v1/blobs/%s", n->url, hex);
  int rc = blob_from(url, hash, size, n->timeout_ms, 0, out);
  if (rc && rc != AG_E_BLOB_MISMATCH && peer && peer[0]) {
    snprintf(url, sizeof url, "%s/agora/blobs/%s", peer, hex);
    int prc = blob_from(url, hash, size, 5000, n->endpoint_flags, out);
    /* nobody listening there, or an address this chain's peers are not contacted at: the
     * node's answer (a hung peer: timeout) */
    if (prc != AG_E_CONNECT && prc != AG_E_BAD_ENDPOINT) rc = prc;
  }
  return rc;
}

int ag_tround_upload(ag_net *n, const char *what, const uint8_t id[32], const uint8_t *data,
                     size_t len) {
  char url[400], hex[65], path[160];
  ag_hex_encode(id, 32, hex);
  snprintf(path, sizeof path, "/v1/%s/%s", what, hex);
  snprintf(url, sizeof url, "%s%s", n->url, path);
  ag_http_result r;
  int rc = ag_http_request("POST", url, "application/octet-stream", data, len, 60000, &r);
  if (rc) return rc;
  if (r.status != 200 && r.status != 201)
    rc = ag_fail(AG_E_HTTP_STATUS, "POST %s: HTTP %ld: %.200s", path, r.status,
                 r.body.data ? (const char *)r.body.data : "");
  ag_http_result_free(&r);
  return rc;
}

void ag_tround_forget(const char *dir, const uint8_t id[32]) {
  char path[1200];
  ag_models_path(dir, id, path, sizeof path);
  unlink(path);
}
