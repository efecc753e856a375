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

/* Fetches, from the node's "file_peers", the files the chain announces that the node lacks
 * (files_api.c explains what and how). Starts nothing when the node has no peers (*out NULL). */
typedef struct ag_files_sync ag_files_sync;
int ag_files_sync_start(ag_node *node, ag_files_sync **out);
void ag_files_sync_stop(ag_files_sync *fs); /* NULL: nothing */
/* What every node's fetcher got so far (the metrics). */
void ag_files_sync_stats(uint64_t *blobs, uint64_t *models, uint64_t *failures);

#endif
