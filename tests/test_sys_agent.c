/*
 * test_sys_agent.c — an agent buys completions under an agent key (`agora agent run`) from a
 * devnet whose miner charges (`agora devnet --market`): the owner authorises the key with a
 * period cap of 2.5 thousandths of an AGR and channels of 1 thousandth; the agent answers
 * prompts, paying through the account's channels, until the chain refuses a channel top-up
 * past the cap; started again (a restart), it is refused at once and buys nothing. Every
 * answer is verified by re-execution; what the key spent, as the chain counts it, never passes
 * the cap, and a refused attempt costs nothing (it is refused before its fee). Then the owner,
 * in plain language (`agora ask`), opens a channel to the miner and closes it.
 */
#include "test.h"
#include "sysutil.h"

#include "chain/json.h"
#include "core/util.h"
#include "crypto/keys.h"

#include <signal.h>
#include <sys/stat.h>
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

#define ASK_MODEL AGORA_SRC_DIR "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"

/* agora ask's dry run of sentence from owner: its JSON (NULL when it did not run). */
static json_t *ask_dry(const char *home, const char *sentence) {
  const char *a[] = {"--home", home, "--json", "ask", "--dry-run", "--from", "owner", "--threads", "2", "--model", ASK_MODEL,
                     sentence, NULL};
  return run_json(a);
}

/* agora ask's signing of sentence with --confirm hash: the exit status. */
static int ask_confirm(const char *home, const char *sentence, const char *hash) {
  const char *a[] = {"--home", home, "--json", "ask", "--from", "owner", "--threads", "2", "--model", ASK_MODEL,
                     "--confirm", hash, sentence, NULL};
  return sys_run(NULL, a);
}

/* A token holder's plain-language commands on a live chain, end to end: a channel opened by
 * `agora ask` and closed by it (the channel found in the account's history), each previewed,
 * confirmed by the preview's hash and signed. The owner earns every block, so its balance moves
 * between the dry run and the signing: the hash covers the txs, not the balances (over the
 * balances it never matched on a live chain). A hash that is not the preview's signs nothing. */
static void ask_opens_and_closes_a_channel(const char *home, json_t *m) {
  struct stat st;
  CHECK(stat(ASK_MODEL, &st) == 0);
  const char *provider = json_string_value(json_object_get(json_array_get(json_object_get(m, "neurons"), 0), "hotkey"));
  CHECK(provider != NULL);
  if (!provider) return;
  const char *add[] = {"--home", home, "contacts", "add", "provider1", provider, NULL};
  CHECK_EQ(sys_run(NULL, add), 0);
  const char *open_s = "open a channel with provider1 and put 2 AGR in it", *close_s = "close my channel with provider1";
  json_t *d = ask_dry(home, open_s);
  const char *kind = json_string_value(json_object_get(json_array_get(json_object_get(d, "actions"), 0), "kind"));
  const char *hash = json_string_value(json_object_get(d, "preview_hash"));
  CHECK(kind && !strcmp(kind, "channel_open") && hash);
  CHECK(ask_confirm(home, open_s, "0000000000000000") != 0); /* not the preview's: nothing signed */
  ag_sleep_ms(1500); /* blocks pass: the owner's balance moves */
  CHECK_EQ(ask_confirm(home, open_s, hash ? hash : ""), 0);
  json_decref(d);
  /* once committed, ask finds the channel it opened, and closes it */
  json_t *c = NULL;
  for (int i = 0; i < 40; i++) {
    json_decref(c);
    ag_sleep_ms(250);
    c = ask_dry(home, close_s);
    if (json_object_get(c, "preview_hash")) break;
  }
  kind = json_string_value(json_object_get(json_array_get(json_object_get(c, "actions"), 0), "kind"));
  hash = json_string_value(json_object_get(c, "preview_hash"));
  CHECK(kind && !strcmp(kind, "channel_close") && hash);
  CHECK_EQ(ask_confirm(home, close_s, hash ? hash : ""), 0);
  json_decref(c);
  c = NULL;
  /* closing: no open channel of the owner's is left to close */
  const char *err = NULL;
  for (int i = 0; i < 40 && !err; i++) {
    json_decref(c);
    ag_sleep_ms(250);
    c = ask_dry(home, close_s);
    err = json_string_value(json_object_get(c, "preview_error"));
  }
  CHECK(err && strstr(err, "no open channel") != NULL);
  json_decref(c);
}

