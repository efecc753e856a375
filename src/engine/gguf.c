/*
 * gguf.c — GGUF v3 writer and reader for llama models (see gguf.h, docs/gguf.md).
 * The reader walks the file with core's bounds-checked ag_reader; every count is capped
 * before it sizes an allocation, and tensor extents are checked against the data section.
 * Does not: read GGUF v1/v2, quantized types other than Q8_0, or architectures other than llama;
 * vocabularies that are not laid out like ours import without a tokenizer.
 */
#include "engine/gguf.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/checkpoint.h"
#include "engine/detmath.h"
#include "engine/jinja.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64, GT_F64 };
#define ALIGN 32
#define MAX_KV 4096
#define MAX_TENSORS 65536
#define MAX_ARR (1u << 24)

int ag_gguf_type_parse(const char *s) {
  if (!strcmp(s, "f32")) return AG_GGUF_F32;
  if (!strcmp(s, "f16")) return AG_GGUF_F16;
  if (!strcmp(s, "q8_0")) return AG_GGUF_Q8_0;
  return -1;
}

/* ---------- GPT-2 byte <-> unicode spelling of token strings ---------- */

static void byte_map(uint32_t map[256]) {
  int n = 0;
  for (int b = 0; b < 256; b++) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) map[b] = (uint32_t)b;
    else map[b] = 256 + (uint32_t)n++;
  }
}

static void put_utf8(ag_buf *b, uint32_t cp) {
  if (cp < 0x80) ag_buf_put_u8(b, (uint8_t)cp);
  else if (cp < 0x800) {
    ag_buf_put_u8(b, (uint8_t)(0xc0 | cp >> 6));
    ag_buf_put_u8(b, (uint8_t)(0x80 | (cp & 63)));
  } else {
    ag_buf_put_u8(b, (uint8_t)(0xe0 | cp >> 12));
    ag_buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 63)));
    ag_buf_put_u8(b, (uint8_t)(0x80 | (cp & 63)));
  }
}

static void token_string(const ag_tokenizer *t, uint32_t id, const uint32_t map[256], ag_buf *out) {
  if (id == AG_TOK_EOT) {
    ag_buf_puts(out, "<|endoftext|>");
    return;
  }
  size_t len;
  const uint8_t *p = ag_tok_piece(t, id, &len);
  for (size_t i = 0; i < len; i++) put_utf8(out, map[p[i]]);
}

/* ---------- writer ---------- */

static void w_str(ag_buf *b, const char *s, size_t n) {
  ag_buf_put_u64le(b, n);
  ag_buf_put(b, s, n);
}
static void kv_str(ag_buf *b, const char *k, const char *v) {
  w_str(b, k, strlen(k));
  ag_buf_put_u32le(b, GT_STR);
  w_str(b, v, strlen(v));
}
static void kv_u32(ag_buf *b, const char *k, uint32_t v) {
  w_str(b, k, strlen(k));
  ag_buf_put_u32le(b, GT_U32);
  ag_buf_put_u32le(b, v);
}
static void kv_f32(ag_buf *b, const char *k, float v) {
  w_str(b, k, strlen(k));
  ag_buf_put_u32le(b, GT_F32);
  uint32_t u;
  memcpy(&u, &v, 4);
  ag_buf_put_u32le(b, u);
}

typedef struct {
  char name[64];
  int kind, layer, type;
  uint64_t ne0, ne1; /* ne1 = 0 for vectors */
  uint64_t offset, bytes;
} tdesc;

static const char *gguf_names[AG_T_COUNT] = {"token_embd",  "attn_norm", "attn_q",   "attn_k",
                                             "attn_v",      "attn_output", "ffn_norm", "ffn_gate",
                                             "ffn_down",    "ffn_up",    "output_norm", "output"};

static size_t row_bytes(int type, size_t cols) {
  if (type == AG_GGUF_Q8_0) return cols / 32 * 34;
  if (type == AG_GGUF_F16) return cols * 2;
  return cols * 4;
}

static int plan(const ag_model *m, int mtype, tdesc **out, size_t *n) {
  size_t cap = (size_t)AG_T_COUNT * m->cfg.n_layers, k = 0;
  tdesc *t = ag_xcalloc(cap, sizeof(tdesc));
  uint64_t off = 0;
  for (int kind = 0; kind < AG_T_COUNT; kind++) {
    const ag_tensor_info *in = &m->info[kind];
    if (!in->present) continue;
    for (int l = 0; l < in->layers; l++) {
      tdesc *d = &t[k++];
      if (in->layers > 1) snprintf(d->name, sizeof d->name, "blk.%d.%s.weight", l, gguf_names[kind]);
      else snprintf(d->name, sizeof d->name, "%s.weight", gguf_names[kind]);
      d->kind = kind;
      d->layer = l;
      d->type = in->matrix ? mtype : AG_GGUF_F32;
      d->ne0 = (uint64_t)in->cols;
      d->ne1 = in->rows > 1 || in->matrix ? (uint64_t)in->rows : 0;
      d->bytes = (uint64_t)row_bytes(d->type, (size_t)in->cols) * (uint64_t)in->rows;
      d->offset = off;
      off = (off + d->bytes + ALIGN - 1) / ALIGN * ALIGN;
    }
  }
  *out = t;
  *n = k;
  return 0;
}

