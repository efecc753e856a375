/* test_economy.c — payment channels through the real state machine: the whole life of a
 * channel, every bad voucher and bad action with its own code and no change but the fee, and a
 * property test over random sequences of opens, top-ups, vouchers, claims and closes in which
 * every account's balance is exactly what the vouchers and refunds say and every token stays
 * accounted for after every block. */
#define TC_KEYS 8 /* 0..3 clients, 4..6 providers, 7 stranger */
#include "testchain.h"

#include "api/economy_api.h"
#include "core/codec.h"
#include "core/hash.h"
#include "subnets/buyer.h"
#include "subnets/payment.h"
#include "subnets/validator.h"

#define CHAIN TC_CHAIN
#define NK TC_KEYS
#define START TC_START
#define FEE TC_FEE

static void setup_with(const char *modules) { tc_setup(modules, 900); }
static void setup(void) {
  setup_with("{\"incentive\":{\"block_reward\":\"0\"},\"economy\":{\"min_settle_delay\":3}}");
}
static void teardown(void) { tc_teardown(); }
static uint64_t height(void) { return tc_height(); }
static uint64_t balance(int k) { return tc_account(K[k].pk).balance; }
static uint64_t nonce_of(int k) { return tc_account(K[k].pk).nonce; }
#define block_of tc_block
#define empty_blocks tc_empty_blocks

static void build(ag_buf *tx, int k, uint64_t nonce, uint16_t kind, const ag_buf *payload) {
  ag_buf_init(tx);
  ag_tx_build(tx, kind, CHAIN, &K[k], nonce, FEE, 0, payload->data, (uint32_t)payload->len);
}

/* Signs and executes one tx from key k in its own block; returns its result code. */
static int run(int k, uint16_t kind, ag_buf *payload) { return tc_run_key(&K[k], kind, payload); }

static int open_channel(int client, int provider, uint64_t deposit, uint64_t delay, uint64_t expiry,
                        uint8_t id[32]) {
  ag_channel_id(CHAIN, K[client].pk, nonce_of(client), id);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_channel_open(&p, K[provider].pk, NULL, NULL, deposit, delay, expiry);
  return run(client, AG_TX_CHANNEL_OPEN, &p);
}

static void voucher(ag_buf *v, const char *chain, const uint8_t id[32], uint64_t cum, uint64_t seq, int signer) {
  ag_buf_init(v);
  ag_voucher_sign(v, chain, id, cum, seq, &K[signer]);
}

static int claim(int provider, const uint8_t id[32], uint64_t cum, uint64_t seq, int signer, uint8_t flags) {
  ag_buf v, p;
  voucher(&v, CHAIN, id, cum, seq, signer);
  ag_buf_init(&p);
  ag_payload_channel_claim(&p, flags, 0, v.data, v.len);
  ag_buf_free(&v);
  return run(provider, AG_TX_CHANNEL_CLAIM, &p);
}

static int claim_part(int provider, const uint8_t id[32], uint64_t amount, uint64_t cum, uint64_t seq) {
  ag_buf v, p;
  voucher(&v, CHAIN, id, cum, seq, 0);
  ag_buf_init(&p);
  ag_payload_channel_claim(&p, 0, amount, v.data, v.len);
  ag_buf_free(&v);
  return run(provider, AG_TX_CHANNEL_CLAIM, &p);
}

static int fund(int k, const uint8_t id[32], uint64_t amount) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_channel_fund(&p, id, amount);
  return run(k, AG_TX_CHANNEL_FUND, &p);
}

static int close_ch(int k, const uint8_t id[32]) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_channel_close(&p, id);
  return run(k, AG_TX_CHANNEL_CLOSE, &p);
}

static ag_channel chan(const uint8_t id[32]) {
  ag_channel ch;
  memset(&ch, 0, sizeof ch);
  CHECK_OK(ag_channel_load(ag_app_state(app), NULL, id, &ch));
  return ch;
}

TEST(a_channel_pays_per_voucher_and_refunds_the_rest) {
  setup();
  uint8_t id[32];
  uint64_t c0 = balance(0), p0 = balance(4);
  CHECK_OK(open_channel(0, 4, 10 * AG_UNIT, 5, 0, id));
  CHECK_U64(balance(0), c0 - 10 * AG_UNIT - FEE);
  ag_channel ch = chan(id);
  CHECK(ch.status == AG_CHANNEL_OPEN && ch.deposit == 10 * AG_UNIT && ch.claimed == 0);
  CHECK_MEM(ch.signer, K[0].pk, 32);
  CHECK_MEM(ch.provider, K[4].pk, 32);
  /* vouchers are cumulative: the provider is paid each one's delta */
  CHECK_OK(claim(4, id, 2 * AG_UNIT, 1, 0, 0));
  CHECK_U64(balance(4), p0 + 2 * AG_UNIT - FEE);
  CHECK_OK(claim(4, id, 3 * AG_UNIT, 5, 0, 0)); /* sequences may skip */
  CHECK_U64(balance(4), p0 + 3 * AG_UNIT - 2 * FEE);
  ch = chan(id);
  CHECK(ch.claimed == 3 * AG_UNIT && ch.seq == 5);
  /* a top-up raises the deposit */
  CHECK_OK(fund(0, id, 1 * AG_UNIT));
  CHECK_U64(chan(id).deposit, 11 * AG_UNIT);
  /* the client's close waits for the settle delay; the provider may still claim meanwhile */
  CHECK_OK(close_ch(0, id));
  ch = chan(id);
  CHECK(ch.status == AG_CHANNEL_CLOSING && ch.close_at == height() + 5);
  CHECK_EQ(close_ch(0, id), AG_E_CHANNEL_SETTLING);
  CHECK_OK(claim(4, id, 4 * AG_UNIT, 6, 0, 0));
  while (height() + 2 < chan(id).close_at) empty_blocks(1);
  CHECK_EQ(close_ch(0, id), AG_E_CHANNEL_SETTLING); /* in the block before close_at */
  /* from close_at on, no claim; the client's close refunds deposit − claimed */
  CHECK_EQ(claim(4, id, 5 * AG_UNIT, 7, 0, 0), AG_E_CHANNEL_CLOSED);
  uint64_t before = balance(0);
  CHECK_OK(close_ch(0, id));
  CHECK_U64(balance(0), before + 7 * AG_UNIT - FEE);
  ch = chan(id);
  CHECK(ch.status == AG_CHANNEL_CLOSED && ch.closed == height());
  CHECK_U64(balance(4), p0 + 4 * AG_UNIT - 4 * FEE); /* four claims, one refused */
  /* a closed channel takes nothing */
  CHECK_EQ(claim(4, id, 6 * AG_UNIT, 8, 0, 0), AG_E_CHANNEL_CLOSED);
  CHECK_EQ(fund(0, id, AG_UNIT), AG_E_CHANNEL_CLOSED);
  CHECK_EQ(close_ch(0, id), AG_E_CHANNEL_CLOSED);
  teardown();
}

TEST(a_voucher_is_a_ceiling_the_provider_takes_what_it_billed) {
  setup();
  uint8_t id[32];
  CHECK_OK(open_channel(0, 4, 10 * AG_UNIT, 5, 0, id));
  uint64_t p0 = balance(4);
  /* the client authorised 5 AGR; the provider billed 3 AGR + 7 units and takes only that */
  CHECK_OK(claim_part(4, id, 1, 5 * AG_UNIT, 1)); /* one base unit first */
  CHECK_OK(claim_part(4, id, 3 * AG_UNIT + 7, 5 * AG_UNIT, 2));
  CHECK_U64(chan(id).claimed, 3 * AG_UNIT + 7);
  CHECK_U64(balance(4), p0 + 3 * AG_UNIT + 7 - 2 * FEE);
  /* not less than already paid, not twice with one sequence */
  CHECK_EQ(claim_part(4, id, 3 * AG_UNIT, 5 * AG_UNIT, 3), AG_E_VOUCHER_STALE);
  CHECK_EQ(claim_part(4, id, 4 * AG_UNIT, 5 * AG_UNIT, 2), AG_E_VOUCHER_SEQ);
  /* the rest of the same authorisation, under a later voucher */
  CHECK_OK(claim_part(4, id, 0, 5 * AG_UNIT, 4));
  CHECK_U64(chan(id).claimed, 5 * AG_UNIT);
  CHECK_U64(balance(4), p0 + 5 * AG_UNIT - 5 * FEE);
  teardown();
}

TEST(the_provider_closes_at_once_and_a_top_up_withdraws_a_close) {
  setup();
  uint8_t a[32], b[32];
  CHECK_OK(open_channel(1, 5, 4 * AG_UNIT, 50, 0, a));
  CHECK_OK(close_ch(1, a));
  CHECK(chan(a).status == AG_CHANNEL_CLOSING);
  CHECK_OK(fund(1, a, AG_UNIT)); /* the client changed its mind */
  CHECK(chan(a).status == AG_CHANNEL_OPEN && chan(a).close_at == 0);
  uint64_t c = balance(1);
  CHECK_OK(claim(5, a, AG_UNIT, 1, 1, AG_CLAIM_CLOSE)); /* claim and close in one tx */
  CHECK(chan(a).status == AG_CHANNEL_CLOSED);
  CHECK_U64(balance(1), c + 4 * AG_UNIT);
  /* the provider's plain close gives up what it has not redeemed */
  CHECK_OK(open_channel(1, 5, 2 * AG_UNIT, 50, 0, b));
  c = balance(1);
  CHECK_OK(close_ch(5, b));
  CHECK_U64(balance(1), c + 2 * AG_UNIT);
  /* a drained channel closes at once for the client too */
  CHECK_OK(open_channel(1, 5, 2 * AG_UNIT, 50, 0, b));
  CHECK_OK(claim(5, b, 2 * AG_UNIT, 1, 1, 0));
  CHECK_OK(close_ch(1, b));
  CHECK(chan(b).status == AG_CHANNEL_CLOSED);
  teardown();
}

TEST(expiry_stops_claims_and_lets_either_party_close) {
  setup();
  uint8_t id[32];
  uint64_t h = height() + 1;
  CHECK_EQ(open_channel(2, 6, AG_UNIT, 5, h + 4, id), AG_E_CHANNEL_TERMS); /* shorter than the delay */
  h = height() + 1;
  CHECK_OK(open_channel(2, 6, AG_UNIT, 5, h + 6, id));
  CHECK_OK(claim(6, id, AG_UNIT / 4, 1, 2, 0));
  while (height() < h + 6) empty_blocks(1);
  CHECK_EQ(claim(6, id, AG_UNIT / 2, 2, 2, 0), AG_E_CHANNEL_EXPIRED);
  CHECK_EQ(fund(2, id, AG_UNIT), AG_E_CHANNEL_EXPIRED);
  uint64_t c = balance(2);
  CHECK_OK(close_ch(2, id)); /* no settle delay past the expiry */
  CHECK_U64(balance(2), c + AG_UNIT - AG_UNIT / 4 - FEE);
  teardown();
}

/* What one refused tx leaves: the sender paid the fee and nothing else moved. */
typedef struct {
  ag_channel ch;
  uint64_t bal[NK];
} snap;

static snap take(const uint8_t id[32]) {
  snap s;
  s.ch = chan(id);
  for (int i = 0; i < NK; i++) s.bal[i] = balance(i);
  return s;
}

static void unchanged_but_fee(const snap *s, const uint8_t id[32], int sender) {
  snap t = take(id);
  CHECK(memcmp(&s->ch, &t.ch, sizeof t.ch) == 0);
  for (int i = 0; i < NK; i++) CHECK_U64(t.bal[i], s->bal[i] - (i == sender ? FEE : 0));
}

TEST(every_bad_voucher_and_action_has_its_own_code_and_changes_nothing) {
  setup();
  uint8_t id[32], other[32];
  CHECK_OK(open_channel(0, 4, 5 * AG_UNIT, 5, 0, id));
  CHECK_OK(open_channel(0, 4, 5 * AG_UNIT, 5, 0, other));
  CHECK_OK(claim(4, id, AG_UNIT, 3, 0, 0));
  struct {
    const char *what;
    int provider, signer;
    const char *chain;
    const uint8_t *channel;
    uint64_t cum, seq;
    int code;
  } bad[] = {
      {"signed by another key", 4, 7, CHAIN, id, 2 * AG_UNIT, 4, AG_E_VOUCHER_SIGNATURE},
      {"signed by the provider itself", 4, 4, CHAIN, id, 2 * AG_UNIT, 4, AG_E_VOUCHER_SIGNATURE},
      {"the same voucher again", 4, 0, CHAIN, id, AG_UNIT, 3, AG_E_VOUCHER_SEQ},
      {"an older sequence", 4, 0, CHAIN, id, 2 * AG_UNIT, 2, AG_E_VOUCHER_SEQ},
      {"a lower cumulative amount", 4, 0, CHAIN, id, AG_UNIT / 2, 4, AG_E_VOUCHER_STALE},
      {"the same cumulative amount", 4, 0, CHAIN, id, AG_UNIT, 4, AG_E_VOUCHER_STALE},
      {"more than the deposit", 4, 0, CHAIN, id, 5 * AG_UNIT + 1, 4, AG_E_VOUCHER_OVER_DEPOSIT},
      {"another chain", 4, 0, "agora-other", id, 2 * AG_UNIT, 4, AG_E_VOUCHER_CHAIN},
      {"claimed by someone else", 5, 0, CHAIN, id, 2 * AG_UNIT, 4, AG_E_CHANNEL_ROLE},
      {"claimed by the client", 0, 0, CHAIN, id, 2 * AG_UNIT, 4, AG_E_CHANNEL_ROLE},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snap s = take(id);
    ag_buf v, p;
    voucher(&v, bad[i].chain, bad[i].channel, bad[i].cum, bad[i].seq, bad[i].signer);
    ag_buf_init(&p);
    ag_payload_channel_claim(&p, 0, 0, v.data, v.len);
    ag_buf_free(&v);
    int code = run(bad[i].provider, AG_TX_CHANNEL_CLAIM, &p);
    if (code != bad[i].code) fprintf(stderr, "  %s: got %s\n", bad[i].what, ag_err_name(code));
    CHECK_EQ(code, bad[i].code);
    unchanged_but_fee(&s, id, bad[i].provider);
  }
  /* a voucher of one channel is not money on another: the off-chain check names it */
  ag_buf v;
  ag_voucher vv;
  voucher(&v, CHAIN, other, 2 * AG_UNIT, 9, 0);
  CHECK_OK(ag_voucher_decode(v.data, v.len, &vv));
  ag_channel ch = chan(id);
  CHECK_EQ(ag_voucher_check(&vv, CHAIN, &ch, height()), AG_E_VOUCHER_CHANNEL);
  ch = chan(other);
  CHECK_OK(ag_voucher_check(&vv, CHAIN, &ch, height()));
  ag_buf_free(&v);
  /* an unknown channel */
  uint8_t nowhere[32] = {1, 2, 3};
  snap s = take(id);
  CHECK_EQ(claim(4, nowhere, AG_UNIT, 1, 0, 0), AG_E_CHANNEL_NOT_FOUND);
  CHECK_EQ(fund(0, nowhere, AG_UNIT), AG_E_CHANNEL_NOT_FOUND);
  CHECK_EQ(close_ch(0, nowhere), AG_E_CHANNEL_NOT_FOUND);
  /* parties only */
  CHECK_EQ(fund(7, id, AG_UNIT), AG_E_CHANNEL_ROLE);
  CHECK_EQ(fund(4, id, AG_UNIT), AG_E_CHANNEL_ROLE);
  CHECK_EQ(close_ch(7, id), AG_E_CHANNEL_ROLE);
  s.bal[4] -= 2 * FEE;
  s.bal[0] -= 2 * FEE;
  s.bal[7] -= FEE;
  unchanged_but_fee(&s, id, 7);
  /* terms */
  uint8_t x[32];
  CHECK_EQ(open_channel(0, 4, AG_UNIT / 10000, 5, 0, x), AG_E_CHANNEL_DEPOSIT);
  CHECK_EQ(open_channel(0, 4, AG_UNIT, 2, 0, x), AG_E_CHANNEL_TERMS);
  CHECK_EQ(open_channel(0, 4, AG_UNIT, 1000001, 0, x), AG_E_CHANNEL_TERMS);
  CHECK_EQ(open_channel(0, 4, 2000 * AG_UNIT, 5, 0, x), AG_E_TX_BALANCE);
  CHECK_EQ(ag_channel_load(ag_app_state(app), NULL, x, &ch), AG_E_CHANNEL_NOT_FOUND);
  teardown();
}

