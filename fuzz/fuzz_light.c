/*
 * fuzz_light.c — what a light client parses from a node it does not trust: the answer of
 * GET /v1/headers (CometBFT's signed header and commit as JSON, or our version-1 header in
 * hex), verified against a CometBFT trust anchor (the genesis of tests/vectors/cometbft, and
 * that genesis with one power changed, so that an answer's validator set is needed) and a solo
 * one; a version-1 header alone; CometBFT times; genesis documents as trust anchors; the
 * trusted header a client keeps on disk (parsed as is, and again as if of the right genesis);
 * the
 * answer of GET /v1/accounts/{address}?prove=true, whose proof is checked against the root it
 * names as `agora query --prove` checks it. The first input byte picks the parser. A
 * CometBFT check starts from a fresh copy of its trust each time (a check moves the trusted
 * header), and its bisection is fed the same answer for every header it asks for.
 */
#include "api/render.h"
#include "chain/block.h"
#include "chain/smt.h"
#include "chain/state.h"
#include "consensus/cmtlight.h"
#include "consensus/light.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_light_trust cmt, cmt_changed, solo;

#define NOW_MS 1796427185000ll /* a minute after the vectors' genesis */

static void valset_dup(ag_cmt_valset *vs) {
  ag_cmt_validator *v = malloc((vs->n + 1) * sizeof *v);
  memcpy(v, vs->vals, vs->n * sizeof *v);
  vs->vals = v;
}

static int same_answer(void *ctx, uint64_t height, json_t **out) {
  (void)height;
  *out = json_incref((json_t *)ctx);
  return 0;
}

/* ag_light_verify on a copy of base, with bisection fed j itself. */
static void verify_copy(const ag_light_trust *base, json_t *j, uint64_t height, const uint8_t root[32]) {
  ag_light_trust t = *base;
  valset_dup(&t.vals);
  valset_dup(&t.anchor.vals);
  ag_light_verified v;
  (void)ag_light_verify(&t, j, height, root, NOW_MS, same_answer, j, &v);
  ag_light_trust_free(&t);
}

static void load_trust(void) {
  static int done;
  if (done) return;
  done = 1;
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/vectors/cometbft/genesis.json", AGORA_SRC_DIR);
  if (ag_light_trust_load(NULL, path, &cmt)) abort(); /* the fuzzer's own setup, not input */
  /* the same genesis with validator 0's power 2: the vectors' blocks are then signed by a
   * changed set, which an answer's "validators" list must show trusted */
  json_t *gj = json_load_file(path, 0, NULL);
  json_object_set_new(json_array_get(json_object_get(gj, "validators"), 0), "power", json_string("2"));
  char *gt = json_dumps(gj, JSON_COMPACT);
  if (!gt || ag_light_trust_parse(gt, strlen(gt), &cmt_changed)) abort();
  free(gt);
  json_decref(gj);
  ag_keypair k;
  uint8_t seed[32] = {1};
  ag_key_from_seed(&k, seed);
  char addr[AG_ADDR_MAX], g[512];
  ag_addr_encode(k.pk, addr);
  snprintf(g, sizeof g, "{\"chain_id\":\"agora-test\",\"genesis_time_ms\":1,\"proposer\":\"%s\",\"accounts\":[]}", addr);
  if (ag_light_trust_parse(g, strlen(g), &solo)) abort();
}

/* The anchor file: as it is, then with the genesis it names taken as ours, so that the rest of
 * the parser is reached; a parsed anchor then checks a real header. */
