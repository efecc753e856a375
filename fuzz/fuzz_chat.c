/*
 * fuzz_chat.c — attacker-written chat requests through a real chat template: the body of a
 * POST /v1/chat/completions as a miner parses it (ag_inf_request_parse), its messages rendered
 * by a GGUF model's template (ag_engine_chat_text) and tokenized with its special tokens parsed
 * (ag_engine_encode_chat), as ag_inf_prompt_ids does for a GGUF model.
 *
 * The first input byte picks a template (low nibble, mod 5) and a tokenizer (high nibble, mod
 * 4); the rest is the body. Templates: SmolLM2's ChatML, Gemma 3's instruct template (written
 * in jinja.h's subset: no inline if-else, `is sequence` for `is iterable`), Llama 3's, the
 * Llama 2 [INST] template of tests/test_jinja.c (bos_token, raise_exception on other roles),
 * and none (ag_engine_chat_text's ChatML fallback). Tokenizers: the nano model's own (Agora's
 * BPE, models/agora-nano.bin), and three small GGUF vocabularies built here with
 * ag_tok_from_spec, each with every byte as a token and its family's special tokens: gpt2 with
 * ChatML's (pre-tokenizer smollm), spm with Gemma's (<0xXX> byte fallback), gpt2 with Llama 3's
 * (llama-bpe, which adds BOS).
 *
 * The nano model is not a GGUF file and has no template, and ag_inf_prompt_ids takes the
 * template route only for GGUF models; so the harness does not write a GGUF file (the exporter
 * writes neither a template nor special tokens) but judges with a model that is the nano model
 * with another tokenizer and template and gguf set: a view in fixed storage, owning nothing
 * (the nano model and the harness own the parts). Only those three fields are read there.
 *
 * What must hold: a failed render leaves nothing; the text is within AG_JINJA_MAX_OUT; every
 * id is inside the vocabulary; the ids decode to the text with the special-token strings cut
 * out (every byte has a token, so tokenizing loses nothing else; spm also reads a written
 * U+2581 as the space it spells); and ag_inf_prompt_ids (content taken as written) gives the
 * same code, ids inside the vocabulary, and the same ids as the two calls when no message
 * writes a control token's text.
 *
 * AGORA_FUZZ_STATS=1 prints at exit how far bodies got: parsed, rendered or refused by the
 * template (per template), tokenized.
 */
#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/jinja.h"
#include "subnets/inference.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const templates[4] = {
    /* SmolLM2-135M-Instruct */
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    /* Gemma 3 (instruct), in jinja.h's subset */
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' }}\n"
    "    {%- if loop.first -%}{{ first_user_prefix }}{%- endif -%}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is sequence -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n"
    "{%- endif -%}\n",
    /* Llama 3 (8B Instruct) */
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    /* Llama 2 [INST] (tests/test_jinja.c) */
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}"
    "{% set rest = messages[1:] %}{% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}"
    "{% for m in rest %}{% if m['role'] == 'user' %}[INST] {% if loop.first and sys %}{{ sys }}\n\n{% endif %}"
    "{{ m['content'] }} [/INST]{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}"
    "{% else %}{{ raise_exception('roles must be user or assistant') }}{% endif %}{% endfor %}",
};

/* A vocabulary: special tokens (control, or unknown for <unk>), then the 256 bytes, then
 * ordinary pieces (gpt2: the results of merges; spm: pieces with scores). */
typedef struct {
  int kind;
  const char *pre;
  const char *const *special; /* NULL-terminated; "<unk>" is the unknown token */
  const char *const *pieces;  /* NULL-terminated; gpt2: merges "left|right" of bytes */
  int32_t bos, eos;
  int add_bos;
} vocab_def;

static const char *const chatml_special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", NULL};
static const char *const gemma_special[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                                            "<end_of_turn>", NULL};
static const char *const llama3_special[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                             "<|end_header_id|>", "<|eot_id|>", NULL};
static const char *const gpt2_merges[] = {" |t", "h|e", " t|he", "i|n", " |a", "e|r", "u|s", "us|er", "s|y", "sy|s",
                                          "o|u", " |y", " y|ou", "\n|\n", "a|s", "as|s", "i|s", "n|t", " |w", "o|r",
                                          NULL};