/* A channel_claims of n vouchers (cum[i], seq[i]) on channels ids[i], signed by signer[i], sent by
 * provider alone in a block; its log into log (may be NULL). */
static int claims_run(int provider, size_t n, uint8_t (*ids)[32], const uint64_t *cum, const uint64_t *seq,
                      const int *signer, char *log) {
  ag_buf v[8], p, tx;
  const uint8_t *vp[8];
  size_t vl[8];
  for (size_t i = 0; i < n; i++) {
    voucher(&v[i], CHAIN, ids[i], cum[i], seq[i], signer[i]);
    vp[i] = v[i].data;
    vl[i] = v[i].len;
  }
  ag_buf_init(&p);
  ag_payload_channel_claims(&p, n, NULL, NULL, vp, vl);
  for (size_t i = 0; i < n; i++) ag_buf_free(&v[i]);
  build(&tx, provider, nonce_of(provider), AG_TX_CHANNEL_CLAIMS, &p);
  ag_buf_free(&p);
  ag_app_info info;
  ag_app_info_get(app, &info);
  const uint8_t *raw = tx.data;
  uint32_t len = (uint32_t)tx.len;
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  ag_result r;
  uint8_t root[32];
  CHECK_OK(ag_app_finalize_block(app, &ctx, &raw, &len, 1, &r, root));
  CHECK_OK(ag_app_commit(app, NULL, 0, NULL));
  ag_buf_free(&tx);
  if (log) snprintf(log, sizeof r.log, "%s", r.log);
  return r.code;
}

TEST(a_batch_of_claims_pays_as_its_claims_would_or_not_at_all) {
  setup();
  uint8_t ids[4][32];
  CHECK_OK(open_channel(0, 4, 5 * AG_UNIT, 5, 0, ids[0]));
  CHECK_OK(open_channel(1, 4, 5 * AG_UNIT, 5, 0, ids[1]));
  CHECK_OK(open_channel(2, 4, 5 * AG_UNIT, 5, 0, ids[2]));
  CHECK_OK(open_channel(2, 5, 5 * AG_UNIT, 5, 0, ids[3])); /* another provider's */
  uint64_t p0 = balance(4);
  int signer[4] = {0, 1, 2, 2};
  uint64_t cum[4] = {AG_UNIT, 2 * AG_UNIT, 3 * AG_UNIT, AG_UNIT}, seq[4] = {1, 1, 1, 1};
  char log[200];
  /* three channels, one fee: each is paid exactly its voucher */
  CHECK_OK(claims_run(4, 3, ids, cum, seq, signer, log));
  CHECK_U64(balance(4), p0 + 6 * AG_UNIT - FEE);
  for (int i = 0; i < 3; i++) CHECK(chan(ids[i]).claimed == cum[i] && chan(ids[i]).seq == 1);
  /* one bad entry fails the whole tx, names itself, and nothing but the fee moves */
  struct {
    const char *what;
    uint64_t cum2, seq2;
    int signer2, code;
  } bad[] = {
      {"a replayed voucher", 3 * AG_UNIT, 1, 2, AG_E_VOUCHER_SEQ},
      {"a forged voucher", 4 * AG_UNIT, 2, 7, AG_E_VOUCHER_SIGNATURE},
      {"more than the deposit", 5 * AG_UNIT + 1, 2, 2, AG_E_VOUCHER_OVER_DEPOSIT},
      {"a lower amount", 2 * AG_UNIT, 2, 2, AG_E_VOUCHER_STALE},
  };
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
    snap s0 = take(ids[0]);
    ag_channel c1 = chan(ids[1]), c2 = chan(ids[2]);
    uint64_t c2b[3] = {2 * AG_UNIT, 3 * AG_UNIT, bad[b].cum2}, s2b[3] = {2, 2, bad[b].seq2};
    int sg[3] = {0, 1, bad[b].signer2};
    int code = claims_run(4, 3, ids, c2b, s2b, sg, log);
    if (code != bad[b].code) fprintf(stderr, "  %s: got %s (%s)\n", bad[b].what, ag_err_name(code), log);
    CHECK_EQ(code, bad[b].code);
    CHECK(strncmp(log, "claim 3 of 3: ", 14) == 0);
    unchanged_but_fee(&s0, ids[0], 4);
    ag_channel d1 = chan(ids[1]), d2 = chan(ids[2]);
    CHECK(!memcmp(&c1, &d1, sizeof c1) && !memcmp(&c2, &d2, sizeof c2));
  }
  /* a channel of another provider in the batch: the same */
  p0 = balance(4);
  uint64_t cx[2] = {2 * AG_UNIT, 2 * AG_UNIT}, sx[2] = {2, 2};
  int gx[2] = {0, 2};
  uint8_t mix[2][32];
  memcpy(mix[0], ids[0], 32);
  memcpy(mix[1], ids[3], 32);
  CHECK_EQ(claims_run(4, 2, mix, cx, sx, gx, log), AG_E_CHANNEL_ROLE);
  CHECK(strncmp(log, "claim 2 of 2: ", 14) == 0);
  CHECK_U64(balance(4), p0 - FEE);
  CHECK_U64(chan(ids[0]).claimed, AG_UNIT);
  /* one channel twice runs in order: the second voucher must follow the first */
  uint8_t twice[2][32];
  memcpy(twice[0], ids[0], 32);
  memcpy(twice[1], ids[0], 32);
  uint64_t ct[2] = {2 * AG_UNIT, 3 * AG_UNIT}, st[2] = {2, 3};
  int gt[2] = {0, 0};
  CHECK_OK(claims_run(4, 2, twice, ct, st, gt, log));
  CHECK_U64(balance(4), p0 - 2 * FEE + 2 * AG_UNIT);
  CHECK(chan(ids[0]).claimed == 3 * AG_UNIT && chan(ids[0]).seq == 3);
  uint64_t cr[2] = {4 * AG_UNIT, 4 * AG_UNIT}, sr[2] = {4, 4};
  CHECK_EQ(claims_run(4, 2, twice, cr, sr, gt, log), AG_E_VOUCHER_SEQ); /* the same voucher twice */
  CHECK(chan(ids[0]).claimed == 3 * AG_UNIT);
  /* each voucher pays a base fee, as a tx of its own would: a fee for the bytes alone is short,
   * by a direct tx and by an agent key's alike */
  ag_buf v[3], p, tx;
  const uint8_t *vp[3];
  size_t vl[3];
  for (int i = 0; i < 3; i++) {
    voucher(&v[i], CHAIN, ids[i], 4 * AG_UNIT, 9, i);
    vp[i] = v[i].data;
    vl[i] = v[i].len;
  }
  ag_buf_init(&p);
  ag_payload_channel_claims(&p, 3, NULL, NULL, vp, vl);
  for (int i = 0; i < 3; i++) ag_buf_free(&v[i]);
  ag_params prm;
  ag_params_default(&prm);
  size_t bytes = ag_tx_size(strlen(CHAIN), p.len);
  uint64_t need;
  CHECK_OK(ag_tx_min_fee(prm.base_fee, prm.per_byte_fee, AG_TX_CHANNEL_CLAIMS, p.data, p.len, bytes, &need));
  CHECK_U64(need, 3 * prm.base_fee + prm.per_byte_fee * bytes);
  ag_buf ex;
  ag_buf_init(&ex);
  ag_payload_agent_exec(&ex, K[4].pk, AG_TX_CHANNEL_CLAIMS, p.data, p.len);
  CHECK_U64(ag_tx_fee_units(AG_TX_AGENT_EXEC, ex.data, ex.len), 3);
  ag_buf_free(&ex);
  p0 = balance(4);
  for (int exact = 0; exact < 2; exact++) {
    ag_buf_init(&tx);
    ag_tx_build(&tx, AG_TX_CHANNEL_CLAIMS, CHAIN, &K[4], nonce_of(4), need - 1 + (uint64_t)exact, 0, p.data,
                (uint32_t)p.len);
    ag_result r;
    CHECK_EQ(ag_app_check_tx(app, tx.data, tx.len, AG_CHECK_NEW, &r, NULL), exact ? 0 : AG_E_TX_FEE_LOW);
    int code;
    block_of(&tx, 1, &code);
    CHECK_EQ(code, exact ? 0 : AG_E_TX_FEE_LOW);
    ag_buf_free(&tx);
  }
  ag_buf_free(&p);
  CHECK_U64(balance(4), p0 - need + AG_UNIT + 2 * AG_UNIT + AG_UNIT); /* to 4, 4 and 4 AGR */
  teardown();
}

/* The frozen bytes of one channel_claims tx (tests/vectors/tx_channel_claims.hex): two vouchers of
 * key 1, claimed by key 4 at its least fee. The SDK's builder (sdk/python) must make the same,
 * and a change here is a consensus change. */
TEST(channel_claims_tx_is_frozen) {
  ag_economy_register_kinds();
  ag_keypair client, provider;
  test_key(&client, 1);
  test_key(&provider, 4);
  uint8_t ids[2][32];
  memset(ids[0], 0x11, 32);
  memset(ids[1], 0x22, 32);
  ag_buf v[2], p, tx;
  const uint8_t *vp[2];
  size_t vl[2];
  for (int i = 0; i < 2; i++) {
    ag_buf_init(&v[i]);
    ag_voucher_sign(&v[i], "agora-test", ids[i], 500 + 200 * (uint64_t)i, 1 + (uint64_t)i, &client);
    vp[i] = v[i].data;
    vl[i] = v[i].len;
  }
  uint8_t flags[2] = {0, AG_CLAIM_CLOSE};
  uint64_t amounts[2] = {400, 0};
  ag_buf_init(&p);
  ag_payload_channel_claims(&p, 2, flags, amounts, vp, vl);
  uint64_t fee;
  CHECK_OK(ag_tx_min_fee(1000, 10, AG_TX_CHANNEL_CLAIMS, p.data, p.len, ag_tx_size(10, p.len), &fee));
  CHECK_U64(fee, 2 * 1000 + 10 * ag_tx_size(10, p.len));
  ag_buf_init(&tx);
  ag_tx_build(&tx, AG_TX_CHANNEL_CLAIMS, "agora-test", &provider, 3, fee, 0, p.data, (uint32_t)p.len);
  ag_tx t;
  CHECK_OK(ag_tx_decode(tx.data, tx.len, &t));
  CHECK(test_frozen_hex("tx_channel_claims.hex", tx.data, tx.len));
  for (int i = 0; i < 2; i++) ag_buf_free(&v[i]);
  ag_buf_free(&p);
  ag_buf_free(&tx);
}

/* The gateway's and agora infer's ban on a miner that answered wrongly grows with its faults:
 * until 2026-12-07 it was a flat ten minutes, so a miner cheating on every answer cost a
 * gateway a wrong answer (and a re-execution) every ten minutes for good. */
TEST(a_repeat_cheater_is_asked_ever_less_often) {
  ag_ban b;
  memset(&b, 0, sizeof b);
  const uint64_t M = 60 * 1000, D = AG_BAN_MAX_MS;
  uint64_t t = 1000;
  ag_ban_fault(&b, t);
  CHECK_U64(b.until_ms, t + 10 * M);
  uint64_t want[] = {20 * M, 40 * M, 80 * M, 160 * M, 320 * M, 640 * M, 1280 * M, D, D, D};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    t = b.until_ms + 1; /* it cheats again the first time it is asked */
    ag_ban_fault(&b, t);
    CHECK_U64(b.until_ms - t, want[i]);
  }
  /* once it has been asked for a day without a fault, one wrong answer costs ten minutes again */
  t = b.until_ms + D - 1;
  ag_ban_fault(&b, t);
  CHECK_U64(b.until_ms - t, D);
  t = b.until_ms + D + 1;
  ag_ban_fault(&b, t);
  CHECK_U64(b.until_ms - t, 10 * M);
  CHECK_EQ((int)b.faults, 1);
}

