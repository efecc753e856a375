/* cmd_dispute.c — disputes from the command line: open one from the evidence 'agora infer'
 * kept, follow it, list the open ones (docs/economy.md "Disputes"). */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "economy/economy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char dispute_usage[] =
    "usage: agora dispute open FILE --from KEY [--bond AGR] [--subnet N]\n"
    "       agora dispute show ID\n"
    "       agora dispute list [--member HOTKEY]\n\n"
    "A paid answer that fails re-execution is evidence against the miner that signed it. 'agora\n"
    "infer --pay-from' keeps it in HOME/disputes/<id>.json when it happens; 'open' submits it with\n"
    "a bond (default the chain's dispute_bond) and marks the file opened. A committee of the\n"
    "subnet's validators, drawn by stake in the next block, re-executes the request and votes by\n"
    "commit-reveal (a vote comes with a proof that the member ran the model). A proven fault\n"
    "slashes the miner's bond: the channel's client is refunded what the answer cost (up to the\n"
    "slash), the challenger (you) is rewarded and gets its bond back. If the committee finds the\n"
    "answer right, the bond pays the committee. 'show' follows a dispute; 'list' shows the open\n"
    "ones (those a validator sits on, with --member).\n";

typedef struct {
  uint16_t netuid;
  uint64_t bond;
  uint8_t *ev;
  size_t n;
} dctx;

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

static int build_open(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  dctx *d = ctx;
  ag_payload_dispute_open(p, d->netuid, d->bond, d->ev, d->n);
  return 0;
}

static void print_dispute(json_t *j) {
  char a[32];
  printf("dispute %s: %s (%s)\n", json_string_value(json_object_get(j, "id")),
         json_string_value(json_object_get(j, "status")), json_string_value(json_object_get(j, "phase")));
  printf("  provider %s, subnet %lld, challenger %s\n", json_string_value(json_object_get(j, "provider")),
         json_integer_value(json_object_get(j, "netuid")), json_string_value(json_object_get(j, "challenger")));
  ag_amount_format(ag_cli_json_u64(j, "cost"), a);
  printf("  the answer cost %s AGR; ", a);
  ag_amount_format(ag_cli_json_u64(j, "bond"), a);
  printf("bond %s AGR; round %lld: commit until height %llu, reveal until %llu\n", a,
         json_integer_value(json_object_get(j, "round")) + 1, (unsigned long long)ag_cli_json_u64(j, "commit_end"),
         (unsigned long long)ag_cli_json_u64(j, "reveal_end"));
  json_t *xs = json_object_get(j, "excluded");
  if (json_array_size(xs)) printf("  %zu members left out for not revealing in earlier rounds\n", json_array_size(xs));
  json_t *ms = json_object_get(j, "committee");
  for (size_t i = 0; i < json_array_size(ms); i++) {
    json_t *m = json_array_get(ms, i);
    printf("  member %s: %s\n", json_string_value(json_object_get(m, "hotkey")),
           json_is_true(json_object_get(m, "revealed"))    ? "revealed"
           : json_is_true(json_object_get(m, "committed")) ? "committed"
                                                           : "waiting");
  }
  if (strcmp(json_string_value(json_object_get(j, "status")) ?: "", "open")) {
    const char *k[] = {"slashed", "refund", "reward", "committee_paid", "burned"};
    printf(" ");
    for (int i = 0; i < 5; i++) {
      ag_amount_format(ag_cli_json_u64(j, k[i]), a);
      printf(" %s %s AGR%s", k[i], a, i < 4 ? "," : "\n");
    }
  }
}