static const char *const spm_pieces[] = {"\xe2\x96\x81", "e", "t", "a", "o", "\xe2\x96\x81t", "he", "\xe2\x96\x81the",
                                         "us", "user", "model", "\xe2\x96\x81is", "in", "er", NULL};

static const vocab_def vocabs[3] = {
    {AG_TOKK_GPT2, "smollm", chatml_special, gpt2_merges, 1, 2, -1},
    {AG_TOKK_SPM, NULL, gemma_special, spm_pieces, 2, 1, 1},
    {AG_TOKK_GPT2, "llama-bpe", llama3_special, gpt2_merges, 0, 4, -1},
};

static ag_model *model;       /* the nano model: the tokenizer of index 0 */
static ag_tokenizer *toks[4]; /* toks[0] borrowed from model */
static const char *const *specials[4];
static const char *const agora_special[] = {"<|endoftext|>", NULL};
static ag_jinja *tmpls[5]; /* tmpls[4] NULL: no template */

/* GPT-2's byte-to-unicode spelling of byte b, as UTF-8. */
static size_t gpt2_byte(uint8_t b, char out[3]) {
  uint32_t c = b <= 0x20 ? 256u + b : b >= 0x7f && b <= 0xa0 ? 289u + (b - 0x7f) : b == 0xad ? 323u : (uint32_t)b;
  if (c < 0x80) return out[0] = (char)c, 1;
  out[0] = (char)(0xc0 | c >> 6);
  out[1] = (char)(0x80 | (c & 63));
  return 2;
}

static void gpt2_spell(const char *s, size_t n, ag_buf *out) {
  char u[3];
  for (size_t i = 0; i < n; i++) ag_buf_put(out, u, gpt2_byte((uint8_t)s[i], u));
}

static ag_tokenizer *build(const vocab_def *d) {
  ag_buf store; /* every string, NUL-separated; the tables point into it once it is complete */
  ag_buf_init(&store);
  size_t off[400], len[400], moff[64], mlen[64], nt = 0, nm = 0;
  int32_t type[400];
  float score[400];
  for (size_t i = 0; d->special[i]; i++, nt++) {
    off[nt] = store.len;
    ag_buf_puts(&store, d->special[i]);
    len[nt] = store.len - off[nt];
    ag_buf_put_u8(&store, 0);
    type[nt] = !strcmp(d->special[i], "<unk>") ? AG_TOKT_UNKNOWN : AG_TOKT_CONTROL;
    score[nt] = 0;
  }
  for (int b = 0; b < 256; b++, nt++) {
    off[nt] = store.len;
    char u[3];
    if (d->kind == AG_TOKK_SPM) ag_buf_printf(&store, "<0x%02X>", b);
    else ag_buf_put(&store, u, gpt2_byte((uint8_t)b, u));
    len[nt] = store.len - off[nt];
    ag_buf_put_u8(&store, 0);
    type[nt] = d->kind == AG_TOKK_SPM ? AG_TOKT_BYTE : AG_TOKT_NORMAL;
    score[nt] = -1000;
  }
  for (size_t i = 0; d->pieces[i]; i++, nt++) {
    const char *p = d->pieces[i];
    off[nt] = store.len;
    if (d->kind == AG_TOKK_SPM) {
      ag_buf_puts(&store, p);
    } else { /* the merge "l r" in GPT-2 spelling, and its result as a token */
      const char *sp = strchr(p, '|');
      moff[nm] = store.len;
      gpt2_spell(p, (size_t)(sp - p), &store);
      ag_buf_put_u8(&store, ' ');
      gpt2_spell(sp + 1, strlen(sp + 1), &store);
      mlen[nm] = store.len - moff[nm];
      nm++;
      ag_buf_put_u8(&store, 0);
      off[nt] = store.len;
      gpt2_spell(p, (size_t)(sp - p), &store);
      gpt2_spell(sp + 1, strlen(sp + 1), &store);
    }
    len[nt] = store.len - off[nt];
    ag_buf_put_u8(&store, 0);
    type[nt] = AG_TOKT_NORMAL;
    score[nt] = -(float)i;
  }
  const uint8_t *tp[400], *mp[64];
  for (size_t i = 0; i < nt; i++) tp[i] = store.data + off[i];
  for (size_t i = 0; i < nm; i++) mp[i] = store.data + moff[i];
  int32_t unk = -1;
  for (size_t i = 0; d->special[i]; i++)
    if (type[i] == AG_TOKT_UNKNOWN) unk = (int32_t)i;
  ag_tok_spec s = {.kind = d->kind, .pre = d->pre, .n_tokens = nt, .tok = tp, .tok_len = len, .scores = score,
                   .types = type, .n_merges = nm, .merge = mp, .merge_len = mlen, .bos = d->bos, .eos = d->eos,
                   .eot = -1, .unk = unk, .pad = -1, .add_bos = d->add_bos, .add_eos = -1,
                   .add_space_prefix = d->kind == AG_TOKK_SPM ? 0 : -1};
  ag_tokenizer *t = NULL;
  int rc = ag_tok_from_spec(&s, &t);
  if (rc) {
    fprintf(stderr, "fuzz_chat: vocabulary %d: %s\n", d->kind, ag_errmsg(rc));
    abort();
  }
  ag_buf_free(&store);
  return t;
}

