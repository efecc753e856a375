/* cli.c — option parsing, errors, JSON output, prompts and passphrases for every command. */
#include "cli/cli.h"

#include "chain/json.h"
#include "core/err.h"
#include "core/proc.h"
#include "core/util.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int ag_cli_parse(ag_cli *c, int argc, char **argv, const ag_opt *opts, char **pos, int maxpos,
                 int *npos) {
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      c->help = true;
      continue;
    }
    if (a[0] == '-' && a[1] != 0 && !(a[1] >= '0' && a[1] <= '9')) {
      const ag_opt *o = NULL;
      const char *val = NULL;
      if (a[1] == '-') {
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (const ag_opt *p = opts; p && p->name && p->name[0]; p++)
          if (strlen(p->name) == len && !strncmp(p->name, name, len)) o = p;
        if (o && eq) val = eq + 1;
      } else if (a[2] == 0) {
        for (const ag_opt *p = opts; p && p->name && p->name[0]; p++)
          if (p->shortname == a[1]) o = p;
      }
      if (!o) {
        return ag_cli_fail(c, AG_E_USAGE, "unknown option '%.64s' (see --help)", a);
      }
      if (o->has_arg) {
        if (!val) {
          if (i + 1 >= argc) {
            return ag_cli_fail(c, AG_E_USAGE, "option '%.64s' needs a value", a);
          }
          val = argv[++i];
        }
        *o->val = val;
      } else {
        if (val) {
          return ag_cli_fail(c, AG_E_USAGE, "option '%.64s' takes no value", a);
        }
        *o->flag = true;
      }
      continue;
    }
    if (*npos >= maxpos) {
      return ag_cli_fail(c, AG_E_USAGE, "unexpected argument '%.64s' (see --help)", a);
    }
    pos[(*npos)++] = argv[i];
  }
  return 0;
}

int ag_cli_exit_code(int err) {
  switch (err) {
  case 0: return AG_EXIT_OK;
  case AG_E_USAGE: return AG_EXIT_USAGE;
  case AG_E_NOTFOUND:
  case AG_E_KEY_NOT_FOUND: return AG_EXIT_NOTFOUND;
  case AG_E_CONNECT:
  case AG_E_UNAVAILABLE: return AG_EXIT_UNREACHABLE;
  case AG_E_BAD_PASSPHRASE:
  case AG_E_PASSPHRASE_REQUIRED:
  case AG_E_KEYSTORE_CORRUPT:
  case AG_E_KEYSTORE_WEAK_KDF:
  case AG_E_INSECURE_KEY:
  case AG_E_BACKUP_CHECKSUM:
  case AG_E_BAD_KEY: return AG_EXIT_KEY;
  default:
    if (err <= -200 && err > -300) return AG_EXIT_REJECTED;
    return AG_EXIT_FAIL;
  }
}

int ag_cli_fail(const ag_cli *c, int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->json) {
    json_t *e = json_object(), *root = json_object();
    json_object_set_new(e, "code", json_string(ag_err_name(err)));
    json_object_set_new(e, "message", ag_json_text(msg));
    json_object_set_new(root, "error", e);
    ag_cli_print_json(root);
  } else if (c->cmd) {
    fprintf(stderr, "agora %s: %s\n", c->cmd, msg);
  } else {
    fprintf(stderr, "agora: %s\n", msg);
  }
  return ag_cli_exit_code(err);
}

int ag_cli_usage(const ag_cli *c, const char *usage) {
  fputs(usage, c->help ? stdout : stderr);
  return c->help ? AG_EXIT_OK : AG_EXIT_USAGE;
}

void ag_cli_print_json(json_t *v) {
  char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  if (s) {
    puts(s);
    free(s);
  }
  fflush(stdout);
  json_decref(v);
}

bool ag_cli_interactive(const ag_cli *c) {
  return !c->json && !c->yes && isatty(STDIN_FILENO);
}

bool ag_cli_confirm(const ag_cli *c, const char *question) {
  if (!ag_cli_interactive(c)) return true;
  fprintf(stderr, "%s [y/N] ", question);
  fflush(stderr);
  char line[32];
  if (!fgets(line, sizeof line, stdin)) return false;
  return line[0] == 'y' || line[0] == 'Y';
}

