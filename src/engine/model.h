/*
 * model.h — the Llama-style decoder: configuration, weights, inference state (KV cache).
 *
 * Dimension legend (used in shape comments throughout the engine):
 *   V vocab_size, C dim, L n_layers, NH n_heads, KVH n_kv_heads, HD head size (C / NH unless
 *   the file says otherwise), QD = NH * HD, KVD = KVH * HD, H hidden_dim, S seq_len (context),
 *   T tokens in one forward call.
 *
 * Block l:  x += Wo · attn(rope(Wq · rms(x)), rope(Wk · rms(x)), Wv · rms(x))
 *           x += W2 · (silu(W1 · rms(x)) * (W3 · rms(x)))
 * then logits = Wout · rms(x), with Wout = tok_emb when tied. RoPE rotates adjacent pairs
 * (x[2i], x[2i+1]) by pos * theta^(-2i/HD) (llama.cpp's LLAMA convention).
 *
 * Weights live in one blob in "canonical order" (ag_model_tensor), each tensor starting at a
 * 64-byte boundary; matrices are fp32 or q8 (kernels.h), norms always fp32. The checkpoint file
 * stores exactly this blob (checkpoint.c), so loading is an mmap.
 *
 * Ownership: ag_model is opened by ag_model_create / ag_model_load* / ag_model_quantize and
 * released by ag_model_close, which frees its blob (or unmaps it) and its tokenizer.
 * ag_infer holds a borrowed model pointer: close the state before the model.
 */
#ifndef AG_ENGINE_MODEL_H
#define AG_ENGINE_MODEL_H

#include "core/hash.h"
#include "engine/kernels.h"
#include "engine/pool.h"
#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int32_t dim;        /* C */
  int32_t n_layers;   /* L */
  int32_t n_heads;    /* NH */
  int32_t n_kv_heads; /* KVH, divides NH */
  int32_t hidden_dim; /* H */
  int32_t vocab_size; /* V */
  int32_t seq_len;    /* S, maximum context */
  float rope_theta;   /* RoPE base, e.g. 10000 */
  float norm_eps;     /* RMSNorm epsilon, e.g. 1e-5 */
  int32_t tied;       /* 1: the output projection is tok_emb */
  /* Fields below are zero for Agora's own models (and not stored in their checkpoints); GGUF
   * models set them from the file. */
  int32_t head_dim;   /* HD; 0 = dim / n_heads */
  int32_t arch;       /* AG_ARCH_* */
  int32_t rope_neox;  /* 1: RoPE rotates (x[i], x[i + HD/2]) (NEOX); 0: adjacent pairs */
  int32_t swa_window; /* > 0: sliding-window layers see the last swa_window positions */
  int32_t swa_pattern; /* > 0: layer l is global when (l + 1) % swa_pattern == 0, else sliding */
  float rope_theta_swa; /* RoPE base of sliding-window layers */
} ag_model_config;

/* llama: the block above. gemma3: x = emb * sqrt(C); block l:
 *   x += post_attn_norm(Wo · attn(rope(qnorm(Wq · rms(x))), rope(knorm(Wk · rms(x))), Wv · rms(x)))
 *   x += post_ffn_norm(W2 · (gelu(W1 · rms(x)) * (W3 · rms(x))))
 * with per-head RMSNorms qnorm/knorm over HD, gelu the tanh form, NEOX RoPE and sliding-window
 * attention on all but every swa_pattern-th layer. */
enum { AG_ARCH_LLAMA = 0, AG_ARCH_GEMMA3 = 1 };
static inline int ag_head_dim(const ag_model_config *c) {
  return c->head_dim ? c->head_dim : c->dim / c->n_heads;
}

/* Presets: "nano" (~2M params, trainable on 2 cores), "stories15m" (llama2.c's 15M shape),
 * "tiny" (for tests). AG_E_NOTFOUND for other names. */
int ag_model_preset(const char *name, ag_model_config *cfg);
/* Validates ranges and divisibility; AG_E_INVALID/AG_E_TOO_LARGE with a message. */
int ag_model_config_check(const ag_model_config *cfg);
/* Number of parameters (without padding). */
uint64_t ag_model_param_count(const ag_model_config *cfg);

/* Canonical tensor order. Per-layer kinds are stacked over L. */
enum {
  AG_T_TOK_EMB,   /* (V, C) matrix */
  AG_T_ATTN_NORM, /* (L, C) */
  AG_T_WQ,        /* (L, QD, C) matrix */
  AG_T_WK,        /* (L, KVD, C) matrix */
  AG_T_WV,        /* (L, KVD, C) matrix */
  AG_T_WO,        /* (L, C, QD) matrix */
  AG_T_FFN_NORM,  /* (L, C) */
  AG_T_W1,        /* (L, H, C) matrix (gate) */
  AG_T_W2,        /* (L, C, H) matrix (down) */
  AG_T_W3,        /* (L, H, C) matrix (up) */
  AG_T_FINAL_NORM, /* (C) */
  AG_T_OUT,       /* (V, C) matrix; absent when tied */
  AG_T_COUNT
};

