/* snapshot.c — state sync: writing, listing and serving snapshots, and restoring one. */
#include "consensus/snapshot.h"

#include "chain/state.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_HEAD (4 + 4 + 8 + 32) /* format, chunks, height, app_hash */

static void snapshot_hash(uint64_t height, uint32_t chunks, const uint8_t *metadata, size_t metalen, uint8_t out[32]) {
  uint8_t h[12];
  ag_put_u64le(h, height);
  ag_put_u32le(h + 8, chunks);
  ag_hasher x;
  ag_hasher_init(&x, "agora/snapshot");
  ag_hasher_update(&x, h, sizeof h);
  ag_hasher_update(&x, metadata, metalen);
  ag_hasher_final(&x, out);
}

/* ---- writing -------------------------------------------------------------------------------- */

typedef struct {
  char dir[1100];
  size_t chunk_bytes;
  ag_buf chunk;  /* records of the chunk being filled */
  ag_buf hashes; /* one per chunk written */
  uint32_t n;
} writer;

static int flush_chunk(writer *w) {
  char path[1200];
  snprintf(path, sizeof path, "%s/chunk.%u", w->dir, w->n);
  int rc = ag_write_file_atomic(path, w->chunk.data ? (const char *)w->chunk.data : "", w->chunk.len, 0644);
  if (rc) return rc;
  uint8_t h[32];
  ag_hash("agora/snapchunk", w->chunk.data, w->chunk.len, h);
  ag_buf_put(&w->hashes, h, 32);
  w->n++;
  ag_buf_reset(&w->chunk);
  return w->n > AG_SNAPSHOT_MAX_CHUNKS ? ag_fail(AG_E_TOO_LARGE, "the state needs more than %u chunks", AG_SNAPSHOT_MAX_CHUNKS) : 0;
}

static int put_record(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  writer *w = ctx;
  ag_state_record_put(&w->chunk, key, klen, val, vlen);
  return w->chunk.len >= w->chunk_bytes ? flush_chunk(w) : 0;
}

static int by_height_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* Heights of the complete snapshots in dir (names that are all digits), newest first. */
static size_t heights(const char *dir, uint64_t **out) {
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    uint64_t h;
    if (ag_parse_u64(e->d_name, &h) || e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    if (n == cap) *out = ag_xrealloc(*out, (cap = cap ? 2 * cap : 8) * sizeof **out);
    (*out)[n++] = h;
  }
  closedir(d);
  if (n) qsort(*out, n, sizeof **out, by_height_desc);
  return n;
}

int ag_snapshot_write(ag_state_export *view, const ag_state_meta *meta, const char *dir, int keep,
                      size_t chunk_bytes) {
  writer w;
  memset(&w, 0, sizeof w);
  w.chunk_bytes = chunk_bytes ? chunk_bytes : AG_SNAPSHOT_CHUNK;
  char final[1100];
  snprintf(w.dir, sizeof w.dir, "%s/.tmp-%llu", dir, (unsigned long long)meta->height);
  snprintf(final, sizeof final, "%s/%llu", dir, (unsigned long long)meta->height);
  struct stat st;
  if (stat(final, &st) == 0) return 0; /* already there */
  remove_tree(w.dir);
  int rc = ag_mkdirs(w.dir, 0700);
  ag_buf_init(&w.chunk);
  ag_buf_init(&w.hashes);
  if (!rc) rc = ag_state_export_run(view, put_record, &w);
  if (!rc && (w.chunk.len || w.n == 0)) rc = flush_chunk(&w);
  if (!rc) {
    ag_buf m;
    ag_buf_init(&m);
    uint8_t h[META_HEAD];
    ag_put_u32le(h, AG_SNAPSHOT_FORMAT);
    ag_put_u32le(h + 4, w.n);
    ag_put_u64le(h + 8, meta->height);
    memcpy(h + 16, meta->app_hash, 32);
    ag_buf_put(&m, h, sizeof h);
    ag_put_u64le(h, meta->time_ms);
    ag_buf_put(&m, h, 8);
    ag_buf_put(&m, w.hashes.data, w.hashes.len);
    char path[1200];
    snprintf(path, sizeof path, "%s/meta", w.dir);
    rc = ag_write_file_atomic(path, (const char *)m.data, m.len, 0644);
    ag_buf_free(&m);
  }
  if (!rc && rename(w.dir, final) != 0) rc = ag_fail(AG_E_IO, "cannot rename %s: %s", w.dir, strerror(errno));
  if (rc) remove_tree(w.dir);
  ag_buf_free(&w.chunk);
  ag_buf_free(&w.hashes);
  if (rc) return rc;
  uint64_t *hs;
  size_t n = heights(dir, &hs);
  for (size_t i = keep > 0 ? (size_t)keep : 1; i < n; i++) {
    char old[1100];
    snprintf(old, sizeof old, "%s/%llu", dir, (unsigned long long)hs[i]);
    remove_tree(old);
  }
  free(hs);
  return 0;
}

