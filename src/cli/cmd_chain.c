/* cmd_chain.c — client commands against a running node: send, balance, tx, block, status,
 * query account --prove (a light client: the node is not trusted, the genesis is). */
#include "api/render.h"
#include "chain/genesis.h"
#include "chain/smt.h"
#include "chain/state.h"
#include "chain/tx.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "consensus/light.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "crypto/keystore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

/* ---- send ------------------------------------------------------------------------------- */

static const char send_usage[] =
    "usage: agora send --from KEY TO AMOUNT [TO AMOUNT ...] [--fee AGR] [--valid-for N]\n"
    "                  [--no-wait] [--yes]\n\n"
    "Sends AMOUNT AGR (decimal, up to 9 places) to each TO (an address or a key name). One\n"
    "recipient makes a transfer, several a multi-transfer (up to 256). Shows a preview and asks\n"
    "for confirmation on a terminal; then waits until the transaction is committed.\n\n"
    "  --from KEY        the sending key (HOME/keys)\n"
    "  --fee AGR         fee to offer (default: the chain's minimum for the tx size)\n"
    "  --valid-for N     the tx expires if not included within N blocks (default: never)\n"
    "  --no-wait         return once the node accepted the tx into its mempool\n";

typedef struct {
  ag_transfer *v;
  int n;
} send_ctx;

static int send_build(void *arg, const ag_tx_env *env, ag_buf *payload) {
  send_ctx *s = arg;
  if (s->n == 1) ag_transfer_encode(payload, s->v[0].to, s->v[0].amount);
  else ag_multi_transfer_encode(payload, s->v, (uint16_t)s->n);
  return 0;
}

int ag_cmd_send(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *fee_s = NULL, *valid_s = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},        {"fee", 0, 1, &fee_s, NULL},
                   {"valid-for", 0, 1, &valid_s, NULL},  {"no-wait", 0, 0, NULL, &no_wait},
                   {"", 0, 0, NULL, NULL}};
  char *pos[2 * AG_TX_MAX_RECIPIENTS];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2 * AG_TX_MAX_RECIPIENTS, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, send_usage);
  if (!from || npos < 2 || npos % 2)
    return ag_cli_fail(c, AG_E_USAGE, "usage: agora send --from KEY TO AMOUNT [TO AMOUNT ...]");
  send_ctx s = {ag_xcalloc((size_t)npos / 2, sizeof(ag_transfer)), npos / 2};
  uint64_t total = 0;
  for (int i = 0; i < s.n && !rc; i++) {
    if ((rc = ag_cli_resolve_addr(c, pos[2 * i], s.v[i].to))) break;
    if ((rc = ag_amount_parse(pos[2 * i + 1], &s.v[i].amount))) break;
    if (s.v[i].amount == 0) rc = ag_fail(AG_E_TX_AMOUNT, "amount must be positive");
    else if (ag_add_u64(total, s.v[i].amount, &total)) rc = ag_fail(AG_E_TX_AMOUNT_OVERFLOW, "amounts overflow");
  }
  if (rc) {
    free(s.v);
    return fail_rc(c, rc);
  }
  char ts[32], summary[256];
  ag_amount_format(total, ts);
  if (s.n == 1) {
    char to[AG_ADDR_MAX];
    ag_addr_encode(s.v[0].to, to);
    snprintf(summary, sizeof summary, "send %s AGR to %s", ts, to);
  } else {
    snprintf(summary, sizeof summary, "send %s AGR to %d recipients", ts, s.n);
  }
  ag_txreq req = {from, s.n == 1 ? AG_TX_TRANSFER : AG_TX_MULTI_TRANSFER, send_build, &s,
                  summary, fee_s, valid_s, no_wait};
  rc = ag_cli_submit(c, &req);
  free(s.v);
  return rc;
}

/* ---- balance ---------------------------------------------------------------------------- */

