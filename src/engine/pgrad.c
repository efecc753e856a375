/* pgrad.c — top-k-per-chunk int8 pseudo-gradients with error feedback (docs/pgrad-format.md).
 * Selection orders entries by a 64-bit key (bits of |x|, then reversed index), so the result
 * is unique and the same on every machine; a k-sized min-heap finds the top k in one pass. */
#include "engine/pgrad.h"

#include "core/err.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int chunk_ok(uint32_t chunk) {
  return chunk >= AG_PGRAD_CHUNK_MIN && chunk <= AG_PGRAD_CHUNK_MAX && !(chunk & (chunk - 1));
}

static int params_ok(uint64_t n, uint32_t chunk, uint32_t k) {
  return n >= 1 && chunk_ok(chunk) && k >= 1 && k <= chunk / 2;
}

/* Bytes of one chunk holding kc entries: scale, packed 12-bit indices, int8 values. */
static uint64_t chunk_bytes(uint32_t kc) { return 4 + 3 * (uint64_t)(kc / 2) + 2 * (kc & 1) + kc; }

size_t ag_pgrad_size(uint64_t n, uint32_t chunk, uint32_t k) {
  if (!params_ok(n, chunk, k) || n > SIZE_MAX / sizeof(float)) return 0;
  uint64_t full = n / chunk, rem = n % chunk, size;
  uint64_t tail = rem ? chunk_bytes((uint32_t)AG_MIN(k, rem)) : 0;
  if (ag_mul_u64(full, chunk_bytes(k), &size) || ag_add_u64(size, AG_PGRAD_HDR_SIZE + tail, &size) ||
      size > SIZE_MAX)
    return 0;
  return (size_t)size;
}

static float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* Length and kept entries of chunk c. */
static void chunk_dims(const ag_pgrad_hdr *h, uint64_t c, uint32_t *len, uint32_t *kc) {
  uint64_t left = h->n - c * h->chunk;
  *len = (uint32_t)AG_MIN((uint64_t)h->chunk, left);
  *kc = AG_MIN(h->k, *len);
}

/* ---- encoding ---- */

static void sift_down(uint64_t *heap, uint32_t n, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    if (l < n && heap[l] < heap[m]) m = l;
    if (l + 1 < n && heap[l + 1] < heap[m]) m = l + 1;
    if (m == i) return;
    uint64_t t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
}

/* The kc largest entries of x[0..len) by (|x| desc, index asc), as ascending indices.
 * heap: kc keys; mark: len bytes, zero on entry and on return. */
static void select_top(const float *x, uint32_t len, uint32_t kc, uint64_t *heap, uint8_t *mark,
                       uint16_t *idx) {
  if (kc == len) {
    for (uint32_t j = 0; j < len; j++) idx[j] = (uint16_t)j;
    return;
  }
  /* |x| of a finite float orders like its bits; 4095 - j puts the lower index first on ties */
  for (uint32_t j = 0; j < len; j++) {
    uint64_t key = (uint64_t)(f32_bits(x[j]) & 0x7FFFFFFFu) << 12 | (4095 - j);
    if (j < kc) {
      heap[j] = key;
      if (j == kc - 1)
        for (uint32_t i = kc / 2; i-- > 0;) sift_down(heap, kc, i);
    } else if (key > heap[0]) {
      heap[0] = key;
      sift_down(heap, kc, 0);
    }
  }
  for (uint32_t i = 0; i < kc; i++) mark[4095 - (heap[i] & 0xFFF)] = 1;
  uint32_t m = 0;
  for (uint32_t j = 0; j < len; j++)
    if (mark[j]) {
      mark[j] = 0;
      idx[m++] = (uint16_t)j;
    }
}

