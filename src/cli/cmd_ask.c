/* cmd_ask.c — `agora ask "SENTENCE"`: plain language to a previewed, signed transaction
 * (docs/agents.md "agora ask"). The model only fills a closed form (subnets/intent.c); this
 * file resolves names through the wallet and the address book, builds the txs, has the node
 * simulate them on a copy of its state, renders the preview from the tx bytes and the
 * simulation, and signs only after a typed confirmation. */
#include "chain/json.h"
#include "chain/tx.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "incentive/internal.h"
#include "subnets/buyer.h"
#include "subnets/intent.h"
#include "subnets/netclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char usage[] =
    "usage: agora ask [--from KEY] [--model FILE] [--threads N] [--dry-run] [--confirm HASH] SENTENCE\n\n"
    "Says what SENTENCE asks for as actions, previews them from the transactions' own bytes and\n"
    "the node's simulation of them, and signs only after you type 'yes' (or the total amount).\n"
    "The model (--model, AGORA_ASK_MODEL, else SmolLM2-135M-Instruct as scripts/bootstrap installs\n"
    "it) only fills a closed form; names resolve only through this wallet's keys and contacts\n"
    "(agora contacts), amounts only from numbers in the sentence with their unit. Anything\n"
    "missing or unclear is a question back. --dry-run signs nothing; with --json it prints\n"
    "{intent, actions, questions, preview} (docs/cli.md). --json without --dry-run signs only\n"
    "with --confirm and the preview's hash from a dry run.\n";

#define BUY_SUBNET 1          /* the inference subnet a purchase asks, as `agora infer` does */
#define BUY_MAX_TOKENS 128    /* the answer's most */

static void default_model(const ag_cli *c, char *out, size_t cap) {
  const char *env = getenv("AGORA_ASK_MODEL");
  const char *file = "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return;
  }
  ag_cli_path(c, "models/ask.gguf", out, cap);
  if (ag_file_exists(out)) return;
  const char *cache = getenv("AGORA_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (cache && *cache) snprintf(out, cap, "%s/models/%s", cache, file);
  else if (xdg && *xdg) snprintf(out, cap, "%s/agora/models/%s", xdg, file);
  else snprintf(out, cap, "%s/.cache/agora/models/%s", home ? home : ".", file);
}

/* The names ask may use: this wallet's keys, then the contacts. */
typedef struct {
  ag_intent_name *v;
  char (*names)[80];
  int n;
  ag_keypair hot; /* a hotkey to register, loaded once (an encrypted key asks once) */
  int hot_loaded;
} book_store;

static void book_load(const ag_cli *c, book_store *b) {
  char dir[1100];
  ag_cli_path(c, "keys", dir, sizeof dir);
  ag_keyinfo *keys = NULL;
  size_t nk = 0;
  if (ag_keystore_list(dir, &keys, &nk)) nk = 0;
  json_t *cs = ag_contacts_load(c), *list = json_object_get(cs, "contacts");
  size_t total = nk + json_array_size(list);
  memset(b, 0, sizeof *b);
  b->v = ag_xcalloc(total + 1, sizeof *b->v);
  b->names = ag_xcalloc(total + 1, sizeof *b->names);
  b->n = 0;
  for (size_t i = 0; i < nk; i++, b->n++) {
    snprintf(b->names[b->n], sizeof b->names[0], "%s", keys[i].name);
    memcpy(b->v[b->n].pk, keys[i].pk, 32);
    b->v[b->n].is_key = 1;
  }
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *e = json_array_get(list, i);
    const char *name = json_string_value(json_object_get(e, "name")), *addr = json_string_value(json_object_get(e, "address"));
    if (!name || !addr || ag_addr_decode(addr, b->v[b->n].pk)) continue;
    snprintf(b->names[b->n], sizeof b->names[0], "%s", name);
    b->n++;
  }
  for (int i = 0; i < b->n; i++) b->v[i].name = b->names[i];
  free(keys);
  json_decref(cs);
}

static const char *label_of(const book_store *b, const uint8_t pk[32]) {
  for (int i = 0; i < b->n; i++)
    if (!memcmp(b->v[i].pk, pk, 32)) return b->v[i].name;
  return NULL;
}

/* The name of the wallet key with this public key, or NULL. */
static const char *key_name_of(const book_store *b, const uint8_t pk[32]) {
  for (int i = 0; i < b->n; i++)
    if (b->v[i].is_key && !memcmp(b->v[i].pk, pk, 32)) return b->v[i].name;
  return NULL;
}

/* ---- building the txs ----------------------------------------------------------------------- */

typedef struct {
  char chain_id[AG_CHAIN_ID_MAX + 1];
  uint64_t height, settle_delay, min_deposit;
  ag_params params;
} chain_info;

