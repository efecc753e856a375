/*
 * fuzz_miner.c — a miner's API as anyone on the network reaches it, with no keys: each input is
 * one client connection served by ag_http_serve_bytes through the server's own parser and the
 * miner's route table and handlers (src/subnets/miner.c, as `agora miner` serves them), with
 * its workers generating for real.
 *
 * Behind the routes (LLVMFuzzerInitialize): the shipped nano model as miners run it, a miner
 * API opened in process (ag_miner_api_open) with an offer (it charges for answers), one
 * validator with a permit, and a book of paid channels in a temporary home. Its "node" is a
 * small HTTP server in this process that answers what a miner asks a node: the chain's status
 * and one channel record. The channel pays this miner; another pays someone else.
 *
 * An input's first byte chooses how the rest is read:
 *  - raw: the bytes of the connection as they are;
 *  - shaped: a route, a request body (its max_tokens held small, so that each run is short),
 *    and the parts an attacker cannot forge but a client can: a voucher signed by the
 *    channel's client (on the channel, on the other one, or on one unknown to the chain, for a
 *    fuzzed amount and sequence that go on from the earlier inputs') and a validator's signature over the request's hash. So the
 *    checks behind the signatures are reached: the paid path's book, billing and 402s, and
 *    the challenge path's reserved room.
 *
 * What must hold: the responses of fuzz/http_check.h, with OpenAI's error shape; and once a
 * request is over, no channel of the book holds a reservation (every admitted request is
 * billed or released; a stream cut after its head, as ag_http_serve_bytes serves streams,
 * is released by its worker, so this is waited for, up to 5 s).
 *
 * AGORA_FUZZ_STATS=1 prints at exit how many inputs reached a handler, and the statuses.
 */
#define _GNU_SOURCE /* memmem */
#include "api/http.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "economy/economy.h"
#include "engine/engine.h"
#include "fuzz_input.h"
#include "http_check.h"
#include "subnets/inference.h"
#include "subnets/miner.h"
#include "subnets/netclient.h"
#include "subnets/payment.h"
#include "fuzz_setup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAIN FUZZ_CHAIN
#define MAX_TOKENS 6 /* shaped bodies: the most a request generates */

static char base[256];
static ag_model *model;
static ag_keypair hotkey, client, validator;
static uint8_t channel[32], foreign[32];
static ag_http_server *node_srv;
static ag_miner_api *api;
static ag_http_limits limits;
static ag_http_config cfg;
static char model_hex[65];
static struct {
  int on;
  unsigned long inputs, handled, shaped, paid, challenges;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_miner: %lu inputs (%lu shaped: %lu with a voucher, %lu signed challenges), %lu reached a "
            "handler; %lu responses: 2xx %lu, 4xx %lu, 5xx %lu\n",
            stats.inputs, stats.shaped, stats.paid, stats.challenges, stats.handled, http_check_responses,
            http_check_status[2], http_check_status[4], http_check_status[5]);
  ag_miner_api_close(api);
  ag_http_stop(node_srv);
  ag_model_close(model);
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_miner: could not remove %s\n", base);
}

/* ---- the node the miner reads ----------------------------------------------------------------- */

/* GET /v1/channels/{id}: this miner's channel and one paying another provider, as the chain has
 * them; any other id is unknown. */
static void h_channel(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32) ||
      (memcmp(id, channel, 32) && memcmp(id, foreign, 32)))
    return ag_http_error(resp, 404, AG_E_NOTFOUND, "no such channel");
  char c[AG_ADDR_MAX], p[AG_ADDR_MAX];
  ag_addr_encode(client.pk, c);
  ag_addr_encode(memcmp(id, channel, 32) ? validator.pk : hotkey.pk, p);
  ag_http_json(resp, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "status", "open", "client", c,
                                    "provider", p, "signer", c, "deposit", "1000000000000", "claimed", "0", "seq", "0",
                                    "expiry", (json_int_t)0, "close_at", (json_int_t)0));
}

static const ag_http_route node_routes[] = {
    {"GET", "/v1/status", fuzz_node_status, 0},
    {"GET", "/v1/incentive", fuzz_node_incentive, 0},
    {"GET", "/v1/channels/", h_channel, 0},
};

