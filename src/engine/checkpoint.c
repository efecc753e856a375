/*
 * checkpoint.c — writes and reads the model file (format in docs/checkpoint-format.md).
 * Writing: header, merges, zero padding to 64, blob, [training section]. Reading: mmap or copy,
 * then every field is checked in file order with overflow-checked arithmetic.
 * Does not: support big-endian hosts (the format is little-endian and tensors are mapped as is).
 */
#include "engine/checkpoint.h"

#include "engine/gguf.h"
#include "engine/pretok.h"

#include "core/err.h"
#include "core/util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_LEN 64
#define TRAIN_HDR_LEN 128
#define NO_TOKENIZER 0xffffffffu

static void put_f32(ag_buf *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  ag_buf_put_u32le(b, u);
}

static void encode_header(const ag_model *m, ag_buf *b) {
  const ag_model_config *c = &m->cfg;
  ag_buf_put(b, AG_CKPT_MAGIC, 8);
  ag_buf_put_u32le(b, AG_CKPT_VERSION);
  ag_buf_put_u32le(b, (uint32_t)m->wtype);
  int32_t iv[7] = {c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->hidden_dim, c->vocab_size, c->seq_len};
  for (int i = 0; i < 7; i++) ag_buf_put_u32le(b, (uint32_t)iv[i]);
  put_f32(b, c->rope_theta);
  put_f32(b, c->norm_eps);
  ag_buf_put_u32le(b, (uint32_t)c->tied);
  ag_buf_put_u32le(b, m->tok ? (uint32_t)ag_tok_n_merges(m->tok) : NO_TOKENIZER);
  /* the pre-tokenizer: 0 Agora's legacy rule (every file before it existed), 1 + pretok.h id */
  const char *pre = m->tok ? ag_tok_pre(m->tok) : NULL;
  ag_buf_put_u32le(b, pre ? 1u + (uint32_t)ag_pretok_find(pre) : 0u);
  if (m->tok)
    for (size_t i = 0; i < ag_tok_n_merges(m->tok); i++) {
      uint32_t l, r;
      ag_tok_merge(m->tok, i, &l, &r);
      ag_buf_put_u32le(b, l);
      ag_buf_put_u32le(b, r);
    }
  while (b->len % 64) ag_buf_put_u8(b, 0);
}

void ag_model_compute_id(ag_model *m) {
  if (m->gguf) { /* the file as published names the model */
    ag_hasher hs;
    ag_hasher_init(&hs, AG_MODEL_ID_DOMAIN);
    ag_hasher_update(&hs, m->blob, m->blob_len);
    ag_hasher_final(&hs, m->id);
    return;
  }
  ag_buf h;
  ag_buf_init(&h);
  encode_header(m, &h);
  ag_hasher hs;
  ag_hasher_init(&hs, AG_MODEL_ID_DOMAIN);
  ag_hasher_update(&hs, h.data, h.len);
  ag_hasher_update(&hs, m->blob, m->blob_len);
  ag_hasher_final(&hs, m->id);
  ag_buf_free(&h);
}

static void encode_train(const ag_model *m, const ag_train_state *ts, ag_buf *b) {
  size_t start = b->len;
  const ag_train_config *tc = &ts->tc;
  ag_buf_put(b, AG_CKPT_TRAIN_MAGIC, 8);
  ag_buf_put_u64le(b, (uint64_t)ts->step);
  int32_t iv[5] = {tc->batch, tc->seq, tc->accum, tc->steps, tc->warmup};
  for (int i = 0; i < 5; i++) ag_buf_put_u32le(b, (uint32_t)iv[i]);
  float fv[7] = {tc->lr, tc->min_lr, tc->wd, tc->beta1, tc->beta2, tc->eps, tc->clip};
  for (int i = 0; i < 7; i++) put_f32(b, fv[i]);
  ag_buf_put_u64le(b, tc->seed);
  while (b->len - start < TRAIN_HDR_LEN) ag_buf_put_u8(b, 0);
  ag_buf_put(b, ts->mom, m->blob_len);
  ag_buf_put(b, ts->vel, m->blob_len);
}

void ag_model_encode(const ag_model *m, const ag_train_state *ts, ag_buf *out) {
  if (m->gguf) {
    ag_buf_put(out, m->blob, m->blob_len);
    return;
  }
  encode_header(m, out);
  ag_buf_put(out, m->blob, m->blob_len);
  if (ts && ts->present) encode_train(m, ts, out);
}

