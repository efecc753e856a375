/*
 * cmd_devnet.c — `agora devnet`: a whole inference network on this machine. One command writes
 * a fresh chain (funded keys, the inference subnet pinning the default model, short tempo),
 * starts the solo node, registers and stakes the neurons, launches miners (honest, cheating,
 * slow) and validators as child processes, and shows a live view until Ctrl-C or --blocks.
 *
 * Layout of the devnet home (default ~/.agora/devnet):
 *   genesis.json config.json node.key keys/   the chain, as `agora init` writes it
 *   data/                                      the node's state and blocks
 *   models/<id>.agm                            the pinned model, served by the node
 *   logs/node.log logs/minerI.log logs/validatorI.log
 *   status/validatorI.json                     each validator's scores (validator --status)
 *   devnet.json                                roles, keys, behaviours and pids; "ready" once
 *                                              every neuron is registered and started
 *
 * The node is infrastructure: if it dies it is restarted (its state survives). Miners and
 * validators are participants: one that dies stays down and the view says so.
 */
#define _GNU_SOURCE
#include "api/http.h"
#include "api/models.h"
#include "chain/genesis.h"
#include "chain/json.h"
#include "cli/cli.h"
#include "consensus/node.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "incentive/incentive.h"
#include "incentive/training.h"
#include "economy/economy.h"
#include "subnets/payment.h"
#include "subnets/diloco.h"
#include "subnets/inference.h"
#include "subnets/netclient.h"
#include "subnets/neuron.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "usage: agora devnet [--miners N] [--validators N] [--cheaters N] [--slow N] [--blocks N]\n"
    "                    [--block-time MS] [--tempo N] [--port P] [--model FILE] [--json]\n"
    "                    [--clients N] [--dispute-blocks N] [--market] [--serve-trained]\n"
    "                    [--training [--trainers N] [--free-riders N] [--front-runners N] [--blenders N]]\n\n"
    "Runs a whole inference network on this machine: a fresh chain with the inference subnet\n"
    "pinning the default model, the solo node, miners (cheaters alter their outputs; slow ones\n"
    "add latency) and validators, each a child process with its log under HOME/logs. The\n"
    "live view shows height, per-uid incentive, dividends, emission, stake, validator scores\n"
    "and requests/s until Ctrl-C or --blocks; then every child is stopped cleanly. With --json\n"
    "the final metagraph and issuance are printed as JSON, naming each neuron's role and\n"
    "behaviour. The home folder (default ~/.agora/devnet) is reset at every start.\n\n"
    "With --training a second subnet trains a new model from scratch (docs/subnet-training.md):\n"
    "trainers (free riders submit noise, front-runners and blenders copy others' work) and as many training\n"
    "validators; the view adds its rounds, the validation loss of every canonical checkpoint,\n"
    "and each trainer's scores, incentive and model shares. --miners 0 leaves the inference\n"
    "subnet without neurons.\n\n"
    "  --miners N        miners (default 4)\n"
    "  --clients N       paying clients (default 0; 0..16): every miner posts an offer, the\n"
    "                    model is registered as an asset with a 10 percent royalty, and each client buys\n"
    "                    a completion every 2 s through a payment channel; the view adds per-miner\n"
    "                    revenue and the model's vault (docs/economy.md); the first client asks a\n"
    "                    cheating miner until its wrong answer is disputed\n"
    "  --dispute-blocks N  blocks of each dispute round's commit phase, and of its reveal phase\n"
    "                    (default 40; 5..10000)\n"
    "  --market          the offers and the model asset without clients (for a gateway)\n"
    "  --agent           an agent key of the owner (agent0: 0.01 AGR per 100 blocks, 0.05 in\n"
    "                    all) buys answers with 'agora agent run' until the chain stops it\n"
    "  --serve-trained   with --training: once the training subnet makes a new checkpoint, pin it\n"
    "                    as subnet 1's model, register it as an asset (shares to its trainers)\n"
    "                    and offer it: clients pay for the trained model and it pays its trainers\n"
    "  --validators N    validators (default 2; stakes 2000, 1000, ... AGR)\n"
    "  --cheaters N      miners that alter one token of every answer (default 1)\n"
    "  --slow N          honest miners that add --slow-ms to every answer (default 1)\n"
    "  --relayers N      miners that forward every request to another miner and sign its answer\n"
    "                    as theirs (default 0)\n"
    "  --halving N       blocks between halvings of the block reward (default 10500000)\n"
    "  --slow-ms MS      (default 400)\n"
    "  --blocks N        stop at height N (default: run until Ctrl-C)\n"
    "  --block-time MS   (default 500)\n"
    "  --tempo N         blocks per epoch of the subnet (default 10)\n"
    "  --port P          node API port (default: a free one)\n"
    "  --model FILE      the model the inference subnet pins: an Agora model or a GGUF file\n"
    "                    (default models/agora-nano.bin)\n"
    "  --training        add the training subnet (netuid 2)\n"
    "  --train-model F   the model whose shape and tokenizer the training subnet starts from\n"
    "                    (default models/agora-nano.bin)\n"
    "  --trainers N      trainers (default 4 honest, plus the two below)\n"
    "  --free-riders N   trainers that submit random pseudo-gradients (default 1)\n"
    "  --front-runners N trainers that copy another's blob of the round if they can get one before\n"
    "                    commitments close, else of the previous round (default 1)\n"
    "  --blenders N      trainers that submit the sum of the previous round's blobs (default 1)\n"
    "  --round-blocks N  blocks per training round (default 30; commitments: the first 2/5, then\n"
    "                    reveals for a tenth, at least 2, then the validators' proposals)\n"
    "  --train-dim N     width of the model trained from scratch (default: --train-model's)\n"
    "  --train-layers N  its layers (with --train-dim; default --train-model's)\n";

enum { ROLE_MINER, ROLE_VALIDATOR, ROLE_TRAINER };
enum { B_HONEST, B_CHEATER, B_SLOW, B_FREE_RIDER, B_FRONT_RUNNER, B_RELAYER, B_BLENDER };
static const char *const role_name[] = {"miner", "validator", "trainer"};
static const char *const behaviour_name[] = {"honest",       "cheater", "slow",   "free-rider",
                                             "front-runner", "relayer", "blender"};

typedef struct {
  char name[32];   /* miner0, validator1, trainer2, tvalidator0 */
  int role, behaviour;
  uint16_t netuid;
  char hot[48], cold[48];
  ag_keypair hk, ck;
  char hot_addr[AG_ADDR_MAX], cold_addr[AG_ADDR_MAX];
  uint64_t stake;  /* validators: staked at start */
  pid_t pid;
  int was_running; /* at the end, before the shutdown */
  int exit_status; /* once it ended: the wait status */
  char endpoint[128];
  uint64_t req_prev;
  double rps, t_prev;
} proc;

typedef struct {
  char home[1024];
  char exe[1024];
  char url[64];
  char chain_id[33];
  char model_name[32];
  int nminers, nvalidators, ncheaters, nslow, nrelayers, slow_ms, block_ms, tempo, dispute_blocks;
  int training, ntrainers, nfree, nfront, nblend, round_blocks, train_dim, train_layers;
  char train_id[65];         /* the initial checkpoint of the training subnet */
  ag_diloco_data tdata;      /* validation data of the training subnet */
  ag_model *tok_model;       /* for its tokenizer */
  json_t *losses;            /* model id hex -> validation loss */
  /* paying clients (docs/economy.md): each buys completions from the miners through
   * channels, one request at a time, as `agora infer --pay-from` child processes */
  int nclients;
  uint8_t model_id[32];      /* the inference subnet's model, registered as an asset */
  char client_name[16][32];
  pid_t client_pid[16];
  uint64_t client_next[16];  /* monotonic ms of its next request */
  int client_ok[16], client_failed[16], client_seq;
  int market;                /* offers and the model asset without clients (--market) */
  int agent;                 /* --agent: an agent key of the owner buys under its caps */
  pid_t agent_pid;
  json_t *agent_report;      /* its final JSON, once it stopped */
  int serve_trained;         /* pin the training subnet's first new checkpoint on subnet 1 */
  int trained_served;        /* ... done */
  uint8_t trained_id[32];
  int cheater_uid;           /* a cheating miner client0 asks until it is disputed (-1: none) */
  int cheater_disputed;
  json_t *econ_final;        /* the market read once the miners stopped (and claimed) */
  uint64_t stop_height;
  uint16_t port;
  pid_t node_pid;
  int node_restarts;
  proc *ps;
  int n;
  uint64_t genesis_supply, block_reward, halving;
  ag_net net;
} devnet;

static volatile sig_atomic_t g_interrupted;
static void on_signal(int sig) { g_interrupted = 1; }

/* ---- processes -------------------------------------------------------------------------------- */

/* A child in its own session (Ctrl-C reaches the devnet only; it stops the children in
 * order) that dies with the devnet and inherits no passphrase (ag_spawn). -1 on failure. */
static pid_t spawn(char *const argv[], const char *log) {
  ag_spawn_opts o = {.log = log, .stdin_null = true, .new_session = true, .die_with_parent = true};
  pid_t p;
  return ag_spawn(argv, &o, &p) ? -1 : p;
}

/* 1 while pid runs; reaps it (storing its status) once it ended. */
static int running(pid_t pid, int *status) {
  if (pid <= 0) return 0;
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == 0) return 1;
  if (r == pid && status) *status = st;
  return 0;
}

static void stop_all(pid_t *pids, int n, int grace_ms) {
  for (int i = 0; i < n; i++)
    if (pids[i] > 0) kill(pids[i], SIGTERM);
  uint64_t end = ag_mono_ms() + (uint64_t)grace_ms;
  for (;;) {
    int left = 0;
    for (int i = 0; i < n; i++) {
      if (pids[i] <= 0) continue;
      if (waitpid(pids[i], NULL, WNOHANG) == 0) left++;
      else pids[i] = 0;
    }
    if (!left) return;
    if (ag_mono_ms() >= end) break;
    ag_sleep_ms(50);
  }
  for (int i = 0; i < n; i++)
    if (pids[i] > 0) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], NULL, 0);
      pids[i] = 0;
    }
}

static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static void start_node(devnet *d) {
  char log[1200];
  snprintf(log, sizeof log, "%s/logs/node.log", d->home);
  char *argv[] = {d->exe, "--home", d->home, "node", NULL};
  d->node_pid = spawn(argv, log);
}

