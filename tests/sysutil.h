/* sysutil.h — helpers for system tests: run the real agora binary as child processes on
 * loopback, wait for them, kill them. Every child is killed when the test exits. */
#ifndef AG_SYSUTIL_H
#define AG_SYSUTIL_H

#include "api/http.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYS_MAX_CHILDREN 64
static pid_t sys_children[SYS_MAX_CHILDREN];

static void sys_kill_all(void) {
  for (int i = 0; i < SYS_MAX_CHILDREN; i++)
    if (sys_children[i] > 0) {
      kill(sys_children[i], SIGKILL);
      waitpid(sys_children[i], NULL, 0);
      sys_children[i] = 0;
    }
}

static void sys_track(pid_t p) {
  static int registered;
  if (!registered) {
    atexit(sys_kill_all);
    registered = 1;
  }
  for (int i = 0; i < SYS_MAX_CHILDREN; i++)
    if (sys_children[i] <= 0) {
      sys_children[i] = p;
      return;
    }
}

static void sys_untrack(pid_t p) {
  for (int i = 0; i < SYS_MAX_CHILDREN; i++)
    if (sys_children[i] == p) sys_children[i] = 0;
}

/* Starts AGORA_BIN with the given args (NULL-terminated), output appended to log. */
__attribute__((unused)) static pid_t sys_spawn(const char *log, const char *const *args) {
  pid_t p = fork();
  if (p == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const char *argv[64];
    int n = 0;
    argv[n++] = AGORA_BIN;
    for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    execv(AGORA_BIN, (char *const *)argv);
    _exit(127);
  }
  if (p > 0) sys_track(p);
  return p;
}

/* Runs AGORA_BIN to completion; captures stdout into out (may be NULL); returns exit status. */
__attribute__((unused)) static int sys_run(ag_buf *out, const char *const *args) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  pid_t p = fork();
  if (p == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    const char *argv[64];
    int n = 0;
    argv[n++] = AGORA_BIN;
    for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    execv(AGORA_BIN, (char *const *)argv);
    _exit(127);
  }
  close(pipefd[1]);
  char buf[4096];
  ssize_t r;
  while ((r = read(pipefd[0], buf, sizeof buf)) > 0)
    if (out) ag_buf_put(out, buf, (size_t)r);
  close(pipefd[0]);
  int st = 0;
  waitpid(p, &st, 0);
  if (out) ag_buf_cstr(out);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Sends sig and waits up to timeout_ms; SIGKILL after that. Returns the exit status. */
__attribute__((unused)) static int sys_stop(pid_t p, int sig, int timeout_ms) {
  kill(p, sig);
  int st = 0;
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    pid_t w = waitpid(p, &st, WNOHANG);
    if (w == p) {
      sys_untrack(p);
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    ag_sleep_ms(20);
  }
  kill(p, SIGKILL);
  waitpid(p, &st, 0);
  sys_untrack(p);
  return -1;
}

/* Waits until path exists and is non-empty; returns its content (malloc'd) or NULL. */
__attribute__((unused)) static char *sys_wait_file(const char *path, int timeout_ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)timeout_ms;
  while (ag_mono_ms() < end) {
    uint8_t *data;
    size_t len;
    if (ag_read_file(path, 1 << 20, &data, &len) == 0) {
      if (len > 0) return (char *)data;
      free(data);
    }
    ag_sleep_ms(50);
  }
  return NULL;
}

/* GET url + path as JSON (NULL on failure); *status gets the HTTP status. */
__attribute__((unused)) static json_t *sys_get_json(const char *base, const char *path, long *status) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", base, path);
  ag_http_result r;
  if (ag_http_request("GET", url, NULL, NULL, 0, 10000, &r)) return NULL;
  if (status) *status = r.status;
  json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
  ag_http_result_free(&r);
  return j;
}

/* `agora --home HOME devnet ARGS… --json` as a child that dies with the test: stdout (the
 * final JSON) to out_path, stderr to HOME.log; waits up to 90 s until devnet.json says ready
 * and returns it (NULL when it never did). */
