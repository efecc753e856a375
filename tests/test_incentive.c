/* test_incentive.c — stake, subnets, registration, weights, commit-reveal, emission and the
 * epoch through the real state machine; every bad input gets its own error and changes nothing;
 * issuance follows the schedule and every token stays accounted for. */
#include "chain/app.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "incentive/training.h"
#include "test.h"
#include "testutil.h"

#define CHAIN "agora-test"
#define NK 12
#define START (100000ULL * AG_UNIT)

static ag_keypair K[NK]; /* 0: owner/sudo, 1..3: validator coldkeys, 4..6: their hotkeys,
                            7..8: miner coldkeys, 9..10: miner hotkeys, 11: stranger */
static char *dir;
static ag_app *app;
static ag_genesis gen;

static const char *vparams_json; /* appended to the incentive section, e.g. ",\"validators\":{...}" */

static const char *modules_json(uint64_t reward, uint64_t halving, int tempo, int cr, int max_uids,
                                int immunity) {
  static char buf[2048];
  char owner[AG_ADDR_MAX];
  ag_addr_encode(K[0].pk, owner);
  snprintf(buf, sizeof buf,
           "{\"incentive\":{\"block_reward\":\"%llu\",\"halving_interval\":%llu,"
           "\"subnet_cost\":\"%llu\",\"sudo\":\"%s\",\"subnets\":[{\"name\":\"test\",\"owner\":\"%s\","
           "\"hyperparams\":{\"tempo\":%d,\"commit_reveal\":%d,\"max_uids\":%d,\"immunity_period\":%d,"
           "\"weights_rate_limit\":2,\"activity_cutoff\":1000,\"max_validators\":%d}}]%s}}",
           (unsigned long long)reward, (unsigned long long)halving,
           (unsigned long long)(10 * AG_UNIT), owner, owner, tempo, cr, max_uids, immunity,
           max_uids < 3 ? max_uids : 3, vparams_json ? vparams_json : "");
  return buf;
}

static ag_validator *genesis_vals; /* CometBFT's genesis validators for the next setup (NULL: solo) */
static size_t ngenesis_vals;

static void setup(uint64_t reward, uint64_t halving, int tempo, int cr, int max_uids, int immunity) {
  dir = test_tmpdir("incentive");
  CHECK_OK(ag_app_open(dir, &app));
  ag_incentive_attach(app);
  ag_economy_attach(app);
  memset(&gen, 0, sizeof gen);
  strcpy(gen.chain_id, CHAIN);
  gen.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&gen.params);
  gen.naccounts = NK;
  gen.accounts = calloc(NK, sizeof *gen.accounts);
  for (int i = 0; i < NK; i++) {
    test_key(&K[i], 500 + i);
    memcpy(gen.accounts[i].pk, K[i].pk, 32);
    gen.accounts[i].balance = START;
  }
  gen.modules = strdup(modules_json(reward, halving, tempo, cr, max_uids, immunity));
  ag_genesis_rehash(&gen);
  if (ngenesis_vals) {
    gen.validators = calloc(ngenesis_vals, sizeof *gen.validators);
    memcpy(gen.validators, genesis_vals, ngenesis_vals * sizeof *gen.validators);
    gen.nvalidators = ngenesis_vals;
  }
  uint8_t h[32];
  int rc = ag_app_init_chain(app, &gen, h);
  if (rc) fprintf(stderr, "  init_chain: %s\n", ag_errmsg(rc));
  CHECK_OK(rc);
}

static void teardown(void) {
  ag_app_close(app);
  ag_genesis_free(&gen);
  test_rmdir(dir);
}

static uint64_t height(void) {
  ag_app_info i;
  ag_app_info_get(app, &i);
  return i.height;
}

static uint64_t last_block_time_ms(void) {
  ag_app_info i;
  ag_app_info_get(app, &i);
  return i.time_ms;
}

/* Runs one block with the given raw txs, the previous block's votes and the block's evidence;
 * returns the first tx's result code. */
static int block_with(ag_buf *txs, size_t n, const ag_vote_info *votes, size_t nv, const ag_misbehavior *mis, size_t nm) {
  ag_app_info info;
  ag_app_info_get(app, &info);
  const uint8_t *p[16];
  uint32_t l[16];
  ag_result r[16];
  for (size_t i = 0; i < n; i++) {
    p[i] = txs[i].data;
    l[i] = (uint32_t)txs[i].len;
  }
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}, votes, nv, mis, nm};
  uint8_t root[32];
  int rc = ag_app_finalize_block(app, &ctx, p, l, n, r, root);
  if (!rc) rc = ag_app_commit(app, NULL, 0, NULL);
  CHECK_OK(rc);
  /* after every block, every token is accounted for */
  uint64_t acc, iss;
  CHECK_OK(ag_economy_audit(ag_app_state(app), &acc, &iss));
  CHECK_U64(acc, iss);
  return n ? r[0].code : 0;
}

static int block_of(ag_buf *txs, size_t n) { return block_with(txs, n, NULL, 0, NULL, 0); }

static void empty_blocks(int n) {
  for (int i = 0; i < n; i++) block_of(NULL, 0);
}

/* Signs and executes one tx from key k in its own block. */
static int run(int k, uint16_t kind, const ag_buf *payload) {
  ag_account a;
  ag_app_account(app, K[k].pk, &a);
  ag_buf tx;
  ag_buf_init(&tx);
  ag_tx_build(&tx, kind, CHAIN, &K[k], a.nonce, 1000000, 0, payload->data, (uint32_t)payload->len);
  int rc = block_of(&tx, 1);
  ag_buf_free(&tx);
  return rc;
}

static uint64_t balance(int k) {
  ag_account a;
  ag_app_account(app, K[k].pk, &a);
  return a.balance;
}

static int do_register(int coldkey, int hotkey, uint64_t max_cost, int bad_sig) {
  uint8_t claim[32], sig[64];
  ag_hotkey_claim_hash(CHAIN, K[coldkey].pk, K[hotkey].pk, claim);
  ag_sign(&K[hotkey], claim, 32, sig);
  if (bad_sig) sig[0] ^= 1;
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put(&p, K[hotkey].pk, 32);
  ag_buf_put_u64le(&p, max_cost);
  ag_buf_put(&p, sig, 64);
  int rc = run(coldkey, AG_TX_REGISTER, &p);
  ag_buf_free(&p);
  return rc;
}

static int do_stake(int coldkey, int hotkey, uint16_t kind, uint64_t amount) {
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, K[hotkey].pk, 32);
  ag_buf_put_u64le(&p, amount);
  int rc = run(coldkey, kind, &p);
  ag_buf_free(&p);
  return rc;
}

static int do_weights(int hotkey, uint16_t kind, const uint16_t *uids, const uint16_t *w, uint16_t n,
                      uint16_t m, uint64_t vk, const uint8_t *salt) {
  ag_buf p;
  ag_buf_init(&p);
  if (kind == AG_TX_COMMIT_WEIGHTS) {
    uint8_t h[32];
    ag_weights_commit_hash(K[hotkey].pk, 1, vk, uids, w, n, salt, h);
    ag_buf_put_u16le(&p, 1);
    ag_buf_put(&p, h, 32);
  } else {
    ag_buf_put_u16le(&p, 1);
    ag_buf_put_u64le(&p, vk);
    ag_buf_put_u16le(&p, n);
    for (int i = 0; i < n; i++) ag_buf_put_u16le(&p, uids[i]);
    ag_buf_put_u16le(&p, m);
    for (int i = 0; i < m; i++) ag_buf_put_u16le(&p, w[i]);
    if (kind == AG_TX_REVEAL_WEIGHTS) ag_buf_put(&p, salt, 32);
  }
  int rc = run(hotkey, kind, &p);
  ag_buf_free(&p);
  return rc;
}

static int set_param(int who, const char *name, uint64_t v) {
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, (uint8_t)strlen(name));
  ag_buf_puts(&p, name);
  ag_buf_put_u64le(&p, v);
  int rc = run(who, AG_TX_SUBNET_SET, &p);
  ag_buf_free(&p);
  return rc;
}

static ag_subnet subnet(void) {
  ag_ist s = {ag_app_state(app), NULL};
  ag_subnet sn;
  CHECK_OK(ag_subnet_load(&s, 1, &sn));
  return sn;
}

