/* engine.c — one-call conveniences of the public API (engine.h). */
#include "engine/engine.h"

#include "core/err.h"
#include "core/util.h"

#include <string.h>
#include <stdlib.h>

int ag_engine_generate(const ag_model *m, const uint32_t *prompt, int n_prompt, int max_new,
                       const ag_sampling *sp, int threads, uint32_t *tokens, int *n_out,
                       ag_buf *receipt) {
  *n_out = 0;
  ag_infer *s = NULL;
  int rc = ag_infer_open(m, AG_MAX(1, AG_MIN(n_prompt, 128)), threads, &s);
  if (rc) return rc;
  ag_gen_out out = {tokens, 0, {0}};
  rc = ag_generate(s, prompt, n_prompt, max_new, sp, AG_COMMIT_K_DEFAULT, &out, receipt, NULL, NULL);
  *n_out = out.n;
  ag_infer_close(s);
  return rc;
}

int ag_engine_encode(const ag_model *m, const char *text, size_t len, uint32_t **ids, size_t *n) {
  *ids = NULL;
  *n = 0;
  if (!m->tok) return ag_fail(AG_E_MODEL_NO_TOKENIZER, "the model has no tokenizer");
  size_t cap = len + 16;
  *ids = ag_xmalloc(cap * sizeof(uint32_t));
  return ag_tok_encode_ex(m->tok, (const uint8_t *)text, len, AG_TOK_ADD_SPECIAL, ids, n, &cap);
}

int ag_engine_encode_chat(const ag_model *m, const char *text, size_t len, uint32_t **ids, size_t *n) {
  *ids = NULL;
  *n = 0;
  if (!m->tok) return ag_fail(AG_E_MODEL_NO_TOKENIZER, "the model has no tokenizer");
  int flags = AG_TOK_PARSE_SPECIAL | AG_TOK_ADD_SPECIAL;
  /* a template that writes {{ bos_token }} itself gets no second one */
  int32_t bos = ag_tok_bos(m->tok);
  size_t bl = 0;
  const uint8_t *bt = bos >= 0 ? ag_tok_text(m->tok, (uint32_t)bos, &bl) : NULL;
  if (bt && bl && len >= bl && !memcmp(text, bt, bl)) flags = AG_TOK_PARSE_SPECIAL;
  size_t cap = len + 16;
  *ids = ag_xmalloc(cap * sizeof(uint32_t));
  return ag_tok_encode_ex(m->tok, (const uint8_t *)text, len, flags, ids, n, &cap);
}

int ag_model_prefer_f32(ag_model **m, uint64_t max_bytes) {
  if ((*m)->wtype != AG_DT_Q8 || ag_model_param_count(&(*m)->cfg) * 4 > max_bytes) return 0;
  ag_model *f;
  if (ag_model_to_f32(*m, &f)) return 0; /* keep the q8 model: the same results, slower */
  memcpy(f->id, (*m)->id, sizeof f->id);
  ag_model_close(*m);
  *m = f;
  return 1;
}
