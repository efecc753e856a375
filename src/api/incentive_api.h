/* incentive_api.h — the incentive layer's read routes and their JSON views (docs/api.md). */
#ifndef AG_INCENTIVE_API_H
#define AG_INCENTIVE_API_H

#include "api/http.h"
#include "consensus/node.h"
#include "incentive/incentive.h"

extern const ag_http_route ag_incentive_routes[];
extern const size_t ag_incentive_nroutes;

json_t *ag_json_hyperparams(const ag_hyperparams *hp);
json_t *ag_json_subnet(const ag_subnet *sn, uint64_t height, int detail);
json_t *ag_json_metagraph(ag_ist *s, const ag_subnet *sn, int with_bonds, int with_weights);

#endif