int ag_gguf_export(const ag_model *m, int type, ag_buf *b) {
  if (!m->tok) return ag_fail(AG_E_MODEL_NO_TOKENIZER, "GGUF export needs a model with a tokenizer");
  if (type != AG_GGUF_F32 && type != AG_GGUF_F16 && type != AG_GGUF_Q8_0)
    return ag_fail(AG_E_UNSUPPORTED, "unsupported GGUF tensor type %d", type);
  const ag_model_config *c = &m->cfg;
  if (type == AG_GGUF_Q8_0 && (c->dim % 32 || c->hidden_dim % 32))
    return ag_fail(AG_E_UNSUPPORTED, "q8_0 needs dim and hidden_dim divisible by 32");
  tdesc *t;
  size_t nt;
  plan(m, type, &t, &nt);
  int V = c->vocab_size;
  uint32_t map[256];
  byte_map(map);
  ag_buf_put(b, "GGUF", 4);
  ag_buf_put_u32le(b, 3);
  ag_buf_put_u64le(b, nt);
  const char *pre = ag_tok_pre(m->tok);
  ag_buf_put_u64le(b, pre ? 22 : 23); /* metadata keys below */
  kv_str(b, "general.architecture", "llama");
  kv_str(b, "general.name", "agora");
  kv_u32(b, "general.alignment", ALIGN);
  kv_u32(b, "general.file_type", type == AG_GGUF_F32 ? 0 : type == AG_GGUF_F16 ? 1 : 7);
  kv_u32(b, "llama.context_length", (uint32_t)c->seq_len);
  kv_u32(b, "llama.embedding_length", (uint32_t)c->dim);
  kv_u32(b, "llama.block_count", (uint32_t)c->n_layers);
  kv_u32(b, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
  kv_u32(b, "llama.attention.head_count", (uint32_t)c->n_heads);
  kv_u32(b, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
  kv_f32(b, "llama.rope.freq_base", c->rope_theta);
  kv_f32(b, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
  kv_u32(b, "llama.rope.dimension_count", (uint32_t)(c->dim / c->n_heads));
  kv_u32(b, "llama.vocab_size", (uint32_t)V);
  kv_str(b, "tokenizer.ggml.model", "gpt2");
  /* llama.cpp must know the pre-tokenizer. Agora's legacy rule has no llama.cpp name: it is
   * written as "default" (closest, not equal: docs/gguf.md) and marked for our importer. */
  kv_str(b, "tokenizer.ggml.pre", pre ? pre : "default");
  if (!pre) kv_str(b, "agora.pretokenizer", "legacy");
  /* tokens */
  w_str(b, "tokenizer.ggml.tokens", strlen("tokenizer.ggml.tokens"));
  ag_buf_put_u32le(b, GT_ARR);
  ag_buf_put_u32le(b, GT_STR);
  ag_buf_put_u64le(b, (uint64_t)V);
  ag_buf s;
  ag_buf_init(&s);
  for (int i = 0; i < V; i++) {
    ag_buf_reset(&s);
    token_string(m->tok, (uint32_t)i, map, &s);
    w_str(b, (const char *)s.data, s.len);
  }
  w_str(b, "tokenizer.ggml.token_type", strlen("tokenizer.ggml.token_type"));
  ag_buf_put_u32le(b, GT_ARR);
  ag_buf_put_u32le(b, GT_I32);
  ag_buf_put_u64le(b, (uint64_t)V);
  for (int i = 0; i < V; i++) ag_buf_put_u32le(b, i == AG_TOK_EOT ? 3 : 1);
  w_str(b, "tokenizer.ggml.merges", strlen("tokenizer.ggml.merges"));
  ag_buf_put_u32le(b, GT_ARR);
  ag_buf_put_u32le(b, GT_STR);
  ag_buf_put_u64le(b, ag_tok_n_merges(m->tok));
  for (size_t i = 0; i < ag_tok_n_merges(m->tok); i++) {
    uint32_t l, r;
    ag_tok_merge(m->tok, i, &l, &r);
    ag_buf_reset(&s);
    token_string(m->tok, l, map, &s);
    ag_buf_put_u8(&s, ' ');
    token_string(m->tok, r, map, &s);
    w_str(b, (const char *)s.data, s.len);
  }
  ag_buf_free(&s);
  kv_u32(b, "tokenizer.ggml.bos_token_id", AG_TOK_EOT);
  kv_u32(b, "tokenizer.ggml.eos_token_id", AG_TOK_EOT);
  w_str(b, "tokenizer.ggml.add_bos_token", strlen("tokenizer.ggml.add_bos_token"));
  ag_buf_put_u32le(b, GT_BOOL);
  ag_buf_put_u8(b, 1); /* the engine starts every prompt with <|endoftext|> */
  for (size_t i = 0; i < nt; i++) {
    w_str(b, t[i].name, strlen(t[i].name));
    ag_buf_put_u32le(b, t[i].ne1 ? 2 : 1);
    ag_buf_put_u64le(b, t[i].ne0);
    if (t[i].ne1) ag_buf_put_u64le(b, t[i].ne1);
    ag_buf_put_u32le(b, (uint32_t)t[i].type);
    ag_buf_put_u64le(b, t[i].offset);
  }
  while (b->len % ALIGN) ag_buf_put_u8(b, 0);
  size_t base = b->len;
  float *row = ag_xmalloc(sizeof(float) * (size_t)AG_MAX(c->dim, c->hidden_dim));
  for (size_t i = 0; i < nt; i++) {
    while (b->len < base + t[i].offset) ag_buf_put_u8(b, 0);
    const ag_tensor_info *in = &m->info[t[i].kind];
    int mt = in->matrix ? m->wtype : AG_DT_F32;
    size_t cols = (size_t)in->cols, rows = (size_t)in->rows;
    size_t srow = ag_mat_bytes(mt, 1, cols);
    const uint8_t *src = m->blob + in->offset + (size_t)t[i].layer * rows * srow;
    for (size_t r = 0; r < rows; r++) {
      const uint8_t *sr = src + r * srow;
      if (mt == AG_DT_Q8 && t[i].type == AG_GGUF_Q8_0) {
        ag_buf_put(b, sr, srow);
        continue;
      }
      ag_mat one = {mt, 1, (int)cols, sr};
      ag_mat_row(&one, 0, row);
      if (t[i].type == AG_GGUF_F32) ag_buf_put(b, row, cols * 4);
      else if (t[i].type == AG_GGUF_F16)
        for (size_t k = 0; k < cols; k++) ag_buf_put_u16le(b, ag_f32_to_f16(row[k]));
      else {
        size_t o = b->len;
        ag_buf_reserve(b, cols / 32 * 34);
        ag_quantize_q8(row, cols, b->data + o);
        b->len += cols / 32 * 34;
      }
    }
  }
  free(row);
  free(t);
  return 0;
}

int ag_gguf_save(const ag_model *m, int type, const char *path) {
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_gguf_export(m, type, &b);
  if (!rc) {
    rc = ag_write_file_atomic(path, b.data, b.len, 0644);
    if (rc) rc = ag_fail(rc, "cannot write %s", path);
  }
  ag_buf_free(&b);
  return rc;
}

/* ---------- reader ---------- */

typedef struct {
  const uint8_t *key;
  size_t klen;
  uint32_t type, atype;
  uint64_t n;          /* array length */
  size_t voff;         /* offset of the value (after type, or after array header) */
} kv;

static int r_str(ag_reader *r, const uint8_t **p, size_t *n) {
  uint64_t len;
  if (ag_read_u64le(r, &len)) return AG_E_GGUF_CORRUPT;
  if (len > ag_reader_left(r)) return AG_E_GGUF_CORRUPT;
  *n = (size_t)len;
  return ag_read_ptr(r, *n, p) ? AG_E_GGUF_CORRUPT : 0;
}

static size_t scalar_size(uint32_t t) {
  switch (t) {
  case GT_U8: case GT_I8: case GT_BOOL: return 1;
  case GT_U16: case GT_I16: return 2;
  case GT_U32: case GT_I32: case GT_F32: return 4;
  case GT_U64: case GT_I64: case GT_F64: return 8;
  default: return 0;
  }
}

static int skip_value(ag_reader *r, uint32_t t) {
  if (t == GT_STR) {
    const uint8_t *p;
    size_t n;
    return r_str(r, &p, &n);
  }
  size_t s = scalar_size(t);
  if (!s) return AG_E_GGUF_CORRUPT;
  const uint8_t *p;
  return ag_read_ptr(r, s, &p) ? AG_E_GGUF_CORRUPT : 0;
}

typedef struct {
  const uint8_t *d;
  size_t len;
  kv *kvs;
  size_t nkv;
} gfile;

static const kv *find(const gfile *g, const char *key) {
  size_t n = strlen(key);
  for (size_t i = 0; i < g->nkv; i++)
    if (g->kvs[i].klen == n && !memcmp(g->kvs[i].key, key, n)) return &g->kvs[i];
  return NULL;
}

/* Reads an integer-typed scalar key into *v; missing -> def (or error when def < 0). */
static int get_uint(const gfile *g, const char *key, int64_t def, uint64_t *v) {
  const kv *k = find(g, key);
  if (!k) {
    if (def < 0) return ag_fail(AG_E_GGUF_MISSING, "GGUF file lacks %s", key);
    *v = (uint64_t)def;
    return 0;
  }
  const uint8_t *p = g->d + k->voff;
  switch (k->type) {
  case GT_U8: *v = p[0]; return 0;
  case GT_U16: *v = ag_get_u16le(p); return 0;
  case GT_U32: *v = ag_get_u32le(p); return 0;
  case GT_I32: {
    int32_t x = (int32_t)ag_get_u32le(p);
    if (x < 0) break;
    *v = (uint64_t)x;
    return 0;
  }
  case GT_U64: *v = ag_get_u64le(p); return 0;
  case GT_I64: {
    int64_t x = (int64_t)ag_get_u64le(p);
    if (x < 0) break;
    *v = (uint64_t)x;
    return 0;
  }
  default: break;
  }
  return ag_fail(AG_E_GGUF_CORRUPT, "GGUF key %s has an unexpected type", key);
}

static int get_f32(const gfile *g, const char *key, float def, float *v) {
  const kv *k = find(g, key);
  if (!k) {
    *v = def;
    return 0;
  }
  const uint8_t *p = g->d + k->voff;
  if (k->type == GT_F32) {
    uint32_t u = ag_get_u32le(p);
    memcpy(v, &u, 4);
    return 0;
  }
  if (k->type == GT_F64) {
    uint64_t u = ag_get_u64le(p);
    double x;
    memcpy(&x, &u, 8);
    *v = (float)x;
    return 0;
  }
  return ag_fail(AG_E_GGUF_CORRUPT, "GGUF key %s has an unexpected type", key);
}

static int str_is(const gfile *g, const kv *k, const char *want) {
  if (!k || k->type != GT_STR) return 0;
  uint64_t n = ag_get_u64le(g->d + k->voff);
  return n == strlen(want) && !memcmp(g->d + k->voff + 8, want, n);
}

typedef struct {
  const uint8_t *name;
  size_t nlen;
  uint32_t ndim, type;
  uint64_t ne[4];
  uint64_t off;
} tinfo;

/* Tries to rebuild our tokenizer from tokens + merges; NULL when the layout is not ours. */
static ag_tokenizer *import_tokenizer(const gfile *g, int V) {
  const kv *kt = find(g, "tokenizer.ggml.tokens"), *km = find(g, "tokenizer.ggml.merges");
  if (!str_is(g, find(g, "tokenizer.ggml.model"), "gpt2") || !kt || !km) return NULL;
  if (kt->type != GT_ARR || kt->atype != GT_STR || km->type != GT_ARR || km->atype != GT_STR) return NULL;
  if (kt->n != (uint64_t)V || V < AG_TOK_BASE || km->n != (uint64_t)V - AG_TOK_BASE) return NULL;
  uint32_t map[256], inv[512];
  byte_map(map);
  for (int i = 0; i < 512; i++) inv[i] = 0xffffffff;
  for (int bb = 0; bb < 256; bb++) inv[map[bb]] = (uint32_t)bb;
  /* decode every token string to bytes and index pieces by content for merge lookup */
  ag_reader r;
  ag_reader_init(&r, g->d + kt->voff, g->len - kt->voff);
  const uint8_t **tp = ag_xmalloc(sizeof(uint8_t *) * (size_t)V);
  size_t *tl = ag_xmalloc(sizeof(size_t) * (size_t)V);
  ag_tokenizer *res = NULL;
  uint32_t *pairs = NULL;
  ag_buf bytes;
  ag_buf_init(&bytes);
  for (int i = 0; i < V; i++)
    if (r_str(&r, &tp[i], &tl[i])) goto out;
  /* ids 0..255 must be the bytes, 256 the end-of-text token */
  for (int i = 0; i < 256; i++) {
    ag_buf_reset(&bytes);
    put_utf8(&bytes, map[i]);
    if (tl[i] != bytes.len || memcmp(tp[i], bytes.data, bytes.len)) goto out;
  }
  if (tl[AG_TOK_EOT] != 13 || memcmp(tp[AG_TOK_EOT], "<|endoftext|>", 13)) goto out;
  /* merges "A B": A and B are token strings; find ids by exact string match among earlier ids */
  pairs = ag_xmalloc(sizeof(uint32_t) * 2 * (km->n + 1));
  ag_reader_init(&r, g->d + km->voff, g->len - km->voff);
  for (uint64_t i = 0; i < km->n; i++) {
    const uint8_t *ms;
    size_t ml;
    if (r_str(&r, &ms, &ml)) goto out;
    uint32_t id = AG_TOK_BASE + (uint32_t)i;
    /* the merged token's string is A||B; split at the space that makes both halves tokens */
    if (ml != tl[id] + 1) goto out;
    int found = 0;
    for (size_t sp = 1; sp + 1 < ml && !found; sp++) {
      if (ms[sp] != ' ') continue;
      if (memcmp(ms, tp[id], sp) || memcmp(ms + sp + 1, tp[id] + sp, ml - sp - 1)) continue;
      uint32_t a = 0xffffffff, bq = 0xffffffff;
      for (uint32_t j = 0; j < id && (a == 0xffffffff || bq == 0xffffffff); j++) {
        if (j == AG_TOK_EOT) continue;
        if (a == 0xffffffff && tl[j] == sp && !memcmp(tp[j], ms, sp)) a = j;
        if (bq == 0xffffffff && tl[j] == ml - sp - 1 && !memcmp(tp[j], ms + sp + 1, ml - sp - 1)) bq = j;
      }
      if (a != 0xffffffff && bq != 0xffffffff) {
        pairs[2 * i] = a;
        pairs[2 * i + 1] = bq;
        found = 1;
      }
    }
    if (!found) goto out;
  }
  /* the pre-tokenizer: legacy when our exporter marked it so, else the file's (llama.cpp's) */
  char pre[32] = "default";
  const kv *kp = find(g, "tokenizer.ggml.pre");
  if (kp && kp->type == GT_STR && ag_get_u64le(g->d + kp->voff) < sizeof pre) {
    size_t pl = (size_t)ag_get_u64le(g->d + kp->voff);
    memcpy(pre, g->d + kp->voff + 8, pl);
    pre[pl] = 0;
  }
  int legacy = str_is(g, find(g, "agora.pretokenizer"), "legacy") || !kp;
  if (ag_tok_from_merges_pre(pairs, km->n, legacy ? NULL : pre, &res)) res = NULL;
out:
  (void)inv;
  ag_buf_free(&bytes);
  free(pairs);
  free(tp);
  free(tl);
  return res;
}

/* Walks the header, metadata and tensor infos of a GGUF image; *ti (ntens entries) and g->kvs
 * are allocated here and freed by the caller, also on failure. */
static int parse_file(const uint8_t *d, size_t len, gfile *g, tinfo **tio, uint64_t *ntens_out,
                      size_t *data_off) {
  ag_reader r;
  ag_reader_init(&r, d, len);
  uint8_t magic[4];
  uint32_t ver;
  uint64_t ntens, nkv;
  *g = (gfile){d, len, NULL, 0};
  *tio = NULL;
  if (ag_read_bytes(&r, magic, 4) || memcmp(magic, "GGUF", 4)) return ag_fail(AG_E_GGUF_MAGIC, "not a GGUF file");
  if (ag_read_u32le(&r, &ver)) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF header is truncated");
  if (ver != 3) return ag_fail(AG_E_GGUF_VERSION, "GGUF version %u is not supported (want 3)", ver);
  if (ag_read_u64le(&r, &ntens) || ag_read_u64le(&r, &nkv)) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF header is truncated");
  if (nkv > MAX_KV || ntens > MAX_TENSORS) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF counts are too large");
  g->kvs = ag_xcalloc((size_t)nkv + 1, sizeof(kv));
  tinfo *ti = *tio = ag_xcalloc((size_t)ntens + 1, sizeof(tinfo));
  *ntens_out = ntens;
  for (uint64_t i = 0; i < nkv; i++) {
    kv *k = &g->kvs[g->nkv];
    if (r_str(&r, &k->key, &k->klen) || ag_read_u32le(&r, &k->type))
      return ag_fail(AG_E_GGUF_CORRUPT, "GGUF metadata is truncated");
    if (k->type == GT_ARR) {
      if (ag_read_u32le(&r, &k->atype) || ag_read_u64le(&r, &k->n) || k->n > MAX_ARR || k->atype == GT_ARR)
        return ag_fail(AG_E_GGUF_CORRUPT, "GGUF array is malformed");
      k->voff = r.off;
      for (uint64_t j = 0; j < k->n; j++)
        if (skip_value(&r, k->atype)) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF array is truncated");
    } else {
      k->voff = r.off;
      if (skip_value(&r, k->type)) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF metadata value is malformed");
    }
    g->nkv++;
  }
  for (uint64_t i = 0; i < ntens; i++) {
    tinfo *t = &ti[i];
    if (r_str(&r, &t->name, &t->nlen) || ag_read_u32le(&r, &t->ndim) || t->ndim < 1 || t->ndim > 4)
      return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor info is malformed");
    for (uint32_t j = 0; j < t->ndim; j++)
      if (ag_read_u64le(&r, &t->ne[j]) || t->ne[j] == 0 || t->ne[j] > (1u << 30))
        return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor shape is malformed");
    if (ag_read_u32le(&r, &t->type) || ag_read_u64le(&r, &t->off))
      return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor info is truncated");
  }
  uint64_t align;
  int rc = get_uint(g, "general.alignment", ALIGN, &align);
  if (rc) return rc;
  if (align == 0 || align > 65536 || (align & (align - 1)))
    return ag_fail(AG_E_GGUF_CORRUPT, "GGUF alignment %llu is invalid", (unsigned long long)align);
  *data_off = (r.off + align - 1) / align * align;
  if (*data_off > len) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF data section is missing");
  return 0;
}

/* Agora's own layout (llama, F32/F16/Q8_0, Agora's vocabulary) rebuilt as an Agora model. */
static int import_convert(const uint8_t *d, size_t len, ag_model **out) {
  *out = NULL;
  gfile g;
  tinfo *ti;
  uint64_t ntens;
  size_t data_off;
  ag_tokenizer *tok = NULL;
  uint8_t *blob = NULL;
  int rc = parse_file(d, len, &g, &ti, &ntens, &data_off);
  if (rc) goto fail;
  if (!str_is(&g, find(&g, "general.architecture"), "llama")) {
    rc = find(&g, "general.architecture") ? ag_fail(AG_E_GGUF_ARCH, "only the llama architecture is supported")
                                          : ag_fail(AG_E_GGUF_MISSING, "GGUF file lacks general.architecture");
    goto fail;
  }
  uint64_t ctx, emb, blocks, ff, heads, kvh, vocab;
  if ((rc = get_uint(&g, "llama.context_length", -1, &ctx)) ||
      (rc = get_uint(&g, "llama.embedding_length", -1, &emb)) ||
      (rc = get_uint(&g, "llama.block_count", -1, &blocks)) ||
      (rc = get_uint(&g, "llama.feed_forward_length", -1, &ff)) ||
      (rc = get_uint(&g, "llama.attention.head_count", -1, &heads)))
    goto fail;
  if ((rc = get_uint(&g, "llama.attention.head_count_kv", (int64_t)heads, &kvh))) goto fail;
  const kv *kt = find(&g, "tokenizer.ggml.tokens");
  if ((rc = get_uint(&g, "llama.vocab_size", kt ? (int64_t)kt->n : -1, &vocab))) goto fail;
  ag_model_config c = {0};
  if (ctx > 65536) ctx = 65536; /* longer contexts are capped to what the engine supports */
  uint64_t vals[6] = {emb, blocks, heads, kvh, ff, vocab};
  for (int i = 0; i < 6; i++)
    if (vals[i] > (1u << 20)) {
      rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF hyperparameter out of range");
      goto fail;
    }
  c.dim = (int32_t)emb, c.n_layers = (int32_t)blocks, c.n_heads = (int32_t)heads,
  c.n_kv_heads = (int32_t)kvh, c.hidden_dim = (int32_t)ff, c.vocab_size = (int32_t)vocab,
  c.seq_len = (int32_t)ctx;
  if ((rc = get_f32(&g, "llama.rope.freq_base", 10000.0f, &c.rope_theta)) ||
      (rc = get_f32(&g, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &c.norm_eps)))
    goto fail;
  /* locate tensors by name */
  const tinfo *found[AG_T_COUNT][256];
  memset(found, 0, sizeof found);
  int has_out = 0, allq8 = 1;
  for (uint64_t i = 0; i < ntens; i++) {
    char nm[96];
    if (ti[i].nlen >= sizeof nm) continue;
    memcpy(nm, ti[i].name, ti[i].nlen);
    nm[ti[i].nlen] = 0;
    for (int kind = 0; kind < AG_T_COUNT; kind++) {
      char want[96];
      int layer = 0;
      if (kind == AG_T_TOK_EMB || kind == AG_T_FINAL_NORM || kind == AG_T_OUT) {
        snprintf(want, sizeof want, "%s.weight", gguf_names[kind]);
        if (strcmp(nm, want)) continue;
      } else {
        int l, n = 0;
        if (sscanf(nm, "blk.%d.%n", &l, &n) != 1 || n == 0 || l < 0 || l >= 256) continue;
        snprintf(want, sizeof want, "%s.weight", gguf_names[kind]);
        if (strcmp(nm + n, want)) continue;
        layer = l;
      }
      if (found[kind][layer]) {
        rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s appears twice", nm);
        goto fail;
      }
      found[kind][layer] = &ti[i];
      if (kind == AG_T_OUT) has_out = 1;
    }
  }
  c.tied = !has_out;
  rc = ag_model_config_check(&c);
  if (rc) {
    rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF hyperparameters are invalid: %s", ag_errmsg(rc));
    goto fail;
  }
  ag_tensor_info info[AG_T_COUNT];
  ag_model_layout(&c, AG_DT_F32, info);
  for (int kind = 0; kind < AG_T_COUNT; kind++) {
    if (!info[kind].present) continue;
    for (int l = 0; l < info[kind].layers; l++) {
      const tinfo *t = found[kind][l];
      if (!t) {
        rc = ag_fail(AG_E_GGUF_MISSING, "GGUF file lacks tensor %s (layer %d)", gguf_names[kind], l);
        goto fail;
      }
      uint64_t rows = t->ndim >= 2 ? t->ne[1] : 1;
      for (uint32_t j = 2; j < t->ndim; j++) rows *= t->ne[j];
      if (t->ne[0] != (uint64_t)info[kind].cols || rows != (uint64_t)info[kind].rows) {
        rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s has the wrong shape", gguf_names[kind]);
        goto fail;
      }
      if (t->type != AG_GGUF_F32 && t->type != AG_GGUF_F16 && t->type != AG_GGUF_Q8_0) {
        rc = ag_fail(AG_E_GGUF_TYPE, "GGUF tensor type %u is not supported (F32, F16, Q8_0)", t->type);
        goto fail;
      }
      if (t->type == AG_GGUF_Q8_0 && t->ne[0] % 32) {
        rc = ag_fail(AG_E_GGUF_CORRUPT, "Q8_0 tensor rows must be multiples of 32");
        goto fail;
      }
      uint64_t bytes = (uint64_t)row_bytes((int)t->type, (size_t)t->ne[0]) * rows;
      if (t->off > len - data_off || bytes > len - data_off - t->off) {
        rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s extends past the end of the file", gguf_names[kind]);
        goto fail;
      }
      if (info[kind].matrix && t->type != AG_GGUF_Q8_0) allq8 = 0;
    }
  }
  int wtype = allq8 ? AG_DT_Q8 : AG_DT_F32;
  if (wtype == AG_DT_Q8 && (c.dim % 32 || c.hidden_dim % 32)) wtype = AG_DT_F32;
  size_t blen = ag_model_layout(&c, wtype, info);
  if (posix_memalign((void **)&blob, 64, blen)) abort();
  memset(blob, 0, blen);
  float *row = ag_xmalloc(sizeof(float) * (size_t)AG_MAX(c.dim, c.hidden_dim));
  for (int kind = 0; kind < AG_T_COUNT; kind++) {
    if (!info[kind].present) continue;
    int mt = info[kind].matrix ? wtype : AG_DT_F32;
    size_t cols = (size_t)info[kind].cols, rows = (size_t)info[kind].rows, drow = ag_mat_bytes(mt, 1, cols);
    for (int l = 0; l < info[kind].layers; l++) {
      const tinfo *t = found[kind][l];
      const uint8_t *src = d + data_off + t->off;
      size_t srow = row_bytes((int)t->type, cols);
      uint8_t *dst = blob + info[kind].offset + (size_t)l * rows * drow;
      for (size_t rr = 0; rr < rows; rr++) {
        const uint8_t *sr = src + rr * srow;
        if (mt == AG_DT_Q8) {
          memcpy(dst + rr * drow, sr, drow);
          continue;
        }
        if (t->type == AG_GGUF_F32) memcpy(row, sr, cols * 4);
        else if (t->type == AG_GGUF_F16)
          for (size_t k = 0; k < cols; k++) row[k] = ag_f16_to_f32(ag_get_u16le(sr + 2 * k));
        else ag_dequantize_q8(sr, cols, row);
        memcpy(dst + rr * drow, row, cols * 4);
      }
    }
  }
  free(row);
  tok = import_tokenizer(&g, c.vocab_size);
  rc = ag_model_wrap(&c, wtype, blob, blen, 1, out);
  if (rc) goto fail;
  blob = NULL;
  (*out)->tok = tok;
  tok = NULL;
  ag_model_compute_id(*out);
fail:
  free(blob);
  ag_tok_free(tok);
  free(g.kvs);
  free(ti);
  return rc;
}

int ag_gguf_import(const uint8_t *d, size_t len, ag_model **out) {
  int rc = import_convert(d, len, out);
  int foreign_vocab = !rc && !(*out)->tok && len >= 4 && !memcmp(d, "GGUF", 4);
  if (foreign_vocab) {
    ag_model_close(*out);
    *out = NULL;
  }
  if (!foreign_vocab && rc != AG_E_GGUF_ARCH && rc != AG_E_GGUF_TYPE) return rc;
  /* anything else as published: a private copy the model owns, as for any model image */
  return ag_model_load_mem(d, len, out, NULL);
}

int ag_gguf_load(const char *path, ag_model **out) {
  uint8_t *d;
  size_t len;
  *out = NULL;
  int rc = ag_read_file(path, (size_t)1 << 36, &d, &len);
  if (rc) return ag_fail(AG_E_NOTFOUND, "cannot read %s", path);
  rc = ag_gguf_import(d, len, out);
  free(d);
  return rc;
}

/* ---------- in place: GGUF files as published ---------- */

/* ggml type id -> AG_DT_*, -1 when the engine cannot compute with it */
static int dt_from_ggml(uint32_t t) {
  switch (t) {
  case 0: return AG_DT_F32;
  case 1: return AG_DT_F16;
  case 2: return AG_DT_Q4_0;
  case 3: return AG_DT_Q4_1;
  case 6: return AG_DT_Q5_0;
  case 7: return AG_DT_Q5_1;
  case 8: return AG_DT_Q8;
  case 12: return AG_DT_Q4_K;
  case 13: return AG_DT_Q5_K;
  case 14: return AG_DT_Q6_K;
  case 30: return AG_DT_BF16;
  default: return -1;
  }
}

/* The keys of "<arch>." the engine reads; any other key of the architecture may change the
 * computation, so a file that has one is refused with its name. */
static const char *const llama_keys[] = {
    "context_length", "embedding_length", "block_count", "feed_forward_length",
    "attention.head_count", "attention.head_count_kv", "rope.freq_base",
    "attention.layer_norm_rms_epsilon", "rope.dimension_count", "vocab_size",
    "attention.key_length", "attention.value_length", NULL};
static const char *const gemma3_keys[] = {
    "context_length", "embedding_length", "block_count", "feed_forward_length",
    "attention.head_count", "attention.head_count_kv", "rope.freq_base",
    "attention.layer_norm_rms_epsilon", "attention.key_length", "attention.value_length",
    "attention.sliding_window", "rope.dimension_count", "vocab_size", NULL};

/* Keys outside "<arch>." that change what a model computes or how text becomes ids. */
static const char *const known_tok_keys[] = {
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_sep_token",
    "tokenizer.ggml.add_space_prefix", "tokenizer.chat_template", NULL};

static int key_in(const uint8_t *k, size_t n, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (strlen(list[i]) == n && !memcmp(list[i], k, n)) return 1;
  return 0;
}

static int check_keys(const gfile *g, const char *arch, const char *const *allowed) {
  size_t al = strlen(arch);
  for (size_t i = 0; i < g->nkv; i++) {
    const kv *k = &g->kvs[i];
    char name[128];
    size_t n = AG_MIN(k->klen, sizeof name - 1);
    memcpy(name, k->key, n);
    name[n] = 0;
    if (k->klen > al + 1 && !memcmp(k->key, arch, al) && k->key[al] == '.') {
      if (!key_in(k->key + al + 1, k->klen - al - 1, allowed))
        return ag_fail(AG_E_GGUF_KEY, "GGUF key %s changes the computation and is not supported", name);
    } else if (k->klen > 10 && !memcmp(k->key, "tokenizer.", 10)) {
      if (!key_in(k->key, k->klen, known_tok_keys))
        return ag_fail(AG_E_GGUF_KEY, "GGUF key %s changes the tokenization and is not supported", name);
    }
  }
  return 0;
}

static int arch_uint(const gfile *g, const char *arch, const char *key, int64_t def, uint64_t *v) {
  char k[128];
  snprintf(k, sizeof k, "%s.%s", arch, key);
  return get_uint(g, k, def, v);
}

static int arch_f32(const gfile *g, const char *arch, const char *key, float def, float *v) {
  char k[128];
  snprintf(k, sizeof k, "%s.%s", arch, key);
  return get_f32(g, k, def, v);
}

static const tinfo *find_tensor(const tinfo *ti, uint64_t n, const char *name) {
  size_t len = strlen(name);
  for (uint64_t i = 0; i < n; i++)
    if (ti[i].nlen == len && !memcmp(ti[i].name, name, len)) return &ti[i];
  return NULL;
}

typedef struct {
  const gfile *g;
  const tinfo *ti;
  uint64_t ntens;
  size_t data_off;
  uint8_t *used; /* (ntens) tensors consumed */
} tctx;

/* Finds tensor name with shape (cols, rows) (rows 0: a vector of cols), checks its type, block
 * alignment and extent; *data points at its bytes. */
static int take(tctx *t, const char *name, uint64_t cols, uint64_t rows, int *dt, const uint8_t **data) {
  const tinfo *x = find_tensor(t->ti, t->ntens, name);
  if (!x) return ag_fail(AG_E_GGUF_MISSING, "GGUF file lacks tensor %s", name);
  t->used[x - t->ti] = 1;
  uint64_t r = x->ndim >= 2 ? x->ne[1] : 0;
  for (uint32_t j = 2; j < x->ndim; j++)
    if (x->ne[j] != 1) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s has the wrong shape", name);
  if (x->ne[0] != cols || (rows ? r != rows : r > 1))
    return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s has shape (%llu, %llu), want (%llu, %llu)", name,
                   (unsigned long long)x->ne[0], (unsigned long long)r, (unsigned long long)cols,
                   (unsigned long long)rows);
  int ty = dt_from_ggml(x->type);
  if (ty < 0) return ag_fail(AG_E_GGUF_TYPE, "GGUF tensor %s has type %u, which the engine does not compute", name, x->type);
  if (cols % (uint64_t)ag_dt_block(ty))
    return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s rows are not whole %s blocks", name, ag_dt_name(ty));
  if (rows && cols > AG_MAT_MAX_COLS)
    return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s has %llu columns (max %d)", name, (unsigned long long)cols, AG_MAT_MAX_COLS);
  uint64_t bytes = ag_mat_bytes(ty, rows ? rows : 1, cols);
  size_t len = t->g->len;
  if (x->off > len - t->data_off || bytes > len - t->data_off - x->off)
    return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tensor %s extends past the end of the file", name);
  *dt = ty;
  *data = t->g->d + t->data_off + x->off;
  return 0;
}

static int take_mat(tctx *t, const char *name, int rows, int cols, ag_mat *m) {
  int ty;
  const uint8_t *p;
  int rc = take(t, name, (uint64_t)cols, (uint64_t)rows, &ty, &p);
  if (!rc) *m = (ag_mat){ty, rows, cols, p};
  return rc;
}

/* A vector (norm weights) widened to fp32 into dst. */
static int take_vec(tctx *t, const char *name, int n, float *dst) {
  int ty;
  const uint8_t *p;
  int rc = take(t, name, (uint64_t)n, 0, &ty, &p);
  if (!rc) ag_dequantize(ty, p, (size_t)n, dst);
  return rc;
}

static int layer_mat(tctx *t, int l, const char *what, int rows, int cols, ag_mat *m) {
  char name[96];
  snprintf(name, sizeof name, "blk.%d.%s.weight", l, what);
  return take_mat(t, name, rows, cols, m);
}

static int layer_vec(tctx *t, int l, const char *what, int n, float *dst) {
  char name[96];
  snprintf(name, sizeof name, "blk.%d.%s.weight", l, what);
  return take_vec(t, name, n, dst);
}

/* Reads a string array key into pointer/length arrays (borrowing the file's bytes). */
static int str_array(const gfile *g, const kv *k, size_t want, const uint8_t ***p, size_t **l) {
  *p = NULL;
  *l = NULL;
  if (!k) return 0;
  if (k->type != GT_ARR || k->atype != GT_STR || (want && k->n != want))
    return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tokenizer array has the wrong type or length");
  *p = ag_xmalloc(sizeof(uint8_t *) * ((size_t)k->n + 1));
  *l = ag_xmalloc(sizeof(size_t) * ((size_t)k->n + 1));
  ag_reader r;
  ag_reader_init(&r, g->d + k->voff, g->len - k->voff);
  for (uint64_t i = 0; i < k->n; i++)
    if (r_str(&r, &(*p)[i], &(*l)[i])) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tokenizer array is truncated");
  return 0;
}

static int32_t opt_id(const gfile *g, const char *key, int V) {
  uint64_t v;
  if (!find(g, key) || get_uint(g, key, -1, &v) || v >= (uint64_t)V) return -1;
  return (int32_t)v;
}

static int opt_bool(const gfile *g, const char *key) {
  const kv *k = find(g, key);
  if (!k || k->type != GT_BOOL) return -1;
  return g->d[k->voff] != 0;
}

/* The file's own tokenizer: Agora's byte-level BPE when the vocabulary is laid out as Agora
 * exports it, else the file's gpt2 BPE or llama SentencePiece vocabulary (tokenizer.h). */
static int gguf_tokenizer(const gfile *g, int V, ag_tokenizer **out) {
  *out = import_tokenizer(g, V);
  if (*out) return 0;
  const kv *km = find(g, "tokenizer.ggml.model");
  if (!km) return 0; /* no vocabulary: the model computes from ids */
  ag_tok_spec sp;
  memset(&sp, 0, sizeof sp);
  if (str_is(g, km, "gpt2")) sp.kind = AG_TOKK_GPT2;
  else if (str_is(g, km, "llama")) sp.kind = AG_TOKK_SPM;
  else return ag_fail(AG_E_GGUF_KEY, "GGUF tokenizer.ggml.model is not supported (gpt2, llama)");
  char pre[64] = "";
  const kv *kp = find(g, "tokenizer.ggml.pre");
  if (kp) {
    if (kp->type != GT_STR) return ag_fail(AG_E_GGUF_CORRUPT, "GGUF tokenizer.ggml.pre is not a string");
    uint64_t n = ag_get_u64le(g->d + kp->voff);
    if (n >= sizeof pre) return ag_fail(AG_E_GGUF_KEY, "GGUF tokenizer.ggml.pre is not supported");
    memcpy(pre, g->d + kp->voff + 8, n);
    pre[n] = 0;
    sp.pre = pre;
  }
  const uint8_t **tp = NULL, **mp = NULL;
  size_t *tl = NULL, *ml = NULL;
  float *scores = NULL;
  int32_t *types = NULL;
  int rc = str_array(g, find(g, "tokenizer.ggml.tokens"), (size_t)V, &tp, &tl);
  if (!rc && !tp) rc = ag_fail(AG_E_GGUF_MISSING, "GGUF file lacks tokenizer.ggml.tokens");
  if (!rc) rc = str_array(g, find(g, "tokenizer.ggml.merges"), 0, &mp, &ml);
  const kv *ks = find(g, "tokenizer.ggml.scores"), *kt = find(g, "tokenizer.ggml.token_type");
  if (!rc && ks) {
    if (ks->type != GT_ARR || ks->atype != GT_F32 || ks->n != (uint64_t)V) rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF tokenizer.ggml.scores is malformed");
    else {
      scores = ag_xmalloc(sizeof(float) * (size_t)V);
      for (int i = 0; i < V; i++) {
        uint32_t u = ag_get_u32le(g->d + ks->voff + 4 * (size_t)i);
        memcpy(&scores[i], &u, 4);
      }
    }
  }
  if (!rc && kt) {
    if (kt->type != GT_ARR || kt->atype != GT_I32 || kt->n != (uint64_t)V) rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF tokenizer.ggml.token_type is malformed");
    else {
      types = ag_xmalloc(sizeof(int32_t) * (size_t)V);
      for (int i = 0; i < V; i++) types[i] = (int32_t)ag_get_u32le(g->d + kt->voff + 4 * (size_t)i);
    }
  }
  if (!rc) {
    sp.n_tokens = (size_t)V;
    sp.tok = tp, sp.tok_len = tl, sp.scores = scores, sp.types = types;
    sp.n_merges = mp ? (size_t)find(g, "tokenizer.ggml.merges")->n : 0;
    sp.merge = mp, sp.merge_len = ml;
    sp.bos = opt_id(g, "tokenizer.ggml.bos_token_id", V);
    sp.eos = opt_id(g, "tokenizer.ggml.eos_token_id", V);
    sp.eot = opt_id(g, "tokenizer.ggml.eot_token_id", V);
    sp.unk = opt_id(g, "tokenizer.ggml.unknown_token_id", V);
    sp.pad = opt_id(g, "tokenizer.ggml.padding_token_id", V);
    sp.add_bos = opt_bool(g, "tokenizer.ggml.add_bos_token");
    sp.add_eos = opt_bool(g, "tokenizer.ggml.add_eos_token");
    sp.add_space_prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix");
    rc = ag_tok_from_spec(&sp, out);
    if (rc) rc = ag_fail(rc == AG_E_GGUF_KEY ? rc : AG_E_MODEL_TOKENIZER, "the file's tokenizer: %s", ag_errmsg(rc));
  }
  free(tp), free(tl), free(mp), free(ml), free(scores), free(types);
  return rc;
}

int ag_gguf_open(const uint8_t *d, size_t len, ag_model **out) {
  *out = NULL;
  gfile g;
  tinfo *ti;
  uint64_t ntens;
  size_t data_off;
  ag_model *m = NULL;
  uint8_t *used = NULL;
  int rc = parse_file(d, len, &g, &ti, &ntens, &data_off);
  if (rc) goto done;
  const kv *ak = find(&g, "general.architecture");
  const char *arch;
  if (str_is(&g, ak, "llama")) arch = "llama";
  else if (str_is(&g, ak, "gemma3")) arch = "gemma3";
  else {
    rc = ak ? ag_fail(AG_E_GGUF_ARCH, "GGUF architecture is not supported (llama, gemma3)")
            : ag_fail(AG_E_GGUF_MISSING, "GGUF file lacks general.architecture");
    goto done;
  }
  int gemma = arch[0] == 'g';
  if ((rc = check_keys(&g, arch, gemma ? gemma3_keys : llama_keys))) goto done;
  uint64_t ctx, emb, blocks, ff, heads, kvh, vocab, hd, vd, rdim, win = 0;
  const kv *kt = find(&g, "tokenizer.ggml.tokens");
  if ((rc = arch_uint(&g, arch, "context_length", -1, &ctx)) ||
      (rc = arch_uint(&g, arch, "embedding_length", -1, &emb)) ||
      (rc = arch_uint(&g, arch, "block_count", -1, &blocks)) ||
      (rc = arch_uint(&g, arch, "feed_forward_length", -1, &ff)) ||
      (rc = arch_uint(&g, arch, "attention.head_count", -1, &heads)) ||
      (rc = arch_uint(&g, arch, "attention.head_count_kv", (int64_t)heads, &kvh)) ||
      (rc = arch_uint(&g, arch, "vocab_size", kt ? (int64_t)kt->n : -1, &vocab)))
    goto done;
  uint64_t vals[7] = {ctx, emb, blocks, ff, heads, kvh, vocab};
  for (int i = 0; i < 7; i++)
    if (vals[i] == 0 || vals[i] > (1u << 20)) {
      rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF hyperparameter out of range");
      goto done;
    }
  if ((rc = arch_uint(&g, arch, "attention.key_length", (int64_t)(emb / heads), &hd)) ||
      (rc = arch_uint(&g, arch, "attention.value_length", (int64_t)hd, &vd)) ||
      (rc = arch_uint(&g, arch, "rope.dimension_count", (int64_t)hd, &rdim)))
    goto done;
  if (vd != hd || rdim != hd || hd > 1024 || hd < 2) {
    rc = ag_fail(AG_E_GGUF_KEY, "GGUF key/value/rotary head sizes %llu/%llu/%llu differ, which is not supported",
                 (unsigned long long)hd, (unsigned long long)vd, (unsigned long long)rdim);
    goto done;
  }
  ag_model_config c = {0};
  c.dim = (int32_t)emb, c.n_layers = (int32_t)blocks, c.n_heads = (int32_t)heads;
  c.n_kv_heads = (int32_t)kvh, c.hidden_dim = (int32_t)ff, c.vocab_size = (int32_t)vocab;
  c.seq_len = (int32_t)AG_MIN(ctx, (uint64_t)AG_GGUF_CTX);
  c.head_dim = hd == emb / heads && emb % heads == 0 ? 0 : (int32_t)hd;
  if ((rc = arch_f32(&g, arch, "rope.freq_base", 10000.0f, &c.rope_theta)) ||
      (rc = arch_f32(&g, arch, "attention.layer_norm_rms_epsilon", gemma ? 1e-6f : 1e-5f, &c.norm_eps)))
    goto done;
  if (gemma) {
    c.arch = AG_ARCH_GEMMA3;
    c.rope_neox = 1;
    if ((rc = arch_uint(&g, arch, "attention.sliding_window", 512, &win))) goto done;
    c.swa_window = (int32_t)AG_MIN(win, (uint64_t)1 << 20);
    c.swa_pattern = 6;          /* llama.cpp's fixed gemma3 layout: every 6th layer is global */
    c.rope_theta_swa = 10000.0f; /* and the local layers' RoPE base */
  }
  if ((rc = ag_model_config_check(&c))) {
    rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF hyperparameters are invalid: %s", ag_errmsg(rc));
    goto done;
  }
  int C = c.dim, L = c.n_layers, HD = ag_head_dim(&c), QD = HD * c.n_heads, KVD = HD * c.n_kv_heads,
      H = c.hidden_dim, V = c.vocab_size;
  m = ag_xcalloc(1, sizeof *m);
  m->cfg = c;
  m->gguf = 1;
  m->wtype = -1;
  m->blob = (uint8_t *)d;
  m->blob_len = len;
  ag_mat *mats = ag_xcalloc((size_t)7 * L, sizeof(ag_mat));
  m->wq = mats, m->wk = mats + L, m->wv = mats + 2 * L, m->wo = mats + 3 * L;
  m->w1 = mats + 4 * L, m->w2 = mats + 5 * L, m->w3 = mats + 6 * L;
  /* norms: attn (L, C), ffn (L, C), final (C), then gemma's q (L, HD), k (L, HD),
   * post-attention (L, C), post-ffn (L, C) */
  size_t nn = (size_t)2 * L * C + C + (gemma ? (size_t)2 * L * HD + (size_t)2 * L * C : 0);
  float *nb = m->norms = ag_xmalloc(nn * sizeof(float));
  m->attn_norm = nb, m->ffn_norm = nb + (size_t)L * C, m->final_norm = nb + (size_t)2 * L * C;
  if (gemma) {
    m->q_norm = m->final_norm + C;
    m->k_norm = m->q_norm + (size_t)L * HD;
    m->post_attn_norm = m->k_norm + (size_t)L * HD;
    m->post_ffn_norm = m->post_attn_norm + (size_t)L * C;
    m->emb_scale = sqrtf((float)C);
  }
  used = ag_xcalloc((size_t)ntens + 1, 1);
  tctx t = {&g, ti, ntens, data_off, used};
  if ((rc = take_mat(&t, "token_embd.weight", V, C, &m->tok_emb)) ||
      (rc = take_vec(&t, "output_norm.weight", C, (float *)m->final_norm)))
    goto done;
  if (find_tensor(ti, ntens, "output.weight")) {
    if ((rc = take_mat(&t, "output.weight", V, C, &m->out))) goto done;
  } else {
    m->out = m->tok_emb;
    m->cfg.tied = 1;
  }
  for (int l = 0; l < L && !rc; l++) {
    rc = layer_mat(&t, l, "attn_q", QD, C, &m->wq[l]);
    if (!rc) rc = layer_mat(&t, l, "attn_k", KVD, C, &m->wk[l]);
    if (!rc) rc = layer_mat(&t, l, "attn_v", KVD, C, &m->wv[l]);
    if (!rc) rc = layer_mat(&t, l, "attn_output", C, QD, &m->wo[l]);
    if (!rc) rc = layer_mat(&t, l, "ffn_gate", H, C, &m->w1[l]);
    if (!rc) rc = layer_mat(&t, l, "ffn_down", C, H, &m->w2[l]);
    if (!rc) rc = layer_mat(&t, l, "ffn_up", H, C, &m->w3[l]);
    if (!rc) rc = layer_vec(&t, l, "attn_norm", C, (float *)m->attn_norm + (size_t)l * C);
    if (!rc) rc = layer_vec(&t, l, "ffn_norm", C, (float *)m->ffn_norm + (size_t)l * C);
    if (gemma) {
      if (!rc) rc = layer_vec(&t, l, "attn_q_norm", HD, (float *)m->q_norm + (size_t)l * HD);
      if (!rc) rc = layer_vec(&t, l, "attn_k_norm", HD, (float *)m->k_norm + (size_t)l * HD);
      if (!rc) rc = layer_vec(&t, l, "post_attention_norm", C, (float *)m->post_attn_norm + (size_t)l * C);
      if (!rc) rc = layer_vec(&t, l, "post_ffw_norm", C, (float *)m->post_ffn_norm + (size_t)l * C);
    }
  }
  if (rc) goto done;
  if (find_tensor(ti, ntens, "rope_freqs.weight")) {
    int ty;
    const uint8_t *p;
    if ((rc = take(&t, "rope_freqs.weight", (uint64_t)HD / 2, 0, &ty, &p))) goto done;
    if (ty != AG_DT_F32) {
      rc = ag_fail(AG_E_GGUF_TYPE, "GGUF tensor rope_freqs must be F32");
      goto done;
    }
    m->rope_freqs = (const float *)p;
  }
  /* every tensor must be one the engine used: anything else (biases, extra norms) would change
   * the computation */
  for (uint64_t i = 0; i < ntens; i++)
    if (!used[i]) {
      char name[96];
      size_t n = AG_MIN(ti[i].nlen, sizeof name - 1);
      memcpy(name, ti[i].name, n);
      name[n] = 0;
      rc = ag_fail(AG_E_GGUF_KEY, "GGUF tensor %s is not part of the %s architecture the engine runs", name, arch);
      goto done;
    }
  rc = gguf_tokenizer(&g, V, &m->tok);
  if (rc) goto done;
  const kv *ct = find(&g, "tokenizer.chat_template");
  if (ct) {
    if (ct->type != GT_STR) {
      rc = ag_fail(AG_E_GGUF_CORRUPT, "GGUF tokenizer.chat_template is not a string");
      goto done;
    }
    uint64_t n = ag_get_u64le(g.d + ct->voff);
    m->chat_template = ag_xmalloc((size_t)n + 1);
    memcpy(m->chat_template, g.d + ct->voff + 8, (size_t)n);
    m->chat_template[n] = 0;
    m->chat_template_len = (size_t)n;
    /* a template the engine cannot render exactly is refused now, not mis-rendered later */
    if ((rc = ag_jinja_parse(m->chat_template, m->chat_template_len, &m->chat))) {
      rc = ag_fail(rc, "the file's chat template: %s", ag_errmsg(rc));
      goto done;
    }
  }
  ag_model_compute_id(m);
  *out = m;
  m = NULL;
done:
  if (m) {
    m->blob_owned = 0;
    ag_model_close(m);
  }
  free(used);
  free(g.kvs);
  free(ti);
  return rc;
}
