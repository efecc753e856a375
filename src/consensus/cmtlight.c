/* cmtlight.c — CometBFT v0.38 header hashing and commit verification for light clients
 * (see cmtlight.h for what is hashed and signed, and what is left out). */
#include "consensus/cmtlight.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- protobuf, by hand: only what the hashed and signed messages use ------------------------ */

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2 };

static void pb_uvarint(ag_buf *b, uint64_t v) {
  while (v >= 0x80) {
    ag_buf_put_u8(b, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  ag_buf_put_u8(b, (uint8_t)v);
}

static void pb_key(ag_buf *b, unsigned field, unsigned wt) { pb_uvarint(b, (uint64_t)field << 3 | wt); }

/* proto3 scalars are left out when zero; int64 and int32 are two's complement varints */
static void pb_varint_field(ag_buf *b, unsigned field, uint64_t v) {
  if (!v) return;
  pb_key(b, field, WT_VARINT);
  pb_uvarint(b, v);
}

static void pb_bytes_field(ag_buf *b, unsigned field, const void *p, size_t n) {
  if (!n) return;
  pb_key(b, field, WT_LEN);
  pb_uvarint(b, n);
  ag_buf_put(b, p, n);
}

/* an embedded message that is always written (gogoproto's non-nullable fields) */
static void pb_msg_field(ag_buf *b, unsigned field, const ag_buf *m) {
  pb_key(b, field, WT_LEN);
  pb_uvarint(b, m->len);
  ag_buf_put(b, m->data, m->len);
}

static void pb_sfixed64_field(ag_buf *b, unsigned field, int64_t v) {
  if (!v) return;
  pb_key(b, field, WT_FIXED64);
  uint8_t le[8];
  ag_put_u64le(le, (uint64_t)v);
  ag_buf_put(b, le, 8);
}

static void pb_timestamp(ag_buf *b, const ag_cmt_time *t) {
  pb_varint_field(b, 1, (uint64_t)t->seconds);
  pb_varint_field(b, 2, (uint64_t)(int64_t)t->nanos);
}

/* BlockID and CanonicalBlockID encode the same way: hash, then the part set header (always) */
static void pb_block_id(ag_buf *b, const ag_cmt_block_id *id) {
  ag_buf psh;
  ag_buf_init(&psh);
  pb_varint_field(&psh, 1, id->parts_total);
  pb_bytes_field(&psh, 2, id->parts_hash.b, id->parts_hash.len);
  pb_bytes_field(b, 1, id->hash.b, id->hash.len);
  pb_msg_field(b, 2, &psh);
  ag_buf_free(&psh);
}

/* ---- RFC 6962 Merkle root with SHA-256 (crypto/merkle) ------------------------------------- */

static void merkle(const ag_buf *items, size_t n, uint8_t out[32]) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  if (n == 1) {
    uint8_t leaf = 0;
    crypto_hash_sha256_update(&st, &leaf, 1);
    crypto_hash_sha256_update(&st, items[0].data, items[0].len);
  } else {
    size_t k = 1; /* the largest power of two below n */
    while (k * 2 < n) k *= 2;
    uint8_t inner = 1, l[32], r[32];
    merkle(items, k, l);
    merkle(items + k, n - k, r);
    crypto_hash_sha256_update(&st, &inner, 1);
    crypto_hash_sha256_update(&st, l, 32);
    crypto_hash_sha256_update(&st, r, 32);
  }
  crypto_hash_sha256_final(&st, out);
}

static void merkle_root(const ag_buf *items, size_t n, uint8_t out[32]) {
  if (n == 0) crypto_hash_sha256(out, NULL, 0);
  else merkle(items, n, out);
}

/* ---- hashes ---------------------------------------------------------------------------------- */

void ag_cmt_header_hash(const ag_cmt_header *h, uint8_t out[32]) {
  ag_buf it[14];
  for (int i = 0; i < 14; i++) ag_buf_init(&it[i]);
  pb_varint_field(&it[0], 1, h->version_block);
  pb_varint_field(&it[0], 2, h->version_app);
  pb_bytes_field(&it[1], 1, h->chain_id, strlen(h->chain_id)); /* StringValue */
  pb_varint_field(&it[2], 1, (uint64_t)h->height);              /* Int64Value */
  pb_timestamp(&it[3], &h->time);
  pb_block_id(&it[4], &h->last_block_id);
  const ag_cmt_bytes *f[9] = {&h->last_commit_hash,    &h->data_hash,      &h->validators_hash,
                              &h->next_validators_hash, &h->consensus_hash, &h->app_hash,
                              &h->last_results_hash,   &h->evidence_hash,  &h->proposer_address};
  for (int i = 0; i < 9; i++) pb_bytes_field(&it[5 + i], 1, f[i]->b, f[i]->len); /* BytesValue */
  merkle_root(it, 14, out);
  for (int i = 0; i < 14; i++) ag_buf_free(&it[i]);
}

void ag_cmt_valset_hash(const ag_cmt_validator *vals, size_t n, uint8_t out[32]) {
  ag_buf *it = ag_xcalloc(n ? n : 1, sizeof *it);
  ag_buf pk;
  ag_buf_init(&pk);
  for (size_t i = 0; i < n; i++) {
    ag_buf_init(&it[i]);
    ag_buf_reset(&pk);
    pb_bytes_field(&pk, 1, vals[i].pk, 32); /* PublicKey{ed25519} */
    pb_msg_field(&it[i], 1, &pk);
    pb_varint_field(&it[i], 2, (uint64_t)vals[i].power);
  }
  merkle_root(it, n, out);
  for (size_t i = 0; i < n; i++) ag_buf_free(&it[i]);
  ag_buf_free(&pk);
  free(it);
}

void ag_cmt_vote_sign_bytes(const char *chain_id, const ag_cmt_commit *c, size_t idx, ag_buf *out) {
  const ag_cmt_commit_sig *s = &c->sigs[idx];
  ag_buf v, id, ts;
  ag_buf_init(&v);
  ag_buf_init(&id);
  ag_buf_init(&ts);
  pb_varint_field(&v, 1, 2); /* SIGNED_MSG_TYPE_PRECOMMIT */
  pb_sfixed64_field(&v, 2, c->height);
  pb_sfixed64_field(&v, 3, c->round);
  /* a vote for nil (or an absent one) has no block id; a commit vote the commit's */
  if (s->flag == AG_CMT_FLAG_COMMIT) {
    pb_block_id(&id, &c->block_id);
    pb_msg_field(&v, 4, &id);
  }
  pb_timestamp(&ts, &s->timestamp);
  pb_msg_field(&v, 5, &ts);
  pb_bytes_field(&v, 6, chain_id, strlen(chain_id));
  pb_uvarint(out, v.len); /* length-delimited, as protoio writes it */
  ag_buf_put(out, v.data, v.len);
  ag_buf_free(&v);
  ag_buf_free(&id);
  ag_buf_free(&ts);
}

/* ---- JSON (CometBFT's RPC encoding: int64 and uint64 as strings, hashes as hex, signatures
 * and keys as base64, times as RFC 3339) ------------------------------------------------------ */

static int bad(const char *what) { return ag_fail(AG_E_BAD_HEADER, "signed header: %s", what); }

static int parse_i64(json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return 0;
  }
  const char *s = json_string_value(v);
  if (!s) return AG_E_INVALID;
  int neg = *s == '-';
  uint64_t u;
  if (ag_parse_u64(s + neg, &u) || u > (uint64_t)INT64_MAX) return AG_E_INVALID;
  *out = neg ? -(int64_t)u : (int64_t)u;
  return 0;
}

