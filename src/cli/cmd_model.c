/*
 * cmd_model.c — `agora model`: train, generate, eval, info, export, import, verify.
 * Thin: argument parsing, progress and output formatting over the engine API (engine.h).
 * Does not: talk to the node or hold keys (signing receipts belongs to the network layer).
 */
#include "cli/cli.h"
#include "cli/client.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"
#include "subnets/inference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage_model =
    "usage: agora model COMMAND [OPTIONS]\n\n"
    "commands:\n"
    "  train      train a model on the default corpus (or --text FILE); resumable\n"
    "  generate   generate text; --commit FILE writes a verifiable receipt\n"
    "  chat       a conversation in the terminal, through the model's own chat template\n"
    "  verify     re-execute a receipt and check every token and the commitment\n"
    "  check-answer  check a miner's signed answer to a request, as validators do\n"
    "  eval       validation loss and perplexity of a model\n"
    "  info       configuration, size and id of a model file\n"
    "  export     write a GGUF file (--gguf OUT)\n"
    "  import     read a GGUF llama model into an Agora model file\n"
    "  shares     who trained a model of a training subnet, from the chain's records\n"
    "  claim      claim your part of a model asset's vault (agora asset claim ID --from KEY)\n\n"
    "Models: an Agora model file or a GGUF file as published; -m FILE, else $AGORA_MODEL, else models/agora-nano.bin (here or beside the agora\n"
    "binary's source tree), else HOME/models/nano/model.bin.\n"
    "SIMD path: AGORA_SIMD=scalar|avx2|avx512 (results are identical; only speed differs).\n";

/* ---------- helpers ---------- */

static int parse_int(const ag_cli *c, const char *name, const char *v, long lo, long hi, int *out) {
  if (!v) return 0;
  char *end;
  long x = strtol(v, &end, 10);
  if (*v == 0 || *end || x < lo || x > hi)
    return ag_cli_fail(c, AG_E_USAGE, "--%s must be an integer in %ld..%ld", name, lo, hi);
  *out = (int)x;
  return 0;
}

static int parse_u64(const ag_cli *c, const char *name, const char *v, uint64_t *out) {
  if (!v) return 0;
  if (ag_parse_u64(v, out)) return ag_cli_fail(c, AG_E_USAGE, "--%s must be a non-negative integer", name);
  return 0;
}

static int parse_float(const ag_cli *c, const char *name, const char *v, float *out) {
  if (!v) return 0;
  char *end;
  double x = strtod(v, &end);
  if (*v == 0 || *end || !isfinite(x)) return ag_cli_fail(c, AG_E_USAGE, "--%s must be a number", name);
  *out = (float)x;
  return 0;
}

static void default_model_path(const ag_cli *c, const char *given, char *out, size_t cap) {
  if (given) snprintf(out, cap, "%s", given);
  else ag_cli_default_model(c, out, cap);
}

static int open_model(const ag_cli *c, const char *path, ag_model **m, ag_train_state *ts) {
  int rc = ag_model_load(path, m, ts); /* Agora model files and GGUF files alike */
  if (rc) return ag_cli_fail(c, rc, "%s: %s", path, ag_errmsg(rc));
  return 0;
}

static void hex_id(const uint8_t id[AG_HASH_LEN], char out[2 * AG_HASH_LEN + 1]) {
  ag_hex_encode(id, AG_HASH_LEN, out);
}

static json_t *config_json(const ag_model_config *cfg) {
  return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:b}", "dim", cfg->dim, "n_layers",
                   cfg->n_layers, "n_heads", cfg->n_heads, "n_kv_heads", cfg->n_kv_heads,
                   "hidden_dim", cfg->hidden_dim, "vocab_size", cfg->vocab_size, "seq_len",
                   cfg->seq_len, "rope_theta", (double)cfg->rope_theta, "norm_eps",
                   (double)cfg->norm_eps, "tied", cfg->tied);
}

static void fmt_eta(double s, char *out, size_t cap) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(out, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
  else snprintf(out, cap, "%lds", t);
}

/* ---------- train ---------- */

static int save_tokenizer(const char *path, const ag_tokenizer *t) {
  ag_buf b;
  ag_buf_init(&b);
  /* AGTOKN01: merges (Agora's legacy pre-tokenizer); AGTOKN02: the pre-tokenizer's name first */
  const char *pre = ag_tok_pre(t);
  ag_buf_put(&b, pre ? "AGTOKN02" : "AGTOKN01", 8);
  if (pre) {
    ag_buf_put_u8(&b, (uint8_t)strlen(pre));
    ag_buf_puts(&b, pre);
  }
  ag_buf_put_u32le(&b, (uint32_t)ag_tok_n_merges(t));
  for (size_t i = 0; i < ag_tok_n_merges(t); i++) {
    uint32_t l, r;
    ag_tok_merge(t, i, &l, &r);
    ag_buf_put_u32le(&b, l);
    ag_buf_put_u32le(&b, r);
  }
  int rc = ag_write_file_atomic(path, b.data, b.len, 0644);
  ag_buf_free(&b);
  return rc;
}

static int load_tokenizer(const char *path, ag_tokenizer **t) {
  uint8_t *d;
  size_t len;
  *t = NULL;
  int rc = ag_read_file(path, 1u << 24, &d, &len);
  if (rc) return rc;
  char pre[64] = "";
  size_t off = 8;
  if (len >= 9 && !memcmp(d, "AGTOKN02", 8)) {
    size_t pl = d[8];
    if (pl >= sizeof pre || len < 9 + pl) pl = sizeof pre; /* refused below */
    else memcpy(pre, d + 9, pl), pre[pl] = 0;
    off = 9 + pl;
  } else if (len < 8 || memcmp(d, "AGTOKN01", 8)) {
    off = len + 1;
  }
  if (off + 4 > len || (len - off - 4) / 8 != ag_get_u32le(d + off) || (len - off - 4) % 8) {
    free(d);
    return ag_fail(AG_E_CORRUPT, "%s is not a tokenizer file", path);
  }
  size_t n = ag_get_u32le(d + off);
  uint32_t *pairs = ag_xmalloc((2 * n + 1) * sizeof(uint32_t));
  for (size_t i = 0; i < 2 * n; i++) pairs[i] = ag_get_u32le(d + off + 4 + 4 * i);
  rc = ag_tok_from_merges_pre(pairs, n, pre[0] ? pre : NULL, t);
  free(pairs);
  free(d);
  return rc;
}

