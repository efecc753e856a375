/*
 * render.h — JSON views of ledger objects for the API (schemas in docs/api.md).
 * Amounts are decimal strings in base units; hashes are lower-case hex; addresses Bech32m.
 * Every function returns a new reference.
 */
#ifndef AG_RENDER_H
#define AG_RENDER_H

#include "chain/app.h"
#include "chain/block.h"
#include "chain/json.h"
#include "chain/smt.h"

#include <jansson.h>

/* A decoded tx: hash, kind, sender, nonce, fee, valid_until, size and the kind's payload. */
json_t *ag_json_tx(const ag_tx *tx);
/* A block header (+ tx summaries with results when app is given and with_txs). */
json_t *ag_json_block(const ag_block *b, ag_app *app, int with_txs);
/* A proof as JSON, and back (for `agora query account --prove`). */
json_t *ag_json_proof(const ag_smt_proof *p, const uint8_t key[32]);
int ag_json_proof_parse(json_t *j, ag_smt_proof *p, uint8_t key[32]);

#endif