/* ---- listing and serving ----------------------------------------------------------------- */

static int read_meta(const char *dir, uint64_t height, ag_snapshot_info *out) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%llu/meta", dir, (unsigned long long)height);
  uint8_t *d;
  size_t len;
  int rc = ag_read_file(path, META_HEAD + 8 + 32ull * AG_SNAPSHOT_MAX_CHUNKS, &d, &len);
  if (rc) return rc;
  memset(out, 0, sizeof *out);
  if (len < META_HEAD + 8) rc = ag_fail(AG_E_CORRUPT, "%s is too short", path);
  if (!rc) {
    out->format = ag_get_u32le(d);
    out->chunks = ag_get_u32le(d + 4);
    out->height = ag_get_u64le(d + 8);
    memcpy(out->app_hash, d + 16, 32);
    out->metalen = len - META_HEAD;
    if (out->height != height || out->chunks == 0 || out->metalen != 8 + 32ull * out->chunks)
      rc = ag_fail(AG_E_CORRUPT, "%s does not describe snapshot %llu", path, (unsigned long long)height);
  }
  if (!rc) {
    out->metadata = ag_xmalloc(out->metalen);
    memcpy(out->metadata, d + META_HEAD, out->metalen);
    snapshot_hash(out->height, out->chunks, out->metadata, out->metalen, out->hash);
  }
  free(d);
  return rc;
}

int ag_snapshot_list(const char *dir, ag_snapshot_info **out, size_t *n) {
  uint64_t *hs;
  size_t m = heights(dir, &hs);
  *out = ag_xcalloc(m ? m : 1, sizeof **out);
  *n = 0;
  for (size_t i = 0; i < m; i++)
    if (read_meta(dir, hs[i], &(*out)[*n]) == 0) (*n)++;
  free(hs);
  return 0;
}

void ag_snapshot_list_free(ag_snapshot_info *s, size_t n) {
  for (size_t i = 0; s && i < n; i++) free(s[i].metadata);
  free(s);
}

int ag_snapshot_chunk(const char *dir, uint64_t height, uint32_t index, uint8_t **data, size_t *len) {
  ag_snapshot_info info;
  int rc = read_meta(dir, height, &info);
  if (rc) return rc;
  free(info.metadata);
  if (index >= info.chunks)
    return ag_fail(AG_E_NOTFOUND, "snapshot %llu has %u chunks, not %u", (unsigned long long)height, info.chunks,
                   index + 1);
  char path[1200];
  snprintf(path, sizeof path, "%s/%llu/chunk.%u", dir, (unsigned long long)height, index);
  /* a chunk holds at least AG_SNAPSHOT_CHUNK bytes and at most one record more */
  return ag_read_file(path, AG_SNAPSHOT_CHUNK + 1 + AG_STATE_KEY_MAX + 4 + AG_STATE_VALUE_MAX, data, len);
}

/* ---- restoring --------------------------------------------------------------------------- */

struct ag_restore {
  ag_app *app;
  uint64_t height, time_ms;
  uint32_t chunks, next;
  uint8_t app_hash[32];
  uint8_t *hashes; /* chunks x 32 */
  int finished;
  char bad[32][64]; /* peers that served a chunk that did not match (the first 32) */
  int nbad;
};

