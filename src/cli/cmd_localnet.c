/*
 * cmd_localnet.c — `agora localnet`: a multi-validator network on 127.0.0.1 made of real
 * CometBFT processes (v0.38, built by scripts/cometbft) and real `agora node --consensus
 * cometbft` applications, one pair per validator (docs/multi-validator.md).
 *
 *   ROOT/localnet.json              the network: chain id, ports, node ids, process ids
 *   ROOT/keys/                      funded dev keys (also copied into each node's home)
 *   ROOT/nodeI/                     the agora home of validator I (config.json, data/, logs)
 *   ROOT/nodeI/cometbft/            its CometBFT home (config.toml, genesis.json, keys, data)
 *
 * Ports of validator I: BASE+10*I + 6 (p2p), 7 (CometBFT RPC), 8 (ABCI), 9 (agora API).
 */
#define _GNU_SOURCE
#include "chain/genesis.h"
#include "chain/json.h"
#include "cli/cli.h"
#include "core/err.h"
#include "core/proc.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "api/http.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_VALIDATORS 16

static const char usage[] =
    "usage: agora localnet [start] [--validators N] [--home DIR] [--block-time MS] [--base-port P]\n"
    "                      [--dev-accounts N] [--detach] [--force]\n"
    "       agora localnet stop [--validator I] [--app-only] [--home DIR]\n"
    "       agora localnet start --validator I [--home DIR]\n"
    "       agora localnet status [--home DIR] [--json]\n\n"
    "Runs an N-validator network (default 4) on 127.0.0.1: N CometBFT v0.38 processes in\n"
    "consensus and N agora applications behind them over ABCI. The first start creates it\n"
    "(genesis with funded dev keys, distinct ports, persistent peers) under the home folder\n"
    "(default ~/.agora-localnet); later starts reuse it. Without --detach it shows one status\n"
    "view until Ctrl-C, then stops every process. Use any node with the usual commands:\n"
    "  agora --home ROOT/node0 send --from dev0 ADDRESS 5\n"
    "  --validator I        stop or start one validator (both processes, or --app-only)\n"
    "  --block-time MS CometBFT's timeout_commit (default 500)\n"
    "  --base-port P   first port (default 26600; validator I uses P+10I+6 .. P+10I+9)\n"
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

typedef struct {
  int n;
  char root[1024];
  char chain_id[64];
  int base;
  char cometbft[1024];
  char agora[1024];
  int app_pid[MAX_VALIDATORS], cmt_pid[MAX_VALIDATORS];
  char node_id[MAX_VALIDATORS][64];
} net;

static int port(const net *nt, int i, int k) { return nt->base + 10 * i + k; }

static int net_save(const net *nt) {
  json_t *o = json_object(), *nodes = json_array();
  json_object_set_new(o, "chain_id", json_string(nt->chain_id));
  json_object_set_new(o, "validators", json_integer(nt->n));
  json_object_set_new(o, "base_port", json_integer(nt->base));
  json_object_set_new(o, "cometbft", json_string(nt->cometbft));
  json_object_set_new(o, "agora", json_string(nt->agora));
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
  snprintf(nt->chain_id, sizeof nt->chain_id, "%s", json_string_value(json_object_get(o, "chain_id")));
  nt->n = (int)json_integer_value(json_object_get(o, "validators"));
  nt->base = (int)json_integer_value(json_object_get(o, "base_port"));
  snprintf(nt->cometbft, sizeof nt->cometbft, "%s", json_string_value(json_object_get(o, "cometbft")));
  json_t *nodes = json_object_get(o, "nodes");
  if (nt->n < 1 || nt->n > MAX_VALIDATORS) {
    json_decref(o);
    return ag_fail(AG_E_CORRUPT, "%s: bad validator count", path);
  }
  for (int i = 0; i < nt->n; i++) {
    json_t *x = json_array_get(nodes, (size_t)i);
    snprintf(nt->node_id[i], sizeof nt->node_id[i], "%s", json_string_value(json_object_get(x, "node_id")));
    nt->app_pid[i] = (int)json_integer_value(json_object_get(x, "app_pid"));
    nt->cmt_pid[i] = (int)json_integer_value(json_object_get(x, "cometbft_pid"));
  }
  json_decref(o);
  return 0;
}

