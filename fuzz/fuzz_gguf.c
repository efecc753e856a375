/*
 * fuzz_gguf.c — libFuzzer target for the GGUF importer: any input must yield a model or a
 * clean AG_E_* error, never a crash, leak or out-of-bounds read.
 */
#include "core/err.h"
#include "engine/engine.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ag_model *m = NULL;
  int rc = ag_gguf_import(data, size, &m);
  if (rc == 0) {
    ag_buf b;
    ag_buf_init(&b);
    if (m->tok) (void)ag_gguf_export(m, AG_GGUF_F32, &b);
    ag_buf_free(&b);
    ag_model_close(m);
  } else if (rc >= 0 || m != NULL) {
    abort();
  }
  return 0;
}
