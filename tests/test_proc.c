/* test_proc.c — passphrases never reach a child's environment (core/proc.h) and reach the
 * agora command through --passphrase-fd: children spawned as devnet and localnet spawn them
 * have no AGORA_PASSPHRASE in /proc/PID/environ, a secret handed over a pipe arrives and ends,
 * and the agora binary reads --passphrase-fd, closes it, and wipes AGORA_PASSPHRASE from its
 * own environment. (A whole devnet started with AGORA_PASSPHRASE set: test_sys_subnet
 * devnet_starts.) */
#define _GNU_SOURCE /* memmem */
#include "core/err.h"
#include "core/proc.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"
#include "test.h"
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECRET "pp-in-env-7f3a9c"

/* Waits up to ms for pid to end; its exit status, or -1 (then it is killed). */
static int wait_exit(pid_t pid, int ms) {
  uint64_t end = ag_mono_ms() + (uint64_t)ms;
  int st;
  while (ag_mono_ms() < end) {
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    ag_sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

/* /proc/PID/environ (NUL-separated), or an empty buffer. */
static size_t read_environ(pid_t pid, char *out, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  size_t n = 0;
  ssize_t r;
  while (n < cap && (r = read(fd, out + n, cap - n)) > 0) n += (size_t)r;
  close(fd);
  return n;
}

static int has(const char *buf, size_t n, const char *needle) {
  return memmem(buf, n, needle, strlen(needle)) != NULL;
}

/* Waits until pid has exec'd a program other than this test. */
static void wait_exec(pid_t pid) {
  char self[512] = "", exe[512] = "", path[64];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k > 0) self[k] = 0;
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  for (int i = 0; i < 250; i++) {
    k = readlink(path, exe, sizeof exe - 1);
    if (k > 0) {
      exe[k] = 0;
      if (strcmp(exe, self)) return;
    }
    ag_sleep_ms(20);
  }
}

TEST(children_inherit_no_passphrase) {
  setenv("AGORA_PASSPHRASE", SECRET, 1);
  setenv("AGORA_TEST_MARK", "present", 1);
  char **env = ag_env_without_secrets();
  int seen = 0, mark = 0;
  for (int i = 0; env[i]; i++) {
    seen += !strncmp(env[i], "AGORA_PASSPHRASE=", 17);
    mark += !strcmp(env[i], "AGORA_TEST_MARK=present");
  }
  free(env);
  CHECK_EQ(seen, 0);
  CHECK_EQ(mark, 1);
  /* what the child is given to exec with */
  char *dir = test_tmpdir("proc");
  char log[600];
  snprintf(log, sizeof log, "%s/env.txt", dir);
  char *argv_env[] = {"/usr/bin/env", NULL};
  ag_spawn_opts o = {.log = log, .stdin_null = true, .new_session = true, .die_with_parent = true};
  pid_t pid;
  CHECK_OK(ag_spawn(argv_env, &o, &pid));
  CHECK_EQ(wait_exit(pid, 10000), 0);
  uint8_t *data = NULL;
  size_t len = 0;
  CHECK_OK(ag_read_file(log, 1 << 20, &data, &len));
  CHECK(data && has((char *)data, len, "AGORA_TEST_MARK=present"));
  CHECK(data && !has((char *)data, len, "AGORA_PASSPHRASE"));
  CHECK(data && !has((char *)data, len, SECRET));
  free(data);
  /* and what the kernel shows of a running child, as for the node and neurons of a devnet */
  char *argv_sleep[] = {"/bin/sleep", "30", NULL};
  CHECK_OK(ag_spawn(argv_sleep, &o, &pid));
  wait_exec(pid);
  char buf[1 << 16];
  size_t n = read_environ(pid, buf, sizeof buf);
  CHECK(n > 0);
  CHECK(has(buf, n, "AGORA_TEST_MARK=present"));
  CHECK(!has(buf, n, "AGORA_PASSPHRASE"));
  CHECK(!has(buf, n, SECRET));
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  unsetenv("AGORA_PASSPHRASE");
  unsetenv("AGORA_TEST_MARK");
  test_rmdir(dir);
}

TEST(a_secret_goes_through_a_pipe_and_ends) {
  char *dir = test_tmpdir("proc");
  char log[600];
  snprintf(log, sizeof log, "%s/out.txt", dir);
  /* cat ends only when fd 5 reaches end of file: no write end may stay open in the child */
  char *argv[] = {"/bin/sh", "-c", "cat <&5; echo done", NULL};
  ag_spawn_opts o = {.log = log, .stdin_null = true, .secret = "a secret line", .secret_fd = 5};
  pid_t pid;
  CHECK_OK(ag_spawn(argv, &o, &pid));
  CHECK_EQ(wait_exit(pid, 10000), 0);
  uint8_t *data = NULL;
  size_t len = 0;
  CHECK_OK(ag_read_file(log, 1 << 16, &data, &len));
  CHECK(data && len == 19 && !memcmp(data, "a secret line\ndone\n", 19));
  free(data);
  /* the reader's side: one line, the fd closed after */
  int p[2];
  CHECK_OK(pipe(p));
  CHECK_EQ(write(p[1], "line one\r\nline two\n", 19), 19);
  close(p[1]);
  char *got = NULL;
  CHECK_OK(ag_read_secret_fd(p[0], 4096, &got));
  CHECK_STR(got, "line one");
  sodium_free(got);
  CHECK(fcntl(p[0], F_GETFD) < 0);
  CHECK_EQ(ag_read_secret_fd(p[0], 4096, &got), AG_E_INVALID); /* closed */
  CHECK(got == NULL);
  CHECK_OK(pipe(p));
  close(p[1]);
  CHECK_EQ(ag_read_secret_fd(p[0], 4096, &got), AG_E_NOTFOUND); /* nothing came */
  CHECK_OK(pipe(p));
  CHECK_EQ(write(p[1], "0123456789", 10), 10);
  close(p[1]);
  CHECK_EQ(ag_read_secret_fd(p[0], 8, &got), AG_E_TOO_LARGE);
  /* bad options */
  o.secret_fd = 1;
  CHECK_EQ(ag_spawn(argv, &o, &pid), AG_E_INVALID);
  test_rmdir(dir);
}

/* Runs AGORA_BIN with args; secret (or NULL) on fd 3; output (stdout and stderr) to out. */
static int agora(const char *out, const char *secret, const char *const *args) {
  char *argv[32];
  int k = 0;
  argv[k++] = AGORA_BIN;
  for (int i = 0; args[i] && k < 31; i++) argv[k++] = (char *)args[i];
  argv[k] = NULL;
  ag_spawn_opts o = {.log = out, .stdin_null = true, .secret = secret, .secret_fd = 3};
  pid_t pid;
  if (ag_spawn(argv, &o, &pid)) return -1;
  return wait_exit(pid, 60000);
}

static json_t *read_json(const char *path) {
  uint8_t *data;
  size_t len;
  if (ag_read_file(path, 1 << 20, &data, &len)) return NULL;
  char *brace = memchr(data, '{', len);
  json_t *j = brace ? json_loadb(brace, len - (size_t)(brace - (char *)data), 0, NULL) : NULL;
  free(data);
  return j;
}

TEST(agora_reads_passphrase_fd) {
  char *dir = test_tmpdir("proc");
  char out[600], keys[600];
  snprintf(out, sizeof out, "%s/out.txt", dir);
  snprintf(keys, sizeof keys, "%s/keys", dir);
  /* a key made with the passphrase from fd 3 opens with it */
  const char *mk[] = {"--home", dir, "--passphrase-fd", "3", "--json", "wallet", "new", "alice", NULL};
  CHECK_EQ(agora(out, "fd passphrase 1", mk), 0);
  ag_keypair k;
  ag_keyinfo info;
  CHECK_OK(ag_keystore_load(keys, "alice", "fd passphrase 1", &k, &info));
  /* and the backup printed with it is that key */
  unlink(out);
  const char *ex[] = {"--home", dir, "--json", "wallet", "export", "alice", "--passphrase-fd=3", NULL};
  CHECK_EQ(agora(out, "fd passphrase 1", ex), 0);
  json_t *j = read_json(out);
  ag_keypair r;
  const char *b = json_string_value(json_object_get(j, "backup"));
  CHECK(b && ag_key_backup_decode(b, &r) == 0 && !memcmp(r.sk, k.sk, 64));
  json_decref(j);
  /* a wrong one is a wrong passphrase (exit 6) */
  unlink(out);
  CHECK_EQ(agora(out, "not the passphrase", ex), 6);
  j = read_json(out);
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "bad_passphrase");
  json_decref(j);
  /* fds that cannot be read */
  const char *closed[] = {"--home", dir, "--passphrase-fd", "9", "wallet", "export", "alice", NULL};
  unlink(out);
  CHECK_EQ(agora(out, NULL, closed), 6);
  uint8_t *data;
  size_t len;
  CHECK_OK(ag_read_file(out, 1 << 16, &data, &len));
  CHECK(strstr((char *)data, "file descriptor 9 is not open") != NULL);
  free(data);
  const char *stdout_fd[] = {"--home", dir, "--passphrase-fd", "1", "wallet", "list", NULL};
  CHECK_EQ(agora(out, NULL, stdout_fd), 2);
  const char *word[] = {"--home", dir, "--passphrase-fd", "three", "wallet", "list", NULL};
  CHECK_EQ(agora(out, NULL, word), 2);
  ag_key_wipe(&k);
  ag_key_wipe(&r);
  test_rmdir(dir);
}