static ag_neuron neuron(uint16_t uid) {
  ag_ist s = {ag_app_state(app), NULL};
  ag_neuron nr;
  CHECK_OK(ag_neuron_load(&s, 1, uid, &nr));
  return nr;
}

TEST(issuance_follows_the_halving_schedule) {
  setup(1000, 10, 5, 0, 8, 0);
  ag_supply s0;
  ag_app_supply(app, &s0);
  empty_blocks(35);
  ag_supply s1;
  ag_app_supply(app, &s1);
  uint64_t want = 9 * 1000 + 10 * 500 + 10 * 250 + 6 * 125;
  CHECK_U64(s1.issued - s0.issued, want);
  ag_incentive_params p;
  ag_incentive_params_default(&p);
  p.block_reward = 1000;
  p.halving_interval = 10;
  CHECK_U64(ag_block_reward(&p, 9), 1000);
  CHECK_U64(ag_block_reward(&p, 10), 500);
  CHECK_U64(ag_block_reward(&p, 64 * 10), 0);
  teardown();
}

TEST(subnet_create_and_hyperparameters) {
  setup(1000, 0, 5, 0, 8, 0);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u64le(&p, 5 * AG_UNIT); /* max cost below the 10 AGR cost */
  ag_buf_put(&p, K[4].pk, 32);
  ag_buf_put_u8(&p, 4);
  ag_buf_puts(&p, "two!");
  uint64_t b0 = balance(1);
  CHECK_EQ(run(1, AG_TX_SUBNET_CREATE, &p), AG_E_COST_ABOVE_MAX);
  CHECK(b0 - balance(1) < AG_UNIT); /* only the fee */
  ag_put_u64le(p.data, 10 * AG_UNIT);
  CHECK_OK(run(1, AG_TX_SUBNET_CREATE, &p));
  ag_ist s = {ag_app_state(app), NULL};
  uint16_t list[8];
  size_t n;
  CHECK_OK(ag_subnet_list(&s, list, 8, &n));
  CHECK_EQ(n, 2);
  CHECK_EQ(list[1], 2);
  ag_subnet sn;
  CHECK_OK(ag_subnet_load(&s, 2, &sn));
  CHECK_STR(sn.name, "two!");
  CHECK_EQ(sn.hp.tempo, 360); /* subtensor's defaults */
  CHECK_EQ(sn.hp.kappa, 32767);
  CHECK_EQ(sn.hp.yuma3, 1);
  /* hyperparameters: owner only, within bounds, known names */
  CHECK_EQ(set_param(1, "tempo", 7), AG_E_NOT_OWNER);
  CHECK_OK(set_param(0, "tempo", 7));
  CHECK_EQ(subnet().hp.tempo, 7);
  CHECK_EQ(set_param(0, "bonds_moving_average", 990000), AG_E_HYPERPARAM);
  CHECK_EQ(set_param(0, "kappa", 70000), AG_E_HYPERPARAM);
  CHECK_EQ(set_param(0, "no_such_thing", 1), AG_E_HYPERPARAM);
  CHECK_EQ(set_param(0, "max_validators", 9), AG_E_HYPERPARAM); /* above max_uids 8 */
  ag_buf_free(&p);
  teardown();
}

TEST(registration_cost_limits_and_replacement) {
  setup(1000, 0, 1000, 0, 2, 5);
  ag_subnet sn = subnet();
  uint64_t cost = ag_subnet_burn_at(&sn, height() + 1);
  CHECK(cost > 0 && cost <= AG_UNIT);
  CHECK_EQ(do_register(1, 4, cost, 1), AG_E_HOTKEY_SIG);
  CHECK_EQ(do_register(1, 4, cost / 2, 0), AG_E_COST_ABOVE_MAX);
  uint64_t b0 = balance(1);
  CHECK_OK(do_register(1, 4, cost, 0));
  CHECK(b0 - balance(1) <= cost + 1000000); /* the cost charged is at most the cost signed */
  CHECK_EQ(subnet().n, 1);
  CHECK(subnet().burn > cost); /* each registration raises the price */
  CHECK_EQ(do_register(1, 4, 10 * AG_UNIT, 0), AG_E_ALREADY_REGISTERED);
  CHECK_EQ(do_register(2, 4, 10 * AG_UNIT, 0), AG_E_HOTKEY_OWNER); /* another coldkey's hotkey */
  CHECK_OK(do_register(2, 5, 10 * AG_UNIT, 0));
  CHECK_EQ(do_register(3, 6, 10 * AG_UNIT, 0), AG_E_SUBNET_FULL); /* both immune */
  CHECK(strstr(ag_errmsg(AG_E_SUBNET_FULL), "immune until block") != NULL);
  empty_blocks(6);
  CHECK_OK(do_register(3, 6, 10 * AG_UNIT, 0)); /* replaces the lowest-emission, oldest uid */
  CHECK(!memcmp(neuron(0).hotkey, K[6].pk, 32));
  ag_ist s = {ag_app_state(app), NULL};
  uint16_t uid;
  CHECK_EQ(ag_neuron_uid(&s, 1, K[4].pk, &uid), AG_E_NOTFOUND);
  /* a coldkey with too little balance cannot register */
  ag_buf p;
  ag_buf_init(&p);
  ag_transfer_encode(&p, K[0].pk, balance(11) - 2000000);
  CHECK_OK(run(11, AG_TX_TRANSFER, &p));
  ag_buf_free(&p);
  empty_blocks(6);
  CHECK_EQ(do_register(11, 10, 100 * AG_UNIT, 0), AG_E_TX_BALANCE);
  teardown();
}

TEST(stake_add_remove) {
  setup(1000, 0, 1000, 0, 8, 0);
  CHECK_EQ(do_stake(1, 4, AG_TX_STAKE_ADD, AG_UNIT), AG_E_HOTKEY_OWNER); /* not registered yet */
  CHECK_OK(do_register(1, 4, 10 * AG_UNIT, 0));
  uint64_t b0 = balance(2);
  CHECK_OK(do_stake(2, 4, AG_TX_STAKE_ADD, 50 * AG_UNIT)); /* delegation */
  CHECK(b0 - balance(2) >= 50 * AG_UNIT);
  ag_ist s = {ag_app_state(app), NULL};
  ag_hotkey_info h;
  CHECK_OK(ag_hotkey_load(&s, K[4].pk, &h));
  CHECK_U64(h.total_stake, 50 * AG_UNIT);
  CHECK(!memcmp(h.owner, K[1].pk, 32));
  CHECK_EQ(do_stake(2, 4, AG_TX_STAKE_REMOVE, 51 * AG_UNIT), AG_E_STAKE_INSUFFICIENT);
  CHECK_OK(do_stake(2, 4, AG_TX_STAKE_REMOVE, 20 * AG_UNIT));
  uint64_t left;
  CHECK_OK(ag_stake_get(&s, K[4].pk, K[2].pk, &left));
  CHECK_U64(left, 30 * AG_UNIT);
  CHECK_OK(ag_hotkey_load(&s, K[4].pk, &h));
  CHECK_U64(h.total_stake, 30 * AG_UNIT);
  teardown();
}

/* Three validators (hotkeys 4,5,6 with stake 60/30/10) and two miners (9,10). */
static void populate(void) {
  CHECK_OK(do_register(1, 4, 100 * AG_UNIT, 0));
  CHECK_OK(do_register(2, 5, 100 * AG_UNIT, 0));
  CHECK_OK(do_register(3, 6, 100 * AG_UNIT, 0));
  CHECK_OK(do_register(7, 9, 100 * AG_UNIT, 0));
  CHECK_OK(do_register(8, 10, 100 * AG_UNIT, 0));
  CHECK_OK(do_stake(1, 4, AG_TX_STAKE_ADD, 600 * AG_UNIT));
  CHECK_OK(do_stake(2, 5, AG_TX_STAKE_ADD, 300 * AG_UNIT));
  CHECK_OK(do_stake(3, 6, AG_TX_STAKE_ADD, 100 * AG_UNIT));
}

static void until_epoch(void) {
  uint64_t e = subnet().epoch;
  for (int i = 0; i < 100 && subnet().epoch == e; i++) block_of(NULL, 0);
}