static void start_neuron(devnet *d, proc *p) {
  char log[1200], status[1200], slow[16], cache[1200];
  snprintf(cache, sizeof cache, "%s/cache/%s", d->home, p->name);
  snprintf(log, sizeof log, "%s/logs/%s.log", d->home, p->name);
  snprintf(status, sizeof status, "%s/status/%s.json", d->home, p->name);
  snprintf(slow, sizeof slow, "%d", d->slow_ms);
  char *argv[20];
  int k = 0;
  argv[k++] = d->exe;
  argv[k++] = "--home";
  argv[k++] = d->home;
  argv[k++] = "--node";
  argv[k++] = d->url;
  char netuid[8];
  snprintf(netuid, sizeof netuid, "%u", p->netuid);
  argv[k++] = p->role == ROLE_VALIDATOR ? "validator" : "miner";
  argv[k++] = "--subnet";
  argv[k++] = netuid;
  argv[k++] = "--hotkey";
  argv[k++] = p->hot;
  if (p->role == ROLE_TRAINER) {
    argv[k++] = "--role";
    argv[k++] = "trainer";
    argv[k++] = "--status";
    argv[k++] = status;
    if (p->behaviour == B_FREE_RIDER) argv[k++] = "--free-rider";
    if (p->behaviour == B_FRONT_RUNNER) argv[k++] = "--front-runner";
    if (p->behaviour == B_BLENDER) argv[k++] = "--blender";
  } else if (p->role == ROLE_VALIDATOR && p->netuid == 2) {
    argv[k++] = "--status";
    argv[k++] = status;
  }
  if (p->netuid == 2) { /* its own cache: the node's models/ is what the node serves */
    argv[k++] = "--models";
    argv[k++] = cache;
  } else if (p->role == ROLE_VALIDATOR) {
    argv[k++] = "--status";
    argv[k++] = status;
    argv[k++] = "--interval-ms";
    argv[k++] = "1500";
    argv[k++] = "--timeout-ms";
    argv[k++] = "10000";
  } else if (p->behaviour == B_CHEATER) {
    argv[k++] = "--cheat";
  } else if (p->behaviour == B_RELAYER) {
    argv[k++] = "--relay";
  } else if (p->behaviour == B_SLOW) {
    argv[k++] = "--slow-ms";
    argv[k++] = slow;
  }
  argv[k] = NULL;
  p->pid = spawn(argv, log);
}

/* ---- the chain ------------------------------------------------------------------------------- */

static int new_key(devnet *d, const char *name, ag_keypair *k, char addr[AG_ADDR_MAX]) {
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/keys", d->home);
  ag_key_generate(k);
  ag_addr_encode(k->pk, addr);
  return ag_keystore_save(dir, name, k, NULL, d->chain_id);
}

static int write_chain(devnet *d, const char *model_path, const char *train_model_path) {
  int rc;
  char path[1200];
  /* the model, content-addressed where the node serves it */
  uint8_t *data;
  size_t len;
  if ((rc = ag_read_file(model_path, (size_t)1 << 32, &data, &len)))
    return ag_fail(rc, "cannot read the model %s: %s", model_path, ag_errmsg(rc));
  uint8_t id[32];
  snprintf(path, sizeof path, "%s/models", d->home);
  rc = ag_models_store(path, data, len, NULL, id);
  free(data);
  if (rc) return rc;
  ag_inf_model_name(id, d->model_name);
  /* keys: the subnet owner, and a coldkey (pays registration, stakes, receives miner
   * emission) and a hotkey (signs answers and weights, pays their fees) per neuron */
  snprintf(d->chain_id, sizeof d->chain_id, "agora-devnet");
  ag_keypair owner;
  char owner_addr[AG_ADDR_MAX];
  if ((rc = new_key(d, "owner", &owner, owner_addr))) return rc;
  ag_genesis g;
  memset(&g, 0, sizeof g);
  snprintf(g.chain_id, sizeof g.chain_id, "%s", d->chain_id);
  g.genesis_time_ms = ag_now_ms();
  ag_params_default(&g.params);
  g.accounts = ag_xcalloc((size_t)(1 + 2 * d->n + d->nclients), sizeof *g.accounts);
  memcpy(g.accounts[0].pk, owner.pk, 32);
  g.accounts[0].balance = 1000000 * AG_UNIT;
  g.naccounts = 1;
  ag_key_wipe(&owner);
  for (int i = 0; i < d->n && !rc; i++) {
    proc *p = &d->ps[i];
    if ((rc = new_key(d, p->cold, &p->ck, p->cold_addr)) || (rc = new_key(d, p->hot, &p->hk, p->hot_addr)))
      break;
    memcpy(g.accounts[g.naccounts].pk, p->ck.pk, 32);
    g.accounts[g.naccounts++].balance = 10000 * AG_UNIT;
    memcpy(g.accounts[g.naccounts].pk, p->hk.pk, 32);
    g.accounts[g.naccounts++].balance = 100 * AG_UNIT;
  }
  for (int i = 0; i < d->nclients && !rc; i++) {
    ag_keypair ck;
    char addr[AG_ADDR_MAX];
    snprintf(d->client_name[i], sizeof d->client_name[i], "client%d", i);
    if ((rc = new_key(d, d->client_name[i], &ck, addr))) break;
    memcpy(g.accounts[g.naccounts].pk, ck.pk, 32);
    g.accounts[g.naccounts++].balance = 1000 * AG_UNIT;
    ag_key_wipe(&ck);
  }
  memcpy(d->model_id, id, 32);
  d->genesis_supply = 0;
  for (size_t i = 0; i < g.naccounts; i++) d->genesis_supply += g.accounts[i].balance;
  d->block_reward = AG_UNIT;
  char idhex[65];
  ag_hex_encode(id, 32, idhex);
  json_t *hp = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "tempo", d->tempo,
                         "commit_reveal", 1, "reveal_period", 1, "weights_rate_limit", d->tempo / 2,
                         "immunity_period", 100000, "activity_cutoff", 100000, "max_uids", 64,
                         "min_allowed_weights", 1);
  json_t *mj = json_pack("{s:s, s:s, s:I}", "kind", "inference", "model_id", idhex, "size", (json_int_t)len);
  json_t *sn = json_pack("{s:s, s:s, s:i, s:o, s:o}", "name", "inference", "owner", owner_addr,
                         "share", 1, "hyperparams", hp, "model", mj);
  /* every neuron of a devnet is on this machine: loopback endpoints are allowed */
  json_t *inc = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:[o]}", "block_reward", "1000000000",
                          "halving_interval", (json_int_t)d->halving, "subnet_cost", "1000000000000",
                          "burn_initial", "1000000000", "burn_min", "500000", "burn_max",
                          "100000000000", "sudo", owner_addr, "allow_private_endpoints", 1, "subnets", sn);
  if (d->training) { /* netuid 2 trains a fresh model of the training model's shape and tokenizer */
    ag_model *init = NULL;
    ag_buf file;
    ag_buf_init(&file);
    if (!(rc = ag_model_load(train_model_path, &d->tok_model, NULL)) &&
        !(rc = ag_diloco_init_model(d->tok_model, 1, d->train_dim, d->train_layers, &init)))
      ag_model_encode(init, NULL, &file);
    ag_model_close(init);
    uint8_t tid[32];
    if (!rc) rc = ag_models_store(path, file.data, file.len, NULL, tid);
    size_t tlen = file.len;
    ag_buf_free(&file);
    if (rc) {
      json_decref(inc);
      ag_genesis_free(&g);
      return rc;
    }
    ag_hex_encode(tid, 32, d->train_id);
    /* a round: commitments for 2/5 of it, reveals for a tenth (at least 2), then proposals for
     * the rest: trainers fit their steps to the commit window (docs/subnet-training.md), but every
     * validator must score every submission, however slow its machine */
    int reveal = d->round_blocks / 10 > 2 ? d->round_blocks / 10 : 2;
    int submit = d->round_blocks * 2 / 5;
    json_t *thp = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I}", "tempo", d->tempo,
                            "commit_reveal", 1, "reveal_period", 1, "weights_rate_limit", d->tempo / 2,
                            "immunity_period", 100000, "activity_cutoff", 100000, "max_uids", 64,
                            "min_allowed_weights", 1, "train_round_blocks", (json_int_t)d->round_blocks,
                            "train_submit_blocks", (json_int_t)submit, "train_reveal_blocks", (json_int_t)reveal);
    json_t *tmj = json_pack("{s:s, s:s, s:I}", "kind", "training", "model_id", d->train_id, "size", (json_int_t)tlen);
    json_array_append_new(json_object_get(inc, "subnets"),
                          json_pack("{s:s, s:s, s:i, s:o, s:o}", "name", "training", "owner", owner_addr,
                                    "share", 1, "hyperparams", thp, "model", tmj));
  }
  json_t *mods = json_object();
  json_object_set_new(mods, "incentive", inc);
  /* dispute phases long enough for validators busy with rounds (by default 20 s each at 500 ms
   * blocks) */
  json_object_set_new(mods, "economy", json_pack("{s:i, s:i}", "commit_blocks", d->dispute_blocks, "reveal_blocks",
                                                 d->dispute_blocks));
  g.modules = json_dumps(mods, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(mods);
  ag_keypair nk; /* the block producer, named in genesis (light clients check its signatures) */
  ag_key_generate(&nk);
  g.has_proposer = 1;
  memcpy(g.proposer, nk.pk, 32);
  char *text = rc ? NULL : ag_genesis_to_json(&g);
  ag_genesis_free(&g);
  if (!rc) {
    snprintf(path, sizeof path, "%s/genesis.json", d->home);
    rc = ag_write_file_atomic(path, text, strlen(text), 0644);
  }
  free(text);
  if (!rc) rc = ag_node_key_save(d->home, &nk);
  ag_key_wipe(&nk);
  if (rc) return rc;
  char cfg[256];
  int n = snprintf(cfg, sizeof cfg, "{\n  \"api_listen\": \"127.0.0.1:%u\",\n  \"block_time_ms\": %d\n}\n",
                   d->port, d->block_ms);
  snprintf(path, sizeof path, "%s/config.json", d->home);
  return ag_write_file_atomic(path, cfg, (size_t)n, 0644);
}

