/* engine.c — one-call conveniences of the public API (engine.h). */
#include "engine/engine.h"

#include "engine/jinja.h"

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

int ag_engine_message_text(json_t *c, ag_buf *out) {
  if (json_is_string(c)) {
    ag_buf_put(out, json_string_value(c), json_string_length(c));
    return 0;
  }
  if (!c || json_is_null(c)) return 0; /* an assistant's turn that only called a tool */
  if (!json_is_array(c)) return -1;
  for (size_t i = 0; i < json_array_size(c); i++) {
    json_t *p = json_array_get(c, i);
    const char *type = json_string_value(json_object_get(p, "type"));
    json_t *t = json_object_get(p, "text");
    if (!type || strcmp(type, "text") || !json_is_string(t)) return -1;
    ag_buf_put(out, json_string_value(t), json_string_length(t));
  }
  return 0;
}

static json_t *token_string(const ag_model *m, int32_t id) {
  size_t n = 0;
  const uint8_t *p = id >= 0 && m->tok ? ag_tok_text(m->tok, (uint32_t)id, &n) : NULL;
  json_t *s = p ? json_stringn((const char *)p, n) : NULL;
  return s ? s : json_string("");
}

int ag_engine_chat_text(const ag_model *m, json_t *messages, ag_buf *out) {
  if (!json_is_array(messages) || json_array_size(messages) == 0)
    return ag_fail(AG_E_INVALID, "'messages' must be a non-empty array");
  json_t *msgs = json_array();
  ag_buf t;
  ag_buf_init(&t);
  int rc = 0;
  for (size_t i = 0; i < json_array_size(messages) && !rc; i++) {
    json_t *mm = json_array_get(messages, i);
    const char *role = json_string_value(json_object_get(mm, "role"));
    ag_buf_reset(&t);
    if (!role) rc = ag_fail(AG_E_INVALID, "message %zu has no role", i);
    else if (ag_engine_message_text(json_object_get(mm, "content"), &t))
      rc = ag_fail(AG_E_INVALID, "message content must be a string or an array of text parts");
    else {
      json_t *c = json_stringn(t.data ? (const char *)t.data : "", t.len);
      if (!c) rc = ag_fail(AG_E_INVALID, "message content is not valid UTF-8");
      else json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", role, "content", c));
    }
  }
  ag_buf_free(&t);
  if (!rc && m->chat) {
    json_t *vars = json_pack("{s:O,s:b,s:o,s:o}", "messages", msgs, "add_generation_prompt", 1, "bos_token",
                             token_string(m, m->tok ? ag_tok_bos(m->tok) : -1), "eos_token",
                             token_string(m, m->tok ? ag_tok_eos(m->tok) : -1));
    rc = ag_jinja_render(m->chat, vars, out);
    json_decref(vars);
  } else if (!rc) { /* no template in the file: ChatML, as llama.cpp falls back to */
    for (size_t i = 0; i < json_array_size(msgs); i++) {
      json_t *mm = json_array_get(msgs, i);
      ag_buf_printf(out, "<|im_start|>%s\n%s<|im_end|>\n", json_string_value(json_object_get(mm, "role")),
                    json_string_value(json_object_get(mm, "content")));
    }
    ag_buf_puts(out, "<|im_start|>assistant\n");
  }
  json_decref(msgs);
  return rc;
}
