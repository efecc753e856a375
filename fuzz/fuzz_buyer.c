/*
 * fuzz_buyer.c — a paying client (ag_buy, what `agora infer` and `agora gateway` run) against a
 * miner that lies: each input is one paid request whose miner answers with bytes of the
 * input, or with the real miner's honest answer changed by the input and signed again with the
 * miner's own key (so that the checks behind the signatures are reached: re-execution, the
 * payment receipt against the offer and the client's book, the 402 catch-up, and the evidence
 * a wrong paid answer becomes).
 *
 * Behind it (LLVMFuzzerInitialize): the shipped nano model, a real miner API in process
 * (ag_miner_api_open, with an offer) that a small HTTP server in front of it reaches through
 * ag_http_serve_bytes, and a "node", another small server, that answers what the buyer and the
 * miner ask a node: the chain's status, the subnet's pin and metagraph (one miner, the server in
 * front), the offer, the economy and any channel as open. Each input pays on a channel of its
 * own, whose client book (HOME/channels) is written fresh, so that inputs do not depend on each
 * other's payments.
 *
 * An input's first byte chooses what the miner does:
 *  - raw: answers with a status from a short list and the rest of the input as its body;
 *  - changed: answers honestly, then the input changes up to four fields of the answer (its
 *    text, usage, payment receipt fields, receipt bytes, commitment, finish reason, or removes
 *    a part), and signs the answer and the payment receipt again with the miner's key when
 *    the input says so;
 *  - 402: first answers 402 with a book (billed, sequence) from the input, then honestly.
 * With bit 3 of its second byte the node lies too, to a buyer of its own: in the metagraph, the
 * offers or a channel's record (as the miner reads it), a value anywhere replaced by one of the
 * input's choosing (null, negative, huge, a number as a string past 2^64, rows by thousands).
 * With bit 2 of its second byte the request goes instead to the gateway's routes (in process,
 * ag_gateway_open and ag_http_serve_bytes), as an OpenAI client sends it: a completion, a chat,
 * a stream, the models or the usage, with the key the gateway issued (its budget a unit or
 * one AGR) or a wrong one, the body shaped or taken from the input. Its miner answers honestly
 * (an answer found wrong keeps a miner out for ten minutes), or with an answer id of its own
 * choosing (ids are not signed: the gateway relays them as x-request-id).
 *
 * What must hold after every request:
 *  - an answer is accepted only as the miner's honest answer (its text, and its cost at the
 *    offer), never a changed one, and never from raw bytes (nobody but the miner can sign);
 *  - an accepted answer's usage is the one verified;
 *  - the client's book never holds more billed than it signed, nor less than before;
 *  - every refused attempt says why;
 *  - the gateway's responses are well-formed (fuzz/http_check.h) and carry only the headers it
 *    sends, none of a miner's making; it answers no wrong key, answers only with the miner's
 *    honest text, and no key spends more than its budget.
 *
 * AGORA_FUZZ_STATS=1 prints at exit how many inputs were accepted and how.
 */
#define _GNU_SOURCE /* memmem */
#include "api/http.h"
#include "api/models.h"
#include "chain/json.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "economy/economy.h"
#include "engine/engine.h"
#include "fuzz_input.h"
#include "fuzz_setup.h"
#include "http_check.h"
#include "json_lie.h"
#include "subnets/buyer.h"
#include "subnets/gateway.h"
#include "subnets/inference.h"
#include "subnets/miner.h"
#include "subnets/netclient.h"
#include "subnets/payment.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN FUZZ_CHAIN
#define DEPOSIT 1000000000000ULL
#define MAX_TOKENS 4

static char base[256], models_dir[300], model_hex[65], hot_addr[AG_ADDR_MAX];
static uint64_t model_size;
static ag_model *model;
static ag_keypair hotkey, payer, validator;
static ag_http_server *node_srv, *front_srv;
static uint16_t front_port;
static ag_miner_api *api;
static ag_http_limits limits;
static ag_http_config miner_cfg;
static ag_net net;
static ag_buyer *buyer;
static uint64_t nonce;
static ag_gateway *gw;
static ag_http_config gw_cfg;

