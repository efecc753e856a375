/*
 * cmd_sim.c — `agora sim`: offline simulation of the incentive mechanism.
 *
 *   agora sim epoch CASE.json [--check]
 *       runs a Yuma case (format agora-yuma-case/1, ../shared/vectors/yuma/README.md) through
 *       the chain's own epoch code and prints {"epochs": [...]} or {"subcases": [...]} on
 *       stdout; --check also compares the result with the case's `expect` values and fails
 *       (exit 1) at the first difference.
 *
 *   agora sim yuma SCENARIO (cmd_simyuma.c)
 *       whole-network scenarios through the state machine.
 */
#include "cli/cli.h"
#include "core/err.h"
#include "core/util.h"
#include "incentive/yuma_case.h"

int ag_sim_yuma(ag_cli *c, int argc, char **argv);

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE_MAX_BYTES (64u << 20)

static const char *usage_sim =
    "usage: agora sim COMMAND ...\n\n"
    "commands:\n"
    "  epoch CASE.json [--check]   run a Yuma epoch case and print the results as JSON\n"
    "  yuma SCENARIO [--plot F]    run a whole-network scenario through the state machine\n"
    "\n'agora sim COMMAND --help' describes each command.\n";

static const char *usage_epoch =
    "usage: agora sim epoch CASE.json [--check] [--json]\n\n"
    "Runs the case (format agora-yuma-case/1: kinds 'epoch', possibly several epochs that\n"
    "carry state, and 'median') through the same Yuma epoch code the chain runs, and prints\n"
    "{\"epochs\": [...]} (or {\"subcases\": [...]}) with one result per entry on stdout.\n\n"
    "options:\n"
    "  --check   also compare with the case's expect values; exit 1 at the first difference\n"
    "  --json    errors as {\"error\": {...}} on stdout\n"
    "\nexit codes: 0 ok, 1 malformed case or mismatch, 2 usage, 3 file not found.\n"
    "Format and semantics: docs/yuma.md.\n";

static int sim_epoch(ag_cli *c, int argc, char **argv) {
  bool check = false;
  const ag_opt opts[] = {{"check", 0, 0, NULL, &check}, {"", 0, 0, NULL, NULL}};
  char *pos[1];
  int npos = 0, rc = ag_cli_parse(c, argc, argv, opts, pos, 1, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, usage_epoch);
  if (npos != 1) return ag_cli_usage(c, usage_epoch);

  uint8_t *data = NULL;
  size_t len = 0;
  json_t *cs = NULL, *result = NULL;
  int err = ag_read_file(pos[0], CASE_MAX_BYTES, &data, &len);
  if (err) {
    rc = ag_cli_fail(c, err, "%s", ag_errmsg(err));
    goto done;
  }
  json_error_t jerr;
  cs = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!cs) {
    rc = ag_cli_fail(c, AG_E_BAD_JSON, "%s:%d:%d: %s", pos[0], jerr.line, jerr.column, jerr.text);
    goto done;
  }
  err = ag_yuma_case_run(cs, &result);
  if (err) {
    rc = ag_cli_fail(c, err, "%s: %s", pos[0], ag_errmsg(err));
    goto done;
  }
  if (check) {
    err = ag_yuma_case_check(cs, result);
    if (err) {
      rc = ag_cli_fail(c, err, "%s: %s", pos[0], ag_errmsg(err));
      goto done;
    }
  }
  char *text = ag_yuma_case_dump(result);
  fputs(text, stdout);
  fflush(stdout);
  free(text);
  if (check) fprintf(stderr, "%s: all expected values match\n", pos[0]);
  rc = AG_EXIT_OK;
done:
  json_decref(result);
  json_decref(cs);
  free(data);
  return rc;
}

int ag_cmd_sim(ag_cli *c, int argc, char **argv) {
  if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") ||
      !strcmp(argv[0], "help")) {
    c->help = argc >= 1;
    return ag_cli_usage(c, usage_sim);
  }
  if (!strcmp(argv[0], "epoch")) {
    c->cmd = "sim epoch";
    return sim_epoch(c, argc - 1, argv + 1);
  }
  if (!strcmp(argv[0], "yuma")) {
    c->cmd = "sim yuma";
    return ag_sim_yuma(c, argc - 1, argv + 1);
  }
  fprintf(stderr, "agora sim: unknown command '%s' (see 'agora sim --help')\n", argv[0]);
  return AG_EXIT_USAGE;
}