TEST(malformed_payloads_are_refused_before_they_cost_anything) {
  ag_economy_register_kinds();
  ag_keypair k;
  test_key(&k, 1);
  uint8_t id[32] = {9};
  struct {
    uint16_t kind;
    ag_buf p;
    int code;
  } c[7];
  for (int i = 0; i < 7; i++) ag_buf_init(&c[i].p);
  ag_payload_channel_open(&c[0].p, k.pk, NULL, NULL, AG_UNIT, 10, 0); /* provider = client */
  c[0].kind = AG_TX_CHANNEL_OPEN, c[0].code = AG_E_CHANNEL_TERMS;
  ag_payload_channel_open(&c[1].p, id, NULL, NULL, 0, 10, 0);
  c[1].kind = AG_TX_CHANNEL_OPEN, c[1].code = AG_E_TX_AMOUNT;
  ag_payload_channel_fund(&c[2].p, id, 0);
  c[2].kind = AG_TX_CHANNEL_FUND, c[2].code = AG_E_TX_AMOUNT;
  ag_buf_put_u8(&c[3].p, 2); /* unknown flag */
  ag_buf_put_u64le(&c[3].p, 0);
  ag_voucher_sign(&c[3].p, CHAIN, id, 1, 1, &k);
  c[3].kind = AG_TX_CHANNEL_CLAIM, c[3].code = AG_E_TX_PAYLOAD;
  ag_buf_put_u8(&c[4].p, 0);
  ag_buf_put_u64le(&c[4].p, 0);
  ag_voucher_sign(&c[4].p, CHAIN, id, 1, 1, &k);
  c[4].p.len--; /* a truncated voucher */
  c[4].kind = AG_TX_CHANNEL_CLAIM, c[4].code = AG_E_VOUCHER_MALFORMED;
  ag_buf_put(&c[5].p, id, 31);
  c[5].kind = AG_TX_CHANNEL_CLOSE, c[5].code = AG_E_TX_PAYLOAD;
  ag_buf_put_u8(&c[6].p, 0);
  ag_buf_put_u64le(&c[6].p, 2); /* more than the voucher's 1 */
  ag_voucher_sign(&c[6].p, CHAIN, id, 1, 1, &k);
  c[6].kind = AG_TX_CHANNEL_CLAIM, c[6].code = AG_E_CLAIM_ABOVE_VOUCHER;
  for (int i = 0; i < 7; i++) {
    ag_buf tx;
    ag_buf_init(&tx);
    ag_tx_build(&tx, c[i].kind, CHAIN, &k, 0, FEE, 0, c[i].p.data, (uint32_t)c[i].p.len);
    ag_tx t;
    CHECK_EQ(ag_tx_decode(tx.data, tx.len, &t), c[i].code);
    ag_buf_free(&tx);
    ag_buf_free(&c[i].p);
  }
  /* channel_claims: its frame, and each entry as a channel_claim */
  ag_buf one;
  ag_buf_init(&one);
  ag_voucher_sign(&one, CHAIN, id, 1, 1, &k);
  struct {
    const char *what;
    int n;         /* the count written */
    int entries;   /* entries written */
    int trim;      /* bytes cut from the end (negative: added) */
    uint8_t flags; /* of the last entry */
    uint64_t amount;
    int code;
  } cb[] = {
      {"two good entries", 2, 2, 0, 0, 0, 0},
      {"no entries", 0, 0, 0, 0, 0, AG_E_TX_PAYLOAD},
      {"more than the most", AG_CLAIMS_MAX + 1, AG_CLAIMS_MAX + 1, 0, 0, 0, AG_E_TX_PAYLOAD},
      {"the most", AG_CLAIMS_MAX, AG_CLAIMS_MAX, 0, 0, 0, 0},
      {"fewer entries than the count", 3, 2, 0, 0, 0, AG_E_TX_PAYLOAD},
      {"a byte after the entries", 2, 2, -1, 0, 0, AG_E_TX_PAYLOAD},
      {"a truncated last entry", 2, 2, 1, 0, 0, AG_E_TX_PAYLOAD},
      {"a last entry of 10 bytes", 2, 2, (int)one.len - 1, 0, 0, AG_E_TX_PAYLOAD},
      {"an unknown flag", 2, 2, 0, 2, 0, AG_E_TX_PAYLOAD},
      {"more than the voucher", 2, 2, 0, 0, 2, AG_E_CLAIM_ABOVE_VOUCHER},
      {"a count only", 1, 0, 0, 0, 0, AG_E_TX_PAYLOAD},
  };
  for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++) {
    ag_buf p, tx;
    ag_buf_init(&p);
    ag_buf_put_u16le(&p, (uint16_t)cb[i].n);
    for (int e = 0; e < cb[i].entries; e++) {
      int last = e == cb[i].entries - 1;
      ag_payload_channel_claim(&p, last ? cb[i].flags : 0, last ? cb[i].amount : 0, one.data, one.len);
    }
    if (cb[i].trim < 0) ag_buf_put_u8(&p, 0);
    else p.len -= (size_t)cb[i].trim;
    ag_buf_init(&tx);
    ag_tx_build(&tx, AG_TX_CHANNEL_CLAIMS, CHAIN, &k, 0, FEE, 0, p.data, (uint32_t)p.len);
    ag_tx t;
    int code = ag_tx_decode(tx.data, tx.len, &t);
    if (code != cb[i].code) fprintf(stderr, "  channel_claims, %s: got %s\n", cb[i].what, ag_err_name(code));
    CHECK_EQ(code, cb[i].code);
    ag_buf_free(&tx);
    ag_buf_free(&p);
  }
  ag_buf_free(&one);
  /* the voucher codec: every length but the right one is refused */
  ag_buf v;
  ag_buf_init(&v);
  ag_voucher_sign(&v, CHAIN, id, 7, 3, &k);
  ag_voucher d;
  CHECK_OK(ag_voucher_decode(v.data, v.len, &d));
  CHECK(d.cumulative == 7 && d.seq == 3 && !strcmp(d.chain_id, CHAIN));
  for (size_t n = 0; n < v.len; n++) CHECK_EQ(ag_voucher_decode(v.data, n, &d), AG_E_VOUCHER_MALFORMED);
  v.data[0] = 2;
  CHECK_EQ(ag_voucher_decode(v.data, v.len, &d), AG_E_VOUCHER_MALFORMED);
  v.data[0] = 1;
  v.data[2] = 'A'; /* not a valid chain id */
  CHECK_EQ(ag_voucher_decode(v.data, v.len, &d), AG_E_VOUCHER_MALFORMED);
  ag_buf_free(&v);
}

/* ---- property test ---------------------------------------------------------------------------- */

#define MAXCH 48

typedef struct {
  uint8_t id[32];
  int client, provider;
  uint64_t signed_max; /* highest cumulative amount the client signed */
  uint64_t seq;        /* last sequence the client used */
  uint64_t funded;     /* deposits and top-ups that the chain accepted */
} model_ch;

TEST(random_channel_sequences_pay_exactly_what_was_signed) {
  setup();
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  model_ch m[MAXCH];
  int nch = 0;
  uint64_t fees[NK] = {0};
  int batches_ok = 0, batches_failed = 0;
  for (int blk = 0; blk < 160; blk++) {
    ag_buf txs[6];
    int who[6], kind[6], ch_of[6], codes[6];
    uint64_t amt[6];
    int n = (int)(test_rand(&seed) % 6);
    uint64_t next_nonce[NK];
    for (int i = 0; i < NK; i++) next_nonce[i] = nonce_of(i);
    for (int t = 0; t < n; t++) {
      int op = (int)(test_rand(&seed) % 6);
      ag_buf p;
      ag_buf_init(&p);
      ch_of[t] = -1;
      amt[t] = 0;
      if (op == 0 || nch == 0) {
        if (nch >= MAXCH) {
          ag_buf_free(&p);
          n = t;
          break;
        }
        int c = (int)(test_rand(&seed) % 4), pr = 4 + (int)(test_rand(&seed) % 3);
        amt[t] = (1 + test_rand(&seed) % 20) * AG_UNIT / 4;
        ag_payload_channel_open(&p, K[pr].pk, NULL, NULL, amt[t], 3 + test_rand(&seed) % 5,
                                test_rand(&seed) % 4 ? 0 : height() + 10 + test_rand(&seed) % 30);
        model_ch *x = &m[nch];
        memset(x, 0, sizeof *x);
        x->client = c;
        x->provider = pr;
        ag_channel_id(CHAIN, K[c].pk, next_nonce[c], x->id);
        ch_of[t] = nch++;
        who[t] = c;
        kind[t] = AG_TX_CHANNEL_OPEN;
      } else {
        int i = (int)(test_rand(&seed) % (uint64_t)nch);
        model_ch *x = &m[i];
        ch_of[t] = i;
        if (op == 1) { /* top-up, sometimes by a stranger */
          who[t] = test_rand(&seed) % 5 ? x->client : 7;
          amt[t] = (1 + test_rand(&seed) % 8) * AG_UNIT / 8;
          ag_payload_channel_fund(&p, x->id, amt[t]);
          kind[t] = AG_TX_CHANNEL_FUND;
        } else if (op == 3 && test_rand(&seed) % 3 == 0) { /* a provider redeems several at once */
          int k = 1 + (int)(test_rand(&seed) % 3);
          ag_buf v[3];
          const uint8_t *vp[3];
          size_t vl[3];
          uint64_t amounts[3];
          for (int e = 0; e < k; e++) {
            /* mostly the provider's own channels; sometimes another's, which fails the lot */
            model_ch *y = x;
            for (int tries = 0; e > 0 && tries < 8; tries++) {
              y = &m[test_rand(&seed) % (uint64_t)nch];
              if (y->provider == x->provider || test_rand(&seed) % 6 == 0) break;
            }
            uint64_t cum = y->signed_max + test_rand(&seed) % (AG_UNIT + 1), seq = y->seq + 1;
            if (cum > y->signed_max) y->signed_max = cum;
            y->seq = seq;
            voucher(&v[e], CHAIN, y->id, cum, seq, y->client);
            vp[e] = v[e].data;
            vl[e] = v[e].len;
            amounts[e] = test_rand(&seed) % 3 ? 0 : test_rand(&seed) % (cum + 1);
          }
          ag_payload_channel_claims(&p, (size_t)k, NULL, amounts, vp, vl);
          for (int e = 0; e < k; e++) ag_buf_free(&v[e]);
          who[t] = x->provider;
          kind[t] = AG_TX_CHANNEL_CLAIMS;
        } else if (op <= 3) { /* the client signs a voucher (any amount, even too much) */
          uint64_t cum = x->signed_max + test_rand(&seed) % (AG_UNIT + 1);
          if (test_rand(&seed) % 6 == 0 && cum > AG_UNIT) cum -= AG_UNIT; /* replays an older amount */
          uint64_t seq = x->seq + 1 + test_rand(&seed) % 2;
          if (test_rand(&seed) % 7 == 0) seq = x->seq; /* reuses a sequence */
          int signer = test_rand(&seed) % 9 ? x->client : 7; /* sometimes forged */
          if (signer == x->client) {
            if (cum > x->signed_max) x->signed_max = cum;
            if (seq > x->seq) x->seq = seq;
          }
          ag_buf v;
          voucher(&v, CHAIN, x->id, cum, seq, signer);
          /* mostly all of it, sometimes part (what a provider billed) */
          uint64_t amount = test_rand(&seed) % 3 ? 0 : test_rand(&seed) % (cum + 1);
          ag_payload_channel_claim(&p, test_rand(&seed) % 10 == 0 ? AG_CLAIM_CLOSE : 0, amount, v.data, v.len);
          ag_buf_free(&v);
          who[t] = test_rand(&seed) % 8 ? x->provider : x->client;
          kind[t] = AG_TX_CHANNEL_CLAIM;
        } else { /* close by either party */
          who[t] = test_rand(&seed) % 2 ? x->client : x->provider;
          ag_payload_channel_close(&p, x->id);
          kind[t] = AG_TX_CHANNEL_CLOSE;
        }
      }
      build(&txs[t], who[t], next_nonce[who[t]]++, (uint16_t)kind[t], &p);
      ag_buf_free(&p);
    }
    block_of(txs, (size_t)n, codes);
    for (int t = 0; t < n; t++) {
      fees[who[t]] += FEE;
      if (kind[t] == AG_TX_CHANNEL_CLAIMS) codes[t] ? batches_failed++ : batches_ok++;
      if (codes[t] == 0 && (kind[t] == AG_TX_CHANNEL_OPEN || kind[t] == AG_TX_CHANNEL_FUND))
        m[ch_of[t]].funded += amt[t];
      ag_buf_free(&txs[t]);
    }
    /* each account holds exactly: start − fees − what it put in + refunds + what it redeemed */
    int64_t expect[NK];
    for (int i = 0; i < NK; i++) expect[i] = (int64_t)(START - fees[i]);
    for (int i = 0; i < nch; i++) {
      ag_channel ch;
      if (ag_channel_load(ag_app_state(app), NULL, m[i].id, &ch)) {
        CHECK_U64(m[i].funded, 0); /* an open the chain refused */
        continue;
      }
      CHECK_U64(ch.deposit, m[i].funded);
      CHECK(ch.claimed <= m[i].signed_max); /* never more than the client signed */
      CHECK(ch.claimed <= ch.deposit);       /* never more than it deposited */
      expect[m[i].client] -= (int64_t)ch.deposit;
      if (ch.status == AG_CHANNEL_CLOSED) expect[m[i].client] += (int64_t)(ch.deposit - ch.claimed);
      expect[m[i].provider] += (int64_t)ch.claimed;
    }
    for (int i = 0; i < NK; i++) CHECK_U64(balance(i), (uint64_t)expect[i]);
  }
  int closed = 0, paid = 0;
  CHECK(batches_ok >= 2 && batches_failed > 0);
  for (int i = 0; i < nch; i++) {
    ag_channel ch;
    if (ag_channel_load(ag_app_state(app), NULL, m[i].id, &ch) == 0) {
      closed += ch.status == AG_CHANNEL_CLOSED;
      paid += ch.claimed > 0;
    }
  }
  /* the sequence exercised what it should */
  CHECK(nch > 10 && closed > 3 && paid > 5);
  teardown();
}

/* ---- offers and bonds --------------------------------------------------------------------------- */

#define NHK 260
static ag_keypair HK[NHK]; /* hotkeys, registered by coldkey 0 unless said otherwise */

static void setup_market(void) {
  char m[1024], owner[AG_ADDR_MAX];
  test_key(&K[0], 900);
  ag_addr_encode(K[0].pk, owner);
  snprintf(m, sizeof m,
           "{\"incentive\":{\"block_reward\":\"0\",\"burn_initial\":\"1000\",\"burn_min\":\"1000\","
           "\"burn_max\":\"1000\",\"subnets\":[{\"name\":\"a\",\"owner\":\"%s\",\"hyperparams\":"
           "{\"immunity_period\":100000}},{\"name\":\"b\",\"owner\":\"%s\",\"hyperparams\":"
           "{\"immunity_period\":100000}}]},\"economy\":{\"min_bond\":\"%llu\",\"dispute_window\":1,"
           "\"commit_blocks\":1,\"reveal_blocks\":1,\"unbond_delay\":5}}",
           owner, owner, (unsigned long long)AG_UNIT);
  setup_with(m);
  for (int i = 0; i < NHK; i++) test_key(&HK[i], 3000 + i);
}

/* Registers hotkeys [from, to) under coldkey ck, up to 40 per block (subnet 1, then 2). */
static void register_hotkeys(int ck, int from, int to) {
  while (from < to) {
    ag_buf txs[40];
    int n = 0, codes[40];
    uint64_t nonce = nonce_of(ck);
    for (; from < to && n < 40; from++, n++) {
      uint8_t claim[32], sig[64];
      ag_hotkey_claim_hash(CHAIN, K[ck].pk, HK[from].pk, claim);
      ag_sign(&HK[from], claim, 32, sig);
      ag_buf p;
      ag_buf_init(&p);
      ag_buf_put_u16le(&p, from < 200 ? 1 : 2);
      ag_buf_put(&p, HK[from].pk, 32);
      ag_buf_put_u64le(&p, AG_UNIT);
      ag_buf_put(&p, sig, 64);
      build(&txs[n], ck, nonce++, AG_TX_REGISTER, &p);
      ag_buf_free(&p);
    }
    block_of(txs, (size_t)n, codes);
    for (int i = 0; i < n; i++) {
      CHECK_OK(codes[i]);
      ag_buf_free(&txs[i]);
    }
  }
}

static int post(int ck, int hk, const uint8_t model[32], uint64_t pin, uint64_t pout, uint64_t bond) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_offer_post(&p, HK[hk].pk, model, pin, pout, 512, bond);
  return run(ck, AG_TX_OFFER_POST, &p);
}

static int unbond(int ck, int hk, uint64_t amount, uint16_t kind) {
  ag_buf p;
  ag_buf_init(&p);
  if (kind == AG_TX_BOND_UNBOND) ag_payload_bond(&p, HK[hk].pk, amount);
  else ag_buf_put(&p, HK[hk].pk, 32);
  return run(ck, kind, &p);
}

static ag_bond bond_of(int hk) {
  ag_bond b;
  memset(&b, 0, sizeof b);
  CHECK_OK(ag_bond_load(ag_app_state(app), NULL, HK[hk].pk, &b));
  return b;
}


