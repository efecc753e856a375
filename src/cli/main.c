/* main.c — the agora command: global options, then one function per command group. */
#include "cli/cli.h"
#include "core/err.h"
#include "core/hash.h"
#include "economy/economy.h"
#include "incentive/incentive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *name;
  const char *alias;
  int (*fn)(ag_cli *c, int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"init", NULL, ag_cmd_init, "create a home folder: genesis, node key, funded dev accounts"},
    {"node", NULL, ag_cmd_node, "run a node (solo block producer, JSON API)"},
    {"wallet", "w", ag_cmd_wallet, "keys: new, list, show, import, export"},
    {"send", NULL, ag_cmd_send, "transfer tokens to one or more addresses"},
    {"balance", NULL, ag_cmd_balance, "balance and nonce of an address or key"},
    {"tx", NULL, ag_cmd_tx, "a transaction by hash: status, block, result"},
    {"block", NULL, ag_cmd_block, "a block by height, or the latest"},
    {"status", NULL, ag_cmd_status, "the node's chain, height and mempool"},
    {"query", "q", ag_cmd_query, "state queries with Merkle proofs (query account ADDR --prove)"},
    {"sim", NULL, ag_cmd_sim, "simulate the incentive mechanism (Yuma epochs, scenarios)"},
    {"subnet", "s", ag_cmd_subnet, "subnets: list, show, metagraph, create, set, register, serve"},
    {"stake", "st", ag_cmd_stake, "stake: add, remove, list, show, take"},
    {"weights", "wt", ag_cmd_weights, "validator weights: set, commit, reveal"},
    {"localnet", NULL, ag_cmd_localnet, "a multi-validator network on CometBFT on this machine"},
    {"consensus", NULL, ag_cmd_consensus, "a CometBFT chain's validator set: validators, set (sudo key)"},
    {"model", NULL, ag_cmd_model, "train, run, verify and convert AI models"},
    {"miner", NULL, ag_cmd_miner, "serve a subnet's model (OpenAI-compatible, verifiable answers)"},
    {"validator", NULL, ag_cmd_validator, "challenge, verify and score a subnet's miners; set weights"},
    {"infer", NULL, ag_cmd_infer, "ask the network for a completion and verify it"},
    {"channel", "ch", ag_cmd_channel, "payment channels: open, fund, voucher, claim, close, show"},
    {"offer", NULL, ag_cmd_offer, "a provider's offers to serve a model: post, remove, list"},
    {"bond", NULL, ag_cmd_bond, "a provider's bond: show, unbond, withdraw"},
    {"asset", NULL, ag_cmd_asset, "models and datasets as assets: register, show, royalty, transfer, claim"},
    {"ask", NULL, ag_cmd_ask, "say what you want in plain words: previewed, then signed once you confirm"},
    {"contacts", NULL, ag_cmd_contacts, "the address book: names for addresses 'agora ask' may use"},
    {"agent", NULL, ag_cmd_agent, "agent keys: let software spend within limits the chain enforces"},
    {"dispute", NULL, ag_cmd_dispute, "disputes of paid answers: open (from evidence), show, list"},
    {"gateway", NULL, ag_cmd_gateway, "an OpenAI-compatible endpoint with API keys and budgets, paying and verifying miners"},
    {"devnet", NULL, ag_cmd_devnet, "a whole network on this machine: node, miners, validators"},
};

