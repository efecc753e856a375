/*
 * bech32.h — Bech32m (BIP-350) text for byte strings: a human-readable prefix, the separator
 * '1', base-32 data and a 6-character checksum that detects any 4 substituted characters.
 * Agora writes addresses ("agora1...") and key backups ("agorasecret1...") this way.
 * Only lower case is produced; all-upper-case input is accepted, mixed case is not.
 */
#ifndef AG_BECH32_H
#define AG_BECH32_H

#include <stddef.h>
#include <stdint.h>

#define AG_BECH32_MAX 128 /* longest string handled, including the NUL */

/* Encodes len bytes under hrp; out must hold AG_BECH32_MAX bytes. */
int ag_bech32_encode(const char *hrp, const uint8_t *data, size_t len, char *out);
/* Decodes s; hrp_out must hold 32 bytes. Returns AG_E_ADDR_FORMAT or AG_E_ADDR_CHECKSUM. */
int ag_bech32_decode(const char *s, char *hrp_out, uint8_t *data, size_t cap, size_t *len);

#endif