TEST(offers_and_bonds_lock_and_release_exactly) {
  setup_market();
  register_hotkeys(0, 0, 2);
  uint8_t model[32], other[32];
  memset(model, 0x11, 32);
  memset(other, 0x22, 32);
  uint64_t c0 = balance(0);
  CHECK_EQ(post(0, 0, model, 100, 300, AG_UNIT / 2), AG_E_BOND_LOW);
  CHECK_EQ(post(1, 0, model, 100, 300, AG_UNIT), AG_E_HOTKEY_OWNER); /* not its coldkey */
  CHECK_EQ(post(0, 5, model, 100, 300, AG_UNIT), AG_E_HOTKEY_OWNER); /* never registered */
  CHECK_OK(post(0, 0, model, 100, 300, 3 * AG_UNIT));
  CHECK_U64(balance(0), c0 - 3 * AG_UNIT - 3 * FEE);
  ag_bond b = bond_of(0);
  CHECK(b.bonded == 3 * AG_UNIT && b.offers == 1 && b.unbonding == 0);
  CHECK_MEM(b.coldkey, K[0].pk, 32);
  /* a second model on the same bond, and an update of the first: no new bond needed */
  CHECK_OK(post(0, 0, other, 1, 1, 0));
  CHECK_OK(post(0, 0, model, 200, 400, 0));
  CHECK_EQ(bond_of(0).offers, 2);
  ag_offer o;
  CHECK_OK(ag_offer_load(ag_app_state(app), NULL, HK[0].pk, model, &o));
  CHECK(o.price_in == 200 && o.price_out == 400 && o.max_tokens == 512);
  /* cheapest first */
  CHECK_OK(post(0, 1, model, 50, 100, AG_UNIT));
  ag_offer *v;
  size_t n;
  CHECK_OK(ag_offers_for_model(ag_app_state(app), NULL, model, &v, &n));
  CHECK(n == 2 && !memcmp(v[0].hotkey, HK[1].pk, 32) && !memcmp(v[1].hotkey, HK[0].pk, 32));
  free(v);
  /* the bond backs the offers: it cannot go under the minimum while they stand */
  CHECK_EQ(unbond(0, 0, 2 * AG_UNIT + 1, AG_TX_BOND_UNBOND), AG_E_BOND_HAS_OFFERS);
  CHECK_EQ(unbond(0, 0, 4 * AG_UNIT, AG_TX_BOND_UNBOND), AG_E_BOND_INSUFFICIENT);
  CHECK_EQ(unbond(1, 0, AG_UNIT, AG_TX_BOND_UNBOND), AG_E_HOTKEY_OWNER);
  CHECK_OK(unbond(0, 0, 2 * AG_UNIT, AG_TX_BOND_UNBOND));
  b = bond_of(0);
  CHECK(b.bonded == AG_UNIT && b.unbonding == 2 * AG_UNIT && b.unbond_at == height() + 5);
  /* unbonded AGR waits the unbond delay, longer than the dispute window */
  CHECK_EQ(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW), AG_E_BOND_LOCKED);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_offer_remove(&p, HK[0].pk, model);
  CHECK_OK(run(0, AG_TX_OFFER_REMOVE, &p));
  ag_buf_init(&p);
  ag_payload_offer_remove(&p, HK[0].pk, model);
  CHECK_EQ(run(0, AG_TX_OFFER_REMOVE, &p), AG_E_OFFER_NOT_FOUND);
  CHECK_OK(ag_offers_for_model(ag_app_state(app), NULL, model, &v, &n));
  CHECK(n == 1 && !memcmp(v[0].hotkey, HK[1].pk, 32));
  free(v);
  while (height() + 2 < bond_of(0).unbond_at) empty_blocks(1);
  CHECK_EQ(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW), AG_E_BOND_LOCKED); /* one block short */
  uint64_t before = balance(0);
  CHECK_OK(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW));
  CHECK_U64(balance(0), before + 2 * AG_UNIT - FEE);
  CHECK_EQ(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW), AG_E_BOND_INSUFFICIENT); /* nothing left */
  /* the last offer gone, the whole bond can leave and the record with it */
  ag_buf_init(&p);
  ag_payload_offer_remove(&p, HK[0].pk, other);
  CHECK_OK(run(0, AG_TX_OFFER_REMOVE, &p));
  CHECK_OK(unbond(0, 0, AG_UNIT, AG_TX_BOND_UNBOND));
  empty_blocks(5);
  CHECK_OK(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW));
  ag_bond gone;
  CHECK_EQ(ag_bond_load(ag_app_state(app), NULL, HK[0].pk, &gone), AG_E_BOND_NOT_FOUND);
  teardown();
}

TEST(a_full_offer_list_takes_a_better_bond_only) {
  setup_market();
  register_hotkeys(0, 0, AG_MAX_OFFERS_PER_MODEL + 1);
  uint8_t model[32];
  memset(model, 0x33, 32);
  /* 256 offers fill the model's list: the last hotkey's bond is the smallest */
  for (int from = 0; from < AG_MAX_OFFERS_PER_MODEL;) {
    ag_buf txs[40];
    int n = 0, codes[40];
    uint64_t nonce = nonce_of(0);
    for (; from < AG_MAX_OFFERS_PER_MODEL && n < 40; from++, n++) {
      ag_buf p;
      ag_buf_init(&p);
      ag_payload_offer_post(&p, HK[from].pk, model, 10, 10, 64, from == 7 ? AG_UNIT : 2 * AG_UNIT);
      build(&txs[n], 0, nonce++, AG_TX_OFFER_POST, &p);
      ag_buf_free(&p);
    }
    block_of(txs, (size_t)n, codes);
    for (int i = 0; i < n; i++) {
      CHECK_OK(codes[i]);
      ag_buf_free(&txs[i]);
    }
  }
  int last = AG_MAX_OFFERS_PER_MODEL;
  CHECK_EQ(post(0, last, model, 1, 1, AG_UNIT), AG_E_OFFERS_FULL); /* not above the smallest */
  CHECK_OK(post(0, last, model, 1, 1, AG_UNIT + 1));
  ag_offer *v;
  size_t n;
  CHECK_OK(ag_offers_for_model(ag_app_state(app), NULL, model, &v, &n));
  CHECK_EQ(n, AG_MAX_OFFERS_PER_MODEL);
  CHECK_MEM(v[0].hotkey, HK[last].pk, 32);
  free(v);
  ag_offer o;
  CHECK_EQ(ag_offer_load(ag_app_state(app), NULL, HK[7].pk, model, &o), AG_E_OFFER_NOT_FOUND);
  ag_bond b = bond_of(7);
  CHECK(b.offers == 0 && b.bonded == AG_UNIT); /* evicted, its bond untouched and free to leave */
  CHECK_OK(unbond(0, 7, AG_UNIT, AG_TX_BOND_UNBOND));
  teardown();
}

TEST(a_request_costs_the_ceiling_of_its_tokens_at_the_offer) {
  ag_offer o = {.price_in = 1000, .price_out = 3};
  uint64_t c;
  CHECK_OK(ag_offer_cost(&o, 7, 0, &c));
  CHECK_U64(c, 7);
  CHECK_OK(ag_offer_cost(&o, 0, 1, &c));
  CHECK_U64(c, 1); /* 3/1000 rounds up: no request is free at a non-zero price */
  CHECK_OK(ag_offer_cost(&o, 2, 1000, &c));
  CHECK_U64(c, 2 + 3);
  o.price_out = UINT64_MAX;
  CHECK_OK(ag_offer_cost(&o, 0, 1000, &c));
  CHECK_U64(c, UINT64_MAX);
  CHECK_EQ(ag_offer_cost(&o, 1, 1001, &c), AG_E_OVERFLOW);
}

/* ---- assets, vaults and royalties ------------------------------------------------------------ */

static int reg(int k, uint8_t kind, const uint8_t id[32], uint16_t royalty, uint64_t supply,
               const uint8_t (*par)[32], const uint16_t *bps, uint8_t n) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_asset_register(&p, kind, id, royalty, supply, par, bps, n);
  return run(k, AG_TX_ASSET_REGISTER, &p);
}

static int share_claim(int k, const uint8_t asset[32], const uint8_t holder[32]) {
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, asset, 32);
  ag_buf_put(&p, holder, 32);
  return run(k, AG_TX_SHARE_CLAIM, &p);
}

static int share_transfer(int k, const uint8_t asset[32], int to, uint64_t amount) {
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, asset, 32);
  ag_buf_put(&p, K[to].pk, 32);
  ag_buf_put_u64le(&p, amount);
  return run(k, AG_TX_SHARE_TRANSFER, &p);
}

static ag_asset asset_of(const uint8_t id[32]) {
  ag_asset a;
  memset(&a, 0, sizeof a);
  CHECK_OK(ag_asset_load(ag_app_state(app), NULL, id, &a));
  return a;
}

static uint64_t claimable(const uint8_t id[32], const uint8_t holder[32]) {
  ag_asset a = asset_of(id);
  ag_holding h;
  if (ag_holding_load(ag_app_state(app), NULL, id, holder, &h)) return 0;
  return ag_holding_claimable(&a, &h);
}

/* A channel from client 0 to provider 4 paying for model; the provider claims amount. */
static void paid_claim(const uint8_t model[32], uint64_t amount) {
  uint8_t id[32];
  ag_channel_id(CHAIN, K[0].pk, nonce_of(0), id);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_channel_open(&p, K[4].pk, NULL, model, amount, 5, 0);
  CHECK_OK(run(0, AG_TX_CHANNEL_OPEN, &p));
  CHECK_OK(claim(4, id, amount, 1, 0, 0));
}

TEST(royalties_flow_to_vaults_and_ancestors_and_holders_claim_exactly) {
  setup();
  uint8_t ds[32], base[32], model[32], nowhere[32];
  memset(ds, 0xd1, 32);
  memset(base, 0xb1, 32);
  memset(model, 0xa1, 32);
  memset(nowhere, 0x77, 32);
  CHECK_OK(reg(2, AG_ASSET_DATASET, ds, 0, 1000, NULL, NULL, 0));
  CHECK_OK(reg(3, AG_ASSET_MODEL, base, 0, 100, NULL, NULL, 0));
  uint8_t par[2][32];
  uint16_t bps[2] = {500, 300};
  memcpy(par[0], base, 32);
  memcpy(par[1], ds, 32);
  /* every bad registration has its own code */
  CHECK_EQ(reg(2, AG_ASSET_DATASET, ds, 0, 1000, NULL, NULL, 0), AG_E_ASSET_EXISTS);
  CHECK_EQ(reg(1, AG_ASSET_MODEL, model, 5001, 1000, NULL, NULL, 0), AG_E_ASSET_TERMS);
  CHECK_EQ(reg(1, AG_ASSET_DATASET, nowhere, 10, 1000, NULL, NULL, 0), AG_E_ASSET_TERMS);
  CHECK_EQ(reg(1, AG_ASSET_MODEL, model, 1000, 0, NULL, NULL, 0), AG_E_ASSET_TERMS);
  uint8_t bad[2][32];
  uint16_t badbps[2] = {4000, 1001};
  memcpy(bad[0], base, 32);
  memcpy(bad[1], nowhere, 32);
  CHECK_EQ(reg(1, AG_ASSET_MODEL, model, 1000, 1000, (const uint8_t(*)[32])bad, badbps, 2), AG_E_ASSET_NOT_FOUND);
  memcpy(bad[1], ds, 32);
  CHECK_EQ(reg(1, AG_ASSET_MODEL, model, 1000, 1000, (const uint8_t(*)[32])bad, badbps, 2), AG_E_ASSET_ANCESTORS);
  CHECK_OK(reg(1, AG_ASSET_MODEL, model, 1000, 1000, (const uint8_t(*)[32])par, bps, 2));
  ag_asset a = asset_of(model);
  CHECK(a.nanc == 2 && a.supply == 1000 && a.royalty_bps == 1000);
  /* a child of the model inherits its ancestors (flattened, absolute parts) */
  uint8_t child[32], cpar[1][32];
  uint16_t cbps[1] = {1000};
  memset(child, 0xc1, 32);
  memcpy(cpar[0], model, 32);
  CHECK_OK(reg(5, AG_ASSET_MODEL, child, 0, 10, (const uint8_t(*)[32])cpar, cbps, 1));
  CHECK_EQ(asset_of(child).nanc, 3);
  /* 10 AGR claimed through a channel for the model: 10% royalty, of which 5% of it to the base
   * model's vault and 3% to the dataset's; the provider gets 9 AGR */
  uint64_t p0 = balance(4);
  paid_claim(model, 10 * AG_UNIT);
  CHECK_U64(balance(4), p0 + 9 * AG_UNIT - FEE);
  CHECK_U64(asset_of(model).income, AG_UNIT - AG_UNIT / 20 - 3 * AG_UNIT / 100);
  CHECK_U64(asset_of(base).income, AG_UNIT / 20);
  CHECK_U64(asset_of(ds).income, 3 * AG_UNIT / 100);
  /* holders claim exactly their part, once */
  uint64_t b1 = balance(1);
  CHECK_U64(claimable(model, K[1].pk), 920000000);
  CHECK_OK(share_claim(1, model, K[1].pk));
  CHECK_U64(balance(1), b1 + 920000000 - FEE);
  CHECK_U64(claimable(model, K[1].pk), 0);
  CHECK_EQ(share_claim(2, model, K[1].pk), AG_E_NOT_OWNER); /* only the holder */
  CHECK_EQ(share_claim(2, model, K[2].pk), AG_E_HOLDING_NOT_FOUND);
  /* shares move with what they earned settled first */
  CHECK_EQ(share_transfer(1, model, 6, 1001), AG_E_SHARES_INSUFFICIENT);
  CHECK_OK(share_transfer(1, model, 6, 300));
  paid_claim(model, 3 * AG_UNIT + 7); /* royalty 300000000 (floored), 276000000 to the holders */
  CHECK_U64(claimable(model, K[1].pk), 276000000 * 7 / 10);
  CHECK_U64(claimable(model, K[6].pk), 276000000 * 3 / 10);
  uint64_t b6 = balance(6);
  CHECK_OK(share_claim(6, model, K[6].pk));
  CHECK_U64(balance(6), b6 + 82800000 - FEE);
  /* the owner may change the rate within the bound */
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, model, 32);
  ag_buf_put_u16le(&p, 6000);
  CHECK_EQ(run(1, AG_TX_ASSET_ROYALTY, &p), AG_E_ASSET_TERMS);
  ag_buf_init(&p);
  ag_buf_put(&p, model, 32);
  ag_buf_put_u16le(&p, 0);
  CHECK_EQ(run(2, AG_TX_ASSET_ROYALTY, &p), AG_E_NOT_OWNER);
  ag_buf_init(&p);
  ag_buf_put(&p, model, 32);
  ag_buf_put_u16le(&p, 0);
  CHECK_OK(run(1, AG_TX_ASSET_ROYALTY, &p));
  uint64_t inc = asset_of(model).income;
  paid_claim(model, AG_UNIT);
  CHECK_U64(asset_of(model).income, inc); /* no royalty now */
  teardown();
}

/* After every block of random revenue, transfers and claims: each vault holds at least what its
 * holders can claim, and less than one base unit per holder (plus the carry) more; each claim
 * pays exactly what was claimable; and every token stays accounted for. */
