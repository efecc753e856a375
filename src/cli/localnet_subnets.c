/*
 * localnet_subnets.c — `agora localnet --subnets` (localnet_subnets.h): the inference subnet
 * (netuid 1: miners serve the pinned model, validators score them) and the training subnet
 * (netuid 2: trainers submit pseudo-gradients, validators agree on each round's checkpoint by
 * 2/3 of stake) on the CometBFT validators of a localnet, with each neuron attached to a
 * different node. Nothing is shared between nodes but the chain and what their APIs serve: the
 * initial checkpoints start on node 0 alone, and blobs and checkpoints go to whichever node a
 * neuron uploads them to; every node fetches from its "file_peers" what the chain announces
 * (files_api.h).
 *
 * Layout of the network root:
 *   subnets.json            the neurons: name, role, netuid, node, stake, pid; "registered"
 *   keys/NAME-cold.json     each neuron's coldkey and hotkey (insecure, for this chain only);
 *   keys/NAME-hot.json      keys/owner.json owns both subnets
 *   neurons/NAME.log        its log; neurons/NAME.json its status (validators, trainers);
 *   neurons/NAME-models/    its model cache
 */
#include "cli/localnet_subnets.h"

#include "api/models.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "engine/model.h"
#include "incentive/incentive.h"
#include "subnets/diloco.h"
#include "subnets/netclient.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { R_MINER, R_VALIDATOR, R_TRAINER };
static const char *const role_names[] = {"miner", "validator", "trainer"};

#define NEURONS_MAX 128

typedef struct {
  char name[32];
  int role, netuid, node;
  uint64_t stake; /* base units; validators only */
  int pid;
} neuron;

typedef struct {
  int registered;
  int n;
  neuron v[NEURONS_MAX];
} roster;

static void manifest_path(const char *root, char *out, size_t cap) { snprintf(out, cap, "%s/subnets.json", root); }

static int roster_save(const char *root, const roster *r) {
  json_t *o = json_object(), *a = json_array();
  json_object_set_new(o, "registered", json_boolean(r->registered));
  for (int i = 0; i < r->n; i++) {
    const neuron *x = &r->v[i];
    json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:i, s:I, s:i}", "name", x->name, "role", role_names[x->role],
                                       "netuid", x->netuid, "node", x->node, "stake", (json_int_t)x->stake, "pid",
                                       x->pid));
  }
  json_object_set_new(o, "neurons", a);
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  char path[1200];
  manifest_path(root, path, sizeof path);
  int rc = ag_write_file_atomic(path, text, strlen(text), 0644);
  free(text);
  return rc;
}

static int roster_load(const char *root, roster *r) {
  char path[1200];
  manifest_path(root, path, sizeof path);
  memset(r, 0, sizeof *r);
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, 1 << 20, &data, &len);
  if (rc) return rc;
  json_t *o = json_loadb((const char *)data, len, 0, NULL);
  free(data);
  json_t *a = json_object_get(o, "neurons");
  if (!json_is_array(a) || json_array_size(a) > NEURONS_MAX) {
    json_decref(o);
    return ag_fail(AG_E_CORRUPT, "%s is not a list of neurons", path);
  }
  r->registered = json_is_true(json_object_get(o, "registered"));
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *e = json_array_get(a, i);
    neuron *x = &r->v[r->n];
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *role = json_string_value(json_object_get(e, "role"));
    if (!name || !role || strlen(name) >= sizeof x->name || strchr(name, '/')) continue;
    snprintf(x->name, sizeof x->name, "%s", name);
    x->role = !strcmp(role, "validator") ? R_VALIDATOR : !strcmp(role, "trainer") ? R_TRAINER : R_MINER;
    x->netuid = (int)json_integer_value(json_object_get(e, "netuid"));
    x->node = (int)json_integer_value(json_object_get(e, "node"));
    x->stake = (uint64_t)json_integer_value(json_object_get(e, "stake"));
    x->pid = (int)json_integer_value(json_object_get(e, "pid"));
    r->n++;
  }
  json_decref(o);
  return 0;
}

