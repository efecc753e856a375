/*
 * yuma.c — subtensor's sparse Yuma epoch (`epoch_mechanism` in pallets/subtensor/src/epoch/
 * run_epoch.rs and the helpers of epoch/math.rs at 14bc6f9f), in I32F32 fixed point.
 *
 * Each step names the subtensor function it reproduces. Sparse matrices are CSR with rows in
 * uid order and strictly ascending columns; where subtensor densifies a row (mat_ema_sparse,
 * interpolate_sparse) we merge sorted rows instead, which yields the same entries in the same
 * order. Every sum is saturating; with n <= AG_YUMA_MAX_UIDS no sum can reach the limits, so
 * this agrees with Rust's plain `sum()` wherever that one is used.
 *
 * Deliberately not here: state access, coinbase, the dense test-only epoch (`epoch_dense`,
 * which ignores the owner exemptions and decays bonds the sparse path drops).
 */
#include "incentive/yuma.h"

#include "core/err.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- CSR sparse matrix of I32F32 values ---- */

typedef struct {
  uint32_t rows;
  uint32_t *off; /* rows+1 */
  uint32_t *col;
  ag_fx *val;
  size_t len, cap;
} smat;

static void smat_init(smat *m, uint32_t rows, size_t cap) {
  m->rows = rows;
  m->off = ag_xcalloc((size_t)rows + 1, sizeof *m->off);
  m->cap = cap ? cap : 1;
  m->col = ag_xmalloc(m->cap * sizeof *m->col);
  m->val = ag_xmalloc(m->cap * sizeof *m->val);
  m->len = 0;
}

static void smat_free(smat *m) {
  free(m->off);
  free(m->col);
  free(m->val);
  memset(m, 0, sizeof *m);
}

/* Appends to the row being built; the caller ends each row with smat_end_row. Capacities are
 * sized up front from the inputs, so growth only happens if an estimate is wrong. */
static inline void smat_push(smat *m, uint32_t c, ag_fx v) {
  if (m->len == m->cap) {
    m->cap *= 2;
    m->col = ag_xrealloc(m->col, m->cap * sizeof *m->col);
    m->val = ag_xrealloc(m->val, m->cap * sizeof *m->val);
  }
  m->col[m->len] = c;
  m->val[m->len] = v;
  m->len++;
}

static inline void smat_end_row(smat *m, uint32_t i) { m->off[i + 1] = (uint32_t)m->len; }

/* ---- vector helpers (math.rs) ---- */

static ag_fx vec_sum(const ag_fx *x, uint32_t n) {
  ag_fx s = 0;
  for (uint32_t i = 0; i < n; i++) s = ag_fx_add(s, x[i]);
  return s;
}

/* inplace_normalize: x / sum(x), unchanged when the sum is 0. */
static void vec_normalize(ag_fx *x, uint32_t n) {
  ag_fx s = vec_sum(x, n);
  if (s == 0) return;
  for (uint32_t i = 0; i < n; i++) x[i] = ag_fx_safe_div(x[i], s);
}

/* inplace_row_normalize_sparse: rows with a positive sum are divided by it. */
static void smat_row_normalize(smat *m) {
  for (uint32_t i = 0; i < m->rows; i++) {
    ag_fx s = 0;
    for (uint32_t k = m->off[i]; k < m->off[i + 1]; k++) s = ag_fx_add(s, m->val[k]);
    if (s > 0)
      for (uint32_t k = m->off[i]; k < m->off[i + 1]; k++) m->val[k] = ag_fx_safe_div(m->val[k], s);
  }
}

/* inplace_col_normalize_sparse over n columns; colbuf has n entries (scratch). */
static void smat_col_normalize(smat *m, uint32_t n, ag_fx *colbuf) {
  memset(colbuf, 0, (size_t)n * sizeof *colbuf);
  for (size_t k = 0; k < m->len; k++) colbuf[m->col[k]] = ag_fx_add(colbuf[m->col[k]], m->val[k]);
  for (size_t k = 0; k < m->len; k++) {
    ag_fx d = colbuf[m->col[k]];
    if (d != 0) m->val[k] = ag_fx_safe_div(m->val[k], d);
  }
}

/* inplace_col_max_upscale_sparse: each entry divided by its column's maximum (if nonzero). */
static void smat_col_max_upscale(smat *m, uint32_t n, ag_fx *colbuf) {
  memset(colbuf, 0, (size_t)n * sizeof *colbuf);
  for (size_t k = 0; k < m->len; k++)
    if (colbuf[m->col[k]] < m->val[k]) colbuf[m->col[k]] = m->val[k];
  for (size_t k = 0; k < m->len; k++) {
    ag_fx d = colbuf[m->col[k]];
    if (d != 0) m->val[k] = ag_fx_safe_div(m->val[k], d);
  }
}

/* ---- weighted median (math.rs weighted_median) ---- */

