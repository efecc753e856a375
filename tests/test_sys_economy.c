/*
 * test_sys_economy.c — a devnet where clients pay miners (`agora devnet --clients 2`): every
 * miner posts an offer, the model is an asset with a 10 % royalty, two clients buy completions
 * through channels as `agora infer --pay-from --dispute` processes, verifying every answer.
 * One miner cheats: the first client asks it until its wrong, paid answer is disputed; the
 * validators judge it by re-execution and commit-reveal. The largest of the four validators
 * (4,000 of 10,000 AGR staked) is stopped (SIGSTOP) through the dispute's first round, so the
 * others' votes fall short of two thirds and a second committee, drawn without it, decides. At
 * the end (the miners stopped and
 * redeemed what they billed): requests were paid, each miner's claims on chain equal what its
 * receipts billed, the model's vault received the royalty of those claims, its owner can claim
 * all of it but the carried fraction, the cheater was found at fault and slashed and the client
 * refunded what the wrong answer cost, and issuance still follows the schedule. The node is
 * killed (SIGKILL) mid-stream and started again by the devnet: no payment is lost or counted
 * twice (each miner's claims equal its receipts exactly). The client's evidence left the
 * receipt out (its requests are seeded), and `agora dispute open` of that evidence file,
 * against the node alone afterwards, is refused as disputed already.
 */
#include "test.h"
#include "sysutil.h"

#include "chain/json.h"
#include "core/codec.h"
#include "core/util.h"
#include "economy/economy.h"

#include <dirent.h>