int ag_cmd_balance(ag_cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, NULL, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || npos != 1)
    return ag_cli_usage(c, "usage: agora balance ADDRESS|KEY\n\nBalance and next nonce of an account.\n");
  uint8_t pk[32];
  if ((rc = ag_cli_resolve_addr(c, pos[0], pk))) return fail_rc(c, rc);
  char addr[AG_ADDR_MAX], path[128];
  ag_addr_encode(pk, addr);
  snprintf(path, sizeof path, "/v1/accounts/%s", addr);
  json_t *j;
  if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  char bs[32];
  ag_amount_format(ag_cli_json_u64(j, "balance"), bs);
  printf("%s AGR  (nonce %llu, height %llu)  %s\n", bs, (unsigned long long)ag_cli_json_u64(j, "nonce"),
         (unsigned long long)ag_cli_json_u64(j, "height"), addr);
  json_decref(j);
  return 0;
}

/* ---- tx / block / status ---------------------------------------------------------------- */

static void print_tx_payload(json_t *tx) {
  json_t *p = json_object_get(tx, "payload");
  json_t *list = json_object_get(p, "recipients");
  if (!list) {
    list = json_array();
    json_array_append(list, p);
  } else {
    json_incref(list);
  }
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *r = json_array_get(list, i);
    uint64_t am = ag_cli_json_u64(r, "amount");
    if (!json_object_get(r, "to")) continue;
    char as[32];
    ag_amount_format(am, as);
    printf("  to      %s  %s AGR\n", json_string_value(json_object_get(r, "to")), as);
  }
  json_decref(list);
}

int ag_cmd_tx(ag_cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, NULL, pos, 1, &npos);
  if (rc) return rc;
  if (c->help || npos != 1)
    return ag_cli_usage(c, "usage: agora tx HASH\n\nStatus, block, result and contents of a transaction.\n");
  char path[160];
  snprintf(path, sizeof path, "/v1/txs/%.64s", pos[0]);
  json_t *j;
  if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  const char *status = json_string_value(json_object_get(j, "status"));
  printf("tx %s\n  status  %s\n", pos[0], status);
  if (!strcmp(status, "committed")) {
    json_t *r = json_object_get(j, "result"), *tx = json_object_get(j, "tx");
    printf("  block   %lld (index %lld)\n  result  %s%s%s\n", json_integer_value(json_object_get(j, "height")),
           json_integer_value(json_object_get(j, "index")), json_string_value(json_object_get(r, "code")),
           *json_string_value(json_object_get(r, "message")) ? ": " : "",
           json_string_value(json_object_get(r, "message")));
    if (tx) {
      char fs[32];
      ag_amount_format(ag_cli_json_u64(tx, "fee"), fs);
      printf("  kind    %s\n  from    %s (nonce %lld)\n  fee     %s AGR\n",
             json_string_value(json_object_get(tx, "kind")), json_string_value(json_object_get(tx, "sender")),
             json_integer_value(json_object_get(tx, "nonce")), fs);
      print_tx_payload(tx);
    }
  }
  json_decref(j);
  return 0;
}

int ag_cmd_block(ag_cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, NULL, pos, 1, &npos);
  if (rc) return rc;
  if (c->help)
    return ag_cli_usage(c, "usage: agora block [HEIGHT|latest]\n\nA block's header and transactions.\n");
  char path[96];
  snprintf(path, sizeof path, "/v1/blocks/%.32s", npos ? pos[0] : "latest");
  json_t *j;
  if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  time_t t = (time_t)(json_integer_value(json_object_get(j, "time_ms")) / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  const char *prop = json_string_value(json_object_get(j, "proposer"));
  printf("block %lld  %s\n  hash        %s\n  prev        %s\n  state root  %s\n  proposer    %s%s\n  txs         %lld\n",
         json_integer_value(json_object_get(j, "height")), when, json_string_value(json_object_get(j, "hash")),
         json_string_value(json_object_get(j, "prev_hash")), json_string_value(json_object_get(j, "state_root")),
         prop ? prop : json_string_value(json_object_get(j, "proposer_address")),
         prop ? "" : " (CometBFT validator)", json_integer_value(json_object_get(j, "tx_count")));
  json_t *txs = json_object_get(j, "txs");
  for (size_t i = 0; i < json_array_size(txs) && i < 50; i++) {
    json_t *tx = json_array_get(txs, i);
    printf("  %s  %-14s %s\n", json_string_value(json_object_get(tx, "hash")),
           json_string_value(json_object_get(tx, "kind")),
           json_string_value(json_object_get(json_object_get(tx, "result"), "code")));
  }
  if (json_array_size(txs) > 50) printf("  ... %zu more (use --json)\n", json_array_size(txs) - 50);
  json_decref(j);
  return 0;
}

