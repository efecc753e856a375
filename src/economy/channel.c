/*
 * channel.c — payment channels: the ledger record, the four tx kinds (open, fund, claim,
 * close), vouchers; and the economy's parameters, genesis section and part of the supply
 * audit. Rules in docs/economy.md;
 * each refusal has its own code and a message with the figures.
 */
#include "economy/internal.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>

#define REC_VERSION 1
#define CHANNEL_REC_LEN (2 + 4 * 32 + 8 * 8)

static const uint8_t zero32[32];

/* ---- params ----------------------------------------------------------------------------- */

void ag_economy_params_default(ag_economy_params *p) {
  p->min_deposit = AG_UNIT / 1000;
  p->min_settle_delay = 10;
  p->max_settle_delay = 1000000;
  p->min_bond = 10 * AG_UNIT;
  p->dispute_window = 1000;
  p->unbond_delay = 2000;
  p->max_royalty_bps = 5000;
  p->max_ancestor_bps = 5000;
  p->dispute_bond = AG_UNIT;
  p->slash_amount = 10 * AG_UNIT;
  p->commit_blocks = 20;
  p->reveal_blocks = 20;
  p->committee_size = 5;
  p->challenger_bps = 2000;
  p->committee_bps = 2000;
}

#define PARAMS_V1_LEN 53 /* before disputes: their parameters take the defaults */
#define PARAMS_LEN (PARAMS_V1_LEN + 4 * 8 + 3 * 2)

int ag_economy_params_load(ag_state *st, ag_state_view *view, ag_economy_params *p) {
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, (const uint8_t *)AG_EKEY_PARAMS, strlen(AG_EKEY_PARAMS), &b);
  if (rc == AG_E_NOTFOUND) {
    ag_economy_params_default(p); /* a chain made before the economy existed */
    rc = 0;
  } else if (!rc && ((b.len != PARAMS_V1_LEN && b.len != PARAMS_LEN) || b.data[0] != REC_VERSION)) {
    rc = ag_fail(AG_E_CORRUPT, "bad economy params record");
  } else if (!rc) {
    ag_economy_params_default(p);
    p->min_deposit = ag_get_u64le(b.data + 1);
    p->min_settle_delay = ag_get_u64le(b.data + 9);
    p->max_settle_delay = ag_get_u64le(b.data + 17);
    p->min_bond = ag_get_u64le(b.data + 25);
    p->dispute_window = ag_get_u64le(b.data + 33);
    p->unbond_delay = ag_get_u64le(b.data + 41);
    p->max_royalty_bps = ag_get_u16le(b.data + 49);
    p->max_ancestor_bps = ag_get_u16le(b.data + 51);
    if (b.len == PARAMS_LEN) {
      const uint8_t *q = b.data + PARAMS_V1_LEN;
      p->dispute_bond = ag_get_u64le(q);
      p->slash_amount = ag_get_u64le(q + 8);
      p->commit_blocks = ag_get_u64le(q + 16);
      p->reveal_blocks = ag_get_u64le(q + 24);
      p->committee_size = ag_get_u16le(q + 32);
      p->challenger_bps = ag_get_u16le(q + 34);
      p->committee_bps = ag_get_u16le(q + 36);
    }
  }
  ag_buf_free(&b);
  return rc;
}

static void params_store(ag_state *st, const ag_economy_params *p) {
  uint8_t v[PARAMS_LEN];
  v[0] = REC_VERSION;
  ag_put_u64le(v + 1, p->min_deposit);
  ag_put_u64le(v + 9, p->min_settle_delay);
  ag_put_u64le(v + 17, p->max_settle_delay);
  ag_put_u64le(v + 25, p->min_bond);
  ag_put_u64le(v + 33, p->dispute_window);
  ag_put_u64le(v + 41, p->unbond_delay);
  ag_put_u16le(v + 49, p->max_royalty_bps);
  ag_put_u16le(v + 51, p->max_ancestor_bps);
  uint8_t *q = v + PARAMS_V1_LEN;
  ag_put_u64le(q, p->dispute_bond);
  ag_put_u64le(q + 8, p->slash_amount);
  ag_put_u64le(q + 16, p->commit_blocks);
  ag_put_u64le(q + 24, p->reveal_blocks);
  ag_put_u16le(q + 32, p->committee_size);
  ag_put_u16le(q + 34, p->challenger_bps);
  ag_put_u16le(q + 36, p->committee_bps);
  ag_state_put(st, AG_EKEY_PARAMS, strlen(AG_EKEY_PARAMS), v, sizeof v);
}

/* ---- the channel record: "e" 'c' | id -> version u8 | status u8 | client | provider | signer |
 * model | deposit | claimed | seq | settle_delay | expiry | close_at | opened | closed ------- */


void ag_channel_id(const char *chain_id, const uint8_t client[32], uint64_t nonce,
                   uint8_t out[32]) {
  ag_hasher h;
  uint8_t len = (uint8_t)strlen(chain_id), n[8];
  ag_put_u64le(n, nonce);
  ag_hasher_init(&h, "agora/channel");
  ag_hasher_update(&h, &len, 1);
  ag_hasher_update(&h, chain_id, len);
  ag_hasher_update(&h, client, 32);
  ag_hasher_update(&h, n, 8);
  ag_hasher_final(&h, out);
}