TEST(random_vault_sequences_never_lose_a_unit) {
  setup();
  uint8_t ds[32], model[32], par[1][32];
  uint16_t bps[1] = {1234};
  memset(ds, 0xd2, 32);
  memset(model, 0xa2, 32);
  memcpy(par[0], ds, 32);
  CHECK_OK(reg(2, AG_ASSET_DATASET, ds, 0, 997, NULL, NULL, 0));
  CHECK_OK(reg(1, AG_ASSET_MODEL, model, 3333, 7777, (const uint8_t(*)[32])par, bps, 1));
  CHECK_OK(share_transfer(2, ds, 3, 331));
  const int holders[] = {1, 5, 6, 7};
  uint64_t seed = 0xfeedULL, paid_out = 0;
  for (int step = 0; step < 120; step++) {
    int op = (int)(test_rand(&seed) % 4);
    if (op == 0) {
      paid_claim(model, 1 + test_rand(&seed) % (3 * AG_UNIT));
    } else if (op == 1) {
      int from = holders[test_rand(&seed) % 4], to = holders[test_rand(&seed) % 4];
      ag_holding h;
      if (ag_holding_load(ag_app_state(app), NULL, model, K[from].pk, &h) == 0 && h.shares)
        CHECK_OK(share_transfer(from, model, to, 1 + test_rand(&seed) % h.shares));
    } else {
      /* a claim pays exactly what was claimable (of the model, or of the dataset) */
      int k = op == 2 ? holders[test_rand(&seed) % 4] : (test_rand(&seed) % 2 ? 2 : 3);
      const uint8_t *asset = op == 2 ? model : ds;
      uint64_t want = claimable(asset, K[k].pk), before = balance(k);
      int rc = share_claim(k, asset, K[k].pk);
      if (rc == 0) {
        CHECK_U64(balance(k), before + want - FEE);
        paid_out += want;
      } else {
        CHECK_EQ(rc, AG_E_HOLDING_NOT_FOUND);
      }
    }
    const uint8_t *ids[2] = {model, ds};
    for (int i = 0; i < 2; i++) {
      ag_asset a = asset_of(ids[i]);
      uint8_t (*hs)[32];
      size_t n;
      CHECK_OK(ag_asset_holders(ag_app_state(app), NULL, ids[i], &hs, &n));
      uint64_t sum = 0, shares = 0;
      for (size_t j = 0; j < n; j++) {
        ag_holding h;
        CHECK_OK(ag_holding_load(ag_app_state(app), NULL, ids[i], hs[j], &h));
        sum += ag_holding_claimable(&a, &h);
        shares += h.shares;
      }
      free(hs);
      CHECK_U64(shares, a.supply);
      CHECK(a.balance >= sum);
      CHECK(a.balance - sum <= n + 1);
    }
  }
  CHECK(paid_out > 0 && asset_of(model).income > AG_UNIT);
  teardown();
}

/* The carried remainder matters when there are nearly 2^64 shares: with 2^63 + 1 of them, the
 * accumulator's floor drops up to half a unit of each income, and only the carry brings it back
 * on the next one. */
TEST(the_carry_keeps_every_unit_of_tiny_incomes) {
  setup();
  uint8_t model[32];
  memset(model, 0xa3, 32);
  CHECK_OK(reg(1, AG_ASSET_MODEL, model, 1, (1ULL << 63) + 1, NULL, NULL, 0));
  for (int i = 0; i < 24; i++) paid_claim(model, AG_UNIT / 1000); /* a royalty of 100 units each */
  ag_asset a = asset_of(model);
  CHECK_U64(a.income, 2400);
  CHECK(claimable(model, K[1].pk) >= 2399); /* without the carry: about 2388 */
  teardown();
}


/* ---- disputes ------------------------------------------------------------------------------------- */

/* Subnet 1 is an inference subnet pinning dmodel; HK[0] is a provider with an offer and a
 * 10 AGR bond, HK[1..4] validators with stake (and permits after the first epoch), K[1] a
 * client with a channel to HK[0]. */
static uint8_t dmodel[32], dchan[32];

static void setup_disputes_with(int committee, uint64_t slash, uint64_t dispute_bond) {
  char m[1024], owner[AG_ADDR_MAX];
  test_key(&K[0], 900);
  ag_addr_encode(K[0].pk, owner);
  snprintf(m, sizeof m,
           "{\"incentive\":{\"block_reward\":\"0\",\"burn_initial\":\"1000\",\"burn_min\":\"1000\","
           "\"burn_max\":\"1000\",\"subnets\":[{\"name\":\"a\",\"owner\":\"%s\",\"hyperparams\":"
           "{\"immunity_period\":100000,\"tempo\":3}},{\"name\":\"b\",\"owner\":\"%s\",\"hyperparams\":"
           "{\"immunity_period\":100000}}]},\"economy\":{\"dispute_window\":20,\"commit_blocks\":10,"
           "\"reveal_blocks\":10,\"unbond_delay\":100,\"committee_size\":%d,\"slash_amount\":\"%llu\","
           "\"dispute_bond\":\"%llu\"}}",
           owner, owner, committee, (unsigned long long)slash, (unsigned long long)dispute_bond);
  setup_with(m);
  for (int i = 0; i < NHK; i++) test_key(&HK[i], 3000 + i);
  register_hotkeys(0, 0, 5);
  for (int v = 1; v <= 4; v++) {
    ag_buf p;
    ag_buf_init(&p);
    ag_buf_put(&p, HK[v].pk, 32);
    ag_buf_put_u64le(&p, (uint64_t)v * 10 * AG_UNIT);
    CHECK_OK(run(0, AG_TX_STAKE_ADD, &p));
  }
  memset(dmodel, 0xd1, 32);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, AG_SUBNET_INFERENCE);
  ag_buf_put(&p, dmodel, 32);
  ag_buf_put_u64le(&p, 1000);
  CHECK_OK(run(0, AG_TX_SUBNET_SET_MODEL, &p));
  CHECK_OK(post(0, 0, dmodel, 100000, 300000, 10 * AG_UNIT));
  ag_channel_id(CHAIN, K[1].pk, nonce_of(1), dchan);
  ag_buf_init(&p);
  ag_payload_channel_open(&p, HK[0].pk, NULL, dmodel, 5 * AG_UNIT, 10, 0);
  CHECK_OK(run(1, AG_TX_CHANNEL_OPEN, &p));
  empty_blocks(4); /* an epoch: the validators get their permits */
}

static void setup_disputes_n(int committee) { setup_disputes_with(committee, 4 * AG_UNIT, AG_UNIT); }
static void setup_disputes(void) { setup_disputes_n(3); }

/* 1 AGR to each of hotkeys from..4 (the validators, and the provider when from is 0), which pay
 * their votes' fees. */
static void fund_hotkeys(int from) {
  for (int v = from; v <= 4; v++) {
    ag_buf p;
    ag_buf_init(&p);
    ag_transfer_encode(&p, HK[v].pk, AG_UNIT);
    CHECK_OK(run(2, AG_TX_TRANSFER, &p));
  }
}

/* Evidence of an answer the provider hk signed (request seq, the text given, its receipt: rlen
 * bytes, the receipt included when keep), dated height; signer signs it (hk itself unless
 * forging). */
static void evidence_r(ag_buf *out, int hk, int signer, uint64_t seq, uint64_t h, const char *text,
                       const uint8_t *receipt, size_t rlen, int keep) {
  ag_evidence e;
  memset(&e, 0, sizeof e);
  memcpy(e.hotkey, HK[hk].pk, 32);
  memcpy(e.pay.channel, dchan, 32);
  e.pay.seq = seq;
  e.pay.cumulative = AG_UNIT;
  e.pay.n_in = 10;
  e.pay.n_out = 20;
  e.pay.price_in = 100000;
  e.pay.price_out = 300000;
  e.pay.cost = 7000;
  e.pay.billed = 7000 * seq;
  e.pay.height = h;
  char body[100];
  snprintf(body, sizeof body, "{\"model\":\"default\",\"prompt\":\"question %llu\"}", (unsigned long long)seq);
  e.body = (const uint8_t *)body;
  e.body_len = (uint32_t)strlen(body);
  e.text = (const uint8_t *)text;
  e.text_len = (uint32_t)strlen(text);
  uint8_t reqh[32], msg[32];
  ag_answer_request_hash(e.body, e.body_len, reqh);
  ag_pay_receipt_message(e.hotkey, reqh, &e.pay, msg);
  ag_sign(&HK[signer], msg, 32, e.pay_sig);
  ag_answer_message(e.hotkey, reqh, e.text, e.text_len, e.commitment, receipt, rlen, msg);
  ag_sign(&HK[signer], msg, 32, e.answer_sig);
  ag_hash("agora/receipt", receipt, rlen, e.receipt_hash);
  if (keep) {
    e.receipt = receipt;
    e.receipt_len = (uint32_t)rlen;
  }
  ag_buf_init(out);
  ag_evidence_encode(out, &e);
}

static void evidence(ag_buf *out, int hk, int signer, uint64_t seq, uint64_t h, const char *text) {
  evidence_r(out, hk, signer, seq, h, text, (const uint8_t *)"receipt", 7, 1);
}

static int dispute_open(int k, uint16_t netuid, uint64_t bond, const ag_buf *ev, uint8_t id[32]) {
  ag_evidence e;
  CHECK_OK(ag_evidence_decode(ev->data, ev->len, &e));
  if (id) ag_dispute_id(&e, id);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_dispute_open(&p, netuid, bond, ev->data, ev->len);
  return run(k, AG_TX_DISPUTE_OPEN, &p);
}

static int hk_of(const uint8_t pk[32]) {
  for (int i = 0; i < NHK; i++)
    if (!memcmp(HK[i].pk, pk, 32)) return i;
  return -1;
}

/* The proof of work of a member who ran the model and found vote (the same for all who did);
 * a lazy member's (lazy) is its own guess. */
static void work_of(const uint8_t vote[32], int lazy, uint8_t work[32]) {
  uint8_t in[33];
  memcpy(in, vote, 32);
  in[32] = (uint8_t)lazy;
  ag_hash("test/work", in, sizeof in, work);
}

static int vote_tx_w(int hk, const uint8_t id[32], const uint8_t vote[32], int lazy, int reveal) {
  uint8_t salt[32], work[32];
  memset(salt, hk, 32);
  work_of(vote, lazy ? hk : 0, work);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, id, 32);
  if (reveal) {
    ag_buf_put(&p, vote, 32);
    ag_buf_put(&p, work, 32);
    ag_buf_put(&p, salt, 32);
  } else {
    uint8_t c[32];
    ag_dispute_commit_hash(id, HK[hk].pk, vote, work, salt, c);
    ag_buf_put(&p, c, 32);
  }
  ag_buf tx;
  ag_buf_init(&tx);
  ag_account a;
  ag_app_account(app, HK[hk].pk, &a);
  ag_tx_build(&tx, reveal ? AG_TX_DISPUTE_REVEAL : AG_TX_DISPUTE_COMMIT, CHAIN, &HK[hk], a.nonce, FEE, 0, p.data,
              (uint32_t)p.len);
  int code;
  block_of(&tx, 1, &code);
  ag_buf_free(&tx);
  ag_buf_free(&p);
  return code;
}

static int vote_tx(int hk, const uint8_t id[32], const uint8_t vote[32], int reveal) {
  return vote_tx_w(hk, id, vote, 0, reveal);
}

static ag_dispute dispute_of(const uint8_t id[32]) {
  ag_dispute d;
  CHECK_OK(ag_dispute_load(ag_app_state(app), NULL, id, &d));
  ag_dispute_free(&d);
  return d;
}


/* The case after the block that draws its committee (the block after the round's start). */
static ag_dispute drawn(const uint8_t id[32]) {
  ag_dispute d = dispute_of(id);
  CHECK_EQ(d.k, 0);
  CHECK_U64(height(), d.start);
  empty_blocks(1);
  return dispute_of(id);
}

/* Runs blocks until the case is resolved, through every round it takes. */
static ag_dispute settle(const uint8_t id[32]) {
  ag_dispute d = dispute_of(id);
  for (int i = 0; d.status == AG_DISPUTE_OPEN && i < 1000; i++) {
    empty_blocks(1);
    d = dispute_of(id);
  }
  CHECK(d.status != AG_DISPUTE_OPEN);
  return d;
}

static uint64_t hk_balance(int hk) {
  ag_account a;
  ag_app_account(app, HK[hk].pk, &a);
  return a.balance;
}

/* Every member commits and reveals the vote it is given (NULL: does not reveal); then the
 * blocks run to the end of the reveal phase. */
static void judge(const uint8_t id[32], const uint8_t *const *votes) {
  ag_dispute d = dispute_of(id);
  if (!d.k) d = drawn(id);
  for (int i = 0; i < d.k; i++) {
    int hk = hk_of(d.m[i].hotkey);
    CHECK(hk >= 1 && hk <= 4);
    if (votes[i]) CHECK_OK(vote_tx(hk, id, votes[i], 0));
  }
  while (height() < d.commit_end) empty_blocks(1);
  for (int i = 0; i < d.k; i++)
    if (votes[i]) CHECK_OK(vote_tx(hk_of(d.m[i].hotkey), id, votes[i], 1));
  while (height() < d.reveal_end) empty_blocks(1);
}