int ag_cmd_status(ag_cli *c, int argc, char **argv) {
  char *pos[1];
  int npos, rc = ag_cli_parse(c, argc, argv, NULL, pos, 0, &npos);
  if (rc) return rc;
  if (c->help) return ag_cli_usage(c, "usage: agora status\n\nThe node's chain, height, mempool and supply.\n");
  json_t *j;
  if ((rc = ag_cli_api(c, "GET", "/v1/status", NULL, NULL, 0, &j))) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  json_t *mp = json_object_get(j, "mempool"), *sp = json_object_get(j, "supply");
  char is[32], bs[32], url[300];
  ag_amount_format(ag_cli_json_u64(sp, "issued"), is);
  ag_amount_format(ag_cli_json_u64(sp, "burned"), bs);
  ag_cli_node_url(c, url, sizeof url);
  printf("node        %s (%s, agora %s)\nchain       %s\nheight      %lld\nstate root  %s\n"
         "mempool     %lld txs, %lld bytes\nsupply      %s AGR issued, %s AGR burned\n",
         url, json_string_value(json_object_get(j, "consensus")), json_string_value(json_object_get(j, "version")),
         json_string_value(json_object_get(j, "chain_id")), json_integer_value(json_object_get(j, "height")),
         json_string_value(json_object_get(j, "state_root")), json_integer_value(json_object_get(mp, "txs")),
         json_integer_value(json_object_get(mp, "bytes")), is, bs);
  json_decref(j);
  return 0;
}

/* ---- query account ADDR --prove --------------------------------------------------------- */

static const char query_usage[] =
    "usage: agora query account ADDRESS|KEY [--prove [--genesis FILE] [--wait SECONDS]\n"
    "                                           [--trust-height H --trust-hash HASH]\n"
    "                                           [--trust-period SECONDS]]\n\n"
    "Reads an account from the node. With --prove the node is not trusted: it must send a\n"
    "Merkle proof of the account (or of its absence) against a state root, and the header that\n"
    "commits to that root signed by the chain's block producers — the solo node's key that\n"
    "genesis names, or more than 2/3 of a CometBFT chain's validators, which this client follows\n"
    "from its genesis header by header (it keeps the last one it verified in HOME/light/).\n\n"
    "  --genesis FILE      the trusted genesis: an Agora genesis.json naming its block producer,\n"
    "                      or a CometBFT genesis.json (default: HOME/cometbft/config/genesis.json\n"
    "                      when it exists, else HOME/genesis.json)\n"
    "  --wait SECONDS      how long to wait for the header that commits to the state (CometBFT\n"
    "                      signs the state after block h in block h+1; default 10)\n"
    "  --trust-height H, --trust-hash HASH\n"
    "                      trust CometBFT header H with this hash (from a source you trust)\n"
    "                      instead of the last one verified: needed once that one is older\n"
    "                      than the trusting period\n"
    "  --trust-period SECONDS\n"
    "                      how long a verified header stays trusted (default and most: 2/3 of\n"
    "                      the genesis's incentive.validators.unbond_ms)\n";

/* The account's proof against the root the node reported: the key must be this account's, the
 * value must hash to the leaf, and the siblings must lead to the root. */
