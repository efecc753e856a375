/*
 * cmd_localnet.c — `agora localnet`: a multi-validator network on 127.0.0.1 made of real
 * CometBFT processes (v0.38, built by scripts/cometbft) and real `agora node --consensus
 * cometbft` applications, one pair per validator (docs/multi-validator.md).
 *
 *   ROOT/localnet.json              the network: chain id, ports, node ids, process ids, and
 *                                   each validator's supervision state
 *   ROOT/localnet.lock              locked (flock) by the `agora localnet` that supervises it
 *   ROOT/localnet.log               the supervisor's events: ends, restarts, operator requests
 *   ROOT/keys/                      funded dev keys (also copied into each node's home)
 *   ROOT/nodeI/                     the agora home of validator I (config.json, data/, logs)
 *   ROOT/nodeI/cometbft/            its CometBFT home (config.toml, genesis.json, keys, data)
 *   ROOT/nodeI/stopped              exists while the operator wants validator I stopped
 *   ROOT/nodeI/start-requested      a `start --validator I` the supervisor has yet to carry out
 *
 * Ports of validator I: BASE+10*I + 6 (p2p), 7 (CometBFT RPC), 8 (ABCI), 9 (agora API).
 *
 * Supervision. `agora localnet` in the foreground is the parent of the processes it starts and
 * restarts a validator whose app or CometBFT ends, after a backoff (core/backoff.h: 1 s
 * doubling to 60 s, 1 s again once it stayed up 60 s; after 10 restarts within 10 minutes it
 * gives up and marks the validator failed). What restarts follows how the pair is wired:
 * CometBFT connects to the app's ABCI socket and stops itself when that connection drops, so
 * when the app ends both restart; the app accepts a new connection when CometBFT ends (and
 * drops a block it finalized but was not told to commit), so then CometBFT restarts alone.
 * While a supervisor runs, `stop --validator I` and `start --validator I` leave the operator's
 * wish in the validator's folder and the supervisor carries it out: a validator stopped on
 * purpose is never restarted, and only the supervisor starts or kills its processes.
 * `--detach` starts the processes and returns: nothing supervises them.
 */
#define _GNU_SOURCE
#include "chain/genesis.h"
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/localnet_subnets.h"
#include "consensus/node.h"
#include "core/backoff.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "api/http.h"
#include "core/codec.h"
#include "incentive/incentive.h"
#include "subnets/netclient.h"

#include <sodium.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_VALIDATORS 16
#define SNAPSHOT_EVERY 40 /* blocks between state-sync snapshots (3 kept: one lives 80 blocks) */
#define TICK_MS 100            /* how often the supervisor looks at its processes */
#define REQUEST_WAIT_MS 60000  /* how long stop/start --validator wait for the supervisor */

static const char usage[] =
    "usage: agora localnet [start] [--validators N] [--home DIR] [--block-time MS] [--base-port P]\n"
    "                      [--dev-accounts N] [--retain-blocks N] [--mempool nop|flood]\n"
    "                      [--detach] [--force]\n"
    "                      [--subnets [--miners N] [--subnet-validators N] [--trainers N]\n"
    "                                 [--round-blocks N] [--train-dim N] [--train-layers N] [--model F]]\n"
    "       agora localnet stop [--validator I] [--app-only] [--home DIR]\n"
    "       agora localnet start --validator I [--home DIR]\n"
    "       agora localnet status [--home DIR] [--json]\n"
    "       agora localnet join [--home DIR]\n"
    "       agora localnet add-validator [--bond AGR] [--home DIR]\n\n"
    "Runs an N-validator network (default 4) on 127.0.0.1: N CometBFT v0.38 processes in\n"
    "consensus and N agora applications behind them over ABCI. The first start creates it\n"
    "(genesis with funded dev keys, distinct ports, persistent peers) under the home folder\n"
    "(default ~/.agora-localnet); later starts reuse it. Without --detach it supervises the\n"
    "network and shows one status view until Ctrl-C (or 'localnet stop'), then stops every\n"
    "process: a validator whose app or CometBFT ends is restarted after 1 s, doubling to 60 s\n"
    "while it keeps ending (1 s again once it stayed up a minute); after 10 restarts within\n"
    "10 minutes it is left down as 'failed'. Use any node with the usual commands:\n"
    "  agora --home ROOT/node0 send --from dev0 ADDRESS 5\n"
    "  --validator I   stop or start one validator (both processes, or --app-only); under a\n"
    "                  supervisor the request goes to it, and a stopped validator stays down\n"
    "  --detach        start the processes and return: nothing restarts them\n"
    "  --block-time MS CometBFT's timeout_commit (default 500)\n"
    "  --base-port P   first port (default 26600; validator I uses P+10I+6 .. P+10I+9)\n"
    "  --retain-blocks N  each node's CometBFT keeps the newest N blocks and prunes the rest\n"
    "                  (default 0: keep all; at least 80), never one a node joining from a\n"
    "                  kept snapshot still needs (config.json \"retain_blocks\")\n"
    "  --mempool nop   where pending txs live (default): each node's own pool, relayed to the\n"
    "                  others' APIs, with CometBFT's mempool.type = \"nop\"; 'flood' keeps them in\n"
    "                  CometBFT's mempool (its RPC's broadcast_tx_* then takes txs too)\n"
    "  --subnets       also run the inference subnet (netuid 1: --miners, default 2, and\n"
    "                  --subnet-validators, default 3, staking 2000, 1000, 1000... AGR) and the\n"
    "                  training subnet (netuid 2: --trainers, default 2, and as many validators,\n"
    "                  training a --train-dim x --train-layers model of --model's tokenizer in\n"
    "                  rounds of --round-blocks, default 30), each neuron attached to another\n"
    "                  node (ROOT/subnets.json; logs in ROOT/neurons). Checkpoints start on\n"
    "                  node 0; every node fetches the blobs and checkpoints the chain announces\n"
    "                  from the others (config.json \"file_peers\")\n"
    "'add-validator' is 'join', then the chain's sudo key (ROOT/keys/sudo; with --subnets, owner)\n"
    "makes the new node a validator with validator 0's power (sudo_set_validator); with --bond\n"
    "AGR that account bonds AGR to the new node's consensus key instead (validator_bond): it\n"
    "gets one unit of power per AGR from the next validator epochs on (every 10 blocks here).\n"
    "'join' adds a node that is not a validator to a network started with --detach: it\n"
    "starts from the validators' latest state-sync snapshot (one every 40 blocks), checked\n"
    "against the validators' signatures, not from genesis.\n"
    "CometBFT is found as $AGORA_COMETBFT, next to this checkout (.cometbft/bin, built by\n"
    "scripts/cometbft), or on PATH.\n";

/* ---- small helpers ---------------------------------------------------------------------------- */

static int find_cometbft(char *out, size_t cap) {
  const char *env = getenv("AGORA_COMETBFT");
  if (env && access(env, X_OK) == 0) {
    snprintf(out, cap, "%s", env);
    return 0;
  }
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *dir = dirname(exe);
    const char *rel[] = {"/../.cometbft/bin/cometbft", "/../../.cometbft/bin/cometbft", "/.cometbft/bin/cometbft"};
    for (int i = 0; i < 3; i++) {
      snprintf(out, cap, "%s%s", dir, rel[i]);
      if (access(out, X_OK) == 0) return 0;
    }
  }
  const char *path = getenv("PATH");
  if (path) {
    char *p = ag_xstrdup(path), *save = NULL;
    for (char *d = strtok_r(p, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
      snprintf(out, cap, "%s/cometbft", d);
      if (access(out, X_OK) == 0) {
        free(p);
        return 0;
      }
    }
    free(p);
  }
  return ag_fail(AG_E_NOTFOUND, "CometBFT not found: run scripts/cometbft (builds v0.38.25 with go install) or set AGORA_COMETBFT");
}

