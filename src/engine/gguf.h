/*
 * gguf.h — GGUF (v3) export and import for the llama architecture (docs/gguf.md).
 *
 * Export writes general.architecture = "llama", the llama.* hyperparameters, the BPE
 * vocabulary as tokenizer.ggml.model = "gpt2" with tokens (GPT-2 byte-to-unicode spelling),
 * token types and merges, and tensors token_embd / blk.N.* / output_norm / output in F32, F16
 * or Q8_0 (norms always F32). Import accepts those tensor types and rebuilds an Agora model;
 * F32 and Q8_0 exports import back to the same model id (F16 is lossy by nature; an F16 file
 * imports as fp32 and re-exports to identical bytes).
 * Import treats the file as hostile: every count, length, offset and shape is checked against
 * the file size before use, and errors are AG_E_GGUF_* codes.
 */
#ifndef AG_ENGINE_GGUF_H
#define AG_ENGINE_GGUF_H

#include "core/buf.h"
#include "engine/model.h"

enum { AG_GGUF_F32 = 0, AG_GGUF_F16 = 1, AG_GGUF_Q8_0 = 8 }; /* ggml type ids */

/* Parses "f32", "f16", "q8_0"; -1 if unknown. */
int ag_gguf_type_parse(const char *s);
/* Appends the GGUF image of m to out. type is the matrix type; q8_0 needs dim % 32 == 0. */
int ag_gguf_export(const ag_model *m, int type, ag_buf *out);
int ag_gguf_save(const ag_model *m, int type, const char *path);
/* Builds a model from a GGUF image (copied); sets (*out)->id. */
int ag_gguf_import(const uint8_t *data, size_t len, ag_model **out);
int ag_gguf_load(const char *path, ag_model **out);

/* A model that computes straight from a GGUF image as published (llama or gemma3, every tensor
 * type kernels.h lists), without conversion: the weights are views into data, which must stay
 * valid and unchanged while the model lives (the caller owns it; ag_model_load maps files and
 * hands the mapping to the model). The model id is BLAKE2b-256 ("agora/model") of the whole
 * image. Keys or tensors the engine does not understand but that would change the computation
 * are refused with AG_E_GGUF_KEY naming them. The context is capped at AG_GGUF_CTX. */
#define AG_GGUF_CTX 4096
int ag_gguf_open(const uint8_t *data, size_t len, ag_model **out);

#endif
