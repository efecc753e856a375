/* test_core.c — errors, buffers, hex/base64, hashing, Bech32m, amounts, restart backoff, and node
 * URLs as users write them. */
#include "core/backoff.h"
#include "core/bech32.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "subnets/netclient.h"
#include "test.h"
#include "testutil.h"

TEST(errors_have_unique_names) {
  size_t n = ag_err_count();
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      CHECK(ag_err_at(i) != ag_err_at(j));
      CHECK(strcmp(ag_err_name(ag_err_at(i)), ag_err_name(ag_err_at(j))) != 0);
    }
  int code = 0;
  CHECK(ag_err_from_name("bad_signature", &code));
  CHECK_EQ(code, AG_E_BAD_SIGNATURE);
  CHECK_STR(ag_strerror(-9999), "unknown error");
}

TEST(error_detail_is_per_code) {
  CHECK_EQ(ag_fail(AG_E_TX_NONCE_GAP, "nonce %d ahead", 7), AG_E_TX_NONCE_GAP);
  CHECK_STR(ag_errmsg(AG_E_TX_NONCE_GAP), "nonce 7 ahead");
  CHECK_STR(ag_errmsg(AG_E_TX_BALANCE), "insufficient balance");
  ag_err_clear();
  CHECK_STR(ag_errmsg(AG_E_TX_NONCE_GAP), ag_strerror(AG_E_TX_NONCE_GAP));
}

TEST(buffer_and_reader_roundtrip) {
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put_u8(&b, 0xab);
  ag_buf_put_u16le(&b, 0x1234);
  ag_buf_put_u32le(&b, 0xdeadbeef);
  ag_buf_put_u64le(&b, 0x0102030405060708ULL);
  for (int i = 0; i < 1000; i++) ag_buf_printf(&b, "%d", i % 10);
  CHECK_EQ(b.len, 15 + 1000);
  CHECK_EQ(b.data[1], 0x34);
  ag_reader r;
  ag_reader_init(&r, b.data, 15);
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  CHECK_OK(ag_read_u8(&r, &u8));
  CHECK_OK(ag_read_u16le(&r, &u16));
  CHECK_OK(ag_read_u32le(&r, &u32));
  CHECK_OK(ag_read_u64le(&r, &u64));
  CHECK_EQ(u8, 0xab);
  CHECK_EQ(u16, 0x1234);
  CHECK_U64(u32, 0xdeadbeef);
  CHECK_U64(u64, 0x0102030405060708ULL);
  CHECK_OK(ag_read_end(&r));
  CHECK_EQ(ag_read_u8(&r, &u8), AG_E_TRUNCATED);
  ag_reader_init(&r, b.data, 3);
  CHECK_EQ(ag_read_u32le(&r, &u32), AG_E_TRUNCATED);
  CHECK_EQ(ag_reader_left(&r), 3); /* a failed read consumes nothing */
  CHECK_EQ(ag_read_end(&r), AG_E_TRAILING);
  ag_buf_free(&b);
  ag_buf_free(NULL);
}

TEST(hex_and_base64) {
  uint8_t in[] = {0x00, 0x01, 0xfe, 0xff};
  char hex[9];
  ag_hex_encode(in, 4, hex);
  CHECK_STR(hex, "0001feff");
  uint8_t out[4];
  CHECK_OK(ag_hex_decode("0001FEff", 8, out, 4));
  CHECK_MEM(out, in, 4);
  CHECK_EQ(ag_hex_decode("0001fef", 7, out, 4), AG_E_BAD_HEX);
  CHECK_EQ(ag_hex_decode("0001fegg", 8, out, 4), AG_E_BAD_HEX);
  /* a string shorter than the length asked for (a node's id of 2 digits where 64 were
   * expected) ends at its NUL: nothing past it is read (ASan sees the byte after) */
  char *shortid = ag_xmalloc(3);
  memcpy(shortid, "ab", 3);
  uint8_t id[32];
  CHECK_EQ(ag_hex_decode(shortid, 64, id, 32), AG_E_BAD_HEX);
  free(shortid);
  char b64[16];
  ag_b64_encode(in, 4, b64);
  CHECK_STR(b64, "AAH+/w==");
  uint8_t *p;
  size_t n;
  CHECK_OK(ag_b64_decode_alloc("AAH+/w==", 8, 100, &p, &n));
  CHECK_EQ(n, 4);
  CHECK_MEM(p, in, 4);
  free(p);
  CHECK_OK(ag_b64_decode_alloc("AAH-_w", 6, 100, &p, &n)); /* URL-safe, unpadded */
  CHECK_EQ(n, 4);
  CHECK_MEM(p, in, 4);
  free(p);
  CHECK_EQ(ag_b64_decode_alloc("AA*H", 4, 100, &p, &n), AG_E_BAD_BASE64);
  CHECK_EQ(ag_b64_decode_alloc("AAAAAAAA", 8, 2, &p, &n), AG_E_TOO_LARGE);
}