/* Runs a command to completion, capturing stdout (may be NULL). Returns the exit status. */
static int run_capture(char *const argv[], char *out, size_t cap) {
  int pfd[2];
  if (pipe(pfd)) return -1;
  pid_t p = fork();
  if (p == 0) {
    dup2(pfd[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(pfd[0]);
    close(pfd[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(pfd[1]);
  size_t n = 0;
  ssize_t r;
  char tmp[4096];
  while ((r = read(pfd[0], tmp, sizeof tmp)) > 0)
    if (out && n + (size_t)r < cap) memcpy(out + n, tmp, (size_t)r), n += (size_t)r;
  if (out) out[n] = 0;
  close(pfd[0]);
  int st;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Starts a detached process (its own session) with output appended to log; it inherits no
 * passphrase (ag_spawn). -1 on failure. */
static pid_t spawn(char *const argv[], const char *log) {
  ag_spawn_opts o = {.log = log, .stdin_null = true, .new_session = true};
  pid_t p;
  return ag_spawn(argv, &o, &p) ? -1 : p;
}

/* Sets key = value in [section] of a TOML file ("" = the top, before any section). */
static int toml_set(const char *path, const char *section, const char *key, const char *value) {
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, 1 << 20, &data, &len);
  if (rc) return rc;
  ag_buf out;
  ag_buf_init(&out);
  char cur[64] = "";
  int done = 0;
  char *save = NULL, *text = (char *)data;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '[') {
      char *end = strchr(line, ']');
      if (end) snprintf(cur, sizeof cur, "%.*s", (int)(end - line - 1), line + 1);
    }
    size_t kl = strlen(key);
    if (!done && !strcmp(cur, section) && !strncmp(line, key, kl) &&
        (line[kl] == ' ' || line[kl] == '=')) {
      ag_buf_printf(&out, "%s = %s\n", key, value);
      done = 1;
      continue;
    }
    ag_buf_printf(&out, "%s\n", line);
  }
  free(data);
  if (!done) {
    ag_buf_free(&out);
    return ag_fail(AG_E_NOTFOUND, "%s: no key %s in [%s]", path, key, section);
  }
  rc = ag_write_file_atomic(path, out.data, out.len, 0644);
  ag_buf_free(&out);
  return rc;
}

static char *slurp(const char *path) {
  uint8_t *d;
  size_t n;
  return ag_read_file(path, 64 << 20, &d, &n) == 0 ? (char *)d : NULL;
}

/* ---- the network description ----------------------------------------------------------------- */

/* Where a validator stands. Under a supervisor: up, restarting (backing off before the next
 * restart), stopped (by the operator) or failed (given up). Without one: up, down or stopped. */
typedef enum { V_UP, V_DOWN, V_RESTARTING, V_STOPPED, V_FAILED } vstate;
static const char *const state_names[] = {"up", "down", "restarting", "stopped", "failed"};

/* A validator as its supervisor sees it. Fields ending in _ms are wall-clock Unix ms (shown
 * to people and kept in localnet.json); retry_at and bo use monotonic ms and live only in the
 * supervisor. */
typedef struct {
  vstate state;
  int restarts;               /* restarts made by the current (or last) supervisor */
  char proc[16];              /* which process ended last: "app" or "cometbft"; "" = none */
  char reason[160];           /* how: "killed by signal 9 (SIGKILL)", "exited with code 1" */
  uint64_t exited_at_ms;      /* when that end was seen */
  uint64_t restarted_at_ms;   /* when it was restarted after it; 0 = not (yet) */
  uint64_t next_retry_at_ms;  /* while restarting: when the restart is due; else 0 */
  uint64_t retry_at;          /* the same, monotonic */
  ag_backoff bo;
} vsup;

typedef struct {
  int n;                      /* nodes: the genesis validators, then those that joined */
  int nval;                   /* genesis validators */
  int block_ms;               /* timeout_commit */
  uint64_t retain_blocks;     /* blocks each node's CometBFT keeps (config.json; 0: all) */
  char mempool[8];            /* "nop" or "flood": CometBFT's mempool.type (config.json "cometbft_mempool") */
  char root[1024];
  char chain_id[64];
  int base;
  char cometbft[1024];
  char agora[1024];
  int app_pid[MAX_VALIDATORS], cmt_pid[MAX_VALIDATORS];
  char node_id[MAX_VALIDATORS][64];
  int supervisor_pid;         /* the `agora localnet` supervising it, 0 = none */
  vsup sup[MAX_VALIDATORS];
} net;

static int port(const net *nt, int i, int k) { return nt->base + 10 * i + k; }

static json_t *ms_or_null(uint64_t ms) { return ms ? json_integer((json_int_t)ms) : json_null(); }

/* The supervision fields of a node entry (localnet.json and status), state aside. */
static void sup_to_json(const vsup *s, json_t *x) {
  json_object_set_new(x, "restarts", json_integer(s->restarts));
  json_t *last = json_null();
  if (s->proc[0]) {
    last = json_object();
    json_object_set_new(last, "process", json_string(s->proc));
    json_object_set_new(last, "reason", json_string(s->reason));
    json_object_set_new(last, "exited_at_ms", ms_or_null(s->exited_at_ms));
    json_object_set_new(last, "restarted_at_ms", ms_or_null(s->restarted_at_ms));
  }
  json_object_set_new(x, "last_restart", last);
  json_object_set_new(x, "next_retry_at_ms", ms_or_null(s->next_retry_at_ms));
}

static void sup_from_json(vsup *s, const json_t *x) {
  const char *st = json_string_value(json_object_get(x, "state"));
  s->state = V_DOWN;
  for (int k = 0; st && k < (int)(sizeof state_names / sizeof *state_names); k++)
    if (!strcmp(st, state_names[k])) s->state = (vstate)k;
  s->restarts = (int)json_integer_value(json_object_get(x, "restarts"));
  json_t *last = json_object_get(x, "last_restart");
  const char *p = json_string_value(json_object_get(last, "process"));
  const char *r = json_string_value(json_object_get(last, "reason"));
  snprintf(s->proc, sizeof s->proc, "%s", p ? p : "");
  snprintf(s->reason, sizeof s->reason, "%s", r ? r : "");
  s->exited_at_ms = (uint64_t)json_integer_value(json_object_get(last, "exited_at_ms"));
  s->restarted_at_ms = (uint64_t)json_integer_value(json_object_get(last, "restarted_at_ms"));
  s->next_retry_at_ms = (uint64_t)json_integer_value(json_object_get(x, "next_retry_at_ms"));
}

static int net_save(const net *nt) {
  json_t *o = json_object(), *nodes = json_array();
  json_object_set_new(o, "chain_id", json_string(nt->chain_id));
  json_object_set_new(o, "validators", json_integer(nt->nval)); /* then those that joined: "nodes" */
  json_object_set_new(o, "block_time_ms", json_integer(nt->block_ms));
  json_object_set_new(o, "retain_blocks", json_integer((json_int_t)nt->retain_blocks));
  json_object_set_new(o, "mempool", json_string(nt->mempool));
  json_object_set_new(o, "base_port", json_integer(nt->base));
  json_object_set_new(o, "cometbft", json_string(nt->cometbft));
  json_object_set_new(o, "agora", json_string(nt->agora));
  json_object_set_new(o, "supervisor_pid", json_integer(nt->supervisor_pid));
  for (int i = 0; i < nt->n; i++) {
    json_t *x = json_object();
    char home[1200], rpc[64], api[64], abci[64];
    snprintf(home, sizeof home, "%s/node%d", nt->root, i);
    snprintf(rpc, sizeof rpc, "http://127.0.0.1:%d", port(nt, i, 7));
    snprintf(api, sizeof api, "http://127.0.0.1:%d", port(nt, i, 9));
    snprintf(abci, sizeof abci, "tcp://127.0.0.1:%d", port(nt, i, 8));
    json_object_set_new(x, "index", json_integer(i));
    json_object_set_new(x, "home", json_string(home));
    json_object_set_new(x, "node_id", json_string(nt->node_id[i]));
    json_object_set_new(x, "p2p", json_integer(port(nt, i, 6)));
    json_object_set_new(x, "rpc", json_string(rpc));
    json_object_set_new(x, "abci", json_string(abci));
    json_object_set_new(x, "api", json_string(api));
    json_object_set_new(x, "app_pid", json_integer(nt->app_pid[i]));
    json_object_set_new(x, "cometbft_pid", json_integer(nt->cmt_pid[i]));
    json_object_set_new(x, "state", json_string(state_names[nt->sup[i].state]));
    sup_to_json(&nt->sup[i], x);
    json_array_append_new(nodes, x);
  }
  json_object_set_new(o, "nodes", nodes);
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  char path[1200];
  snprintf(path, sizeof path, "%s/localnet.json", nt->root);
  int rc = ag_write_file_atomic(path, text, strlen(text), 0644);
  free(text);
  return rc;
}

static int net_load(net *nt) {
  char path[1200];
  snprintf(path, sizeof path, "%s/localnet.json", nt->root);
  char *text = slurp(path);
  if (!text) return ag_fail(AG_E_NOTFOUND, "no localnet in %s (start one with 'agora localnet')", nt->root);
  json_t *o = json_loads(text, 0, NULL);
  free(text);
  if (!o) return ag_fail(AG_E_CORRUPT, "%s is not valid JSON", path);
  const char *cid = json_string_value(json_object_get(o, "chain_id"));
  const char *cmt = json_string_value(json_object_get(o, "cometbft"));
  snprintf(nt->chain_id, sizeof nt->chain_id, "%s", cid ? cid : "");
  nt->nval = (int)json_integer_value(json_object_get(o, "validators"));
  json_t *bt = json_object_get(o, "block_time_ms");
  nt->n = (int)json_array_size(json_object_get(o, "nodes"));
  nt->block_ms = json_is_integer(bt) ? (int)json_integer_value(bt) : 500;
  nt->retain_blocks = (uint64_t)json_integer_value(json_object_get(o, "retain_blocks"));
  const char *mp = json_string_value(json_object_get(o, "mempool"));
  snprintf(nt->mempool, sizeof nt->mempool, "%s", mp && !strcmp(mp, "nop") ? "nop" : "flood"); /* older nets: flood */
  nt->base = (int)json_integer_value(json_object_get(o, "base_port"));
  snprintf(nt->cometbft, sizeof nt->cometbft, "%s", cmt ? cmt : "");
  nt->supervisor_pid = (int)json_integer_value(json_object_get(o, "supervisor_pid"));
  json_t *nodes = json_object_get(o, "nodes");
  if (nt->n < 1 || nt->n > MAX_VALIDATORS || nt->nval < 1 || nt->nval > nt->n || json_array_size(nodes) != (size_t)nt->n) {
    json_decref(o);
    return ag_fail(AG_E_CORRUPT, "%s: bad validator count", path);
  }
  for (int i = 0; i < nt->n; i++) {
    json_t *x = json_array_get(nodes, (size_t)i);
    const char *id = json_string_value(json_object_get(x, "node_id"));
    snprintf(nt->node_id[i], sizeof nt->node_id[i], "%s", id ? id : "");
    nt->app_pid[i] = (int)json_integer_value(json_object_get(x, "app_pid"));
    nt->cmt_pid[i] = (int)json_integer_value(json_object_get(x, "cometbft_pid"));
    sup_from_json(&nt->sup[i], x);
  }
  json_decref(o);
  return 0;
}

static int alive(int pid) { return ag_proc_alive(pid); }

/* ---- who supervises, and what the operator wants ----------------------------------------------- */

/* Locks ROOT/localnet.lock for the command that starts and supervises the network (the lock
 * goes with the process, however it ends). Returns the fd to keep, -1 when another process
 * holds it, -2 when the file cannot be opened. */
static int lock_net(const net *nt) {
  char path[1200];
  snprintf(path, sizeof path, "%s/localnet.lock", nt->root);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -2;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Whether an `agora localnet` supervises the network now. */
static int supervised(const net *nt) {
  int fd = lock_net(nt);
  if (fd >= 0) close(fd);
  return fd == -1;
}

static void node_file(const net *nt, int i, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/node%d/%s", nt->root, i, name);
}

/* The operator's stop of validator i: 0 none, 1 both processes, 2 the app only. */
static int stop_wish(const net *nt, int i) {
  char path[1300];
  node_file(nt, i, "stopped", path, sizeof path);
  char *t = slurp(path);
  if (!t) return 0;
  int app_only = !strncmp(t, "app", 3);
  free(t);
  return app_only ? 2 : 1;
}

static int set_stop_wish(const net *nt, int i, int app_only) {
  char path[1300];
  node_file(nt, i, "stopped", path, sizeof path);
  const char *v = app_only ? "app\n" : "all\n";
  return ag_write_file_atomic(path, v, strlen(v), 0644);
}

static void clear_wishes(const net *nt, int i) {
  char path[1300];
  node_file(nt, i, "stopped", path, sizeof path);
  unlink(path);
  node_file(nt, i, "start-requested", path, sizeof path);
  unlink(path);
}

/* ---- creation ----------------------------------------------------------------------------------- */

/* CometBFT's config.toml of node i: ports, peers, and the settings of a network on one
 * machine. */
static int cmt_config(const net *nt, int i, const char *peers, int block_ms) {
  char path[1400], v[4200];
  int rc;
  snprintf(path, sizeof path, "%s/node%d/cometbft/config/config.toml", nt->root, i);
  snprintf(v, sizeof v, "\"tcp://127.0.0.1:%d\"", port(nt, i, 8));
  if ((rc = toml_set(path, "", "proxy_app", v))) return rc;
  snprintf(v, sizeof v, "\"node%d\"", i);
  toml_set(path, "", "moniker", v);
  toml_set(path, "", "log_level", "\"error\"");
  snprintf(v, sizeof v, "\"tcp://127.0.0.1:%d\"", port(nt, i, 7));
  if ((rc = toml_set(path, "rpc", "laddr", v))) return rc;
  snprintf(v, sizeof v, "\"tcp://127.0.0.1:%d\"", port(nt, i, 6));
  if ((rc = toml_set(path, "p2p", "laddr", v))) return rc;
  snprintf(v, sizeof v, "\"%s\"", peers);
  if ((rc = toml_set(path, "p2p", "persistent_peers", v))) return rc;
  snprintf(v, sizeof v, "\"%dms\"", block_ms);
  if ((rc = toml_set(path, "consensus", "timeout_commit", v))) return rc;
  toml_set(path, "consensus", "timeout_propose", "\"2s\"");
  toml_set(path, "mempool", "size", "50000");
  snprintf(v, sizeof v, "\"%s\"", nt->mempool);
  if ((rc = toml_set(path, "mempool", "type", v))) return rc;
  toml_set(path, "mempool", "cache_size", "100000"); /* above the pool: a tx gossiped again is not checked again */
  /* one machine: CometBFT's test settings (it waits up to 100 ms between gossip steps by
   * default, which made blocks take twice timeout_commit under load) */
  toml_set(path, "consensus", "peer_gossip_sleep_duration", "\"10ms\"");
  toml_set(path, "p2p", "flush_throttle_timeout", "\"10ms\"");
  /* the app forwards its API's txs in JSON-RPC batches of up to cometbft_batch */
  toml_set(path, "rpc", "max_request_batch_size", "200");
  toml_set(path, "tx_index", "indexer", "\"null\""); /* agora keeps its own tx index */
  return 0;
}

/* The agora side's config.json of node i. */
static int app_config(const net *nt, int i) {
  char path[1400], v[2000], peers[900] = "";
  snprintf(path, sizeof path, "%s/node%d/config.json", nt->root, i);
  /* every other node's API: where this one fetches the blobs and checkpoints the chain
   * announces (files_api.h) */
  int n = nt->n > nt->nval ? nt->n : nt->nval;
  for (int k = 0; k < n && k < AG_FILE_PEERS_MAX; k++) {
    if (k == i) continue;
    size_t l = strlen(peers);
    snprintf(peers + l, sizeof peers - l, "%s\"http://127.0.0.1:%d\"", l ? ", " : "", port(nt, k, 9));
  }
  snprintf(v, sizeof v,
           "{\n  \"consensus\": \"cometbft\",\n  \"abci_listen\": \"tcp://127.0.0.1:%d\",\n"
           "  \"cometbft_rpc\": \"http://127.0.0.1:%d\",\n  \"cometbft_batch\": 200,\n"
           "  \"snapshot_interval\": %d,\n  \"snapshot_keep\": 3,\n  \"retain_blocks\": %llu,\n"
           "  \"api_listen\": \"127.0.0.1:%d\",\n  \"file_peers\": [%s],\n  \"cometbft_mempool\": \"%s\"\n}\n",
           port(nt, i, 8), port(nt, i, 7), SNAPSHOT_EVERY, (unsigned long long)nt->retain_blocks, port(nt, i, 9),
           peers, nt->mempool);
  return ag_write_file_atomic(path, v, strlen(v), 0644);
}

static int copy_file(const char *from, const char *to, int mode) {
  uint8_t *d;
  size_t len;
  int rc = ag_read_file(from, 64u << 20, &d, &len);
  if (rc) return rc;
  rc = ag_write_file_atomic(to, d, len, mode);
  free(d);
  return rc;
}

/* Copies the regular files of folder from (the dev keystores) into folder to, each 0600. */
static int copy_files(const char *from, const char *to) {
  DIR *d = opendir(from);
  if (!d) return ag_fail(AG_E_IO, "%s: %s", from, strerror(errno));
  int rc = ag_mkdirs(to, 0700);
  for (struct dirent *e; !rc && (e = readdir(d));) {
    char src[1400], dst[1400];
    struct stat st;
    if (snprintf(src, sizeof src, "%s/%s", from, e->d_name) >= (int)sizeof src ||
        snprintf(dst, sizeof dst, "%s/%s", to, e->d_name) >= (int)sizeof dst)
      rc = ag_fail(AG_E_IO, "%s/%s: the path is too long", from, e->d_name);
    else if (!lstat(src, &st) && S_ISREG(st.st_mode))
      rc = copy_file(src, dst, 0600);
  }
  closedir(d);
  return rc;
}

/* Validators by bond on a localnet: epochs of 10 blocks (a few seconds), so that a bonded node
 * gets its power, and one that stops is jailed, while one watches (docs/multi-validator.md). */
#define LOCALNET_VALIDATORS "{\"epoch_blocks\":10,\"unbond_blocks\":200,\"unbond_ms\":3600000,\"jail_blocks\":50}"

static int create(ag_cli *c, net *nt, int ndev, int block_ms, const ag_lsub_opts *sub) {
  char tmp[1200], cmd_out[256];
  snprintf(tmp, sizeof tmp, "%s/.cometbft-testnet", nt->root);
  char vflag[16];
  snprintf(vflag, sizeof vflag, "%d", nt->n);
  char *targv[] = {nt->cometbft, "testnet", "--v", vflag, "--o", tmp, "--populate-persistent-peers=false", NULL};
  if (run_capture(targv, cmd_out, sizeof cmd_out) != 0)
    return ag_fail(AG_E_IO, "'cometbft testnet' failed (is %s v0.38?)", nt->cometbft);
  /* our genesis: funded dev keys, bound to this chain */
  snprintf(nt->chain_id, sizeof nt->chain_id, "agora-localnet");
  char keys[1200];
  snprintf(keys, sizeof keys, "%s/keys", nt->root);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  snprintf(g.chain_id, sizeof g.chain_id, "%s", nt->chain_id);
  g.genesis_time_ms = ag_now_ms();
  ag_params_default(&g.params);
  g.naccounts = (size_t)ndev;
  g.accounts = ag_xcalloc((size_t)ndev + 1, sizeof *g.accounts);
  int rc = 0;
  for (int i = 0; i < ndev && !rc; i++) {
    ag_keypair k;
    ag_key_generate(&k);
    char name[16];
    snprintf(name, sizeof name, "dev%d", i);
    rc = ag_keystore_save(keys, name, &k, NULL, nt->chain_id);
    memcpy(g.accounts[i].pk, k.pk, 32);
    g.accounts[i].balance = 1000000 * AG_UNIT;
    ag_key_wipe(&k);
  }
  if (!rc && sub) { /* the two subnets, their owner and neurons (localnet_subnets.h) */
    json_t *inc;
    if (!(rc = ag_lsub_create(nt->root, nt->chain_id, nt->n, sub, &g, &inc))) {
      json_object_set_new(inc, "validators", json_loads(LOCALNET_VALIDATORS, 0, NULL));
      json_t *mods = json_pack("{s:o}", "incentive", inc);
      g.modules = json_dumps(mods, JSON_COMPACT | JSON_SORT_KEYS);
      json_decref(mods);
    }
  } else if (!rc) { /* one machine: private endpoints; keys/sudo may change the validators */
    ag_keypair k;
    char mods[300], sudo[AG_ADDR_MAX];
    ag_key_generate(&k);
    rc = ag_keystore_save(keys, "sudo", &k, NULL, nt->chain_id);
    memcpy(g.accounts[g.naccounts].pk, k.pk, 32); /* room for it: ndev + 1 */
    g.accounts[g.naccounts++].balance = 1000 * AG_UNIT;
    ag_addr_encode(k.pk, sudo);
    ag_key_wipe(&k);
    snprintf(mods, sizeof mods, "{\"incentive\":{\"allow_private_endpoints\":true,\"sudo\":\"%s\",\"validators\":%s}}",
             sudo, LOCALNET_VALIDATORS);
    g.modules = ag_xstrdup(mods);
  }
  char *gtext = rc ? NULL : ag_genesis_to_json(&g);
  ag_genesis_free(&g);
  if (rc) return rc;
  json_t *app_state = json_loads(gtext, 0, NULL);
  /* peers and ports */
  for (int i = 0; i < nt->n; i++) {
    char home[1300], cmt[1300], from[1300];
    snprintf(home, sizeof home, "%s/node%d", nt->root, i);
    snprintf(cmt, sizeof cmt, "%s/cometbft", home);
    snprintf(from, sizeof from, "%s/node%d", tmp, i);
    if ((rc = ag_mkdirs(home, 0700))) break;
    if (rename(from, cmt) != 0) {
      rc = ag_fail(AG_E_IO, "cannot move %s: %s", from, strerror(errno));
      break;
    }
    char *iargv[] = {nt->cometbft, "show-node-id", "--home", cmt, NULL};
    char idbuf[128] = "";
    if (run_capture(iargv, idbuf, sizeof idbuf) != 0) {
      rc = ag_fail(AG_E_IO, "cometbft show-node-id failed");
      break;
    }
    idbuf[strcspn(idbuf, "\r\n")] = 0;
    snprintf(nt->node_id[i], sizeof nt->node_id[i], "%s", idbuf);
  }
  char peers[4096] = "";
  for (int i = 0; !rc && i < nt->n; i++) {
    size_t l = strlen(peers);
    snprintf(peers + l, sizeof peers - l, "%s%s@127.0.0.1:%d", i ? "," : "", nt->node_id[i], port(nt, i, 6));
  }
  for (int i = 0; !rc && i < nt->n; i++) {
    char home[1300], path[1400];
    snprintf(home, sizeof home, "%s/node%d", nt->root, i);
    if ((rc = cmt_config(nt, i, peers, block_ms))) break;
    /* CometBFT's genesis carries ours as app_state, under our chain id */
    snprintf(path, sizeof path, "%s/cometbft/config/genesis.json", home);
    char *text = slurp(path);
    json_t *cg = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!cg) {
      rc = ag_fail(AG_E_CORRUPT, "%s is not readable", path);
      break;
    }
    json_object_set_new(cg, "chain_id", json_string(nt->chain_id));
    json_object_set(cg, "app_state", app_state);
    char *out = json_dumps(cg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(cg);
    rc = ag_write_file_atomic(path, out, strlen(out), 0644);
    free(out);
    if (rc) break;
    /* the agora side of the node */
    snprintf(path, sizeof path, "%s/genesis.json", home);
    if ((rc = ag_write_file_atomic(path, gtext, strlen(gtext), 0644))) break;
    if ((rc = app_config(nt, i))) break;
    char from_keys[1400], to_keys[1400];
    snprintf(from_keys, sizeof from_keys, "%s/keys", nt->root);
    snprintf(to_keys, sizeof to_keys, "%s/keys", home);
    if ((rc = copy_files(from_keys, to_keys))) break;
  }
  json_decref(app_state);
  free(gtext);
  (void)ag_rm_tree(tmp); /* a leftover temp folder is harmless */
  if (!rc && !c->json)
    fprintf(stderr, "created a %d-validator network in %s (chain %s)\n", nt->n, nt->root, nt->chain_id);
  return rc;
}

/* ---- joining ---------------------------------------------------------------------------------- */

static void start_node(net *nt, int i, int app_only);
static void stop_pid(int *pid, int sig);

/* A new node, not a validator, that starts from a state-sync snapshot of the validators
 * (consensus/snapshot.h) instead of replaying every block: its CometBFT trusts validator 0's
 * latest block (its hash from validator 0's RPC) and verifies the snapshot's headers from there
 * with its light client (backwards, by hashes). Not block 1: a network that prunes blocks
 * (--retain-blocks) may have dropped it by the time the light client asks for it. */
static int join(ag_cli *c, net *nt) {
  int i = nt->n, rc;
  if (i >= MAX_VALIDATORS) return ag_fail(AG_E_USAGE, "the network has %d nodes, the most it can", i);
  char home[1300], cmt[1300], from[1400], to[1400], url[200];
  snprintf(home, sizeof home, "%s/node%d", nt->root, i);
  snprintf(cmt, sizeof cmt, "%s/cometbft", home);
  /* the trusted header: the latest block, as validator 0 reports it */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/commit", port(nt, 0, 7));
  ag_http_result r;
  if ((rc = ag_http_request("GET", url, NULL, NULL, 0, 5000, &r)))
    return ag_fail(AG_E_UNAVAILABLE, "validator 0's RPC (%s): %s", url, ag_errmsg(rc));
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  json_t *cm = json_object_get(json_object_get(json_object_get(j, "result"), "signed_header"), "commit");
  const char *hash = json_string_value(json_object_get(json_object_get(cm, "block_id"), "hash"));
  const char *hs = json_string_value(json_object_get(cm, "height"));
  char trust[80], trust_h[24];
  snprintf(trust, sizeof trust, "\"%s\"", hash ? hash : "");
  snprintf(trust_h, sizeof trust_h, "%s", hs && strlen(hs) < 20 && strspn(hs, "0123456789") == strlen(hs) ? hs : "");
  json_decref(j);
  if (strlen(trust) != 66 || !trust_h[0]) return ag_fail(AG_E_UNAVAILABLE, "validator 0 has no committed block yet");
  char *iargv[] = {nt->cometbft, "init", "--home", cmt, NULL};
  char out[256] = "";
  if ((rc = ag_mkdirs(home, 0700))) return rc;
  if (run_capture(iargv, out, sizeof out) != 0) return ag_fail(AG_E_IO, "'cometbft init' failed");
  snprintf(from, sizeof from, "%s/node0/cometbft/config/genesis.json", nt->root);
  snprintf(to, sizeof to, "%s/config/genesis.json", cmt);
  if ((rc = copy_file(from, to, 0644))) return rc;
  snprintf(from, sizeof from, "%s/node0/genesis.json", nt->root);
  snprintf(to, sizeof to, "%s/genesis.json", home);
  if ((rc = copy_file(from, to, 0644))) return rc;
  char *sargv[] = {nt->cometbft, "show-node-id", "--home", cmt, NULL};
  char idbuf[128] = "";
  if (run_capture(sargv, idbuf, sizeof idbuf) != 0) return ag_fail(AG_E_IO, "cometbft show-node-id failed");
  idbuf[strcspn(idbuf, "\r\n")] = 0;
  snprintf(nt->node_id[i], sizeof nt->node_id[i], "%s", idbuf);
  char peers[4096] = "", servers[200];
  for (int k = 0; k < nt->nval; k++) {
    size_t l = strlen(peers);
    snprintf(peers + l, sizeof peers - l, "%s%s@127.0.0.1:%d", k ? "," : "", nt->node_id[k], port(nt, k, 6));
  }
  if ((rc = cmt_config(nt, i, peers, nt->block_ms)) || (rc = app_config(nt, i))) return rc;
  snprintf(to, sizeof to, "%s/config/config.toml", cmt);
  snprintf(servers, sizeof servers, "\"127.0.0.1:%d,127.0.0.1:%d\"", port(nt, 0, 7), port(nt, nt->nval > 1 ? 1 : 0, 7));
  if ((rc = toml_set(to, "statesync", "enable", "true")) || (rc = toml_set(to, "statesync", "rpc_servers", servers)) ||
      (rc = toml_set(to, "statesync", "trust_height", trust_h)) || (rc = toml_set(to, "statesync", "trust_hash", trust)) ||
      (rc = toml_set(to, "statesync", "trust_period", "\"8760h0m0s\"")) ||
      (rc = toml_set(to, "statesync", "discovery_time", "\"5s\"")))
    return rc;
  nt->n++;
  memset(&nt->sup[i], 0, sizeof nt->sup[i]);
  nt->app_pid[i] = nt->cmt_pid[i] = 0;
  start_node(nt, i, 0);
  if (!c->json)
    fprintf(stderr, "node %d joins from the validators' latest snapshot (one every %d blocks)\n", i, SNAPSHOT_EVERY);
  return net_save(nt);
}

/* The network's sudo key (keys/sudo, or with --subnets the owner), named by the genesis. */
static int sudo_key(net *nt, ag_keypair *out) {
  char path[1400], keys[1200];
  snprintf(path, sizeof path, "%s/node0/cometbft/config/genesis.json", nt->root);
  char *text = slurp(path);
  json_t *cg = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  const char *sudo =
      json_string_value(json_object_get(json_object_get(json_object_get(cg, "app_state"), "incentive"), "sudo"));
  uint8_t spk[32];
  char name[AG_ADDR_MAX] = "";
  int rc = sudo && ag_addr_decode(sudo, spk) == 0 ? 0 : ag_fail(AG_E_NOT_SUDO, "the network's genesis names no sudo key");
  if (!rc) snprintf(name, sizeof name, "%s", sudo);
  json_decref(cg);
  if (rc) return rc;
  snprintf(keys, sizeof keys, "%s/keys", nt->root);
  ag_keyinfo *infos = NULL;
  size_t nk = 0;
  if ((rc = ag_keystore_list(keys, &infos, &nk))) return rc;
  rc = AG_E_KEY_NOT_FOUND;
  for (size_t j = 0; j < nk && rc; j++)
    if (!memcmp(infos[j].pk, spk, 32)) rc = ag_keystore_load(keys, infos[j].name, NULL, out, NULL);
  free(infos);
  return rc ? ag_fail(rc, "the sudo key %s is not in %s", name, keys) : 0;
}

/* Sends a tx of key's through node 0 and waits for its result (0, or its code with the
 * message naming the kind). */
static int submit_node0(net *nt, const ag_keypair *key, uint16_t kind, const ag_buf *payload) {
  ag_net api;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port(nt, 0, 9));
  int rc = ag_net_open(&api, url), code = 0;
  uint8_t hash[32];
  if (!rc) rc = ag_net_submit(&api, key, kind, payload->data, payload->len, 30000, hash, &code);
  if (!rc && code) rc = ag_fail(code, "%s: %s", ag_tx_kind_name(kind), ag_errmsg(code));
  return rc;
}

/* A joined node made a validator: the chain's sudo key (keys/sudo, or with --subnets the owner) sends
 * sudo_set_validator with the node's CometBFT consensus key and validator 0's power. */
static int promote(ag_cli *c, net *nt, int i) {
  char path[1400];
  snprintf(path, sizeof path, "%s/node%d/cometbft/config/priv_validator_key.json", nt->root, i);
  char *text = slurp(path);
  json_t *k = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  const char *b64 = json_string_value(json_object_get(json_object_get(k, "pub_key"), "value"));
  uint8_t ck[32];
  size_t cl = 0;
  int rc = b64 && sodium_base642bin(ck, sizeof ck, b64, strlen(b64), NULL, &cl, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
                   cl == 32
               ? 0
               : ag_fail(AG_E_CORRUPT, "%s has no ed25519 public key", path);
  json_decref(k);
  if (rc) return rc;
  /* validator 0's power, from CometBFT's genesis */
  snprintf(path, sizeof path, "%s/node0/cometbft/config/genesis.json", nt->root);
  text = slurp(path);
  json_t *cg = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  uint64_t power = 0;
  const char *ps = json_string_value(json_object_get(json_array_get(json_object_get(cg, "validators"), 0), "power"));
  if (!ps || ag_parse_u64(ps, &power) || !power) power = 1;
  json_decref(cg);
  ag_keypair sk;
  if ((rc = sudo_key(nt, &sk))) return rc;
  ag_buf b;
  ag_buf_init(&b);
  ag_payload_set_validator(&b, ck, power);
  rc = submit_node0(nt, &sk, AG_TX_SUDO_SET_VALIDATOR, &b);
  ag_buf_free(&b);
  ag_key_wipe(&sk);
  if (!rc && !c->json)
    fprintf(stderr, "node %d is a validator with power %llu from the next blocks on\n", i, (unsigned long long)power);
  return rc;
}

/* A joined node made a validator by bond: the network's sudo account (as for promote) bonds
 * AGR to the node's consensus key (validator_bond, signed by that key); its power comes at the
 * next epoch. */
/* The committed height a node's API reports, or -1. */
static long long api_height(net *nt, int i) {
  ag_net api;
  memset(&api, 0, sizeof api);
  json_t *st = NULL;
  long long h = -1;
  snprintf(api.url, sizeof api.url, "http://127.0.0.1:%d", port(nt, i, 9));
  api.timeout_ms = 2000;
  api.retries = 0;
  if (ag_net_get(&api, "/v1/status", &st) == 0 && json_is_integer(json_object_get(st, "height")))
    h = json_integer_value(json_object_get(st, "height"));
  json_decref(st);
  ag_err_clear();
  return h;
}

static int promote_bond(ag_cli *c, net *nt, int i, uint64_t amount) {
  /* a validator that does not sign the blocks it is given power for is jailed: bond once the
   * node has restored its snapshot and caught up with validator 0 */
  long long mine = -1, theirs = 0;
  for (uint64_t until = ag_mono_ms() + 180000; ag_mono_ms() < until; ag_sleep_ms(500)) {
    mine = api_height(nt, i);
    theirs = api_height(nt, 0);
    if (mine > 0 && mine + 1 >= theirs) break;
  }
  if (mine <= 0 || mine + 1 < theirs)
    return ag_fail(AG_E_TIMEOUT, "node %d has not caught up with the network in 3 minutes (height %lld of %lld): not bonding",
                   i, mine, theirs);
  char path[1400];
  snprintf(path, sizeof path, "%s/node%d/cometbft/config/priv_validator_key.json", nt->root, i);
  uint8_t csk[64];
  int rc = ag_cli_priv_validator_key(path, csk);
  if (rc) return rc;
  ag_keypair payer;
  if ((rc = sudo_key(nt, &payer))) {
    sodium_memzero(csk, sizeof csk);
    return rc;
  }
  ag_buf b;
  ag_buf_init(&b);
  ag_payload_validator_bond(&b, nt->chain_id, payer.pk, csk, amount);
  rc = submit_node0(nt, &payer, AG_TX_VALIDATOR_BOND, &b);
  ag_buf_free(&b);
  sodium_memzero(csk, sizeof csk);
  ag_key_wipe(&payer);
  char amt[32];
  ag_amount_format(amount, amt);
  if (!rc && !c->json)
    fprintf(stderr, "the network's key bonded %s AGR to node %d's consensus key: it gets its power at the next validator epoch\n",
            amt, i);
  return rc;
}

/* ---- processes -------------------------------------------------------------------------------- */

/* Starts whichever of validator i's processes is not running (the app first: CometBFT
 * retries until it listens, and a head start saves a retry). */
static void start_node(net *nt, int i, int app_only) {
  char home[1300], cmt[1300], alog[1400], clog[1400];
  snprintf(home, sizeof home, "%s/node%d", nt->root, i);
  snprintf(cmt, sizeof cmt, "%s/cometbft", home);
  snprintf(alog, sizeof alog, "%s/agora.log", home);
  snprintf(clog, sizeof clog, "%s/cometbft.log", home);
  /* a CometBFT whose app died holds dead ABCI connections (v0.38 does not reconnect, and does
   * not always exit): it restarts with the app, or the node would stay down with both running */
  if (!app_only && !alive(nt->app_pid[i]) && alive(nt->cmt_pid[i])) stop_pid(&nt->cmt_pid[i], SIGTERM);
  if (!alive(nt->app_pid[i])) {
    char *av[] = {nt->agora, "--home", home, "node", NULL};
    nt->app_pid[i] = spawn(av, alog);
  }
  if (!app_only && !alive(nt->cmt_pid[i])) {
    ag_sleep_ms(200); /* the head start */
    char *cv[] = {nt->cometbft, "start", "--home", cmt, NULL};
    nt->cmt_pid[i] = spawn(cv, clog);
  }
}

static void stop_pid(int *pid, int sig) {
  if (*pid <= 0) return;
  kill(*pid, sig);
  for (int t = 0; t < 100 && alive(*pid); t++) {
    waitpid(*pid, NULL, WNOHANG);
    ag_sleep_ms(50);
  }
  if (alive(*pid)) kill(*pid, SIGKILL);
  waitpid(*pid, NULL, WNOHANG);
  *pid = 0;
}

static void stop_node(net *nt, int i, int app_only) {
  if (!app_only) stop_pid(&nt->cmt_pid[i], SIGTERM);
  stop_pid(&nt->app_pid[i], SIGTERM);
}

/* How a child ended, from its wait status: "exited with code 1", "killed by signal 9 (SIGKILL)". */
static void describe_end(int st, char *out, size_t cap) {
  if (WIFSIGNALED(st)) {
    const char *abbrev = sigabbrev_np(WTERMSIG(st));
    snprintf(out, cap, "killed by signal %d (SIG%s)%s", WTERMSIG(st), abbrev ? abbrev : "?",
             WCOREDUMP(st) ? ", core dumped" : "");
  } else if (WIFEXITED(st)) {
    snprintf(out, cap, "exited with code %d", WEXITSTATUS(st));
  } else {
    snprintf(out, cap, "ended (wait status %d)", st);
  }
}

/* 1 while pid runs. Once it has ended: 0, the child reaped, and why in out. A process this
 * supervisor did not start (an earlier --detach) cannot be waited for: its status is unknown. */
static int running(int pid, char *why, size_t cap) {
  if (pid <= 0) {
    snprintf(why, cap, "not running");
    return 0;
  }
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    describe_end(st, why, cap);
    return 0;
  }
  if (r == 0 || alive(pid)) return 1;
  snprintf(why, cap, "ended (started by another command: exit status unknown)");
  return 0;
}

/* ---- supervision ------------------------------------------------------------------------------- */

static int quiet_stderr; /* the live view shows events itself */
static char recent[4][300];
static int nrecent;

static void clock_of(uint64_t ms, char out[16]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(out, 16, "%H:%M:%S", &tm);
}

/* A supervision event: logged on stderr and in ROOT/localnet.log, and kept for the view. */
static void event(const net *nt, int warn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void event(const net *nt, int warn, const char *fmt, ...) {
  char msg[280], when[16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  clock_of(ag_now_ms(), when);
  if (!quiet_stderr) {
    if (warn) ag_warn("localnet", "%s", msg);
    else ag_info("localnet", "%s", msg);
  }
  char path[1200];
  snprintf(path, sizeof path, "%s/localnet.log", nt->root);
  FILE *f = fopen(path, "a");
  if (f) {
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "%s %s\n", stamp, msg);
    fclose(f);
  }
  if (nrecent == 4) { /* keep the latest four */
    memmove(recent[0], recent[1], sizeof recent[0] * 3);
    nrecent = 3;
  }
  snprintf(recent[nrecent++], sizeof recent[0], "%s %s", when, msg);
}

/* The supervisor's care of validator i for one tick: the operator's requests first, then its
 * processes. Returns 1 when something changed that localnet.json should show. */
static int supervise(net *nt, int i) {
  vsup *s = &nt->sup[i];
  uint64_t now = ag_mono_ms();
  char req[1300];
  node_file(nt, i, "start-requested", req, sizeof req);
  if (ag_file_exists(req)) {
    clear_wishes(nt, i);
    ag_backoff_reset(&s->bo);
    start_node(nt, i, 0);
    ag_backoff_started(&s->bo, ag_mono_ms());
    s->state = V_UP;
    s->next_retry_at_ms = 0;
    event(nt, 0, "validator %d started by the operator", i);
    return 1;
  }
  int wish = stop_wish(nt, i);
  if (wish && s->state != V_STOPPED) {
    stop_node(nt, i, wish == 2);
    s->state = V_STOPPED;
    s->next_retry_at_ms = 0;
    event(nt, 0, "validator %d stopped by the operator%s; it stays down until 'agora localnet start --validator %d'",
          i, wish == 2 ? " (app only)" : "", i);
    return 1;
  }
  char why_app[160], why_cmt[160];
  int changed = 0;
  int app_up = running(nt->app_pid[i], why_app, sizeof why_app);
  int cmt_up = running(nt->cmt_pid[i], why_cmt, sizeof why_cmt);
  /* CometBFT stops by itself when its ABCI connection drops, which it can see while a killed
   * app is still being torn down: give the app half a second to be reaped before blaming
   * CometBFT (the wrong process named in status, and one restart of each instead of both) */
  for (int k = 0; s->state == V_UP && app_up && !cmt_up && nt->cmt_pid[i] && k < 50; k++) {
    ag_sleep_ms(10);
    app_up = running(nt->app_pid[i], why_app, sizeof why_app);
  }
  if (!app_up && nt->app_pid[i]) { /* reaped: forget the pid */
    nt->app_pid[i] = 0;
    changed = 1;
  }
  if (!cmt_up && nt->cmt_pid[i]) {
    nt->cmt_pid[i] = 0;
    changed = 1;
  }
  if (s->state == V_UP && (!app_up || !cmt_up)) {
    /* the app ended: CometBFT stops itself once its ABCI connection drops, so both restart */
    int pair = !app_up;
    snprintf(s->proc, sizeof s->proc, "%s", pair ? "app" : "cometbft");
    snprintf(s->reason, sizeof s->reason, "%s", pair ? why_app : why_cmt);
    s->exited_at_ms = ag_now_ms();
    s->restarted_at_ms = 0;
    if (pair && cmt_up) stop_pid(&nt->cmt_pid[i], SIGTERM);
    uint64_t wait = 0;
    if (ag_backoff_failed(&s->bo, now, &wait)) {
      stop_node(nt, i, 0);
      s->state = V_FAILED;
      s->next_retry_at_ms = 0;
      event(nt, 1,
            "validator %d: %s %s; restarted %d times within %u min, giving up (see %s/node%d/%s.log, "
            "then 'agora localnet start --validator %d')",
            i, s->proc, s->reason, s->bo.nrestarts, (unsigned)(s->bo.window_ms / 60000), nt->root, i,
            pair ? "agora" : "cometbft", i);
    } else {
      s->state = V_RESTARTING;
      s->retry_at = now + wait;
      s->next_retry_at_ms = ag_now_ms() + wait;
      event(nt, 1, "validator %d: %s %s; restarting %s in %llu s", i, s->proc, s->reason,
            pair ? "the app and CometBFT" : "CometBFT", (unsigned long long)(wait + 999) / 1000);
    }
    return 1;
  }
  if (s->state == V_RESTARTING && now >= s->retry_at) {
    start_node(nt, i, 0);
    ag_backoff_started(&s->bo, ag_mono_ms());
    s->restarts++;
    s->restarted_at_ms = ag_now_ms();
    s->next_retry_at_ms = 0;
    s->state = V_UP;
    event(nt, 0, "validator %d restarted (restart %d, after: %s %s)", i, s->restarts, s->proc, s->reason);
    return 1;
  }
  return changed;
}

/* ---- status ----------------------------------------------------------------------------------- */

/* Validator i's state as a reader sees it: the supervisor's word while one runs (but down the
 * moment a process it believes up has ended), else from the processes and the stop wish. */
static vstate state_now(const net *nt, int i, int sup, int app, int cmt) {
  if (sup) return nt->sup[i].state == V_UP && !(app && cmt) ? V_DOWN : nt->sup[i].state;
  if (app && cmt) return V_UP;
  return stop_wish(nt, i) ? V_STOPPED : V_DOWN;
}

static json_t *node_status(const net *nt, int i, int sup) {
  json_t *x = json_object();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/status", port(nt, i, 9));
  int app = alive(nt->app_pid[i]), cmt = alive(nt->cmt_pid[i]);
  json_object_set_new(x, "index", json_integer(i));
  json_object_set_new(x, "state", json_string(state_names[state_now(nt, i, sup, app, cmt)]));
  json_object_set_new(x, "app_running", json_boolean(app));
  json_object_set_new(x, "cometbft_running", json_boolean(cmt));
  json_object_set_new(x, "app_pid", json_integer(app ? nt->app_pid[i] : 0));
  json_object_set_new(x, "cometbft_pid", json_integer(cmt ? nt->cmt_pid[i] : 0));
  sup_to_json(&nt->sup[i], x);
  ag_http_result r;
  if (app && ag_http_request("GET", url, NULL, NULL, 0, 1000, &r) == 0) {
    json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    json_t *h = json_object_get(j, "height"), *root = json_object_get(j, "state_root");
    json_object_set_new(x, "height", h ? json_incref(h) : json_integer(0));
    json_object_set_new(x, "state_root", root ? json_incref(root) : json_null());
    json_decref(j);
    ag_http_result_free(&r);
  }
  return x;
}

static json_t *status_all(const net *nt) {
  json_t *o = json_object(), *a = json_array();
  int sup = supervised(nt);
  json_object_set_new(o, "chain_id", json_string(nt->chain_id));
  json_object_set_new(o, "root", json_string(nt->root));
  json_object_set_new(o, "supervised", json_boolean(sup));
  json_object_set_new(o, "supervisor_pid", json_integer(sup ? nt->supervisor_pid : 0));
  for (int i = 0; i < nt->n; i++) json_array_append_new(a, node_status(nt, i, sup));
  json_object_set_new(o, "nodes", a);
  if (ag_lsub_present(nt->root)) json_object_set_new(o, "neurons", ag_lsub_status(nt->root));
  return o;
}

/* One line about a validator that has a restart, a retry or a stop to report; "" if none. */
static void node_note(const json_t *x, int i, char *out, size_t cap) {
  const char *state = json_string_value(json_object_get(x, "state"));
  json_t *last = json_object_get(x, "last_restart");
  int restarts = (int)json_integer_value(json_object_get(x, "restarts"));
  char ended[300] = "", t1[16], t2[16];
  out[0] = 0;
  if (json_is_object(last)) {
    clock_of((uint64_t)json_integer_value(json_object_get(last, "exited_at_ms")), t1);
    snprintf(ended, sizeof ended, "%s %s at %s", json_string_value(json_object_get(last, "process")),
             json_string_value(json_object_get(last, "reason")), t1);
  }
  if (!strcmp(state, "restarting")) {
    long long left = (long long)json_integer_value(json_object_get(x, "next_retry_at_ms")) - (long long)ag_now_ms();
    snprintf(out, cap, "restarting: %s; next try in %lld s", ended, left > 0 ? (left + 999) / 1000 : 0);
  } else if (!strcmp(state, "failed")) {
    snprintf(out, cap, "failed: %s; gave up after %d restarts (agora localnet start --validator %d)", ended, restarts, i);
  } else if (!strcmp(state, "stopped")) {
    snprintf(out, cap, "stopped by the operator (agora localnet start --validator %d brings it back)", i);
  } else if (restarts > 0 && json_is_object(last)) {
    uint64_t at = (uint64_t)json_integer_value(json_object_get(last, "restarted_at_ms"));
    clock_of(at, t2);
    if (at) snprintf(out, cap, "%d restart%s, the last at %s after: %s", restarts, restarts == 1 ? "" : "s", t2, ended);
    else snprintf(out, cap, "%d restart%s; the last end: %s", restarts, restarts == 1 ? "" : "s", ended);
  }
}

static void print_status(const net *nt, int clear, int live) {
  json_t *o = status_all(nt);
  if (clear) printf("\033[H\033[J");
  printf("agora localnet  chain %s  %d validators  (%s)\n", nt->chain_id, nt->n, nt->root);
  if (json_is_true(json_object_get(o, "supervised")))
    printf("supervised (pid %lld): a validator that ends is restarted after 1 s, doubling to 60 s\n\n",
           json_integer_value(json_object_get(o, "supervisor_pid")));
  else
    printf("not supervised: a validator that ends stays down (run 'agora localnet' to supervise)\n\n");
  printf("%-5s %-11s %-5s %-9s %-8s %-9s %-18s %s\n", "NODE", "STATE", "APP", "COMETBFT", "HEIGHT",
         "RESTARTS", "STATE ROOT", "API");
  json_t *a = json_object_get(o, "nodes");
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *x = json_array_get(a, i);
    const char *root = json_string_value(json_object_get(x, "state_root"));
    char shortroot[20];
    snprintf(shortroot, sizeof shortroot, "%.16s", root ? root : "-");
    printf("%-5zu %-11s %-5s %-9s %-8lld %-9lld %-18s http://127.0.0.1:%d\n", i,
           json_string_value(json_object_get(x, "state")),
           json_is_true(json_object_get(x, "app_running")) ? "up" : "down",
           json_is_true(json_object_get(x, "cometbft_running")) ? "up" : "down",
           json_integer_value(json_object_get(x, "height")), json_integer_value(json_object_get(x, "restarts")),
           shortroot, port(nt, (int)i, 9));
  }
  int notes = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    char note[600];
    node_note(json_array_get(a, i), (int)i, note, sizeof note);
    if (note[0]) printf("%snode %zu: %s\n", notes++ ? "" : "\n", i, note);
  }
  json_t *ns = json_object_get(o, "neurons");
  if (json_array_size(ns)) {
    printf("\nneurons (logs in %s/neurons):\n", nt->root);
    for (int netuid = 1; netuid <= 2; netuid++) {
      printf("  subnet %d:", netuid);
      for (size_t i = 0; i < json_array_size(ns); i++) {
        json_t *x = json_array_get(ns, i);
        if (json_integer_value(json_object_get(x, "netuid")) != netuid) continue;
        printf(" %s@node%lld %s", json_string_value(json_object_get(x, "name")),
               json_integer_value(json_object_get(x, "node")),
               json_is_true(json_object_get(x, "running")) ? "up" : "DOWN");
      }
      printf("\n");
    }
    char url[96];
    ag_http_result r;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/subnets/2/training", port(nt, 0, 9));
    if (ag_http_request("GET", url, NULL, NULL, 0, 2000, &r) == 0) {
      json_t *t = r.status == 200 ? json_loadb((const char *)r.body.data, r.body.len, 0, NULL) : NULL;
      if (t)
        printf("  training: round %lld, %lld finalized (node 0)\n", json_integer_value(json_object_get(t, "round")),
               json_integer_value(json_object_get(t, "finalized")));
      json_decref(t);
      ag_http_result_free(&r);
    }
  }
  if (live && nrecent) {
    printf("\nrecent events (all in %s/localnet.log):\n", nt->root);
    for (int k = 0; k < nrecent; k++) printf("  %s\n", recent[k]);
  }
  if (live)
    printf("\nCtrl-C stops the network. Send with: agora --home %s/node0 send --from dev0 ADDRESS 1\n", nt->root);
  fflush(stdout);
  json_decref(o);
}

/* ---- the supervisor and the operator's requests ----------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_int(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Runs the network until Ctrl-C, SIGTERM (localnet stop) or SIGHUP, restarting what ends. */
static int supervise_all(ag_cli *c, net *nt) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_int;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  int tty = isatty(STDOUT_FILENO) && !c->json;
  quiet_stderr = tty;
  uint64_t now = ag_mono_ms();
  for (int i = 0; i < nt->n; i++) {
    memset(&nt->sup[i], 0, sizeof nt->sup[i]);
    ag_backoff_init(&nt->sup[i].bo);
    ag_backoff_started(&nt->sup[i].bo, now);
    nt->sup[i].state = V_UP;
  }
  nt->supervisor_pid = (int)getpid();
  int rc = net_save(nt);
  if (rc) return rc;
  event(nt, 0, "supervising %d validators in %s", nt->n, nt->root);
  uint64_t last_view = 0;
  while (!interrupted) {
    int changed = 0;
    for (int i = 0; i < nt->n && !interrupted; i++) changed |= supervise(nt, i);
    if (changed) net_save(nt);
    now = ag_mono_ms();
    if (!c->json && now - last_view >= (tty ? 1000u : 10000u)) {
      print_status(nt, tty, tty);
      if (!tty) printf("\n");
      last_view = now;
    }
    ag_sleep_ms(TICK_MS);
  }
  ag_lsub_stop(nt->root);
  for (int i = 0; i < nt->n; i++) {
    stop_node(nt, i, 0);
    nt->sup[i].state = V_DOWN;
    nt->sup[i].next_retry_at_ms = 0;
  }
  nt->supervisor_pid = 0;
  event(nt, 0, "stopped every validator; the supervisor ends");
  return net_save(nt);
}

/* Hands `stop|start --validator I` to the running supervisor and waits until it has done it.
 * Returns 0 when done, 1 when the supervisor ended meanwhile (do it without one), or an error. */
static int ask_supervisor(net *nt, int i, int start, int app_only) {
  char req[1300];
  node_file(nt, i, "start-requested", req, sizeof req);
  int rc;
  if (start) {
    char stopped[1300];
    node_file(nt, i, "stopped", stopped, sizeof stopped);
    unlink(stopped);
    rc = ag_write_file_atomic(req, "1\n", 2, 0644);
  } else {
    rc = set_stop_wish(nt, i, app_only);
  }
  if (rc) return rc;
  uint64_t end = ag_mono_ms() + REQUEST_WAIT_MS;
  while (ag_mono_ms() < end) {
    ag_sleep_ms(TICK_MS);
    net cur;
    memset(&cur, 0, sizeof cur);
    snprintf(cur.root, sizeof cur.root, "%s", nt->root);
    if (net_load(&cur) == 0) {
      vstate st = cur.sup[i].state;
      int done = start ? !ag_file_exists(req) && st == V_UP : st == V_STOPPED;
      if (done) {
        snprintf(cur.agora, sizeof cur.agora, "%s", nt->agora);
        *nt = cur;
        return 0;
      }
    }
    if (!supervised(nt)) {
      unlink(req);
      return 1;
    }
  }
  if (start) unlink(req);
  return ag_fail(AG_E_TIMEOUT, "the supervisor did not %s validator %d within %d s (see %s/localnet.log)",
                 start ? "start" : "stop", i, REQUEST_WAIT_MS / 1000, nt->root);
}

/* Asks the supervisor to stop the whole network and waits until it has ended. */
static int stop_supervisor(const net *nt) {
  int pid = nt->supervisor_pid;
  char path[64], cmdline[512] = "";
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  FILE *f = pid > 0 ? fopen(path, "r") : NULL;
  if (f) {
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    for (size_t k = 0; k < n; k++)
      if (!cmdline[k]) cmdline[k] = ' ';
    cmdline[n] = 0;
  }
  if (!strstr(cmdline, "localnet"))
    return ag_fail(AG_E_NOTFOUND, "a supervisor holds %s/localnet.lock but localnet.json names no live one", nt->root);
  kill(pid, SIGTERM);
  for (int t = 0; t < REQUEST_WAIT_MS / TICK_MS; t++) {
    if (!supervised(nt)) return 0;
    ag_sleep_ms(TICK_MS);
  }
  return ag_fail(AG_E_TIMEOUT, "the supervisor (pid %d) did not stop within %d s", pid, REQUEST_WAIT_MS / 1000);
}

static int print_node(const ag_cli *c, const net *nt, int i, const char *done) {
  if (c->json) {
    ag_cli_print_json(node_status(nt, i, supervised(nt)));
  } else {
    printf("%s node %d\n", done, i);
  }
  return 0;
}

int ag_cmd_localnet(ag_cli *c, int argc, char **argv) {
  const char *nval_s = "4", *block_s = "500", *base_s = "26600", *node_s = NULL, *ndev_s = "4", *retain_s = "0", *bond_s = NULL,
             *mempool_s = "nop";
  const char *miners_s = "2", *svals_s = "3", *trainers_s = "2", *rb_s = "30", *tdim_s = "0", *tlayers_s = "0",
             *model_s = NULL;
  bool detach = false, force = false, app_only = false, subnets = false;
  ag_opt opts[] = {{"validators", 0, 1, &nval_s, NULL}, {"block-time", 0, 1, &block_s, NULL},
                   {"subnets", 0, 0, NULL, &subnets},   {"miners", 0, 1, &miners_s, NULL},
                   {"subnet-validators", 0, 1, &svals_s, NULL}, {"trainers", 0, 1, &trainers_s, NULL},
                   {"round-blocks", 0, 1, &rb_s, NULL}, {"train-dim", 0, 1, &tdim_s, NULL},
                   {"train-layers", 0, 1, &tlayers_s, NULL}, {"model", 0, 1, &model_s, NULL},
                   {"base-port", 0, 1, &base_s, NULL},  {"validator", 0, 1, &node_s, NULL},
                   {"dev-accounts", 0, 1, &ndev_s, NULL}, {"detach", 'd', 0, NULL, &detach},
                   {"retain-blocks", 0, 1, &retain_s, NULL}, {"bond", 0, 1, &bond_s, NULL},
                   {"mempool", 0, 1, &mempool_s, NULL},
                   {"force", 0, 0, NULL, &force},        {"app-only", 0, 0, NULL, &app_only},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, usage);
  const char *sub = npos ? pos[0] : "start";
  static net nt; /* about 20 KiB: keep it off the stack */
  memset(&nt, 0, sizeof nt);
  if (c->home_explicit) snprintf(nt.root, sizeof nt.root, "%s", c->home);
  else snprintf(nt.root, sizeof nt.root, "%s/.agora-localnet", getenv("HOME") ? getenv("HOME") : ".");
  char exe[1024];
  ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (el <= 0) return ag_cli_fail(c, AG_E_IO, "cannot find the agora binary");
  exe[el] = 0;
  snprintf(nt.agora, sizeof nt.agora, "%s", exe);
  int node = -1;
  uint64_t v;
  if (node_s) {
    if (ag_parse_u64(node_s, &v) || v >= MAX_VALIDATORS) return ag_cli_fail(c, AG_E_USAGE, "--validator must be 0..%d", MAX_VALIDATORS - 1);
    node = (int)v;
  }
  if (!strcmp(sub, "status")) {
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (c->json) ag_cli_print_json(status_all(&nt));
    else print_status(&nt, 0, 0);
    return 0;
  }
  if (!strcmp(sub, "stop")) {
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (node >= nt.n) return ag_cli_fail(c, AG_E_USAGE, "the network has %d validators", nt.n);
    if (node >= 0) {
      rc = supervised(&nt) ? ask_supervisor(&nt, node, 0, app_only) : 1;
      if (rc < 0) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      if (rc == 1) { /* nobody supervises: stop it here, and leave the wish for status */
        set_stop_wish(&nt, node, app_only);
        stop_node(&nt, node, app_only);
        net_save(&nt);
      }
      return print_node(c, &nt, node, "stopped");
    }
    if (supervised(&nt)) {
      if ((rc = stop_supervisor(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    }
    if (!app_only) ag_lsub_stop(nt.root); /* the neurons first: they would only retry */
    for (int i = 0; i < nt.n; i++) stop_node(&nt, i, app_only);
    net_save(&nt);
    if (c->json) ag_cli_print_json(status_all(&nt));
    else printf("stopped the localnet\n");
    return 0;
  }
  if (!strcmp(sub, "join") || !strcmp(sub, "add-validator")) {
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    snprintf(nt.agora, sizeof nt.agora, "%s", exe);
    if (supervised(&nt))
      return ag_cli_fail(c, AG_E_BUSY, "agora localnet (pid %d) supervises the network: join a network started with --detach",
                         nt.supervisor_pid);
    int lock = lock_net(&nt);
    if (lock < 0) return ag_cli_fail(c, AG_E_BUSY, "another agora localnet command holds %s/localnet.lock", nt.root);
    rc = join(c, &nt);
    close(lock);
    uint64_t bond_amount = 0;
    if (!rc && bond_s && (ag_amount_parse(bond_s, &bond_amount) || !bond_amount))
      rc = ag_fail(AG_E_USAGE, "--bond takes a positive number of AGR");
    if (!rc && !strcmp(sub, "add-validator")) rc = bond_s ? promote_bond(c, &nt, nt.n - 1, bond_amount) : promote(c, &nt, nt.n - 1);
    if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    return print_node(c, &nt, nt.n - 1, strcmp(sub, "join") ? "a validator, joining by state sync" : "joining by state sync");
  }
  if (strcmp(sub, "start"))
    return ag_cli_fail(c, AG_E_USAGE, "unknown localnet command '%s' (start, stop, status, join, add-validator)", sub);
  char path[1200];
  snprintf(path, sizeof path, "%s/localnet.json", nt.root);
  if (node >= 0) { /* start one validator of an existing network */
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (node >= nt.n) return ag_cli_fail(c, AG_E_USAGE, "the network has %d validators", nt.n);
    rc = supervised(&nt) ? ask_supervisor(&nt, node, 1, app_only) : 1;
    if (rc < 0) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (rc == 1) {
      clear_wishes(&nt, node);
      start_node(&nt, node, app_only);
      net_save(&nt);
    }
    return print_node(c, &nt, node, "started");
  }
  if (ag_file_exists(path) && supervised(&nt)) {
    net_load(&nt);
    return ag_cli_fail(c, AG_E_BUSY, "agora localnet (pid %d) already runs the network in %s: use 'agora localnet status', "
                       "'start --validator I' or 'stop'", nt.supervisor_pid, nt.root);
  }
  if (force && ag_file_exists(path)) {
    if (net_load(&nt) == 0)
      for (int i = 0; i < nt.n; i++) stop_node(&nt, i, 0);
    if (ag_rm_tree(nt.root)) return ag_cli_fail(c, AG_E_IO, "cannot clear %s", nt.root);
    memset(nt.app_pid, 0, sizeof nt.app_pid);
    memset(nt.cmt_pid, 0, sizeof nt.cmt_pid);
  }
  if ((rc = ag_mkdirs(nt.root, 0700))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  int lock = lock_net(&nt); /* held until this command ends: one supervisor per network */
  if (lock == -1) return ag_cli_fail(c, AG_E_BUSY, "another agora localnet is starting or runs the network in %s", nt.root);
  if (lock < 0) return ag_cli_fail(c, AG_E_IO, "cannot open %s/localnet.lock: %s", nt.root, strerror(errno));
  if (ag_file_exists(path)) {
    if ((rc = net_load(&nt))) goto fail;
    snprintf(nt.agora, sizeof nt.agora, "%s", exe);
  } else {
    uint64_t nv, bt, bp, nd, rt;
    rc = AG_E_USAGE;
    if (ag_parse_u64(nval_s, &nv) || nv < 1 || nv > MAX_VALIDATORS) {
      ag_fail(rc, "--validators must be 1..%d", MAX_VALIDATORS);
      goto fail;
    }
    if (ag_parse_u64(block_s, &bt) || bt < 10 || bt > 60000) {
      ag_fail(rc, "--block-time must be 10..60000 ms");
      goto fail;
    }
    if (ag_parse_u64(base_s, &bp) || bp < 1024 || bp > 60000) {
      ag_fail(rc, "--base-port must be 1024..60000");
      goto fail;
    }
    if (ag_parse_u64(ndev_s, &nd) || nd > 1000) {
      ag_fail(rc, "--dev-accounts must be 0..1000");
      goto fail;
    }
    if (ag_parse_u64(retain_s, &rt) || (rt && rt < 2 * SNAPSHOT_EVERY)) {
      ag_fail(rc, "--retain-blocks must be 0 (keep all) or at least %d (two snapshot intervals)", 2 * SNAPSHOT_EVERY);
      goto fail;
    }
    if (strcmp(mempool_s, "nop") && strcmp(mempool_s, "flood")) {
      ag_fail(rc, "--mempool must be nop (each node's own pool, the default) or flood (CometBFT's)");
      goto fail;
    }
    snprintf(nt.mempool, sizeof nt.mempool, "%s", mempool_s);
    nt.retain_blocks = rt;
    nt.n = nt.nval = (int)nv;
    nt.block_ms = (int)bt;
    nt.base = (int)bp;
    static ag_lsub_opts so;
    if (subnets) {
      uint64_t m, sv, tr, rb, td, tl;
      if (ag_parse_u64(miners_s, &m) || m > 32 || ag_parse_u64(svals_s, &sv) || sv < 1 || sv > 16 ||
          ag_parse_u64(trainers_s, &tr) || tr > 32 || ag_parse_u64(rb_s, &rb) || rb < 8 || rb > 100000 ||
          ag_parse_u64(tdim_s, &td) || (td && (td < 32 || td > 4096)) || ag_parse_u64(tlayers_s, &tl) || tl > 64) {
        ag_fail(rc, "--miners 0..32, --subnet-validators 1..16, --trainers 0..32, --round-blocks 8..100000, "
                    "--train-dim 32..4096, --train-layers 1..64");
        goto fail;
      }
      so = (ag_lsub_opts){(int)m, (int)sv, (int)tr, (int)rb, (int)td, (int)tl, ""};
      if (model_s) snprintf(so.model, sizeof so.model, "%s", model_s);
      else ag_cli_default_model(c, so.model, sizeof so.model);
    }
    if ((rc = find_cometbft(nt.cometbft, sizeof nt.cometbft)) ||
        (rc = create(c, &nt, (int)nd, (int)bt, subnets ? &so : NULL)))
      goto fail;
  }
  for (int i = 0; i < nt.n; i++) {
    clear_wishes(&nt, i); /* starting the network starts every validator */
    memset(&nt.sup[i], 0, sizeof nt.sup[i]);
    start_node(&nt, i, 0);
  }
  nt.supervisor_pid = 0;
  if ((rc = net_save(&nt))) goto fail;
  if (ag_lsub_present(nt.root) &&
      (rc = ag_lsub_start(nt.root, nt.agora, port(&nt, 0, 9), 10, nt.nval, c->json)))
    goto fail;
  if (detach) {
    close(lock);
    if (c->json) ag_cli_print_json(status_all(&nt));
    else printf("localnet started in %s, not supervised (agora localnet status | stop)\n", nt.root);
    return 0;
  }
  rc = supervise_all(c, &nt);
  close(lock);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) ag_cli_print_json(status_all(&nt));
  else printf("\nlocalnet stopped; data kept in %s\n", nt.root);
  return 0;
fail:
  close(lock);
  return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
}
