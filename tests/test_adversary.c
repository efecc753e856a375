/* test_adversary.c — attacks on the chain, played against the real state machine: a value
 * that grows with other people's txs (the staker list), a write past the store's limit, the
 * journal of a block of large rewrites, and random sequences of every tx kind with
 * adversarial payloads. Each must end in a tx error, never in abort(), unbounded memory or a
 * lost token. */
#include "chain/app.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "incentive/training.h"
#include "test.h"
#include "testutil.h"

#include <jansson.h>

#define CHAIN "agora-adv"
#define NA 24 /* actors: 0 = owner and sudo, the rest coldkeys and hotkeys alike */
#define START (100000ULL * AG_UNIT)

static ag_keypair A[NA];
static char *dir;
static ag_app *app;

/* CometBFT chains (with_validators): consensus keys CK[0..NG) are genesis validators of power
 * 10; every actor may try to bond any of them; blocks carry g_votes and g_mis. */
#define NCK 6
#define NG 3
static ag_keypair CK[NCK];
static int with_validators;
static const ag_vote_info *g_votes;
static size_t g_nvotes;
static const ag_misbehavior *g_mis;
static size_t g_nmis;

static char *modules_json(void) {
  char owner[AG_ADDR_MAX];
  ag_addr_encode(A[0].pk, owner);
  json_t *inc = json_pack(
      "{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}},"
      " {s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:{s:s, s:s, s:i}}]}",
      "block_reward", "1000000000", "subnet_cost", "10000000000", "sudo", owner, "burn_min",
      "1000", "subnets", "name", "one", "owner", owner, "hyperparams", "tempo", 5,
      "commit_reveal", 0, "max_uids", 12, "immunity_period", 3, "weights_rate_limit", 1,
      "max_validators", 4, "name", "train", "owner", owner, "hyperparams", "tempo", 7,
      "max_uids", 12, "max_validators", 4, "immunity_period", 3, "train_round_blocks", 8,
      "train_submit_blocks", 3, "train_reveal_blocks", 2,
      "model", "kind", "training", "model_id",
      "1111111111111111111111111111111111111111111111111111111111111111", "size", 100000);
  if (with_validators)
    json_object_set_new(inc, "validators", json_pack("{s:i, s:i, s:i, s:i}", "epoch_blocks", 6, "unbond_blocks", 8, "unbond_ms", 9000, "jail_blocks", 12));
  json_t *root = json_pack("{s:o}", "incentive", inc);
  char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(root);
  return s;
}

/* A chain with one generic and one training subnet; NA funded actors plus extra accounts
 * funded with `extra` each (the attack's coldkeys). */
static ag_app *open_chain(char **d, const ag_keypair *extra_keys, size_t nextra, uint64_t extra) {
  *d = test_tmpdir("adversary");
  ag_app *a = NULL;
  CHECK_OK(ag_app_open(*d, &a));
  ag_incentive_attach(a);
  ag_economy_attach(a);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.naccounts = NA + nextra;
  g.accounts = calloc(g.naccounts, sizeof *g.accounts);
  for (int i = 0; i < NA; i++) {
    test_key(&A[i], 900 + i);
    memcpy(g.accounts[i].pk, A[i].pk, 32);
    g.accounts[i].balance = START;
  }
  for (size_t i = 0; i < nextra; i++) {
    memcpy(g.accounts[NA + i].pk, extra_keys[i].pk, 32);
    g.accounts[NA + i].balance = extra;
  }
  g.modules = modules_json();
  ag_genesis_rehash(&g);
  for (int i = 0; i < NCK; i++) test_key(&CK[i], 1300 + i);
  if (with_validators) {
    g.validators = calloc(NG, sizeof *g.validators);
    for (int i = 0; i < NG; i++) {
      memcpy(g.validators[i].pk, CK[i].pk, 32);
      g.validators[i].power = 10;
    }
    g.nvalidators = NG;
  }
  uint8_t h[32];
  int rc = ag_app_init_chain(a, &g, h);
  if (rc) fprintf(stderr, "  init_chain: %s\n", ag_errmsg(rc));
  CHECK_OK(rc);
  ag_genesis_free(&g);
  return a;
}

/* One block of raw txs (codes into res when not NULL), then the supply audit. */
static void block(ag_app *a, const uint8_t *const *p, const uint32_t *l, size_t n, ag_result *res,
                  uint8_t root[32]) {
  ag_app_info info;
  ag_app_info_get(a, &info);
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}, g_votes, g_nvotes, g_mis, g_nmis};
  ag_result *r = res ? res : ag_xcalloc(n ? n : 1, sizeof *r);
  uint8_t rt[32];
  int rc = ag_app_finalize_block(a, &ctx, p, l, n, r, root ? root : rt);
  if (rc) fprintf(stderr, "  finalize_block: %s\n", ag_errmsg(rc));
  CHECK_OK(rc);
  if (!rc) CHECK_OK(ag_app_commit(a, NULL, 0, NULL));
  if (!res) free(r);
  uint64_t acc = 0, iss = 1;
  CHECK_OK(ag_economy_audit(ag_app_state(a), &acc, &iss));
  CHECK_U64(acc, iss);
}

static uint64_t nonce_of(ag_app *a, const uint8_t pk[32]) {
  ag_account acct;
  ag_app_account(a, pk, &acct);
  return acct.nonce;
}

static uint64_t balance_of(ag_app *a, const uint8_t pk[32]) {
  ag_account acct;
  ag_app_account(a, pk, &acct);
  return acct.balance;
}

static void sign(ag_buf *out, uint16_t kind, const ag_keypair *k, uint64_t nonce,
                 const ag_buf *payload) {
  ag_tx_build(out, kind, CHAIN, k, nonce, 100000, 0, payload->data, (uint32_t)payload->len);
}

static int one(ag_app *a, uint16_t kind, const ag_keypair *k, const ag_buf *payload) {
  ag_buf tx;
  ag_buf_init(&tx);
  sign(&tx, kind, k, nonce_of(a, k->pk), payload);
  const uint8_t *p = tx.data;
  uint32_t l = (uint32_t)tx.len;
  ag_result r;
  block(a, &p, &l, 1, &r, NULL);
  ag_buf_free(&tx);
  return r.code;
}

static int register_hotkey(ag_app *a, int cold, const ag_keypair *hot, uint16_t netuid) {
  uint8_t claim[32], sig[64];
  ag_hotkey_claim_hash(CHAIN, A[cold].pk, hot->pk, claim);
  ag_sign(hot, claim, 32, sig);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, netuid);
  ag_buf_put(&p, hot->pk, 32);
  ag_buf_put_u64le(&p, 100 * AG_UNIT);
  ag_buf_put(&p, sig, 64);
  int rc = one(a, AG_TX_REGISTER, &A[cold], &p);
  ag_buf_free(&p);
  return rc;
}

