/* common.c — the economy's shared helpers (internal.h). */
#include "economy/internal.h"

#include "core/err.h"
#include "core/util.h"

#include <string.h>

size_t ag_econ_key(uint8_t *k, char tag, const uint8_t a[32], const uint8_t *b) {
  k[0] = 'e';
  k[1] = (uint8_t)tag;
  memcpy(k + 2, a, 32);
  if (b) memcpy(k + 34, b, 32);
  return b ? 66 : 34;
}

int ag_econ_get(ag_state *st, ag_state_view *view, const uint8_t *k, size_t kl, ag_buf *out) {
  return view ? ag_state_view_get(view, k, kl, out) : ag_state_get_buf(st, k, kl, out);
}

int ag_econ_require_len(const ag_tx *tx, uint32_t want) {
  if (tx->payload_len != want)
    return ag_fail(AG_E_TX_PAYLOAD, "%s payload is %u bytes, expected %u", ag_tx_kind_name(tx->kind),
                   tx->payload_len, want);
  return 0;
}

int ag_econ_no_spend(const ag_tx *tx, uint64_t *amount) {
  (void)tx;
  *amount = 0;
  return 0;
}

const char *ag_econ_agr(uint64_t v, char out[32]) {
  ag_amount_format(v, out);
  return out;
}