static int wait_node(devnet *d, int ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)ms;
  int rc = AG_E_TIMEOUT;
  while (ag_mono_ms() < end && !g_interrupted) {
    if ((rc = ag_net_open(&d->net, d->url)) == 0) return 0;
    if (!running(d->node_pid, NULL))
      return ag_fail(AG_E_IO, "the node exited at start; see %s/logs/node.log", d->home);
    ag_sleep_ms(200);
  }
  return ag_fail(rc ? rc : AG_E_TIMEOUT, "the node did not answer at %s", d->url);
}

/* Registers every neuron (all at once, each from its own coldkey), then stakes validators. */
static int setup_neurons(devnet *d) {
  int rc = 0;
  d->net.retries = 5;
  for (int i = 0; i < d->n && !rc; i++) {
    proc *p = &d->ps[i];
    uint8_t hash[32];
    ag_buf b;
    ag_buf_init(&b);
    ag_payload_register(&b, d->chain_id, p->netuid, p->ck.pk, &p->hk, 1000 * AG_UNIT); /* max cost: far above the burn */
    rc = ag_net_submit(&d->net, &p->ck, AG_TX_REGISTER, b.data, b.len, 0, hash, NULL);
    ag_buf_free(&b);
  }
  if (rc) return rc;
  /* wait until all are in the metagraph */
  uint64_t end = ag_mono_ms() + 60000;
  for (;;) {
    json_t *mg;
    int have = 0;
    for (uint16_t netuid = 1; netuid <= (d->training ? 2 : 1); netuid++) {
      char mpath[64];
      snprintf(mpath, sizeof mpath, "/v1/subnets/%u/metagraph", netuid);
      if (ag_net_get(&d->net, mpath, &mg) != 0) continue;
      json_t *rows = json_object_get(mg, "uids");
      for (int i = 0; i < d->n; i++)
        for (size_t k = 0; k < json_array_size(rows); k++)
          if (d->ps[i].netuid == netuid &&
              !strcmp(json_string_value(json_object_get(json_array_get(rows, k), "hotkey")), d->ps[i].hot_addr))
            have++;
      json_decref(mg);
    }
    if (have == d->n) break;
    if (ag_mono_ms() > end || g_interrupted)
      return ag_fail(AG_E_TIMEOUT, "only %d of %d neurons registered within 60 s", have, d->n);
    ag_sleep_ms(200);
  }
  for (int i = 0; i < d->n && !rc; i++) {
    proc *p = &d->ps[i];
    if (p->role != ROLE_VALIDATOR) continue;
    ag_buf b;
    ag_buf_init(&b);
    ag_buf_put(&b, p->hk.pk, 32);
    ag_buf_put_u64le(&b, p->stake);
    uint8_t hash[32];
    int code = 0;
    rc = ag_net_submit(&d->net, &p->ck, AG_TX_STAKE_ADD, b.data, b.len, 30000, hash, &code);
    ag_buf_free(&b);
    if (!rc && code) rc = code;
  }
  return rc;
}

static int write_manifest(devnet *d, int ready) {
  json_t *o = json_object(), *a = json_array();
  json_object_set_new(o, "ready", json_boolean(ready)); /* every neuron registered and started */
  json_object_set_new(o, "chain_id", json_string(d->chain_id));
  json_object_set_new(o, "node", json_string(d->url));
  json_object_set_new(o, "node_pid", json_integer(d->node_pid));
  json_object_set_new(o, "model", json_string(d->model_name));
  for (int i = 0; i < d->n; i++) {
    proc *p = &d->ps[i];
    json_t *x = json_object();
    json_object_set_new(x, "name", json_string(p->name));
    json_object_set_new(x, "role", json_string(role_name[p->role]));
    json_object_set_new(x, "netuid", json_integer(p->netuid));
    json_object_set_new(x, "behaviour", json_string(behaviour_name[p->behaviour]));
    json_object_set_new(x, "hotkey", json_string(p->hot_addr));
    json_object_set_new(x, "coldkey", json_string(p->cold_addr));
    json_object_set_new(x, "hotkey_name", json_string(p->hot));
    json_object_set_new(x, "coldkey_name", json_string(p->cold));
    json_object_set_new(x, "pid", json_integer(p->pid));
    json_array_append_new(a, x);
  }
  json_object_set_new(o, "neurons", a);
  char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  char path[1200];
  snprintf(path, sizeof path, "%s/devnet.json", d->home);
  int rc = ag_write_file_atomic(path, s, strlen(s), 0644);
  free(s);
  return rc;
}

/* ---- the view --------------------------------------------------------------------------------- */

typedef struct {
  json_t *status, *subnet, *mg;
  json_t *vstatus[64];  /* inference validators, in order */
  json_t *tmg, *training, *shares; /* the training subnet */
  json_t *tvstatus[64]; /* training validators, in order */
} snapshot;

static void snap_free(snapshot *s) {
  json_decref(s->status);
  json_decref(s->subnet);
  json_decref(s->mg);
  for (int i = 0; i < 64; i++) json_decref(s->vstatus[i]);
  json_decref(s->tmg);
  json_decref(s->training);
  json_decref(s->shares);
  for (int i = 0; i < 64; i++) json_decref(s->tvstatus[i]);
  memset(s, 0, sizeof *s);
}

static int snap_take(devnet *d, snapshot *s) {
  memset(s, 0, sizeof *s);
  int rc = ag_net_get(&d->net, "/v1/status", &s->status);
  if (!rc) rc = ag_net_get(&d->net, "/v1/subnets/1", &s->subnet);
  if (!rc) rc = ag_net_get(&d->net, "/v1/subnets/1/metagraph", &s->mg);
  for (int i = 0, v = 0, t = 0; i < d->n && v < 64 && t < 64; i++) {
    if (d->ps[i].role != ROLE_VALIDATOR) continue;
    char path[1200];
    snprintf(path, sizeof path, "%s/status/%s.json", d->home, d->ps[i].name);
    if (d->ps[i].netuid == 1) s->vstatus[v++] = json_load_file(path, 0, NULL);
    else s->tvstatus[t++] = json_load_file(path, 0, NULL);
  }
  if (!rc && d->training) {
    rc = ag_net_get(&d->net, "/v1/subnets/2/metagraph", &s->tmg);
    if (!rc) rc = ag_net_get(&d->net, "/v1/subnets/2/training?rounds=100000", &s->training);
    char path[128];
    snprintf(path, sizeof path, "/v1/model-shares/%s", json_string_value(json_object_get(s->training, "model_id")));
    if (!rc) rc = ag_net_get(&d->net, path, &s->shares);
  }
  return rc;
}

static proc *by_hotkey(devnet *d, const char *addr) {
  for (int i = 0; addr && i < d->n; i++)
    if (!strcmp(d->ps[i].hot_addr, addr)) return &d->ps[i];
  return NULL;
}

/* Expected issuance at height h: genesis + the block rewards of heights 1..h. */
static uint64_t schedule(const devnet *d, uint64_t h) {
  ag_incentive_params p;
  memset(&p, 0, sizeof p);
  p.block_reward = d->block_reward;
  p.halving_interval = d->halving;
  uint64_t total = d->genesis_supply;
  for (uint64_t k = 1; k <= h; k++) total += ag_block_reward(&p, k);
  return total;
}

static void poll_miners(devnet *d, snapshot *s) {
  json_t *rows = json_object_get(s->mg, "uids");
  double now = ag_mono_s();
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    proc *p = by_hotkey(d, json_string_value(json_object_get(r, "hotkey")));
    json_t *ep = json_object_get(r, "endpoint");
    if (!p || p->role != ROLE_MINER || ag_net_endpoint_url(ep, p->endpoint, sizeof p->endpoint)) continue;
    if (p->pid <= 0) {
      p->rps = 0;
      continue;
    }
    char url[200];
    snprintf(url, sizeof url, "%s/agora/info", p->endpoint);
    ag_http_result hr;
    if (ag_http_request("GET", url, NULL, NULL, 0, 500, &hr)) continue;
    json_t *j = json_loadb((const char *)hr.body.data, hr.body.len, 0, NULL);
    ag_http_result_free(&hr);
    uint64_t req = ag_json_u64_of(j, "requests_total");
    json_decref(j);
    if (p->t_prev > 0 && now > p->t_prev) p->rps = (double)(req - p->req_prev) / (now - p->t_prev);
    p->req_prev = req;
    p->t_prev = now;
  }
}

static double score_of(snapshot *s, int v, int uid) {
  json_t *ms = json_object_get(s->vstatus[v], "miners");
  for (size_t i = 0; i < json_array_size(ms); i++) {
    json_t *m = json_array_get(ms, i);
    if (json_integer_value(json_object_get(m, "uid")) == uid) return json_real_value(json_object_get(m, "score"));
  }
  return -1;
}

static const char *proc_state(proc *p, char *buf, size_t cap) {
  if (p->pid > 0) return "up";
  if (p->was_running) return "stopped";
  if (WIFSIGNALED(p->exit_status)) snprintf(buf, cap, "down (signal %d)", WTERMSIG(p->exit_status));
  else snprintf(buf, cap, "down (exit %d)", WEXITSTATUS(p->exit_status));
  return buf;
}

/* ---- the training subnet's view ---------------------------------------------------------------- */

/* The losses the chain's final rounds record (their validators', docs/subnet-training.md):
 * val_loss below computes only what they do not name (the initial checkpoint). */
static void chain_losses(devnet *d, json_t *training) {
  json_t *rs = json_object_get(training, "rounds"), *r;
  size_t i;
  json_array_foreach(rs, i, r) {
    const char *id = json_string_value(json_object_get(r, "model_id"));
    json_t *vl = json_object_get(r, "val_loss_micro");
    if (id && json_is_integer(vl) && !json_object_get(d->losses, id))
      json_object_set_new(d->losses, id, json_real((double)json_integer_value(vl) / 1e6));
  }
}