TEST(weights_errors_and_epoch_payouts) {
  setup(10 * AG_UNIT, 0, 10, 0, 8, 0);
  populate();
  uint16_t uids[] = {3, 4}, w[] = {60000, 30000};
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 0, NULL), AG_E_NO_PERMIT);
  until_epoch(); /* the first epoch hands out permits by stake */
  CHECK(neuron(0).permit && neuron(1).permit && neuron(2).permit);
  CHECK(!neuron(3).permit);
  uint16_t bad_uid[] = {3, 9};
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, bad_uid, w, 2, 2, 0, NULL), AG_E_WEIGHTS_UID);
  uint16_t dup[] = {3, 3};
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, dup, w, 2, 2, 0, NULL), AG_E_WEIGHTS_DUP);
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, uids, w, 2, 1, 0, NULL), AG_E_WEIGHTS_LEN);
  CHECK_EQ(do_weights(9, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 0, NULL), AG_E_NO_PERMIT); /* a miner */
  CHECK_EQ(do_weights(11, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 0, NULL), AG_E_NOT_REGISTERED);
  CHECK_OK(set_param(0, "min_allowed_weights", 2));
  uint16_t one[] = {3};
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, one, w, 1, 1, 0, NULL), AG_E_WEIGHTS_TOO_FEW);
  CHECK_OK(set_param(0, "weights_version_key", 5));
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 4, NULL), AG_E_WEIGHTS_VERSION);
  CHECK_OK(do_weights(4, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 5, NULL));
  /* stored max-upscaled */
  ag_ist s = {ag_app_state(app), NULL};
  ag_yuma_entry *row;
  uint32_t len;
  CHECK_OK(ag_weights_load(&s, 1, 0, &row, &len));
  CHECK_EQ(len, 2);
  if (len == 2) {
    CHECK_EQ(row[0].value, 65535);
    CHECK_EQ(row[1].value, 32767); /* I32F32: 30000 * (65535/60000) floors just below .5 */
  }
  free(row);
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 5, NULL), AG_E_WEIGHTS_RATE);
  CHECK(strstr(ag_errmsg(AG_E_WEIGHTS_RATE), "next is allowed at block") != NULL);
  CHECK_OK(do_weights(5, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 5, NULL));
  CHECK_OK(do_weights(6, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 5, NULL));
  /* epochs: miners are paid by incentive, validators by dividends, the owner gets its cut */
  uint64_t m0 = balance(7), m1 = balance(8), owner0 = balance(0);
  uint64_t st0;
  CHECK_OK(ag_stake_get(&s, K[4].pk, K[1].pk, &st0));
  until_epoch();
  until_epoch();
  CHECK(neuron(3).incentive > neuron(4).incentive);
  CHECK(neuron(4).incentive > 0);
  CHECK(balance(7) > m0 && balance(8) > m1);
  CHECK(balance(7) - m0 > balance(8) - m1);
  CHECK(balance(0) > owner0);
  uint64_t st1;
  CHECK_OK(ag_stake_get(&s, K[4].pk, K[1].pk, &st1));
  CHECK(st1 > st0); /* dividends compound as stake */
  CHECK(neuron(0).dividends > neuron(1).dividends);
  CHECK(neuron(1).dividends > neuron(2).dividends);
  CHECK_EQ(do_weights(4, AG_TX_COMMIT_WEIGHTS, uids, w, 2, 2, 5, (const uint8_t *)"0123456789abcdef0123456789abcdef"),
           AG_E_COMMIT_REVEAL_OFF);
  teardown();
}

TEST(commit_reveal_timing_and_salt) {
  setup(10 * AG_UNIT, 0, 10, 1, 8, 0);
  populate();
  until_epoch();
  uint16_t uids[] = {3, 4}, w[] = {50000, 10000};
  uint8_t salt[32], wrong[32];
  memset(salt, 7, 32);
  memset(wrong, 8, 32);
  CHECK_EQ(do_weights(4, AG_TX_SET_WEIGHTS, uids, w, 2, 2, 0, NULL), AG_E_COMMIT_REVEAL_ON);
  CHECK_OK(do_weights(4, AG_TX_COMMIT_WEIGHTS, uids, w, 2, 2, 0, salt));
  CHECK_EQ(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, salt), AG_E_REVEAL_EARLY);
  until_epoch();
  CHECK_EQ(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, wrong), AG_E_REVEAL_MISMATCH);
  uint16_t other[] = {50000, 10001};
  CHECK_EQ(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, other, 2, 2, 0, salt), AG_E_REVEAL_MISMATCH);
  CHECK_OK(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, salt));
  CHECK_EQ(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, salt), AG_E_REVEAL_MISMATCH); /* used */
  /* a commit revealed too late is refused */
  empty_blocks(3);
  CHECK_OK(do_weights(5, AG_TX_COMMIT_WEIGHTS, uids, w, 2, 2, 0, salt));
  until_epoch();
  until_epoch();
  CHECK_EQ(do_weights(5, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, salt), AG_E_REVEAL_MISMATCH); /* expired and dropped */
  teardown();
}

TEST(late_reveal_is_rejected_before_expiry_cleanup) {
  setup(10 * AG_UNIT, 0, 10, 1, 8, 0);
  populate();
  until_epoch();
  CHECK_OK(set_param(0, "reveal_period", 2));
  uint16_t uids[] = {3, 4}, w[] = {50000, 10000};
  uint8_t salt[32];
  memset(salt, 3, 32);
  CHECK_OK(do_weights(4, AG_TX_COMMIT_WEIGHTS, uids, w, 2, 2, 0, salt));
  until_epoch();
  CHECK_EQ(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, salt), AG_E_REVEAL_EARLY);
  until_epoch();
  CHECK_OK(set_param(0, "reveal_period", 1)); /* the same commit is now past its period */
  CHECK_EQ(do_weights(4, AG_TX_REVEAL_WEIGHTS, uids, w, 2, 2, 0, salt), AG_E_REVEAL_LATE);
  teardown();
}

TEST(pinning_a_model) {
  setup(1000, 0, 1000, 0, 8, 0);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, AG_SUBNET_INFERENCE);
  uint8_t id[32];
  memset(id, 0xab, 32);
  ag_buf_put(&p, id, 32);
  ag_buf_put_u64le(&p, 123456);
  CHECK_EQ(run(1, AG_TX_SUBNET_SET_MODEL, &p), AG_E_NOT_OWNER);
  CHECK_OK(run(0, AG_TX_SUBNET_SET_MODEL, &p));
  ag_ist s = {ag_app_state(app), NULL};
  ag_subnet_model m;
  CHECK_OK(ag_subnet_model_load(&s, 1, &m));
  CHECK_EQ(m.kind, AG_SUBNET_INFERENCE);
  CHECK_MEM(m.model_id, id, 32);
  CHECK_U64(m.size, 123456);
  p.data[2] = 7; /* no such kind */
  CHECK_EQ(run(0, AG_TX_SUBNET_SET_MODEL, &p), AG_E_TX_PAYLOAD);
  ag_buf_free(&p);
  teardown();
}

/* The committed state as (key, value hash) pairs in tree order, for before/after diffs. */
typedef struct {
  size_t n, cap;
  uint8_t (*key)[AG_STATE_KEY_MAX + 1]; /* length byte, then the key */
  uint8_t (*vh)[32];
} snapshot;

static int snap_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  snapshot *sn = ctx;
  if (sn->n == sn->cap) {
    sn->cap = sn->cap ? 2 * sn->cap : 256;
    sn->key = realloc(sn->key, sn->cap * sizeof *sn->key);
    sn->vh = realloc(sn->vh, sn->cap * sizeof *sn->vh);
  }
  memset(sn->key[sn->n], 0, sizeof *sn->key);
  sn->key[sn->n][0] = (uint8_t)klen;
  memcpy(sn->key[sn->n] + 1, key, klen);
  ag_state_value_hash(val, vlen, sn->vh[sn->n]);
  sn->n++;
  return 0;
}

static snapshot snap(void) {
  snapshot sn = {0};
  CHECK_OK(ag_state_iterate(ag_app_state(app), snap_one, &sn));
  return sn;
}

static void snap_free(snapshot *sn) {
  free(sn->key);
  free(sn->vh);
}