int ag_cmd_dispute(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *bond = NULL, *subnet = NULL, *member = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},       {"bond", 0, 1, &bond, NULL},
                   {"subnet", 0, 1, &subnet, NULL},     {"member", 0, 1, &member, NULL},
                   {"fee", 0, 1, &fee, NULL},           {"no-wait", 0, 0, NULL, &no_wait},
                   {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos < 1) return ag_cli_usage(c, dispute_usage);
  json_t *j;
  char path[200];
  if (!strcmp(pos[0], "show")) {
    if (npos < 2) return ag_cli_fail(c, AG_E_USAGE, "dispute show needs a dispute id");
    snprintf(path, sizeof path, "/v1/disputes/%.64s", pos[1]);
    if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
    if (c->json) ag_cli_print_json(j);
    else print_dispute(j), json_decref(j);
    return 0;
  }
  if (!strcmp(pos[0], "list")) {
    uint8_t pk[32];
    char addr[AG_ADDR_MAX];
    if (member && (rc = ag_cli_resolve_addr(c, member, pk))) return fail_rc(c, rc);
    if (member) ag_addr_encode(pk, addr);
    snprintf(path, sizeof path, "/v1/disputes%s%s", member ? "?member=" : "", member ? addr : "");
    if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
    if (c->json) {
      ag_cli_print_json(j);
      return 0;
    }
    json_t *a = json_object_get(j, "disputes");
    printf("%zu open disputes\n", json_array_size(a));
    for (size_t i = 0; i < json_array_size(a); i++) print_dispute(json_array_get(a, i));
    json_decref(j);
    return 0;
  }
  if (strcmp(pos[0], "open")) return ag_cli_fail(c, AG_E_USAGE, "unknown dispute command '%s'", pos[0]);
  if (npos < 2 || !from) return ag_cli_fail(c, AG_E_USAGE, "dispute open needs FILE (from HOME/disputes) and --from KEY");
  json_error_t err;
  json_t *f = json_load_file(pos[1], 0, &err);
  if (!f) return ag_cli_fail(c, AG_E_IO, "cannot read %s: %s", pos[1], err.text);
  dctx d;
  memset(&d, 0, sizeof d);
  const char *hex = json_string_value(json_object_get(f, "evidence"));
  int netuid = (int)json_integer_value(json_object_get(f, "netuid"));
  uint64_t sv;
  if (subnet && (ag_parse_u64(subnet, &sv) || sv > 65535)) rc = ag_fail(AG_E_USAGE, "--subnet is 0..65535");
  else if (subnet) netuid = (int)sv;
  d.netuid = (uint16_t)netuid;
  d.n = hex ? strlen(hex) / 2 : 0;
  d.ev = ag_xmalloc(d.n + 1);
  ag_evidence e;
  if (!rc && (!hex || ag_hex_decode(hex, 2 * d.n, d.ev, d.n)))
    rc = ag_fail(AG_E_DISPUTE_EVIDENCE, "%s has no evidence (hex)", pos[1]);
  if (!rc) rc = ag_evidence_decode(d.ev, d.n, &e);
  if (!rc && bond) rc = ag_amount_parse(bond, &d.bond);
  if (!rc && !bond && !(rc = ag_cli_api(c, "GET", "/v1/economy", NULL, NULL, 0, &j))) {
    d.bond = ag_cli_json_u64(j, "dispute_bond");
    json_decref(j);
  }
  json_decref(f);
  char summary[300], a[32], b[32], addr[AG_ADDR_MAX];
  if (!rc) {
    ag_amount_format(d.bond, a);
    ag_amount_format(e.pay.cost, b);
    ag_addr_encode(e.hotkey, addr);
    snprintf(summary, sizeof summary, "dispute an answer of %s (it cost %s AGR) on subnet %u, with a bond of %s AGR",
             addr, b, d.netuid, a);
    ag_txreq req = {from, AG_TX_DISPUTE_OPEN, build_open, &d, summary, fee, NULL, no_wait};
    rc = ag_cli_submit(c, &req);
    free(d.ev);
    /* the file says the chain has the case, so a gateway's retry leaves it alone */
    json_t *g = !rc && !no_wait ? json_load_file(pos[1], 0, NULL) : NULL;
    if (json_is_object(g)) {
      json_object_set_new(g, "opened", json_true());
      json_object_del(g, "error");
      ag_json_write_file(pos[1], json_incref(g));
    }
    json_decref(g);
    return rc;
  }
  free(d.ev);
  return fail_rc(c, rc);
}