int ag_lsub_present(const char *root) {
  char path[1200];
  manifest_path(root, path, sizeof path);
  return ag_file_exists(path);
}

/* ---- creation ---------------------------------------------------------------------------------- */

static void add_neuron(roster *r, const char *prefix, int k, int role, int netuid, int node, uint64_t stake) {
  neuron *x = &r->v[r->n++];
  snprintf(x->name, sizeof x->name, "%s%d", prefix, k);
  x->role = role;
  x->netuid = netuid;
  x->node = node;
  x->stake = stake;
}

static int fund(const char *keys, const char *name, const char *chain_id, ag_genesis *g, uint64_t amount,
                char addr[AG_ADDR_MAX]) {
  ag_keypair k;
  ag_key_generate(&k);
  int rc = ag_keystore_save(keys, name, &k, NULL, chain_id);
  g->accounts = ag_xrealloc(g->accounts, (g->naccounts + 1) * sizeof *g->accounts);
  memcpy(g->accounts[g->naccounts].pk, k.pk, 32);
  g->accounts[g->naccounts++].balance = amount;
  if (addr) ag_addr_encode(k.pk, addr);
  ag_key_wipe(&k);
  return rc;
}

int ag_lsub_create(const char *root, const char *chain_id, int nnodes, const ag_lsub_opts *o,
                   ag_genesis *g, json_t **incentive) {
  *incentive = NULL;
  if (o->miners + o->trainers + 2 * o->validators > NEURONS_MAX)
    return ag_fail(AG_E_USAGE, "at most %d neurons", NEURONS_MAX);
  char keys[1100], models[1100];
  snprintf(keys, sizeof keys, "%s/keys", root);
  snprintf(models, sizeof models, "%s/node0/models", root);
  int rc;
  if ((rc = ag_mkdirs(keys, 0700)) || (rc = ag_mkdirs(models, 0755))) return rc;
  /* the checkpoints: the model the inference subnet pins, and a fresh one of its shape that the
   * training subnet starts from; on node 0 only */
  uint8_t *data;
  size_t len;
  if ((rc = ag_read_file(o->model, (size_t)1 << 32, &data, &len)))
    return ag_fail(rc, "cannot read the model %s: %s", o->model, ag_errmsg(rc));
  uint8_t id[32], tid[32];
  rc = ag_models_store(models, data, len, NULL, id);
  free(data);
  if (rc) return rc;
  ag_model *like = NULL, *init = NULL;
  ag_buf file;
  ag_buf_init(&file);
  if (!(rc = ag_model_load(o->model, &like, NULL)) &&
      !(rc = ag_diloco_init_model(like, 1, o->train_dim, o->train_layers, &init))) {
    ag_model_encode(init, NULL, &file);
    rc = ag_models_store(models, file.data, file.len, NULL, tid);
  }
  size_t tlen = file.len;
  ag_buf_free(&file);
  ag_model_close(init);
  ag_model_close(like);
  if (rc) return rc;
  /* the neurons, spread over the nodes */
  static roster r;
  memset(&r, 0, sizeof r);
  for (int k = 0; k < o->validators; k++)
    add_neuron(&r, "validator", k, R_VALIDATOR, 1, k % nnodes, (uint64_t)(k ? 1000 : 2000) * AG_UNIT);
  for (int k = 0; k < o->miners; k++) add_neuron(&r, "miner", k, R_MINER, 1, (nnodes - 1 - k % nnodes), 0);
  for (int k = 0; k < o->validators; k++)
    add_neuron(&r, "tvalidator", k, R_VALIDATOR, 2, k % nnodes, (uint64_t)(k ? 1000 : 2000) * AG_UNIT);
  for (int k = 0; k < o->trainers; k++) add_neuron(&r, "trainer", k, R_TRAINER, 2, (nnodes - 1 - k % nnodes), 0);
  char owner[AG_ADDR_MAX];
  if ((rc = fund(keys, "owner", chain_id, g, 1000000 * AG_UNIT, owner))) return rc;
  for (int i = 0; i < r.n && !rc; i++) {
    char name[48];
    snprintf(name, sizeof name, "%s-cold", r.v[i].name);
    if ((rc = fund(keys, name, chain_id, g, 10000 * AG_UNIT, NULL))) break;
    snprintf(name, sizeof name, "%s-hot", r.v[i].name);
    rc = fund(keys, name, chain_id, g, 100 * AG_UNIT, NULL);
  }
  if (rc || (rc = roster_save(root, &r))) return rc;
  /* the subnets: short tempo and cheap registration, as agora devnet has them */
  char idhex[65], tidhex[65];
  ag_hex_encode(id, 32, idhex);
  ag_hex_encode(tid, 32, tidhex);
  int tempo = 10, reveal = o->round_blocks / 10 > 2 ? o->round_blocks / 10 : 2;
  json_t *hp = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "tempo", tempo, "commit_reveal", 1,
                         "reveal_period", 1, "weights_rate_limit", tempo / 2, "immunity_period", 100000,
                         "activity_cutoff", 100000, "max_uids", 64, "min_allowed_weights", 1);
  json_t *thp = json_deep_copy(hp);
  json_object_set_new(thp, "train_round_blocks", json_integer(o->round_blocks));
  json_object_set_new(thp, "train_submit_blocks", json_integer(o->round_blocks / 2));
  json_object_set_new(thp, "train_reveal_blocks", json_integer(reveal));
  json_t *subnets = json_pack(
      "[{s:s, s:s, s:i, s:o, s:{s:s, s:s, s:I}}, {s:s, s:s, s:i, s:o, s:{s:s, s:s, s:I}}]", "name", "inference",
      "owner", owner, "share", 1, "hyperparams", hp, "model", "kind", "inference", "model_id", idhex, "size",
      (json_int_t)len, "name", "training", "owner", owner, "share", 1, "hyperparams", thp, "model", "kind",
      "training", "model_id", tidhex, "size", (json_int_t)tlen);
  *incentive = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "block_reward", "1000000000", "subnet_cost",
                         "1000000000000", "burn_initial", "1000000000", "burn_min", "500000", "burn_max",
                         "100000000000", "sudo", owner, "allow_private_endpoints", 1, "subnets", subnets);
  return *incentive ? 0 : ag_fail(AG_E_INTERNAL, "cannot build the incentive module");
}