static void kept_anchor(const char *s, size_t n) {
  for (int pass = 0; pass < 2; pass++) {
    ag_light_trust t = cmt;
    valset_dup(&t.vals);
    valset_dup(&t.anchor.vals);
    if (pass) {
      json_t *j = json_loadb(s, n, 0, NULL);
      const char *g = json_string_value(json_object_get(j, "genesis"));
      if (!g || strlen(g) != 64 || ag_hex_decode(g, 64, t.genesis_id, 32)) pass = 2;
      json_decref(j);
    }
    if (pass < 2 && ag_light_anchor_parse(&t, s, n) == 0 && t.anchor.height) {
      json_t *a = json_object();
      json_object_set_new(a, "consensus", json_string("cometbft"));
      char path[1024];
      snprintf(path, sizeof path, "%s/tests/vectors/cometbft/commit_3.json", AGORA_SRC_DIR);
      json_t *c = json_load_file(path, 0, NULL);
      json_object_set(a, "signed_header", json_object_get(json_object_get(c, "result"), "signed_header"));
      json_decref(c);
      uint8_t root[32] = {0};
      ag_light_verified v;
      (void)ag_light_verify(&t, a, 2, root, NOW_MS, NULL, NULL, &v);
      json_decref(a);
    }
    ag_light_trust_free(&t);
  }
}

static void headers_answer(const char *s, size_t n) {
  json_t *j = json_loadb(s, n, 0, NULL);
  if (!j) return;
  ag_light_verified v;
  uint8_t root[32] = {0};
  /* CometBFT: the height and root the header claims, so that a genuine header gets through */
  ag_cmt_header h;
  ag_cmt_commit c;
  if (ag_cmt_signed_header_parse(json_object_get(j, "signed_header"), &h, &c) == 0) {
    uint8_t hash[32];
    ag_cmt_header_hash(&h, hash);
    if (h.app_hash.len == 32) memcpy(root, h.app_hash.b, 32);
    ag_cmt_commit_free(&c);
    verify_copy(&cmt, j, (uint64_t)(h.height - 1), root);
    verify_copy(&cmt_changed, j, (uint64_t)(h.height - 1), root);
    /* the same header given as one the user trusts */
    ag_light_trust t = cmt;
    valset_dup(&t.vals);
    valset_dup(&t.anchor.vals);
    (void)ag_light_anchor_set(&t, j, (uint64_t)h.height, hash, NOW_MS);
    ag_light_trust_free(&t);
  }
  verify_copy(&cmt, j, 2, root);
  /* solo */
  const char *sr = json_string_value(json_object_get(j, "state_root"));
  if (sr) (void)ag_hex_decode(sr, strlen(sr), root, 32);
  json_int_t height = json_integer_value(json_object_get(j, "height"));
  (void)ag_light_verify(&solo, j, (uint64_t)height, root, 0, NULL, NULL, &v);
  json_decref(j);
}

/* The proof of an account answer against the state root the answer names (and the value it
 * proves, when present, hashed as the state hashes it). */
static void account_answer(const char *s, size_t n) {
  json_t *j = json_loadb(s, n, 0, NULL);
  if (!j) return;
  ag_smt_proof *p = malloc(sizeof *p);
  uint8_t key[32], root[32] = {0}, v[16], vh[32];
  const char *rs = json_string_value(json_object_get(j, "state_root"));
  if (rs) (void)ag_hex_decode(rs, strlen(rs), root, 32);
  json_t *pj = json_object_get(j, "proof");
  const char *vs = json_string_value(json_object_get(pj, "value"));
  int have = vs && ag_hex_decode(vs, strlen(vs), v, 16) == 0;
  if (have) ag_state_value_hash(v, 16, vh);
  if (ag_json_proof_parse(pj, p, key) == 0) (void)ag_smt_verify(root, key, have ? vh : NULL, p);
  free(p);
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  load_trust();
  if (size < 1) return 0;
  uint8_t sel = data[0];
  data++;
  size--;
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = 0;
  if (sel < 128) {
    headers_answer(s, size);
  } else if (sel < 192) {
    ag_block_header h;
    uint8_t hash[32];
    (void)ag_block_header_decode(data, size, &h, hash);
  } else if (sel < 224) {
    ag_cmt_time t;
    (void)ag_cmt_time_parse(s, &t);
  } else if (sel < 232) {
    ag_light_trust t;
    if (ag_light_trust_parse(s, size, &t) == 0) ag_light_trust_free(&t);
  } else if (sel < 240) {
    kept_anchor(s, size);
  } else {
    account_answer(s, size);
  }
  free(s);
  ag_err_clear();
  return 0;
}
