/* test_tx.c — the tx envelope: golden bytes, round trips and every decode error. */
#include "chain/block.h"
#include "chain/tx.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "test.h"
#include "testutil.h"

/* The frozen encoding of one transfer lives in tests/vectors/tx_transfer.hex (docs/encoding.md
 * walks through its bytes). A change there is a consensus change: bump the tx version instead. */
static void build_golden(ag_buf *out) {
  ag_keypair from, to;
  test_key(&from, 1);
  test_key(&to, 2);
  ag_buf payload;
  ag_buf_init(&payload);
  ag_transfer_encode(&payload, to.pk, 123456789);
  ag_tx_build(out, AG_TX_TRANSFER, "agora-test", &from, 7, 5000, 0, payload.data,
              (uint32_t)payload.len);
  ag_buf_free(&payload);
}

TEST(golden_transfer) {
  ag_buf b;
  ag_buf_init(&b);
  build_golden(&b);
  CHECK(test_frozen_hex("tx_transfer.hex", b.data, b.len));
  /* The tx id and sighash are plain BLAKE2b-256 with a personalization, checkable anywhere. */
  ag_tx tx;
  CHECK_OK(ag_tx_decode(b.data, b.len, &tx));
  CHECK_EQ(b.len, ag_tx_size(10, 40));
  uint8_t id[32];
  ag_hash("agora/txid", b.data, b.len, id);
  CHECK_MEM(tx.hash, id, 32);
  CHECK_OK(ag_tx_verify(&tx));
  ag_buf_free(&b);
}

TEST(roundtrip_fields) {
  ag_buf b;
  ag_buf_init(&b);
  build_golden(&b);
  ag_tx tx;
  CHECK_OK(ag_tx_decode(b.data, b.len, &tx));
  ag_keypair from, to;
  test_key(&from, 1);
  test_key(&to, 2);
  CHECK_EQ(tx.version, 1);
  CHECK_EQ(tx.kind, AG_TX_TRANSFER);
  CHECK_STR(tx.chain_id, "agora-test");
  CHECK_MEM(tx.sender, from.pk, 32);
  CHECK_U64(tx.nonce, 7);
  CHECK_U64(tx.fee, 5000);
  CHECK_U64(tx.valid_until, 0);
  CHECK_EQ(ag_tx_transfer_count(&tx), 1);
  ag_transfer t;
  ag_tx_transfer_at(&tx, 0, &t);
  CHECK_MEM(t.to, to.pk, 32);
  CHECK_U64(t.amount, 123456789);
  CHECK_STR(ag_tx_kind_name(tx.kind), "transfer");
  ag_buf_free(&b);
}

TEST(every_truncation_is_an_error) {
  ag_buf b;
  ag_buf_init(&b);
  build_golden(&b);
  for (size_t n = 0; n < b.len; n++) {
    ag_tx tx;
    int rc = ag_tx_decode(b.data, n, &tx);
    CHECK(rc == AG_E_TRUNCATED || rc == AG_E_NONCANONICAL);
  }
  ag_buf_put_u8(&b, 0);
  ag_tx tx;
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TRAILING);
  ag_buf_free(&b);
}

TEST(bad_fields) {
  ag_buf b;
  ag_buf_init(&b);
  build_golden(&b);
  ag_tx tx;
  b.data[0] = 2;
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TX_VERSION);
  b.data[0] = 1;
  b.data[1] = 99;
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TX_KIND);
  b.data[1] = 1;
  b.data[4] = 'A'; /* chain id must be lower case */
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_NONCANONICAL);
  b.data[4] = 'a';
  b.data[12] = 0; /* a NUL inside the chain id (found by fuzz_tx): not canonical */
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_NONCANONICAL);
  b.data[12] = 't';
  b.data[3] = 0;
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_NONCANONICAL);
  b.data[3] = 10;
  /* a flipped payload bit keeps the envelope valid but breaks the signature */
  size_t amount_at = b.len - 64 - 8;
  b.data[amount_at] ^= 1;
  CHECK_OK(ag_tx_decode(b.data, b.len, &tx));
  CHECK_EQ(ag_tx_verify(&tx), AG_E_BAD_SIGNATURE);
  b.data[amount_at] ^= 1;
  /* a different chain id changes the sighash: the signature no longer verifies */
  b.data[4] = 'b';
  CHECK_OK(ag_tx_decode(b.data, b.len, &tx));
  CHECK_EQ(ag_tx_verify(&tx), AG_E_BAD_SIGNATURE);
  ag_buf_free(&b);
}

