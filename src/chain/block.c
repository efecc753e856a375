/* block.c — block encoding, hashing, signatures and Merkle roots. */
#include "chain/block.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

void ag_block_header_encode(const ag_block_header *h, ag_buf *out) {
  size_t clen = strlen(h->chain_id);
  ag_buf_put_u8(out, h->version);
  ag_buf_put_u8(out, (uint8_t)clen);
  ag_buf_put(out, h->chain_id, clen);
  ag_buf_put_u64le(out, h->height);
  ag_buf_put_u64le(out, h->time_ms);
  ag_buf_put(out, h->prev_hash, 32);
  ag_buf_put(out, h->tx_root, 32);
  ag_buf_put(out, h->result_root, 32);
  ag_buf_put(out, h->state_root, 32);
  ag_buf_put(out, h->proposer, 32);
  ag_buf_put_u32le(out, h->tx_count);
}

void ag_block_hash(const ag_block_header *h, uint8_t out[32]) {
  ag_buf b;
  ag_buf_init(&b);
  ag_block_header_encode(h, &b);
  ag_hash("agora/block", b.data, b.len, out);
  ag_buf_free(&b);
}

void ag_block_encode(const ag_block_header *h, const uint8_t sig[AG_SIG_LEN],
                     const uint8_t *const *txs, const uint32_t *lens, ag_buf *out) {
  ag_block_header_encode(h, out);
  ag_buf_put(out, sig, AG_SIG_LEN);
  for (uint32_t i = 0; i < h->tx_count; i++) {
    ag_buf_put_u32le(out, lens[i]);
    ag_buf_put(out, txs[i], lens[i]);
  }
}

/* Reads a header at r; sets hash over its bytes. 0 or AG_E_TRUNCATED / AG_E_UNSUPPORTED /
 * AG_E_NONCANONICAL with a message. */
static int read_header(ag_reader *r, ag_block_header *h, uint8_t hash[32]) {
  uint8_t clen;
  const uint8_t *q;
  const uint8_t *start = r->p + r->off;
  size_t hstart = r->off;
  if (ag_read_u8(r, &h->version)) goto truncated;
  if (h->version != AG_BLOCK_VERSION && h->version != AG_BLOCK_VERSION_COMETBFT)
    return ag_fail(AG_E_UNSUPPORTED, "block version %u is not supported", h->version);
  if (ag_read_u8(r, &clen)) goto truncated;
  if (clen < 1 || clen > AG_CHAIN_ID_MAX)
    return ag_fail(AG_E_NONCANONICAL, "chain id length %u out of range", clen);
  if (ag_read_ptr(r, clen, &q)) goto truncated;
  memcpy(h->chain_id, q, clen);
  h->chain_id[clen] = 0;
  if (memchr(q, 0, clen) || !ag_chain_id_valid(h->chain_id)) return ag_fail(AG_E_NONCANONICAL, "bad chain id");
  if (ag_read_u64le(r, &h->height) || ag_read_u64le(r, &h->time_ms) ||
      ag_read_bytes(r, h->prev_hash, 32) || ag_read_bytes(r, h->tx_root, 32) ||
      ag_read_bytes(r, h->result_root, 32) || ag_read_bytes(r, h->state_root, 32) ||
      ag_read_bytes(r, h->proposer, 32) || ag_read_u32le(r, &h->tx_count))
    goto truncated;
  ag_hash("agora/block", start, r->off - hstart, hash);
  return 0;
truncated:
  return ag_fail(AG_E_TRUNCATED, "block header ends early");
}

int ag_block_header_decode(const uint8_t *p, size_t n, ag_block_header *h, uint8_t hash[32]) {
  memset(h, 0, sizeof *h);
  ag_reader r;
  ag_reader_init(&r, p, n);
  int rc = read_header(&r, h, hash);
  if (rc) return rc;
  if (ag_read_end(&r))
    return ag_fail(AG_E_TRAILING, "%zu unexpected bytes after the block header", ag_reader_left(&r));
  return 0;
}

