/* genesis.c — genesis.json parsing, validation, canonical hash. */
#include "chain/genesis.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_params_default(ag_params *p) {
  p->base_fee = 1000;
  p->per_byte_fee = 10;
  p->max_tx_bytes = 64 * 1024;
  p->max_block_bytes = 8u << 20;
  p->max_block_txs = 20000;
}

void ag_params_encode(const ag_params *p, uint8_t out[28]) {
  ag_put_u64le(out, p->base_fee);
  ag_put_u64le(out + 8, p->per_byte_fee);
  ag_put_u32le(out + 16, p->max_tx_bytes);
  ag_put_u32le(out + 20, p->max_block_bytes);
  ag_put_u32le(out + 24, p->max_block_txs);
}

int ag_params_decode(const uint8_t *p, size_t n, ag_params *out) {
  if (n != 28) return ag_fail(AG_E_CORRUPT, "params record has %zu bytes", n);
  out->base_fee = ag_get_u64le(p);
  out->per_byte_fee = ag_get_u64le(p + 8);
  out->max_tx_bytes = ag_get_u32le(p + 16);
  out->max_block_bytes = ag_get_u32le(p + 20);
  out->max_block_txs = ag_get_u32le(p + 24);
  return 0;
}

static int bad(const char *fmt, const char *arg) {
  return ag_fail(AG_E_GENESIS, fmt, arg ? arg : "");
}

static int get_amount(json_t *o, const char *key, uint64_t *out, int required) {
  json_t *v = json_object_get(o, key);
  if (!v) return required ? bad("genesis: missing \"%s\"", key) : 0;
  const char *s = json_string_value(v);
  if (!s || ag_parse_u64(s, out))
    return bad("genesis: \"%s\" must be a decimal string of base units", key);
  return 0;
}

static int get_u32(json_t *o, const char *key, uint32_t *out) {
  json_t *v = json_object_get(o, key);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 0x7fffffff)
    return bad("genesis: \"%s\" must be a positive integer", key);
  *out = (uint32_t)json_integer_value(v);
  return 0;
}

static int cmp_acct(const void *a, const void *b) {
  return memcmp(((const ag_genesis_account *)a)->pk, ((const ag_genesis_account *)b)->pk, 32);
}

void ag_genesis_rehash(ag_genesis *g) {
  ag_buf b;
  ag_buf_init(&b);
  uint8_t params[28];
  size_t clen = strlen(g->chain_id);
  ag_buf_put_u8(&b, (uint8_t)clen);
  ag_buf_put(&b, g->chain_id, clen);
  ag_buf_put_u64le(&b, g->genesis_time_ms);
  ag_params_encode(&g->params, params);
  ag_buf_put(&b, params, sizeof params);
  ag_buf_put_u64le(&b, g->naccounts);
  for (size_t i = 0; i < g->naccounts; i++) {
    ag_buf_put(&b, g->accounts[i].pk, 32);
    ag_buf_put_u64le(&b, g->accounts[i].balance);
  }
  const char *mods = g->modules ? g->modules : "{}";
  ag_buf_put_u64le(&b, strlen(mods));
  ag_buf_puts(&b, mods);
  /* last and only when named: modules are length-prefixed, so the 32 bytes are unambiguous,
   * and a genesis without a proposer keeps the hash it always had */
  if (g->has_proposer) ag_buf_put(&b, g->proposer, 32);
  ag_hash("agora/genesis", b.data, b.len, g->hash);
  ag_buf_free(&b);
}

