/* log.c — stderr logger. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int level = -1;

static int env_level(void) {
  const char *e = getenv("AGORA_LOG");
  if (!e) return AG_LOG_INFO;
  if (!strcmp(e, "error")) return AG_LOG_ERROR;
  if (!strcmp(e, "warn")) return AG_LOG_WARN;
  if (!strcmp(e, "debug")) return AG_LOG_DEBUG;
  return AG_LOG_INFO;
}

void ag_log_set_level(int l) { level = l; }

int ag_log_level(void) {
  if (level < 0) level = env_level();
  return level;
}

void ag_log(int l, const char *component, const char *fmt, ...) {
  static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
  if (l > ag_log_level()) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char line[2048];
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, names[l], component);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line); /* one write per line keeps lines whole across threads */
}
