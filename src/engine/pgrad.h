/*
 * pgrad.h — the compressed pseudo-gradient a training-subnet miner submits each round
 * (docs/pgrad-format.md): per chunk of the flat fp32 parameter vector, the top-k entries by
 * magnitude as 12-bit indices and int8 values with one fp32 scale, plus error feedback so that
 * what is not sent this round is sent later (the DeMo / SparseLoCo family, without the DCT).
 *
 * Encoding is a pure function of the input floats: no threads, no fast-math, ties broken by
 * index, so every machine produces the same bytes. Decoding checks every byte before anything
 * is used; a blob either passes ag_pgrad_check completely or is refused with one code.
 * This module does not know about rounds, checkpoints or the chain: the caller supplies the
 * header it expects.
 */
#ifndef AG_SUBNETS_PGRAD_H
#define AG_SUBNETS_PGRAD_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define AG_PGRAD_MAGIC "AGPGRAD1"
#define AG_PGRAD_HDR_SIZE 72
#define AG_PGRAD_CHUNK 4096 /* defaults used by the subnet */
#define AG_PGRAD_K 32
#define AG_PGRAD_CHUNK_MIN 256  /* chunk: a power of two in [MIN, MAX] */
#define AG_PGRAD_CHUNK_MAX 4096 /* indices are 12 bits */

typedef struct {
  uint32_t netuid;
  uint32_t chunk;   /* elements per chunk: power of two, 256..4096 */
  uint32_t k;       /* entries kept per full chunk: 1..chunk/2 (a short last chunk keeps min(k, len)) */
  uint64_t round;
  uint64_t n;       /* number of fp32 parameters, >= 1 */
  uint8_t base[32]; /* id of the checkpoint the pseudo-gradient was computed from */
} ag_pgrad_hdr;

/* Exact blob size in bytes for these parameters; 0 when they are invalid (or too large for
 * size_t). Decoders require len == this. */
size_t ag_pgrad_size(uint64_t n, uint32_t chunk, uint32_t k);

/* Error-feedback compression. e holds the accumulated error plus this round's pseudo-gradient
 * (h->n floats; the caller did e = beta*e + delta). Picks per chunk the k_c entries of largest
 * |e| (ties: lower index first), quantizes them to int8 with scale = max|selected|/127 (scale 0
 * and values 0 when that is 0; values = lrintf(x/scale) clamped to [-127,127]), appends the
 * blob to out and subtracts the transmitted (dequantized, scale*v) values from e, so e keeps
 * what was not sent. AG_E_INVALID for a bad header, AG_E_PG_NONFINITE when e holds NaN, Inf or
 * a magnitude within ~2^-24 of FLT_MAX (scale*127 would overflow); on error neither e nor out
 * changes. */
int ag_pgrad_encode(const ag_pgrad_hdr *h, float *e, ag_buf *out);

/* Parses and checks the whole blob (magic, reserved, chunk/k/n ranges, exact size, finite
 * non-negative scales, strictly increasing in-range indices, no -128). When expect is not
 * NULL, also requires netuid, round, n, chunk, k and base equal to expect's (else
 * AG_E_PG_SHAPE). max_bytes (0 = no limit): AG_E_PG_TOO_LARGE when len exceeds it (checked
 * first). Fills *h (may be NULL); on error *h is unspecified. */
int ag_pgrad_check(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, size_t max_bytes,
                   ag_pgrad_hdr *h);

/* ag_pgrad_check, then acc[i] += alpha * (scale * v) for every transmitted entry (acc holds
 * the blob's n floats; pass expect to be sure of n). On any error acc is untouched. */
int ag_pgrad_apply(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, float alpha,
                   float *acc);

/* A pseudo-gradient as a sparse vector: the transmitted entries, (global index, scale * v),
 * indices strictly increasing. Used to compare submissions by their values. */
typedef struct {
  uint64_t *idx;
  float *val;
  size_t n;
} ag_sparse;

void ag_sparse_free(ag_sparse *s);
/* Decodes a blob that passes ag_pgrad_check (with expect when not NULL) into *out. */
int ag_pgrad_sparse(const uint8_t *b, size_t len, const ag_pgrad_hdr *expect, ag_sparse *out);
/* *out = a + b (entries of either; values added where both have one). */
void ag_sparse_add(const ag_sparse *a, const ag_sparse *b, ag_sparse *out);
/* Cosine similarity of a and b in [-1, 1]; 0 when either is all zeros. Computed in double in
 * index order (a diagnostic for validators, not part of consensus). */
double ag_sparse_cosine(const ag_sparse *a, const ag_sparse *b);
/* Fraction in [0, 1] of a's entries whose index b also has. */
double ag_sparse_overlap(const ag_sparse *a, const ag_sparse *b);

/* Fraction in [0,1] of a's transmitted (chunk, index) positions that b also transmits. Both
 * blobs must pass ag_pgrad_check and have the same n, chunk and k; -1.0 otherwise. Detects
 * copied submissions: an exact or rescaled copy has overlap 1.0. */
double ag_pgrad_overlap(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