int ag_pgrad_encode(const ag_pgrad_hdr *h, float *e, ag_buf *out) {
  size_t size = ag_pgrad_size(h->n, h->chunk, h->k);
  if (!size)
    return ag_fail(AG_E_INVALID, "pgrad: bad shape n=%llu chunk=%u k=%u (chunk a power of two "
                   "in 256..4096, k in 1..chunk/2, n >= 1)", (unsigned long long)h->n, h->chunk, h->k);
  /* the largest |e| of a chunk is always sent and sets its scale, which must satisfy the
   * decoder: finite, and finite times 127 (refuses |e| within about 2^-24 of FLT_MAX) */
  for (uint64_t i = 0; i < h->n; i++)
    if (!isfinite(e[i]) || (fabsf(e[i]) > 1e38f && !isfinite(fabsf(e[i]) / 127.0f * 127.0f)))
      return ag_fail(AG_E_PG_NONFINITE, "pgrad: e[%llu] is %g", (unsigned long long)i, (double)e[i]);
  ag_buf_reserve(out, size);
  uint8_t *w = out->data + out->len;
  memcpy(w, AG_PGRAD_MAGIC, 8);
  ag_put_u32le(w + 8, h->netuid);
  ag_put_u32le(w + 12, h->chunk);
  ag_put_u32le(w + 16, h->k);
  ag_put_u32le(w + 20, 0);
  ag_put_u64le(w + 24, h->round);
  ag_put_u64le(w + 32, h->n);
  memcpy(w + 40, h->base, 32);
  w += AG_PGRAD_HDR_SIZE;

  uint64_t *heap = ag_xmalloc(h->k * sizeof *heap);
  uint8_t *mark = ag_xcalloc(h->chunk, 1);
  uint16_t *idx = ag_xmalloc(h->k * sizeof *idx);
  uint64_t nchunks = (h->n + h->chunk - 1) / h->chunk;
  for (uint64_t c = 0; c < nchunks; c++) {
    uint32_t len, kc;
    chunk_dims(h, c, &len, &kc);
    float *x = e + c * h->chunk;
    select_top(x, len, kc, heap, mark, idx);
    float maxabs = 0;
    for (uint32_t j = 0; j < kc; j++) maxabs = AG_MAX(maxabs, fabsf(x[idx[j]]));
    float scale = maxabs / 127.0f; /* 0 also when maxabs is so small that this underflows */
    ag_put_u32le(w, f32_bits(scale));
    w += 4;
    for (uint32_t j = 0; j + 1 < kc; j += 2, w += 3) {
      uint32_t v = (uint32_t)idx[j] | (uint32_t)idx[j + 1] << 12;
      w[0] = (uint8_t)v;
      w[1] = (uint8_t)(v >> 8);
      w[2] = (uint8_t)(v >> 16);
    }
    if (kc & 1) {
      ag_put_u16le(w, idx[kc - 1]);
      w += 2;
    }
    for (uint32_t j = 0; j < kc; j++) {
      long q = 0;
      if (scale > 0) q = AG_MAX(-127L, AG_MIN(127L, lrintf(x[idx[j]] / scale)));
      *w++ = (uint8_t)(int8_t)q;
      x[idx[j]] -= scale * (float)q; /* error feedback: keep what was not sent */
    }
  }
  free(heap);
  free(mark);
  free(idx);
  if ((size_t)(w - out->data) != out->len + size) abort(); /* the size formula is the layout */
  out->len += size;
  return 0;
}

/* ---- decoding ---- */

static int header_read(const uint8_t *b, size_t len, ag_pgrad_hdr *h) {
  if (len < AG_PGRAD_HDR_SIZE)
    return ag_fail(AG_E_PG_MALFORMED, "pgrad: %zu bytes, shorter than the %d-byte header", len,
                   AG_PGRAD_HDR_SIZE);
  if (memcmp(b, AG_PGRAD_MAGIC, 8)) return ag_fail(AG_E_PG_MALFORMED, "pgrad: bad magic");
  h->netuid = ag_get_u32le(b + 8);
  h->chunk = ag_get_u32le(b + 12);
  h->k = ag_get_u32le(b + 16);
  uint32_t reserved = ag_get_u32le(b + 20);
  h->round = ag_get_u64le(b + 24);
  h->n = ag_get_u64le(b + 32);
  memcpy(h->base, b + 40, 32);
  if (reserved) return ag_fail(AG_E_PG_MALFORMED, "pgrad: reserved field is %u, not 0", reserved);
  if (!chunk_ok(h->chunk))
    return ag_fail(AG_E_PG_MALFORMED, "pgrad: chunk %u is not a power of two in 256..4096", h->chunk);
  if (h->k < 1 || h->k > h->chunk / 2)
    return ag_fail(AG_E_PG_MALFORMED, "pgrad: k %u is not in 1..%u", h->k, h->chunk / 2);
  if (h->n < 1) return ag_fail(AG_E_PG_MALFORMED, "pgrad: n is 0");
  return 0;
}

static int shape_cmp(const ag_pgrad_hdr *h, const ag_pgrad_hdr *x) {
  const char *what = h->netuid != x->netuid ? "netuid"
                     : h->round != x->round ? "round"
                     : h->n != x->n         ? "n"
                     : h->chunk != x->chunk ? "chunk"
                     : h->k != x->k         ? "k"
                     : memcmp(h->base, x->base, 32) ? "base checkpoint"
                                                    : NULL;
  return what ? ag_fail(AG_E_PG_SHAPE, "pgrad: %s differs from the expected one", what) : 0;
}

/* Decodes and checks chunk c at *pp and advances. The caller checked the total size, so the
 * bytes are there. idx and val hold kc entries. */
