/* cmd_consensus.c — `agora consensus`: a CometBFT chain's validator set (docs/multi-validator.md
 * "Changing the validators", "Validators by bond"): list it, bond AGR to a consensus key or
 * unbond it, and change the set with the genesis sudo key. */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/incentive.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: agora consensus validators\n"
    "       agora consensus bond PRIV_VALIDATOR_KEY.json AMOUNT --from ACCOUNT\n"
    "       agora consensus unbond KEY AMOUNT --from ACCOUNT\n"
    "       agora consensus set KEY POWER --from SUDO_KEY\n\n"
    "The validators that sign a CometBFT chain's blocks, with their voting power, and the\n"
    "consensus keys accounts have bonded AGR to.\n"
    "'bond' locks AMOUNT AGR from ACCOUNT to the consensus key of a CometBFT node you run (its\n"
    "priv_validator_key.json signs the bond, so only its holder can): at each validator epoch the\n"
    "keys with the largest bonds get one unit of voting power per AGR, growing by less than a\n"
    "third of the total power per epoch. A bonded validator that stops signing blocks is jailed\n"
    "for a while; one that signs twice at a height loses part of its bond and its place for good.\n"
    "'unbond' takes AMOUNT back: its power falls at once, the AGR returns after the unbonding\n"
    "period (and can still be slashed until then).\n"
    "'set' adds a validator, changes its power, or removes it (POWER 0); only the genesis sudo\n"
    "key may. KEY is the validator's CometBFT consensus key: its priv_validator_key.json (the\n"
    "file, or its pub_key value in base64) or 64 hex digits. CometBFT applies a change two\n"
    "blocks after the one that makes it. The chain refuses a change that would leave no\n"
    "validator or more than 100, or that adds a third or more of the total power at once.\n";

typedef struct {
  uint8_t sk[64]; /* the consensus key's secret key (seed ‖ public key) */
  uint8_t key[32];
  uint64_t amount;
} bondctx;

static int build_bond(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  bondctx *b = ctx;
  ag_payload_validator_bond(payload, env->chain_id, env->account, b->sk, b->amount);
  return 0;
}

static int build_unbond(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  (void)env;
  bondctx *b = ctx;
  ag_buf_put(payload, b->key, 32);
  ag_buf_put_u64le(payload, b->amount);
  return 0;
}