int ag_model_save(ag_model *m, const char *path, const ag_train_state *ts) {
  ag_buf b;
  ag_buf_init(&b);
  ag_model_encode(m, ts, &b);
  ag_model_compute_id(m);
  int rc = ag_write_file_atomic(path, b.data, b.len, 0644);
  ag_buf_free(&b);
  if (rc) return ag_fail(rc, "cannot write %s: %s", path, ag_errmsg(rc));
  return 0;
}

static float get_f32(const uint8_t *p) {
  uint32_t u = ag_get_u32le(p);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Parses buf (64-byte aligned, len bytes). On success *out references buf (owner set by caller). */
static int parse(uint8_t *buf, size_t len, ag_model **out, ag_train_state *ts) {
  *out = NULL;
  if (ts) memset(ts, 0, sizeof *ts);
  if (len >= 4 && !memcmp(buf, "GGUF", 4)) return ag_gguf_open(buf, len, out);
  if (len < 8 || memcmp(buf, AG_CKPT_MAGIC, 8))
    return ag_fail(AG_E_MODEL_MAGIC, "not an Agora model file (bad magic)");
  if (len < HDR_LEN) return ag_fail(AG_E_MODEL_TRUNCATED, "model header is truncated (%zu bytes)", len);
  uint32_t ver = ag_get_u32le(buf + 8);
  if (ver != AG_CKPT_VERSION)
    return ag_fail(AG_E_MODEL_VERSION, "model file version %u is not supported (want %d)", ver, AG_CKPT_VERSION);
  uint32_t wtype = ag_get_u32le(buf + 12);
  if (wtype != AG_DT_F32 && wtype != AG_DT_Q8)
    return ag_fail(AG_E_MODEL_TYPE, "unsupported tensor type %u", wtype);
  ag_model_config c = {0};
  c.dim = (int32_t)ag_get_u32le(buf + 16);
  c.n_layers = (int32_t)ag_get_u32le(buf + 20);
  c.n_heads = (int32_t)ag_get_u32le(buf + 24);
  c.n_kv_heads = (int32_t)ag_get_u32le(buf + 28);
  c.hidden_dim = (int32_t)ag_get_u32le(buf + 32);
  c.vocab_size = (int32_t)ag_get_u32le(buf + 36);
  c.seq_len = (int32_t)ag_get_u32le(buf + 40);
  c.rope_theta = get_f32(buf + 44);
  c.norm_eps = get_f32(buf + 48);
  c.tied = (int32_t)ag_get_u32le(buf + 52);
  int rc = ag_model_config_check(&c);
  if (rc) return ag_fail(AG_E_MODEL_CONFIG, "invalid model configuration: %s", ag_errmsg(rc));
  if (wtype == AG_DT_Q8 && (c.dim % AG_Q8_GROUP || c.hidden_dim % AG_Q8_GROUP))
    return ag_fail(AG_E_MODEL_CONFIG, "8-bit weights need dim and hidden_dim divisible by 32");
  uint32_t nm = ag_get_u32le(buf + 56);
  uint32_t pre = ag_get_u32le(buf + 60);
  if (pre > AG_PRE_COUNT) return ag_fail(AG_E_MODEL_TOKENIZER, "unknown pre-tokenizer %u", pre);
  size_t tok_end = HDR_LEN;
  ag_tokenizer *tok = NULL;
  if (nm != NO_TOKENIZER) {
    if (nm > AG_TOK_MAX_VOCAB - AG_TOK_BASE)
      return ag_fail(AG_E_MODEL_TOKENIZER, "tokenizer has %u merges (max %d)", nm, AG_TOK_MAX_VOCAB - AG_TOK_BASE);
    if ((uint32_t)c.vocab_size != AG_TOK_BASE + nm)
      return ag_fail(AG_E_MODEL_TOKENIZER, "tokenizer has %u tokens but the vocabulary is %d",
                     AG_TOK_BASE + nm, c.vocab_size);
    tok_end = HDR_LEN + (size_t)nm * 8;
    if (len < tok_end) return ag_fail(AG_E_MODEL_TRUNCATED, "tokenizer section is truncated");
    uint32_t *pairs = ag_xmalloc(((size_t)nm * 2 + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < (size_t)nm * 2; i++) pairs[i] = ag_get_u32le(buf + HDR_LEN + 4 * i);
    rc = ag_tok_from_merges_pre(pairs, nm, pre ? ag_pretok_name((int)pre - 1) : NULL, &tok);
    free(pairs);
    if (rc) return ag_fail(AG_E_MODEL_TOKENIZER, "invalid tokenizer: %s", ag_errmsg(rc));
  }
  size_t woff = (tok_end + 63) / 64 * 64;
  if (len < woff) {
    ag_tok_free(tok);
    return ag_fail(AG_E_MODEL_TRUNCATED, "model file is truncated before the weights");
  }
  for (size_t i = tok_end; i < woff; i++)
    if (buf[i]) {
      ag_tok_free(tok);
      return ag_fail(AG_E_MODEL_TRUNCATED, "padding before the weights is not zero");
    }
  ag_tensor_info info[AG_T_COUNT];
  size_t blen = ag_model_layout(&c, (int)wtype, info);
  if (len - woff < blen) {
    ag_tok_free(tok);
    return ag_fail(AG_E_MODEL_TRUNCATED, "weights need %zu bytes but the file has %zu after the header",
                   blen, len - woff);
  }
  size_t end = woff + blen;
  size_t rest = len - end;
  const uint8_t *tr = buf + end;
  if (rest) {
    size_t need = TRAIN_HDR_LEN + 2 * blen;
    if (wtype != AG_DT_F32 || rest < 8 || memcmp(tr, AG_CKPT_TRAIN_MAGIC, 8)) {
      ag_tok_free(tok);
      return ag_fail(AG_E_TRAILING, "unexpected %zu bytes after the weights", rest);
    }
    if (rest != need) {
      ag_tok_free(tok);
      return ag_fail(AG_E_MODEL_TRUNCATED, "training state has %zu bytes, want %zu", rest, need);
    }
  }
  rc = ag_model_wrap(&c, (int)wtype, buf + woff, blen, 0, out);
  if (rc) {
    ag_tok_free(tok);
    return ag_fail(AG_E_MODEL_CONFIG, "%s", ag_errmsg(rc));
  }
  (*out)->tok = tok;
  /* id over the model part, straight from the file bytes */
  ag_hash(AG_MODEL_ID_DOMAIN, buf, end, (*out)->id);
  if (rest && ts) {
    ag_train_config *t = &ts->tc;
    ts->present = 1;
    ts->step = (int64_t)ag_get_u64le(tr + 8);
    t->batch = (int32_t)ag_get_u32le(tr + 16);
    t->seq = (int32_t)ag_get_u32le(tr + 20);
    t->accum = (int32_t)ag_get_u32le(tr + 24);
    t->steps = (int32_t)ag_get_u32le(tr + 28);
    t->warmup = (int32_t)ag_get_u32le(tr + 32);
    float *fv[7] = {&t->lr, &t->min_lr, &t->wd, &t->beta1, &t->beta2, &t->eps, &t->clip};
    for (int i = 0; i < 7; i++) *fv[i] = get_f32(tr + 36 + 4 * i);
    t->seed = ag_get_u64le(tr + 64);
    ts->mom = (const float *)(tr + TRAIN_HDR_LEN);
    ts->vel = (const float *)(tr + TRAIN_HDR_LEN + blen);
    if (ts->step < 0 || ag_train_config_check(t, &c)) {
      memset(ts, 0, sizeof *ts);
      ag_model_close(*out);
      *out = NULL;
      return ag_fail(AG_E_MODEL_CONFIG, "invalid training state in the model file");
    }
  }
  return 0;
}

int ag_model_load_mem(const void *data, size_t len, ag_model **out, ag_train_state *ts) {
  void *buf = NULL;
  if (posix_memalign(&buf, 64, len ? len : 64)) abort();
  if (len) memcpy(buf, data, len);
  int rc = parse(buf, len, out, ts);
  if (rc) {
    free(buf);
    return rc;
  }
  (*out)->map = buf;
  (*out)->map_len = len;
  (*out)->blob_owned = 3;
  return 0;
}

int ag_model_load(const char *path, ag_model **out, ag_train_state *ts) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ag_fail(AG_E_NOTFOUND, "cannot open model %s", path);
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return ag_fail(AG_E_IO, "%s is not a regular file", path);
  }
  size_t len = (size_t)st.st_size;
  if (len < HDR_LEN) {
    uint8_t small[HDR_LEN];
    ssize_t n = read(fd, small, len);
    close(fd);
    if (n != (ssize_t)len) return ag_fail(AG_E_IO, "cannot read %s", path);
    return ag_model_load_mem(small, len, out, ts);
  }
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return ag_fail(AG_E_IO, "cannot map %s", path);
  int rc = parse(map, len, out, ts);
  if (rc) {
    munmap(map, len);
    return rc;
  }
  (*out)->map = map;
  (*out)->map_len = len;
  (*out)->blob_owned = 2;
  return 0;
}