TEST(a_wrong_answer_is_disputed_and_its_provider_slashed) {
  setup_disputes();
  /* the validators pay their votes' fees from their hotkeys (and the provider would) */
  ag_buf p;
  fund_hotkeys(0);
  ag_buf ev;
  evidence(&ev, 0, 0, 1, height(), "a wrong answer");
  uint8_t id[32], right[32], claimed[32];
  ag_hash("agora/inftext", "the right answer", 16, right);
  ag_hash("agora/inftext", "a wrong answer", 14, claimed);
  /* bad disputes first: each its own code, nothing changes but the fee */
  uint64_t b3 = balance(3);
  CHECK_EQ(dispute_open(3, 1, AG_UNIT / 2, &ev, NULL), AG_E_DISPUTE_BOND);
  CHECK_EQ(dispute_open(3, 2, AG_UNIT, &ev, NULL), AG_E_DISPUTE_SUBNET);
  ag_buf forged;
  evidence(&forged, 0, 1, 1, height(), "a wrong answer");
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &forged, NULL), AG_E_DISPUTE_EVIDENCE);
  ag_buf_free(&forged);
  ag_buf old;
  evidence(&old, 0, 0, 1, 1, "a wrong answer");
  empty_blocks(20);
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &old, NULL), AG_E_DISPUTE_WINDOW);
  ag_buf_free(&old);
  CHECK_U64(balance(3), b3 - 4 * FEE);
  /* a real one */
  ag_buf_free(&ev);
  evidence(&ev, 0, 0, 1, height(), "a wrong answer");
  uint64_t c1 = balance(1), bonded = bond_of(0).bonded;
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  /* nobody votes before the committee is drawn, at the end of the next block */
  uint8_t early[32];
  memset(early, 1, 32);
  CHECK_EQ(vote_tx(1, id, early, 0), AG_E_DISPUTE_PHASE);
  CHECK_U64(height(), dispute_of(id).opened + 1);
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &ev, NULL), AG_E_DISPUTE_EXISTS);
  CHECK_U64(balance(3), b3 - 6 * FEE - AG_UNIT);
  ag_dispute d = dispute_of(id);
  CHECK_EQ(d.k, 3);
  CHECK_EQ(bond_of(0).disputes, 1);
  CHECK_U64(bond_of(0).held, 4 * AG_UNIT); /* the slash it may take, held */
  CHECK_U64(d.held, 4 * AG_UNIT);
  /* members in order of stake, the least last: it alone holds at most a third */
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (d.m[j].stake > d.m[i].stake) {
        ag_member t = d.m[i];
        d.m[i] = d.m[j];
        d.m[j] = t;
      }
  /* outsiders cannot vote; nobody reveals in the commit phase; the bond cannot leave */
  CHECK_EQ(vote_tx(0, id, right, 0), AG_E_DISPUTE_MEMBER);
  int m0 = hk_of(d.m[0].hotkey);
  CHECK_OK(vote_tx(m0, id, right, 0));
  CHECK_EQ(vote_tx(m0, id, right, 0), AG_E_DISPUTE_PHASE);
  CHECK_EQ(vote_tx(m0, id, right, 1), AG_E_DISPUTE_PHASE);
  ag_buf_init(&p);
  ag_payload_bond(&p, HK[0].pk, AG_UNIT);
  CHECK_EQ(run(0, AG_TX_BOND_UNBOND, &p), AG_E_BOND_HAS_OFFERS); /* 10 AGR back the offer */
  /* the rest commit; two vote the right answer, one (a copier) the provider's */
  int m1 = hk_of(d.m[1].hotkey), m2 = hk_of(d.m[2].hotkey);
  CHECK_OK(vote_tx(m1, id, right, 0));
  CHECK_OK(vote_tx(m2, id, claimed, 0));
  uint64_t commit_end = d.commit_end, reveal_end = d.reveal_end;
  while (height() < commit_end) empty_blocks(1);
  CHECK_EQ(vote_tx(m1, id, claimed, 1), AG_E_DISPUTE_REVEAL);
  uint64_t before[3] = {hk_balance(m0), hk_balance(m1), hk_balance(m2)};
  CHECK_OK(vote_tx(m0, id, right, 1));
  CHECK_OK(vote_tx(m1, id, right, 1));
  CHECK_OK(vote_tx(m2, id, claimed, 1));
  while (height() < reveal_end) empty_blocks(1);
  d = dispute_of(id);
  /* the two who revealed the right answer hold at least 2/3 of the committee's stake */
  {
    CHECK_EQ(d.status, AG_DISPUTE_FAULT);
    CHECK_U64(d.slashed, 4 * AG_UNIT);
    CHECK_U64(d.refund, 7000);
    CHECK_U64(d.reward, (4 * AG_UNIT - 7000) / 5);
    CHECK_U64(d.committee_paid, (4 * AG_UNIT - 7000) / 5 / 2 * 2);
    CHECK_U64(d.slashed, d.refund + d.reward + d.committee_paid + d.burned);
    CHECK_U64(balance(1), c1 + 7000);
    CHECK_U64(balance(3), b3 - 6 * FEE + d.reward); /* its bond back, and the reward */
    CHECK_U64(hk_balance(m0), before[0] - FEE + d.committee_paid / 2);
    CHECK_U64(hk_balance(m1), before[1] - FEE + d.committee_paid / 2);
    CHECK_U64(hk_balance(m2), before[2] - FEE);
    CHECK_U64(bond_of(0).bonded, bonded - 4 * AG_UNIT);
    CHECK_EQ(bond_of(0).faults, 1);
  }
  CHECK_EQ(bond_of(0).disputes, 0);
  CHECK_U64(bond_of(0).held, 0);
  CHECK(d.evidence_len == 0);
  /* resolved: no more votes */
  CHECK_EQ(vote_tx(m0, id, right, 1), AG_E_DISPUTE_PHASE);
  ag_buf_free(&ev);
  teardown();
}

TEST(a_false_dispute_loses_its_bond_and_silence_refunds_it) {
  setup_disputes();
  fund_hotkeys(1);
  /* the provider's answer is the model's: every member says so */
  ag_buf ev;
  evidence(&ev, 0, 0, 2, height(), "the right answer");
  uint8_t id[32], claimed[32];
  ag_hash("agora/inftext", "the right answer", 16, claimed);
  uint64_t b3 = balance(3), bonded = bond_of(0).bonded, burned0;
  ag_supply sup;
  ag_app_supply(app, &sup);
  burned0 = sup.burned;
  CHECK_OK(dispute_open(3, 1, 2 * AG_UNIT, &ev, id));
  const uint8_t *votes[AG_DISPUTE_MAX_COMMITTEE] = {claimed, claimed, claimed};
  judge(id, votes);
  ag_dispute d = dispute_of(id);
  CHECK_EQ(d.status, AG_DISPUTE_CLEARED);
  CHECK_U64(d.slashed, 0);
  CHECK_U64(d.committee_paid + d.burned, 2 * AG_UNIT);
  CHECK_U64(balance(3), b3 - FEE - 2 * AG_UNIT);
  CHECK_U64(bond_of(0).bonded, bonded);
  CHECK_EQ(bond_of(0).cleared, 1);
  ag_app_supply(app, &sup);
  CHECK(sup.burned >= burned0 + d.burned);
  ag_buf_free(&ev);
  /* a committee that never reveals decides nothing: the three silent members are left out of a
   * second round, whose one member (all that is left) is silent too; with nobody left to draw
   * the case ends undecided, and the bond comes back */
  evidence(&ev, 0, 0, 3, height(), "another answer");
  b3 = balance(3);
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  d = dispute_of(id);
  while (height() < d.reveal_end) empty_blocks(1);
  d = dispute_of(id);
  CHECK_EQ(d.status, AG_DISPUTE_OPEN);
  CHECK(d.round == 1 && d.nx == 3 && d.k == 0);
  d = drawn(id);
  CHECK_EQ(d.k, 1);
  d = settle(id);
  CHECK_EQ(d.status, AG_DISPUTE_UNDECIDED);
  CHECK_EQ(d.round, 1);
  CHECK_U64(balance(3), b3 - FEE);
  CHECK_EQ(bond_of(0).disputes, 0);
  ag_buf_free(&ev);
  teardown();
}

/* A case on the provider's answer text (request seq), opened by K[3] with a 1 AGR bond, after
 * the block that draws its committee. */
static ag_dispute open_drawn(uint64_t seq, const char *text, uint8_t id[32]) {
  ag_buf ev;
  evidence(&ev, 0, 0, seq, height(), text);
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  ag_buf_free(&ev);
  return drawn(id);
}

/* The start of the round tests: the dispute world, hotkeys funded, a case against the answer "a
 * wrong answer" at nonce seq, its first committee drawn (3 members). */
static ag_dispute open_case_of_three(uint64_t seq, uint8_t id[32]) {
  setup_disputes();
  fund_hotkeys(1);
  ag_dispute d = open_drawn(seq, "a wrong answer", id);
  CHECK_EQ(d.k, 3);
  return d;
}

/* A silent veto (docs/security.md "A silent committee member"): the provider bribes the member
 * that holds the most stake of its committee, more than a third of it, to stay silent, so the
 * others' votes fall short of 2/3 of the committee's stake. Under the old rule the case ended
 * undecided there, the provider keeping its bond. Now a second round is drawn, twice as large,
 * without the silent member, and it proves the fault. */
TEST(a_silent_member_cannot_veto_a_verdict) {
  uint8_t id[32], right[32];
  ag_hash("agora/inftext", "the right answer", 16, right);
  ag_dispute d = open_case_of_three(60, id);
  uint64_t c1 = balance(1), bonded = bond_of(0).bonded;
  int top = 0;
  unsigned __int128 total = 0;
  for (int i = 0; i < d.k; i++) {
    total += d.m[i].stake;
    if (d.m[i].stake > d.m[top].stake) top = i;
  }
  CHECK(3 * (unsigned __int128)d.m[top].stake > total); /* so in every committee of 3 of 10, 20, 30, 40 */
  int silent = hk_of(d.m[top].hotkey);
  const uint8_t *votes[AG_DISPUTE_MAX_COMMITTEE] = {0};
  for (int i = 0; i < d.k; i++)
    if (i != top) votes[i] = right;
  judge(id, votes);
  d = dispute_of(id);
  CHECK_EQ(d.status, AG_DISPUTE_OPEN);
  CHECK(d.round == 1 && d.nx == 1 && !memcmp(d.excluded[0].hotkey, HK[silent].pk, 32));
  CHECK(bond_of(0).disputes == 1 && bond_of(0).held == 4 * AG_UNIT); /* still held */
  /* round 1: up to 6 members, the three validators left */
  d = drawn(id);
  CHECK_EQ(d.k, 3);
  for (int i = 0; i < d.k; i++) CHECK(hk_of(d.m[i].hotkey) != silent);
  CHECK_EQ(vote_tx(silent, id, right, 0), AG_E_DISPUTE_MEMBER);
  uint64_t before[3];
  for (int i = 0; i < 3; i++) votes[i] = right, before[i] = hk_balance(hk_of(d.m[i].hotkey));
  judge(id, votes);
  d = dispute_of(id);
  CHECK_EQ(d.status, AG_DISPUTE_FAULT);
  CHECK_U64(d.slashed, 4 * AG_UNIT);
  CHECK_U64(balance(1), c1 + 7000);
  CHECK_U64(bond_of(0).bonded, bonded - 4 * AG_UNIT);
  CHECK(bond_of(0).disputes == 0 && bond_of(0).held == 0);
  /* the members of the deciding round are paid */
  CHECK_U64(d.committee_paid, (4 * AG_UNIT - 7000) / 5 / 3 * 3);
  for (int i = 0; i < 3; i++)
    CHECK_U64(hk_balance(hk_of(d.m[i].hotkey)), before[i] - 2 * FEE + d.committee_paid / 3);
  teardown();
}

/* The other side of excluding the silent (docs/security.md "A silent committee member"): the
 * provider bribes the smallest member of the committee and silences the rest (an attack on
 * their nodes, say). Rounds exclude the silent ones until the bribed member is all that is
 * left, a committee of one; but a verdict must also carry more stake than every excluded
 * member had, so it decides nothing: the case ends undecided, the bond back, nobody paid. */
TEST(silencing_the_others_does_not_let_one_member_decide) {
  uint8_t id[32], claimed[32];
  ag_hash("agora/inftext", "a wrong answer", 14, claimed);
  ag_dispute d = open_case_of_three(61, id);
  uint64_t b3 = balance(3), bonded = bond_of(0).bonded;
  int low = 0;
  for (int i = 1; i < d.k; i++)
    if (d.m[i].stake < d.m[low].stake) low = i;
  int bribed = hk_of(d.m[low].hotkey);
  uint64_t before = hk_balance(bribed);
  int rounds = 0, alone = 0;
  while (d.status == AG_DISPUTE_OPEN) {
    if (!d.k) d = drawn(id);
    const uint8_t *votes[AG_DISPUTE_MAX_COMMITTEE] = {0};
    for (int i = 0; i < d.k; i++)
      if (hk_of(d.m[i].hotkey) == bribed) votes[i] = claimed;
    alone |= d.k == 1 && votes[0];
    judge(id, votes);
    rounds++;
    d = dispute_of(id);
  }
  CHECK(alone); /* the last round's committee was the bribed member alone */
  CHECK_EQ(rounds, AG_DISPUTE_ROUNDS);
  CHECK_EQ(d.status, AG_DISPUTE_UNDECIDED);
  CHECK_U64(balance(3), b3 + AG_UNIT); /* the challenger's bond back (b3 was read after the open) */
  CHECK_U64(bond_of(0).bonded, bonded);
  CHECK_EQ(bond_of(0).cleared, 0);
  CHECK_U64(hk_balance(bribed), before - AG_DISPUTE_ROUNDS * 2 * FEE);
  teardown();
}

/* A case recorded before rounds existed (record version 3, as the binaries before 2026-12-06
 * wrote it) reads as round 0 from its opening with nothing excluded, and goes on under the new
 * rules: a node upgraded with such a case open neither halts on the record nor loses it. */
TEST(a_case_recorded_before_rounds_reads_and_goes_on) {
  setup_disputes();
  fund_hotkeys(1);
  uint8_t id[32], key[34] = {'e', AG_EKEY_DISPUTE};
  ag_dispute d = open_drawn(62, "an answer", id);
  memcpy(key + 2, id, 32);
  ag_state *st = ag_app_state(app);
  ag_buf b, v3;
  ag_buf_init(&b);
  ag_buf_init(&v3);
  CHECK_OK(ag_state_get_buf(st, key, sizeof key, &b));
  size_t members = 145 * (size_t)d.k;
  CHECK(b.len > 327 + members && b.data[0] == 4 && b.data[325] == d.k && b.data[326 + members] == 0);
  /* version 3: no round and start (bytes 316..324), no excluded list (the byte after the members) */
  ag_buf_put(&v3, b.data, 316);
  v3.data[0] = 3;
  ag_buf_put(&v3, b.data + 325, 1 + members);
  ag_buf_put(&v3, b.data + 327 + members, b.len - 327 - members);
  CHECK_OK(ag_state_put(st, key, sizeof key, v3.data, v3.len));
  ag_dispute old = dispute_of(id);
  CHECK(old.round == 0 && old.start == d.opened && old.nx == 0 && old.k == d.k && old.reveal_end == d.reveal_end);
  CHECK(!memcmp(old.m, d.m, sizeof d.m[0] * d.k) && old.evidence_len == d.evidence_len);
  CHECK_U64(old.bond, AG_UNIT);
  /* nobody votes: at its reveal end the case goes to round 1, written as version 4 */
  while (height() < d.reveal_end) empty_blocks(1);
  ag_dispute r = dispute_of(id);
  CHECK(r.status == AG_DISPUTE_OPEN && r.round == 1 && r.nx == d.k && r.start == d.reveal_end);
  CHECK_OK(ag_state_get_buf(st, key, sizeof key, &b));
  CHECK_EQ(b.data[0], 4);
  CHECK(settle(id).status == AG_DISPUTE_UNDECIDED);
  ag_buf_free(&b);
  ag_buf_free(&v3);
  teardown();
}

/* What a member owes a case, as a validator reads it from the API, at the current height. */
static int duty_of(const uint8_t id[32], int hk, const uint8_t model[32]) {
  ag_dispute d;
  CHECK_OK(ag_dispute_load(ag_app_state(app), NULL, id, &d));
  json_t *o = ag_json_dispute(&d, height(), 0);
  char addr[AG_ADDR_MAX];
  ag_addr_encode(HK[hk].pk, addr);
  int duty = ag_dispute_duty(o, addr, 1, model);
  json_decref(o);
  ag_dispute_free(&d);
  return duty;
}

/* The verifier's dilemma (docs/security.md "Lazy or copying committee members"): most disputed
 * answers are right, so a member could vote the provider's claimed hash, public in the case,
 * without running the model, and be paid with the verdict. A vote is revealed with a proof of
 * the work (a hash of every logit of every position of the answer, which no receipt
 * holds), and only members whose proof matches the one the verdict's voters agree on are
 * paid: here two ran the model, the third copied the claimed hash. */
