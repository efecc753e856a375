/* abci.h — the ABCI socket server for CometBFT mode (abci.c). */
#ifndef AG_ABCI_H
#define AG_ABCI_H

#include "consensus/node.h"

#include <stddef.h>
#include <stdint.h>

/* Serves ABCI on the node's abci_listen address until the node stops or a connection fails
 * (CometBFT stops then too; both restart from the last commit). */
int ag_abci_serve(ag_node *n);

/* Splits one frame (uvarint length, then the message) off the front of p: 1 with *hdr (prefix
 * bytes) and *len (message bytes) when a whole frame is there, 0 when more bytes are needed,
 * or an error for a malformed or oversized prefix. */
int ag_abci_frame(const uint8_t *p, size_t n, size_t *hdr, uint64_t *len);

#endif
