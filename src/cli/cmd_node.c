/* cmd_node.c — `agora init` (a home folder with genesis and dev accounts) and `agora node`. */
#include "api/files_api.h"
#include "api/node_api.h"
#include "api/render.h"
#include "cli/cli.h"
#include "consensus/node.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keystore.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char init_usage[] =
    "usage: agora init [--home DIR] [--chain-id ID] [--dev-accounts N] [--dev-balance AGR]\n"
    "                  [--block-time MS] [--api HOST:PORT] [--force]\n\n"
    "Creates a home folder for a local chain: genesis.json, config.json, a node key (genesis\n"
    "names it as the block producer, so clients can check block signatures) and N funded dev\n"
    "accounts (dev0, dev1, ...). Dev accounts are stored UNENCRYPTED and can sign only for this\n"
    "chain id: they exist so a local devnet runs unattended. Use 'agora wallet new' for real\n"
    "keys.\n\n"
    "  --chain-id ID        chain id (default agora-devnet)\n"
    "  --dev-accounts N     funded dev accounts (default 4, 0..1000)\n"
    "  --dev-balance AGR    balance of each (default 1000000)\n"
    "  --block-time MS      block interval written to config.json (default 1000, min 50)\n"
    "  --api HOST:PORT      API listen address written to config.json (default 127.0.0.1:8740)\n"
    "  --force              replace an existing home folder's chain (deletes its data)\n";

