/*
 * tokenizer_gguf.h — engine-internal: the GGUF vocabularies behind ag_tokenizer (see
 * tokenizer.h for the behaviour; this header is the seam tokenizer.c dispatches through and
 * is not API). An ag_tokg is immutable once built and reference-counted, so clones share it.
 */
#ifndef AG_ENGINE_TOKENIZER_GGUF_H
#define AG_ENGINE_TOKENIZER_GGUF_H

#include "engine/tokenizer.h"

typedef struct ag_tokg ag_tokg;

int ag_tokg_build(const ag_tok_spec *s, ag_tokg **out);
ag_tokg *ag_tokg_ref(ag_tokg *g);
void ag_tokg_unref(ag_tokg *g); /* accepts NULL */

int ag_tokg_kind(const ag_tokg *g);
int ag_tokg_pre(const ag_tokg *g); /* AG_PRE_* (gpt2) */
/* Appends bytes p[0..n) in GPT-2's byte-to-unicode spelling. */
void ag_tokg_spell(ag_buf *out, const uint8_t *p, size_t n);
size_t ag_tokg_n(const ag_tokg *g);
/* lit: ranges where control tokens stay text (tokenizer.h ag_tok_encode_literal); may be NULL. */
int ag_tokg_encode(const ag_tokg *g, const uint8_t *s, size_t n, int flags, const ag_tok_range *lit, size_t nlit,
                   uint32_t **ids, size_t *nids, size_t *cap);
size_t ag_tokg_control_at(const ag_tokg *g, const uint8_t *s, size_t n);
const uint8_t *ag_tokg_piece(const ag_tokg *g, uint32_t id, size_t *len);
const uint8_t *ag_tokg_text(const ag_tokg *g, uint32_t id, size_t *len);
int32_t ag_tokg_bos(const ag_tokg *g);
int32_t ag_tokg_eos(const ag_tokg *g);
int ag_tokg_is_eog(const ag_tokg *g, uint32_t id);
int32_t ag_tokg_find(const ag_tokg *g, const uint8_t *s, size_t n);

#endif