/* Keys whose presence or value differs between a and b, other than the ones allowed. */
static int diff_except(const snapshot *a, const snapshot *b, const uint8_t *const *allowed,
                       const size_t *alen, int nallowed) {
  int bad = 0;
  for (int pass = 0; pass < 2; pass++) {
    const snapshot *x = pass ? b : a, *y = pass ? a : b;
    for (size_t i = 0; i < x->n; i++) {
      int same = 0;
      for (size_t j = 0; j < y->n && !same; j++)
        same = !memcmp(x->key[i], y->key[j], sizeof *x->key) && !memcmp(x->vh[i], y->vh[j], 32);
      if (same) continue;
      int ok = 0;
      for (int k = 0; k < nallowed && !ok; k++)
        ok = x->key[i][0] == alen[k] && !memcmp(x->key[i] + 1, allowed[k], alen[k]);
      if (!ok) {
        fprintf(stderr, "  state key '%c'… (%u bytes) changed\n", x->key[i][1], x->key[i][0]);
        bad++;
      }
    }
  }
  return bad;
}

/* A rejected incentive tx moves the sender's fee and nonce (its account and the supply's
 * burned counter) and nothing else in the state. */
static void rejected(int who, int code, int (*act)(void)) {
  snapshot before = snap();
  CHECK_EQ(act(), code);
  snapshot after = snap();
  uint8_t acct[33];
  ag_account_key(K[who].pk, acct);
  const uint8_t *allowed[] = {acct, (const uint8_t *)AG_KEY_SUPPLY};
  size_t alen[] = {33, strlen(AG_KEY_SUPPLY)};
  CHECK_EQ(diff_except(&before, &after, allowed, alen, 2), 0);
  CHECK_EQ(after.n, before.n);
  snap_free(&before);
  snap_free(&after);
}

static int act_remove_unstaked(void) { return do_stake(1, 4, AG_TX_STAKE_REMOVE, AG_UNIT); }
static int act_stake_unowned(void) { return do_stake(2, 11, AG_TX_STAKE_ADD, AG_UNIT); }
static int act_stake_below_min(void) { return do_stake(2, 4, AG_TX_STAKE_ADD, AG_UNIT / 10 - 1); }
static int act_register_bad_sig(void) { return do_register(3, 6, 100 * AG_UNIT, 1); }
static int act_register_cheap(void) { return do_register(3, 6, 1, 0); }
static int act_set_param_stranger(void) { return set_param(11, "tempo", 9); }
static int act_set_param_bad(void) { return set_param(0, "kappa", 70000); }
static int act_weights_unregistered(void) {
  uint16_t u[] = {0}, w[] = {1};
  return do_weights(11, AG_TX_SET_WEIGHTS, u, w, 1, 1, 0, NULL);
}
static int act_weights_no_permit(void) {
  uint16_t u[] = {0}, w[] = {1};
  return do_weights(4, AG_TX_SET_WEIGHTS, u, w, 1, 1, 0, NULL);
}

TEST(rejected_incentive_txs_change_nothing) {
  setup(0, 0, 1000, 0, 8, 0); /* no emission: the state only moves when a tx succeeds */
  CHECK_OK(do_register(1, 4, 10 * AG_UNIT, 0));
  rejected(1, AG_E_STAKE_INSUFFICIENT, act_remove_unstaked);
  rejected(2, AG_E_HOTKEY_OWNER, act_stake_unowned);
  rejected(2, AG_E_STAKE_BELOW_MIN, act_stake_below_min);
  rejected(3, AG_E_HOTKEY_SIG, act_register_bad_sig);
  rejected(3, AG_E_COST_ABOVE_MAX, act_register_cheap);
  rejected(11, AG_E_NOT_OWNER, act_set_param_stranger);
  rejected(0, AG_E_HYPERPARAM, act_set_param_bad);
  rejected(11, AG_E_NOT_REGISTERED, act_weights_unregistered);
  rejected(4, AG_E_NO_PERMIT, act_weights_no_permit);
  /* and the diff itself notices a change: a successful stake moves more than the fee */
  snapshot before = snap();
  CHECK_OK(do_stake(2, 4, AG_TX_STAKE_ADD, AG_UNIT));
  snapshot after = snap();
  uint8_t acct[33];
  ag_account_key(K[2].pk, acct);
  const uint8_t *allowed[] = {acct, (const uint8_t *)AG_KEY_SUPPLY};
  size_t alen[] = {33, strlen(AG_KEY_SUPPLY)};
  fprintf(stderr, "  (expected: the stake below changes the state)\n");
  CHECK(diff_except(&before, &after, allowed, alen, 2) > 0);
  snap_free(&before);
  snap_free(&after);
  teardown();
}

/* ---- training subnets ------------------------------------------------------------------------ */

static int pin(int who, uint8_t kind, uint8_t fill, uint64_t size) {
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, kind);
  uint8_t id[32];
  memset(id, fill, 32);
  ag_buf_put(&p, id, 32);
  ag_buf_put_u64le(&p, size);
  int rc = run(who, AG_TX_SUBNET_SET_MODEL, &p);
  ag_buf_free(&p);
  return rc;
}

/* Commits hotkey to blob (all bytes = blob) of size. */
static int submit(int hotkey, uint64_t round, uint8_t base, uint8_t blob, uint64_t size) {
  uint8_t b[32], h[32], c[32];
  memset(b, base, 32);
  memset(h, blob, 32);
  ag_train_commitment(K[hotkey].pk, 1, round, h, size, c);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_train_submit(&p, 1, round, b, c);
  int rc = run(hotkey, AG_TX_TRAIN_SUBMIT, &p);
  ag_buf_free(&p);
  return rc;
}

static int reveal(int hotkey, uint64_t round, uint8_t blob, uint64_t size) {
  uint8_t h[32];
  memset(h, blob, 32);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_train_reveal(&p, 1, round, h, size);
  int rc = run(hotkey, AG_TX_TRAIN_REVEAL, &p);
  ag_buf_free(&p);
  return rc;
}

/* A proposal's validation loss (millionths of a nat): one per checkpoint, as honest validators
 * compute it. */
static uint64_t loss_of(uint8_t model) { return 3000000u + 1000u * model; }

static int propose(int hotkey, uint64_t round, uint8_t base, uint8_t model, const uint16_t *uids,
                   const uint64_t *scores, uint16_t n) {
  uint8_t b[32], m[32], fh[32];
  memset(b, base, 32);
  memset(m, model, 32);
  memset(fh, model ^ 0xff, 32);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_train_propose(&p, 1, round, b, m, 5000, fh, loss_of(model), uids, scores, n);
  int rc = run(hotkey, AG_TX_TRAIN_PROPOSE, &p);
  ag_buf_free(&p);
  return rc;
}

static ag_training training(void) {
  ag_ist s = {ag_app_state(app), NULL};
  ag_training t;
  CHECK_OK(ag_training_load(&s, 1, &t));
  return t;
}

/* round (which 0) or round_start (1) of the open round */
static uint64_t train_at(int which) {
  ag_training t = training();
  uint64_t v = which ? t.round_start : t.round;
  ag_training_free(&t);
  return v;
}

TEST(shares_split_exactly) {
  uint64_t out[4];
  uint64_t a[] = {1, 1, 1};
  ag_train_split_shares(10, a, 3, out);
  CHECK(out[0] == 4 && out[1] == 3 && out[2] == 3); /* the remainder to the first highest */
  uint64_t b[] = {5, 20, 20, 55};
  ag_train_split_shares(1000001, b, 4, out);
  CHECK(out[0] == 50000 && out[1] == 200000 && out[2] == 200000 && out[3] == 550001);
  uint64_t c[] = {UINT64_MAX, UINT64_MAX};
  ag_train_split_shares(UINT64_MAX, c, 2, out);
  CHECK_U64(out[0] + out[1], UINT64_MAX); /* 128-bit products: no overflow */
}

