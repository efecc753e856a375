/* transfer.c — the built-in kinds: transfer and multi-transfer. */
#include "chain/app.h"
#include "chain/json.h"
#include "chain/tx.h"

#include "core/err.h"
#include "core/util.h"

#include <jansson.h>
#include <string.h>

static int validate_amounts(const ag_tx *tx) {
  uint16_t n = ag_tx_transfer_count(tx);
  uint64_t total = 0;
  for (uint16_t i = 0; i < n; i++) {
    ag_transfer t;
    ag_tx_transfer_at(tx, i, &t);
    if (t.amount == 0) return ag_fail(AG_E_TX_AMOUNT, "recipient %u: amount must be positive", i);
    if (ag_add_u64(total, t.amount, &total))
      return ag_fail(AG_E_TX_AMOUNT_OVERFLOW, "amounts add up to more than 2^64-1");
  }
  return 0;
}

static int transfer_validate(const ag_tx *tx) {
  if (tx->payload_len != 40)
    return ag_fail(AG_E_TX_PAYLOAD, "transfer payload is %u bytes, expected 40", tx->payload_len);
  return validate_amounts(tx);
}

static int multi_validate(const ag_tx *tx) {
  if (tx->payload_len < 2) return ag_fail(AG_E_TX_PAYLOAD, "multi-transfer payload too short");
  uint16_t n = ag_get_u16le(tx->payload);
  if (n < 1 || n > AG_TX_MAX_RECIPIENTS)
    return ag_fail(AG_E_TX_RECIPIENTS, "multi-transfer has %u recipients (allowed 1..%d)", n,
                   AG_TX_MAX_RECIPIENTS);
  if (tx->payload_len != 2 + 40u * n)
    return ag_fail(AG_E_TX_PAYLOAD, "multi-transfer payload is %u bytes, expected %u",
                   tx->payload_len, 2 + 40u * n);
  return validate_amounts(tx);
}

static int transfer_spend(const ag_tx *tx, uint64_t *amount) {
  uint64_t total = 0;
  for (uint16_t i = 0, n = ag_tx_transfer_count(tx); i < n; i++) {
    ag_transfer t;
    ag_tx_transfer_at(tx, i, &t);
    total += t.amount; /* validate bounded the sum */
  }
  *amount = total;
  return 0;
}

static int transfer_apply(ag_app *app, const ag_tx *tx) {
  ag_state *st = ag_app_state(app);
  uint64_t total;
  transfer_spend(tx, &total);
  int rc = ag_account_debit(st, tx->sender, total);
  for (uint16_t i = 0, n = ag_tx_transfer_count(tx); !rc && i < n; i++) {
    ag_transfer t;
    ag_tx_transfer_at(tx, i, &t);
    rc = ag_account_credit(st, t.to, t.amount);
  }
  return rc;
}

static json_t *transfer_json(const ag_tx *tx) {
  json_t *o = json_object(), *list = json_array();
  for (uint16_t i = 0, n = ag_tx_transfer_count(tx); i < n; i++) {
    ag_transfer t;
    ag_tx_transfer_at(tx, i, &t);
    json_t *r = json_object();
    json_object_set_new(r, "to", ag_json_addr(t.to));
    json_object_set_new(r, "amount", ag_json_u64s(t.amount));
    json_array_append_new(list, r);
  }
  if (tx->kind == AG_TX_TRANSFER) {
    json_object_update(o, json_array_get(list, 0));
    json_decref(list);
  } else {
    json_object_set_new(o, "recipients", list);
  }
  return o;
}

const ag_tx_kind ag_kind_transfer = {AG_TX_TRANSFER, "transfer", transfer_validate,
                                     transfer_spend, transfer_apply, transfer_json};
const ag_tx_kind ag_kind_multi_transfer = {AG_TX_MULTI_TRANSFER, "multi_transfer",
                                           multi_validate, transfer_spend, transfer_apply,
                                           transfer_json};

void ag_transfer_encode(ag_buf *out, const uint8_t to[AG_PK_LEN], uint64_t amount) {
  ag_buf_put(out, to, AG_PK_LEN);
  ag_buf_put_u64le(out, amount);
}

void ag_multi_transfer_encode(ag_buf *out, const ag_transfer *v, uint16_t n) {
  ag_buf_put_u16le(out, n);
  for (uint16_t i = 0; i < n; i++) ag_transfer_encode(out, v[i].to, v[i].amount);
}

uint16_t ag_tx_transfer_count(const ag_tx *tx) {
  return tx->kind == AG_TX_TRANSFER ? 1 : ag_get_u16le(tx->payload);
}

void ag_tx_transfer_at(const ag_tx *tx, uint16_t i, ag_transfer *out) {
  const uint8_t *p = tx->kind == AG_TX_TRANSFER ? tx->payload : tx->payload + 2 + 40u * i;
  memcpy(out->to, p, AG_PK_LEN);
  out->amount = ag_get_u64le(p + AG_PK_LEN);
}