static struct {
  int on;
  unsigned long bodies, parsed, rendered[5], refused[5], tokens;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_chat: %lu bodies, %lu parsed; rendered (refused) by template: ChatML %lu (%lu), Gemma 3 %lu (%lu), "
            "Llama 3 %lu (%lu), Llama 2 %lu (%lu), none %lu (%lu); %lu tokens\n",
            stats.bodies, stats.parsed, stats.rendered[0], stats.refused[0], stats.rendered[1], stats.refused[1],
            stats.rendered[2], stats.refused[2], stats.rendered[3], stats.refused[3], stats.rendered[4],
            stats.refused[4], stats.tokens);
  for (int i = 0; i < 5; i++) ag_jinja_free(tmpls[i]);
  for (int i = 1; i < 4; i++) ag_tok_free(toks[i]);
  ag_model_close(model);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  if (ag_model_load(AGORA_SRC_DIR "/models/agora-nano.bin", &model, NULL) || !model->tok) abort();
  toks[0] = model->tok;
  specials[0] = agora_special;
  for (int i = 0; i < 3; i++) {
    toks[i + 1] = build(&vocabs[i]);
    specials[i + 1] = vocabs[i].special;
  }
  for (int i = 0; i < 4; i++) {
    int rc = ag_jinja_parse(templates[i], strlen(templates[i]), &tmpls[i]);
    if (rc) {
      fprintf(stderr, "fuzz_chat: template %d: %s\n", i, ag_errmsg(rc));
      abort();
    }
  }
  atexit(at_exit);
  return 0;
}

/* What the ids of text decode to: text with every occurrence of the special strings cut out
 * (they are all <...> with no '<' or '>' inside, so occurrences never overlap and the order of
 * cutting does not matter) and, for spm, U+2581 as a space (SentencePiece spells spaces so:
 * one written in the text is a space once tokenized, in llama.cpp too). */
static void expected(const uint8_t *s, size_t n, const char *const *sp, int spm, ag_buf *out) {
  for (size_t i = 0; i < n;) {
    size_t l = 0;
    for (int k = 0; sp[k] && !l; k++) {
      size_t kl = strlen(sp[k]);
      if (kl <= n - i && !memcmp(s + i, sp[k], kl)) l = kl;
    }
    if (l) i += l;
    else if (spm && n - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3)) {
      ag_buf_put_u8(out, ' ');
      i += 3;
    } else ag_buf_put_u8(out, s[i++]);
  }
}

static void fail(const char *what, int t, int k, const ag_buf *text) {
  fprintf(stderr, "fuzz_chat: %s (template %d, tokenizer %d)\n%.*s\n", what, t, k,
          (int)AG_MIN(text->len, 2000), text->data ? (const char *)text->data : "");
  abort();
}

