/*
 * buf.h — a growable byte buffer for encoders and a bounds-checked reader for decoders.
 *
 * Writers never fail (allocation failure aborts, see util.h). Readers return AG_E_TRUNCATED
 * instead of reading past the end, so decoders of untrusted bytes need no other bounds logic.
 */
#ifndef AG_BUF_H
#define AG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t *data; /* owned; NULL when cap == 0 */
  size_t len;
  size_t cap;
} ag_buf;

void ag_buf_init(ag_buf *b);
void ag_buf_free(ag_buf *b); /* accepts NULL */
void ag_buf_reset(ag_buf *b); /* len = 0, keeps memory */
void ag_buf_reserve(ag_buf *b, size_t extra);
void ag_buf_put(ag_buf *b, const void *p, size_t n);
void ag_buf_put_u8(ag_buf *b, uint8_t v);
void ag_buf_put_u16le(ag_buf *b, uint16_t v);
void ag_buf_put_u32le(ag_buf *b, uint32_t v);
void ag_buf_put_u64le(ag_buf *b, uint64_t v);
void ag_buf_puts(ag_buf *b, const char *s); /* no terminator */
void ag_buf_printf(ag_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures data[len] == 0 (not counted in len) and returns data as a C string. */
char *ag_buf_cstr(ag_buf *b);
/* Hands the memory to the caller (free() it); the buffer is empty afterwards. */
uint8_t *ag_buf_steal(ag_buf *b, size_t *len);

typedef struct {
  const uint8_t *p;
  size_t len;
  size_t off;
} ag_reader;

void ag_reader_init(ag_reader *r, const void *p, size_t len);
size_t ag_reader_left(const ag_reader *r);
int ag_read_bytes(ag_reader *r, void *out, size_t n);
int ag_read_ptr(ag_reader *r, size_t n, const uint8_t **out); /* borrow n bytes */
int ag_read_u8(ag_reader *r, uint8_t *v);
int ag_read_u16le(ag_reader *r, uint16_t *v);
int ag_read_u32le(ag_reader *r, uint32_t *v);
int ag_read_u64le(ag_reader *r, uint64_t *v);
/* AG_E_TRAILING unless everything was consumed. */
int ag_read_end(const ag_reader *r);

#endif
