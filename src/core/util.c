/* util.c — allocation wrappers, clocks, files, number parsing and amount formatting. */
#define _GNU_SOURCE
#include "core/util.h"

#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n, const char *file, int line) {
  fprintf(stderr, "agora: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
  abort();
}

void *ag_xmalloc_at(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n, file, line);
  return p;
}

void *ag_xcalloc_at(size_t n, size_t size, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom(n * size, file, line);
  return p;
}

void *ag_xrealloc_at(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n, file, line);
  return q;
}

char *ag_xstrdup_at(const char *s, const char *file, int line) {
  size_t n = strlen(s) + 1;
  char *p = ag_xmalloc_at(n, file, line);
  memcpy(p, s, n);
  return p;
}

uint64_t ag_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t ag_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

double ag_mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ag_sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int ag_ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

int ag_read_file(const char *path, size_t max, uint8_t **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return ag_fail(AG_E_NOTFOUND, "%s: no such file", path);
    return ag_fail(AG_E_IO, "%s: %s", path, strerror(errno));
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = ag_xmalloc(cap + 1);
  for (;;) {
    if (n == cap) {
      if (cap >= max) {
        close(fd);
        free(buf);
        return ag_fail(AG_E_TOO_LARGE, "%s: larger than %zu bytes", path, max);
      }
      cap = cap * 2 > max ? max : cap * 2;
      buf = ag_xrealloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      free(buf);
      return ag_fail(AG_E_IO, "%s: %s", path, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}

int ag_write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

int ag_write_file_atomic(const char *path, const void *data, size_t len, int mode) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
    return ag_fail(AG_E_INVALID, "path too long");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ag_fail(AG_E_IO, "%s: %s", tmp, strerror(errno));
  const uint8_t *p = data;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, p + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp);
      return ag_fail(AG_E_IO, "%s: %s", tmp, strerror(e));
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return ag_fail(AG_E_IO, "%s: %s", tmp, strerror(errno));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return ag_fail(AG_E_IO, "%s: %s", path, strerror(e));
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int ag_mkdirs(const char *path, int mode) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return ag_fail(AG_E_INVALID, "bad path");
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
        return ag_fail(AG_E_IO, "mkdir %s: %s", buf, strerror(errno));
      buf[i] = c;
    }
  }
  return 0;
}

/* Removes name in the folder dfd: unlinked as it is (a file, a link), else emptied and removed
 * through descriptors, so a link inside is never followed and paths never grow. */
static int rm_at(int dfd, const char *name, int depth) {
  if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return 0;
  if ((errno != EISDIR && errno != EPERM) || depth > 256) return -1;
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd < 0 ? NULL : fdopendir(fd);
  if (!d) {
    if (fd >= 0) close(fd);
    return -1;
  }
  int rc = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && rm_at(dirfd(d), e->d_name, depth + 1)) rc = -1;
  closedir(d);
  if (unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT) rc = -1;
  return rc;
}

int ag_rm_tree(const char *path) {
  if (rm_at(AT_FDCWD, path, 0)) return ag_fail(AG_E_IO, "cannot remove %s: %s", path, strerror(errno));
  return 0;
}

bool ag_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int ag_parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s) return AG_E_INVALID;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return AG_E_INVALID;
    if (ag_mul_u64(v, 10, &v) || ag_add_u64(v, (uint64_t)(*p - '0'), &v)) return AG_E_OVERFLOW;
  }
  *out = v;
  return 0;
}

int ag_amount_parse(const char *s, uint64_t *out) {
  if (!s || !*s) return ag_fail(AG_E_BAD_AMOUNT, "empty amount");
  uint64_t whole = 0, frac = 0;
  int nfrac = 0, ndigits = 0;
  const char *p = s;
  for (; *p && *p != '.'; p++, ndigits++) {
    if (*p < '0' || *p > '9') return ag_fail(AG_E_BAD_AMOUNT, "'%s' is not a number", s);
    if (ag_mul_u64(whole, 10, &whole) || ag_add_u64(whole, (uint64_t)(*p - '0'), &whole))
      return ag_fail(AG_E_BAD_AMOUNT, "'%s' is too large", s);
  }
  if (*p == '.') {
    p++;
    for (; *p; p++, nfrac++, ndigits++) {
      if (*p < '0' || *p > '9') return ag_fail(AG_E_BAD_AMOUNT, "'%s' is not a number", s);
      if (nfrac == AG_DECIMALS)
        return ag_fail(AG_E_BAD_AMOUNT, "'%s' has more than %d decimals", s, AG_DECIMALS);
      frac = frac * 10 + (uint64_t)(*p - '0');
    }
  }
  if (ndigits == 0) return ag_fail(AG_E_BAD_AMOUNT, "'%s' is not a number", s);
  for (int i = nfrac; i < AG_DECIMALS; i++) frac *= 10;
  uint64_t v;
  if (ag_mul_u64(whole, AG_UNIT, &v) || ag_add_u64(v, frac, &v))
    return ag_fail(AG_E_BAD_AMOUNT, "'%s' is too large", s);
  *out = v;
  return 0;
}

void ag_amount_format(uint64_t v, char out[32]) {
  uint64_t whole = v / AG_UNIT, frac = v % AG_UNIT;
  if (frac == 0) {
    snprintf(out, 32, "%llu", (unsigned long long)whole);
    return;
  }
  char f[16];
  snprintf(f, sizeof f, "%09llu", (unsigned long long)frac);
  int n = 9;
  while (n > 0 && f[n - 1] == '0') n--;
  f[n] = 0;
  snprintf(out, 32, "%llu.%s", (unsigned long long)whole, f);
}