typedef struct {
  uint32_t *cur, *lower, *upper; /* each of capacity len */
} median_scratch;

/* Stake-weighted median by a deterministic mid-index pivot partition search. stake and score
 * are indexed 0..len-1; the partition starts as all of them, in index order. Returns 0 when
 * the search exceeds len iterations (it cannot: every step shrinks the partition) or there
 * is nothing to search. */
static ag_fx weighted_median(const ag_fx *stake, const ag_fx *score, uint32_t len, ag_fx minority,
                             ag_fx part_lo, ag_fx part_hi, median_scratch *s) {
  uint32_t *cur = s->cur, *lower = s->lower, *upper = s->upper;
  for (uint32_t k = 0; k < len; k++) cur[k] = k;
  uint32_t n = len;
  size_t iterations = 0, limit = len;
  for (;;) {
    if (n == 0) return 0;
    if (n == 1) return score[cur[0]];
    ag_fx pivot = score[cur[n / 2]];
    ag_fx lo_stake = 0, hi_stake = 0;
    uint32_t nl = 0, nu = 0;
    /* Branch-free partition (the comparisons are unpredictable). The stakes here are
     * normalized, each in [0, 1], and there are at most AG_YUMA_MAX_UIDS of them, so these
     * sums stay below 2^47 and the saturating adds of subtensor never saturate. */
    for (uint32_t k = 0; k < n; k++) {
      uint32_t idx = cur[k];
      ag_fx v = score[idx], st = stake[idx];
      uint32_t lt = v < pivot, gt = v > pivot;
      lower[nl] = idx;
      upper[nu] = idx;
      lo_stake += st & -(ag_fx)lt;
      hi_stake += st & -(ag_fx)gt;
      nl += lt;
      nu += gt;
    }
    uint32_t *t;
    if (minority < ag_fx_add(part_lo, lo_stake) && nl > 0) {
      t = cur, cur = lower, lower = t;
      n = nl;
      part_hi = ag_fx_add(part_lo, lo_stake);
    } else if (ag_fx_sub(part_hi, hi_stake) <= minority && nu > 0) {
      t = cur, cur = upper, upper = t;
      n = nu;
      part_lo = ag_fx_sub(part_hi, hi_stake);
    } else {
      return pivot;
    }
    if (++iterations > limit) break;
  }
  return 0;
}

static void median_scratch_init(median_scratch *s, uint32_t len) {
  size_t c = len ? len : 1;
  s->cur = ag_xmalloc(c * sizeof *s->cur);
  s->lower = ag_xmalloc(c * sizeof *s->lower);
  s->upper = ag_xmalloc(c * sizeof *s->upper);
}

static void median_scratch_free(median_scratch *s) {
  free(s->cur);
  free(s->lower);
  free(s->upper);
}

/* Keeps the positive stakes (in order), normalizes them, and returns how many there are;
 * *minority = sum(normalized) - majority. */
static uint32_t median_use_stake(const ag_fx *stake, size_t rows, ag_fx majority, ag_fx *use,
                                 ag_fx *sum, ag_fx *minority) {
  uint32_t v = 0;
  for (size_t i = 0; i < rows; i++)
    if (stake[i] > 0) use[v++] = stake[i];
  vec_normalize(use, v);
  *sum = vec_sum(use, v);
  *minority = ag_fx_sub(*sum, majority);
  return v;
}

int ag_yuma_median_col(const ag_fx *stake, size_t rows, const ag_fx *score, size_t cols,
                       ag_fx majority, ag_fx *out) {
  if (rows > AG_YUMA_MAX_UIDS)
    return ag_fail(AG_E_YUMA_INPUT, "median: %zu rows exceed the limit of %u", rows,
                   AG_YUMA_MAX_UIDS);
  ag_fx *use = ag_xmalloc((rows ? rows : 1) * sizeof *use);
  ag_fx *col = ag_xmalloc((rows ? rows : 1) * sizeof *col);
  ag_fx sum, minority;
  uint32_t v = median_use_stake(stake, rows, majority, use, &sum, &minority);
  median_scratch ms;
  median_scratch_init(&ms, v);
  for (size_t c = 0; c < cols; c++) {
    uint32_t k = 0;
    for (size_t i = 0; i < rows; i++)
      if (stake[i] > 0) col[k++] = score[i * cols + c];
    out[c] = v ? weighted_median(use, col, v, minority, 0, sum, &ms) : 0;
  }
  median_scratch_free(&ms);
  free(use);
  free(col);
  return 0;
}

/* weighted_median_col_sparse: consensus per column over the rows with active stake > 0. Instead
 * of subtensor's dense columns x rows score matrix we rebuild the dense columns of v scores a
 * block of columns at a time from the sparse rows; the median search sees exactly the same
 * vectors. */
