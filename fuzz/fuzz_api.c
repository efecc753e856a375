/*
 * fuzz_api.c — the node's HTTP API as a client reaches it: each input is the raw bytes of one
 * client connection (method, target, query string, headers, body; several pipelined requests
 * if the fuzzer makes them), served by ag_http_serve_bytes through the server's own parser,
 * limits, route matching and dispatch to the node API's route table (ag_node_api_config, as
 * `agora node` serves it) and its handlers (node_api.c, incentive_api.c, files_api.c).
 *
 * Behind the routes is a real solo node (LLVMFuzzerInitialize): a genesis with four funded
 * dev accounts from fixed seeds, a subnet pinning a 64-byte model (so an upload of that id
 * and size is admitted, spooled to HOME/tmp and checked), and two committed blocks, the
 * first holding a transfer from dev0 to dev1. The keys and that transfer are the same on
 * every run, so the seed corpus can name dev0's address and the committed tx's hash, and hold
 * dev0's next transfer (nonce 1), which a POST /v1/txs admits to the mempool once.
 *
 * What must hold for every input: the responses of fuzz/http_check.h (well-formed HTTP/1.1,
 * the documented JSON error {"error":{"code","message",...}}, Retry-After on 503 and 429, no
 * body in an answer to HEAD). ASan/UBSan and LeakSanitizer check the rest.
 *
 * Event streams (GET /v1/events/blocks) are served in process as their head only: the stream
 * waits for new blocks, which no one produces here (see ag_http_serve_bytes). The node is
 * shared by all inputs, so the mempool keeps what earlier inputs submitted.
 *
 * AGORA_FUZZ_STATS=1 prints at exit how many inputs reached a handler, and the statuses.
 */
#define _GNU_SOURCE /* memmem */
#include "api/http.h"
#include "api/node_api.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "consensus/node.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "http_check.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CHAIN FUZZ_CHAIN
#define NKEYS 4
#define PINNED_ID "abababababababababababababababababababababababababababababababab"
#define PINNED_SIZE 64

static char base[256];
static ag_node *node;
static ag_http_config cfg;
static char spool[1100];
static struct {
  int on;
  unsigned long inputs, handled;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_api: %lu inputs, %lu reached a handler; %lu responses: 1xx %lu, 2xx %lu, 3xx %lu, "
            "4xx %lu, 5xx %lu\n",
            stats.inputs, stats.handled, http_check_responses, http_check_status[1], http_check_status[2],
            http_check_status[3], http_check_status[4], http_check_status[5]);
  ag_node_close(node);
  node = NULL;
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_api: could not remove %s\n", base);
}

static void key_of(int i, ag_keypair *k) {
  uint8_t seed[32] = {(uint8_t)i, 0xa9};
  ag_key_from_seed(k, seed);
}

/* HOME/genesis.json, node_key.json; then the node, and two blocks. */
static void make_node(const char *home) {
  ag_keypair keys[NKEYS], nk;
  key_of(100, &nk);
  for (int i = 0; i < NKEYS; i++) key_of(i, &keys[i]);
  char owner[AG_ADDR_MAX];
  ag_addr_encode(keys[0].pk, owner);
  char modules[600];
  snprintf(modules, sizeof modules,
           "{\"incentive\":{\"allow_private_endpoints\":true,\"subnets\":[{\"model\":{\"kind\":\"inference\","
           "\"model_id\":\"%s\",\"size\":%d},\"name\":\"files\",\"owner\":\"%s\"}]}}",
           PINNED_ID, PINNED_SIZE, owner);
  fuzz_genesis_home(home, keys, NKEYS, modules, &nk);
  ag_node_config nc;
  ag_node_config_default(&nc, home);
  nc.threads = 1;
  int rc = ag_node_open(&nc, &node);
  if (rc) {
    fprintf(stderr, "fuzz_api: node: %s\n", ag_errmsg(rc));
    abort();
  }
  /* block 1: dev0 pays dev1; block 2: empty */
  ag_buf pl, tx;
  ag_buf_init(&pl);
  ag_buf_init(&tx);
  ag_transfer_encode(&pl, keys[1].pk, 1000);
  ag_tx_build(&tx, AG_TX_TRANSFER, CHAIN, &keys[0], 0, 100000, 0, pl.data, (uint32_t)pl.len);
  ag_result res;
  uint8_t hash[32];
  if (ag_node_submit(node, tx.data, tx.len, &res, hash) || ag_node_produce_block(node) ||
      ag_node_produce_block(node))
    abort();
  ag_buf_free(&pl);
  ag_buf_free(&tx);
  for (int i = 0; i < NKEYS; i++) ag_key_wipe(&keys[i]);
  ag_key_wipe(&nk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  http_check_name = "fuzz_api";
  fuzz_tmpdir(base, sizeof base, "fuzz_api");
  atexit(at_exit);
  char home[300];
  snprintf(home, sizeof home, "%s/home", base);
  make_node(home);
  ag_node_api_config(node, NULL, spool, sizeof spool, &cfg);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cur_in = data;
  cur_n = size;
  ag_buf out;
  ag_buf_init(&out);
  int handled = ag_http_serve_bytes(&cfg, data, size, &out);
  http_check(&out, memmem(data, size, "HEAD", 4) != NULL, size >= 5 && !memcmp(data, "HEAD ", 5));
  stats.inputs++;
  stats.handled += handled > 0;
  ag_buf_free(&out);
  return 0;
}