/* Validation loss of checkpoint idhex (computed once, from the node's copy). */
static double val_loss(devnet *d, const char *idhex) {
  json_t *have = json_object_get(d->losses, idhex);
  if (have) return json_real_value(have);
  uint8_t id[32];
  char dir[1100], src[128];
  if (!idhex || strlen(idhex) != 64 || ag_hex_decode(idhex, 64, id, 32)) return NAN;
  snprintf(dir, sizeof dir, "%s/models", d->home); /* the node's store: it keeps every checkpoint */
  snprintf(src, sizeof src, "%s/v1/model-files", d->url);
  const char *sp[1] = {src};
  ag_model *m;
  double loss = NAN;
  if (ag_models_ensure(dir, id, 0, sp, 1, 0, &m) != 0) return NAN; /* not uploaded yet: next time */
  if (!d->tdata.ntrain && d->tok_model) ag_diloco_data_load(d->tok_model, &d->tdata);
  if (d->tdata.nval) ag_diloco_val_loss(m, &d->tdata, AG_DILOCO_VAL_BATCHES, 1, &loss);
  ag_model_close(m);
  json_object_set_new(d->losses, idhex, json_real(loss));
  return loss;
}

static json_t *trainer_scores(devnet *d, snapshot *s, int uid) {
  json_t *o = json_object();
  for (int v = 0, k = 0; k < d->n; k++) {
    if (d->ps[k].role != ROLE_VALIDATOR || d->ps[k].netuid != 2) continue;
    json_t *sc = json_object_get(s->tvstatus[v++], "scores");
    for (size_t i = 0; i < json_array_size(sc); i++)
      if (json_integer_value(json_object_get(json_array_get(sc, i), "uid")) == uid)
        json_object_set_new(o, d->ps[k].name, json_incref(json_object_get(json_array_get(sc, i), "score")));
  }
  return o;
}

static uint64_t shares_of(snapshot *s, const char *hotkey) {
  json_t *ow = json_object_get(s->shares, "owners");
  for (size_t i = 0; i < json_array_size(ow); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ow, i), "hotkey")), hotkey))
      return ag_json_u64_of(json_array_get(ow, i), "shares");
  return 0;
}

/* Per round, oldest first: canonical model, validation loss and the aggregated uids. */
static json_t *rounds_json(devnet *d, snapshot *s) {
  json_t *a = json_array(), *rs = json_object_get(s->training, "rounds");
  chain_losses(d, s->training);
  for (size_t i = json_array_size(rs); i-- > 0;) {
    json_t *r = json_array_get(rs, i), *x = json_object(), *u = json_array(), *e = json_object_get(r, "entries");
    const char *id = json_string_value(json_object_get(r, "model_id"));
    json_object_set_new(x, "round", json_integer((json_int_t)ag_json_u64_of(r, "round")));
    json_object_set_new(x, "model_id", json_string(id));
    json_object_set_new(x, "block", json_integer((json_int_t)ag_json_u64_of(r, "block")));
    double l = val_loss(d, id);
    json_object_set_new(x, "val_loss", isnan(l) ? json_null() : json_real(l));
    for (size_t k = 0; k < json_array_size(e); k++)
      json_array_append_new(u, json_integer((json_int_t)ag_json_u64_of(json_array_get(e, k), "uid")));
    json_object_set_new(x, "aggregated", u);
    json_array_append_new(a, x);
  }
  return a;
}

static void render_training(devnet *d, snapshot *s) {
  json_t *t = s->training;
  double l0 = val_loss(d, d->train_id);
  printf("\ntraining subnet 2 — round %llu (submissions until block %llu, ends by %llu), %llu round(s) aggregated\n",
         (unsigned long long)ag_json_u64_of(t, "round"), (unsigned long long)ag_json_u64_of(t, "submit_until"),
         (unsigned long long)ag_json_u64_of(t, "round_end"), (unsigned long long)ag_json_u64_of(t, "finalized"));
  printf("canonical %.16s…   validation loss: start %.3f", json_string_value(json_object_get(t, "model_id")), l0);
  json_t *rs = rounds_json(d, s);
  size_t nr = json_array_size(rs);
  for (size_t i = nr > 6 ? nr - 6 : 0; i < nr; i++) {
    json_t *r = json_array_get(rs, i);
    json_t *l = json_object_get(r, "val_loss");
    if (json_is_real(l)) printf(" → r%lld %.3f", json_integer_value(json_object_get(r, "round")), json_real_value(l));
  }
  json_decref(rs);
  printf("\n%-4s %-11s %-12s %9s %12s %9s  %s\n", "UID", "NEURON", "BEHAVIOUR", "INCENTIVE", "SHARES", "SCORE", "STATE");
  json_t *rows = json_object_get(s->tmg, "uids");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    const char *hk = json_string_value(json_object_get(r, "hotkey"));
    proc *p = by_hotkey(d, hk);
    int uid = (int)json_integer_value(json_object_get(r, "uid"));
    char buf[64];
    json_t *sc = trainer_scores(d, s, uid);
    double best = -1;
    const char *k;
    json_t *v;
    json_object_foreach(sc, k, v) if (json_real_value(v) > best) best = json_real_value(v);
    json_decref(sc);
    if (p && p->role == ROLE_TRAINER)
      printf("%-4d %-11s %-12s %9.4f %12llu %9.3f  %s\n", uid, p->name, behaviour_name[p->behaviour],
             ag_json_u64_of(r, "incentive") / 65535.0, (unsigned long long)shares_of(s, hk), best < 0 ? 0 : best,
             proc_state(p, buf, sizeof buf));
    else
      printf("%-4d %-11s %-12s %9s %12s %9s  %s (dividends %.4f)\n", uid, p ? p->name : "?", "-", "-", "-", "-",
             p ? proc_state(p, buf, sizeof buf) : "", ag_json_u64_of(r, "dividends") / 65535.0);
  }
}

static json_t *training_json(devnet *d, snapshot *s) {
  json_t *o = json_object(), *tr = json_array();
  json_object_set_new(o, "netuid", json_integer(2));
  json_object_set_new(o, "round", json_integer((json_int_t)ag_json_u64_of(s->training, "round")));
  json_object_set_new(o, "finalized", json_integer((json_int_t)ag_json_u64_of(s->training, "finalized")));
  json_object_set_new(o, "initial_model_id", json_string(d->train_id));
  double l0 = val_loss(d, d->train_id);
  json_object_set_new(o, "initial_val_loss", isnan(l0) ? json_null() : json_real(l0));
  json_object_set_new(o, "model_id", json_incref(json_object_get(s->training, "model_id")));
  json_object_set_new(o, "rounds", rounds_json(d, s));
  json_object_set_new(o, "total_shares", json_incref(json_object_get(s->shares, "total_shares")));
  json_t *rows = json_object_get(s->tmg, "uids");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    const char *hk = json_string_value(json_object_get(r, "hotkey"));
    proc *p = by_hotkey(d, hk);
    int uid = (int)json_integer_value(json_object_get(r, "uid"));
    json_t *x = json_object();
    json_object_set_new(x, "uid", json_integer(uid));
    json_object_set_new(x, "name", p ? json_string(p->name) : json_null());
    json_object_set_new(x, "role", json_string(p ? role_name[p->role] : "other"));
    json_object_set_new(x, "behaviour", p && p->role == ROLE_TRAINER ? json_string(behaviour_name[p->behaviour]) : json_null());
    json_object_set_new(x, "hotkey", json_string(hk));
    json_object_set_new(x, "incentive", json_real(ag_json_u64_of(r, "incentive") / 65535.0));
    json_object_set_new(x, "dividends", json_real(ag_json_u64_of(r, "dividends") / 65535.0));
    json_object_set_new(x, "emission", json_incref(json_object_get(r, "emission")));
    json_object_set_new(x, "shares", ag_json_u64s(shares_of(s, hk)));
    json_object_set_new(x, "scores", trainer_scores(d, s, uid));
    json_object_set_new(x, "running", json_boolean(p && p->was_running));
    json_array_append_new(tr, x);
  }
  json_object_set_new(o, "neurons", tr);
  json_t *vs = json_array();
  for (int v = 0; v < 64; v++)
    if (s->tvstatus[v]) json_array_append(vs, s->tvstatus[v]);
  json_object_set_new(o, "validators", vs);
  return o;
}

/* ---- paying clients ------------------------------------------------------------------------------ */

/* Every miner offers the model (0.001 AGR per 1,000 prompt tokens, 0.01 per 1,000 output tokens,
 * half that from a cheater; a 10 AGR bond from its coldkey) and the owner registers the model as an asset with a 10 %
 * royalty, so that each paid claim also pays its vault. */
static int setup_market(devnet *d) {
  int rc = 0;
  for (int i = 0; i < d->n && !rc; i++) {
    proc *p = &d->ps[i];
    if (p->role != ROLE_MINER || p->netuid != 1) continue;
    ag_buf b;
    ag_buf_init(&b);
    /* a cheater undercuts: the cheapest offer is the one a price-first buyer meets first */
    int cut = p->behaviour == B_CHEATER ? 2 : 1;
    ag_payload_offer_post(&b, p->hk.pk, d->model_id, AG_UNIT / 1000 / cut, AG_UNIT / 100 / cut, 256, 10 * AG_UNIT);
    uint8_t hash[32];
    int code = 0;
    rc = ag_net_submit(&d->net, &p->ck, AG_TX_OFFER_POST, b.data, b.len, 30000, hash, &code);
    ag_buf_free(&b);
    if (!rc && code) rc = ag_fail(code, "%s's offer: %s", p->name, ag_errmsg(code));
  }
  ag_keypair owner;
  if (!rc) rc = ag_neuron_key(d->home, "owner", d->chain_id, &owner);
  if (!rc) {
    ag_buf b;
    ag_buf_init(&b);
    ag_payload_asset_register(&b, AG_ASSET_MODEL, d->model_id, 1000, 1000000, NULL, NULL, 0);
    uint8_t hash[32];
    int code = 0;
    rc = ag_net_submit(&d->net, &owner, AG_TX_ASSET_REGISTER, b.data, b.len, 30000, hash, &code);
    ag_buf_free(&b);
    ag_key_wipe(&owner);
    if (!rc && code) rc = ag_fail(code, "registering the model: %s", ag_errmsg(code));
  }
  return rc;
}

/* Owner's tx from the devnet itself; 0 or the error (the committed result included). */
static int owner_tx(devnet *d, uint16_t kind, const ag_buf *b, const char *what) {
  ag_keypair owner;
  int rc = ag_neuron_key(d->home, "owner", d->chain_id, &owner), code = 0;
  uint8_t hash[32];
  if (!rc) rc = ag_net_submit(&d->net, &owner, kind, b->data, b->len, 30000, hash, &code);
  ag_key_wipe(&owner);
  if (!rc && code) rc = ag_fail(code, "%s: %s", what, ag_errmsg(code));
  return rc;
}