static int channel_decode(const uint8_t *p, size_t n, ag_channel *ch) {
  if (n != CHANNEL_REC_LEN || p[0] != REC_VERSION || p[1] > AG_CHANNEL_CLOSED)
    return ag_fail(AG_E_CORRUPT, "bad channel record");
  ch->status = p[1];
  memcpy(ch->client, p + 2, 32);
  memcpy(ch->provider, p + 34, 32);
  memcpy(ch->signer, p + 66, 32);
  memcpy(ch->model, p + 98, 32);
  const uint8_t *q = p + 130;
  uint64_t *f[] = {&ch->deposit,  &ch->claimed,  &ch->seq,    &ch->settle_delay,
                   &ch->expiry,   &ch->close_at, &ch->opened, &ch->closed};
  for (int i = 0; i < 8; i++) *f[i] = ag_get_u64le(q + 8 * i);
  return 0;
}

int ag_channel_load(ag_state *st, ag_state_view *view, const uint8_t id[32], ag_channel *out) {
  uint8_t k[34];
  ag_econ_key(k, AG_EKEY_CHANNEL, id, NULL);
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_econ_get(st, view, k, sizeof k, &b);
  if (rc == AG_E_NOTFOUND) {
    char hex[65];
    ag_hex_encode(id, 32, hex);
    rc = ag_fail(AG_E_CHANNEL_NOT_FOUND, "no payment channel %s", hex);
  } else if (!rc) {
    rc = channel_decode(b.data, b.len, out);
    memcpy(out->id, id, 32);
  }
  ag_buf_free(&b);
  return rc;
}

static void channel_store(ag_state *st, const ag_channel *ch) {
  uint8_t k[34], v[CHANNEL_REC_LEN];
  ag_econ_key(k, AG_EKEY_CHANNEL, ch->id, NULL);
  v[0] = REC_VERSION;
  v[1] = ch->status;
  memcpy(v + 2, ch->client, 32);
  memcpy(v + 34, ch->provider, 32);
  memcpy(v + 66, ch->signer, 32);
  memcpy(v + 98, ch->model, 32);
  const uint64_t f[] = {ch->deposit, ch->claimed,  ch->seq,    ch->settle_delay,
                        ch->expiry,  ch->close_at, ch->opened, ch->closed};
  for (int i = 0; i < 8; i++) ag_put_u64le(v + 130 + 8 * i, f[i]);
  ag_state_put(st, k, sizeof k, v, sizeof v);
}

const char *ag_channel_status_name(uint8_t status) {
  switch (status) {
  case AG_CHANNEL_OPEN: return "open";
  case AG_CHANNEL_CLOSING: return "closing";
  default: return "closed";
  }
}

uint64_t ag_channel_remaining(const ag_channel *ch) {
  return ch->status == AG_CHANNEL_CLOSED ? 0 : ch->deposit - ch->claimed;
}

/* ---- vouchers -------------------------------------------------------------------------- */

void ag_voucher_sign(ag_buf *out, const char *chain_id, const uint8_t channel[32],
                     uint64_t cumulative, uint64_t seq, const ag_keypair *signer) {
  size_t start = out->len;
  ag_buf_put_u8(out, AG_VOUCHER_VERSION);
  ag_buf_put_u8(out, (uint8_t)strlen(chain_id));
  ag_buf_puts(out, chain_id);
  ag_buf_put(out, channel, 32);
  ag_buf_put_u64le(out, cumulative);
  ag_buf_put_u64le(out, seq);
  uint8_t h[32], sig[64];
  ag_hash("agora/voucher", out->data + start, out->len - start, h);
  ag_sign(signer, h, 32, sig);
  ag_buf_put(out, sig, 64);
}

int ag_voucher_decode(const uint8_t *p, size_t n, ag_voucher *v) {
  if (n < 2) return ag_fail(AG_E_VOUCHER_MALFORMED, "voucher is %zu bytes, too short", n);
  if (p[0] != AG_VOUCHER_VERSION)
    return ag_fail(AG_E_VOUCHER_MALFORMED, "voucher version %u is not %d", p[0], AG_VOUCHER_VERSION);
  size_t cl = p[1];
  if (cl < 1 || cl > AG_CHAIN_ID_MAX)
    return ag_fail(AG_E_VOUCHER_MALFORMED, "voucher chain id length %zu is not 1..%d", cl, AG_CHAIN_ID_MAX);
  if (n != 2 + cl + 32 + 16 + 64)
    return ag_fail(AG_E_VOUCHER_MALFORMED, "voucher is %zu bytes, expected %zu", n, 2 + cl + 112);
  memcpy(v->chain_id, p + 2, cl);
  v->chain_id[cl] = 0;
  if (!ag_chain_id_valid(v->chain_id))
    return ag_fail(AG_E_VOUCHER_MALFORMED, "voucher chain id is not 1..32 of [a-z0-9-]");
  const uint8_t *q = p + 2 + cl;
  memcpy(v->channel, q, 32);
  v->cumulative = ag_get_u64le(q + 32);
  v->seq = ag_get_u64le(q + 40);
  memcpy(v->sig, q + 48, 64);
  return 0;
}