TEST(payload_rules) {
  ag_keypair k, to;
  test_key(&k, 1);
  test_key(&to, 2);
  ag_buf p, b;
  ag_buf_init(&p);
  ag_buf_init(&b);
  ag_tx tx;
  /* zero amount */
  ag_transfer_encode(&p, to.pk, 0);
  ag_tx_build(&b, AG_TX_TRANSFER, "c", &k, 0, 1, 0, p.data, (uint32_t)p.len);
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TX_AMOUNT);
  /* wrong payload size */
  ag_buf_reset(&b);
  ag_tx_build(&b, AG_TX_TRANSFER, "c", &k, 0, 1, 0, p.data, 39);
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TX_PAYLOAD);
  /* multi-transfer: 0 and 257 recipients, overflow, a valid one */
  ag_transfer v[257];
  for (int i = 0; i < 257; i++) {
    memcpy(v[i].to, to.pk, 32);
    v[i].amount = 1;
  }
  uint16_t counts[] = {0, 257};
  for (int c = 0; c < 2; c++) {
    ag_buf_reset(&p);
    ag_buf_reset(&b);
    ag_multi_transfer_encode(&p, v, counts[c]);
    ag_tx_build(&b, AG_TX_MULTI_TRANSFER, "c", &k, 0, 1, 0, p.data, (uint32_t)p.len);
    CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TX_RECIPIENTS);
  }
  v[0].amount = UINT64_MAX;
  ag_buf_reset(&p);
  ag_buf_reset(&b);
  ag_multi_transfer_encode(&p, v, 2);
  ag_tx_build(&b, AG_TX_MULTI_TRANSFER, "c", &k, 0, 1, 0, p.data, (uint32_t)p.len);
  CHECK_EQ(ag_tx_decode(b.data, b.len, &tx), AG_E_TX_AMOUNT_OVERFLOW);
  v[0].amount = 5;
  ag_buf_reset(&p);
  ag_buf_reset(&b);
  ag_multi_transfer_encode(&p, v, 256);
  ag_tx_build(&b, AG_TX_MULTI_TRANSFER, "c", &k, 0, 1, 0, p.data, (uint32_t)p.len);
  CHECK_OK(ag_tx_decode(b.data, b.len, &tx));
  CHECK_EQ(ag_tx_transfer_count(&tx), 256);
  ag_transfer t;
  ag_tx_transfer_at(&tx, 0, &t);
  CHECK_U64(t.amount, 5);
  ag_tx_transfer_at(&tx, 255, &t);
  CHECK_U64(t.amount, 1);
  ag_buf_free(&p);
  ag_buf_free(&b);
}

TEST(merkle_root_shape) {
  uint8_t l[5][32], root[32], want[32];
  for (int i = 0; i < 5; i++) memset(l[i], i + 1, 32);
  ag_merkle_root(NULL, 0, root);
  uint8_t zero[32] = {0};
  CHECK_MEM(root, zero, 32);
  /* n = 1: leaf hash of the single entry */
  uint8_t pre[33];
  pre[0] = 0;
  memcpy(pre + 1, l[0], 32);
  ag_hash("agora/merkle", pre, 33, want);
  ag_merkle_root((const uint8_t(*)[32])l, 1, root);
  CHECK_MEM(root, want, 32);
  /* n = 3 splits 2 + 1: changing any leaf changes the root; order matters */
  uint8_t r3[32], r3b[32];
  ag_merkle_root((const uint8_t(*)[32])l, 3, r3);
  memset(l[2], 9, 32);
  ag_merkle_root((const uint8_t(*)[32])l, 3, r3b);
  CHECK(memcmp(r3, r3b, 32) != 0);
}

TEST(block_roundtrip_and_tamper) {
  ag_keypair prop;
  test_key(&prop, 9);
  ag_buf t1, t2, blk;
  ag_buf_init(&t1);
  ag_buf_init(&t2);
  ag_buf_init(&blk);
  build_golden(&t1);
  ag_buf_put(&t2, "junk", 4);
  const uint8_t *txs[2] = {t1.data, t2.data};
  uint32_t lens[2] = {(uint32_t)t1.len, (uint32_t)t2.len};
  uint8_t ids[2][32];
  ag_hash("agora/txid", t1.data, t1.len, ids[0]);
  ag_hash("agora/txid", t2.data, t2.len, ids[1]);
  ag_block_header h;
  memset(&h, 0, sizeof h);
  h.version = 1;
  strcpy(h.chain_id, "agora-test");
  h.height = 5;
  h.time_ms = 1700000000000ULL;
  h.tx_count = 2;
  memcpy(h.proposer, prop.pk, 32);
  ag_merkle_root((const uint8_t(*)[32])ids, 2, h.tx_root);
  uint8_t bh[32], sig[64];
  ag_block_hash(&h, bh);
  ag_sign(&prop, bh, 32, sig);
  ag_block_encode(&h, sig, txs, lens, &blk);
  ag_block b;
  CHECK_OK(ag_block_decode(blk.data, blk.len, &b));
  CHECK_OK(ag_block_verify(&b));
  CHECK_MEM(b.hash, bh, 32);
  CHECK_EQ(b.h.tx_count, 2);
  CHECK_EQ(b.tx_lens[1], 4);
  CHECK_MEM(b.txs[1], "junk", 4);
  ag_block_free(&b);
  for (size_t n = 0; n < blk.len; n++) {
    int rc = ag_block_decode(blk.data, n, &b);
    CHECK(rc != 0);
    if (rc == 0) ag_block_free(&b);
  }
  /* a changed tx breaks the tx root; a changed header breaks the signature */
  blk.data[blk.len - 1] ^= 1;
  CHECK_OK(ag_block_decode(blk.data, blk.len, &b));
  CHECK_EQ(ag_block_verify(&b), AG_E_BLOCK_TX_ROOT);
  ag_block_free(&b);
  blk.data[blk.len - 1] ^= 1;
  blk.data[20] ^= 1; /* inside the height/time */
  CHECK_OK(ag_block_decode(blk.data, blk.len, &b));
  CHECK_EQ(ag_block_verify(&b), AG_E_BLOCK_SIGNATURE);
  ag_block_free(&b);
  /* an absurd tx count is refused before any allocation */
  size_t count_at = 1 + 1 + 10 + 8 + 8 + 5 * 32;
  memset(blk.data + count_at, 0xff, 4);
  CHECK_EQ(ag_block_decode(blk.data, blk.len, &b), AG_E_TRUNCATED);
  ag_buf_free(&t1);
  ag_buf_free(&t2);
  ag_buf_free(&blk);
}

TEST_MAIN(golden_transfer, roundtrip_fields, every_truncation_is_an_error, bad_fields,
          payload_rules, merkle_root_shape, block_roundtrip_and_tamper)