static int parse_hex(json_t *v, size_t max, ag_cmt_bytes *out) {
  memset(out, 0, sizeof *out);
  if (json_is_null(v) || !v) return 0; /* an empty field */
  const char *s = json_string_value(v);
  size_t n = s ? strlen(s) : 0;
  if (!s || n % 2 || n / 2 > max) return AG_E_INVALID;
  if (n && ag_hex_decode(s, n, out->b, n / 2)) return AG_E_INVALID;
  out->len = n / 2;
  return 0;
}

static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int64_t *out) {
  int64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int ag_cmt_time_parse(const char *s, ag_cmt_time *t) {
  static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t y, mo, d, hh, mm, ss;
  if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
      s[7] != '-' || digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &hh) ||
      s[13] != ':' || digits(s + 14, 2, &mm) || s[16] != ':' || digits(s + 17, 2, &ss))
    return ag_fail(AG_E_BAD_HEADER, "time '%.40s' is not RFC 3339", s ? s : "");
  if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
      d > (int64_t)mdays[mo - 1] + (mo == 2 && leap(y)) || hh > 23 || mm > 59 || ss > 59)
    return ag_fail(AG_E_BAD_HEADER, "time '%.40s' is out of range", s);
  const char *p = s + 19;
  int64_t nanos = 0;
  if (*p == '.') {
    int n = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, n++) {
      if (n == 9) return ag_fail(AG_E_BAD_HEADER, "time '%.40s' has more than 9 decimals", s);
      nanos = nanos * 10 + (*p - '0');
    }
    if (!n) return ag_fail(AG_E_BAD_HEADER, "time '%.40s' is not RFC 3339", s);
    for (; n < 9; n++) nanos *= 10;
  }
  if (p[0] != 'Z' || p[1]) return ag_fail(AG_E_BAD_HEADER, "time '%.40s' is not in UTC ('Z')", s);
  t->seconds = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
  t->nanos = (int32_t)nanos;
  return 0;
}

