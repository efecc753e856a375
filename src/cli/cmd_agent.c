/* cmd_agent.c — agent keys from the command line: key add (or change), list, revoke; freeze
 * (docs/agents.md). A tx signed by an agent key is any tx command with --for ACCOUNT. */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "economy/economy.h"
#include "subnets/buyer.h"
#include "subnets/netclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: agora agent key add AGENT --from ACCOUNT --period-cap AGR --lifetime-cap AGR\n"
    "                      [--max-per-tx AGR] [--fee-cap AGR] [--period BLOCKS] [--start HEIGHT]\n"
    "                      [--expires-in BLOCKS] [--kinds buy|all|KIND,...] [--to ADDR,...]\n"
    "                      [--any-provider]\n"
    "       agora agent key list ACCOUNT\n"
    "       agora agent key revoke AGENT --from ACCOUNT_OR_AGENT [--account ACCOUNT]\n"
    "       agora agent freeze --from ACCOUNT [--off]\n"
    "       agora agent run TASK.json --from AGENT [--threads N]\n\n"
    "An agent key signs txs for an account (any tx command with --for ACCOUNT --from AGENT)\n"
    "within limits the chain enforces: everything a tx takes from the account, its fee included,\n"
    "counts against a cap per tx (--max-per-tx, default the period cap), per window of --period\n"
    "blocks (default 600) from --start (default now), and for the key's life; fees alone against\n"
    "--fee-cap (default 1 AGR). A cap of 'none' is no cap. --kinds: 'buy' (default: channel\n"
    "open, fund and close, dispute open), 'all' the kinds a key may ever run, or a list. It may\n"
    "pay or stake on only the --to addresses or key names (and, with --any-provider, any hotkey\n"
    "with a standing offer). The key expires after --expires-in blocks (default 100000). Adding\n"
    "a key again changes its terms and keeps what it spent. 'revoke' by the account or by the key\n"
    "itself (then --account names the account); 'freeze' stops all of an account's keys at once\n"
    "until 'freeze --off'. 'run' buys answers under an agent key: TASK.json is {\"account\", \"prompts\":\n"
    "[...], \"subnet\" (1), \"max_tokens\" (16), \"deposit\" (AGR per channel)}; it asks the cheapest\n"
    "offer, pays through a channel of the account's within the key's caps, verifies every answer,\n"
    "disputes a wrong one, and stops when the chain refuses it (a cap, the expiry, a freeze): a line\n"
    "per request on stderr, a JSON report on stdout (docs/agents.md).\n";

typedef struct {
  uint8_t agent[32], account[32];
  ag_agent_terms t;
  uint64_t start, expires_in;
  uint8_t frozen;
} actx;

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

static int build_add(void *ctx, const ag_tx_env *env, ag_buf *p) {
  actx *w = ctx;
  w->t.anchor = w->start ? w->start : env->height + 1;
  if (ag_add_u64(w->t.anchor, w->expires_in, &w->t.expires))
    return ag_fail(AG_E_USAGE, "--expires-in is too large");
  ag_payload_agent_key_set(p, w->agent, &w->t);
  return 0;
}

static int build_revoke(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  actx *w = ctx;
  ag_buf_put(p, w->account, 32);
  ag_buf_put(p, w->agent, 32);
  return 0;
}

static int build_freeze(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  ag_buf_put_u8(p, ((actx *)ctx)->frozen);
  return 0;
}

/* "none" is no cap; else an amount in AGR. */
static int parse_cap(const char *s, const char *what, uint64_t *out) {
  if (!strcmp(s, "none")) return *out = UINT64_MAX, 0;
  int rc = ag_amount_parse(s, out);
  return rc ? ag_fail(rc, "%s: %s", what, ag_errmsg(rc)) : 0;
}

static int parse_kinds(const char *s, uint64_t *mask) {
  if (!strcmp(s, "buy")) {
    *mask = 1ULL << AG_TX_CHANNEL_OPEN | 1ULL << AG_TX_CHANNEL_FUND | 1ULL << AG_TX_CHANNEL_CLOSE |
            1ULL << AG_TX_DISPUTE_OPEN;
    return 0;
  }
  if (!strcmp(s, "all")) return *mask = ag_agent_grantable(), 0;
  *mask = 0;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int found = 0;
    for (int k = 0; k < 64 && !found; k++)
      if ((ag_agent_grantable() >> k & 1) && !strcmp(ag_tx_kind_name((uint16_t)k), tok)) {
        *mask |= 1ULL << k;
        found = 1;
      }
    if (!found) return ag_fail(AG_E_USAGE, "--kinds: '%s' is not a kind an agent key may run", tok);
  }
  return 0;
}

