/*
 * proc.h — child processes that inherit no secret. Commands that start other processes
 * (agora devnet, agora localnet) go through ag_spawn: the child is exec'd with this process's
 * environment minus AGORA_PASSPHRASE, and a passphrase it needs is handed over through a pipe
 * the child reads as `--passphrase-fd N` — never in argv (world-readable in /proc/PID/cmdline)
 * nor in the environment (readable in /proc/PID/environ and inherited by grandchildren).
 *
 * It does not supervise: waiting, restarting and stopping stay with the caller.
 */
#ifndef AG_PROC_H
#define AG_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* The environment variable a user may set for the top-level command; never passed on. */
#define AG_PASSPHRASE_ENV "AGORA_PASSPHRASE"

typedef struct {
  const char *log;      /* stdout and stderr appended to this file (NULL: inherited) */
  bool stdin_null;      /* stdin from /dev/null */
  bool new_session;     /* setsid(): a Ctrl-C on the terminal reaches the parent only */
  bool die_with_parent; /* SIGTERM when the parent dies (PR_SET_PDEATHSIG) */
  const char *secret;   /* NULL: none; else written, with a newline, into a pipe whose read
                           end the child holds as fd secret_fd (then end of file) */
  int secret_fd;        /* >= 3 when secret is set; argv should say "--passphrase-fd N" */
} ag_spawn_opts;

/* Forks and execs argv[0] (a path) with argv and the environment without secrets; *pid gets
 * the child. o may be NULL (all defaults). AG_E_INVALID for a bad secret_fd, AG_E_IO when
 * the pipe or the fork fails. A failing exec shows as exit status 127. */
int ag_spawn(char *const argv[], const ag_spawn_opts *o, pid_t *pid);

/* A process that exists and is not a zombie (one whose parent has not reaped it yet). */
bool ag_proc_alive(pid_t pid);

/* A NULL-terminated copy of environ without AGORA_PASSPHRASE. The array is malloc'd (free()
 * it); the strings are environ's own. */
char **ag_env_without_secrets(void);

/* Reads one line (up to a newline or end of file; a trailing "\r" dropped) of at most max
 * bytes from fd, into a buffer from sodium_malloc (guarded, kept out of core dumps; release it
 * with sodium_free, which wipes it). Closes fd when it is above 2. AG_E_INVALID when fd is not
 * open, AG_E_TOO_LARGE over max, AG_E_IO on a read error, AG_E_NOTFOUND when nothing came. */
int ag_read_secret_fd(int fd, size_t max, char **out);

#endif
