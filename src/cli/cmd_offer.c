/* cmd_offer.c — offers and bonds from the command line: offer post, remove, list; bond show,
 * unbond, withdraw (docs/economy.md). */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "economy/economy.h"

#include <stdio.h>
#include <string.h>

static const char offer_usage[] =
    "usage: agora offer post --from COLDKEY --hotkey HOTKEY --model ID --price-in AGR\n"
    "                        --price-out AGR [--max-tokens N] [--bond AGR]\n"
    "       agora offer remove --from COLDKEY --hotkey HOTKEY --model ID\n"
    "       agora offer list --model ID\n\n"
    "A provider (a miner's hotkey) offers to serve a model at a price per 1,000 prompt tokens and\n"
    "per 1,000 output tokens, up to --max-tokens output tokens a request (default 1024). The\n"
    "hotkey's coldkey signs and locks --bond AGR more behind the hotkey (its bond must reach the\n"
    "chain's min_bond, 10 AGR by default). Posting again updates the prices. 'list' shows a\n"
    "model's offers, cheapest first, with each provider's bond and standing (docs/economy.md).\n";

static const char bond_usage[] =
    "usage: agora bond show HOTKEY\n"
    "       agora bond unbond --from COLDKEY --hotkey HOTKEY --amount AGR\n"
    "       agora bond withdraw --from COLDKEY --hotkey HOTKEY\n\n"
    "A provider's bond backs its offers and is slashed for a proven fault. Unbonded AGR stays\n"
    "locked for the chain's unbond_delay (longer than the dispute window), then 'withdraw'\n"
    "returns it to the coldkey. While offers remain, the bond cannot fall below min_bond.\n";

typedef struct {
  uint8_t hotkey[32], model[32];
  uint64_t price_in, price_out, amount;
  uint32_t max_tokens;
} octx;

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

static int build_post(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  octx *w = ctx;
  ag_payload_offer_post(p, w->hotkey, w->model, w->price_in, w->price_out, w->max_tokens, w->amount);
  return 0;
}

static int build_remove(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  ag_payload_offer_remove(p, ((octx *)ctx)->hotkey, ((octx *)ctx)->model);
  return 0;
}

static int build_unbond(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  ag_payload_bond(p, ((octx *)ctx)->hotkey, ((octx *)ctx)->amount);
  return 0;
}

static int build_withdraw(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  ag_buf_put(p, ((octx *)ctx)->hotkey, 32);
  return 0;
}

static int parse_model(const char *s, uint8_t out[32]) {
  if (!s || strlen(s) != 64 || ag_hex_decode(s, 64, out, 32))
    return ag_fail(AG_E_USAGE, "--model is a model id (64 hex digits; 'agora model id FILE')");
  return 0;
}

static void print_agr(const char *label, json_t *o, const char *k) {
  char a[32];
  ag_amount_format(ag_cli_json_u64(o, k), a);
  printf("%s%s AGR", label, a);
}

static int offer_list(ag_cli *c, const char *model) {
  char path[200];
  snprintf(path, sizeof path, "/v1/offers?model=%s", model);
  json_t *j;
  int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j);
  if (rc) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  json_t *a = json_object_get(j, "offers");
  printf("%zu offers for model %.16s…\n", json_array_size(a), model);
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *o = json_array_get(a, i), *b = json_object_get(o, "bond");
    printf("  %s", json_string_value(json_object_get(o, "provider")));
    print_agr("  in ", o, "price_in_per_1k");
    print_agr(" / out ", o, "price_out_per_1k");
    printf(" per 1k tokens, max %lld tokens", json_integer_value(json_object_get(o, "max_tokens")));
    print_agr(", bond ", b, "bonded");
    printf(", faults %lld\n", json_integer_value(json_object_get(json_object_get(b, "disputes"), "faults")));
  }
  json_decref(j);
  return 0;
}

