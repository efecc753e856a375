/* test_agents.c — agent keys through the real state machine: every rule with its own code (a
 * refusal before the fee changes nothing; after it, only the fee), the key's lifecycle (expiry,
 * a later first window, freeze, revocation by the account or the key), the burst at a window's
 * edge, check_tx reserving from the account, and a property test over random sequences of
 * every value-moving kind signed by agent keys: no sequence spends past any cap, in any window,
 * and the accounts' own txs are unaffected. */
#define TC_KEYS 12
#include "testchain.h"

#include "core/hash.h"
#include "core/util.h"

/* K[0], K[1]: accounts; K[2], K[3]: recipients; K[4..7]: agent keys; K[8]: a stranger;
 * K[9..11]: hotkeys (registered by K[2] on subnet 1; K[9] also posts an offer). */
enum { A = 0, B = 1, R1 = 2, R2 = 3, AG1 = 4, AG2 = 5, AG3 = 6, AG4 = 7, STRANGER = 8, HK1 = 9, HK2 = 10, HK3 = 11 };
#define FEE TC_FEE
static uint8_t model[32];

static void setup(void) {
  char m[1024], owner[AG_ADDR_MAX];
  test_key(&K[A], 700);
  ag_addr_encode(K[A].pk, owner);
  snprintf(m, sizeof m,
           "{\"incentive\":{\"block_reward\":\"0\",\"burn_initial\":\"1000\",\"burn_min\":\"1000\","
           "\"burn_max\":\"1000\",\"subnets\":[{\"name\":\"a\",\"owner\":\"%s\",\"hyperparams\":"
           "{\"immunity_period\":100000}}]},\"economy\":{\"min_settle_delay\":3,\"min_bond\":\"%llu\"}}",
           owner, (unsigned long long)AG_UNIT);
  tc_setup(m, 700);
  /* R1 registers the hotkeys; HK1 offers a model (a provider with an offer) */
  for (int h = HK1; h <= HK3; h++) CHECK_OK(tc_register(&K[R1], &K[h], 1));
  memset(model, 0x3c, 32);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_offer_post(&p, K[HK1].pk, model, 1000, 3000, 512, AG_UNIT);
  CHECK_OK(tc_run_key(&K[R1], AG_TX_OFFER_POST, &p));
}

static uint64_t bal(int k) { return tc_account(K[k].pk).balance; }
static uint64_t nonce(int k) { return tc_account(K[k].pk).nonce; }

#define KIND(k) (1ULL << (k))
static ag_agent_terms terms(void) {
  ag_agent_terms t;
  memset(&t, 0, sizeof t);
  t.kinds = KIND(AG_TX_TRANSFER) | KIND(AG_TX_STAKE_ADD) | KIND(AG_TX_STAKE_REMOVE) | KIND(AG_TX_CHANNEL_OPEN) |
            KIND(AG_TX_CHANNEL_FUND) | KIND(AG_TX_CHANNEL_CLOSE) | KIND(AG_TX_OFFER_POST) | KIND(AG_TX_REGISTER);
  t.expires = 100000;
  t.period = 1000;
  t.max_per_tx = 5 * AG_UNIT;
  t.period_cap = 10 * AG_UNIT;
  t.lifetime_cap = 30 * AG_UNIT;
  t.fee_cap = 40 * FEE;
  t.n = 2;
  memcpy(t.rcpt[0], K[R1].pk, 32);
  memcpy(t.rcpt[1], K[HK2].pk, 32);
  return t;
}

static int set_key(int account, int agent, const ag_agent_terms *t) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_agent_key_set(&p, K[agent].pk, t);
  return tc_run_key(&K[account], AG_TX_AGENT_KEY_SET, &p);
}

static ag_agent_key key_of(int account, int agent) {
  ag_agent_key k;
  CHECK_OK(ag_agent_key_load(ag_app_state(app), NULL, K[account].pk, K[agent].pk, &k));
  return k;
}

/* The tx agent key `agent` signs for `account`, running kind with payload (freed). */
static void exec_tx(ag_buf *tx, int agent, int account, uint16_t kind, ag_buf *payload, uint64_t fee) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_agent_exec(&p, K[account].pk, kind, payload->data, payload->len);
  ag_buf_free(payload);
  ag_buf_init(tx);
  ag_tx_build(tx, AG_TX_AGENT_EXEC, TC_CHAIN, &K[agent], nonce(agent), fee, 0, p.data, (uint32_t)p.len);
  ag_buf_free(&p);
}