__attribute__((unused)) static json_t *sys_devnet_start(const char *home, const char *out_path,
                                                        const char *const *args, pid_t *pid) {
  char cmd[1200], log[700], path[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) return NULL;
  snprintf(log, sizeof log, "%s.log", home);
  unlink(log);
  const char *argv[48];
  int k = 0;
  argv[k++] = AGORA_BIN;
  argv[k++] = "--home";
  argv[k++] = home;
  argv[k++] = "devnet";
  for (int i = 0; args[i] && k < 46; i++) argv[k++] = args[i];
  argv[k++] = "--json";
  argv[k] = NULL;
  *pid = fork();
  if (*pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test, even if it crashes */
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), lfd = open(log, O_WRONLY | O_CREAT, 0644);
    dup2(fd, 1);
    dup2(lfd, 2);
    execv(AGORA_BIN, (char *const *)argv);
    _exit(127);
  }
  sys_track(*pid);
  snprintf(path, sizeof path, "%s/devnet.json", home);
  json_t *m = NULL;
  for (int t = 0; t < 900 && !json_is_true(json_object_get(m, "ready")); t++) {
    json_decref(m);
    m = json_load_file(path, 0, NULL);
    if (!json_is_true(json_object_get(m, "ready"))) ag_sleep_ms(100);
  }
  if (!json_is_true(json_object_get(m, "ready"))) {
    json_decref(m);
    return NULL;
  }
  return m;
}

/* The pid devnet.json in home records for name ("node", "miner0", …), as it is now. */
__attribute__((unused)) static pid_t sys_devnet_pid(const char *home, const char *name) {
  char path[700];
  snprintf(path, sizeof path, "%s/devnet.json", home);
  json_t *m = json_load_file(path, 0, NULL);
  pid_t p = 0;
  if (!strcmp(name, "node")) p = (pid_t)json_integer_value(json_object_get(m, "node_pid"));
  json_t *ns = json_object_get(m, "neurons");
  for (size_t i = 0; i < json_array_size(ns); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ns, i), "name")), name))
      p = (pid_t)json_integer_value(json_object_get(json_array_get(ns, i), "pid"));
  json_decref(m);
  return p;
}

/* ---- nodes of a multi-node network, by API base URL --------------------------------------- */

/* The node's committed height, -1 when it does not answer. */
/* A counter from the node's /metrics ("name{labels}" exactly as printed); -1 when unreadable. */
__attribute__((unused)) static long long sys_metric(const char *api, const char *series) {
  char url[128];
  snprintf(url, sizeof url, "%s/metrics", api);
  ag_http_result r;
  if (ag_http_request("GET", url, NULL, NULL, 0, 10000, &r)) return -1;
  long long v = -1;
  ag_buf_cstr(&r.body);
  size_t sl = strlen(series);
  for (const char *p = (const char *)r.body.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (!strncmp(p, series, sl) && p[sl] == ' ') v = atoll(p + sl + 1);
  ag_http_result_free(&r);
  return v;
}

__attribute__((unused)) static long long sys_height(const char *api) {
  long st = 0;
  json_t *j = sys_get_json(api, "/v1/status", &st);
  long long h = j && st == 200 ? json_integer_value(json_object_get(j, "height")) : -1;
  json_decref(j);
  return h;
}

/* Every node apis[which[k]] has block h with one state root; says which differs when not. */
__attribute__((unused)) static int sys_agree_at(char (*apis)[64], long long h, const int *which, int n) {
  char first[65] = "", path[64];
  snprintf(path, sizeof path, "/v1/blocks/%lld?txs=false", h);
  for (int k = 0; k < n; k++) {
    long st = 0;
    json_t *j = sys_get_json(apis[which[k]], path, &st);
    const char *r = j && st == 200 ? json_string_value(json_object_get(j, "state_root")) : NULL;
    int ok = r != NULL && (!first[0] || !strcmp(first, r));
    if (!ok) fprintf(stderr, "  node %d: root %s at %lld, node %d's %s\n", which[k], r ? r : "(none)", h, which[0], first);
    if (r && !first[0]) snprintf(first, sizeof first, "%s", r);
    json_decref(j);
    if (!ok) return 0;
  }
  return 1;
}

#endif