int ag_cmd_init(ag_cli *c, int argc, char **argv) {
  const char *chain = "agora-devnet", *ndev_s = "4", *bal_s = "1000000", *bt_s = "1000",
             *api = AG_DEFAULT_API;
  bool force = false;
  ag_opt opts[] = {{"chain-id", 0, 1, &chain, NULL},  {"dev-accounts", 0, 1, &ndev_s, NULL},
                   {"dev-balance", 0, 1, &bal_s, NULL}, {"block-time", 0, 1, &bt_s, NULL},
                   {"api", 0, 1, &api, NULL},           {"force", 0, 0, NULL, &force},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, init_usage);
  uint64_t ndev, bal, bt;
  if (!ag_chain_id_valid(chain))
    return ag_cli_fail(c, AG_E_USAGE, "chain id must be 1..32 of [a-z0-9-]");
  if (ag_parse_u64(ndev_s, &ndev) || ndev > 1000)
    return ag_cli_fail(c, AG_E_USAGE, "--dev-accounts must be 0..1000");
  if (ag_amount_parse(bal_s, &bal)) return ag_cli_fail(c, AG_E_USAGE, "%s", ag_errmsg(AG_E_BAD_AMOUNT));
  if (ag_parse_u64(bt_s, &bt) || bt < 50 || bt > 600000)
    return ag_cli_fail(c, AG_E_USAGE, "--block-time must be 50..600000 ms");
  char path[1200], keys[1200];
  ag_cli_path(c, "genesis.json", path, sizeof path);
  if (ag_file_exists(path) && !force)
    return ag_cli_fail(c, AG_E_EXISTS, "%s already exists (use --force to start a new chain there)", path);
  if ((rc = ag_mkdirs(c->home, 0700))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (force) {
    char data[1100], keys_dir[1100];
    snprintf(data, sizeof data, "%s/data", c->home);
    snprintf(keys_dir, sizeof keys_dir, "%s/keys", c->home);
    if (ag_rm_tree(data) || ag_rm_tree(keys_dir)) return ag_cli_fail(c, AG_E_IO, "could not clear %s", c->home);
  }
  ag_cli_path(c, "keys", keys, sizeof keys);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  snprintf(g.chain_id, sizeof g.chain_id, "%s", chain);
  g.genesis_time_ms = ag_now_ms();
  ag_params_default(&g.params);
  /* the node key signs every block: genesis names it, so that any client holding this
   * genesis can check block headers (docs/state-tree.md, light-client proofs) */
  ag_keypair nk;
  ag_key_generate(&nk);
  g.has_proposer = 1;
  memcpy(g.proposer, nk.pk, 32);
  g.naccounts = (size_t)ndev;
  g.accounts = ag_xcalloc(ndev ? ndev : 1, sizeof *g.accounts);
  uint64_t total;
  if (ag_mul_u64(bal, ndev, &total)) {
    ag_key_wipe(&nk);
    ag_genesis_free(&g);
    return ag_cli_fail(c, AG_E_OVERFLOW, "total supply would overflow");
  }
  json_t *accts = json_array();
  for (uint64_t i = 0; i < ndev; i++) {
    ag_keypair k;
    ag_key_generate(&k);
    char name[32];
    snprintf(name, sizeof name, "dev%llu", (unsigned long long)i);
    if ((rc = ag_keystore_save(keys, name, &k, NULL, chain))) {
      ag_key_wipe(&k);
      ag_key_wipe(&nk);
      json_decref(accts);
      ag_genesis_free(&g);
      return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    }
    memcpy(g.accounts[i].pk, k.pk, 32);
    g.accounts[i].balance = bal;
    json_t *a = json_object();
    json_object_set_new(a, "name", json_string(name));
    json_object_set_new(a, "address", ag_json_addr(k.pk));
    json_object_set_new(a, "balance", ag_json_u64s(bal));
    json_array_append_new(accts, a);
    ag_key_wipe(&k);
  }
  /* a chain with dev accounts is for development on one machine: neurons may announce loopback
   * and private endpoints (a public network's genesis leaves this off) */
  if (ndev) g.modules = ag_xstrdup("{\"incentive\":{\"allow_private_endpoints\":true}}");
  /* canonical order and hash */
  char *text = ag_genesis_to_json(&g);
  ag_genesis parsed;
  rc = ag_genesis_parse(text, strlen(text), &parsed);
  if (!rc) rc = ag_write_file_atomic(path, text, strlen(text), 0644);
  free(text);
  ag_genesis_free(&g);
  if (!rc) rc = ag_node_key_save(c->home, &nk);
  char cfg[512];
  int n = snprintf(cfg, sizeof cfg,
                   "{\n  \"api_listen\": \"%s\",\n  \"block_time_ms\": %llu,\n  \"mempool\": "
                   "{\"max_txs\": 100000, \"max_bytes\": 67108864, \"max_per_sender\": 10000}\n}\n",
                   api, (unsigned long long)bt);
  ag_cli_path(c, "config.json", path, sizeof path);
  if (!rc) rc = ag_write_file_atomic(path, cfg, (size_t)n, 0644);
  if (rc) {
    ag_key_wipe(&nk);
    json_decref(accts);
    ag_genesis_free(&parsed);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "home", json_string(c->home));
    json_object_set_new(o, "chain_id", json_string(chain));
    json_object_set_new(o, "genesis_hash", ag_json_hex(parsed.hash, 32));
    json_object_set_new(o, "node_address", ag_json_addr(nk.pk));
    json_object_set_new(o, "accounts", accts);
    ag_cli_print_json(o);
  } else {
    char bs[32];
    ag_amount_format(bal, bs);
    printf("initialized %s\n  chain id      %s\n  genesis hash  ", c->home, chain);
    for (int i = 0; i < 32; i++) printf("%02x", parsed.hash[i]);
    printf("\n  block time    %llu ms\n  API           http://%s\n", (unsigned long long)bt, api);
    for (size_t i = 0; i < json_array_size(accts); i++) {
      json_t *a = json_array_get(accts, i);
      printf("  %-6s %s  %s AGR\n", json_string_value(json_object_get(a, "name")),
             json_string_value(json_object_get(a, "address")), bs);
    }
    printf("dev keys are unencrypted and bound to %s; start the node with: agora node --home %s\n",
           chain, c->home);
    json_decref(accts);
  }
  ag_key_wipe(&nk);
  ag_genesis_free(&parsed);
  return 0;
}

/* ---- agora node ------------------------------------------------------------------------- */