static int exec_fee(int agent, int account, uint16_t kind, ag_buf *payload, uint64_t fee) {
  ag_buf tx;
  exec_tx(&tx, agent, account, kind, payload, fee);
  int code;
  tc_block(&tx, 1, &code);
  ag_buf_free(&tx);
  return code;
}

static int exec(int agent, int account, uint16_t kind, ag_buf *payload) {
  return exec_fee(agent, account, kind, payload, FEE);
}

static ag_buf *transfer(ag_buf *p, int to, uint64_t amount) {
  ag_buf_init(p);
  ag_transfer_encode(p, K[to].pk, amount);
  return p;
}

static ag_buf *stake(ag_buf *p, int hk, uint64_t amount) {
  ag_buf_init(p);
  ag_buf_put(p, K[hk].pk, 32);
  ag_buf_put_u64le(p, amount);
  return p;
}

/* Nothing moved: the account's balance and the key's nonce are as they were. */
#define UNCHANGED(account, agent, b0, n0)                                                          \
  do {                                                                                             \
    CHECK_U64(bal(account), b0);                                                                   \
    CHECK_U64(nonce(agent), n0);                                                                   \
  } while (0)

TEST(an_agent_key_spends_for_its_account_by_every_rule) {
  setup();
  ag_agent_terms t = terms();
  CHECK_OK(set_key(A, AG1, &t));
  /* a transfer to a listed recipient: the account pays it and the fee; the key's own nonce
   * moves, not the account's, and the key holds nothing */
  uint64_t a0 = bal(A), r0 = bal(R1), n0 = nonce(A);
  ag_buf p;
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, AG_UNIT)));
  CHECK_U64(bal(A), a0 - AG_UNIT - FEE);
  CHECK_U64(bal(R1), r0 + AG_UNIT);
  CHECK_U64(nonce(A), n0);
  CHECK_U64(nonce(AG1), 1);
  CHECK_U64(bal(AG1), TC_START); /* the key pays nothing */
  ag_agent_key k = key_of(A, AG1);
  CHECK_U64(k.lifetime_spent, AG_UNIT + FEE);
  CHECK_U64(k.period_spent, AG_UNIT + FEE);
  CHECK_U64(k.fee_spent, FEE);

  /* refused before the fee: nothing changes */
  a0 = bal(A);
  uint64_t k0 = nonce(AG1);
  CHECK_EQ(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_UNKNOWN); /* never authorised */
  CHECK_EQ(exec(AG1, B, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_UNKNOWN); /* A's key, not B's */
  ag_buf_init(&p);
  ag_multi_transfer_encode(&p, &(ag_transfer){{0}, 1}, 1);
  CHECK_EQ(exec(AG1, A, AG_TX_MULTI_TRANSFER, &p), AG_E_AGENT_KIND); /* not granted */
  ag_buf_init(&p);
  ag_payload_agent_key_set(&p, K[AG2].pk, &t);
  CHECK_EQ(exec(AG1, A, AG_TX_AGENT_KEY_SET, &p), AG_E_AGENT_KIND); /* never grantable: at decode */
  CHECK_EQ(exec_fee(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 1), 6 * AG_UNIT), AG_E_AGENT_TX_LIMIT); /* the fee alone */
  UNCHANGED(A, AG1, a0, k0);

  /* what the action declares it takes counts before the fee too: 5 AGR + the fee is over */
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 5 * AG_UNIT)), AG_E_AGENT_TX_LIMIT);
  UNCHANGED(A, AG1, a0, k0);
  /* refused after the fee: the action is rolled back, the fee paid and counted */
  k = key_of(A, AG1);
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R2, 1)), AG_E_AGENT_RECIPIENT);
  CHECK_EQ(exec(AG1, A, AG_TX_STAKE_ADD, stake(&p, HK1, 1)), AG_E_AGENT_RECIPIENT); /* an unlisted hotkey */
  CHECK_U64(bal(A), a0 - 2 * FEE);
  CHECK_U64(nonce(AG1), k0 + 2);
  CHECK_U64(key_of(A, AG1).lifetime_spent, k.lifetime_spent + 2 * FEE);
  CHECK_U64(key_of(A, AG1).fee_spent, k.fee_spent + 2 * FEE);

  /* stake counts like a transfer (value leaves the balance), unstaking gives nothing back */
  CHECK_OK(exec(AG1, A, AG_TX_STAKE_ADD, stake(&p, HK2, 4 * AG_UNIT)));
  uint64_t spent = key_of(A, AG1).period_spent;
  CHECK_OK(exec(AG1, A, AG_TX_STAKE_REMOVE, stake(&p, HK2, 4 * AG_UNIT)));
  CHECK_U64(key_of(A, AG1).period_spent, spent + FEE);
  /* the window's cap: about 5 AGR + 7 fees are spent of 10 AGR */
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 4 * AG_UNIT)));
  a0 = bal(A);
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, AG_UNIT)), AG_E_AGENT_PERIOD_CAP);
  CHECK_U64(bal(A), a0); /* refused before the fee */
  CHECK(key_of(A, AG1).period_spent <= t.period_cap);

  /* the channel a key opens: its deposit counts, its id is the key's and its nonce, the
   * provider must be allowed (listed, or any provider with an offer when the key says so) */
  ag_buf_init(&p);
  ag_payload_channel_open(&p, K[HK1].pk, K[AG1].pk, model, AG_UNIT, 3, 0);
  t.period_cap = 100 * AG_UNIT;
  CHECK_OK(set_key(A, AG1, &t));
  CHECK_EQ(exec(AG1, A, AG_TX_CHANNEL_OPEN, &p), AG_E_AGENT_RECIPIENT);
  t.flags = AG_AGENT_ANY_PROVIDER;
  CHECK_OK(set_key(A, AG1, &t));
  uint8_t ch[32];
  ag_channel_id(TC_CHAIN, K[AG1].pk, nonce(AG1), ch);
  ag_buf_init(&p);
  ag_payload_channel_open(&p, K[HK1].pk, K[AG1].pk, model, 2 * AG_UNIT, 3, 0);
  spent = key_of(A, AG1).lifetime_spent;
  CHECK_OK(exec(AG1, A, AG_TX_CHANNEL_OPEN, &p));
  ag_channel c;
  CHECK_OK(ag_channel_load(ag_app_state(app), NULL, ch, &c));
  CHECK_MEM(c.client, K[A].pk, 32);
  CHECK_U64(key_of(A, AG1).lifetime_spent, spent + 2 * AG_UNIT + FEE);
  /* any provider is not anyone: a plain transfer to a hotkey without an offer is refused */
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, HK3, 1)), AG_E_AGENT_RECIPIENT);
  /* the lifetime cap: 30 AGR */
  t.max_per_tx = 100 * AG_UNIT;
  CHECK_OK(set_key(A, AG1, &t));
  spent = key_of(A, AG1).lifetime_spent;
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, t.lifetime_cap - spent)), AG_E_AGENT_LIFETIME_CAP);
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, t.lifetime_cap - spent - FEE)));
  CHECK_U64(key_of(A, AG1).lifetime_spent, t.lifetime_cap);
  a0 = bal(A);
  k0 = nonce(AG1);
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_LIFETIME_CAP); /* not even a fee */
  UNCHANGED(A, AG1, a0, k0);
  /* the fee cap */
  ag_agent_terms t2 = terms();
  t2.fee_cap = 2 * FEE;
  CHECK_OK(set_key(A, AG2, &t2));
  CHECK_OK(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)));
  CHECK_OK(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)));
  a0 = bal(A);
  k0 = nonce(AG2);
  CHECK_EQ(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_FEE_CAP);
  UNCHANGED(A, AG2, a0, k0);
  tc_teardown();
}