static int chunk_read(const uint8_t **pp, uint64_t c, uint32_t len, uint32_t kc, float *scale,
                      uint16_t *idx, int8_t *val) {
  const uint8_t *p = *pp;
  uint32_t bits = ag_get_u32le(p);
  *scale = f32_from_bits(bits);
  if (!isfinite(*scale))
    return ag_fail(AG_E_PG_NONFINITE, "pgrad: chunk %llu has scale %s", (unsigned long long)c,
                   isnan(*scale) ? "NaN" : "Inf");
  if (bits >> 31) return ag_fail(AG_E_PG_MALFORMED, "pgrad: chunk %llu has a negative scale", (unsigned long long)c);
  if (!isfinite(*scale * 127.0f)) /* every decoded value scale * v must be finite */
    return ag_fail(AG_E_PG_NONFINITE, "pgrad: chunk %llu: scale %g times 127 overflows",
                   (unsigned long long)c, (double)*scale);
  p += 4;
  for (uint32_t j = 0; j + 1 < kc; j += 2, p += 3) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    idx[j] = (uint16_t)(v & 0xFFF);
    idx[j + 1] = (uint16_t)(v >> 12);
  }
  if (kc & 1) {
    idx[kc - 1] = ag_get_u16le(p); /* top 4 bits set: >= 4096, refused as out of range */
    p += 2;
  }
  for (uint32_t j = 0; j < kc; j++) {
    if (idx[j] >= len)
      return ag_fail(AG_E_PG_MALFORMED, "pgrad: chunk %llu: index %u is not below the chunk's length %u",
                     (unsigned long long)c, idx[j], len);
    if (j && idx[j] <= idx[j - 1])
      return ag_fail(AG_E_PG_MALFORMED, "pgrad: chunk %llu: indices are not strictly increasing (%u after %u)",
                     (unsigned long long)c, idx[j], idx[j - 1]);
  }
  for (uint32_t j = 0; j < kc; j++) {
    val[j] = (int8_t)p[j];
    if (val[j] == -128)
      return ag_fail(AG_E_PG_MALFORMED, "pgrad: chunk %llu: value -128 (the range is -127..127)",
                     (unsigned long long)c);
  }
  *pp = p + kc;
  return 0;
}

int ag_pgrad_check(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, size_t max_bytes,
                   ag_pgrad_hdr *out) {
  if (max_bytes && len > max_bytes)
    return ag_fail(AG_E_PG_TOO_LARGE, "pgrad: %zu bytes, the limit is %zu", len, max_bytes);
  ag_pgrad_hdr h;
  int rc;
  if ((rc = header_read(b, len, &h))) return rc;
  if (expect && (rc = shape_cmp(&h, expect))) return rc;
  size_t size = ag_pgrad_size(h.n, h.chunk, h.k);
  if (!size) return ag_fail(AG_E_PG_MALFORMED, "pgrad: n=%llu is too large", (unsigned long long)h.n);
  if (len != size)
    return ag_fail(AG_E_PG_MALFORMED, "pgrad: %zu bytes, n=%llu chunk=%u k=%u needs exactly %zu", len,
                   (unsigned long long)h.n, h.chunk, h.k, size);
  uint16_t idx[AG_PGRAD_CHUNK_MAX / 2];
  int8_t val[AG_PGRAD_CHUNK_MAX / 2];
  const uint8_t *p = b + AG_PGRAD_HDR_SIZE;
  uint64_t nchunks = (h.n + h.chunk - 1) / h.chunk;
  for (uint64_t c = 0; c < nchunks; c++) {
    uint32_t clen, kc;
    float scale;
    chunk_dims(&h, c, &clen, &kc);
    if ((rc = chunk_read(&p, c, clen, kc, &scale, idx, val))) return rc;
  }
  if (out) *out = h;
  return 0;
}

int ag_pgrad_apply(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, float alpha,
                   float *acc) {
  ag_pgrad_hdr h;
  int rc;
  if ((rc = ag_pgrad_check(b, len, expect, 0, &h))) return rc;
  uint16_t idx[AG_PGRAD_CHUNK_MAX / 2];
  int8_t val[AG_PGRAD_CHUNK_MAX / 2];
  const uint8_t *p = b + AG_PGRAD_HDR_SIZE;
  uint64_t nchunks = (h.n + h.chunk - 1) / h.chunk;
  for (uint64_t c = 0; c < nchunks; c++) {
    uint32_t clen, kc;
    float scale;
    chunk_dims(&h, c, &clen, &kc);
    if ((rc = chunk_read(&p, c, clen, kc, &scale, idx, val))) return rc; /* checked above */
    float *a = acc + c * h.chunk;
    for (uint32_t j = 0; j < kc; j++) {
      float v = scale * (float)val[j];
      a[idx[j]] += alpha * v;
    }
  }
  return 0;
}