static const char node_usage[] =
    "usage: agora node [--home DIR] [--block-time MS] [--api HOST:PORT] [--threads N]\n"
    "       agora node --consensus cometbft --abci tcp://127.0.0.1:26658 [--cometbft-rpc URL]\n"
    "       agora node --replay [--home DIR]\n"
    "       agora node --check-state [--home DIR]\n\n"
    "Runs a node: the solo block producer and the JSON API (docs/api.md). Stops cleanly on\n"
    "Ctrl-C or SIGTERM. After a crash it restarts at its last committed block.\n\n"
    "  --block-time MS   block interval (default from config.json, 1000; min 50)\n"
    "  --api HOST:PORT   API listen address (port 0 picks a free port; the address is\n"
    "                    written to HOME/data/api.addr)\n"
    "  --threads N       threads for signature checks and hashing (default: all cores)\n"
    "  --consensus solo|cometbft\n"
    "                    solo (default): this node produces and signs the blocks. cometbft: it\n"
    "                    is the ABCI application of a CometBFT node (docs/multi-validator.md)\n"
    "  --abci ADDR       cometbft: where CometBFT connects (tcp://HOST:PORT or unix:///PATH)\n"
    "  --cometbft-rpc URL  cometbft: that node's RPC, for submitted txs (http://127.0.0.1:26657)\n"
    "  --replay          rebuild the state from genesis and the block store, check every\n"
    "                    block's state root, and exit\n"
    "  --check-state     read the whole state store and check it: each record against its\n"
    "                    hashes, the Merkle tree against the records, its root against the\n"
    "                    last block; exit 0 if they agree (the node must be stopped)\n";

/* Signals are blocked in every thread and taken by this one with sigwait, so stopping the
 * node happens in ordinary thread context (no locks inside a signal handler). */
static void *signal_thread(void *arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig;
  sigwait(&set, &sig);
  ag_node_stop(arg);
  return NULL;
}

static int check_state(ag_cli *c, const ag_node_config *cfg) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/data", cfg->home);
  ag_app *app = NULL;
  int rc = ag_app_open(dir, &app);
  if (rc && rc != AG_E_STATE_MISMATCH) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (rc) { /* the root disagrees already: report it as the check's finding */
    char msg[300];
    snprintf(msg, sizeof msg, "%s", ag_errmsg(rc));
    return ag_cli_fail(c, rc, "%s", msg);
  }
  ag_app_info info;
  uint64_t keys = 0;
  double t0 = ag_mono_s();
  rc = ag_app_info_get(app, &info);
  if (!rc) rc = ag_state_check(ag_app_state(app), &keys);
  char msg[300];
  snprintf(msg, sizeof msg, "%s", rc ? ag_errmsg(rc) : "");
  ag_app_close(app);
  if (rc) return ag_cli_fail(c, rc, "the state store is damaged: %s (repair: agora node --replay)", msg);
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "height", json_integer((json_int_t)info.height));
    json_object_set_new(o, "state_root", ag_json_hex(info.app_hash, 32));
    json_object_set_new(o, "keys", json_integer((json_int_t)keys));
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "seconds", json_real(ag_mono_s() - t0));
    ag_cli_print_json(o);
  } else {
    printf("state at height %llu: %llu keys; the records, the tree and the root agree (%.1f s)\n",
           (unsigned long long)info.height, (unsigned long long)keys, ag_mono_s() - t0);
  }
  return 0;
}

static int replay(ag_cli *c, const ag_node_config *cfg) {
  /* the root recorded before the replay, to compare with */
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/data", cfg->home);
  ag_app *app = NULL;
  ag_app_info before;
  memset(&before, 0, sizeof before);
  int rc = ag_app_open(dir, &app);
  if (rc == 0) rc = ag_app_info_get(app, &before);
  ag_app_close(app);
  if (rc && rc != AG_E_STATE_MISMATCH) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  uint64_t height;
  uint8_t root[32];
  double t0 = ag_mono_s();
  rc = ag_node_replay(cfg, !c->json, &height, root);
  if (rc) return ag_cli_fail(c, rc, "replay failed: %s", ag_errmsg(rc));
  int same = before.initialized && before.height == height && !memcmp(before.app_hash, root, 32);
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "height", json_integer((json_int_t)height));
    json_object_set_new(o, "state_root", ag_json_hex(root, 32));
    json_object_set_new(o, "previous_state_root", ag_json_hex(before.app_hash, 32));
    json_object_set_new(o, "matches", json_boolean(same));
    json_object_set_new(o, "seconds", json_real(ag_mono_s() - t0));
    ag_cli_print_json(o);
  } else {
    printf("replayed %llu blocks in %.1f s; state root ", (unsigned long long)height,
           ag_mono_s() - t0);
    for (int i = 0; i < 32; i++) printf("%02x", root[i]);
    printf(same ? " (matches the stored root)\n" : " (the stored root differed: state rebuilt)\n");
  }
  return 0;
}