#include <string.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(clients_pay_miners_and_the_model_earns_its_royalty) {
  char home[512], out_path[600];
  snprintf(home, sizeof home, "%s/sys_economy", AGORA_BUILD_DIR);
  snprintf(out_path, sizeof out_path, "%s.out.json", home);
  /* 105 blocks: the dispute opens near block 20; its first round ends 31 blocks later, the
   * second is drawn a block after that and ends 31 blocks later (near 85) */
  const char *args[] = {"--miners", "3", "--validators", "4", "--cheaters", "1", "--slow", "0", "--clients",
                        "2", "--dispute-blocks", "15", "--blocks", "105", NULL};
  pid_t pid;
  json_t *m = sys_devnet_start(home, out_path, args, &pid);
  CHECK(json_is_true(json_object_get(m, "ready")));
  /* validator0 stays silent from the start: it commits and reveals nothing in the first round */
  char silent[AG_ADDR_MAX] = "";
  json_t *ns = json_object_get(m, "neurons");
  for (size_t i = 0; i < json_array_size(ns); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ns, i), "name")) ?: "", "validator0"))
      snprintf(silent, sizeof silent, "%s", json_string_value(json_object_get(json_array_get(ns, i), "hotkey")) ?: "");
  CHECK(silent[0] != 0);
  pid_t v0 = sys_devnet_pid(home, "validator0");
  CHECK(v0 > 0);
  if (v0 > 0) CHECK_EQ(kill(v0, SIGSTOP), 0);
  /* mid-stream, once payments flow: the node is killed (the devnet starts it again); nothing
   * paid may be lost or counted twice */
  const char *node = json_string_value(json_object_get(m, "node"));
  pid_t node_pid = (pid_t)json_integer_value(json_object_get(m, "node_pid"));
  for (int i = 0; i < 600; i++) {
    json_t *stj = sys_get_json(node, "/v1/status", NULL);
    uint64_t h = ag_json_u64_of(stj, "height");
    json_decref(stj);
    if (h >= 40) break;
    usleep(100000);
  }
  CHECK(node_pid > 0);
  if (node_pid > 0) CHECK_EQ(kill(node_pid, SIGKILL), 0);
  /* validator0 wakes once the second round is drawn without it */
  int second = 0;
  for (int i = 0; i < 1200 && !second; i++) {
    json_t *dj = sys_get_json(node, "/v1/disputes", NULL);
    json_t *arr = json_object_get(dj, "disputes");
    for (size_t k = 0; k < json_array_size(arr); k++) second |= json_integer_value(json_object_get(json_array_get(arr, k), "round")) >= 1;
    json_decref(dj);
    if (!second) usleep(100000);
  }
  CHECK(second);
  if (v0 > 0) CHECK_EQ(kill(v0, SIGCONT), 0);
  json_decref(m);
  int st = 0;
  CHECK_EQ(waitpid(pid, &st, 0), pid); /* --blocks: it stops by itself */
  sys_untrack(pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  json_t *o = json_load_file(out_path, 0, NULL), *e = json_object_get(o, "economy");
  CHECK(e != NULL);
  CHECK(json_integer_value(json_object_get(o, "node_restarts")) >= 1);
  CHECK(json_integer_value(json_object_get(e, "paid_requests")) >= 4);
  uint64_t claimed = 0;
  json_t *pv = json_object_get(e, "providers");
  CHECK_EQ(json_array_size(pv), 3);
  for (size_t i = 0; i < json_array_size(pv); i++) {
    json_t *x = json_array_get(pv, i);
    int cheater = !strcmp(json_string_value(json_object_get(x, "name")), "miner2");
    CHECK(ag_json_u64_of(x, "billed") > 0);
    /* the cheater lost its whole 10 AGR bond (the chain's slash_amount); the others none */
    CHECK_U64(ag_json_u64_of(x, "bonded"), (cheater ? 0 : 10 * AG_UNIT));
    CHECK_EQ(json_integer_value(json_object_get(x, "faults")), (cheater ? 1 : 0));
    CHECK_U64(ag_json_u64_of(x, "claimed"), ag_json_u64_of(x, "billed"));
    claimed += ag_json_u64_of(x, "claimed");
  }
  /* the royalty is floored per claim: at most a tenth of what was claimed, less by under a
   * unit per claim */
  json_t *vault = json_object_get(json_object_get(e, "model"), "vault");
  uint64_t income = ag_json_u64_of(vault, "income");
  CHECK(income <= claimed / 10 && income + 200 >= claimed / 10);
  CHECK_U64(ag_json_u64_of(vault, "balance"), income);
  json_t *h0 = json_array_get(json_object_get(json_object_get(e, "model"), "holders"), 0);
  uint64_t can = ag_json_u64_of(h0, "claimable");
  CHECK(can <= income && can + 1 >= income);
  /* the dispute: a fault, the client refunded the answer's cost, the slash shared out */
  json_t *ds = json_object_get(e, "disputes"), *fault = NULL;
  for (size_t i = 0; i < json_array_size(ds); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(ds, i), "status")) ?: "", "fault"))
      fault = json_array_get(ds, i);
  CHECK(fault != NULL);
  if (fault) {
    CHECK_STR(json_string_value(json_object_get(fault, "provider_name")), "miner2");
    CHECK(ag_json_u64_of(fault, "cost") > 0);
    CHECK_U64(ag_json_u64_of(fault, "refund"), ag_json_u64_of(fault, "cost"));
    CHECK_U64(ag_json_u64_of(fault, "slashed"), 10 * AG_UNIT);
    CHECK_U64(ag_json_u64_of(fault, "slashed"), ag_json_u64_of(fault, "refund") + ag_json_u64_of(fault, "reward") +
                                                    ag_json_u64_of(fault, "committee_paid") + ag_json_u64_of(fault, "burned"));
    CHECK(ag_json_u64_of(fault, "committee_paid") > 0);
    /* decided in the second round, by a committee without the silent validator, which the
     * record names as excluded with its stake */
    CHECK_EQ(json_integer_value(json_object_get(fault, "round")), 1);
    CHECK(ag_json_u64_of(fault, "round_start") > ag_json_u64_of(fault, "opened"));
    json_t *ex = json_object_get(fault, "excluded"), *cm = json_object_get(fault, "committee");
    CHECK_EQ(json_array_size(ex), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ex, 0), "hotkey")) ?: "", silent);
    CHECK(ag_json_u64_of(json_array_get(ex, 0), "stake") > 0);
    CHECK_EQ(json_array_size(cm), 3);
    for (size_t k = 0; k < json_array_size(cm); k++)
      CHECK(strcmp(json_string_value(json_object_get(json_array_get(cm, k), "hotkey")) ?: "", silent) != 0);
  }
  CHECK(json_is_true(json_object_get(json_object_get(o, "issuance"), "matches_schedule")));
  json_decref(o);
  /* the clients' requests are seeded, so their evidence left the receipt out (its hash in its
   * place) and the committee judged it by generating the answer */
  char dir[600], path[1200];
  snprintf(dir, sizeof dir, "%s/disputes", home);
  DIR *dd = opendir(dir);
  int lean = 0;
  for (struct dirent *de; dd && (de = readdir(dd));) {
    if (!strstr(de->d_name, ".json")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    json_t *f = json_load_file(path, 0, NULL);
    const char *hex = json_string_value(json_object_get(f, "evidence"));
    size_t n = hex ? strlen(hex) / 2 : 0;
    uint8_t *ev = malloc(n + 1);
    ag_evidence ed;
    CHECK(hex && !ag_hex_decode(hex, 2 * n, ev, n) && !ag_evidence_decode(ev, n, &ed));
    if (hex) lean += ed.receipt_len == 0 && ed.receipt == NULL;
    free(ev);
    json_decref(f);
  }
  if (dd) closedir(dd);
  CHECK(lean >= 1);
  /* `agora dispute open FILE` on the node alone: the case the client opened is refused as
   * opened already (dispute_exists), through the CLI's whole path (file, evidence, tx) */
  char nlog[700], opened_file[1200] = "";
  snprintf(nlog, sizeof nlog, "%s.node2.log", home);
  dd = opendir(dir);
  for (struct dirent *de; dd && (de = readdir(dd));) {
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    json_t *f = strstr(de->d_name, ".json") ? json_load_file(path, 0, NULL) : NULL;
    if (json_is_true(json_object_get(f, "opened"))) snprintf(opened_file, sizeof opened_file, "%s", path);
    json_decref(f);
  }
  if (dd) closedir(dd);
  CHECK(opened_file[0] != 0);
  const char *nargs[] = {"--home", home, "node", NULL};
  pid_t np = sys_spawn(nlog, nargs);
  snprintf(path, sizeof path, "%s/config.json", home);
  json_t *cfg = json_load_file(path, 0, NULL);
  char base[100];
  snprintf(base, sizeof base, "http://%s", json_string_value(json_object_get(cfg, "api_listen")) ?: "");
  json_decref(cfg);
  for (int i = 0; i < 100 && sys_height(base) < 0; i++) usleep(100000);
  ag_buf out;
  ag_buf_init(&out);
  const char *dargs[] = {"--home", home, "--json", "dispute", "open", opened_file, "--from", "client0", "--yes", NULL};
  CHECK(sys_run(&out, dargs) != 0);
  json_t *r = json_loads((const char *)out.data, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(r, "result"), "code")) ?: "", "dispute_exists");
  json_decref(r);
  ag_buf_free(&out);
  sys_stop(np, SIGTERM, 10000);
}

