/*
 * data.c — builds the default corpus and token shards (see data.h).
 * Does not: download anything; all text comes from installed Debian packages or given files.
 */
#include "engine/data.h"

#include "core/err.h"
#include "core/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* the dictionary's text, decompressed, at most (Debian's gcide is 40 MB) */
#define AG_GCIDE_MAX (256 << 20)

void ag_corpus_init(ag_corpus *c) {
  memset(c, 0, sizeof *c);
  ag_buf_init(&c->text);
}

void ag_corpus_free(ag_corpus *c) {
  ag_buf_free(&c->text);
  free(c->ends);
  memset(c, 0, sizeof *c);
}

void ag_corpus_add(ag_corpus *c, const void *doc, size_t len) {
  if (len == 0) return;
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 1024;
    c->ends = ag_xrealloc(c->ends, c->cap * sizeof(size_t));
  }
  ag_buf_put(&c->text, doc, len);
  c->ends[c->n++] = c->text.len;
}

/* Trims blank lines at both ends; adds if anything is left. */
static void add_trimmed(ag_corpus *c, const uint8_t *p, size_t len) {
  while (len && (p[0] == '\n' || p[0] == '\r')) p++, len--;
  while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' ')) len--;
  if (len) ag_corpus_add(c, p, len);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ag_corpus_add_fortunes(ag_corpus *c, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return ag_fail(AG_E_ENGINE_DATA, "no fortunes at %s (scripts/bootstrap corpus)", dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strchr(e->d_name, '.')) continue; /* skip .dat, .u8 */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) || !S_ISREG(st.st_mode)) continue;
    if (n == cap) names = ag_xrealloc(names, (cap = cap ? 2 * cap : 64) * sizeof(char *));
    names[n++] = ag_xstrdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(char *), name_cmp);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    uint8_t *data;
    size_t len;
    if (!ag_read_file(path, 64u << 20, &data, &len)) {
      size_t s = 0;
      for (size_t k = 0; k + 1 < len; k++)
        if (data[k] == '%' && (k == 0 || data[k - 1] == '\n') && data[k + 1] == '\n') {
          add_trimmed(c, data + s, k - s);
          s = k + 2;
        }
      if (s < len) add_trimmed(c, data + s, len - s);
      free(data);
    }
    free(names[i]);
  }
  free(names);
  return 0;
}

int ag_corpus_add_gcide(ag_corpus *c, const char *path, size_t max_bytes) {
  struct stat st;
  if (stat(path, &st)) return ag_fail(AG_E_ENGINE_DATA, "no dictionary at %s (scripts/bootstrap corpus)", path);
  /* a dictzip file is a gzip stream (its index sits in a header field zlib skips) */
  gzFile f = gzopen(path, "rb");
  if (!f) return ag_fail(AG_E_IO, "cannot open %s", path);
  ag_buf all;
  ag_buf_init(&all);
  uint8_t chunk[65536];
  int k;
  while ((k = gzread(f, chunk, sizeof chunk)) > 0 && all.len <= AG_GCIDE_MAX) ag_buf_put(&all, chunk, (size_t)k);
  int zerr = Z_OK; /* a stream cut short reads as an end with Z_BUF_ERROR set */
  const char *why = gzerror(f, &zerr);
  int rc = k < 0 || zerr != Z_OK ? ag_fail(AG_E_IO, "cannot decompress %s: %s", path, why)
           : all.len > AG_GCIDE_MAX ? ag_fail(AG_E_IO, "%s holds more than %d MB of text", path, AG_GCIDE_MAX >> 20)
           : all.len == 0          ? ag_fail(AG_E_IO, "%s holds no text", path)
                                   : 0;
  gzclose(f);
  if (rc) {
    ag_buf_free(&all);
    return rc;
  }
  /* entries are separated by blank lines; the first entries are the database header */
  size_t stride = max_bytes ? (all.len + max_bytes - 1) / max_bytes : 1;
  if (stride < 1) stride = 1;
  size_t s = 0, idx = 0, used = 0;
  for (size_t i = 0; i + 1 <= all.len; i++) {
    int end = (i + 1 == all.len) || (all.data[i] == '\n' && i + 1 < all.len && all.data[i + 1] == '\n');
    if (!end) continue;
    if (idx % stride == 0 && idx > 0 && (!max_bytes || used + (i - s) <= max_bytes)) {
      size_t before = c->text.len;
      add_trimmed(c, all.data + s, i + 1 - s);
      used += c->text.len - before;
    }
    idx++;
    s = i + 2;
    i++;
  }
  ag_buf_free(&all);
  return 0;
}

