/* tx.c — envelope encode/decode, signing and the payload codecs of the transfer kinds. */
#include "chain/tx.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#define FIXED_HEAD (1 + 2 + 1)
#define FIXED_MID (32 + 8 + 8 + 8 + 4)

int ag_chain_id_valid(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > AG_CHAIN_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
  }
  return 1;
}

size_t ag_tx_size(size_t chain_id_len, size_t payload_len) {
  return FIXED_HEAD + chain_id_len + FIXED_MID + payload_len + AG_SIG_LEN;
}

#define MAX_KINDS 64
static const ag_tx_kind *kinds[MAX_KINDS] = {&ag_kind_transfer, &ag_kind_multi_transfer};

void ag_tx_kind_register(const ag_tx_kind *k) {
  for (int i = 0; i < MAX_KINDS; i++)
    if (!kinds[i] || kinds[i]->kind == k->kind) {
      kinds[i] = k;
      return;
    }
  abort(); /* more kinds than slots: raise MAX_KINDS */
}

const ag_tx_kind *ag_tx_kind_find(uint16_t kind) {
  for (int i = 0; i < MAX_KINDS && kinds[i]; i++)
    if (kinds[i]->kind == kind) return kinds[i];
  return NULL;
}

const char *ag_tx_kind_name(uint16_t kind) {
  const ag_tx_kind *k = ag_tx_kind_find(kind);
  return k ? k->name : "unknown";
}

uint64_t ag_tx_fee_units(uint16_t kind, const uint8_t *payload, size_t len) {
  const ag_tx_kind *k = ag_tx_kind_find(kind);
  uint64_t u = k && k->fee_units ? k->fee_units(payload, len) : 1;
  return u ? u : 1;
}

int ag_tx_min_fee(uint64_t base_fee, uint64_t per_byte_fee, uint16_t kind, const uint8_t *payload,
                  size_t len, size_t tx_bytes, uint64_t *fee) {
  uint64_t a, b;
  if (ag_mul_u64(base_fee, ag_tx_fee_units(kind, payload, len), &a) || ag_mul_u64(per_byte_fee, tx_bytes, &b) ||
      ag_add_u64(a, b, fee))
    return AG_E_OVERFLOW;
  return 0;
}

static int check_payload(const ag_tx *tx) {
  const ag_tx_kind *k = ag_tx_kind_find(tx->kind);
  if (!k) return ag_fail(AG_E_TX_KIND, "unknown transaction kind %u", tx->kind);
  return k->validate(tx);
}

int ag_tx_decode(const uint8_t *p, size_t n, ag_tx *tx) {
  memset(tx, 0, sizeof *tx);
  if (n > AG_TX_HARD_MAX)
    return ag_fail(AG_E_TX_TOO_LARGE, "transaction is %zu bytes (hard limit %u)", n,
                   AG_TX_HARD_MAX);
  ag_reader r;
  ag_reader_init(&r, p, n);
  uint8_t clen;
  const uint8_t *q;
  if (ag_read_u8(&r, &tx->version)) goto truncated;
  if (tx->version != AG_TX_VERSION)
    return ag_fail(AG_E_TX_VERSION, "transaction version %u is not supported (expected %d)",
                   tx->version, AG_TX_VERSION);
  if (ag_read_u16le(&r, &tx->kind) || ag_read_u8(&r, &clen)) goto truncated;
  if (clen < 1 || clen > AG_CHAIN_ID_MAX)
    return ag_fail(AG_E_NONCANONICAL, "chain id length %u out of range 1..%d", clen,
                   AG_CHAIN_ID_MAX);
  if (ag_read_ptr(&r, clen, &q)) goto truncated;
  memcpy(tx->chain_id, q, clen);
  tx->chain_id[clen] = 0;
  if (memchr(q, 0, clen) || !ag_chain_id_valid(tx->chain_id))
    return ag_fail(AG_E_NONCANONICAL, "chain id has characters outside [a-z0-9-]");
  if (ag_read_bytes(&r, tx->sender, AG_PK_LEN) || ag_read_u64le(&r, &tx->nonce) ||
      ag_read_u64le(&r, &tx->fee) || ag_read_u64le(&r, &tx->valid_until) ||
      ag_read_u32le(&r, &tx->payload_len))
    goto truncated;
  if (tx->payload_len > ag_reader_left(&r)) goto truncated;
  if (ag_read_ptr(&r, tx->payload_len, &tx->payload)) goto truncated;
  tx->signed_len = r.off;
  if (ag_read_ptr(&r, AG_SIG_LEN, &tx->sig)) goto truncated;
  if (ag_read_end(&r))
    return ag_fail(AG_E_TRAILING, "%zu unexpected bytes after the signature",
                   ag_reader_left(&r));
  tx->raw = p;
  tx->raw_len = n;
  ag_hash("agora/txid", p, n, tx->hash);
  return check_payload(tx);
truncated:
  return ag_fail(AG_E_TRUNCATED, "transaction ends early (%zu bytes)", n);
}

void ag_tx_sighash(const ag_tx *tx, uint8_t out[32]) {
  ag_hash("agora/sighash", tx->raw, tx->signed_len, out);
}

int ag_tx_verify(const ag_tx *tx) {
  uint8_t h[32];
  ag_tx_sighash(tx, h);
  if (ag_verify(tx->sender, h, 32, tx->sig))
    return ag_fail(AG_E_BAD_SIGNATURE, "signature does not match the sender and contents");
  return 0;
}

void ag_tx_build(ag_buf *out, uint16_t kind, const char *chain_id, const ag_keypair *k,
                 uint64_t nonce, uint64_t fee, uint64_t valid_until, const uint8_t *payload,
                 uint32_t payload_len) {
  size_t start = out->len;
  size_t clen = strlen(chain_id);
  ag_buf_put_u8(out, AG_TX_VERSION);
  ag_buf_put_u16le(out, kind);
  ag_buf_put_u8(out, (uint8_t)clen);
  ag_buf_put(out, chain_id, clen);
  ag_buf_put(out, k->pk, AG_PK_LEN);
  ag_buf_put_u64le(out, nonce);
  ag_buf_put_u64le(out, fee);
  ag_buf_put_u64le(out, valid_until);
  ag_buf_put_u32le(out, payload_len);
  ag_buf_put(out, payload, payload_len);
  uint8_t h[32], sig[AG_SIG_LEN];
  ag_hash("agora/sighash", out->data + start, out->len - start, h);
  ag_sign(k, h, 32, sig);
  ag_buf_put(out, sig, AG_SIG_LEN);
}