TEST(training_rounds_submissions_proposals_and_shares) {
  setup(10 * AG_UNIT, 0, 10, 0, 8, 0);
  populate(); /* validators uid 0..2 (hotkeys 4, 5, 6: 600, 300, 100 AGR), miners uid 3, 4 */
  until_epoch(); /* permits */
  ag_ist s = {ag_app_state(app), NULL};
  ag_training t;
  CHECK_EQ(ag_training_load(&s, 1, &t), AG_E_TRAIN_KIND);
  CHECK_EQ(submit(9, 0, 0xa0, 1, 100), AG_E_TRAIN_KIND);
  CHECK_EQ(set_param(0, "train_submit_blocks", 60), AG_E_HYPERPARAM); /* must stay below the round */
  CHECK_EQ(set_param(0, "train_reveal_blocks", 10), AG_E_HYPERPARAM); /* 10 + 10 >= 20 */
  CHECK_OK(set_param(0, "train_round_blocks", 40)); /* each tx below is a block */
  CHECK_OK(set_param(0, "train_reveal_blocks", 14));
  CHECK_OK(pin(0, AG_SUBNET_TRAINING, 0xa0, 5000));
  t = training();
  CHECK_U64(t.round, 0);
  CHECK_U64(t.round_start, height());
  ag_training_free(&t);
  /* commitments: every wrong one with its own code, then two good ones */
  CHECK_EQ(submit(9, 1, 0xa0, 1, 100), AG_E_TRAIN_ROUND);
  CHECK_EQ(submit(9, 0, 0xbb, 1, 100), AG_E_TRAIN_BASE);
  CHECK_EQ(submit(11, 0, 0xa0, 1, 100), AG_E_NOT_REGISTERED);
  CHECK_OK(submit(9, 0, 0xa0, 1, 100));
  CHECK_EQ(submit(9, 0, 0xa0, 2, 100), AG_E_TRAIN_DUPLICATE);
  CHECK_OK(submit(10, 0, 0xa0, 3, 200));
  uint16_t uids[] = {3, 4}, bad_uids[] = {2, 3}, rev[] = {4, 3};
  uint64_t scores[] = {300, 100}, zero[] = {300, 0};
  CHECK_EQ(reveal(9, 0, 1, 100), AG_E_TRAIN_WINDOW); /* not while commitments are open */
  CHECK_EQ(propose(4, 0, 0xa0, 0xb0, uids, scores, 2), AG_E_TRAIN_WINDOW);
  uint8_t h1[32];
  memset(h1, 1, 32);
  uint16_t nu;
  /* committed, not revealed: no node may store it yet, nobody can fetch it */
  CHECK_EQ(ag_train_blob_announced(&s, h1, 100, &nu), AG_E_NOTFOUND);
  while (height() < train_at(1) + 10) empty_blocks(1);
  CHECK_EQ(submit(4, 0, 0xa0, 5, 100), AG_E_TRAIN_WINDOW);
  /* reveals: only what was committed, by whom committed it */
  CHECK_EQ(reveal(9, 0, 2, 100), AG_E_TRAIN_REVEAL);   /* another blob */
  CHECK_EQ(reveal(9, 0, 1, 101), AG_E_TRAIN_REVEAL);   /* another size */
  CHECK_EQ(reveal(10, 0, 1, 100), AG_E_TRAIN_REVEAL);  /* uid 3's blob, revealed by uid 4 */
  CHECK_EQ(reveal(9, 0, 1, 6000), AG_E_PG_TOO_LARGE);
  CHECK_EQ(reveal(9, 0, 1, 0), AG_E_TX_PAYLOAD);
  CHECK_EQ(reveal(7, 0, 1, 100), AG_E_NOT_REGISTERED);
  CHECK_EQ(propose(4, 0, 0xa0, 0xb0, uids, scores, 2), AG_E_TRAIN_WINDOW); /* reveals first */
  CHECK_OK(reveal(9, 0, 1, 100));
  CHECK_EQ(reveal(9, 0, 1, 100), AG_E_TRAIN_DUPLICATE);
  CHECK_OK(ag_train_blob_announced(&s, h1, 100, &nu));
  CHECK_EQ(ag_train_blob_announced(&s, h1, 101, &nu), AG_E_NOTFOUND);
  CHECK_OK(reveal(10, 0, 3, 200));
  while (height() < train_at(1) + 24) empty_blocks(1);
  CHECK_EQ(reveal(10, 0, 3, 200), AG_E_TRAIN_WINDOW);
  /* proposals */
  CHECK_EQ(propose(9, 0, 0xa0, 0xb0, uids, scores, 2), AG_E_NO_PERMIT);
  CHECK_EQ(propose(4, 0, 0xa0, 0xb0, bad_uids, scores, 2), AG_E_TRAIN_PROPOSAL); /* uid 2 revealed nothing */
  CHECK_EQ(propose(4, 0, 0xa0, 0xb0, rev, scores, 2), AG_E_TRAIN_PROPOSAL);
  CHECK_EQ(propose(4, 0, 0xa0, 0xb0, uids, zero, 2), AG_E_TRAIN_PROPOSAL);
  CHECK_EQ(propose(4, 0, 0xa0, 0xb0, uids, scores, 0), AG_E_TRAIN_PROPOSAL); /* empty must keep */
  CHECK_EQ(propose(4, 0, 0xa1, 0xb0, uids, scores, 2), AG_E_TRAIN_BASE);
  CHECK_OK(propose(5, 0, 0xa0, 0xb0, uids, scores, 2)); /* 300 of 1000 */
  CHECK_EQ(propose(5, 0, 0xa0, 0xb0, uids, scores, 2), AG_E_TRAIN_DUPLICATE);
  CHECK_OK(propose(6, 0, 0xa0, 0xc0, uids, scores, 2)); /* another checkpoint: 100 */
  uint8_t b0[32];
  memset(b0, 0xb0, 32);
  CHECK_OK(ag_train_model_proposed(&s, b0, 5000, &nu));
  t = training();
  CHECK(t.round == 0 && t.nprops == 2 && t.nsubs == 2);
  ag_training_free(&t);
  CHECK_OK(propose(4, 0, 0xa0, 0xb0, uids, scores, 2)); /* 900 of 1000 > 2/3: final */
  t = training();
  CHECK(t.round == 1 && t.nprops == 0 && t.nsubs == 0 && t.finalized == 1);
  CHECK_U64(t.round_start, height());
  ag_training_free(&t);
  ag_subnet_model m;
  CHECK_OK(ag_subnet_model_load(&s, 1, &m));
  CHECK_MEM(m.model_id, b0, 32);
  CHECK_U64(m.size, 5000);
  ag_train_round r;
  CHECK_OK(ag_train_round_load(&s, 1, 0, &r));
  CHECK(r.n == 2 && r.e[0].uid == 3 && r.e[1].uid == 4);
  CHECK_U64(r.e[0].shares, 750000);
  CHECK_U64(r.e[1].shares, 250000);
  CHECK_MEM(r.e[0].hotkey, K[9].pk, 32);
  CHECK_MEM(r.e[0].blob, h1, 32); /* the record names the blob each share paid for */
  CHECK_U64(r.val_loss, loss_of(0xb0)); /* the loss its proposers agreed on */
  ag_train_round_free(&r);
  uint64_t round, lineage;
  CHECK_OK(ag_train_model_origin(&s, b0, &nu, &round, &lineage));
  CHECK(nu == 1 && round == 1 && lineage == 0);
  /* round 1: nobody agrees in time; the next round opens on the same checkpoint */
  CHECK_OK(submit(9, 1, 0xb0, 7, 100));
  while (train_at(0) == 1 && height() < 200) empty_blocks(1);
  t = training();
  CHECK(t.round == 2 && t.nsubs == 0 && t.finalized == 1);
  ag_training_free(&t);
  CHECK_EQ(ag_train_round_load(&s, 1, 1, &r), AG_E_NOTFOUND);
  CHECK_OK(ag_subnet_model_load(&s, 1, &m));
  CHECK_MEM(m.model_id, b0, 32);
  /* a reopened node has the same rounds and shares */
  ag_app_close(app);
  CHECK_OK(ag_app_open(dir, &app));
  ag_incentive_attach(app);
  ag_economy_attach(app);
  s.st = ag_app_state(app);
  t = training();
  CHECK(t.round == 2 && t.finalized == 1);
  ag_training_free(&t);
  CHECK_OK(ag_train_round_load(&s, 1, 0, &r));
  CHECK_U64(r.e[0].shares + r.e[1].shares, 1000000);
  ag_train_round_free(&r);
  /* the checkpoint as an asset (docs/economy.md): its trainers hold its round's shares and its
   * dataset train_data_share (10%) of the total; only the subnet's owner registers it */
  uint8_t ds[32], par[1][32];
  uint16_t pbps[1] = {0};
  memset(ds, 0xd5, 32);
  memcpy(par[0], ds, 32);
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_asset_register(&p, AG_ASSET_DATASET, ds, 0, 1000, NULL, NULL, 0);
  CHECK_OK(run(2, AG_TX_ASSET_REGISTER, &p));
  ag_buf_reset(&p);
  ag_payload_asset_register(&p, AG_ASSET_MODEL, b0, 500, 0, (const uint8_t(*)[32])par, pbps, 1);
  CHECK_EQ(run(2, AG_TX_ASSET_REGISTER, &p), AG_E_NOT_OWNER);
  CHECK_OK(run(0, AG_TX_ASSET_REGISTER, &p));
  ag_buf_free(&p);
  ag_asset as;
  ag_holding hd;
  CHECK_OK(ag_asset_load(ag_app_state(app), NULL, b0, &as));
  CHECK_U64(as.supply, 1000000 + 111111); /* 111111 / 1111111 = 10% */
  CHECK_OK(ag_holding_load(ag_app_state(app), NULL, b0, K[9].pk, &hd));
  CHECK_U64(hd.shares, 750000);
  CHECK_OK(ag_holding_load(ag_app_state(app), NULL, b0, K[10].pk, &hd));
  CHECK_U64(hd.shares, 250000);
  CHECK_OK(ag_holding_load(ag_app_state(app), NULL, b0, ds, &hd));
  CHECK(hd.shares == 111111 && hd.is_asset);
  teardown();
}