static int chain_read(ag_cli *c, chain_info *ci) {
  json_t *st, *eco = NULL;
  int rc = ag_cli_api(c, "GET", "/v1/status", NULL, NULL, 0, &st);
  if (rc) return rc;
  memset(ci, 0, sizeof *ci);
  snprintf(ci->chain_id, sizeof ci->chain_id, "%s", json_string_value(json_object_get(st, "chain_id")) ?: "");
  ci->height = ag_cli_json_u64(st, "height");
  ag_params_default(&ci->params);
  json_t *p = json_object_get(st, "params");
  ci->params.base_fee = ag_cli_json_u64(p, "base_fee");
  ci->params.per_byte_fee = ag_cli_json_u64(p, "per_byte_fee");
  json_decref(st);
  ci->settle_delay = 100;
  if (ag_cli_api(c, "GET", "/v1/economy", NULL, NULL, 0, &eco) == 0) {
    uint64_t d = ag_cli_json_u64(eco, "min_settle_delay");
    if (d > ci->settle_delay) ci->settle_delay = d;
    ci->min_deposit = ag_cli_json_u64(eco, "min_deposit");
  }
  json_decref(eco);
  return 0;
}

/* The model a provider offers on the chain's inference subnets, or zeros. */
static void provider_model(ag_cli *c, const uint8_t provider[32], uint8_t model[32]) {
  memset(model, 0, 32);
  json_t *subs;
  if (ag_cli_api(c, "GET", "/v1/subnets", NULL, NULL, 0, &subs)) return;
  json_t *arr = json_object_get(subs, "subnets");
  char addr[AG_ADDR_MAX];
  ag_addr_encode(provider, addr);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const char *m = json_string_value(json_object_get(json_object_get(json_array_get(arr, i), "model"), "id"));
    if (!m || strlen(m) != 64) continue;
    char path[200];
    snprintf(path, sizeof path, "/v1/offers?model=%s", m);
    json_t *o;
    if (ag_cli_api(c, "GET", path, NULL, NULL, 0, &o)) continue;
    json_t *offers = json_object_get(o, "offers");
    for (size_t j = 0; j < json_array_size(offers); j++)
      if (!strcmp(json_string_value(json_object_get(json_array_get(offers, j), "provider")) ?: "", addr))
        ag_hex_decode(m, 64, model, 32);
    json_decref(o);
  }
  json_decref(subs);
}

/* The newest channel to provider that from opened itself and that is still open, found in its
 * history (its channel_open txs among its newest 500 txs; a channel's id is from's address and
 * the open's nonce): 0 with its id, else AG_E_CHANNEL_NOT_FOUND. */
static int own_channel(ag_cli *c, const chain_info *ci, const uint8_t from[32], const uint8_t provider[32],
                       uint8_t id[32]) {
  char addr[AG_ADDR_MAX], prov[AG_ADDR_MAX], path[300], cursor[64] = "";
  ag_addr_encode(from, addr);
  ag_addr_encode(provider, prov);
  int found = 0;
  for (int page = 0; page < 5 && !found; page++) {
    snprintf(path, sizeof path, "/v1/accounts/%s/txs?limit=100%s%s", addr, cursor[0] ? "&before=" : "", cursor);
    json_t *h;
    if (ag_cli_api(c, "GET", path, NULL, NULL, 0, &h)) break;
    json_t *txs = json_object_get(h, "txs");
    for (size_t i = 0; i < json_array_size(txs) && !found; i++) {
      json_t *t = json_array_get(txs, i), *full, *ch;
      if (strcmp(json_string_value(json_object_get(t, "kind")) ?: "", "channel_open") ||
          !json_is_true(json_object_get(t, "sent")) || strcmp(json_string_value(json_object_get(t, "result")) ?: "", "ok"))
        continue;
      snprintf(path, sizeof path, "/v1/txs/%s", json_string_value(json_object_get(t, "hash")) ?: "");
      if (ag_cli_api(c, "GET", path, NULL, NULL, 0, &full)) continue;
      json_t *tx = json_object_get(full, "tx");
      const char *p = json_string_value(json_object_get(json_object_get(tx, "payload"), "provider"));
      if (p && !strcmp(p, prov)) {
        uint8_t cand[32];
        char hex[65];
        ag_channel_id(ci->chain_id, from, ag_json_u64_of(tx, "nonce"), cand);
        ag_hex_encode(cand, 32, hex);
        snprintf(path, sizeof path, "/v1/channels/%s", hex);
        if (ag_cli_api(c, "GET", path, NULL, NULL, 0, &ch) == 0) {
          found = !strcmp(json_string_value(json_object_get(ch, "status")) ?: "", "open");
          if (found) memcpy(id, cand, 32);
          json_decref(ch);
        }
      }
      json_decref(full);
    }
    const char *next = json_string_value(json_object_get(h, "next"));
    if (next) snprintf(cursor, sizeof cursor, "%s", next);
    json_decref(h);
    if (!next) break;
  }
  return found ? 0 : AG_E_CHANNEL_NOT_FOUND;
}