/* Whether a message's content holds a control token's text (or U+E000, which the chat path
 * escapes too). */
static int writes_control(const ag_model *m, json_t *messages) {
  int found = 0;
  ag_buf c;
  ag_buf_init(&c);
  for (size_t i = 0; i < json_array_size(messages) && !found; i++) {
    ag_buf_reset(&c);
    if (ag_engine_message_text(json_object_get(json_array_get(messages, i), "content"), &c)) continue;
    for (size_t j = 0; j < c.len && !found; j++)
      found = ag_tok_control_at(m->tok, c.data + j, c.len - j) > 0 ||
              (c.len - j >= 3 && !memcmp(c.data + j, "\xee\x80\x80", 3));
  }
  ag_buf_free(&c);
  return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int t = (data[0] & 15) % 5, k = (data[0] >> 4) % 4;
  ag_inf_request r;
  const char *param;
  stats.bodies++;
  if (ag_inf_request_parse(true, data + 1, size - 1, &r, &param)) {
    ag_err_clear();
    return 0;
  }
  stats.parsed++;
  static ag_model view; /* the nano model with tokenizer k and template t, as a GGUF model */
  view = *model;
  view.tok = toks[k];
  view.chat = tmpls[t];
  view.gguf = 1;
  const uint32_t V = (uint32_t)ag_tok_vocab(view.tok);
  ag_buf text, want, got;
  ag_buf_init(&text);
  ag_buf_init(&want);
  ag_buf_init(&got);
  uint32_t *ids = NULL, *ids2 = NULL;
  size_t n = 0, n2 = 0;
  int rc = ag_engine_chat_text(&view, r.messages, &text);
  if (rc > 0) fail("chat_text returned a positive code", t, k, &text);
  if (rc && text.len) fail("a failed render left text", t, k, &text);
  if (text.len > AG_JINJA_MAX_OUT) fail("the text exceeds AG_JINJA_MAX_OUT", t, k, &text);
  if (rc) stats.refused[t]++;
  else stats.rendered[t]++;
  if (!rc) {
    rc = ag_engine_encode_chat(&view, text.data ? (const char *)text.data : "", text.len, &ids, &n);
    if (rc > 0) fail("encode_chat returned a positive code", t, k, &text);
  }
  if (!rc) {
    stats.tokens += n;
    for (size_t i = 0; i < n; i++)
      if (ids[i] >= V) fail("an id outside the vocabulary", t, k, &text);
    expected(text.data, text.len, specials[k], ag_tok_kind(view.tok) == AG_TOKK_SPM, &want);
    if (ag_tok_decode(view.tok, ids, n, &got)) fail("the ids do not decode", t, k, &text);
    if (got.len != want.len || (got.len && memcmp(got.data, want.data, got.len))) {
      fprintf(stderr, "fuzz_chat: decoded:\n%.*s\n", (int)AG_MIN(got.len, 2000), got.data ? (char *)got.data : "");
      fail("the ids do not decode to the text without its special tokens", t, k, &text);
    }
  }
  /* the network's route (ag_engine_chat_ids: messages' content taken as written): the same
   * code; ids inside the vocabulary; and the same ids as the whole text's when no message
   * writes a control token's text */
  int rc2 = ag_inf_prompt_ids(&view, &r, &ids2, &n2);
  if (rc2 != rc) fail("ag_inf_prompt_ids disagrees with chat_text + encode_chat", t, k, &text);
  for (size_t i = 0; !rc && i < n2; i++)
    if (ids2[i] >= V) fail("an id of ag_inf_prompt_ids outside the vocabulary", t, k, &text);
  if (!rc && !writes_control(&view, r.messages) && (n2 != n || memcmp(ids, ids2, n * sizeof *ids)))
    fail("ag_inf_prompt_ids gives other ids", t, k, &text);
  free(ids);
  free(ids2);
  ag_buf_free(&text);
  ag_buf_free(&want);
  ag_buf_free(&got);
  ag_inf_request_free(&r);
  ag_err_clear();
  return 0;
}