static int parse_to(ag_cli *c, const char *s, ag_agent_terms *t) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (t->n >= AG_AGENT_MAX_RCPT) return ag_fail(AG_E_USAGE, "--to lists at most %d recipients", AG_AGENT_MAX_RCPT);
    int rc = ag_cli_resolve_addr(c, tok, t->rcpt[t->n]);
    if (rc) return rc;
    t->n++;
  }
  return 0;
}

static void print_key(json_t *k) {
  char a[32];
  printf("  %s  %s", json_string_value(json_object_get(k, "agent")), json_string_value(json_object_get(k, "state")));
  printf(" (heights %lld..%lld)\n", json_integer_value(json_object_get(k, "anchor")),
         json_integer_value(json_object_get(k, "expires")));
  printf("    kinds");
  json_t *ks = json_object_get(k, "kinds");
  for (size_t i = 0; i < json_array_size(ks); i++) printf(" %s", json_string_value(json_array_get(ks, i)));
  printf("\n    recipients: %zu listed%s\n", json_array_size(json_object_get(k, "recipients")),
         json_is_true(json_object_get(k, "any_provider")) ? ", and any provider with an offer" : "");
  const char *caps[] = {"max_per_tx", "period_cap", "lifetime_cap", "fee_cap"};
  const char *labels[] = {"per tx", "per window", "lifetime", "fees"};
  printf("    caps:");
  for (int i = 0; i < 4; i++) {
    uint64_t v = ag_cli_json_u64(k, caps[i]);
    if (v == UINT64_MAX) printf(" %s none;", labels[i]);
    else printf(" %s %s AGR;", labels[i], (ag_amount_format(v, a), a));
  }
  printf(" window %lld blocks\n", json_integer_value(json_object_get(k, "period")));
  json_t *r = json_object_get(k, "remaining");
  printf("    spent %s AGR in all", (ag_amount_format(ag_cli_json_u64(k, "lifetime_spent"), a), a));
  printf(" (fees %s AGR);", (ag_amount_format(ag_cli_json_u64(k, "fee_spent"), a), a));
  uint64_t rp = ag_cli_json_u64(r, "period"), rl = ag_cli_json_u64(r, "lifetime");
  uint64_t room = rp < rl ? rp : rl;
  if (room > (uint64_t)1e18) printf(" may spend without cap now\n");
  else printf(" may spend %s AGR more now\n", (ag_amount_format(room, a), a));
}

static int key_list(ag_cli *c, const char *who) {
  uint8_t pk[32];
  int rc = ag_cli_resolve_addr(c, who, pk);
  if (rc) return fail_rc(c, rc);
  char addr[AG_ADDR_MAX], path[160];
  ag_addr_encode(pk, addr);
  snprintf(path, sizeof path, "/v1/agents/%s", addr);
  json_t *j;
  if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  json_t *ks = json_object_get(j, "keys");
  printf("%zu agent keys of %s%s\n", json_array_size(ks), addr,
         json_is_true(json_object_get(j, "frozen")) ? " (all frozen)" : "");
  for (size_t i = 0; i < json_array_size(ks); i++) print_key(json_array_get(ks, i));
  json_decref(j);
  return 0;
}

/* The chain's refusal that ends an agent's run (a cap, its expiry, a freeze, a revocation, the
 * account's balance), from a failed buy's attempts; NULL when the failure is the miners'. */
static const char *stop_reason(json_t *attempts) {
  json_t *a;
  size_t i;
  json_array_foreach(attempts, i, a) {
    const char *r = json_string_value(json_object_get(a, "result")) ?: "";
    if (!strncmp(r, "agent_", 6) || !strcmp(r, "insufficient_balance")) return r;
  }
  return NULL;
}