/* The payload of a tx action; 1 for an action that is not a tx (a query, or a purchase, made
 * after the txs are signed), an AG_E_* code with a message for one this command cannot build. */
static int payload_of(ag_cli *c, book_store *b, const chain_info *ci, json_t *a, uint16_t *kind, ag_buf *p,
                      uint8_t from[32]) {
  const char *k = json_string_value(json_object_get(a, "kind"));
  uint8_t x[32], model[32];
  const char *f = json_string_value(json_object_get(a, "from"));
  if (!f || ag_addr_decode(f, from)) return 1;
  uint64_t amt = ag_json_u64_of(a, !strcmp(k, "channel_open") ? "deposit" : !strcmp(k, "agent_key_add") ? "lifetime_cap" : "amount");
  if (!strcmp(k, "transfer")) {
    ag_addr_decode(json_string_value(json_object_get(a, "to")), x);
    ag_transfer_encode(p, x, amt);
    *kind = AG_TX_TRANSFER;
  } else if (!strcmp(k, "stake_add") || !strcmp(k, "stake_remove")) {
    ag_addr_decode(json_string_value(json_object_get(a, "hotkey")), x);
    ag_buf_put(p, x, 32);
    ag_buf_put_u64le(p, amt);
    *kind = k[6] == 'a' ? AG_TX_STAKE_ADD : AG_TX_STAKE_REMOVE;
  } else if (!strcmp(k, "channel_open")) {
    ag_addr_decode(json_string_value(json_object_get(a, "provider")), x);
    provider_model(c, x, model);
    ag_payload_channel_open(p, x, NULL, model, amt, ci->settle_delay, 0);
    *kind = AG_TX_CHANNEL_OPEN;
  } else if (!strcmp(k, "channel_close")) {
    uint8_t id[32];
    ag_addr_decode(json_string_value(json_object_get(a, "provider")), x);
    if (own_channel(c, ci, from, x, id))
      return ag_fail(AG_E_CHANNEL_NOT_FOUND, "you have no open channel to %s that you opened yourself "
                                             "(agora channel close ID closes any channel)",
                     json_string_value(json_object_get(a, "provider")));
    ag_payload_channel_close(p, id);
    *kind = AG_TX_CHANNEL_CLOSE;
  } else if (!strcmp(k, "agent_key_add")) {
    ag_agent_terms t;
    memset(&t, 0, sizeof t);
    ag_addr_decode(json_string_value(json_object_get(a, "agent")), x);
    t.kinds = 1ULL << AG_TX_CHANNEL_OPEN | 1ULL << AG_TX_CHANNEL_FUND | 1ULL << AG_TX_CHANNEL_CLOSE | 1ULL << AG_TX_DISPUTE_OPEN;
    t.flags = AG_AGENT_ANY_PROVIDER;
    t.anchor = ci->height + 1;
    t.expires = t.anchor + 100000;
    t.period = 600;
    t.max_per_tx = t.period_cap = t.lifetime_cap = amt;
    t.fee_cap = AG_UNIT;
    ag_payload_agent_key_set(p, x, &t);
    *kind = AG_TX_AGENT_KEY_SET;
  } else if (!strcmp(k, "agent_key_revoke")) {
    ag_addr_decode(json_string_value(json_object_get(a, "agent")), x);
    ag_buf_put(p, from, 32);
    ag_buf_put(p, x, 32);
    *kind = AG_TX_AGENT_KEY_REVOKE;
  } else if (!strcmp(k, "register")) {
    /* the hotkey, a key of this wallet, signs its claim: that the coldkey may register it */
    ag_addr_decode(json_string_value(json_object_get(a, "hotkey")), x);
    const char *name = key_name_of(b, x);
    json_int_t netuid = json_integer_value(json_object_get(a, "netuid"));
    char path[64];
    snprintf(path, sizeof path, "/v1/subnets/%lld", (long long)netuid);
    json_t *sj;
    if (!name) return ag_fail(AG_E_KEY_NOT_FOUND, "the hotkey to register is not a key of this wallet");
    int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &sj);
    if (rc) return rc;
    /* the most it may burn: the cost right after the last registration, from which the cost
     * decays block by block; the tx (and the preview's hash) stays the same from a dry run to
     * the signing unless someone registers in between, and the chain burns the cost of the block */
    uint64_t cost = ag_cli_json_u64(sj, "registration_cost_max");
    json_decref(sj);
    if (!b->hot_loaded || memcmp(b->hot.pk, x, 32)) {
      if (b->hot_loaded) ag_key_wipe(&b->hot);
      b->hot_loaded = 0;
      if ((rc = ag_cli_load_signer(c, name, ci->chain_id, &b->hot))) return rc;
      b->hot_loaded = 1;
    }
    ag_payload_register(p, ci->chain_id, (uint16_t)netuid, from, &b->hot, cost);
    *kind = AG_TX_REGISTER;
  } else if (!strcmp(k, "balance") || !strcmp(k, "stake_info") || !strcmp(k, "metagraph") || !strcmp(k, "buy")) {
    return 1;
  } else {
    return ag_fail(AG_E_UNSUPPORTED, "agora ask cannot yet sign a %s: use the command for it (docs/cli.md)", k);
  }
  return 0;
}