static void voucher_hash(const ag_voucher *v, uint8_t out[32]) {
  ag_hasher h;
  uint8_t head[2] = {AG_VOUCHER_VERSION, (uint8_t)strlen(v->chain_id)}, nums[16];
  ag_put_u64le(nums, v->cumulative);
  ag_put_u64le(nums + 8, v->seq);
  ag_hasher_init(&h, "agora/voucher");
  ag_hasher_update(&h, head, 2);
  ag_hasher_update(&h, v->chain_id, head[1]);
  ag_hasher_update(&h, v->channel, 32);
  ag_hasher_update(&h, nums, 16);
  ag_hasher_final(&h, out);
}

/* Vouchers whose signature verified under a signer, by BLAKE2b-256 of (signer, the voucher's
 * hash, its signature): a hit re-verifies identically. Claims verify here ahead of execution,
 * in parallel (claim_prepare), and execution finds them. Process-wide, like the tx signature
 * cache. */
#define VSIG_SLOTS 65536
static uint8_t vsig_cache[VSIG_SLOTS][32];
static pthread_mutex_t vsig_mu = PTHREAD_MUTEX_INITIALIZER;

static int voucher_sig_ok(const ag_voucher *v, const uint8_t signer[32]) {
  uint8_t h[32], key[32];
  voucher_hash(v, h);
  ag_hasher x;
  ag_hasher_init(&x, "agora/vsigok");
  ag_hasher_update(&x, signer, 32);
  ag_hasher_update(&x, h, 32);
  ag_hasher_update(&x, v->sig, 64);
  ag_hasher_final(&x, key);
  uint32_t slot = ag_get_u32le(key) & (VSIG_SLOTS - 1);
  pthread_mutex_lock(&vsig_mu);
  int hit = !memcmp(vsig_cache[slot], key, 32);
  pthread_mutex_unlock(&vsig_mu);
  if (hit) return 1;
  if (ag_verify(signer, h, 32, v->sig) != 0) return 0;
  pthread_mutex_lock(&vsig_mu);
  memcpy(vsig_cache[slot], key, 32);
  pthread_mutex_unlock(&vsig_mu);
  return 1;
}


int ag_voucher_check(const ag_voucher *v, const char *chain_id, const ag_channel *ch,
                     uint64_t height) {
  char a[32], b[32];
  if (strcmp(v->chain_id, chain_id) != 0)
    return ag_fail(AG_E_VOUCHER_CHAIN, "the voucher is for chain \"%s\", this is \"%s\"", v->chain_id, chain_id);
  if (memcmp(v->channel, ch->id, 32) != 0)
    return ag_fail(AG_E_VOUCHER_CHANNEL, "the voucher is for another channel");
  if (ch->status == AG_CHANNEL_CLOSED)
    return ag_fail(AG_E_CHANNEL_CLOSED, "the channel closed at height %llu", (unsigned long long)ch->closed);
  if (ch->status == AG_CHANNEL_CLOSING && height >= ch->close_at)
    return ag_fail(AG_E_CHANNEL_CLOSED, "the channel's settle delay ended at height %llu: it only closes now",
                   (unsigned long long)ch->close_at);
  if (ch->expiry && height > ch->expiry)
    return ag_fail(AG_E_CHANNEL_EXPIRED, "the channel expired after height %llu", (unsigned long long)ch->expiry);
  if (v->seq <= ch->seq)
    return ag_fail(AG_E_VOUCHER_SEQ, "voucher sequence %llu is not above the last redeemed, %llu",
                   (unsigned long long)v->seq, (unsigned long long)ch->seq);
  if (v->cumulative <= ch->claimed)
    return ag_fail(AG_E_VOUCHER_STALE, "the voucher pays %s AGR in all; the channel has paid %s already",
                   ag_econ_agr(v->cumulative, a), ag_econ_agr(ch->claimed, b));
  if (v->cumulative > ch->deposit)
    return ag_fail(AG_E_VOUCHER_OVER_DEPOSIT, "the voucher pays %s AGR in all; the deposit is %s",
                   ag_econ_agr(v->cumulative, a), ag_econ_agr(ch->deposit, b));
  if (!voucher_sig_ok(v, ch->signer))
    return ag_fail(AG_E_VOUCHER_SIGNATURE, "the voucher is not signed by the channel's signer");
  return 0;
}

/* ---- payload builders --------------------------------------------------------------------- */

void ag_payload_channel_open(ag_buf *out, const uint8_t provider[32], const uint8_t signer[32],
                             const uint8_t model[32], uint64_t deposit, uint64_t settle_delay,
                             uint64_t expiry) {
  ag_buf_put(out, provider, 32);
  ag_buf_put(out, signer ? signer : zero32, 32);
  ag_buf_put(out, model ? model : zero32, 32);
  ag_buf_put_u64le(out, deposit);
  ag_buf_put_u64le(out, settle_delay);
  ag_buf_put_u64le(out, expiry);
}

void ag_payload_channel_fund(ag_buf *out, const uint8_t channel[32], uint64_t amount) {
  ag_buf_put(out, channel, 32);
  ag_buf_put_u64le(out, amount);
}

void ag_payload_channel_claim(ag_buf *out, uint8_t flags, uint64_t amount, const uint8_t *voucher,
                              size_t len) {
  ag_buf_put_u8(out, flags);
  ag_buf_put_u64le(out, amount);
  ag_buf_put(out, voucher, len);
}