int ag_restore_offer(ag_app *app, uint64_t height, uint32_t format, uint32_t chunks, const uint8_t *metadata,
                     size_t metalen, const uint8_t app_hash[32], ag_restore **out) {
  *out = NULL;
  if (format != AG_SNAPSHOT_FORMAT) return AG_OFFER_REJECT_FORMAT;
  if (height == 0 || chunks == 0 || chunks > AG_SNAPSHOT_MAX_CHUNKS || metalen != 8 + 32ull * chunks) {
    ag_warn("statesync", "refused a snapshot of height %llu: %u chunks and %zu bytes of metadata do not fit",
            (unsigned long long)height, chunks, metalen);
    return AG_OFFER_REJECT;
  }
  int rc = ag_state_restore_begin(ag_app_state(app));
  if (rc) {
    ag_warn("statesync", "cannot restore a snapshot: %s", ag_errmsg(rc));
    return AG_OFFER_ABORT;
  }
  ag_restore *r = ag_xcalloc(1, sizeof *r);
  r->app = app;
  r->height = height;
  r->time_ms = ag_get_u64le(metadata);
  r->chunks = chunks;
  memcpy(r->app_hash, app_hash, 32);
  r->hashes = ag_xmalloc(32ull * chunks);
  memcpy(r->hashes, metadata + 8, 32ull * chunks);
  ag_info("statesync", "restoring the snapshot of height %llu (%u chunks)", (unsigned long long)height, chunks);
  *out = r;
  return AG_OFFER_ACCEPT;
}

static int apply_records(ag_restore *r, const uint8_t *p, size_t len) {
  ag_state *st = ag_app_state(r->app);
  for (size_t o = 0; o < len;) {
    size_t klen = p[o];
    if (klen == 0 || len - o < 1 + klen + 4) return ag_fail(AG_E_TRUNCATED, "a record at offset %zu is cut short", o);
    const uint8_t *key = p + o + 1;
    uint32_t vlen = ag_get_u32le(p + o + 1 + klen);
    if (vlen > len - o - 1 - klen - 4) return ag_fail(AG_E_TRUNCATED, "a value at offset %zu is cut short", o);
    int rc = ag_state_restore_put(st, key, klen, p + o + 1 + klen + 4, vlen);
    if (rc) return rc;
    o += 1 + klen + 4 + vlen;
  }
  return ag_state_restore_flush(st);
}

int ag_restore_apply(ag_restore *r, uint32_t index, const uint8_t *chunk, size_t len, const char *sender, int *reject,
                     int *done) {
  *done = *reject = 0;
  if (r->finished) return AG_APPLY_ABORT;
  if (index != r->next) return AG_APPLY_RETRY; /* CometBFT applies in order: fetch it again */
  uint8_t h[32];
  ag_hash("agora/snapchunk", chunk, len, h);
  if (memcmp(h, r->hashes + 32ull * index, 32) != 0) {
    const char *who = sender ? sender : "";
    for (int i = 0; i < r->nbad && !*reject; i++) *reject = !strncmp(r->bad[i], who, sizeof r->bad[i] - 1);
    if (!*reject && r->nbad < 32) snprintf(r->bad[r->nbad++], sizeof r->bad[0], "%s", who);
    ag_warn("statesync", "chunk %u of snapshot %llu does not match its hash: refused, to be fetched again%s", index,
            (unsigned long long)r->height, *reject ? " from another peer (its sender served a bad chunk before)" : "");
    return AG_APPLY_RETRY;
  }
  int rc = apply_records(r, chunk, len);
  if (rc) {
    ag_warn("statesync", "chunk %u of snapshot %llu: %s: the snapshot is refused", index,
            (unsigned long long)r->height, ag_errmsg(rc));
    ag_state_restore_abort(ag_app_state(r->app));
    r->finished = 1;
    return AG_APPLY_REJECT_SNAPSHOT;
  }
  if (++r->next < r->chunks) return AG_APPLY_ACCEPT;
  ag_state_meta meta;
  memset(&meta, 0, sizeof meta);
  meta.height = r->height;
  meta.time_ms = r->time_ms;
  memcpy(meta.app_hash, r->app_hash, 32);
  r->finished = 1;
  if ((rc = ag_state_restore_finish(ag_app_state(r->app), &meta)) || (rc = ag_app_reload(r->app))) {
    ag_warn("statesync", "snapshot %llu: %s: the snapshot is refused", (unsigned long long)r->height, ag_errmsg(rc));
    ag_state_restore_abort(ag_app_state(r->app));
    ag_app_reload(r->app);
    return AG_APPLY_REJECT_SNAPSHOT;
  }
  ag_info("statesync", "restored the state of height %llu; it hashes to the app hash the light client trusts",
          (unsigned long long)r->height);
  *done = 1;
  return AG_APPLY_ACCEPT;
}

uint64_t ag_restore_height(const ag_restore *r) { return r->height; }

void ag_restore_free(ag_restore *r) {
  if (!r) return;
  if (!r->finished) ag_state_restore_abort(ag_app_state(r->app));
  free(r->hashes);
  free(r);
}