TEST(node_urls_as_users_write_them) {
  static const char *const cases[][2] = {
      {"", "http://127.0.0.1:8740"},
      {"127.0.0.1:9000", "http://127.0.0.1:9000"},
      {"http://node.example:8740/", "http://node.example:8740"},
      {"https://node.example//", "https://node.example"},
      {"[::1]:8740", "http://[::1]:8740"},
  };
  char url[300];
  for (size_t i = 0; i < AG_ARRAY_LEN(cases); i++) {
    ag_net_url_of(cases[i][0], url, sizeof url);
    CHECK_STR(url, cases[i][1]);
  }
  /* a home's api.addr (as the node writes it, with its newline) */
  char *dir = test_tmpdir("url");
  char path[600];
  snprintf(path, sizeof path, "%s/data", dir);
  CHECK_OK(ag_mkdirs(path, 0700));
  ag_net_url_of_home(dir, url, sizeof url);
  CHECK_STR(url, "http://127.0.0.1:8740");
  snprintf(path, sizeof path, "%s/data/api.addr", dir);
  CHECK_OK(ag_write_file_atomic(path, "127.0.0.1:8801/\n", 16, 0600));
  ag_net_url_of_home(dir, url, sizeof url);
  CHECK_STR(url, "http://127.0.0.1:8801");
  test_rmdir(dir);
}

TEST(hash_matches_python_blake2b_person) {
  /* hashlib.blake2b(data, digest_size=32, person=b"agora/test") */
  uint8_t h[32], want[32];
  char hex[65];
  ag_hash("agora/test", "abc", 3, h);
  ag_hex_encode(h, 32, hex);
  CHECK_STR(hex, "4c1403ca6ef4387d8f73e812c10c32506e28fb9fd93ac89911ab81568a885ade");
  ag_hash("agora/test", "", 0, h);
  ag_hex_encode(h, 32, hex);
  CHECK_STR(hex, "b71ede986f16e93ba8efdcebab342d7cd8f1e589169458fb10657f5a2bf67ceb");
  ag_hash2("agora/test", "a", 1, "bc", 2, want);
  ag_hash("agora/test", "abc", 3, h);
  CHECK_MEM(h, want, 32);
  ag_hash("agora/other", "abc", 3, h);
  CHECK(memcmp(h, want, 32) != 0);
}

TEST(bech32m_bip350_vectors) {
  /* Valid Bech32m strings from BIP-350. */
  const char *valid[] = {
      "A1LQFN3A",
      "a1lqfn3a",
      "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
      "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
      "?1v759aa",
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(valid); i++) {
    char hrp[32];
    uint8_t data[128];
    size_t n;
    int rc = ag_bech32_decode(valid[i], hrp, data, sizeof data, &n);
    /* Some vectors carry 5-bit data that is not whole bytes; only the checksum must pass. */
    CHECK(rc == 0 || rc == AG_E_ADDR_FORMAT);
    CHECK(rc != AG_E_ADDR_CHECKSUM);
  }
  const char *bad_checksum[] = {
      "a1lqfn3q",
      "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryy",
      /* a Bech32 (not m) checksum must be refused */
      "a12uel5l",
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(bad_checksum); i++) {
    char hrp[32];
    uint8_t data[128];
    size_t n;
    CHECK_EQ(ag_bech32_decode(bad_checksum[i], hrp, data, sizeof data, &n), AG_E_ADDR_CHECKSUM);
  }
  char hrp[32];
  uint8_t data[128];
  size_t n;
  CHECK_EQ(ag_bech32_decode("A1LqFN3A", hrp, data, sizeof data, &n), AG_E_ADDR_FORMAT);
  CHECK_EQ(ag_bech32_decode("1qzzfhee", hrp, data, sizeof data, &n), AG_E_ADDR_FORMAT);
}