/* The input as the miner's front reads it (requests are made one at a time). */
enum { MODE_RAW, MODE_CHANGED, MODE_402, MODE_N, MODE_HONEST = MODE_N, MODE_ID };
static in_t cur;
static int mode, calls;
static json_t *honest; /* the last honest answer the front saw */
static int changed;    /* the front changed the answer it sent */

static struct {
  int on;
  unsigned long inputs, by_mode[MODE_N], accepted, changed_refused, faults, gateway, gateway_ok, lies;
} stats;

static void at_exit(void) {
  if (stats.on)
    fprintf(stderr,
            "fuzz_buyer: %lu inputs (raw %lu, changed %lu, 402 %lu): %lu answers accepted, %lu changed answers "
            "refused, %lu with evidence, %lu with a lying node; %lu through the gateway (%lu answered 200; 2xx %lu, 4xx %lu, 5xx %lu)\n",
            stats.inputs, stats.by_mode[MODE_RAW], stats.by_mode[MODE_CHANGED], stats.by_mode[MODE_402],
            stats.accepted, stats.changed_refused, stats.faults, stats.lies, stats.gateway, stats.gateway_ok, http_check_status[2],
            http_check_status[4], http_check_status[5]);
  ag_gateway_close(gw);
  ag_buyer_close(buyer);
  ag_http_stop(front_srv);
  ag_miner_api_close(api);
  ag_http_stop(node_srv);
  ag_model_close(model);
  json_decref(honest);
  if (base[0] && ag_rm_tree(base)) fprintf(stderr, "fuzz_buyer: could not remove %s\n", base);
}

/* ---- the node ------------------------------------------------------------------------------------- */

/* An input may make the node lie in one of its answers (LIE_*), as a node a client chose to
 * trust may: a value anywhere in the JSON replaced by one of the input's choosing. */
enum { LIE_NONE, LIE_METAGRAPH, LIE_OFFERS, LIE_CHANNEL, LIE_N };
static int lie_at;
static void node_json(ag_http_resp *resp, int where, json_t *o) { fuzz_node_answer(resp, o, lie_at == where, &cur); }

/* Any channel is open, from the payer to the miner, with DEPOSIT. */
static void h_channel(ag_http_req *req, ag_http_resp *resp) {
  uint8_t id[32];
  if (strlen(req->param) != 64 || ag_hex_decode(req->param, 64, id, 32))
    return ag_http_error(resp, 404, AG_E_NOTFOUND, "no such channel");
  char c[AG_ADDR_MAX];
  ag_addr_encode(payer.pk, c);
  node_json(resp, LIE_CHANNEL,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "status", "open", "client", c, "provider", hot_addr,
                      "signer", c, "deposit", "1000000000000", "claimed", "0", "seq", "0", "expiry", (json_int_t)0,
                      "close_at", (json_int_t)0));
}

/* /v1/subnets/1 (its pin) and /v1/subnets/1/metagraph (the front as uid 0). */
static void h_subnet(ag_http_req *req, ag_http_resp *resp) {
  if (!strcmp(req->param, "1"))
    return ag_http_json(resp, 200, json_pack("{s:i, s:{s:s, s:I}}", "netuid", 1, "model", "model_id", model_hex,
                                             "size", (json_int_t)model_size));
  if (!strcmp(req->param, "1/metagraph"))
    return node_json(resp, LIE_METAGRAPH,
                     json_pack("{s:[{s:i, s:s, s:{s:s, s:i}, s:i}]}", "uids", "uid", 0, "hotkey", hot_addr, "endpoint",
                               "host", "127.0.0.1", "port", (int)front_port, "incentive", 0));
  ag_http_error(resp, 404, AG_E_NOTFOUND, "no such subnet");
}

static void h_offers(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  node_json(resp, LIE_OFFERS,
            json_pack("{s:I, s:[{s:s, s:s, s:s, s:s, s:i}]}", "height", (json_int_t)100, "offers", "provider", hot_addr,
                      "model", model_hex, "price_in_per_1k", "1000", "price_out_per_1k", "10000", "max_tokens", 64));
}

static void h_economy(ag_http_req *req, ag_http_resp *resp) {
  (void)req;
  ag_http_json(resp, 200, json_pack("{s:s, s:s}", "min_deposit", "1000", "dispute_bond", "1000000"));
}