int ag_genesis_parse(const char *text, size_t len, ag_genesis *g) {
  memset(g, 0, sizeof *g);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return ag_fail(AG_E_GENESIS, "genesis is not valid JSON (line %d: %s)", jerr.line, jerr.text);
  int rc = 0;
  const char *chain = json_string_value(json_object_get(root, "chain_id"));
  json_t *t = json_object_get(root, "genesis_time_ms");
  json_t *params = json_object_get(root, "params");
  json_t *accts = json_object_get(root, "accounts");
  if (!chain || !ag_chain_id_valid(chain)) {
    rc = bad("genesis: \"chain_id\" must be 1..32 of [a-z0-9-]%s", NULL);
    goto done;
  }
  snprintf(g->chain_id, sizeof g->chain_id, "%s", chain);
  if (!json_is_integer(t) || json_integer_value(t) < 0) {
    rc = bad("genesis: \"genesis_time_ms\" must be a non-negative integer%s", NULL);
    goto done;
  }
  g->genesis_time_ms = (uint64_t)json_integer_value(t);
  json_t *prop = json_object_get(root, "proposer");
  if (prop) {
    const char *ps = json_string_value(prop);
    if (!ps || ag_addr_decode(ps, g->proposer)) {
      rc = bad("genesis: \"proposer\" must be the block producer's address (agora1...)%s", NULL);
      goto done;
    }
    g->has_proposer = 1;
  }
  ag_params_default(&g->params);
  if (params) {
    if (!json_is_object(params)) {
      rc = bad("genesis: \"params\" must be an object%s", NULL);
      goto done;
    }
    if ((rc = get_amount(params, "base_fee", &g->params.base_fee, 0)) ||
        (rc = get_amount(params, "per_byte_fee", &g->params.per_byte_fee, 0)) ||
        (rc = get_u32(params, "max_tx_bytes", &g->params.max_tx_bytes)) ||
        (rc = get_u32(params, "max_block_bytes", &g->params.max_block_bytes)) ||
        (rc = get_u32(params, "max_block_txs", &g->params.max_block_txs)))
      goto done;
    if (g->params.max_tx_bytes > AG_TX_HARD_MAX || g->params.max_block_bytes < g->params.max_tx_bytes) {
      rc = bad("genesis: max_tx_bytes must be at most 1 MiB and below max_block_bytes%s", NULL);
      goto done;
    }
  }
  if (!json_is_array(accts)) {
    rc = bad("genesis: \"accounts\" must be an array%s", NULL);
    goto done;
  }
  g->naccounts = json_array_size(accts);
  g->accounts = ag_xcalloc(g->naccounts ? g->naccounts : 1, sizeof *g->accounts);
  uint64_t total = 0;
  for (size_t i = 0; i < g->naccounts; i++) {
    json_t *a = json_array_get(accts, i);
    const char *addr = json_string_value(json_object_get(a, "address"));
    if (!addr || ag_addr_decode(addr, g->accounts[i].pk)) {
      rc = bad("genesis: account address '%s' is invalid", addr ? addr : "(missing)");
      goto done;
    }
    if ((rc = get_amount(a, "balance", &g->accounts[i].balance, 1))) goto done;
    if (ag_add_u64(total, g->accounts[i].balance, &total)) {
      rc = bad("genesis: total supply overflows 64 bits%s", NULL);
      goto done;
    }
  }
  {
    json_t *mods = json_deep_copy(root);
    const char *core[] = {"chain_id", "genesis_time_ms", "proposer", "params", "accounts"};
    for (size_t i = 0; i < AG_ARRAY_LEN(core); i++) json_object_del(mods, core[i]);
    g->modules = json_dumps(mods, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(mods);
  }
  qsort(g->accounts, g->naccounts, sizeof *g->accounts, cmp_acct);
  for (size_t i = 1; i < g->naccounts; i++)
    if (!memcmp(g->accounts[i].pk, g->accounts[i - 1].pk, 32)) {
      rc = bad("genesis: an account is listed twice%s", NULL);
      goto done;
    }
  ag_genesis_rehash(g);
done:
  json_decref(root);
  if (rc) ag_genesis_free(g);
  return rc;
}

int ag_genesis_load(const char *path, ag_genesis *g) {
  uint8_t *data;
  size_t len;
  int rc = ag_read_file(path, 256u << 20, &data, &len);
  if (rc) return rc;
  rc = ag_genesis_parse((const char *)data, len, g);
  free(data);
  return rc;
}

static json_t *u64str(uint64_t v) {
  char s[24];
  snprintf(s, sizeof s, "%llu", (unsigned long long)v);
  return json_string(s);
}

char *ag_genesis_to_json(const ag_genesis *g) {
  json_t *root = json_object(), *params = json_object(), *accts = json_array();
  json_object_set_new(root, "chain_id", json_string(g->chain_id));
  json_object_set_new(root, "genesis_time_ms", json_integer((json_int_t)g->genesis_time_ms));
  if (g->has_proposer) {
    char addr[AG_ADDR_MAX];
    ag_addr_encode(g->proposer, addr);
    json_object_set_new(root, "proposer", json_string(addr));
  }
  json_object_set_new(params, "base_fee", u64str(g->params.base_fee));
  json_object_set_new(params, "per_byte_fee", u64str(g->params.per_byte_fee));
  json_object_set_new(params, "max_tx_bytes", json_integer(g->params.max_tx_bytes));
  json_object_set_new(params, "max_block_bytes", json_integer(g->params.max_block_bytes));
  json_object_set_new(params, "max_block_txs", json_integer(g->params.max_block_txs));
  json_object_set_new(root, "params", params);
  for (size_t i = 0; i < g->naccounts; i++) {
    json_t *a = json_object();
    char addr[AG_ADDR_MAX];
    ag_addr_encode(g->accounts[i].pk, addr);
    json_object_set_new(a, "address", json_string(addr));
    json_object_set_new(a, "balance", u64str(g->accounts[i].balance));
    json_array_append_new(accts, a);
  }
  json_object_set_new(root, "accounts", accts);
  if (g->modules) {
    json_t *mods = json_loads(g->modules, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(mods, k, v) json_object_set(root, k, v);
    json_decref(mods);
  }
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  return s;
}

void ag_genesis_free(ag_genesis *g) {
  if (!g) return;
  free(g->accounts);
  free(g->modules);
  free(g->validators);
  g->validators = NULL;
  g->nvalidators = 0;
  g->modules = NULL;
  g->accounts = NULL;
  g->naccounts = 0;
}

int ag_genesis_u64(json_t *o, const char *module, const char *key, uint64_t *out) {
  json_t *v = json_object_get(o, key);
  if (!v) return 0;
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v) && ag_parse_u64(json_string_value(v), out) == 0) return 0;
  return ag_fail(AG_E_GENESIS, "genesis %s: \"%s\" must be a non-negative integer", module, key);
}