static void stake_payload(ag_buf *p, const uint8_t hotkey[32], uint64_t amount) {
  ag_buf_reset(p);
  ag_buf_put(p, hotkey, 32);
  ag_buf_put_u64le(p, amount);
}

/* ---- a write past the store's limit ------------------------------------------------------ */

/* A tx kind only this test registers: writes a value of the payload's declared size under a
 * key, and ignores what the write returns (as a careless kind would). It records the journal
 * the state keeps at each apply. */
#define KIND_BLOAT 900
static size_t journal_peak;

static int bloat_validate(const ag_tx *tx) {
  return tx->payload_len == 5 ? 0 : ag_fail(AG_E_TX_PAYLOAD, "bloat: key u8 | size u32");
}
static int bloat_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = 0;
  return 0;
}
static int bloat_apply(ag_app *a, const ag_tx *tx) {
  ag_state *st = ag_app_state(a);
  size_t j = ag_state_journal_bytes(st);
  if (j > journal_peak) journal_peak = j;
  uint8_t key[2] = {'Z', tx->payload[0]};
  size_t size = ag_get_u32le(tx->payload + 1);
  uint8_t *v = ag_xcalloc(size ? size : 1, 1);
  memset(v, tx->payload[0], size);
  ag_state_put(st, key, 2, v, size); /* the result deliberately ignored */
  free(v);
  return 0;
}
static const ag_tx_kind bloat_kind = {KIND_BLOAT, "bloat", bloat_validate, bloat_spend, bloat_apply, NULL};

static void bloat_payload(ag_buf *p, uint8_t key, uint32_t size) {
  ag_buf_reset(p);
  ag_buf_put_u8(p, key);
  ag_buf_put_u32le(p, size);
}