void ag_payload_channel_claims(ag_buf *out, size_t n, const uint8_t *flags, const uint64_t *amounts,
                               const uint8_t *const *vouchers, const size_t *lens) {
  ag_buf_put_u16le(out, (uint16_t)n);
  for (size_t i = 0; i < n; i++) ag_payload_channel_claim(out, flags ? flags[i] : 0, amounts ? amounts[i] : 0, vouchers[i], lens[i]);
}

void ag_payload_channel_close(ag_buf *out, const uint8_t channel[32]) { ag_buf_put(out, channel, 32); }

/* ---- tx kinds -------------------------------------------------------------------------------- */



/* Closes ch now: the client gets back what was not claimed. */
static int close_now(ag_app *app, ag_channel *ch) {
  uint64_t refund = ch->deposit - ch->claimed;
  ch->status = AG_CHANNEL_CLOSED;
  ch->closed = ag_app_block_ctx(app)->height;
  ch->close_at = 0;
  channel_store(ag_app_state(app), ch);
  return refund ? ag_account_credit(ag_app_state(app), ch->client, refund) : 0;
}

static int load_for(ag_app *app, const uint8_t id[32], ag_channel *ch) {
  return ag_channel_load(ag_app_state(app), NULL, id, ch);
}

/* open */

static int open_validate(const ag_tx *tx) {
  int rc = ag_econ_require_len(tx, 120);
  if (rc) return rc;
  if (ag_get_u64le(tx->payload + 96) == 0) return ag_fail(AG_E_TX_AMOUNT, "the deposit must be positive");
  if (!memcmp(tx->payload, tx->sender, 32))
    return ag_fail(AG_E_CHANNEL_TERMS, "a channel's provider cannot be its client");
  if (!memcmp(tx->payload, zero32, 32)) return ag_fail(AG_E_CHANNEL_TERMS, "the channel names no provider");
  return 0;
}

static int open_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 96);
  return 0;
}

static int open_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  ag_economy_params p;
  int rc = ag_economy_params_load(st, NULL, &p);
  if (rc) return rc;
  uint64_t height = ag_app_block_ctx(app)->height;
  ag_channel ch;
  memset(&ch, 0, sizeof ch);
  memcpy(ch.provider, tx->payload, 32);
  memcpy(ch.signer, memcmp(tx->payload + 32, zero32, 32) ? tx->payload + 32 : tx->sender, 32);
  memcpy(ch.model, tx->payload + 64, 32);
  memcpy(ch.client, tx->sender, 32);
  ch.deposit = ag_get_u64le(tx->payload + 96);
  ch.settle_delay = ag_get_u64le(tx->payload + 104);
  ch.expiry = ag_get_u64le(tx->payload + 112);
  ch.opened = height;
  char a[32], b[32];
  if (ch.deposit < p.min_deposit)
    return ag_fail(AG_E_CHANNEL_DEPOSIT, "a channel's deposit must be at least %s AGR, not %s",
                   ag_econ_agr(p.min_deposit, a), ag_econ_agr(ch.deposit, b));
  if (ch.settle_delay < p.min_settle_delay || ch.settle_delay > p.max_settle_delay)
    return ag_fail(AG_E_CHANNEL_TERMS, "settle delay %llu is outside %llu..%llu blocks",
                   (unsigned long long)ch.settle_delay, (unsigned long long)p.min_settle_delay,
                   (unsigned long long)p.max_settle_delay);
  if (ch.expiry && (ch.expiry < height || ch.expiry - height < ch.settle_delay))
    return ag_fail(AG_E_CHANNEL_TERMS,
                   "expiry %llu must be at least the settle delay (%llu blocks) after this block, %llu",
                   (unsigned long long)ch.expiry, (unsigned long long)ch.settle_delay,
                   (unsigned long long)height);
  ag_channel_id(tx->chain_id, tx->agent ? tx->agent : tx->sender, tx->nonce, ch.id); /* the signer's */
  if ((rc = ag_account_debit(st, tx->sender, ch.deposit))) return rc;
  channel_store(st, &ch);
  return 0;
}

static json_t *open_json(const ag_tx *tx) {
  json_t *o = json_object();
  uint8_t id[32];
  ag_channel_id(tx->chain_id, tx->agent ? tx->agent : tx->sender, tx->nonce, id);
  json_object_set_new(o, "channel", ag_json_hex(id, 32));
  json_object_set_new(o, "provider", ag_json_addr(tx->payload));
  json_object_set_new(o, "signer", ag_json_addr(memcmp(tx->payload + 32, zero32, 32) ? tx->payload + 32 : tx->sender));
  json_object_set_new(o, "model", memcmp(tx->payload + 64, zero32, 32) ? ag_json_hex(tx->payload + 64, 32) : json_null());
  json_object_set_new(o, "deposit", ag_json_u64s(ag_get_u64le(tx->payload + 96)));
  json_object_set_new(o, "settle_delay", ag_json_u64n(ag_get_u64le(tx->payload + 104)));
  json_object_set_new(o, "expiry", ag_json_u64n(ag_get_u64le(tx->payload + 112)));
  return o;
}

/* fund (top-up) */

static int fund_validate(const ag_tx *tx) {
  int rc = ag_econ_require_len(tx, 40);
  if (!rc && ag_get_u64le(tx->payload + 32) == 0) rc = ag_fail(AG_E_TX_AMOUNT, "the top-up must be positive");
  return rc;
}