double ag_pgrad_overlap(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  ag_pgrad_hdr ha, hb;
  if (ag_pgrad_check(a, alen, NULL, 0, &ha) || ag_pgrad_check(b, blen, NULL, 0, &hb) ||
      ha.n != hb.n || ha.chunk != hb.chunk || ha.k != hb.k)
    return -1.0;
  uint16_t ia[AG_PGRAD_CHUNK_MAX / 2], ib[AG_PGRAD_CHUNK_MAX / 2];
  int8_t va[AG_PGRAD_CHUNK_MAX / 2], vb[AG_PGRAD_CHUNK_MAX / 2];
  const uint8_t *pa = a + AG_PGRAD_HDR_SIZE, *pb = b + AG_PGRAD_HDR_SIZE;
  uint64_t nchunks = (ha.n + ha.chunk - 1) / ha.chunk, total = 0, common = 0;
  for (uint64_t c = 0; c < nchunks; c++) {
    uint32_t clen, kc;
    float sa, sb;
    chunk_dims(&ha, c, &clen, &kc);
    if (chunk_read(&pa, c, clen, kc, &sa, ia, va) || chunk_read(&pb, c, clen, kc, &sb, ib, vb))
      return -1.0; /* checked above */
    for (uint32_t i = 0, j = 0; i < kc && j < kc;) { /* both ascending: merge */
      if (ia[i] < ib[j]) {
        i++;
      } else if (ia[i] > ib[j]) {
        j++;
      } else {
        common++;
        i++;
        j++;
      }
    }
    total += kc;
  }
  return (double)common / (double)total;
}

/* ---- sparse vectors ---- */

void ag_sparse_free(ag_sparse *s) {
  free(s->idx);
  free(s->val);
  memset(s, 0, sizeof *s);
}

int ag_pgrad_sparse(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, ag_sparse *out) {
  memset(out, 0, sizeof *out);
  ag_pgrad_hdr h;
  int rc;
  if ((rc = ag_pgrad_check(b, len, expect, 0, &h))) return rc;
  uint64_t nchunks = (h.n + h.chunk - 1) / h.chunk;
  size_t cap = (size_t)nchunks * h.k + 1;
  out->idx = ag_xmalloc(cap * sizeof *out->idx);
  out->val = ag_xmalloc(cap * sizeof *out->val);
  uint16_t idx[AG_PGRAD_CHUNK_MAX / 2];
  int8_t val[AG_PGRAD_CHUNK_MAX / 2];
  const uint8_t *p = b + AG_PGRAD_HDR_SIZE;
  for (uint64_t c = 0; c < nchunks; c++) {
    uint32_t clen, kc;
    float scale;
    chunk_dims(&h, c, &clen, &kc);
    if ((rc = chunk_read(&p, c, clen, kc, &scale, idx, val))) { /* checked above */
      ag_sparse_free(out);
      return rc;
    }
    for (uint32_t j = 0; j < kc; j++) {
      out->idx[out->n] = c * h.chunk + idx[j];
      out->val[out->n++] = scale * (float)val[j];
    }
  }
  return 0;
}

void ag_sparse_add(const ag_sparse *a, const ag_sparse *b, ag_sparse *out) {
  ag_sparse r;
  r.idx = ag_xmalloc((a->n + b->n + 1) * sizeof *r.idx);
  r.val = ag_xmalloc((a->n + b->n + 1) * sizeof *r.val);
  r.n = 0;
  size_t i = 0, j = 0;
  while (i < a->n || j < b->n) {
    if (j == b->n || (i < a->n && a->idx[i] < b->idx[j])) {
      r.idx[r.n] = a->idx[i];
      r.val[r.n++] = a->val[i++];
    } else if (i == a->n || b->idx[j] < a->idx[i]) {
      r.idx[r.n] = b->idx[j];
      r.val[r.n++] = b->val[j++];
    } else {
      r.idx[r.n] = a->idx[i];
      r.val[r.n++] = a->val[i++] + b->val[j++];
    }
  }
  *out = r;
}

double ag_sparse_cosine(const ag_sparse *a, const ag_sparse *b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a->n; i++) na += (double)a->val[i] * a->val[i];
  for (size_t j = 0; j < b->n; j++) nb += (double)b->val[j] * b->val[j];
  for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
    if (a->idx[i] < b->idx[j]) i++;
    else if (a->idx[i] > b->idx[j]) j++;
    else dot += (double)a->val[i++] * b->val[j++];
  }
  return na > 0 && nb > 0 ? dot / (sqrt(na) * sqrt(nb)) : 0.0;
}

double ag_sparse_overlap(const ag_sparse *a, const ag_sparse *b) {
  size_t common = 0;
  for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
    if (a->idx[i] < b->idx[j]) i++;
    else if (a->idx[i] > b->idx[j]) j++;
    else common++, i++, j++;
  }
  return a->n ? (double)common / (double)a->n : 0.0;
}