/* sudo_set_validator: only the sudo key, only on a chain with a validator set, and only changes
 * that leave a set CometBFT accepts and that one dead key cannot stall; the block's updates
 * reach CometBFT one per key. */
/* A CometBFT-style chain: v[0..3) are its genesis validators, power 10 each; vparams (or
 * NULL) is appended to the incentive section. */
static void setup_with_validators_reward(const ag_keypair *v, const char *vparams, uint64_t reward) {
  ag_validator g[3];
  for (int i = 0; i < 3; i++) {
    memcpy(g[i].pk, v[i].pk, 32);
    g[i].power = 10;
  }
  genesis_vals = g;
  ngenesis_vals = 3;
  vparams_json = vparams;
  setup(reward, 1000, 10, 0, 8, 10);
  genesis_vals = NULL;
  ngenesis_vals = 0;
  vparams_json = NULL;
}

static void setup_with_validators(const ag_keypair *v, const char *vparams) { setup_with_validators_reward(v, vparams, 0); }

static int set_validator(int k, const uint8_t pk[32], uint64_t power) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_set_validator(&p, pk, power);
  int rc = run(k, AG_TX_SUDO_SET_VALIDATOR, &p);
  ag_buf_free(&p);
  return rc;
}

static size_t updates(const ag_validator **u) { return ag_app_validator_updates(app, u); }

TEST(sudo_changes_the_validator_set) {
  ag_keypair v[5];
  for (int i = 0; i < 5; i++) test_key(&v[i], 900 + i);
  /* a solo chain has no validator set */
  setup(0, 1000, 10, 0, 8, 10);
  CHECK_EQ(set_validator(0, v[3].pk, 10), AG_E_NOTFOUND);
  teardown();
  setup_with_validators(v, NULL);
  const ag_validator *u;
  CHECK_EQ(set_validator(11, v[3].pk, 10), AG_E_NOT_SUDO);
  CHECK_EQ(updates(&u), 0);
  uint8_t junk[32];
  memset(junk, 0xff, 32);
  CHECK_EQ(set_validator(0, junk, 10), AG_E_RANGE);             /* not a point */
  CHECK_EQ(set_validator(0, v[3].pk, 15), AG_E_RANGE);          /* 45 of 45: a third or more */
  CHECK_EQ(set_validator(0, v[4].pk, 0), AG_E_NOTFOUND);        /* not a validator */
  CHECK_EQ(set_validator(0, v[3].pk, AG_VALIDATOR_POWER_MAX + 1), AG_E_TX_PAYLOAD);
  CHECK_EQ(set_validator(0, v[3].pk, 10), 0);
  CHECK_EQ(updates(&u), 1);
  CHECK_MEM(u[0].pk, v[3].pk, 32);
  CHECK_U64(u[0].power, 10);
  empty_blocks(1);
  CHECK_EQ(updates(&u), 0); /* only the block that made them */
  /* two changes of one key in a block: one update, the last */
  ag_buf tx[2], p;
  ag_account a;
  ag_app_account(app, K[0].pk, &a);
  for (int i = 0; i < 2; i++) {
    ag_buf_init(&p);
    ag_payload_set_validator(&p, v[3].pk, i ? 7 : 5);
    ag_buf_init(&tx[i]);
    ag_tx_build(&tx[i], AG_TX_SUDO_SET_VALIDATOR, CHAIN, &K[0], a.nonce + i, 1000000, 0, p.data, (uint32_t)p.len);
    ag_buf_free(&p);
  }
  CHECK_EQ(block_of(tx, 2), 0);
  ag_buf_free(&tx[0]);
  ag_buf_free(&tx[1]);
  CHECK_EQ(updates(&u), 1);
  CHECK_U64(u[0].power, 7);
  /* down to one validator; the last cannot go */
  for (int i = 0; i < 3; i++) CHECK_EQ(set_validator(0, v[i].pk, 0), 0);
  CHECK_EQ(set_validator(0, v[3].pk, 0), AG_E_RANGE);
  ag_buf set;
  ag_buf_init(&set);
  CHECK_OK(ag_state_get_buf(ag_app_state(app), AG_KEY_VALIDATORS, strlen(AG_KEY_VALIDATORS), &set));
  CHECK_EQ(set.len, 40);
  CHECK_MEM(set.data, v[3].pk, 32);
  CHECK_U64(ag_get_u64le(set.data + 32), 7);
  ag_buf_free(&set);
  teardown();
}

/* ---- validators by bond ---------------------------------------------------------------- */

static int bond(int k, const ag_keypair *key, uint64_t amount, int bad_sig) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_validator_bond(&p, CHAIN, K[k].pk, key->sk, amount);
  if (bad_sig) p.data[40] ^= 1;
  int rc = run(k, AG_TX_VALIDATOR_BOND, &p);
  ag_buf_free(&p);
  return rc;
}

static int unbond(int k, const uint8_t key[32], uint64_t amount) {
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put(&p, key, 32);
  ag_buf_put_u64le(&p, amount);
  int rc = run(k, AG_TX_VALIDATOR_UNBOND, &p);
  ag_buf_free(&p);
  return rc;
}

static uint64_t power_of(const uint8_t pk[32], uint64_t *total) {
  ag_validator *set;
  size_t n;
  CHECK_OK(ag_app_validator_list(app, &set, &n));
  uint64_t p = 0, t = 0;
  for (size_t i = 0; i < n; i++) {
    t += set[i].power;
    if (!memcmp(set[i].pk, pk, 32)) p = set[i].power;
  }
  free(set);
  if (total) *total = t;
  return p;
}

static ag_vcandidate candidate(const uint8_t pk[32]) {
  ag_ist s = {ag_app_state(app), NULL};
  ag_vcandidate *c, out;
  size_t n;
  memset(&out, 0, sizeof out);
  CHECK_OK(ag_vstake_list(&s, &c, &n));
  for (size_t i = 0; i < n; i++)
    if (!memcmp(c[i].pk, pk, 32)) out = c[i];
  free(c);
  return out;
}

/* One block in which every validator of the set signed the previous block except the keys in
 * absent (n of them). */
static void block_signed_but(const ag_keypair *absent, int n) {
  ag_validator *set;
  size_t ns;
  CHECK_OK(ag_app_validator_list(app, &set, &ns));
  ag_vote_info *v = calloc(ns + 1, sizeof *v);
  for (size_t i = 0; i < ns; i++) {
    ag_vstake_address(set[i].pk, v[i].addr);
    v[i].signed_block = 1;
    v[i].power = set[i].power;
    for (int a = 0; a < n; a++)
      if (!memcmp(set[i].pk, absent[a].pk, 32)) v[i].signed_block = 0;
  }
  block_with(NULL, 0, v, ns, NULL, 0);
  free(v);
  free(set);
}