static int agent_run(ag_cli *c, const char *task_path, const char *from, int threads) {
  json_error_t jerr;
  json_t *task = json_load_file(task_path, 0, &jerr), *prompts = json_object_get(task, "prompts");
  const char *acct = json_string_value(json_object_get(task, "account"));
  if (!task || !acct || !json_is_array(prompts)) {
    json_decref(task);
    return ag_cli_fail(c, AG_E_USAGE, "%s: a task is {\"account\", \"prompts\": [...]} (%s)", task_path,
                       task ? "missing fields" : jerr.text);
  }
  uint8_t account[32];
  uint64_t deposit = 0;
  int netuid = json_is_integer(json_object_get(task, "subnet")) ? (int)json_integer_value(json_object_get(task, "subnet")) : 1;
  int max_tokens = json_is_integer(json_object_get(task, "max_tokens")) ? (int)json_integer_value(json_object_get(task, "max_tokens")) : 16;
  const char *dep = json_string_value(json_object_get(task, "deposit"));
  int rc = ag_cli_resolve_addr(c, acct, account);
  if (!rc && dep) rc = ag_amount_parse(dep, &deposit);
  char url[300];
  ag_cli_node_url(c, url, sizeof url);
  ag_net net;
  memset(&net, 0, sizeof net);
  if (!rc) rc = ag_net_open(&net, url);
  ag_keypair key;
  memset(&key, 0, sizeof key);
  if (!rc) rc = ag_cli_load_signer(c, from, net.chain_id, &key);
  if (rc) {
    json_decref(task);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  ag_buyer_cfg bc = {.home = c->home, .netuid = (uint16_t)netuid, .payer = &key, .payer_name = from, .account = account,
                     .deposit = deposit, .dispute = true, .policy = AG_BUY_CHEAPEST, .verify = true, .verify_sample = 1,
                     .threads = threads, .attempts = 3, .log = false};
  ag_buyer *buyer = NULL;
  rc = ag_buyer_open(&net, &bc, &buyer);
  size_t n = json_array_size(prompts), answered = 0, failed = 0;
  uint64_t paid = 0;
  char stopped[64] = "done", reason[300] = "";
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *o = json_pack("{s:s,s:O,s:i,s:f,s:I}", "model", "default", "prompt", json_array_get(prompts, i),
                          "max_tokens", max_tokens, "temperature", 0.0, "seed", (json_int_t)i);
    ag_buy_result res;
    int brc = ag_buy_json(buyer, false, o, -1, UINT64_MAX, &res);
    json_decref(o);
    char a[32], t[32];
    if (!brc) {
      answered++;
      paid += res.cost;
      fprintf(stderr, "[%zu/%zu] uid %d: %d tokens, verified, paid %s AGR (%s AGR so far)\n", i + 1, n, res.uid,
              res.vd.n_out, (ag_amount_format(res.cost, a), a), (ag_amount_format(paid, t), t));
    } else {
      failed++;
      const char *why = stop_reason(res.attempts);
      fprintf(stderr, "[%zu/%zu] not answered: %s\n", i + 1, n, why ? why : ag_errmsg(brc));
      if (why) { /* the chain holds the key to its terms: nothing more can be bought now */
        snprintf(stopped, sizeof stopped, "%s", why);
        snprintf(reason, sizeof reason, "the chain refused the key's channel tx: %s", why);
        ag_buy_result_free(&res);
        break;
      }
    }
    ag_buy_result_free(&res);
  }
  ag_buyer_close(buyer);
  ag_key_wipe(&key);
  json_decref(task);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  json_t *rep = json_object();
  char addr[AG_ADDR_MAX];
  ag_addr_encode(account, addr);
  json_object_set_new(rep, "account", json_string(addr));
  json_object_set_new(rep, "agent", json_string(from));
  json_object_set_new(rep, "prompts", json_integer((json_int_t)n));
  json_object_set_new(rep, "answered", json_integer((json_int_t)answered));
  json_object_set_new(rep, "failed", json_integer((json_int_t)failed));
  json_object_set_new(rep, "paid", ag_json_u64s(paid));
  json_object_set_new(rep, "stopped", json_string(stopped));
  if (reason[0]) json_object_set_new(rep, "reason", json_string(reason));
  char path[160];
  snprintf(path, sizeof path, "/v1/agents/%s", addr);
  json_t *ks;
  if (ag_cli_api(c, "GET", path, NULL, NULL, 0, &ks) == 0) { /* what the chain counted */
    uint8_t me[32];
    ag_cli_resolve_addr(c, from, me);
    char meaddr[AG_ADDR_MAX];
    ag_addr_encode(me, meaddr);
    json_t *k;
    size_t i;
    json_array_foreach(json_object_get(ks, "keys"), i, k) if (!strcmp(json_string_value(json_object_get(k, "agent")) ?: "", meaddr))
      json_object_set_new(rep, "key", json_incref(k));
    json_decref(ks);
  }
  ag_cli_print_json(rep);
  return 0;
}