TEST(bech32m_roundtrip_and_typos) {
  uint8_t key[32];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
  char s[AG_BECH32_MAX];
  CHECK_OK(ag_bech32_encode("agora", key, 32, s));
  CHECK_EQ(strlen(s), 5 + 1 + 52 + 6);
  char hrp[32];
  uint8_t out[64];
  size_t n;
  CHECK_OK(ag_bech32_decode(s, hrp, out, sizeof out, &n));
  CHECK_STR(hrp, "agora");
  CHECK_EQ(n, 32);
  CHECK_MEM(out, key, 32);
  /* Every single-character substitution is caught. */
  int missed = 0;
  for (size_t i = 6; i < strlen(s); i++) {
    char t[AG_BECH32_MAX];
    strcpy(t, s);
    t[i] = t[i] == 'q' ? 'p' : 'q';
    if (ag_bech32_decode(t, hrp, out, sizeof out, &n) == 0) missed++;
  }
  CHECK_EQ(missed, 0);
}

TEST(amounts_parse_and_format) {
  uint64_t v;
  CHECK_OK(ag_amount_parse("1.5", &v));
  CHECK_U64(v, 1500000000ULL);
  CHECK_OK(ag_amount_parse("0.000000001", &v));
  CHECK_U64(v, 1);
  CHECK_OK(ag_amount_parse("12", &v));
  CHECK_U64(v, 12000000000ULL);
  CHECK_OK(ag_amount_parse(".5", &v));
  CHECK_U64(v, 500000000ULL);
  CHECK_EQ(ag_amount_parse("0.0000000001", &v), AG_E_BAD_AMOUNT);
  CHECK_EQ(ag_amount_parse("1e9", &v), AG_E_BAD_AMOUNT);
  CHECK_EQ(ag_amount_parse("-1", &v), AG_E_BAD_AMOUNT);
  CHECK_EQ(ag_amount_parse("", &v), AG_E_BAD_AMOUNT);
  CHECK_EQ(ag_amount_parse(".", &v), AG_E_BAD_AMOUNT);
  CHECK_EQ(ag_amount_parse("18446744073.709551616", &v), AG_E_BAD_AMOUNT);
  CHECK_OK(ag_amount_parse("18446744073.709551615", &v));
  CHECK_U64(v, UINT64_MAX);
  char s[32];
  ag_amount_format(1500000000ULL, s);
  CHECK_STR(s, "1.5");
  ag_amount_format(1, s);
  CHECK_STR(s, "0.000000001");
  ag_amount_format(0, s);
  CHECK_STR(s, "0");
  ag_amount_format(UINT64_MAX, s);
  CHECK_STR(s, "18446744073.709551615");
  CHECK_EQ(ag_parse_u64("18446744073709551616", &v), AG_E_OVERFLOW);
  CHECK_EQ(ag_parse_u64("12a", &v), AG_E_INVALID);
}

TEST(checked_arithmetic) {
  uint64_t r;
  CHECK(ag_add_u64(UINT64_MAX, 1, &r));
  CHECK(!ag_add_u64(1, 2, &r));
  CHECK_U64(r, 3);
  CHECK(ag_sub_u64(1, 2, &r));
  CHECK(ag_mul_u64(UINT64_MAX / 2 + 1, 2, &r));
}

