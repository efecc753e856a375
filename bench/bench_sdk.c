/* bench_sdk.c — the Python SDK against the C client on the same node, same run:
 * sdk.submit_tps (transfers signed and submitted by agora_sdk, one at a time, as a plain Python
 * client does) and the C client's rate (ledger.api_submit_tps's method: pre-signed, 4 keep-alive
 * connections). Report only (issue 15: no target). */
#include "bench_node.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char root[] = "/tmp/agora-bench-sdk-XXXXXX", home[600], addr[128], cmd[2048];
  if (!mkdtemp(root)) return 1;
  snprintf(home, sizeof home, "%s/home", root);
  const char *py = AGORA_SRC_DIR "/.cache/apitest-venv/bin/python";
  if (access(py, X_OK)) {
    fprintf(stderr, "bench_sdk: %s is missing (scripts/bootstrap apitest)\n", py);
    return 1;
  }
  size_t nacct = 50, ok = 0, nc = 5000, npy = 1000;
  bench_node_init(home, nacct);
  pid_t node = bench_node_start(home, addr);
  double c_rate = bench_submit(home, addr, nacct, nc, &ok);
  ag_sleep_ms(1500); /* the C txs are committed */
  snprintf(cmd, sizeof cmd, "PYTHONPATH=%s/sdk/python %s %s/bench/sdk_submit.py %s http://%s %zu %zu", AGORA_SRC_DIR, py,
           AGORA_SRC_DIR, home, addr, npy, nacct);
  FILE *p = popen(cmd, "r");
  double py_rate = 0;
  size_t py_ok = 0;
  if (!p || fscanf(p, "%lf %zu", &py_rate, &py_ok) != 2) py_rate = 0;
  if (p) pclose(p);
  bench_node_stop(node);
  char note[200];
  snprintf(note, sizeof note, "%zu of %zu accepted; sign + submit, one thread, a connection per request (urllib)", py_ok, npy);
  bench_report("sdk.submit_tps", py_rate, "tx/s", note);
  snprintf(note, sizeof note, "against the C client on the same node: %.0f tx/s (%zu of %zu; pre-signed, 4 keep-alive connections)",
           c_rate, ok, nc);
  bench_report("sdk.submit_vs_c", c_rate > 0 ? py_rate / c_rate : 0, "ratio", note);
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  return system(cmd) != 0 || py_ok == 0;
}
