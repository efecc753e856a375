/* node_api.h — starts the node's JSON API server (routes in docs/api.md). */
#ifndef AG_NODE_API_H
#define AG_NODE_API_H

#include "api/http.h"
#include "consensus/node.h"

#define AG_VERSION "0.1.0"

int ag_node_api_start(ag_node *n, const char *listen, ag_http_server **out);

#endif