/* The localnet supervisor's restart policy, walked through with made-up times. */
TEST(backoff_doubles_caps_resets_and_gives_up) {
  ag_backoff b;
  ag_backoff_init(&b);
  uint64_t t = 1000000, w = 0;
  const uint64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
  ag_backoff_started(&b, t);
  for (int i = 0; i < 8; i++) { /* dies 5 s after each restart: never stable */
    t += 5000;
    CHECK_EQ(ag_backoff_failed(&b, t, &w), 0);
    CHECK_U64(w, want[i]);
    t += w;
    ag_backoff_started(&b, t);
  }
  /* up for a minute: the wait starts over at 1 s */
  t += AG_BACKOFF_STABLE_MS;
  CHECK_EQ(ag_backoff_failed(&b, t, &w), 0);
  CHECK_U64(w, 1000);
  /* 9 restarts so far, within 10 minutes; the 10th is allowed, the 11th is not */
  CHECK(t - 1000000 < AG_BACKOFF_WINDOW_MS);
  ag_backoff_started(&b, t += w);
  CHECK_EQ(ag_backoff_failed(&b, t += 100, &w), 0);
  CHECK_U64(w, 2000);
  ag_backoff_started(&b, t += w);
  CHECK_EQ(ag_backoff_failed(&b, t += 100, &w), 1);
  CHECK_EQ(ag_backoff_failed(&b, t += 100, &w), 1); /* stays given up within the window */
  /* once the old restarts leave the window, restarts are allowed again */
  CHECK_EQ(ag_backoff_failed(&b, t + AG_BACKOFF_WINDOW_MS, &w), 0);
  /* an operator's start forgets everything */
  ag_backoff_reset(&b);
  ag_backoff_started(&b, t += 1);
  CHECK_EQ(ag_backoff_failed(&b, t += 1, &w), 0);
  CHECK_U64(w, 1000);
}

/* ag_rm_tree is rm -rf without a shell: any path (quotes included), nested folders, links
 * removed but never followed (what a link points to outside stays). */
TEST(rm_tree_removes_a_tree_and_never_follows_a_link) {
  char *root = test_tmpdir("rmtree");
  char p[800], outside[800];
  snprintf(outside, sizeof outside, "%s/outside", root);
  CHECK_OK(ag_mkdirs(outside, 0755));
  snprintf(p, sizeof p, "%s/keep.txt", outside);
  CHECK_OK(ag_write_file_atomic(p, "keep", 4, 0644));
  char tree[800];
  snprintf(tree, sizeof tree, "%s/it's a \"tree\"", root); /* a shell would need quoting */
  snprintf(p, sizeof p, "%s/a/b/c", tree);
  CHECK_OK(ag_mkdirs(p, 0755));
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/a/%s/f%d", tree, i ? "b" : ".", i);
    CHECK_OK(ag_write_file_atomic(p, "x", 1, 0644));
  }
  snprintf(p, sizeof p, "%s/a/b/link", tree);
  CHECK_EQ(symlink(outside, p), 0);
  snprintf(p, sizeof p, "%s/a/dangling", tree);
  CHECK_EQ(symlink("/nonexistent/agora", p), 0);
  snprintf(p, sizeof p, "%s/a/b/c/f", tree);
  CHECK_OK(ag_write_file_atomic(p, "y", 1, 0644));
  CHECK_OK(ag_rm_tree(tree));
  CHECK(!ag_file_exists(tree));
  snprintf(p, sizeof p, "%s/keep.txt", outside);
  CHECK(ag_file_exists(p)); /* through the link: untouched */
  CHECK_OK(ag_rm_tree(tree)); /* gone already: fine */
  CHECK_OK(ag_rm_tree(p));    /* a single file */
  CHECK(!ag_file_exists(p));
  test_rmdir(root);
}

TEST_MAIN(errors_have_unique_names, error_detail_is_per_code, buffer_and_reader_roundtrip,
          hex_and_base64, node_urls_as_users_write_them, hash_matches_python_blake2b_person, bech32m_bip350_vectors,
          bech32m_roundtrip_and_typos, amounts_parse_and_format, checked_arithmetic,
          backoff_doubles_caps_resets_and_gives_up, rm_tree_removes_a_tree_and_never_follows_a_link)
