/*
 * fuzz_checkpoint.c — libFuzzer target for the model-file loader (and the receipt parser,
 * which reads the same kind of untrusted bytes). Any input must yield a model or a clean
 * AG_E_* error; small valid models are also run for two tokens.
 */
#include "core/err.h"
#include "engine/engine.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_model *m = NULL;
  ag_train_state ts;
  int rc = ag_model_load_mem(data, size, &m, &ts);
  if (rc == 0) {
    if (ag_model_param_count(&m->cfg) < 200000 && m->cfg.seq_len >= 2 && m->cfg.seq_len <= 512) {
      ag_infer *s = NULL;
      if (ag_infer_open(m, 2, 1, &s) == 0) {
        uint32_t toks[2] = {0, (uint32_t)(m->cfg.vocab_size - 1)};
        float *lg = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
        (void)ag_infer_forward(s, toks, 2, lg, NULL, NULL);
        free(lg);
        ag_infer_close(s);
      }
    }
    ag_model_close(m);
  } else if (rc >= 0 || m != NULL) {
    abort();
  }
  ag_receipt r;
  (void)ag_receipt_parse(data, size, &r);
  return 0;
}
