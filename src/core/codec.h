/*
 * codec.h — text encodings of bytes: hex and base64 (standard and URL-safe, padded or not).
 * Decoders reject anything else (whitespace, odd lengths, mixed alphabets) with a precise code.
 */
#ifndef AG_CODEC_H
#define AG_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2n+1 chars (lower case, NUL-terminated) into out. */
void ag_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly want bytes from s (upper or lower case); AG_E_BAD_HEX otherwise. */
int ag_hex_decode(const char *s, size_t slen, uint8_t *out, size_t want);
/* Decodes a hex string of any even length into a fresh buffer (max bytes). */
int ag_hex_decode_alloc(const char *s, size_t slen, size_t max, uint8_t **out, size_t *n);

/* Base64 (RFC 4648, standard alphabet, padded); out needs ag_b64_len(n) bytes. */
size_t ag_b64_len(size_t n);
void ag_b64_encode(const uint8_t *in, size_t n, char *out);
/* Accepts standard or URL-safe alphabets, with or without padding; max bytes out. */
int ag_b64_decode_alloc(const char *s, size_t slen, size_t max, uint8_t **out, size_t *n);

#endif