static int parse_block_id(json_t *o, ag_cmt_block_id *id) {
  memset(id, 0, sizeof *id);
  json_t *parts = json_object_get(o, "parts");
  int64_t total = 0;
  if (!json_is_object(o) || !json_is_object(parts) ||
      parse_hex(json_object_get(o, "hash"), 32, &id->hash) ||
      parse_hex(json_object_get(parts, "hash"), 32, &id->parts_hash) ||
      parse_i64(json_object_get(parts, "total"), &total) || total < 0 || total > UINT32_MAX)
    return bad("malformed block id");
  id->parts_total = (uint32_t)total;
  return 0;
}

static int parse_header(json_t *o, ag_cmt_header *h) {
  memset(h, 0, sizeof *h);
  if (!json_is_object(o)) return bad("no header");
  json_t *ver = json_object_get(o, "version");
  int64_t vb = 0, va = 0;
  if (!json_is_object(ver) || parse_i64(json_object_get(ver, "block"), &vb) || vb < 0 ||
      (json_object_get(ver, "app") && (parse_i64(json_object_get(ver, "app"), &va) || va < 0)))
    return bad("malformed version");
  h->version_block = (uint64_t)vb;
  h->version_app = (uint64_t)va;
  const char *chain = json_string_value(json_object_get(o, "chain_id"));
  if (!chain || strlen(chain) > AG_CMT_CHAIN_ID_MAX) return bad("malformed chain id");
  memcpy(h->chain_id, chain, strlen(chain) + 1);
  if (parse_i64(json_object_get(o, "height"), &h->height) || h->height < 1)
    return bad("malformed height");
  const char *t = json_string_value(json_object_get(o, "time"));
  int rc = ag_cmt_time_parse(t, &h->time);
  if (rc) return rc;
  if ((rc = parse_block_id(json_object_get(o, "last_block_id"), &h->last_block_id))) return rc;
  struct {
    const char *name;
    ag_cmt_bytes *f;
    size_t max;
  } fs[] = {{"last_commit_hash", &h->last_commit_hash, 32},
            {"data_hash", &h->data_hash, 32},
            {"validators_hash", &h->validators_hash, 32},
            {"next_validators_hash", &h->next_validators_hash, 32},
            {"consensus_hash", &h->consensus_hash, 32},
            {"app_hash", &h->app_hash, AG_CMT_HASH_MAX},
            {"last_results_hash", &h->last_results_hash, 32},
            {"evidence_hash", &h->evidence_hash, 32},
            {"proposer_address", &h->proposer_address, 20}};
  for (size_t i = 0; i < AG_ARRAY_LEN(fs); i++)
    if (parse_hex(json_object_get(o, fs[i].name), fs[i].max, fs[i].f))
      return ag_fail(AG_E_BAD_HEADER, "signed header: malformed %s", fs[i].name);
  return 0;
}