static int fund_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = ag_get_u64le(tx->payload + 32);
  return 0;
}

static int fund_apply(ag_app *app, const ag_tx *tx) {
  ag_channel ch;
  int rc = load_for(app, tx->payload, &ch);
  if (rc) return rc;
  uint64_t height = ag_app_block_ctx(app)->height, amount = ag_get_u64le(tx->payload + 32);
  if (memcmp(ch.client, tx->sender, 32) != 0)
    return ag_fail(AG_E_CHANNEL_ROLE, "only the channel's client may top it up");
  if (ch.status == AG_CHANNEL_CLOSED)
    return ag_fail(AG_E_CHANNEL_CLOSED, "the channel closed at height %llu", (unsigned long long)ch.closed);
  if (ch.status == AG_CHANNEL_CLOSING && height >= ch.close_at)
    return ag_fail(AG_E_CHANNEL_CLOSED, "the channel's settle delay ended at height %llu: it only closes now",
                   (unsigned long long)ch.close_at);
  if (ch.expiry && height > ch.expiry)
    return ag_fail(AG_E_CHANNEL_EXPIRED, "the channel expired after height %llu", (unsigned long long)ch.expiry);
  if (ag_add_u64(ch.deposit, amount, &ch.deposit)) return ag_fail(AG_E_OVERFLOW, "the deposit would overflow");
  if ((rc = ag_account_debit(ag_app_state(app), tx->sender, amount))) return rc;
  /* a top-up withdraws a pending close request: the client wants to keep paying */
  ch.status = AG_CHANNEL_OPEN;
  ch.close_at = 0;
  channel_store(ag_app_state(app), &ch);
  return 0;
}

static json_t *fund_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "channel", ag_json_hex(tx->payload, 32));
  json_object_set_new(o, "amount", ag_json_u64s(ag_get_u64le(tx->payload + 32)));
  return o;
}

/* claim */

/* What a claim's bytes must be, whatever the state: flags, a voucher that decodes, an amount
 * within it. */
static int claim_syntax(uint8_t flags, uint64_t amount, const uint8_t *voucher, size_t vlen) {
  if (flags & ~AG_CLAIM_CLOSE)
    return ag_fail(AG_E_TX_PAYLOAD, "channel_claim flags 0x%02x: only bit 0 (close) is defined", flags);
  ag_voucher v;
  int rc = ag_voucher_decode(voucher, vlen, &v);
  if (!rc && amount > v.cumulative)
    rc = ag_fail(AG_E_CLAIM_ABOVE_VOUCHER, "the claim asks for more than the voucher's cumulative amount");
  return rc;
}

static int claim_validate(const ag_tx *tx) {
  if (tx->payload_len < 9) return ag_fail(AG_E_TX_PAYLOAD, "channel_claim payload is %u bytes, too short", tx->payload_len);
  return claim_syntax(tx->payload[0], ag_get_u64le(tx->payload + 1), tx->payload + 9, tx->payload_len - 9);
}

/* Ahead of execution, in parallel: the voucher's signature under the signer the committed
 * state names (a channel's signer never changes; one opened in this block is checked when the
 * claim executes), for a channel of the sender's only (a claim of another's fails before its
 * signature is looked at). Only warms the cache: execution decides. */
static void prepare_voucher(ag_app *app, const ag_tx *tx, const uint8_t *voucher, size_t vlen) {
  ag_voucher v;
  uint8_t k[34];
  ag_buf b;
  ag_channel ch;
  if (ag_voucher_decode(voucher, vlen, &v)) return;
  ag_econ_key(k, AG_EKEY_CHANNEL, v.channel, NULL);
  ag_buf_init(&b);
  if (ag_state_get_committed(ag_app_state(app), k, sizeof k, &b) == 0 && channel_decode(b.data, b.len, &ch) == 0 &&
      !memcmp(ch.provider, tx->sender, 32))
    (void)voucher_sig_ok(&v, ch.signer);
  ag_buf_free(&b);
}

static void claim_prepare(ag_app *app, const ag_tx *tx) { prepare_voucher(app, tx, tx->payload + 9, tx->payload_len - 9); }

/* One claim, as channel_claim and each entry of channel_claims make it. */
static int claim_one(ag_app *app, const ag_tx *tx, uint8_t flags, uint64_t amount, const uint8_t *voucher,
                     size_t vlen) {
  ag_voucher v;
  ag_channel ch;
  int rc = ag_voucher_decode(voucher, vlen, &v);
  if (!rc) rc = load_for(app, v.channel, &ch);
  if (rc) return rc;
  if (memcmp(ch.provider, tx->sender, 32) != 0)
    return ag_fail(AG_E_CHANNEL_ROLE, "only the channel's provider may redeem its vouchers");
  uint64_t height = ag_app_block_ctx(app)->height;
  if ((rc = ag_voucher_check(&v, tx->chain_id, &ch, height))) return rc;
  /* the voucher is a ceiling: the provider takes what it billed, at most the voucher */
  if (amount == 0) amount = v.cumulative;
  if (amount <= ch.claimed) {
    char a[32], b[32];
    return ag_fail(AG_E_VOUCHER_STALE, "the claim brings the total to %s AGR; the channel has paid %s already",
                   ag_econ_agr(amount, a), ag_econ_agr(ch.claimed, b));
  }
  uint64_t delta = amount - ch.claimed, royalty = 0;
  ch.claimed = amount;
  ch.seq = v.seq;
  channel_store(ag_app_state(app), &ch);
  /* the model's royalty goes to its vault (and its ancestors'); the provider gets the rest */
  if ((rc = ag_asset_royalty(ag_app_state(app), ch.model, delta, &royalty))) return rc;
  if (delta > royalty && (rc = ag_account_credit(ag_app_state(app), ch.provider, delta - royalty))) return rc;
  return (flags & AG_CLAIM_CLOSE) ? close_now(app, &ch) : 0;
}

