/* txsubmit.c — sign, submit and wait for a transaction on behalf of a CLI command. */
#include "cli/txsubmit.h"

#include "chain/genesis.h"
#include "chain/json.h"
#include "cli/client.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keystore.h"
#include "economy/economy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ag_cli_load_signer(ag_cli *c, const char *name, const char *chain_id, ag_keypair *k) {
  char dir[1100];
  ag_cli_path(c, "keys", dir, sizeof dir);
  ag_keyinfo info;
  int rc = ag_keystore_info(dir, name, &info);
  if (rc) return rc;
  if ((rc = ag_keystore_check_chain(&info, chain_id))) return rc;
  char *pass = NULL;
  if (!info.insecure) {
    char prompt[128];
    snprintf(prompt, sizeof prompt, "passphrase for '%s': ", name);
    pass = ag_cli_passphrase(c, prompt, false);
    if (!pass)
      return ag_fail(AG_E_PASSPHRASE_REQUIRED,
                     "key '%s' is encrypted: set AGORA_PASSPHRASE, or use --passphrase-file or --passphrase-fd",
                     name);
  }
  rc = ag_keystore_load(dir, name, pass, k, &info);
  ag_cli_passphrase_free(pass);
  return rc;
}

static int wait_commit(ag_cli *c, const char *hash, json_t **out) {
  char path[128];
  snprintf(path, sizeof path, "/v1/txs/%s", hash);
  int pending = 1; /* the node said so when it took the tx */
  for (int i = 0; i < 300; i++) { /* 60 s */
    json_t *j;
    int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j);
    if (rc && rc != AG_E_NOTFOUND) return rc;
    pending = !rc;
    if (!rc && !strcmp(json_string_value(json_object_get(j, "status")), "committed")) {
      *out = j;
      return 0;
    }
    if (!rc) json_decref(j);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (pending)
    return ag_fail(AG_E_TIMEOUT,
                   "tx %s is still pending after 60 s; do not send it again (a new tx pays "
                   "again): it commits once, check with 'agora tx %s'",
                   hash, hash);
  return ag_fail(AG_E_TIMEOUT,
                 "tx %s was not committed within 60 s and is no longer pending (the mempool "
                 "dropped it); check with 'agora tx %s' and 'agora balance' before sending again",
                 hash, hash);
}

