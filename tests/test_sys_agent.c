/*
 * test_sys_agent.c — an agent buys completions under an agent key (`agora agent run`) from a
 * devnet whose miner charges (`agora devnet --market`): the owner authorises the key with a
 * period cap of 2.5 thousandths of an AGR and channels of 1 thousandth; the agent answers
 * prompts, paying through the account's channels, until the chain refuses a channel top-up
 * past the cap; started again (a restart), it is refused at once and buys nothing. Every
 * answer is verified by re-execution; what the key spent, as the chain counts it, never passes
 * the cap, and a refused attempt costs nothing (it is refused before its fee).
 */
#include "test.h"
#include "sysutil.h"

#include "chain/json.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *run_json(const char *const *args) {
  ag_buf out;
  ag_buf_init(&out);
  int st = sys_run(&out, args);
  json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
  if (st || !j) fprintf(stderr, "  %s exited %d: %.*s\n", args[2], st, (int)out.len, (const char *)out.data);
  ag_buf_free(&out);
  return j;
}

TEST(an_agent_buys_until_its_period_cap_and_the_cap_holds_across_a_restart) {
  char home[512], out_path[600], task[600];
  snprintf(home, sizeof home, "%s/sys_agent", AGORA_BUILD_DIR);
  snprintf(out_path, sizeof out_path, "%s.out.json", home);
  snprintf(task, sizeof task, "%s.task.json", home);
  const char *args[] = {"--market", "--miners", "1", "--validators", "1", "--cheaters", "0", "--slow", "0",
                        "--block-time", "300", NULL};
  pid_t pid;
  json_t *m = sys_devnet_start(home, out_path, args, &pid);
  CHECK(json_is_true(json_object_get(m, "ready")));
  if (!m) return;
  setenv("AGORA_PASSPHRASE", "agent test passphrase", 1);
  const char *nw[] = {"--home", home, "wallet", "new", "bot", NULL};
  CHECK_EQ(sys_run(NULL, nw), 0);
  const char *add[] = {"--home", home, "--json", "agent", "key", "add", "bot", "--from", "owner", "--kinds", "buy",
                       "--any-provider", "--period-cap", "0.0025", "--period", "100000", "--lifetime-cap", "1", NULL};
  json_t *a = run_json(add);
  CHECK(a && !strcmp(json_string_value(json_object_get(json_object_get(a, "result"), "code")) ?: "", "ok"));
  json_decref(a);
  FILE *f = fopen(task, "w");
  fprintf(f, "{\"account\": \"owner\", \"subnet\": 1, \"max_tokens\": 8, \"deposit\": \"0.001\", \"prompts\": [");
  for (int i = 0; i < 60; i++) fprintf(f, "%s\"Prompt number %d:\"", i ? ", " : "", i);
  fprintf(f, "]}\n");
  fclose(f);
  /* the run: answers until the cap */
  const char *run[] = {"--home", home, "agent", "run", task, "--from", "bot", NULL};
  json_t *r1 = run_json(run);
  CHECK(r1 != NULL);
  int answered = (int)json_integer_value(json_object_get(r1, "answered"));
  CHECK(answered >= 2 && answered < 60);
  CHECK(!strcmp(json_string_value(json_object_get(r1, "stopped")) ?: "", "agent_over_period_cap"));
  json_t *k = json_object_get(r1, "key");
  uint64_t spent = ag_json_u64_of(k, "period_spent"), cap = ag_json_u64_of(k, "period_cap");
  CHECK(spent > 0 && spent <= cap);
  CHECK_U64(ag_json_u64_of(k, "lifetime_spent"), spent);
  /* a restart: refused at once, nothing more spent */
  json_t *r2 = run_json(run);
  CHECK(r2 != NULL);
  CHECK_EQ(json_integer_value(json_object_get(r2, "answered")), 0);
  CHECK(!strcmp(json_string_value(json_object_get(r2, "stopped")) ?: "", "agent_over_period_cap"));
  CHECK_U64(ag_json_u64_of(json_object_get(r2, "key"), "lifetime_spent"), spent);
  json_decref(r1);
  json_decref(r2);
  json_decref(m);
  CHECK_EQ(sys_stop(pid, SIGTERM, 60000), 0);
}

TEST_MAIN(an_agent_buys_until_its_period_cap_and_the_cap_holds_across_a_restart)