static void consensus_sparse(const ag_fx *active, const smat *w, uint32_t n, ag_fx kappa,
                             ag_fx *out) {
  memset(out, 0, (size_t)n * sizeof *out);
  ag_fx *use = ag_xmalloc((n ? n : 1) * sizeof *use);
  ag_fx sum, minority;
  uint32_t v = median_use_stake(active, n, kappa, use, &sum, &minority);
  if (v == 0) { /* every median is 0 */
    free(use);
    return;
  }
  /* The used rows' values, a block of cb columns at a time: tile column jj holds column
   * j0 + jj as the median reads it (row rank k, 0 where a row has no entry), and stays in L2
   * (at most 32,768 values). Rows are strictly ascending in column, so each row is walked
   * once, by a cursor. (A transposed index of every entry was 6 MB of random writes and
   * reads at 4096 x 256.) */
  uint32_t cb = AG_MAX(1u, AG_MIN(64u, 32768u / v));
  ag_fx *tile = ag_xcalloc((size_t)cb * v, sizeof *tile);
  uint32_t *row = ag_xmalloc((size_t)v * sizeof *row), *cur = ag_xmalloc((size_t)v * sizeof *cur);
  for (uint32_t i = 0, k = 0; i < n; i++)
    if (active[i] > 0) row[k] = i, cur[k++] = w->off[i];
  uint8_t nonzero[64];
  median_scratch ms;
  median_scratch_init(&ms, v);
  for (uint32_t j0 = 0; j0 < n; j0 += cb) {
    uint32_t j1 = AG_MIN(n, j0 + cb);
    memset(nonzero, 0, sizeof nonzero);
    for (uint32_t k = 0; k < v; k++) {
      uint32_t e = cur[k], end = w->off[row[k] + 1];
      for (; e < end && w->col[e] < j1; e++) {
        tile[(size_t)(w->col[e] - j0) * v + k] = w->val[e];
        nonzero[w->col[e] - j0] |= w->val[e] != 0;
      }
      cur[k] = e;
    }
    for (uint32_t jj = 0; jj < j1 - j0; jj++) {
      ag_fx *col = tile + (size_t)jj * v;
      /* a column without any nonzero entry has median 0 (the common value of its scores) */
      if (nonzero[jj]) out[j0 + jj] = weighted_median(use, col, v, minority, 0, sum, &ms);
      memset(col, 0, (size_t)v * sizeof *col);
    }
  }
  median_scratch_free(&ms);
  free(cur);
  free(row);
  free(tile);
  free(use);
}

/* ---- permits (is_topk_nonzero) ---- */

typedef struct {
  ag_fx s;
  uint32_t i;
} stake_idx;

static int cmp_stake_idx(const void *a, const void *b) {
  const stake_idx *x = a, *y = b;
  if (x->s != y->s) return x->s < y->s ? -1 : 1;
  return x->i < y->i ? -1 : (x->i > y->i); /* index order = Rust's stable sort */
}

static void topk_nonzero(const ag_fx *s, uint32_t n, uint32_t k, bool *out) {
  for (uint32_t i = 0; i < n; i++) out[i] = s[i] != 0;
  if (n < k) return;
  stake_idx *v = ag_xmalloc((n ? n : 1) * sizeof *v);
  for (uint32_t i = 0; i < n; i++) v[i] = (stake_idx){s[i], i};
  qsort(v, n, sizeof *v, cmp_stake_idx);
  for (uint32_t t = 0; t < n - k; t++) out[v[t].i] = false;
  free(v);
}

/* ---- bonds helpers ---- */

/* mat_ema_sparse over the union of both rows: alpha*new + (1-alpha)*old, entries > 0 kept. */
static void ema_sparse(const smat *nw, const smat *old, ag_fx alpha, smat *out) {
  ag_fx one_minus = ag_fx_sub(AG_FX_ONE, alpha);
  smat_init(out, nw->rows, nw->len + old->len);
  for (uint32_t i = 0; i < nw->rows; i++) {
    uint32_t a = nw->off[i], ae = nw->off[i + 1], b = old->off[i], be = old->off[i + 1];
    while (a < ae || b < be) {
      uint32_t j;
      ag_fx cell = 0;
      if (b >= be || (a < ae && nw->col[a] < old->col[b])) {
        j = nw->col[a];
        cell = ag_fx_add(cell, ag_fx_mul(alpha, nw->val[a++]));
      } else if (a >= ae || old->col[b] < nw->col[a]) {
        j = old->col[b];
        cell = ag_fx_add(cell, ag_fx_mul(one_minus, old->val[b++]));
      } else {
        j = nw->col[a];
        cell = ag_fx_add(cell, ag_fx_mul(alpha, nw->val[a++]));
        cell = ag_fx_add(cell, ag_fx_mul(one_minus, old->val[b++]));
      }
      if (cell > 0) smat_push(out, j, cell);
    }
    smat_end_row(out, i);
  }
}

/* alpha_sigmoid (run_epoch.rs): the per-entry liquid alpha of Yuma3, in two halves around the
 * exp so that a row's exps can be computed together (ag_fx_exp_n). steep_div is
 * steepness / -100, computed once. */
