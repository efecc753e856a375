/* test_yuma_vectors.c — every Yuma case in tests/vectors/yuma/ (the shared reference cases from
 * subtensor's tests, copied unchanged) and tests/vectors/yuma/ported/ (Yuma3 scenarios ported
 * from subtensor's tests) through ag_yuma_case_run/ag_yuma_case_check, the code `agora sim
 * epoch` runs; the checker itself against mutated expectations; and the real binary on one
 * case plus its error paths. */
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/yuma_case.h"
#include "test.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#define VEC_DIR AGORA_SRC_DIR "/tests/vectors/yuma"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.json names in dir; returns the count (names malloc'd). */
static size_t list_cases(const char *dir, char **names, size_t cap) {
  DIR *d = opendir(dir);
  size_t n = 0;
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    size_t l = strlen(e->d_name);
    if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) names[n++] = ag_xstrdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  return n;
}

static json_t *load(const char *path) {
  json_error_t err;
  json_t *c = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (!c) fprintf(stderr, "  %s: %s\n", path, err.text);
  return c;
}

static int run_dir(const char *dir, size_t *count) {
  char *names[64];
  size_t n = list_cases(dir, names, 64);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    json_t *c = load(path), *r = NULL;
    int rc = c ? ag_yuma_case_run(c, &r) : AG_E_BAD_JSON;
    if (!rc) rc = ag_yuma_case_check(c, r);
    printf("  %-40s %s\n", names[i], rc ? ag_errmsg(rc) : "all expected values match");
    if (rc) failures++;
    json_decref(c);
    json_decref(r);
    free(names[i]);
  }
  *count = n;
  return failures;
}

TEST(every_shared_vector_matches_exactly) {
  size_t n = 0;
  CHECK_EQ(run_dir(VEC_DIR, &n), 0);
  CHECK(n >= 5); /* test_10_graph, test_active_stake, test_bonds, test_zero_weights, median */
}

TEST(every_ported_yuma3_case_matches) {
  size_t n = 0;
  CHECK_EQ(run_dir(VEC_DIR "/ported", &n), 0);
  CHECK(n >= 6);
}

/* The checker is not vacuous: a changed expectation anywhere is reported with its path. */
TEST(checker_reports_the_first_difference) {
  json_t *c = load(VEC_DIR "/test_bonds.json"), *r = NULL;
  CHECK(c != NULL);
  if (!c) return;
  CHECK_OK(ag_yuma_case_run(c, &r));
  json_t *exp = json_object_get(json_array_get(json_object_get(c, "epochs"), 5), "expect");
  json_t *row = json_array_get(json_object_get(exp, "bonds"), 1);
  json_t *cell = json_array_get(json_array_get(row, 3), 1);
  json_integer_set(cell, json_integer_value(cell) + 1);
  CHECK_EQ(ag_yuma_case_check(c, r), AG_E_YUMA_MISMATCH);
  CHECK_STR(ag_errmsg(AG_E_YUMA_MISMATCH), "epochs[5].bonds[1]: expected uid 7 = 24610, got 24609");
  json_integer_set(cell, json_integer_value(cell) - 1);
  CHECK_OK(ag_yuma_case_check(c, r));
  /* an extra bond entry in the result is a difference too */
  json_t *got_row = json_array_get(json_object_get(json_array_get(json_object_get(r, "epochs"), 5),
                                                   "bonds"), 4);
  json_array_append_new(got_row, json_pack("[ii]", 4, 3));
  CHECK_EQ(ag_yuma_case_check(c, r), AG_E_YUMA_MISMATCH);
  json_array_remove(got_row, 0);
  /* a zero-valued entry means the same as no entry */
  json_array_append_new(got_row, json_pack("[ii]", 4, 0));
  CHECK_OK(ag_yuma_case_check(c, r));
  json_t *em = json_object_get(json_array_get(json_object_get(c, "epochs"), 2), "expect");
  json_integer_set(json_array_get(json_object_get(em, "emission"), 0), 1);
  CHECK_EQ(ag_yuma_case_check(c, r), AG_E_YUMA_MISMATCH);
  json_array_remove(json_object_get(r, "epochs"), 0);
  CHECK_EQ(ag_yuma_case_check(c, r), AG_E_YUMA_MISMATCH); /* result count */
  json_decref(c);
  json_decref(r);
}

static int run_case_text(const char *text, json_t **r) {
  json_error_t err;
  json_t *c = json_loads(text, 0, &err);
  if (!c) return AG_E_BAD_JSON;
  int rc = ag_yuma_case_run(c, r);
  json_decref(c);
  return rc;
}

