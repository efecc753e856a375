/*
 * test_sys_models.c — a devnet whose inference subnet pins a real published model
 * (SmolLM2-135M-Instruct, the Q4_1 GGUF file as shipped), started the way `make demo` starts
 * it: miners fetch the file by its hash from the node, validators re-execute answers bit for
 * bit, the honest miners earn and the cheater nothing, and a
 * newcomer's `agora infer --chat` gets a real answer with a verified receipt.
 */
#include "test.h"
#include "sysutil.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"

#include <signal.h>
#include <sys/stat.h>

#define SMOLLM2 AGORA_SRC_DIR "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"

static char home[512], node_url[128], out_path[600];
static pid_t devnet_pid;
static json_t *manifest;

static json_t *metagraph(void) { return sys_get_json(node_url, "/v1/subnets/1/metagraph", NULL); }

/* A neuron's metagraph value by its devnet name (the manifest maps names to hotkeys). */
static long field(json_t *mg, const char *name, const char *key) {
  const char *hk = NULL;
  json_t *ns = json_object_get(manifest, "neurons");
  for (size_t i = 0; i < json_array_size(ns); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ns, i), "name")), name))
      hk = json_string_value(json_object_get(json_array_get(ns, i), "hotkey"));
  json_t *rows = json_object_get(mg, "uids");
  for (size_t i = 0; hk && i < json_array_size(rows); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(rows, i), "hotkey")), hk))
      return (long)json_integer_value(json_object_get(json_array_get(rows, i), key));
  return -1;
}

static uint64_t height(void) {
  json_t *s = sys_get_json(node_url, "/v1/status", NULL);
  uint64_t h = (uint64_t)json_integer_value(json_object_get(s, "height"));
  json_decref(s);
  return h;
}

TEST(real_model_subnet_pays_honest_miners_and_answers) {
  struct stat st;
  CHECK(stat(SMOLLM2, &st) == 0);
  if (stat(SMOLLM2, &st) != 0) return;
  snprintf(home, sizeof home, "%s/sys_models", AGORA_BUILD_DIR);
  snprintf(out_path, sizeof out_path, "%s.out.json", home);
  /* epochs of 40 blocks: under the sanitizers a validator's round of re-executions of a 135M
   * model can outlast the default 10-block epoch, and its reveal would then miss the window */
  const char *args[] = {"--model", SMOLLM2, "--miners", "3", "--validators", "1", "--cheaters", "1", "--slow", "0",
                        "--tempo", "40", NULL};
  double t0 = ag_mono_s();
  manifest = sys_devnet_start(home, out_path, args, &devnet_pid);
  CHECK(json_is_true(json_object_get(manifest, "ready")));
  if (!manifest) return;
  snprintf(node_url, sizeof node_url, "%s", json_string_value(json_object_get(manifest, "node")));
  /* the pinned model is the file's hash: agora-<first 12 hex digits of BLAKE2b(file)> */
  ag_model *m = NULL;
  CHECK_OK(ag_model_load(SMOLLM2, &m, NULL));
  char want[32];
  if (m) {
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", m->id[i]);
    snprintf(want, sizeof want, "agora-%.12s", hex);
    CHECK_STR(json_string_value(json_object_get(manifest, "model")), want);
  }
  ag_model_close(m);
  /* rewards (the release demo shows them at height ~30; this build has the sanitizers on) */
  long h0 = 0, h1 = 0, cheat = -1;
  for (int i = 0; i < 2400 && (h0 <= 0 || h1 <= 0); i++) {
    json_t *mg = metagraph();
    h0 = field(mg, "miner0", "incentive");
    h1 = field(mg, "miner1", "incentive");
    cheat = field(mg, "miner2", "incentive");
    json_decref(mg);
    if (h0 <= 0 || h1 <= 0) ag_sleep_ms(250);
  }
  uint64_t h = height();
  fprintf(stderr, "  first rewards at height %llu, %.0f s after start: honest %ld %ld, cheater %ld\n",
          (unsigned long long)h, ag_mono_s() - t0, h0, h1, cheat);
  CHECK(h0 > 0 && h1 > 0);
  CHECK_EQ(cheat, 0);
  /* a newcomer asks a question and gets the model's answer, verified */
  ag_buf out;
  ag_buf_init(&out);
  const char *q[] = {"--home", home, "--node", node_url, "--json", "infer", "--chat", "-n", "24", "--temperature", "0",
                     "What is the capital of France?", NULL};
  CHECK_EQ(sys_run(&out, q), 0);
  json_t *j = json_loads(out.data ? (const char *)out.data : "", 0, NULL);
  const char *text = json_string_value(json_object_get(j, "text"));
  fprintf(stderr, "  answer: %s\n", text ? text : (const char *)out.data);
  CHECK(text && strstr(text, "Paris"));
  CHECK(json_is_true(json_object_get(j, "verified")));
  json_decref(j);
  ag_buf_free(&out);
  CHECK_EQ(sys_stop(devnet_pid, SIGTERM, 60000), 0);
  json_decref(manifest);
}

TEST_MAIN(real_model_subnet_pays_honest_miners_and_answers)
