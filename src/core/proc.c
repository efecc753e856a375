/* proc.c — child processes without secrets in their environment (proc.h). */
#define _GNU_SOURCE /* pipe2 */
#include "core/proc.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

char **ag_env_without_secrets(void) {
  size_t n = 0;
  while (environ && environ[n]) n++;
  char **env = ag_xcalloc(n + 1, sizeof *env);
  size_t k = 0, name = strlen(AG_PASSPHRASE_ENV);
  for (size_t i = 0; i < n; i++) {
    if (!strncmp(environ[i], AG_PASSPHRASE_ENV, name) && environ[i][name] == '=') continue;
    env[k++] = environ[i];
  }
  env[k] = NULL;
  return env;
}


int ag_spawn(char *const argv[], const ag_spawn_opts *o, pid_t *pid) {
  static const ag_spawn_opts none = {0};
  if (!o) o = &none;
  *pid = -1;
  int sp[2] = {-1, -1};
  if (o->secret) {
    if (o->secret_fd < 3) return ag_fail(AG_E_INVALID, "a secret goes on fd 3 or above");
    /* written before the fork: a pipe holds 64 KiB, so this never blocks, and a child that
     * dies early cannot turn the write into SIGPIPE here */
    size_t n = strlen(o->secret);
    if (n >= 4096) return ag_fail(AG_E_TOO_LARGE, "a secret for a child is at most 4095 bytes");
    if (pipe2(sp, O_CLOEXEC) != 0) return ag_fail(AG_E_IO, "pipe: %s", strerror(errno));
    if (ag_write_all(sp[1], o->secret, n) || ag_write_all(sp[1], "\n", 1)) {
      close(sp[0]);
      close(sp[1]);
      return ag_fail(AG_E_IO, "cannot hand the secret to the child: %s", strerror(errno));
    }
    close(sp[1]); /* the child reads end of file after the line */
  }
  char **env = ag_env_without_secrets(); /* before the fork: no malloc in the child */
  pid_t parent = getpid();
  pid_t p = fork();
  if (p == 0) {
    if (o->new_session) setsid();
    if (o->die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
    }
    if (o->log) {
      int fd = open(o->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    }
    if (o->stdin_null) {
      int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (devnull >= 0) dup2(devnull, 0);
    }
    if (o->secret) {
      if (sp[0] == o->secret_fd) fcntl(sp[0], F_SETFD, 0); /* keep it across exec */
      else if (dup2(sp[0], o->secret_fd) < 0) _exit(126); /* dup2 clears close-on-exec */
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execve(argv[0], argv, env);
    _exit(127);
  }
  int err = errno;
  free(env);
  if (sp[0] >= 0) close(sp[0]);
  if (p < 0) return ag_fail(AG_E_IO, "fork: %s", strerror(err));
  *pid = p;
  return 0;
}

int ag_read_secret_fd(int fd, size_t max, char **out) {
  *out = NULL;
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return ag_fail(AG_E_INVALID, "file descriptor %d is not open", fd);
  ag_crypto_init(); /* sodium_malloc needs it */
  char *buf = sodium_malloc(max + 1);
  if (!buf) return ag_fail(AG_E_NOMEM, "cannot allocate guarded memory for a secret");
  size_t n = 0;
  int rc = 0;
  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1); /* byte by byte: what follows the line stays unread */
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = ag_fail(AG_E_IO, "reading file descriptor %d: %s", fd, strerror(errno));
      break;
    }
    if (r == 0 || ch == '\n') break;
    if (n == max) {
      rc = ag_fail(AG_E_TOO_LARGE, "the secret on file descriptor %d is longer than %zu bytes", fd, max);
      break;
    }
    buf[n++] = ch;
  }
  if (!rc && n && buf[n - 1] == '\r') n--;
  buf[n] = 0;
  if (fd > 2) close(fd);
  if (!rc && n == 0) rc = ag_fail(AG_E_NOTFOUND, "nothing to read on file descriptor %d", fd);
  if (rc) {
    sodium_free(buf); /* wipes */
    return rc;
  }
  *out = buf;
  return 0;
}

bool ag_proc_alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *rp = strrchr(buf, ')'); /* "pid (comm) S ..." */
  return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}