TEST(keys_expire_freeze_and_revoke_and_bad_terms_are_refused) {
  setup();
  ag_agent_terms t = terms();
  uint64_t h = tc_height();
  t.anchor = h + 5;
  t.expires = h + 9;
  CHECK_OK(set_key(A, AG1, &t));
  ag_agent_key k = key_of(A, AG1);
  /* setting the same terms again is a no-op, not an error (a retried authorisation) */
  CHECK_OK(set_key(A, AG1, &t));
  ag_agent_key k2 = key_of(A, AG1);
  CHECK(!memcmp(&k, &k2, sizeof k));
  ag_buf p;
  uint64_t a0 = bal(A);
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_EXPIRED); /* not live yet */
  UNCHANGED(A, AG1, a0, 0);
  while (tc_height() + 1 < t.anchor) tc_empty_blocks(1);
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 1)));
  while (tc_height() + 1 < t.expires) tc_empty_blocks(1);
  a0 = bal(A);
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_EXPIRED);
  UNCHANGED(A, AG1, a0, 1);

  /* freeze stops every key of the account at once; thaw restores them */
  t = terms();
  CHECK_OK(set_key(A, AG2, &t));
  CHECK_OK(set_key(A, AG3, &t));
  ag_buf_init(&p);
  ag_buf_put_u8(&p, 1);
  CHECK_OK(tc_run_key(&K[A], AG_TX_AGENT_FREEZE, &p));
  a0 = bal(A);
  CHECK_EQ(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_FROZEN);
  CHECK_EQ(exec(AG3, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_FROZEN);
  UNCHANGED(A, AG2, a0, 0);
  /* the account's own txs are unaffected */
  CHECK_OK(tc_run_key(&K[A], AG_TX_TRANSFER, transfer(&p, R2, 1)));
  ag_buf_init(&p);
  ag_buf_put_u8(&p, 0);
  CHECK_OK(tc_run_key(&K[A], AG_TX_AGENT_FREEZE, &p));
  CHECK_OK(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)));

  /* revocation: by a stranger refused; by the account; by the key itself (the account pays
   * its fee, once: the key is gone after) */
  ag_buf_init(&p);
  ag_buf_put(&p, K[A].pk, 32);
  ag_buf_put(&p, K[AG2].pk, 32);
  CHECK_EQ(tc_run_key(&K[STRANGER], AG_TX_AGENT_KEY_REVOKE, &p), AG_E_AGENT_AUTH);
  ag_buf_init(&p);
  ag_buf_put(&p, K[A].pk, 32);
  ag_buf_put(&p, K[AG2].pk, 32);
  CHECK_OK(tc_run_key(&K[A], AG_TX_AGENT_KEY_REVOKE, &p));
  a0 = bal(A);
  uint64_t k0 = nonce(AG2);
  CHECK_EQ(exec(AG2, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_UNKNOWN);
  UNCHANGED(A, AG2, a0, k0);
  ag_buf_init(&p);
  ag_buf_put(&p, K[A].pk, 32);
  ag_buf_put(&p, K[AG3].pk, 32);
  CHECK_OK(tc_run_key(&K[AG3], AG_TX_AGENT_KEY_REVOKE, &p));
  CHECK_U64(bal(A), a0 - FEE);
  CHECK_U64(bal(AG3), TC_START);
  ag_buf_init(&p);
  ag_buf_put(&p, K[A].pk, 32);
  ag_buf_put(&p, K[AG3].pk, 32);
  CHECK_EQ(tc_run_key(&K[AG3], AG_TX_AGENT_KEY_REVOKE, &p), AG_E_AGENT_UNKNOWN); /* cannot spend fees */
  CHECK_U64(bal(A), a0 - FEE);
  CHECK_EQ(exec(AG3, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_UNKNOWN);
  ag_agent_index x;
  CHECK_OK(ag_agent_index_load(ag_app_state(app), NULL, K[A].pk, &x));
  CHECK_EQ(x.n, 1); /* AG1 (expired) is still listed until revoked */

  /* terms: each refusal its own code */
  ag_agent_terms bad = terms();
  bad.kinds |= KIND(AG_TX_SUDO_SET_SHARE);
  CHECK_EQ(set_key(A, AG4, &bad), AG_E_AGENT_TERMS);
  bad = terms();
  bad.kinds = 0;
  CHECK_EQ(set_key(A, AG4, &bad), AG_E_AGENT_TERMS);
  bad = terms();
  bad.period = 0;
  CHECK_EQ(set_key(A, AG4, &bad), AG_E_AGENT_TERMS);
  bad = terms();
  bad.expires = tc_height();
  CHECK_EQ(set_key(A, AG4, &bad), AG_E_AGENT_TERMS);
  bad = terms();
  memcpy(bad.rcpt[1], bad.rcpt[0], 32);
  CHECK_EQ(set_key(A, AG4, &bad), AG_E_AGENT_TERMS);
  bad = terms();
  bad.flags = 2;
  CHECK_EQ(set_key(A, AG4, &bad), AG_E_AGENT_TERMS);
  t = terms();
  CHECK_EQ(set_key(A, A, &t), AG_E_AGENT_TERMS); /* its own agent */
  /* at most 16 keys per account */
  for (int i = 1; i < AG_AGENT_MAX_KEYS; i++) {
    ag_keypair extra;
    test_key(&extra, 5000 + i);
    ag_buf_init(&p);
    ag_payload_agent_key_set(&p, extra.pk, &t);
    CHECK_OK(tc_run_key(&K[A], AG_TX_AGENT_KEY_SET, &p));
  }
  CHECK_EQ(set_key(A, AG4, &t), AG_E_AGENT_KEYS_FULL);
  tc_teardown();
}

TEST(fixed_windows_allow_at_most_twice_the_cap_across_an_edge) {
  setup();
  ag_agent_terms t = terms();
  t.anchor = tc_height() + 1;
  t.period = 5;
  t.period_cap = 3 * AG_UNIT;
  t.max_per_tx = 3 * AG_UNIT;
  t.lifetime_cap = 8 * AG_UNIT;
  CHECK_OK(set_key(A, AG1, &t));
  ag_buf p;
  uint64_t amount = 3 * AG_UNIT - FEE;
  /* the window's last block, then the next window's first: the whole cap twice */
  while ((tc_height() + 1 - t.anchor) % t.period != t.period - 1) tc_empty_blocks(1);
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, amount)));
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, amount)));
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, 1)), AG_E_AGENT_PERIOD_CAP);
  /* the next window: the lifetime cap (8) leaves 8 − 6 − 1 fee */
  while ((tc_height() + 1 - t.anchor) % t.period != 0) tc_empty_blocks(1);
  CHECK_EQ(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, amount)), AG_E_AGENT_LIFETIME_CAP);
  ag_agent_key k = key_of(A, AG1);
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, t.lifetime_cap - k.lifetime_spent - FEE)));
  CHECK_U64(key_of(A, AG1).lifetime_spent, t.lifetime_cap);
  tc_teardown();
}

