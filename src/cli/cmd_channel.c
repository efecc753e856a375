/* cmd_channel.c — payment channels from the command line: open, fund, voucher, claim, close,
 * show (docs/economy.md). */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "economy/economy.h"

#include <stdio.h>
#include <string.h>

static const char channel_usage[] =
    "usage: agora channel open PROVIDER --from KEY --deposit AGR [--settle-delay N]\n"
    "                          [--expiry HEIGHT] [--model ID] [--signer ADDR]\n"
    "       agora channel fund CHANNEL --from KEY --amount AGR\n"
    "       agora channel voucher CHANNEL --from SIGNER --amount AGR --seq N [--chain-id ID]\n"
    "       agora channel claim VOUCHER [VOUCHER ...] --from PROVIDER_KEY [--amount AGR] [--close]\n"
    "       agora channel close CHANNEL --from KEY\n"
    "       agora channel show CHANNEL\n\n"
    "A payment channel escrows a client's deposit for one provider (docs/economy.md). The\n"
    "client pays per request off chain with vouchers: each names the CUMULATIVE amount paid so\n"
    "far and a sequence number one higher than the last, signed by the channel's signer (the\n"
    "client's key unless --signer named another). The provider redeems the latest voucher with\n"
    "'claim' whenever it likes, up to its amount (--amount: the channel's new total paid, what\n"
    "the provider billed), and may close at once ('claim --close' or 'close'). The client's\n"
    "'close' starts the settle delay (--settle-delay blocks, default 600), during which the\n"
    "provider can still claim; 'close' again after it returns what is left. 'fund' adds to the\n"
    "deposit and withdraws a pending close. Past --expiry the channel takes no claims and either\n"
    "party closes it at once. Several vouchers (up to 256, of any channels of the provider) go\n"
    "in one channel_claims tx, all or none, a base fee each (--amount needs one voucher).\n"
    "--json everywhere; common tx options: --fee, --no-wait, --yes.\n";

typedef struct {
  uint8_t provider[32], signer[32], model[32], channel[32];
  uint64_t amount, settle_delay, expiry;
  uint8_t flags;
  char *summary;
  size_t summary_cap;
  const uint8_t *vouchers[AG_CLAIMS_MAX]; /* claim: each voucher, decoded from hex */
  size_t vlens[AG_CLAIMS_MAX], nvouchers;
} chctx;

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

static int build_open(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  chctx *w = ctx;
  ag_payload_channel_open(payload, w->provider, w->signer, w->model, w->amount, w->settle_delay,
                          w->expiry);
  /* the id is known before the tx is sent: it follows from the client and the nonce */
  uint8_t id[32];
  char hex[65];
  ag_channel_id(env->chain_id, env->signer->pk, env->nonce, id);
  ag_hex_encode(id, 32, hex);
  size_t n = strlen(w->summary);
  snprintf(w->summary + n, w->summary_cap - n, " as channel %s", hex);
  return 0;
}

static int build_fund(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  (void)env;
  chctx *w = ctx;
  ag_payload_channel_fund(payload, w->channel, w->amount);
  return 0;
}

static int build_claim(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  chctx *w = ctx;
  if (w->nvouchers > 1) ag_buf_put_u16le(payload, (uint16_t)w->nvouchers);
  for (size_t i = 0; i < w->nvouchers; i++) {
    ag_voucher v;
    int rc = ag_voucher_decode(w->vouchers[i], w->vlens[i], &v);
    if (!rc && strcmp(v.chain_id, env->chain_id) != 0)
      rc = ag_fail(AG_E_VOUCHER_CHAIN, "voucher %zu is for chain \"%s\"; the node runs \"%s\"", i + 1, v.chain_id,
                   env->chain_id);
    if (!rc && w->amount > v.cumulative)
      rc = ag_fail(AG_E_CLAIM_ABOVE_VOUCHER, "--amount is above the voucher's cumulative amount");
    if (rc) return rc;
    ag_payload_channel_claim(payload, w->flags, w->amount, w->vouchers[i], w->vlens[i]);
  }
  return 0;
}