static int check_account_proof(json_t *j, const uint8_t pk[32], uint8_t root[32], int *present) {
  json_t *pj = json_object_get(j, "proof");
  ag_smt_proof *p = ag_xmalloc(sizeof *p);
  uint8_t hkey[32], want_hkey[32], key[33];
  ag_account_key(pk, key);
  ag_state_hkey(key, sizeof key, want_hkey);
  const char *root_s = json_string_value(json_object_get(j, "state_root"));
  int rc = ag_json_proof_parse(pj, p, hkey);
  if (!rc && (!root_s || ag_hex_decode(root_s, strlen(root_s), root, 32)))
    rc = ag_fail(AG_E_PROOF, "missing state root");
  if (!rc && memcmp(hkey, want_hkey, 32) != 0)
    rc = ag_fail(AG_E_PROOF, "the proof is for another key");
  json_t *val = json_object_get(pj, "value");
  uint8_t v[16], vh[32];
  *present = json_is_string(val);
  if (!rc && *present) {
    const char *vs = json_string_value(val);
    ag_account a;
    if (ag_hex_decode(vs, strlen(vs), v, 16)) rc = ag_fail(AG_E_PROOF, "malformed account value");
    else {
      a.balance = ag_get_u64le(v);
      a.nonce = ag_get_u64le(v + 8);
      if (a.balance != ag_cli_json_u64(j, "balance") || a.nonce != ag_cli_json_u64(j, "nonce"))
        rc = ag_fail(AG_E_PROOF, "the proven value differs from the reported balance");
      ag_state_value_hash(v, 16, vh);
    }
  } else if (!rc && (ag_cli_json_u64(j, "balance") || ag_cli_json_u64(j, "nonce"))) {
    rc = ag_fail(AG_E_PROOF, "the node reports a balance for an account it proves absent");
  }
  if (!rc) rc = ag_smt_verify(root, hkey, *present ? vh : NULL, p);
  free(p);
  return rc;
}

/* --trust-period, and --trust-height/--trust-hash: a header the user trusts replaces the kept one. */
static int trust_options(const ag_cli *c, ag_light_trust *t, const char *th_s, const char *thash_s, const char *tperiod_s) {
  if ((th_s || thash_s || tperiod_s) && t->mode != AG_LIGHT_COMETBFT)
    return ag_fail(AG_E_USAGE, "--trust-height, --trust-hash and --trust-period are for CometBFT chains");
  if (tperiod_s) {
    uint64_t s;
    if (ag_parse_u64(tperiod_s, &s) || s < 1 || s > (uint64_t)t->unbond_ms / 1000)
      return ag_fail(AG_E_USAGE, "--trust-period must be 1..%lld seconds: longer than the chain's unbond_ms, the "
                     "trusted keys could be free to sign anything", (long long)(t->unbond_ms / 1000));
    t->period_ms = (int64_t)s * 1000;
  }
  if (!th_s != !thash_s) return ag_fail(AG_E_USAGE, "--trust-height and --trust-hash go together");
  if (!th_s) return 0;
  uint64_t h;
  uint8_t hash[32];
  if (ag_parse_u64(th_s, &h) || h < 1) return ag_fail(AG_E_USAGE, "--trust-height must be a height of 1 or more");
  if (strlen(thash_s) != 64 || ag_hex_decode(thash_s, 64, hash, 32))
    return ag_fail(AG_E_USAGE, "--trust-hash must be 64 hex digits (a CometBFT block hash)");
  json_t *j;
  int rc = ag_cli_fetch_header((void *)c, h, &j);
  if (!rc) rc = ag_light_anchor_set(t, j, h, hash, (int64_t)ag_now_ms());
  json_decref(j);
  return rc;
}