static char *read_tty_line(const char *prompt) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct termios old, raw;
  int have_tty = tcgetattr(fd, &old) == 0;
  if (have_tty) {
    raw = old;
    raw.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &raw);
  }
  if (write(fd, prompt, strlen(prompt)) < 0) { /* best effort */
  }
  char *buf = ag_xmalloc(1024);
  size_t n = 0;
  char ch;
  while (n < 1023 && read(fd, &ch, 1) == 1 && ch != '\n') buf[n++] = ch;
  buf[n] = 0;
  if (have_tty) tcsetattr(fd, TCSAFLUSH, &old);
  if (write(fd, "\n", 1) < 0) {
  }
  close(fd);
  return buf;
}

int ag_cli_take_passphrase(ag_cli *c, const char *fd_arg) {
  char *env = getenv(AG_PASSPHRASE_ENV);
  char *taken = NULL;
  int rc = 0;
  if (env) {
    size_t n = strlen(env);
    if (!fd_arg) {
      taken = sodium_malloc(n + 1);
      if (!taken) return ag_fail(AG_E_NOMEM, "cannot allocate guarded memory for the passphrase");
      memcpy(taken, env, n + 1);
    }
    /* The value lives in the environment block the kernel shows in /proc/PID/environ: wipe it
     * there (POSIX leaves writing to it undefined; glibc and every Linux libc keep it as
     * plain writable memory), then drop the variable so that children do not get it. */
    sodium_memzero(env, n);
    unsetenv(AG_PASSPHRASE_ENV);
  }
  if (fd_arg) {
    uint64_t fd;
    if (ag_parse_u64(fd_arg, &fd) || fd > 1000000 || fd == 1 || fd == 2)
      return ag_fail(AG_E_USAGE, "--passphrase-fd takes an open file descriptor: 0 or 3 and above");
    if ((rc = ag_read_secret_fd((int)fd, 4096, &taken))) return rc; /* the message names the fd */
  }
  c->passphrase = taken;
  return 0;
}

void ag_cli_secrets_free(ag_cli *c) {
  if (c->passphrase) sodium_free(c->passphrase); /* wipes */
  c->passphrase = NULL;
}

char *ag_cli_passphrase(const ag_cli *c, const char *prompt, bool confirm) {
  if (c->passphrase) return ag_xstrdup(c->passphrase);
  if (c->passphrase_file) {
    uint8_t *data;
    size_t len;
    if (ag_read_file(c->passphrase_file, 4096, &data, &len)) return NULL;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r')) data[--len] = 0;
    return (char *)data;
  }
  if (!ag_cli_interactive(c)) return NULL;
  char *p = read_tty_line(prompt);
  if (p && confirm) {
    char *q = read_tty_line("repeat passphrase: ");
    if (!q || strcmp(p, q) != 0) {
      fprintf(stderr, "passphrases do not match\n");
      ag_cli_passphrase_free(p);
      p = NULL;
    }
    ag_cli_passphrase_free(q);
  }
  return p;
}

void ag_cli_passphrase_free(char *p) {
  if (!p) return;
  sodium_memzero(p, strlen(p));
  free(p);
}

void ag_cli_path(const ag_cli *c, const char *rel, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", c->home, rel);
}

void ag_cli_default_model(const ag_cli *c, char *out, size_t cap) {
  const char *env = getenv("AGORA_MODEL");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return;
  }
  if (ag_file_exists("models/agora-nano.bin")) {
    snprintf(out, cap, "models/agora-nano.bin");
    return;
  }
  /* beside the binary: build/agora -> models/, or an installed share/agora/models/ */
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    const char *rel[] = {"/../models/agora-nano.bin", "/../../models/agora-nano.bin",
                         "/../share/agora/models/agora-nano.bin"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
      char p[1200];
      snprintf(p, sizeof p, "%s%s", exe, rel[i]);
      if (ag_file_exists(p)) {
        snprintf(out, cap, "%s", p);
        return;
      }
    }
  }
  ag_cli_path(c, "models/nano/model.bin", out, cap);
}