int ag_cli_priv_validator_key(const char *path, uint8_t sk[64]) {
  json_t *f = json_load_file(path, 0, NULL);
  const char *b64 = json_string_value(json_object_get(json_object_get(f, "priv_key"), "value"));
  size_t n = 0;
  uint8_t pk[32];
  int rc = b64 && sodium_base642bin(sk, 64, b64, strlen(b64), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
                   n == 64 && crypto_sign_ed25519_sk_to_pk(pk, sk) == 0
               ? 0
               : ag_fail(AG_E_USAGE, "%s is not a CometBFT priv_validator_key.json with an ed25519 priv_key", path);
  json_decref(f);
  if (!rc) {
    uint8_t seed[32], check[64];
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    crypto_sign_ed25519_seed_keypair(pk, check, seed);
    if (memcmp(check, sk, 64)) rc = ag_fail(AG_E_USAGE, "%s: its priv_key does not match its own public key", path);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(check, sizeof check);
  }
  if (rc) sodium_memzero(sk, 64); /* nothing of a refused key stays behind */
  return rc;
}

typedef struct {
  uint8_t key[32];
  uint64_t power;
} setctx;

static int build_set(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  (void)env;
  setctx *s = ctx;
  ag_payload_set_validator(payload, s->key, s->power);
  return 0;
}

/* KEY as a priv_validator_key.json file, its base64 pub_key value, or hex. */
static int parse_key(const char *s, uint8_t out[32]) {
  size_t n = 0;
  if (strlen(s) == 64 && ag_hex_decode(s, 64, out, 32) == 0) return 0;
  if (sodium_base642bin(out, 32, s, strlen(s), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 && n == 32)
    return 0;
  json_t *f = json_load_file(s, 0, NULL);
  const char *b64 = json_string_value(json_object_get(json_object_get(f, "pub_key"), "value"));
  int rc = b64 && sodium_base642bin(out, 32, b64, strlen(b64), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
                   n == 32
               ? 0
               : ag_fail(AG_E_USAGE, "KEY is a priv_validator_key.json, its pub_key value (base64) or 64 hex digits");
  json_decref(f);
  return rc;
}

static int list(ag_cli *c) {
  json_t *j;
  int rc = ag_cli_api(c, "GET", "/v1/validators", NULL, NULL, 0, &j);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  json_t *a = json_object_get(j, "validators");
  if (!strcmp(json_string_value(json_object_get(j, "consensus")) ?: "", "solo"))
    printf("a solo chain: one node makes the blocks (agora status shows its key)\n");
  else
    printf("%zu validators at height %lld, total power %lld\n", json_array_size(a),
           json_integer_value(json_object_get(j, "height")), json_integer_value(json_object_get(j, "total_power")));
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *e = json_array_get(a, i);
    printf("  %s  power %lld\n", json_string_value(json_object_get(e, "consensus_key")),
           json_integer_value(json_object_get(e, "power")));
  }
  json_t *b = json_object_get(j, "bonded");
  if (json_array_size(b)) printf("bonded by accounts:\n");
  for (size_t i = 0; i < json_array_size(b); i++) {
    json_t *e = json_array_get(b, i);
    uint64_t bond = 0, unb = 0;
    char bs[32], us[32];
    ag_parse_u64(json_string_value(json_object_get(e, "bond")) ?: "0", &bond);
    ag_parse_u64(json_string_value(json_object_get(e, "unbonding")) ?: "0", &unb);
    ag_amount_format(bond, bs);
    ag_amount_format(unb, us);
    printf("  %.16s…  %s AGR by %s", json_string_value(json_object_get(e, "consensus_key")), bs,
           json_string_value(json_object_get(e, "owner")));
    if (unb) {
      time_t t = (time_t)(json_integer_value(json_object_get(e, "release_time_ms")) / 1000);
      struct tm tm;
      char when[32] = "?";
      if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
      printf(", %s unbonding until height %lld and %s", us, json_integer_value(json_object_get(e, "release_at")), when);
    }
    if (json_is_true(json_object_get(e, "tombstoned"))) printf(", convicted of a double sign");
    else if (json_is_integer(json_object_get(e, "jailed_until")))
      printf(", jailed until %lld", json_integer_value(json_object_get(e, "jailed_until")));
    if (json_integer_value(json_object_get(e, "seen")))
      printf(", missed %lld of %lld votes this epoch", json_integer_value(json_object_get(e, "missed")),
             json_integer_value(json_object_get(e, "seen")));
    printf("\n");
  }
  json_decref(j);
  return 0;
}

static int bond_cmd(ag_cli *c, int unbond, const char *key, const char *amount, const char *from, const char *fee,
                    bool no_wait) {
  bondctx b;
  int rc = unbond ? parse_key(key, b.key) : ag_cli_priv_validator_key(key, b.sk);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (!unbond) memcpy(b.key, b.sk + 32, 32);
  if (ag_amount_parse(amount, &b.amount) || !b.amount) return ag_cli_fail(c, AG_E_USAGE, "AMOUNT is a positive number of AGR");
  char hex[65], amt[32], summary[200];
  ag_hex_encode(b.key, 32, hex);
  ag_amount_format(b.amount, amt);
  snprintf(summary, sizeof summary, "%s %s AGR %s consensus key %.16s…", unbond ? "unbond" : "bond", amt,
           unbond ? "from" : "to", hex);
  ag_txreq req = {from, unbond ? AG_TX_VALIDATOR_UNBOND : AG_TX_VALIDATOR_BOND, unbond ? build_unbond : build_bond, &b,
                  summary, fee, NULL, no_wait};
  rc = ag_cli_submit(c, &req);
  sodium_memzero(&b, sizeof b);
  return rc;
}

int ag_cmd_consensus(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL}, {"fee", 0, 1, &fee, NULL}, {"no-wait", 0, 0, NULL, &no_wait},
                   {"", 0, 0, NULL, NULL}};
  char *pos[3];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 3, &npos);
  if (rc) return rc;
  if (c->help || npos < 1) return ag_cli_usage(c, usage);
  if (!strcmp(pos[0], "validators") && npos == 1) return list(c);
  if ((!strcmp(pos[0], "bond") || !strcmp(pos[0], "unbond")) && npos == 3) {
    if (!from) return ag_cli_fail(c, AG_E_USAGE, "'consensus %s' needs --from ACCOUNT", pos[0]);
    return bond_cmd(c, !strcmp(pos[0], "unbond"), pos[1], pos[2], from, fee, no_wait);
  }
  if (strcmp(pos[0], "set") || npos != 3) return ag_cli_usage(c, usage);
  if (!from) return ag_cli_fail(c, AG_E_USAGE, "'consensus set' needs --from SUDO_KEY");
  setctx s;
  if ((rc = parse_key(pos[1], s.key))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (ag_parse_u64(pos[2], &s.power)) return ag_cli_fail(c, AG_E_USAGE, "POWER is a whole number (0 removes the key)");
  char hex[65], summary[200];
  ag_hex_encode(s.key, 32, hex);
  if (s.power) snprintf(summary, sizeof summary, "give validator %.16s… power %llu", hex, (unsigned long long)s.power);
  else snprintf(summary, sizeof summary, "remove validator %.16s…", hex);
  ag_txreq req = {from, AG_TX_SUDO_SET_VALIDATOR, build_set, &s, summary, fee, NULL, no_wait};
  return ag_cli_submit(c, &req);
}