static ag_fx alpha_exponent(ag_fx c, ag_fx w, ag_fx b, ag_fx steep_div) {
  ag_fx diff_buy = ag_fx_clamp(ag_fx_sub(w, c), 0, AG_FX_ONE);
  ag_fx diff_sell = ag_fx_clamp(ag_fx_sub(b, w), 0, AG_FX_ONE);
  ag_fx combined = w >= b ? diff_buy : diff_sell;
  return ag_fx_mul(steep_div, ag_fx_sub(combined, AG_FX_HALF));
}

static ag_fx alpha_of_exp(ag_fx e, ag_fx lo, ag_fx hi) {
  ag_fx sig = ag_fx_div(AG_FX_ONE, ag_fx_add(AG_FX_ONE, e));
  ag_fx alpha = ag_fx_add(lo, ag_fx_mul(sig, ag_fx_sub(hi, lo)));
  return ag_fx_clamp(alpha, lo, hi);
}

/* compute_liquid_alpha_values_sparse + mat_ema_alpha_sparse. Only the entries of the new
 * (weights) row are written, so a bond whose column is absent from the row is dropped, as on
 * chain; alphas are computed only where they are used. */
static void ema_liquid(const smat *nw, const smat *old, const ag_fx *cons, ag_fx lo, ag_fx hi,
                       ag_fx steep_div, smat *out) {
  smat_init(out, nw->rows, nw->len);
  size_t widest = 1;
  for (uint32_t i = 0; i < nw->rows; i++)
    if (nw->off[i + 1] - nw->off[i] > widest) widest = nw->off[i + 1] - nw->off[i];
  /* A weight at or below consensus and at or above its bond has combined = 0: every such
   * entry has the same alpha, computed once. The others' exps are computed together. */
  const ag_fx x0 = ag_fx_mul(steep_div, ag_fx_sub(0, AG_FX_HALF)), alpha0 = alpha_of_exp(ag_fx_exp(x0), lo, hi);
  ag_fx *bond = ag_xmalloc(widest * sizeof *bond), *x = ag_xmalloc(widest * sizeof *x),
        *e = ag_xmalloc(widest * sizeof *e);
  uint32_t *at = ag_xmalloc(widest * sizeof *at);
  for (uint32_t i = 0; i < nw->rows; i++) {
    uint32_t b = old->off[i], be = old->off[i + 1], a0 = nw->off[i], len = nw->off[i + 1] - a0, m = 0;
    for (uint32_t k = 0; k < len; k++) {
      uint32_t j = nw->col[a0 + k];
      while (b < be && old->col[b] < j) b++;
      bond[k] = (b < be && old->col[b] == j) ? old->val[b] : 0;
      ag_fx xk = alpha_exponent(cons[j], nw->val[a0 + k], bond[k], steep_div);
      if (xk != x0) {
        at[k] = m;
        x[m++] = xk;
      } else {
        at[k] = UINT32_MAX;
      }
    }
    ag_fx_exp_n(x, e, m);
    for (uint32_t k = 0; k < len; k++) {
      ag_fx w = nw->val[a0 + k], al = at[k] == UINT32_MAX ? alpha0 : alpha_of_exp(e[at[k]], lo, hi);
      ag_fx decayed = ag_fx_mul(ag_fx_sub(AG_FX_ONE, al), bond[k]);
      ag_fx inc = ag_fx_max(ag_fx_mul(al, w), 0);
      ag_fx v = ag_fx_min(ag_fx_add(decayed, inc), AG_FX_ONE);
      if (v > 0) smat_push(out, nw->col[a0 + k], v);
    }
    smat_end_row(out, i);
  }
  free(bond);
  free(x);
  free(e);
  free(at);
}

/* ---- input validation ---- */

static int check_rows(const ag_yuma_row *rows, uint32_t n, const char *what) {
  if (!rows) return 0;
  for (uint32_t i = 0; i < n; i++) {
    const ag_yuma_row *r = &rows[i];
    if (r->len && !r->e) return ag_fail(AG_E_YUMA_INPUT, "%s row %u: NULL entries", what, i);
    if (r->len > n)
      return ag_fail(AG_E_YUMA_INPUT, "%s row %u: %u entries for %u uids", what, i, r->len, n);
    for (uint32_t k = 0; k < r->len; k++) {
      if (r->e[k].uid >= n)
        return ag_fail(AG_E_YUMA_INPUT, "%s row %u: uid %u out of range (n = %u)", what, i,
                       r->e[k].uid, n);
      if (k && r->e[k].uid <= r->e[k - 1].uid)
        return ag_fail(AG_E_YUMA_INPUT, "%s row %u: uids not strictly ascending at uid %u", what,
                       i, r->e[k].uid);
    }
  }
  return 0;
}