TEST(a_lazy_member_who_copies_the_verdict_is_not_paid) {
  setup_disputes();
  fund_hotkeys(1);
  ag_buf ev;
  evidence(&ev, 0, 0, 40, height(), "the right answer");
  uint8_t id[32], claimed[32];
  ag_hash("agora/inftext", "the right answer", 16, claimed);
  CHECK_OK(dispute_open(3, 1, 3 * AG_UNIT, &ev, id));
  ag_dispute d = drawn(id);
  CHECK_EQ(d.k, 3);
  /* the lazy one (m[2]) holds the most stake: stake alone does not make its work the one */
  int m[3], top = 0;
  uint64_t before[3];
  for (int i = 1; i < 3; i++)
    if (d.m[i].stake > d.m[top].stake) top = i;
  for (int i = 0, j = 0; i < 3; i++)
    if (i != top) m[j++] = hk_of(d.m[i].hotkey);
  m[2] = hk_of(d.m[top].hotkey);
  for (int i = 0; i < 3; i++) CHECK_OK(vote_tx_w(m[i], id, claimed, i == 2, 0));
  while (height() < d.commit_end) empty_blocks(1);
  for (int i = 0; i < 3; i++) {
    before[i] = hk_balance(m[i]);
    CHECK_OK(vote_tx_w(m[i], id, claimed, i == 2, 1));
  }
  while (height() < d.reveal_end) empty_blocks(1);
  d = dispute_of(id);
  CHECK_EQ(d.status, AG_DISPUTE_CLEARED);
  /* the challenger's 3 AGR bond goes in halves to the two who ran the model */
  CHECK_U64(d.committee_paid, 3 * AG_UNIT / 2 * 2);
  CHECK_U64(d.committee_paid + d.burned, 3 * AG_UNIT);
  CHECK_U64(hk_balance(m[0]), before[0] - FEE + 3 * AG_UNIT / 2);
  CHECK_U64(hk_balance(m[1]), before[1] - FEE + 3 * AG_UNIT / 2);
  CHECK_U64(hk_balance(m[2]), before[2] - FEE);
  CHECK_U64(d.m[top].paid, 0);
  ag_buf_free(&ev);
  teardown();
}

TEST(a_member_is_told_what_the_next_block_accepts) {
  setup_disputes();
  fund_hotkeys(1);
  ag_buf ev;
  evidence(&ev, 0, 0, 4, height(), "an answer");
  uint8_t id[32], vote[32], other[32];
  memset(vote, 7, 32);
  memset(other, 0xd2, 32);
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  for (int hk = 0; hk <= 4; hk++) CHECK_EQ(duty_of(id, hk, dmodel), AG_DUTY_NONE); /* drawn next block */
  ag_dispute d = drawn(id);
  CHECK(d.k >= 2);
  CHECK(!memcmp(d.model, dmodel, 32));
  int a = hk_of(d.m[0].hotkey), b = hk_of(d.m[1].hotkey);
  /* a subnet that pins another model now abstains: with it an honest answer looks wrong */
  CHECK_EQ(duty_of(id, a, other), AG_DUTY_ABSTAIN);
  CHECK_EQ(duty_of(id, 0, dmodel), AG_DUTY_NONE); /* not a member */
  /* the last block a commit lands in is commit_end: told to commit one block before it */
  while (height() + 1 < d.commit_end) {
    CHECK_EQ(duty_of(id, a, dmodel), AG_DUTY_COMMIT);
    empty_blocks(1);
  }
  CHECK_EQ(duty_of(id, a, dmodel), AG_DUTY_COMMIT);
  CHECK_OK(vote_tx(a, id, vote, 0));
  CHECK_U64(height(), d.commit_end);
  /* now a commit would be refused and a reveal lands: b is told nothing, a to reveal */
  CHECK_EQ(duty_of(id, b, dmodel), AG_DUTY_NONE);
  CHECK_EQ(vote_tx(b, id, vote, 0), AG_E_DISPUTE_PHASE);
  CHECK_EQ(duty_of(id, a, dmodel), AG_DUTY_REVEAL);
  while (height() + 1 < d.reveal_end) empty_blocks(1);
  CHECK_EQ(duty_of(id, a, dmodel), AG_DUTY_REVEAL);
  CHECK_OK(vote_tx(a, id, vote, 1));
  CHECK_EQ(duty_of(id, a, dmodel), AG_DUTY_NONE);
  /* a alone is short of 2/3: at the end of reveal_end's block a second round starts, without
   * the members who did not reveal, and nobody has a duty until its committee is drawn */
  ag_dispute r = dispute_of(id);
  CHECK(r.status == AG_DISPUTE_OPEN && r.round == 1 && r.k == 0 && r.nx == d.k - 1 && r.start == d.reveal_end);
  for (int hk = 0; hk <= 4; hk++) CHECK_EQ(duty_of(id, hk, dmodel), AG_DUTY_NONE);
  CHECK_EQ(vote_tx(a, id, vote, 0), AG_E_DISPUTE_PHASE); /* in the block that draws it */
  r = dispute_of(id);
  CHECK(r.k >= 1);
  for (int i = 0; i < r.k; i++) CHECK_EQ(duty_of(id, hk_of(r.m[i].hotkey), dmodel), AG_DUTY_COMMIT);
  ag_buf_free(&ev);
  teardown();
}

/* The one-member committee that BLAKE2b-256("agora/committee", seed | id | 0) draws from subnet
 * 1's permitted, staked validators (the provider HK0 aside), walked in UID order. */
static int draw_of_one(const uint8_t *seed, size_t len, const uint8_t id[32]) {
  ag_ist s = {ag_app_state(app), NULL};
  ag_subnet sn;
  CHECK_OK(ag_subnet_load(&s, 1, &sn));
  int hk[8], n = 0;
  uint64_t stake[8];
  unsigned __int128 total = 0;
  for (uint16_t uid = 0; uid < sn.n && n < 8; uid++) {
    ag_neuron ne;
    ag_hotkey_info hi;
    if (ag_neuron_load(&s, 1, uid, &ne) || !ne.permit || hk_of(ne.hotkey) == 0) continue;
    if (ag_hotkey_load(&s, ne.hotkey, &hi) || !hi.total_stake) continue;
    hk[n] = hk_of(ne.hotkey);
    stake[n++] = hi.total_stake;
    total += hi.total_stake;
  }
  uint8_t in[80], h[32];
  memcpy(in, seed, len);
  memcpy(in + len, id, 32);
  ag_put_u64le(in + len + 32, 0);
  ag_hash("agora/committee", in, len + 40, h);
  unsigned __int128 r = (((unsigned __int128)ag_get_u64le(h) << 64) | ag_get_u64le(h + 8)) % total;
  int i = 0;
  while (r >= stake[i]) r -= stake[i++];
  return hk[i];
}

/* Grinding the committee (docs/security.md): a challenger who controls one validator (HK1, a
 * tenth of the stake) waits, block by block, until the committee its case would get from
 * everything it can see when it signs (the last committed app hash) is that validator, and
 * opens then, four times. Drawn from that state, it would get its own judge every time. Drawn
 * from the app hash of the open's block and the time of the next, it gets what they give. */
TEST(a_challenger_cannot_choose_its_committee) {
  setup_disputes_n(1);
  int own = 0;
  for (uint64_t seq = 10; seq < 14; seq++) {
    ag_buf ev;
    uint8_t id[32];
    ag_app_info info;
    int waited = 0;
    for (;;) {
      evidence(&ev, 0, 0, seq, height(), "an answer");
      ag_app_info_get(app, &info);
      ag_evidence e;
      CHECK_OK(ag_evidence_decode(ev.data, ev.len, &e));
      ag_dispute_id(&e, id);
      if (draw_of_one(info.app_hash, 32, id) == 1) break;
      ag_buf_free(&ev);
      empty_blocks(1);
      CHECK(++waited < 200);
    }
    CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
    ag_buf_free(&ev);
    ag_app_info_get(app, &info); /* the open's block */
    ag_dispute d = drawn(id);
    ag_app_info next;
    ag_app_info_get(app, &next);
    uint8_t seed[40];
    memcpy(seed, info.app_hash, 32);
    ag_put_u64le(seed + 32, next.time_ms);
    CHECK_EQ(d.k, 1);
    CHECK_EQ(hk_of(d.m[0].hotkey), draw_of_one(seed, 40, id));
    own += hk_of(d.m[0].hotkey) == 1;
    CHECK_EQ(settle(id).status, AG_DISPUTE_UNDECIDED); /* nobody votes: undecided, the bond back */
  }
  CHECK(own < 4);
  teardown();
}

/* An early-dated receipt (docs/security.md): a provider dates its payment receipt 100 blocks
 * ahead (clients accept that much skew), hoping that the client's immediate dispute is refused
 * and never tried again. The window opens at the receipt's height, so the dispute opens at
 * once, and the window still closes dispute_window blocks after that height. */
TEST(a_receipt_dated_ahead_is_disputed_at_once) {
  setup_disputes();
  ag_buf ev;
  evidence(&ev, 0, 0, 50, height() + 100, "a wrong answer");
  uint8_t id[32];
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  CHECK_EQ(dispute_of(id).status, AG_DISPUTE_OPEN);
  ag_buf_free(&ev);
  /* and the window's end is counted from the receipt's height */
  uint64_t at = height() + 30;
  evidence(&ev, 0, 0, 51, at, "a wrong answer");
  while (height() < at + 20 - 1) empty_blocks(1);
  ag_buf late;
  evidence(&late, 0, 0, 52, at, "a wrong answer");
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, NULL)); /* lands at at + 20: the last block */
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &late, NULL), AG_E_DISPUTE_WINDOW);
  ag_buf_free(&ev);
  ag_buf_free(&late);
  teardown();
}

/* A bond that flees a dispute (docs/security.md): the provider unbonds everything, then
 * unbonds again (which restarts the wait for all of it), answers wrongly just before the wait
 * ends and is disputed; the withdrawal is refused while the case is open, the fault is slashed
 * from the unbonding AGR, and only the rest comes back. */
TEST(a_bond_cannot_flee_a_dispute) {
  setup_disputes();
  ag_buf p;
  fund_hotkeys(0);
  CHECK_EQ(unbond(0, 0, 7 * AG_UNIT, AG_TX_BOND_UNBOND), AG_E_BOND_HAS_OFFERS); /* the offer needs 1 */
  ag_buf_init(&p);
  ag_payload_offer_remove(&p, HK[0].pk, dmodel);
  CHECK_OK(run(0, AG_TX_OFFER_REMOVE, &p));
  CHECK_OK(unbond(0, 0, 6 * AG_UNIT, AG_TX_BOND_UNBOND));
  uint64_t first_at = bond_of(0).unbond_at;
  empty_blocks(10);
  CHECK_OK(unbond(0, 0, 4 * AG_UNIT, AG_TX_BOND_UNBOND));
  ag_bond b = bond_of(0);
  CHECK(b.bonded == 0 && b.unbonding == 10 * AG_UNIT && b.unbond_at == height() + 100);
  while (height() < first_at) empty_blocks(1);
  CHECK_EQ(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW), AG_E_BOND_LOCKED); /* the wait restarted for all */
  /* a wrong answer five blocks before the wait ends, disputed at once */
  while (height() + 5 < b.unbond_at) empty_blocks(1);
  ag_buf ev;
  evidence(&ev, 0, 0, 5, height(), "a wrong answer");
  uint8_t id[32], right[32], claimed[32];
  ag_hash("agora/inftext", "the right answer", 16, right);
  ag_hash("agora/inftext", "a wrong answer", 14, claimed);
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  CHECK_U64(bond_of(0).held, 4 * AG_UNIT);
  while (height() + 1 < b.unbond_at) empty_blocks(1);
  CHECK_EQ(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW), AG_E_BOND_DISPUTED);
  CHECK(dispute_of(id).status == AG_DISPUTE_OPEN);
  CHECK_U64(bond_of(0).unbonding, 10 * AG_UNIT);
  const uint8_t *votes[AG_DISPUTE_MAX_COMMITTEE] = {right, right, right};
  judge(id, votes);
  CHECK_EQ(dispute_of(id).status, AG_DISPUTE_FAULT);
  CHECK_U64(dispute_of(id).slashed, 4 * AG_UNIT);
  b = bond_of(0);
  CHECK(b.bonded == 0 && b.unbonding == 6 * AG_UNIT && b.held == 0 && b.disputes == 0);
  uint64_t before = balance(0);
  CHECK_OK(unbond(0, 0, 0, AG_TX_BOND_WITHDRAW));
  CHECK_U64(balance(0), before + 6 * AG_UNIT - FEE);
  ag_buf_free(&ev);
  teardown();
}

/* Each open dispute holds its slash, so a bond answers for as many faults as it covers: 10 AGR
 * with a 4 AGR slash hold 4, 4 and 2, and a fourth dispute is refused until one ends. */
TEST(a_bond_answers_for_as_many_faults_as_it_covers) {
  setup_disputes();
  uint8_t id[32], last[32];
  uint64_t held[] = {4 * AG_UNIT, 4 * AG_UNIT, 2 * AG_UNIT};
  for (int i = 0; i < 3; i++) {
    ag_buf ev;
    evidence(&ev, 0, 0, 20 + (uint64_t)i, height(), "an answer");
    CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
    CHECK_U64(dispute_of(id).held, held[i]);
    ag_buf_free(&ev);
    if (i == 0) memcpy(last, id, 32);
  }
  CHECK_U64(bond_of(0).held, 10 * AG_UNIT);
  CHECK_EQ(bond_of(0).disputes, 3);
  ag_buf ev;
  evidence(&ev, 0, 0, 23, height(), "an answer");
  uint64_t b3 = balance(3);
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &ev, NULL), AG_E_BOND_INSUFFICIENT);
  CHECK_U64(balance(3), b3 - FEE); /* the bond stays with the challenger */
  /* the first case ends undecided (nobody votes) and frees what it held */
  while (height() < dispute_of(last).reveal_end) empty_blocks(1);
  CHECK_U64(bond_of(0).held, 6 * AG_UNIT);
  ag_buf_free(&ev);
  evidence(&ev, 0, 0, 23, height(), "an answer");
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &ev, id));
  CHECK_U64(dispute_of(id).held, 4 * AG_UNIT);
  ag_buf_free(&ev);
  teardown();
}

/* The open list is bounded (docs/security.md "State growth"): with a slash of one unit a bond
 * could hold millions of cases, but 1,024 are open at most; the next is refused with
 * disputes_full and changes nothing but the fee, until cases end. */
TEST(at_most_1024_disputes_are_open_at_once) {
  setup_disputes_with(1, 1, 1000);
  uint64_t seq = 100, nonce = nonce_of(3);
  while (seq < 100 + AG_DISPUTE_MAX_OPEN) {
    ag_buf txs[64];
    int codes[64], n = 0;
    for (; n < 64 && seq < 100 + AG_DISPUTE_MAX_OPEN; n++, seq++) {
      ag_buf ev, p;
      evidence(&ev, 0, 0, seq, height(), "an answer");
      ag_buf_init(&p);
      ag_payload_dispute_open(&p, 1, 1000, ev.data, ev.len);
      build(&txs[n], 3, nonce++, AG_TX_DISPUTE_OPEN, &p);
      ag_buf_free(&p);
      ag_buf_free(&ev);
    }
    block_of(txs, (size_t)n, codes);
    for (int i = 0; i < n; i++) {
      CHECK_OK(codes[i]);
      ag_buf_free(&txs[i]);
    }
  }
  uint8_t(*ids)[32];
  size_t n;
  CHECK_OK(ag_disputes_open(ag_app_state(app), NULL, &ids, &n));
  CHECK_EQ((int)n, AG_DISPUTE_MAX_OPEN);
  uint8_t first[32];
  memcpy(first, ids[0], 32);
  free(ids);
  ag_buf ev;
  evidence(&ev, 0, 0, seq, height(), "an answer");
  uint64_t b3 = balance(3), held = bond_of(0).held;
  CHECK_EQ(dispute_open(3, 1, 1000, &ev, NULL), AG_E_DISPUTES_FULL);
  CHECK_U64(balance(3), b3 - FEE);
  CHECK_U64(bond_of(0).held, held);
  /* once the first block's cases end, there is room again */
  while (height() < dispute_of(first).reveal_end) empty_blocks(1);
  ag_buf_free(&ev);
  evidence(&ev, 0, 0, seq, height(), "an answer");
  CHECK_OK(dispute_open(3, 1, 1000, &ev, NULL));
  ag_buf_free(&ev);
  teardown();
}