static int build_close(void *ctx, const ag_tx_env *env, ag_buf *payload) {
  (void)env;
  ag_payload_channel_close(payload, ((chctx *)ctx)->channel);
  return 0;
}

static int parse_id(const char *s, uint8_t id[32]) {
  if (!s || strlen(s) != 64 || ag_hex_decode(s, 64, id, 32))
    return ag_fail(AG_E_USAGE, "a channel id is 64 hex digits");
  return 0;
}

static int channel_show(ag_cli *c, const char *hex) {
  char path[128];
  snprintf(path, sizeof path, "/v1/channels/%s", hex);
  json_t *j;
  int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j);
  if (rc) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  char d[32], cl[32], r[32];
  ag_amount_format(ag_cli_json_u64(j, "deposit"), d);
  ag_amount_format(ag_cli_json_u64(j, "claimed"), cl);
  ag_amount_format(ag_cli_json_u64(j, "remaining"), r);
  printf("channel %s (%s)\n  client    %s\n  provider  %s\n  signer    %s\n", hex,
         json_string_value(json_object_get(j, "status")),
         json_string_value(json_object_get(j, "client")),
         json_string_value(json_object_get(j, "provider")),
         json_string_value(json_object_get(j, "signer")));
  printf("  deposit   %s AGR, claimed %s AGR, remaining %s AGR (last voucher seq %llu)\n", d, cl, r,
         (unsigned long long)ag_cli_json_u64(j, "seq"));
  printf("  settle delay %llu blocks, opened at %llu", (unsigned long long)ag_cli_json_u64(j, "settle_delay"),
         (unsigned long long)ag_cli_json_u64(j, "opened"));
  if (ag_cli_json_u64(j, "expiry")) printf(", expires after %llu", (unsigned long long)ag_cli_json_u64(j, "expiry"));
  if (ag_cli_json_u64(j, "close_at")) printf(", refundable from %llu", (unsigned long long)ag_cli_json_u64(j, "close_at"));
  if (ag_cli_json_u64(j, "closed")) printf(", closed at %llu", (unsigned long long)ag_cli_json_u64(j, "closed"));
  printf("\n");
  json_decref(j);
  return 0;
}

/* Signs a voucher with a local key; needs the node only for the chain id. */
static int channel_voucher(ag_cli *c, const char *hex, const char *from, const char *amount,
                           const char *seq, const char *chain) {
  chctx w;
  uint64_t cum, sq;
  int rc = parse_id(hex, w.channel);
  if (!rc && (!from || !amount || !seq))
    rc = ag_fail(AG_E_USAGE, "channel voucher needs --from SIGNER, --amount AGR (cumulative) and --seq N");
  if (!rc) rc = ag_amount_parse(amount, &cum);
  if (!rc && (ag_parse_u64(seq, &sq) || sq == 0)) rc = ag_fail(AG_E_USAGE, "--seq must be a positive integer");
  if (!rc && cum == 0) rc = ag_fail(AG_E_USAGE, "--amount must be positive");
  char chain_id[AG_CHAIN_ID_MAX + 1] = "";
  if (!rc && chain) snprintf(chain_id, sizeof chain_id, "%s", chain);
  if (!rc && !chain) {
    json_t *st;
    if (!(rc = ag_cli_api(c, "GET", "/v1/status", NULL, NULL, 0, &st))) {
      snprintf(chain_id, sizeof chain_id, "%s", json_string_value(json_object_get(st, "chain_id")));
      json_decref(st);
    }
  }
  if (!rc && !ag_chain_id_valid(chain_id)) rc = ag_fail(AG_E_USAGE, "--chain-id must be 1..32 of [a-z0-9-]");
  if (rc) return fail_rc(c, rc);
  ag_keypair k;
  if ((rc = ag_cli_load_signer(c, from, chain_id, &k))) return fail_rc(c, rc);
  ag_buf v;
  ag_buf_init(&v);
  ag_voucher_sign(&v, chain_id, w.channel, cum, sq, &k);
  ag_key_wipe(&k);
  char out[2 * AG_VOUCHER_MAX + 1];
  ag_hex_encode(v.data, v.len, out);
  ag_buf_free(&v);
  if (c->json) {
    json_t *o = json_object();
    json_object_set_new(o, "voucher", json_string(out));
    json_object_set_new(o, "channel", json_string(hex));
    json_object_set_new(o, "cumulative", ag_json_u64s(cum));
    json_object_set_new(o, "seq", ag_json_u64n(sq));
    json_object_set_new(o, "chain_id", json_string(chain_id));
    ag_cli_print_json(o);
  } else {
    printf("%s\n", out);
  }
  return 0;
}