/* A process that exists and is not a zombie. */
static int alive(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return 0;
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *rp = strrchr(buf, ')'); /* "pid (comm) S ..." */
  return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

/* ---- creation ----------------------------------------------------------------------------------- */

static int create(ag_cli *c, net *nt, int ndev, int block_ms) {
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
    char home[1300], path[1400], v[4200];
    snprintf(home, sizeof home, "%s/node%d", nt->root, i);
    snprintf(path, sizeof path, "%s/cometbft/config/config.toml", home);
    snprintf(v, sizeof v, "\"tcp://127.0.0.1:%d\"", port(nt, i, 8));
    if ((rc = toml_set(path, "", "proxy_app", v))) break;
    snprintf(v, sizeof v, "\"node%d\"", i);
    toml_set(path, "", "moniker", v);
    toml_set(path, "", "log_level", "\"error\"");
    snprintf(v, sizeof v, "\"tcp://127.0.0.1:%d\"", port(nt, i, 7));
    if ((rc = toml_set(path, "rpc", "laddr", v))) break;
    snprintf(v, sizeof v, "\"tcp://127.0.0.1:%d\"", port(nt, i, 6));
    if ((rc = toml_set(path, "p2p", "laddr", v))) break;
    snprintf(v, sizeof v, "\"%s\"", peers);
    if ((rc = toml_set(path, "p2p", "persistent_peers", v))) break;
    snprintf(v, sizeof v, "\"%dms\"", block_ms);
    if ((rc = toml_set(path, "consensus", "timeout_commit", v))) break;
    toml_set(path, "consensus", "timeout_propose", "\"2s\"");
    toml_set(path, "mempool", "size", "50000");
    toml_set(path, "tx_index", "indexer", "\"null\""); /* agora keeps its own tx index */
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
    snprintf(path, sizeof path, "%s/config.json", home);
    snprintf(v, sizeof v,
             "{\n  \"consensus\": \"cometbft\",\n  \"abci_listen\": \"tcp://127.0.0.1:%d\",\n"
             "  \"cometbft_rpc\": \"http://127.0.0.1:%d\",\n  \"api_listen\": \"127.0.0.1:%d\"\n}\n",
             port(nt, i, 8), port(nt, i, 7), port(nt, i, 9));
    if ((rc = ag_write_file_atomic(path, v, strlen(v), 0644))) break;
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp -r '%s/keys' '%s/keys'", nt->root, home);
    if (system(cmd) != 0) rc = ag_fail(AG_E_IO, "cannot copy the dev keys");
  }
  json_decref(app_state);
  free(gtext);
  char cmd[1300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) { /* a leftover temp folder is harmless */
  }
  if (!rc && !c->json)
    fprintf(stderr, "created a %d-validator network in %s (chain %s)\n", nt->n, nt->root, nt->chain_id);
  return rc;
}

/* ---- processes -------------------------------------------------------------------------------- */