static int claim_apply(ag_app *app, const ag_tx *tx) {
  return claim_one(app, tx, tx->payload[0], ag_get_u64le(tx->payload + 1), tx->payload + 9, tx->payload_len - 9);
}

static json_t *claim_json(const ag_tx *tx) {
  json_t *o = json_object();
  ag_voucher v;
  if (ag_voucher_decode(tx->payload + 9, tx->payload_len - 9, &v) == 0) {
    json_object_set_new(o, "channel", ag_json_hex(v.channel, 32));
    json_object_set_new(o, "cumulative", ag_json_u64s(v.cumulative));
    json_object_set_new(o, "seq", ag_json_u64n(v.seq));
    json_object_set_new(o, "voucher_chain_id", json_string(v.chain_id));
  }
  uint64_t amount = ag_get_u64le(tx->payload + 1);
  json_object_set_new(o, "amount", amount ? ag_json_u64s(amount) : json_null());
  json_object_set_new(o, "close", json_boolean(tx->payload[0] & AG_CLAIM_CLOSE));
  return o;
}

/* claims: several claims in one tx, n u16 | n × (flags u8 | amount u64 | voucher), each voucher
 * as long as its own chain id makes it. The entries run in order, each exactly as a
 * channel_claim; the first that fails fails the tx (the error names it) and none is made. */

typedef struct {
  uint8_t flags;
  uint64_t amount;
  const uint8_t *voucher;
  size_t vlen;
} claim_entry;

/* The entry at *off, and *off moved past it: the frame only. */
static int claims_next(const ag_tx *tx, size_t *off, claim_entry *e) {
  const uint8_t *p = tx->payload + *off;
  size_t left = tx->payload_len - *off;
  if (left < 11) return ag_fail(AG_E_TX_PAYLOAD, "channel_claims entry is %zu bytes, too short", left);
  e->vlen = 2 + (size_t)p[10] + 112;
  if (left < 9 + e->vlen)
    return ag_fail(AG_E_TX_PAYLOAD, "channel_claims entry needs %zu bytes, %zu are left", 9 + e->vlen, left);
  e->flags = p[0];
  e->amount = ag_get_u64le(p + 1);
  e->voucher = p + 9;
  *off += 9 + e->vlen;
  return 0;
}

/* rc again, its message prefixed with the entry it came from. */
static int claims_at(int rc, size_t i, size_t n) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", ag_errmsg(rc));
  return ag_fail(rc, "claim %zu of %zu: %s", i + 1, n, msg);
}

static size_t claims_count(const ag_tx *tx) { return ag_get_u16le(tx->payload); }

static int claims_validate(const ag_tx *tx) {
  if (tx->payload_len < 2) return ag_fail(AG_E_TX_PAYLOAD, "channel_claims payload is %u bytes, too short", tx->payload_len);
  size_t n = claims_count(tx), off = 2;
  if (n < 1 || n > AG_CLAIMS_MAX)
    return ag_fail(AG_E_TX_PAYLOAD, "channel_claims holds %zu claims: 1..%d are allowed", n, AG_CLAIMS_MAX);
  for (size_t i = 0; i < n; i++) {
    claim_entry e;
    int rc = claims_next(tx, &off, &e);
    if (!rc) rc = claim_syntax(e.flags, e.amount, e.voucher, e.vlen);
    if (rc) return claims_at(rc, i, n);
  }
  if (off != tx->payload_len)
    return ag_fail(AG_E_TX_PAYLOAD, "channel_claims has %zu bytes after its %zu claims", tx->payload_len - off, n);
  return 0;
}

static void claims_prepare(ag_app *app, const ag_tx *tx) {
  size_t n = claims_count(tx), off = 2;
  claim_entry e;
  for (size_t i = 0; i < n && claims_next(tx, &off, &e) == 0; i++) prepare_voucher(app, tx, e.voucher, e.vlen);
}

static int claims_apply(ag_app *app, const ag_tx *tx) {
  size_t n = claims_count(tx), off = 2;
  for (size_t i = 0; i < n; i++) {
    claim_entry e;
    int rc = claims_next(tx, &off, &e);
    if (!rc) rc = claim_one(app, tx, e.flags, e.amount, e.voucher, e.vlen);
    if (rc) return claims_at(rc, i, n);
  }
  return 0;
}

/* one base fee a voucher: its signature is checked as a tx's would be */
static uint64_t claims_fee_units(const uint8_t *payload, size_t len) { return len >= 2 ? ag_get_u16le(payload) : 1; }