TEST(check_tx_reserves_the_account_and_refuses_a_dead_key) {
  setup();
  ag_agent_terms t = terms();
  t.max_per_tx = t.period_cap = t.lifetime_cap = UINT64_MAX;
  CHECK_OK(set_key(B, AG1, &t));
  /* B keeps 2 AGR: the agent's tx of 1.5 AGR enters, a second does not fit what is left */
  ag_buf p;
  CHECK_OK(tc_run_key(&K[B], AG_TX_TRANSFER, transfer(&p, R2, bal(B) - 2 * AG_UNIT - FEE)));
  ag_buf t1, t2, t3;
  exec_tx(&t1, AG1, B, AG_TX_TRANSFER, transfer(&p, R1, AG_UNIT + AG_UNIT / 2), FEE);
  ag_result r;
  ag_tx_meta meta;
  CHECK_OK(ag_app_check_tx(app, t1.data, t1.len, AG_CHECK_NEW, &r, &meta));
  CHECK_MEM(meta.payer, K[B].pk, 32);
  CHECK_MEM(meta.sender, K[AG1].pk, 32);
  /* the key's next nonce, built by hand: the first is still pending */
  ag_buf_init(&p);
  ag_transfer_encode(&p, K[R1].pk, AG_UNIT);
  ag_buf q;
  ag_buf_init(&q);
  ag_payload_agent_exec(&q, K[B].pk, AG_TX_TRANSFER, p.data, p.len);
  ag_buf_init(&t2);
  ag_tx_build(&t2, AG_TX_AGENT_EXEC, TC_CHAIN, &K[AG1], 1, FEE, 0, q.data, (uint32_t)q.len);
  ag_buf_free(&p);
  CHECK_EQ(ag_app_check_tx(app, t2.data, t2.len, AG_CHECK_NEW, &r, NULL), AG_E_TX_BALANCE);
  /* nor does B's own tx: the agent's reservation is B's */
  ag_buf_init(&t3);
  ag_buf_init(&p);
  ag_transfer_encode(&p, K[R2].pk, AG_UNIT);
  ag_tx_build(&t3, AG_TX_TRANSFER, TC_CHAIN, &K[B], nonce(B), FEE, 0, p.data, (uint32_t)p.len);
  ag_buf_free(&p);
  CHECK_EQ(ag_app_check_tx(app, t3.data, t3.len, AG_CHECK_NEW, &r, NULL), AG_E_TX_BALANCE);
  /* given back (a mempool refusal), B's tx fits */
  CHECK_OK(ag_app_pending_rewind(app, meta.sender, meta.payer, meta.nonce, meta.cost));
  CHECK_OK(ag_app_check_tx(app, t3.data, t3.len, AG_CHECK_NEW, &r, NULL));
  /* a revoked key's tx never enters the mempool */
  ag_buf_init(&p);
  ag_buf_put(&p, K[B].pk, 32);
  ag_buf_put(&p, K[AG1].pk, 32);
  CHECK_OK(tc_run_key(&K[B], AG_TX_AGENT_KEY_REVOKE, &p));
  CHECK_EQ(ag_app_check_tx(app, t1.data, t1.len, AG_CHECK_NEW, &r, NULL), AG_E_AGENT_UNKNOWN);
  ag_buf_free(&p);
  ag_buf_free(&q);
  ag_buf_free(&t1);
  ag_buf_free(&t2);
  ag_buf_free(&t3);
  tc_teardown();
}