/* The agora process itself: AGORA_PASSPHRASE is wiped from what /proc shows of it. A miner
 * pointed at no node waits for one (15 s) after it took the passphrase for its encrypted key. */
TEST(agora_wipes_the_passphrase_from_its_environment) {
  char *dir = test_tmpdir("proc");
  char out[600];
  snprintf(out, sizeof out, "%s/out.txt", dir);
  const char *mk[] = {"--home", dir, "--passphrase-fd", "3", "wallet", "new", "hot", NULL};
  CHECK_EQ(agora(out, SECRET, mk), 0);
  /* started the way a user's shell starts it: AGORA_PASSPHRASE in its environment */
  setenv("AGORA_PASSPHRASE", SECRET, 1);
  char *argv[] = {AGORA_BIN, "--home", dir, "--node", "http://127.0.0.1:9", "miner", "--subnet", "1",
                  "--hotkey", "hot", NULL};
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    execv(AGORA_BIN, argv);
    _exit(127);
  }
  unsetenv("AGORA_PASSPHRASE");
  CHECK(pid > 0);
  if (pid <= 0) return;
  wait_exec(pid);
  char buf[1 << 16];
  size_t n = 0;
  int wiped = 0;
  for (int i = 0; i < 250 && !wiped; i++) { /* until main() has taken it */
    n = read_environ(pid, buf, sizeof buf);
    wiped = n > 0 && !has(buf, n, SECRET);
    if (!wiped) ag_sleep_ms(20);
  }
  CHECK(wiped);
  CHECK(has(buf, n, "AGORA_PASSPHRASE=")); /* the block we read is the one it was given */
  /* still running: it took the passphrase for its key and now waits for the node */
  ag_sleep_ms(300);
  CHECK_EQ(kill(pid, 0), 0);
  n = read_environ(pid, buf, sizeof buf);
  CHECK(n > 0 && !has(buf, n, SECRET));
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid, 20000) >= 0);
  test_rmdir(dir);
}

TEST_MAIN(children_inherit_no_passphrase, a_secret_goes_through_a_pipe_and_ends, agora_reads_passphrase_fd,
          agora_wipes_the_passphrase_from_its_environment)