/* --serve-trained: once the training subnet has made a new checkpoint, the owner pins it as the
 * inference subnet's model (miners and validators move to it by themselves), registers it as
 * an asset (its shares are the trainers', by the rounds that made it) with a 10 % royalty, and
 * every miner offers it: clients then pay for the model the network trained, and each paid
 * claim pays its trainers. */
static void serve_trained(devnet *d) {
  if (!d->serve_trained || d->trained_served || !d->training) return;
  json_t *sj;
  if (ag_net_get(&d->net, "/v1/subnets/2", &sj)) return;
  json_t *mj = json_object_get(sj, "model");
  const char *idhex = json_string_value(json_object_get(mj, "model_id"));
  uint64_t size = ag_json_u64_of(mj, "size");
  uint8_t id[32];
  char hex[65] = "";
  int fresh = !idhex || strcmp(idhex, d->train_id) == 0 || strlen(idhex) != 64 || ag_hex_decode(idhex, 64, id, 32);
  if (!fresh) snprintf(hex, sizeof hex, "%s", idhex);
  json_decref(sj);
  if (fresh) return; /* still the initial checkpoint */
  d->trained_served = 1;
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put_u16le(&b, 1);
  ag_buf_put_u8(&b, AG_SUBNET_INFERENCE);
  ag_buf_put(&b, id, 32);
  ag_buf_put_u64le(&b, size);
  int rc = owner_tx(d, AG_TX_SUBNET_SET_MODEL, &b, "pinning the trained checkpoint");
  ag_buf_reset(&b);
  ag_payload_asset_register(&b, AG_ASSET_MODEL, id, 1000, 0, NULL, NULL, 0);
  if (!rc) rc = owner_tx(d, AG_TX_ASSET_REGISTER, &b, "registering the trained checkpoint");
  ag_buf_free(&b);
  if (rc) {
    ag_warn("devnet", "cannot serve the trained checkpoint: %s", ag_errmsg(rc));
    return;
  }
  memcpy(d->trained_id, id, 32);
  memcpy(d->model_id, id, 32); /* the economy view follows the served model */
  for (int i = 0; i < d->n; i++) {
    proc *p = &d->ps[i];
    if (p->role != ROLE_MINER || p->netuid != 1) continue;
    ag_buf o;
    ag_buf_init(&o);
    int cut = p->behaviour == B_CHEATER ? 2 : 1;
    ag_payload_offer_post(&o, p->hk.pk, id, AG_UNIT / 1000 / cut, AG_UNIT / 100 / cut, 256, 0);
    uint8_t h2[32];
    int code = 0, orc = ag_net_submit(&d->net, &p->ck, AG_TX_OFFER_POST, o.data, o.len, 30000, h2, &code);
    ag_buf_free(&o);
    if (orc || code) ag_warn("devnet", "%s cannot offer the trained model: %s", p->name, ag_errmsg(orc ? orc : code));
  }
  ag_info("devnet", "subnet 1 now serves the trained checkpoint %.16s…", hex);
}

static const char *const client_prompts[] = {"The capital of France is", "Once upon a time",
                                             "The best way to learn is", "A good friend"};

/* The uid of a cheating miner of subnet 1 until a dispute against it has been opened: client0
 * asks it first, verifies, and disputes the wrong answer (-1 once that happened, or none). */
static int cheater_target(devnet *d) {
  if (d->cheater_disputed) return -1;
  proc *ch = NULL;
  for (int i = 0; i < d->n && !ch; i++)
    if (d->ps[i].role == ROLE_MINER && d->ps[i].netuid == 1 && d->ps[i].behaviour == B_CHEATER) ch = &d->ps[i];
  if (!ch) return -1;
  char path[200];
  json_t *b;
  snprintf(path, sizeof path, "/v1/bonds/%s", ch->hot_addr);
  if (!ag_net_get(&d->net, path, &b)) {
    json_t *ds = json_object_get(b, "disputes");
    if (json_integer_value(json_object_get(ds, "faults")) + json_integer_value(json_object_get(ds, "cleared")) +
            json_integer_value(json_object_get(ds, "open")) > 0)
      d->cheater_disputed = 1;
    json_decref(b);
  }
  if (d->cheater_disputed) return -1;
  if (d->cheater_uid < 0) {
    json_t *mg;
    if (ag_net_get(&d->net, "/v1/subnets/1/metagraph", &mg)) return -1;
    json_t *rows = json_object_get(mg, "uids");
    for (size_t i = 0; i < json_array_size(rows); i++)
      if (!strcmp(json_string_value(json_object_get(json_array_get(rows, i), "hotkey")) ?: "", ch->hot_addr))
        d->cheater_uid = (int)json_integer_value(json_object_get(json_array_get(rows, i), "uid"));
    json_decref(mg);
  }
  return d->cheater_uid;
}

/* --agent: the owner authorises agent0 (kinds buy, any provider with an offer, 0.01 AGR per
 * 100 blocks, 0.05 AGR in all) and it runs `agora agent run` on a task of many prompts, paying
 * through channels of 0.002 AGR; it stops when the chain refuses a channel tx past a cap. */
static int start_agent(devnet *d) {
  ag_keypair k;
  char addr[AG_ADDR_MAX], owner_addr[AG_ADDR_MAX];
  int rc = new_key(d, "agent0", &k, addr);
  ag_keypair owner;
  if (!rc) rc = ag_neuron_key(d->home, "owner", d->chain_id, &owner);
  if (rc) return rc;
  ag_addr_encode(owner.pk, owner_addr);
  ag_key_wipe(&owner);
  ag_agent_terms t;
  memset(&t, 0, sizeof t);
  t.kinds = 1ULL << AG_TX_CHANNEL_OPEN | 1ULL << AG_TX_CHANNEL_FUND | 1ULL << AG_TX_CHANNEL_CLOSE | 1ULL << AG_TX_DISPUTE_OPEN;
  t.flags = AG_AGENT_ANY_PROVIDER;
  t.expires = 10000000;
  t.period = 100;
  t.max_per_tx = t.period_cap = AG_UNIT / 100;
  t.lifetime_cap = AG_UNIT / 20;
  t.fee_cap = AG_UNIT / 100;
  ag_buf b;
  ag_buf_init(&b);
  ag_payload_agent_key_set(&b, k.pk, &t);
  ag_key_wipe(&k);
  rc = owner_tx(d, AG_TX_AGENT_KEY_SET, &b, "authorising agent0");
  ag_buf_free(&b);
  if (rc) return rc;
  char task[1100], log[1200], out[1200];
  snprintf(task, sizeof task, "%s/agent0.task.json", d->home);
  json_t *ps = json_array();
  for (int i = 0; i < 2000; i++) json_array_append_new(ps, json_string(client_prompts[i % 4]));
  ag_json_write_file(task, json_pack("{s:s,s:i,s:i,s:s,s:o}", "account", owner_addr, "subnet", 1, "max_tokens", 16,
                                     "deposit", "0.002", "prompts", ps));
  snprintf(log, sizeof log, "%s/logs/agent0.log", d->home);
  snprintf(out, sizeof out, "%s/agent0.report.json", d->home);
  pid_t p = fork();
  if (p == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1);
    if (lfd >= 0) dup2(lfd, 2);
    execl(d->exe, d->exe, "--home", d->home, "--node", d->url, "agent", "run", task, "--from", "agent0", "--threads", "1",
          (char *)NULL);
    _exit(127);
  }
  d->agent_pid = p;
  return p > 0 ? 0 : ag_fail(AG_E_IO, "cannot start the agent");
}

/* The agent's report, once it stopped by itself. */
static void watch_agent(devnet *d) {
  int st = 0;
  if (d->agent_pid <= 0 || running(d->agent_pid, &st)) return;
  d->agent_pid = 0;
  char out[1200];
  snprintf(out, sizeof out, "%s/agent0.report.json", d->home);
  json_decref(d->agent_report);
  d->agent_report = json_load_file(out, 0, NULL);
  printf("agent0 stopped: %lld answers bought, %s\n", json_integer_value(json_object_get(d->agent_report, "answered")),
         json_string_value(json_object_get(d->agent_report, "stopped")) ?: "(no report)");
  fflush(stdout);
}

/* Starts the next request of each client whose last one ended (and counts how it ended). */
static void run_clients(devnet *d) {
  uint64_t now = ag_mono_ms();
  for (int i = 0; i < d->nclients; i++) {
    int st = 0;
    if (d->client_pid[i] > 0) {
      if (running(d->client_pid[i], &st)) continue;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) d->client_ok[i]++;
      else d->client_failed[i]++;
      d->client_pid[i] = 0;
      d->client_next[i] = now + 2000;
    }
    if (now < d->client_next[i]) continue;
    char log[1200], seed[24], uid[16];
    snprintf(log, sizeof log, "%s/logs/%s.log", d->home, d->client_name[i]);
    snprintf(seed, sizeof seed, "%d", ++d->client_seq);
    /* every answer verified by re-execution; a wrong one that was paid for is disputed */
    char *argv[24] = {d->exe, "--home", d->home, "--node", d->url, "--json", "infer", "--pay-from", d->client_name[i],
                      "--deposit", "5", "--dispute", "-n", "16", "--seed", seed, "--threads", "1"};
    int k = 18, target = i == 0 ? cheater_target(d) : -1;
    if (target >= 0) {
      snprintf(uid, sizeof uid, "%d", target);
      argv[k++] = "--miner";
      argv[k++] = uid;
    }
    argv[k++] = (char *)client_prompts[d->client_seq % 4];
    argv[k] = NULL;
    d->client_pid[i] = spawn(argv, log);
  }
}

/* The disputes the clients opened (their evidence files in HOME/disputes), as the chain has
 * them. */
static json_t *disputes_json(devnet *d) {
  json_t *arr = json_array();
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/disputes", d->home);
  DIR *dh = opendir(dir);
  struct dirent *de;
  while (dh && (de = readdir(dh))) {
    if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".json")) continue;
    char path[120];
    snprintf(path, sizeof path, "/v1/disputes/%.64s", de->d_name);
    json_t *x;
    if (ag_net_get(&d->net, path, &x)) continue; /* kept, never submitted */
    json_object_del(x, "evidence");
    proc *p = by_hotkey(d, json_string_value(json_object_get(x, "provider")));
    json_object_set_new(x, "provider_name", p ? json_string(p->name) : json_null());
    json_array_append_new(arr, x);
  }
  if (dh) closedir(dh);
  return arr;
}

