/* err.c — error names, messages and the per-thread detailed message. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
  int code;
  const char *name;
  const char *msg;
} table[] = {
#define AG_ERR_ROW(sym, val, name, msg) {val, name, msg},
    AG_ERR_LIST(AG_ERR_ROW)
#undef AG_ERR_ROW
};

#define NERR (sizeof table / sizeof table[0])

static _Thread_local int last_code;
static _Thread_local char last_msg[512];

const char *ag_strerror(int code) {
  for (size_t i = 0; i < NERR; i++)
    if (table[i].code == code) return table[i].msg;
  return "unknown error";
}

const char *ag_err_name(int code) {
  for (size_t i = 0; i < NERR; i++)
    if (table[i].code == code) return table[i].name;
  return "unknown";
}

int ag_err_from_name(const char *name, int *code) {
  for (size_t i = 0; i < NERR; i++)
    if (strcmp(table[i].name, name) == 0) {
      *code = table[i].code;
      return 1;
    }
  return 0;
}

int ag_fail(int code, const char *fmt, ...) {
  /* formatted apart first: callers pass ag_errmsg() of an earlier failure, which points here */
  char msg[sizeof last_msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  memcpy(last_msg, msg, sizeof msg);
  last_code = code;
  return code;
}

const char *ag_errmsg(int code) {
  if (code != 0 && code == last_code && last_msg[0]) return last_msg;
  return ag_strerror(code);
}

void ag_err_clear(void) {
  last_code = 0;
  last_msg[0] = 0;
}

size_t ag_err_count(void) { return NERR; }
int ag_err_at(size_t i) { return i < NERR ? table[i].code : 0; }
