/* abci.h — the ABCI socket server for CometBFT mode (abci.c). */
#ifndef AG_ABCI_H
#define AG_ABCI_H

#include "consensus/node.h"

/* Serves ABCI on the node's abci_listen address until the node stops or a connection fails
 * (CometBFT stops then too; both restart from the last commit). */
int ag_abci_serve(ag_node *n);

#endif
