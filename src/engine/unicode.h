/*
 * unicode.h — the little Unicode the tokenizers need: lenient UTF-8 decoding, encoding, and
 * per-code-point classes (general category group and White_Space), as llama.cpp sees them.
 *
 * Categories come from utf8proc (Unicode 15.0 in Debian 12) with the code points Unicode 15.1
 * added patched in, so that the classes equal llama.cpp's generated table (15.1) exactly.
 * Decoding follows llama.cpp's unicode_cpts_from_utf8: a lead byte decides the length, the
 * continuation bytes must be 10xxxxxx, overlong forms and surrogates are accepted as they
 * decode, and a byte that starts no valid sequence yields U+FFFD and is skipped alone.
 * Does not: normalize, case-map beyond ASCII, or know scripts.
 */
#ifndef AG_ENGINE_UNICODE_H
#define AG_ENGINE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits of a code point (AG_UC_* below); every code point has exactly one of the
 * category bits, so a class is never 0. */
enum {
  AG_UC_UNDEFINED = 1 << 0, /* Cn, or beyond U+10FFFF */
  AG_UC_NUMBER = 1 << 1,    /* \p{N} */
  AG_UC_LETTER = 1 << 2,    /* \p{L} */
  AG_UC_SEPARATOR = 1 << 3, /* \p{Z} */
  AG_UC_MARK = 1 << 4,      /* \p{M} */
  AG_UC_PUNCT = 1 << 5,     /* \p{P} */
  AG_UC_SYMBOL = 1 << 6,    /* \p{S} */
  AG_UC_CONTROL = 1 << 7,   /* \p{C} other than Cn */
  AG_UC_SPACE = 1 << 8,     /* White_Space (the 25 code points of PropList.txt), regex \s */
};

unsigned ag_uc_class(uint32_t cp);

/* Decodes one code point at s[0] (n > 0) the lenient way above; returns the bytes consumed
 * (1..4). Values up to 0x1FFFFF can come out of a 4-byte form. */
size_t ag_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* Length of the sequence a lead byte announces (1 for continuation bytes): llama.cpp's
 * unicode_len_utf8, used to cut text into characters without validating it. */
size_t ag_utf8_len(uint8_t lead);
/* Writes cp as UTF-8 to out[0..4); returns the length. A value beyond U+10FFFF is written as
 * U+FFFD (llama.cpp throws there). */
size_t ag_utf8_put(uint32_t cp, uint8_t out[4]);

#endif
