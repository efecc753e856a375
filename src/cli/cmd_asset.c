/* cmd_asset.c — models and datasets as assets: register, show, royalty, transfer, claim
 * (docs/economy.md "Assets, vaults and royalties"). `agora model claim` is `asset claim`. */
#include "chain/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/txsubmit.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/util.h"
#include "economy/economy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char asset_usage[] =
    "usage: agora asset register ID --from KEY --kind model|dataset [--royalty BPS] [--supply N]\n"
    "                           [--parents ID:BPS,ID:BPS,...]\n"
    "       agora asset show ID\n"
    "       agora asset royalty ID --from OWNER --royalty BPS\n"
    "       agora asset transfer ID --from KEY --to ADDRESS --amount SHARES\n"
    "       agora asset claim ID --from KEY [--holder ASSET_ID]\n\n"
    "A model or dataset, registered by its content id, has a fixed supply of shares and a vault.\n"
    "Every channel claim for a model pays its royalty (--royalty, basis points, at most the\n"
    "chain's max_royalty_bps) into the vault; each parent (and its ancestors) takes its BPS of\n"
    "every income; holders claim their part at any time. A checkpoint made by a training subnet\n"
    "is registered by the subnet's owner with --supply 0: its shares go to the trainers of its\n"
    "rounds, and the subnet's train_data_share of them to the dataset parents. 'claim' pays the\n"
    "holder (--from); with --holder, it moves an asset holder's part into that asset's vault.\n";

typedef struct {
  uint8_t id[32], to[32], holder[32];
  uint8_t kind;
  uint16_t royalty;
  uint64_t supply, amount;
  uint8_t parents[AG_MAX_PARENTS][32];
  uint16_t bps[AG_MAX_PARENTS];
  uint8_t np;
  int have_holder;
} actx;

static int fail_rc(ag_cli *c, int rc) { return ag_cli_fail(c, rc, "%s", ag_errmsg(rc)); }

static int build_register(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  actx *w = ctx;
  ag_payload_asset_register(p, w->kind, w->id, w->royalty, w->supply, (const uint8_t(*)[32])w->parents, w->bps, w->np);
  return 0;
}

static int build_royalty(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  actx *w = ctx;
  ag_buf_put(p, w->id, 32);
  ag_buf_put_u16le(p, w->royalty);
  return 0;
}

static int build_transfer(void *ctx, const ag_tx_env *env, ag_buf *p) {
  (void)env;
  actx *w = ctx;
  ag_buf_put(p, w->id, 32);
  ag_buf_put(p, w->to, 32);
  ag_buf_put_u64le(p, w->amount);
  return 0;
}

static int build_claim(void *ctx, const ag_tx_env *env, ag_buf *p) {
  actx *w = ctx;
  ag_buf_put(p, w->id, 32);
  ag_buf_put(p, w->have_holder ? w->holder : env->account, 32);
  return 0;
}

static int parse_id(const char *s, uint8_t out[32]) {
  if (!s || strlen(s) != 64 || ag_hex_decode(s, 64, out, 32)) return ag_fail(AG_E_USAGE, "an asset id is 64 hex digits");
  return 0;
}

static int parse_bps(const char *s, uint16_t *out) {
  uint64_t v;
  if (!s || ag_parse_u64(s, &v) || v > 10000) return ag_fail(AG_E_USAGE, "basis points are 0..10000");
  *out = (uint16_t)v;
  return 0;
}

static int parse_parents(const char *s, actx *w) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", s);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(t, ':');
    if (w->np >= AG_MAX_PARENTS) return ag_fail(AG_E_USAGE, "at most %d parents", AG_MAX_PARENTS);
    if (!colon) return ag_fail(AG_E_USAGE, "--parents takes ID:BPS pairs");
    *colon = 0;
    int rc = parse_id(t, w->parents[w->np]);
    if (!rc) rc = parse_bps(colon + 1, &w->bps[w->np]);
    if (rc) return rc;
    w->np++;
  }
  return 0;
}

static int asset_show(ag_cli *c, const char *hex) {
  char path[120];
  snprintf(path, sizeof path, "/v1/assets/%s", hex);
  json_t *j;
  int rc = ag_cli_api(c, "GET", path, NULL, NULL, 0, &j);
  if (rc) return fail_rc(c, rc);
  if (c->json) {
    ag_cli_print_json(j);
    return 0;
  }
  json_t *v = json_object_get(j, "vault");
  char bal[32], inc[32];
  ag_amount_format(ag_cli_json_u64(v, "balance"), bal);
  ag_amount_format(ag_cli_json_u64(v, "income"), inc);
  printf("%s %s, owner %s, royalty %lld bps, %s shares\n  vault %s AGR (income %s AGR)\n",
         json_string_value(json_object_get(j, "kind")), hex, json_string_value(json_object_get(j, "owner")),
         json_integer_value(json_object_get(j, "royalty_bps")), json_string_value(json_object_get(j, "supply")), bal, inc);
  json_t *a = json_object_get(j, "ancestors"), *h = json_object_get(j, "holders");
  for (size_t i = 0; i < json_array_size(a); i++)
    printf("  ancestor %s takes %lld bps\n", json_string_value(json_object_get(json_array_get(a, i), "id")),
           json_integer_value(json_object_get(json_array_get(a, i), "bps")));
  for (size_t i = 0; i < json_array_size(h); i++) {
    json_t *e = json_array_get(h, i);
    char cl[32];
    ag_amount_format(ag_cli_json_u64(e, "claimable"), cl);
    printf("  %s  %s shares, %s AGR to claim\n", json_string_value(json_object_get(e, "holder")),
           json_string_value(json_object_get(e, "shares")), cl);
  }
  json_decref(j);
  return 0;
}

