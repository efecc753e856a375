/*
 * test_engine_ref.c — the engine against an external reference: logits, loss and every
 * gradient of tiny random models match PyTorch (fixtures from tools/engine_torch_ref.py,
 * computed in float64) within 1e-5 relative, and gradients match central finite differences.
 */
#include "test.h"

#include "core/util.h"
#include "engine/model.h"
#include "engine/train.h"

#include <math.h>

typedef struct {
  ag_model *m;
  int B, T, N;
  uint32_t *in, *tgt;
  float *logits; /* (N, V) */
  double loss;
  float *grads; /* blob layout */
} fixture;

static int load_fixture(const char *name, fixture *f) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fixtures/engine/%s", AGORA_SRC_DIR, name);
  uint8_t *data;
  size_t len;
  if (ag_read_file(path, 1 << 24, &data, &len)) return -1;
  const uint8_t *p = data;
  if (len < 8 || memcmp(p, "AGFX0001", 8)) return -1;
  p += 8;
  int32_t iv[8];
  memcpy(iv, p, 32);
  p += 32;
  ag_model_config cfg = {iv[0], iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], 0, 0, iv[7]};
  memcpy(&cfg.rope_theta, p, 4);
  memcpy(&cfg.norm_eps, p + 4, 4);
  p += 8;
  memcpy(&f->B, p, 4);
  memcpy(&f->T, p + 4, 4);
  p += 8;
  f->N = f->B * f->T;
  f->in = ag_xmalloc(sizeof(uint32_t) * f->N);
  f->tgt = ag_xmalloc(sizeof(uint32_t) * f->N);
  memcpy(f->in, p, 4 * f->N);
  p += 4 * f->N;
  memcpy(f->tgt, p, 4 * f->N);
  p += 4 * f->N;
  ag_tensor_info info[AG_T_COUNT];
  size_t blen = ag_model_layout(&cfg, AG_DT_F32, info);
  uint8_t *blob = NULL;
  if (posix_memalign((void **)&blob, 64, blen)) return -1;
  memset(blob, 0, blen);
  for (int k = 0; k < AG_T_COUNT; k++) {
    memcpy(blob + info[k].offset, p, info[k].bytes);
    p += info[k].bytes;
  }
  if (ag_model_wrap(&cfg, AG_DT_F32, blob, blen, 1, &f->m)) return -1;
  size_t V = (size_t)cfg.vocab_size;
  f->logits = ag_xmalloc(sizeof(float) * f->N * V);
  memcpy(f->logits, p, sizeof(float) * f->N * V);
  p += sizeof(float) * f->N * V;
  memcpy(&f->loss, p, 8);
  p += 8;
  f->grads = ag_xcalloc(blen / 4, sizeof(float));
  for (int k = 0; k < AG_T_COUNT; k++) {
    memcpy((uint8_t *)f->grads + info[k].offset, p, info[k].bytes);
    p += info[k].bytes;
  }
  CHECK((size_t)(p - data) == len);
  free(data);
  return 0;
}

static void free_fixture(fixture *f) {
  ag_model_close(f->m);
  free(f->in), free(f->tgt), free(f->logits), free(f->grads);
}

/* max |a - b| / max |b| over a tensor */
static double rel_err(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = fmax(num, fabs((double)a[i] - b[i]));
    den = fmax(den, fabs((double)b[i]));
  }
  return den > 0 ? num / den : num;
}

static void check_case(const char *name) {
  fixture f;
  if (load_fixture(name, &f)) {
    fprintf(stderr, "  cannot load fixture %s\n", name);
    CHECK(0);
    return;
  }
  ag_train_config tc;
  ag_train_defaults(&tc);
  tc.batch = f.B;
  tc.seq = f.T;
  ag_trainer *t;
  CHECK_OK(ag_trainer_open(f.m, &tc, 2, &t));
  double loss;
  CHECK_OK(ag_trainer_loss(t, f.in, f.tgt, &loss));
  size_t V = (size_t)f.m->cfg.vocab_size;
  double le = rel_err(ag_trainer_logits(t), f.logits, f.N * V);
  printf("  %s: logits rel err %.2e, loss %.9f vs %.9f\n", name, le, loss, f.loss);
  CHECK(le < 1e-5);
  CHECK(fabs(loss - f.loss) / f.loss < 1e-5);
  ag_trainer_zero_grad(t);
  CHECK_OK(ag_trainer_fwd_bwd(t, f.in, f.tgt, 1.0f / (float)f.N, &loss));
  size_t ng;
  float *g = ag_trainer_grads(t, &ng);
  for (int k = 0; k < AG_T_COUNT; k++) {
    const ag_tensor_info *in = &f.m->info[k];
    if (!in->present) continue;
    size_t off = in->offset / 4, n = in->bytes / 4;
    double e = rel_err(g + off, f.grads + off, n);
    if (e >= 1e-5) printf("  %s: grad %s rel err %.2e\n", name, in->name, e);
    CHECK(e < 1e-5);
  }
  /* finite differences on a spread of parameters (one per tensor, several for matrices) */
  size_t np;
  float *params = ag_model_params(f.m, &np);
  int checked = 0, bad = 0;
  for (int k = 0; k < AG_T_COUNT; k++) {
    const ag_tensor_info *in = &f.m->info[k];
    if (!in->present) continue;
    size_t off = in->offset / 4, n = in->bytes / 4;
    for (int s = 0; s < 3; s++) {
      size_t i = off + (n * (size_t)(2 * s + 1)) / 7;
      float keep = params[i], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
      double lp, lm;
      params[i] = keep + h;
      CHECK_OK(ag_trainer_loss(t, f.in, f.tgt, &lp));
      params[i] = keep - h;
      CHECK_OK(ag_trainer_loss(t, f.in, f.tgt, &lm));
      params[i] = keep;
      double fd = (lp - lm) / (2.0 * ((double)(keep + h) - (double)keep));
      double an = g[i];
      checked++;
      if (fabs(fd - an) > 2e-2 * fabs(an) + 2e-4) {
        bad++;
        printf("  %s: fd check %s[%zu]: fd %.6g analytic %.6g\n", name, in->name, i - off, fd, an);
      }
    }
  }
  printf("  %s: %d finite-difference checks, %d off\n", name, checked, bad);
  CHECK(bad == 0);
  ag_trainer_close(t);
  free_fixture(&f);
}

TEST(torch_reference_tied) { check_case("ref_tied.bin"); }
TEST(torch_reference_untied) { check_case("ref_untied.bin"); }

TEST_MAIN(torch_reference_tied, torch_reference_untied)