int ag_cmd_offer(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *hotkey = NULL, *model = NULL, *pin = NULL, *pout = NULL,
             *maxt = NULL, *bond = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},         {"hotkey", 'H', 1, &hotkey, NULL},
                   {"model", 0, 1, &model, NULL},          {"price-in", 0, 1, &pin, NULL},
                   {"price-out", 0, 1, &pout, NULL},       {"max-tokens", 0, 1, &maxt, NULL},
                   {"bond", 0, 1, &bond, NULL},            {"fee", 0, 1, &fee, NULL},
                   {"no-wait", 0, 0, NULL, &no_wait},      {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos < 1) return ag_cli_usage(c, offer_usage);
  octx w;
  memset(&w, 0, sizeof w);
  if ((rc = parse_model(model, w.model))) return fail_rc(c, rc);
  if (!strcmp(pos[0], "list")) return offer_list(c, model);
  if (!from || !hotkey) return ag_cli_fail(c, AG_E_USAGE, "'offer %s' needs --from COLDKEY and --hotkey HOTKEY", pos[0]);
  if ((rc = ag_cli_resolve_addr(c, hotkey, w.hotkey))) return fail_rc(c, rc);
  char summary[300], a[32], b[32], d[32];
  ag_txreq req = {from, 0, NULL, &w, summary, fee, NULL, no_wait};
  if (!strcmp(pos[0], "post")) {
    uint64_t mt = 1024;
    if (!pin || !pout) return ag_cli_fail(c, AG_E_USAGE, "offer post needs --price-in and --price-out (AGR per 1,000 tokens)");
    if ((rc = ag_amount_parse(pin, &w.price_in)) || (rc = ag_amount_parse(pout, &w.price_out)) ||
        (bond && (rc = ag_amount_parse(bond, &w.amount))))
      return fail_rc(c, rc);
    if (maxt && (ag_parse_u64(maxt, &mt) || mt < 1 || mt > AG_MAX_TOKENS_LIMIT))
      return ag_cli_fail(c, AG_E_USAGE, "--max-tokens is 1..%d", AG_MAX_TOKENS_LIMIT);
    w.max_tokens = (uint32_t)mt;
    ag_amount_format(w.price_in, a);
    ag_amount_format(w.price_out, b);
    ag_amount_format(w.amount, d);
    snprintf(summary, sizeof summary, "offer model %.16s… at %s / %s AGR per 1k tokens in / out, bonding %s AGR more",
             model, a, b, d);
    req.kind = AG_TX_OFFER_POST;
    req.build = build_post;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(pos[0], "remove")) {
    snprintf(summary, sizeof summary, "remove the offer for model %.16s…", model);
    req.kind = AG_TX_OFFER_REMOVE;
    req.build = build_remove;
    return ag_cli_submit(c, &req);
  }
  return ag_cli_fail(c, AG_E_USAGE, "unknown offer command '%s'", pos[0]);
}

int ag_cmd_bond(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *hotkey = NULL, *amount = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},   {"hotkey", 'H', 1, &hotkey, NULL},
                   {"amount", 0, 1, &amount, NULL}, {"fee", 0, 1, &fee, NULL},
                   {"no-wait", 0, 0, NULL, &no_wait}, {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos < 1) return ag_cli_usage(c, bond_usage);
  octx w;
  memset(&w, 0, sizeof w);
  if (!strcmp(pos[0], "show")) {
    if (npos < 2) return ag_cli_fail(c, AG_E_USAGE, "bond show needs a hotkey");
    if ((rc = ag_cli_resolve_addr(c, pos[1], w.hotkey))) return fail_rc(c, rc);
    char addr[AG_ADDR_MAX], path[160];
    ag_addr_encode(w.hotkey, addr);
    snprintf(path, sizeof path, "/v1/bonds/%s", addr);
    json_t *j;
    if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
    if (c->json) {
      ag_cli_print_json(j);
      return 0;
    }
    printf("bond of %s (coldkey %s)\n", addr, json_string_value(json_object_get(j, "coldkey")));
    print_agr("  bonded ", j, "bonded");
    print_agr(", unbonding ", j, "unbonding");
    if (ag_cli_json_u64(j, "unbond_at")) printf(" (from height %llu)", (unsigned long long)ag_cli_json_u64(j, "unbond_at"));
    printf("\n  offers %lld, disputes: %lld faults, %lld cleared\n", json_integer_value(json_object_get(j, "offers")),
           json_integer_value(json_object_get(json_object_get(j, "disputes"), "faults")),
           json_integer_value(json_object_get(json_object_get(j, "disputes"), "cleared")));
    json_decref(j);
    return 0;
  }
  if (!from || !hotkey) return ag_cli_fail(c, AG_E_USAGE, "'bond %s' needs --from COLDKEY and --hotkey HOTKEY", pos[0]);
  if ((rc = ag_cli_resolve_addr(c, hotkey, w.hotkey))) return fail_rc(c, rc);
  char summary[200], a[32];
  ag_txreq req = {from, 0, NULL, &w, summary, fee, NULL, no_wait};
  if (!strcmp(pos[0], "unbond")) {
    if (!amount) return ag_cli_fail(c, AG_E_USAGE, "bond unbond needs --amount AGR");
    if ((rc = ag_amount_parse(amount, &w.amount))) return fail_rc(c, rc);
    ag_amount_format(w.amount, a);
    snprintf(summary, sizeof summary, "unbond %s AGR from %s", a, hotkey);
    req.kind = AG_TX_BOND_UNBOND;
    req.build = build_unbond;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(pos[0], "withdraw")) {
    snprintf(summary, sizeof summary, "withdraw the unbonded AGR of %s", hotkey);
    req.kind = AG_TX_BOND_WITHDRAW;
    req.build = build_withdraw;
    return ag_cli_submit(c, &req);
  }
  return ag_cli_fail(c, AG_E_USAGE, "unknown bond command '%s'", pos[0]);
}