static void setup_bonded(ag_keypair *v) {
  for (int i = 0; i < 6; i++) test_key(&v[i], 950 + i);
  setup_with_validators(v, ",\"validators\":{\"min_bond\":\"10000000000\",\"epoch_blocks\":10,\"unbond_blocks\":20,"
                           "\"unbond_ms\":25000,\"reward_bps\":0,\"jail_blocks\":30,\"slash_bps\":500,\"max_missed_permille\":500,\"jail_slash_bps\":100}");
}

TEST(validators_join_and_leave_by_bond) {
  ag_keypair v[6];
  for (int i = 0; i < 6; i++) test_key(&v[i], 950 + i);
  /* a solo chain has no validator set to join */
  setup(0, 1000, 10, 0, 8, 10);
  CHECK_EQ(bond(1, &v[3], 100 * AG_UNIT, 0), AG_E_NOTFOUND);
  teardown();

  setup_bonded(v);
  uint64_t b1 = balance(1), total;
  /* refusals: each changes nothing but the fee */
  CHECK_EQ(bond(1, &v[3], 100 * AG_UNIT, 1), AG_E_VALIDATOR_KEY_SIG); /* not signed by the key */
  CHECK_EQ(bond(1, &v[0], 100 * AG_UNIT, 0), AG_E_VALIDATOR_KEY_TAKEN); /* a genesis validator */
  CHECK_EQ(bond(1, &v[3], 9 * AG_UNIT, 0), AG_E_VALIDATOR_BOND_LOW);
  CHECK_EQ(bond(1, &v[3], START, 0), AG_E_TX_BALANCE);
  CHECK_U64(balance(1), b1 - 4 * 1000000);
  CHECK_U64(candidate(v[3].pk).bond, 0);
  /* a bond: locked at once, power at the next epoch, never a third or more at once */
  b1 = balance(1);
  CHECK_EQ(bond(1, &v[3], 100 * AG_UNIT, 0), 0);
  CHECK_U64(balance(1), b1 - 100 * AG_UNIT - 1000000);
  CHECK_U64(candidate(v[3].pk).bond, 100 * AG_UNIT);
  CHECK_EQ(bond(2, &v[3], 100 * AG_UNIT, 0), AG_E_VALIDATOR_KEY_TAKEN); /* another account's key */
  CHECK_EQ(set_validator(0, v[3].pk, 5), AG_E_VALIDATOR_KEY_TAKEN);    /* the sudo key cannot override */
  CHECK_U64(power_of(v[3].pk, NULL), 0);
  while (height() % 10) block_signed_but(NULL, 0);
  CHECK_U64(power_of(v[3].pk, &total), 14); /* (30 - 1) / 2 */
  CHECK_U64(total, 44);
  /* it signs: the power grows by epochs to one per AGR */
  uint64_t last = 14;
  for (int e = 0; e < 5; e++) {
    for (int i = 0; i < 10; i++) block_signed_but(NULL, 0);
    uint64_t p = power_of(v[3].pk, &total);
    CHECK(3 * (p - last) < total);
    last = p;
  }
  CHECK_U64(last, 100);
  /* unbonding: power falls at once, the AGR comes back after unbond_blocks */
  CHECK_EQ(unbond(2, v[3].pk, 10 * AG_UNIT), AG_E_NOT_OWNER);
  CHECK_EQ(unbond(1, v[3].pk, 101 * AG_UNIT), AG_E_BOND_INSUFFICIENT);
  CHECK_EQ(unbond(1, v[3].pk, 95 * AG_UNIT), AG_E_VALIDATOR_BOND_LOW); /* 5 left: below min_bond */
  b1 = balance(1);
  CHECK_EQ(unbond(1, v[3].pk, 40 * AG_UNIT), 0);
  CHECK_U64(power_of(v[3].pk, NULL), 60);
  ag_vcandidate c = candidate(v[3].pk);
  CHECK_U64(c.bond, 60 * AG_UNIT);
  CHECK_U64(c.unbonding, 40 * AG_UNIT);
  uint64_t release = c.release_at;
  CHECK_U64(release, height() + 20);
  /* 20 blocks are not enough: the blocks come a second apart, and it also waits 25 s of block
   * time (unbond_ms), so that a light client's trust in this key expires before it is free */
  CHECK_U64(c.release_time_ms, last_block_time_ms() + 25000);
  while (height() < release) block_signed_but(NULL, 0);
  CHECK_U64(balance(1), b1 - 1000000);
  while (last_block_time_ms() < c.release_time_ms - 1000) block_signed_but(NULL, 0);
  CHECK_U64(balance(1), b1 - 1000000);
  block_signed_but(NULL, 0);
  CHECK_U64(balance(1), b1 - 1000000 + 40 * AG_UNIT);
  CHECK_U64(candidate(v[3].pk).unbonding, 0);
  /* all of it: out of the set, then out of the list once paid */
  CHECK_EQ(unbond(1, v[3].pk, 60 * AG_UNIT), 0);
  CHECK_U64(power_of(v[3].pk, NULL), 0);
  for (int i = 0; i < 26; i++) block_signed_but(NULL, 0);
  CHECK_U64(balance(1), b1 - 2 * 1000000 + 100 * AG_UNIT);
  ag_ist s = {ag_app_state(app), NULL};
  ag_vcandidate *all;
  size_t n;
  CHECK_OK(ag_vstake_list(&s, &all, &n));
  CHECK_EQ((int)n, 0);
  free(all);
  teardown();
}

/* The attack: bond a lot of AGR to consensus keys nobody runs, so that they hold the third of
 * the voting power that stops CometBFT from committing. Power grows by less than a third of the
 * total per epoch (all keys together), and a key that does not sign is jailed at the end of the
 * epoch it was asked to sign in, so the keys nobody runs never hold a third. */
TEST(unrun_keys_never_hold_a_third_of_the_power) {
  ag_keypair v[6];
  setup_bonded(v);
  CHECK_EQ(bond(1, &v[3], 50000 * AG_UNIT, 0), 0);
  CHECK_EQ(bond(2, &v[4], 50000 * AG_UNIT, 0), 0);
  CHECK_EQ(bond(3, &v[5], 50000 * AG_UNIT, 0), 0);
  ag_supply s0, s1;
  CHECK_OK(ag_app_supply(app, &s0));
  int jailed = 0;
  for (int b = 0; b < 200; b++) {
    block_signed_but(&v[3], 3);
    uint64_t total, bad = 0;
    for (int k = 3; k < 6; k++) bad += power_of(v[k].pk, &total);
    CHECK(3 * bad < total);
    jailed |= candidate(v[3].pk).jailed_until > height();
  }
  CHECK(jailed);
  /* and when they are jailed their power is gone: the chain is the genesis validators' again */
  for (int i = 0; i < 50 && candidate(v[3].pk).jailed_until <= height(); i++) block_signed_but(&v[3], 3);
  CHECK(candidate(v[3].pk).jailed_until > height());
  for (int k = 3; k < 6; k++) CHECK_U64(power_of(v[k].pk, NULL), 0);
  /* and each jail cost the key that had power jail_slash_bps (1 %) of its bond, burned */
  CHECK_OK(ag_app_supply(app, &s1));
  uint64_t lost = 0;
  for (int k = 3; k < 6; k++) lost += 50000 * AG_UNIT - candidate(v[k].pk).bond;
  CHECK(lost >= 500 * AG_UNIT);
  CHECK_U64(s1.burned - s0.burned, lost);
  teardown();
}

/* A validator that signs two blocks at one height (CometBFT's duplicate-vote evidence) loses
 * slash_bps of what it bonded and of what it is unbonding, burned, and may never bond that key
 * again; the supply stays accounted for (block_with audits every block). */
