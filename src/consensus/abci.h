/* abci.h — the ABCI socket server for CometBFT mode (abci.c). */
#ifndef AG_ABCI_H
#define AG_ABCI_H

#include "chain/genesis.h"
#include "consensus/node.h"
#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Serves ABCI on the node's abci_listen address until the node stops or a connection fails
 * (CometBFT stops then too; both restart from the last commit). */
int ag_abci_serve(ag_node *n);

/* One ABCI connection without a socket, for tests and fuzzing: the server's own dispatcher,
 * fed the bytes a connection would carry. ag_abci_session_feed consumes every whole frame in
 * what was fed so far and appends the response frames to out; it returns an error where the
 * server would stop (a malformed frame, an undecodable request, a failed InitChain,
 * FinalizeBlock or Commit). Sessions share nothing but the node. */
typedef struct ag_abci_session ag_abci_session;
ag_abci_session *ag_abci_session_new(ag_node *n);
int ag_abci_session_feed(ag_abci_session *x, const uint8_t *p, size_t n, ag_buf *out);
void ag_abci_session_free(ag_abci_session *x);
/* Appends a request as CometBFT frames it (for sessions: tests and fuzzing). */
struct Tendermint__Abci__Request;
void ag_abci_put_request(ag_buf *out, const struct Tendermint__Abci__Request *r);

/* Splits one frame (uvarint length, then the message) off the front of p: 1 with *hdr (prefix
 * bytes) and *len (message bytes) when a whole frame is there, 0 when more bytes are needed,
 * or an error for a malformed or oversized prefix. */
int ag_abci_frame(const uint8_t *p, size_t n, size_t *hdr, uint64_t *len);

/* PrepareProposal's choice among the txs CometBFT offers (its FIFO mempool's order): those
 * that decode, ordered by the mempool's rule (chain/mempool.h: fee per byte, each sender's in
 * nonce order, a sender whose next tx does not fit left out of this block), within what
 * ProcessProposal accepts (at most p->max_block_txs txs and p->max_block_bytes tx bytes) and
 * within max_tx_bytes counting each tx's protobuf framing in the block's Data, as CometBFT
 * does. Txs that do not decode are left out: ProcessProposal rejects a block holding one.
 * Writes indices into txs to order (room for n), in block order; returns their number. */
size_t ag_abci_prepare(const uint8_t *const *txs, const size_t *lens, size_t n,
                       const ag_params *p, int64_t max_tx_bytes, size_t *order);

#endif