/* ---- the preview: from the tx bytes and the simulation, never from the model's words --------- */

static void name_addr(const book_store *b, const uint8_t pk[32], ag_buf *out) {
  char addr[AG_ADDR_MAX];
  ag_addr_encode(pk, addr);
  const char *l = label_of(b, pk);
  if (l) ag_buf_printf(out, "%s (%s)", l, addr);
  else ag_buf_printf(out, "%s", addr);
}

static void agr(uint64_t v, ag_buf *out) {
  char a[32];
  ag_amount_format(v, a);
  ag_buf_printf(out, "%s AGR", a);
}

static void render_tx(const book_store *b, const ag_tx *tx, int i, ag_buf *out) {
  const uint8_t *p = tx->payload;
  ag_buf_printf(out, "%d. ", i + 1);
  switch (tx->kind) {
  case AG_TX_TRANSFER:
    ag_buf_printf(out, "send ");
    agr(ag_get_u64le(p + 32), out);
    ag_buf_printf(out, " to ");
    name_addr(b, p, out);
    break;
  case AG_TX_STAKE_ADD:
  case AG_TX_STAKE_REMOVE:
    ag_buf_printf(out, tx->kind == AG_TX_STAKE_ADD ? "stake " : "unstake ");
    agr(ag_get_u64le(p + 32), out);
    ag_buf_printf(out, tx->kind == AG_TX_STAKE_ADD ? " on hotkey " : " from hotkey ");
    name_addr(b, p, out);
    break;
  case AG_TX_CHANNEL_OPEN:
    ag_buf_printf(out, "open a payment channel to ");
    name_addr(b, p, out);
    ag_buf_printf(out, " holding ");
    agr(ag_get_u64le(p + 96), out);
    ag_buf_printf(out, " (settle delay %llu blocks)", (unsigned long long)ag_get_u64le(p + 104));
    break;
  case AG_TX_CHANNEL_CLOSE: {
    char hex[65];
    ag_hex_encode(p, 32, hex);
    ag_buf_printf(out, "close payment channel %.16s… (what it still holds comes back after its settle delay)", hex);
    break;
  }
  case AG_TX_AGENT_KEY_SET:
    ag_buf_printf(out, "let agent key ");
    name_addr(b, p, out);
    ag_buf_printf(out, " spend up to ");
    agr(ag_get_u64le(p + 33 + 8 * 6), out);
    ag_buf_printf(out, " in all (channels and disputes with any provider that has an offer; expires at height %llu)",
                  (unsigned long long)ag_get_u64le(p + 33 + 8));
    break;
  case AG_TX_REGISTER:
    ag_buf_printf(out, "register hotkey ");
    name_addr(b, p + 2, out);
    ag_buf_printf(out, " on subnet %u, burning at most ", (unsigned)ag_get_u16le(p));
    agr(ag_get_u64le(p + 34), out);
    break;
  case AG_TX_AGENT_KEY_REVOKE:
    ag_buf_printf(out, "revoke agent key ");
    name_addr(b, p + 32, out);
    break;
  default: ag_buf_printf(out, "%s", ag_tx_kind_name(tx->kind));
  }
  ag_buf_printf(out, "\n   signed by ");
  name_addr(b, tx->sender, out);
  ag_buf_printf(out, ", fee ");
  agr(tx->fee, out);
  ag_buf_printf(out, "\n");
}

/* ---- a purchase ------------------------------------------------------------------------------ */

/* Buys a verified answer to the action's prompt (as a chat message, greedy, at most
 * BUY_MAX_TOKENS) from subnet BUY_SUBNET, paid by k: the cheapest miner whose price for it is
 * within the budget, through a channel holding the budget (or the chain's least deposit) when
 * none to that miner has room, the answer re-executed before it is shown. */