int ag_corpus_add_text_file(ag_corpus *c, const char *path) {
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, (size_t)1 << 32, &data, &len);
  if (rc) return ag_fail(AG_E_ENGINE_DATA, "cannot read %s", path);
  size_t s = 0;
  for (size_t i = 0; i + 1 < len; i++)
    if (data[i] == '\n' && data[i + 1] == '\n') {
      add_trimmed(c, data + s, i - s);
      s = i + 1;
    }
  if (s < len) add_trimmed(c, data + s, len - s);
  free(data);
  return 0;
}

int ag_corpus_default(ag_corpus *c, size_t gcide_bytes) {
  /* either source alone is usable; only both missing is an error */
  int a = ag_corpus_add_fortunes(c, AG_FORTUNES_DIR);
  int b = gcide_bytes ? ag_corpus_add_gcide(c, AG_GCIDE_PATH, gcide_bytes) : 0;
  if (c->n == 0)
    return ag_fail(AG_E_ENGINE_DATA, "no default corpus installed (run scripts/bootstrap corpus): %s",
                   ag_errmsg(a ? a : b ? b : AG_E_ENGINE_DATA));
  return 0;
}

int ag_corpus_tokenize(const ag_corpus *c, const ag_tokenizer *t, int val_every, uint16_t **train,
                       size_t *ntrain, uint16_t **val, size_t *nval) {
  if (ag_tok_vocab(t) > 65536) return ag_fail(AG_E_UNSUPPORTED, "shards hold at most 65536 ids");
  uint32_t *ids = NULL;
  size_t cap = 0;
  uint16_t *tr = NULL, *va = NULL;
  size_t nt = 0, nv = 0, ct = 0, cv = 0;
  size_t s = 0;
  for (size_t i = 0; i < c->n; i++) {
    size_t n = 0;
    ids = ag_xrealloc(ids, (cap = AG_MAX(cap, (size_t)1024)) * sizeof(uint32_t));
    ids[n++] = AG_TOK_EOT;
    ag_tok_encode(t, c->text.data + s, c->ends[i] - s, &ids, &n, &cap);
    s = c->ends[i];
    int isval = val_every > 0 && (int)(i % (size_t)val_every) == val_every - 1;
    uint16_t **dst = isval ? &va : &tr;
    size_t *dn = isval ? &nv : &nt, *dc = isval ? &cv : &ct;
    if (*dn + n > *dc) {
      *dc = AG_MAX(*dc * 2, *dn + n + 4096);
      *dst = ag_xrealloc(*dst, *dc * sizeof(uint16_t));
    }
    for (size_t k = 0; k < n; k++) (*dst)[(*dn)++] = (uint16_t)ids[k];
  }
  free(ids);
  *train = tr, *ntrain = nt, *val = va, *nval = nv;
  return 0;
}

int ag_shard_write(const char *path, const uint16_t *tok, size_t n, int vocab) {
  ag_buf b;
  ag_buf_init(&b);
  ag_buf_put(&b, "AGTOKS01", 8);
  ag_buf_put_u32le(&b, (uint32_t)vocab);
  ag_buf_put_u32le(&b, 0);
  ag_buf_put_u64le(&b, n);
  for (size_t i = 0; i < n; i++) ag_buf_put_u16le(&b, tok[i]);
  int rc = ag_write_file_atomic(path, b.data, b.len, 0644);
  ag_buf_free(&b);
  return rc ? ag_fail(rc, "cannot write %s", path) : 0;
}

int ag_shard_read(const char *path, int vocab, uint16_t **tok, size_t *n) {
  uint8_t *data;
  size_t len;
  *tok = NULL;
  *n = 0;
  if (ag_read_file(path, (size_t)1 << 34, &data, &len)) return ag_fail(AG_E_ENGINE_DATA, "cannot read %s", path);
  int rc = 0;
  if (len < 24 || memcmp(data, "AGTOKS01", 8)) rc = ag_fail(AG_E_CORRUPT, "%s is not a token shard", path);
  else if (vocab && ag_get_u32le(data + 8) != (uint32_t)vocab)
    rc = ag_fail(AG_E_CORRUPT, "%s was made for a vocabulary of %u, not %d", path, ag_get_u32le(data + 8), vocab);
  else if (ag_get_u64le(data + 16) != (len - 24) / 2 || (len - 24) % 2)
    rc = ag_fail(AG_E_CORRUPT, "%s has a wrong length", path);
  if (!rc) {
    uint32_t vv = ag_get_u32le(data + 8);
    *n = (len - 24) / 2;
    *tok = ag_xmalloc(*n * sizeof(uint16_t) + 2);
    for (size_t i = 0; i < *n; i++) {
      (*tok)[i] = ag_get_u16le(data + 24 + 2 * i);
      if (vv && (*tok)[i] >= vv) {
        rc = ag_fail(AG_E_CORRUPT, "%s has token ids outside its vocabulary", path);
        break;
      }
    }
    if (rc) {
      free(*tok);
      *tok = NULL;
      *n = 0;
    }
  }
  free(data);
  return rc;
}
