/* json.h — small JSON helpers shared by every module that renders ledger objects: amounts as
 * decimal strings, bytes as hex, keys as addresses. Each returns a new reference. */
#ifndef AG_CHAIN_JSON_H
#define AG_CHAIN_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

json_t *ag_json_u64s(uint64_t v); /* "123" */
/* A count or size: a JSON number, or a decimal string above 2^53 (where JSON numbers stop
 * being exact in most parsers). */
json_t *ag_json_u64n(uint64_t v);
json_t *ag_json_hex(const uint8_t *p, size_t n);
/* A JSON string of s, valid UTF-8 whatever s holds (each bad byte becomes U+FFFD): jansson
 * refuses anything else, and an error must never lose its text because it quotes bad bytes. */
json_t *ag_json_text(const char *s);
json_t *ag_json_addr(const uint8_t pk[32]);
/* Field key of object o as a u64, written as a number or a decimal string ("123"); 0 when
 * absent or malformed. */
uint64_t ag_json_u64_of(json_t *o, const char *key);
/* Writes o (indented, keys in insertion order) to path atomically and drops the reference:
 * the status files of miners, trainers and validators. */
int ag_json_write_file(const char *path, json_t *o);

#endif