static int buy_answer(ag_cli *c, json_t *a, const ag_keypair *k, const char *from, int threads) {
  char url[256];
  ag_cli_node_url(c, url, sizeof url);
  ag_net net;
  int rc = ag_net_open(&net, url);
  if (rc) return rc;
  uint64_t budget = ag_json_u64_of(a, "budget");
  ag_buyer_cfg bc = {.home = c->home, .netuid = BUY_SUBNET, .payer = k, .payer_name = from, .deposit = budget,
                     .policy = AG_BUY_CHEAPEST, .verify = true, .verify_sample = 1, .threads = threads, .attempts = 3,
                     .log = !c->json};
  ag_buyer *buyer;
  if ((rc = ag_buyer_open(&net, &bc, &buyer))) return rc;
  json_t *o = json_pack("{s:s, s:[{s:s, s:s}], s:i, s:i}", "model", ag_buyer_model_name(buyer), "messages", "role", "user",
                        "content", json_string_value(json_object_get(a, "prompt")) ?: "", "max_tokens", BUY_MAX_TOKENS,
                        "temperature", 0);
  ag_buy_result res;
  rc = ag_buy_json(buyer, true, o, -1, budget, &res);
  json_decref(o);
  if (!rc) {
    json_t *text = json_object_get(json_object_get(json_array_get(json_object_get(res.resp, "choices"), 0), "message"),
                                   "content");
    char cost[32];
    ag_amount_format(res.cost, cost);
    if (c->json) {
      ag_cli_print_json(json_pack("{s:s, s:O, s:s, s:s, s:b}", "kind", "buy", "answer", text, "cost", cost, "miner",
                                  res.hotkey, "verified", res.verified));
    } else {
      printf("%s\n", json_string_value(text) ?: "");
      printf("(paid %s AGR to miner %s; the answer was verified by re-execution)\n", cost, res.hotkey);
    }
  }
  ag_buy_result_free(&res);
  ag_buyer_close(buyer);
  return rc;
}

/* ---- the command ---------------------------------------------------------------------------- */

typedef struct {
  ag_buf tx[AG_INTENT_MAX_ACTIONS];
  uint8_t from[AG_INTENT_MAX_ACTIONS][32];
  int ntx;
} batch;

static void batch_free(batch *b) {
  for (int i = 0; i < b->ntx; i++) ag_buf_free(&b->tx[i]);
  b->ntx = 0;
}

/* Builds the batch with nonces from the node (pending: to sign; committed: to simulate). */
static int build(ag_cli *c, book_store *b, const chain_info *ci, json_t *actions, int pending, batch *bt,
                 json_t *queries) {
  memset(bt, 0, sizeof *bt);
  uint64_t next[AG_INTENT_MAX_ACTIONS];
  uint8_t seen[AG_INTENT_MAX_ACTIONS][32];
  int nseen = 0;
  for (size_t i = 0; i < json_array_size(actions); i++) {
    json_t *a = json_array_get(actions, i);
    ag_buf p;
    ag_buf_init(&p);
    uint16_t kind = 0;
    uint8_t from[32];
    int r = payload_of(c, b, ci, a, &kind, &p, from);
    if (r < 0) {
      ag_buf_free(&p);
      batch_free(bt);
      return r;
    }
    if (r > 0) {
      json_array_append(queries, a);
      ag_buf_free(&p);
      continue;
    }
    int s = 0;
    while (s < nseen && memcmp(seen[s], from, 32)) s++;
    if (s == nseen) {
      char path[160], addr[AG_ADDR_MAX];
      ag_addr_encode(from, addr);
      snprintf(path, sizeof path, "/v1/accounts/%s", addr);
      json_t *acct;
      int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &acct);
      if (rc) {
        ag_buf_free(&p);
        batch_free(bt);
        return rc;
      }
      memcpy(seen[nseen], from, 32);
      next[nseen++] = ag_cli_json_u64(acct, pending ? "pending_nonce" : "nonce");
      json_decref(acct);
    }
    uint64_t fee;
    ag_tx_min_fee(ci->params.base_fee, ci->params.per_byte_fee, kind, p.data, p.len, ag_tx_size(strlen(ci->chain_id), p.len),
                  &fee);
    ag_keypair k; /* the signature comes later: built with a zero key for the preview */
    memset(&k, 0, sizeof k);
    memcpy(k.pk, from, 32);
    ag_buf_init(&bt->tx[bt->ntx]);
    ag_tx_build(&bt->tx[bt->ntx], kind, ci->chain_id, &k, next[s]++, fee, 0, p.data, (uint32_t)p.len);
    memcpy(bt->from[bt->ntx], from, 32);
    bt->ntx++;
    ag_buf_free(&p);
  }
  return 0;
}

static int simulate(ag_cli *c, const batch *bt, json_t **out) {
  json_t *txs = json_array();
  for (int i = 0; i < bt->ntx; i++) json_array_append_new(txs, ag_json_hex(bt->tx[i].data, bt->tx[i].len));
  json_t *body = json_pack("{s:o}", "txs", txs);
  char *s = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  int rc = ag_cli_api(c, "POST", "/v1/simulate", "application/json", s, strlen(s), out);
  free(s);
  return rc;
}

/* The preview text: each tx from its bytes, then what the simulation changed. */
/* The preview's text into out; *txs_len is how much of it the txs take (each as it will be
 * signed, and whether the simulation refuses it): what the preview's hash covers. */