TEST(oversized_write_fails_the_tx_and_the_chain_goes_on) {
  ag_tx_kind_register(&bloat_kind);
  app = open_chain(&dir, NULL, 0, 0);
  ag_buf p;
  ag_buf_init(&p);
  uint64_t b0 = balance_of(app, A[1].pk);
  bloat_payload(&p, 1, AG_STATE_VALUE_MAX + 1);
  CHECK_EQ(one(app, KIND_BLOAT, &A[1], &p), AG_E_STATE_LIMIT);
  ag_buf v;
  ag_buf_init(&v);
  uint8_t key[2] = {'Z', 1};
  CHECK_EQ(ag_state_get_committed(ag_app_state(app), key, 2, &v), AG_E_NOTFOUND);
  CHECK(b0 - balance_of(app, A[1].pk) == 100000); /* the fee, nothing else */
  CHECK_U64(nonce_of(app, A[1].pk), 1);
  /* the fault belonged to that tx only: the next one, at the limit, succeeds */
  bloat_payload(&p, 1, AG_STATE_VALUE_MAX);
  CHECK_EQ(one(app, KIND_BLOAT, &A[1], &p), 0);
  CHECK_OK(ag_state_get_committed(ag_app_state(app), key, 2, &v));
  CHECK_U64(v.len, AG_STATE_VALUE_MAX);
  ag_buf_free(&v);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* A block of txs that each rewrite a large value: the journal holds one tx's old values, not
 * the whole block's (before, 200 rewrites of 512 KiB kept 100 MiB alive until commit). */
TEST(journal_holds_one_tx_at_a_time) {
  ag_tx_kind_register(&bloat_kind);
  app = open_chain(&dir, NULL, 0, 0);
  enum { N = 200, SIZE = 512 * 1024 };
  ag_buf *tx = ag_xcalloc(N, sizeof *tx);
  const uint8_t **ptr = ag_xcalloc(N, sizeof *ptr);
  uint32_t *len = ag_xcalloc(N, sizeof *len);
  ag_buf p;
  ag_buf_init(&p);
  for (int i = 0; i < N; i++) {
    bloat_payload(&p, 7, SIZE - (uint32_t)i);
    ag_buf_init(&tx[i]);
    sign(&tx[i], KIND_BLOAT, &A[2], (uint64_t)i, &p);
    ptr[i] = tx[i].data;
    len[i] = (uint32_t)tx[i].len;
  }
  journal_peak = 0;
  ag_result *res = ag_xcalloc(N, sizeof *res);
  block(app, ptr, len, N, res, NULL);
  for (int i = 0; i < N; i++) CHECK_EQ(res[i].code, 0);
  CHECK(journal_peak > 0);
  CHECK(journal_peak < 2 * SIZE); /* at most the one value the previous tx left */
  for (int i = 0; i < N; i++) ag_buf_free(&tx[i]);
  free(tx);
  free(ptr);
  free(len);
  free(res);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* ---- the staker-list attack -------------------------------------------------------------- */

/* 32,800 coldkeys each stake the minimum on one validator's hotkey. The staker list used to
 * grow by 32 bytes a staker until, past 32,768 stakers, the write exceeded the store's value
 * limit and every node aborted in finalize_block: about 0.1 AGR of fees halted the chain for
 * good. Now the list is bounded: the first max_stakers are taken, the rest fail with
 * stakers_full (fee paid, nothing else changes), a larger stake takes the smallest's place and
 * refunds it, and the chain goes on with every token accounted for. */
TEST(staker_list_attack_is_bounded) {
  enum { N = 32800, PER_BLOCK = 4000 };
  ag_keypair *ck = ag_xmalloc(N * sizeof *ck);
  for (int i = 0; i < N; i++) test_key(&ck[i], 20000 + i);
  app = open_chain(&dir, ck, N, AG_UNIT);
  ag_keypair hot;
  test_key(&hot, 19999);
  CHECK_OK(register_hotkey(app, 1, &hot, 1));
  ag_ist s = {ag_app_state(app), NULL};
  ag_incentive_params ip;
  CHECK_OK(ag_incentive_params_load(&s, &ip));
  CHECK(ip.max_stakers == 512 && ip.min_stake == AG_UNIT / 10);
  ag_buf p;
  ag_buf_init(&p);
  stake_payload(&p, hot.pk, ip.min_stake);
  ag_buf *tx = ag_xcalloc(PER_BLOCK, sizeof *tx);
  const uint8_t **ptr = ag_xcalloc(PER_BLOCK, sizeof *ptr);
  uint32_t *len = ag_xcalloc(PER_BLOCK, sizeof *len);
  ag_result *res = ag_xcalloc(PER_BLOCK, sizeof *res);
  int ok = 0, full = 0, other = 0;
  for (int done = 0; done < N; done += PER_BLOCK) {
    int n = N - done < PER_BLOCK ? N - done : PER_BLOCK;
    for (int i = 0; i < n; i++) {
      ag_buf_init(&tx[i]);
      sign(&tx[i], AG_TX_STAKE_ADD, &ck[done + i], 0, &p);
      ptr[i] = tx[i].data;
      len[i] = (uint32_t)tx[i].len;
    }
    block(app, ptr, len, (size_t)n, res, NULL);
    for (int i = 0; i < n; i++) {
      if (res[i].code == 0) ok++;
      else if (res[i].code == AG_E_STAKERS_FULL) full++;
      else other++;
      ag_buf_free(&tx[i]);
    }
  }
  CHECK_EQ(ok, 512);
  CHECK_EQ(full, N - 512);
  CHECK_EQ(other, 0);
  ag_staker *e;
  size_t n;
  CHECK_OK(ag_stakers_load(&s, hot.pk, &e, &n));
  CHECK_EQ(n, 512);
  free(e);
  uint8_t key[33] = {'d'};
  memcpy(key + 1, hot.pk, 32);
  ag_buf v;
  ag_buf_init(&v);
  CHECK_OK(ag_state_get_committed(ag_app_state(app), key, 33, &v));
  CHECK_U64(v.len, 512 * 40); /* the bound of docs/security.md */
  ag_buf_free(&v);
  /* a larger stake takes the smallest's place; the smallest (the greatest coldkey among equal
   * stakes) gets its stake back as balance */
  int last = N - 1; /* failed: its balance is intact but for the fee */
  uint64_t before = balance_of(app, ck[last].pk);
  stake_payload(&p, hot.pk, 2 * ip.min_stake);
  CHECK_EQ(one(app, AG_TX_STAKE_ADD, &ck[last], &p), 0);
  CHECK_OK(ag_stakers_load(&s, hot.pk, &e, &n));
  CHECK_EQ(n, 512);
  int found = 0;
  for (size_t i = 0; i < n; i++) found += !memcmp(e[i].coldkey, ck[last].pk, 32);
  CHECK_EQ(found, 1);
  free(e);
  CHECK(before - balance_of(app, ck[last].pk) == 2 * ip.min_stake + 100000);
  /* a stake below the minimum never enters */
  stake_payload(&p, hot.pk, ip.min_stake - 1);
  CHECK_EQ(one(app, AG_TX_STAKE_ADD, &A[3], &p), AG_E_STAKE_BELOW_MIN);
  /* the hotkey's owner may always stake on it, even when the list is full */
  stake_payload(&p, hot.pk, ip.min_stake);
  CHECK_EQ(one(app, AG_TX_STAKE_ADD, &A[1], &p), 0);
  ag_hotkey_info h;
  CHECK_OK(ag_hotkey_load(&s, hot.pk, &h));
  CHECK_OK(ag_stakers_load(&s, hot.pk, &e, &n));
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += e[i].stake;
  free(e);
  CHECK_U64(sum, h.total_stake);
  ag_app_info info;
  ag_app_info_get(app, &info);
  CHECK(info.height >= (uint64_t)(N / PER_BLOCK) + 4);
  free(tx);
  free(ptr);
  free(len);
  free(res);
  free(ck);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(a_coldkey_stakes_on_a_bounded_number_of_hotkeys) {
  enum { H = AG_MAX_STAKED_HOTKEYS + 1 };
  app = open_chain(&dir, NULL, 0, 0);
  /* hotkeys get an owner by registering: room for all of them on subnet 1 */
  ag_keypair *hk = ag_xmalloc(H * sizeof *hk);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, 8);
  ag_buf_puts(&p, "max_uids");
  ag_buf_put_u64le(&p, 4096);
  CHECK_EQ(one(app, AG_TX_SUBNET_SET, &A[0], &p), 0);
  for (int i = 0; i < H; i++) {
    test_key(&hk[i], 70000 + i);
    CHECK_EQ(register_hotkey(app, 5, &hk[i], 1), 0);
  }
  for (int i = 0; i < H; i++) {
    stake_payload(&p, hk[i].pk, AG_UNIT);
    int rc = one(app, AG_TX_STAKE_ADD, &A[6], &p);
    CHECK_EQ(rc, i < AG_MAX_STAKED_HOTKEYS ? 0 : AG_E_STAKE_LIMIT);
  }
  ag_ist s = {ag_app_state(app), NULL};
  uint8_t (*list)[32];
  size_t n;
  CHECK_OK(ag_stake_hotkeys(&s, A[6].pk, &list, &n));
  CHECK_EQ(n, AG_MAX_STAKED_HOTKEYS);
  free(list);
  free(hk);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* ---- endpoints ---------------------------------------------------------------------------- */

/* A neuron's announced host is pasted into URLs by every validator: it must be a host, not a
 * URL, and on a public chain not an address inside someone's network. */
TEST(endpoints_are_public_hosts_not_urls) {
  static const struct {
    const char *host;
    int ok_public, ok_private;
  } cases[] = {
      {"miner.example.com", 1, 1},   {"203.0.113.9", 0, 1},        {"8.8.8.8", 1, 1},
      {"2001:4860:4860::8888", 1, 1}, {"127.0.0.1", 0, 1},         {"10.1.2.3", 0, 1},
      {"172.20.0.1", 0, 1},           {"192.168.1.1", 0, 1},       {"169.254.169.254", 0, 1},
      {"100.64.0.1", 0, 1},           {"0.0.0.0", 0, 1},           {"224.0.0.1", 0, 1},
      {"::1", 0, 1},                  {"fe80::1", 0, 1},           {"fd00::5", 0, 1},
      {"::ffff:7f00:1", 0, 1},        {"localhost", 0, 1},         {"db.localhost", 0, 1},
      {"printer.local", 0, 1},        {"intranet", 0, 1},          {"evil.com/x?y=", 0, 0},
      {"user@evil.com", 0, 0},        {"evil.com:80", 0, 0},       {"127.1", 0, 0},
      {"0x7f.1", 0, 0},               {"01.2.3.4", 0, 0},          {"256.1.1.1", 0, 0},
      {"-a.com", 0, 0},               {"a..com", 0, 0},            {"a.com.", 0, 0},
      {"1.2.3.4.5", 0, 0},            {"[::1]", 0, 0},             {"1:2:3:4:5:6:7:8:9", 0, 0},
      {"1::2::3", 0, 0},              {"fe80::1%eth0", 0, 0},      {"", 0, 0},
  };
  for (size_t i = 0; i < AG_ARRAY_LEN(cases); i++) {
    int pub = ag_endpoint_check(cases[i].host, strlen(cases[i].host), 0) == 0;
    int priv = ag_endpoint_check(cases[i].host, strlen(cases[i].host), 1) == 0;
    if (pub != cases[i].ok_public || priv != cases[i].ok_private)
      fprintf(stderr, "  endpoint '%s': public %d private %d\n", cases[i].host, pub, priv);
    CHECK_EQ(pub, cases[i].ok_public);
    CHECK_EQ(priv, cases[i].ok_private);
  }
  char url[100];
  ag_endpoint_url("2001:db8::1", 80, url, sizeof url);
  CHECK_STR(url, "http://[2001:db8::1]:80");
  /* through the state machine: this chain's genesis does not allow private endpoints */
  app = open_chain(&dir, NULL, 0, 0);
  const ag_keypair hot = A[7]; /* funded: it pays its serve fees */
  CHECK_OK(register_hotkey(app, 1, &hot, 1));
  ag_buf p, tx;
  ag_buf_init(&p);
  ag_buf_init(&tx);
  const char *hosts[] = {"169.254.169.254", "miner.example.com", "a.b/c"};
  int want[] = {AG_E_BAD_ENDPOINT, 0, AG_E_BAD_ENDPOINT};
  for (int i = 0; i < 3; i++) {
    ag_buf_reset(&p);
    ag_buf_put_u16le(&p, 1);
    ag_buf_put_u8(&p, 1);
    ag_buf_put_u16le(&p, 8080);
    ag_buf_put_u8(&p, (uint8_t)strlen(hosts[i]));
    ag_buf_puts(&p, hosts[i]);
    CHECK_EQ(one(app, AG_TX_SERVE, &hot, &p), want[i]);
  }
  ag_ist s = {ag_app_state(app), NULL};
  ag_neuron nr;
  CHECK_OK(ag_neuron_load(&s, 1, 0, &nr));
  CHECK_STR(nr.host, "miner.example.com");
  ag_buf_free(&p);
  ag_buf_free(&tx);
  ag_app_close(app);
  test_rmdir(dir);
}

/* ---- random sequences of every kind ----------------------------------------------------- */

static const uint16_t all_kinds[] = {
    AG_TX_TRANSFER, AG_TX_MULTI_TRANSFER, AG_TX_STAKE_ADD, AG_TX_STAKE_REMOVE, AG_TX_SET_TAKE,
    AG_TX_SUBNET_CREATE, AG_TX_SUBNET_SET, AG_TX_REGISTER, AG_TX_SERVE, AG_TX_SET_WEIGHTS,
    AG_TX_COMMIT_WEIGHTS, AG_TX_REVEAL_WEIGHTS, AG_TX_SUDO_SET_SHARE, AG_TX_SUBNET_SET_MODEL,
    AG_TX_TRAIN_SUBMIT, AG_TX_TRAIN_PROPOSE, AG_TX_TRAIN_REVEAL,
    AG_TX_CHANNEL_OPEN, AG_TX_CHANNEL_FUND, AG_TX_CHANNEL_CLAIM, AG_TX_CHANNEL_CLOSE,
    AG_TX_OFFER_POST, AG_TX_OFFER_REMOVE, AG_TX_BOND_UNBOND, AG_TX_BOND_WITHDRAW,
    AG_TX_ASSET_REGISTER, AG_TX_ASSET_ROYALTY, AG_TX_SHARE_TRANSFER, AG_TX_SHARE_CLAIM,
    AG_TX_DISPUTE_OPEN, AG_TX_DISPUTE_COMMIT, AG_TX_DISPUTE_REVEAL,
    AG_TX_AGENT_KEY_SET, AG_TX_AGENT_KEY_REVOKE, AG_TX_AGENT_FREEZE, AG_TX_AGENT_EXEC,
    AG_TX_VALIDATOR_BOND, AG_TX_VALIDATOR_UNBOND, AG_TX_CHANNEL_CLAIMS,
};

static const char *const hp_names[] = {"tempo", "max_uids", "max_validators", "immunity_period",
                                       "kappa", "commit_reveal", "min_allowed_weights",
                                       "train_round_blocks", "train_submit_blocks", "train_top",
                                       "no_such", "max_weight_limit", "liquid_alpha", "yuma3"};

static uint64_t pick(uint64_t *seed, uint64_t n) { return n ? test_rand(seed) % n : 0; }

/* An amount that is often near a boundary: 0, 1, the minimum stake, a round sum, everything. */
static uint64_t amount(uint64_t *seed) {
  switch (pick(seed, 6)) {
  case 0: return pick(seed, 3);
  case 1: return AG_UNIT / 10 - 1 + pick(seed, 3);
  case 2: return (1 + pick(seed, 50)) * AG_UNIT;
  case 3: return UINT64_MAX - pick(seed, 2);
  default: return pick(seed, 2000 * AG_UNIT);
  }
}

/* Channels opened so far (ids), for channel txs to aim at. */
static uint8_t opened[4096][32];
static uint8_t actor_asset[64][32]; /* an asset each actor registered (actor_has) */
static int actor_has[64];
static size_t nopened;

/* One well-formed payload of kind, with random (often wrong) values, read against app's
 * committed state where the kind needs it (rounds, checkpoints). */
static void payload_of(ag_app *a, uint16_t kind, int sender, uint64_t *seed, ag_buf *p) {
  ag_ist s = {ag_app_state(a), NULL};
  const ag_keypair *other = &A[pick(seed, NA)];
  uint16_t netuid = (uint16_t)(1 + pick(seed, 3));
  switch (kind) {
  case AG_TX_VALIDATOR_BOND: /* sometimes signed for another sender */
    ag_payload_validator_bond(p, CHAIN, A[pick(seed, 8) ? sender : pick(seed, NA)].pk, CK[pick(seed, NCK)].sk,
                              pick(seed, 2) ? (5 + pick(seed, 40)) * AG_UNIT : amount(seed));
    break;
  case AG_TX_VALIDATOR_UNBOND: { /* mostly a key the sender bonded, part or all of it */
    ag_vcandidate *vc;
    size_t nv;
    CHECK_OK(ag_vstake_list(&s, &vc, &nv));
    const ag_vcandidate *mine = NULL;
    for (size_t i = 0; i < nv; i++)
      if (!memcmp(vc[i].owner, A[sender].pk, 32) && vc[i].bond) mine = &vc[i];
    if (mine && pick(seed, 4)) {
      ag_buf_put(p, mine->pk, 32);
      ag_buf_put_u64le(p, pick(seed, 2) ? mine->bond : 1 + pick(seed, mine->bond));
    } else {
      ag_buf_put(p, CK[pick(seed, NCK)].pk, 32);
      ag_buf_put_u64le(p, pick(seed, 2) ? (1 + pick(seed, 30)) * AG_UNIT : amount(seed));
    }
    free(vc);
    break;
  }
  case AG_TX_TRANSFER: ag_transfer_encode(p, other->pk, amount(seed)); break;
  case AG_TX_MULTI_TRANSFER: {
    ag_transfer t[5];
    uint16_t n = (uint16_t)(1 + pick(seed, 5));
    for (uint16_t i = 0; i < n; i++) {
      memcpy(t[i].to, A[pick(seed, NA)].pk, 32);
      t[i].amount = 1 + pick(seed, 10 * AG_UNIT);
    }
    ag_multi_transfer_encode(p, t, n);
    break;
  }
  case AG_TX_STAKE_ADD:
  case AG_TX_STAKE_REMOVE: stake_payload(p, other->pk, amount(seed)); break;
  case AG_TX_SET_TAKE:
    ag_buf_put(p, other->pk, 32);
    ag_buf_put_u16le(p, (uint16_t)pick(seed, 20000));
    break;
  case AG_TX_SUBNET_CREATE:
    ag_buf_put_u64le(p, pick(seed, 2) ? 10 * AG_UNIT : AG_UNIT);
    ag_buf_put(p, other->pk, 32);
    ag_buf_put_u8(p, 3);
    ag_buf_puts(p, "net");
    break;
  case AG_TX_SUBNET_SET: {
    const char *name = hp_names[pick(seed, AG_ARRAY_LEN(hp_names))];
    ag_buf_put_u16le(p, netuid);
    ag_buf_put_u8(p, (uint8_t)strlen(name));
    ag_buf_puts(p, name);
    ag_buf_put_u64le(p, pick(seed, 4) ? pick(seed, 20) : amount(seed));
    break;
  }
  case AG_TX_REGISTER: {
    uint8_t claim[32], sig[64];
    ag_hotkey_claim_hash(CHAIN, A[sender].pk, other->pk, claim);
    ag_sign(other, claim, 32, sig);
    if (!pick(seed, 8)) sig[5] ^= 1;
    ag_buf_put_u16le(p, netuid);
    ag_buf_put(p, other->pk, 32);
    ag_buf_put_u64le(p, pick(seed, 4) ? 100 * AG_UNIT : pick(seed, AG_UNIT));
    ag_buf_put(p, sig, 64);
    break;
  }
  case AG_TX_SERVE:
    ag_buf_put_u16le(p, netuid);
    ag_buf_put_u8(p, 1);
    ag_buf_put_u16le(p, (uint16_t)(1 + pick(seed, 65535)));
    ag_buf_put_u8(p, 9);
    ag_buf_puts(p, pick(seed, 2) ? "127.0.0.1" : "10.0.0.77");
    break;
  case AG_TX_SET_WEIGHTS:
  case AG_TX_REVEAL_WEIGHTS: {
    /* sometimes the largest vector a payload may carry */
    uint16_t n = pick(seed, 10) ? (uint16_t)pick(seed, 14) : AG_MAX_UIDS;
    uint16_t uids[AG_MAX_UIDS], w[AG_MAX_UIDS];
    for (uint16_t i = 0; i < n; i++) {
      uids[i] = n > 14 ? i : (uint16_t)pick(seed, 14);
      w[i] = (uint16_t)pick(seed, 65536);
    }
    uint8_t salt[32] = {(uint8_t)pick(seed, 4)};
    ag_payload_weights(p, netuid, pick(seed, 3), uids, w, n,
                       kind == AG_TX_REVEAL_WEIGHTS ? salt : NULL);
    break;
  }
  case AG_TX_COMMIT_WEIGHTS: {
    uint8_t h[32];
    uint16_t uids[2] = {0, 1}, w[2] = {1, 2};
    uint8_t salt[32] = {(uint8_t)pick(seed, 4)};
    ag_weights_commit_hash(A[sender].pk, netuid, 0, uids, w, 2, salt, h);
    ag_buf_put_u16le(p, netuid);
    ag_buf_put(p, h, 32);
    break;
  }
  case AG_TX_SUDO_SET_SHARE:
    ag_buf_put_u16le(p, netuid);
    ag_buf_put_u16le(p, (uint16_t)pick(seed, 4));
    break;
  case AG_TX_SUBNET_SET_MODEL: {
    uint8_t id[32];
    memset(id, (int)pick(seed, 3), 32);
    ag_buf_put_u16le(p, netuid);
    ag_buf_put_u8(p, (uint8_t)pick(seed, 3));
    ag_buf_put(p, id, 32);
    ag_buf_put_u64le(p, 1 + pick(seed, 200000));
    break;
  }
  case AG_TX_TRAIN_SUBMIT:
  case AG_TX_ASSET_REGISTER: {
    /* a few ids, so that parents, transfers and claims meet registered assets */
    uint8_t id[32], par[2][32];
    uint16_t bps[2] = {(uint16_t)pick(seed, 3000), (uint16_t)pick(seed, 3000)};
    memset(id, 0x40 + (int)pick(seed, 6), 32);
    memset(par[0], 0x40 + (int)pick(seed, 6), 32);
    memset(par[1], 0x40 + (int)pick(seed, 6), 32);
    ag_payload_asset_register(p, (uint8_t)(1 + pick(seed, 2)), id, (uint16_t)(pick(seed, 2) ? pick(seed, 6000) : 0),
                              pick(seed, 4) ? 1 + pick(seed, 1000000) : amount(seed), (const uint8_t(*)[32])par, bps,
                              (uint8_t)pick(seed, 3));
    break;
  }
  case AG_TX_ASSET_ROYALTY:
  case AG_TX_SHARE_TRANSFER:
  case AG_TX_SHARE_CLAIM: {
    uint8_t id[32];
    memset(id, 0x40 + (int)pick(seed, 6), 32);
    if (actor_has[sender] && pick(seed, 2)) memcpy(id, actor_asset[sender], 32); /* its own */
    ag_buf_put(p, id, 32);
    if (kind == AG_TX_ASSET_ROYALTY) ag_buf_put_u16le(p, (uint16_t)pick(seed, 6000));
    else ag_buf_put(p, pick(seed, 3) ? A[sender].pk : other->pk, 32);
    if (kind == AG_TX_SHARE_TRANSFER) ag_buf_put_u64le(p, pick(seed, 2) ? 1 + pick(seed, 1000) : amount(seed));
    break;
  }
  case AG_TX_DISPUTE_OPEN: {
    /* evidence signed by a random key (often the one it names) about a channel opened here */
    ag_evidence e;
    memset(&e, 0, sizeof e);
    const ag_keypair *hk = &A[pick(seed, NA)], *sg = pick(seed, 4) ? hk : other;
    memcpy(e.hotkey, hk->pk, 32);
    if (nopened) memcpy(e.pay.channel, opened[pick(seed, nopened)], 32);
    e.pay.seq = 1 + pick(seed, 3);
    e.pay.cost = pick(seed, 10000);
    e.pay.height = pick(seed, 2) ? ag_app_block_ctx(a)->height : pick(seed, 100000);
    const char *body = "{\"model\":\"default\",\"prompt\":\"x\"}";
    e.body = (const uint8_t *)body;
    e.body_len = (uint32_t)strlen(body);
    e.text = (const uint8_t *)"y";
    e.text_len = 1;
    e.receipt = (const uint8_t *)"r";
    e.receipt_len = 1;
    uint8_t reqh[32], msg[32];
    ag_answer_request_hash(e.body, e.body_len, reqh);
    ag_pay_receipt_message(e.hotkey, reqh, &e.pay, msg);
    ag_sign(sg, msg, 32, e.pay_sig);
    ag_answer_message(e.hotkey, reqh, e.text, e.text_len, e.commitment, e.receipt, e.receipt_len, msg);
    ag_sign(sg, msg, 32, e.answer_sig);
    ag_buf ev;
    ag_buf_init(&ev);
    ag_evidence_encode(&ev, &e);
    ag_payload_dispute_open(p, (uint16_t)pick(seed, 3), pick(seed, 2) ? AG_UNIT : amount(seed), ev.data, ev.len);
    ag_buf_free(&ev);
    break;
  }
  case AG_TX_DISPUTE_COMMIT:
  case AG_TX_DISPUTE_REVEAL: {
    uint8_t id[32];
    memset(id, (int)pick(seed, 4), 32);
    ag_buf_put(p, id, 32);
    ag_buf_put(p, id, 32);
    if (kind == AG_TX_DISPUTE_REVEAL) ag_buf_put(p, id, 32), ag_buf_put(p, id, 32); /* vote, work, salt */
    break;
  }
  case AG_TX_OFFER_POST:
  case AG_TX_OFFER_REMOVE:
  case AG_TX_BOND_UNBOND:
  case AG_TX_BOND_WITHDRAW: {
    /* mostly a hotkey the sender owns, when it owns one */
    for (size_t i = 0, start = pick(seed, NA), look = pick(seed, 4) != 0; look && i < NA; i++) {
      ag_hotkey_info h;
      const ag_keypair *k = &A[(start + i) % NA];
      ag_bond bd;
      int want_bond = kind == AG_TX_BOND_UNBOND || kind == AG_TX_BOND_WITHDRAW;
      if (ag_hotkey_load(&s, k->pk, &h) == 0 && !memcmp(h.owner, A[sender].pk, 32) &&
          (!want_bond || ag_bond_load(ag_app_state(a), NULL, k->pk, &bd) == 0)) {
        other = k;
        break;
      }
    }
    if (kind == AG_TX_BOND_UNBOND) {
      ag_payload_bond(p, other->pk, pick(seed, 2) ? AG_UNIT : amount(seed));
      break;
    }
    if (kind == AG_TX_BOND_WITHDRAW) {
      ag_buf_put(p, other->pk, 32);
      break;
    }
    uint8_t model[32];
    memset(model, (int)pick(seed, 2), 32);
    if (kind == AG_TX_OFFER_REMOVE) ag_payload_offer_remove(p, other->pk, model);
    else
      ag_payload_offer_post(p, other->pk, model, pick(seed, 1000), amount(seed),
                            (uint32_t)pick(seed, 2000), pick(seed, 3) ? 20 * AG_UNIT : amount(seed));
    break;
  }
  case AG_TX_CHANNEL_OPEN:
    /* a few providers, so that claims often come from the channel's own provider */
    ag_payload_channel_open(p, A[1 + pick(seed, 3)].pk, NULL, NULL, amount(seed), pick(seed, 30),
                            pick(seed, 3) ? 0 : pick(seed, 200));
    break;
  case AG_TX_CHANNEL_FUND:
  case AG_TX_CHANNEL_CLAIM:
  case AG_TX_CHANNEL_CLOSE: {
    /* mostly a channel the sender is a party to, else any one opened, else any id */
    int k = (int)pick(seed, NA);
    uint8_t id[32];
    ag_channel_id(CHAIN, A[k].pk, pick(seed, 100), id);
    if (nopened && pick(seed, 8)) memcpy(id, opened[pick(seed, nopened)], 32);
    ag_channel ch;
    int found = 0;
    for (size_t i = 0, start = pick(seed, nopened + 1), look = pick(seed, 4) != 0; look && i < nopened; i++) {
      const uint8_t *c = opened[(start + i) % nopened];
      if (ag_channel_load(ag_app_state(a), NULL, c, &ch) == 0 && ch.status != AG_CHANNEL_CLOSED &&
          !memcmp(kind == AG_TX_CHANNEL_CLAIM ? ch.provider : ch.client, A[sender].pk, 32)) {
        found = 1;
        memcpy(id, c, 32);
        for (k = 0; k < NA && memcmp(A[k].pk, ch.client, 32); k++) {
        }
        break;
      }
    }
    if (kind == AG_TX_CHANNEL_FUND) ag_payload_channel_fund(p, id, amount(seed));
    else if (kind == AG_TX_CHANNEL_CLOSE) ag_payload_channel_close(p, id);
    else {
      ag_buf v;
      ag_buf_init(&v);
      uint64_t cum = pick(seed, 2) ? pick(seed, 20 * AG_UNIT) : amount(seed);
      if (found && pick(seed, 2)) cum = ch.claimed + 1 + pick(seed, ch.deposit - ch.claimed); /* fits */
      ag_voucher_sign(&v, CHAIN, id, cum, (found ? ch.seq : 0) + 1 + pick(seed, 40),
                      pick(seed, 6) ? &A[k] : other);
      ag_payload_channel_claim(p, (uint8_t)pick(seed, 2), pick(seed, 3) ? 0 : pick(seed, cum + 1), v.data, v.len);
      ag_buf_free(&v);
    }
    break;
  }
  case AG_TX_CHANNEL_CLAIMS: { /* one to three claims as channel_claim makes them, all or none */
    size_t k = 1 + pick(seed, 3);
    ag_buf_put_u16le(p, (uint16_t)k);
    for (size_t i = 0; i < k; i++) payload_of(a, AG_TX_CHANNEL_CLAIM, sender, seed, p);
    break;
  }
  case AG_TX_AGENT_KEY_SET: {
    /* agent keys among the actors: mostly live and roomy, sometimes caps near the amounts
     * others move, sometimes terms never allowed */
    ag_agent_terms t;
    memset(&t, 0, sizeof t);
    t.kinds = ag_agent_grantable() & (pick(seed, 2) ? test_rand(seed) : UINT64_MAX);
    if (!pick(seed, 8)) t.kinds |= 1ULL << pick(seed, 64);
    t.flags = (uint8_t)pick(seed, 3);
    int roomy = pick(seed, 3) != 0;
    t.anchor = roomy ? 0 : pick(seed, 40);
    t.expires = t.anchor + (roomy ? 100000 : pick(seed, 300));
    t.period = roomy ? 1 + pick(seed, 10) : pick(seed, 10);
    t.max_per_tx = roomy ? 30 * AG_UNIT : amount(seed);
    t.period_cap = roomy ? 60 * AG_UNIT : amount(seed);
    t.lifetime_cap = roomy ? 500 * AG_UNIT : amount(seed);
    t.fee_cap = roomy ? AG_UNIT : amount(seed);
    t.n = (uint8_t)(roomy ? AG_AGENT_MAX_RCPT : pick(seed, 4));
    for (size_t i = 0, start = pick(seed, NA); i < t.n; i++) memcpy(t.rcpt[i], A[(start + i) % NA].pk, 32);
    ag_payload_agent_key_set(p, other->pk, &t);
    break;
  }
  case AG_TX_AGENT_KEY_REVOKE: {
    /* mostly one of the sender's own keys */
    ag_agent_index x;
    if (pick(seed, 4) && ag_agent_index_load(ag_app_state(a), NULL, A[sender].pk, &x) == 0 && x.n) {
      ag_buf_put(p, A[sender].pk, 32);
      ag_buf_put(p, x.agent[pick(seed, x.n)], 32);
      break;
    }
    ag_buf_put(p, pick(seed, 2) ? A[sender].pk : other->pk, 32);
    ag_buf_put(p, pick(seed, 2) ? A[sender].pk : other->pk, 32);
    break;
  }
  case AG_TX_AGENT_FREEZE: ag_buf_put_u8(p, (uint8_t)(pick(seed, 4) ? 0 : pick(seed, 8) ? 1 : pick(seed, 256))); break;
  case AG_TX_AGENT_EXEC: {
    /* the sender acting as another actor's agent key: any kind, its payload as that actor's */
    int acct = (int)pick(seed, NA);
    uint16_t inner = all_kinds[pick(seed, sizeof all_kinds / sizeof all_kinds[0])];
    for (size_t i = 0, start = pick(seed, NA), look = pick(seed, 4) != 0; look && i < NA; i++) {
      ag_agent_key k; /* mostly an account that authorised the sender, and a kind it granted */
      if (ag_agent_key_load(ag_app_state(a), NULL, A[(start + i) % NA].pk, A[sender].pk, &k) == 0) {
        acct = (int)((start + i) % NA);
        for (int tries = 0, want = pick(seed, 4) != 0; want && tries < 64 && !(k.terms.kinds >> inner & 1); tries++)
          inner = all_kinds[pick(seed, sizeof all_kinds / sizeof all_kinds[0])];
        break;
      }
    }
    if (inner == AG_TX_AGENT_EXEC) inner = AG_TX_TRANSFER;
    ag_buf q;
    ag_buf_init(&q);
    payload_of(a, inner, acct, seed, &q);
    ag_payload_agent_exec(p, A[acct].pk, inner, q.data, q.len);
    ag_buf_free(&q);
    break;
  }
  case AG_TX_TRAIN_REVEAL:
  case AG_TX_TRAIN_PROPOSE: {
    ag_training t;
    ag_subnet_model m;
    uint64_t round = pick(seed, 3);
    uint8_t base[32] = {0}, blob[32];
    memset(blob, (int)pick(seed, 256), 32);
    if (ag_training_load(&s, 2, &t) == 0) {
      round = pick(seed, 6) ? t.round : t.round + 1;
      if (kind == AG_TX_TRAIN_PROPOSE && t.nsubs && pick(seed, 2)) {
        uint16_t uids[4];
        uint64_t scores[4];
        uint16_t n = 0;
        for (uint16_t i = 0; i < t.nsubs && n < 4; i++) {
          uids[n] = t.subs[i].uid;
          scores[n++] = 1 + pick(seed, 1000);
        }
        if (ag_subnet_model_load(&s, 2, &m) == 0) memcpy(base, m.model_id, 32);
        ag_payload_train_propose(p, 2, round, base, blob, 5000, blob, 7000000, uids, scores, n);
        ag_training_free(&t);
        break;
      }
      ag_training_free(&t);
    }
    if (ag_subnet_model_load(&s, 2, &m) == 0 && pick(seed, 5)) memcpy(base, m.model_id, 32);
    /* a trainer's own blob: blob byte = its actor number, so its reveal can match */
    uint8_t mine[32], commit[32];
    memset(mine, sender, 32);
    uint64_t size = 1000 + (uint64_t)sender;
    ag_train_commitment(A[sender].pk, 2, round, mine, size, commit);
    if (kind == AG_TX_TRAIN_SUBMIT)
      ag_payload_train_submit(p, 2, round, base, pick(seed, 4) ? commit : blob);
    else if (kind == AG_TX_TRAIN_REVEAL)
      ag_payload_train_reveal(p, 2, round, pick(seed, 4) ? mine : blob, pick(seed, 4) ? size : 1 + pick(seed, 150000));
    else
      ag_payload_train_propose(p, 2, round, base, pick(seed, 2) ? base : blob, 5000, blob, 7000000, NULL, NULL, 0);
    break;
  }
  }
}

/* Random blocks of every kind — well-formed with random values, mutated, or garbage, some with
 * wrong nonces — through two nodes: no block fails, both reach the same root at every height,
 * every token is accounted for after every block, and a restart rebuilds the same tree. */
/* The set's power per consensus key (0 for none). */
static void powers(ag_app *a, uint64_t pw[NCK], uint64_t *total) {
  ag_validator *set;
  size_t n;
  CHECK_OK(ag_app_validator_list(a, &set, &n));
  *total = 0;
  for (int k = 0; k < NCK; k++) pw[k] = 0;
  for (size_t i = 0; i < n; i++) {
    *total += set[i].power;
    for (int k = 0; k < NCK; k++)
      if (!memcmp(set[i].pk, CK[k].pk, 32)) pw[k] = set[i].power;
  }
  free(set);
}

TEST(property_random_txs_of_every_kind) {
  char *d2;
  with_validators = 1; /* a CometBFT chain: validator bonds, votes and evidence too */
  app = open_chain(&dir, NULL, 0, 0);
  ag_app *b = open_chain(&d2, NULL, 0, 0);
  with_validators = 0;
  uint64_t pw_before[NCK], total_before, bonded_power = 0;
  powers(app, pw_before, &total_before);
  uint64_t seed = 0x5eed, nonces[NA] = {0};
  int codes[1024] = {0}, ok = 0, ok_kind[64] = {0};
  for (int blk = 0; blk < 300; blk++) {
    enum { MAXN = 48 };
    ag_buf tx[MAXN];
    uint16_t kinds[MAXN];
    int senders[MAXN];
    uint64_t tx_nonces[MAXN];
    const uint8_t *ptr[MAXN];
    uint32_t len[MAXN];
    size_t n = pick(&seed, MAXN);
    for (size_t i = 0; i < n; i++) {
      int sender = (int)pick(&seed, NA);
      uint16_t kind = all_kinds[pick(&seed, AG_ARRAY_LEN(all_kinds))];
      kinds[i] = kind;
      ag_buf p;
      ag_buf_init(&p);
      payload_of(app, kind, sender, &seed, &p);
      int shape = (int)pick(&seed, 10);
      if (shape == 0 && p.len) { /* a flipped byte */
        p.data[pick(&seed, p.len)] ^= (uint8_t)(1 + pick(&seed, 255));
      } else if (shape == 1 && p.len) { /* truncated or extended */
        if (pick(&seed, 2)) p.len = pick(&seed, p.len);
        else ag_buf_put_u8(&p, 0);
      } else if (shape == 2) { /* garbage */
        ag_buf_reset(&p);
        size_t gl = pick(&seed, 300);
        for (size_t k = 0; k < gl; k++) ag_buf_put_u8(&p, (uint8_t)pick(&seed, 256));
      }
      uint64_t nonce = nonces[sender];
      if (!pick(&seed, 20)) nonce += pick(&seed, 2) ? 1 : (uint64_t)-1;
      senders[i] = sender;
      tx_nonces[i] = nonce;
      ag_buf_init(&tx[i]);
      ag_tx_build(&tx[i], kind, CHAIN, &A[sender], nonce, 100000 + pick(&seed, 1000), 0, p.data,
                  (uint32_t)p.len);
      if (nonce == nonces[sender]) nonces[sender]++;
      ptr[i] = tx[i].data;
      len[i] = (uint32_t)tx[i].len;
      ag_buf_free(&p);
    }
    /* the previous block's votes: each validator signed it 3 times in 4; now and then evidence
     * that a consensus key signed twice */
    ag_validator *set;
    size_t nset;
    CHECK_OK(ag_app_validator_list(app, &set, &nset));
    ag_vote_info votes[AG_VALIDATORS_MAX];
    ag_misbehavior mis = {{0}, 1, 1};
    for (size_t i = 0; i < nset && i < AG_VALIDATORS_MAX; i++) {
      ag_vstake_address(set[i].pk, votes[i].addr);
      votes[i].signed_block = pick(&seed, 4) != 0;
      votes[i].power = set[i].power;
    }
    free(set);
    ag_vstake_address(CK[pick(&seed, NCK)].pk, mis.addr);
    g_votes = votes;
    g_nvotes = nset;
    g_mis = &mis;
    g_nmis = pick(&seed, 40) == 0;
    ag_result ra[MAXN], rb[MAXN];
    uint8_t roota[32], rootb[32];
    block(app, ptr, len, n, ra, roota);
    block(b, ptr, len, n, rb, rootb);
    g_votes = NULL;
    g_nvotes = g_nmis = 0;
    CHECK_MEM(roota, rootb, 32);
    /* what a block adds to the bonded keys' power stays under a third of the total after it */
    uint64_t pw[NCK], total, added = 0;
    powers(app, pw, &total);
    for (int k = NG; k < NCK; k++) {
      added += pw[k] > pw_before[k] ? pw[k] - pw_before[k] : 0;
      bonded_power |= pw[k];
    }
    CHECK(total > 0);
    CHECK(3 * added < total);
    memcpy(pw_before, pw, sizeof pw);
    for (size_t i = 0; i < n; i++) {
      CHECK_EQ(ra[i].code, rb[i].code);
      if (ra[i].code == 0) ok++, ok_kind[kinds[i] & 63]++;
      if (ra[i].code == 0 && kinds[i] == AG_TX_ASSET_REGISTER) {
        ag_tx t;
        if (ag_tx_decode(ptr[i], len[i], &t) == 0) memcpy(actor_asset[senders[i]], t.payload + 1, 32);
        actor_has[senders[i]] = 1;
      }
      if (ra[i].code == 0 && kinds[i] == AG_TX_CHANNEL_OPEN && nopened < AG_ARRAY_LEN(opened))
        ag_channel_id(CHAIN, A[senders[i]].pk, tx_nonces[i], opened[nopened++]);
      codes[-ra[i].code & 1023]++;
      ag_buf_free(&tx[i]);
    }
    for (int k = 0; k < NA; k++) nonces[k] = nonce_of(app, A[k].pk); /* what really happened */
  }
  CHECK(ok > 150); /* the sequences reach the kinds' logic, not only their decoders */
  CHECK(ok_kind[AG_TX_CHANNEL_OPEN] > 0 && ok_kind[AG_TX_CHANNEL_CLAIM] > 0 && ok_kind[AG_TX_CHANNEL_CLOSE] > 0);
  CHECK(ok_kind[AG_TX_CHANNEL_CLAIMS] > 0);
  CHECK(ok_kind[AG_TX_OFFER_POST] > 0 && ok_kind[AG_TX_BOND_UNBOND] > 0);
  CHECK(ok_kind[AG_TX_VALIDATOR_BOND] > 0 && ok_kind[AG_TX_VALIDATOR_UNBOND] > 0 && bonded_power > 0);
  CHECK(ok_kind[AG_TX_AGENT_KEY_SET] > 0 && ok_kind[AG_TX_AGENT_EXEC] > 0 && ok_kind[AG_TX_AGENT_KEY_REVOKE] > 0);
  if (getenv("ADV_TRACE"))
    for (int k = 0; k < 64; k++)
      if (ok_kind[k]) fprintf(stderr, "  %s: %d\n", ag_tx_kind_name((uint16_t)k), ok_kind[k]);
  CHECK(ok_kind[AG_TX_ASSET_REGISTER] > 0 && ok_kind[AG_TX_SHARE_TRANSFER] > 0 && ok_kind[AG_TX_SHARE_CLAIM] > 0);
  int distinct = 0;
  for (int c = 0; c < 1024; c++) distinct += codes[c] > 0;
  CHECK(distinct > 20);
  ag_app_info before, after;
  ag_app_info_get(app, &before);
  ag_app_close(app);
  CHECK_OK(ag_app_open(dir, &app)); /* rebuilds the tree from the store and checks the root */
  ag_app_info_get(app, &after);
  CHECK_MEM(before.app_hash, after.app_hash, 32);
  ag_app_close(app);
  ag_app_close(b);
  test_rmdir(dir);
  test_rmdir(d2);
}

TEST_MAIN(oversized_write_fails_the_tx_and_the_chain_goes_on, journal_holds_one_tx_at_a_time,
          staker_list_attack_is_bounded, a_coldkey_stakes_on_a_bounded_number_of_hotkeys,
          endpoints_are_public_hosts_not_urls,
          property_random_txs_of_every_kind)