static int parse_sig(json_t *o, ag_cmt_commit_sig *s) {
  memset(s, 0, sizeof *s);
  int64_t flag;
  if (!json_is_object(o) || parse_i64(json_object_get(o, "block_id_flag"), &flag) || flag < 1 ||
      flag > 3)
    return bad("a commit signature has no valid block_id_flag");
  s->flag = (int)flag;
  if (flag == AG_CMT_FLAG_ABSENT) return 0; /* nothing signed: nothing else is read */
  ag_cmt_bytes addr;
  if (parse_hex(json_object_get(o, "validator_address"), 20, &addr) || addr.len != 20)
    return bad("a commit signature has no 20-byte validator address");
  memcpy(s->address, addr.b, 20);
  int rc = ag_cmt_time_parse(json_string_value(json_object_get(o, "timestamp")), &s->timestamp);
  if (rc) return rc;
  const char *sig = json_string_value(json_object_get(o, "signature"));
  uint8_t *raw = NULL;
  size_t n = 0;
  if (!sig || ag_b64_decode_alloc(sig, strlen(sig), 64, &raw, &n) || n == 0) {
    free(raw);
    return bad("a commit signature is not base64 of at most 64 bytes");
  }
  memcpy(s->sig, raw, n);
  s->sig_len = n;
  free(raw);
  return 0;
}

int ag_cmt_signed_header_parse(json_t *sh, ag_cmt_header *h, ag_cmt_commit *c) {
  memset(c, 0, sizeof *c);
  if (!json_is_object(sh)) return bad("not an object");
  int rc = parse_header(json_object_get(sh, "header"), h);
  if (rc) return rc;
  json_t *co = json_object_get(sh, "commit");
  json_t *sigs = json_object_get(co, "signatures");
  int64_t round;
  if (!json_is_object(co) || parse_i64(json_object_get(co, "height"), &c->height) ||
      parse_i64(json_object_get(co, "round"), &round) || round < 0 || round > INT32_MAX)
    return bad("malformed commit");
  c->round = (int32_t)round;
  if ((rc = parse_block_id(json_object_get(co, "block_id"), &c->block_id))) return rc;
  if (!json_is_array(sigs) || json_array_size(sigs) > AG_CMT_MAX_VALIDATORS)
    return bad("the commit's signatures are not a list of at most 10000");
  c->nsigs = json_array_size(sigs);
  c->sigs = ag_xcalloc(c->nsigs ? c->nsigs : 1, sizeof *c->sigs);
  for (size_t i = 0; i < c->nsigs; i++)
    if ((rc = parse_sig(json_array_get(sigs, i), &c->sigs[i]))) {
      ag_cmt_commit_free(c);
      return rc;
    }
  return 0;
}

void ag_cmt_commit_free(ag_cmt_commit *c) {
  if (!c) return;
  free(c->sigs);
  c->sigs = NULL;
  c->nsigs = 0;
}

/* ---- the trusted set ------------------------------------------------------------------------- */

static int cmp_val(const void *a, const void *b) {
  const ag_cmt_validator *x = a, *y = b;
  if (x->power != y->power) return x->power > y->power ? -1 : 1;
  return memcmp(x->address, y->address, 20);
}

/* The validators of a list: a genesis's ("power", AG_E_GENESIS) or a /validators answer's
 * ("voting_power", AG_E_BAD_HEADER), in CometBFT's order, with the set's hash. */