/* What ask signed beyond txs until 2026-12-07, when it named the command instead: a purchase
 * (the buyer `agora infer` uses, paid from the --from key within the sentence's budget, the
 * answer verified) and a registration (the hotkey, a key of the wallet, signs its claim). */
static void ask_buys_an_answer_and_registers_a_hotkey(const char *home) {
  const char *buy_s = "ask the network what is the capital of France for at most 0.1 AGR";
  json_t *d = ask_dry(home, buy_s);
  json_t *a0 = json_array_get(json_object_get(d, "actions"), 0);
  const char *kind = json_string_value(json_object_get(a0, "kind")), *hash = json_string_value(json_object_get(d, "preview_hash"));
  const char *pv = json_string_value(json_object_get(d, "preview"));
  CHECK(kind && !strcmp(kind, "buy") && hash && pv && strstr(pv, "buy a verified answer to \"what is the capital of France\""));
  const char *bc[] = {"--home", home, "--json", "ask", "--from", "owner", "--threads", "2", "--model", ASK_MODEL,
                      "--confirm", hash ? hash : "", buy_s, NULL};
  json_t *r = run_json(bc);
  const char *answer = json_string_value(json_object_get(r, "answer"));
  uint64_t cost = 0;
  CHECK(answer && json_is_true(json_object_get(r, "verified")));
  CHECK(ag_amount_parse(json_string_value(json_object_get(r, "cost")) ?: "x", &cost) == 0);
  CHECK(cost > 0 && cost <= AG_UNIT / 10);
  json_decref(r);
  json_decref(d);

  const char *nw[] = {"--home", home, "wallet", "new", "hk2", NULL};
  CHECK_EQ(sys_run(NULL, nw), 0);
  const char *reg_s = "register hk2 on subnet 1";
  d = ask_dry(home, reg_s);
  kind = json_string_value(json_object_get(json_array_get(json_object_get(d, "actions"), 0), "kind"));
  hash = json_string_value(json_object_get(d, "preview_hash"));
  pv = json_string_value(json_object_get(d, "preview"));
  CHECK(kind && !strcmp(kind, "register") && hash && pv && strstr(pv, "register hotkey hk2 (") && !strstr(pv, "WOULD FAIL"));
  CHECK_EQ(ask_confirm(home, reg_s, hash ? hash : ""), 0);
  json_decref(d);
  const char *show[] = {"--home", home, "--json", "wallet", "show", "hk2", NULL};
  json_t *w = run_json(show);
  const char *addr = json_string_value(json_object_get(w, "address"));
  CHECK(addr != NULL);
  int found = 0;
  for (int i = 0; i < 40 && addr && !found; i++) {
    ag_sleep_ms(250);
    const char *mg[] = {"--home", home, "--json", "subnet", "metagraph", "1", NULL};
    json_t *m = run_json(mg);
    json_t *uids = json_object_get(m, "uids");
    for (size_t k = 0; k < json_array_size(uids); k++)
      found |= !strcmp(json_string_value(json_object_get(json_array_get(uids, k), "hotkey")) ?: "", addr);
    json_decref(m);
  }
  CHECK(found);
  json_decref(w);
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
  ask_opens_and_closes_a_channel(home, m);
  ask_buys_an_answer_and_registers_a_hotkey(home);
  json_decref(m);
  CHECK_EQ(sys_stop(pid, SIGTERM, 60000), 0);
}

TEST_MAIN(an_agent_buys_until_its_period_cap_and_the_cap_holds_across_a_restart)
