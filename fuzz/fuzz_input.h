/* fuzz_input.h — reading a fuzz input as fields: bytes and numbers taken from the front, zero
 * once it runs out (so that every input, however short, means something). */
#ifndef AG_FUZZ_INPUT_H
#define AG_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *p;
  size_t n;
} in_t;

__attribute__((unused)) static uint8_t get8(in_t *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

__attribute__((unused)) static uint32_t get32(in_t *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)get8(in) << (8 * i);
  return v;
}

/* Up to want bytes from the front (fewer when less is left); *got says how many. */
__attribute__((unused)) static const uint8_t *take(in_t *in, size_t want, size_t *got) {
  *got = want < in->n ? want : in->n;
  const uint8_t *p = in->p;
  in->p += *got;
  in->n -= *got;
  return p;
}

#endif
