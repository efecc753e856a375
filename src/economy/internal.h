/* internal.h — what the economy's files share and nobody else uses: state keys, reads through
 * the block overlay or a committed view, and the tx kinds' small checks. */
#ifndef AG_ECONOMY_INTERNAL_H
#define AG_ECONOMY_INTERNAL_H

#include "economy/economy.h"

/* "e" ‖ tag ‖ a[32] (‖ b[32] when b is not NULL); returns the key's length (34 or 66). */
size_t ag_econ_key(uint8_t *k, char tag, const uint8_t a[32], const uint8_t *b);
/* Reads a key from view when not NULL, else through the block overlay of st. */
int ag_econ_get(ag_state *st, ag_state_view *view, const uint8_t *k, size_t kl, ag_buf *out);
/* AG_E_TX_PAYLOAD unless the payload has exactly want bytes. */
int ag_econ_require_len(const ag_tx *tx, uint32_t want);
/* The spend hook of kinds that take nothing from the sender besides the fee. */
int ag_econ_no_spend(const ag_tx *tx, uint64_t *amount);
/* Writes a bond record (deletes it when nothing is left to remember). */
void ag_econ_bond_store(ag_state *st, const ag_bond *bd);
/* Base units as AGR text, for messages. */
const char *ag_econ_agr(uint64_t v, char out[32]);

#endif