int ag_block_decode(const uint8_t *p, size_t n, ag_block *b) {
  memset(b, 0, sizeof *b);
  if (n > AG_BLOCK_HARD_MAX) return ag_fail(AG_E_TOO_LARGE, "block of %zu bytes", n);
  ag_reader r;
  ag_reader_init(&r, p, n);
  ag_block_header *h = &b->h;
  int rc = read_header(&r, h, b->hash);
  if (rc == AG_E_TRUNCATED) goto truncated;
  if (rc) return rc;
  if (ag_read_bytes(&r, b->sig, AG_SIG_LEN)) goto truncated;
  /* Each tx needs at least 4 bytes of length prefix: bound the count before allocating. */
  if (h->tx_count > ag_reader_left(&r) / 4)
    return ag_fail(AG_E_TRUNCATED, "block claims %u txs in %zu bytes", h->tx_count,
                   ag_reader_left(&r));
  b->txs = ag_xcalloc(h->tx_count ? h->tx_count : 1, sizeof *b->txs);
  b->tx_lens = ag_xcalloc(h->tx_count ? h->tx_count : 1, sizeof *b->tx_lens);
  for (uint32_t i = 0; i < h->tx_count; i++) {
    if (ag_read_u32le(&r, &b->tx_lens[i]) || ag_read_ptr(&r, b->tx_lens[i], &b->txs[i])) {
      ag_block_free(b);
      goto truncated;
    }
  }
  if (ag_read_end(&r)) {
    ag_block_free(b);
    return ag_fail(AG_E_TRAILING, "%zu unexpected bytes after the last tx", ag_reader_left(&r));
  }
  return 0;
truncated:
  return ag_fail(AG_E_TRUNCATED, "block ends early (%zu bytes)", n);
}

void ag_block_free(ag_block *b) {
  if (!b) return;
  free(b->txs);
  free(b->tx_lens);
  b->txs = NULL;
  b->tx_lens = NULL;
}

int ag_block_verify(const ag_block *b) {
  if (b->h.version == AG_BLOCK_VERSION && ag_verify(b->h.proposer, b->hash, 32, b->sig))
    return ag_fail(AG_E_BLOCK_SIGNATURE, "block %llu: proposer signature does not verify",
                   (unsigned long long)b->h.height);
  uint8_t (*ids)[32] = ag_xmalloc((b->h.tx_count + 1) * sizeof *ids);
  for (uint32_t i = 0; i < b->h.tx_count; i++) ag_hash("agora/txid", b->txs[i], b->tx_lens[i], ids[i]);
  uint8_t root[32];
  ag_merkle_root((const uint8_t(*)[32])ids, b->h.tx_count, root);
  free(ids);
  if (memcmp(root, b->h.tx_root, 32) != 0)
    return ag_fail(AG_E_BLOCK_TX_ROOT, "block %llu: tx root does not match its txs",
                   (unsigned long long)b->h.height);
  return 0;
}

static void merkle(const uint8_t (*l)[32], size_t n, uint8_t out[32]) {
  uint8_t tag = n == 1 ? 0 : 1;
  ag_hasher h;
  ag_hasher_init(&h, "agora/merkle");
  ag_hasher_update(&h, &tag, 1);
  if (n == 1) {
    ag_hasher_update(&h, l[0], 32);
  } else {
    size_t k = 1;
    while (k * 2 < n) k *= 2;
    uint8_t a[32], b[32];
    merkle(l, k, a);
    merkle(l + k, n - k, b);
    ag_hasher_update(&h, a, 32);
    ag_hasher_update(&h, b, 32);
  }
  ag_hasher_final(&h, out);
}

void ag_merkle_root(const uint8_t (*leaves)[32], size_t n, uint8_t out[32]) {
  if (n == 0) memset(out, 0, 32);
  else merkle(leaves, n, out);
}

void ag_result_hash(int32_t code, uint8_t out[32]) {
  uint8_t b[4];
  ag_put_u32le(b, (uint32_t)code);
  ag_hash("agora/result", b, 4, out);
}