TEST(malformed_cases_are_precise_errors) {
  json_t *r = NULL;
  CHECK_EQ(run_case_text("[]", &r), AG_E_YUMA_CASE);
  CHECK_EQ(run_case_text("{\"format\":\"x\",\"kind\":\"epoch\"}", &r), AG_E_YUMA_CASE);
  CHECK_STR(ag_errmsg(AG_E_YUMA_CASE), "format: expected \"agora-yuma-case/1\"");
  CHECK_EQ(run_case_text("{\"format\":\"agora-yuma-case/1\",\"kind\":\"median\","
                         "\"subcases\":[{\"stake\":[1],\"columns\":2,\"weights\":[[1]],"
                         "\"majority\":0}]}", &r),
           AG_E_YUMA_CASE);
  CHECK_STR(ag_errmsg(AG_E_YUMA_CASE), "subcases[0].weights[0]: expected 2 elements, got 1");
  /* a minimal valid epoch case, then broken in several places */
  const char *base =
      "{\"format\":\"agora-yuma-case/1\",\"kind\":\"epoch\",\"params\":{\"n\":2,"
      "\"yuma\":\"yuma3\",\"kappa\":32767,\"bonds_moving_average\":900000,"
      "\"bonds_penalty\":65535,\"liquid_alpha\":false,\"tempo\":360,\"activity_cutoff\":5000,"
      "\"max_allowed_validators\":64,\"emission_per_epoch\":1000,\"stake_threshold\":0,"
      "\"owner_uid\":null,\"commit_reveal\":false},\"initial\":{\"stake\":[1,0],"
      "\"block_at_registration\":[0,0],\"last_update\":[0,0],\"validator_permit\":[true,false],"
      "\"bonds\":[[],[]],\"weights\":[[],[]]},\"epochs\":[{\"block\":5,\"set_weights\":"
      "[{\"uid\":0,\"block\":5,\"weights\":%s}]}]}";
  char buf[2048];
  snprintf(buf, sizeof buf, base, "[[1,65535]]");
  CHECK_OK(run_case_text(buf, &r));
  json_t *e0 = json_array_get(json_object_get(r, "epochs"), 0);
  CHECK_EQ(json_integer_value(json_array_get(json_object_get(e0, "server_emission"), 1)), 500);
  json_decref(r);
  r = NULL;
  snprintf(buf, sizeof buf, base, "[[1,65536]]");
  CHECK_EQ(run_case_text(buf, &r), AG_E_YUMA_CASE);
  CHECK_STR(ag_errmsg(AG_E_YUMA_CASE),
            "epochs[0].set_weights[0].weights[0][1]: 65536 out of range [0, 65535]");
  snprintf(buf, sizeof buf, base, "[[1,5],[0,5]]");
  CHECK_EQ(run_case_text(buf, &r), AG_E_YUMA_CASE);
  CHECK_STR(ag_errmsg(AG_E_YUMA_CASE),
            "epochs[0].set_weights[0].weights[1]: uids must be strictly ascending");
  snprintf(buf, sizeof buf, base, "[[1,5.5]]");
  CHECK_EQ(run_case_text(buf, &r), AG_E_YUMA_CASE);
  snprintf(buf, sizeof buf, base, "{}");
  CHECK_EQ(run_case_text(buf, &r), AG_E_YUMA_CASE);
  CHECK(r == NULL);
}

/* Runs the binary; returns its exit status and its stdout in *out (malloc'd). */
static int run_bin(const char *args, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", AGORA_BIN, args);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  ag_buf b;
  ag_buf_init(&b);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) ag_buf_put(&b, chunk, n);
  int st = pclose(f);
  ag_buf_cstr(&b);
  size_t len;
  *out = (char *)ag_buf_steal(&b, &len);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(agora_sim_epoch_binary) {
  char *out = NULL;
  int st = run_bin("sim epoch " VEC_DIR "/test_bonds.json", &out);
  CHECK_EQ(st, 0);
  json_error_t err;
  json_t *r = json_loads(out, 0, &err), *c = load(VEC_DIR "/test_bonds.json");
  CHECK(r != NULL);
  CHECK(c != NULL);
  if (r && c) CHECK_OK(ag_yuma_case_check(c, r));
  json_decref(r);
  json_decref(c);
  free(out);

  st = run_bin("sim epoch --check " VEC_DIR "/weighted_median_col.json", &out);
  CHECK_EQ(st, 0);
  free(out);

  /* malformed case: exit 1 and a JSON error with a stable code */
  char tmp[] = "/tmp/agora_yuma_bad_XXXXXX";
  int fd = mkstemp(tmp);
  CHECK(fd >= 0);
  const char *bad = "{\"format\":\"agora-yuma-case/1\",\"kind\":\"epoch\",\"params\":{}}";
  CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
  close(fd);
  char args[256];
  snprintf(args, sizeof args, "--json sim epoch %s", tmp);
  st = run_bin(args, &out);
  CHECK_EQ(st, 1);
  r = json_loads(out, 0, &err);
  CHECK(r != NULL);
  json_t *code = json_object_get(json_object_get(r, "error"), "code");
  CHECK_STR(json_string_value(code), "yuma_bad_case");
  CHECK(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
               "params: missing key \"n\"") != NULL);
  json_decref(r);
  free(out);
  unlink(tmp);

  CHECK_EQ(run_bin("sim epoch", &out), 2); /* usage */
  free(out);
  CHECK_EQ(run_bin("sim epoch /nonexistent/case.json", &out), 3);
  free(out);
  CHECK_EQ(run_bin("sim epoch --help", &out), 0);
  CHECK(strstr(out, "usage: agora sim epoch") != NULL);
  free(out);
}

TEST_MAIN(every_shared_vector_matches_exactly, every_ported_yuma3_case_matches,
          checker_reports_the_first_difference, malformed_cases_are_precise_errors,
          agora_sim_epoch_binary)