typedef struct {
  const char *name;
  int layers;     /* 1 or L */
  int rows, cols; /* per layer; norms have rows = 1 */
  int matrix;     /* quantizable */
  int present;
  size_t offset;  /* in the blob */
  size_t bytes;   /* all layers */
} ag_tensor_info;

/* Fills info[AG_T_COUNT] for cfg with matrices of type wtype; returns the blob size. */
size_t ag_model_layout(const ag_model_config *cfg, int wtype, ag_tensor_info *info);

typedef struct ag_model {
  ag_model_config cfg;
  int wtype;            /* AG_DT_F32 or AG_DT_Q8 for matrices */
  uint8_t *blob;        /* canonical weights (64-byte aligned) */
  size_t blob_len;
  int blob_owned;       /* 0 borrowed, 1 free(blob), 2 munmap(map, map_len), 3 free(map) */
  void *map;
  size_t map_len;
  ag_tensor_info info[AG_T_COUNT];
  ag_tokenizer *tok;    /* owned; may be NULL (benchmark models) */
  uint8_t id[AG_HASH_LEN]; /* content hash, set by save/load (ag_model_compute_id) */
  /* views into blob */
  ag_mat tok_emb, out;
  ag_mat *wq, *wk, *wv, *wo, *w1, *w2, *w3; /* (L) */
  const float *attn_norm, *ffn_norm, *final_norm;
  /* GGUF models (gguf.c): blob is the whole file image, the views point into it with each
   * tensor's own type, and the norm vectors are fp32 copies in norms. */
  int gguf;
  float *norms;                      /* owned */
  const float *q_norm, *k_norm;      /* (L, HD) gemma3, else NULL */
  const float *post_attn_norm, *post_ffn_norm; /* (L, C) gemma3, else NULL */
  const float *rope_freqs;           /* (HD/2) frequency divisors (Llama 3), or NULL */
  float emb_scale;                   /* embeddings are multiplied by this when not 0 */
  char *chat_template;               /* tokenizer.chat_template (owned, NUL-terminated), or NULL */
  size_t chat_template_len;
  struct ag_jinja *chat;             /* the template parsed (owned), or NULL */
} ag_model;

/* A new fp32 model with weights drawn from N(0, 0.02) (residual projections scaled by
 * 1/sqrt(2L)) by Philox keyed by seed, norms 1. tok may be NULL; the model takes it. */
int ag_model_create(const ag_model_config *cfg, uint64_t seed, ag_tokenizer *tok, ag_model **out);
/* Wraps an existing blob (takes ownership per owned: 0 borrowed, 1 malloc'd). */
int ag_model_wrap(const ag_model_config *cfg, int wtype, uint8_t *blob, size_t len, int owned,
                  ag_model **out);
/* A q8 copy of an fp32 model (tokenizer copied). */
int ag_model_quantize(const ag_model *m, ag_model **out);
/* An fp32 copy (dequantizes q8); the result owns a writable blob. */
int ag_model_to_f32(const ag_model *m, ag_model **out);
void ag_model_close(ag_model *m);
/* Float view of the blob (fp32 models only; padding included). */
float *ag_model_params(ag_model *m, size_t *n);
/* Re-points views after the blob moved. */
void ag_model_bind(ag_model *m);

/* Inference state: KV cache for one sequence plus scratch for up to max_t tokens per call. */
typedef struct ag_infer ag_infer;
/* Callback for each position's logits (V floats, valid during the call). Nonzero stops. */
typedef int (*ag_logits_fn)(void *ctx, int pos, const float *logits);

int ag_infer_open(const ag_model *m, int max_t, int threads, ag_infer **out);
void ag_infer_close(ag_infer *s);
void ag_infer_reset(ag_infer *s);
/* Forgets every position from pos on (0 <= pos <= the current one): the cache of the first pos
 * stays, so a shared prefix is computed once and the logits after it are the same bits as
 * from a fresh state. */
void ag_infer_rewind(ag_infer *s, int pos);
/* The key/value cache of the first n positions as floats (ag_infer_kv_floats of them: keys then
 * values, layer by layer, position by position with the KV heads side by side, whatever the
 * state's own layout): exported from a state that computed them and imported into one of
 * the same model, which then continues at position n with the same bits as the first. */