static int validate(const ag_yuma_params *p, const ag_yuma_input *in) {
  if (!p || !in) return ag_fail(AG_E_INVALID, "yuma: NULL params or input");
  uint32_t n = in->n;
  if (n > AG_YUMA_MAX_UIDS)
    return ag_fail(AG_E_YUMA_INPUT, "n = %u exceeds the limit of %u uids", n, AG_YUMA_MAX_UIDS);
  if (n && (!in->stake || !in->last_update || !in->block_at_registration || !in->validator_permit))
    return ag_fail(AG_E_YUMA_INPUT, "missing stake, last_update, block_at_registration or "
                                    "validator_permit");
  if (p->bonds_moving_average > 1000000)
    return ag_fail(AG_E_YUMA_PARAM, "bonds_moving_average %llu exceeds 1000000",
                   (unsigned long long)p->bonds_moving_average);
  if (p->owner_uid < -1 || (p->owner_uid >= 0 && (uint32_t)p->owner_uid >= n && n))
    return ag_fail(AG_E_YUMA_PARAM, "owner_uid %d out of range (n = %u)", p->owner_uid, n);
  if (p->commit_reveal && n && !in->commit_block)
    return ag_fail(AG_E_YUMA_INPUT, "commit_reveal is on but no commit blocks were given");
  unsigned __int128 total = 0;
  for (uint32_t i = 0; i < n; i++) total += in->stake[i];
  if (total > (unsigned __int128)INT64_MAX)
    return ag_fail(AG_E_YUMA_INPUT, "total stake exceeds 2^63-1 base units (I64F64 range)");
  int rc = check_rows(in->weights, n, "weights");
  if (!rc) rc = check_rows(in->bonds, n, "bonds");
  return rc;
}

void ag_yuma_params_default(ag_yuma_params *p) {
  memset(p, 0, sizeof *p);
  p->kappa = 32767;
  p->bonds_penalty = 65535;
  p->bonds_moving_average = 900000;
  p->yuma3 = true;
  p->liquid_alpha = false;
  p->alpha_low = 45875;
  p->alpha_high = 58982;
  p->alpha_sigmoid_steepness = 1000;
  p->max_allowed_validators = 64;
  p->activity_cutoff = 5000;
  p->stake_threshold = 0;
  p->tempo = 360;
  p->last_step_block = 0;
  p->commit_reveal = false;
  p->owner_uid = -1;
  p->emission = 0;
}

void ag_yuma_output_free(ag_yuma_output *out) {
  if (!out) return;
  free(out->consensus);
  free(out->incentive);
  free(out->dividends);
  free(out->validator_trust);
  free(out->stake_weight);
  free(out->active);
  free(out->validator_permit);
  free(out->emission);
  free(out->server_emission);
  free(out->validator_emission);
  free(out->bond_off);
  free(out->bond);
  memset(out, 0, sizeof *out);
}

/* ---- the epoch ---- */

