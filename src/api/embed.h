/*
 * embed.h — static files embedded in the binary at build time (cmake/embed.cmake): the OpenAPI
 * descriptions of the node API ("/openapi.json") and of the miner API ("/miner/openapi.json",
 * which a miner serves at its /openapi.json). Served as they are; nothing is read from disk.
 */
#ifndef AG_API_EMBED_H
#define AG_API_EMBED_H

#include <stddef.h>

typedef struct {
  const char *path; /* its name: the URL path the node serves it at */
  const char *type; /* its Content-Type */
  const unsigned char *data;
  size_t len;
} ag_embed;

extern const ag_embed ag_embeds[];
extern const size_t ag_nembeds;

/* The asset served at path, or NULL. */
const ag_embed *ag_embed_find(const char *path);

#endif