static void help(void) {
  printf("agora — a network where AI is trained, served, verified and owned by its contributors\n\n"
         "usage: agora [--home DIR] [--node URL] [--json] [--yes] COMMAND [ARGS]\n\n"
         "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    printf("  %-10s %s\n", commands[i].name, commands[i].summary);
  printf("  %-10s %s\n", "version", "print the version");
  printf("\nglobal options:\n"
         "  --home DIR        home folder (env AGORA_HOME, default ~/.agora)\n"
         "  --node URL        node API (env AGORA_NODE, default http://127.0.0.1:8740)\n"
         "  --json            machine-readable output (implies no prompts)\n"
         "  -y, --yes         never prompt; assume yes\n"
         "  --passphrase-file F  read key passphrases from F (or set AGORA_PASSPHRASE)\n"
         "  --passphrase-fd N    read the passphrase from file descriptor N (its first line;\n"
         "                       for programs that start agora: a pipe, never argv or env)\n"
         "  --for ACCOUNT     sign as an agent key of ACCOUNT (address or key name): the tx\n"
         "                    spends ACCOUNT's tokens within the key's limits (docs/agents.md)\n"
         "\n'agora COMMAND --help' describes each command. Docs: docs/cli.md\n");
}

/* Pulls global options out of argv wherever they appear; returns the new argc. */
static int globals(ag_cli *c, int argc, char **argv, const char **pass_fd) {
  int w = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = NULL;
    const char *names[] = {"--home", "--node", "--passphrase-file", "--passphrase-fd", "--for"};
    int matched = -1;
    for (int k = 0; k < 5; k++) {
      size_t n = strlen(names[k]);
      if (!strcmp(a, names[k]) && i + 1 < argc) {
        matched = k;
        v = argv[++i];
      } else if (!strncmp(a, names[k], n) && a[n] == '=') {
        matched = k;
        v = a + n + 1;
      }
      if (matched >= 0) break;
    }
    if (matched == 0) {
      snprintf(c->home, sizeof c->home, "%s", v);
      c->home_explicit = true;
    }
    else if (matched == 1) snprintf(c->node, sizeof c->node, "%s", v);
    else if (matched == 2) c->passphrase_file = v;
    else if (matched == 3) *pass_fd = v;
    else if (matched == 4) c->for_account = v;
    else if (!strcmp(a, "--json")) c->json = true;
    else if (!strcmp(a, "--yes") || !strcmp(a, "-y")) c->yes = true;
    else if (!strcmp(a, "--")) {
      while (i < argc) argv[w++] = argv[i++];
      break;
    } else argv[w++] = argv[i];
  }
  argv[w] = NULL;
  return w;
}

int main(int argc, char **argv) {
  ag_crypto_init();
  /* every tx kind, before any thread: a client's least fee (ag_tx_min_fee) and a tx's JSON
   * depend on its kind's rules */
  ag_incentive_register_kinds();
  ag_economy_register_kinds();
  ag_cli c;
  memset(&c, 0, sizeof c);
  const char *env_home = getenv("AGORA_HOME"), *env_node = getenv("AGORA_NODE");
  if (env_home && *env_home) {
    snprintf(c.home, sizeof c.home, "%s", env_home);
    c.home_explicit = true;
  }
  else snprintf(c.home, sizeof c.home, "%s/.agora", getenv("HOME") ? getenv("HOME") : ".");
  if (env_node && *env_node) snprintf(c.node, sizeof c.node, "%s", env_node);
  const char *pass_fd = NULL;
  argc = globals(&c, argc, argv, &pass_fd);
  /* before anything else: no child of this process may inherit AGORA_PASSPHRASE */
  int rc = ag_cli_take_passphrase(&c, pass_fd);
  if (rc) { /* a passphrase problem: exit 6, like a wrong one */
    int code = rc == AG_E_USAGE ? AG_EXIT_USAGE : AG_EXIT_KEY;
    if (c.json) ag_cli_fail(&c, rc, "%s", ag_errmsg(rc));
    else fprintf(stderr, "agora: %s\n", ag_errmsg(rc));
    return code;
  }
  if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    ag_cli_secrets_free(&c);
    help();
    return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
  }
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    ag_cli_secrets_free(&c);
    if (c.json) printf("{\"version\":\"0.1.0\"}\n");
    else printf("agora 0.1.0\n");
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[1], commands[i].name) && (!commands[i].alias || strcmp(argv[1], commands[i].alias)))
      continue;
    c.cmd = commands[i].name;
    rc = commands[i].fn(&c, argc - 2, argv + 2);
    ag_cli_secrets_free(&c);
    return rc;
  }
  rc = ag_cli_fail(&c, AG_E_USAGE, "unknown command '%.64s' (see 'agora --help')", argv[1]);
  ag_cli_secrets_free(&c);
  return rc;
}
