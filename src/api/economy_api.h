/* economy_api.h — the economy's read routes and JSON views (docs/api.md, docs/economy.md). */
#ifndef AG_ECONOMY_API_H
#define AG_ECONOMY_API_H

#include "api/http.h"
#include "economy/economy.h"

extern const ag_http_route ag_economy_routes[];
extern const size_t ag_economy_nroutes;

json_t *ag_json_channel(const ag_channel *ch, uint64_t height);
json_t *ag_json_bond(const ag_bond *b);
/* A dispute as the API shows it; the evidence (hex) only when asked and still held. */
json_t *ag_json_dispute(const ag_dispute *d, uint64_t height, int with_evidence);

#endif
