/*
 * util.h — allocation, checked arithmetic, time and small helpers shared by every module.
 *
 * Allocation failure is not an error path here: ag_xmalloc and friends abort with file:line
 * (the Redis approach). Sizes derived from untrusted input must be bounded before they reach
 * an allocation.
 */
#ifndef AG_UTIL_H
#define AG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define AG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define AG_MUST_USE __attribute__((warn_unused_result))

void *ag_xmalloc_at(size_t n, const char *file, int line);
void *ag_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *ag_xrealloc_at(void *p, size_t n, const char *file, int line);
char *ag_xstrdup_at(const char *s, const char *file, int line);
#define ag_xmalloc(n) ag_xmalloc_at((n), __FILE__, __LINE__)
#define ag_xcalloc(n, s) ag_xcalloc_at((n), (s), __FILE__, __LINE__)
#define ag_xrealloc(p, n) ag_xrealloc_at((p), (n), __FILE__, __LINE__)
#define ag_xstrdup(s) ag_xstrdup_at((s), __FILE__, __LINE__)

/* Checked arithmetic: return true on overflow (result unspecified then). */
static inline bool ag_add_u64(uint64_t a, uint64_t b, uint64_t *r) {
  return __builtin_add_overflow(a, b, r);
}
static inline bool ag_sub_u64(uint64_t a, uint64_t b, uint64_t *r) {
  return __builtin_sub_overflow(a, b, r);
}
static inline bool ag_mul_u64(uint64_t a, uint64_t b, uint64_t *r) {
  return __builtin_mul_overflow(a, b, r);
}

/* Little-endian loads and stores, independent of host order and alignment. */
static inline void ag_put_u16le(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void ag_put_u32le(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ag_put_u64le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ag_put_u32be(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline uint32_t ag_get_u32be(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline void ag_put_u64be(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint16_t ag_get_u16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ag_get_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ag_get_u64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static inline uint64_t ag_get_u64be(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* Wall-clock milliseconds since the Unix epoch; monotonic milliseconds; monotonic seconds. */
uint64_t ag_now_ms(void);
uint64_t ag_mono_ms(void);
double ag_mono_s(void);
void ag_sleep_ms(uint64_t ms);

/* Number of online CPUs (at least 1). */
int ag_ncpu(void);

/* Reads a whole file (up to max bytes) into a fresh NUL-terminated buffer. */
int ag_read_file(const char *path, size_t max, uint8_t **out, size_t *len);
/* Writes all of p to fd (again after EINTR and short writes); 0 or -1 with errno set. */
int ag_write_all(int fd, const void *p, size_t n);
/* Writes a file atomically (temp file, fsync, rename, fsync dir) with the given mode. */
int ag_write_file_atomic(const char *path, const void *data, size_t len, int mode);
/* mkdir -p with mode. */
int ag_mkdirs(const char *path, int mode);
bool ag_file_exists(const char *path);
/* Removes a file, or a folder and everything in it (rm -rf without a shell): symbolic links
 * are removed, never followed; a path that does not exist is fine. AG_E_IO when something
 * stays. */
int ag_rm_tree(const char *path);

/* Parses a decimal u64 with no sign, spaces or trailing garbage. */
int ag_parse_u64(const char *s, uint64_t *out);

/* Amounts: 1 AGR = 10^9 base units. "1.5" -> 1500000000. At most 9 decimals. */
#define AG_DECIMALS 9
#define AG_UNIT 1000000000ULL
int ag_amount_parse(const char *s, uint64_t *out);
/* Formats base units as AGR with trailing zeros trimmed ("1.5", "0.000000001", "12"). */
void ag_amount_format(uint64_t v, char out[32]);

#endif