/* What the market looks like: per miner, what its channels billed and what the chain paid it
 * (from the clients' books and the channels), and the model's vault. */
static json_t *economy_json(devnet *d) {
  json_t *o = json_object(), *prov = json_array();
  uint64_t all_billed = 0, all_claimed = 0;
  int ok = 0, failed = 0;
  for (int i = 0; i < d->nclients; i++) ok += d->client_ok[i], failed += d->client_failed[i];
  for (int i = 0; i < d->n; i++) {
    proc *p = &d->ps[i];
    if (p->role != ROLE_MINER || p->netuid != 1) continue;
    uint64_t billed = 0, claimed = 0;
    for (int k = 0; k < d->nclients; k++) {
      ag_keypair ck;
      char path[1300];
      ag_pay_client cl;
      if (ag_neuron_key(d->home, d->client_name[k], d->chain_id, &ck)) continue;
      ag_pay_client_path(d->home, ck.pk, p->hk.pk, d->model_id, path, sizeof path);
      ag_key_wipe(&ck);
      if (ag_pay_client_load(path, &cl)) continue;
      billed += cl.billed;
      char hex[65], cp[100];
      ag_hex_encode(cl.channel, 32, hex);
      snprintf(cp, sizeof cp, "/v1/channels/%s", hex);
      json_t *ch;
      if (!ag_net_get(&d->net, cp, &ch)) {
        claimed += ag_json_u64_of(ch, "claimed");
        json_decref(ch);
      }
    }
    json_t *x = json_object();
    json_object_set_new(x, "name", json_string(p->name));
    json_object_set_new(x, "hotkey", json_string(p->hot_addr));
    json_object_set_new(x, "billed", ag_json_u64s(billed));
    json_object_set_new(x, "claimed", ag_json_u64s(claimed));
    char bp[200];
    json_t *bond;
    snprintf(bp, sizeof bp, "/v1/bonds/%s", p->hot_addr);
    if (!ag_net_get(&d->net, bp, &bond)) {
      json_object_set_new(x, "bonded", json_incref(json_object_get(bond, "bonded")));
      json_object_set_new(x, "faults", json_incref(json_object_get(json_object_get(bond, "disputes"), "faults")));
      json_decref(bond);
    }
    json_array_append_new(prov, x);
    all_billed += billed;
    all_claimed += claimed;
  }
  json_object_set_new(o, "clients", json_integer(d->nclients));
  json_object_set_new(o, "paid_requests", json_integer(ok));
  json_object_set_new(o, "failed_requests", json_integer(failed));
  json_object_set_new(o, "billed", ag_json_u64s(all_billed));
  json_object_set_new(o, "claimed", ag_json_u64s(all_claimed));
  json_object_set_new(o, "providers", prov);
  json_object_set_new(o, "disputes", disputes_json(d));
  json_object_set_new(o, "serves_trained", json_boolean(d->trained_served));
  char hex[65], ap[100];
  ag_hex_encode(d->model_id, 32, hex);
  snprintf(ap, sizeof ap, "/v1/assets/%s", hex);
  json_t *a = NULL;
  if (!ag_net_get(&d->net, ap, &a)) {
    json_t *m = json_object();
    json_object_set_new(m, "id", json_string(hex));
    json_object_set_new(m, "royalty_bps", json_incref(json_object_get(a, "royalty_bps")));
    json_object_set_new(m, "vault", json_incref(json_object_get(a, "vault")));
    json_object_set_new(m, "holders", json_incref(json_object_get(a, "holders")));
    json_object_set_new(o, "model", m);
    json_decref(a);
  }
  return o;
}

static void render_economy(devnet *d) {
  json_t *e = d->econ_final ? json_incref(d->econ_final) : economy_json(d);
  char b[32], c[32];
  ag_amount_format(ag_json_u64_of(e, "billed"), b);
  ag_amount_format(ag_json_u64_of(e, "claimed"), c);
  printf("\neconomy — %d paying clients: %lld paid requests (%lld failed), %s AGR billed, %s AGR claimed by miners\n",
         d->nclients, json_integer_value(json_object_get(e, "paid_requests")),
         json_integer_value(json_object_get(e, "failed_requests")), b, c);
  json_t *pv = json_object_get(e, "providers");
  for (size_t i = 0; i < json_array_size(pv); i++) {
    json_t *x = json_array_get(pv, i);
    ag_amount_format(ag_json_u64_of(x, "billed"), b);
    ag_amount_format(ag_json_u64_of(x, "claimed"), c);
    char bd[32];
    ag_amount_format(ag_json_u64_of(x, "bonded"), bd);
    printf("  %-10s billed %s AGR, claimed %s AGR, bond %s AGR, %lld faults\n",
           json_string_value(json_object_get(x, "name")), b, c, bd, json_integer_value(json_object_get(x, "faults")));
  }
  json_t *ds = json_object_get(e, "disputes");
  for (size_t i = 0; i < json_array_size(ds); i++) {
    json_t *x = json_array_get(ds, i);
    char sl[32], rf[32];
    ag_amount_format(ag_json_u64_of(x, "slashed"), sl);
    ag_amount_format(ag_json_u64_of(x, "refund"), rf);
    const char *status = json_string_value(json_object_get(x, "status")) ?: "?";
    printf("  dispute %.12s… against %s: %s", json_string_value(json_object_get(x, "id")),
           json_string_value(json_object_get(x, "provider_name")) ?: "?", status);
    if (!strcmp(status, "open")) printf(" (%s phase)\n", json_string_value(json_object_get(x, "phase")));
    else if (!strcmp(status, "fault")) printf(": slashed %s AGR, the client refunded %s AGR\n", sl, rf);
    else printf("\n");
  }
  json_t *v = json_object_get(json_object_get(e, "model"), "vault"), *hs = json_object_get(json_object_get(e, "model"), "holders");
  if (v) {
    ag_amount_format(ag_json_u64_of(v, "income"), b);
    ag_amount_format(hs ? ag_json_u64_of(json_array_get(hs, 0), "claimable") : 0, c);
    printf("  model %s: royalty income %s AGR; its owner can claim %s AGR ('agora model claim')\n", d->model_name, b, c);
  }
  json_decref(e);
}

static void render(devnet *d, snapshot *s, int clear) {
  uint64_t h = ag_json_u64_of(s->status, "height");
  uint64_t issued = ag_json_u64_of(json_object_get(s->status, "supply"), "issued");
  uint64_t want = schedule(d, h);
  char is[32];
  ag_amount_format(issued, is);
  if (clear) printf("\033[H\033[J");
  printf("agora devnet — chain %s, height %llu, subnet 1 epoch %llu (tempo %d, %d ms blocks)\n",
         d->chain_id, (unsigned long long)h, (unsigned long long)ag_json_u64_of(s->subnet, "epoch"), d->tempo, d->block_ms);
  printf("issued %s AGR (%s the emission schedule)   model %s   node %s%s\n\n", is,
         issued == want ? "=" : "DIFFERS FROM", d->model_name, d->url,
         d->node_restarts ? " (restarted)" : "");
  printf("%-4s %-11s %-9s %12s %9s %9s %13s", "UID", "NEURON", "BEHAVIOUR", "STAKE AGR", "INCENTIVE",
         "DIVIDENDS", "EMISSION AGR");
  int nv = 0;
  for (int i = 0; i < d->n; i++)
    if (d->ps[i].role == ROLE_VALIDATOR && d->ps[i].netuid == 1) printf("  SCORE v%-2d", nv++);
  printf(" %6s  %s\n", "REQ/S", "STATE");
  json_t *rows = json_object_get(s->mg, "uids");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i);
    proc *p = by_hotkey(d, json_string_value(json_object_get(r, "hotkey")));
    int uid = (int)json_integer_value(json_object_get(r, "uid"));
    char buf[64];
    printf("%-4d %-11s %-9s %12.2f %9.4f %9.4f %13.4f", uid, p ? p->name : "?",
           p ? (p->role == ROLE_VALIDATOR ? "-" : behaviour_name[p->behaviour]) : "-",
           ag_json_u64_of(r, "stake") / (double)AG_UNIT, ag_json_u64_of(r, "incentive") / 65535.0,
           ag_json_u64_of(r, "dividends") / 65535.0, ag_json_u64_of(r, "emission") / (double)AG_UNIT);
    for (int v = 0; v < nv; v++) {
      double sc = score_of(s, v, uid);
      if (sc < 0) printf("  %9s", "-");
      else printf("  %9.3f", sc);
    }
    if (p && p->role == ROLE_MINER) printf(" %6.1f", p->rps);
    else printf(" %6s", "");
    printf("  %s\n", p ? proc_state(p, buf, sizeof buf) : "");
  }
  for (int v = 0, k = 0; k < d->n; k++) {
    if (d->ps[k].role != ROLE_VALIDATOR || d->ps[k].netuid != 1) continue;
    json_t *vs = s->vstatus[v++];
    if (vs)
      printf("\nvalidator%d: %lld rounds, weights %s", v - 1, json_integer_value(json_object_get(vs, "rounds")),
             json_string_value(json_object_get(vs, "last_weights")));
  }
  printf("\n");
  if (d->training) render_training(d, s);
  if (d->nclients) render_economy(d);
  printf("\nlogs: %s/logs   try: %s --home %s infer%s \"Once upon a time\"   Ctrl-C stops\n", d->home,
         d->exe, d->home, d->nclients ? " --pay-from owner" : "");
  fflush(stdout);
}