int ag_yuma_epoch(const ag_yuma_params *p, const ag_yuma_input *in, ag_yuma_output *out) {
  if (!out) return ag_fail(AG_E_INVALID, "yuma: NULL output");
  memset(out, 0, sizeof *out);
  int rc = validate(p, in);
  if (rc) return rc;

  const uint32_t n = in->n;
  const size_t nn = n ? n : 1;
  const uint64_t block = in->block;
  const int64_t owner = n ? p->owner_uid : -1;
  static const ag_yuma_row empty_row = {NULL, 0};

  out->n = n;
  out->consensus = ag_xcalloc(nn, sizeof *out->consensus);
  out->incentive = ag_xcalloc(nn, sizeof *out->incentive);
  out->dividends = ag_xcalloc(nn, sizeof *out->dividends);
  out->validator_trust = ag_xcalloc(nn, sizeof *out->validator_trust);
  out->stake_weight = ag_xcalloc(nn, sizeof *out->stake_weight);
  out->active = ag_xcalloc(nn, sizeof *out->active);
  out->validator_permit = ag_xcalloc(nn, sizeof *out->validator_permit);
  out->emission = ag_xcalloc(nn, sizeof *out->emission);
  out->server_emission = ag_xcalloc(nn, sizeof *out->server_emission);
  out->validator_emission = ag_xcalloc(nn, sizeof *out->validator_emission);
  out->bond_off = ag_xcalloc(nn + 1, sizeof *out->bond_off);

  /* One block of per-uid I32F32 vectors. */
  ag_fx *vecs = ag_xcalloc(nn * 8, sizeof *vecs);
  ag_fx *S = vecs, *A = vecs + nn, *C = vecs + 2 * nn, *VT = vecs + 3 * nn, *I = vecs + 4 * nn,
        *D = vecs + 5 * nn, *colbuf = vecs + 6 * nn, *tmp = vecs + 7 * nn;
  bool *permit = ag_xcalloc(nn, sizeof *permit);
  smat W = {0}, Wc = {0}, Wi = {0}, B = {0}, dB = {0}, E = {0};
  const smat *Wb; /* weights for bonds: W, Wc or Wi */

  /* == Active: inactive_i <=> last_update_i + activity_cutoff < block (saturating add) == */
  for (uint32_t i = 0; i < n; i++) {
    uint64_t lu = in->last_update[i], t;
    if (ag_add_u64(lu, p->activity_cutoff, &t)) t = UINT64_MAX;
    out->active[i] = !(t < block);
  }

  /* == Stake: threshold (owner exempt), I64F64 normalization, floor to I32F32 == */
  {
    uint64_t sum = 0; /* validated: fits 2^63 */
    for (uint32_t i = 0; i < n; i++) {
      uint64_t s = in->stake[i];
      if (owner != (int64_t)i && s < p->stake_threshold) s = 0;
      tmp[i] = (ag_fx)s; /* filtered stake, as an integer for now */
      sum += s;
    }
    ag_fx64 total = ag_fx64_from_u64(sum);
    for (uint32_t i = 0; i < n; i++) {
      ag_fx64 f = ag_fx64_from_u64((uint64_t)tmp[i]);
      S[i] = ag_fx64_to_fx(sum ? ag_fx64_safe_div(f, total) : f);
    }
  }

  /* == Permits: the previous epoch's (owner forced true) gate this epoch; P' is stored == */
  for (uint32_t i = 0; i < n; i++) permit[i] = in->validator_permit[i];
  if (owner >= 0) permit[owner] = true;
  topk_nonzero(S, n, p->max_allowed_validators, out->validator_permit);
  if (owner >= 0) out->validator_permit[owner] = true;

  /* == Active stake: S masked by inactivity and missing permits, normalized == */
  for (uint32_t i = 0; i < n; i++) A[i] = (out->active[i] && permit[i]) ? S[i] : 0;
  vec_normalize(A, n);

  /* == Weights: stored u16 as I32F32 integers; drop rows without permit, the diagonal
   * (except the owner's), outdated entries (last_update_i <= reg_j) and, with commit-reveal,
   * entries committed before j registered (commit_i < reg_j); then row-normalize == */
  {
    size_t cap = 0;
    for (uint32_t i = 0; i < n && in->weights; i++) cap += in->weights[i].len;
    smat_init(&W, n, cap);
    for (uint32_t i = 0; i < n; i++) {
      const ag_yuma_row *r = in->weights ? &in->weights[i] : &empty_row;
      if (permit[i]) {
        uint64_t lu = in->last_update[i];
        uint64_t cb = p->commit_reveal ? in->commit_block[i] : 0;
        for (uint32_t k = 0; k < r->len; k++) {
          uint32_t j = r->e[k].uid;
          if (j == i && owner != (int64_t)i) continue;
          uint64_t reg = in->block_at_registration[j];
          if (lu <= reg) continue;
          if (p->commit_reveal && cb < reg) continue;
          smat_push(&W, j, (ag_fx)r->e[k].value << AG_FX_FRAC);
        }
      }
      smat_end_row(&W, i);
    }
    smat_row_normalize(&W);
  }

  /* == Consensus: stake-weighted median at kappa == */
  ag_fx kappa = ag_fx_safe_div((ag_fx)p->kappa << AG_FX_FRAC, AG_FX_U16_MAX);
  consensus_sparse(A, &W, n, kappa, C);

  /* == Clipping (col_clip_sparse): min(w, c), entries with c = 0 < w dropped; in the same
   * pass validator trust (row sums of clipped weights) and rank (matmul_sparse) == */
  ag_fx beta = ag_fx_safe_div((ag_fx)p->bonds_penalty << AG_FX_FRAC, AG_FX_U16_MAX);
  /* Bonds use W + beta*(Wc - W) (interpolate_sparse): W itself when beta = 0 (Wc is then only
   * needed for trust and rank and is never stored), Wc when beta = 1 (then W is dead and Wc
   * is built in place), a separate interpolation otherwise. */
  bool in_place = beta == AG_FX_ONE, keep_wc = beta != 0 && !in_place;
  if (keep_wc) smat_init(&Wc, n, W.len);
  {
    uint32_t rd = 0;
    size_t wr = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t re = W.off[i + 1];
      ag_fx vt = 0;
      for (uint32_t k = rd; k < re; k++) {
        uint32_t j = W.col[k];
        ag_fx th = C[j], v = W.val[k];
        if (th < v) {
          if (!(th > 0)) continue; /* dropped */
          v = th;
        }
        vt = ag_fx_add(vt, v);
        I[j] = ag_fx_add(I[j], ag_fx_mul(A[i], v));
        if (in_place) {
          W.col[wr] = j;
          W.val[wr++] = v;
        } else if (keep_wc) {
          smat_push(&Wc, j, v);
        }
      }
      VT[i] = vt;
      if (in_place) W.off[i + 1] = (uint32_t)wr;
      if (keep_wc) smat_end_row(&Wc, i);
      rd = re;
    }
    if (in_place) W.len = wr;
  }
  /* == Incentive: normalized rank == */
  vec_normalize(I, n);

  /* == Weights for bonds == */
  if (beta == 0 || in_place) {
    Wb = &W;
  } else {
    /* Wc's support is a subset of W's and both are sorted: walk them together. Entries where
     * W has none interpolate to 0 and are not kept, like the dense loop on chain. */
    smat_init(&Wi, n, W.len);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t c = Wc.off[i], ce = Wc.off[i + 1];
      for (uint32_t k = W.off[i]; k < W.off[i + 1]; k++) {
        uint32_t j = W.col[k];
        while (c < ce && Wc.col[c] < j) c++;
        ag_fx v1 = W.val[k], v2 = (c < ce && Wc.col[c] == j) ? Wc.val[c] : 0;
        ag_fx v = ag_fx_add(v1, ag_fx_mul(beta, ag_fx_sub(v2, v1)));
        if (v > 0) smat_push(&Wi, j, v);
      }
      smat_end_row(&Wi, i);
    }
    Wb = &Wi;
  }

  /* == Bonds: stored rows, with bonds to uids registered since the last step dropped == */
  uint64_t last_tempo;
  if (p->last_step_block == 0) last_tempo = block >= p->tempo ? block - p->tempo : 0;
  else if (ag_add_u64(p->last_step_block, 1, &last_tempo)) last_tempo = UINT64_MAX;
  {
    size_t cap = 0;
    for (uint32_t i = 0; i < n && in->bonds; i++) cap += in->bonds[i].len;
    smat_init(&B, n, cap);
    for (uint32_t i = 0; i < n; i++) {
      const ag_yuma_row *r = in->bonds ? &in->bonds[i] : &empty_row;
      for (uint32_t k = 0; k < r->len; k++) {
        uint32_t j = r->e[k].uid;
        if (last_tempo <= in->block_at_registration[j]) continue;
        /* classic: raw u16 as an I32F32 integer; yuma3: the proportion v/65535 */
        ag_fx v = p->yuma3 ? ag_fx_from_u16_prop(r->e[k].value)
                           : (ag_fx)r->e[k].value << AG_FX_FRAC;
        smat_push(&B, j, v);
      }
      smat_end_row(&B, i);
    }
  }

  /* alpha = 1 - bonds_moving_average/1e6, the ratio computed in I64F64 then floored to
   * I32F32 (bma <= 1e6 is validated, so the saturating and wrapping conversions the two
   * variants use on chain agree). */
  ag_fx alpha = ag_fx_sub(AG_FX_ONE, ag_fx64_to_fx(ag_fx64_safe_div(
                                         ag_fx64_from_u64(p->bonds_moving_average),
                                         ag_fx64_from_u64(1000000))));

  if (p->yuma3) {
    /* == Yuma3: EMA directly on the weights (absolute bonds in [0,1]) == */
    bool any_c = false;
    for (uint32_t j = 0; j < n; j++) any_c |= C[j] != 0;
    if (p->liquid_alpha && n && any_c) {
      ag_fx lo = ag_fx_from_u16_prop(p->alpha_low), hi = ag_fx_from_u16_prop(p->alpha_high);
      ag_fx steep_div = ag_fx_div(ag_fx_from_int(p->alpha_sigmoid_steepness), ag_fx_from_int(-100));
      ema_liquid(Wb, &B, C, lo, hi, steep_div, &E);
    } else {
      ema_sparse(Wb, &B, alpha, &E);
    }
    /* Dividends: D_i = A_i * sum_j colnorm(E)_ij * I_j, normalized. The column-normalized
     * copy of E (inplace_col_normalize_sparse) is computed entry by entry, not stored. */
    memset(colbuf, 0, nn * sizeof *colbuf);
    for (size_t k = 0; k < E.len; k++) colbuf[E.col[k]] = ag_fx_add(colbuf[E.col[k]], E.val[k]);
    for (uint32_t i = 0; i < n; i++) {
      ag_fx t = 0;
      for (uint32_t k = E.off[i]; k < E.off[i + 1]; k++) {
        ag_fx d = colbuf[E.col[k]], en = d != 0 ? ag_fx_safe_div(E.val[k], d) : E.val[k];
        t = ag_fx_add(t, ag_fx_mul(en, I[E.col[k]]));
      }
      ag_fx d;
      D[i] = ag_fx_mul_checked(t, A[i], &d) ? d : 0; /* vec_mul: checked_mul or 0 */
    }
    vec_normalize(D, n);
  } else {
    /* == Classic: stake-weighted bond deltas, EMA, column-normalized == */
    smat_col_normalize(&B, n, colbuf);
    smat_init(&dB, n, Wb->len);
    for (uint32_t i = 0; i < n; i++) {
      for (uint32_t k = Wb->off[i]; k < Wb->off[i + 1]; k++)
        smat_push(&dB, Wb->col[k], ag_fx_mul(Wb->val[k], A[i]));
      smat_end_row(&dB, i);
    }
    smat_col_normalize(&dB, n, colbuf);
    ema_sparse(&dB, &B, alpha, &E);
    smat_col_normalize(&E, n, colbuf);
    /* Dividends: D_i = sum_j E_ij * I_j (matmul_transpose_sparse), normalized */
    for (uint32_t i = 0; i < n; i++) {
      ag_fx t = 0;
      for (uint32_t k = E.off[i]; k < E.off[i + 1]; k++)
        t = ag_fx_add(t, ag_fx_mul(I[E.col[k]], E.val[k]));
      D[i] = t;
    }
    vec_normalize(D, n);
    /* Storage: every column scaled so that its largest bond is 1 */
    smat_col_max_upscale(&E, n, colbuf);
  }

  /* == Emission: I and D share E in proportion to I+D; if that is all zero, by stake == */
  {
    ag_fx esum = 0;
    for (uint32_t i = 0; i < n; i++) {
      tmp[i] = ag_fx_add(I[i], D[i]);
      esum = ag_fx_add(esum, tmp[i]);
    }
    const ag_fx *val_src = D, *comb_src = tmp;
    if (esum == 0) {
      out->fallback = true;
      val_src = comb_src = vec_sum(A, n) == 0 ? S : A;
      for (uint32_t i = 0; i < n; i++) {
        out->server_emission[i] = ag_fx_to_rao(I[i], p->emission); /* I is all zero here */
        out->validator_emission[i] = ag_fx_to_rao(val_src[i], p->emission);
        out->emission[i] = ag_fx_to_rao(comb_src[i], p->emission);
      }
    } else {
      for (uint32_t i = 0; i < n; i++) {
        out->server_emission[i] = ag_fx_to_rao(ag_fx_safe_div(I[i], esum), p->emission);
        out->validator_emission[i] = ag_fx_to_rao(ag_fx_safe_div(D[i], esum), p->emission);
        out->emission[i] = ag_fx_to_rao(ag_fx_safe_div(tmp[i], esum), p->emission);
      }
    }
  }

  /* == Stored u16 outputs == */
  for (uint32_t i = 0; i < n; i++) {
    out->stake_weight[i] = ag_fx_to_u16_prop(S[i]);
    out->consensus[i] = ag_fx_to_u16_prop(C[i]);
    out->incentive[i] = ag_fx_to_u16_prop(I[i]);
    out->dividends[i] = ag_fx_to_u16_prop(D[i]);
    out->validator_trust[i] = ag_fx_to_u16_prop(VT[i]);
  }

  /* == Bonds to store: rows of uids holding the new permit; every other row is empty == */
  {
    size_t cnt = 0;
    for (uint32_t i = 0; i < n; i++)
      if (out->validator_permit[i]) cnt += E.off[i + 1] - E.off[i];
    out->bond = ag_xmalloc((cnt ? cnt : 1) * sizeof *out->bond);
    size_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (out->validator_permit[i])
        for (uint32_t k = E.off[i]; k < E.off[i + 1]; k++)
          out->bond[w++] = (ag_yuma_entry){(uint16_t)E.col[k], ag_fx_to_u16_prop(E.val[k])};
      out->bond_off[i + 1] = (uint32_t)w;
    }
    out->bond_len = w;
  }

  smat_free(&W);
  smat_free(&Wc);
  smat_free(&Wi);
  smat_free(&B);
  smat_free(&dB);
  smat_free(&E);
  free(permit);
  free(vecs);
  return 0;
}

/* ---- set_weights max-upscaling (vec_u16_max_upscale_to_u16) ---- */

void ag_yuma_weights_upscale(const uint16_t *in, size_t len, uint16_t *out) {
  if (len == 0) return;
  uint16_t m = 0;
  for (size_t i = 0; i < len; i++)
    if (in[i] > m) m = in[i];
  if (m == 0) { /* e * 65535 as u16: every value is 0 */
    for (size_t i = 0; i < len; i++) out[i] = 0;
    return;
  }
  ag_fx maxv = (ag_fx)m << AG_FX_FRAC;
  if (maxv > ((ag_fx)32768 << AG_FX_FRAC)) {
    ag_fx q = ag_fx_safe_div(AG_FX_U16_MAX, maxv); /* 65535 / max, truncated */
    for (size_t i = 0; i < len; i++)
      out[i] = ag_fx_to_u16(ag_fx_round(ag_fx_mul((ag_fx)in[i] << AG_FX_FRAC, q)));
  } else {
    for (size_t i = 0; i < len; i++)
      out[i] = ag_fx_to_u16(
          ag_fx_round(ag_fx_safe_div(ag_fx_mul((ag_fx)in[i] << AG_FX_FRAC, AG_FX_U16_MAX), maxv)));
  }
}
