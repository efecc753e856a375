/* bench_explorer.c — explorer.first_paint_ms: the metagraph page of a subnet with 256 UIDs in
 * Debian's headless chromium, from navigation until it holds its data, rendered, against the
 * API call it makes, timed in the same browser (target <= 3x); and explorer.shell_ms, a page
 * that needs no data (the part of every page's time that is the browser's and the assets'); and
 * explorer.navigation_floor_ms, a navigation to a tiny document (the browser's own floor). A
 * node from `agora init` whose genesis subnet takes 256 UIDs; the registrations and the browser
 * are bench/explorer_paint.py. */
#include "bench_node.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char root[] = "/tmp/agora-bench-explorer-XXXXXX", home[600], addr[128], cmd[2048], path[700];
  if (!mkdtemp(root)) return 1;
  snprintf(home, sizeof home, "%s/home", root);
  const char *py = AGORA_SRC_DIR "/.cache/apitest-venv/bin/python";
  if (access(py, X_OK) || access("/usr/bin/chromedriver", X_OK)) {
    fprintf(stderr, "bench_explorer: selenium or chromium-driver is missing (scripts/bootstrap apitest)\n");
    return 1;
  }
  bench_node_init(home, 4);
  /* a subnet of 256 UIDs with cheap registrations */
  snprintf(path, sizeof path, "%s/genesis.json", home);
  json_t *g = json_load_file(path, 0, NULL);
  const char *owner = json_string_value(json_object_get(json_array_get(json_object_get(g, "accounts"), 0), "address"));
  json_t *inc = json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:{s:i,s:i,s:i,s:i}}]}", "block_reward", "1000000000", "burn_initial",
                          "1000", "burn_min", "1000", "burn_max", "1000", "subnets", "name", "bench", "owner", owner,
                          "hyperparams", "max_uids", 256, "tempo", 10, "immunity_period", 100000, "max_validators", 64);
  json_object_set_new(g, "incentive", inc);
  json_dump_file(g, path, JSON_INDENT(1));
  json_decref(g);
  pid_t node = bench_node_start(home, addr);
  snprintf(cmd, sizeof cmd, "PYTHONPATH=%s/sdk/python %s %s/bench/explorer_paint.py %s http://%s", AGORA_SRC_DIR, py,
           AGORA_SRC_DIR, home, addr);
  FILE *p = popen(cmd, "r");
  double paint = 0, call = 0, shell = 0, floor = 0;
  int n = 0;
  if (!p || fscanf(p, "%lf %lf %d %lf %lf", &paint, &call, &n, &shell, &floor) != 5) paint = 0;
  if (p) pclose(p);
  bench_node_stop(node);
  char note[200];
  snprintf(note, sizeof note, "the metagraph page of %d UIDs, navigation to rendered; median of 5 in headless chromium", n);
  bench_report("explorer.first_paint_ms", paint, "ms", note);
  snprintf(note, sizeof note, "target <= 3; the API call it makes, in the same browser: %.1f ms", call);
  bench_report("explorer.first_paint_vs_api", call > 0 ? paint / call : 0, "ratio", note);
  bench_report("explorer.shell_ms", shell, "ms",
               "a page that needs no data, navigation to its script having run: what every page costs before its first call");
  snprintf(note, sizeof note, "navigation to a tiny document from the node (the stylesheet) until its load event: "
           "%.1f x the API call; no page can load faster", call > 0 ? floor / call : 0);
  bench_report("explorer.navigation_floor_ms", floor, "ms", note);
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  return system(cmd) != 0 || n != 256;
}
