/* light.c — trust anchors from genesis files and the check of a signed header against one
 * (see light.h). Everything read from a node is untrusted and bounded. */
#include "consensus/light.h"

#include "chain/block.h"
#include "chain/genesis.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_HEX_MAX 1024 /* a version-1 header is at most 214 bytes */

static int anchor_load(ag_light_trust *t);

static void valset_copy(ag_cmt_valset *dst, const ag_cmt_valset *src) {
  *dst = *src;
  dst->vals = ag_xcalloc(src->n + 1, sizeof *dst->vals);
  memcpy(dst->vals, src->vals, src->n * sizeof *src->vals);
}

static int64_t time_ms_of(const ag_cmt_time *tm) { return tm->seconds * 1000 + tm->nanos / 1000000; }

/* The genesis as the first anchor, and the trusting period from its unbond_ms. */
static int cometbft_genesis_anchor(json_t *g, ag_light_trust *t) {
  ag_cmt_time gt;
  const char *ts = json_string_value(json_object_get(g, "genesis_time"));
  if (!ts || ag_cmt_time_parse(ts, &gt) || gt.seconds < 0 || gt.seconds > INT64_MAX / 2000)
    return ag_fail(AG_E_GENESIS, "the CometBFT genesis has no valid \"genesis_time\"");
  uint64_t unbond = AG_LIGHT_UNBOND_MS_DEFAULT;
  json_t *vs = json_object_get(json_object_get(json_object_get(g, "app_state"), "incentive"), "validators");
  int rc = ag_genesis_u64(vs, "incentive.validators", "unbond_ms", &unbond);
  if (rc) return rc;
  if (unbond > (uint64_t)INT64_MAX / 2) return ag_fail(AG_E_GENESIS, "genesis unbond_ms out of range");
  t->unbond_ms = (int64_t)unbond;
  t->period_ms = t->unbond_ms / 3 * 2;
  /* what a kept anchor must have been followed from */
  ag_buf id;
  ag_buf_init(&id);
  ag_buf_put(&id, t->chain_id, strlen(t->chain_id) + 1);
  ag_buf_put_u64le(&id, (uint64_t)time_ms_of(&gt));
  ag_buf_put(&id, t->vals.hash, 32);
  ag_hash("agora/lightgen", id.data, id.len, t->genesis_id);
  ag_buf_free(&id);
  ag_light_anchor *a = &t->anchor;
  a->height = 0;
  a->time_ms = time_ms_of(&gt);
  memcpy(a->next_hash, t->vals.hash, 32);
  valset_copy(&a->vals, &t->vals);
  return 0;
}

int ag_light_trust_parse(const char *text, size_t len, ag_light_trust *t) {
  memset(t, 0, sizeof *t);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(root)) {
    json_decref(root);
    return ag_fail(AG_E_BAD_JSON, "genesis is not a JSON object (line %d: %s)", jerr.line, jerr.text);
  }
  int rc;
  if (json_is_array(json_object_get(root, "validators")) && json_object_get(root, "app_state")) {
    rc = ag_cmt_valset_from_genesis(root, &t->vals);
    if (!rc) {
      t->mode = AG_LIGHT_COMETBFT;
      snprintf(t->chain_id, sizeof t->chain_id, "%s", t->vals.chain_id);
      rc = cometbft_genesis_anchor(root, t);
    }
  } else {
    ag_genesis g;
    rc = ag_genesis_parse(text, len, &g);
    if (!rc) {
      if (!g.has_proposer)
        rc = ag_fail(AG_E_NO_TRUST_ANCHOR,
                     "the genesis names no block producer (\"proposer\"), so no header can be "
                     "checked: it predates light-client proofs ('agora init' now names the node "
                     "key), or the chain runs on CometBFT (give its genesis with --genesis)");
      t->mode = AG_LIGHT_SOLO;
      snprintf(t->chain_id, sizeof t->chain_id, "%s", g.chain_id);
      memcpy(t->proposer, g.proposer, 32);
      ag_genesis_free(&g);
    }
  }
  json_decref(root);
  if (rc) ag_light_trust_free(t);
  return rc;
}