int ag_cmd_channel(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *deposit = NULL, *settle = NULL, *expiry = NULL, *model = NULL,
             *signer = NULL, *amount = NULL, *seq = NULL, *chain = NULL, *fee = NULL;
  bool close = false, no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},        {"deposit", 0, 1, &deposit, NULL},
                   {"settle-delay", 0, 1, &settle, NULL}, {"expiry", 0, 1, &expiry, NULL},
                   {"model", 0, 1, &model, NULL},         {"signer", 0, 1, &signer, NULL},
                   {"amount", 0, 1, &amount, NULL},       {"seq", 0, 1, &seq, NULL},
                   {"chain-id", 0, 1, &chain, NULL},      {"fee", 0, 1, &fee, NULL},
                   {"close", 0, 0, NULL, &close},         {"no-wait", 0, 0, NULL, &no_wait},
                   {"", 0, 0, NULL, NULL}};
  char *pos[2 + AG_CLAIMS_MAX];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2 + AG_CLAIMS_MAX, &npos);
  if (rc) return rc;
  if (c->help || npos < 2) return ag_cli_usage(c, channel_usage);
  const char *sub = pos[0];
  if (npos > 2 && strcmp(sub, "claim") != 0)
    return ag_cli_fail(c, AG_E_USAGE, "'channel %s' takes one argument, not %d", sub, npos - 1);
  if (!strcmp(sub, "show")) {
    uint8_t id[32];
    if ((rc = parse_id(pos[1], id))) return fail_rc(c, rc);
    return channel_show(c, pos[1]);
  }
  if (!strcmp(sub, "voucher")) return channel_voucher(c, pos[1], from, amount, seq, chain);
  if (!from) return ag_cli_fail(c, AG_E_USAGE, "'channel %s' needs --from KEY", sub);
  chctx w;
  memset(&w, 0, sizeof w);
  char summary[300], a[32];
  w.summary = summary;
  w.summary_cap = sizeof summary;
  ag_txreq req = {from, 0, NULL, &w, summary, fee, NULL, no_wait};
  if (!strcmp(sub, "open")) {
    uint64_t v;
    if ((rc = ag_cli_resolve_addr(c, pos[1], w.provider))) return fail_rc(c, rc);
    if (!deposit) return ag_cli_fail(c, AG_E_USAGE, "channel open needs --deposit AGR");
    if ((rc = ag_amount_parse(deposit, &w.amount))) return fail_rc(c, rc);
    w.settle_delay = 600;
    if (settle && (ag_parse_u64(settle, &w.settle_delay)))
      return ag_cli_fail(c, AG_E_USAGE, "--settle-delay is a number of blocks");
    if (expiry && (ag_parse_u64(expiry, &v) || !(w.expiry = v)))
      return ag_cli_fail(c, AG_E_USAGE, "--expiry is a block height");
    if (model && (strlen(model) != 64 || ag_hex_decode(model, 64, w.model, 32)))
      return ag_cli_fail(c, AG_E_USAGE, "--model is a model id (64 hex digits)");
    if (signer && (rc = ag_cli_resolve_addr(c, signer, w.signer))) return fail_rc(c, rc);
    ag_amount_format(w.amount, a);
    snprintf(summary, sizeof summary, "open a channel to %s with %s AGR", pos[1], a);
    req.kind = AG_TX_CHANNEL_OPEN;
    req.build = build_open;
    return ag_cli_submit(c, &req);
  }
  if ((rc = parse_id(pos[1], w.channel)) && strcmp(sub, "claim") != 0) return fail_rc(c, rc);
  if (!strcmp(sub, "fund")) {
    if (!amount) return ag_cli_fail(c, AG_E_USAGE, "channel fund needs --amount AGR");
    if ((rc = ag_amount_parse(amount, &w.amount))) return fail_rc(c, rc);
    ag_amount_format(w.amount, a);
    snprintf(summary, sizeof summary, "add %s AGR to channel %s", a, pos[1]);
    req.kind = AG_TX_CHANNEL_FUND;
    req.build = build_fund;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(sub, "close")) {
    snprintf(summary, sizeof summary, "close channel %s", pos[1]);
    req.kind = AG_TX_CHANNEL_CLOSE;
    req.build = build_close;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(sub, "claim")) {
    size_t nv = (size_t)npos - 1;
    rc = 0; /* a voucher is not a channel id */
    if (nv > AG_CLAIMS_MAX)
      return ag_cli_fail(c, AG_E_USAGE, "at most %d vouchers go in one claim, not %zu", AG_CLAIMS_MAX, nv);
    if (nv > 1 && amount)
      return ag_cli_fail(c, AG_E_USAGE, "--amount names one channel's new total: give one voucher with it");
    uint8_t(*raw)[AG_VOUCHER_MAX] = ag_xmalloc(nv * sizeof *raw);
    ag_voucher v;
    uint64_t total = 0;
    for (size_t i = 0; i < nv && !rc; i++) {
      size_t n = strlen(pos[1 + i]);
      if (n % 2 || n / 2 > sizeof raw[i] || ag_hex_decode(pos[1 + i], n, raw[i], n / 2))
        rc = ag_fail(AG_E_USAGE, "VOUCHER is the hex that 'agora channel voucher' prints");
      if (!rc) rc = ag_voucher_decode(raw[i], n / 2, &v);
      w.vouchers[i] = raw[i];
      w.vlens[i] = n / 2;
      if (!rc) total = total > UINT64_MAX - v.cumulative ? UINT64_MAX : total + v.cumulative; /* shown only */
    }
    if (rc) {
      free(raw);
      return fail_rc(c, rc);
    }
    w.nvouchers = nv;
    w.flags = close ? AG_CLAIM_CLOSE : 0;
    if (amount && (rc = ag_amount_parse(amount, &w.amount))) {
      free(raw);
      return fail_rc(c, rc);
    }
    char hex[65];
    ag_hex_encode(v.channel, 32, hex);
    if (nv == 1) {
      ag_amount_format(v.cumulative, a);
      snprintf(summary, sizeof summary, "redeem voucher %llu (%s AGR in all) on channel %s%s",
               (unsigned long long)v.seq, a, hex, close ? " and close it" : "");
    } else {
      ag_amount_format(total, a);
      snprintf(summary, sizeof summary, "redeem %zu vouchers (%s AGR in all, less what was claimed) in one tx%s", nv,
               a, close ? " and close their channels" : "");
    }
    req.kind = nv > 1 ? AG_TX_CHANNEL_CLAIMS : AG_TX_CHANNEL_CLAIM;
    req.build = build_claim;
    rc = ag_cli_submit(c, &req);
    free(raw);
    return rc;
  }
  return ag_cli_fail(c, AG_E_USAGE, "unknown channel command '%s'", sub);
}
