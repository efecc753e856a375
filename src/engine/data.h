/*
 * data.h — the training corpus: documents from text Debian ships, tokenized into token shards
 * with a train/validation split.
 *
 * Default corpus: every fortune of /usr/share/games/fortunes (packages fortunes, fortunes-min;
 * files in name order, fortunes split at "\n%\n") followed by entries of the GNU Collaborative
 * International Dictionary of English (package dict-gcide, /usr/share/dictd/gcide.dict.dz,
 * read through `gzip -dc`), taking every k-th entry so that at most gcide_bytes are used.
 * Every document is preceded by <|endoftext|>; document i goes to validation when
 * i % val_every == val_every - 1.
 * Shard file: "AGTOKS01", u32 vocab, u32 0, u64 count, then count u16 little-endian ids.
 */
#ifndef AG_ENGINE_DATA_H
#define AG_ENGINE_DATA_H

#include "core/buf.h"
#include "engine/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

#define AG_FORTUNES_DIR "/usr/share/games/fortunes"
#define AG_GCIDE_PATH "/usr/share/dictd/gcide.dict.dz"

typedef struct {
  ag_buf text;   /* all documents back to back */
  size_t *ends;  /* ends[i] = end offset of document i */
  size_t n, cap;
} ag_corpus;

void ag_corpus_init(ag_corpus *c);
void ag_corpus_free(ag_corpus *c);
void ag_corpus_add(ag_corpus *c, const void *doc, size_t len);
int ag_corpus_add_fortunes(ag_corpus *c, const char *dir);
int ag_corpus_add_gcide(ag_corpus *c, const char *path, size_t max_bytes);
/* A plain text file; documents are separated by blank lines. */
int ag_corpus_add_text_file(ag_corpus *c, const char *path);
/* fortunes + gcide (gcide_bytes, 0 = none); AG_E_ENGINE_DATA when neither is installed. */
int ag_corpus_default(ag_corpus *c, size_t gcide_bytes);

/* Tokenizes the corpus into two streams (malloc'd; caller frees). */
int ag_corpus_tokenize(const ag_corpus *c, const ag_tokenizer *t, int val_every, uint16_t **train,
                       size_t *ntrain, uint16_t **val, size_t *nval);

int ag_shard_write(const char *path, const uint16_t *tok, size_t n, int vocab);
/* Reads a shard; checks the vocabulary matches (vocab 0 = any). */
int ag_shard_read(const char *path, int vocab, uint16_t **tok, size_t *n);

#endif