int ag_cmd_agent(ag_cli *c, int argc, char **argv) {
  const char *threads_s = NULL;
  const char *from = NULL, *kinds = "buy", *to = NULL, *period = NULL, *start = NULL, *expires_in = NULL,
             *max_tx = NULL, *pcap = NULL, *lcap = NULL, *fcap = NULL, *account = NULL, *fee = NULL;
  bool any = false, off = false, no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},           {"kinds", 0, 1, &kinds, NULL},
                   {"to", 0, 1, &to, NULL},                 {"period", 0, 1, &period, NULL},
                   {"start", 0, 1, &start, NULL},           {"expires-in", 0, 1, &expires_in, NULL},
                   {"max-per-tx", 0, 1, &max_tx, NULL},     {"period-cap", 0, 1, &pcap, NULL},
                   {"lifetime-cap", 0, 1, &lcap, NULL},     {"fee-cap", 0, 1, &fcap, NULL},
                   {"account", 0, 1, &account, NULL},       {"fee", 0, 1, &fee, NULL},
                   {"any-provider", 0, 0, NULL, &any},      {"off", 0, 0, NULL, &off},
                   {"no-wait", 0, 0, NULL, &no_wait},       {"threads", 't', 1, &threads_s, NULL},
                   {"", 0, 0, NULL, NULL}};
  char *pos[4];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 4, &npos);
  if (rc) return rc;
  if (c->help || npos < 1) return ag_cli_usage(c, usage);
  actx w;
  memset(&w, 0, sizeof w);
  char summary[300];
  ag_txreq req = {from, 0, NULL, &w, summary, fee, NULL, no_wait};
  if (!strcmp(pos[0], "run")) {
    uint64_t th = 1;
    if (npos < 2 || !from) return ag_cli_fail(c, AG_E_USAGE, "agent run needs TASK.json and --from AGENT");
    if (threads_s && (ag_parse_u64(threads_s, &th) || th < 1 || th > 64)) return ag_cli_fail(c, AG_E_USAGE, "--threads is 1..64");
    return agent_run(c, pos[1], from, (int)th);
  }
  if (!strcmp(pos[0], "freeze")) {
    if (!from) return ag_cli_fail(c, AG_E_USAGE, "agent freeze needs --from ACCOUNT");
    w.frozen = !off;
    snprintf(summary, sizeof summary, "%s every agent key of %s", off ? "thaw" : "freeze", from);
    req.kind = AG_TX_AGENT_FREEZE;
    req.build = build_freeze;
    return ag_cli_submit(c, &req);
  }
  if (strcmp(pos[0], "key") || npos < 3) return ag_cli_usage(c, usage);
  if (!strcmp(pos[1], "list")) return key_list(c, pos[2]);
  if (!from) return ag_cli_fail(c, AG_E_USAGE, "agent key %s needs --from", pos[1]);
  if ((rc = ag_cli_resolve_addr(c, pos[2], w.agent))) return fail_rc(c, rc);
  if (!strcmp(pos[1], "revoke")) {
    if ((rc = ag_cli_resolve_addr(c, account ? account : from, w.account))) return fail_rc(c, rc);
    snprintf(summary, sizeof summary, "revoke agent key %s", pos[2]);
    req.kind = AG_TX_AGENT_KEY_REVOKE;
    req.build = build_revoke;
    return ag_cli_submit(c, &req);
  }
  if (strcmp(pos[1], "add")) return ag_cli_fail(c, AG_E_USAGE, "unknown agent key command '%s'", pos[1]);
  if (!pcap || !lcap)
    return ag_cli_fail(c, AG_E_USAGE, "agent key add needs --period-cap and --lifetime-cap (AGR, or 'none')");
  ag_agent_terms *t = &w.t;
  t->period = 600;
  t->fee_cap = AG_UNIT;
  w.expires_in = 100000;
  if ((rc = parse_kinds(kinds, &t->kinds)) || (rc = parse_cap(pcap, "--period-cap", &t->period_cap)) ||
      (rc = parse_cap(lcap, "--lifetime-cap", &t->lifetime_cap)) ||
      (fcap && (rc = parse_cap(fcap, "--fee-cap", &t->fee_cap))) || (to && (rc = parse_to(c, to, t))))
    return fail_rc(c, rc);
  t->max_per_tx = t->period_cap;
  if (max_tx && (rc = parse_cap(max_tx, "--max-per-tx", &t->max_per_tx))) return fail_rc(c, rc);
  if ((period && (ag_parse_u64(period, &t->period) || !t->period)) || (start && ag_parse_u64(start, &w.start)) ||
      (expires_in && (ag_parse_u64(expires_in, &w.expires_in) || !w.expires_in)))
    return ag_cli_fail(c, AG_E_USAGE, "--period, --start and --expires-in are numbers of blocks (heights), > 0");
  if (any) t->flags |= AG_AGENT_ANY_PROVIDER;
  char a[32], b[32];
  snprintf(summary, sizeof summary, "authorise agent key %s: %s AGR per %llu blocks, %s AGR in all, %d listed recipient(s)%s",
           pos[2], t->period_cap == UINT64_MAX ? "no cap" : (ag_amount_format(t->period_cap, a), a),
           (unsigned long long)t->period,
           t->lifetime_cap == UINT64_MAX ? "no cap" : (ag_amount_format(t->lifetime_cap, b), b), t->n,
           any ? " and any provider with an offer" : "");
  req.kind = AG_TX_AGENT_KEY_SET;
  req.build = build_add;
  return ag_cli_submit(c, &req);
}