TEST(a_double_signer_is_slashed_and_tombstoned) {
  ag_keypair v[6];
  setup_bonded(v);
  CHECK_EQ(bond(1, &v[3], 100 * AG_UNIT, 0), 0);
  for (int i = 0; i < 40; i++) block_signed_but(NULL, 0);
  CHECK(power_of(v[3].pk, NULL) > 0);
  CHECK_EQ(unbond(1, v[3].pk, 20 * AG_UNIT), 0);
  ag_supply before, after;
  CHECK_OK(ag_app_supply(app, &before));
  ag_misbehavior m = {{0}, 1, height() - 1};
  ag_vstake_address(v[3].pk, m.addr);
  block_with(NULL, 0, NULL, 0, &m, 1);
  CHECK_OK(ag_app_supply(app, &after));
  ag_vcandidate c = candidate(v[3].pk);
  CHECK_U64(c.bond, 76 * AG_UNIT);      /* 80 - 5 % */
  CHECK_U64(c.unbonding, 19 * AG_UNIT); /* 20 - 5 % */
  CHECK_U64(after.burned - before.burned, 5 * AG_UNIT);
  CHECK(c.flags & AG_VSTAKE_TOMBSTONED);
  CHECK_U64(power_of(v[3].pk, NULL), 0);
  /* once only, and never back */
  block_with(NULL, 0, NULL, 0, &m, 1);
  CHECK_U64(candidate(v[3].pk).bond, 76 * AG_UNIT);
  CHECK_EQ(bond(1, &v[3], 10 * AG_UNIT, 0), AG_E_VALIDATOR_TOMBSTONED);
  for (int i = 0; i < 30; i++) block_signed_but(NULL, 0);
  CHECK_U64(power_of(v[3].pk, NULL), 0);
  /* what it still has comes back by unbonding */
  uint64_t b1 = balance(1);
  CHECK_EQ(unbond(1, v[3].pk, 76 * AG_UNIT), 0);
  for (int i = 0; i < 26; i++) block_signed_but(NULL, 0);
  CHECK_U64(balance(1), b1 - 1000000 + 76 * AG_UNIT);
  teardown();
}

static uint64_t issued(void) {
  ag_supply sup;
  CHECK_OK(ag_app_supply(app, &sup));
  return sup.issued;
}

/* Bonded validators are paid for signing: reward_bps of each block's reward, split by power over
 * the set that signed the previous block, out of that reward (the chain issues R a block as
 * before; the rest goes to the subnets, and block_with audits every holding against the
 * supply). A bonded key that did not sign, and the genesis keys (which stake nothing), leave
 * their part to the subnets; keys that never sign (the attacker of
 * unrun_keys_never_hold_a_third_of_the_power) earn nothing. */
TEST(bonded_validators_that_sign_earn_part_of_the_block_reward) {
  ag_keypair v[6];
  for (int i = 0; i < 6; i++) test_key(&v[i], 950 + i);
  const uint64_t R = 1000000000; /* 1 AGR a block */
  setup_with_validators_reward(v, ",\"validators\":{\"min_bond\":\"10000000000\",\"epoch_blocks\":10,\"reward_bps\":2000}", R);
  CHECK_EQ(bond(1, &v[3], 20 * AG_UNIT, 0), 0);
  CHECK_EQ(bond(2, &v[4], 20 * AG_UNIT, 0), 0);
  while (!power_of(v[3].pk, NULL) || !power_of(v[4].pk, NULL)) block_signed_but(NULL, 0);
  uint64_t total, p3 = power_of(v[3].pk, &total), p4 = power_of(v[4].pk, NULL);
  uint64_t b1 = balance(1), b2 = balance(2), iss = issued();
  block_signed_but(NULL, 0);
  uint64_t pot = R * 2000 / 10000, s3 = pot * p3 / total, s4 = pot * p4 / total;
  CHECK(s3 > 0 && s4 > 0);
  CHECK_U64(balance(1), b1 + s3);
  CHECK_U64(balance(2), b2 + s4);
  CHECK_U64(issued() - iss, R);
  /* v[4] did not sign the previous block: its part stays with the subnets */
  b1 = balance(1);
  b2 = balance(2);
  p3 = power_of(v[3].pk, &total);
  block_signed_but(&v[4], 1);
  s3 = pot * p3 / total;
  CHECK_U64(balance(1), b1 + s3);
  CHECK_U64(balance(2), b2);
  /* a chain that pays no validators (reward_bps 0, as test_incentive's other bond tests) */
  teardown();
  setup_with_validators_reward(v, ",\"validators\":{\"min_bond\":\"10000000000\",\"epoch_blocks\":10,\"reward_bps\":0}", R);
  CHECK_EQ(bond(1, &v[3], 20 * AG_UNIT, 0), 0);
  while (!power_of(v[3].pk, NULL)) block_signed_but(NULL, 0);
  b1 = balance(1);
  block_signed_but(NULL, 0);
  CHECK_U64(balance(1), b1);
  teardown();
}

/* Filling the list of bonded keys with small bonds does not keep a larger newcomer out: it
 * takes the place of the smallest key that never had power, whose bond goes home. */
TEST(the_bonded_keys_are_bounded_and_a_larger_bond_takes_a_place) {
  ag_keypair v[6];
  setup_bonded(v);
  ag_keypair *ck = calloc(AG_VSTAKE_MAX + 2, sizeof *ck);
  for (int i = 0; i < AG_VSTAKE_MAX + 2; i++) test_key(&ck[i], 2000 + i);
  for (int i = 0; i < AG_VSTAKE_MAX; i++) CHECK_EQ(bond(1 + i % 3, &ck[i], (10 + (i == 7)) * AG_UNIT, 0), 0);
  ag_ist s = {ag_app_state(app), NULL};
  ag_vcandidate *all;
  size_t n;
  CHECK_OK(ag_vstake_list(&s, &all, &n));
  CHECK_EQ((int)n, AG_VSTAKE_MAX);
  /* the smallest that can leave: 10 AGR, never had power (some had, at the epochs on the way) */
  const ag_vcandidate *low = NULL;
  for (size_t i = 0; i < n; i++)
    if (!(all[i].flags & AG_VSTAKE_SERVED) && !power_of(all[i].pk, NULL) && (!low || all[i].bond < low->bond)) low = &all[i];
  CHECK(low != NULL);
  uint8_t low_pk[32], low_owner[32];
  memcpy(low_pk, low->pk, 32);
  memcpy(low_owner, low->owner, 32);
  free(all);
  int owner = -1;
  for (int k = 1; k <= 3; k++)
    if (!memcmp(K[k].pk, low_owner, 32)) owner = k;
  CHECK(owner > 0);
  CHECK_EQ(bond(4, &ck[AG_VSTAKE_MAX], 10 * AG_UNIT, 0), AG_E_VALIDATOR_CANDIDATES_FULL); /* not more */
  uint64_t before = balance(owner);
  CHECK_EQ(bond(4, &ck[AG_VSTAKE_MAX], 10 * AG_UNIT + 1, 0), 0);
  CHECK_U64(balance(owner), before + 10 * AG_UNIT);
  CHECK_U64(candidate(low_pk).bond, 0);
  CHECK_U64(candidate(ck[AG_VSTAKE_MAX].pk).bond, 10 * AG_UNIT + 1);
  CHECK_OK(ag_vstake_list(&s, &all, &n));
  CHECK_EQ((int)n, AG_VSTAKE_MAX);
  free(all);
  free(ck);
  teardown();
}

/* The frozen bytes of one validator_bond payload (tests/vectors/validator_bond.hex): the SDK's
 * builder (sdk/python) must make the same, and a change here is a consensus change. */
TEST(validator_bond_payload_is_frozen) {
  ag_keypair owner, key;
  test_key(&owner, 1);
  test_key(&key, 2);
  ag_buf b;
  ag_buf_init(&b);
  ag_payload_validator_bond(&b, "agora-test", owner.pk, key.sk, 10 * AG_UNIT);
  CHECK_EQ(b.len, 104);
  uint8_t claim[32];
  ag_vstake_claim_hash("agora-test", owner.pk, key.pk, claim);
  CHECK_OK(ag_verify(key.pk, claim, 32, b.data + 40));
  CHECK(test_frozen_hex("validator_bond.hex", b.data, b.len));
  ag_buf_free(&b);
}

TEST_MAIN(issuance_follows_the_halving_schedule, subnet_create_and_hyperparameters,
          registration_cost_limits_and_replacement, stake_add_remove,
          weights_errors_and_epoch_payouts, commit_reveal_timing_and_salt,
          late_reveal_is_rejected_before_expiry_cleanup, pinning_a_model,
          rejected_incentive_txs_change_nothing, shares_split_exactly,
          training_rounds_submissions_proposals_and_shares, sudo_changes_the_validator_set,
          validators_join_and_leave_by_bond, unrun_keys_never_hold_a_third_of_the_power,
          a_double_signer_is_slashed_and_tombstoned, the_bonded_keys_are_bounded_and_a_larger_bond_takes_a_place,
          validator_bond_payload_is_frozen, bonded_validators_that_sign_earn_part_of_the_block_reward)