static json_t *claims_json(const ag_tx *tx) {
  json_t *o = json_object(), *a = json_array();
  size_t n = claims_count(tx), off = 2;
  claim_entry e;
  for (size_t i = 0; i < n && claims_next(tx, &off, &e) == 0; i++) {
    json_t *c = json_object();
    ag_voucher v;
    if (ag_voucher_decode(e.voucher, e.vlen, &v) == 0) {
      json_object_set_new(c, "channel", ag_json_hex(v.channel, 32));
      json_object_set_new(c, "cumulative", ag_json_u64s(v.cumulative));
      json_object_set_new(c, "seq", ag_json_u64n(v.seq));
      json_object_set_new(c, "voucher_chain_id", json_string(v.chain_id));
    }
    json_object_set_new(c, "amount", e.amount ? ag_json_u64s(e.amount) : json_null());
    json_object_set_new(c, "close", json_boolean(e.flags & AG_CLAIM_CLOSE));
    json_array_append_new(a, c);
  }
  json_object_set_new(o, "claims", a);
  return o;
}

/* close */

static int close_validate(const ag_tx *tx) { return ag_econ_require_len(tx, 32); }

static int close_apply(ag_app *app, const ag_tx *tx) {
  ag_channel ch;
  int rc = load_for(app, tx->payload, &ch);
  if (rc) return rc;
  uint64_t height = ag_app_block_ctx(app)->height;
  int is_provider = !memcmp(ch.provider, tx->sender, 32), is_client = !memcmp(ch.client, tx->sender, 32);
  if (!is_provider && !is_client)
    return ag_fail(AG_E_CHANNEL_ROLE, "only the channel's client or provider may close it");
  if (ch.status == AG_CHANNEL_CLOSED)
    return ag_fail(AG_E_CHANNEL_CLOSED, "the channel closed at height %llu", (unsigned long long)ch.closed);
  /* the provider gives up what it has not redeemed; a dry or expired channel owes nobody a wait */
  if (is_provider || ch.claimed == ch.deposit || (ch.expiry && height > ch.expiry)) return close_now(app, &ch);
  if (ch.status == AG_CHANNEL_CLOSING) {
    if (height >= ch.close_at) return close_now(app, &ch);
    return ag_fail(AG_E_CHANNEL_SETTLING, "the settle delay runs until height %llu; close again then",
                   (unsigned long long)ch.close_at);
  }
  ch.status = AG_CHANNEL_CLOSING;
  ch.close_at = height + ch.settle_delay;
  channel_store(ag_app_state(app), &ch);
  return 0;
}

static json_t *close_json(const ag_tx *tx) {
  json_t *o = json_object();
  json_object_set_new(o, "channel", ag_json_hex(tx->payload, 32));
  return o;
}

static const ag_tx_kind kinds[] = {
    {AG_TX_CHANNEL_OPEN, "channel_open", open_validate, open_spend, open_apply, open_json},
    {AG_TX_CHANNEL_FUND, "channel_fund", fund_validate, fund_spend, fund_apply, fund_json},
    {AG_TX_CHANNEL_CLAIM, "channel_claim", claim_validate, ag_econ_no_spend, claim_apply, claim_json, claim_prepare},
    {AG_TX_CHANNEL_CLOSE, "channel_close", close_validate, ag_econ_no_spend, close_apply, close_json},
    {AG_TX_CHANNEL_CLAIMS, "channel_claims", claims_validate, ag_econ_no_spend, claims_apply, claims_json, claims_prepare,
     NULL, claims_fee_units},
};

void ag_economy_register_kinds(void) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) ag_tx_kind_register(&kinds[i]);
  ag_economy_offer_kinds();
  ag_economy_asset_kinds();
  ag_economy_dispute_kinds();
  ag_economy_agent_kinds();
}

/* ---- genesis and attach ------------------------------------------------------------------------ */

static int j_u64(json_t *o, const char *k, uint64_t *out) { return ag_genesis_u64(o, "economy", k, out); }