static json_t *final_json(devnet *d, snapshot *s) {
  json_t *o = json_object(), *ns = json_array();
  uint64_t h = ag_json_u64_of(s->status, "height");
  uint64_t issued = ag_json_u64_of(json_object_get(s->status, "supply"), "issued");
  uint64_t want = schedule(d, h);
  json_object_set_new(o, "home", json_string(d->home));
  json_object_set_new(o, "chain_id", json_string(d->chain_id));
  json_object_set_new(o, "node", json_string(d->url));
  json_object_set_new(o, "model", json_string(d->model_name));
  json_object_set_new(o, "height", json_integer((json_int_t)h));
  json_object_set_new(o, "epoch", json_integer((json_int_t)ag_json_u64_of(s->subnet, "epoch")));
  json_object_set_new(o, "node_restarts", json_integer(d->node_restarts));
  json_t *iss = json_object();
  json_object_set_new(iss, "issued", ag_json_u64s(issued));
  json_object_set_new(iss, "schedule", ag_json_u64s(want));
  json_object_set_new(iss, "genesis_supply", ag_json_u64s(d->genesis_supply));
  json_object_set_new(iss, "block_rewards", ag_json_u64s(want - d->genesis_supply));
  json_object_set_new(iss, "burned", json_incref(json_object_get(json_object_get(s->status, "supply"), "burned")));
  json_object_set_new(iss, "matches_schedule", json_boolean(issued == want));
  json_object_set_new(o, "issuance", iss);
  json_t *rows = json_object_get(s->mg, "uids");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    json_t *r = json_incref(json_array_get(rows, i));
    proc *p = by_hotkey(d, json_string_value(json_object_get(r, "hotkey")));
    json_object_set_new(r, "name", p ? json_string(p->name) : json_null());
    json_object_set_new(r, "role", json_string(p ? role_name[p->role] : "other"));
    json_object_set_new(r, "behaviour", p && p->role == ROLE_MINER ? json_string(behaviour_name[p->behaviour]) : json_null());
    json_object_set_new(r, "running", json_boolean(p && p->was_running));
    json_t *scores = json_object();
    int uid = (int)json_integer_value(json_object_get(r, "uid"));
    for (int v = 0, k = 0; k < d->n; k++) {
      if (d->ps[k].role != ROLE_VALIDATOR || d->ps[k].netuid != 1) continue;
      double sc = score_of(s, v++, uid);
      if (sc >= 0) json_object_set_new(scores, d->ps[k].name, json_real(sc));
    }
    json_object_set_new(r, "scores", scores);
    json_array_append_new(ns, r);
  }
  json_object_set_new(o, "neurons", ns);
  json_t *vs = json_array();
  for (int v = 0, k = 0; k < d->n; k++) {
    if (d->ps[k].role != ROLE_VALIDATOR || d->ps[k].netuid != 1) continue;
    json_t *x = s->vstatus[v++];
    if (x) json_array_append(vs, x);
  }
  json_object_set_new(o, "validators", vs);
  if (d->training) json_object_set_new(o, "training", training_json(d, s));
  if (d->nclients) json_object_set_new(o, "economy", d->econ_final ? json_incref(d->econ_final) : economy_json(d));
  if (d->agent) json_object_set_new(o, "agent", d->agent_report ? json_incref(d->agent_report) : json_null());
  return o;
}

/* ---- the command -------------------------------------------------------------------------------- */

static int num(const ag_cli *c, const char *s, const char *name, long lo, long hi, int *out) {
  uint64_t v;
  if (!s) return 0;
  if (ag_parse_u64(s, &v) || (long)v < lo || (long)v > hi)
    return ag_cli_fail(c, AG_E_USAGE, "--%s must be %ld..%ld", name, lo, hi);
  *out = (int)v;
  return 0;
}