static const ag_http_route node_routes[] = {
    {"GET", "/v1/status", fuzz_node_status, 0},       {"GET", "/v1/incentive", fuzz_node_incentive, 0},
    {"GET", "/v1/channels/", h_channel, 0},   {"GET", "/v1/subnets/", h_subnet, 0},
    {"GET", "/v1/offers", h_offers, 0},       {"GET", "/v1/economy", h_economy, 0},
};

/* ---- the miner's front ------------------------------------------------------------------------------ */

/* The real miner's answer to req: its status and body (JSON, or NULL). */
static long honest_answer(ag_http_req *req, json_t **body) {
  ag_buf raw, out;
  ag_buf_init(&raw);
  ag_buf_init(&out);
  ag_buf_printf(&raw, "POST %s HTTP/1.1\r\nHost: miner\r\nContent-Type: application/json\r\n", req->path);
  const char *v = ag_http_header(req, AG_PAY_HEADER);
  if (v) ag_buf_printf(&raw, "%s: %s\r\n", AG_PAY_HEADER, v);
  ag_buf_printf(&raw, "Content-Length: %zu\r\nConnection: close\r\n\r\n", req->body_len);
  ag_buf_put(&raw, req->body, req->body_len);
  ag_http_serve_bytes(&miner_cfg, raw.data, raw.len, &out);
  ag_buf_cstr(&out);
  long status = 0;
  *body = NULL;
  const char *sep = out.data ? strstr((const char *)out.data, "\r\n\r\n") : NULL;
  if (sep && sscanf((const char *)out.data, "HTTP/1.1 %ld", &status) == 1)
    *body = json_loads(sep + 4, 0, NULL);
  ag_buf_free(&raw);
  ag_buf_free(&out);
  return status;
}

static json_t *text_of(json_t *o) {
  json_t *c = json_array_get(json_object_get(o, "choices"), 0);
  json_t *m = json_object_get(c, "message");
  return m ? json_object_get(m, "content") : json_object_get(c, "text");
}

static void set_text(json_t *o, json_t *t) {
  json_t *c = json_array_get(json_object_get(o, "choices"), 0);
  json_t *m = json_object_get(c, "message");
  if (json_is_object(m)) json_object_set_new(m, "content", t);
  else if (json_is_object(c)) json_object_set_new(c, "text", t);
  else json_decref(t);
}

/* A string of up to 16 input bytes (kept only where it is valid UTF-8). */
static json_t *fuzz_string(void) { return json_lie_string(&cur); }

/* 0 when s is 64 hex digits, decoded into out. */
static int hex32(const char *s, uint8_t out[32]) { return s && strlen(s) == 64 ? ag_hex_decode(s, 64, out, 32) : -1; }

static void flip(uint8_t *p, size_t n) {
  if (!n) return;
  uint32_t at = get32(&cur);
  p[at % n] ^= (uint8_t)(get8(&cur) | 1);
}

static const char *const pay_fields[] = {"seq",   "cumulative", "prompt_tokens", "completion_tokens", "price_in_per_1k",
                                         "price_out_per_1k", "cost", "billed", "height", "channel"};

static bool same_json(json_t *a, json_t *b) { return a || b ? json_equal(a, b) : true; }

/* The accepted payment receipt against the honest one: the same but for its height, which a
 * miner may date anywhere within AG_PAY_HEIGHT_SLACK blocks of the chain's (the node here says
 * 100; docs/security.md "An early-dated receipt") and sign again. */
static bool same_payment(json_t *a, json_t *b) {
  if (!a || !b) return same_json(a, b);
  json_t *ca = json_deep_copy(a), *cb = json_deep_copy(b);
  uint64_t h = ag_json_u64_of(a, "height");
  bool dated = !json_equal(json_object_get(a, "height"), json_object_get(b, "height"));
  if (dated) {
    static const char *const moved[] = {"height", "signature"};
    for (size_t i = 0; i < AG_ARRAY_LEN(moved); i++) json_object_del(ca, moved[i]), json_object_del(cb, moved[i]);
  }
  bool ok = json_equal(ca, cb) && (!dated || (h + AG_PAY_HEIGHT_SLACK >= 100 && h <= 100 + AG_PAY_HEIGHT_SLACK));
  json_decref(ca);
  json_decref(cb);
  return ok;
}

