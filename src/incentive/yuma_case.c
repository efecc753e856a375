/*
 * yuma_case.c — reads, runs and checks `agora-yuma-case/1` cases (see yuma_case.h).
 *
 * The runner keeps the state a case carries from one epoch to the next (stake, registration
 * blocks, last updates, stored weights and bonds, permits, commit blocks), applies each
 * epoch's set_weights/register/stake changes, and calls ag_yuma_epoch. Weight rows are stored
 * max-upscaled by ag_yuma_weights_upscale, exactly as set_weights stores them on chain.
 *
 * Deliberately not here: file I/O and printing policy (cmd_sim.c), any semantics of its own:
 * whatever the chain would compute comes from yuma.c.
 */
#include "incentive/yuma_case.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/yuma.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "agora-yuma-case/1"
#define PATH_CAP 160

/* JSON paths for messages; a very deep path is cut short, which is harmless. */
static void pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

/* ---- typed access to untrusted JSON, with the path in every message ---- */

static int bad(const char *path, const char *what) {
  return ag_fail(AG_E_YUMA_CASE, "%s: %s", path, what);
}

static int get_key(const json_t *obj, const char *key, const char *path, bool required,
                   json_t **out) {
  *out = NULL;
  if (!json_is_object(obj)) return bad(path, "expected an object");
  json_t *v = json_object_get(obj, key);
  if (!v && required) return ag_fail(AG_E_YUMA_CASE, "%s: missing key \"%s\"", path, key);
  *out = v;
  return 0;
}

static int as_u64(const json_t *v, const char *path, uint64_t max, uint64_t *out) {
  if (!json_is_integer(v)) return bad(path, "expected an integer");
  json_int_t x = json_integer_value(v);
  if (x < 0 || (uint64_t)x > max)
    return ag_fail(AG_E_YUMA_CASE, "%s: %lld out of range [0, %llu]", path, (long long)x,
                   (unsigned long long)max);
  *out = (uint64_t)x;
  return 0;
}

static int as_i64(const json_t *v, const char *path, int64_t *out) {
  if (!json_is_integer(v)) return bad(path, "expected an integer");
  *out = (int64_t)json_integer_value(v);
  return 0;
}

static int as_bool(const json_t *v, const char *path, bool *out) {
  if (!json_is_boolean(v)) return bad(path, "expected true or false");
  *out = json_is_true(v);
  return 0;
}

/* An array of exactly want elements (want == SIZE_MAX: any length). */
static int as_array(const json_t *v, const char *path, size_t want) {
  if (!json_is_array(v)) return bad(path, "expected an array");
  if (want != SIZE_MAX && json_array_size(v) != want)
    return ag_fail(AG_E_YUMA_CASE, "%s: expected %zu elements, got %zu", path, want,
                   json_array_size(v));
  return 0;
}

static int key_u64(const json_t *obj, const char *key, const char *path, uint64_t max,
                   uint64_t *out) {
  json_t *v;
  char p[PATH_CAP];
  int rc = get_key(obj, key, path, true, &v);
  if (rc) return rc;
  pathf(p, sizeof p, "%s.%s", path, key);
  return as_u64(v, p, max, out);
}

static int key_bool(const json_t *obj, const char *key, const char *path, bool *out) {
  json_t *v;
  char p[PATH_CAP];
  int rc = get_key(obj, key, path, true, &v);
  if (rc) return rc;
  pathf(p, sizeof p, "%s.%s", path, key);
  return as_bool(v, p, out);
}

/* ---- case state ---- */

typedef struct {
  ag_yuma_entry *e;
  uint32_t len, cap;
} crow;

static void crow_set(crow *r, const ag_yuma_entry *e, uint32_t len) {
  if (len > r->cap) {
    r->cap = len;
    r->e = ag_xrealloc(r->e, (size_t)len * sizeof *r->e);
  }
  if (len) memcpy(r->e, e, (size_t)len * sizeof *e);
  r->len = len;
}

typedef struct {
  uint32_t n;
  ag_yuma_params p;
  uint64_t *stake, *reg, *lu, *commit;
  bool *permit;
  crow *w, *b;
  ag_yuma_entry *scratch; /* n entries for parsing rows */
  uint16_t *u16a, *u16b;  /* n values for upscaling */
} cstate;