int ag_cmd_node(ag_cli *c, int argc, char **argv) {
  const char *bt_s = NULL, *api = NULL, *threads_s = NULL, *cons = NULL, *abci = NULL, *rpc = NULL;
  bool do_replay = false, do_check = false;
  ag_opt opts[] = {{"block-time", 0, 1, &bt_s, NULL}, {"api", 0, 1, &api, NULL},
                   {"threads", 0, 1, &threads_s, NULL}, {"replay", 0, 0, NULL, &do_replay}, {"check-state", 0, 0, NULL, &do_check},
                   {"consensus", 0, 1, &cons, NULL},    {"abci", 0, 1, &abci, NULL},
                   {"cometbft-rpc", 0, 1, &rpc, NULL},  {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, node_usage);
  ag_node_config cfg;
  if ((rc = ag_node_config_load(&cfg, c->home))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  uint64_t v;
  if (bt_s) {
    if (ag_parse_u64(bt_s, &v) || v < 50 || v > 600000)
      return ag_cli_fail(c, AG_E_USAGE, "--block-time must be 50..600000 ms");
    cfg.block_time_ms = (uint32_t)v;
  }
  if (threads_s) {
    if (ag_parse_u64(threads_s, &v) || v < 1 || v > 256)
      return ag_cli_fail(c, AG_E_USAGE, "--threads must be 1..256");
    cfg.threads = (int)v;
  }
  if (api) snprintf(cfg.api_listen, sizeof cfg.api_listen, "%s", api);
  if (cons) {
    if (!strcmp(cons, "cometbft")) cfg.consensus = AG_CONSENSUS_COMETBFT;
    else if (!strcmp(cons, "solo")) cfg.consensus = AG_CONSENSUS_SOLO;
    else return ag_cli_fail(c, AG_E_USAGE, "--consensus is solo or cometbft");
  }
  if (abci) snprintf(cfg.abci_listen, sizeof cfg.abci_listen, "%s", abci);
  if (rpc) snprintf(cfg.cometbft_rpc, sizeof cfg.cometbft_rpc, "%s", rpc);
  if (do_replay && cfg.consensus == AG_CONSENSUS_COMETBFT)
    return ag_cli_fail(c, AG_E_USAGE,
                       "this node runs under CometBFT, which replays missing blocks itself when "
                       "both restart (its handshake)");
  if (do_replay) return replay(c, &cfg);
  if (do_check) return check_state(c, &cfg);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts: they inherit it */
  signal(SIGPIPE, SIG_IGN);
  ag_node *n;
  if ((rc = ag_node_open(&cfg, &n))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  ag_http_server *srv;
  if ((rc = ag_node_api_start(n, cfg.api_listen, &srv))) {
    ag_node_close(n);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  char host[256], addr[300], path[1200];
  uint16_t port;
  ag_http_parse_listen(cfg.api_listen, host, sizeof host, &port);
  snprintf(addr, sizeof addr, "%s:%u", host[0] ? host : "127.0.0.1", ag_http_port(srv));
  snprintf(path, sizeof path, "%s/data/api.addr", cfg.home);
  ag_write_file_atomic(path, addr, strlen(addr), 0644);
  ag_app_info info;
  ag_app_info_get(ag_node_app(n), &info);
  if (cfg.consensus == AG_CONSENSUS_COMETBFT)
    ag_info("node", "CometBFT mode at height %llu; ABCI %s, CometBFT RPC %s, API http://%s",
            (unsigned long long)info.height, cfg.abci_listen, cfg.cometbft_rpc, addr);
  else
    ag_info("node", "chain %s at height %llu; API http://%s; a block every %u ms", info.chain_id,
            (unsigned long long)info.height, addr, cfg.block_time_ms);
  ag_files_sync *fsync;
  if ((rc = ag_files_sync_start(n, &fsync))) ag_warn("node", "%s", ag_errmsg(rc));
  pthread_t sigth;
  pthread_create(&sigth, NULL, signal_thread, n);
  rc = ag_node_run(n);
  ag_files_sync_stop(fsync);
  pthread_kill(sigth, SIGTERM); /* wakes the signal thread if the node stopped on its own */
  pthread_join(sigth, NULL);
  ag_http_stop(srv);
  uint64_t h = ag_node_height(n);
  ag_node_close(n);
  unlink(path);
  ag_info("node", "stopped at height %llu", (unsigned long long)h);
  return rc ? ag_cli_fail(c, rc, "%s", ag_errmsg(rc)) : 0;
}
