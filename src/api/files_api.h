/* files_api.h — model files and training blobs a node keeps for its subnets (files_api.c). */
#ifndef AG_FILES_API_H
#define AG_FILES_API_H

#include "api/http.h"
#include "consensus/node.h"

extern const ag_http_route ag_files_routes[];
extern const size_t ag_files_nroutes;

/* Removes blobs of rounds older than the node's keep_rounds, checkpoints that nothing pins,
 * proposes or finalized within it, and stale spooled uploads. At most once per 10 s unless
 * force. */
int ag_files_collect(ag_node *node, int force);

#endif