/* One change to the answer o, as the input says. */
static void change(json_t *o) {
  json_t *ag = json_object_get(o, "agora"), *pay = json_object_get(ag, "payment");
  switch (get8(&cur) % 8) {
  case 0: set_text(o, fuzz_string()); break;
  case 1: { /* one character more or less, or a NUL and more after the text */
    json_t *t = text_of(o);
    const char *s = json_string_value(t);
    if (!s) break;
    size_t n = json_string_length(t);
    uint8_t how = get8(&cur) % 3;
    if (how == 2 || !n) {
      char *u = ag_xmalloc(n + 3);
      memcpy(u, s, n);
      u[n] = how == 2 ? 0 : (char)(' ' + get8(&cur) % 90);
      u[n + 1] = (char)(' ' + get8(&cur) % 90);
      set_text(o, json_stringn(u, n + 1 + (how == 2)));
      free(u);
    } else if (how == 1) {
      char *u = ag_xmalloc(n + 2);
      memcpy(u, s, n);
      u[n] = (char)(' ' + get8(&cur) % 90);
      set_text(o, json_stringn(u, n + 1));
      free(u);
    } else {
      set_text(o, json_stringn(s, n - 1) ?: json_string(""));
    }
    break;
  }
  case 2: {
    json_t *u = json_object_get(o, "usage");
    json_object_set_new(u, get8(&cur) & 1 ? "prompt_tokens" : "completion_tokens", json_integer(get8(&cur)));
    break;
  }
  case 3: { /* a payment field: small steps, or any number */
    const char *f = pay_fields[get8(&cur) % AG_ARRAY_LEN(pay_fields)];
    if (!strcmp(f, "channel")) {
      uint8_t ch[32];
      memset(ch, get8(&cur), 32);
      json_object_set_new(pay, f, ag_json_hex(ch, 32));
      break;
    }
    uint64_t v = ag_json_u64_of(pay, f);
    uint8_t how = get8(&cur);
    v = how & 1 ? v + (how >> 1) - 64 : (uint64_t)get32(&cur) << (how >> 1) % 33;
    json_object_set_new(pay, f, ag_json_u64s(v));
    break;
  }
  case 4: { /* a byte of the receipt */
    const char *b = json_string_value(json_object_get(ag, "receipt"));
    uint8_t *r;
    size_t n;
    if (!b || ag_b64_decode_alloc(b, strlen(b), 1u << 24, &r, &n)) break;
    flip(r, n);
    char *e = ag_xmalloc(ag_b64_len(n));
    ag_b64_encode(r, n, e);
    json_object_set_new(ag, "receipt", json_string(e));
    free(e);
    free(r);
    break;
  }
  case 5: {
    uint8_t c[32];
    if (hex32(json_string_value(json_object_get(ag, "commitment")), c)) break;
    flip(c, 32);
    json_object_set_new(ag, "commitment", ag_json_hex(c, 32));
    break;
  }
  case 6: {
    static const char *const parts[] = {"payment", "receipt", "commitment", "signature", "request_hash", "model_id"};
    uint8_t k = get8(&cur);
    if (k & 0x80) json_object_del(o, k & 0x40 ? "usage" : "choices");
    else json_object_del(ag, parts[k % AG_ARRAY_LEN(parts)]);
    break;
  }
  default: { /* what the miner does not sign around its proof */
    json_t *c = json_array_get(json_object_get(o, "choices"), 0);
    static const char *const why[] = {"stop", "length", "content_filter", ""};
    uint8_t k = get8(&cur);
    if (k >= 0xf8) { /* the proof's unsigned parts: its uid and model id, and a part of its own */
      if (k & 1) json_object_set_new(ag, "uid", json_integer(get8(&cur)));
      if (k & 2) json_object_set_new(ag, "model_id", json_string("00"));
      if (k & 4) json_object_set_new(ag, "verified_by", json_string("the agora foundation"));
      break;
    }
    switch (k % 6) {
    case 0: json_object_set_new(c, "finish_reason", json_string(why[(k >> 3) % 4])); break;
    case 1: json_object_set_new(o, "object", fuzz_string()); break;
    case 2: json_object_set_new(o, "model", json_string("gpt-4o")); break;
    case 3: json_object_set_new(c, "index", json_integer(k >> 3)); break;
    case 4: json_object_set_new(json_object_get(c, "message"), "role", json_string("system")); break;
    default: json_object_set_new(o, "created", json_string("yesterday")); break;
    }
    break;
  }
  }
}