/* ---- registration ------------------------------------------------------------------------------ */

static int load_key(const char *root, const char *name, const char *suffix, ag_keypair *k) {
  char dir[1100], full[64];
  snprintf(dir, sizeof dir, "%s/keys", root);
  snprintf(full, sizeof full, "%s-%s", name, suffix);
  return ag_keystore_load(dir, full, NULL, k, NULL);
}

/* A neuron's coldkey and hotkey; neither is left loaded on failure. */
static int load_pair(const char *root, const char *name, ag_keypair *ck, ag_keypair *hk) {
  int rc = load_key(root, name, "cold", ck);
  if (!rc && (rc = load_key(root, name, "hot", hk))) ag_key_wipe(ck);
  return rc;
}

/* Whether the hotkey of neuron x is in its subnet's metagraph (and its stake there). */
static int registered(ag_net *net, const char *root, const neuron *x, uint64_t *stake) {
  ag_keypair hk;
  if (load_key(root, x->name, "hot", &hk)) return 0;
  char addr[AG_ADDR_MAX], path[64];
  ag_addr_encode(hk.pk, addr);
  ag_key_wipe(&hk);
  snprintf(path, sizeof path, "/v1/subnets/%d/metagraph", x->netuid);
  json_t *mg;
  if (ag_net_get(net, path, &mg)) return 0;
  int found = 0;
  json_t *rows = json_object_get(mg, "uids");
  for (size_t k = 0; k < json_array_size(rows) && !found; k++) {
    json_t *row = json_array_get(rows, k);
    if (strcmp(json_string_value(json_object_get(row, "hotkey")) ?: "", addr)) continue;
    found = 1;
    if (stake) *stake = strtoull(json_string_value(json_object_get(row, "stake")) ?: "0", NULL, 10);
  }
  json_decref(mg);
  return found;
}