static void cstate_free(cstate *s) {
  for (uint32_t i = 0; i < s->n && s->w; i++) free(s->w[i].e);
  for (uint32_t i = 0; i < s->n && s->b; i++) free(s->b[i].e);
  free(s->w);
  free(s->b);
  free(s->stake);
  free(s->reg);
  free(s->lu);
  free(s->commit);
  free(s->permit);
  free(s->scratch);
  free(s->u16a);
  free(s->u16b);
  memset(s, 0, sizeof *s);
}

/* A sparse row: [[uid, value], ...] with strictly ascending uid < n and u16 values. Parsed into
 * s->scratch; returns the count in *len. */
static int parse_row(cstate *s, const json_t *v, const char *path, uint32_t *len) {
  char p[PATH_CAP];
  int rc = as_array(v, path, SIZE_MAX);
  if (rc) return rc;
  size_t m = json_array_size(v);
  if (m > s->n)
    return ag_fail(AG_E_YUMA_CASE, "%s: %zu entries for %u uids", path, m, s->n);
  for (size_t k = 0; k < m; k++) {
    json_t *pair = json_array_get(v, k);
    uint64_t uid, val;
    pathf(p, sizeof p, "%s[%zu]", path, k);
    if ((rc = as_array(pair, p, 2))) return rc;
    pathf(p, sizeof p, "%s[%zu][0]", path, k);
    if ((rc = as_u64(json_array_get(pair, 0), p, s->n ? s->n - 1 : 0, &uid))) return rc;
    if (s->n == 0) return bad(p, "no uids exist (n = 0)");
    pathf(p, sizeof p, "%s[%zu][1]", path, k);
    if ((rc = as_u64(json_array_get(pair, 1), p, 65535, &val))) return rc;
    if (k && uid <= s->scratch[k - 1].uid) {
      pathf(p, sizeof p, "%s[%zu]", path, k);
      return bad(p, "uids must be strictly ascending");
    }
    s->scratch[k] = (ag_yuma_entry){(uint16_t)uid, (uint16_t)val};
  }
  *len = (uint32_t)m;
  return 0;
}

/* Stores a raw set_weights row max-upscaled. */
static void store_weights(cstate *s, uint32_t uid, uint32_t len) {
  for (uint32_t k = 0; k < len; k++) s->u16a[k] = s->scratch[k].value;
  ag_yuma_weights_upscale(s->u16a, len, s->u16b);
  for (uint32_t k = 0; k < len; k++) s->scratch[k].value = s->u16b[k];
  crow_set(&s->w[uid], s->scratch, len);
}

static int parse_u64_list(const json_t *obj, const char *key, const char *path, uint32_t n,
                          uint64_t *out) {
  json_t *v;
  char p[PATH_CAP];
  int rc = get_key(obj, key, path, true, &v);
  if (rc) return rc;
  pathf(p, sizeof p, "%s.%s", path, key);
  if ((rc = as_array(v, p, n))) return rc;
  for (uint32_t i = 0; i < n; i++) {
    pathf(p, sizeof p, "%s.%s[%u]", path, key, i);
    if ((rc = as_u64(json_array_get(v, i), p, INT64_MAX, &out[i]))) return rc;
  }
  return 0;
}