/* Signs o again as the miner: the answer (its text, commitment and receipt) and, when it
 * parses, the payment receipt. */
static void sign_again(json_t *o, const ag_http_req *req, uint8_t which) {
  json_t *ag = json_object_get(o, "agora");
  uint8_t reqh[32], msg[32], sig[64], commit[32];
  ag_inf_request_hash(req->body, req->body_len, reqh);
  const char *text = json_string_value(text_of(o)), *rb = json_string_value(json_object_get(ag, "receipt"));
  uint8_t *rec = NULL;
  size_t rlen = 0;
  if ((which & 1) && text && rb && !hex32(json_string_value(json_object_get(ag, "commitment")), commit) &&
      !ag_b64_decode_alloc(rb, strlen(rb), 1u << 24, &rec, &rlen)) {
    ag_inf_sig_message(hotkey.pk, reqh, text, json_string_length(text_of(o)), commit, rec, rlen, msg);
    ag_sign(&hotkey, msg, 32, sig);
    json_object_set_new(ag, "signature", ag_json_hex(sig, 64));
  }
  free(rec);
  ag_pay_receipt pr;
  json_t *pay = json_object_get(ag, "payment");
  if ((which & 2) && pay && !ag_pay_receipt_parse(pay, &pr, sig)) {
    ag_pay_receipt_message(hotkey.pk, reqh, &pr, msg);
    ag_sign(&hotkey, msg, 32, sig);
    json_object_set_new(pay, "signature", ag_json_hex(sig, 64));
  }
}

static void h_front(ag_http_req *req, ag_http_resp *resp) {
  calls++;
  if (mode == MODE_RAW) {
    static const int st[] = {200, 402, 400, 500, 404, 429};
    resp->status = st[get8(&cur) % AG_ARRAY_LEN(st)];
    size_t n;
    const uint8_t *p = take(&cur, cur.n, &n);
    ag_buf_put(&resp->body, p, n);
    snprintf(resp->content_type, sizeof resp->content_type, "application/json");
    changed = 1;
    return;
  }
  if (mode == MODE_402 && calls == 1) {
    uint64_t billed = (uint64_t)get32(&cur) << (get8(&cur) % 33), seq = get32(&cur);
    json_t *e = json_pack("{s:{s:s, s:s, s:s, s:n, s:{s:o, s:o}}}", "error", "message", "lied", "type",
                          "invalid_request_error", "code", "insufficient_payment", "param", "price", "billed",
                          ag_json_u64s(billed), "seq", ag_json_u64s(seq));
    return ag_http_json(resp, 402, e);
  }
  json_t *o;
  long status = honest_answer(req, &o);
  json_decref(honest);
  honest = status == 200 && o ? json_deep_copy(o) : NULL;
  if (mode == MODE_CHANGED && status == 200 && json_is_object(o)) {
    int k = get8(&cur) % 5;
    for (int i = 0; i < k; i++) change(o);
    sign_again(o, req, get8(&cur));
    changed = !json_equal(o, honest);
  }
  if (mode == MODE_ID && json_is_object(o)) { /* an id of the miner's choosing: it is not signed */
    static const char *const ids[] = {"cmpl-1\r\nSet-Cookie: a=b", "cmpl-1\r\n\r\nHTTP/1.1 200 OK\r\n", "cmpl\n1",
                                      "cmpl-\x01", ""};
    uint8_t k = get8(&cur);
    json_object_set_new(o, "id", k < 128 ? json_string(ids[k % AG_ARRAY_LEN(ids)]) : fuzz_string());
  }
  if (!o) return ag_http_error(resp, 502, AG_E_INTERNAL, "the miner's answer is not JSON");
  ag_http_json(resp, (int)status, o);
}

static const ag_http_route front_routes[] = {
    {"POST", "/v1/completions", h_front, 1u << 20},
    {"POST", "/v1/chat/completions", h_front, 1u << 20},
};

/* ---- setup ------------------------------------------------------------------------------------------- */

static void key_of(uint8_t tag, ag_keypair *k) {
  uint8_t seed[32] = {tag, 0x62};
  ag_key_from_seed(k, seed);
}