int ag_cli_submit(ag_cli *c, const ag_txreq *req) {
  json_t *st = NULL, *acct = NULL, *sub = NULL, *res = NULL;
  ag_keypair k;
  memset(&k, 0, sizeof k);
  ag_buf payload, tx;
  ag_buf_init(&payload);
  ag_buf_init(&tx);
  int rc, exit_code = -1;
  if ((rc = ag_cli_api(c, "GET", "/v1/status", NULL, NULL, 0, &st))) goto fail;
  ag_tx_env env;
  memset(&env, 0, sizeof env);
  snprintf(env.chain_id, sizeof env.chain_id, "%s", json_string_value(json_object_get(st, "chain_id")));
  env.height = ag_cli_json_u64(st, "height");
  json_t *params = json_object_get(st, "params");
  ag_params p;
  ag_params_default(&p);
  p.base_fee = ag_cli_json_u64(params, "base_fee");
  p.per_byte_fee = ag_cli_json_u64(params, "per_byte_fee");
  if ((rc = ag_cli_load_signer(c, req->key, env.chain_id, &k))) goto fail;
  env.signer = &k;
  env.account = k.pk;
  /* --for: the key signs as an agent key of another account, which pays (docs/agents.md) */
  uint8_t account[32];
  uint16_t kind = req->kind;
  char apath[128], from_addr[AG_ADDR_MAX], for_addr[AG_ADDR_MAX];
  if (c->for_account) {
    if ((rc = ag_cli_resolve_addr(c, c->for_account, account))) goto fail;
    env.account = account;
    kind = AG_TX_AGENT_EXEC;
  }
  ag_addr_encode(k.pk, from_addr);
  ag_addr_encode(env.account, for_addr);
  snprintf(apath, sizeof apath, "/v1/accounts/%s", from_addr);
  if ((rc = ag_cli_api(c, "GET", apath, NULL, NULL, 0, &acct))) goto fail;
  uint64_t nonce = ag_cli_json_u64(acct, "pending_nonce"), bal = ag_cli_json_u64(acct, "balance");
  env.nonce = nonce;
  if (c->for_account) {
    json_decref(acct);
    snprintf(apath, sizeof apath, "/v1/accounts/%s", for_addr);
    if ((rc = ag_cli_api(c, "GET", apath, NULL, NULL, 0, &acct))) goto fail;
    bal = ag_cli_json_u64(acct, "balance");
  }
  if ((rc = req->build(req->ctx, &env, &payload))) goto fail;
  if (c->for_account) {
    ag_buf inner = payload;
    ag_buf_init(&payload);
    ag_payload_agent_exec(&payload, account, req->kind, inner.data, inner.len);
    ag_buf_free(&inner);
  }
  uint64_t fee, min_fee;
  ag_tx_min_fee(p.base_fee, p.per_byte_fee, kind, payload.data, payload.len, ag_tx_size(strlen(env.chain_id), payload.len),
                &min_fee);
  fee = min_fee;
  if (req->fee) {
    if ((rc = ag_amount_parse(req->fee, &fee))) goto fail;
    if (fee < min_fee) {
      char m[32];
      ag_amount_format(min_fee, m);
      rc = ag_fail(AG_E_TX_FEE_LOW, "--fee is below this chain's minimum of %s AGR", m);
      goto fail;
    }
  }
  uint64_t valid_until = 0, vf;
  if (req->valid_for) {
    if (ag_parse_u64(req->valid_for, &vf) || vf == 0) {
      rc = ag_fail(AG_E_USAGE, "--valid-for must be a positive number of blocks");
      goto fail;
    }
    valid_until = env.height + vf;
  }
  char fs[32], bs[32];
  ag_amount_format(fee, fs);
  ag_amount_format(bal, bs);
  if (ag_cli_interactive(c)) {
    if (c->for_account)
      fprintf(stderr, "%s\n  account %s (balance %s AGR)\n  signer  %s (%s), as its agent key\n",
              req->summary, for_addr, bs, req->key, from_addr);
    else
      fprintf(stderr, "%s\n  signer  %s (%s, balance %s AGR)\n", req->summary, req->key, from_addr, bs);
    fprintf(stderr, "  fee     %s AGR\n  chain   %s, nonce %llu\n", fs, env.chain_id, (unsigned long long)nonce);
    if (!ag_cli_confirm(c, "Sign and submit?")) {
      rc = ag_fail(AG_E_CANCELLED, "cancelled; nothing was sent");
      goto fail;
    }
  }
  ag_tx_build(&tx, kind, env.chain_id, &k, nonce, fee, valid_until, payload.data,
              (uint32_t)payload.len);
  if ((rc = ag_cli_api(c, "POST", "/v1/txs", "application/octet-stream", tx.data, tx.len, &sub)))
    goto fail;
  char hash[65];
  snprintf(hash, sizeof hash, "%s", json_string_value(json_object_get(sub, "hash")));
  if (!req->no_wait && (rc = wait_commit(c, hash, &res))) goto fail;
  json_t *r = json_object_get(res, "result");
  const char *code = res ? json_string_value(json_object_get(r, "code")) : "ok";
  const char *msg = res ? json_string_value(json_object_get(r, "message")) : "";
  int failed = res && strcmp(code, "ok") != 0;
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "hash", json_string(hash));
    json_object_set_new(o, "status", json_string(res ? "committed" : "pending"));
    if (res) {
      json_object_set_new(o, "height", json_incref(json_object_get(res, "height")));
      json_object_set_new(o, "result", json_incref(r));
    }
    json_object_set_new(o, "fee", ag_json_u64s(fee));
    json_object_set_new(o, "summary", json_string(req->summary));
    ag_cli_print_json(o);
  } else if (failed) {
    fprintf(stderr, "agora %s: tx %s was committed at height %lld but failed: %s\n", c->cmd, hash,
            json_integer_value(json_object_get(res, "height")), msg);
  } else if (res) {
    printf("%s: tx %s committed at height %lld (fee %s AGR)\n", req->summary, hash,
           json_integer_value(json_object_get(res, "height")), fs);
  } else {
    printf("%s: tx %s accepted into the mempool\n", req->summary, hash);
  }
  exit_code = failed ? AG_EXIT_REJECTED : 0; /* committed, but the chain refused the action */
fail:
  json_decref(st);
  json_decref(acct);
  json_decref(sub);
  json_decref(res);
  ag_buf_free(&payload);
  ag_buf_free(&tx);
  ag_key_wipe(&k);
  return exit_code >= 0 ? exit_code : ag_cli_fail(c, rc, "%s", ag_errmsg(rc));
}