int ag_light_trust_load(const char *home, const char *path, ag_light_trust *t) {
  memset(t, 0, sizeof *t);
  char p[1100];
  if (path) {
    snprintf(p, sizeof p, "%s", path);
  } else {
    snprintf(p, sizeof p, "%s/cometbft/config/genesis.json", home);
    if (!ag_file_exists(p)) snprintf(p, sizeof p, "%s/genesis.json", home);
  }
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(p, 256u << 20, &data, &len);
  if (rc == AG_E_NOTFOUND)
    return ag_fail(AG_E_NO_TRUST_ANCHOR,
                   "%s not found: a proof is checked against the chain's genesis, which the "
                   "client must hold (copy the chain's genesis.json there, or give --genesis)",
                   p);
  if (rc) return rc;
  rc = ag_light_trust_parse((const char *)data, len, t);
  free(data);
  if (rc) return ag_fail(rc, "%s: %s", p, ag_errmsg(rc));
  snprintf(t->source, sizeof t->source, "%s", p);
  if (t->mode != AG_LIGHT_COMETBFT || !home) return 0;
  snprintf(t->state_path, sizeof t->state_path, "%s/light/%s.json", home, t->chain_id);
  if ((rc = anchor_load(t))) {
    ag_light_trust_free(t);
    return rc;
  }
  return 0;
}

void ag_light_trust_free(ag_light_trust *t) {
  if (!t) return;
  ag_cmt_valset_free(&t->vals);
  ag_cmt_valset_free(&t->anchor.vals);
}

/* ---- the anchor on disk ---------------------------------------------------------------------
 * {"chain_id", "genesis", "height", "hash", "time_ms", "next_validators_hash", "validators":
 * [{"pub_key": {"type", "value"}, "voting_power"}]}: the client's own file, still read with every
 * bound. */

static int hex32(json_t *o, const char *k, uint8_t out[32]) {
  const char *x = json_string_value(json_object_get(o, k));
  return !x || strlen(x) != 64 || ag_hex_decode(x, 64, out, 32);
}

int ag_light_anchor_parse(ag_light_trust *t, const char *text, size_t len) {
  json_error_t jerr;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  ag_light_anchor a;
  memset(&a, 0, sizeof a);
  uint8_t gid[32];
  json_t *h = json_object_get(j, "height"), *tm = json_object_get(j, "time_ms");
  const char *chain = json_string_value(json_object_get(j, "chain_id"));
  if (t->mode != AG_LIGHT_COMETBFT || !json_is_object(j) || !chain || strcmp(chain, t->chain_id) ||
      !json_is_integer(h) || json_integer_value(h) < 1 || !json_is_integer(tm) || hex32(j, "genesis", gid) ||
      hex32(j, "hash", a.hash) || hex32(j, "next_validators_hash", a.next_hash) ||
      ag_cmt_valset_from_rpc(json_object_get(j, "validators"), t->chain_id, &a.vals)) {
    json_decref(j);
    ag_cmt_valset_free(&a.vals);
    ag_err_clear();
    return ag_fail(AG_E_BAD_JSON, "%s is not a trusted header of chain '%s': remove it to start again from the genesis",
                   t->state_path[0] ? t->state_path : "the kept anchor", t->chain_id);
  }
  a.height = json_integer_value(h);
  a.time_ms = json_integer_value(tm);
  json_decref(j);
  if (memcmp(gid, t->genesis_id, 32)) {
    ag_cmt_valset_free(&a.vals);
    t->other_genesis = 1;
    return 0;
  }
  ag_cmt_valset_free(&t->anchor.vals);
  t->anchor = a;
  return 0;
}

static int anchor_load(ag_light_trust *t) {
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(t->state_path, 4u << 20, &data, &len);
  if (rc == AG_E_NOTFOUND) {
    ag_err_clear();
    return 0;
  }
  if (rc) return rc;
  rc = ag_light_anchor_parse(t, (const char *)data, len);
  free(data);
  return rc;
}