/* ---- the property: random sequences never spend past a cap ------------------------------------- */

typedef struct {
  int agent, account;
  ag_agent_terms t;
  int live; /* authorised and not revoked */
} slot;

typedef struct {
  uint64_t h;
  uint64_t out; /* what the tx took from the account (fee included) */
  uint64_t fee;
  int key;
} spend;

/* Registers hotkey h under account acc (by the account itself). */
static void register_own(int acc, const ag_keypair *h) {
  uint8_t claim[32], sig[64];
  ag_hotkey_claim_hash(TC_CHAIN, K[acc].pk, h->pk, claim);
  ag_sign(h, claim, 32, sig);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put(&p, h->pk, 32);
  ag_buf_put_u64le(&p, AG_UNIT);
  ag_buf_put(&p, sig, 64);
  CHECK_OK(tc_run_key(&K[acc], AG_TX_REGISTER, &p));
}

static ag_keypair own_hk[2]; /* a hotkey each account owns: its keys post offers on it */
static unsigned fresh_hk = 9000;

/* A random value-moving action for key s: kind and payload. */
static uint16_t random_action(uint64_t *rs, const slot *s, ag_buf *p, uint64_t scale) {
  static const int recips[] = {R1, R2, HK1, HK2, HK3};
  int who = recips[test_rand(rs) % 5];
  uint64_t amount = test_rand(rs) % scale;
  ag_buf_init(p);
  switch (test_rand(rs) % 8) {
  case 0: {
    ag_transfer v[3];
    int n = 1 + (int)(test_rand(rs) % 3);
    for (int i = 0; i < n; i++) {
      memcpy(v[i].to, K[recips[test_rand(rs) % 5]].pk, 32);
      v[i].amount = test_rand(rs) % scale;
    }
    ag_multi_transfer_encode(p, v, (uint16_t)n);
    return AG_TX_MULTI_TRANSFER;
  }
  case 1: stake(p, HK1 + (int)(test_rand(rs) % 3), amount); return AG_TX_STAKE_ADD;
  case 2: stake(p, HK1 + (int)(test_rand(rs) % 3), amount); return AG_TX_STAKE_REMOVE;
  case 3:
    ag_payload_channel_open(p, K[HK1 + (int)(test_rand(rs) % 2)].pk, K[s->agent].pk, model, amount + 1, 3, 0);
    return AG_TX_CHANNEL_OPEN;
  case 4:
    ag_payload_offer_post(p, own_hk[s->account].pk, model, 1, 1, 10, AG_UNIT + amount);
    return AG_TX_OFFER_POST;
  case 5: { /* a registration: its burn */
    ag_keypair h;
    test_key(&h, fresh_hk++);
    uint8_t claim[32], sig[64];
    ag_hotkey_claim_hash(TC_CHAIN, K[s->account].pk, h.pk, claim);
    ag_sign(&h, claim, 32, sig);
    ag_buf_put_u16le(p, 1);
    ag_buf_put(p, h.pk, 32);
    ag_buf_put_u64le(p, AG_UNIT);
    ag_buf_put(p, sig, 64);
    return AG_TX_REGISTER;
  }
  default: ag_transfer_encode(p, K[who].pk, amount); return AG_TX_TRANSFER;
  }
}