static int in_metagraph(ag_net *net, const roster *r, const char *root) {
  int have = 0;
  for (int i = 0; i < r->n; i++) have += registered(net, root, &r->v[i], NULL);
  return have;
}

static int register_all(const char *root, roster *r, const char *url) {
  ag_net net;
  int rc = AG_E_TIMEOUT;
  uint64_t end = ag_mono_ms() + 120000;
  while (ag_mono_ms() < end && (rc = ag_net_open(&net, url)) != 0) ag_sleep_ms(500);
  if (rc) return ag_fail(rc, "node 0's API (%s) did not answer: %s", url, ag_errmsg(rc));
  net.retries = 5;
  /* A start that failed half way is run again as a whole: what is already on chain is skipped. */
  for (int i = 0; i < r->n && !rc; i++) {
    if (registered(&net, root, &r->v[i], NULL)) continue;
    ag_keypair ck, hk;
    if ((rc = load_pair(root, r->v[i].name, &ck, &hk))) break;
    ag_buf b;
    ag_buf_init(&b);
    ag_payload_register(&b, net.chain_id, (uint16_t)r->v[i].netuid, ck.pk, &hk, 1000 * AG_UNIT);
    uint8_t hash[32];
    rc = ag_net_submit(&net, &ck, AG_TX_REGISTER, b.data, b.len, 0, hash, NULL);
    ag_buf_free(&b);
    ag_key_wipe(&ck);
    ag_key_wipe(&hk);
  }
  if (rc) return rc;
  for (end = ag_mono_ms() + 120000; in_metagraph(&net, r, root) < r->n;) {
    if (ag_mono_ms() > end) return ag_fail(AG_E_TIMEOUT, "the neurons were not all registered within 120 s");
    ag_sleep_ms(300);
  }
  for (int i = 0; i < r->n && !rc; i++) {
    uint64_t staked = 0;
    if (r->v[i].role != R_VALIDATOR || (registered(&net, root, &r->v[i], &staked) && staked >= r->v[i].stake)) continue;
    ag_keypair ck, hk;
    if ((rc = load_pair(root, r->v[i].name, &ck, &hk))) break;
    ag_buf b;
    ag_buf_init(&b);
    ag_buf_put(&b, hk.pk, 32);
    ag_buf_put_u64le(&b, r->v[i].stake);
    uint8_t hash[32];
    int code = 0;
    rc = ag_net_submit(&net, &ck, AG_TX_STAKE_ADD, b.data, b.len, 60000, hash, &code);
    ag_buf_free(&b);
    ag_key_wipe(&ck);
    ag_key_wipe(&hk);
    if (!rc && code) rc = ag_fail(code, "staking %s: %s", r->v[i].name, ag_errmsg(code));
  }
  return rc;
}

/* ---- processes --------------------------------------------------------------------------------- */

/* The neuron x runs as pid: a live process (not a zombie) whose arguments name its hotkey (a
 * pid kept across a reboot may belong to another program now). */
static int alive(const neuron *x) {
  int pid = x->pid;
  if (pid > 0) waitpid(pid, NULL, WNOHANG); /* ours: reap it if it ended */
  if (!ag_proc_alive(pid)) return 0;
  char path[64], buf[4096], hot[48];
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  snprintf(hot, sizeof hot, "%s-hot", x->name);
  buf[n] = 0;
  for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
    if (!strcmp(buf + i, hot)) return 1;
  return 0;
}