static int economy_genesis(ag_app *app, const ag_genesis *g, void *ctx) {
  (void)ctx;
  ag_economy_params p;
  ag_economy_params_default(&p);
  json_t *mods = json_loads(g->modules ? g->modules : "{}", 0, NULL);
  json_t *e = json_object_get(mods, "economy");
  int rc = 0;
  if (e && ((rc = j_u64(e, "min_deposit", &p.min_deposit)) ||
            (rc = j_u64(e, "min_settle_delay", &p.min_settle_delay)) ||
            (rc = j_u64(e, "max_settle_delay", &p.max_settle_delay)) ||
            (rc = j_u64(e, "min_bond", &p.min_bond)) ||
            (rc = j_u64(e, "dispute_window", &p.dispute_window)) ||
            (rc = j_u64(e, "unbond_delay", &p.unbond_delay)) ||
            (rc = j_u64(e, "dispute_bond", &p.dispute_bond)) ||
            (rc = j_u64(e, "slash_amount", &p.slash_amount)) ||
            (rc = j_u64(e, "commit_blocks", &p.commit_blocks)) ||
            (rc = j_u64(e, "reveal_blocks", &p.reveal_blocks))))
    goto done;
  uint64_t mr = p.max_royalty_bps, ma = p.max_ancestor_bps, cs = p.committee_size,
           cb = p.challenger_bps, mb = p.committee_bps;
  if ((rc = j_u64(e, "max_royalty_bps", &mr)) || (rc = j_u64(e, "max_ancestor_bps", &ma)) ||
      (rc = j_u64(e, "committee_size", &cs)) || (rc = j_u64(e, "challenger_bps", &cb)) ||
      (rc = j_u64(e, "committee_bps", &mb)))
    goto done;
  if (mr > 10000 || ma > 10000 || cb > 10000 || mb > 10000 || cb + mb > 10000) {
    rc = ag_fail(AG_E_GENESIS, "genesis economy: max_royalty_bps and max_ancestor_bps are at most 10000, "
                               "challenger_bps + committee_bps too");
    goto done;
  }
  if (cs < 1 || cs > AG_DISPUTE_MAX_COMMITTEE || p.dispute_bond < 1 || p.slash_amount < 1 ||
      p.commit_blocks < 1 || p.reveal_blocks < 1 || p.commit_blocks > 100000 || p.reveal_blocks > 100000) {
    rc = ag_fail(AG_E_GENESIS, "genesis economy: need 1 <= committee_size <= %d, dispute_bond and slash_amount "
                               ">= 1, and 1..100000 commit and reveal blocks", AG_DISPUTE_MAX_COMMITTEE);
    goto done;
  }
  p.max_royalty_bps = (uint16_t)mr;
  p.max_ancestor_bps = (uint16_t)ma;
  p.committee_size = (uint16_t)cs;
  p.challenger_bps = (uint16_t)cb;
  p.committee_bps = (uint16_t)mb;
  if (p.min_deposit < 1 || p.min_settle_delay < 1 || p.min_settle_delay > p.max_settle_delay) {
    rc = ag_fail(AG_E_GENESIS, "genesis economy: need min_deposit >= 1 and 1 <= min_settle_delay <= max_settle_delay");
    goto done;
  }
  if (p.min_bond < 1 || p.dispute_window < 1 || p.dispute_window > 10000000 ||
      p.unbond_delay <= p.dispute_window + 1 + p.commit_blocks + p.reveal_blocks) {
    /* a bond must outlast every dispute that could slash it */
    rc = ag_fail(AG_E_GENESIS, "genesis economy: need min_bond >= 1, 1 <= dispute_window <= 10000000 and "
                               "unbond_delay > dispute_window + 1 + commit_blocks + reveal_blocks");
    goto done;
  }
  params_store(ag_app_state(app), &p);
done:
  json_decref(mods);
  return rc;
}

void ag_economy_attach(ag_app *app) {
  ag_economy_register_kinds();
  ag_app_add_genesis_hook(app, economy_genesis, NULL);
  ag_app_add_hooks(app, NULL, ag_economy_end_block, NULL);
}

/* ---- audit ---------------------------------------------------------------------------------- */

typedef struct {
  uint64_t total;
  int bad;
} holdings_ctx;

static int holdings_one(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  holdings_ctx *h = arg;
  ag_channel ch;
  if (klen == 34 && key[0] == 'e' && key[1] == AG_EKEY_CHANNEL) {
    if (channel_decode(val, vlen, &ch) || ch.claimed > ch.deposit) h->bad = 1;
    else if (ag_add_u64(h->total, ag_channel_remaining(&ch), &h->total)) h->bad = 1;
  } else if (klen == 34 && key[0] == 'e' && key[1] == AG_EKEY_ASSET) {
    /* an asset record: version u8 | kind u8 | owner[32] | royalty u16 | supply u64 | balance u64 */
    if (vlen < 52 || ag_add_u64(h->total, ag_get_u64le(val + 44), &h->total)) h->bad = 1;
  } else if (klen == 34 && key[0] == 'e' && key[1] == AG_EKEY_DISPUTE) {
    /* a dispute record: version u8 | status u8 | ... | bond u64, held while open */
    if (vlen < AG_DISPUTE_BOND_AT + 8) h->bad = 1;
    else if (val[1] == AG_DISPUTE_OPEN && ag_add_u64(h->total, ag_get_u64le(val + AG_DISPUTE_BOND_AT), &h->total))
      h->bad = 1;
  } else if (klen == 34 && key[0] == 'e' && key[1] == AG_EKEY_BOND) {
    /* a bond record: version u8 | coldkey[32] | bonded u64 | unbonding u64 | ... */
    if (vlen < 49) h->bad = 1;
    else if (ag_add_u64(h->total, ag_get_u64le(val + 33), &h->total) ||
             ag_add_u64(h->total, ag_get_u64le(val + 41), &h->total))
      h->bad = 1;
  }
  return 0;
}

int ag_economy_holdings(ag_state *st, uint64_t *out) {
  holdings_ctx h = {0, 0};
  int rc = ag_state_iterate(st, holdings_one, &h);
  if (!rc && h.bad) rc = ag_fail(AG_E_CORRUPT, "a channel or bond record is malformed, or a channel paid more than its deposit");
  *out = h.total;
  return rc;
}

int ag_economy_audit(ag_state *st, uint64_t *accounted, uint64_t *issued) {
  uint64_t held;
  int rc = ag_incentive_audit(st, accounted, issued);
  if (!rc) rc = ag_economy_holdings(st, &held);
  if (!rc && ag_add_u64(*accounted, held, accounted)) rc = ag_fail(AG_E_OVERFLOW, "audit sum overflows");
  return rc;
}