static int valset_from_list(json_t *vals, const char *chain, const char *power_key, int code, ag_cmt_valset *vs) {
  const char *where = code == AG_E_GENESIS ? "CometBFT genesis" : "validator set";
  memcpy(vs->chain_id, chain, strlen(chain) + 1);
  vs->n = json_array_size(vals);
  vs->vals = ag_xcalloc(vs->n + 1, sizeof *vs->vals);
  int rc = 0;
  for (size_t i = 0; i < vs->n && !rc; i++) {
    json_t *v = json_array_get(vals, i), *pk = json_object_get(v, "pub_key");
    ag_cmt_validator *x = &vs->vals[i];
    const char *type = json_string_value(json_object_get(pk, "type"));
    const char *val = json_string_value(json_object_get(pk, "value"));
    uint8_t *raw = NULL;
    size_t n = 0;
    if (!type || strcmp(type, "tendermint/PubKeyEd25519") != 0) {
      rc = ag_fail(code, "%s: validator %zu: only ed25519 keys are supported", where, i);
    } else if (!val || ag_b64_decode_alloc(val, strlen(val), 32, &raw, &n) || n != 32) {
      rc = ag_fail(code, "%s: validator %zu: the public key is not 32 bytes of base64", where, i);
    } else {
      memcpy(x->pk, raw, 32);
      uint8_t h[32];
      crypto_hash_sha256(h, x->pk, 32);
      memcpy(x->address, h, 20);
      ag_cmt_bytes addr;
      int64_t power = 0;
      if (parse_i64(json_object_get(v, power_key), &power) || power < 1)
        rc = ag_fail(code, "%s: validator %zu: \"%s\" must be a positive integer", where, i, power_key);
      else if (power > INT64_MAX / 8 - vs->total_power)
        rc = ag_fail(code, "%s: validator %zu: the total voting power exceeds CometBFT's limit", where, i);
      else if (json_object_get(v, "address") &&
               (parse_hex(json_object_get(v, "address"), 20, &addr) ||
                (addr.len && (addr.len != 20 || memcmp(addr.b, x->address, 20) != 0))))
        rc = ag_fail(code, "%s: validator %zu: \"address\" is not the one of its public key", where, i);
      x->power = power;
      vs->total_power += rc ? 0 : power;
    }
    free(raw);
  }
  if (!rc) {
    qsort(vs->vals, vs->n, sizeof *vs->vals, cmp_val);
    for (size_t i = 1; i < vs->n && !rc; i++)
      if (!memcmp(vs->vals[i].address, vs->vals[i - 1].address, 20))
        rc = ag_fail(code, "%s: a validator is listed twice", where);
  }
  if (rc) {
    ag_cmt_valset_free(vs);
    return rc;
  }
  ag_cmt_valset_hash(vs->vals, vs->n, vs->hash);
  return 0;
}

int ag_cmt_valset_from_genesis(json_t *g, ag_cmt_valset *vs) {
  memset(vs, 0, sizeof *vs);
  const char *chain = json_string_value(json_object_get(g, "chain_id"));
  json_t *vals = json_object_get(g, "validators");
  if (!chain || !*chain || strlen(chain) > AG_CMT_CHAIN_ID_MAX)
    return ag_fail(AG_E_GENESIS, "CometBFT genesis: \"chain_id\" missing or longer than 50");
  if (!json_is_array(vals) || json_array_size(vals) == 0)
    return ag_fail(AG_E_NO_TRUST_ANCHOR, "the CometBFT genesis lists no validators to check commits against");
  if (json_array_size(vals) > AG_CMT_MAX_VALIDATORS)
    return ag_fail(AG_E_GENESIS, "CometBFT genesis: more than 10000 validators");
  return valset_from_list(vals, chain, "power", AG_E_GENESIS, vs);
}

int ag_cmt_valset_from_rpc(json_t *vals, const char *chain_id, ag_cmt_valset *vs) {
  memset(vs, 0, sizeof *vs);
  if (!json_is_array(vals) || json_array_size(vals) == 0 || json_array_size(vals) > AG_CMT_MAX_VALIDATORS)
    return ag_fail(AG_E_BAD_HEADER, "the answer has no validator set of 1 to 10000 validators");
  if (strlen(chain_id) > AG_CMT_CHAIN_ID_MAX) return ag_fail(AG_E_BAD_HEADER, "chain id longer than 50");
  return valset_from_list(vals, chain_id, "voting_power", AG_E_BAD_HEADER, vs);
}