static uint16_t serve(const ag_http_route *routes, size_t n, ag_http_server **srv) {
  ag_http_config c = {"127.0.0.1:0", 1u << 20, routes, n, NULL, NULL, NULL};
  if (ag_http_start(&c, srv)) abort();
  return ag_http_port(*srv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ag_crypto_init();
  ag_log_set_level(AG_LOG_ERROR);
  stats.on = getenv("AGORA_FUZZ_STATS") != NULL;
  fuzz_tmpdir(base, sizeof base, "fuzz_buyer");
  atexit(at_exit);
  model = fuzz_nano_model();
  ag_hex_encode(model->id, 32, model_hex);
  key_of(1, &hotkey);
  key_of(2, &payer);
  key_of(3, &validator);
  ag_addr_encode(hotkey.pk, hot_addr);
  /* the buyer finds the pinned model in its cache, as after a first download */
  snprintf(models_dir, sizeof models_dir, "%s/models", base);
  model_size = fuzz_cache_nano_model(models_dir, model);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", serve(node_routes, AG_ARRAY_LEN(node_routes), &node_srv));
  front_port = serve(front_routes, AG_ARRAY_LEN(front_routes), &front_srv);
  ag_net mnet;
  if (ag_net_open(&mnet, url) || ag_net_open(&net, url)) abort();
  mnet.retries = net.retries = 0;
  char mhome[300];
  snprintf(mhome, sizeof mhome, "%s/miner", base);
  api = fuzz_miner_open(mhome, &mnet, model, &hotkey, &validator, &limits, &miner_cfg);
  ag_buyer_cfg bc = {.home = base, .netuid = 1, .payer = &payer, .payer_name = "fuzz", .policy = AG_BUY_CHEAPEST,
                     .verify = true, .verify_sample = 1, .threads = 1, .attempts = 1};
  if (ag_buyer_open(&net, &bc, &buyer)) abort();
  ag_gateway_cfg gc = {.home = base, .node_url = url, .listen = "127.0.0.1:0", .netuid = 1, .payer = &payer,
                       .payer_name = "fuzz", .verify_sample = 1, .threads = 1};
  if (ag_gateway_open(&gc, &gw, &gw_cfg)) abort();
  http_check_name = "fuzz_buyer";
  http_check_openai = 1;
  return 0;
}

/* ---- an input ----------------------------------------------------------------------------------------- */

static const char *const bodies[] = {
    "{\"model\":\"default\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0}",
    "{\"model\":\"default\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0.8,\"top_p\":0.9,\"seed\":7}",
    ("{\"model\":\"default\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":%d,"
     "\"temperature\":0}"),
};

static void fail(const char *what) {
  fprintf(stderr, "fuzz_buyer: %s (mode %d)\n", what, mode);
  abort();
}

/* One request to the gateway's routes, with its key (or a wrong one), its body the input's
 * shaped one or (with gw & 8) the rest of the input; the miner behind it answers honestly. */
static void through_gateway(uint8_t gw_flags, const char *shaped, bool chat) {
  static const char *const routes[] = {"POST /v1/completions", "POST /v1/chat/completions", "GET /v1/models",
                                       "GET /v1/models/", "GET /v1/usage"};
  uint8_t route = get8(&cur);
  uint64_t budget = route & 0x80 ? 1 : AG_UNIT; /* a base unit pays for no answer */
  char key[72];
  ag_gateway_key_remove(base, "fuzz");
  if (ag_gateway_key_add(base, "fuzz", budget, key)) abort();
  route = (route & 0x7f) % AG_ARRAY_LEN(routes);
  if (route < 2 && !(gw_flags & 8)) route = chat;
  char *body = gw_flags & 8 ? fuzz_shape_body(cur.p, cur.n, MAX_TOKENS) : ag_xstrdup(shaped);
  if (gw_flags & 16 && route < 2) { /* as a stream, with the usage */
    json_t *o = json_loads(body, 0, NULL);
    if (json_is_object(o)) {
      json_object_set_new(o, "stream", json_true());
      json_object_set_new(o, "stream_options", json_pack("{s:b}", "include_usage", 1));
      free(body);
      body = json_dumps(o, JSON_COMPACT);
    }
    json_decref(o);
  }
  ag_buf raw, out;
  ag_buf_init(&raw);
  ag_buf_init(&out);
  ag_buf_printf(&raw, "%s%s HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n", routes[route],
                route == 3 ? (gw_flags & 32 ? model_hex : "default") : "", gw_flags & 64 ? "agk-wrong" : key);
  if (route < 2) ag_buf_printf(&raw, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
  else ag_buf_puts(&raw, "\r\n");
  cur_in = raw.data;
  cur_n = raw.len;
  ag_http_serve_bytes(&gw_cfg, raw.data, raw.len, &out);
  http_check(&out, 0, 0);
  ag_buf_cstr(&out);
  const char *o = (const char *)out.data, *sep = o ? strstr(o, "\r\n\r\n") : NULL;
  /* only the headers the gateway sends: none of a miner's making */
  static const char *const sent[] = {"Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Date",
                                     "Cache-Control", "Retry-After", "x-agora-provider", "x-request-id"};
  for (const char *l = o ? strstr(o, "\r\n") : NULL; l && l < sep; l = strstr(l + 2, "\r\n")) {
    const char *name = l + 2, *colon = strchr(name, ':');
    if (name == sep + 2) break;
    bool known = false;
    for (size_t i = 0; colon && i < AG_ARRAY_LEN(sent); i++)
      known |= (size_t)(colon - name) == strlen(sent[i]) && !strncasecmp(name, sent[i], strlen(sent[i]));
    if (!known) fail("the gateway sent a header it does not send");
  }
  long status = 0;
  if (sep && sscanf(o, "HTTP/1.1 %ld", &status) == 1 && status == 200 && route < 2) {
    stats.gateway_ok++;
    if (!honest) fail("the gateway answered with no honest answer behind it");
    if (!strstr(o, "text/event-stream")) {
      json_t *a = json_loads(sep + 4, 0, NULL);
      if (!json_equal(text_of(a), text_of(honest))) fail("the gateway answered with a text the miner did not give");
      json_decref(a);
    }
  }
  if (status == 200 && (gw_flags & 64)) fail("the gateway answered a wrong key");
  /* what the key spent: never more than its budget */
  json_t *keys;
  if (ag_gateway_keys_list(base, &keys)) fail("the key store cannot be read");
  json_t *k = json_array_get(keys, 0);
  if (ag_json_u64_of(k, "spent") > budget) fail("a key spent more than its budget");
  json_decref(keys);
  stats.gateway++;
  free(body);
  ag_buf_free(&raw);
  ag_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cur = (in_t){data, size};
  uint8_t head = get8(&cur), second = get8(&cur);
  mode = head % MODE_N;
  int which = (head >> 2) % (int)AG_ARRAY_LEN(bodies), max_tokens = 1 + (head >> 4) % MAX_TOKENS;
  static const char *const prompts[] = {"The", "Once upon a time", "a", "Fortune favors"};
  char body[512];
  snprintf(body, sizeof body, bodies[which], prompts[second % 4], max_tokens);
  bool chat = which == 2;
  ag_inf_request r;
  const char *param;
  if (ag_inf_request_parse(chat, (const uint8_t *)body, strlen(body), &r, &param)) abort();

  /* a channel of its own, its book as a client keeps it */
  ag_pay_client cl;
  memset(&cl, 0, sizeof cl);
  ag_channel_id(CHAIN, payer.pk, nonce++, cl.channel);
  memcpy(cl.provider, hotkey.pk, 32);
  memcpy(cl.model, model->id, 32);
  cl.deposit = DEPOSIT;
  char book[1200];
  ag_pay_client_path(base, payer.pk, hotkey.pk, model->id, book, sizeof book);
  if (ag_pay_client_save(book, &cl)) abort();

  calls = 0;
  changed = 0;
  json_decref(honest);
  honest = NULL;
  if (second & 4) { /* the gateway, its miner honest: a wrong answer keeps a miner out for minutes */
    mode = second & 128 ? MODE_ID : MODE_HONEST;
    through_gateway(second, body, chat);
    ag_inf_request_free(&r);
    remove(book);
    ag_err_clear();
    return 0;
  }
  /* a lying node is met by a buyer of its own (a buyer keeps the offers it read for 10 s) */
  ag_buyer *by = buyer;
  if (second & 8) {
    ag_buyer_cfg bc = {.home = base, .netuid = 1, .payer = &payer, .payer_name = "fuzz", .policy = AG_BUY_CHEAPEST,
                       .verify = true, .verify_sample = 1, .threads = 1, .attempts = 1};
    if (ag_buyer_open(&net, &bc, &by)) abort();
    lie_at = 1 + get8(&cur) % (LIE_N - 1);
    stats.lies++;
  }
  ag_buy_result res;
  int rc = ag_buy(by, chat, body, &r, 0, UINT64_MAX, &res);
  lie_at = LIE_NONE;
  if (by != buyer) ag_buyer_close(by);

  ag_pay_client after;
  if (ag_pay_client_load(book, &after)) fail("the client's book cannot be read back");
  if (after.billed > after.signed_max) fail("the book holds more billed than the client signed");
  if (after.signed_max > DEPOSIT) fail("the client signed for more than the deposit");
  if (!rc) {
    stats.accepted++;
    if (mode == MODE_RAW) fail("an answer made of raw bytes was accepted");
    if (!honest) fail("an answer was accepted with no honest answer behind it");
    if (!json_equal(text_of(res.resp), text_of(honest))) fail("a changed text was accepted");
    json_t *c = json_array_get(json_object_get(res.resp, "choices"), 0),
           *hc = json_array_get(json_object_get(honest, "choices"), 0);
    if (!json_equal(json_object_get(c, "finish_reason"), json_object_get(hc, "finish_reason")))
      fail("an accepted answer's finish reason is not the honest one");
    uint64_t cost = ag_json_u64_of(json_object_get(json_object_get(honest, "agora"), "payment"), "cost");
    if (res.cost != cost) fail("the cost accepted is not the honest receipt's");
    static const char *const same[] = {"object", "model"};
    for (size_t i = 0; i < AG_ARRAY_LEN(same); i++)
      if (!json_equal(json_object_get(res.resp, same[i]), json_object_get(honest, same[i])))
        fail("an accepted answer's object or model is not the honest one");
    json_t *role = json_object_get(json_object_get(c, "message"), "role"),
           *hrole = json_object_get(json_object_get(hc, "message"), "role");
    if (!json_equal(json_object_get(c, "index"), json_object_get(hc, "index")) ||
        (role || hrole ? !json_equal(role, hrole) : 0) ||
        !json_is_integer(json_object_get(res.resp, "created")))
      fail("an accepted answer is not in OpenAI's shape");
    /* the proof: its signed parts as the miner signed them, the rest what the client knows */
    json_t *ag = json_object_get(res.resp, "agora"), *hag = json_object_get(honest, "agora");
    static const char *const signed_parts[] = {"request_hash", "commitment", "signature", "receipt", "hotkey",
                                               "model_id", "payment"};
    for (size_t i = 0; i < AG_ARRAY_LEN(signed_parts); i++) {
      json_t *a = json_object_get(ag, signed_parts[i]), *h = json_object_get(hag, signed_parts[i]);
      if (!(strcmp(signed_parts[i], "payment") ? same_json(a, h) : same_payment(a, h)))
        fail("an accepted answer's proof is not the one checked");
    }
    if (json_integer_value(json_object_get(ag, "uid")) != res.uid || json_object_size(ag) != 7 + (json_object_get(ag, "payment") != NULL))
      fail("an accepted answer's proof holds parts the client did not check");
    json_t *u = json_object_get(res.resp, "usage");
    if (json_integer_value(json_object_get(u, "prompt_tokens")) != res.vd.n_prompt ||
        json_integer_value(json_object_get(u, "completion_tokens")) != res.vd.n_out)
      fail("an accepted answer's usage is not the one verified");
  } else if (changed) {
    stats.changed_refused++;
  }
  for (size_t i = 0; i < json_array_size(res.attempts); i++) {
    json_t *a = json_array_get(res.attempts, i);
    if (strcmp(json_string_value(json_object_get(a, "result")) ?: "", "ok") &&
        !json_is_string(json_object_get(a, "why")))
      fail("a refused attempt does not say why");
    stats.faults += json_object_get(a, "fault") != NULL;
  }
  stats.by_mode[mode]++;
  stats.inputs++;
  ag_buy_result_free(&res);
  ag_inf_request_free(&r);
  /* evidence of wrong answers: one file each, dropped so that a long run stays small */
  char dir[400];
  snprintf(dir, sizeof dir, "%s/disputes", base);
  ag_rm_tree(dir);
  remove(book);
  ag_err_clear();
  return 0;
}
