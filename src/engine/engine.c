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

static int encode_chat(const ag_model *m, const char *text, size_t len, const ag_tok_range *lit, size_t nlit,
                       uint32_t **ids, size_t *n) {
  int flags = AG_TOK_PARSE_SPECIAL | AG_TOK_ADD_SPECIAL;
  /* a template that writes {{ bos_token }} itself gets no second one */
  int32_t bos = ag_tok_bos(m->tok);
  size_t bl = 0;
  const uint8_t *bt = bos >= 0 ? ag_tok_text(m->tok, (uint32_t)bos, &bl) : NULL;
  if (bt && bl && len >= bl && !memcmp(text, bt, bl)) flags = AG_TOK_PARSE_SPECIAL;
  size_t cap = len + 16;
  *ids = ag_xmalloc(cap * sizeof(uint32_t));
  return ag_tok_encode_literal(m->tok, (const uint8_t *)text, len, flags, lit, nlit, ids, n, &cap);
}

int ag_engine_encode_chat(const ag_model *m, const char *text, size_t len, uint32_t **ids, size_t *n) {
  *ids = NULL;
  *n = 0;
  if (!m->tok) return ag_fail(AG_E_MODEL_NO_TOKENIZER, "the model has no tokenizer");
  return encode_chat(m, text, len, NULL, 0, ids, n);
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

/* A message's content is taken as written: before the template sees it, the text of each
 * control token in it (and the sentinel's own first character, U+E000) becomes a sentinel,
 * U+E000 <index> U+E001, that no template changes (it is not whitespace, and templates trim,
 * join and wrap content); after rendering, each sentinel becomes its text again and its bytes
 * are a literal range, where the tokenizer cuts no control token out. */
#define SENT_OPEN "\xee\x80\x80"
#define SENT_CLOSE "\xee\x80\x81"

typedef struct {
  ag_buf orig;   /* the escaped strings, back to back */
  size_t *off;   /* (n + 1) where each starts in orig */
  size_t n, cap;
} escapes;

static void escape_content(const ag_model *m, const uint8_t *t, size_t len, escapes *e, ag_buf *out) {
  for (size_t i = 0; i < len;) {
    size_t l = m->tok ? ag_tok_control_at(m->tok, t + i, len - i) : 0;
    if (!l && len - i >= 3 && !memcmp(t + i, SENT_OPEN, 3)) l = 3;
    if (!l) {
      ag_buf_put_u8(out, t[i++]);
      continue;
    }
    if (e->n + 2 > e->cap) {
      e->cap = AG_MAX(2 * e->cap, 16);
      e->off = ag_xrealloc(e->off, e->cap * sizeof *e->off);
    }
    e->off[e->n] = e->orig.len;
    ag_buf_put(&e->orig, t + i, l);
    e->off[++e->n] = e->orig.len;
    ag_buf_printf(out, SENT_OPEN "%zu" SENT_CLOSE, e->n - 1);
    i += l;
  }
}

/* Copies text to out with every sentinel of e replaced by its string, each such string's
 * bytes appended to *lit. */
static void restore(const ag_buf *text, const escapes *e, ag_buf *out, ag_tok_range **lit, size_t *nlit) {
  const uint8_t *s = text->data;
  size_t n = text->len, cap = 0;
  for (size_t i = 0; i < n;) {
    if (n - i >= 7 && !memcmp(s + i, SENT_OPEN, 3) && s[i + 3] >= '0' && s[i + 3] <= '9') {
      size_t j = i + 3, k = 0;
      while (j < n && s[j] >= '0' && s[j] <= '9' && k <= e->n) k = k * 10 + (size_t)(s[j++] - '0');
      if (k < e->n && n - j >= 3 && !memcmp(s + j, SENT_CLOSE, 3)) {
        if (lit) {
          if (*nlit == cap) {
            cap = AG_MAX(2 * cap, 8);
            *lit = ag_xrealloc(*lit, cap * sizeof **lit);
          }
          (*lit)[(*nlit)++] = (ag_tok_range){out->len, e->off[k + 1] - e->off[k]};
        }
        ag_buf_put(out, e->orig.data + e->off[k], e->off[k + 1] - e->off[k]);
        i = j + 3;
        continue;
      }
    }
    ag_buf_put_u8(out, s[i++]);
  }
}

/* The chat prompt's text into out and, when lit is not NULL, the ranges of it that came from
 * messages' control-token texts (to be tokenized as text). */
static int chat_prompt(const ag_model *m, json_t *messages, ag_buf *out, ag_tok_range **lit, size_t *nlit) {
  if (lit) *lit = NULL, *nlit = 0;
  if (!json_is_array(messages) || json_array_size(messages) == 0)
    return ag_fail(AG_E_INVALID, "'messages' must be a non-empty array");
  json_t *msgs = json_array();
  ag_buf t, esc, text;
  ag_buf_init(&t);
  ag_buf_init(&esc);
  ag_buf_init(&text);
  escapes e = {0};
  ag_buf_init(&e.orig);
  int rc = 0;
  for (size_t i = 0; i < json_array_size(messages) && !rc; i++) {
    json_t *mm = json_array_get(messages, i);
    const char *role = json_string_value(json_object_get(mm, "role"));
    ag_buf_reset(&t);
    ag_buf_reset(&esc);
    if (!role) rc = ag_fail(AG_E_INVALID, "message %zu has no role", i);
    else if (ag_engine_message_text(json_object_get(mm, "content"), &t))
      rc = ag_fail(AG_E_INVALID, "message content must be a string or an array of text parts");
    else {
      escape_content(m, t.data, t.len, &e, &esc);
      json_t *c = json_stringn(esc.data ? (const char *)esc.data : "", esc.len);
      if (!c) rc = ag_fail(AG_E_INVALID, "message content is not valid UTF-8");
      else json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", role, "content", c));
    }
  }
  if (!rc && m->chat) {
    json_t *vars = json_pack("{s:O,s:b,s:o,s:o}", "messages", msgs, "add_generation_prompt", 1, "bos_token",
                             token_string(m, m->tok ? ag_tok_bos(m->tok) : -1), "eos_token",
                             token_string(m, m->tok ? ag_tok_eos(m->tok) : -1));
    rc = ag_jinja_render(m->chat, vars, &text);
    json_decref(vars);
  } else if (!rc) { /* no template in the file: ChatML, as llama.cpp falls back to */
    for (size_t i = 0; i < json_array_size(msgs); i++) {
      json_t *mm = json_array_get(msgs, i);
      ag_buf_printf(&text, "<|im_start|>%s\n%s<|im_end|>\n", json_string_value(json_object_get(mm, "role")),
                    json_string_value(json_object_get(mm, "content")));
    }
    ag_buf_puts(&text, "<|im_start|>assistant\n");
  }
  if (!rc) restore(&text, &e, out, lit, nlit);
  json_decref(msgs);
  ag_buf_free(&t);
  ag_buf_free(&esc);
  ag_buf_free(&text);
  ag_buf_free(&e.orig);
  free(e.off);
  return rc;
}

int ag_engine_chat_text(const ag_model *m, json_t *messages, ag_buf *out) {
  return chat_prompt(m, messages, out, NULL, NULL);
}

int ag_engine_chat_ids(const ag_model *m, json_t *messages, uint32_t **ids, size_t *n) {
  *ids = NULL;
  *n = 0;
  if (!m->tok) return ag_fail(AG_E_MODEL_NO_TOKENIZER, "the model has no tokenizer");
  ag_buf text;
  ag_buf_init(&text);
  ag_tok_range *lit = NULL;
  size_t nlit = 0;
  int rc = chat_prompt(m, messages, &text, &lit, &nlit);
  if (!rc) rc = encode_chat(m, text.data ? (const char *)text.data : "", text.len, lit, nlit, ids, n);
  ag_buf_free(&text);
  free(lit);
  return rc;
}
