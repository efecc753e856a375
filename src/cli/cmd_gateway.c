/* cmd_gateway.c — agora gateway: an OpenAI-compatible endpoint for ordinary clients, and its
 * API keys (docs/gateway.md). */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "subnets/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char gateway_usage[] =
    "usage: agora gateway --pay-from KEY [--listen HOST:PORT] [--subnet N] [--deposit AGR]\n"
    "                     [--verify-sample F] [--no-dispute] [--threads N] [--ready-file FILE]\n"
    "       agora gateway keys add NAME --budget AGR\n"
    "       agora gateway keys list\n"
    "       agora gateway keys remove NAME\n\n"
    "Serves an OpenAI-compatible API (/v1/models, /v1/chat/completions, /v1/completions with\n"
    "streaming, and /v1/usage) in front of an inference subnet, for any OpenAI SDK or tool with\n"
    "a key from 'gateway keys add'. For each request the gateway asks the miner with the lowest\n"
    "price for it (then the highest incentive, then the fastest so far), pays it through its own\n"
    "payment channel from KEY, and checks the answer by re-execution (all answers, or the\n"
    "fraction --verify-sample); a miner that fails is skipped for ten minutes, a wrong paid\n"
    "answer is disputed (unless --no-dispute; one that cannot be opened then is tried again\n"
    "10 s, 20 s, 40 s, ... later, six sends in all), and another miner is asked (up to 3).\n"
    "What each answer cost is metered against the key's budget; a key over budget gets HTTP 402.\n\n"
    "  --listen HOST:PORT   where to serve (default 127.0.0.1:8750; port 0 picks one)\n"
    "  --subnet N           the inference subnet (default 1)\n"
    "  --deposit AGR        a new channel's deposit (default: 100 times a request's most)\n"
    "  --ready-file FILE    written with {\"url\", \"model\"} once serving\n";

static int keys(ag_cli *c, int npos, char **pos, const char *budget) {
  int rc;
  if (npos >= 2 && !strcmp(pos[1], "list")) {
    json_t *arr;
    if ((rc = ag_gateway_keys_list(c->home, &arr))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (c->json) {
      ag_cli_print_json(arr);
      return 0;
    }
    printf("%zu keys\n", json_array_size(arr));
    for (size_t i = 0; i < json_array_size(arr); i++) {
      json_t *k = json_array_get(arr, i);
      char b[32], s[32];
      ag_amount_format(ag_json_u64_of(k, "budget"), b);
      ag_amount_format(ag_json_u64_of(k, "spent"), s);
      printf("  %-20s spent %s of %s AGR in %llu requests\n", json_string_value(json_object_get(k, "name")), s, b,
             (unsigned long long)ag_json_u64_of(k, "requests"));
    }
    json_decref(arr);
    return 0;
  }
  if (npos < 3) return ag_cli_fail(c, AG_E_USAGE, "gateway keys add|remove needs a NAME (see --help)");
  if (!strcmp(pos[1], "remove")) {
    if ((rc = ag_gateway_key_remove(c->home, pos[2]))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (!c->json) printf("removed the key '%s'\n", pos[2]);
    else ag_cli_print_json(json_pack("{s:s}", "removed", pos[2]));
    return 0;
  }
  if (strcmp(pos[1], "add")) return ag_cli_fail(c, AG_E_USAGE, "unknown gateway keys command '%s'", pos[1]);
  uint64_t amount;
  if (!budget || ag_amount_parse(budget, &amount)) return ag_cli_fail(c, AG_E_USAGE, "gateway keys add needs --budget AGR");
  char key[72];
  if ((rc = ag_gateway_key_add(c->home, pos[2], amount, key))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) {
    ag_cli_print_json(json_pack("{s:s, s:s, s:s}", "name", pos[2], "key", key, "budget", budget));
  } else {
    printf("%s\n", key);
    fprintf(stderr, "the key '%s' (budget %s AGR); it is shown only now: the gateway keeps its hash\n", pos[2], budget);
  }
  return 0;
}

int ag_cmd_gateway(ag_cli *c, int argc, char **argv) {
  const char *listen = "127.0.0.1:8750", *subnet = NULL, *pay_from = NULL, *deposit = NULL, *sample = NULL,
             *threads = NULL, *budget = NULL, *ready = NULL;
  bool no_dispute = false;
  ag_opt opts[] = {{"listen", 0, 1, &listen, NULL},       {"subnet", 0, 1, &subnet, NULL},
                   {"pay-from", 0, 1, &pay_from, NULL},   {"deposit", 0, 1, &deposit, NULL},
                   {"verify-sample", 0, 1, &sample, NULL}, {"no-dispute", 0, 0, NULL, &no_dispute},
                   {"threads", 0, 1, &threads, NULL},     {"budget", 0, 1, &budget, NULL},
                   {"ready-file", 0, 1, &ready, NULL},    {"", 0, 0, NULL, NULL}};
  char *pos[3];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 3, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, gateway_usage);
  if (npos >= 1 && !strcmp(pos[0], "keys")) return keys(c, npos, pos, budget);
  if (npos) return ag_cli_fail(c, AG_E_USAGE, "unknown gateway command '%s' (see --help)", pos[0]);
  if (!pay_from) return ag_cli_fail(c, AG_E_USAGE, "the gateway pays miners: give --pay-from KEY");
  uint64_t netuid = 1, nthreads = 2, dep = 0;
  double frac = 1;
  char *end;
  if ((subnet && (ag_parse_u64(subnet, &netuid) || netuid > 65535)) ||
      (threads && (ag_parse_u64(threads, &nthreads) || nthreads < 1 || nthreads > 256)) ||
      (deposit && ag_amount_parse(deposit, &dep)) ||
      (sample && (frac = strtod(sample, &end), *end || !(frac > 0 && frac <= 1))))
    return ag_cli_fail(c, AG_E_USAGE, "bad --subnet, --threads, --deposit or --verify-sample (a fraction in (0, 1])");
  char url[256];
  ag_cli_node_url(c, url, sizeof url);
  json_t *st;
  char chain_id[64] = "";
  if (!ag_cli_api(c, "GET", "/v1/status", NULL, NULL, 0, &st)) {
    snprintf(chain_id, sizeof chain_id, "%s", json_string_value(json_object_get(st, "chain_id")) ?: "");
    json_decref(st);
  }
  ag_keypair payer;
  if ((rc = ag_cli_load_signer(c, pay_from, chain_id, &payer))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  ag_gateway_cfg gc = {.home = c->home, .node_url = url, .listen = listen, .netuid = (uint16_t)netuid,
                       .payer = &payer, .payer_name = pay_from, .deposit = dep, .verify_sample = frac,
                       .dispute = !no_dispute, .threads = (int)nthreads, .ready_file = ready};
  pthread_t sig = ag_cli_block_signals();
  rc = ag_gateway_run(&gc, &ag_cli_stop);
  ag_cli_end_signals(sig);
  ag_key_wipe(&payer);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  return 0;
}
