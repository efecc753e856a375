/*
 * engine.h — the AI engine's public API, for the CLI and the network layer (miners and
 * validators). Everything else under src/engine/ is reachable through the headers included
 * here; what is not declared in them is not API.
 *
 * Lifecycle and ownership
 *   ag_model_load(path, &m, NULL)      open a model file (mmap, read-only use); ag_model_close(m)
 *   ag_gguf_load(path, &m)             open a GGUF llama model; ag_model_close(m)
 *   ag_infer_open(m, max_t, threads, &s)  a KV-cache state borrowing m; ag_infer_close(s) first
 *
 * Serving (miner)
 *   ag_engine_generate(m, prompt, n, max_new, &sp, threads, tokens, &n_out, &receipt)
 *     generates with a commitment; tokens is caller-allocated (max_new entries); the receipt
 *     bytes are appended to the caller's ag_buf (ag_buf_free when done). The network layer
 *     signs the receipt bytes; the engine does not hold keys.
 * Validating
 *   ag_receipt_verify(m, bytes, len, threads, &report)
 *     one batched prefill over prompt + output; 0 when every token, sampling decision and the
 *     commitment match bit for bit, else an AG_E_RECEIPT_* code naming the first failure.
 * Text
 *   ag_engine_encode / ag_tok_decode (tokenizer.h) convert between text and ids.
 *
 * Threading: a model may be shared read-only by many states in many threads; a state (and its
 * pool) is used by one thread at a time.
 */
#ifndef AG_ENGINE_H
#define AG_ENGINE_H

#include <jansson.h>

#include "engine/checkpoint.h"
#include "engine/data.h"
#include "engine/detmath.h"
#include "engine/generate.h"
#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "engine/train.h"

/* Generation in one call: opens a state, generates, closes it. See above for ownership. */
int ag_engine_generate(const ag_model *m, const uint32_t *prompt, int n_prompt, int max_new,
                       const ag_sampling *sp, int threads, uint32_t *tokens, int *n_out,
                       ag_buf *receipt);
/* Prompt ids for text as a completion: the tokenizer's BOS as the model wants it (Agora's own:
 * <|endoftext|>; GGUF: add_bos_token), then the ids of text, special-token strings taken as
 * plain text (malloc'd *ids; caller frees). AG_E_MODEL_NO_TOKENIZER when the model has none. */
int ag_engine_encode(const ag_model *m, const char *text, size_t len, uint32_t **ids, size_t *n);
/* Prompt ids for a rendered chat template: special-token strings become their ids, and BOS is
 * added as for a completion unless the text already starts with it. */
int ag_engine_encode_chat(const ag_model *m, const char *text, size_t len, uint32_t **ids, size_t *n);
/* The text of a message's content (appended to out): a string, the text parts of a list
 * joined, or nothing for null or no content; -1 for anything else. One rule for every chat
 * prompt, Agora's transcript and a GGUF model's template alike. */
int ag_engine_message_text(json_t *content, ag_buf *out);
/* The chat prompt of messages (OpenAI's [{role, content}], content a string or text parts) for
 * a GGUF model: its tokenizer.chat_template rendered (jinja.h) with add_generation_prompt, or
 * ChatML when the file has none (as llama.cpp does); appended to out. */
int ag_engine_chat_text(const ag_model *m, json_t *messages, ag_buf *out);
/* The chat prompt's ids: that text, tokenized with the template's special tokens parsed but
 * the messages' content taken as written (a control token's text in a message stays text, as
 * OpenAI's API keeps it; docs/engine.md "Chat templates"). Caller frees *ids. */
int ag_engine_chat_ids(const ag_model *m, json_t *messages, uint32_t **ids, size_t *n);

/* A q8 model computes the same bits as the fp32 model of its dequantized weights (the q8
 * kernels widen exactly; tests/test_inference.c checks receipts across the two). For a model
 * small enough to stay in cache the fp32 kernels are faster, so when the fp32 weights take at
 * most max_bytes this replaces *m by that copy, keeping the id (receipts name the pinned
 * file). Returns 1 when it did. Miners, validators and `agora model generate|verify|eval` use
 * it with AG_PREFER_F32_MAX. */
#define AG_PREFER_F32_MAX ((uint64_t)256 << 20)
int ag_model_prefer_f32(ag_model **m, uint64_t max_bytes);

#endif