int ag_cmd_query(ag_cli *c, int argc, char **argv) {
  bool prove = false;
  const char *genesis = NULL, *wait_s = NULL, *th_s = NULL, *thash_s = NULL, *tperiod_s = NULL;
  ag_opt opts[] = {{"prove", 0, 0, NULL, &prove},
                   {"genesis", 0, 1, &genesis, NULL},
                   {"wait", 0, 1, &wait_s, NULL},
                   {"trust-height", 0, 1, &th_s, NULL},
                   {"trust-hash", 0, 1, &thash_s, NULL},
                   {"trust-period", 0, 1, &tperiod_s, NULL},
                   {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos != 2 || strcmp(pos[0], "account")) return ag_cli_usage(c, query_usage);
  if (!prove && (genesis || wait_s || th_s || thash_s || tperiod_s))
    return ag_cli_fail(c, AG_E_USAGE, "--genesis, --wait and the --trust-* options check a proof: give --prove too");
  uint64_t wait = 10;
  if (wait_s && (ag_parse_u64(wait_s, &wait) || wait > 3600))
    return ag_cli_fail(c, AG_E_USAGE, "--wait must be 0..3600 seconds");
  uint8_t pk[32];
  if ((rc = ag_cli_resolve_addr(c, pos[1], pk))) return fail_rc(c, rc);
  /* trust comes from the genesis held here, never from the node: load it before asking */
  ag_light_trust trust;
  memset(&trust, 0, sizeof trust);
  if (prove && (rc = ag_light_trust_load(c->home, genesis, &trust))) return fail_rc(c, rc);
  if (prove && trust.other_genesis)
    fprintf(stderr, "note: the header kept in %s was followed from another genesis of chain '%s' (a network made "
            "again?): starting from this genesis\n", trust.state_path, trust.chain_id);
  if (prove && (rc = trust_options(c, &trust, th_s, thash_s, tperiod_s))) {
    ag_light_trust_free(&trust);
    return fail_rc(c, rc);
  }
  char addr[AG_ADDR_MAX], path[160];
  ag_addr_encode(pk, addr);
  snprintf(path, sizeof path, "/v1/accounts/%s%s", addr, prove ? "?prove=true" : "");
  json_t *j;
  if ((rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j))) {
    ag_light_trust_free(&trust);
    return fail_rc(c, rc);
  }
  if (!prove) {
    if (c->json) ag_cli_print_json(j);
    else {
      char bs[32];
      ag_amount_format(ag_cli_json_u64(j, "balance"), bs);
      printf("%s\n  balance  %s AGR\n  nonce    %llu\n", addr, bs, (unsigned long long)ag_cli_json_u64(j, "nonce"));
      json_decref(j);
    }
    return 0;
  }
  uint8_t root[32];
  int present = 0;
  json_t *hdr = NULL;
  ag_light_verified v;
  memset(&v, 0, sizeof v);
  json_t *hj = json_object_get(j, "height");
  if (!json_is_integer(hj) || json_integer_value(hj) < 1)
    rc = ag_fail(AG_E_PROOF, "the proof names no block height (height 0, before any block, has no signed header)");
  if (!rc) rc = check_account_proof(j, pk, root, &present);
  if (!rc)
    rc = ag_cli_verify_root(c, &trust, (uint64_t)json_integer_value(hj), root, (int)wait * 1000, &v, &hdr);
  json_decref(hdr);
  if (rc) {
    json_decref(j);
    ag_light_trust_free(&trust);
    return ag_cli_fail(c, rc, "PROOF FAILED: %s", ag_errmsg(rc));
  }
  if ((rc = ag_light_trust_save(&trust)))
    fprintf(stderr, "warning: the proof verified, but the trusted header could not be kept in %s: %s\n",
            trust.state_path, ag_errmsg(rc));
  char signer[AG_ADDR_MAX] = "";
  if (trust.mode == AG_LIGHT_SOLO) ag_addr_encode(trust.proposer, signer);
  if (c->json) {
    json_t *h = json_object();
    json_object_set_new(h, "consensus", json_string(trust.mode == AG_LIGHT_SOLO ? "solo" : "cometbft"));
    json_object_set_new(h, "height", json_integer((json_int_t)v.header_height));
    json_object_set_new(h, "hash", ag_json_hex(v.block_hash, 32));
    json_object_set_new(h, "time_ms", json_integer((json_int_t)v.time_ms));
    if (trust.mode == AG_LIGHT_SOLO) json_object_set_new(h, "proposer", json_string(signer));
    json_object_set_new(h, "signers", json_integer((json_int_t)v.signers));
    json_object_set_new(h, "validators", json_integer((json_int_t)v.validators));
    json_object_set_new(h, "signed_power", json_integer((json_int_t)v.signed_power));
    json_object_set_new(h, "total_power", json_integer((json_int_t)v.total_power));
    json_object_set_new(h, "set_changed", json_boolean(v.set_changed));
    if (v.set_changed) json_object_set_new(h, "trusted_power_signed", json_integer((json_int_t)v.trusted_power));
    if (trust.mode == AG_LIGHT_COMETBFT) {
      json_object_set_new(h, "trusted_height", json_integer((json_int_t)v.anchor_height));
      json_object_set_new(h, "trusted_time_ms", json_integer((json_int_t)v.anchor_time_ms));
      json_object_set_new(h, "headers_fetched", json_integer(v.fetched));
    }
    json_object_set_new(h, "trusted_genesis", json_string(trust.source));
    json_object_set_new(j, "header", h);
    json_object_set_new(j, "verified", json_true());
    ag_light_trust_free(&trust);
    ag_cli_print_json(j);
    return 0;
  }
  json_t *pj = json_object_get(j, "proof");
  const char *root_s = json_string_value(json_object_get(j, "state_root"));
  char bs[32];
  ag_amount_format(ag_cli_json_u64(j, "balance"), bs);
  printf("%s\n  balance     %s AGR\n  nonce       %llu\n  height      %llu\n  state root  %s\n",
         addr, bs, (unsigned long long)ag_cli_json_u64(j, "nonce"),
         (unsigned long long)ag_cli_json_u64(j, "height"), root_s);
  printf("  proof       key %s, %zu siblings, %s\n", json_string_value(json_object_get(pj, "key")),
         json_array_size(json_object_get(pj, "siblings")), present ? "inclusion" : "exclusion (no such account)");
  json_t *sib = json_object_get(pj, "siblings");
  for (size_t i = 0; i < json_array_size(sib); i++) {
    json_t *s = json_array_get(sib, i);
    printf("    %3zu  %s\n", i, json_is_null(s) ? "(empty)" : json_string_value(s));
  }
  char hh[65];
  ag_hex_encode(v.block_hash, 32, hh);
  time_t t = (time_t)(v.time_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  printf("  header      %s %llu (%s), hash %s\n", trust.mode == AG_LIGHT_SOLO ? "block" : "CometBFT block",
         (unsigned long long)v.header_height, when, hh);
  if (trust.mode == AG_LIGHT_SOLO)
    printf("  signed by   %s, the block producer genesis names\n", signer);
  else {
    char from[64];
    if (v.anchor_height) snprintf(from, sizeof from, "header %lld", (long long)v.anchor_height);
    else snprintf(from, sizeof from, "the genesis");
    if (!v.set_changed)
      printf("  signed by   %zu of the %zu validators trusted since %s, %lld of %lld voting power (more than 2/3)\n",
             v.signers, v.validators, from, (long long)v.signed_power, (long long)v.total_power);
    else
      printf("  signed by   %zu of the %zu validators of that height, %lld of %lld voting power (more than 2/3),\n"
             "              among them validators trusted since %s with %lld of their power (more than 1/3)\n",
             v.signers, v.validators, (long long)v.signed_power, (long long)v.total_power, from,
             (long long)v.trusted_power);
    if (v.fetched) printf("              (%d headers between were checked first)\n", v.fetched);
  }
  printf("  trusted     %s%s%s\n", trust.source, trust.state_path[0] ? ", then " : "", trust.state_path);
  printf("  verified    the proof reproduces the state root, and the signed header commits to it\n");
  ag_light_trust_free(&trust);
  json_decref(j);
  return 0;
}