static int preview(const book_store *b, const chain_info *ci, const batch *bt, json_t *sim, json_t *buys, ag_buf *out,
                   uint64_t *total, size_t *txs_len) {
  int ok = 1;
  *total = 0;
  for (int i = 0; i < bt->ntx; i++) {
    ag_tx tx;
    if (ag_tx_decode(bt->tx[i].data, bt->tx[i].len, &tx)) continue;
    render_tx(b, &tx, i, out);
    json_t *r = json_array_get(json_object_get(sim, "results"), (size_t)i);
    const char *code = json_string_value(json_object_get(r, "code")) ?: "?";
    if (strcmp(code, "ok")) {
      ok = 0;
      ag_buf_printf(out, "   WOULD FAIL: %s (%s)\n", json_string_value(json_object_get(r, "message")) ?: "", code);
    }
  }
  /* a purchase is made after the txs, by the buyer `agora infer` uses: its most is what may
   * leave the balance (into a payment channel; what the answers do not spend comes back when it
   * closes) */
  for (size_t i = 0; i < json_array_size(buys); i++) {
    json_t *a = json_array_get(buys, i);
    uint64_t budget = ag_json_u64_of(a, "budget"), dep = budget > ci->min_deposit ? budget : ci->min_deposit;
    ag_buf_printf(out, "%d. buy a verified answer to \"%s\" from subnet %d's cheapest miner, paying at most ",
                  bt->ntx + (int)i + 1, json_string_value(json_object_get(a, "prompt")) ?: "", BUY_SUBNET);
    agr(budget, out);
    ag_buf_printf(out, "\n   through a payment channel to that miner (one of ");
    agr(dep, out);
    ag_buf_printf(out, " is opened if you have none with room; what it does not spend comes back when it closes)\n"
                       "   signed by ");
    uint8_t pk[32];
    if (!ag_addr_decode(json_string_value(json_object_get(a, "from")) ?: "", pk)) name_addr(b, pk, out);
    ag_buf_printf(out, "\n");
    *total += dep;
  }
  *txs_len = out->len;
  json_t *accts = json_object_get(sim, "accounts");
  if (json_array_size(accts)) ag_buf_printf(out, "balances after:\n");
  for (size_t i = 0; i < json_array_size(accts); i++) {
    json_t *a = json_array_get(accts, i);
    uint8_t pk[32];
    if (ag_addr_decode(json_string_value(json_object_get(a, "address")) ?: "", pk)) continue;
    uint64_t x = ag_json_u64_of(json_object_get(a, "before"), "balance"), y = ag_json_u64_of(json_object_get(a, "after"), "balance");
    if (x == y) continue;
    ag_buf_printf(out, "   ");
    name_addr(b, pk, out);
    ag_buf_printf(out, ": ");
    agr(x, out);
    ag_buf_printf(out, " -> ");
    agr(y, out);
    ag_buf_printf(out, "\n");
    for (int t = 0; t < bt->ntx; t++)
      if (!memcmp(bt->from[t], pk, 32) && x > y) {
        *total += x - y; /* what the signers' balances fall by, fees included */
        break;
      }
  }
  json_t *stakes = json_object_get(sim, "stakes");
  for (size_t i = 0; i < json_array_size(stakes); i++) {
    json_t *s = json_array_get(stakes, i);
    uint8_t hk[32];
    if (ag_addr_decode(json_string_value(json_object_get(s, "hotkey")) ?: "", hk)) continue;
    ag_buf_printf(out, "   stake on ");
    name_addr(b, hk, out);
    ag_buf_printf(out, ": ");
    agr(ag_json_u64_of(s, "before"), out);
    ag_buf_printf(out, " -> ");
    agr(ag_json_u64_of(s, "after"), out);
    ag_buf_printf(out, "\n");
  }
  ag_buf_printf(out, "total leaving your balance: ");
  agr(*total, out);
  ag_buf_printf(out, "\n");
  return ok;
}

/* Over the txs' part of the preview, not the balances: those of an account that earns move
 * every block, and a hash over them never matched again on a live chain. */
static void preview_hash(const ag_buf *text, size_t txs_len, char out[17]) {
  uint8_t h[32];
  ag_hash("agora/askpreview", text->data, txs_len, h);
  ag_hex_encode(h, 8, out);
}

