/*
 * fuzz_files.c — the local files a program reads back at start or at every request, as a torn
 * write, a full disk or a hand edit leaves them: a client's channel book
 * (HOME/channels/…json, ag_pay_client_load), the gateway's keys (HOME/gateway/keys.json,
 * ag_gateway_keys_list, read for every request) and the node's config.json
 * (ag_node_config_load). The input's first byte chooses the file, the rest is its content.
 *
 * What must hold: each is read or refused with an error, never a crash, a leak or an
 * unbounded allocation; and what is read is what the programs may rely on:
 *  - a channel book holds billed <= signed_max <= deposit (a client signs cumulative amounts
 *    from it: billed + the request's most);
 *  - gateway keys are named, with a budget and a spend;
 *  - a config's numbers are within the bounds docs/formats.md gives.
 */
#include "consensus/node.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "fuzz_input.h"
#include "fuzz_setup.h"
#include "subnets/gateway.h"
#include "subnets/payment.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char base[256], book[1200], keys_file[400], config_file[400];

static void at_exit(void) {
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_files: could not remove %s\n", base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  fuzz_tmpdir(base, sizeof base, "fuzz_files");
  atexit(at_exit);
  uint8_t a[32] = {1}, b[32] = {2}, m[32] = {3};
  ag_pay_client_path(base, a, b, m, book, sizeof book);
  snprintf(keys_file, sizeof keys_file, "%s/gateway/keys.json", base);
  snprintf(config_file, sizeof config_file, "%s/config.json", base);
  char dir[1300];
  snprintf(dir, sizeof dir, "%s/channels", base);
  if (ag_mkdirs(dir, 0700)) abort();
  snprintf(dir, sizeof dir, "%s/gateway", base);
  if (ag_mkdirs(dir, 0700)) abort();
  return 0;
}

static void fail(const char *what) {
  fprintf(stderr, "fuzz_files: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_t in = {data, size};
  uint8_t kind = get8(&in) % 3;
  const char *path = kind == 0 ? book : kind == 1 ? keys_file : config_file;
  if (ag_write_file_atomic(path, in.p, in.n, 0600)) abort();
  if (kind == 0) {
    ag_pay_client c;
    memset(&c, 0, sizeof c);
    if (ag_pay_client_load(path, &c) == 0 && !(c.billed <= c.signed_max && c.signed_max <= c.deposit))
      fail("a channel book read with billed > signed_max or signed_max > deposit");
  } else if (kind == 1) {
    json_t *keys;
    if (ag_gateway_keys_list(base, &keys) == 0) {
      for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        if (!json_is_string(json_object_get(k, "name")) || !json_object_get(k, "budget") ||
            !json_object_get(k, "spent"))
          fail("a gateway key read without its name, budget or spend");
      }
      json_decref(keys);
    }
  } else {
    ag_node_config cfg;
    if (ag_node_config_load(&cfg, base) == 0) {
      if (cfg.block_time_ms < 50 || cfg.block_time_ms > 600000) fail("a block time outside 50..600000 ms");
      if (cfg.nfile_peers < 0 || cfg.nfile_peers > AG_FILE_PEERS_MAX) fail("more file peers than the config holds");
      if (!memchr(cfg.api_listen, 0, sizeof cfg.api_listen)) fail("an API address that is not a string");
    }
  }
  remove(path);
  ag_err_clear();
  return 0;
}