TEST(random_agent_sequences_never_spend_past_a_cap) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    setup();
    uint64_t rs = seed * 0x9e3779b97f4a7c15ULL;
    /* B also registers hotkeys: its keys may post offers on them */
    slot s[4] = {{AG1, A, {0}, 0}, {AG2, A, {0}, 0}, {AG3, B, {0}, 0}, {AG4, B, {0}, 0}};
    for (int acc = 0; acc < 2; acc++) {
      test_key(&own_hk[acc], 8000 + acc);
      register_own(acc, &own_hk[acc]);
    }
    spend *log = calloc(4000, sizeof *log);
    int nlog = 0;
    for (int i = 0; i < 4; i++) {
      ag_agent_terms t = terms();
      t.kinds |= KIND(AG_TX_MULTI_TRANSFER) | KIND(AG_TX_REGISTER) | KIND(AG_TX_OFFER_POST);
      t.anchor = tc_height() + test_rand(&rs) % 4;
      t.expires = t.anchor + 150 + test_rand(&rs) % 200;
      t.period = 1 + test_rand(&rs) % 8;
      t.max_per_tx = AG_UNIT + test_rand(&rs) % (4 * AG_UNIT);
      t.period_cap = t.max_per_tx + test_rand(&rs) % (4 * AG_UNIT);
      t.lifetime_cap = t.period_cap + test_rand(&rs) % (20 * AG_UNIT);
      t.fee_cap = FEE * (20 + test_rand(&rs) % 80);
      t.flags = test_rand(&rs) % 2 ? AG_AGENT_ANY_PROVIDER : 0;
      t.n = (uint8_t)(1 + test_rand(&rs) % 4);
      for (int j = 0; j < t.n; j++) memcpy(t.rcpt[j], K[(int[]){R1, R2, HK2, HK3}[j]].pk, 32);
      s[i].t = t;
      s[i].live = 1;
      CHECK_OK(set_key(s[i].account, s[i].agent, &t));
    }
    int frozen[2] = {0, 0}, own_ok = 0;
    for (int step = 0; step < 250; step++) {
      int i = (int)(test_rand(&rs) % 4);
      slot *sl = &s[i];
      uint64_t r = test_rand(&rs) % 100;
      ag_buf p;
      if (r < 3 || (r < 30 && (frozen[0] || frozen[1]))) { /* the account freezes or thaws */
        int acc = (int)(test_rand(&rs) % 2);
        frozen[acc] = !frozen[acc];
        ag_buf_init(&p);
        ag_buf_put_u8(&p, (uint8_t)frozen[acc]);
        CHECK_OK(tc_run_key(&K[acc], AG_TX_AGENT_FREEZE, &p));
        continue;
      }
      if (r == 30 && sl->live) { /* revoked, by the account or the key */
        ag_buf_init(&p);
        ag_buf_put(&p, K[sl->account].pk, 32);
        ag_buf_put(&p, K[sl->agent].pk, 32);
        CHECK_OK(tc_run_key(&K[test_rand(&rs) % 2 ? sl->account : sl->agent], AG_TX_AGENT_KEY_REVOKE, &p));
        sl->live = 0;
        continue;
      }
      if (r > 92) { /* the account's own tx: never limited by its keys */
        CHECK_OK(tc_run_key(&K[sl->account], AG_TX_TRANSFER, transfer(&p, R1, AG_UNIT)));
        own_ok++;
        continue;
      }
      if (r > 85) tc_empty_blocks((int)(test_rand(&rs) % 6));
      uint16_t kind = random_action(&rs, sl, &p, (test_rand(&rs) % 2 ? 1 : 6) * AG_UNIT);
      uint64_t a0 = bal(sl->account), n0 = nonce(sl->agent), h = tc_height() + 1;
      uint64_t fee = FEE * (1 + test_rand(&rs) % 3);
      int code = exec_fee(sl->agent, sl->account, kind, &p, fee);
      uint64_t a1 = bal(sl->account);
      int dead = !sl->live || frozen[sl->account] || h < sl->t.anchor || h >= sl->t.expires;
      if (dead) {
        /* an expired, not yet live, frozen or revoked key does nothing at all */
        CHECK(code != 0);
        CHECK_U64(a1, a0);
        CHECK_U64(nonce(sl->agent), n0);
        continue;
      }
      if (nonce(sl->agent) == n0) { /* refused before the fee */
        CHECK(code != 0);
        CHECK_U64(a1, a0);
        continue;
      }
      CHECK(a1 <= a0 || kind == AG_TX_STAKE_REMOVE);
      log[nlog++] = (spend){h, a0 > a1 ? a0 - a1 : 0, fee, i};
      CHECK(code == 0 || a0 - a1 == fee); /* a failed action costs only its fee */
    }
    /* every cap, recomputed from what the accounts lost */
    for (int i = 0; i < 4; i++) {
      const ag_agent_terms *t = &s[i].t;
      uint64_t life = 0, fees = 0;
      for (int j = 0; j < nlog; j++) {
        if (log[j].key != i) continue;
        CHECK(log[j].out <= t->max_per_tx);
        life += log[j].out;
        fees += log[j].fee;
        uint64_t w = (log[j].h - t->anchor) / t->period, in_w = 0;
        for (int m = 0; m < nlog; m++)
          if (log[m].key == i && (log[m].h - t->anchor) / t->period == w) in_w += log[m].out;
        CHECK(in_w <= t->period_cap);
      }
      CHECK(life <= t->lifetime_cap);
      CHECK(fees <= t->fee_cap);
    }
    if (nlog <= 60) fprintf(stderr, "  seed %llu: %d txs past the fee\n", (unsigned long long)seed, nlog);
    CHECK(nlog > 60); /* the sequences exercise the keys, not just their refusals */
    CHECK(own_ok > 0);
    free(log);
    tc_teardown();
  }
}

