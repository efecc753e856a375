/* models.c — the content-addressed model cache and its fetcher. */
#include "api/models.h"

#include "api/http.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ag_models_path(const char *dir, const uint8_t id[32], char *out, size_t cap) {
  char hex[65];
  ag_hex_encode(id, 32, hex);
  snprintf(out, cap, "%s/%s.agm", dir, hex);
}

int ag_models_store(const char *dir, const uint8_t *data, size_t len, const uint8_t *id,
                    uint8_t got[32]) {
  ag_model *m;
  int rc = ag_model_load_mem(data, len, &m, NULL);
  if (rc) return rc;
  memcpy(got, m->id, 32);
  ag_model_close(m);
  if (id && memcmp(got, id, 32) != 0) {
    char want[65];
    ag_hex_encode(id, 32, want);
    return ag_fail(AG_E_MODEL_MISMATCH, "the file's model id is not %.16s…", want);
  }
  if ((rc = ag_mkdirs(dir, 0755))) return rc;
  char path[1200];
  ag_models_path(dir, got, path, sizeof path);
  return ag_write_file_atomic(path, data, len, 0644);
}

int ag_models_adopt(const char *dir, const char *file, const uint8_t *id, uint8_t got[32]) {
  ag_model *m;
  int rc = ag_model_load(file, &m, NULL);
  if (!rc) {
    memcpy(got, m->id, 32);
    ag_model_close(m);
    if (id && memcmp(got, id, 32) != 0) {
      char want[65];
      ag_hex_encode(id, 32, want);
      rc = ag_fail(AG_E_MODEL_MISMATCH, "the file's model id is not %.16s…", want);
    }
  }
  char path[1200];
  if (!rc) rc = ag_mkdirs(dir, 0755);
  if (!rc) {
    ag_models_path(dir, got, path, sizeof path);
    if (rename(file, path)) rc = ag_fail(AG_E_IO, "%s: cannot move into %s", file, dir);
  }
  if (rc) unlink(file);
  return rc;
}

int ag_models_ensure(const char *dir, const uint8_t id[32], uint64_t max_bytes,
                     const char *const *sources, size_t nsrc, int peer_flags, ag_model **out) {
  char path[1200], hex[65];
  ag_models_path(dir, id, path, sizeof path);
  ag_hex_encode(id, 32, hex);
  if (!max_bytes) max_bytes = AG_MODELS_MAX;
  if (!ag_file_exists(path)) {
    int got = 0, rc = ag_mkdirs(dir, 0755);
    if (rc) return rc;
    for (size_t i = 0; i < nsrc && !got; i++) {
      char url[700], tmp[1300];
      snprintf(url, sizeof url, "%s/%s", sources[i], hex);
      snprintf(tmp, sizeof tmp, "%s.fetch", path);
      long status;
      int drc = ag_http_download(url, tmp, max_bytes, i == 0 ? 120000 : AG_MODELS_PEER_TIMEOUT_MS,
                                 i == 0 ? 0 : peer_flags, &status);
      if (drc) {
        if (drc == AG_E_TOO_LARGE) ag_warn("models", "%s: %s", url, ag_errmsg(drc));
        continue;
      }
      uint8_t have[32];
      if (ag_models_adopt(dir, tmp, id, have) == 0) {
        ag_info("models", "fetched model %.16s… from %s", hex, sources[i]);
        got = 1;
      } else {
        ag_warn("models", "%s served a file that is not model %.16s…", sources[i], hex);
      }
    }
    if (!got) return ag_fail(AG_E_MODEL_UNAVAILABLE, "model %.16s… is not cached and no source served it", hex);
  }
  int rc = ag_model_load(path, out, NULL);
  if (rc) return rc;
  if (memcmp((*out)->id, id, 32) != 0) { /* a damaged cache entry */
    ag_model_close(*out);
    *out = NULL;
    return ag_fail(AG_E_MODEL_MISMATCH, "%s does not hash to its name", path);
  }
  return 0;
}
