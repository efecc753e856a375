/*
 * log.h — leveled logging to stderr ("2026-11-24T15:48:19.123Z INFO node: message").
 * The level comes from AGORA_LOG (error|warn|info|debug), default info. Thread-safe.
 */
#ifndef AG_LOG_H
#define AG_LOG_H

enum { AG_LOG_ERROR = 0, AG_LOG_WARN = 1, AG_LOG_INFO = 2, AG_LOG_DEBUG = 3 };

void ag_log_set_level(int level);
int ag_log_level(void);
void ag_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ag_error(comp, ...) ag_log(AG_LOG_ERROR, comp, __VA_ARGS__)
#define ag_warn(comp, ...) ag_log(AG_LOG_WARN, comp, __VA_ARGS__)
#define ag_info(comp, ...) ag_log(AG_LOG_INFO, comp, __VA_ARGS__)
#define ag_debug(comp, ...)                                                                 \
  do {                                                                                        \
    if (ag_log_level() >= AG_LOG_DEBUG) ag_log(AG_LOG_DEBUG, comp, __VA_ARGS__);              \
  } while (0)

#endif
