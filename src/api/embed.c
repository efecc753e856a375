/* embed.c — lookup in the embedded files (embed.h); the table is generated at build time. */
#include "api/embed.h"

#include <string.h>

const ag_embed *ag_embed_find(const char *path) {
  for (size_t i = 0; i < ag_nembeds; i++)
    if (!strcmp(ag_embeds[i].path, path)) return &ag_embeds[i];
  return NULL;
}
