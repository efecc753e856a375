/*
 * fuzz_pgrad.c — pseudo-gradient blobs as validators receive them from miners: checked with
 * and without an expected header, and when they pass, applied to an accumulator and compared
 * with themselves. Invariants: a blob that passes once passes again with its own header as the
 * expectation, applying with alpha 0 leaves finite values finite, and self-overlap is 1; its
 * sparse form (what validators compare submissions by) decodes with increasing indices inside
 * n, overlaps itself fully and adds to itself entry by entry.
 */
#include "core/err.h"
#include "engine/pgrad.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES (1u << 20) /* keeps n (at most ~585 floats per byte) and the accumulator small */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* the shape of the seed corpus (fuzz/corpus/fuzz_pgrad/small.bin) */
  ag_pgrad_hdr expect = {.netuid = 3, .chunk = 256, .k = 5, .round = 11, .n = 612};
  for (int i = 0; i < 32; i++) expect.base[i] = (uint8_t)(0xA0 + i);
  ag_pgrad_hdr h, h2;
  int rc1 = ag_pgrad_check(data, size, &expect, MAX_BYTES, &h2);
  int rc = ag_pgrad_check(data, size, NULL, MAX_BYTES, &h);
  if (rc1 == 0 && rc != 0) abort(); /* an expectation can only add refusals */
  if (rc) return 0;
  if (ag_pgrad_size(h.n, h.chunk, h.k) != size) abort();
  if (ag_pgrad_check(data, size, &h, size, &h2) || memcmp(&h, &h2, sizeof h)) abort();
  float *acc = calloc(h.n, sizeof *acc);
  if (!acc) return 0;
  if (ag_pgrad_apply(data, size, &h, 0.0f, acc)) abort();
  for (uint64_t i = 0; i < h.n; i++)
    if (acc[i] != 0) abort();
  if (ag_pgrad_apply(data, size, NULL, 1.0f, acc)) abort();
  double o = ag_pgrad_overlap(data, size, data, size);
  if (o != 1.0) abort();
  /* the sparse form validators compare submissions by (tvalidator.c): what passes the check
   * decodes, its indices strictly increase inside n, and it adds to itself entry by entry */
  ag_sparse sp, twice;
  if (ag_pgrad_sparse(data, size, &h, &sp)) abort();
  for (size_t i = 0; i < sp.n; i++)
    if (sp.idx[i] >= h.n || (i && sp.idx[i] <= sp.idx[i - 1])) abort();
  if (sp.n && ag_sparse_overlap(&sp, &sp) != 1.0) abort();
  ag_sparse_add(&sp, &sp, &twice);
  if (twice.n != sp.n) abort();
  for (size_t i = 0; i < sp.n; i++)
    if (twice.idx[i] != sp.idx[i] || (isfinite(sp.val[i]) && twice.val[i] != sp.val[i] + sp.val[i])) abort();
  ag_sparse_free(&twice);
  ag_sparse_free(&sp);
  free(acc);
  return 0;
}