static void start_one(const char *root, const char *exe, neuron *x, const char *url) {
  char log[1200], status[1200], models[1200], hot[48], netuid[8];
  snprintf(log, sizeof log, "%s/neurons/%s.log", root, x->name);
  snprintf(status, sizeof status, "%s/neurons/%s.json", root, x->name);
  snprintf(models, sizeof models, "%s/neurons/%s-models", root, x->name);
  snprintf(hot, sizeof hot, "%s-hot", x->name);
  snprintf(netuid, sizeof netuid, "%d", x->netuid);
  char *argv[24];
  int k = 0;
  argv[k++] = (char *)exe;
  argv[k++] = "--home";
  argv[k++] = (char *)root;
  argv[k++] = "--node";
  argv[k++] = (char *)url;
  argv[k++] = x->role == R_VALIDATOR ? "validator" : "miner";
  argv[k++] = "--subnet";
  argv[k++] = netuid;
  argv[k++] = "--hotkey";
  argv[k++] = hot;
  argv[k++] = "--models";
  argv[k++] = models;
  if (x->role == R_TRAINER) {
    argv[k++] = "--role";
    argv[k++] = "trainer";
  }
  if (x->role != R_MINER) {
    argv[k++] = "--status";
    argv[k++] = status;
  }
  if (x->role == R_VALIDATOR && x->netuid == 1) {
    argv[k++] = "--interval-ms";
    argv[k++] = "1500";
    argv[k++] = "--timeout-ms";
    argv[k++] = "10000";
  }
  argv[k] = NULL;
  ag_spawn_opts so = {.log = log, .stdin_null = true, .new_session = true};
  pid_t pid;
  x->pid = ag_spawn(argv, &so, &pid) ? 0 : (int)pid;
}

int ag_lsub_start(const char *root, const char *exe, int api_base_port, int port_stride, int nnodes, int quiet) {
  static roster r;
  int rc = roster_load(root, &r);
  if (rc) return rc;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/neurons", root);
  if ((rc = ag_mkdirs(dir, 0755))) return rc;
  char url0[64];
  snprintf(url0, sizeof url0, "http://127.0.0.1:%d", api_base_port);
  if (!r.registered) {
    if (!quiet) fprintf(stderr, "registering %d neurons on the inference and training subnets...\n", r.n);
    if ((rc = register_all(root, &r, url0))) return rc;
    r.registered = 1;
    if ((rc = roster_save(root, &r))) return rc;
  }
  int started = 0;
  for (int i = 0; i < r.n; i++) {
    if (alive(&r.v[i])) continue;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", api_base_port + port_stride * (r.v[i].node % nnodes));
    start_one(root, exe, &r.v[i], url);
    started++;
  }
  if (!quiet && started) fprintf(stderr, "started %d neurons (logs in %s)\n", started, dir);
  return roster_save(root, &r);
}

void ag_lsub_stop(const char *root) {
  static roster r;
  if (roster_load(root, &r)) return;
  for (int i = 0; i < r.n; i++)
    if (alive(&r.v[i])) kill(r.v[i].pid, SIGTERM);
  uint64_t end = ag_mono_ms() + 5000;
  for (int i = 0; i < r.n; i++) {
    while (alive(&r.v[i]) && ag_mono_ms() < end) ag_sleep_ms(50);
    if (alive(&r.v[i])) kill(r.v[i].pid, SIGKILL);
    r.v[i].pid = 0;
  }
  roster_save(root, &r);
}

json_t *ag_lsub_status(const char *root) {
  static roster r;
  if (roster_load(root, &r)) return json_null();
  json_t *a = json_array();
  for (int i = 0; i < r.n; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:i, s:i, s:b}", "name", r.v[i].name, "role",
                                       role_names[r.v[i].role], "netuid", r.v[i].netuid, "node", r.v[i].node, "pid",
                                       r.v[i].pid, "running", alive(&r.v[i])));
  return a;
}