size_t ag_infer_kv_floats(const ag_infer *s, int n);
int ag_infer_kv_export(const ag_infer *s, int n, float *out);
int ag_infer_kv_import(ag_infer *s, int n, const float *in);
int ag_infer_pos(const ag_infer *s);
ag_pool *ag_infer_pool(ag_infer *s);
const ag_model *ag_infer_model(const ag_infer *s); /* borrowed */
/* Appends n tokens (ids < V) at positions pos.. and runs them through the model in batches of
 * up to max_t rows. If last_logits is not NULL, the logits of the last position are copied
 * there (V floats). If fn is not NULL, it is called with every position's logits in order.
 * AG_E_RANGE when the context would overflow or an id is out of range (state unchanged). */
int ag_infer_forward(ag_infer *s, const uint32_t *tokens, int n, float *last_logits,
                     ag_logits_fn fn, void *ctx);
/* Logits are produced at most this many rows at a time (the state holds a
 * (min(max_t, AG_INFER_LOGIT_ROWS, max(8, 4M / V)), V) buffer: large vocabularies get fewer
 * rows per batch, which changes no bit). */
#define AG_INFER_LOGIT_ROWS 256
/* Like ag_infer_forward with fn, but hands over each batch of logits at once:
 * chunk(ctx, pos of the first row, rows, logits (rows, V)); nonzero stops. */
typedef int (*ag_logits_chunk_fn)(void *ctx, int pos, int rows, const float *logits);
int ag_infer_forward_chunks(ag_infer *s, const uint32_t *tokens, int n, ag_logits_chunk_fn chunk,
                            void *ctx);
/* Bytes of the state's own allocation (KV cache + scratch). */
size_t ag_infer_bytes(const ag_infer *s);

/* RoPE table (S, HD/2) of cos and sin for cfg, computed with detmath (caller frees).
 * ag_rope_table_ex: with base theta and optional per-frequency divisors (HD/2, or NULL). */
float *ag_rope_table(const ag_model_config *cfg);
float *ag_rope_table_ex(const ag_model_config *cfg, float theta, const float *freq_div);

/* --- building blocks shared with training (model.c) --- */
typedef struct {
  int N;                 /* rows */
  int rows_per_seq;      /* rows of one sequence are consecutive: seq = n / rows_per_seq */
  int pos0;              /* position of row 0 of each sequence */
  int cap;               /* positions per sequence in kc/vc and att */
  const uint32_t *tokens; /* (N) */
  float *x;              /* (N, C) residual stream in; holds the result after the last layer */
  /* per-layer buffers: pointer for layer l = base + l * stride (stride 0 = reused) */
  float *xin; size_t xin_s;       /* (N, C) copy of the layer input (training) or NULL */
  float *xn1; size_t xn1_s;       /* (N, C) */
  float *rinv1; size_t rinv1_s;   /* (N) */
  float *q; size_t q_s;           /* (N, QD) after RoPE */
  float *kc; size_t kc_s;         /* (nseq, cap, KVD) after RoPE, or (nseq, KVH, cap, HD) */
  float *vc; size_t vc_s;         /* (nseq, cap, KVD), or (nseq, KVH, cap, HD) */
  int kv_heads_major;             /* kc/vc hold each KV head's positions together (inference:
                                     attention then reads them in one stream, not a stride) */
  float *att; size_t att_s;       /* (N, NH, cap) softmax probabilities */
  float *ao; size_t ao_s;         /* (N, QD) attention output */
  float *xmid; size_t xmid_s;     /* (N, C) residual after attention (training) or NULL */
  float *xn2; size_t xn2_s;       /* (N, C) */
  float *rinv2; size_t rinv2_s;   /* (N) */
  float *h1; size_t h1_s;         /* (N, H) */
  float *h3; size_t h3_s;         /* (N, H) */
  float *hg; size_t hg_s;         /* (N, H) */
  float *tmp;                     /* (N, max(C, 2 * KVD)) scratch and kv staging */
  float *xf;                      /* (N, C) final norm output */
  float *rinvf;                   /* (N) */
  const float *rope;              /* (S, HD/2, 2) */
  const float *rope_swa;          /* the same for sliding-window layers (gemma3), else NULL */
} ag_fwd_io;

/* Embeds io->tokens into io->x and runs all layers and the final norm (into io->xf). */
void ag_model_forward_rows(const ag_model *m, ag_pool *pool, ag_fwd_io *io);
/* RMSNorm of one row: out = x * rinv * w, rinv = 1/sqrt(dot(x,x)/n + eps); returns rinv. */
float ag_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
float ag_silu(float x);
/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh through ag_expf (gemma's GELU). */
float ag_gelu(float x);

#endif