static void start_node(net *nt, int i, int app_only) {
  char home[1300], cmt[1300], alog[1400], clog[1400];
  snprintf(home, sizeof home, "%s/node%d", nt->root, i);
  snprintf(cmt, sizeof cmt, "%s/cometbft", home);
  snprintf(alog, sizeof alog, "%s/agora.log", home);
  snprintf(clog, sizeof clog, "%s/cometbft.log", home);
  if (!alive(nt->app_pid[i])) {
    char *av[] = {nt->agora, "--home", home, "node", NULL};
    nt->app_pid[i] = spawn(av, alog);
  }
  if (!app_only && !alive(nt->cmt_pid[i])) {
    ag_sleep_ms(200); /* CometBFT retries until the app listens; a head start saves a retry */
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

/* ---- status ----------------------------------------------------------------------------------- */

static json_t *node_status(const net *nt, int i) {
  json_t *x = json_object();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/status", port(nt, i, 9));
  json_object_set_new(x, "index", json_integer(i));
  json_object_set_new(x, "app_running", json_boolean(alive(nt->app_pid[i])));
  json_object_set_new(x, "cometbft_running", json_boolean(alive(nt->cmt_pid[i])));
  ag_http_result r;
  if (ag_http_request("GET", url, NULL, NULL, 0, 1500, &r) == 0) {
    json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    json_object_set(x, "height", json_object_get(j, "height") ? json_object_get(j, "height") : json_integer(0));
    json_object_set(x, "state_root", json_object_get(j, "state_root") ? json_object_get(j, "state_root") : json_null());
    json_decref(j);
    ag_http_result_free(&r);
  }
  return x;
}

static json_t *status_all(const net *nt) {
  json_t *o = json_object(), *a = json_array();
  json_object_set_new(o, "chain_id", json_string(nt->chain_id));
  json_object_set_new(o, "root", json_string(nt->root));
  for (int i = 0; i < nt->n; i++) json_array_append_new(a, node_status(nt, i));
  json_object_set_new(o, "nodes", a);
  return o;
}

static void print_status(const net *nt, int clear) {
  json_t *o = status_all(nt);
  if (clear) printf("\033[H\033[J");
  printf("agora localnet  chain %s  %d validators  (%s)\n\n", nt->chain_id, nt->n, nt->root);
  printf("%-5s %-8s %-9s %-8s %-66s %s\n", "NODE", "APP", "COMETBFT", "HEIGHT", "STATE ROOT", "API");
  json_t *a = json_object_get(o, "nodes");
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *x = json_array_get(a, i);
    const char *root = json_string_value(json_object_get(x, "state_root"));
    printf("%-5zu %-8s %-9s %-8lld %-66s http://127.0.0.1:%d\n", i,
           json_is_true(json_object_get(x, "app_running")) ? "up" : "down",
           json_is_true(json_object_get(x, "cometbft_running")) ? "up" : "down",
           json_integer_value(json_object_get(x, "height")), root ? root : "-", port(nt, (int)i, 9));
  }
  printf("\nCtrl-C stops the network. Send with: agora --home %s/node0 send --from dev0 ADDRESS 1\n", nt->root);
  fflush(stdout);
  json_decref(o);
}

static volatile sig_atomic_t interrupted;
static void on_int(int sig) { interrupted = 1; }

int ag_cmd_localnet(ag_cli *c, int argc, char **argv) {
  const char *nval_s = "4", *block_s = "500", *base_s = "26600", *node_s = NULL, *ndev_s = "4";
  bool detach = false, force = false, app_only = false;
  ag_opt opts[] = {{"validators", 0, 1, &nval_s, NULL}, {"block-time", 0, 1, &block_s, NULL},
                   {"base-port", 0, 1, &base_s, NULL},  {"validator", 0, 1, &node_s, NULL},
                   {"dev-accounts", 0, 1, &ndev_s, NULL}, {"detach", 'd', 0, NULL, &detach},
                   {"force", 0, 0, NULL, &force},        {"app-only", 0, 0, NULL, &app_only},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, usage);
  const char *sub = npos ? pos[0] : "start";
  net nt;
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
    else print_status(&nt, 0);
    return 0;
  }
  if (!strcmp(sub, "stop")) {
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    for (int i = 0; i < nt.n; i++)
      if (node < 0 || node == i) stop_node(&nt, i, app_only);
    net_save(&nt);
    if (!c->json) printf("stopped %s\n", node < 0 ? "the localnet" : "the node");
    return 0;
  }
  if (strcmp(sub, "start")) return ag_cli_fail(c, AG_E_USAGE, "unknown localnet command '%s' (start, stop, status)", sub);
  char path[1200];
  snprintf(path, sizeof path, "%s/localnet.json", nt.root);
  if (node >= 0) { /* restart one validator of an existing network */
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if (node >= nt.n) return ag_cli_fail(c, AG_E_USAGE, "the network has %d validators", nt.n);
    snprintf(nt.agora, sizeof nt.agora, "%s", exe);
    start_node(&nt, node, app_only);
    net_save(&nt);
    if (!c->json) printf("started node %d\n", node);
    return 0;
  }
  if (force && ag_file_exists(path)) {
    if (net_load(&nt) == 0)
      for (int i = 0; i < nt.n; i++) stop_node(&nt, i, 0);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", nt.root);
    if (strchr(nt.root, '\'') || system(cmd) != 0) return ag_cli_fail(c, AG_E_IO, "cannot clear %s", nt.root);
    memset(nt.app_pid, 0, sizeof nt.app_pid);
    memset(nt.cmt_pid, 0, sizeof nt.cmt_pid);
  }
  if (ag_file_exists(path)) {
    if ((rc = net_load(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    snprintf(nt.agora, sizeof nt.agora, "%s", exe);
  } else {
    uint64_t nv, bt, bp, nd;
    if (ag_parse_u64(nval_s, &nv) || nv < 1 || nv > MAX_VALIDATORS)
      return ag_cli_fail(c, AG_E_USAGE, "--validators must be 1..%d", MAX_VALIDATORS);
    if (ag_parse_u64(block_s, &bt) || bt < 10 || bt > 60000) return ag_cli_fail(c, AG_E_USAGE, "--block-time must be 10..60000 ms");
    if (ag_parse_u64(base_s, &bp) || bp < 1024 || bp > 60000) return ag_cli_fail(c, AG_E_USAGE, "--base-port must be 1024..60000");
    if (ag_parse_u64(ndev_s, &nd) || nd > 1000) return ag_cli_fail(c, AG_E_USAGE, "--dev-accounts must be 0..1000");
    nt.n = (int)nv;
    nt.base = (int)bp;
    if ((rc = find_cometbft(nt.cometbft, sizeof nt.cometbft))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    if ((rc = ag_mkdirs(nt.root, 0700)) || (rc = create(c, &nt, (int)nd, (int)bt)))
      return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  for (int i = 0; i < nt.n; i++) start_node(&nt, i, 0);
  if ((rc = net_save(&nt))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (detach) {
    if (c->json) ag_cli_print_json(status_all(&nt));
    else printf("localnet started in %s (agora localnet status | stop)\n", nt.root);
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_int;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  int tty = isatty(STDOUT_FILENO);
  while (!interrupted) {
    if (!c->json) print_status(&nt, tty);
    for (int t = 0; t < 10 && !interrupted; t++) ag_sleep_ms(100);
  }
  for (int i = 0; i < nt.n; i++) stop_node(&nt, i, 0);
  net_save(&nt);
  if (!c->json) printf("\nlocalnet stopped; data kept in %s\n", nt.root);
  return 0;
}
