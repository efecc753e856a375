/*
 * models.h — models as content-addressed files. A model's id is the engine's content hash
 * (engine/checkpoint.h); a cache folder holds files named <id hex>.agm. Fetching tries sources
 * in order (nodes serve GET /v1/model-files/<id>, miners GET /agora/model-files/<id>) and keeps
 * a file only when it loads and hashes to the id it was asked for.
 */
#ifndef AG_API_MODELS_H
#define AG_API_MODELS_H

#include "engine/engine.h"

#include <stddef.h>
#include <stdint.h>

void ag_models_path(const char *dir, const uint8_t id[32], char *out, size_t cap);
/* Checks data is the model id (when id is not NULL) and stores it; *got gets its id. */
int ag_models_store(const char *dir, const uint8_t *data, size_t len, const uint8_t *id,
                    uint8_t got[32]);
/* The same for a file (a spooled upload, a download): loads it (mapped, not copied), checks
 * the id, and moves it into dir; the file is gone afterwards either way. */
int ag_models_adopt(const char *dir, const char *file, const uint8_t *id, uint8_t got[32]);
/* Loads model id from dir, fetching it first from the source URLs (full URLs up to the id)
 * when absent, streamed to disk and never more than max_bytes (the size the chain pins; 0 =
 * AG_MODELS_MAX). AG_E_MODEL_UNAVAILABLE when no source has it. The first source (a node) gets
 * 120 s; the others (peers) AG_MODELS_PEER_TIMEOUT_MS each, so a hung peer costs little, and
 * peer_flags (AG_HTTP_PUBLIC_ONLY for endpoints announced on a chain that wants them public). */
#define AG_MODELS_PEER_TIMEOUT_MS 5000
#define AG_MODELS_MAX (1ull << 32)
int ag_models_ensure(const char *dir, const uint8_t id[32], uint64_t max_bytes,
                     const char *const *sources, size_t nsrc, int peer_flags, ag_model **out);

#endif