static int parse_params(cstate *s, const json_t *c) {
  json_t *pp, *v;
  uint64_t x;
  int rc;
  ag_yuma_params *p = &s->p;
  ag_yuma_params_default(p);
  if ((rc = get_key(c, "params", "case", true, &pp))) return rc;
  if ((rc = key_u64(pp, "n", "params", AG_YUMA_MAX_UIDS, &x))) return rc;
  s->n = (uint32_t)x;
  if ((rc = get_key(pp, "yuma", "params", true, &v))) return rc;
  if (json_is_string(v) && !strcmp(json_string_value(v), "classic")) p->yuma3 = false;
  else if (json_is_string(v) && !strcmp(json_string_value(v), "yuma3")) p->yuma3 = true;
  else return bad("params.yuma", "expected \"classic\" or \"yuma3\"");
  if ((rc = key_u64(pp, "kappa", "params", 65535, &x))) return rc;
  p->kappa = (uint16_t)x;
  if ((rc = key_u64(pp, "bonds_moving_average", "params", INT64_MAX, &p->bonds_moving_average)))
    return rc;
  if ((rc = key_u64(pp, "bonds_penalty", "params", 65535, &x))) return rc;
  p->bonds_penalty = (uint16_t)x;
  if ((rc = key_bool(pp, "liquid_alpha", "params", &p->liquid_alpha))) return rc;
  if (p->liquid_alpha) {
    if ((rc = key_u64(pp, "alpha_low", "params", 65535, &x))) return rc;
    p->alpha_low = (uint16_t)x;
    if ((rc = key_u64(pp, "alpha_high", "params", 65535, &x))) return rc;
    p->alpha_high = (uint16_t)x;
    int64_t st = 0;
    if ((rc = get_key(pp, "alpha_sigmoid_steepness", "params", true, &v))) return rc;
    if ((rc = as_i64(v, "params.alpha_sigmoid_steepness", &st))) return rc;
    if (st < INT16_MIN || st > INT16_MAX)
      return bad("params.alpha_sigmoid_steepness", "out of the i16 range");
    p->alpha_sigmoid_steepness = (int16_t)st;
  }
  if ((rc = key_u64(pp, "tempo", "params", 65535, &p->tempo))) return rc;
  if ((rc = key_u64(pp, "activity_cutoff", "params", INT64_MAX, &p->activity_cutoff))) return rc;
  if ((rc = key_u64(pp, "max_allowed_validators", "params", 65535, &x))) return rc;
  p->max_allowed_validators = (uint16_t)x;
  if ((rc = key_u64(pp, "emission_per_epoch", "params", INT64_MAX, &p->emission))) return rc;
  if ((rc = key_u64(pp, "stake_threshold", "params", INT64_MAX, &p->stake_threshold))) return rc;
  if ((rc = get_key(pp, "owner_uid", "params", true, &v))) return rc;
  if (json_is_null(v)) {
    p->owner_uid = -1;
  } else {
    if (s->n == 0) return bad("params.owner_uid", "no uids exist (n = 0)");
    if ((rc = as_u64(v, "params.owner_uid", s->n - 1, &x))) return rc;
    p->owner_uid = (int32_t)x;
  }
  if ((rc = key_bool(pp, "commit_reveal", "params", &p->commit_reveal))) return rc;
  return 0;
}

static int parse_initial(cstate *s, const json_t *c) {
  json_t *ini, *v;
  char p[PATH_CAP];
  int rc;
  uint32_t n = s->n;
  size_t nn = n ? n : 1;
  s->stake = ag_xcalloc(nn, sizeof *s->stake);
  s->reg = ag_xcalloc(nn, sizeof *s->reg);
  s->lu = ag_xcalloc(nn, sizeof *s->lu);
  s->commit = ag_xcalloc(nn, sizeof *s->commit);
  s->permit = ag_xcalloc(nn, sizeof *s->permit);
  s->w = ag_xcalloc(nn, sizeof *s->w);
  s->b = ag_xcalloc(nn, sizeof *s->b);
  s->scratch = ag_xcalloc(nn, sizeof *s->scratch);
  s->u16a = ag_xcalloc(nn, sizeof *s->u16a);
  s->u16b = ag_xcalloc(nn, sizeof *s->u16b);
  for (uint32_t i = 0; i < n; i++) s->commit[i] = UINT64_MAX;

  if ((rc = get_key(c, "initial", "case", true, &ini))) return rc;
  if ((rc = parse_u64_list(ini, "stake", "initial", n, s->stake))) return rc;
  if ((rc = parse_u64_list(ini, "block_at_registration", "initial", n, s->reg))) return rc;
  if ((rc = parse_u64_list(ini, "last_update", "initial", n, s->lu))) return rc;
  if ((rc = get_key(ini, "validator_permit", "initial", true, &v))) return rc;
  if ((rc = as_array(v, "initial.validator_permit", n))) return rc;
  for (uint32_t i = 0; i < n; i++) {
    pathf(p, sizeof p, "initial.validator_permit[%u]", i);
    if ((rc = as_bool(json_array_get(v, i), p, &s->permit[i]))) return rc;
  }
  const char *mats[2] = {"bonds", "weights"};
  for (int m = 0; m < 2; m++) {
    if ((rc = get_key(ini, mats[m], "initial", true, &v))) return rc;
    pathf(p, sizeof p, "initial.%s", mats[m]);
    if ((rc = as_array(v, p, n))) return rc;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t len;
      pathf(p, sizeof p, "initial.%s[%u]", mats[m], i);
      if ((rc = parse_row(s, json_array_get(v, i), p, &len))) return rc;
      if (m == 0) crow_set(&s->b[i], s->scratch, len);
      else store_weights(s, i, len);
    }
  }
  if ((rc = get_key(ini, "commit_block", "initial", false, &v))) return rc;
  if (v) {
    if ((rc = as_array(v, "initial.commit_block", n))) return rc;
    for (uint32_t i = 0; i < n; i++) {
      json_t *e = json_array_get(v, i);
      pathf(p, sizeof p, "initial.commit_block[%u]", i);
      if (json_is_null(e)) s->commit[i] = UINT64_MAX;
      else if ((rc = as_u64(e, p, INT64_MAX, &s->commit[i]))) return rc;
    }
  }
  return 0;
}

