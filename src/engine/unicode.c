/*
 * unicode.c — code point classes from utf8proc, lenient UTF-8 (see unicode.h).
 * utf8proc is a maintained library with Unicode's tables; we keep no category tables here,
 * only the handful of code points Unicode 15.1 added after Debian's utf8proc (15.0).
 */
#include "engine/unicode.h"

#include <utf8proc.h>

static int is_white_space(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0d);
  if (cp < 0x85) return 0;
  switch (cp) {
  case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f:
  case 0x3000:
    return 1;
  default:
    return cp >= 0x2000 && cp <= 0x200a;
  }
}

unsigned ag_uc_class(uint32_t cp) {
  unsigned sp = is_white_space(cp) ? AG_UC_SPACE : 0;
  if (cp > 0x10ffff) return AG_UC_UNDEFINED;
  /* Unicode 15.1: CJK Ideographs Extension I (Lo), ideographic description characters (So) */
  if (cp >= 0x2ebf0 && cp <= 0x2ee5d) return AG_UC_LETTER;
  if ((cp >= 0x2ffc && cp <= 0x2fff) || cp == 0x31ef) return AG_UC_SYMBOL;
  switch (utf8proc_category((utf8proc_int32_t)cp)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    return AG_UC_LETTER | sp;
  case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    return AG_UC_MARK | sp;
  case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    return AG_UC_NUMBER | sp;
  case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
  case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
  case UTF8PROC_CATEGORY_PO:
    return AG_UC_PUNCT | sp;
  case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
  case UTF8PROC_CATEGORY_SO:
    return AG_UC_SYMBOL | sp;
  case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
    return AG_UC_SEPARATOR | sp;
  case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
  case UTF8PROC_CATEGORY_CO:
    return AG_UC_CONTROL | sp;
  default:
    return AG_UC_UNDEFINED | sp;
  }
}

size_t ag_utf8_len(uint8_t lead) {
  static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return len[lead >> 4];
}

static int cont(uint8_t c) { return (c & 0xc0) == 0x80; }

size_t ag_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if ((c & 0xe0) == 0xc0) {
    if (n >= 2 && cont(s[1])) {
      *cp = (uint32_t)(c & 0x1f) << 6 | (s[1] & 0x3f);
      return 2;
    }
  } else if ((c & 0xf0) == 0xe0) {
    if (n >= 3 && cont(s[1]) && cont(s[2])) {
      *cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
      return 3;
    }
  } else if ((c & 0xf8) == 0xf0) {
    if (n >= 4 && cont(s[1]) && cont(s[2]) && cont(s[3])) {
      *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 | (uint32_t)(s[2] & 0x3f) << 6 |
            (s[3] & 0x3f);
      return 4;
    }
  }
  *cp = 0xfffd; /* continuation byte, 0xf8..0xff, or a sequence cut short */
  return 1;
}

size_t ag_utf8_put(uint32_t cp, uint8_t out[4]) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xc0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp > 0x10ffff) cp = 0xfffd;
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xe0 | cp >> 12);
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (uint8_t)(0xf0 | cp >> 18);
  out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (uint8_t)(0x80 | (cp & 0x3f));
  return 4;
}