/* Builds or reuses DIR/data/{tokenizer.bin,train.bin,val.bin}. */
static int prepare_data(const ag_cli *c, const char *dir, const char *text, const char *pre, int gcide_mb, int vocab,
                        int val_every, ag_tokenizer **tok, uint16_t **tr, size_t *ntr, uint16_t **va,
                        size_t *nva) {
  char dd[1200], ptok[1300], ptr[1300], pva[1300];
  snprintf(dd, sizeof dd, "%s/data", dir);
  snprintf(ptok, sizeof ptok, "%s/tokenizer.bin", dd);
  snprintf(ptr, sizeof ptr, "%s/train.bin", dd);
  snprintf(pva, sizeof pva, "%s/val.bin", dd);
  if (ag_file_exists(ptok) && ag_file_exists(ptr) && ag_file_exists(pva)) {
    int rc = load_tokenizer(ptok, tok);
    if (!rc) rc = ag_shard_read(ptr, ag_tok_vocab(*tok), tr, ntr);
    if (!rc) rc = ag_shard_read(pva, ag_tok_vocab(*tok), va, nva);
    if (rc) return ag_cli_fail(c, rc, "%s (delete %s to rebuild)", ag_errmsg(rc), dd);
    fprintf(stderr, "data: reusing %s (%zu train / %zu val tokens, vocab %d)\n", dd, *ntr, *nva,
            ag_tok_vocab(*tok));
    return 0;
  }
  if (ag_mkdirs(dd, 0755)) return ag_cli_fail(c, AG_E_IO, "cannot create %s", dd);
  ag_corpus corpus;
  ag_corpus_init(&corpus);
  int rc = text ? ag_corpus_add_text_file(&corpus, text) : ag_corpus_default(&corpus, (size_t)gcide_mb << 20);
  if (!rc && corpus.n < 2) rc = ag_fail(AG_E_ENGINE_DATA, "the corpus has fewer than 2 documents");
  if (rc) {
    ag_corpus_free(&corpus);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  fprintf(stderr, "data: %zu documents, %.1f MB of text; training a %d-token BPE tokenizer...\n",
          corpus.n, (double)corpus.text.len / 1e6, vocab);
  double t0 = ag_mono_s();
  rc = pre ? ag_tok_train_pre(corpus.text.data, corpus.text.len, vocab, pre, tok)
           : ag_tok_train(corpus.text.data, corpus.text.len, vocab, tok);
  if (!rc) {
    fprintf(stderr, "data: tokenizer trained in %.1f s (%d tokens); tokenizing...\n", ag_mono_s() - t0,
            ag_tok_vocab(*tok));
    rc = ag_corpus_tokenize(&corpus, *tok, val_every, tr, ntr, va, nva);
  }
  ag_corpus_free(&corpus);
  if (!rc) rc = ag_shard_write(ptr, *tr, *ntr, ag_tok_vocab(*tok));
  if (!rc) rc = ag_shard_write(pva, *va, *nva, ag_tok_vocab(*tok));
  if (!rc) rc = save_tokenizer(ptok, *tok);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  fprintf(stderr, "data: %zu train / %zu val tokens in %s\n", *ntr, *nva, dd);
  return 0;
}

static void progress_line(bool tty, const char *line) {
  if (tty) fprintf(stderr, "\r\033[K%s", line);
  else fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

static int cmd_train(ag_cli *c, int argc, char **argv) {
  const char *preset = "nano", *out = NULL, *text = NULL, *v_steps = NULL, *v_batch = NULL,
             *v_seq = NULL, *v_accum = NULL, *v_lr = NULL, *v_minlr = NULL, *v_warm = NULL,
             *v_wd = NULL, *v_clip = NULL, *v_seed = NULL, *v_threads = NULL, *v_eval = NULL,
             *v_save = NULL, *v_vocab = NULL, *v_gcide = NULL, *v_log = NULL, *v_pre = "llama-bpe";
  bool resume = false;
  ag_opt opts[] = {{"preset", 0, 1, &preset, NULL},     {"out", 'o', 1, &out, NULL},
                   {"text", 0, 1, &text, NULL},         {"steps", 0, 1, &v_steps, NULL},
                   {"batch", 'b', 1, &v_batch, NULL},   {"seq", 0, 1, &v_seq, NULL},
                   {"accum", 0, 1, &v_accum, NULL},     {"lr", 0, 1, &v_lr, NULL},
                   {"min-lr", 0, 1, &v_minlr, NULL},    {"warmup", 0, 1, &v_warm, NULL},
                   {"wd", 0, 1, &v_wd, NULL},           {"clip", 0, 1, &v_clip, NULL},
                   {"seed", 's', 1, &v_seed, NULL},     {"threads", 't', 1, &v_threads, NULL},
                   {"eval-every", 0, 1, &v_eval, NULL}, {"save-every", 0, 1, &v_save, NULL},
                   {"vocab", 0, 1, &v_vocab, NULL},     {"gcide-mb", 0, 1, &v_gcide, NULL},
                   {"pre", 0, 1, &v_pre, NULL},
                   {"log-every", 0, 1, &v_log, NULL},   {"resume", 0, 0, NULL, &resume},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help)
    return ag_cli_usage(c,
        "usage: agora model train [OPTIONS]\n\n"
        "Trains a model with the deterministic engine: the same data, seed and steps give a\n"
        "bit-identical checkpoint on any machine and any thread count.\n\n"
        "  --preset NAME     nano (default), tiny, stories15m\n"
        "  -o, --out DIR     output folder (default HOME/models/PRESET): data/, ckpt.bin,\n"
        "                    model.bin (fp32) and model-q8.bin (8-bit) at the end\n"
        "  --text FILE       train on FILE (documents separated by blank lines) instead of the\n"
        "                    default corpus (Debian's fortunes + dict-gcide)\n"
        "  --gcide-mb N      MB of dictionary text in the default corpus (default 4)\n"
        "  --vocab N         BPE vocabulary size (default: the preset's)\n"
        "  --pre NAME        the tokenizer's pre-tokenizer, one llama.cpp knows (llama-bpe, gpt-2,\n"
        "                    smollm, qwen2, default; default llama-bpe) or 'legacy' (Agora's first\n"
        "                    rule, which llama.cpp does not reproduce)\n"
        "  --steps N         optimizer steps (default 1000)\n"
        "  -b, --batch N     sequences per micro-batch (default 8)\n"
        "  --seq N           tokens per sequence (default 128)\n"
        "  --accum N         micro-batches per step (default 1)\n"
        "  --lr X --min-lr X --warmup N --wd X --clip X   AdamW, cosine schedule (1e-3, 1e-4, 50, 0.1, 1.0)\n"
        "  -s, --seed N      data order and initialization seed (default 1)\n"
        "  -t, --threads N   threads (default: all cores)\n"
        "  --eval-every N    validation loss every N steps (default 100)\n"
        "  --save-every N    checkpoint every N steps (default 200)\n"
        "  --resume          continue from OUT/ckpt.bin (bit-identical to an uninterrupted run)\n"
        "  --json            print a JSON summary at the end\n");
  ag_model_config cfg;
  rc = ag_model_preset(preset, &cfg);
  if (rc) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  ag_train_config tc;
  ag_train_defaults(&tc);
  int threads = ag_ncpu(), eval_every = 100, save_every = 200, vocab = cfg.vocab_size, gcide_mb = 4,
      log_every = 10;
  if ((rc = parse_int(c, "steps", v_steps, 1, 100000000, &tc.steps)) ||
      (rc = parse_int(c, "batch", v_batch, 1, 4096, &tc.batch)) ||
      (rc = parse_int(c, "seq", v_seq, 1, cfg.seq_len, &tc.seq)) ||
      (rc = parse_int(c, "accum", v_accum, 1, 4096, &tc.accum)) ||
      (rc = parse_float(c, "lr", v_lr, &tc.lr)) || (rc = parse_float(c, "min-lr", v_minlr, &tc.min_lr)) ||
      (rc = parse_int(c, "warmup", v_warm, 0, 100000000, &tc.warmup)) ||
      (rc = parse_float(c, "wd", v_wd, &tc.wd)) || (rc = parse_float(c, "clip", v_clip, &tc.clip)) ||
      (rc = parse_u64(c, "seed", v_seed, &tc.seed)) ||
      (rc = parse_int(c, "threads", v_threads, 1, 64, &threads)) ||
      (rc = parse_int(c, "eval-every", v_eval, 0, 100000000, &eval_every)) ||
      (rc = parse_int(c, "save-every", v_save, 0, 100000000, &save_every)) ||
      (rc = parse_int(c, "vocab", v_vocab, AG_TOK_BASE + 1, AG_TOK_MAX_VOCAB, &vocab)) ||
      (rc = parse_int(c, "gcide-mb", v_gcide, 0, 4096, &gcide_mb)) ||
      (rc = parse_int(c, "log-every", v_log, 1, 100000000, &log_every)))
    return rc;
  if (!v_seq && tc.seq > cfg.seq_len) tc.seq = cfg.seq_len;
  if (!v_minlr && tc.min_lr > tc.lr) tc.min_lr = tc.lr / 10;
  char dir[1024];
  if (out) snprintf(dir, sizeof dir, "%s", out);
  else {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", preset);
    ag_cli_path(c, rel, dir, sizeof dir);
  }
  if (ag_mkdirs(dir, 0755)) return ag_cli_fail(c, AG_E_IO, "cannot create %s", dir);
  ag_tokenizer *tok = NULL;
  uint16_t *trt = NULL, *vat = NULL;
  size_t ntr = 0, nva = 0;
  rc = prepare_data(c, dir, text, strcmp(v_pre, "legacy") ? v_pre : NULL, gcide_mb, vocab, 20, &tok, &trt, &ntr, &vat, &nva);
  if (rc) return rc;
  cfg.vocab_size = ag_tok_vocab(tok);
  ag_tokens dtr = {trt, ntr}, dva = {vat, nva};
  if (ntr < (size_t)tc.seq + 2) {
    ag_tok_free(tok);
    free(trt), free(vat);
    return ag_cli_fail(c, AG_E_ENGINE_DATA, "only %zu training tokens; need more than %d", ntr, tc.seq + 1);
  }
  char ckpt[1200], final[1200], finalq[1200];
  snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
  snprintf(final, sizeof final, "%s/model.bin", dir);
  snprintf(finalq, sizeof finalq, "%s/model-q8.bin", dir);
  ag_model *m = NULL;
  ag_trainer *tr = NULL;
  ag_train_state ts;
  memset(&ts, 0, sizeof ts);
  int exit_code = 0;
  if (resume && ag_file_exists(ckpt)) {
    rc = ag_model_load(ckpt, &m, &ts);
    if (rc) {
      exit_code = ag_cli_fail(c, rc, "%s: %s", ckpt, ag_errmsg(rc));
      goto done;
    }
    if (!ts.present || memcmp(&m->cfg, &cfg, sizeof cfg) || m->wtype != AG_DT_F32) {
      exit_code = ag_cli_fail(c, AG_E_MODEL_CONFIG, "%s does not match this run (preset/data) or has no training state", ckpt);
      goto done;
    }
    int steps_override = tc.steps;
    tc = ts.tc;
    if (v_steps) tc.steps = steps_override;
    ag_tok_free(tok);
    tok = NULL;
  } else {
    rc = ag_model_create(&cfg, tc.seed, tok, &m);
    tok = NULL;
    if (rc) {
      exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      goto done;
    }
  }
  rc = ag_trainer_open(m, &tc, threads, &tr);
  if (rc) {
    exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    goto done;
  }
  if (ts.present) {
    memcpy(ag_trainer_moment(tr, 0), ts.mom, m->blob_len);
    memcpy(ag_trainer_moment(tr, 1), ts.vel, m->blob_len);
    ag_trainer_set_step_count(tr, ts.step);
    fprintf(stderr, "train: resuming %s at step %lld\n", ckpt, (long long)ts.step);
  }
  bool tty = isatty(STDERR_FILENO);
  double tok_per_step = (double)tc.batch * tc.seq * tc.accum;
  fprintf(stderr, "train: %s, %.2fM parameters, %d threads, %s; %d steps of %.0f tokens (%.1f epochs)\n",
          preset, (double)ag_model_param_count(&cfg) / 1e6, threads, ag_simd_name(ag_simd_get()),
          tc.steps, tok_per_step, tok_per_step * tc.steps / (double)ntr);
  double t0 = ag_mono_s(), loss = 0, val = NAN, ema = NAN;
  int64_t start = ag_trainer_step_count(tr);
  float gnorm = 0;
  while (ag_trainer_step_count(tr) < tc.steps) {
    rc = ag_trainer_step(tr, &dtr, &loss, &gnorm);
    if (rc) {
      if (tty) fputc('\n', stderr);
      exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      goto done;
    }
    int64_t s = ag_trainer_step_count(tr);
    ema = isnan(ema) ? loss : 0.9 * ema + 0.1 * loss;
    double el = ag_mono_s() - t0, tps = (double)(s - start) * tok_per_step / el;
    bool last = s == tc.steps;
    if (eval_every && (s % eval_every == 0 || last) && nva > (size_t)tc.batch * tc.seq + 1) {
      rc = ag_trainer_eval(tr, &dva, 8, &val);
      if (rc) {
        exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
        goto done;
      }
      if (tty) fputc('\n', stderr);
      fprintf(stderr, "step %lld: train loss %.4f, val loss %.4f\n", (long long)s, ema, val);
    }
    if (tty || s % log_every == 0 || last) {
      char eta[32], line[256], bar[21];
      fmt_eta((double)(tc.steps - s) * tok_per_step / tps, eta, sizeof eta);
      int filled = (int)(20.0 * (double)s / tc.steps);
      for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
      bar[20] = 0;
      snprintf(line, sizeof line, "step %lld/%d [%s] loss %.4f | lr %.2e | %.0f tok/s | ETA %s",
               (long long)s, tc.steps, bar, ema, (double)ag_train_lr(&tc, s - 1), tps, eta);
      progress_line(tty, line);
    }
    if ((save_every && s % save_every == 0) || last) {
      ag_train_state st = {1, s, tc, ag_trainer_moment(tr, 0), ag_trainer_moment(tr, 1)};
      rc = ag_model_save(m, ckpt, &st);
      if (rc) {
        exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
        goto done;
      }
    }
  }
  if (tty) fputc('\n', stderr);
  {
    rc = ag_model_save(m, final, NULL);
    ag_model *q = NULL;
    if (!rc) rc = ag_model_quantize(m, &q);
    if (!rc) rc = ag_model_save(q, finalq, NULL);
    if (rc) {
      ag_model_close(q);
      exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      goto done;
    }
    char idf[65], idq[65];
    hex_id(m->id, idf);
    hex_id(q->id, idq);
    double el = ag_mono_s() - t0;
    if (c->json) {
      ag_cli_print_json(json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:f,s:f,s:f,s:f,s:o}", "model", final,
                                  "model_id", idf, "model_q8", finalq, "model_q8_id", idq,
                                  "checkpoint", ckpt, "steps", (json_int_t)tc.steps, "train_loss",
                                  loss, "val_loss", isnan(val) ? -1.0 : val, "seconds", el,
                                  "tokens_per_s", (double)(tc.steps - start) * tok_per_step / el,
                                  "config", config_json(&m->cfg)));
    } else {
      printf("trained %s in %.1f s: final loss %.4f, val loss %.4f\n", preset, el, loss, val);
      printf("  fp32  %s  id %s\n  8-bit %s  id %s\n", final, idf, finalq, idq);
    }
    ag_model_close(q);
  }
done:
  ag_trainer_close(tr);
  ag_model_close(m);
  ag_tok_free(tok);
  free(trt);
  free(vat);
  return exit_code;
}