int ag_light_trust_save(ag_light_trust *t) {
  if (t->mode != AG_LIGHT_COMETBFT || !t->moved || !t->state_path[0]) return 0;
  const ag_light_anchor *a = &t->anchor;
  json_t *vals = json_array();
  for (size_t i = 0; i < a->vals.n; i++) {
    char b64[64], pw[24];
    ag_b64_encode(a->vals.vals[i].pk, 32, b64);
    snprintf(pw, sizeof pw, "%lld", (long long)a->vals.vals[i].power);
    json_array_append_new(vals, json_pack("{s:{s:s, s:s}, s:s}", "pub_key", "type", "tendermint/PubKeyEd25519",
                                          "value", b64, "voting_power", pw));
  }
  json_t *j = json_object();
  json_object_set_new(j, "chain_id", json_string(t->chain_id));
  json_object_set_new(j, "genesis", ag_json_hex(t->genesis_id, 32));
  json_object_set_new(j, "height", json_integer(a->height));
  json_object_set_new(j, "hash", ag_json_hex(a->hash, 32));
  json_object_set_new(j, "time_ms", json_integer(a->time_ms));
  json_object_set_new(j, "next_validators_hash", ag_json_hex(a->next_hash, 32));
  json_object_set_new(j, "validators", vals);
  char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
  json_decref(j);
  char dir[1100];
  snprintf(dir, sizeof dir, "%s", t->state_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  int rc = slash ? ag_mkdirs(dir, 0700) : 0;
  if (!rc) rc = ag_write_file_atomic(t->state_path, text, strlen(text), 0600);
  free(text);
  if (!rc) t->moved = 0;
  return rc;
}

uint64_t ag_light_header_height(const ag_light_trust *t, uint64_t state_height) {
  return t->mode == AG_LIGHT_COMETBFT ? state_height + 1 : state_height;
}

static int want_consensus(json_t *hdr, const char *want) {
  const char *got = json_string_value(json_object_get(hdr, "consensus"));
  if (!got || strcmp(got, want) != 0)
    return ag_fail(AG_E_BAD_HEADER, "the node serves %.16s headers, but the genesis is a %s chain's",
                   got ? got : "no", want);
  return 0;
}

static int verify_solo(const ag_light_trust *t, json_t *hdr, uint64_t height, const uint8_t root[32],
                       ag_light_verified *out) {
  int rc = want_consensus(hdr, "solo");
  if (rc) return rc;
  const char *hx = json_string_value(json_object_get(hdr, "header"));
  const char *sx = json_string_value(json_object_get(hdr, "signature"));
  uint8_t raw[HEADER_HEX_MAX / 2], sig[64];
  size_t n = hx ? strlen(hx) : 0;
  if (!hx || n % 2 || n > HEADER_HEX_MAX || ag_hex_decode(hx, n, raw, n / 2))
    return ag_fail(AG_E_BAD_HEADER, "the header is not hex of at most %d bytes", HEADER_HEX_MAX / 2);
  if (!sx || ag_hex_decode(sx, strlen(sx), sig, 64))
    return ag_fail(AG_E_BAD_HEADER, "the header's signature is not 64 bytes of hex");
  ag_block_header h;
  if ((rc = ag_block_header_decode(raw, n / 2, &h, out->block_hash)))
    return ag_fail(AG_E_BAD_HEADER, "the header does not decode: %s", ag_errmsg(rc));
  if (h.version != AG_BLOCK_VERSION || strcmp(h.chain_id, t->chain_id) != 0 || h.height != height)
    return ag_fail(AG_E_BAD_HEADER,
                   "the header is version %u of chain '%s' at height %llu; wanted a solo block "
                   "of '%s' at %llu",
                   h.version, h.chain_id, (unsigned long long)h.height, t->chain_id,
                   (unsigned long long)height);
  char want[AG_ADDR_MAX], got[AG_ADDR_MAX];
  ag_addr_encode(t->proposer, want);
  ag_addr_encode(h.proposer, got);
  if (memcmp(h.proposer, t->proposer, 32) != 0)
    return ag_fail(AG_E_HEADER_SIGNATURE, "block %llu names %s as its producer, not the genesis block producer %s",
                   (unsigned long long)height, got, want);
  if (ag_verify(t->proposer, out->block_hash, 32, sig) != 0) {
    ag_err_clear();
    return ag_fail(AG_E_HEADER_SIGNATURE, "block %llu's header is not signed by the genesis block producer %s",
                   (unsigned long long)height, want);
  }
  out->header_height = height;
  out->time_ms = h.time_ms > INT64_MAX ? INT64_MAX : (int64_t)h.time_ms;
  out->signed_power = out->total_power = 1;
  out->signers = out->validators = 1;
  if (memcmp(h.state_root, root, 32) != 0)
    return ag_fail(AG_E_UNTRUSTED_ROOT,
                   "the proof's state root is not the one block %llu's signed header commits to",
                   (unsigned long long)height);
  return 0;
}

/* ---- CometBFT: one header against the anchor, bisection, the anchor moved ------------------ */

typedef struct {
  ag_cmt_header h;
  ag_cmt_commit c;
  ag_cmt_valset set;  /* the set that signed it */
  ag_cmt_verified v;
  int64_t time_ms;
  int set_changed;
  int64_t trusted_power;
  int short_of_trust; /* signed by a changed set without a third of the anchor's power */
} checked;

static void checked_free(checked *k) {
  ag_cmt_commit_free(&k->c);
  ag_cmt_valset_free(&k->set);
}

static int expired(const ag_light_trust *t, int64_t now_ms) {
  const ag_light_anchor *a = &t->anchor;
  if (now_ms - a->time_ms <= t->period_ms) return 0;
  char anchor[96];
  if (a->height) snprintf(anchor, sizeof anchor, "header %lld", (long long)a->height);
  else snprintf(anchor, sizeof anchor, "the genesis");
  return ag_fail(AG_E_TRUST_EXPIRED,
                 "the last trusted header (%s) is %lld s old, and a validator set is trusted for %lld s (2/3 of the "
                 "chain's unbond_ms): its keys may be free to sign anything. Get the hash of a recent header from "
                 "a source you trust (signed_header.commit.block_id.hash of GET /v1/headers/H on its node) and "
                 "give it with --trust-height H --trust-hash HASH",
                 anchor, (long long)((now_ms - a->time_ms) / 1000), (long long)(t->period_ms / 1000));
}

/* Checks header answer j (for header height hh) against the anchor; k is filled (free it). */
static int check_one(const ag_light_trust *t, json_t *j, int64_t hh, int64_t now_ms, checked *k) {
  memset(k, 0, sizeof *k);
  if (!json_is_object(j)) return ag_fail(AG_E_BAD_HEADER, "the header answer is not a JSON object");
  int rc = want_consensus(j, "cometbft");
  if (rc) return rc;
  if ((rc = ag_cmt_signed_header_parse(json_object_get(j, "signed_header"), &k->h, &k->c))) return rc;
  const ag_light_anchor *a = &t->anchor;
  if (k->h.height != hh)
    return ag_fail(AG_E_BAD_HEADER, "the node answered header %lld; header %lld was asked", (long long)k->h.height,
                   (long long)hh);
  k->time_ms = time_ms_of(&k->h.time);
  if (k->time_ms > now_ms + AG_LIGHT_MAX_DRIFT_MS)
    return ag_fail(AG_E_BAD_HEADER, "header %lld's time is %lld s ahead of this computer's clock", (long long)hh,
                   (long long)((k->time_ms - now_ms) / 1000));
  if ((hh > a->height && k->time_ms <= a->time_ms) || (hh < a->height && k->time_ms >= a->time_ms))
    return ag_fail(AG_E_BAD_HEADER, "header %lld's time is out of order with the trusted header %lld's", (long long)hh,
                   (long long)a->height);
  /* who signs it: the anchor's set, the next set the anchor named, or another one */
  int next = hh == a->height + 1 && k->h.validators_hash.len == 32 && !memcmp(k->h.validators_hash.b, a->next_hash, 32);
  json_t *given = json_object_get(j, "validators");
  if (k->h.validators_hash.len == 32 && !memcmp(k->h.validators_hash.b, a->vals.hash, 32)) {
    valset_copy(&k->set, &a->vals);
  } else if (!json_array_size(given)) {
    return ag_fail(AG_E_VALSET_CHANGED, "header %lld is signed by another validator set than the trusted one, and the "
                   "answer does not give that set", (long long)hh);
  } else if ((rc = ag_cmt_valset_from_rpc(given, t->chain_id, &k->set))) {
    return rc;
  } else {
    k->set_changed = 1;
  }
  if ((rc = ag_cmt_verify_commit(&k->set, &k->h, &k->c, &k->v))) return rc;
  if (hh == a->height && a->height && memcmp(k->v.block_hash, a->hash, 32))
    return ag_fail(AG_E_HEADER_SIGNATURE, "header %lld is signed, but it is not the header trusted at that height: the "
                   "validators signed two chains (keep this answer: it is evidence)", (long long)hh);
  if (!k->set_changed) return 0;
  if (next) {
    k->trusted_power = k->set.total_power;
    return 0;
  }
  k->trusted_power = ag_cmt_trusted_signed_power(&a->vals, &k->set, &k->c);
  if (k->trusted_power > a->vals.total_power / 3) return 0;
  k->short_of_trust = 1;
  char from[64];
  if (a->height) snprintf(from, sizeof from, "header %lld's", (long long)a->height);
  else snprintf(from, sizeof from, "the genesis");
  return ag_fail(AG_E_VALSET_CHANGED,
                 "header %lld is signed by a changed validator set, and the trusted validators (of %s) among its signers "
                 "hold %lld of their %lld power: more than %lld is needed to trust the new set",
                 (long long)hh, from, (long long)k->trusted_power, (long long)a->vals.total_power,
                 (long long)(a->vals.total_power / 3));
}

static void anchor_move(ag_light_trust *t, checked *k) {
  ag_light_anchor *a = &t->anchor;
  a->height = k->h.height;
  memcpy(a->hash, k->v.block_hash, 32);
  a->time_ms = k->time_ms;
  memset(a->next_hash, 0, 32);
  if (k->h.next_validators_hash.len == 32) memcpy(a->next_hash, k->h.next_validators_hash.b, 32);
  ag_cmt_valset_free(&a->vals);
  a->vals = k->set;
  k->set.vals = NULL;
  k->set.n = 0;
  t->moved = 1;
}

typedef struct {
  ag_light_fetch_fn fetch;
  void *ctx;
  int fetched;
} fetcher;

/* Header hh (answer j, or fetched when j is NULL) checked from the anchor, bisecting when the
 * set changed too much; the anchor moves to it when it is newer. k is filled (free it). */
static int follow(ag_light_trust *t, json_t *j, int64_t hh, int64_t now_ms, fetcher *f, checked *k) {
  memset(k, 0, sizeof *k);
  json_t *mine = NULL;
  int rc;
  if (!j) {
    if (!f->fetch || f->fetched >= AG_LIGHT_MAX_FETCHES)
      return ag_fail(AG_E_VALSET_CHANGED, "the validator set changed too much since the trusted header %lld to check "
                     "header %lld within %d headers", (long long)t->anchor.height, (long long)hh, AG_LIGHT_MAX_FETCHES);
    f->fetched++;
    if ((rc = f->fetch(f->ctx, (uint64_t)hh, &mine))) return rc;
    j = mine;
  }
  for (;;) {
    if ((rc = expired(t, now_ms))) break;
    rc = check_one(t, j, hh, now_ms, k);
    if (!(rc == AG_E_VALSET_CHANGED && k->short_of_trust && hh > t->anchor.height + 1 && f->fetch)) break;
    /* not enough of the trusted power signed: trust a header half way first */
    checked mid;
    int64_t pivot = t->anchor.height + (hh - t->anchor.height) / 2;
    checked_free(k);
    ag_err_clear();
    rc = follow(t, NULL, pivot, now_ms, f, &mid);
    checked_free(&mid);
    if (rc) {
      memset(k, 0, sizeof *k);
      break;
    }
  }
  if (!rc && hh > t->anchor.height) anchor_move(t, k);
  json_decref(mine);
  return rc;
}

static int verify_cometbft(ag_light_trust *t, json_t *hdr, uint64_t height, const uint8_t root[32], int64_t now_ms,
                           fetcher *f, ag_light_verified *out) {
  if (height >= (uint64_t)INT64_MAX - 1) return ag_fail(AG_E_BAD_HEADER, "height out of range");
  int64_t from = t->anchor.height, from_time = t->anchor.time_ms;
  checked k;
  int rc = follow(t, hdr, (int64_t)height + 1, now_ms, f, &k);
  if (!rc) {
    memcpy(out->block_hash, k.v.block_hash, 32);
    out->header_height = (uint64_t)k.h.height;
    out->time_ms = k.time_ms;
    out->signed_power = k.v.signed_power;
    out->total_power = k.set.n ? k.set.total_power : t->anchor.vals.total_power; /* moved: the anchor holds it */
    out->signers = k.v.signers;
    out->validators = k.set.n ? k.set.n : t->anchor.vals.n;
    out->set_changed = k.set_changed;
    out->trusted_power = k.trusted_power;
    out->anchor_height = from;
    out->anchor_time_ms = from_time;
    out->fetched = f->fetched;
    if (k.h.app_hash.len != 32 || memcmp(k.h.app_hash.b, root, 32) != 0)
      rc = ag_fail(AG_E_UNTRUSTED_ROOT, "the proof's state root is not the app hash CometBFT header %lld commits to",
                   (long long)k.h.height);
  }
  checked_free(&k);
  return rc;
}

int ag_light_anchor_set(ag_light_trust *t, json_t *hdr, uint64_t header_height, const uint8_t hash[32],
                        int64_t now_ms) {
  if (t->mode != AG_LIGHT_COMETBFT) return ag_fail(AG_E_USAGE, "only a CometBFT chain's trust is given by a header");
  if (header_height < 1 || header_height >= (uint64_t)INT64_MAX) return ag_fail(AG_E_BAD_HEADER, "height out of range");
  /* checked as if the anchor were this header's own set: >2/3 of the set it names signed it */
  checked k;
  memset(&k, 0, sizeof k);
  int rc = json_is_object(hdr) ? want_consensus(hdr, "cometbft") : ag_fail(AG_E_BAD_HEADER, "the header answer is not a JSON object");
  if (!rc) rc = ag_cmt_signed_header_parse(json_object_get(hdr, "signed_header"), &k.h, &k.c);
  if (!rc && k.h.height != (int64_t)header_height)
    rc = ag_fail(AG_E_BAD_HEADER, "the node answered header %lld; header %llu was asked", (long long)k.h.height,
                 (unsigned long long)header_height);
  if (!rc) rc = ag_cmt_valset_from_rpc(json_object_get(hdr, "validators"), t->chain_id, &k.set);
  if (!rc) rc = ag_cmt_verify_commit(&k.set, &k.h, &k.c, &k.v);
  if (!rc && memcmp(k.v.block_hash, hash, 32))
    rc = ag_fail(AG_E_HEADER_SIGNATURE, "the node's header %llu has another hash than the one you trust",
                 (unsigned long long)header_height);
  if (!rc) {
    k.time_ms = time_ms_of(&k.h.time);
    if (k.time_ms > now_ms + AG_LIGHT_MAX_DRIFT_MS)
      rc = ag_fail(AG_E_BAD_HEADER, "header %llu's time is ahead of this computer's clock", (unsigned long long)header_height);
    else if (now_ms - k.time_ms > t->period_ms)
      rc = ag_fail(AG_E_TRUST_EXPIRED, "header %llu is %lld s old: older than the trusting period (%lld s); trust a "
                   "more recent one", (unsigned long long)header_height, (long long)((now_ms - k.time_ms) / 1000),
                   (long long)(t->period_ms / 1000));
  }
  if (!rc) anchor_move(t, &k);
  checked_free(&k);
  return rc;
}

int ag_light_verify(ag_light_trust *t, json_t *hdr, uint64_t state_height, const uint8_t root[32],
                    int64_t now_ms, ag_light_fetch_fn fetch, void *fetch_ctx, ag_light_verified *out) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(hdr)) return ag_fail(AG_E_BAD_HEADER, "the header answer is not a JSON object");
  if (t->mode == AG_LIGHT_SOLO) return verify_solo(t, hdr, state_height, root, out);
  fetcher f = {fetch, fetch_ctx, 0};
  if (t->mode == AG_LIGHT_COMETBFT) return verify_cometbft(t, hdr, state_height, root, now_ms, &f, out);
  return ag_fail(AG_E_NO_TRUST_ANCHOR, "no trust anchor loaded");
}