/* ---- simulation: what a preview shows, on a copy of the state ----------------------------------- */

typedef struct {
  uint64_t a_after, r_after;
  size_t dirty;
} seen;

static int look(void *ctx, ag_app *a) {
  seen *x = ctx;
  ag_account acc;
  ag_account_load(ag_app_state(a), K[A].pk, &acc);
  x->a_after = acc.balance;
  ag_account_load(ag_app_state(a), K[R1].pk, &acc);
  x->r_after = acc.balance;
  x->dirty = ag_state_dirty(ag_app_state(a));
  return 0;
}

TEST(a_simulation_shows_the_changes_and_keeps_nothing) {
  setup();
  ag_agent_terms t = terms();
  CHECK_OK(set_key(A, AG1, &t));
  ag_buf p, txs[2];
  uint64_t a0 = bal(A), r0 = bal(R1);
  ag_app_info before, after;
  ag_app_info_get(app, &before);
  /* the account's own transfer, then its agent's: both run, in order, unsigned checks aside */
  ag_buf_init(&txs[0]);
  transfer(&p, R1, 2 * AG_UNIT);
  ag_tx_build(&txs[0], AG_TX_TRANSFER, TC_CHAIN, &K[A], nonce(A), FEE, 0, p.data, (uint32_t)p.len);
  ag_buf_free(&p);
  exec_tx(&txs[1], AG1, A, AG_TX_TRANSFER, transfer(&p, R1, AG_UNIT), FEE);
  txs[0].data[txs[0].len - 1] ^= 1; /* a broken signature: a preview runs before signing */
  const uint8_t *raw[2] = {txs[0].data, txs[1].data};
  uint32_t lens[2] = {(uint32_t)txs[0].len, (uint32_t)txs[1].len};
  ag_result r[2];
  seen x;
  CHECK_OK(ag_app_simulate(app, raw, lens, 2, r, look, &x));
  CHECK_OK(r[0].code);
  CHECK_OK(r[1].code);
  CHECK_U64(x.a_after, a0 - 3 * AG_UNIT - 2 * FEE);
  CHECK_U64(x.r_after, r0 + 3 * AG_UNIT);
  CHECK(x.dirty >= 4); /* two accounts, the agent's nonce, its key record, the supply */
  /* nothing kept: balances, the root, the key's counters */
  ag_app_info_get(app, &after);
  CHECK_MEM(before.app_hash, after.app_hash, 32);
  CHECK_U64(bal(A), a0);
  CHECK_U64(bal(R1), r0);
  CHECK_U64(key_of(A, AG1).lifetime_spent, 0);
  /* a refused action shows its code; the next real block runs as if nothing happened */
  ag_buf bad;
  exec_tx(&bad, AG1, A, AG_TX_TRANSFER, transfer(&p, R2, 1), FEE);
  raw[0] = bad.data;
  lens[0] = (uint32_t)bad.len;
  CHECK_OK(ag_app_simulate(app, raw, lens, 1, r, NULL, NULL));
  CHECK_EQ(r[0].code, AG_E_AGENT_RECIPIENT);
  ag_buf_free(&bad);
  CHECK_OK(exec(AG1, A, AG_TX_TRANSFER, transfer(&p, R1, AG_UNIT)));
  CHECK_U64(bal(A), a0 - AG_UNIT - FEE);
  ag_buf_free(&txs[0]);
  ag_buf_free(&txs[1]);
  tc_teardown();
}

TEST_MAIN(an_agent_key_spends_for_its_account_by_every_rule, keys_expire_freeze_and_revoke_and_bad_terms_are_refused,
          fixed_windows_allow_at_most_twice_the_cap_across_an_edge, check_tx_reserves_the_account_and_refuses_a_dead_key,
          random_agent_sequences_never_spend_past_a_cap, a_simulation_shows_the_changes_and_keeps_nothing)