/* ---------- generate ---------- */

typedef struct {
  const ag_model *m;
  bool print;
} gen_print;

static int print_token(void *ctx, uint32_t tok) {
  gen_print *g = ctx;
  if (!g->print || !g->m->tok) return 0;
  size_t len;
  const uint8_t *p = ag_tok_piece(g->m->tok, tok, &len);
  if (p && len) fwrite(p, 1, len, stdout);
  fflush(stdout);
  return 0;
}

/* ---------- chat ---------- */

static int cmd_chat(ag_cli *c, int argc, char **argv) {
  const char *model = NULL, *v_n = NULL, *v_temp = NULL, *v_seed = NULL, *v_threads = NULL, *system = NULL;
  ag_opt opts[] = {{"model", 'm', 1, &model, NULL},   {"n-predict", 'n', 1, &v_n, NULL},
                   {"temp", 0, 1, &v_temp, NULL},     {"seed", 's', 1, &v_seed, NULL},
                   {"threads", 't', 1, &v_threads, NULL}, {"system", 0, 1, &system, NULL},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help)
    return ag_cli_usage(c, "usage: agora model chat [-m MODEL] [-n MAX] [--temp X] [-s SEED] [--system TEXT] [-t N]\n\n"
                           "A conversation in the terminal: each line you type is a user turn; the model\n"
                           "answers through its own chat template (a GGUF file's tokenizer.chat_template,\n"
                           "ChatML when it has none) and stops at its end-of-turn token. Ctrl-D ends.\n"
                           "Defaults: -n 256, --temp 0 (greedy), all cores.\n");
  int n = 256, threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  sp.temperature = 0;
  if ((rc = parse_int(c, "n-predict", v_n, 1, 100000, &n)) || (rc = parse_float(c, "temp", v_temp, &sp.temperature)) ||
      (rc = parse_u64(c, "seed", v_seed, &sp.seed)) || (rc = parse_int(c, "threads", v_threads, 1, 64, &threads)))
    return rc;
  char path[1200];
  default_model_path(c, model, path, sizeof path);
  ag_model *m = NULL;
  if ((rc = open_model(c, path, &m, NULL))) return rc;
  sp.stop = ag_model_stop(m);
  ag_infer *s = NULL;
  if ((rc = ag_infer_open(m, 64, threads, &s))) {
    ag_model_close(m);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  json_t *msgs = json_array();
  if (system) json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", system));
  uint32_t *out = ag_xmalloc(sizeof(uint32_t) * (size_t)n);
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int exit_code = 0;
  uint64_t turn = 0;
  while (isatty(0) ? (fputs("> ", stdout), fflush(stdout), 1) : 1) {
    if ((got = getline(&line, &cap, stdin)) <= 0) break;
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
    if (!got) continue;
    json_t *um = json_pack("{s:s%,s:s}", "content", line, (size_t)got, "role", "user");
    if (!um) {
      fprintf(stderr, "agora model chat: the line is not valid UTF-8\n");
      continue;
    }
    json_array_append_new(msgs, um);
    uint32_t *ids = NULL;
    size_t nids = 0;
    ag_buf text;
    ag_buf_init(&text);
    if (m->gguf) {
      rc = ag_engine_chat_ids(m, msgs, &ids, &nids); /* as miners read a chat */
    } else {
      rc = ag_inf_render_chat(msgs, &text, NULL);
      ag_buf_put_u8(&text, 0);
      if (!rc) rc = ag_engine_encode(m, (const char *)text.data, text.len - 1, &ids, &nids);
    }
    ag_buf_free(&text);
    if (!rc && (int64_t)nids + n - 1 > m->cfg.seq_len)
      rc = ag_fail(AG_E_ENGINE_CONTEXT, "the conversation no longer fits the context of %d tokens", m->cfg.seq_len);
    if (rc) {
      free(ids);
      exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      break;
    }
    ag_gen_out go = {out, 0, {0}};
    gen_print gp = {m, 1};
    ag_sampling tsp = sp;
    tsp.seed = sp.seed + turn++;
    rc = ag_generate(s, ids, (int)nids, n, &tsp, AG_COMMIT_K_DEFAULT, &go, NULL, print_token, &gp);
    free(ids);
    if (rc) {
      exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      break;
    }
    fputs("\n", stdout);
    int keep = go.n;
    if (keep && ag_is_stop(m, tsp.stop, out[keep - 1])) keep--;
    ag_buf reply;
    ag_buf_init(&reply);
    ag_tok_decode(m->tok, out, (size_t)keep, &reply);
    json_t *am = json_pack("{s:s,s:s%}", "role", "assistant", "content", reply.data ? (const char *)reply.data : "",
                           reply.len);
    json_array_append_new(msgs, am ? am : json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
    ag_buf_free(&reply);
  }
  free(line);
  free(out);
  json_decref(msgs);
  ag_infer_close(s);
  ag_model_close(m);
  return exit_code;
}

static int cmd_generate(ag_cli *c, int argc, char **argv) {
  const char *model = NULL, *prompt = "", *v_n = NULL, *v_temp = NULL, *v_topp = NULL,
             *v_topk = NULL, *v_seed = NULL, *v_threads = NULL, *commit = NULL, *v_freq = NULL,
             *v_pres = NULL;
  ag_opt opts[] = {{"model", 'm', 1, &model, NULL},   {"prompt", 'p', 1, &prompt, NULL},
                   {"n-predict", 'n', 1, &v_n, NULL}, {"temp", 0, 1, &v_temp, NULL},
                   {"top-p", 0, 1, &v_topp, NULL},    {"top-k", 0, 1, &v_topk, NULL},
                   {"seed", 's', 1, &v_seed, NULL},   {"threads", 't', 1, &v_threads, NULL},
                   {"commit", 0, 1, &commit, NULL},   {"frequency-penalty", 0, 1, &v_freq, NULL},
                   {"presence-penalty", 0, 1, &v_pres, NULL}, {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help)
    return ag_cli_usage(c,
        "usage: agora model generate [-m MODEL] [-p PROMPT] [OPTIONS]\n\n"
        "  -p, --prompt TEXT   prompt (default empty: start of a document)\n"
        "  -n, --n-predict N   tokens to generate (default 128; stops at end of text)\n"
        "  --temp X            temperature (default 0.8; 0 = greedy)\n"
        "  --top-p X           nucleus sampling (default 0.95)\n"
        "  --top-k N           top-k sampling (default 40; 0 = off)\n"
        "  --frequency-penalty X, --presence-penalty X\n"
        "                      OpenAI's penalties on output tokens already output (-2..2,\n"
        "                      default 0)\n"
        "  -s, --seed N        sampling seed (default 1): same seed, same text, on any machine\n"
        "  -t, --threads N     threads (default: all cores)\n"
        "  --commit FILE       write a receipt (tokens, parameters, top-k logit commitment) that\n"
        "                      'agora model verify FILE' checks by re-execution\n");
  ag_sampling sp;
  ag_sampling_defaults(&sp);
  int n = 128, threads = ag_ncpu();
  if ((rc = parse_int(c, "n-predict", v_n, 1, 1000000, &n)) ||
      (rc = parse_float(c, "temp", v_temp, &sp.temperature)) ||
      (rc = parse_float(c, "top-p", v_topp, &sp.top_p)) ||
      (rc = parse_int(c, "top-k", v_topk, 0, 1 << 20, &sp.top_k)) ||
      (rc = parse_float(c, "frequency-penalty", v_freq, &sp.frequency_penalty)) ||
      (rc = parse_float(c, "presence-penalty", v_pres, &sp.presence_penalty)) ||
      (rc = parse_u64(c, "seed", v_seed, &sp.seed)) ||
      (rc = parse_int(c, "threads", v_threads, 1, 64, &threads)))
    return rc;
  if (sp.frequency_penalty == 0) sp.frequency_penalty = 0; /* -0 is 0 */
  if (sp.presence_penalty == 0) sp.presence_penalty = 0;
  char path[1200];
  default_model_path(c, model, path, sizeof path);
  ag_model *m = NULL;
  if ((rc = open_model(c, path, &m, NULL))) return rc;
  ag_model_prefer_f32(&m, AG_PREFER_F32_MAX);
  int exit_code = 0;
  uint32_t *ids = NULL, *out = NULL;
  size_t nids = 0;
  ag_infer *s = NULL;
  ag_buf receipt;
  ag_buf_init(&receipt);
  rc = ag_engine_encode(m, prompt, strlen(prompt), &ids, &nids);
  if (!rc) sp.stop = ag_model_stop(m);
  if (!rc && sp.stop >= m->cfg.vocab_size) sp.stop = -1;
  if (!rc && sp.top_k > m->cfg.vocab_size) sp.top_k = m->cfg.vocab_size;
  if (!rc) rc = ag_sampling_check(&sp, m->cfg.vocab_size);
  if (!rc && (int64_t)nids + n - 1 > m->cfg.seq_len)
    rc = ag_fail(AG_E_ENGINE_CONTEXT, "the prompt has %zu tokens; with -n %d that exceeds the context of %d",
                 nids, n, m->cfg.seq_len);
  if (rc) {
    exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    goto done;
  }
  rc = ag_infer_open(m, (int)AG_MIN(nids, (size_t)64), threads, &s);
  if (rc) {
    exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    goto done;
  }
  out = ag_xmalloc(sizeof(uint32_t) * (size_t)n);
  ag_gen_out go = {out, 0, {0}};
  gen_print gp = {m, !c->json};
  if (!c->json) {
    fputs(prompt, stdout);
    fflush(stdout);
  }
  double t0 = ag_mono_s();
  rc = ag_generate(s, ids, (int)nids, n, &sp, AG_COMMIT_K_DEFAULT, &go, commit ? &receipt : NULL,
                   print_token, &gp);
  double el = ag_mono_s() - t0;
  if (rc) {
    exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    goto done;
  }
  if (commit) {
    rc = ag_write_file_atomic(commit, receipt.data, receipt.len, 0644);
    if (rc) {
      exit_code = ag_cli_fail(c, rc, "cannot write %s", commit);
      goto done;
    }
  }
  char cm[65], idh[65];
  hex_id(go.commitment, cm);
  hex_id(m->id, idh);
  if (c->json) {
    ag_buf text;
    ag_buf_init(&text);
    int ntext = go.n;
    if (ntext && ag_is_stop(m, sp.stop, out[ntext - 1])) ntext--;
    ag_tok_decode(m->tok, out, (size_t)ntext, &text);
    json_t *toks = json_array();
    for (int i = 0; i < go.n; i++) json_array_append_new(toks, json_integer(out[i]));
    json_t *j = json_pack("{s:s,s:s,s:s%,s:o,s:i,s:f,s:s}", "model_id", idh, "prompt", prompt,
                          "text", text.len ? (const char *)text.data : "", text.len, "tokens", toks,
                          "n", go.n, "tokens_per_s", go.n / el, "commitment", cm);
    if (commit) json_object_set_new(j, "receipt", json_string(commit));
    ag_cli_print_json(j);
    ag_buf_free(&text);
  } else {
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "[%d tokens, %.1f tok/s, seed %llu%s%s]\n", go.n, go.n / el,
            (unsigned long long)sp.seed, commit ? ", receipt " : "", commit ? commit : "");
  }
done:
  ag_infer_close(s);
  ag_buf_free(&receipt);
  free(ids);
  free(out);
  ag_model_close(m);
  return exit_code;
}

/* ---------- verify ---------- */

/* A miner's whole answer to a request, as validators check it (ag_inf_verify): for tools in
 * other languages (sdk/python/examples/validator.py) that keep the engine out of their code. */
static int cmd_check_answer(ag_cli *c, int argc, char **argv) {
  const char *model = NULL, *v_threads = NULL, *hotkey = NULL;
  bool chat = false;
  ag_opt opts[] = {{"model", 'm', 1, &model, NULL}, {"threads", 't', 1, &v_threads, NULL},
                   {"hotkey", 0, 1, &hotkey, NULL}, {"chat", 0, 0, NULL, &chat}, {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos != 2 || !hotkey)
    return ag_cli_usage(c,
        "usage: agora model check-answer REQUEST ANSWER --hotkey MINER [--chat] [-m MODEL] [-t THREADS]\n\n"
        "Checks a miner's non-streamed answer (the JSON in file ANSWER) to the request body in file\n"
        "REQUEST (its exact bytes; a chat completion with --chat) as validators do: the miner's\n"
        "signature, the request hash, that the receipt is for MODEL with the requested prompt\n"
        "and sampling, that the text is the receipt's output, and the receipt by re-execution.\n"
        "Exit status 0 when the answer is honest, 1 otherwise; --json prints the verdict.\n");
  int threads = 1;
  if ((rc = parse_int(c, "threads", v_threads, 1, 64, &threads))) return rc;
  uint8_t pk[32];
  if ((rc = ag_addr_decode(hotkey, pk))) return ag_cli_fail(c, rc, "--hotkey: %s", ag_errmsg(rc));
  uint8_t *body = NULL, *ans = NULL;
  size_t blen, alen;
  if (ag_read_file(pos[0], 1u << 20, &body, &blen)) return ag_cli_fail(c, AG_E_NOTFOUND, "cannot read %s", pos[0]);
  if (ag_read_file(pos[1], 1u << 24, &ans, &alen)) {
    free(body);
    return ag_cli_fail(c, AG_E_NOTFOUND, "cannot read %s", pos[1]);
  }
  json_t *resp = json_loadb((const char *)ans, alen, 0, NULL);
  free(ans);
  ag_inf_request req;
  const char *param = NULL;
  char path[1200];
  default_model_path(c, model, path, sizeof path);
  ag_model *m = NULL;
  ag_infer *state = NULL;
  ag_inf_verdict v;
  memset(&v, 0, sizeof v);
  if (!resp) rc = ag_cli_fail(c, AG_E_INVALID, "%s is not JSON", pos[1]);
  else if ((rc = ag_inf_request_parse(chat, body, blen, &req, &param)))
    rc = ag_cli_fail(c, rc, "the request: %s%s%s", ag_errmsg(rc), param ? " at " : "", param ? param : "");
  else {
    if (!(rc = open_model(c, path, &m, NULL)) && !(rc = ag_infer_open(m, m->cfg.seq_len, threads, &state)))
      rc = ag_inf_verify(state, m, body, blen, &req, resp, pk, &v);
    else rc = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    ag_inf_request_free(&req);
    int code = v.code;
    if (m && c->json) {
      json_t *j = json_pack("{s:b,s:s,s:s,s:i,s:i,s:f}", "ok", v.ok && !code, "code", code ? ag_err_name(code) : "ok",
                            "why", v.why, "n_prompt", v.n_prompt, "n_out", v.n_out, "seconds", v.verify_seconds);
      ag_cli_print_json(j);
    } else if (m && code) {
      fprintf(stderr, "REJECTED: %s: %s\n", ag_err_name(code), v.why);
    } else if (m) {
      printf("ok: an honest answer (%d prompt and %d output tokens re-executed in %.3f s)\n", v.n_prompt, v.n_out, v.verify_seconds);
    }
    if (m) rc = code || !v.ok ? AG_EXIT_FAIL : 0;
  }
  ag_infer_close(state);
  ag_model_close(m);
  json_decref(resp);
  free(body);
  return rc;
}

static int cmd_verify(ag_cli *c, int argc, char **argv) {
  const char *model = NULL, *v_threads = NULL;
  ag_opt opts[] = {{"model", 'm', 1, &model, NULL}, {"threads", 't', 1, &v_threads, NULL},
                   {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || npos != 1)
    return ag_cli_usage(c,
        "usage: agora model verify RECEIPT [-m MODEL] [-t THREADS]\n\n"
        "Re-runs one batched prefill over the receipt's prompt and output with MODEL (whose id\n"
        "must match the receipt) and checks every committed top-k logit bit for bit, every\n"
        "sampled token for the receipt's seed and parameters, and the commitment hash.\n"
        "Exit status 0 when the receipt is honest, 1 otherwise.\n");
  int threads = ag_ncpu();
  if ((rc = parse_int(c, "threads", v_threads, 1, 64, &threads))) return rc;
  uint8_t *data;
  size_t len;
  rc = ag_read_file(pos[0], 1u << 28, &data, &len);
  if (rc) return ag_cli_fail(c, AG_E_NOTFOUND, "cannot read %s", pos[0]);
  char path[1200];
  default_model_path(c, model, path, sizeof path);
  ag_model *m = NULL;
  if ((rc = open_model(c, path, &m, NULL))) {
    free(data);
    return rc;
  }
  ag_model_prefer_f32(&m, AG_PREFER_F32_MAX);
  ag_verify_report rep;
  ag_receipt r;
  int prc = ag_receipt_parse(data, len, &r);
  rc = ag_receipt_verify(m, data, len, threads, &rep);
  char idh[65];
  hex_id(m->id, idh);
  int exit_code = 0;
  if (c->json) {
    json_t *j = json_pack("{s:b,s:s,s:i,s:i,s:f}", "ok", rc == 0, "model_id", idh, "checked",
                          rep.checked, "first_bad", rep.first_bad, "seconds", rep.seconds);
    if (!prc) {
      json_object_set_new(j, "n_prompt", json_integer(r.n_prompt));
      json_object_set_new(j, "n_out", json_integer(r.n_out));
    }
    if (rc) json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", ag_err_name(rc), "message", ag_errmsg(rc)));
    ag_cli_print_json(j);
    exit_code = rc ? AG_EXIT_FAIL : 0;
  } else if (rc) {
    exit_code = ag_cli_fail(c, rc, "REJECTED: %s", ag_errmsg(rc));
  } else {
    printf("ok: %d tokens verified (prompt %d) in %.3f s against model %s\n", rep.checked, r.n_prompt,
           rep.seconds, idh);
  }
  free(data);
  ag_model_close(m);
  return exit_code;
}

/* ---------- eval ---------- */

typedef struct {
  const uint16_t *tok;
  int V;
  int base;
  double sum;
  long n;
} ev2;

static int eval_row(void *v, int pos, const float *l) {
  ev2 *e = v;
  uint32_t tgt = e->tok[e->base + pos + 1];
  float mx = -INFINITY;
  for (int j = 0; j < e->V; j++) mx = fmaxf(mx, l[j]);
  double s = 0;
  for (int j = 0; j < e->V; j++) s += (double)ag_expf(l[j] - mx);
  e->sum += ag_ln(s) + (double)mx - (double)l[tgt];
  e->n++;
  return 0;
}

static int cmd_eval(ag_cli *c, int argc, char **argv) {
  const char *model = NULL, *data = NULL, *text = NULL, *v_threads = NULL, *v_max = NULL;
  ag_opt opts[] = {{"model", 'm', 1, &model, NULL},    {"data", 0, 1, &data, NULL},
                   {"text", 0, 1, &text, NULL},        {"threads", 't', 1, &v_threads, NULL},
                   {"max-tokens", 0, 1, &v_max, NULL}, {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 0, &npos);
  if (rc) return rc;
  if (c->help)
    return ag_cli_usage(c,
        "usage: agora model eval [-m MODEL] [--data SHARD | --text FILE] [--max-tokens N]\n\n"
        "Mean cross-entropy (nats per token) and perplexity over consecutive context-sized\n"
        "windows. Default data: the validation shard next to the model (DIR/data/val.bin), else\n"
        "the default corpus's validation documents.\n");
  int threads = ag_ncpu(), maxt = 65536;
  if ((rc = parse_int(c, "threads", v_threads, 1, 64, &threads)) ||
      (rc = parse_int(c, "max-tokens", v_max, 2, 1 << 30, &maxt)))
    return rc;
  char path[1200];
  default_model_path(c, model, path, sizeof path);
  ag_model *m = NULL;
  if ((rc = open_model(c, path, &m, NULL))) return rc;
  ag_model_prefer_f32(&m, AG_PREFER_F32_MAX);
  uint16_t *toks = NULL;
  size_t n = 0;
  int exit_code = 0;
  if (text || !data) {
    if (!m->tok) {
      exit_code = ag_cli_fail(c, AG_E_MODEL_NO_TOKENIZER, "the model has no tokenizer");
      goto done;
    }
    char vpath[1300];
    const char *slash = strrchr(path, '/');
    snprintf(vpath, sizeof vpath, "%.*s/data/val.bin", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (!text && ag_file_exists(vpath)) {
      data = vpath;
      rc = ag_shard_read(data, m->cfg.vocab_size, &toks, &n);
    } else {
      ag_corpus corpus;
      ag_corpus_init(&corpus);
      rc = text ? ag_corpus_add_text_file(&corpus, text) : ag_corpus_default(&corpus, 4u << 20);
      uint16_t *tr = NULL;
      size_t ntr;
      if (!rc) rc = ag_corpus_tokenize(&corpus, m->tok, text ? 1 : 20, &tr, &ntr, &toks, &n);
      free(tr);
      ag_corpus_free(&corpus);
    }
  } else {
    rc = ag_shard_read(data, m->cfg.vocab_size, &toks, &n);
  }
  if (!rc && n < 2) rc = ag_fail(AG_E_ENGINE_DATA, "not enough tokens to evaluate");
  if (rc) {
    exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
    goto done;
  }
  if (n > (size_t)maxt) n = (size_t)maxt;
  {
    ag_infer *s = NULL;
    int S = m->cfg.seq_len;
    rc = ag_infer_open(m, AG_MIN(S, 128), threads, &s);
    ev2 e = {toks, m->cfg.vocab_size, 0, 0, 0};
    uint32_t *win = ag_xmalloc(sizeof(uint32_t) * (size_t)S);
    double t0 = ag_mono_s();
    for (size_t b = 0; !rc && b + 1 < n; b += (size_t)S) {
      int k = (int)AG_MIN((size_t)S, n - 1 - b);
      for (int i = 0; i < k; i++) win[i] = toks[b + i];
      ag_infer_reset(s);
      e.base = (int)b;
      rc = ag_infer_forward(s, win, k, NULL, eval_row, &e);
    }
    free(win);
    ag_infer_close(s);
    if (rc) {
      exit_code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      goto done;
    }
    double loss = e.sum / (double)e.n;
    if (c->json)
      ag_cli_print_json(json_pack("{s:s,s:I,s:f,s:f,s:f}", "model", path, "tokens", (json_int_t)e.n,
                                  "loss", loss, "perplexity", exp(loss), "seconds", ag_mono_s() - t0));
    else
      printf("%s: %ld tokens, loss %.4f nats/token, perplexity %.2f (%.1f s)\n", path, e.n, loss,
             exp(loss), ag_mono_s() - t0);
  }
done:
  free(toks);
  ag_model_close(m);
  return exit_code;
}

/* ---------- info ---------- */

static int cmd_info(ag_cli *c, int argc, char **argv) {
  ag_opt opts[] = {{"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help)
    return ag_cli_usage(c, "usage: agora model info [MODEL]\n\n"
                           "Configuration, parameter count, weight type, tokenizer and model id\n"
                           "(BLAKE2b-256 of the model part of the file) of an Agora model or GGUF file.\n");
  char path[1200];
  default_model_path(c, npos ? pos[0] : NULL, path, sizeof path);
  ag_model *m = NULL;
  ag_train_state ts;
  memset(&ts, 0, sizeof ts);
  if ((rc = open_model(c, path, &m, &ts))) return rc;
  char idh[65];
  hex_id(m->id, idh);
  uint64_t np = ag_model_param_count(&m->cfg);
  /* GGUF: the matrices' own block types, most common first */
  char wdesc[160] = "";
  if (m->gguf) {
    int count[AG_DT_COUNT] = {0};
    const ag_mat *all[] = {m->wq, m->wk, m->wv, m->wo, m->w1, m->w2, m->w3};
    for (int k = 0; k < 7; k++)
      for (int l = 0; l < m->cfg.n_layers; l++) count[all[k][l].type]++;
    count[m->tok_emb.type]++;
    if (!m->cfg.tied) count[m->out.type]++;
    size_t o = 0;
    for (int done = 0; done < AG_DT_COUNT; done++) {
      int best = -1;
      for (int t = 0; t < AG_DT_COUNT; t++)
        if (count[t] && (best < 0 || count[t] > count[best])) best = t;
      if (best < 0) break;
      o += (size_t)snprintf(wdesc + o, sizeof wdesc - o, "%s%s x%d", o ? ", " : "", ag_dt_name(best), count[best]);
      count[best] = 0;
      if (o >= sizeof wdesc) break;
    }
  }
  const char *wshort = m->gguf ? "gguf" : m->wtype == AG_DT_Q8 ? "q8" : "f32";
  if (c->json) {
    json_t *j = json_pack("{s:s,s:s,s:o,s:I,s:s,s:I,s:i}", "path", path, "model_id", idh, "config",
                          config_json(&m->cfg), "parameters", (json_int_t)np, "weights",
                          wshort, "weight_bytes", (json_int_t)m->blob_len,
                          "tokenizer_vocab", m->tok ? ag_tok_vocab(m->tok) : 0);
    if (m->gguf) json_object_set_new(j, "tensor_types", json_string(wdesc));
    if (ts.present) json_object_set_new(j, "training_step", json_integer(ts.step));
    ag_cli_print_json(j);
  } else {
    const ag_model_config *k = &m->cfg;
    char wl[200];
    if (m->gguf) snprintf(wl, sizeof wl, "GGUF as published (%s)", wdesc);
    else snprintf(wl, sizeof wl, "%s", m->wtype == AG_DT_Q8 ? "8-bit (q8, groups of 32)" : "fp32");
    printf("model     %s\nid        %s\nweights   %s, %.2fM parameters, %.2f MB\n", path, idh, wl,
           (double)np / 1e6, (double)m->blob_len / 1e6);
    printf("shape     dim %d, layers %d, heads %d (kv %d), hidden %d, vocab %d, context %d%s\n",
           k->dim, k->n_layers, k->n_heads, k->n_kv_heads, k->hidden_dim, k->vocab_size, k->seq_len,
           k->tied ? ", tied embeddings" : "");
    printf("rope      theta %g, rmsnorm eps %g\n", (double)k->rope_theta, (double)k->norm_eps);
    if (k->arch == AG_ARCH_GEMMA3)
      printf("arch      gemma3, head size %d, sliding window %d (every %d-th layer global, local theta %g)\n",
             ag_head_dim(k), k->swa_window, k->swa_pattern, (double)k->rope_theta_swa);
    printf("tokenizer %s\n", m->tok ? "byte-level BPE (in the file)" : "none");
    if (ts.present) printf("training  state at step %lld of %d\n", (long long)ts.step, ts.tc.steps);
  }
  ag_model_close(m);
  return 0;
}

/* ---------- shares ---------- */

static int cmd_shares(ag_cli *c, int argc, char **argv) {
  ag_opt opts[] = {{"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || npos != 1)
    return ag_cli_usage(c, "usage: agora model shares MODEL_ID|FILE [--json]\n\n"
                           "The on-chain contribution record of a checkpoint of a training subnet\n"
                           "(docs/subnet-training.md#shares): per aggregated round of its lineage, the\n"
                           "trainers and their scores and shares, and each hotkey's total. MODEL is a\n"
                           "64-hex model id or a model file (its id is computed).\n");
  char idh[65];
  if (strlen(pos[0]) == 64 && strspn(pos[0], "0123456789abcdef") == 64) {
    snprintf(idh, sizeof idh, "%s", pos[0]);
  } else {
    ag_model *m;
    if ((rc = open_model(c, pos[0], &m, NULL))) return rc;
    hex_id(m->id, idh);
    ag_model_close(m);
  }
  char path[128];
  snprintf(path, sizeof path, "/v1/model-shares/%s", idh);
  json_t *o;
  if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &o))) return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  if (c->json) {
    ag_cli_print_json(o);
    return 0;
  }
  uint64_t total = ag_cli_json_u64(o, "total_shares");
  json_t *rounds = json_object_get(o, "rounds"), *owners = json_object_get(o, "owners");
  printf("model %s\nsubnet %lld, canonical from round %lld (lineage from round %lld), %zu aggregated round(s), %llu shares\n\n",
         idh, json_integer_value(json_object_get(o, "netuid")), json_integer_value(json_object_get(o, "round")),
         json_integer_value(json_object_get(o, "lineage_start")), json_array_size(rounds), (unsigned long long)total);
  printf("%-66s %14s %9s\n", "HOTKEY", "SHARES", "FRACTION");
  for (size_t i = 0; i < json_array_size(owners); i++) {
    json_t *w = json_array_get(owners, i);
    printf("%-66s %14llu %8.4f%%\n", json_string_value(json_object_get(w, "hotkey")),
           (unsigned long long)ag_cli_json_u64(w, "shares"),
           (double)json_integer_value(json_object_get(w, "fraction_ppm")) / 1e4);
  }
  printf("\n%-6s %-18s %-8s %s\n", "ROUND", "MODEL", "BLOCK", "UID:SCORE:SHARES");
  for (size_t i = 0; i < json_array_size(rounds); i++) {
    json_t *r = json_array_get(rounds, i), *e = json_object_get(r, "entries");
    printf("%-6lld %.16s… %-8lld", json_integer_value(json_object_get(r, "round")),
           json_string_value(json_object_get(r, "model_id")), json_integer_value(json_object_get(r, "block")));
    for (size_t k = 0; k < json_array_size(e); k++) {
      json_t *x = json_array_get(e, k);
      printf(" %lld:%llu:%llu", json_integer_value(json_object_get(x, "uid")),
             (unsigned long long)ag_cli_json_u64(x, "score"), (unsigned long long)ag_cli_json_u64(x, "shares"));
    }
    printf("\n");
  }
  json_decref(o);
  return 0;
}

/* ---------- export / import ---------- */

static int cmd_export(ag_cli *c, int argc, char **argv) {
  const char *model = NULL, *gguf = NULL, *type = NULL;
  ag_opt opts[] = {{"model", 'm', 1, &model, NULL}, {"gguf", 0, 1, &gguf, NULL},
                   {"type", 0, 1, &type, NULL},     {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || !gguf)
    return ag_cli_usage(c, "usage: agora model export [-m MODEL | MODEL] --gguf OUT.gguf [--type f32|f16|q8_0]\n\n"
                           "Writes a GGUF llama model with the BPE vocabulary. --type defaults to q8_0 for\n"
                           "8-bit models and f32 otherwise; f32 and q8_0 import back to the same model id.\n");
  char path[1200];
  default_model_path(c, model ? model : (npos ? pos[0] : NULL), path, sizeof path);
  ag_model *m = NULL;
  if ((rc = open_model(c, path, &m, NULL))) return rc;
  int t = type ? ag_gguf_type_parse(type) : (m->wtype == AG_DT_Q8 ? AG_GGUF_Q8_0 : AG_GGUF_F32);
  if (t < 0) {
    ag_model_close(m);
    return ag_cli_fail(c, AG_E_USAGE, "--type must be f32, f16 or q8_0");
  }
  rc = ag_gguf_save(m, t, gguf);
  if (rc) {
    ag_model_close(m);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  char idh[65];
  hex_id(m->id, idh);
  if (c->json) ag_cli_print_json(json_pack("{s:s,s:s,s:s}", "gguf", gguf, "type", type ? type : (t == AG_GGUF_Q8_0 ? "q8_0" : "f32"), "model_id", idh));
  else printf("wrote %s (%s) from model %s\n", gguf, t == AG_GGUF_Q8_0 ? "q8_0" : t == AG_GGUF_F16 ? "f16" : "f32", idh);
  ag_model_close(m);
  return 0;
}

static int cmd_import(ag_cli *c, int argc, char **argv) {
  const char *outp = NULL;
  ag_opt opts[] = {{"out", 'o', 1, &outp, NULL}, {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || npos != 1 || !outp)
    return ag_cli_usage(c, "usage: agora model import IN.gguf -o OUT.bin\n\n"
                           "Reads a GGUF llama model (F32, F16 or Q8_0 tensors; gpt2-style BPE vocabulary)\n"
                           "and writes an Agora model file. Q8_0 stays 8-bit; F16 becomes fp32.\n");
  ag_model *m = NULL;
  rc = ag_gguf_load(pos[0], &m);
  if (rc) return ag_cli_fail(c, rc, "%s: %s", pos[0], ag_errmsg(rc));
  rc = ag_model_save(m, outp, NULL);
  if (rc) {
    ag_model_close(m);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  char idh[65];
  hex_id(m->id, idh);
  if (c->json) ag_cli_print_json(json_pack("{s:s,s:s}", "model", outp, "model_id", idh));
  else printf("wrote %s, model id %s\n", outp, idh);
  ag_model_close(m);
  return 0;
}

int ag_cmd_model(ag_cli *c, int argc, char **argv) {
  if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
    c->help = argc >= 1;
    return ag_cli_usage(c, usage_model);
  }
  static const struct {
    const char *name;
    int (*fn)(ag_cli *, int, char **);
  } subs[] = {{"train", cmd_train},   {"generate", cmd_generate}, {"chat", cmd_chat}, {"verify", cmd_verify}, {"check-answer", cmd_check_answer},
              {"eval", cmd_eval},     {"info", cmd_info},         {"export", cmd_export},
              {"import", cmd_import}, {"shares", cmd_shares}, {"claim", ag_cmd_model_claim}};
  for (size_t i = 0; i < AG_ARRAY_LEN(subs); i++)
    if (!strcmp(argv[0], subs[i].name)) {
      c->cmd = subs[i].name;
      static char full[64];
      snprintf(full, sizeof full, "model %s", subs[i].name);
      c->cmd = full;
      return subs[i].fn(c, argc - 1, argv + 1);
    }
  fprintf(stderr, "agora model: unknown command '%s' (see 'agora model --help')\n", argv[0]);
  return AG_EXIT_USAGE;
}