static void key_of(uint8_t tag, ag_keypair *k) {
  uint8_t seed[32] = {tag, 0x6d};
  ag_key_from_seed(k, seed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  http_check_name = "fuzz_miner";
  http_check_openai = 1;
  fuzz_tmpdir(base, sizeof base, "fuzz_miner");
  atexit(at_exit);
  model = fuzz_nano_model(); /* as miners and validators run it */
  ag_hex_encode(model->id, 32, model_hex);
  key_of(1, &hotkey);
  key_of(2, &client);
  key_of(3, &validator);
  ag_channel_id(CHAIN, client.pk, 0, channel);
  ag_channel_id(CHAIN, client.pk, 1, foreign);
  ag_http_config nc = {"127.0.0.1:0", 4096, node_routes, AG_ARRAY_LEN(node_routes), NULL, NULL, NULL};
  if (ag_http_start(&nc, &node_srv)) abort();
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", ag_http_port(node_srv));
  ag_net net;
  if (ag_net_open(&net, url)) abort();
  net.retries = 0;
  api = fuzz_miner_open(base, &net, model, &hotkey, &validator, &limits, &cfg);
  return 0;
}

/* ---- an input ------------------------------------------------------------------------------- */

static const char *const paths[] = {"/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/models/",
                                    "/health",         "/metrics",             "/agora/info", "/agora/model-files/",
                                    "/openapi.json"};

static void shaped(in_t *in, ag_buf *raw) {
  uint8_t route = get8(in) % AG_ARRAY_LEN(paths), flags = get8(in);
  uint32_t amount = get32(in), seq = get32(in);
  size_t blen;
  const uint8_t *bp = take(in, in->n, &blen);
  char *body = fuzz_shape_body(bp, blen, MAX_TOKENS);
  const char *path = paths[route];
  int post = route < 2;
  ag_buf_printf(raw, "%s %s", post ? "POST" : "GET", path);
  if (route == 3) ag_buf_puts(raw, flags & 0x40 ? model_hex : "default");
  if (route == 7) ag_buf_puts(raw, flags & 0x40 ? model_hex : "00");
  ag_buf_puts(raw, " HTTP/1.1\r\nHost: miner\r\n");
  if (flags & 1) { /* a voucher of the client: on its channel, the other one, or an unknown one */
    uint8_t unknown[32];
    memset(unknown, 0x77, 32);
    const uint8_t *ch = (flags & 6) == 2 ? foreign : (flags & 6) == 4 ? unknown : channel;
    ag_buf v;
    ag_buf_init(&v);
    /* the book keeps what earlier inputs paid: sequences and amounts go on from there, so
     * that most vouchers can be admitted (a sequence at or below the last one is refused) */
    static uint64_t last_seq, last_cum;
    uint64_t s = last_seq + seq % 4, cum = last_cum + (uint64_t)amount;
    last_seq = s > last_seq ? s : last_seq;
    if (cum <= 1000000000000ULL) last_cum = cum;
    ag_voucher_sign(&v, CHAIN, ch, cum, s, &client);
    char hex[2 * AG_VOUCHER_MAX + 1];
    ag_hex_encode(v.data, v.len, hex);
    ag_buf_printf(raw, "%s: %s\r\n", AG_PAY_HEADER, hex);
    ag_buf_free(&v);
    stats.paid++;
  }
  if (flags & 8) { /* signed by the validator with a permit, over this very body */
    uint8_t reqh[32], msg[32], sig[64];
    ag_inf_request_hash(body, strlen(body), reqh);
    ag_inf_challenge_message(reqh, msg);
    ag_sign(&validator, msg, 32, sig);
    char who[AG_ADDR_MAX], hex[129];
    ag_addr_encode(validator.pk, who);
    ag_hex_encode(sig, 64, hex);
    ag_buf_printf(raw, "X-Agora-Validator: %s\r\nX-Agora-Signature: %s\r\n", who, hex);
    stats.challenges++;
  }
  if (post) ag_buf_printf(raw, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
  else ag_buf_puts(raw, "\r\n");
  free(body);
  stats.shaped++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_t in = {data, size};
  ag_buf raw, out;
  ag_buf_init(&raw);
  ag_buf_init(&out);
  if (get8(&in) & 1) shaped(&in, &raw);
  else ag_buf_put(&raw, in.p, in.n);
  cur_in = raw.data ? raw.data : (const uint8_t *)"";
  cur_n = raw.len;
  int handled = ag_http_serve_bytes(&cfg, cur_in, cur_n, &out);
  http_check(&out, memmem(cur_in, cur_n, "HEAD", 4) != NULL, cur_n >= 5 && !memcmp(cur_in, "HEAD ", 5));
  /* every admitted request is billed or released, a cut stream by its worker */
  for (int i = 0; ag_miner_api_reserved(api) != 0; i++) {
    if (i == 500) {
      fprintf(stderr, "fuzz_miner: a channel still holds a reservation 5 s after its request\n");
      abort();
    }
    ag_sleep_ms(10);
  }
  stats.inputs++;
  stats.handled += handled > 0;
  ag_buf_free(&raw);
  ag_buf_free(&out);
  ag_err_clear();
  return 0;
}