int64_t ag_cmt_trusted_signed_power(const ag_cmt_valset *trusted, const ag_cmt_valset *vs, const ag_cmt_commit *c) {
  int64_t p = 0;
  for (size_t i = 0; i < c->nsigs && i < vs->n; i++) {
    if (c->sigs[i].flag != AG_CMT_FLAG_COMMIT) continue;
    for (size_t k = 0; k < trusted->n; k++)
      if (!memcmp(trusted->vals[k].pk, vs->vals[i].pk, 32)) p += trusted->vals[k].power;
  }
  return p;
}

void ag_cmt_valset_free(ag_cmt_valset *vs) {
  if (!vs) return;
  free(vs->vals);
  vs->vals = NULL;
  vs->n = 0;
}

/* ---- verification (VerifyCommitLight: look validators up by index, count COMMIT votes) ----- */

int ag_cmt_verify_commit(const ag_cmt_valset *vs, const ag_cmt_header *h, const ag_cmt_commit *c,
                         ag_cmt_verified *out) {
  memset(out, 0, sizeof *out);
  if (strcmp(h->chain_id, vs->chain_id) != 0)
    return ag_fail(AG_E_BAD_HEADER, "the header is for chain '%s', not '%s'", h->chain_id, vs->chain_id);
  if (h->validators_hash.len != 32 || memcmp(h->validators_hash.b, vs->hash, 32) != 0)
    return ag_fail(AG_E_VALSET_CHANGED, "header %lld names another validator set (validators_hash) than the one it is checked against",
                   (long long)h->height);
  ag_cmt_header_hash(h, out->block_hash);
  if (c->height != h->height || c->block_id.hash.len != 32 ||
      memcmp(c->block_id.hash.b, out->block_hash, 32) != 0)
    return ag_fail(AG_E_BAD_HEADER, "the commit is not for header %lld (another height or block hash)",
                   (long long)h->height);
  if (c->nsigs != vs->n)
    return ag_fail(AG_E_BAD_HEADER, "the commit has %zu signatures for %zu validators", c->nsigs, vs->n);
  ag_buf msg;
  ag_buf_init(&msg);
  int rc = 0;
  for (size_t i = 0; i < c->nsigs && !rc; i++) {
    const ag_cmt_commit_sig *s = &c->sigs[i];
    if (s->flag != AG_CMT_FLAG_COMMIT) continue; /* absent, or a vote for nil: not counted */
    const ag_cmt_validator *v = &vs->vals[i];
    if (memcmp(s->address, v->address, 20) != 0) {
      rc = ag_fail(AG_E_BAD_HEADER, "commit signature %zu is not from validator %zu of the set", i, i);
      break;
    }
    ag_buf_reset(&msg);
    ag_cmt_vote_sign_bytes(vs->chain_id, c, i, &msg);
    if (s->sig_len != 64 || ag_verify(v->pk, msg.data, msg.len, s->sig) != 0) {
      ag_err_clear();
      rc = ag_fail(AG_E_HEADER_SIGNATURE, "the precommit of validator %zu on header %lld does not verify",
                   i, (long long)h->height);
      break;
    }
    out->signed_power += v->power; /* bounded by total_power <= INT64_MAX / 8 */
    out->signers++;
  }
  ag_buf_free(&msg);
  if (rc) return rc;
  /* CometBFT's rule: strictly more than total * 2 / 3 (integer division) */
  int64_t needed = vs->total_power * 2 / 3;
  if (out->signed_power <= needed)
    return ag_fail(AG_E_VOTING_POWER,
                   "header %lld is signed by %lld of %lld voting power; more than %lld is needed",
                   (long long)h->height, (long long)out->signed_power, (long long)vs->total_power,
                   (long long)needed);
  return 0;
}