int ag_cmd_ask(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *model = NULL, *threads_s = NULL, *confirm = NULL;
  bool dry = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},       {"model", 'm', 1, &model, NULL},
                   {"threads", 't', 1, &threads_s, NULL}, {"confirm", 0, 1, &confirm, NULL},
                   {"dry-run", 'n', 0, NULL, &dry},      {"", 0, 0, NULL, NULL}};
  char *pos[64];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 64, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, usage);
  ag_incentive_register_kinds(); /* the preview decodes the txs it built */
  ag_economy_register_kinds();
  ag_buf sentence;
  ag_buf_init(&sentence);
  for (int i = 0; i < npos; i++) ag_buf_printf(&sentence, "%s%s", i ? " " : "", pos[i]);
  ag_buf_put_u8(&sentence, 0);
  char mpath[1200];
  if (model) snprintf(mpath, sizeof mpath, "%s", model);
  else default_model(c, mpath, sizeof mpath);
  uint64_t threads = 2;
  if (threads_s && (ag_parse_u64(threads_s, &threads) || threads < 1 || threads > 64)) {
    ag_buf_free(&sentence);
    return ag_cli_fail(c, AG_E_USAGE, "--threads is 1..64");
  }
  book_store b;
  book_load(c, &b);
  ag_intent_book book = {b.v, b.n, NULL, {0}};
  if (from) {
    for (int i = 0; i < b.n; i++)
      if (b.v[i].is_key && !strcmp(b.v[i].name, from)) {
        book.me = from;
        memcpy(book.me_pk, b.v[i].pk, 32);
      }
    if (!book.me) rc = ag_fail(AG_E_KEY_NOT_FOUND, "--from %s is not a key of this wallet", from);
  }
  ag_intent_model *im = NULL;
  ag_buf intent;
  ag_buf_init(&intent);
  ag_intent_stats st;
  if (!rc && !ag_file_exists(mpath))
    rc = ag_fail(AG_E_NOTFOUND, "no model at %s: pass --model FILE, or run scripts/bootstrap models", mpath);
  char cache[1100];
  ag_cli_path(c, "cache", cache, sizeof cache);
  if (!rc) rc = ag_intent_open(mpath, (int)threads, cache, &im);
  if (!rc) rc = ag_intent_decode(im, (const char *)sentence.data, &intent, &st);
  ag_intent_close(im);
  json_t *ij = NULL, *actions = NULL, *questions = NULL;
  if (!rc && !(ij = json_loadb((const char *)intent.data, intent.len, 0, NULL)))
    rc = ag_fail(AG_E_INTERNAL, "the intent is not JSON: %.*s", (int)intent.len, (const char *)intent.data);
  if (!rc) rc = ag_intent_resolve(ij, (const char *)sentence.data, &book, &actions, &questions);
  ag_buf_free(&intent);
  if (rc) {
    ag_buf_free(&sentence);
    free(b.v);
    free(b.names);
    if (b.hot_loaded) ag_key_wipe(&b.hot);
    json_decref(ij);
    return ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
  }
  /* the preview: the txs as they would be signed, simulated by the node */
  chain_info ci;
  batch bt = {0};
  json_t *sim = NULL, *queries = json_array();
  ag_buf pv;
  ag_buf_init(&pv);
  uint64_t total = 0;
  int sim_ok = 0, prc = 0;
  char phash[17] = "";
  json_t *buys = json_array(); /* purchases: made after the txs are signed */
  if (json_array_size(actions)) {
    prc = chain_read(c, &ci);
    if (!prc) prc = build(c, &b, &ci, actions, 0, &bt, queries);
    for (size_t i = 0; i < json_array_size(queries);) {
      json_t *q = json_array_get(queries, i);
      if (strcmp(json_string_value(json_object_get(q, "kind")) ?: "", "buy")) {
        i++;
        continue;
      }
      json_array_append(buys, q);
      json_array_remove(queries, i);
    }
    if (!prc && bt.ntx) prc = simulate(c, &bt, &sim);
    size_t txs_len = 0;
    if (!prc && (bt.ntx || json_array_size(buys))) sim_ok = preview(&b, &ci, &bt, sim, buys, &pv, &total, &txs_len);
    if (!prc) preview_hash(&pv, txs_len, phash);
  }
  int code = 0;
  if (c->json && (dry || json_array_size(questions) || !json_array_size(actions))) {
    json_t *o = json_object();
    json_object_set_new(o, "intent", ij ? json_incref(ij) : json_null());
    json_object_set_new(o, "actions", json_incref(actions));
    json_object_set_new(o, "questions", json_incref(questions));
    json_object_set_new(o, "preview", pv.len ? json_stringn((const char *)pv.data, pv.len) : json_null());
    if (phash[0]) json_object_set_new(o, "preview_hash", json_string(phash));
    if (prc) json_object_set_new(o, "preview_error", ag_json_text(ag_errmsg(prc)));
    if (sim) json_object_set_new(o, "simulation", json_incref(sim));
    json_t *stats = json_object();
    json_object_set_new(stats, "seconds", json_real(st.seconds));
    json_object_set_new(stats, "prompt_tokens", json_integer(st.prompt_tokens));
    json_object_set_new(stats, "sampled_tokens", json_integer(st.sampled));
    json_object_set_new(stats, "forced_tokens", json_integer(st.forced));
    json_object_set_new(o, "stats", stats);
    ag_cli_print_json(o);
    goto done;
  }
  if (json_array_size(questions)) {
    for (size_t i = 0; i < json_array_size(questions); i++)
      printf("? %s\n", json_string_value(json_array_get(questions, i)));
    goto done; /* asking back is an answer, not a failure */
  }
  if (prc) {
    code = ag_cli_fail(c, prc, "%s", ag_errmsg(prc));
    goto done;
  }
  for (size_t i = 0; i < json_array_size(queries); i++) { /* questions about the chain: answered */
    json_t *q = json_array_get(queries, i), *j;
    const char *k = json_string_value(json_object_get(q, "kind"));
    char path[200];
    if (!strcmp(k, "metagraph"))
      snprintf(path, sizeof path, "/v1/subnets/%lld/metagraph", json_integer_value(json_object_get(q, "netuid")));
    else
      snprintf(path, sizeof path, "/v1/%s/%s", !strcmp(k, "balance") ? "accounts" : "stake",
               json_string_value(json_object_get(q, "address")));
    if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) {
      code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
      goto done;
    }
    if (!strcmp(k, "balance")) {
      ag_buf t;
      ag_buf_init(&t);
      agr(ag_cli_json_u64(j, "balance"), &t);
      printf("%s: %.*s\n", json_string_value(json_object_get(q, "address")), (int)t.len, (const char *)t.data);
      ag_buf_free(&t);
    } else {
      char *s = json_dumps(j, JSON_INDENT(2));
      printf("%s\n", s);
      free(s);
    }
    json_decref(j);
  }
  if (!bt.ntx && !json_array_size(buys)) goto done;
  fprintf(stderr, "%.*s", (int)pv.len, (const char *)pv.data);
  if (dry) {
    printf("preview %s (dry run: nothing signed)\n", phash);
    goto done;
  }
  if (!sim_ok) {
    code = ag_cli_fail(c, AG_E_INVALID, "the node's simulation refuses part of this: nothing signed");
    goto done;
  }
  /* a typed confirmation; scripts pass the preview's hash from a dry run */
  if (confirm) {
    if (strcmp(confirm, phash)) {
      code = ag_cli_fail(c, AG_E_CANCELLED, "--confirm %s is not this preview's hash (%s): nothing signed", confirm, phash);
      goto done;
    }
  } else if (!isatty(0)) {
    code = ag_cli_fail(c, AG_E_CANCELLED, "signing needs a typed confirmation on a terminal, or --confirm %s", phash);
    goto done;
  } else {
    char line[128], tot[32];
    ag_amount_format(total, tot);
    fprintf(stderr, "type yes (or %s) to sign: ", tot);
    if (!fgets(line, sizeof line, stdin)) line[0] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (strcmp(line, "yes") && strcmp(line, tot)) {
      code = ag_cli_fail(c, AG_E_CANCELLED, "not confirmed: nothing signed");
      goto done;
    }
  }
  /* sign what was previewed: the same payloads, the signer's pending nonces */
  batch_free(&bt);
  json_t *q2 = json_array();
  rc = build(c, &b, &ci, actions, 1, &bt, q2);
  json_decref(q2);
  ag_keypair k; /* loaded once for the batch: an encrypted key asks for its passphrase once */
  memset(&k, 0, sizeof k);
  if (!rc) rc = ag_cli_load_signer(c, from, ci.chain_id, &k);
  for (int i = 0; !rc && i < bt.ntx; i++) {
    ag_tx tx;
    ag_tx_decode(bt.tx[i].data, bt.tx[i].len, &tx);
    ag_buf signed_tx;
    ag_buf_init(&signed_tx);
    ag_tx_build(&signed_tx, tx.kind, ci.chain_id, &k, tx.nonce, tx.fee, 0, tx.payload, tx.payload_len);
    json_t *sub;
    rc = ag_cli_api(c, "POST", "/v1/txs", "application/octet-stream", signed_tx.data, signed_tx.len, &sub);
    if (!rc) {
      printf("%d. submitted tx %s\n", i + 1, json_string_value(json_object_get(sub, "hash")));
      json_decref(sub);
    }
    ag_buf_free(&signed_tx);
  }
  for (size_t i = 0; !rc && i < json_array_size(buys); i++)
    rc = buy_answer(c, json_array_get(buys, i), &k, from, (int)threads);
  ag_key_wipe(&k);
  if (rc) code = ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
done:
  json_decref(buys);
  batch_free(&bt);
  json_decref(sim);
  json_decref(queries);
  json_decref(ij);
  json_decref(actions);
  json_decref(questions);
  ag_buf_free(&pv);
  ag_buf_free(&sentence);
  free(b.v);
  free(b.names);
  if (b.hot_loaded) ag_key_wipe(&b.hot);
  return code;
}