/* A list under key in epoch object e; absent is an empty list. */
static int opt_list(const json_t *e, const char *key, const char *path, json_t **out) {
  char p[PATH_CAP];
  int rc = get_key(e, key, path, false, out);
  if (rc || !*out) return rc;
  pathf(p, sizeof p, "%s.%s", path, key);
  return as_array(*out, p, SIZE_MAX);
}

/* Applies set_weights, register, stake and commit_block of epoch k, in that order. */
static int apply_changes(cstate *s, const json_t *e, const char *path, uint64_t block) {
  json_t *list;
  char p[PATH_CAP];
  int rc;
  uint64_t x;
  uint32_t n = s->n;

  if ((rc = opt_list(e, "set_weights", path, &list))) return rc;
  for (size_t k = 0; list && k < json_array_size(list); k++) {
    json_t *sw = json_array_get(list, k), *wv;
    uint64_t uid, b;
    uint32_t len;
    pathf(p, sizeof p, "%s.set_weights[%zu]", path, k);
    if (n == 0) return bad(p, "no uids exist (n = 0)");
    if ((rc = key_u64(sw, "uid", p, n - 1, &uid))) return rc;
    if ((rc = key_u64(sw, "block", p, block, &b))) return rc;
    if ((rc = get_key(sw, "weights", p, true, &wv))) return rc;
    pathf(p, sizeof p, "%s.set_weights[%zu].weights", path, k);
    if ((rc = parse_row(s, wv, p, &len))) return rc;
    store_weights(s, (uint32_t)uid, len);
    s->lu[uid] = b;
  }

  if ((rc = opt_list(e, "register", path, &list))) return rc;
  for (size_t k = 0; list && k < json_array_size(list); k++) {
    json_t *r = json_array_get(list, k);
    uint64_t uid, b, st;
    pathf(p, sizeof p, "%s.register[%zu]", path, k);
    if (n == 0) return bad(p, "no uids exist (n = 0)");
    if ((rc = key_u64(r, "uid", p, n - 1, &uid))) return rc;
    if ((rc = key_u64(r, "block", p, block, &b))) return rc;
    if ((rc = key_u64(r, "stake", p, INT64_MAX, &st))) return rc;
    s->reg[uid] = b;
    s->lu[uid] = b;
    s->stake[uid] = st;
    s->w[uid].len = 0;
    s->b[uid].len = 0;
    s->permit[uid] = false;
    s->commit[uid] = UINT64_MAX;
    for (uint32_t i = 0; i < n; i++) /* others' weights to uid keep their place, value 0 */
      for (uint32_t q = 0; q < s->w[i].len; q++)
        if (s->w[i].e[q].uid == uid) s->w[i].e[q].value = 0;
  }

  if ((rc = opt_list(e, "stake", path, &list))) return rc;
  for (size_t k = 0; list && k < json_array_size(list); k++) {
    json_t *pair = json_array_get(list, k);
    uint64_t uid;
    pathf(p, sizeof p, "%s.stake[%zu]", path, k);
    if ((rc = as_array(pair, p, 2))) return rc;
    if (n == 0) return bad(p, "no uids exist (n = 0)");
    pathf(p, sizeof p, "%s.stake[%zu][0]", path, k);
    if ((rc = as_u64(json_array_get(pair, 0), p, n - 1, &uid))) return rc;
    pathf(p, sizeof p, "%s.stake[%zu][1]", path, k);
    if ((rc = as_u64(json_array_get(pair, 1), p, INT64_MAX, &x))) return rc;
    s->stake[uid] = x;
  }

  if ((rc = opt_list(e, "commit_block", path, &list))) return rc;
  for (size_t k = 0; list && k < json_array_size(list); k++) {
    json_t *pair = json_array_get(list, k), *bv;
    uint64_t uid;
    pathf(p, sizeof p, "%s.commit_block[%zu]", path, k);
    if ((rc = as_array(pair, p, 2))) return rc;
    if (n == 0) return bad(p, "no uids exist (n = 0)");
    pathf(p, sizeof p, "%s.commit_block[%zu][0]", path, k);
    if ((rc = as_u64(json_array_get(pair, 0), p, n - 1, &uid))) return rc;
    bv = json_array_get(pair, 1);
    pathf(p, sizeof p, "%s.commit_block[%zu][1]", path, k);
    if (json_is_null(bv)) s->commit[uid] = UINT64_MAX;
    else if ((rc = as_u64(bv, p, block, &s->commit[uid]))) return rc;
  }
  return 0;
}