/* Serving what was trained: the devnet pins the training subnet's first new checkpoint as the
 * inference subnet's model (`--serve-trained`); miners and validators move to it by
 * themselves, the client pays for answers from it, and the royalties of those claims go to the
 * checkpoint's vault, whose shares are its trainers'. */
TEST(a_trained_checkpoint_is_served_paid_for_and_pays_its_trainers) {
  char home[512], out_path[600];
  snprintf(home, sizeof home, "%s/sys_economy_trained", AGORA_BUILD_DIR);
  snprintf(out_path, sizeof out_path, "%s.out.json", home);
  const char *args[] = {"--miners", "2", "--validators", "1", "--cheaters", "0", "--slow", "0", "--training",
                        "--trainers", "2", "--free-riders", "0", "--front-runners", "0", "--blenders", "0",
                        "--train-dim", "64", "--train-layers", "2", "--round-blocks", "30",
                        "--clients", "1", "--serve-trained", "--blocks", "85", NULL}; /* served from ~25 */
  pid_t pid;
  json_t *m = sys_devnet_start(home, out_path, args, &pid);
  CHECK(json_is_true(json_object_get(m, "ready")));
  json_decref(m);
  int st = 0;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  sys_untrack(pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  json_t *o = json_load_file(out_path, 0, NULL), *e = json_object_get(o, "economy");
  CHECK(e != NULL);
  CHECK(json_is_true(json_object_get(e, "serves_trained")));
  /* the model the economy reports is the trained checkpoint: its vault earned from the claims
   * on it, and its holders (the trainers of its rounds) can claim that income */
  json_t *model = json_object_get(e, "model"), *vault = json_object_get(model, "vault");
  uint64_t billed = 0;
  json_t *pv = json_object_get(e, "providers");
  for (size_t i = 0; i < json_array_size(pv); i++) billed += ag_json_u64_of(json_array_get(pv, i), "billed");
  CHECK(billed > 0);
  CHECK(ag_json_u64_of(vault, "income") > 0);
  json_t *hs = json_object_get(model, "holders");
  CHECK(json_array_size(hs) >= 1);
  uint64_t can = 0;
  json_t *tn = json_object_get(json_object_get(o, "training"), "neurons");
  for (size_t i = 0; i < json_array_size(hs); i++) {
    const char *who = json_string_value(json_object_get(json_array_get(hs, i), "holder"));
    int trainer = 0; /* every holder trained it */
    for (size_t k = 0; k < json_array_size(tn); k++)
      trainer |= who && !strcmp(who, json_string_value(json_object_get(json_array_get(tn, k), "hotkey")) ?: "") &&
                 !strcmp(json_string_value(json_object_get(json_array_get(tn, k), "role")) ?: "", "trainer");
    CHECK(trainer);
    can += ag_json_u64_of(json_array_get(hs, i), "claimable");
  }
  CHECK(can > 0 && can <= ag_json_u64_of(vault, "income"));
  CHECK(json_is_true(json_object_get(json_object_get(o, "issuance"), "matches_schedule")));
  json_decref(o);
}

TEST_MAIN(clients_pay_miners_and_the_model_earns_its_royalty,
          a_trained_checkpoint_is_served_paid_for_and_pays_its_trainers)