int ag_cmd_asset(ag_cli *c, int argc, char **argv) {
  const char *from = NULL, *kind = NULL, *royalty = NULL, *supply = NULL, *parents = NULL, *to = NULL,
             *amount = NULL, *holder = NULL, *fee = NULL;
  bool no_wait = false;
  ag_opt opts[] = {{"from", 'f', 1, &from, NULL},       {"kind", 0, 1, &kind, NULL},
                   {"royalty", 0, 1, &royalty, NULL},   {"supply", 0, 1, &supply, NULL},
                   {"parents", 0, 1, &parents, NULL},   {"to", 0, 1, &to, NULL},
                   {"amount", 0, 1, &amount, NULL},     {"holder", 0, 1, &holder, NULL},
                   {"fee", 0, 1, &fee, NULL},           {"no-wait", 0, 0, NULL, &no_wait},
                   {"", 0, 0, NULL, NULL}};
  char *pos[2];
  int npos, rc = ag_cli_parse(c, argc, argv, opts, pos, 2, &npos);
  if (rc) return rc;
  if (c->help || npos < 2) return ag_cli_usage(c, asset_usage);
  actx w;
  memset(&w, 0, sizeof w);
  if ((rc = parse_id(pos[1], w.id))) return fail_rc(c, rc);
  if (!strcmp(pos[0], "show")) return asset_show(c, pos[1]);
  if (!from) return ag_cli_fail(c, AG_E_USAGE, "'asset %s' needs --from KEY", pos[0]);
  char summary[300];
  ag_txreq req = {from, 0, NULL, &w, summary, fee, NULL, no_wait};
  if (!strcmp(pos[0], "register")) {
    if (!kind || (strcmp(kind, "model") && strcmp(kind, "dataset")))
      return ag_cli_fail(c, AG_E_USAGE, "--kind is model or dataset");
    w.kind = !strcmp(kind, "model") ? AG_ASSET_MODEL : AG_ASSET_DATASET;
    if ((royalty && (rc = parse_bps(royalty, &w.royalty))) || (parents && (rc = parse_parents(parents, &w))))
      return fail_rc(c, rc);
    w.supply = 1000000;
    if (supply && ag_parse_u64(supply, &w.supply)) return ag_cli_fail(c, AG_E_USAGE, "--supply is a number of shares");
    snprintf(summary, sizeof summary, "register %s %.16s… (%u bps royalty, %llu shares, %u parents)", kind, pos[1],
             w.royalty, (unsigned long long)w.supply, w.np);
    req.kind = AG_TX_ASSET_REGISTER;
    req.build = build_register;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(pos[0], "royalty")) {
    if ((rc = parse_bps(royalty, &w.royalty))) return fail_rc(c, rc);
    snprintf(summary, sizeof summary, "set the royalty of %.16s… to %u bps", pos[1], w.royalty);
    req.kind = AG_TX_ASSET_ROYALTY;
    req.build = build_royalty;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(pos[0], "transfer")) {
    if (!to || !amount || ag_parse_u64(amount, &w.amount) || !w.amount)
      return ag_cli_fail(c, AG_E_USAGE, "asset transfer needs --to ADDRESS and --amount SHARES");
    if ((rc = ag_cli_resolve_addr(c, to, w.to))) return fail_rc(c, rc);
    snprintf(summary, sizeof summary, "transfer %llu shares of %.16s… to %s", (unsigned long long)w.amount, pos[1], to);
    req.kind = AG_TX_SHARE_TRANSFER;
    req.build = build_transfer;
    return ag_cli_submit(c, &req);
  }
  if (!strcmp(pos[0], "claim")) {
    if (holder) {
      if ((rc = parse_id(holder, w.holder))) return fail_rc(c, rc);
      w.have_holder = 1;
    }
    snprintf(summary, sizeof summary, "claim %s part of %.16s…'s vault", holder ? "an asset holder's" : "your", pos[1]);
    req.kind = AG_TX_SHARE_CLAIM;
    req.build = build_claim;
    return ag_cli_submit(c, &req);
  }
  return ag_cli_fail(c, AG_E_USAGE, "unknown asset command '%s'", pos[0]);
}

/* `agora model claim ID --from KEY`: the same as `agora asset claim`. */
int ag_cmd_model_claim(ag_cli *c, int argc, char **argv) {
  char *args[40];
  int n = 0;
  args[n++] = (char *)"claim";
  for (int i = 0; i < argc && n < 39; i++) args[n++] = argv[i];
  return ag_cmd_asset(c, n, args);
}