static json_t *u16_list(const uint16_t *v, uint32_t n) {
  json_t *a = json_array();
  for (uint32_t i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
  return a;
}

static json_t *u64_list(const uint64_t *v, uint32_t n) {
  json_t *a = json_array();
  for (uint32_t i = 0; i < n; i++) /* a u64 above 2^63-1 cannot be a JSON integer here */
    json_array_append_new(a, json_integer(v[i] > INT64_MAX ? INT64_MAX : (json_int_t)v[i]));
  return a;
}

static json_t *bool_list(const bool *v, uint32_t n) {
  json_t *a = json_array();
  for (uint32_t i = 0; i < n; i++) json_array_append_new(a, json_boolean(v[i]));
  return a;
}

static json_t *epoch_result(const ag_yuma_output *o) {
  json_t *r = json_object();
  uint32_t n = o->n;
  json_object_set_new(r, "consensus", u16_list(o->consensus, n));
  json_object_set_new(r, "incentive", u16_list(o->incentive, n));
  json_object_set_new(r, "dividends", u16_list(o->dividends, n));
  json_object_set_new(r, "validator_trust", u16_list(o->validator_trust, n));
  json_object_set_new(r, "emission", u64_list(o->emission, n));
  json_object_set_new(r, "server_emission", u64_list(o->server_emission, n));
  json_object_set_new(r, "validator_emission", u64_list(o->validator_emission, n));
  json_object_set_new(r, "validator_permit", bool_list(o->validator_permit, n));
  json_t *bonds = json_array();
  for (uint32_t i = 0; i < n; i++) {
    json_t *row = json_array();
    for (uint32_t k = o->bond_off[i]; k < o->bond_off[i + 1]; k++)
      json_array_append_new(row, json_pack("[ii]", (int)o->bond[k].uid, (int)o->bond[k].value));
    json_array_append_new(bonds, row);
  }
  json_object_set_new(r, "bonds", bonds);
  json_object_set_new(r, "stake_weight", u16_list(o->stake_weight, n));
  json_object_set_new(r, "active", bool_list(o->active, n));
  return r;
}

static int run_epochs(const json_t *c, json_t **result) {
  cstate s;
  memset(&s, 0, sizeof s);
  json_t *epochs, *out = NULL;
  ag_yuma_output o;
  memset(&o, 0, sizeof o);
  ag_yuma_row *wr = NULL, *br = NULL;
  char p[PATH_CAP];
  int rc;

  if ((rc = parse_params(&s, c))) goto fail;
  if ((rc = parse_initial(&s, c))) goto fail;
  if ((rc = get_key(c, "epochs", "case", true, &epochs))) goto fail;
  if ((rc = as_array(epochs, "epochs", SIZE_MAX))) goto fail;
  uint32_t n = s.n;
  wr = ag_xcalloc(n ? n : 1, sizeof *wr);
  br = ag_xcalloc(n ? n : 1, sizeof *br);
  out = json_array();
  uint64_t prev_block = 0;
  for (size_t k = 0; k < json_array_size(epochs); k++) {
    json_t *e = json_array_get(epochs, k);
    uint64_t block;
    pathf(p, sizeof p, "epochs[%zu]", k);
    if ((rc = key_u64(e, "block", p, INT64_MAX, &block))) goto fail;
    if (block < prev_block) {
      rc = ag_fail(AG_E_YUMA_CASE, "%s.block: %llu is before the previous epoch's block %llu", p,
                   (unsigned long long)block, (unsigned long long)prev_block);
      goto fail;
    }
    prev_block = block;
    if ((rc = apply_changes(&s, e, p, block))) goto fail;
    for (uint32_t i = 0; i < n; i++) {
      wr[i] = (ag_yuma_row){s.w[i].e, s.w[i].len};
      br[i] = (ag_yuma_row){s.b[i].e, s.b[i].len};
    }
    ag_yuma_input in = {
        .n = n,
        .block = block,
        .stake = s.stake,
        .last_update = s.lu,
        .block_at_registration = s.reg,
        .validator_permit = s.permit,
        .weights = wr,
        .bonds = br,
        .commit_block = s.commit,
    };
    if ((rc = ag_yuma_epoch(&s.p, &in, &o))) goto fail;
    json_array_append_new(out, epoch_result(&o));
    /* carried to the next epoch: the bonds and permits this epoch wrote */
    for (uint32_t i = 0; i < n; i++) {
      crow_set(&s.b[i], o.bond + o.bond_off[i], o.bond_off[i + 1] - o.bond_off[i]);
      s.permit[i] = o.validator_permit[i];
    }
    ag_yuma_output_free(&o);
  }
  *result = json_pack("{so}", "epochs", out);
  out = NULL;
  rc = 0;
fail:
  json_decref(out);
  ag_yuma_output_free(&o);
  free(wr);
  free(br);
  cstate_free(&s);
  return rc;
}

/* Bounds for the median kind: rows * columns is bounded by the JSON itself (every cell is
 * written out), but with zero rows the column count is not, so both are capped. */
#define MEDIAN_MAX_CELLS (1u << 24)
#define MEDIAN_MAX_COLS (1u << 20)

static int run_median(const json_t *c, json_t **result) {
  json_t *subs, *out = json_array();
  ag_fx *stake = NULL, *score = NULL, *med = NULL;
  char p[PATH_CAP];
  int rc;
  if ((rc = get_key(c, "subcases", "case", true, &subs))) goto fail;
  if ((rc = as_array(subs, "subcases", SIZE_MAX))) goto fail;
  for (size_t s = 0; s < json_array_size(subs); s++) {
    json_t *sc = json_array_get(subs, s), *sv, *wv, *mv;
    uint64_t cols;
    int64_t majority = 0;
    char base[48];
    pathf(base, sizeof base, "subcases[%zu]", s);
    if ((rc = get_key(sc, "stake", base, true, &sv))) goto fail;
    pathf(p, sizeof p, "%s.stake", base);
    if ((rc = as_array(sv, p, SIZE_MAX))) goto fail;
    size_t rows = json_array_size(sv);
    if ((rc = key_u64(sc, "columns", base, MEDIAN_MAX_COLS, &cols))) goto fail;
    if (rows && cols > MEDIAN_MAX_CELLS / rows) {
      rc = bad(base, "too many cells");
      goto fail;
    }
    if ((rc = get_key(sc, "majority", base, true, &mv))) goto fail;
    pathf(p, sizeof p, "%s.majority", base);
    if ((rc = as_i64(mv, p, &majority))) goto fail;
    if ((rc = get_key(sc, "weights", base, true, &wv))) goto fail;
    pathf(p, sizeof p, "%s.weights", base);
    if ((rc = as_array(wv, p, rows))) goto fail;
    stake = ag_xrealloc(stake, (rows ? rows : 1) * sizeof *stake);
    score = ag_xrealloc(score, ((rows && cols) ? rows * cols : 1) * sizeof *score);
    med = ag_xrealloc(med, (cols ? cols : 1) * sizeof *med);
    for (size_t i = 0; i < rows; i++) {
      pathf(p, sizeof p, "%s.stake[%zu]", base, i);
      if ((rc = as_i64(json_array_get(sv, i), p, &stake[i]))) goto fail;
      json_t *row = json_array_get(wv, i);
      pathf(p, sizeof p, "%s.weights[%zu]", base, i);
      if ((rc = as_array(row, p, cols))) goto fail;
      for (size_t j = 0; j < cols; j++) {
        pathf(p, sizeof p, "%s.weights[%zu][%zu]", base, i, j);
        if ((rc = as_i64(json_array_get(row, j), p, &score[i * cols + j]))) goto fail;
      }
    }
    if ((rc = ag_yuma_median_col(stake, rows, score, cols, majority, med))) {
      rc = ag_fail(AG_E_YUMA_CASE, "%s: %s", base, ag_errmsg(rc));
      goto fail;
    }
    json_t *m = json_array();
    for (size_t j = 0; j < cols; j++) json_array_append_new(m, json_integer(med[j]));
    json_array_append_new(out, json_pack("{so}", "median", m));
  }
  *result = json_pack("{so}", "subcases", out);
  out = NULL;
  rc = 0;
fail:
  json_decref(out);
  free(stake);
  free(score);
  free(med);
  return rc;
}

static int case_kind(const json_t *c, const char **kind) {
  json_t *v;
  int rc;
  if (!json_is_object(c)) return bad("case", "expected a JSON object");
  if ((rc = get_key(c, "format", "case", true, &v))) return rc;
  if (!json_is_string(v) || strcmp(json_string_value(v), FORMAT))
    return bad("format", "expected \"" FORMAT "\"");
  if ((rc = get_key(c, "kind", "case", true, &v))) return rc;
  if (json_is_string(v) && !strcmp(json_string_value(v), "epoch")) *kind = "epoch";
  else if (json_is_string(v) && !strcmp(json_string_value(v), "median")) *kind = "median";
  else return bad("kind", "expected \"epoch\" or \"median\"");
  return 0;
}

int ag_yuma_case_run(const json_t *c, json_t **result) {
  const char *kind;
  *result = NULL;
  int rc = case_kind(c, &kind);
  if (rc) return rc;
  return !strcmp(kind, "epoch") ? run_epochs(c, result) : run_median(c, result);
}

/* ---- checking ---- */

static int mismatch(const char *path, long long want, long long got) {
  return ag_fail(AG_E_YUMA_MISMATCH, "%s: expected %lld, got %lld", path, want, got);
}

/* Compares an integer or boolean list element by element, within tolerance tol. */
static int cmp_list(const json_t *want, const json_t *got, const char *path, long long tol) {
  char p[PATH_CAP];
  if (!json_is_array(want)) return bad(path, "expected value is not a list");
  if (!json_is_array(got)) return ag_fail(AG_E_YUMA_MISMATCH, "%s: result is not a list", path);
  if (json_array_size(want) != json_array_size(got))
    return ag_fail(AG_E_YUMA_MISMATCH, "%s: expected %zu elements, got %zu", path,
                   json_array_size(want), json_array_size(got));
  for (size_t i = 0; i < json_array_size(want); i++) {
    json_t *a = json_array_get(want, i), *b = json_array_get(got, i);
    pathf(p, sizeof p, "%s[%zu]", path, i);
    if (json_is_boolean(a)) {
      if (!json_is_boolean(b) || json_is_true(a) != json_is_true(b))
        return ag_fail(AG_E_YUMA_MISMATCH, "%s: expected %s, got %s", p,
                       json_is_true(a) ? "true" : "false",
                       json_is_boolean(b) ? (json_is_true(b) ? "true" : "false") : "non-boolean");
      continue;
    }
    if (!json_is_integer(a)) return bad(p, "expected value is not an integer");
    if (!json_is_integer(b)) return ag_fail(AG_E_YUMA_MISMATCH, "%s: result is not an integer", p);
    long long x = json_integer_value(a), y = json_integer_value(b);
    unsigned long long d = x > y ? (unsigned long long)x - (unsigned long long)y
                                 : (unsigned long long)y - (unsigned long long)x;
    if (d > (unsigned long long)tol) return mismatch(p, x, y);
  }
  return 0;
}

/* Value of uid in a bond row ([[uid, value], ...]); 0 when absent. Sets *ok = false on a
 * malformed row. */
static long long row_get(const json_t *row, long long uid, bool *ok) {
  for (size_t k = 0; k < json_array_size(row); k++) {
    json_t *pr = json_array_get(row, k);
    if (!json_is_array(pr) || json_array_size(pr) != 2 || !json_is_integer(json_array_get(pr, 0)) ||
        !json_is_integer(json_array_get(pr, 1))) {
      *ok = false;
      return 0;
    }
    if (json_integer_value(json_array_get(pr, 0)) == uid)
      return json_integer_value(json_array_get(pr, 1));
  }
  return 0;
}

static int cmp_bonds_row(const json_t *want, const json_t *got, const char *path, long long tol) {
  if (!json_is_array(want)) return bad(path, "expected bond row is not a list");
  if (!json_is_array(got)) return ag_fail(AG_E_YUMA_MISMATCH, "%s: result is not a list", path);
  const json_t *sides[2] = {want, got};
  for (int s = 0; s < 2; s++) { /* every uid present on either side, zeros ignored */
    for (size_t k = 0; k < json_array_size(sides[s]); k++) {
      json_t *pr = json_array_get(sides[s], k);
      bool ok = true;
      if (!json_is_array(pr) || json_array_size(pr) != 2 || !json_is_integer(json_array_get(pr, 0)))
        ok = false;
      long long uid = ok ? json_integer_value(json_array_get(pr, 0)) : 0;
      long long a = row_get(want, uid, &ok), b = row_get(got, uid, &ok);
      if (!ok)
        return s == 0 ? bad(path, "malformed expected bond row")
                      : ag_fail(AG_E_YUMA_MISMATCH, "%s: malformed bond row in result", path);
      if ((a > b ? a - b : b - a) > tol)
        return ag_fail(AG_E_YUMA_MISMATCH, "%s: expected uid %lld = %lld, got %lld", path, uid, a,
                       b);
    }
  }
  return 0;
}

static int check_entries(const json_t *wants, const json_t *gots, const char *what,
                         const char *key_of_entry) {
  char p[PATH_CAP];
  int rc;
  if (!json_is_array(gots))
    return ag_fail(AG_E_YUMA_MISMATCH, "result has no \"%s\" list", what);
  if (json_array_size(wants) != json_array_size(gots))
    return ag_fail(AG_E_YUMA_MISMATCH, "%s: expected %zu results, got %zu", what,
                   json_array_size(wants), json_array_size(gots));
  for (size_t k = 0; k < json_array_size(wants); k++) {
    json_t *w = json_array_get(wants, k), *g = json_array_get(gots, k), *exp, *tolo;
    char base[48];
    pathf(base, sizeof base, "%s[%zu]", what, k);
    if ((rc = get_key(w, key_of_entry, base, false, &exp))) return rc;
    if (!exp) continue;
    if (!json_is_object(exp)) return bad(base, "expect is not an object");
    if (!json_is_object(g)) return ag_fail(AG_E_YUMA_MISMATCH, "%s: result is not an object", base);
    tolo = json_object_get(w, "tolerance");
    const char *field;
    json_t *want;
    json_object_foreach(exp, field, want) {
      long long tol = 0;
      json_t *t = json_is_object(tolo) ? json_object_get(tolo, field) : NULL;
      if (t) {
        if (!json_is_integer(t) || json_integer_value(t) < 0)
          return bad(base, "tolerance must be a non-negative integer");
        tol = json_integer_value(t);
      }
      json_t *got = json_object_get(g, field);
      pathf(p, sizeof p, "%s.%s", base, field);
      if (!got) return ag_fail(AG_E_YUMA_MISMATCH, "%s: missing from the result", p);
      if (!strcmp(field, "bonds")) {
        if (!json_is_array(want)) return bad(p, "expected bonds are not a list");
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
          return ag_fail(AG_E_YUMA_MISMATCH, "%s: expected %zu rows", p, json_array_size(want));
        for (size_t i = 0; i < json_array_size(want); i++) {
          char rp[PATH_CAP];
          pathf(rp, sizeof rp, "%s[%zu]", p, i);
          if ((rc = cmp_bonds_row(json_array_get(want, i), json_array_get(got, i), rp, tol)))
            return rc;
        }
      } else if ((rc = cmp_list(want, got, p, tol))) {
        return rc;
      }
    }
  }
  return 0;
}

int ag_yuma_case_check(const json_t *c, const json_t *result) {
  const char *kind;
  int rc = case_kind(c, &kind);
  if (rc) return rc;
  if (!json_is_object(result)) return ag_fail(AG_E_YUMA_MISMATCH, "result is not an object");
  bool epoch = !strcmp(kind, "epoch");
  json_t *wants = json_object_get(c, epoch ? "epochs" : "subcases");
  if (!json_is_array(wants)) return bad(epoch ? "epochs" : "subcases", "expected an array");
  return check_entries(wants, json_object_get(result, epoch ? "epochs" : "subcases"),
                       epoch ? "epochs" : "subcases", "expect");
}

char *ag_yuma_case_dump(const json_t *result) {
  ag_buf b;
  ag_buf_init(&b);
  const char *key = json_object_get(result, "epochs") ? "epochs" : "subcases";
  json_t *list = json_object_get(result, key);
  ag_buf_printf(&b, "{\"%s\": [", key);
  for (size_t k = 0; k < json_array_size(list); k++) {
    char *s = json_dumps(json_array_get(list, k), JSON_COMPACT | JSON_PRESERVE_ORDER);
    ag_buf_printf(&b, "%s\n  %s", k ? "," : "", s ? s : "null");
    free(s);
  }
  ag_buf_puts(&b, json_array_size(list) ? "\n]}\n" : "]}\n");
  size_t len;
  return (char *)ag_buf_steal(&b, &len);
}