/* A client's check of a payment receipt (ag_pay_client_check), field by field: each wrong
 * field is refused with payment_receipt_invalid. The receipt's height starts its dispute
 * window, so one dated more than AG_PAY_HEIGHT_SLACK blocks from the chain's height as the
 * client read it (500) is refused either way: a provider cannot shorten the window it can be
 * disputed in by more than that. */
/* A provider's 402 tells a client what its book holds. A lying provider said seq 2^64 - 1, and
 * the client's next voucher, seq + 1, wrapped to 0: its channel to that provider was stuck.
 * And billed beyond what the client signed would let the provider charge for nothing. */
TEST(a_providers_402_moves_the_client_only_within_what_it_signed) {
  ag_pay_client c;
  memset(&c, 0, sizeof c);
  c.billed = 500, c.signed_max = 2000, c.seq = 7;
  CHECK_EQ(ag_pay_client_catch_up(&c, 400, 7), 0); /* behind: nothing moves */
  CHECK_EQ(ag_pay_client_catch_up(&c, 2001, 0), 0); /* more than the client ever signed */
  CHECK_U64(c.billed, 500);
  CHECK_EQ(ag_pay_client_catch_up(&c, UINT64_MAX, UINT64_MAX), 0);
  CHECK_EQ(ag_pay_client_catch_up(&c, 0, 7 + AG_PAY_SEQ_CATCHUP + 1), 0);
  CHECK_U64(c.seq, 7);
  CHECK_EQ(ag_pay_client_catch_up(&c, 1500, 9), 1); /* a client restored from an older copy */
  CHECK_U64(c.billed, 1500);
  CHECK_U64(c.seq, 9);
  CHECK_EQ(ag_pay_client_catch_up(&c, 0, 9 + AG_PAY_SEQ_CATCHUP), 1);
  CHECK_U64(c.seq, 9 + AG_PAY_SEQ_CATCHUP);
}

TEST(a_client_checks_every_field_of_a_payment_receipt) {
  test_key(&HK[0], 3000);
  test_key(&HK[1], 3001);
  ag_pay_client c;
  memset(&c, 0, sizeof c);
  memset(c.channel, 0xc1, 32);
  c.billed = 9000;
  ag_offer o;
  memset(&o, 0, sizeof o);
  o.price_in = 100000;
  o.price_out = 300000;
  o.max_tokens = 512;
  uint8_t reqh[32];
  memset(reqh, 0x5e, 32);
  uint64_t cost;
  CHECK_OK(ag_offer_cost(&o, 10, 20, &cost));
  ag_pay_receipt good = {.seq = 3, .cumulative = 50000, .n_in = 10, .n_out = 20, .price_in = 100000,
                         .price_out = 300000, .cost = cost, .billed = 9000 + cost, .height = 500};
  memcpy(good.channel, c.channel, 32);
  enum { OK_, HEIGHT_LOW, HEIGHT_EDGE_LOW, HEIGHT_HIGH, HEIGHT_EDGE_HIGH, SEQ, CHANNEL, SIGNER, TOKENS, PRICE,
         COST, BILLED, OVER_VOUCHER, N_CASES };
  for (int k = 0; k < N_CASES; k++) {
    ag_pay_receipt r = good;
    int signer = 0;
    switch (k) {
    case HEIGHT_LOW: r.height = 500 - AG_PAY_HEIGHT_SLACK - 1; break;
    case HEIGHT_EDGE_LOW: r.height = 500 - AG_PAY_HEIGHT_SLACK; break;
    case HEIGHT_HIGH: r.height = 500 + AG_PAY_HEIGHT_SLACK + 1; break;
    case HEIGHT_EDGE_HIGH: r.height = 500 + AG_PAY_HEIGHT_SLACK; break;
    case SEQ: r.seq = 2; break;
    case CHANNEL: r.channel[0] ^= 1; break;
    case SIGNER: signer = 1; break;
    case TOKENS: r.n_out = 19; break;
    case PRICE: r.price_out = 200000; break;
    case COST: r.cost = cost + 1, r.billed = 9000 + cost + 1; break;
    case BILLED: r.billed = cost; break;
    case OVER_VOUCHER: c.billed = 50000, r.billed = 50000 + cost; break;
    }
    uint8_t msg[32], sig[64];
    ag_pay_receipt_message(HK[0].pk, reqh, &r, msg);
    ag_sign(&HK[signer], msg, 32, sig);
    json_t *j = ag_pay_receipt_json(&r, sig);
    ag_pay_receipt out;
    int rc = ag_pay_client_check(&c, &o, HK[0].pk, reqh, 3, 50000, 10, 20, 500, j, &out);
    json_decref(j);
    c.billed = 9000;
    if (k == OK_ || k == HEIGHT_EDGE_LOW || k == HEIGHT_EDGE_HIGH) {
      CHECK_OK(rc);
      CHECK_U64(out.height, r.height);
    } else {
      CHECK_EQ(rc, AG_E_PAY_RECEIPT);
    }
  }
}

/* A long answer (docs/security.md "Evidence too large to dispute"): its receipt carries about
 * 68 bytes per output token, so 1,000 tokens of it make evidence larger than a tx may be
 * (max_tx_bytes, 64 KiB). The same answer's evidence without the receipt (its hash in its
 * place, which the provider's signature covers) is small and opens the same case; a wrong
 * hash in its place is refused as evidence the provider did not sign. */
TEST(a_long_answer_is_disputed_without_its_receipt) {
  setup_disputes();
  size_t rlen = 1000 * 68;
  uint8_t *receipt = ag_xmalloc(rlen);
  for (size_t i = 0; i < rlen; i++) receipt[i] = (uint8_t)(i * 7);
  ag_buf full, lean, forged;
  evidence_r(&full, 0, 0, 30, height(), "a long wrong answer", receipt, rlen, 1);
  evidence_r(&lean, 0, 0, 30, height(), "a long wrong answer", receipt, rlen, 0);
  receipt[0] ^= 1;
  evidence_r(&forged, 0, 0, 31, height(), "a long wrong answer", receipt, rlen, 0);
  free(receipt);
  CHECK(full.len > 64 * 1024 && lean.len < 1024);
  /* the lean form decodes to the same case and the receipt's hash */
  ag_evidence a, b;
  CHECK_OK(ag_evidence_decode(full.data, full.len, &a));
  CHECK_OK(ag_evidence_decode(lean.data, lean.len, &b));
  CHECK(b.receipt == NULL && b.receipt_len == 0 && !memcmp(a.receipt_hash, b.receipt_hash, 32));
  uint8_t ida[32], idb[32];
  ag_dispute_id(&a, ida);
  ag_dispute_id(&b, idb);
  CHECK_MEM(ida, idb, 32);
  CHECK_OK(ag_evidence_verify(&b));
  /* a hash cut short is malformed */
  CHECK_EQ(ag_evidence_decode(lean.data, lean.len - 1, &b), AG_E_DISPUTE_EVIDENCE);
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &full, NULL), AG_E_TX_TOO_LARGE);
  /* the provider signed over the true receipt's hash, not this one: a forged receipt is
   * refused (the forged evidence above was signed over a changed receipt, then its hash
   * swapped for the true one's) */
  memcpy(forged.data + forged.len - 32, a.receipt_hash, 32);
  CHECK_EQ(dispute_open(3, 1, AG_UNIT, &forged, NULL), AG_E_DISPUTE_EVIDENCE);
  uint8_t id[32];
  CHECK_OK(dispute_open(3, 1, AG_UNIT, &lean, id));
  CHECK_MEM(id, ida, 32);
  CHECK_EQ(dispute_of(id).status, AG_DISPUTE_OPEN);
  ag_buf_free(&full);
  ag_buf_free(&lean);
  ag_buf_free(&forged);
  teardown();
}

/* The provider's book (ag_paybook): a channel enters it only with a voucher it admits, so
 * vouchers that fail (here: signed by another key) for channels opened to the provider cannot
 * grow it; each bill commits that channel's record alone (LMDB), and a book reopened has every
 * channel's billed total, sequence and voucher; dropped channels are gone from memory and disk
 * and the rest are still found; a book of the earlier JSON format is taken in once. (Before, a failing voucher added its channel, and every bill rewrote the whole book:
 * with many channels opened to a miner, each paid request wrote them all.) */
TEST(the_providers_book_takes_only_admitted_channels_and_keeps_each) {
  test_key(&HK[0], 3100); /* the client */
  test_key(&HK[1], 3101); /* someone else */
  char dir[600], path[700], legacy[700];
  snprintf(dir, sizeof dir, "%s/paybook-test", AGORA_BUILD_DIR);
  CHECK_OK(ag_mkdirs(dir, 0700));
  snprintf(path, sizeof path, "%s/book.mdb", dir);
  snprintf(legacy, sizeof legacy, "%s/book.json", dir);
  unlink(path);
  char lock[720];
  snprintf(lock, sizeof lock, "%s-lock", path);
  unlink(lock);
  ag_paybook b;
  CHECK_OK(ag_paybook_open(&b, path, NULL));
  enum { N = 600 };
  ag_channel ch;
  memset(&ch, 0, sizeof ch);
  memcpy(ch.signer, HK[0].pk, 32);
  ch.deposit = 1000000;
  ch.status = AG_CHANNEL_OPEN;
  uint64_t billed;
  for (int i = 0; i < 2 * N; i++) {
    ag_put_u64le(ch.id, (uint64_t)i);
    ch.id[31] = 0xb0;
    ag_buf raw;
    ag_buf_init(&raw);
    int good = i < N; /* the second half is signed by another key */
    ag_voucher_sign(&raw, CHAIN, ch.id, 1000 + (uint64_t)i, 1, &HK[good ? 0 : 1]);
    ag_voucher v;
    CHECK_OK(ag_voucher_decode(raw.data, raw.len, &v));
    uint64_t need = 0;
    int rc = ag_paybook_admit(&b, CHAIN, &ch, &v, raw.data, raw.len, 10, 500, &need);
    ag_buf_free(&raw);
    if (!good) {
      CHECK_EQ(rc, AG_E_VOUCHER_SIGNATURE);
      continue;
    }
    CHECK_OK(rc);
    CHECK_OK(ag_paybook_bill(&b, ch.id, 500, 100 + (uint64_t)i % 300, &billed));
    CHECK_U64(billed, 100 + (uint64_t)i % 300);
  }
  CHECK_EQ(b.n, N);
  for (int i = N; i < 2 * N; i++) {
    ag_put_u64le(ch.id, (uint64_t)i);
    CHECK(ag_paybook_find(&b, ch.id) == NULL);
  }
  ag_paybook_close(&b);
  /* reopened: every channel as billed */
  CHECK_OK(ag_paybook_open(&b, path, NULL));
  CHECK_EQ(b.n, N);
  for (int i = 0; i < N; i++) {
    ag_put_u64le(ch.id, (uint64_t)i);
    ag_pay_entry *e = ag_paybook_find(&b, ch.id);
    CHECK(e != NULL);
    CHECK_U64(e->billed, 100 + (uint64_t)i % 300);
    CHECK_U64(e->seq, 1);
    ag_voucher v;
    CHECK_OK(ag_voucher_decode(e->voucher, e->voucher_len, &v));
    CHECK_U64(v.cumulative, 1000 + (uint64_t)i);
  }
  /* channels the chain closed are dropped, on disk too; the rest are still found */
  for (int i = 0; i < N; i += 3) {
    ag_put_u64le(ch.id, (uint64_t)i);
    CHECK_OK(ag_paybook_drop(&b, ch.id));
    CHECK_EQ(ag_paybook_drop(&b, ch.id), AG_E_NOTFOUND);
  }
  for (int pass = 0; pass < 2; pass++) {
    CHECK_EQ(b.n, N - N / 3);
    for (int i = 0; i < N; i++) {
      ag_put_u64le(ch.id, (uint64_t)i);
      ag_pay_entry *e = ag_paybook_find(&b, ch.id);
      CHECK((e == NULL) == (i % 3 == 0));
      if (e) CHECK_U64(e->billed, 100 + (uint64_t)i % 300);
    }
    ag_paybook_close(&b);
    CHECK_OK(ag_paybook_open(&b, path, NULL));
  }
  ag_paybook_close(&b);
  /* a book of the JSON format: taken in, then renamed */
  ag_put_u64le(ch.id, 9);
  char hex[65], js[400];
  ag_hex_encode(ch.id, 32, hex);
  snprintf(js, sizeof js, "{\"channels\": [{\"channel\": \"%s\", \"billed\": \"4242\", \"seq\": \"9\", "
           "\"claimed\": \"4000\", \"voucher\": \"\"}]}", hex);
  CHECK_OK(ag_write_file_atomic(legacy, js, strlen(js), 0600));
  CHECK_OK(ag_paybook_open(&b, path, legacy));
  ag_pay_entry *e = ag_paybook_find(&b, ch.id);
  CHECK(e != NULL && e->billed == 4242 && e->seq == 9 && e->claimed == 4000);
  CHECK(!ag_file_exists(legacy));
  ag_paybook_close(&b);
  CHECK_OK(ag_paybook_open(&b, path, legacy));
  CHECK_U64(ag_paybook_find(&b, ch.id)->billed, 4242);
  CHECK_EQ(b.n, N - N / 3 + 1); /* channel 9 was one of the dropped */
  ag_paybook_close(&b);
}

TEST_MAIN(a_channel_pays_per_voucher_and_refunds_the_rest, a_batch_of_claims_pays_as_its_claims_would_or_not_at_all, channel_claims_tx_is_frozen, a_repeat_cheater_is_asked_ever_less_often, a_providers_402_moves_the_client_only_within_what_it_signed,
          a_voucher_is_a_ceiling_the_provider_takes_what_it_billed,
          the_provider_closes_at_once_and_a_top_up_withdraws_a_close,
          expiry_stops_claims_and_lets_either_party_close,
          every_bad_voucher_and_action_has_its_own_code_and_changes_nothing,
          malformed_payloads_are_refused_before_they_cost_anything,
          random_channel_sequences_pay_exactly_what_was_signed,
          offers_and_bonds_lock_and_release_exactly, a_full_offer_list_takes_a_better_bond_only,
          a_request_costs_the_ceiling_of_its_tokens_at_the_offer,
          royalties_flow_to_vaults_and_ancestors_and_holders_claim_exactly,
          random_vault_sequences_never_lose_a_unit, the_carry_keeps_every_unit_of_tiny_incomes,
          a_wrong_answer_is_disputed_and_its_provider_slashed, a_false_dispute_loses_its_bond_and_silence_refunds_it,
          a_member_is_told_what_the_next_block_accepts, a_challenger_cannot_choose_its_committee,
          a_lazy_member_who_copies_the_verdict_is_not_paid, a_silent_member_cannot_veto_a_verdict,
          silencing_the_others_does_not_let_one_member_decide,
          a_case_recorded_before_rounds_reads_and_goes_on,
          a_bond_cannot_flee_a_dispute, a_bond_answers_for_as_many_faults_as_it_covers,
          at_most_1024_disputes_are_open_at_once, a_client_checks_every_field_of_a_payment_receipt,
          a_long_answer_is_disputed_without_its_receipt, a_receipt_dated_ahead_is_disputed_at_once,
          the_providers_book_takes_only_admitted_channels_and_keeps_each)