int ag_cmd_devnet(ag_cli *c, int argc, char **argv) {
  const char *miners_s = NULL, *vals_s = NULL, *cheat_s = NULL, *slow_s = NULL, *slowms_s = NULL,
             *blocks_s = NULL, *bt_s = NULL, *tempo_s = NULL, *port_s = NULL, *model_s = NULL,
             *trainers_s = NULL, *free_s = NULL, *front_s = NULL, *blend_s = NULL, *rb_s = NULL, *tdim_s = NULL,
             *tlayers_s = NULL, *relay_s = NULL, *halving_s = NULL, *tmodel_s = NULL, *clients_s = NULL,
             *dispute_s = NULL;
  bool training = false, market = false, serve_trained_opt = false, agent_flag = false;
  ag_opt opts[] = {{"miners", 0, 1, &miners_s, NULL},  {"validators", 0, 1, &vals_s, NULL},
                   {"cheaters", 0, 1, &cheat_s, NULL}, {"slow", 0, 1, &slow_s, NULL},
                   {"slow-ms", 0, 1, &slowms_s, NULL}, {"blocks", 0, 1, &blocks_s, NULL},
                   {"block-time", 0, 1, &bt_s, NULL},  {"tempo", 0, 1, &tempo_s, NULL},
                   {"port", 0, 1, &port_s, NULL},      {"model", 0, 1, &model_s, NULL},
                   {"training", 0, 0, NULL, &training}, {"trainers", 0, 1, &trainers_s, NULL},
                   {"free-riders", 0, 1, &free_s, NULL}, {"front-runners", 0, 1, &front_s, NULL},
                   {"blenders", 0, 1, &blend_s, NULL},
                   {"round-blocks", 0, 1, &rb_s, NULL}, {"train-dim", 0, 1, &tdim_s, NULL},
                   {"train-layers", 0, 1, &tlayers_s, NULL}, {"relayers", 0, 1, &relay_s, NULL},
                   {"halving", 0, 1, &halving_s, NULL}, {"train-model", 0, 1, &tmodel_s, NULL},
                   {"clients", 0, 1, &clients_s, NULL}, {"market", 0, 0, NULL, &market},
                   {"dispute-blocks", 0, 1, &dispute_s, NULL},
                   {"agent", 0, 0, NULL, &agent_flag},
                   {"serve-trained", 0, 0, NULL, &serve_trained_opt},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, usage);
  devnet *d = ag_xcalloc(1, sizeof *d);
  d->nminers = 4;
  d->nvalidators = 2;
  d->ncheaters = 1;
  d->nslow = 1;
  d->slow_ms = 400;
  d->block_ms = 500;
  d->cheater_uid = -1;
  d->tempo = 10;
  d->training = training;
  d->market = market;
  d->agent = agent_flag;
  d->serve_trained = serve_trained_opt;
  d->ntrainers = 4;
  d->nfree = 1;
  d->nfront = 1;
  d->nblend = 1;
  d->round_blocks = 30;
  d->dispute_blocks = 40;
  d->losses = json_object();
  int blocks = 0, port = 0, halving = 10500000;
  if ((rc = num(c, clients_s, "clients", 0, 16, &d->nclients)) ||
      (rc = num(c, miners_s, "miners", 0, 32, &d->nminers)) ||
      (rc = num(c, vals_s, "validators", 0, 16, &d->nvalidators)) ||
      (rc = num(c, cheat_s, "cheaters", 0, 32, &d->ncheaters)) ||
      (rc = num(c, slow_s, "slow", 0, 32, &d->nslow)) ||
      (rc = num(c, relay_s, "relayers", 0, 32, &d->nrelayers)) ||
      (rc = num(c, halving_s, "halving", 1, 100000000, &halving)) ||
      (rc = num(c, slowms_s, "slow-ms", 0, 60000, &d->slow_ms)) ||
      (rc = num(c, blocks_s, "blocks", 0, 100000000, &blocks)) ||
      (rc = num(c, bt_s, "block-time", 50, 60000, &d->block_ms)) ||
      (rc = num(c, tempo_s, "tempo", 2, 50400, &d->tempo)) ||
      (rc = num(c, port_s, "port", 1, 65535, &port)) ||
      (rc = num(c, trainers_s, "trainers", 0, 32, &d->ntrainers)) ||
      (rc = num(c, free_s, "free-riders", 0, 32, &d->nfree)) ||
      (rc = num(c, front_s, "front-runners", 0, 32, &d->nfront)) ||
      (rc = num(c, blend_s, "blenders", 0, 32, &d->nblend)) ||
      (rc = num(c, rb_s, "round-blocks", 4, 100000, &d->round_blocks)) ||
      (rc = num(c, dispute_s, "dispute-blocks", 5, 10000, &d->dispute_blocks)) ||
      (rc = num(c, tdim_s, "train-dim", 32, 4096, &d->train_dim)) ||
      (rc = num(c, tlayers_s, "train-layers", 1, 64, &d->train_layers))) {
    json_decref(d->losses);
    free(d);
    return rc;
  }
  if (!d->nminers && !cheat_s && !slow_s) d->ncheaters = d->nslow = 0; /* --miners 0 alone */
  if (d->ncheaters + d->nslow + d->nrelayers > d->nminers) {
    free(d);
    return ag_cli_fail(c, AG_E_USAGE, "--cheaters, --slow and --relayers cannot exceed --miners");
  }
  d->stop_height = (uint64_t)blocks;
  d->halving = (uint64_t)halving;
  if (c->home_explicit) snprintf(d->home, sizeof d->home, "%s", c->home);
  else snprintf(d->home, sizeof d->home, "%s/devnet", c->home);
  char path[1200], model[1100], tmodel[1100];
  /* never reset a folder that holds some other chain */
  snprintf(path, sizeof path, "%s/genesis.json", d->home);
  char marker[1200];
  snprintf(marker, sizeof marker, "%s/devnet.json", d->home);
  if (ag_file_exists(path) && !ag_file_exists(marker)) {
    free(d);
    return ag_cli_fail(c, AG_E_EXISTS, "%s holds a chain that is not a devnet; give another --home", d->home);
  }
  if (model_s) snprintf(model, sizeof model, "%s", model_s);
  else ag_cli_default_model(c, model, sizeof model);
  /* the training subnet trains Agora's own small model, whatever the inference subnet serves */
  if (tmodel_s) snprintf(tmodel, sizeof tmodel, "%s", tmodel_s);
  else ag_cli_default_model(c, tmodel, sizeof tmodel);
  ssize_t el = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
  if (el <= 0) {
    free(d);
    return ag_cli_fail(c, AG_E_IO, "cannot find the agora binary (/proc/self/exe)");
  }
  d->exe[el] = 0;
  d->port = port ? (uint16_t)port : free_port();
  snprintf(d->url, sizeof d->url, "http://127.0.0.1:%u", d->port);
  /* roles: honest miners first, then slow, then cheaters; validators last (none without miners);
   * then the training subnet's trainers (honest, free riders, front-runners, blenders) and
   * validators */
  int ninf = d->nminers + (d->nminers ? d->nvalidators : 0);
  int ntrain = d->training ? d->ntrainers + d->nfree + d->nfront + d->nblend + d->nvalidators : 0;
  d->n = ninf + ntrain;
  d->ps = ag_xcalloc((size_t)d->n + 1, sizeof *d->ps);
  for (int i = ninf; i < d->n; i++) {
    proc *p = &d->ps[i];
    int j = i - ninf, nt = d->ntrainers + d->nfree + d->nfront + d->nblend;
    p->netuid = 2;
    if (j < nt) {
      p->role = ROLE_TRAINER;
      p->behaviour = j < d->ntrainers                        ? B_HONEST
                     : j < d->ntrainers + d->nfree            ? B_FREE_RIDER
                     : j < d->ntrainers + d->nfree + d->nfront ? B_FRONT_RUNNER
                                                               : B_BLENDER;
      snprintf(p->name, sizeof p->name, "trainer%d", j);
    } else {
      int v = j - nt;
      p->role = ROLE_VALIDATOR;
      p->stake = (uint64_t)(d->nvalidators - v) * 1000 * AG_UNIT;
      snprintf(p->name, sizeof p->name, "tvalidator%d", v);
    }
    snprintf(p->hot, sizeof p->hot, "%s-hot", p->name);
    snprintf(p->cold, sizeof p->cold, "%s-cold", p->name);
  }
  for (int i = 0; i < ninf; i++) {
    proc *p = &d->ps[i];
    p->netuid = 1;
    if (i < d->nminers) {
      p->role = ROLE_MINER;
      p->behaviour = i >= d->nminers - d->ncheaters ? B_CHEATER
                     : i >= d->nminers - d->ncheaters - d->nslow ? B_SLOW
                     : i >= d->nminers - d->ncheaters - d->nslow - d->nrelayers ? B_RELAYER
                                                                                 : B_HONEST;
      snprintf(p->name, sizeof p->name, "miner%d", i);
    } else {
      int v = i - d->nminers;
      p->role = ROLE_VALIDATOR;
      p->stake = (uint64_t)(d->nvalidators - v) * 1000 * AG_UNIT;
      snprintf(p->name, sizeof p->name, "validator%d", v);
    }
    snprintf(p->hot, sizeof p->hot, "%s-hot", p->name);
    snprintf(p->cold, sizeof p->cold, "%s-cold", p->name);
  }
  /* a fresh chain */
  static const char *const old[] = {"data", "keys", "logs", "status", "cache", "genesis.json"};
  rc = ag_mkdirs(d->home, 0700);
  for (size_t i = 0; !rc && i < AG_ARRAY_LEN(old); i++) {
    snprintf(path, sizeof path, "%s/%s", d->home, old[i]);
    rc = ag_rm_tree(path);
  }
  if (rc) {
    free(d->ps);
    free(d);
    return ag_cli_fail(c, rc, "cannot reset %s: %s", d->home, ag_errmsg(rc));
  }
  snprintf(path, sizeof path, "%s/logs", d->home);
  ag_mkdirs(path, 0755);
  snprintf(path, sizeof path, "%s/status", d->home);
  ag_mkdirs(path, 0755);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int tty = isatty(1) && !c->json;
  FILE *info = c->json ? stderr : stdout;
  if ((rc = write_chain(d, model, tmodel)) || (rc = write_manifest(d, 0))) goto out; /* marks it a devnet */
  fprintf(info, "devnet in %s: chain %s, node %s, %d miners (%d cheating, %d slow, %d relaying), %d validators\n",
          d->home, d->chain_id, d->url, d->nminers, d->ncheaters, d->nslow, d->nrelayers,
          d->nminers ? d->nvalidators : 0);
  if (d->training)
    fprintf(info, "training subnet 2: %d trainers (%d free riders, %d front-runners, %d blenders), %d validators, rounds of %d blocks\n",
            d->ntrainers + d->nfree + d->nfront + d->nblend, d->nfree, d->nfront, d->nblend, d->nvalidators,
            d->round_blocks);
  start_node(d);
  if ((rc = wait_node(d, 30000))) goto out;
  fprintf(info, "explorer: %s/ (open it in a browser)\n", d->url);
  if ((rc = setup_neurons(d))) goto out;
  if (d->nclients && !d->nminers) d->nclients = 0;
  if (d->agent && !d->nminers) d->agent = 0;
  if ((d->nclients || d->market || d->agent) && (rc = setup_market(d))) goto out;
  if (d->agent && (rc = start_agent(d))) goto out;
  for (int i = 0; i < d->nclients; i++) d->client_next[i] = ag_mono_ms() + 5000; /* miners announce first */
  for (int i = 0; i < d->n; i++) start_neuron(d, &d->ps[i]);
  write_manifest(d, 1);
  fprintf(info, "registered and started %d neurons; logs in %s/logs\n", d->n, d->home);
  fflush(info);
  snapshot s;
  memset(&s, 0, sizeof s);
  uint64_t last_print = 0, last_epoch = UINT64_MAX, last_round = UINT64_MAX;
  while (!g_interrupted) {
    /* supervise: restart the node, note neurons that ended */
    int st = 0;
    if (!running(d->node_pid, &st)) {
      d->node_restarts++;
      ag_warn("devnet", "the node ended (%s %d); restarting it", WIFSIGNALED(st) ? "signal" : "exit",
              WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      start_node(d);
      wait_node(d, 30000);
      write_manifest(d, 1);
    }
    for (int i = 0; i < d->n; i++) {
      proc *p = &d->ps[i];
      if (p->pid > 0 && !running(p->pid, &p->exit_status)) {
        p->pid = 0;
        ag_warn("devnet", "%s ended; its log: %s/logs/%s.log", p->name, d->home, p->name);
      }
    }
    snapshot n;
    if (snap_take(d, &n) == 0) {
      snap_free(&s);
      s = n;
      poll_miners(d, &s);
      uint64_t h = ag_json_u64_of(s.status, "height"), ep = ag_json_u64_of(s.subnet, "epoch");
      if (tty) {
        render(d, &s, 1);
      } else if (!c->json && ep != last_epoch) { /* a log-friendly line per epoch */
        printf("height %llu epoch %llu:", (unsigned long long)h, (unsigned long long)ep);
        json_t *rows = json_object_get(s.mg, "uids");
        for (size_t i = 0; i < json_array_size(rows); i++) {
          json_t *r = json_array_get(rows, i);
          proc *p = by_hotkey(d, json_string_value(json_object_get(r, "hotkey")));
          printf(" %s=%.3f", p ? p->name : "?",
                 (p && p->role == ROLE_VALIDATOR ? ag_json_u64_of(r, "dividends") : ag_json_u64_of(r, "incentive")) / 65535.0);
        }
        printf("\n");
        fflush(stdout);
      }
      last_epoch = ep;
      uint64_t tr = ag_json_u64_of(s.training, "round");
      if (d->training && !tty && !c->json && tr != last_round) { /* and a line per round, once the */
        const char *id = json_string_value(json_object_get(s.training, "model_id")); /* checkpoint is here */
        chain_losses(d, s.training);
        double l = val_loss(d, id);
        if (!isnan(l)) {
          printf("training round %llu: canonical %.16s… (%llu aggregated), validation loss %.4f\n",
                 (unsigned long long)tr, id ? id : "?", (unsigned long long)ag_json_u64_of(s.training, "finalized"), l);
          fflush(stdout);
          last_round = tr;
        }
      }
      last_print = h;
      if (d->stop_height && h >= d->stop_height) break;
    } else {
      snap_free(&n);
    }
    serve_trained(d);
    for (int t = 0; t < 10 && !g_interrupted; t++) {
      run_clients(d);
      watch_agent(d);
      ag_sleep_ms(100);
    }
  }
  (void)last_print;
  /* a request in flight ends by itself (killed, its client's book would miss what the miner
   * billed for it); only one stuck past 30 s is stopped */
  for (uint64_t end = ag_mono_ms() + 30000; ag_mono_ms() < end;) {
    int busy = 0;
    for (int i = 0; i < d->nclients; i++) {
      int st = -1;
      if (d->client_pid[i] <= 0) continue;
      if (running(d->client_pid[i], &st)) {
        busy = 1;
        continue;
      }
      if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) d->client_ok[i]++;
      else if (st != -1) d->client_failed[i]++;
      d->client_pid[i] = 0;
    }
    if (!busy) break;
    ag_sleep_ms(50);
  }
  for (int i = 0; i < d->nclients; i++)
    if (d->client_pid[i] > 0) stop_all(&d->client_pid[i], 1, 5000);
  if (d->agent_pid > 0) stop_all(&d->agent_pid, 1, 5000);
  watch_agent(d);
  /* the final picture, then an orderly shutdown: neurons first, the node last */
  {
    snapshot f;
    if (snap_take(d, &f) == 0) {
      snap_free(&s);
      s = f;
    } else {
      snap_free(&f);
    }
  }
  pid_t *pids = ag_xcalloc((size_t)d->n + 1, sizeof *pids);
  for (int i = 0; i < d->n; i++) {
    pids[i] = d->ps[i].pid;
    d->ps[i].was_running = pids[i] > 0;
  }
  stop_all(pids, d->n, 10000);
  for (int i = 0; i < d->n; i++) d->ps[i].pid = 0;
  if (d->nclients) d->econ_final = economy_json(d); /* the miners claimed on their way out */
  stop_all(&d->node_pid, 1, 15000);
  free(pids);
  if (s.status) {
    if (c->json) {
      ag_cli_print_json(final_json(d, &s));
    } else {
      render(d, &s, 0);
      printf("stopped; the chain stays in %s (logs in %s/logs)\n", d->home, d->home);
    }
  } else {
    rc = AG_E_CONNECT;
    ag_fail(rc, "the node could not be read at the end");
  }
  snap_free(&s);
out:
  if (d->ps) {
    pid_t *left = ag_xcalloc((size_t)d->n + 1, sizeof *left);
    for (int i = 0; i < d->n; i++) left[i] = d->ps[i].pid;
    stop_all(left, d->n, 5000);
    free(left);
  }
  if (d->node_pid > 0) stop_all(&d->node_pid, 1, 10000);
  for (int i = 0; i < d->n; i++) {
    ag_key_wipe(&d->ps[i].hk);
    ag_key_wipe(&d->ps[i].ck);
  }
  free(d->ps);
  json_decref(d->losses);
  json_decref(d->econ_final);
  json_decref(d->agent_report);
  ag_model_close(d->tok_model);
  ag_diloco_data_free(&d->tdata);
  free(d);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  return 0;
}
